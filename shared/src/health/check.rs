//! The scheduled health check: every connected store re-validated as `?verify=true` does, once
//! per interval, spread over the interval, without any invocation growing with the number of
//! stores.
//!
//! **Cycle.** The schedule starts a cycle (an item in the stores table) and handles its first
//! page. Each *tick* reads one page of the stores table, queues it as one *check* job, records
//! the page in the cycle (conditionally on the page it handled, so a duplicate delivery
//! changes nothing), and queues the next tick. Ticks are spaced so the pages of the previous
//! cycle's size end within 90% of the interval; pages beyond that follow at once. A cycle the
//! next schedule finds unfinished is superseded (its ticks stop).
//!
//! **Check jobs.** A job holds up to a page of stores. The worker re-reads each store, skips
//! it when it was verified within [`HealthConfig::fresh_for`] (by a merchant, a webhook or an
//! earlier delivery of the same job), and checks the rest a few at a time. Stores it has no
//! time left for go back to the queue as a new job, so an invocation never runs past its
//! deadline. A check costs one token exchange (client credentials), the validation query and
//! the protected-data probe (34 points requested) per store per interval, and is deferred when
//! this container saw the store's bucket below half. A client-credentials store's check also
//! reads its webhook subscriptions, re-creating one Shopify deleted and re-pointing one at a
//! stale address.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use crate::deadline::Deadline;
use crate::domain::{AuthType, OrganizationId, ShopDomain, StoreStatus};
use crate::events::{DetectedBy, EventPublisher, StatusChanged};
use crate::health::repo::{Cycle, HealthRepository};
use crate::health::webhook::{ensure_subscribed, Subscribed, WebhookEndpoint};
use crate::ids::new_id;
use crate::lifecycle::outbox::flush_logged;
use crate::lifecycle::{stored_credentials, verify_record, Storage, VerifyError};
use crate::queue::{Queue, QueueError};
use crate::shopify::ShopifyClient;
use crate::store::{StoreError, StoreRecord, StoreRepository};

/// Time a check job keeps for putting back the stores it had no time for (the queue client's
/// operation timeout is 5 s).
pub const REQUEUE_RESERVE: Duration = Duration::from_secs(6);

/// Settings of the health check.
#[derive(Clone, Copy, Debug)]
pub struct HealthConfig {
    /// How often every store is checked (`HEALTH_CHECK_INTERVAL_SECS`, the schedule's rate).
    pub interval: Duration,
    /// Stores per page and per check job.
    pub page_size: usize,
    /// Stores checked at once by one invocation.
    pub concurrency: usize,
    /// A store verified more recently than this is not checked again.
    pub fresh_for: Duration,
    /// The time one check may take; a job stops starting checks when less than this is left.
    pub check_budget: Duration,
    /// How long a secret must have gone unchanged before the sweep of secrets no record names
    /// looks at it ([`crate::health::reclaim`]).
    pub reclaim_after: Duration,
}

impl HealthConfig {
    /// The defaults for an interval: pages of 100, 8 at a time, fresh for half the interval.
    pub fn for_interval(interval: Duration) -> Self {
        Self {
            interval,
            page_size: 100,
            concurrency: 8,
            fresh_for: interval / 2,
            check_budget: Duration::from_secs(20),
            reclaim_after: crate::health::reclaim::RECLAIM_AFTER,
        }
    }
}

/// One store, by key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreKey {
    pub org_id: OrganizationId,
    pub shop_domain: ShopDomain,
}

/// A message on the health queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HealthJob {
    /// Queue page `page` of cycle `cycle_id` (its cursor is in the cycle).
    Tick { cycle_id: String, page: u64 },
    /// Check these stores; `force` checks even a store verified moments ago (a `shop/update`
    /// webhook says it changed).
    Check {
        stores: Vec<StoreKey>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        force: bool,
    },
    /// Put the store records the store index lacks into it, from `cursor` on
    /// ([`index_unlisted`]).
    Index { cursor: Option<String> },
    /// Sweep the page of secrets from `cursor` on, past its first `skip`
    /// ([`crate::health::reclaim::sweep`]).
    Reclaim {
        cursor: Option<String>,
        #[serde(default, skip_serializing_if = "is_zero")]
        skip: usize,
    },
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// What checking one store came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Checked; nothing changed.
    Unchanged,
    /// Checked; the store's status, scopes, format or warnings changed (and were announced).
    Changed,
    /// Shopify's answer said nothing about the store (down, throttled, out of time), or its
    /// bucket was low: checked again next cycle.
    Deferred,
    /// Storage failed; checked again next cycle.
    Failed,
}

