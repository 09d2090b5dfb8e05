//! `cargo bench -p tests --bench knowledge_sync`: a full products sync of a store against the
//! fake Shopify, with the worker in a process of its own (so its memory is its own, not the
//! fake's): documents per second, Shopify points spent per document, the worker's peak memory
//! (VmHWM), and the smallest share of the store's bucket left to live lookups while it ran.
//!
//! The catalog is read by a bulk operation above the threshold (1,000 / 5,000 / 20,000
//! products: the worker's memory stays flat, the JSONL is streamed) and page by page below it
//! (500 products, for the cost per document). Documents go to a store that keeps nothing, so
//! the figures are the worker's own (S3 and DynamoDB latency come on top in AWS). Then the mixed
//! catalog the documents are recorded from (`tests::catalog`), page by page: its points per
//! document against the figure of the product read before variants were read apart from their
//! products (8.2). Prints figures and ratios; asserts nothing.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{json, Value};
use shared::domain::{OrganizationId, ShopDomain, Source};
use shared::events::MemoryEvents;
use shared::knowledge::memory::MemoryKnowledge;
use shared::knowledge::ports::{BlobError, DocumentStore, KnowledgeRepository};
use shared::knowledge::state::{IndexEntry, SyncState};
use shared::knowledge::sync::{SyncConfig, SyncPorts, STEP_RESERVE};
use shared::knowledge::KnowledgePorts;
use shared::queue::MemoryQueue;
use shared::secrets::MemorySecretStore;
use shared::shopify::ShopifyConfig;
use shared::store::{MemoryStoreRepository, StoreError, StoreRepository};
use shared::{Deadline, Services};
use tests::bench;
use tests::events::HttpEvent;
use tests::fake_shopify::{FakeShop, FakeShopify};
use tests::worker::{self, Queue};

const TOKEN: &str = "shpat_bench_000000000000000000000000";
/// Points per document the mixed catalog cost when each page read its products with their
/// price ranges, variant counts and first 20 variants in one query (3 products a page).
const MIXED_POINTS_BEFORE: f64 = 8.2;
const ORG: &str = "bench-org";

/// Documents written nowhere, counted.
#[derive(Default)]
struct NullDocuments {
    puts: AtomicUsize,
    bytes: AtomicU64,
}

#[async_trait]
impl DocumentStore for NullDocuments {
    async fn put(&self, _key: &str, body: Vec<u8>, _content_type: &str) -> Result<(), BlobError> {
        self.puts.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        Ok(())
    }
    async fn delete(&self, _keys: &[String]) -> Result<(), BlobError> {
        Ok(())
    }
    async fn list(&self, _: &str, _: Option<&str>) -> Result<(Vec<String>, bool), BlobError> {
        Ok((Vec::new(), false))
    }
}

/// Sync state in memory; the document index (DynamoDB in AWS) counted, not kept, so the
/// worker's memory is measured without it. Right for a first full sync: the index is empty.
#[derive(Default)]
struct CountedIndex {
    state: MemoryKnowledge,
    entries: AtomicU64,
}

