//! The worker side of a queue: what invokes a worker (a batch or its schedule) and how
//! [`serve`] dispatches it, its deadline, and one SQS batch handled message by message,
//! answered with Lambda's partial batch
//! response, so only the messages that failed are received again (and, after
//! [`MAX_RECEIVES`](super::MAX_RECEIVES), go to the dead-letter queue).

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::deadline::Deadline;

/// Time a worker keeps between the end of its work and its invocation's deadline.
pub const ANSWER_MARGIN: Duration = Duration::from_secs(2);

/// A worker's deadline for an invocation whose Lambda deadline is `deadline_ms`.
pub fn deadline(deadline_ms: u64) -> Deadline {
    Deadline::from_epoch_millis(deadline_ms).minus(ANSWER_MARGIN)
}

/// What invokes a queue worker: a batch of its queue, or its schedule
/// (`{"schedule": "<name>"}`).
#[derive(Deserialize)]
#[serde(untagged)]
pub enum Invocation {
    Queue(SqsEvent),
    Schedule { schedule: String },
}

/// One invocation of a queue worker whose schedule is `{"schedule": "<schedule>"}`: a batch
/// goes to `on_batch` (answered with its partial batch response), the schedule to
/// `on_schedule` (answered with what it answers); anything else is logged and refused.
pub async fn serve<BatchFut, ScheduleFut>(
    event: serde_json::Value,
    schedule: &str,
    on_batch: impl FnOnce(SqsEvent) -> BatchFut,
    on_schedule: impl FnOnce() -> ScheduleFut,
) -> Result<serde_json::Value, String>
where
    BatchFut: Future<Output = SqsBatchResponse>,
    ScheduleFut: Future<Output = Result<serde_json::Value, String>>,
{
    match serde_json::from_value::<Invocation>(event) {
        Ok(Invocation::Queue(batch)) => Ok(serde_json::json!(on_batch(batch).await)),
        Ok(Invocation::Schedule { schedule: named }) if named == schedule => on_schedule().await,
        _ => {
            tracing::error!("an event that is neither a queue batch nor the schedule");
            Err("unknown event".to_owned())
        }
    }
}

/// What SQS says about one message besides its body.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub message_id: String,
    /// This receive's number, the first being 1.
    pub receives: u32,
}

/// Reads each message of `batch` as a `J` job and hands it to `handle`, in order. A message
/// that is not a `J` (`job` names what it should be in the log) or whose job fails is answered
/// as a batch item failure.
pub async fn process<J, E, F, Fut>(batch: SqsEvent, job: &str, mut handle: F) -> SqsBatchResponse
where
    J: DeserializeOwned,
    E: Display,
    F: FnMut(J, Delivery) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let mut failures = Vec::new();
    for message in batch.records {
        let id = message.message_id.clone().unwrap_or_default();
        let receives: u32 = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let parsed = match message.body.as_deref().map(serde_json::from_str::<J>) {
            Some(Ok(parsed)) => parsed,
            _ => {
                tracing::error!(message_id = %id, "a queue message that is not a {job}");
                failures.push(id);
                continue;
            }
        };
        let delivery = Delivery {
            message_id: id.clone(),
            receives,
        };
        if let Err(error) = handle(parsed, delivery).await {
            tracing::warn!(message_id = %id, %error, receives, "{job} failed; it will be received again");
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::sqs::SqsMessage;

    fn message(id: &str, body: &str) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_id = Some(id.into());
        message.body = Some(body.into());
        message
            .attributes
            .insert("ApproximateReceiveCount".into(), "3".into());
        message
    }

    #[tokio::test]
    async fn only_unreadable_and_failed_messages_are_received_again() {
        let mut batch = SqsEvent::default();
        batch.records = vec![
            message("good", "1"),
            message("unreadable", "not a number"),
            message("failing", "2"),
        ];
        let mut seen = Vec::new();
        let response = process(batch, "job", |n: u32, delivery| {
            seen.push((n, delivery.message_id, delivery.receives));
            async move {
                if n == 2 {
                    Err("refused")
                } else {
                    Ok(())
                }
            }
        })
        .await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["unreadable", "failing"]);
        assert_eq!(seen, [(1, "good".into(), 3), (2, "failing".into(), 3)]);
    }

    async fn served(event: serde_json::Value) -> Result<serde_json::Value, String> {
        serve(
            event,
            "tidy-up",
            |batch| async move {
                let mut response = SqsBatchResponse::default();
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = format!("{} messages", batch.records.len());
                response.batch_item_failures.push(failure);
                response
            },
            || async { Ok(serde_json::json!({"ok": true})) },
        )
        .await
    }

    #[tokio::test]
    async fn a_worker_answers_its_batches_and_its_own_schedule_and_refuses_anything_else() {
        let mut batch = SqsEvent::default();
        batch.records = vec![message("one", "1")];

        let answered = served(serde_json::to_value(&batch).unwrap()).await.unwrap();
        let scheduled = served(serde_json::json!({"schedule": "tidy-up"})).await;
        let other_schedule = served(serde_json::json!({"schedule": "health-check"})).await;
        let unknown = served(serde_json::json!({"hello": 1})).await;

        assert_eq!(
            answered["batchItemFailures"][0]["itemIdentifier"],
            "1 messages"
        );
        assert_eq!(scheduled, Ok(serde_json::json!({"ok": true})));
        assert_eq!(other_schedule, Err("unknown event".to_owned()));
        assert_eq!(unknown, Err("unknown event".to_owned()));
    }
}
