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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::document::{
    article_document, page_document, policy_document, product_document, sidecar_key, store_prefix,
    Document,
};
use super::ports::{
    DocumentStore, EventPublisher, Job, JobQueue, KnowledgeRepository, SyncedEvent,
};
use super::state::{
    BulkProgress, ErrorView, IndexEntry, LastRun, Outcome, Phase, Progress, Run, RunKind, Step,
    SyncState,
};
use super::{request_run, KnowledgeError, OVERLAP};
use crate::access::{Access, AccessError};
use crate::deadline::Deadline;
use crate::domain::{OrgSettings, OrganizationId, ShopDomain, Source};
use crate::failure::Code;
use crate::lifecycle::new_id;
use crate::shopify::content::{
    numeric_id, requested_cost, BulkOperation, BulkStart, ContentQuery, Order, ShopProduct,
    ShopVariant,
};
use crate::shopify::ShopifyClient;
use crate::store::{StoreRecord, StoreRepository};

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

/// How long the writes after a run's work (its progress, outcome, lease) may take; within the
/// margin `knowledge-sync` keeps before Lambda's deadline.
pub const GRACE: Duration = Duration::from_millis(1500);

/// Receives of one message before SQS moves it to the dead-letter queue.
pub const MAX_RECEIVES: u32 = 5;

/// Products a bulk result batch holds before it is merged with the index and checkpointed.
const BULK_BATCH: usize = 50;

/// The longest JSONL line accepted from a bulk result.
const MAX_LINE: usize = 4 * 1024 * 1024;

/// What the worker needs.
#[derive(Clone)]
pub struct SyncPorts {
    pub stores: Arc<dyn StoreRepository>,
    pub repo: Arc<dyn KnowledgeRepository>,
    pub documents: Arc<dyn DocumentStore>,
    pub queue: Arc<dyn JobQueue>,
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
}

impl SyncPorts {
    fn shopify(&self) -> &ShopifyClient {
        self.access.shopify()
    }

    /// The real adapters, from the environment (`KNOWLEDGE_BUCKET` and `KNOWLEDGE_QUEUE_URL`
    /// are required); a missing one fails the cold start.
    pub async fn from_env() -> Result<Self, crate::config::ConfigError> {
        let config = crate::Config::from_env()?;
        let sdk = crate::aws::sdk_config().await;
        Self::from_sdk(&config, &sdk)
    }

    /// The real adapters for `config`, sharing `sdk`.
    pub fn from_sdk(
        config: &crate::Config,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, crate::config::ConfigError> {
        use crate::config::ConfigError;
        let services = crate::Services::from_sdk(config, sdk).with_knowledge(config, sdk);
        let bucket = config
            .knowledge
            .bucket
            .clone()
            .ok_or(ConfigError::Missing("KNOWLEDGE_BUCKET"))?;
        let knowledge = services
            .knowledge
            .clone()
            .ok_or(ConfigError::Missing("KNOWLEDGE_QUEUE_URL"))?;
        let local = std::env::var_os("AWS_ENDPOINT_URL").is_some();
        Ok(Self {
            stores: services.storage.stores.clone(),
            repo: knowledge.repo,
            documents: Arc::new(super::aws::S3Documents::new(sdk, bucket.clone(), local)),
            queue: knowledge.queue,
            events: Arc::new(super::aws::EventBridgeEvents::new(
                aws_sdk_eventbridge::Client::new(sdk),
                config.knowledge.event_bus.clone(),
            )),
            access: services.access.clone(),
            config: SyncConfig {
                bucket,
                bulk_threshold: config.knowledge.bulk_threshold,
                bulk_poll: Duration::from_secs(10),
                step_reserve: STEP_RESERVE,
                throttled_pause: THROTTLED_PAUSE,
            },
        })
    }
}

/// How a piece of work ended.
enum Progressed {
    Finished,
    /// Stop here and continue in a new message after this delay.
    Paused(Duration),
}

/// Handles one job within `deadline`. `Ok` acknowledges the message; `Err` leaves it for
/// redelivery (and, after [`MAX_RECEIVES`], the dead-letter queue). `receives` is SQS's
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
        } => run(ports, &org_id, &shop_domain, &ticket, deadline, receives).await,
        Job::Remove {
            org_id,
            shop_domain,
            sources,
            after,
            removed,
        } => {
            remove(
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
        } => tick(ports, cursor, deadline).await,
        Job::Tick {
            cursor,
            orphans: true,
        } => sweep_orphans(ports, cursor, deadline).await,
    }
}

/// Queues an incremental run for every connected store with a source enabled, a page of the
/// table at a time (the next page is a job of its own).
pub async fn tick(
    ports: &SyncPorts,
    cursor: Option<String>,
    deadline: Deadline,
) -> Result<(), KnowledgeError> {
    let (stores, next) = deadline
        .run(ports.stores.scan(cursor.as_deref(), 100))
        .await?;
    let mut settings: HashMap<OrganizationId, OrgSettings> = HashMap::new();
    let mut queued = 0;
    for store in &stores {
        if !settings.contains_key(&store.org_id) {
            let org_settings = deadline
                .run(ports.stores.get_settings(&store.org_id))
                .await?;
            settings.insert(store.org_id.clone(), org_settings);
        }
        let knowledge = settings[&store.org_id].knowledge;
        // Sources turned off that the store still has a status (and maybe documents) for: their
        // removal was never queued, or never finished.
        if let Some(state) = deadline
            .run(ports.repo.state(&store.org_id, &store.shop_domain))
            .await?
        {
            let stale: Vec<Source> = state
                .sources
                .keys()
                .filter(|source| !knowledge.enabled(**source))
                .copied()
                .collect();
            if !stale.is_empty() {
                let job = Job::Remove {
                    org_id: store.org_id.clone(),
                    shop_domain: store.shop_domain.clone(),
                    sources: Some(stale),
                    after: None,
                    removed: 0,
                };
                deadline.run(ports.queue.send(&job, Duration::ZERO)).await?;
            }
        }
        let sources = knowledge.list();
        if sources.is_empty() {
            continue;
        }
        let requested = request_run(
            ports.repo.as_ref(),
            ports.queue.as_ref(),
            &deadline,
            &store.org_id,
            &store.shop_domain,
            RunKind::Incremental,
            &sources,
            false,
        )
        .await?;
        queued += usize::from(requested);
    }
    // The next page of stores, or, after the last, the sweep of what disconnected stores left.
    let job = Job::Tick {
        orphans: next.is_none(),
        cursor: next,
    };
    deadline.run(ports.queue.send(&job, Duration::ZERO)).await?;
    tracing::info!(stores = stores.len(), queued, "knowledge sync tick");
    Ok(())
}

