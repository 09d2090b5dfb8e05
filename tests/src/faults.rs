//! Adapters that fail, count or wait on purpose, wrapped around the real ones, to prove that a
//! failure between two storage writes leaves nothing half-written, that a retry converges, that
//! a hot path reads storage once, and that a race between two requests ends well; and AWS
//! endpoints that accept connections and never answer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use secrecy::SecretString;
use shared::domain::{OrgSettings, OrganizationId, ShopDomain};
use shared::secrets::{PutOutcome, SecretName, SecretStore, SecretsError};
use shared::store::{Expect, Slot, StoreError, StoreRecord, StoreRepository, Tombstone};
use tokio::sync::Notify;

fn injected() -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(std::io::Error::other("injected fault"))
}

/// Counts write calls; the call numbered `fail_on` (1-based) fails as if the service were
/// down.
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

/// A store repository whose writes (`put_live`, `put_gone`, settings) fail when the trigger
/// fires. With `after_write`, the write lands first and only its answer is lost.
pub struct FailingStores {
    pub inner: Arc<dyn StoreRepository>,
    pub trigger: Arc<Trigger>,
    pub after_write: bool,
}

impl FailingStores {
    pub fn new(inner: Arc<dyn StoreRepository>, trigger: Arc<Trigger>) -> Self {
        Self {
            inner,
            trigger,
            after_write: false,
        }
    }

    async fn write<F>(&self, write: F) -> Result<(), StoreError>
    where
        F: std::future::Future<Output = Result<(), StoreError>>,
    {
        if !self.trigger.fire() {
            return write.await;
        }
        if self.after_write {
            write.await?;
        }
        Err(StoreError::Unavailable(injected()))
    }
}

#[async_trait]
impl StoreRepository for FailingStores {
    async fn slot(&self, org: &OrganizationId, shop: &ShopDomain) -> Result<Slot, StoreError> {
        self.inner.slot(org, shop).await
    }
    async fn list(&self, org: &OrganizationId) -> Result<Vec<StoreRecord>, StoreError> {
        self.inner.list(org).await
    }
    async fn scan(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<StoreRecord>, Option<String>), StoreError> {
        self.inner.scan(cursor, limit).await
    }
    async fn put_live(&self, record: &StoreRecord, expect: Expect) -> Result<(), StoreError> {
        self.write(self.inner.put_live(record, expect)).await
    }
    async fn put_gone(&self, tombstone: &Tombstone, expect: Expect) -> Result<(), StoreError> {
        self.write(self.inner.put_gone(tombstone, expect)).await
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
        self.write(self.inner.put_settings(org, settings)).await
    }
}

/// A secret store whose writes (`put`, `make_current`, deletions) fail when the trigger fires.
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
            return Err(SecretsError::Refused(injected()));
        }
        self.inner.delete(name).await
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
    ) -> Result<shared::secrets::SecretPage, SecretsError> {
        self.inner.list(prefix, cursor).await
    }
}

/// A secret store whose first `put` lands but answers `Unavailable`: the write was carried
/// out and its answer lost (a timeout, or a server error after the commit).
pub struct LostPutAnswer {
    pub inner: Arc<dyn SecretStore>,
    fired: std::sync::atomic::AtomicBool,
}

impl LostPutAnswer {
    pub fn new(inner: Arc<dyn SecretStore>) -> Self {
        Self {
            inner,
            fired: Default::default(),
        }
    }
}

#[async_trait]
impl SecretStore for LostPutAnswer {
    async fn put(
        &self,
        name: &SecretName,
        value: &SecretString,
    ) -> Result<PutOutcome, SecretsError> {
        let put = self.inner.put(name, value).await?;
        if self.fired.swap(true, Ordering::SeqCst) {
            return Ok(put);
        }
        Err(SecretsError::Unavailable(injected()))
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
        self.inner.make_current(name, version_id).await
    }
    async fn schedule_deletion(&self, name: &SecretName) -> Result<(), SecretsError> {
        self.inner.schedule_deletion(name).await
    }
    async fn delete(&self, name: &SecretName) -> Result<(), SecretsError> {
        self.inner.delete(name).await
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
    ) -> Result<shared::secrets::SecretPage, SecretsError> {
        self.inner.list(prefix, cursor).await
    }
}

