//! The knowledge sync tier of a [`crate::app::TestApp`]: the ports `knowledge-sync` runs on,
//! over in-memory fakes or over moto (a table, bucket, queue with its dead-letter queue, and an
//! event bus with a rule into a queue, all of the test's own), a counter of document writes in
//! front of either, and the worker that drains the queue the way Lambda does.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use shared::access::Access;
use shared::events::{EventBridgeEvents, EventPublisher, MemoryEvents};
use shared::knowledge::aws::{DynamoKnowledge, S3Documents};
use shared::knowledge::memory::{MemoryDocuments, MemoryKnowledge};
use shared::knowledge::ports::{BlobError, DocumentStore, KnowledgeRepository};
use shared::knowledge::sync::{SyncConfig, SyncPorts};
use shared::knowledge::KnowledgePorts;
use shared::queue::{MemoryQueue, SqsQueue};
use shared::shopify::{ShopifyClient, ShopifyConfig};
use shared::store::StoreRepository;

use crate::local_aws;
use crate::worker::{self, Drained, Queue};

/// A [`DocumentStore`] that counts what passes through it.
pub struct CountingDocuments {
    inner: Arc<dyn DocumentStore>,
    puts: AtomicUsize,
    deletes: AtomicUsize,
    written: std::sync::Mutex<Vec<String>>,
}

impl CountingDocuments {
    pub fn new(inner: Arc<dyn DocumentStore>) -> Self {
        Self {
            inner,
            puts: AtomicUsize::new(0),
            deletes: AtomicUsize::new(0),
            written: std::sync::Mutex::default(),
        }
    }

    /// Objects written (S3 PUTs) so far.
    pub fn puts(&self) -> usize {
        self.puts.load(Ordering::SeqCst)
    }

    /// Keys deleted so far.
    pub fn deletes(&self) -> usize {
        self.deletes.load(Ordering::SeqCst)
    }

    /// The keys written so far, in order.
    pub fn written(&self) -> Vec<String> {
        self.written.lock().unwrap().clone()
    }

    /// Starts counting afresh.
    pub fn reset(&self) {
        self.puts.store(0, Ordering::SeqCst);
        self.deletes.store(0, Ordering::SeqCst);
        self.written.lock().unwrap().clear();
    }
}

#[async_trait]
impl DocumentStore for CountingDocuments {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), BlobError> {
        self.inner.put(key, body, content_type).await?;
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.written.lock().unwrap().push(key.to_owned());
        Ok(())
    }

    async fn delete(&self, keys: &[String]) -> Result<(), BlobError> {
        self.inner.delete(keys).await?;
        self.deletes.fetch_add(keys.len(), Ordering::SeqCst);
        Ok(())
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<(Vec<String>, bool), BlobError> {
        self.inner.list(prefix, start_after).await
    }
}

/// Where the "Shopify Knowledge Synced" events end up.
pub enum Events {
    Memory(Arc<MemoryEvents>),
    /// A rule on the test's own bus copies them into this queue.
    Sqs {
        client: aws_sdk_sqs::Client,
        url: String,
    },
}

/// The moto side of the tier.
pub struct KnowledgeAws {
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub dlq_url: String,
    /// The document index's table.
    pub index_table: String,
}

/// Everything knowledge sync runs on in a test.
pub struct KnowledgeRig {
    /// The worker's ports (its own Shopify client and credential cache, as the function has).
    pub sync: SyncPorts,
    pub ports: KnowledgePorts,
    pub queue: Queue,
    pub documents: Arc<CountingDocuments>,
    pub memory_documents: Option<Arc<MemoryDocuments>>,
    pub events: Events,
    pub bucket: String,
    pub aws: Option<KnowledgeAws>,
    /// Events read from the events queue so far.
    seen: std::sync::Mutex<Vec<Value>>,
}

