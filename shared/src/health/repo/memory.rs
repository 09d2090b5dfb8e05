//! [`HealthRepository`] in memory, for fast tests and the simulation.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Claim, Cycle, HealthRepository, CLAIM_LEASE};
use crate::domain::{OrganizationId, ShopDomain};
use crate::store::StoreError;

/// (org, shop, webhook id); the value is (claimed at, done).
type DeliveryKey = (String, String, String);

/// [`HealthRepository`] in memory, for fast tests and the simulation.
#[derive(Default)]
pub struct MemoryHealth {
    cycle: Mutex<Option<Cycle>>,
    webhooks: Mutex<HashMap<DeliveryKey, (DateTime<Utc>, bool)>>,
}

fn webhook_key(org: &OrganizationId, shop: &ShopDomain, id: &str) -> DeliveryKey {
    (org.to_string(), shop.to_string(), id.to_owned())
}

#[async_trait]
impl HealthRepository for MemoryHealth {
    async fn cycle(&self) -> Result<Option<Cycle>, StoreError> {
        Ok(self.cycle.lock().unwrap().clone())
    }

    async fn put_cycle(&self, cycle: &Cycle, expect: Option<&Cycle>) -> Result<(), StoreError> {
        let mut stored = self.cycle.lock().unwrap();
        let matches = match (stored.as_ref(), expect) {
            (None, None) => true,
            (Some(s), Some(e)) => s.cycle_id == e.cycle_id && s.pages == e.pages,
            _ => false,
        };
        if !matches {
            return Err(StoreError::Conflict);
        }
        *stored = Some(cycle.clone());
        Ok(())
    }

    async fn claim_webhook(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        webhook_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let mut webhooks = self.webhooks.lock().unwrap();
        let key = webhook_key(org, shop, webhook_id);
        match webhooks.get(&key) {
            Some((_, true)) => Ok(Claim::Done),
            Some((at, false)) if *at >= now - CLAIM_LEASE => Ok(Claim::InProgress),
            _ => {
                webhooks.insert(key, (now, false));
                Ok(Claim::New)
            }
        }
    }

    async fn finish_webhook(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        webhook_id: &str,
    ) -> Result<(), StoreError> {
        if let Some(entry) = self
            .webhooks
            .lock()
            .unwrap()
            .get_mut(&webhook_key(org, shop, webhook_id))
        {
            entry.1 = true;
        }
        Ok(())
    }

    async fn release_webhook(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        webhook_id: &str,
    ) -> Result<(), StoreError> {
        let mut webhooks = self.webhooks.lock().unwrap();
        let key = webhook_key(org, shop, webhook_id);
        if webhooks.get(&key).is_some_and(|(_, done)| !done) {
            webhooks.remove(&key);
        }
        Ok(())
    }
}
