//! Asking for knowledge work: a run of some sources of a store (merged into the store's queued
//! request, or sent again when its message was lost), and what connecting, disconnecting,
//! changing the sources and `POST /shopify/knowledge/sync` ask for (the first two as steps of
//! the lifecycle's [`Connector`](crate::lifecycle::connect::Connector) and
//! [`Disconnector`](crate::lifecycle::disconnect::Disconnector)).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;

use super::ports::{Job, KnowledgeRepository};
use super::state::{Phase, Request, RunKind, SyncState};
use super::KnowledgeError;
use crate::deadline::Deadline;
use crate::domain::{Credentials, KnowledgeSources, OrganizationId, ShopDomain, Source};
use crate::ids::new_id;
use crate::lifecycle::connect::{AfterConnect, Connected};
use crate::lifecycle::disconnect::AfterDisconnect;
use crate::queue::Queue;
use crate::store::{StoreError, StoreRecord, StoreRepository};

/// A store marked queued this long ago without its run starting gets its job sent again (the
/// send may have failed after the mark).
pub const STALE_QUEUED: Duration = Duration::from_secs(15 * 60);

/// A running store whose progress was not saved for this long has lost its message (no pause
/// comes near it: bulk polls wait at most a minute).
pub const STALLED: Duration = Duration::from_secs(15 * 60);

/// Asks for a run of `sources` of one store, `true` when a run was queued. A store already
/// queued or running gets no second run: its queued request takes in the new sources (and a
/// full run), and with `follow_up` a running store runs again for them afterwards.
#[allow(clippy::too_many_arguments)]
pub async fn request_run(
    repo: &dyn KnowledgeRepository,
    queue: &dyn Queue<Job>,
    deadline: &Deadline,
    org: &OrganizationId,
    shop: &ShopDomain,
    kind: RunKind,
    sources: &[Source],
    follow_up: bool,
) -> Result<bool, KnowledgeError> {
    for _ in 0..16 {
        let stored = deadline.run(repo.state(org, shop)).await?;
        let expect = stored.as_ref().map(|s| s.version);
        let mut state = stored.unwrap_or_else(|| SyncState::new(org, shop));
        let now = Utc::now();
        let merged = |request: &Option<Request>| -> Request {
            let mut merged = request.clone().unwrap_or(Request {
                run_id: new_id(),
                kind,
                sources: Vec::new(),
                queued_at: now,
            });
            if kind == RunKind::Full {
                merged.kind = RunKind::Full;
            }
            for source in sources {
                if !merged.sources.contains(source) {
                    merged.sources.push(*source);
                }
            }
            merged.sources.sort();
            merged
        };
        let mut send = None;
        let queued;
        match state.phase {
            Phase::Queued => {
                let request = merged(&state.requested);
                let stale = state.requested.as_ref().is_some_and(|r| {
                    now - r.queued_at > chrono::Duration::from_std(STALE_QUEUED).expect("small")
                });
                if stale {
                    send = Some(request.run_id.clone());
                }
                if Some(&request) == state.requested.as_ref() && !stale {
                    return Ok(false);
                }
                state.requested = Some(request);
                queued = false;
            }
            Phase::Running => {
                // A run silent far longer than any pause lost its message (a send that
                // failed, a dead-lettered delivery): it is sent again.
                let stalled = state.run.as_ref().and_then(|run| {
                    let quiet = run.touched_at.is_none_or(|at| {
                        now - at > chrono::Duration::from_std(STALLED).expect("small")
                    });
                    (quiet && !state.leased_by_other("", now)).then(|| run.ticket.clone())
                });
                if let Some(ticket) = stalled {
                    tracing::warn!(shop = %shop, "a running knowledge sync went silent; its message is sent again");
                    send = Some(ticket);
                    if let Some(run) = state.run.as_mut() {
                        run.touched_at = Some(now);
                    }
                } else if !follow_up {
                    return Ok(false);
                }
                if follow_up {
                    state.requested = Some(merged(&state.requested));
                }
                queued = false;
            }
            Phase::Idle | Phase::Failed => {
                let request = merged(&None);
                send = Some(request.run_id.clone());
                state.requested = Some(request);
                state.phase = Phase::Queued;
                queued = true;
            }
        }
        state.version = expect.unwrap_or(0) + 1;
        match deadline.run(repo.put_state(&state, expect)).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => continue,
            Err(error) => return Err(error.into()),
        }
        if let Some(ticket) = send {
            let job = Job::Run {
                org_id: org.clone(),
                shop_domain: shop.clone(),
                ticket,
            };
            deadline.run(queue.send(&job, Duration::ZERO)).await?;
        }
        return Ok(queued);
    }
    Err(KnowledgeError::Store(StoreError::Conflict))
}

/// What the dashboard and other functions need to ask for runs and removals.
#[derive(Clone)]
pub struct KnowledgePorts {
    pub repo: Arc<dyn KnowledgeRepository>,
    pub queue: Arc<dyn Queue<Job>>,
}

