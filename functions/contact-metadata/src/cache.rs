//! The per-container answer cache: at most 60 s old, keyed so that a change to any store's
//! credentials (rotation) or to the set of stores (connect, disconnect) misses it, and bounded
//! in size.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use shared::domain::{Email, OrganizationId};
use shared::store::StoreRecord;

const TTL: Duration = Duration::from_secs(60);
const MAX_ENTRIES: usize = 512;

#[derive(Default)]
pub struct SidebarCache {
    entries: Mutex<HashMap<String, (Instant, Value)>>,
}

impl SidebarCache {
    /// Organization, normalized email, and each store with its credentials version.
    pub fn key(org: &OrganizationId, email: &Email, stores: &[StoreRecord]) -> String {
        let mut key = format!("{org}\n{}", email.normalized());
        for store in stores {
            key.push('\n');
            key.push_str(store.shop_domain.as_str());
            key.push('@');
            key.push_str(&store.credentials_version);
        }
        key
    }

    pub fn get(&self, key: &str) -> Option<Value> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, body)| body.clone())
    }

    pub fn put(&self, key: String, body: Value) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|_, (at, _)| at.elapsed() < TTL);
        if entries.len() >= MAX_ENTRIES {
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(key, (Instant::now(), body));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(email: &str) -> String {
        let org = OrganizationId::parse("org_1").unwrap();
        SidebarCache::key(&org, &Email::parse(email).unwrap(), &[])
    }

    #[test]
    fn a_contact_is_keyed_by_its_email_with_ascii_case_folded() {
        assert_eq!(key("Kate@Example.com"), key("kate@example.com"));
        assert_ne!(
            key("\u{212A}ate@example.com"),
            key("kate@example.com"),
            "a look-alike address (a Kelvin sign for K) is another contact's answer"
        );
    }
}
