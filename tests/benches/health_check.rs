//! `cargo bench -p tests --bench health_check`: the health check over a simulated fleet —
//! 100,000 stores by default (`HEALTH_SIM_STORES`), two hourly cycles on a fake clock.
//!
//! The table is mixed as a real one is: beside each store its knowledge sync state, one
//! settings item per organization (three stores each), and `WEBHOOKS_PER_STORE` remembered
//! webhook deliveries per store. The scan pages the store index, which holds live stores only
//! (the DynamoDB adapter's sparse index; `a_scan_page_holds_stores_only` proves it on moto),
//! so a page of 100 is 100 stores whatever else the table holds.
//!
//! The real scheduling code runs: the schedule's `start`, every `tick` and every check job
//! (`shared::health::check`), with jobs passing through a queue as JSON, over the in-memory
//! stores table. Time is simulated: a queue message is delivered when its delay is up, the
//! check jobs run on at most `LAMBDA_CONCURRENCY` workers at once (the event source mapping's
//! maximum concurrency in the template), and one store's check takes `CHECK_LATENCY` (a token
//! exchange, the validation query and the protected-data probe against Shopify). The fake
//! Shopify behind the checker answers every store healthy and charges the queries' requested
//! 34 points to that store.
//!
//! Prints, per cycle: when the last store was checked (must be within the interval), every
//! store checked exactly once, invocations (ticks, check jobs), the longest job in simulated
//! time and the most stores one job held, Shopify points in total and per store, and the
//! largest share of one store's bucket a cycle took. Asserts that every store was checked once
//! per cycle within the interval.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use shared::domain::{AuthType, OrganizationId, ShopDomain, StoreStatus};
use shared::health::check::{self, Checker, HealthConfig, HealthJob, HealthPorts, Outcome};
use shared::health::repo::{HealthRepository, MemoryHealth};
use shared::knowledge::memory::MemoryKnowledge;
use shared::knowledge::ports::KnowledgeRepository;
use shared::knowledge::state::SyncState;
use shared::queue::{Queue, QueueError};
use shared::store::{Expect, MemoryStoreRepository, StoreRecord, StoreRepository};
use shared::Deadline;

const INTERVAL: Duration = Duration::from_secs(3600);
const LAMBDA_CONCURRENCY: usize = 5;
const CHECK_LATENCY: Duration = Duration::from_millis(400);
/// A tick (one scan page, two messages) or a job's fixed overhead, simulated.
const INVOCATION_OVERHEAD: Duration = Duration::from_millis(60);
/// The points a check requests: the validation query (5) and the protected-data probe (29),
/// as `infra/graphql/check.py` estimates them; Shopify charges the probe's actual cost, less.
const CHECK_POINTS: u64 = 34;
/// The smallest GraphQL Admin API bucket Shopify gives a store (standard plans: 1,000 points,
/// restoring 50 per second; larger plans have more).
const SMALLEST_BUCKET: f64 = 1000.0;
/// Webhook deliveries remembered per store (a week of `shop/update` and the like).
const WEBHOOKS_PER_STORE: usize = 4;

struct Clock(Mutex<DateTime<Utc>>);

impl Clock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
    fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap() = at;
    }
}

/// A queued job: when it becomes visible, the order it was sent in, its body.
type Message = (DateTime<Utc>, u64, String);

/// Messages ordered by when they become visible.
struct SimQueue {
    clock: Arc<Clock>,
    seq: AtomicU64,
    heap: Mutex<BinaryHeap<Reverse<Message>>>,
}

#[async_trait]
impl Queue<HealthJob> for SimQueue {
    async fn send(&self, job: &HealthJob, delay: Duration) -> Result<(), QueueError> {
        let due = self.clock.now()
            + chrono::Duration::from_std(delay.min(Duration::from_secs(900))).unwrap();
        let body = serde_json::to_string(job).unwrap();
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        self.heap.lock().unwrap().push(Reverse((due, seq, body)));
        Ok(())
    }
}

/// Shopify answering every store healthy; each check charged to the store and recorded.
struct SimChecker {
    stores: Arc<MemoryStoreRepository>,
    clock: Arc<Clock>,
    checks: AtomicU64,
    points: AtomicU64,
    per_store: Mutex<std::collections::HashMap<String, u32>>,
}

#[async_trait]
impl Checker for SimChecker {
    async fn check(&self, record: StoreRecord, _deadline: Deadline) -> Outcome {
        self.checks.fetch_add(1, Ordering::Relaxed);
        self.points.fetch_add(CHECK_POINTS, Ordering::Relaxed);
        *self
            .per_store
            .lock()
            .unwrap()
            .entry(record.shop_domain.to_string())
            .or_default() += 1;
        let mut updated = record.clone();
        updated.last_verified_at = self.clock.now();
        updated.version += 1;
        self.stores
            .put_live(&updated, Expect::Version(record.version))
            .await
            .expect("the simulated write lands");
        Outcome::Unchanged
    }