/// Checks one store: the live check and recording its outcome.
#[async_trait]
pub trait Checker: Send + Sync {
    async fn check(&self, record: StoreRecord, deadline: Deadline) -> Outcome;

    /// Announces status changes left in a store's outbox (a crash after the write).
    async fn flush(&self, record: &StoreRecord, deadline: &Deadline);
}

/// The real [`Checker`]: [`verify_record`] against Shopify, recording through the lifecycle
/// protocol and announcing through the outbox; then, for a connected client-credentials
/// store, its webhook subscriptions made whole ([`ensure_subscribed`]: one read, and a create
/// or re-point only for a missing or stale one).
pub struct LiveChecker {
    pub storage: Storage,
    pub shopify: ShopifyClient,
    pub events: Option<Arc<dyn EventPublisher>>,
    /// Where webhooks are subscribed (none without it).
    pub webhooks: Option<WebhookEndpoint>,
}

impl LiveChecker {
    /// Re-creates a subscription Shopify deleted and re-points one at a stale address.
    /// Best effort: a failure is logged and the next check tries again.
    async fn keep_subscribed(&self, record: &StoreRecord, deadline: &Deadline) {
        let Some(endpoint) = &self.webhooks else {
            return;
        };
        // A store missing a scope keeps its subscriptions pointed at us too (its app is still
        // installed: its uninstall must still reach us). One whose credentials Shopify
        // refuses cannot manage them, and a frozen or locked shop refuses the calls until it
        // reads as connected again.
        if !matches!(
            record.status,
            StoreStatus::Connected | StoreStatus::MissingScopes
        ) || record.auth_type != AuthType::ClientCredentials
        {
            return;
        }
        let (org, shop) = (&record.org_id, &record.shop_domain);
        let name = self.storage.secret_name(org, shop);
        let credentials = match stored_credentials(
            self.storage.secrets.as_ref(),
            &name,
            record,
            deadline,
        )
        .await
        {
            Ok(Some(credentials)) => credentials,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(org_id = %org, shop = %shop, %error, "cannot read the credentials to check the webhook subscriptions");
                return;
            }
        };
        match ensure_subscribed(&self.shopify, deadline, endpoint, org, shop, &credentials).await {
            Ok(done) if done == Subscribed::default() => {}
            Ok(done) => {
                tracing::info!(org_id = %org, shop = %shop, created = done.created, repointed = done.repointed, "webhook subscriptions restored")
            }
            Err(error) => {
                tracing::warn!(org_id = %org, shop = %shop, %error, "could not check the webhook subscriptions; the next check tries again")
            }
        }
    }
}

#[async_trait]
impl Checker for LiveChecker {
    async fn check(&self, record: StoreRecord, deadline: Deadline) -> Outcome {
        if let Some(reading) = self.shopify.bucket(&record.shop_domain) {
            if reading.available_now() < reading.status.maximum_available / 2.0 {
                return Outcome::Deferred;
            }
        }
        let before = record.clone();
        match verify_record(
            &self.storage,
            &self.shopify,
            self.events.as_ref(),
            deadline,
            record,
            DetectedBy::HealthCheck,
        )
        .await
        {
            Ok(after) => {
                self.keep_subscribed(&after, &deadline).await;
                if StatusChanged::between(&before, &after, DetectedBy::HealthCheck).is_some() {
                    Outcome::Changed
                } else {
                    Outcome::Unchanged
                }
            }
            Err(VerifyError::Shopify(error)) => {
                tracing::info!(shop = %before.shop_domain, %error, "health check deferred");
                Outcome::Deferred
            }
            Err(VerifyError::Lifecycle(error)) => {
                tracing::warn!(shop = %before.shop_domain, %error, "health check could not record its finding");
                Outcome::Failed
            }
        }
    }

