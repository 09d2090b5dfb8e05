//! The knowledge queue driven the way Lambda's SQS event source mapping drives it: receive a
//! message, hand `knowledge-sync` a real SQS event (one record, batch size 1, with
//! `ApproximateReceiveCount`), delete the message when the function reports no failure, leave
//! it for redelivery when it does. Used by the tests and by `infra/run`'s local worker.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use shared::knowledge::ports::Job;
use shared::knowledge::sync::SyncPorts;
use shared::queue::MemoryQueue;
use shared::Deadline;

/// Where the jobs wait.
#[derive(Clone)]
pub enum Queue {
    Memory(Arc<MemoryQueue<Job>>),
    Sqs {
        client: aws_sdk_sqs::Client,
        url: String,
    },
}

/// A received message.
struct Delivery {
    id: String,
    body: String,
    receives: u32,
    receipt: Option<String>,
}

/// The function's time limit in the template; each delivery gets this much.
pub const INVOCATION: Duration = Duration::from_secs(60);

impl Queue {
    async fn receive(
        &self,
        attempts: &mut std::collections::HashMap<String, u32>,
    ) -> Option<Delivery> {
        match self {
            Queue::Memory(queue) => {
                let (job, receives) = queue.receive()?;
                let body = serde_json::to_string(&job).expect("a job serializes");
                Some(Delivery {
                    id: format!("memory-{}", fastrand::u64(..)),
                    body,
                    receives,
                    receipt: None,
                })
            }
            Queue::Sqs { client, url } => {
                let output = client
                    .receive_message()
                    .queue_url(url)
                    .max_number_of_messages(1)
                    .message_system_attribute_names(
                        aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                    )
                    .send()
                    .await
                    .ok()?;
                let message = output.messages?.into_iter().next()?;
                let id = message.message_id.clone().unwrap_or_default();
                let receives = message
                    .attributes
                    .as_ref()
                    .and_then(|a| {
                        a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                    })
                    .and_then(|c| c.parse().ok())
                    .unwrap_or_else(|| {
                        let n = attempts.entry(id.clone()).or_default();
                        *n += 1;
                        *n
                    });
                Some(Delivery {
                    id,
                    body: message.body.unwrap_or_default(),
                    receives,
                    receipt: message.receipt_handle,
                })
            }
        }
    }

    async fn acknowledge(&self, delivery: &Delivery) {
        if let (Queue::Sqs { client, url }, Some(receipt)) = (self, &delivery.receipt) {
            let _ = client
                .delete_message()
                .queue_url(url)
                .receipt_handle(receipt)
                .send()
                .await;
        }
    }

    /// A failed delivery: back to the queue (SQS does it by the visibility timeout; here at
    /// once, so tests need not wait for it).
    async fn release(&self, delivery: &Delivery) {
        match (self, &delivery.receipt) {
            (Queue::Sqs { client, url }, Some(receipt)) => {
                let _ = client
                    .change_message_visibility()
                    .queue_url(url)
                    .receipt_handle(receipt)
                    .visibility_timeout(0)
                    .send()
                    .await;
            }
            (Queue::Memory(queue), _) => {
                if let Ok(job) = serde_json::from_str::<Job>(&delivery.body) {
                    queue.redeliver(job, delivery.receives);
                }
            }
            _ => {}
        }
    }

    /// Messages waiting, in flight or delayed.
    pub async fn pending(&self) -> usize {
        match self {
            Queue::Memory(queue) => queue.jobs().len(),
            Queue::Sqs { client, url } => {
                use aws_sdk_sqs::types::QueueAttributeName as A;
                let Ok(output) = client
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(A::ApproximateNumberOfMessages)
                    .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
                    .attribute_names(A::ApproximateNumberOfMessagesDelayed)
                    .send()
                    .await
                else {
                    return 0;
                };
                output
                    .attributes
                    .unwrap_or_default()
                    .values()
                    .filter_map(|v| v.parse::<usize>().ok())
                    .sum()
            }
        }
    }
}

/// The SQS event Lambda builds for one message.
pub fn sqs_event(id: &str, body: &str, receives: u32) -> Value {
    json!({"Records": [{
        "messageId": id,
        "receiptHandle": "local",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": receives.to_string(),
            "SentTimestamp": "0",
            "SenderId": "local",
            "ApproximateFirstReceiveTimestamp": "0",
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:knowledge",
        "awsRegion": "us-east-1",
    }]})
}

/// What a drain did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    pub delivered: usize,
    pub failed: usize,
}

/// Delivers messages to `knowledge-sync` until the queue is empty (waiting out delays), at
/// most `max` deliveries. `invocation` is each delivery's time limit.
pub async fn drain(ports: &SyncPorts, queue: &Queue, invocation: Duration, max: usize) -> Drained {
    let mut drained = Drained::default();
    let mut attempts = std::collections::HashMap::new();
    let mut idle = 0;
    while drained.delivered < max {
        let Some(delivery) = queue.receive(&mut attempts).await else {
            if queue.pending().await == 0 {
                break;
            }
            idle += 1;
            if idle > 600 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        idle = 0;
        drained.delivered += 1;
        let event = sqs_event(&delivery.id, &delivery.body, delivery.receives);
        let answer = knowledge_sync::handle(ports, event, Deadline::after(invocation)).await;
        let failed = match answer {
            Ok(response) => response["batchItemFailures"]
                .as_array()
                .is_some_and(|f| !f.is_empty()),
            Err(_) => true,
        };
        if failed {
            drained.failed += 1;
            queue.release(&delivery).await;
        } else {
            queue.acknowledge(&delivery).await;
        }
    }
    drained
}
