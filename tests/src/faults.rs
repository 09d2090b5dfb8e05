//! Adapters that fail on purpose, wrapped around the real ones, to prove that a failure between
//! two storage writes leaves nothing half-written and that a retry converges.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;
use shared::domain::{OrgSettings, OrganizationId, ShopDomain};
use shared::secrets::{PutOutcome, SecretName, SecretStore, SecretsError};
use shared::store::{Expect, StoreError, StoreRecord, StoreRepository};

fn injected() -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(std::io::Error::other("injected fault"))
}

/// Counts write calls; the call numbered `fail_on` (1-based) and, if `sticky`, every later one
/// fails as if the service were down.
#[derive(Default)]
pub struct Trigger {
    calls: AtomicUsize,
    fail_on: AtomicUsize,
}

impl Trigger {
    pub fn fail_on(&self, n: usize) {
        self.calls.store(0, Ordering::SeqCst);
        self.fail_on.store(n, Ordering::SeqCst);
    }

    pub fn disarm(&self) {
        self.fail_on.store(0, Ordering::SeqCst);
    }

    fn fire(&self) -> bool {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        n == self.fail_on.load(Ordering::SeqCst)
    }
}

/// A store repository whose writes (`put`, `delete`) fail when the trigger fires.
pub struct FailingStores {
    pub inner: Arc<dyn StoreRepository>,
    pub trigger: Arc<Trigger>,
}

#[async_trait]
impl StoreRepository for FailingStores {
    async fn get(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
    ) -> Result<Option<StoreRecord>, StoreError> {
        self.inner.get(org, shop).await
    }
    async fn list(&self, org: &OrganizationId) -> Result<Vec<StoreRecord>, StoreError> {
        self.inner.list(org).await
    }
    async fn put(&self, record: &StoreRecord, expect: Expect) -> Result<(), StoreError> {
        if self.trigger.fire() {
            return Err(StoreError::Unavailable(injected()));
        }
        self.inner.put(record, expect).await
    }
    async fn delete(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        version: u64,
    ) -> Result<(), StoreError> {
        if self.trigger.fire() {
            return Err(StoreError::Unavailable(injected()));
        }
        self.inner.delete(org, shop, version).await
    }
    async fn load_org(
        &self,
        org: &OrganizationId,
    ) -> Result<(Vec<StoreRecord>, OrgSettings), StoreError> {
        self.inner.load_org(org).await
    }
    async fn get_settings(&self, org: &OrganizationId) -> Result<OrgSettings, StoreError> {
        self.inner.get_settings(org).await
    }
    async fn put_settings(
        &self,
        org: &OrganizationId,
        settings: &OrgSettings,
    ) -> Result<(), StoreError> {
        if self.trigger.fire() {
            return Err(StoreError::Unavailable(injected()));
        }
        self.inner.put_settings(org, settings).await
    }
}

/// A secret store whose writes (`put`, `make_current`, `delete`) fail when the trigger fires.
pub struct FailingSecrets {
    pub inner: Arc<dyn SecretStore>,
    pub trigger: Arc<Trigger>,
}

#[async_trait]
impl SecretStore for FailingSecrets {
    async fn put(
        &self,
        name: &SecretName,
        value: &SecretString,
    ) -> Result<PutOutcome, SecretsError> {
        if self.trigger.fire() {
            return Err(SecretsError::Unavailable(injected()));
        }
        self.inner.put(name, value).await
    }
    async fn current_version(&self, name: &SecretName) -> Result<Option<String>, SecretsError> {
        self.inner.current_version(name).await
    }
    async fn get_version(
        &self,
        name: &SecretName,
        version_id: &str,
    ) -> Result<Option<SecretString>, SecretsError> {
        self.inner.get_version(name, version_id).await
    }
    async fn make_current(&self, name: &SecretName, version_id: &str) -> Result<(), SecretsError> {
        if self.trigger.fire() {
            return Err(SecretsError::Unavailable(injected()));
        }
        self.inner.make_current(name, version_id).await
    }
    async fn schedule_deletion(&self, name: &SecretName) -> Result<(), SecretsError> {
        if self.trigger.fire() {
            return Err(SecretsError::Unavailable(injected()));
        }
        self.inner.schedule_deletion(name).await
    }
    async fn delete(&self, name: &SecretName) -> Result<(), SecretsError> {
        if self.trigger.fire() {
            return Err(SecretsError::Unavailable(injected()));
        }
        self.inner.delete(name).await
    }
}

/// A store repository that counts reads, to prove a hot path reads storage exactly once.
pub struct CountingStores {
    pub inner: Arc<dyn StoreRepository>,
    pub reads: AtomicUsize,
}

impl CountingStores {
    pub fn new(inner: Arc<dyn StoreRepository>) -> Self {
        Self {
            inner,
            reads: AtomicUsize::new(0),
        }
    }

    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    fn count(&self) {
        self.reads.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl StoreRepository for CountingStores {
    async fn get(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
    ) -> Result<Option<StoreRecord>, StoreError> {
        self.count();
        self.inner.get(org, shop).await
    }
    async fn list(&self, org: &OrganizationId) -> Result<Vec<StoreRecord>, StoreError> {
        self.count();
        self.inner.list(org).await
    }
    async fn load_org(
        &self,
        org: &OrganizationId,
    ) -> Result<(Vec<StoreRecord>, OrgSettings), StoreError> {
        self.count();
        self.inner.load_org(org).await
    }
    async fn put(&self, record: &StoreRecord, expect: Expect) -> Result<(), StoreError> {
        self.inner.put(record, expect).await
    }
    async fn delete(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        version: u64,
    ) -> Result<(), StoreError> {
        self.inner.delete(org, shop, version).await
    }
    async fn get_settings(&self, org: &OrganizationId) -> Result<OrgSettings, StoreError> {
        self.count();
        self.inner.get_settings(org).await
    }
    async fn put_settings(
        &self,
        org: &OrganizationId,
        settings: &OrgSettings,
    ) -> Result<(), StoreError> {
        self.inner.put_settings(org, settings).await
    }
}