    async fn flush(&self, record: &StoreRecord, deadline: &Deadline) {
        flush_logged(
            &self.storage,
            self.events.as_ref(),
            deadline,
            &record.org_id,
            &record.shop_domain,
        )
        .await;
    }
}

/// Everything the health check runs on.
#[derive(Clone)]
pub struct HealthPorts {
    pub stores: Arc<dyn StoreRepository>,
    /// The stores table and the secrets, for the sweep of secrets no record names.
    pub storage: Storage,
    pub repo: Arc<dyn HealthRepository>,
    pub queue: Arc<dyn Queue<HealthJob>>,
    pub checker: Arc<dyn Checker>,
    pub config: HealthConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
}

impl From<crate::deadline::TimedOut> for HealthError {
    fn from(e: crate::deadline::TimedOut) -> Self {
        Self::Store(e.into())
    }
}

/// What a tick did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Stores queued for checking.
    pub queued: usize,
    /// The delay of the next tick, if there is a next page.
    pub next_in: Option<Duration>,
    /// The tick was a duplicate or belonged to a superseded cycle.
    pub stale: bool,
}

/// Time an [`index_unlisted`] pass keeps for queueing the rest (and for the record it is
/// writing when its time is up).
pub const INDEX_QUEUE_RESERVE: Duration = Duration::from_secs(5);

/// The share of the schedule's time [`start`] gives [`index_unlisted`]; the rest of the work
/// goes on as [`HealthJob::Index`] jobs, so the cycle always starts.
pub const INDEX_START_BUDGET: Duration = Duration::from_secs(20);

/// Puts the store records the scan's index lacks (written before it existed, or by an older
/// version) into it, a page of the table at a time from `cursor`; what there is no time for
/// becomes an [`HealthJob::Index`] of its own. Answers whether every record is in. Once done
/// the store repository remembers it for a day, so the schedule's call mostly costs one read.
pub async fn index_unlisted(
    ports: &HealthPorts,
    mut cursor: Option<String>,
    deadline: &Deadline,
) -> Result<bool, HealthError> {
    let work = deadline.minus(INDEX_QUEUE_RESERVE);
    loop {
        cursor = deadline
            .run(ports.stores.index_unlisted(cursor.as_deref(), &work))
            .await?;
        let Some(next) = &cursor else {
            return Ok(true);
        };
        if work.is_expired() {
            let job = HealthJob::Index {
                cursor: Some(next.clone()),
            };
            deadline.run(ports.queue.send(&job, Duration::ZERO)).await?;
            return Ok(false);
        }
    }
}

