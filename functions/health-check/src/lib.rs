//! `health-check`: finds broken store connections before shoppers do. Invoked by the schedule
//! (`{"schedule": "health-check"}`, EventBridge Scheduler at the template's rate), which starts
//! a cycle over every store, and by the SQS event source mapping of the health queue (batch
//! size 1, partial batch responses; after 5 receives a job goes to the dead-letter queue): the
//! cycle's ticks and its check jobs. How a cycle spreads its checks is
//! [`shared::health::check`].

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};
use shared::health::check::{self, HealthJob, HealthPorts};
use shared::Deadline;
use tracing::Instrument;

/// Time kept between the end of the work and the invocation's deadline.
pub const ANSWER_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

/// What invokes the function.
#[derive(Deserialize)]
#[serde(untagged)]
enum Event {
    Queue(SqsEvent),
    Schedule { schedule: String },
}

/// The function's deadline for an invocation whose Lambda deadline is `deadline_ms`.
pub fn deadline(deadline_ms: u64) -> Deadline {
    Deadline::from_epoch_millis(deadline_ms).minus(ANSWER_MARGIN)
}

/// Handles one invocation. Queue batches answer which messages failed (to be received again);
/// the schedule answers once the cycle's first page is queued (an error makes the scheduler
/// retry).
pub async fn handle(
    ports: &HealthPorts,
    event: Value,
    deadline: Deadline,
) -> Result<Value, String> {
    match serde_json::from_value::<Event>(event) {
        Ok(Event::Queue(batch)) => Ok(json!(queue_batch(ports, batch, deadline).await)),
        Ok(Event::Schedule { schedule }) if schedule == "health-check" => {
            let span = tracing::info_span!("health_check_schedule");
            let report = check::start(ports, Utc::now(), &deadline)
                .instrument(span)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "the health check could not start its cycle");
                    "the health check could not start; it will be retried".to_owned()
                })?;
            Ok(json!({"ok": true, "queued": report.queued}))
        }
        _ => {
            tracing::error!("an event that is neither a queue batch nor the schedule");
            Err("unknown event".to_owned())
        }
    }
}

async fn queue_batch(ports: &HealthPorts, batch: SqsEvent, deadline: Deadline) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for message in batch.records {
        let id = message.message_id.clone().unwrap_or_default();
        let receives: u32 = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let job = match message
            .body
            .as_deref()
            .map(serde_json::from_str::<HealthJob>)
        {
            Some(Ok(job)) => job,
            _ => {
                tracing::error!(message_id = %id, "a queue message that is not a health job");
                failures.push(id);
                continue;
            }
        };
        let span = tracing::info_span!("health_job", message_id = %id, receives);
        let result = async {
            match job {
                HealthJob::Tick { cycle_id, page } => {
                    let report =
                        check::tick(ports, &cycle_id, page, receives, Utc::now(), &deadline)
                            .await?;
                    tracing::info!(
                        cycle_id,
                        page,
                        queued = report.queued,
                        stale = report.stale,
                        next_in_secs = report.next_in.map(|d| d.as_secs()),
                        "health check tick"
                    );
                }
                HealthJob::Check { stores, force } => {
                    let report = check::check(ports, stores, force, Utc::now(), &deadline).await?;
                    tracing::info!(
                        checked = report.checked,
                        changed = report.changed,
                        skipped = report.skipped,
                        deferred = report.deferred,
                        failed = report.failed,
                        requeued = report.requeued,
                        "health check job"
                    );
                }
            }
            Ok::<_, check::HealthError>(())
        }
        .instrument(span)
        .await;
        if let Err(error) = result {
            tracing::warn!(message_id = %id, %error, receives, "health job failed; it will be received again");
            failures.push(id);
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|item_identifier| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = item_identifier;
            failure
        })
        .collect();
    response
}
