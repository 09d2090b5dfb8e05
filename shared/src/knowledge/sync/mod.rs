//! The `knowledge-sync` worker: one queue message is one bounded piece of a store's run.
//!
//! A run is asked for with [`super::request_run`], which marks the store queued and queues a
//! `Run` job. The worker takes the store's lease (one run per store at a time; a duplicate
//! delivery, or a delivery for a run that is not the current one, is acknowledged and
//! dropped), then works source by source, one Shopify page at a time, saving its progress
//! after each page. Before its deadline it saves, releases the lease and queues the run's
//! continuation; a worker that dies is replaced by the message's redelivery, which resumes
//! from the last saved page. Writing a document and its index entry is idempotent, so a page
//! processed twice writes nothing new.
//!
//! - **Full** (first run, a source turned on, `"full": true`): every item in id order, merged
//!   with the document index in id order, so what is in the index but no longer at Shopify is
//!   removed as the merge passes it. Memory holds one page of each side.
//! - **Incremental** (the schedule, a manual sync): what changed since the last successful
//!   sync of the source, less an overlap; then, to catch deletions, the ids alone merged with
//!   the index (skipped for products and pages when Shopify's count equals the index's).
//! - **Bulk**: a full products run of a catalog above `KNOWLEDGE_BULK_THRESHOLD` starts a bulk
//!   operation, polls it with delayed messages (no invocation held open) and streams the JSONL
//!   result (never held whole), resuming at a byte offset after a pause.
//! - **Pacing**: before each query the worker waits until the bucket Shopify last reported
//!   would keep half of its capacity after the query, so live lookups always find room.
//!
//! One concern a file:
//!
//! - `run`: a run message by message (take over, work, pause, finish, fail);
//! - `lease`: the store's lease and the holder's conditional saves;
//! - `outbox`: the announcements a run or removal leaves, and putting them;
//! - `sources` with `changes`: reading a source page by page and merging it with the index;
//! - `variants`: a page of products' variants, read after the page;
//! - `bulk`: the bulk operation and its JSONL result;
//! - `pacing`: waiting for room in the store's bucket;
//! - `removal`: a disconnected store's or turned-off sources' documents removed;
//! - `schedule`: the tick and the sweep of disconnected stores;
//! - this module: what the worker needs, and which job goes where ([`handle`]).

mod bulk;
mod changes;
mod lease;
mod outbox;
mod pacing;
mod removal;
mod run;
mod schedule;
mod sources;
mod variants;

use std::sync::Arc;
use std::time::Duration;

pub use self::schedule::tick;
use super::ports::{DocumentStore, Job, KnowledgeRepository};
use super::KnowledgeError;
use crate::access::Access;
use crate::deadline::Deadline;
use crate::events::EventPublisher;
use crate::queue::Queue;
use crate::shopify::ShopifyClient;
use crate::store::StoreRepository;

/// An incremental run reads changes since the last successful sync less this, so a change
/// saved while that sync ran is not missed.
pub const OVERLAP: Duration = Duration::from_secs(10 * 60);

/// A worker's lease lasts until its invocation's deadline plus this: Lambda has stopped the
/// holder by then, so a redelivery of a killed invocation's message (after the visibility
/// timeout, longer than the function's) finds the lease free and resumes the run.
pub const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// By default a step is not started with less time left than this (the longest a page takes,
/// with room to save).
pub const STEP_RESERVE: Duration = Duration::from_secs(10);

/// A run Shopify throttles (the bucket is busy with live lookups) steps aside for this long
/// and continues in a new message...
pub const THROTTLED_PAUSE: Duration = Duration::from_secs(30);

/// ...up to this many times; then it fails as `shopify_rate_limited`.
pub const MAX_THROTTLED_PAUSES: u32 = 20;

/// A removal that finds a run holding the store comes back after this long, in a message of
/// its own (the one it came in is acknowledged, so a long run never sends it to the
/// dead-letter queue).
pub const BUSY_PAUSE: Duration = Duration::from_secs(60);

/// How long the writes after a run's work (its progress, outcome, lease) may take; within the
/// margin `knowledge-sync` keeps before Lambda's deadline.
pub const GRACE: Duration = Duration::from_millis(1500);

/// What the worker needs.
#[derive(Clone)]
pub struct SyncPorts {
    pub stores: Arc<dyn StoreRepository>,
    pub repo: Arc<dyn KnowledgeRepository>,
    pub documents: Arc<dyn DocumentStore>,
    pub queue: Arc<dyn Queue<Job>>,
    pub events: Arc<dyn EventPublisher>,
    pub access: Arc<Access>,
    pub config: SyncConfig,
}

/// `KNOWLEDGE_BUCKET` and `KNOWLEDGE_BULK_THRESHOLD`, and the bulk poll spacing.
#[derive(Clone, Debug)]
pub struct SyncConfig {
    pub bucket: String,
    pub bulk_threshold: u64,
    /// The first wait before polling a bulk operation; doubles up to a minute.
    pub bulk_poll: Duration,
    /// No step starts with less time left ([`STEP_RESERVE`]).
    pub step_reserve: Duration,
    /// How long a throttled run steps aside ([`THROTTLED_PAUSE`]).
    pub throttled_pause: Duration,
    /// How long a removal that finds a run holding the store waits ([`BUSY_PAUSE`]).
    pub busy_pause: Duration,
}

impl SyncPorts {
    fn shopify(&self) -> &ShopifyClient {
        self.access.shopify()
    }
}

/// Handles one job within `deadline`. `Ok` acknowledges the message; `Err` leaves it for
/// redelivery (and, after [`MAX_RECEIVES`](crate::queue::MAX_RECEIVES), the dead-letter queue). `receives` is SQS's
/// `ApproximateReceiveCount` of the message.
pub async fn handle(
    ports: &SyncPorts,
    job: Job,
    deadline: Deadline,
    receives: u32,
) -> Result<(), KnowledgeError> {
    match job {
        Job::Run {
            org_id,
            shop_domain,
            ticket,
        } => run::run(ports, &org_id, &shop_domain, &ticket, deadline, receives).await,
        Job::Remove {
            org_id,
            shop_domain,
            sources,
            after,
            removed,
        } => {
            removal::remove(
                ports,
                &org_id,
                &shop_domain,
                sources,
                (after, removed),
                deadline,
            )
            .await
        }
        Job::Tick {
            cursor,
            orphans: false,
        } => schedule::tick(ports, cursor, deadline).await,
        Job::Tick {
            cursor,
            orphans: true,
        } => schedule::sweep_orphans(ports, cursor, deadline).await,
    }
}