/// The schedule: starts a new cycle (superseding an unfinished one) and handles its first page.
/// First it makes sure the store index holds every store ([`index_unlisted`]); a failure there
/// is logged and the cycle goes on over the stores the index has.
pub async fn start(
    ports: &HealthPorts,
    now: DateTime<Utc>,
    deadline: &Deadline,
) -> Result<TickReport, HealthError> {
    let slice = deadline.within(INDEX_START_BUDGET);
    if let Err(error) = index_unlisted(ports, None, &slice).await {
        tracing::warn!(%error, "could not put unlisted store records in the store index; the next schedule tries again");
    }
    let sweep = HealthJob::Reclaim {
        cursor: None,
        skip: 0,
    };
    if let Err(error) = slice.run(ports.queue.send(&sweep, Duration::ZERO)).await {
        tracing::warn!(%error, "could not queue the sweep of secrets no store record names; the next schedule tries again");
    }
    // A tick may record a page of the previous cycle at the same moment: read again.
    for _ in 0..5 {
        let previous = deadline.run(ports.repo.cycle()).await?;
        let unfinished = previous.as_ref().filter(|p| p.finished_at.is_none());
        if let Some(p) = unfinished {
            tracing::warn!(cycle_id = %p.cycle_id, pages = p.pages, "the previous health check cycle had not finished; the new one goes on from where it stopped");
        }
        let cycle = Cycle {
            cycle_id: new_id(),
            started_at: now,
            finished_at: None,
            pages: 0,
            stores: 0,
            // An unfinished cycle's remaining stores come first, so a table that outgrows the
            // interval is still checked round-robin instead of always from the start.
            next_cursor: unfinished.and_then(|p| p.next_cursor.clone()),
            expected_pages: previous
                .as_ref()
                .map(|p| {
                    if p.finished_at.is_some() {
                        p.pages
                    } else {
                        p.pages.max(p.expected_pages)
                    }
                })
                .unwrap_or(0),
            write_id: Some(new_id()),
        };
        match deadline
            .run(ports.repo.put_cycle(&cycle, previous.as_ref()))
            .await
        {
            Ok(()) => {
                tracing::info!(cycle_id = %cycle.cycle_id, expected_pages = cycle.expected_pages, resumed = cycle.next_cursor.is_some(), "health check cycle started");
                return tick(ports, &cycle.cycle_id, 0, 1, now, deadline).await;
            }
            Err(StoreError::Conflict) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(StoreError::Conflict.into())
}

/// How long to wait before page `next` of `cycle`: the expected pages spread over 90% of the
/// interval from the cycle's start; pages beyond the expected ones follow at once.
pub fn spacing(cycle: &Cycle, next: u64, interval: Duration, now: DateTime<Utc>) -> Duration {
    if cycle.expected_pages == 0 || next >= cycle.expected_pages {
        return Duration::ZERO;
    }
    let span = interval.mul_f64(0.9);
    let due = cycle.started_at
        + chrono::Duration::from_std(span.mul_f64(next as f64 / cycle.expected_pages as f64))
            .unwrap_or_default();
    (due - now)
        .to_std()
        .unwrap_or_default()
        .min(Duration::from_secs(900))
}

/// One page of a cycle: queue its stores, record it, queue the next tick. `receives` is the
/// message's receive count: a redelivered tick whose page was recorded queues the next tick
/// again (the first delivery may have stopped before doing so).
pub async fn tick(
    ports: &HealthPorts,
    cycle_id: &str,
    page: u64,
    receives: u32,
    now: DateTime<Utc>,
    deadline: &Deadline,
) -> Result<TickReport, HealthError> {
    let Some(cycle) = deadline.run(ports.repo.cycle()).await? else {
        return Ok(TickReport {
            stale: true,
            ..TickReport::default()
        });
    };
    if cycle.cycle_id != cycle_id {
        return Ok(TickReport {
            stale: true,
            ..TickReport::default()
        });
    }
    if cycle.pages == page + 1 && receives > 1 && cycle.finished_at.is_none() {
        // Recorded by an earlier delivery that stopped before queueing the next tick.
        let next_in = spacing(&cycle, page + 1, ports.config.interval, now);
        let next = HealthJob::Tick {
            cycle_id: cycle_id.to_owned(),
            page: page + 1,
        };
        deadline.run(ports.queue.send(&next, next_in)).await?;
        return Ok(TickReport {
            queued: 0,
            next_in: Some(next_in),
            stale: true,
        });
    }
    if cycle.pages != page || cycle.finished_at.is_some() {
        return Ok(TickReport {
            stale: true,
            ..TickReport::default()
        });
    }
    let (records, next_cursor) = deadline
        .run(
            ports
                .stores
                .scan(cycle.next_cursor.as_deref(), ports.config.page_size),
        )
        .await?;
    let keys: Vec<StoreKey> = records
        .iter()
        .map(|r| StoreKey {
            org_id: r.org_id.clone(),
            shop_domain: r.shop_domain.clone(),
        })
        .collect();
    if !keys.is_empty() {
        deadline
            .run(ports.queue.send(
                &HealthJob::Check {
                    stores: keys.clone(),
                    force: false,
                },
                Duration::ZERO,
            ))
            .await?;
    }
    let mut recorded = cycle.clone();
    recorded.write_id = Some(new_id());
    recorded.pages = page + 1;
    recorded.stores += keys.len() as u64;
    recorded.next_cursor = next_cursor.clone();
    if next_cursor.is_none() {
        recorded.finished_at = Some(now);
    }
    match deadline
        .run(ports.repo.put_cycle(&recorded, Some(&cycle)))
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            // Our write may have landed with its answer lost (the retry then failed its
            // condition): then this delivery goes on to queue the next tick. Otherwise a
            // duplicate delivery of this tick recorded the page first, and queues it.
            let landed = deadline.run(ports.repo.cycle()).await?;
            if landed.and_then(|c| c.write_id) != recorded.write_id {
                return Ok(TickReport {
                    stale: true,
                    ..TickReport::default()
                });
            }
        }
        Err(error) => return Err(error.into()),
    }
    let next_in = match next_cursor {
        Some(_) => {
            let next_in = spacing(&recorded, page + 1, ports.config.interval, now);
            let next = HealthJob::Tick {
                cycle_id: cycle_id.to_owned(),
                page: page + 1,
            };
            deadline.run(ports.queue.send(&next, next_in)).await?;
            Some(next_in)
        }
        None => {
            tracing::info!(
                cycle_id,
                pages = recorded.pages,
                stores = recorded.stores,
                "health check cycle queued every store"
            );
            None
        }
    };
    Ok(TickReport {
        queued: keys.len(),
        next_in,
        stale: false,
    })
}

