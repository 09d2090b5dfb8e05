//! In-memory knowledge ports for handler tests; same semantics as the AWS adapters.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::ports::{
    BlobError, DocumentStore, EventError, EventPublisher, Job, JobQueue, KnowledgeRepository,
    QueueError, SyncedEvent,
};
use super::state::{IndexEntry, SyncState};
use crate::domain::{OrganizationId, ShopDomain, Source};
use crate::store::StoreError;

type StoreKey = (OrganizationId, ShopDomain);

#[derive(Default)]
pub struct MemoryKnowledge {
    states: Mutex<BTreeMap<StoreKey, SyncState>>,
    entries: Mutex<BTreeMap<(StoreKey, Source, u64), IndexEntry>>,
}

#[async_trait]
impl KnowledgeRepository for MemoryKnowledge {
    async fn state(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
    ) -> Result<Option<SyncState>, StoreError> {
        Ok(self
            .states
            .lock()
            .unwrap()
            .get(&(org.clone(), shop.clone()))
            .cloned())
    }

    async fn put_state(&self, state: &SyncState, expect: Option<u64>) -> Result<(), StoreError> {
        let mut states = self.states.lock().unwrap();
        let key = (state.org_id.clone(), state.shop_domain.clone());
        if states.get(&key).map(|s| s.version) != expect {
            return Err(StoreError::Conflict);
        }
        states.insert(key, state.clone());
        Ok(())
    }

    async fn delete_state(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        version: u64,
    ) -> Result<(), StoreError> {
        let mut states = self.states.lock().unwrap();
        let key = (org.clone(), shop.clone());
        match states.get(&key) {
            Some(state) if state.version != version => Err(StoreError::Conflict),
            _ => {
                states.remove(&key);
                Ok(())
            }
        }
    }

    async fn states(&self, org: &OrganizationId) -> Result<Vec<SyncState>, StoreError> {
        Ok(self
            .states
            .lock()
            .unwrap()
            .iter()
            .filter(|((o, _), _)| o == org)
            .map(|(_, s)| s.clone())
            .collect())
    }

    async fn scan_states(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<SyncState>, Option<String>), StoreError> {
        let key = |s: &SyncState| format!("{}\n{}", s.org_id, s.shop_domain);
        let states = self.states.lock().unwrap();
        let mut page: Vec<SyncState> = states
            .values()
            .filter(|s| cursor.is_none_or(|c| key(s).as_str() > c))
            .cloned()
            .collect();
        page.sort_by_key(|s| key(s));
        let more = page.len() > limit.max(1);
        page.truncate(limit.max(1));
        let next = more.then(|| page.last().map(key)).flatten();
        Ok((page, next))
    }