/// Queues the removal of the documents and sync state of every store no longer connected (a
/// disconnect whose removal job was never queued), a page of sync states at a time.
async fn sweep_orphans(
    ports: &SyncPorts,
    cursor: Option<String>,
    deadline: Deadline,
) -> Result<(), KnowledgeError> {
    let (states, next) = deadline
        .run(ports.repo.scan_states(cursor.as_deref(), 100))
        .await?;
    let mut orphans = 0;
    for state in &states {
        if deadline
            .run(ports.stores.get(&state.org_id, &state.shop_domain))
            .await?
            .is_none()
        {
            orphans += 1;
            let job = Job::Remove {
                org_id: state.org_id.clone(),
                shop_domain: state.shop_domain.clone(),
                sources: None,
                after: None,
                removed: 0,
            };
            deadline.run(ports.queue.send(&job, Duration::ZERO)).await?;
        }
    }
    if let Some(cursor) = next {
        let job = Job::Tick {
            cursor: Some(cursor),
            orphans: true,
        };
        deadline.run(ports.queue.send(&job, Duration::ZERO)).await?;
    }
    if orphans > 0 {
        tracing::info!(
            orphans,
            "knowledge of disconnected stores queued for removal"
        );
    }
    Ok(())
}

async fn run(
    ports: &SyncPorts,
    org: &OrganizationId,
    shop: &ShopDomain,
    ticket: &str,
    deadline: Deadline,
    receives: u32,
) -> Result<(), KnowledgeError> {
    let me = new_id();
    let Some((mut state, record)) = start(ports, org, shop, ticket, &deadline, &me).await? else {
        return Ok(());
    };
    let outcome = work(ports, &deadline, &mut state, &record, &me).await;
    // What is written after the work gets a moment of its own: the work may have used the
    // deadline up, and the function keeps a margin before Lambda's.
    let grace = Deadline::after(GRACE);
    match outcome {
        Ok(Progressed::Finished) => finish(ports, &grace, state, &me).await,
        Ok(Progressed::Paused(delay)) => pause(ports, &grace, state, &me, delay).await,
        Err(KnowledgeError::LeaseLost) => Ok(()),
        Err(error) if error.is_permanent() || receives >= MAX_RECEIVES => {
            tracing::warn!(shop = %shop, %error, receives, "knowledge sync failed");
            let permanent = error.is_permanent();
            fail(ports, &grace, state, &me, &error).await?;
            if permanent {
                Ok(())
            } else {
                Err(error)
            }
        }
        Err(error) => {
            // Transient: the message comes back and resumes from the last saved page.
            if let Some(run) = state.run.as_mut() {
                run.interrupted = true;
            }
            release(&mut state);
            let _ = save(ports, &grace, &mut state, &me).await;
            Err(error)
        }
    }
}

