//! [`Queue`] in memory, for tests and the simulations: messages become visible after their
//! delay and count their receives, like SQS.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{Queue, QueueError, MAX_RECEIVES};

struct Message<J> {
    visible: Instant,
    delay: Duration,
    received: u32,
    job: J,
}

/// A queue in memory, in the order sent.
pub struct MemoryQueue<J> {
    messages: Mutex<VecDeque<Message<J>>>,
    dead: Mutex<Vec<J>>,
}

impl<J> Default for MemoryQueue<J> {
    fn default() -> Self {
        Self {
            messages: Mutex::new(VecDeque::new()),
            dead: Mutex::new(Vec::new()),
        }
    }
}

impl<J: Clone> MemoryQueue<J> {
    /// The next visible job, if any, with how many times it has been received (this time
    /// included). A message received [`MAX_RECEIVES`] times moves to the dead-letter list
    /// instead, as SQS's redrive policy does.
    pub fn receive(&self) -> Option<(J, u32)> {
        let mut messages = self.messages.lock().unwrap();
        let now = Instant::now();
        loop {
            let at = messages.iter().position(|m| m.visible <= now)?;
            let message = messages.remove(at)?;
            if message.received >= MAX_RECEIVES {
                self.dead.lock().unwrap().push(message.job);
                continue;
            }
            return Some((message.job, message.received + 1));
        }
    }

    /// The oldest job, visible or not, and the delay it was sent with.
    pub fn take(&self) -> Option<(J, Duration)> {
        let message = self.messages.lock().unwrap().pop_front()?;
        Some((message.job, message.delay))
    }

    /// A job back at the front (a failed delivery), visible at once.
    pub fn put_back(&self, job: J) {
        self.messages.lock().unwrap().push_front(Message {
            visible: Instant::now(),
            delay: Duration::ZERO,
            received: 0,
            job,
        });
    }

    /// A received job back in the queue (its handling failed), visible at once.
    pub fn redeliver(&self, job: J, received: u32) {
        self.messages.lock().unwrap().push_back(Message {
            visible: Instant::now(),
            delay: Duration::ZERO,
            received,
            job,
        });
    }

    /// The jobs moved to the dead-letter list.
    pub fn dead_letters(&self) -> Vec<J> {
        self.dead.lock().unwrap().clone()
    }

    /// How long until the next message is visible; `None` when the queue is empty.
    pub fn next_visible_in(&self) -> Option<Duration> {
        let now = Instant::now();
        self.messages
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.visible.saturating_duration_since(now))
            .min()
    }

    /// Every queued job, for assertions.
    pub fn jobs(&self) -> Vec<J> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.job.clone())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.messages.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl<J: Clone + Send + Sync> Queue<J> for MemoryQueue<J> {
    async fn send(&self, job: &J, delay: Duration) -> Result<(), QueueError> {
        self.messages.lock().unwrap().push_back(Message {
            visible: Instant::now() + delay,
            delay,
            received: 0,
            job: job.clone(),
        });
        Ok(())
    }
}
