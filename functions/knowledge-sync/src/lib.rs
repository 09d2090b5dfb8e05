//! `knowledge-sync`: the worker behind knowledge sync. Invoked by the SQS event source mapping
//! (batch size 1, partial batch responses: a failed job goes back to the queue and, after 5
//! receives, to the dead-letter queue) and by the schedule (`{"schedule": "knowledge-sync"}`),
//! which queues an incremental run for every store with a source enabled. What each job does is
//! [`shared::knowledge::sync`].

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use shared::knowledge::ports::Job;
use shared::knowledge::sync::{self, SyncPorts};
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
/// the schedule answers once every store is queued (an error makes the scheduler retry).
pub async fn handle(ports: &SyncPorts, event: Value, deadline: Deadline) -> Result<Value, String> {
    match serde_json::from_value::<Event>(event) {
        Ok(Event::Queue(batch)) => Ok(json!(queue_batch(ports, batch, deadline).await)),
        Ok(Event::Schedule { schedule }) if schedule == "knowledge-sync" => {
            let span = tracing::info_span!("knowledge_sync_schedule");
            sync::tick(ports, None, deadline)
                .instrument(span)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "the scheduled tick failed");
                    "the scheduled tick failed; it will be retried".to_owned()
                })?;
            Ok(json!({"ok": true}))
        }
        _ => {
            tracing::error!("an event that is neither a queue batch nor the schedule");
            Err("unknown event".to_owned())
        }
    }
}

async fn queue_batch(ports: &SyncPorts, batch: SqsEvent, deadline: Deadline) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for message in batch.records {
        let id = message.message_id.clone().unwrap_or_default();
        let receives = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let job = match message.body.as_deref().map(serde_json::from_str::<Job>) {
            Some(Ok(job)) => job,
            _ => {
                tracing::error!(message_id = %id, "a queue message that is not a job");
                failures.push(id);
                continue;
            }
        };
        let span = tracing::info_span!("knowledge_sync", message_id = %id, receives);
        if let Err(error) = sync::handle(ports, job, deadline, receives)
            .instrument(span)
            .await
        {
            tracing::warn!(message_id = %id, %error, receives, "job failed; it will be received again");
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