#[async_trait]
impl KnowledgeRepository for CountedIndex {
    async fn state(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
    ) -> Result<Option<SyncState>, StoreError> {
        self.state.state(org, shop).await
    }
    async fn put_state(&self, state: &SyncState, expect: Option<u64>) -> Result<(), StoreError> {
        self.state.put_state(state, expect).await
    }
    async fn delete_state(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        version: u64,
    ) -> Result<(), StoreError> {
        self.state.delete_state(org, shop, version).await
    }
    async fn states(&self, org: &OrganizationId) -> Result<Vec<SyncState>, StoreError> {
        self.state.states(org).await
    }
    async fn scan_states(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<SyncState>, Option<String>), StoreError> {
        self.state.scan_states(cursor, limit).await
    }
    async fn entries(
        &self,
        _: &OrganizationId,
        _: &ShopDomain,
        _: Source,
        _: Option<u64>,
        _: Option<u64>,
        _: usize,
    ) -> Result<Vec<IndexEntry>, StoreError> {
        Ok(Vec::new())
    }
    async fn entries_by_id(
        &self,
        _: &OrganizationId,
        _: &ShopDomain,
        _: Source,
        _: &[u64],
    ) -> Result<Vec<IndexEntry>, StoreError> {
        Ok(Vec::new())
    }
    async fn put_entry(&self, entry: &IndexEntry) -> Result<(), StoreError> {
        // A new document is indexed twice: pending (no fingerprint), then written.
        if !entry.fingerprint.is_empty() {
            self.entries.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
    async fn delete_entry(
        &self,
        _: &OrganizationId,
        _: &ShopDomain,
        _: Source,
        _: u64,
    ) -> Result<(), StoreError> {
        Ok(())
    }
    async fn count_entries(
        &self,
        _: &OrganizationId,
        _: &ShopDomain,
        _: Source,
    ) -> Result<u64, StoreError> {
        Ok(self.entries.load(Ordering::Relaxed))
    }
}

/// `VmHWM` / `VmRSS` of this process, in KiB.
fn memory_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The worker process: connects the store, queues its first sync, drains the queue into
/// `knowledge-sync`, and prints what it did.
async fn worker_main() {
    let base_url = std::env::var("BENCH_SHOPIFY").expect("BENCH_SHOPIFY");
    let shop = std::env::var("BENCH_SHOP").expect("BENCH_SHOP");
    let token = std::env::var("BENCH_TOKEN").expect("BENCH_TOKEN");
    let threshold: u64 = std::env::var("BENCH_THRESHOLD").unwrap().parse().unwrap();
    let stores = Arc::new(MemoryStoreRepository::new());
    let services = Services::with_adapters(
        stores.clone(),
        Arc::new(MemorySecretStore::new()),
        ShopifyConfig {
            base_url: Some(base_url),
            ..ShopifyConfig::default()
        },
    );
    let org = OrganizationId::parse(ORG).unwrap();
    let mut settings = stores.get_settings(&org).await.unwrap();
    settings.knowledge.pages = false;
    settings.knowledge.policies = false;
    settings.knowledge.products = true;
    stores.put_settings(&org, &settings).await.unwrap();
    let event = HttpEvent::new("POST", "/shopify/stores")
        .claims(&[("org_id", ORG), ("role", "admin")])
        .json(&json!({"shop_domain": shop, "access_token": token}));
    let response = save_credentials::handle(&services, event.into_request())
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "the bench store connects");

    let repo = Arc::new(CountedIndex::default());
    let queue = Arc::new(MemoryQueue::default());
    let documents = Arc::new(NullDocuments::default());
    let ports = SyncPorts {
        stores: stores.clone(),
        repo: repo.clone(),
        documents: documents.clone(),
        queue: queue.clone(),
        events: Arc::new(MemoryEvents::default()),
        access: services.access.clone(),
        config: SyncConfig {
            bucket: "bench".into(),
            bulk_threshold: threshold,
            bulk_poll: Duration::from_millis(200),
            step_reserve: STEP_RESERVE,
            throttled_pause: Duration::from_secs(1),
            busy_pause: Duration::from_secs(1),
        },
    };
    let shop = ShopDomain::parse(&shop).unwrap();
    KnowledgePorts {
        repo: repo.clone(),
        queue: queue.clone(),
    }
    .connected(
        stores.as_ref(),
        &Deadline::after(Duration::from_secs(5)),
        &org,
        &shop,
    )
    .await
    .unwrap();
    let before = memory_kib("VmRSS:");
    let started = Instant::now();
    let drained = worker::drain(
        &ports,
        &Queue::Memory(queue),
        worker::INVOCATION,
        usize::MAX,
    )
    .await;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "documents": repo.entries.load(Ordering::Relaxed),
            "bytes": documents.bytes.load(Ordering::Relaxed),
            "seconds": seconds,
            "deliveries": drained.delivered,
            "failed": drained.failed,
            "rss_before_kib": before,
            "peak_kib": memory_kib("VmHWM:"),
        })
    );
}

struct Case {
    label: &'static str,
    catalog: Catalog,
    threshold: u64,
}

/// What the store sells.
enum Catalog {
    /// This many products of two variants each.
    Uniform(usize),
    /// `tests::catalog::mixed_catalog`: one to 25 variants, shared titles, drafts.
    Mixed,
}

impl Catalog {
    fn products(&self) -> usize {
        match self {
            Catalog::Uniform(n) => *n,
            Catalog::Mixed => tests::catalog::mixed_catalog().products.len(),
        }
    }
}

