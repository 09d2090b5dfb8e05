//! In-memory [`StoreRepository`] for handler tests; same semantics as the DynamoDB adapter.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{sort_for_listing, Expect, StoreError, StoreRecord, StoreRepository};
use crate::domain::{OrgSettings, OrganizationId, ShopDomain};

#[derive(Default)]
pub struct MemoryStoreRepository {
    records: Mutex<BTreeMap<(OrganizationId, ShopDomain), StoreRecord>>,
    settings: Mutex<BTreeMap<OrganizationId, OrgSettings>>,
}

impl MemoryStoreRepository {
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything stored, for assertions.
    pub fn all(&self) -> Vec<StoreRecord> {
        self.records.lock().unwrap().values().cloned().collect()
    }
}

#[async_trait]
impl StoreRepository for MemoryStoreRepository {
    async fn get(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
    ) -> Result<Option<StoreRecord>, StoreError> {
        Ok(self
            .records
            .lock()
            .unwrap()
            .get(&(org.clone(), shop.clone()))
            .cloned())
    }

    async fn list(&self, org: &OrganizationId) -> Result<Vec<StoreRecord>, StoreError> {
        let mut records: Vec<_> = self
            .records
            .lock()
            .unwrap()
            .values()
            .filter(|r| &r.org_id == org)
            .cloned()
            .collect();
        sort_for_listing(&mut records);
        Ok(records)
    }

    async fn put(&self, record: &StoreRecord, expect: Expect) -> Result<(), StoreError> {
        let mut records = self.records.lock().unwrap();
        let key = (record.org_id.clone(), record.shop_domain.clone());
        let ok = match (expect, records.get(&key)) {
            (Expect::Absent, None) => true,
            (Expect::Version(v), Some(existing)) => existing.version == v,
            _ => false,
        };
        if !ok {
            return Err(StoreError::Conflict);
        }
        records.insert(key, record.clone());
        Ok(())
    }

    async fn delete(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        version: u64,
    ) -> Result<(), StoreError> {
        let mut records = self.records.lock().unwrap();
        let key = (org.clone(), shop.clone());
        match records.get(&key) {
            Some(existing) if existing.version == version => {
                records.remove(&key);
                Ok(())
            }
            _ => Err(StoreError::Conflict),
        }
    }

    async fn get_settings(&self, org: &OrganizationId) -> Result<OrgSettings, StoreError> {
        Ok(self
            .settings
            .lock()
            .unwrap()
            .get(org)
            .copied()
            .unwrap_or_default())
    }

    async fn put_settings(
        &self,
        org: &OrganizationId,
        settings: &OrgSettings,
    ) -> Result<(), StoreError> {
        self.settings.lock().unwrap().insert(org.clone(), *settings);
        Ok(())
    }
}