    async fn flush(&self, _record: &StoreRecord, _deadline: &Deadline) {}
}

fn record(i: usize, verified: DateTime<Utc>) -> StoreRecord {
    StoreRecord {
        org_id: OrganizationId::parse(&format!("org-{:05}", i / 3)).unwrap(),
        shop_domain: ShopDomain::parse(&format!("shop-{i:06}")).unwrap(),
        shop_name: format!("Shop {i}"),
        auth_type: AuthType::ClientCredentials,
        status: StoreStatus::Connected,
        granted_scopes: vec![
            "read_customers".into(),
            "read_orders".into(),
            "read_products".into(),
        ],
        order_number_prefix: "#".into(),
        order_number_suffix: String::new(),
        currency: "USD".into(),
        plan: None,
        warnings: Vec::new(),
        connected_at: verified,
        updated_at: verified,
        credentials_updated_at: verified,
        last_verified_at: verified,
        credentials_version: "v1".into(),
        connection_id: format!("c{i}"),
        version: 1,
        write_id: "w".into(),
        previous_credentials_version: None,
        outbox: Vec::new(),
    }
}

#[derive(Default, Debug)]
struct CycleFigures {
    ticks: u64,
    jobs: u64,
    last_check_after: Duration,
    longest_job: Duration,
    most_stores_in_a_job: usize,
    checks: u64,
    points: u64,
    max_checks_of_one_store: u32,
    stores_checked: usize,
}

