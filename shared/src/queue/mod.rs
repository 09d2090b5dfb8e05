//! Work queues (SQS): one generic port, [`Queue`], for every kind of job, with the SQS adapter
//! ([`SqsQueue`]) and one in memory ([`MemoryQueue`]) that behaves like SQS for tests. A
//! feature defines its job type; this module only queues it. [`batch`] is the worker side:
//! one SQS batch handled job by job, with a partial batch response.

pub mod batch;
mod memory;
mod sqs;

use std::time::Duration;

use async_trait::async_trait;

pub use memory::MemoryQueue;
pub use sqs::SqsQueue;

/// Receives of one message before SQS moves it to the dead-letter queue (every queue's redrive
/// policy in `template.yaml`).
pub const MAX_RECEIVES: u32 = 5;

/// Why a job could not be queued.
#[derive(Debug, thiserror::Error)]
#[error("the job queue is unavailable")]
pub struct QueueError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl From<crate::deadline::TimedOut> for QueueError {
    fn from(e: crate::deadline::TimedOut) -> Self {
        Self(Box::new(e))
    }
}

/// A queue of `J` jobs.
#[async_trait]
pub trait Queue<J: Sync>: Send + Sync {
    /// Queues `job`, delivered after `delay` (at most 15 minutes).
    async fn send(&self, job: &J, delay: Duration) -> Result<(), QueueError>;
}