/// Builds the tier over moto: a fresh table (so the schedule's scan sees only this test's
/// stores), a bucket, a queue with a dead-letter queue after 5 receives, and an event bus.
pub async fn moto(
    sdk: &aws_config::SdkConfig,
    stores: Arc<dyn StoreRepository>,
    table: &str,
    access: Arc<Access>,
) -> KnowledgeRig {
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let eventbridge = aws_sdk_eventbridge::Client::new(sdk);
    let bucket = local_aws::unique("knowledge");
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create the test bucket");
    let dlq_url = sqs
        .create_queue()
        .queue_name(local_aws::unique("knowledge-dlq"))
        .send()
        .await
        .expect("create the dead-letter queue")
        .queue_url
        .expect("a queue url");
    let dlq_arn = local_aws::queue_arn(&sqs, &dlq_url).await;
    let queue_url = sqs
        .create_queue()
        .queue_name(local_aws::unique("knowledge"))
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "30",
        )
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": shared::queue::MAX_RECEIVES.to_string()}).to_string(),
        )
        .send()
        .await
        .expect("create the knowledge queue")
        .queue_url
        .expect("a queue url");
    let (bus, events_url) = local_aws::event_bus_with_queue(sdk).await;
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    let index_table = local_aws::fresh_table(&dynamo).await;
    let repo: Arc<dyn KnowledgeRepository> =
        Arc::new(DynamoKnowledge::new(dynamo, table, &index_table));
    let job_queue: Arc<dyn shared::queue::Queue<shared::knowledge::ports::Job>> =
        Arc::new(SqsQueue::new(sqs.clone(), &queue_url));
    let documents = Arc::new(CountingDocuments::new(Arc::new(S3Documents::new(
        sdk, &bucket, true,
    ))));
    let publisher: Arc<dyn EventPublisher> = Arc::new(EventBridgeEvents::new(eventbridge, &bus));
    KnowledgeRig {
        sync: SyncPorts {
            stores,
            repo: repo.clone(),
            documents: documents.clone(),
            queue: job_queue.clone(),
            events: publisher,
            access,
            config: config(&bucket),
        },
        ports: KnowledgePorts {
            repo,
            queue: job_queue,
        },
        queue: Queue::Sqs {
            client: sqs.clone(),
            url: queue_url,
        },
        documents,
        memory_documents: None,
        events: Events::Sqs {
            client: sqs.clone(),
            url: events_url,
        },
        bucket,
        aws: Some(KnowledgeAws {
            s3,
            sqs,
            dlq_url,
            index_table,
        }),
        seen: std::sync::Mutex::default(),
    }
}

/// Builds the tier over in-memory fakes.
pub fn memory(stores: Arc<dyn StoreRepository>, access: Arc<Access>) -> KnowledgeRig {
    let repo: Arc<dyn KnowledgeRepository> = Arc::new(MemoryKnowledge::default());
    let queue = Arc::new(MemoryQueue::default());
    let memory_documents = Arc::new(MemoryDocuments::default());
    let documents = Arc::new(CountingDocuments::new(memory_documents.clone()));
    let events = Arc::new(MemoryEvents::default());
    let bucket = "knowledge-test".to_owned();
    KnowledgeRig {
        sync: SyncPorts {
            stores,
            repo: repo.clone(),
            documents: documents.clone(),
            queue: queue.clone(),
            events: events.clone(),
            access,
            config: config(&bucket),
        },
        ports: KnowledgePorts {
            repo,
            queue: queue.clone(),
        },
        queue: Queue::Memory(queue),
        documents,
        memory_documents: Some(memory_documents),
        events: Events::Memory(events),
        bucket,
        aws: None,
        seen: std::sync::Mutex::default(),
    }
}

fn config(bucket: &str) -> SyncConfig {
    SyncConfig {
        bucket: bucket.to_owned(),
        bulk_threshold: 2000,
        bulk_poll: Duration::from_millis(100),
        step_reserve: shared::knowledge::sync::STEP_RESERVE,
        throttled_pause: Duration::from_millis(200),
        busy_pause: Duration::from_millis(200),
    }
}

/// The worker's own Shopify client and credential cache, as a separate function has.
pub fn worker_access(
    secrets: Arc<dyn shared::secrets::SecretStore>,
    prefix: String,
    shopify: ShopifyConfig,
) -> Arc<Access> {
    Arc::new(Access::new(secrets, prefix, ShopifyClient::new(shopify)))
}

impl KnowledgeRig {
    /// Delivers queued jobs to `knowledge-sync` until the queue is empty (at most 1,000).
    pub async fn drain(&self) -> Drained {
        worker::drain(&self.sync, &self.queue, worker::INVOCATION, 1000).await
    }

