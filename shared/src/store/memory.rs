//! In-memory [`StoreRepository`] for handler tests; same semantics as the DynamoDB adapter.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{sort_for_listing, Expect, Slot, StoreError, StoreRecord, StoreRepository, Tombstone};
use crate::domain::{OrgSettings, OrganizationId, ShopDomain};

#[derive(Default)]
pub struct MemoryStoreRepository {
    slots: Mutex<BTreeMap<(OrganizationId, ShopDomain), Slot>>,
    /// Kept as stored items are (JSON here), and read back the same tolerant way.
    settings: Mutex<BTreeMap<OrganizationId, serde_json::Value>>,
}

impl MemoryStoreRepository {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every live record, for assertions.
    pub fn all(&self) -> Vec<StoreRecord> {
        self.slots
            .lock()
            .unwrap()
            .values()
            .filter_map(|slot| slot.clone().live())
            .collect()
    }

    /// Stores `item` as the organization's settings item as it is, as another version of the
    /// connector may have written it.
    pub fn plant_settings(&self, org: &OrganizationId, item: serde_json::Value) {
        self.settings.lock().unwrap().insert(org.clone(), item);
    }

    fn put(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        slot: Slot,
        expect: Expect,
    ) -> Result<(), StoreError> {
        let mut slots = self.slots.lock().unwrap();
        let key = (org.clone(), shop.clone());
        let current = slots.get(&key).cloned().unwrap_or(Slot::Absent);
        if current.expect() != expect {
            return Err(StoreError::Conflict);
        }
        slots.insert(key, slot);
        Ok(())
    }
}

#[async_trait]
impl StoreRepository for MemoryStoreRepository {
    async fn slot(&self, org: &OrganizationId, shop: &ShopDomain) -> Result<Slot, StoreError> {
        Ok(self
            .slots
            .lock()
            .unwrap()
            .get(&(org.clone(), shop.clone()))
            .cloned()
            .unwrap_or(Slot::Absent))
    }

    async fn list(&self, org: &OrganizationId) -> Result<Vec<StoreRecord>, StoreError> {
        let mut records: Vec<_> = self
            .slots
            .lock()
            .unwrap()
            .iter()
            .filter(|((o, _), _)| o == org)
            .filter_map(|(_, slot)| slot.clone().live())
            .collect();
        sort_for_listing(&mut records);
        Ok(records)
    }

    async fn scan(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<StoreRecord>, Option<String>), StoreError> {
        let slots = self.slots.lock().unwrap();
        // Keys order as `org\nshop` strings do ('\n' sorts before every allowed character), so
        // the page starts right after the cursor's key.
        let start = cursor.and_then(|c| {
            let (org, shop) = c.split_once('\n')?;
            Some((
                OrganizationId::parse(org).ok()?,
                ShopDomain::parse(shop).ok()?,
            ))
        });
        let range = match &start {
            Some(key) => slots.range((
                std::ops::Bound::Excluded(key.clone()),
                std::ops::Bound::Unbounded,
            )),
            None => slots.range::<(OrganizationId, ShopDomain), _>(..),
        };
        let mut live = range.filter_map(|((org, shop), slot)| match slot {
            Slot::Live(record) => Some((format!("{org}\n{shop}"), record.clone())),
            _ => None,
        });
        let page: Vec<(String, StoreRecord)> = live.by_ref().take(limit.max(1)).collect();
        let next = if live.next().is_some() {
            page.last().map(|(key, _)| key.clone())
        } else {
            None
        };
        Ok((page.into_iter().map(|(_, r)| r).collect(), next))
    }

    async fn put_live(&self, record: &StoreRecord, expect: Expect) -> Result<(), StoreError> {
        self.put(
            &record.org_id,
            &record.shop_domain,
            Slot::Live(record.clone()),
            expect,
        )
    }

    async fn put_gone(&self, tombstone: &Tombstone, expect: Expect) -> Result<(), StoreError> {
        self.put(
            &tombstone.org_id,
            &tombstone.shop_domain,
            Slot::Gone(tombstone.clone()),
            expect,
        )
    }

    async fn get_settings(&self, org: &OrganizationId) -> Result<OrgSettings, StoreError> {
        match self.settings.lock().unwrap().get(org) {
            Some(item) => {
                serde_json::from_value(item.clone()).map_err(|e| StoreError::Corrupt(Box::new(e)))
            }
            None => Ok(OrgSettings::default()),
        }
    }

    async fn put_settings(
        &self,
        org: &OrganizationId,
        settings: &OrgSettings,
    ) -> Result<(), StoreError> {
        // As the DynamoDB adapter: only the fields this version knows are set.
        let item = serde_json::to_value(settings).map_err(|e| StoreError::Corrupt(Box::new(e)))?;
        let mut all = self.settings.lock().unwrap();
        let stored = all
            .entry(org.clone())
            .or_insert_with(|| serde_json::json!({}));
        if !stored.is_object() {
            *stored = serde_json::json!({});
        }
        for (field, value) in item.as_object().into_iter().flatten() {
            if field == "knowledge" && settings.knowledge_unread {
                continue;
            }
            if field == "order_actions" && settings.order_actions_unread {
                continue;
            }
            if field == "mcp" && settings.mcp_unread {
                continue;
            }
            stored[field] = value.clone();
        }
        Ok(())
    }
}
