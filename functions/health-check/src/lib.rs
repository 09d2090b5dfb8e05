//! `health-check`: finds broken store connections before shoppers do. Invoked by the schedule
//! (`{"schedule": "health-check"}`, EventBridge Scheduler at the template's rate), which starts
//! a cycle over every store, and by the SQS event source mapping of the health queue (batch
//! size 1, partial batch responses; after 5 receives a job goes to the dead-letter queue): the
//! cycle's ticks and its check jobs. How a cycle spreads its checks is
//! [`shared::health::check`].

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Utc;
use serde_json::{json, Value};
use shared::health::check::{self, HealthJob, HealthPorts};
use shared::health::reclaim;
use shared::queue::batch::{self, Delivery};
use shared::Deadline;
use tracing::Instrument;

/// Handles one invocation. Queue batches answer which messages failed (to be received again);
/// the schedule answers once the cycle's first page is queued (an error makes the scheduler
/// retry).
pub async fn handle(
    ports: &HealthPorts,
    event: Value,
    deadline: Deadline,
) -> Result<Value, String> {
    batch::serve(
        event,
        "health-check",
        |batch| queue_batch(ports, batch, deadline),
        || async {
            let span = tracing::info_span!("health_check_schedule");
            let report = check::start(ports, Utc::now(), &deadline)
                .instrument(span)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "the health check could not start its cycle");
                    "the health check could not start; it will be retried".to_owned()
                })?;
            Ok(json!({"ok": true, "queued": report.queued}))
        },
    )
    .await
}

async fn queue_batch(ports: &HealthPorts, batch: SqsEvent, deadline: Deadline) -> SqsBatchResponse {
    batch::process(batch, "health job", |job, delivery: Delivery| {
        let receives = delivery.receives;
        let span = tracing::info_span!("health_job", message_id = %delivery.message_id, receives);
        async move {
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
                HealthJob::Index { cursor } => {
                    let done = check::index_unlisted(ports, cursor, &deadline).await?;
                    tracing::info!(done, "store index backfill");
                }
                HealthJob::Reclaim { cursor, skip } => {
                    let report = reclaim::sweep(ports, cursor, skip, Utc::now(), &deadline).await?;
                    tracing::info!(
                        listed = report.listed,
                        in_use = report.in_use,
                        deleted = report.deleted,
                        skipped = report.skipped,
                        failed = report.failed,
                        requeued = report.requeued,
                        "secret sweep"
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
    })
    .await
}
