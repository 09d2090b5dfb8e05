//! [`Queue`] on SQS.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use super::{Queue, QueueError};
use crate::aws::LazyClient;

/// One SQS queue (its URL); jobs travel as JSON message bodies.
///
/// The functions give it a client built by the first send ([`LazyClient::new`]): most of their
/// invocations queue nothing, and building an SQS client costs a cold start the parse of the
/// SDK's endpoint partition table.
#[derive(Clone)]
pub struct SqsQueue {
    client: LazyClient<aws_sdk_sqs::Client>,
    url: String,
}

impl SqsQueue {
    pub fn new(client: impl Into<LazyClient<aws_sdk_sqs::Client>>, url: impl Into<String>) -> Self {
        Self {
            client: client.into(),
            url: url.into(),
        }
    }

    /// A queue whose client `sdk` makes at the first send.
    pub fn lazy(sdk: &aws_config::SdkConfig, url: impl Into<String>) -> Self {
        Self::new(LazyClient::new(sdk, aws_sdk_sqs::Client::new), url)
    }

    /// Whether its client has been built (by a send).
    pub fn is_connected(&self) -> bool {
        self.client.is_built()
    }
}

#[async_trait]
impl<J: Serialize + Sync> Queue<J> for SqsQueue {
    async fn send(&self, job: &J, delay: Duration) -> Result<(), QueueError> {
        let body = serde_json::to_string(job).expect("a job always serializes");
        self.client
            .get()
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(delay.as_secs().min(900) as i32)
            .send()
            .await
            .map_err(|e| QueueError(Box::new(e.into_service_error())))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_client_is_built_by_the_first_send_not_before() {
        let queue = SqsQueue::lazy(
            &crate::aws::unreachable_sdk(),
            "http://127.0.0.1:9/000000000000/jobs",
        );
        let copy = queue.clone();
        assert!(!queue.is_connected(), "built with the queue");
        let sent = Queue::<u32>::send(&copy, &7, Duration::ZERO).await;
        assert!(sent.is_err(), "nothing listens on port 9");
        assert!(queue.is_connected(), "clones share the one client");
    }
}