    /// Every stored key under `prefix`, through the document store (S3 `ListObjectsV2`).
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (page, more) = self
                .documents
                .list(prefix, after.as_deref())
                .await
                .expect("list documents");
            after = page.last().cloned();
            keys.extend(page);
            if !more {
                return keys;
            }
        }
    }

    /// A stored object's bytes.
    pub async fn object(&self, key: &str) -> Option<Vec<u8>> {
        match (&self.aws, &self.memory_documents) {
            (Some(aws), _) => {
                let output = aws
                    .s3
                    .get_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .send()
                    .await
                    .ok()?;
                Some(output.body.collect().await.ok()?.into_bytes().to_vec())
            }
            (None, Some(memory)) => memory.get(key),
            _ => None,
        }
    }

    /// A stored document as text.
    pub async fn text(&self, key: &str) -> String {
        String::from_utf8(
            self.object(key)
                .await
                .unwrap_or_else(|| panic!("no object {key}")),
        )
        .expect("UTF-8")
    }

    /// Every object under `prefix` with its bytes.
    pub async fn snapshot(&self, prefix: &str) -> BTreeMap<String, Vec<u8>> {
        let mut objects = BTreeMap::new();
        for key in self.keys(prefix).await {
            let bytes = self.object(&key).await.unwrap_or_default();
            objects.insert(key, bytes);
        }
        objects
    }

    /// Every event announced so far (for the moto tier, those the rule delivered), as
    /// `detail` objects.
    pub async fn events(&self) -> Vec<Value> {
        match &self.events {
            Events::Memory(events) => events
                .events()
                .iter()
                .map(|e| serde_json::to_value(e).expect("an event serializes"))
                .collect(),
            Events::Sqs { client, url } => {
                let mut seen = self.seen.lock().unwrap().clone();
                for envelope in local_aws::receive_connector_events(client, url).await {
                    assert_eq!(envelope["detail-type"], "Shopify Knowledge Synced");
                    seen.push(envelope["detail"].clone());
                }
                *self.seen.lock().unwrap() = seen.clone();
                seen
            }
        }
    }

    /// Jobs that went to the dead-letter queue.
    pub async fn dead_letters(&self) -> usize {
        match (&self.queue, &self.aws) {
            (Queue::Memory(queue), _) => queue.dead_letters().len(),
            (Queue::Sqs { .. }, Some(aws)) => {
                let output = aws
                    .sqs
                    .get_queue_attributes()
                    .queue_url(&aws.dlq_url)
                    .attribute_names(
                        aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
                    )
                    .send()
                    .await
                    .expect("dead-letter queue attributes");
                output
                    .attributes
                    .unwrap_or_default()
                    .get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0)
            }
            _ => 0,
        }
    }
}

/// A hook run once, before a call goes through.
pub type Hook = Box<dyn FnOnce() -> futures::future::BoxFuture<'static, ()> + Send>;

/// A [`KnowledgeRepository`] with faults: a hook run before the next state write (another
/// writer getting in first), slow counts, and one failing index write.
pub struct HookedRepo {
    pub inner: Arc<dyn KnowledgeRepository>,
    before_put_state: std::sync::Mutex<Option<Hook>>,
    /// Every `count_entries` takes this long.
    pub count_delay: Duration,
    /// The written (fingerprinted) index entry of this id fails, once.
    fail_entry: std::sync::Mutex<Option<u64>>,
}

impl HookedRepo {
    pub fn new(inner: Arc<dyn KnowledgeRepository>) -> Self {
        Self {
            inner,
            before_put_state: std::sync::Mutex::default(),
            count_delay: Duration::ZERO,
            fail_entry: std::sync::Mutex::default(),
        }
    }

    /// Runs `hook` before the next state write goes through.
    pub fn before_next_put_state(&self, hook: Hook) {
        *self.before_put_state.lock().unwrap() = Some(hook);
    }

    /// Fails the write of document `id`'s index entry (once).
    pub fn fail_entry_once(&self, id: u64) {
        *self.fail_entry.lock().unwrap() = Some(id);
    }
}