/// What a check job did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub checked: usize,
    pub changed: usize,
    /// Verified recently, or no longer connected.
    pub skipped: usize,
    pub deferred: usize,
    pub failed: usize,
    /// Stores put back on the queue for lack of time.
    pub requeued: usize,
}

/// Checks the stores of one job, a few at a time, within `deadline`; what there is no time for
/// goes back to the queue.
pub async fn check(
    ports: &HealthPorts,
    stores: Vec<StoreKey>,
    force: bool,
    now: DateTime<Utc>,
    deadline: &Deadline,
) -> Result<CheckReport, HealthError> {
    let config = ports.config;
    let fresh_for = chrono::Duration::from_std(config.fresh_for).unwrap_or_default();
    let outcomes: Vec<Option<Option<Outcome>>> = stream::iter(stores.clone())
        .map(|key: StoreKey| {
            async move {
                if deadline.remaining() < config.check_budget + REQUEUE_RESERVE {
                    return None;
                }
                let record = match deadline
                    .run(ports.stores.get(&key.org_id, &key.shop_domain))
                    .await
                {
                    Ok(Some(record)) => record,
                    Ok(None) => return Some(None),
                    Err(error) => {
                        tracing::warn!(shop = %key.shop_domain, %error, "cannot read the store to check it");
                        return Some(Some(Outcome::Failed));
                    }
                };
                let budget = deadline.minus(REQUEUE_RESERVE).within(config.check_budget);
                // Changes left in the outbox are announced whatever the check comes to (a
                // deferred check, say).
                if !record.outbox.is_empty() {
                    ports.checker.flush(&record, &budget).await;
                }
                if !force && record.last_verified_at > now - fresh_for {
                    return Some(None);
                }
                Some(Some(ports.checker.check(record, budget).await))
            }
        })
        .buffered(config.concurrency.max(1))
        .collect()
        .await;
    let mut report = CheckReport::default();
    let mut rest = Vec::new();
    for (key, outcome) in stores.into_iter().zip(outcomes) {
        match outcome {
            None => rest.push(key),
            Some(None) => report.skipped += 1,
            Some(Some(outcome)) => {
                report.checked += 1;
                match outcome {
                    Outcome::Unchanged => {}
                    Outcome::Changed => report.changed += 1,
                    Outcome::Deferred => report.deferred += 1,
                    Outcome::Failed => report.failed += 1,
                }
            }
        }
    }
    if !rest.is_empty() {
        report.requeued = rest.len();
        let rest = HealthJob::Check {
            stores: rest,
            force,
        };
        deadline
            .run(ports.queue.send(&rest, Duration::ZERO))
            .await?;
    }
    Ok(report)
}