#[tokio::main]
async fn main() {
    let stores_n: usize = std::env::var("HEALTH_SIM_STORES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let t0: DateTime<Utc> = "2026-11-26T00:00:00Z".parse().unwrap();
    let clock = Arc::new(Clock(Mutex::new(t0)));
    let stores = Arc::new(MemoryStoreRepository::new());
    let knowledge = MemoryKnowledge::default();
    let health = Arc::new(MemoryHealth::default());
    let started = Instant::now();
    let mut other_items = 0usize;
    for i in 0..stores_n {
        let record = record(i, t0 - chrono::Duration::hours(2));
        stores.put_live(&record, Expect::Absent).await.unwrap();
        let mut state = SyncState::new(&record.org_id, &record.shop_domain);
        state.version = 1;
        knowledge.put_state(&state, None).await.unwrap();
        other_items += 1;
        if i % 3 == 0 {
            stores
                .put_settings(&record.org_id, &Default::default())
                .await
                .unwrap();
            other_items += 1;
        }
        for w in 0..WEBHOOKS_PER_STORE {
            health
                .claim_webhook(&record.org_id, &record.shop_domain, &format!("w{w}"), t0)
                .await
                .unwrap();
            other_items += 1;
        }
    }
    let queue = Arc::new(SimQueue {
        clock: clock.clone(),
        seq: AtomicU64::new(0),
        heap: Mutex::new(BinaryHeap::new()),
    });
    let checker = Arc::new(SimChecker {
        stores: stores.clone(),
        clock: clock.clone(),
        checks: AtomicU64::new(0),
        points: AtomicU64::new(0),
        per_store: Mutex::default(),
    });
    let config = HealthConfig::for_interval(INTERVAL);
    let ports = HealthPorts {
        stores: stores.clone(),
        // The simulated stores keep no secrets: the sweep of secrets lists an empty page.
        storage: shared::lifecycle::Storage {
            stores: stores.clone(),
            secrets: Arc::new(shared::secrets::MemorySecretStore::new()),
            secret_prefix: "bench".into(),
        },
        repo: health.clone(),
        queue: queue.clone(),
        checker: checker.clone(),
        config,
    };
    println!(
        "table: {stores_n} stores and {other_items} other items (a sync state per store, settings per organization, {WEBHOOKS_PER_STORE} webhook deliveries per store)"
    );
    println!(
        "health check simulation: {stores_n} stores, interval {} min, pages of {}, {} checks at once per job, at most {LAMBDA_CONCURRENCY} jobs at once, {} ms per check",
        INTERVAL.as_secs() / 60,
        config.page_size,
        config.concurrency,
        CHECK_LATENCY.as_millis()
    );
    let deadline = || Deadline::after(Duration::from_secs(600));
    for cycle in 0..2u32 {
        let start = t0 + chrono::Duration::from_std(INTERVAL * cycle).unwrap();
        let end = start + chrono::Duration::from_std(INTERVAL).unwrap();
        let mut figures = CycleFigures::default();
        let checks_before = checker.checks.load(Ordering::Relaxed);
        let points_before = checker.points.load(Ordering::Relaxed);
        checker.per_store.lock().unwrap().clear();
        clock.set(start);
        check::start(&ports, start, &deadline())
            .await
            .expect("the cycle starts");
        figures.ticks += 1;
        // When each of the concurrent workers is free again.
        let mut workers = [start; LAMBDA_CONCURRENCY];
        loop {
            let next = queue
                .heap
                .lock()
                .unwrap()
                .peek()
                .map(|Reverse((due, _, _))| *due);
            if next.is_none_or(|due| due >= end) {
                break;
            }
            let Reverse((due, _, body)) = queue.heap.lock().unwrap().pop().unwrap();
            let job: HealthJob = serde_json::from_str(&body).unwrap();
            match job {
                HealthJob::Tick { cycle_id, page } => {
                    clock.set(due);
                    check::tick(&ports, &cycle_id, page, 1, due, &deadline())
                        .await
                        .unwrap();
                    figures.ticks += 1;
                }
                HealthJob::Index { cursor } => {
                    clock.set(due);
                    check::index_unlisted(&ports, cursor, &deadline())
                        .await
                        .unwrap();
                    figures.ticks += 1;
                }
                HealthJob::Reclaim { cursor, skip } => {
                    clock.set(due);
                    shared::health::reclaim::sweep(&ports, cursor, skip, due, &deadline())
                        .await
                        .unwrap();
                    figures.ticks += 1;
                }
                HealthJob::Check {
                    stores: keys,
                    force,
                } => {
                    workers.sort();
                    let begin = due.max(workers[0]);
                    clock.set(begin);
                    let held = keys.len();
                    let report = check::check(&ports, keys, force, begin, &deadline())
                        .await
                        .unwrap();
                    let rounds = report.checked.div_ceil(config.concurrency) as u32;
                    let took = INVOCATION_OVERHEAD + CHECK_LATENCY * rounds;
                    let finish = begin + chrono::Duration::from_std(took).unwrap();
                    workers[0] = finish;
                    figures.jobs += 1;
                    figures.longest_job = figures.longest_job.max(took);
                    figures.most_stores_in_a_job = figures.most_stores_in_a_job.max(held);
                    if report.checked > 0 {
                        figures.last_check_after = figures
                            .last_check_after
                            .max((finish - start).to_std().unwrap());
                    }
                }
            }
        }
        figures.checks = checker.checks.load(Ordering::Relaxed) - checks_before;
        figures.points = checker.points.load(Ordering::Relaxed) - points_before;
        {
            let per_store = checker.per_store.lock().unwrap();
            figures.stores_checked = per_store.len();
            figures.max_checks_of_one_store = per_store.values().copied().max().unwrap_or(0);
        }
        let cycle_row = ports.repo.cycle().await.unwrap().unwrap();
        println!();
        println!(
            "cycle {}{}:",
            cycle + 1,
            if cycle == 0 {
                " (no previous cycle: pages follow at once, the workers' concurrency paces the checks)"
            } else {
                " (spread by the previous cycle's page count)"
            }
        );
        println!(
            "  stores checked            {} of {stores_n} (each at most {} time(s))",
            figures.stores_checked, figures.max_checks_of_one_store
        );
        println!(
            "  last check done after     {:.1} min of {} (ratio {:.2})",
            figures.last_check_after.as_secs_f64() / 60.0,
            INTERVAL.as_secs() / 60,
            figures.last_check_after.as_secs_f64() / INTERVAL.as_secs_f64()
        );
        println!(
            "  invocations               {} ticks + {} check jobs = {} ({:.2} per 100 stores)",
            figures.ticks,
            figures.jobs,
            figures.ticks + figures.jobs,
            (figures.ticks + figures.jobs) as f64 * 100.0 / stores_n as f64
        );
        println!(
            "  longest job               {:.1} s simulated, {} stores at most per job",
            figures.longest_job.as_secs_f64(),
            figures.most_stores_in_a_job
        );
        println!("  Shopify points            {} in total, {} per store per cycle = {:.2}% of a {SMALLEST_BUCKET:.0}-point bucket", figures.points, figures.points / figures.stores_checked.max(1) as u64, (figures.points as f64 / figures.stores_checked.max(1) as f64) / SMALLEST_BUCKET * 100.0);
        println!(
            "  cycle row                 pages {}, stores {}, expected pages {}",
            cycle_row.pages, cycle_row.stores, cycle_row.expected_pages
        );
        assert_eq!(
            figures.stores_checked,
            stores_n,
            "every store checked in cycle {}",
            cycle + 1
        );
        assert_eq!(
            figures.max_checks_of_one_store, 1,
            "no store checked twice in a cycle"
        );
        assert!(figures.last_check_after <= INTERVAL, "within the interval");
        assert_eq!(
            cycle_row.pages as usize,
            stores_n.div_ceil(config.page_size),
            "every page held a full page of stores"
        );
    }
    println!();
    println!(
        "simulated in {:.1} s of real time",
        started.elapsed().as_secs_f64()
    );
}