#[async_trait]
impl KnowledgeRepository for HookedRepo {
    async fn state(
        &self,
        org: &shared::domain::OrganizationId,
        shop: &shared::domain::ShopDomain,
    ) -> Result<Option<shared::knowledge::state::SyncState>, shared::store::StoreError> {
        self.inner.state(org, shop).await
    }
    async fn put_state(
        &self,
        state: &shared::knowledge::state::SyncState,
        expect: Option<u64>,
    ) -> Result<(), shared::store::StoreError> {
        let hook = self.before_put_state.lock().unwrap().take();
        if let Some(hook) = hook {
            hook().await;
        }
        self.inner.put_state(state, expect).await
    }
    async fn delete_state(
        &self,
        org: &shared::domain::OrganizationId,
        shop: &shared::domain::ShopDomain,
        version: u64,
    ) -> Result<(), shared::store::StoreError> {
        self.inner.delete_state(org, shop, version).await
    }
    async fn states(
        &self,
        org: &shared::domain::OrganizationId,
    ) -> Result<Vec<shared::knowledge::state::SyncState>, shared::store::StoreError> {
        self.inner.states(org).await
    }
    async fn scan_states(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<shared::knowledge::state::SyncState>, Option<String>), shared::store::StoreError>
    {
        self.inner.scan_states(cursor, limit).await
    }
    async fn entries(
        &self,
        org: &shared::domain::OrganizationId,
        shop: &shared::domain::ShopDomain,
        source: shared::domain::Source,
        after: Option<u64>,
        through: Option<u64>,
        limit: usize,
    ) -> Result<Vec<shared::knowledge::state::IndexEntry>, shared::store::StoreError> {
        self.inner
            .entries(org, shop, source, after, through, limit)
            .await
    }
    async fn entries_by_id(
        &self,
        org: &shared::domain::OrganizationId,
        shop: &shared::domain::ShopDomain,
        source: shared::domain::Source,
        ids: &[u64],
    ) -> Result<Vec<shared::knowledge::state::IndexEntry>, shared::store::StoreError> {
        self.inner.entries_by_id(org, shop, source, ids).await
    }
    async fn put_entry(
        &self,
        entry: &shared::knowledge::state::IndexEntry,
    ) -> Result<(), shared::store::StoreError> {
        let fail = {
            let mut target = self.fail_entry.lock().unwrap();
            let hit = *target == Some(entry.id) && !entry.fingerprint.is_empty();
            if hit {
                *target = None;
            }
            hit
        };
        if fail {
            return Err(shared::store::StoreError::Unavailable(
                "injected: the index write failed".into(),
            ));
        }
        self.inner.put_entry(entry).await
    }
    async fn delete_entry(
        &self,
        org: &shared::domain::OrganizationId,
        shop: &shared::domain::ShopDomain,
        source: shared::domain::Source,
        id: u64,
    ) -> Result<(), shared::store::StoreError> {
        self.inner.delete_entry(org, shop, source, id).await
    }
    async fn count_entries(
        &self,
        org: &shared::domain::OrganizationId,
        shop: &shared::domain::ShopDomain,
        source: shared::domain::Source,
    ) -> Result<u64, shared::store::StoreError> {
        tokio::time::sleep(self.count_delay).await;
        self.inner.count_entries(org, shop, source).await
    }
}

/// A [`DocumentStore`] holding its first deletion at a gate.
pub struct GatedDocuments {
    pub inner: Arc<dyn DocumentStore>,
    pub gate: crate::faults::Gate,
}

#[async_trait]
impl DocumentStore for GatedDocuments {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), BlobError> {
        self.inner.put(key, body, content_type).await
    }
    async fn delete(&self, keys: &[String]) -> Result<(), BlobError> {
        self.gate.pass().await;
        self.inner.delete(keys).await
    }
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<(Vec<String>, bool), BlobError> {
        self.inner.list(prefix, start_after).await
    }
}

/// A [`KnowledgeRepository`] whose calls of one kind are numbered from 1, and the calls whose
/// numbers were chosen fail as if DynamoDB were down (nothing written), each once: a storage
/// fault at a chosen point of a run, whatever the machine's speed.
pub struct FaultyRepo {
    pub inner: Arc<dyn KnowledgeRepository>,
    /// Which calls are counted: `None` for every call, or one method's name
    /// (`"count_entries"`, `"put_entry"`, `"put_state"`, `"state"`, `"entries"`...).
    only: Option<&'static str>,
    calls: AtomicUsize,
    fail: std::sync::Mutex<std::collections::BTreeSet<usize>>,
    /// Faults injected so far.
    pub fired: AtomicUsize,
}

impl FaultyRepo {
    /// Fails the `at`-th calls (1-based) of `only` (or of every call).
    pub fn new(
        inner: Arc<dyn KnowledgeRepository>,
        only: Option<&'static str>,
        at: &[usize],
    ) -> Self {
        Self {
            inner,
            only,
            calls: AtomicUsize::new(0),
            fail: std::sync::Mutex::new(at.iter().copied().collect()),
            fired: AtomicUsize::new(0),
        }
    }