/// A secret store whose first deletion goes unanswered (as a timed-out attempt or a connection
/// lost after sending): it answers `Unavailable` at once, and the deletion itself lands when
/// the test opens `lands`.
pub struct InFlightDelete {
    pub inner: Arc<dyn SecretStore>,
    pub lands: Arc<Notify>,
    sent: std::sync::atomic::AtomicBool,
    landed: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl InFlightDelete {
    pub fn new(inner: Arc<dyn SecretStore>) -> Self {
        Self {
            inner,
            lands: Arc::default(),
            sent: Default::default(),
            landed: Mutex::new(None),
        }
    }

    /// Lets the unanswered deletion land, and waits until it has.
    pub async fn land(&self) {
        self.lands.notify_one();
        let task = self.landed.lock().unwrap().take();
        if let Some(task) = task {
            task.await.unwrap();
        }
    }
}

#[async_trait]
impl SecretStore for InFlightDelete {
    async fn put(
        &self,
        name: &SecretName,
        value: &SecretString,
    ) -> Result<PutOutcome, SecretsError> {
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
        self.inner.make_current(name, version_id).await
    }
    async fn schedule_deletion(&self, name: &SecretName) -> Result<(), SecretsError> {
        self.inner.schedule_deletion(name).await
    }
    async fn delete(&self, name: &SecretName) -> Result<(), SecretsError> {
        if self.sent.swap(true, Ordering::SeqCst) {
            return self.inner.delete(name).await;
        }
        let (inner, lands, name) = (self.inner.clone(), self.lands.clone(), name.clone());
        *self.landed.lock().unwrap() = Some(tokio::spawn(async move {
            lands.notified().await;
            inner.delete(&name).await.unwrap();
        }));
        Err(SecretsError::Unavailable(injected()))
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
    ) -> Result<shared::secrets::SecretPage, SecretsError> {
        self.inner.list(prefix, cursor).await
    }
}

/// Holds one call until the test opens it, so another request can run in between.
pub struct Gate {
    armed: std::sync::atomic::AtomicBool,
    /// Notified when the held call arrives.
    pub reached: Arc<Notify>,
    /// Notify to let the held call go on.
    pub open: Arc<Notify>,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            armed: std::sync::atomic::AtomicBool::new(true),
            reached: Arc::new(Notify::new()),
            open: Arc::new(Notify::new()),
        }
    }
}

impl Gate {
    /// Holds the first caller (only) until opened.
    pub async fn pass(&self) {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.reached.notify_one();
            self.open.notified().await;
        }
    }
}

/// Which secret-store call a [`GatedSecrets`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretCall {
    Put,
    ScheduleDeletion,
    Delete,
}

/// A secret store that holds its first `call` at a [`Gate`].
pub struct GatedSecrets {
    pub inner: Arc<dyn SecretStore>,
    pub call: SecretCall,
    pub gate: Gate,
}

impl GatedSecrets {
    pub fn new(inner: Arc<dyn SecretStore>, call: SecretCall) -> Self {
        Self {
            inner,
            call,
            gate: Gate::default(),
        }
    }
}