impl KnowledgePorts {
    /// A new connection: its first (full) run of the enabled sources.
    pub async fn connected(
        &self,
        stores: &dyn StoreRepository,
        deadline: &Deadline,
        org: &OrganizationId,
        shop: &ShopDomain,
    ) -> Result<(), KnowledgeError> {
        let settings = deadline.run(stores.get_settings(org)).await?;
        let sources = settings.knowledge.list();
        if sources.is_empty() {
            return Ok(());
        }
        request_run(
            self.repo.as_ref(),
            self.queue.as_ref(),
            deadline,
            org,
            shop,
            RunKind::Full,
            &sources,
            true,
        )
        .await
        .map(|_| ())
    }

    /// A disconnect: its documents and sync state go.
    pub async fn disconnected(
        &self,
        deadline: &Deadline,
        org: &OrganizationId,
        shop: &ShopDomain,
    ) -> Result<(), KnowledgeError> {
        let job = Job::remove(org, shop, None);
        Ok(deadline.run(self.queue.send(&job, Duration::ZERO)).await?)
    }

    /// Sources turned on get a full run on every store; sources turned off lose their
    /// documents.
    pub async fn sources_changed(
        &self,
        stores: &dyn StoreRepository,
        deadline: &Deadline,
        org: &OrganizationId,
        before: &KnowledgeSources,
        after: &KnowledgeSources,
    ) -> Result<(), KnowledgeError> {
        let on: Vec<Source> = Source::ALL
            .into_iter()
            .filter(|s| after.enabled(*s) && !before.enabled(*s))
            .collect();
        let off: Vec<Source> = Source::ALL
            .into_iter()
            .filter(|s| before.enabled(*s) && !after.enabled(*s))
            .collect();
        if on.is_empty() && off.is_empty() {
            return Ok(());
        }
        for store in deadline.run(stores.list(org)).await? {
            if !on.is_empty() {
                request_run(
                    self.repo.as_ref(),
                    self.queue.as_ref(),
                    deadline,
                    org,
                    &store.shop_domain,
                    RunKind::Full,
                    &on,
                    true,
                )
                .await?;
            }
            if !off.is_empty() {
                let job = Job::remove(org, &store.shop_domain, Some(off.clone()));
                deadline.run(self.queue.send(&job, Duration::ZERO)).await?;
            }
        }
        Ok(())
    }

    /// `POST /shopify/knowledge/sync`: queues a run (incremental, or full) of the enabled
    /// sources for `shop`, or every store of `org` without it; answers every store that is
    /// queued or running now (`None`: `shop` is not a store of `org`).
    pub async fn request_sync(
        &self,
        stores: &dyn StoreRepository,
        deadline: &Deadline,
        org: &OrganizationId,
        shop: Option<&ShopDomain>,
        full: bool,
    ) -> Result<Option<Vec<ShopDomain>>, KnowledgeError> {
        let records = deadline.run(stores.list(org)).await?;
        let targets: Vec<StoreRecord> = match shop {
            None => records,
            Some(shop) => match records.into_iter().find(|r| &r.shop_domain == shop) {
                Some(record) => vec![record],
                None => return Ok(None),
            },
        };
        let settings = deadline.run(stores.get_settings(org)).await?;
        let sources = settings.knowledge.list();
        let kind = if full {
            RunKind::Full
        } else {
            RunKind::Incremental
        };
        let mut queued = Vec::new();
        if sources.is_empty() {
            return Ok(Some(queued));
        }
        for store in targets {
            request_run(
                self.repo.as_ref(),
                self.queue.as_ref(),
                deadline,
                org,
                &store.shop_domain,
                kind,
                &sources,
                false,
            )
            .await?;
            queued.push(store.shop_domain);
        }
        Ok(Some(queued))
    }
}

/// A new connection's first knowledge sync, through knowledge sync's ports; the scheduled run
/// picks the store up if this fails.
pub struct FirstSync {
    pub stores: Arc<dyn StoreRepository>,
    pub knowledge: KnowledgePorts,
}

#[async_trait]
impl AfterConnect for FirstSync {
    async fn connected(&self, deadline: &Deadline, connected: &Connected, _: &Credentials) {
        let Connected::New(record) = connected else {
            return;
        };
        let (org, shop) = (&record.org_id, &record.shop_domain);
        if let Err(error) = self
            .knowledge
            .connected(self.stores.as_ref(), deadline, org, shop)
            .await
        {
            tracing::warn!(shop = %shop, %error, "could not queue the first knowledge sync");
        }
    }
}

/// A disconnected store's knowledge documents and sync state go, through knowledge sync's
/// ports; the scheduled run removes them if this fails.
pub struct RemoveKnowledge {
    pub knowledge: KnowledgePorts,
}

#[async_trait]
impl AfterDisconnect for RemoveKnowledge {
    async fn disconnected(&self, deadline: &Deadline, org: &OrganizationId, shop: &ShopDomain) {
        if let Err(error) = self.knowledge.disconnected(deadline, org, shop).await {
            tracing::warn!(shop = %shop, %error, "could not queue the removal of its knowledge");
        }
    }
}
