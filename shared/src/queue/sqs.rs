//! [`Queue`] on SQS.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use super::{Queue, QueueError};

/// One SQS queue (its URL); jobs travel as JSON message bodies.
#[derive(Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }
}

#[async_trait]
impl<J: Serialize + Sync> Queue<J> for SqsQueue {
    async fn send(&self, job: &J, delay: Duration) -> Result<(), QueueError> {
        let body = serde_json::to_string(job).expect("a job always serializes");
        self.client
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