    async fn entries(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        source: Source,
        after: Option<u64>,
        through: Option<u64>,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        let store = (org.clone(), shop.clone());
        let low = after.map_or(0, |a| a.saturating_add(1));
        let high = through.unwrap_or(u64::MAX);
        if low > high {
            return Ok(Vec::new());
        }
        Ok(self
            .entries
            .lock()
            .unwrap()
            .range((store.clone(), source, low)..=(store, source, high))
            .take(limit)
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn entries_by_id(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        source: Source,
        ids: &[u64],
    ) -> Result<Vec<IndexEntry>, StoreError> {
        let entries = self.entries.lock().unwrap();
        Ok(ids
            .iter()
            .filter_map(|id| {
                entries
                    .get(&((org.clone(), shop.clone()), source, *id))
                    .cloned()
            })
            .collect())
    }

    async fn put_entry(&self, entry: &IndexEntry) -> Result<(), StoreError> {
        self.entries.lock().unwrap().insert(
            (
                (entry.org_id.clone(), entry.shop_domain.clone()),
                entry.source,
                entry.id,
            ),
            entry.clone(),
        );
        Ok(())
    }

    async fn delete_entry(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        source: Source,
        id: u64,
    ) -> Result<(), StoreError> {
        self.entries
            .lock()
            .unwrap()
            .remove(&((org.clone(), shop.clone()), source, id));
        Ok(())
    }

    async fn count_entries(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        source: Source,
    ) -> Result<u64, StoreError> {
        let store = (org.clone(), shop.clone());
        Ok(self
            .entries
            .lock()
            .unwrap()
            .range((store.clone(), source, 0)..=(store, source, u64::MAX))
            .count() as u64)
    }
}

/// Documents in memory, counting the writes (the S3 PUTs a run makes).
#[derive(Default)]
pub struct MemoryDocuments {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
    puts: AtomicUsize,
}

impl MemoryDocuments {
    pub fn puts(&self) -> usize {
        self.puts.load(Ordering::SeqCst)
    }

    /// Every key, for assertions.
    pub fn keys(&self) -> Vec<String> {
        self.objects.lock().unwrap().keys().cloned().collect()
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.objects.lock().unwrap().get(key).cloned()
    }
}

#[async_trait]
impl DocumentStore for MemoryDocuments {
    async fn put(&self, key: &str, body: Vec<u8>, _content_type: &str) -> Result<(), BlobError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.objects.lock().unwrap().insert(key.to_owned(), body);
        Ok(())
    }

    async fn delete(&self, keys: &[String]) -> Result<(), BlobError> {
        let mut objects = self.objects.lock().unwrap();
        for key in keys {
            objects.remove(key);
        }
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<(Vec<String>, bool), BlobError> {
        let objects = self.objects.lock().unwrap();
        let mut keys = objects
            .keys()
            .filter(|k| k.starts_with(prefix))
            .filter(|k| start_after.is_none_or(|after| k.as_str() > after));
        let page: Vec<String> = keys.by_ref().take(1000).cloned().collect();
        let more = keys.next().is_some();
        Ok((page, more))
    }
}

/// A queue in memory: messages become visible after their delay, like SQS, and count their
/// receives (SQS's `ApproximateReceiveCount`).
#[derive(Default)]
pub struct MemoryQueue {
    messages: Mutex<VecDeque<(Instant, u32, Job)>>,
    dead: Mutex<Vec<Job>>,
}

impl MemoryQueue {
    /// The next visible job, if any, with how many times it has been received (this time
    /// included).
    /// A message received [`super::sync::MAX_RECEIVES`] times moves to the dead-letter list
    /// instead, as SQS's redrive policy does.
    pub fn receive(&self) -> Option<(Job, u32)> {
        let mut messages = self.messages.lock().unwrap();
        let now = Instant::now();
        loop {
            let at = messages
                .iter()
                .position(|(visible, _, _)| *visible <= now)?;
            let (_, received, job) = messages.remove(at)?;
            if received >= super::sync::MAX_RECEIVES {
                self.dead.lock().unwrap().push(job);
                continue;
            }
            return Some((job, received + 1));
        }
    }

    /// The jobs moved to the dead-letter list.
    pub fn dead_letters(&self) -> Vec<Job> {
        self.dead.lock().unwrap().clone()
    }

    /// A received job back in the queue (its handling failed), visible at once.
    pub fn redeliver(&self, job: Job, received: u32) {
        self.messages
            .lock()
            .unwrap()
            .push_back((Instant::now(), received, job));
    }

    /// How long until the next message is visible; `None` when the queue is empty.
    pub fn next_visible_in(&self) -> Option<Duration> {
        let now = Instant::now();
        self.messages
            .lock()
            .unwrap()
            .iter()
            .map(|(visible, _, _)| visible.saturating_duration_since(now))
            .min()
    }

    /// Every queued job, for assertions.
    pub fn jobs(&self) -> Vec<Job> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, job)| job.clone())
            .collect()
    }
}

#[async_trait]
impl JobQueue for MemoryQueue {
    async fn send(&self, job: &Job, delay: Duration) -> Result<(), QueueError> {
        self.messages
            .lock()
            .unwrap()
            .push_back((Instant::now() + delay, 0, job.clone()));
        Ok(())
    }
}

/// Events in memory, for assertions.
#[derive(Default)]
pub struct MemoryEvents {
    events: Mutex<Vec<SyncedEvent>>,
    status_changes: Mutex<Vec<crate::health::change::StatusChanged>>,
}

impl MemoryEvents {
    pub fn events(&self) -> Vec<SyncedEvent> {
        self.events.lock().unwrap().clone()
    }

    /// The `Shopify Store Status Changed` events put so far.
    pub fn status_changes(&self) -> Vec<crate::health::change::StatusChanged> {
        self.status_changes.lock().unwrap().clone()
    }
}

#[async_trait]
impl EventPublisher for MemoryEvents {
    async fn knowledge_synced(&self, event: &SyncedEvent) -> Result<(), EventError> {
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }

    async fn store_status_changed(
        &self,
        event: &crate::health::change::StatusChanged,
    ) -> Result<(), EventError> {
        self.status_changes.lock().unwrap().push(event.clone());
        Ok(())
    }
}