#[async_trait]
impl SecretStore for GatedSecrets {
    async fn put(
        &self,
        name: &SecretName,
        value: &SecretString,
    ) -> Result<PutOutcome, SecretsError> {
        if self.call == SecretCall::Put {
            self.gate.pass().await;
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
        self.inner.make_current(name, version_id).await
    }
    async fn schedule_deletion(&self, name: &SecretName) -> Result<(), SecretsError> {
        if self.call == SecretCall::ScheduleDeletion {
            self.gate.pass().await;
        }
        self.inner.schedule_deletion(name).await
    }
    async fn delete(&self, name: &SecretName) -> Result<(), SecretsError> {
        if self.call == SecretCall::Delete {
            self.gate.pass().await;
        }
        self.inner.delete(name).await
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
    ) -> Result<shared::secrets::SecretPage, SecretsError> {
        self.inner.list(prefix, cursor).await
    }
}

/// A secret store whose first force delete lands but answers an error, and whose next
/// `current_version` (the follow-up DescribeSecret) fails too: a Secrets Manager outage that
/// hides whether the deletion happened.
pub struct LostDeleteAnswer {
    pub inner: Arc<dyn SecretStore>,
    fired: std::sync::atomic::AtomicBool,
    describe_fails: std::sync::atomic::AtomicBool,
}

impl LostDeleteAnswer {
    pub fn new(inner: Arc<dyn SecretStore>) -> Self {
        Self {
            inner,
            fired: Default::default(),
            describe_fails: Default::default(),
        }
    }
}

#[async_trait]
impl SecretStore for LostDeleteAnswer {
    async fn put(
        &self,
        name: &SecretName,
        value: &SecretString,
    ) -> Result<PutOutcome, SecretsError> {
        self.inner.put(name, value).await
    }
    async fn current_version(&self, name: &SecretName) -> Result<Option<String>, SecretsError> {
        if self.describe_fails.swap(false, Ordering::SeqCst) {
            return Err(SecretsError::Unavailable(injected()));
        }
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
        self.inner.make_current(name, version_id).await
    }
    async fn schedule_deletion(&self, name: &SecretName) -> Result<(), SecretsError> {
        self.inner.schedule_deletion(name).await
    }
    async fn delete(&self, name: &SecretName) -> Result<(), SecretsError> {
        self.inner.delete(name).await?;
        if self.fired.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.describe_fails.store(true, Ordering::SeqCst);
        Err(SecretsError::Unavailable(injected()))
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
    ) -> Result<shared::secrets::SecretPage, SecretsError> {
        self.inner.list(prefix, cursor).await
    }
}

/// A store repository whose first tombstone write lands but answers `Conflict`: the SDK's
/// first attempt landed, its answer was lost, and its retry failed the condition.
pub struct RetriedTombstone {
    pub inner: Arc<dyn StoreRepository>,
    fired: std::sync::atomic::AtomicBool,
}

impl RetriedTombstone {
    pub fn new(inner: Arc<dyn StoreRepository>) -> Self {
        Self {
            inner,
            fired: Default::default(),
        }
    }
}

#[async_trait]
impl StoreRepository for RetriedTombstone {
    async fn slot(&self, org: &OrganizationId, shop: &ShopDomain) -> Result<Slot, StoreError> {
        self.inner.slot(org, shop).await
    }
    async fn list(&self, org: &OrganizationId) -> Result<Vec<StoreRecord>, StoreError> {
        self.inner.list(org).await
    }
    async fn scan(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<StoreRecord>, Option<String>), StoreError> {
        self.inner.scan(cursor, limit).await
    }
    async fn put_live(&self, record: &StoreRecord, expect: Expect) -> Result<(), StoreError> {
        self.inner.put_live(record, expect).await
    }
    async fn put_gone(&self, tombstone: &Tombstone, expect: Expect) -> Result<(), StoreError> {
        self.inner.put_gone(tombstone, expect).await?;
        if self.fired.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        Err(StoreError::Conflict)
    }
    async fn get_settings(&self, org: &OrganizationId) -> Result<OrgSettings, StoreError> {
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

/// A store repository whose first record write lands, is then rewritten by another writer (a
/// verify, say: a new version and `write_id`), and answers `Conflict`: the SDK's first attempt
/// landed, its answer was lost, and its retry failed the condition.
pub struct RewrittenAfterLostAnswer {
    pub inner: Arc<dyn StoreRepository>,
    fired: std::sync::atomic::AtomicBool,
}

impl RewrittenAfterLostAnswer {
    pub fn new(inner: Arc<dyn StoreRepository>) -> Self {
        Self {
            inner,
            fired: Default::default(),
        }
    }
}

#[async_trait]
impl StoreRepository for RewrittenAfterLostAnswer {
    async fn slot(&self, org: &OrganizationId, shop: &ShopDomain) -> Result<Slot, StoreError> {
        self.inner.slot(org, shop).await
    }
    async fn list(&self, org: &OrganizationId) -> Result<Vec<StoreRecord>, StoreError> {
        self.inner.list(org).await
    }
    async fn scan(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<StoreRecord>, Option<String>), StoreError> {
        self.inner.scan(cursor, limit).await
    }
    async fn put_live(&self, record: &StoreRecord, expect: Expect) -> Result<(), StoreError> {
        self.inner.put_live(record, expect).await?;
        if self.fired.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let verified = StoreRecord {
            version: record.version + 1,
            write_id: "another-writer".into(),
            last_verified_at: chrono::Utc::now(),
            ..record.clone()
        };
        self.inner
            .put_live(&verified, Expect::Version(record.version))
            .await?;
        Err(StoreError::Conflict)
    }
    async fn put_gone(&self, tombstone: &Tombstone, expect: Expect) -> Result<(), StoreError> {
        self.inner.put_gone(tombstone, expect).await
    }
    async fn get_settings(&self, org: &OrganizationId) -> Result<OrgSettings, StoreError> {
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

/// A store repository that holds its first tombstone write (`put_gone`) at a [`Gate`].
pub struct GatedStores {
    pub inner: Arc<dyn StoreRepository>,
    pub gate: Gate,
}

#[async_trait]
impl StoreRepository for GatedStores {
    async fn slot(&self, org: &OrganizationId, shop: &ShopDomain) -> Result<Slot, StoreError> {
        self.inner.slot(org, shop).await
    }
    async fn list(&self, org: &OrganizationId) -> Result<Vec<StoreRecord>, StoreError> {
        self.inner.list(org).await
    }
    async fn scan(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<StoreRecord>, Option<String>), StoreError> {
        self.inner.scan(cursor, limit).await
    }
    async fn put_live(&self, record: &StoreRecord, expect: Expect) -> Result<(), StoreError> {
        self.inner.put_live(record, expect).await
    }
    async fn put_gone(&self, tombstone: &Tombstone, expect: Expect) -> Result<(), StoreError> {
        self.gate.pass().await;
        self.inner.put_gone(tombstone, expect).await
    }
    async fn get_settings(&self, org: &OrganizationId) -> Result<OrgSettings, StoreError> {
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
    async fn slot(&self, org: &OrganizationId, shop: &ShopDomain) -> Result<Slot, StoreError> {
        self.count();
        self.inner.slot(org, shop).await
    }
    async fn list(&self, org: &OrganizationId) -> Result<Vec<StoreRecord>, StoreError> {
        self.count();
        self.inner.list(org).await
    }
    async fn scan(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<StoreRecord>, Option<String>), StoreError> {
        self.count();
        self.inner.scan(cursor, limit).await
    }
    async fn load_org(
        &self,
        org: &OrganizationId,
    ) -> Result<(Vec<StoreRecord>, OrgSettings), StoreError> {
        self.count();
        self.inner.load_org(org).await
    }
    async fn put_live(&self, record: &StoreRecord, expect: Expect) -> Result<(), StoreError> {
        self.inner.put_live(record, expect).await
    }
    async fn put_gone(&self, tombstone: &Tombstone, expect: Expect) -> Result<(), StoreError> {
        self.inner.put_gone(tombstone, expect).await
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

/// A secret store that counts every call, to prove a path reads no secret at all.
pub struct CountingSecrets {
    pub inner: Arc<dyn SecretStore>,
    pub calls: AtomicUsize,
}

impl CountingSecrets {
    pub fn new(inner: Arc<dyn SecretStore>) -> Self {
        Self {
            inner,
            calls: AtomicUsize::new(0),
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl SecretStore for CountingSecrets {
    async fn put(
        &self,
        name: &SecretName,
        value: &SecretString,
    ) -> Result<PutOutcome, SecretsError> {
        self.count();
        self.inner.put(name, value).await
    }
    async fn current_version(&self, name: &SecretName) -> Result<Option<String>, SecretsError> {
        self.count();
        self.inner.current_version(name).await
    }
    async fn get_version(
        &self,
        name: &SecretName,
        version_id: &str,
    ) -> Result<Option<SecretString>, SecretsError> {
        self.count();
        self.inner.get_version(name, version_id).await
    }
    async fn make_current(&self, name: &SecretName, version_id: &str) -> Result<(), SecretsError> {
        self.count();
        self.inner.make_current(name, version_id).await
    }
    async fn schedule_deletion(&self, name: &SecretName) -> Result<(), SecretsError> {
        self.count();
        self.inner.schedule_deletion(name).await
    }
    async fn delete(&self, name: &SecretName) -> Result<(), SecretsError> {
        self.count();
        self.inner.delete(name).await
    }

    async fn list(
        &self,
        prefix: &str,
        cursor: Option<&str>,
    ) -> Result<shared::secrets::SecretPage, SecretsError> {
        self.inner.list(prefix, cursor).await
    }
}

/// A TCP endpoint that accepts connections and never answers: a hanging DynamoDB, Secrets
/// Manager or Shopify. Dropping it closes the listener.
pub struct BlackHole {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl BlackHole {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the black hole");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        Self { url, task }
    }

    /// An `SdkConfig` whose every AWS call goes to this endpoint, with the project's timeouts.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        shared::aws::configure(aws_config::defaults(aws_config::BehaviorVersion::latest()))
            .endpoint_url(&self.url)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "local",
            ))
            .load()
            .await
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An event bus that refuses every event (EventBridge down, or a missing permission).
pub struct RefusingEvents;

#[async_trait::async_trait]
impl shared::events::EventPublisher for RefusingEvents {
    async fn knowledge_synced(
        &self,
        _: &shared::events::SyncedEvent,
    ) -> Result<(), shared::events::EventError> {
        Err(shared::events::EventError(Box::new(std::io::Error::other(
            "refused",
        ))))
    }

    async fn store_status_changed(
        &self,
        _: &shared::events::StatusChanged,
    ) -> Result<(), shared::events::EventError> {
        Err(shared::events::EventError(Box::new(std::io::Error::other(
            "refused",
        ))))
    }

    async fn order_action(
        &self,
        _: &shared::events::OrderActionEvent,
    ) -> Result<(), shared::events::EventError> {
        Err(shared::events::EventError(Box::new(std::io::Error::other(
            "refused",
        ))))
    }
}