    /// Calls counted so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn check(&self, method: &'static str) -> Result<(), shared::store::StoreError> {
        if self.only.is_some_and(|only| only != method) {
            return Ok(());
        }
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail.lock().unwrap().remove(&n) {
            self.fired.fetch_add(1, Ordering::SeqCst);
            return Err(shared::store::StoreError::Unavailable(
                format!("injected: {method} call {n} failed").into(),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl KnowledgeRepository for FaultyRepo {
    async fn state(
        &self,
        org: &shared::domain::OrganizationId,
        shop: &shared::domain::ShopDomain,
    ) -> Result<Option<shared::knowledge::state::SyncState>, shared::store::StoreError> {
        self.check("state")?;
        self.inner.state(org, shop).await
    }
    async fn put_state(
        &self,
        state: &shared::knowledge::state::SyncState,
        expect: Option<u64>,
    ) -> Result<(), shared::store::StoreError> {
        self.check("put_state")?;
        self.inner.put_state(state, expect).await
    }
    async fn delete_state(
        &self,
        org: &shared::domain::OrganizationId,
        shop: &shared::domain::ShopDomain,
        version: u64,
    ) -> Result<(), shared::store::StoreError> {
        self.check("delete_state")?;
        self.inner.delete_state(org, shop, version).await
    }
    async fn states(
        &self,
        org: &shared::domain::OrganizationId,
    ) -> Result<Vec<shared::knowledge::state::SyncState>, shared::store::StoreError> {
        self.check("states")?;
        self.inner.states(org).await
    }
    async fn scan_states(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<shared::knowledge::state::SyncState>, Option<String>), shared::store::StoreError>
    {
        self.check("scan_states")?;
        self.inner.scan_states(cursor, limit).await
    }
    async fn entries(
        &self,
        org: &shared::domain::OrganizationId,
        shop: &shared::domain::ShopDomain,
        source: shared::domain::Source,
        after: Option<u64>,
        through: Option<u64>,
        limit: usize,
    ) -> Result<Vec<shared::knowledge::state::IndexEntry>, shared::store::StoreError> {
        self.check("entries")?;
        self.inner
            .entries(org, shop, source, after, through, limit)
            .await
    }
    async fn entries_by_id(
        &self,
        org: &shared::domain::OrganizationId,
        shop: &shared::domain::ShopDomain,
        source: shared::domain::Source,
        ids: &[u64],
    ) -> Result<Vec<shared::knowledge::state::IndexEntry>, shared::store::StoreError> {
        self.check("entries_by_id")?;
        self.inner.entries_by_id(org, shop, source, ids).await
    }
    async fn put_entry(
        &self,
        entry: &shared::knowledge::state::IndexEntry,
    ) -> Result<(), shared::store::StoreError> {
        self.check("put_entry")?;
        self.inner.put_entry(entry).await
    }
    async fn delete_entry(
        &self,
        org: &shared::domain::OrganizationId,
        shop: &shared::domain::ShopDomain,
        source: shared::domain::Source,
        id: u64,
    ) -> Result<(), shared::store::StoreError> {
        self.check("delete_entry")?;
        self.inner.delete_entry(org, shop, source, id).await
    }
    async fn count_entries(
        &self,
        org: &shared::domain::OrganizationId,
        shop: &shared::domain::ShopDomain,
        source: shared::domain::Source,
    ) -> Result<u64, shared::store::StoreError> {
        self.check("count_entries")?;
        self.inner.count_entries(org, shop, source).await
    }
}

/// What a [`FaultyDocuments`] does to a `put`.
enum PutFault {
    /// The puts of these numbers (from 1) fail, nothing written, each once.
    Fail(std::sync::Mutex<std::collections::BTreeSet<usize>>),
    /// Every put after the first `n` never answers: an invocation stopped at a chosen point
    /// of its work, to be killed there.
    ParkAfter(usize),
    /// Every put of a key containing this never answers: an invocation that dies (killed for
    /// time or memory) every time it reaches one source.
    ParkKeys(String),
}

/// A [`DocumentStore`] whose `put`s fail or never answer at chosen points.
pub struct FaultyDocuments {
    pub inner: Arc<dyn DocumentStore>,
    fault: PutFault,
    puts: AtomicUsize,
    parked: AtomicUsize,
}

impl FaultyDocuments {
    fn with(inner: Arc<dyn DocumentStore>, fault: PutFault) -> Self {
        Self {
            inner,
            fault,
            puts: AtomicUsize::new(0),
            parked: AtomicUsize::new(0),
        }
    }

    /// The puts numbered `at` fail.
    pub fn new(inner: Arc<dyn DocumentStore>, at: &[usize]) -> Self {
        Self::with(
            inner,
            PutFault::Fail(std::sync::Mutex::new(at.iter().copied().collect())),
        )
    }

    /// Puts after the first `after` never answer.
    pub fn parking_after(inner: Arc<dyn DocumentStore>, after: usize) -> Self {
        Self::with(inner, PutFault::ParkAfter(after))
    }

    /// Puts of keys containing `part` never answer.
    pub fn parking_keys(inner: Arc<dyn DocumentStore>, part: &str) -> Self {
        Self::with(inner, PutFault::ParkKeys(part.to_owned()))
    }

    /// Puts held so far.
    pub fn parked(&self) -> usize {
        self.parked.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl DocumentStore for FaultyDocuments {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), BlobError> {
        let n = self.puts.fetch_add(1, Ordering::SeqCst) + 1;
        let park = match &self.fault {
            PutFault::Fail(at) => {
                if at.lock().unwrap().remove(&n) {
                    return Err(BlobError(format!("injected: put {n} failed").into()));
                }
                false
            }
            PutFault::ParkAfter(after) => n > *after,
            PutFault::ParkKeys(part) => key.contains(part.as_str()),
        };
        if park {
            self.parked.fetch_add(1, Ordering::SeqCst);
            return std::future::pending().await;
        }
        self.inner.put(key, body, content_type).await
    }
    async fn delete(&self, keys: &[String]) -> Result<(), BlobError> {
        self.inner.delete(keys).await
    }
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<(Vec<String>, bool), BlobError> {
        self.inner.list(prefix, start_after).await
    }
}

/// An event bus that refuses its first `n` knowledge announcements, then passes them on.
pub struct RefusingFirst {
    pub inner: Arc<dyn EventPublisher>,
    left: AtomicUsize,
}

impl RefusingFirst {
    pub fn new(inner: Arc<dyn EventPublisher>, n: usize) -> Self {
        Self {
            inner,
            left: AtomicUsize::new(n),
        }
    }

    /// Refusals still to come.
    pub fn left(&self) -> usize {
        self.left.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl EventPublisher for RefusingFirst {
    async fn knowledge_synced(
        &self,
        event: &shared::events::SyncedEvent,
    ) -> Result<(), shared::events::EventError> {
        let refused = self
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if refused {
            return Err(shared::events::EventError(
                "injected: the bus refused the event".into(),
            ));
        }
        self.inner.knowledge_synced(event).await
    }

    async fn store_status_changed(
        &self,
        event: &shared::events::StatusChanged,
    ) -> Result<(), shared::events::EventError> {
        self.inner.store_status_changed(event).await
    }

    async fn order_action(
        &self,
        event: &shared::events::OrderActionEvent,
    ) -> Result<(), shared::events::EventError> {
        self.inner.order_action(event).await
    }
}

/// An event bus that runs a hook once, before its next knowledge announcement goes through:
/// another writer changing the store's state while an announcement is being put.
pub struct HookedEvents {
    pub inner: Arc<dyn EventPublisher>,
    hook: std::sync::Mutex<Option<Hook>>,
}

impl HookedEvents {
    pub fn new(inner: Arc<dyn EventPublisher>, hook: Hook) -> Self {
        Self {
            inner,
            hook: std::sync::Mutex::new(Some(hook)),
        }
    }
}

#[async_trait]
impl EventPublisher for HookedEvents {
    async fn knowledge_synced(
        &self,
        event: &shared::events::SyncedEvent,
    ) -> Result<(), shared::events::EventError> {
        let hook = self.hook.lock().unwrap().take();
        if let Some(hook) = hook {
            hook().await;
        }
        self.inner.knowledge_synced(event).await
    }

    async fn store_status_changed(
        &self,
        event: &shared::events::StatusChanged,
    ) -> Result<(), shared::events::EventError> {
        self.inner.store_status_changed(event).await
    }

    async fn order_action(
        &self,
        event: &shared::events::OrderActionEvent,
    ) -> Result<(), shared::events::EventError> {
        self.inner.order_action(event).await
    }
}
