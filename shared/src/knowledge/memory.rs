//! In-memory knowledge ports for handler tests; same semantics as the AWS adapters.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use super::ports::{BlobError, DocumentStore, KnowledgeRepository};
use super::state::{IndexEntry, SyncState};
use crate::domain::{OrganizationId, ShopDomain, Source};
use crate::store::StoreError;

type StoreKey = (OrganizationId, ShopDomain);

#[derive(Default)]
pub struct MemoryKnowledge {
    states: Mutex<BTreeMap<StoreKey, SyncState>>,
    /// Stores whose state item cannot be read (see [`MemoryKnowledge::plant_unreadable_state`]).
    unreadable: Mutex<std::collections::BTreeSet<StoreKey>>,
    entries: Mutex<BTreeMap<(StoreKey, Source, u64), IndexEntry>>,
}

impl MemoryKnowledge {
    /// Makes the store's sync state an item this version cannot read (as another version may
    /// write one): reading it fails as the DynamoDB adapter's does, and scans pass over it.
    pub fn plant_unreadable_state(&self, org: &OrganizationId, shop: &ShopDomain) {
        let key = (org.clone(), shop.clone());
        self.states.lock().unwrap().remove(&key);
        self.unreadable.lock().unwrap().insert(key);
    }

    fn readable(&self, org: &OrganizationId, shop: Option<&ShopDomain>) -> Result<(), StoreError> {
        let unreadable = self.unreadable.lock().unwrap();
        if unreadable
            .iter()
            .any(|(o, s)| o == org && shop.is_none_or(|shop| s == shop))
        {
            return Err(StoreError::Corrupt("an unreadable sync state item".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl KnowledgeRepository for MemoryKnowledge {
    async fn state(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
    ) -> Result<Option<SyncState>, StoreError> {
        self.readable(org, Some(shop))?;
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
        self.readable(org, None)?;
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