/// Takes the store's lease for the run `ticket` names, planning the run from its request if it
/// has not begun. `None`: the delivery is stale or a duplicate, or the store is gone (its
/// removal is queued); [`KnowledgeError::Busy`]: another invocation holds the lease. A state
/// changed meanwhile by someone else (a request merged in, a removal) is read again.
async fn start(
    ports: &SyncPorts,
    org: &OrganizationId,
    shop: &ShopDomain,
    ticket: &str,
    deadline: &Deadline,
    me: &str,
) -> Result<Option<(SyncState, StoreRecord)>, KnowledgeError> {
    for _ in 0..8 {
        let Some(mut state) = deadline.run(ports.repo.state(org, shop)).await? else {
            return Ok(None);
        };
        let current = state
            .run
            .as_ref()
            .map(|r| r.ticket.as_str())
            .or(state.requested.as_ref().map(|r| r.run_id.as_str()));
        if current != Some(ticket) {
            tracing::info!(shop = %shop, ticket, "not the store's current ticket; dropped");
            return Ok(None);
        }
        let now = Utc::now();
        if state.leased_by_other(me, now) {
            // The same message twice at once, or an invocation that died holding the lease:
            // the message comes back after its visibility timeout, when the lease is over.
            tracing::info!(shop = %shop, ticket, "the run is under way in another invocation");
            return Err(KnowledgeError::Busy);
        }
        let Some(record) = deadline.run(ports.stores.get(org, shop)).await? else {
            // Disconnected meanwhile: its documents go, and so does this run.
            let job = Job::Remove {
                org_id: org.clone(),
                shop_domain: shop.clone(),
                sources: None,
                after: None,
                removed: 0,
            };
            deadline.run(ports.queue.send(&job, Duration::ZERO)).await?;
            return Ok(None);
        };
        let settings = deadline.run(ports.stores.get_settings(org)).await?;
        // A lease left behind means the invocation before this one died mid-step: what it
        // wrote after its last save is not in the counts.
        let interrupted = state.lease_owner.is_some();
        if state.run.is_none() {
            let request = state.requested.take().expect("checked: a run or a request");
            state.run = Some(plan(
                &state,
                &request.sources,
                request.kind,
                &settings,
                &record,
                &request.run_id,
            ));
        }
        let run = state.run.as_mut().expect("planned");
        run.interrupted |= interrupted;
        // A source turned off (or whose scope was withdrawn) since the run began is left out.
        run.progress.retain(|p| {
            settings.knowledge.enabled(p.source) && p.source.granted_by(&record.granted_scopes)
        });
        for progress in &run.progress {
            // Recorded from the start, so a source turned off mid-run is known to have files.
            state.sources.entry(progress.source).or_default();
        }
        state.phase = Phase::Running;
        state.lease_owner = Some(me.to_owned());
        state.lease_until = Some(lease_end(deadline));
        if let Some(run) = state.run.as_mut() {
            run.touched_at = Some(now);
        }
        let expect = state.version;
        state.version = expect + 1;
        match deadline
            .run(ports.repo.put_state(&state, Some(expect)))
            .await
        {
            Ok(()) => return Ok(Some((state, record))),
            Err(crate::store::StoreError::Conflict) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(KnowledgeError::Busy)
}

/// Saves the run's progress under a new ticket, releases the lease, and queues the message
/// that continues the run after `delay`. If that message cannot be sent, the old ticket is
/// put back, so this message's redelivery continues instead.
async fn pause(
    ports: &SyncPorts,
    deadline: &Deadline,
    mut state: SyncState,
    me: &str,
    delay: Duration,
) -> Result<(), KnowledgeError> {
    let run = state.run.as_mut().expect("a paused run");
    let previous = std::mem::replace(&mut run.ticket, new_id());
    let job = Job::Run {
        org_id: state.org_id.clone(),
        shop_domain: state.shop_domain.clone(),
        ticket: run.ticket.clone(),
    };
    release(&mut state);
    save(ports, deadline, &mut state, me).await?;
    if let Err(error) = deadline.run(ports.queue.send(&job, delay)).await {
        state.run.as_mut().expect("a paused run").ticket = previous;
        let _ = save(ports, deadline, &mut state, me).await;
        return Err(error.into());
    }
    Ok(())
}

/// The run a request turns into: the requested sources that are on and whose scopes the
/// store granted, each full or incremental.
fn plan(
    state: &SyncState,
    requested: &[Source],
    kind: RunKind,
    settings: &OrgSettings,
    record: &StoreRecord,
    run_id: &str,
) -> Run {
    let now = Utc::now();
    let overlap = chrono::Duration::from_std(OVERLAP).expect("small");
    let progress = requested
        .iter()
        .copied()
        .filter(|s| settings.knowledge.enabled(*s) && s.granted_by(&record.granted_scopes))
        .map(|source| {
            let synced = state.sources.get(&source).and_then(|s| s.synced_at);
            // Policies are few and read whole either way; an incremental run of a source
            // never synced is a full one.
            let (kind, since) = match (kind, synced) {
                (RunKind::Incremental, Some(at)) => (RunKind::Incremental, Some(at - overlap)),
                _ => (RunKind::Full, None),
            };
            Progress {
                source,
                kind,
                step: Step::List,
                cursor: None,
                merged_through: None,
                since,
                bulk: None,
                paged: false,
                documents: None,
            }
        })
        .collect::<Vec<_>>();
    let overall = if progress.iter().any(|p| p.kind == RunKind::Full) {
        RunKind::Full
    } else {
        RunKind::Incremental
    };
    Run {
        id: run_id.to_owned(),
        ticket: run_id.to_owned(),
        touched_at: Some(now),
        kind: overall,
        started_at: now,
        progress,
        added: 0,
        updated: 0,
        removed: 0,
        primary_url: None,
        throttled: 0,
        interrupted: false,
    }
}

/// When the lease of an invocation ending at `deadline` runs out.
fn lease_end(deadline: &Deadline) -> chrono::DateTime<Utc> {
    let left = deadline.remaining().saturating_add(LEASE_MARGIN);
    Utc::now() + chrono::Duration::from_std(left).unwrap_or(chrono::Duration::MAX)
}

fn release(state: &mut SyncState) {
    state.lease_owner = None;
    state.lease_until = None;
}

/// Saves `state` while this invocation holds the lease. Others only ever add a request to a
/// running store's state; such a change is merged in and the save retried.
async fn save(
    ports: &SyncPorts,
    deadline: &Deadline,
    state: &mut SyncState,
    me: &str,
) -> Result<(), KnowledgeError> {
    if let Some(run) = state.run.as_mut() {
        run.touched_at = Some(Utc::now());
    }
    for _ in 0..16 {
        let expect = state.version;
        state.version = expect + 1;
        match deadline
            .run(ports.repo.put_state(state, Some(expect)))
            .await
        {
            Ok(()) => return Ok(()),
            Err(crate::store::StoreError::Conflict) => {
                state.version = expect;
                let Some(fresh) = deadline
                    .run(ports.repo.state(&state.org_id, &state.shop_domain))
                    .await?
                else {
                    return Err(KnowledgeError::LeaseLost);
                };
                let ours = fresh.lease_owner.as_deref() == Some(me)
                    || (fresh.lease_owner.is_none() && state.lease_owner.is_none());
                if !ours || fresh.run.as_ref().map(|r| &r.id) != state.run.as_ref().map(|r| &r.id) {
                    return Err(KnowledgeError::LeaseLost);
                }
                state.requested = fresh.requested;
                state.version = fresh.version;
            }
            Err(error) => {
                state.version = expect;
                return Err(error.into());
            }
        }
    }
    Err(KnowledgeError::LeaseLost)
}

async fn finish(
    ports: &SyncPorts,
    deadline: &Deadline,
    mut state: SyncState,
    me: &str,
) -> Result<(), KnowledgeError> {
    let run = state.run.take().expect("a finished run");
    for progress in &run.progress {
        let status = state.sources.entry(progress.source).or_default();
        status.documents = progress.documents.unwrap_or(status.documents);
        status.synced_at = Some(run.started_at);
        status.error = None;
        status.missing = None;
    }
    state.last_run = Some(LastRun {
        kind: run.kind,
        started_at: run.started_at,
        finished_at: Utc::now(),
        outcome: Outcome::Succeeded,
        error: None,
    });
    let follow_up = state.requested.as_ref().map(|r| r.run_id.clone());
    state.phase = if follow_up.is_some() {
        Phase::Queued
    } else {
        Phase::Idle
    };
    state.run = None;
    release(&mut state);
    save(ports, deadline, &mut state, me).await?;
    tracing::info!(shop = %state.shop_domain, added = run.added, updated = run.updated, removed = run.removed, "knowledge sync finished");
    if run.added + run.updated + run.removed > 0 || run.interrupted {
        let event = SyncedEvent {
            org_id: state.org_id.clone(),
            shop_domain: state.shop_domain.clone(),
            prefix: format!(
                "s3://{}/{}",
                ports.config.bucket,
                store_prefix(&state.org_id, &state.shop_domain)
            ),
            added: run.added,
            updated: run.updated,
            removed: run.removed,
        };
        if let Err(error) = deadline.run(ports.events.knowledge_synced(&event)).await {
            tracing::warn!(shop = %state.shop_domain, %error, "could not announce the sync");
        }
    }
    if let Some(ticket) = follow_up {
        let job = Job::Run {
            org_id: state.org_id.clone(),
            shop_domain: state.shop_domain.clone(),
            ticket,
        };
        deadline.run(ports.queue.send(&job, Duration::ZERO)).await?;
    }
    Ok(())
}

async fn fail(
    ports: &SyncPorts,
    deadline: &Deadline,
    mut state: SyncState,
    me: &str,
    error: &KnowledgeError,
) -> Result<(), KnowledgeError> {
    let view = error.view();
    if let Some(run) = state.run.take() {
        if let Some(progress) = run.progress.iter().find(|p| p.step != Step::Done) {
            state.sources.entry(progress.source).or_default().error = Some(view.clone());
        }
        state.last_run = Some(LastRun {
            kind: run.kind,
            started_at: run.started_at,
            finished_at: Utc::now(),
            outcome: Outcome::Failed,
            error: Some(view),
        });
    }
    state.phase = Phase::Failed;
    release(&mut state);
    save(ports, deadline, &mut state, me).await
}

/// Runs steps until the run is done, a pause is needed, or the time is nearly up. Progress
/// is saved after every step.
async fn work(
    ports: &SyncPorts,
    deadline: &Deadline,
    state: &mut SyncState,
    record: &StoreRecord,
    me: &str,
) -> Result<Progressed, KnowledgeError> {
    loop {
        if deadline.remaining() < ports.config.step_reserve {
            return Ok(Progressed::Paused(Duration::ZERO));
        }
        let run = state.run.as_mut().expect("a running run");
        let Some(index) = run.progress.iter().position(|p| p.step != Step::Done) else {
            return Ok(Progressed::Finished);
        };
        let mut step = Stepper {
            ports,
            deadline,
            record,
            org: &record.org_id,
            shop: &record.shop_domain,
            run,
        };
        let source = step.run.progress[index].source;
        let next = match step.step(index).await {
            Ok(next) => {
                step.run.throttled = 0;
                next
            }
            Err(error)
                if error.code() == Code::ShopifyRateLimited
                    && step.run.throttled < MAX_THROTTLED_PAUSES =>
            {
                step.run.throttled += 1;
                tracing::info!(shop = %record.shop_domain, pauses = step.run.throttled, "Shopify throttled the sync; it steps aside for live lookups");
                Some(ports.config.throttled_pause)
            }
            Err(error) if access_denied(&error) => {
                // The scope was withdrawn since it was recorded: this source shows
                // `missing_scope`, the others go on.
                tracing::warn!(shop = %record.shop_domain, %source, "Shopify denied a source's scope; it is skipped");
                step.run.progress.remove(index);
                let status = state.sources.entry(source).or_default();
                status.missing = Some(source.scopes().iter().map(|s| (*s).to_owned()).collect());
                save(ports, deadline, state, me).await?;
                continue;
            }
            Err(error) => return Err(error),
        };
        let run = state.run.as_mut().expect("a running run");
        if let Some(progress) = run.progress.get_mut(index) {
            if progress.step == Step::Done && progress.documents.is_none() {
                let count =
                    ports
                        .repo
                        .count_entries(&record.org_id, &record.shop_domain, progress.source);
                progress.documents = Some(deadline.run(count).await?);
            }
        }
        save(ports, deadline, state, me).await?;
        if let Some(delay) = next {
            return Ok(Progressed::Paused(delay));
        }
    }
}

/// Whether Shopify refused a query for want of a scope.
fn access_denied(error: &KnowledgeError) -> bool {
    matches!(
        error,
        KnowledgeError::Access(AccessError::Shopify(
            crate::shopify::ShopifyError::AccessDenied { .. }
        ))
    )
}

/// Waits until the store's bucket, as Shopify last reported it, keeps half its capacity after
/// a query of `kind`; `Err(Pause)` when that wait does not fit before the deadline.
async fn pace(
    ports: &SyncPorts,
    record: &StoreRecord,
    kind: ContentQuery,
    deadline: &Deadline,
) -> Result<(), KnowledgeError> {
    let shopify = ports.shopify();
    let Some(reading) = shopify.bucket(&record.shop_domain) else {
        return Ok(());
    };
    let capacity = reading.status.maximum_available;
    let needed = (capacity / 2.0 + requested_cost(kind)).min(capacity);
    let available = reading.available_now();
    if available >= needed {
        return Ok(());
    }
    let wait = Duration::from_secs_f64((needed - available) / reading.status.restore_rate.max(1.0));
    if deadline.allows(wait, ports.config.step_reserve) {
        tokio::time::sleep(wait).await;
        Ok(())
    } else {
        Err(KnowledgeError::Pause(wait))
    }
}

/// Document writes and removals in flight at once within a page.
const WRITE_CONCURRENCY: usize = 8;

/// A change to one document.
enum Change {
    /// Write the document unless the index entry (if any) has its fingerprint.
    Write(Document, Option<IndexEntry>),
    Remove(IndexEntry),
}

enum Applied {
    Added,
    Updated,
    Removed,
    Unchanged,
}

impl Change {
    /// Writes the Markdown and its sidecar, then the index entry with their fingerprint;
    /// removes the files, then the entry.
    async fn apply(
        self,
        ports: &SyncPorts,
        deadline: &Deadline,
        org: &OrganizationId,
        shop: &ShopDomain,
    ) -> Result<Applied, KnowledgeError> {
        match self {
            Change::Write(document, existing) => {
                let Some(entry) = IndexEntry::of(org, shop, &document) else {
                    return Ok(Applied::Unchanged);
                };
                if existing
                    .as_ref()
                    .is_some_and(|e| e.fingerprint == entry.fingerprint)
                {
                    return Ok(Applied::Unchanged);
                }
                if existing.is_none() {
                    // A new document is indexed before its files are written, so files never
                    // exist that the index does not know of (and would never remove); the
                    // pending entry's empty fingerprint makes the next run write them again.
                    let pending = IndexEntry {
                        fingerprint: String::new(),
                        ..entry.clone()
                    };
                    deadline.run(ports.repo.put_entry(&pending)).await?;
                }
                let documents = &ports.documents;
                let sidecar = sidecar_key(&entry.key);
                deadline
                    .run(async {
                        futures::try_join!(
                            documents.put(
                                &entry.key,
                                document.markdown_bytes(),
                                "text/markdown; charset=utf-8",
                            ),
                            documents.put(
                                &sidecar,
                                document.sidecar_bytes(org, shop),
                                "application/json",
                            ),
                        )
                    })
                    .await?;
                deadline.run(ports.repo.put_entry(&entry)).await?;
                Ok(if existing.is_some() {
                    Applied::Updated
                } else {
                    Applied::Added
                })
            }
            Change::Remove(entry) => {
                let keys = [entry.key.clone(), sidecar_key(&entry.key)];
                deadline.run(ports.documents.delete(&keys)).await?;
                deadline
                    .run(ports.repo.delete_entry(org, shop, entry.source, entry.id))
                    .await?;
                Ok(Applied::Removed)
            }
        }
    }
}

/// One source's step of a run.
struct Stepper<'a> {
    ports: &'a SyncPorts,
    deadline: &'a Deadline,
    record: &'a StoreRecord,
    org: &'a OrganizationId,
    shop: &'a ShopDomain,
    run: &'a mut Run,
}

/// A page of rendered items: documents to keep, and the ids of items that must not have one
/// (a product that left `ACTIVE`).
struct Rendered {
    documents: Vec<Document>,
    drop: Vec<u64>,
}

impl Stepper<'_> {
    /// Does one step of the source at `index`; `Some(delay)` to pause the run.
    async fn step(&mut self, index: usize) -> Result<Option<Duration>, KnowledgeError> {
        let progress = self.run.progress[index].clone();
        let result = match (progress.source, progress.step) {
            (source, _) if self.run.primary_url.is_none() && source != Source::Policies => {
                self.read_primary_url().await
            }
            (Source::Policies, _) => self.policies(index).await,
            (Source::Products, Step::List) if progress.kind == RunKind::Full => {
                self.products_full(index).await
            }
            (_, Step::List) => self.list(index).await,
            (_, Step::Sweep) => self.sweep(index).await,
            (_, Step::Done) => Ok(None),
        };
        match result {
            Err(KnowledgeError::Pause(delay)) => Ok(Some(delay)),
            other => other,
        }
    }

    /// The storefront's primary domain, which document URLs start with; read once per run.
    async fn read_primary_url(&mut self) -> Result<Option<Duration>, KnowledgeError> {
        let (shopify, shop, deadline) = (self.ports.shopify(), self.shop, self.deadline);
        let url = self
            .with_token(ContentQuery::Small, |token| async move {
                shopify.primary_url(deadline, shop, &token).await
            })
            .await?;
        self.run.primary_url = Some(url);
        Ok(None)
    }

    fn primary_url(&self) -> &str {
        self.run.primary_url.as_deref().unwrap_or_default()
    }

    async fn with_token<T, F, Fut>(&self, kind: ContentQuery, call: F) -> Result<T, KnowledgeError>
    where
        F: Fn(secrecy::SecretString) -> Fut,
        Fut: std::future::Future<Output = Result<T, crate::shopify::ShopifyError>>,
    {
        pace(self.ports, self.record, kind, self.deadline).await?;
        Ok(self
            .ports
            .access
            .with_token(self.record, self.deadline, call)
            .await?)
    }

    /// Policies: few, read whole every run, merged with the index at once.
    async fn policies(&mut self, index: usize) -> Result<Option<Duration>, KnowledgeError> {
        let (shopify, shop, deadline) = (self.ports.shopify(), self.shop, self.deadline);
        let policies = self
            .with_token(ContentQuery::Small, |token| async move {
                shopify.shop_policies(deadline, shop, &token).await
            })
            .await?;
        let mut documents: Vec<Document> = policies
            .iter()
            .filter(|p| !p.body.trim().is_empty())
            .filter_map(policy_document)
            .collect();
        documents.sort_by_key(|d| d.numeric_id.parse::<u64>().unwrap_or(0));
        self.merge(Source::Policies, documents, None, None).await?;
        self.run.progress[index].step = Step::Done;
        Ok(None)
    }

    /// Reads one page of pages, articles or products (everything in id order, or what
    /// changed) and applies it.
    async fn list(&mut self, index: usize) -> Result<Option<Duration>, KnowledgeError> {
        let progress = self.run.progress[index].clone();
        let order = match (progress.kind, progress.since) {
            (RunKind::Incremental, Some(since)) => {
                Order::ChangedSince(since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            }
            _ => Order::ById,
        };
        let (rendered, has_next, cursor) = self
            .read_page(progress.source, &order, progress.cursor.as_deref())
            .await?;
        let max_id = rendered
            .documents
            .iter()
            .filter_map(|d| d.numeric_id.parse::<u64>().ok())
            .chain(rendered.drop.iter().copied())
            .max();
        match order {
            Order::ById => {
                let through = if has_next { max_id } else { None };
                if has_next && through.is_none() {
                    return Err(KnowledgeError::Malformed(
                        "a page with more to come held nothing",
                    ));
                }
                self.merge(
                    progress.source,
                    rendered.documents,
                    progress.merged_through,
                    through,
                )
                .await?;
                let p = &mut self.run.progress[index];
                p.merged_through = through.or(p.merged_through);
                p.cursor = cursor;
                if !has_next {
                    p.step = Step::Done;
                }
            }
            Order::ChangedSince(_) => {
                self.apply_changes(progress.source, rendered).await?;
                let p = &mut self.run.progress[index];
                p.cursor = cursor;
                if !has_next {
                    p.step = Step::Sweep;
                    p.cursor = None;
                    p.merged_through = None;
                }
            }
        }
        Ok(None)
    }

    async fn read_page(
        &self,
        source: Source,
        order: &Order,
        after: Option<&str>,
    ) -> Result<(Rendered, bool, Option<String>), KnowledgeError> {
        let (shopify, shop, deadline) = (self.ports.shopify(), self.shop, self.deadline);
        let url = self.primary_url().to_owned();
        Ok(match source {
            Source::Pages => {
                let page = self
                    .with_token(ContentQuery::Pages, |token| async move {
                        shopify
                            .pages_page(deadline, shop, &token, order, after)
                            .await
                    })
                    .await?;
                let documents = page
                    .nodes
                    .iter()
                    .filter_map(|p| page_document(p, &url))
                    .collect();
                let next = page.page_info.has_next_page;
                (
                    Rendered {
                        documents,
                        drop: Vec::new(),
                    },
                    next,
                    page.page_info.end_cursor,
                )
            }
            Source::Articles => {
                let page = self
                    .with_token(ContentQuery::Articles, |token| async move {
                        shopify
                            .articles_page(deadline, shop, &token, order, after)
                            .await
                    })
                    .await?;
                let documents = page
                    .nodes
                    .iter()
                    .filter_map(|a| article_document(a, &url))
                    .collect();
                let next = page.page_info.has_next_page;
                (
                    Rendered {
                        documents,
                        drop: Vec::new(),
                    },
                    next,
                    page.page_info.end_cursor,
                )
            }
            Source::Products => {
                let page = self
                    .with_token(ContentQuery::Products, |token| async move {
                        shopify
                            .products_page(deadline, shop, &token, order, after)
                            .await
                    })
                    .await?;
                let mut rendered = Rendered {
                    documents: Vec::new(),
                    drop: Vec::new(),
                };
                for product in &page.nodes {
                    match product_document(product, &product.variants.nodes, &url) {
                        Some(document) => rendered.documents.push(document),
                        None => rendered
                            .drop
                            .extend(numeric_id(&product.id).and_then(|id| id.parse::<u64>().ok())),
                    }
                }
                let next = page.page_info.has_next_page;
                (rendered, next, page.page_info.end_cursor)
            }
            Source::Policies => unreachable!("policies are read whole"),
        })
    }

    /// Incremental: writes what changed, removes what must no longer have a document.
    async fn apply_changes(
        &mut self,
        source: Source,
        rendered: Rendered,
    ) -> Result<(), KnowledgeError> {
        let ids: Vec<u64> = rendered
            .documents
            .iter()
            .filter_map(|d| d.numeric_id.parse().ok())
            .chain(rendered.drop.iter().copied())
            .collect();
        let mut existing: HashMap<u64, IndexEntry> = self
            .deadline
            .run(
                self.ports
                    .repo
                    .entries_by_id(self.org, self.shop, source, &ids),
            )
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        let mut changes = Vec::new();
        for document in rendered.documents {
            let id = document.numeric_id.parse::<u64>().unwrap_or_default();
            changes.push(Change::Write(document, existing.remove(&id)));
        }
        for id in rendered.drop {
            changes.extend(existing.remove(&id).map(Change::Remove));
        }
        self.apply(changes).await
    }

    /// Merges `documents` (sorted by id, all of Shopify's items with `after < id <= through`)
    /// with the index entries of the same range: new or changed documents are written,
    /// entries without an item are removed.
    async fn merge(
        &mut self,
        source: Source,
        documents: Vec<Document>,
        after: Option<u64>,
        through: Option<u64>,
    ) -> Result<(), KnowledgeError> {
        let mut wanted: HashMap<u64, Document> = documents
            .into_iter()
            .filter_map(|d| Some((d.numeric_id.parse::<u64>().ok()?, d)))
            .collect();
        let mut cursor = after;
        loop {
            let entries = self
                .deadline
                .run(
                    self.ports
                        .repo
                        .entries(self.org, self.shop, source, cursor, through, 500),
                )
                .await?;
            let Some(last) = entries.last().map(|e| e.id) else {
                break;
            };
            let full = entries.len() == 500;
            let changes = entries
                .into_iter()
                .map(|entry| match wanted.remove(&entry.id) {
                    Some(document) => Change::Write(document, Some(entry)),
                    None => Change::Remove(entry),
                })
                .collect();
            self.apply(changes).await?;
            cursor = Some(last);
            if !full {
                break;
            }
        }
        let mut rest: Vec<Document> = wanted.into_values().collect();
        rest.sort_by_key(|d| d.numeric_id.parse::<u64>().unwrap_or(0));
        self.apply(rest.into_iter().map(|d| Change::Write(d, None)).collect())
            .await
    }

    /// Carries out `changes`, [`WRITE_CONCURRENCY`] at a time, and counts each one done into
    /// the run. One that fails does not stop those under way; the first failure is returned
    /// once they all ended.
    async fn apply(&mut self, changes: Vec<Change>) -> Result<(), KnowledgeError> {
        use futures::StreamExt;
        let (ports, deadline, org, shop) = (self.ports, self.deadline, self.org, self.shop);
        let mut done = futures::stream::iter(changes)
            .map(|change| change.apply(ports, deadline, org, shop))
            .buffer_unordered(WRITE_CONCURRENCY);
        let mut failure = None;
        while let Some(applied) = done.next().await {
            match applied {
                Ok(Applied::Added) => self.run.added += 1,
                Ok(Applied::Updated) => self.run.updated += 1,
                Ok(Applied::Removed) => self.run.removed += 1,
                Ok(Applied::Unchanged) => {}
                Err(error) => {
                    failure.get_or_insert(error);
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// Incremental: finds deletions by merging the ids Shopify lists with the index. Skipped
    /// for pages and products when Shopify's count equals the index's.
    async fn sweep(&mut self, index: usize) -> Result<Option<Duration>, KnowledgeError> {
        let progress = self.run.progress[index].clone();
        let source = progress.source;
        let (shopify, shop, deadline) = (self.ports.shopify(), self.shop, self.deadline);
        if progress.cursor.is_none()
            && progress.merged_through.is_none()
            && source != Source::Articles
        {
            let theirs = self
                .with_token(ContentQuery::Small, |token| async move {
                    shopify.exact_count(deadline, shop, &token, source).await
                })
                .await?;
            let ours = deadline
                .run(self.ports.repo.count_entries(self.org, self.shop, source))
                .await?;
            if theirs == Some(ours) {
                self.run.progress[index].step = Step::Done;
                return Ok(None);
            }
        }
        let after = progress.cursor.as_deref();
        let page = self
            .with_token(ContentQuery::Ids, |token| async move {
                shopify
                    .ids_page(deadline, shop, &token, source, after)
                    .await
            })
            .await?;
        let ids: Vec<u64> = page
            .nodes
            .iter()
            .filter_map(|n| numeric_id(&n.id)?.parse().ok())
            .collect();
        let has_next = page.page_info.has_next_page;
        let through = if has_next {
            ids.iter().max().copied()
        } else {
            None
        };
        if has_next && through.is_none() {
            return Err(KnowledgeError::Malformed(
                "an id page with more to come held nothing",
            ));
        }
        let present: std::collections::HashSet<u64> = ids.into_iter().collect();
        let mut cursor = progress.merged_through;
        loop {
            let entries = deadline
                .run(
                    self.ports
                        .repo
                        .entries(self.org, self.shop, source, cursor, through, 500),
                )
                .await?;
            let Some(last) = entries.last().map(|e| e.id) else {
                break;
            };
            let full = entries.len() == 500;
            let gone = entries
                .into_iter()
                .filter(|e| !present.contains(&e.id))
                .map(Change::Remove)
                .collect();
            self.apply(gone).await?;
            cursor = Some(last);
            if !full {
                break;
            }
        }
        let p = &mut self.run.progress[index];
        p.merged_through = through.or(p.merged_through);
        p.cursor = page.page_info.end_cursor;
        if !has_next {
            p.step = Step::Done;
        }
        Ok(None)
    }

    /// A full products run: a bulk operation for a catalog above the threshold (started,
    /// polled with delayed messages, its result streamed), pages otherwise.
    async fn products_full(&mut self, index: usize) -> Result<Option<Duration>, KnowledgeError> {
        let progress = self.run.progress[index].clone();
        let (shopify, shop, deadline) = (self.ports.shopify(), self.shop, self.deadline);
        let Some(bulk) = progress.bulk.clone() else {
            let fresh = progress.cursor.is_none() && progress.merged_through.is_none();
            if fresh && !progress.paged && self.ports.config.bulk_threshold > 0 {
                let count = self
                    .with_token(ContentQuery::Small, |token| async move {
                        shopify.active_products(deadline, shop, &token).await
                    })
                    .await?;
                if count > self.ports.config.bulk_threshold {
                    let started = self
                        .with_token(ContentQuery::Small, |token| async move {
                            shopify.start_bulk_products(deadline, shop, &token).await
                        })
                        .await?;
                    match started {
                        BulkStart::Started(id) => {
                            tracing::info!(shop = %shop, count, "products read by a bulk operation");
                            self.run.progress[index].bulk = Some(BulkProgress {
                                id,
                                started_at: Utc::now(),
                                offset: 0,
                                polls: 0,
                            });
                            return Ok(Some(self.ports.config.bulk_poll));
                        }
                        BulkStart::Refused(code) => {
                            tracing::warn!(shop = %shop, ?code, "bulk operation refused; reading pages");
                            self.run.progress[index].paged = true;
                        }
                    }
                }
            }
            return self.list(index).await;
        };
        let id = bulk.id.clone();
        let operation: Option<BulkOperation> = self
            .with_token(ContentQuery::Small, |token| {
                let id = id.clone();
                async move { shopify.bulk_operation(deadline, shop, &token, &id).await }
            })
            .await?;
        let Some(operation) = operation else {
            return Err(KnowledgeError::Malformed("the bulk operation is gone"));
        };
        match operation.status.as_str() {
            "CREATED" | "RUNNING" | "CANCELING" => {
                let polls = bulk.polls + 1;
                self.run.progress[index].bulk = Some(BulkProgress { polls, ..bulk });
                let wait = self
                    .ports
                    .config
                    .bulk_poll
                    .saturating_mul(1 << polls.min(5))
                    .min(Duration::from_secs(60));
                Ok(Some(wait))
            }
            "COMPLETED" => match operation.url {
                None => {
                    // No active product at all.
                    self.merge(Source::Products, Vec::new(), progress.merged_through, None)
                        .await?;
                    self.run.progress[index].step = Step::Done;
                    Ok(None)
                }
                Some(url) => self.read_bulk(index, &url, bulk).await,
            },
            _ => {
                tracing::warn!(shop = %shop, status = %operation.status, code = ?operation.error_code, "bulk operation did not complete; reading pages");
                let p = &mut self.run.progress[index];
                p.bulk = None;
                p.cursor = None;
                p.merged_through = None;
                p.paged = true;
                self.list(index).await
            }
        }
    }

    /// Streams a bulk result from `bulk.offset`, a batch of whole products at a time, merging
    /// each with the index and saving the offset, until the end or the time runs short.
    async fn read_bulk(
        &mut self,
        index: usize,
        url: &str,
        bulk: BulkProgress,
    ) -> Result<Option<Duration>, KnowledgeError> {
        let mut stream = self
            .ports
            .shopify()
            .bulk_result(self.deadline, url, bulk.offset)
            .await?;
        let primary = self.primary_url().to_owned();
        let mut line_start = bulk.offset;
        let mut buffer: Vec<u8> = Vec::new();
        let mut batch: Vec<(ShopProduct, Vec<ShopVariant>)> = Vec::new();
        // The merge relies on products coming in id order (the query sorts by id); a result
        // that does not is read page by page instead.
        let mut last_id = self.run.progress[index].merged_through;
        let mut ended = false;
        loop {
            match self.deadline.run(stream.next_chunk()).await? {
                Some(bytes) => buffer.extend_from_slice(&bytes),
                None => {
                    ended = true;
                    if !buffer.is_empty() && !buffer.ends_with(b"\n") {
                        buffer.push(b'\n');
                    }
                }
            }
            while let Some(newline) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=newline).collect();
                let this_start = line_start;
                line_start += line.len() as u64;
                let text = std::str::from_utf8(&line[..line.len() - 1])
                    .map_err(|_| KnowledgeError::Malformed("a bulk line is not UTF-8"))?
                    .trim();
                if text.is_empty() {
                    continue;
                }
                let value: serde_json::Value = serde_json::from_str(text)
                    .map_err(|_| KnowledgeError::Malformed("a bulk line is not JSON"))?;
                if value.get("__parentId").is_some() {
                    let variant: ShopVariant = serde_json::from_value(value).map_err(|_| {
                        KnowledgeError::Malformed("a bulk variant line is malformed")
                    })?;
                    if let Some((_, variants)) = batch.last_mut() {
                        variants.push(variant);
                    }
                    continue;
                }
                let product: ShopProduct = serde_json::from_value(value)
                    .map_err(|_| KnowledgeError::Malformed("a bulk product line is malformed"))?;
                let id = numeric_id(&product.id)
                    .and_then(|id| id.parse::<u64>().ok())
                    .ok_or(KnowledgeError::Malformed("a bulk product without an id"))?;
                if last_id.is_some_and(|last| id <= last) {
                    tracing::warn!(shop = %self.shop, "the bulk result is not in id order; reading pages");
                    let p = &mut self.run.progress[index];
                    p.bulk = None;
                    p.cursor = None;
                    p.merged_through = None;
                    p.paged = true;
                    return Ok(None);
                }
                last_id = Some(id);
                // A product line: the batch before it is complete.
                if batch.len() >= BULK_BATCH {
                    self.bulk_batch(
                        index,
                        std::mem::take(&mut batch),
                        &primary,
                        Some(this_start),
                    )
                    .await?;
                    if self.deadline.remaining() < self.ports.config.step_reserve {
                        return Ok(Some(Duration::ZERO));
                    }
                }
                batch.push((product, Vec::new()));
            }
            if buffer.len() > MAX_LINE {
                return Err(KnowledgeError::Malformed("a bulk line is too long"));
            }
            if ended {
                break;
            }
        }
        // The end: the last batch, and every index entry past it goes.
        self.bulk_batch(index, batch, &primary, None).await?;
        let p = &mut self.run.progress[index];
        p.step = Step::Done;
        p.bulk = None;
        Ok(None)
    }

    /// Merges one batch of bulk products with the index and records where the next batch
    /// starts (`next_offset`; `None` at the end of the result).
    async fn bulk_batch(
        &mut self,
        index: usize,
        batch: Vec<(ShopProduct, Vec<ShopVariant>)>,
        primary: &str,
        next_offset: Option<u64>,
    ) -> Result<(), KnowledgeError> {
        let mut documents: Vec<Document> = batch
            .iter()
            .filter_map(|(product, variants)| product_document(product, variants, primary))
            .collect();
        documents.sort_by_key(|d| d.numeric_id.parse::<u64>().unwrap_or(0));
        let max_id = batch
            .iter()
            .filter_map(|(p, _)| numeric_id(&p.id)?.parse::<u64>().ok())
            .max();
        let after = self.run.progress[index].merged_through;
        let through = match next_offset {
            Some(_) => max_id.or(after),
            None => None,
        };
        self.merge(Source::Products, documents, after, through)
            .await?;
        let p = &mut self.run.progress[index];
        if let Some(through) = through {
            p.merged_through = Some(through);
        }
        if let (Some(offset), Some(bulk)) = (next_offset, p.bulk.as_mut()) {
            bulk.offset = offset;
        }
        Ok(())
    }
}

/// Removes a store's documents (all, when it was disconnected) or some sources' documents
/// (turned off): index entries and their files first, then any file left under the prefix.
/// It holds the store's lease meanwhile, so no run writes while documents go; a run holding
/// it makes this job come back later.
async fn remove(
    ports: &SyncPorts,
    org: &OrganizationId,
    shop: &ShopDomain,
    sources: Option<Vec<Source>>,
    (after, removed_before): (Option<String>, u64),
    deadline: Deadline,
) -> Result<(), KnowledgeError> {
    let whole_store = sources.is_none();
    if whole_store && deadline.run(ports.stores.get(org, shop)).await?.is_some() {
        // Connected again meanwhile: the new connection's runs keep what is right.
        return Ok(());
    }
    let settings = deadline.run(ports.stores.get_settings(org)).await?;
    let targets: Vec<Source> = match &sources {
        None => Source::ALL.to_vec(),
        // A source turned back on meanwhile keeps its documents.
        Some(list) => list
            .iter()
            .copied()
            .filter(|s| !settings.knowledge.enabled(*s))
            .collect(),
    };
    if targets.is_empty() {
        return Ok(());
    }
    let me = new_id();
    let mut state = take_lease(ports, &deadline, org, shop, &me).await?;
    let pause = |after: Option<String>, removed: u64| Job::Remove {
        org_id: org.clone(),
        shop_domain: shop.clone(),
        sources: sources.clone(),
        after,
        removed,
    };
    let mut removed = removed_before;
    let outcome = remove_documents(
        ports,
        &deadline,
        (org, shop),
        &targets,
        whole_store,
        after,
        &mut removed,
    )
    .await;
    let grace = Deadline::after(GRACE);
    let continue_after = match outcome {
        Ok(done) => done,
        Err(error) => {
            if let Some(state) = state.as_mut() {
                release(state);
                let _ = save(ports, &grace, state, &me).await;
            }
            return Err(error);
        }
    };
    if let Some(after) = continue_after {
        if let Some(state) = state.as_mut() {
            release(state);
            save(ports, &grace, state, &me).await?;
        }
        grace
            .run(ports.queue.send(&pause(after, removed), Duration::ZERO))
            .await?;
        return Ok(());
    }
    if let Some(mut state) = state {
        let deleted = if whole_store {
            // Only if the store is still gone and nobody asked for a run meanwhile (a
            // reconnect): then its state goes too.
            let still_gone = grace.run(ports.stores.get(org, shop)).await?.is_none();
            still_gone
                && match grace
                    .run(ports.repo.delete_state(org, shop, state.version))
                    .await
                {
                    Ok(()) => true,
                    Err(crate::store::StoreError::Conflict) => false,
                    Err(error) => return Err(error.into()),
                }
        } else {
            false
        };
        if !deleted {
            for source in &targets {
                state.sources.remove(source);
            }
            release(&mut state);
            save(ports, &grace, &mut state, &me).await?;
        }
    }
    tracing::info!(shop = %shop, sources = ?targets, removed, "knowledge documents removed");
    if removed > 0 {
        let event = SyncedEvent {
            org_id: org.clone(),
            shop_domain: shop.clone(),
            prefix: super::store_uri(&ports.config.bucket, org, shop),
            added: 0,
            updated: 0,
            removed,
        };
        if let Err(error) = grace.run(ports.events.knowledge_synced(&event)).await {
            tracing::warn!(shop = %shop, %error, "could not announce the removal");
        }
    }
    Ok(())
}

/// Takes the store's sync lease for `me` (`None` when the store has no sync state);
/// [`KnowledgeError::Busy`] while a run holds it.
async fn take_lease(
    ports: &SyncPorts,
    deadline: &Deadline,
    org: &OrganizationId,
    shop: &ShopDomain,
    me: &str,
) -> Result<Option<SyncState>, KnowledgeError> {
    let Some(mut state) = deadline.run(ports.repo.state(org, shop)).await? else {
        return Ok(None);
    };
    if state.leased_by_other(me, Utc::now()) {
        tracing::info!(shop = %shop, "a run holds the store; the removal comes back later");
        return Err(KnowledgeError::Busy);
    }
    let expect = state.version;
    state.lease_owner = Some(me.to_owned());
    state.lease_until = Some(lease_end(deadline));
    state.version = expect + 1;
    match deadline
        .run(ports.repo.put_state(&state, Some(expect)))
        .await
    {
        Ok(()) => Ok(Some(state)),
        Err(crate::store::StoreError::Conflict) => Err(KnowledgeError::Busy),
        Err(error) => Err(error.into()),
    }
}

/// Deletes the documents of `targets`; `Ok(Some(after))` when the time ran short and the work
/// continues in a new message (from `after` in the listing of leftover files).
async fn remove_documents(
    ports: &SyncPorts,
    deadline: &Deadline,
    (org, shop): (&OrganizationId, &ShopDomain),
    targets: &[Source],
    whole_store: bool,
    after: Option<String>,
    removed: &mut u64,
) -> Result<Option<Option<String>>, KnowledgeError> {
    for source in targets {
        loop {
            if deadline.remaining() < ports.config.step_reserve {
                return Ok(Some(None));
            }
            let entries = deadline
                .run(ports.repo.entries(org, shop, *source, None, None, 500))
                .await?;
            if entries.is_empty() {
                break;
            }
            let keys: Vec<String> = entries
                .iter()
                .flat_map(|e| [e.key.clone(), sidecar_key(&e.key)])
                .collect();
            deadline.run(ports.documents.delete(&keys)).await?;
            for entry in &entries {
                deadline
                    .run(ports.repo.delete_entry(org, shop, entry.source, entry.id))
                    .await?;
                *removed += 1;
            }
        }
    }
    // Files without an index entry (a run that died between the two writes).
    let prefixes: Vec<String> = if whole_store {
        vec![store_prefix(org, shop)]
    } else {
        targets
            .iter()
            .map(|s| super::document::source_prefix(org, shop, *s))
            .collect()
    };
    let mut start = after;
    for prefix in prefixes {
        if start.as_deref().is_some_and(|s| !s.starts_with(&prefix)) {
            continue;
        }
        loop {
            if deadline.remaining() < ports.config.step_reserve {
                return Ok(Some(start));
            }
            let (keys, more) = deadline
                .run(ports.documents.list(&prefix, start.as_deref()))
                .await?;
            if !keys.is_empty() {
                deadline.run(ports.documents.delete(&keys)).await?;
            }
            start = keys.last().cloned();
            if !more {
                start = None;
                break;
            }
        }
    }
    Ok(None)
}

impl From<AccessError> for KnowledgeError {
    fn from(e: AccessError) -> Self {
        Self::Access(e)
    }
}

/// What a permanent failure looks like on the dashboard.
pub(super) fn error_view(error: &KnowledgeError) -> ErrorView {
    let code = match error {
        KnowledgeError::Access(e) => e.code(),
        _ => Code::Internal,
    };
    let message = match code {
        Code::InvalidCredentials => "Shopify no longer accepts this store's credentials. Reconnect the store, then sync again.",
        Code::ShopUnavailable | Code::ShopNotFound => "Shopify says this store is frozen, locked or closed.",
        Code::ShopifyRateLimited => "Shopify kept rate-limiting the sync. It will try again at the next scheduled run.",
        Code::ShopifyUnavailable => "Shopify did not answer in time. The sync will try again at the next scheduled run.",
        Code::StorageUnavailable => "Our storage was unavailable. The sync will try again at the next scheduled run.",
        _ => "The sync failed. It will try again at the next scheduled run.",
    };
    ErrorView::of(code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_ends_soon_after_its_invocation() {
        let deadline = Deadline::after(Duration::from_secs(58));
        let end = lease_end(&deadline);
        let left = (end - Utc::now()).to_std().unwrap();
        assert!(left > Duration::from_secs(62) && left <= Duration::from_secs(63));
        assert!(STEP_RESERVE < Duration::from_secs(60));
    }
}