/// Runs one case: the fake Shopify here, the worker in a child process; samples the bucket
/// while the worker runs.
async fn run(case: &Case) -> Value {
    let fake = FakeShopify::start().await;
    let (capacity, restore) = (2000.0, 100.0);
    let (shop, token) = match case.catalog {
        Catalog::Uniform(products) => (
            FakeShop::new("bench")
                .with_token(TOKEN)
                .with_catalog(products),
            TOKEN,
        ),
        Catalog::Mixed => (tests::catalog::mixed_catalog(), tests::catalog::TOKEN),
    };
    let domain = shop.domain.clone();
    let domain = domain.as_str();
    let mut shop = shop
        .with_bucket(capacity, restore)
        .with_execution(Duration::from_millis(20));
    shop.bulk_duration = Duration::from_millis(500);
    fake.add_shop(shop);
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .env("BENCH_ROLE", "worker")
        .env("BENCH_SHOPIFY", &fake.base_url)
        .env("BENCH_SHOP", domain)
        .env("BENCH_TOKEN", token)
        .env("BENCH_THRESHOLD", case.threshold.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the worker process");
    let mut lowest: f64 = 1.0;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.unwrap(),
            _ = tokio::time::sleep(Duration::from_millis(10)) => {
                if let Some(available) = fake.available(domain) {
                    lowest = lowest.min(available / capacity);
                }
            }
        }
    };
    assert!(status.success(), "the worker process failed");
    let mut out = String::new();
    use tokio::io::AsyncReadExt;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    let mut report: Value = serde_json::from_str(out.lines().last().unwrap_or("null")).unwrap();
    let spent: f64 = fake
        .spent()
        .iter()
        .filter(|(shop, operation, _, _)| shop == domain && operation != "ValidateCredentials")
        .map(|(_, _, _, actual)| actual)
        .sum();
    report["points"] = json!(spent);
    report["lowest_share"] = json!(lowest);
    report["bulk"] = json!(fake.bulk_started() > 0);
    report
}

fn main() {
    if std::env::var("BENCH_ROLE").as_deref() == Ok("worker") {
        bench::production_tracing(std::io::stderr);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(worker_main());
        return;
    }
    let runtime = bench::runtime();
    let cases = [
        Case {
            label: "bulk operation, 1,000 products",
            catalog: Catalog::Uniform(1_000),
            threshold: 500,
        },
        Case {
            label: "bulk operation, 5,000 products",
            catalog: Catalog::Uniform(5_000),
            threshold: 2_000,
        },
        Case {
            label: "bulk operation, 20,000 products",
            catalog: Catalog::Uniform(20_000),
            threshold: 2_000,
        },
        Case {
            label: "page by page, 500 products",
            catalog: Catalog::Uniform(500),
            threshold: 2_000,
        },
        Case {
            label: "page by page, mixed catalog",
            catalog: Catalog::Mixed,
            threshold: 2_000,
        },
    ];
    println!("full products sync; the store's bucket: 2,000 points, 100/s (Advanced plan)");
    println!(
        "{:<34} {:>9} {:>8} {:>9} {:>10} {:>10} {:>12}",
        "case", "documents", "docs/s", "points", "points/doc", "peak MiB", "bucket left"
    );
    let mut peaks = Vec::new();
    let mut mixed = None;
    for case in &cases {
        let report = runtime.block_on(run(case));
        let documents = report["documents"].as_f64().unwrap_or(0.0);
        let seconds = report["seconds"].as_f64().unwrap_or(f64::NAN);
        let points = report["points"].as_f64().unwrap_or(0.0);
        let peak = report["peak_kib"].as_f64().unwrap_or(0.0) / 1024.0;
        peaks.push((case.catalog.products(), peak));
        if matches!(case.catalog, Catalog::Mixed) {
            mixed = Some((case.catalog.products(), documents, points));
        }
        println!(
            "{:<34} {:>9} {:>8.0} {:>9.0} {:>10.2} {:>10.1} {:>11.0}%",
            case.label,
            documents,
            documents / seconds,
            points,
            points / documents.max(1.0),
            peak,
            report["lowest_share"].as_f64().unwrap_or(0.0) * 100.0,
        );
        assert_eq!(report["failed"], 0, "{report}");
    }
    if let (Some(small), Some(large)) = (peaks.first(), peaks.get(2)) {
        println!(
            "worker peak memory, {} vs {} products (bulk): {:.2}x for {:.0}x the catalog",
            large.0,
            small.0,
            large.1 / small.1.max(0.001),
            large.0 as f64 / small.0 as f64
        );
    }
    if let Some((products, documents, points)) = mixed {
        let after = points / documents.max(1.0);
        println!(
            "points per document, mixed catalog ({products} products, {documents} documents), \
             page by page: before {MIXED_POINTS_BEFORE} (products with prices and 20 variants \
             each), after {after:.2} (measured): {:.1}x fewer",
            MIXED_POINTS_BEFORE / after
        );
    }
}
