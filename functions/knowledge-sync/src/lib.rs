//! `knowledge-sync`: the worker behind knowledge sync. Invoked by the SQS event source mapping
//! (batch size 1, partial batch responses: a failed job goes back to the queue and, after 5
//! receives, to the dead-letter queue) and by the schedule (`{"schedule": "knowledge-sync"}`),
//! which queues an incremental run for every store with a source enabled. What each job does is
//! [`shared::knowledge::sync`].

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use serde_json::{json, Value};
use shared::knowledge::ports::Job;
use shared::knowledge::sync::{self, SyncPorts};
use shared::queue::batch::{self, Delivery};
use shared::Deadline;
use tracing::Instrument;

/// Handles one invocation. Queue batches answer which messages failed (to be received again);
/// the schedule answers once every store is queued (an error makes the scheduler retry).
pub async fn handle(ports: &SyncPorts, event: Value, deadline: Deadline) -> Result<Value, String> {
    batch::serve(
        event,
        "knowledge-sync",
        |batch| queue_batch(ports, batch, deadline),
        || async {
            let span = tracing::info_span!("knowledge_sync_schedule");
            sync::tick(ports, None, deadline)
                .instrument(span)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "the scheduled tick failed");
                    "the scheduled tick failed; it will be retried".to_owned()
                })?;
            Ok(json!({"ok": true}))
        },
    )
    .await
}

async fn queue_batch(ports: &SyncPorts, batch: SqsEvent, deadline: Deadline) -> SqsBatchResponse {
    batch::process(batch, "job", |job: Job, delivery: Delivery| {
        let span = tracing::info_span!(
            "knowledge_sync",
            message_id = %delivery.message_id,
            receives = delivery.receives
        );
        sync::handle(ports, job, deadline, delivery.receives).instrument(span)
    })
    .await
}
