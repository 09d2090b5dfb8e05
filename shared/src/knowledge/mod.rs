//! Knowledge sync: each connected store's pages, articles, products and policies kept in S3 as
//! Markdown documents for an Amazon Bedrock Knowledge Base, incrementally.
//!
//! - [`document`]: how an item becomes a document (Markdown + `.metadata.json`), and the keys;
//! - [`state`]: per store sync state, and the document index;
//! - [`ports`] with [`aws`] and [`memory`] adapters;
//! - [`sync`]: the `knowledge-sync` worker;
//! - this module: asking for runs, and what the dashboard routes and the other functions
//!   (settings, connect, disconnect) call.

pub mod aws;
pub mod document;
pub mod memory;
pub mod ports;
pub mod state;
pub mod sync;

use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use self::document::store_prefix;
use self::ports::{BlobError, EventError, Job, JobQueue, KnowledgeRepository, QueueError};
use self::state::{ErrorView, IndexEntry, LastRun, Phase, Request, RunKind, SyncState};
use crate::access::AccessError;
use crate::deadline::Deadline;
use crate::domain::{KnowledgeSources, OrganizationId, ShopDomain, Source};
use crate::failure::Code;
use crate::lifecycle::new_id;
use crate::shopify::ShopifyError;
use crate::store::{StoreError, StoreRecord, StoreRepository};

/// An incremental run reads changes since the last successful sync less this, so a change
/// saved while that sync ran is not missed.
pub const OVERLAP: Duration = Duration::from_secs(10 * 60);

/// A store marked queued this long ago without its run starting gets its job sent again (the
/// send may have failed after the mark).
pub const STALE_QUEUED: Duration = Duration::from_secs(15 * 60);

/// A running store whose progress was not saved for this long has lost its message (no pause
/// comes near it: bulk polls wait at most a minute).
pub const STALLED: Duration = Duration::from_secs(15 * 60);

/// Why knowledge work failed.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Access(AccessError),
    /// Another invocation took the store's run over.
    #[error("the store's sync lease was lost")]
    LeaseLost,
    /// Another invocation holds the store's lease; the message is to come back later.
    #[error("the store's sync is under way in another invocation")]
    Busy,
    /// Wait this long (the bucket is low, a bulk operation runs), then continue.
    #[error("paused")]
    Pause(Duration),
    /// Shopify answered something that cannot be right (a bulk line that is not JSON...).
    #[error("Shopify sent malformed content: {0}")]
    Malformed(&'static str),
}

impl From<ShopifyError> for KnowledgeError {
    fn from(e: ShopifyError) -> Self {
        Self::Access(AccessError::Shopify(e))
    }
}

impl KnowledgeError {
    /// A failure that a retry of the same message cannot fix.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Access(e) => matches!(
                e.code(),
                Code::InvalidCredentials
                    | Code::ShopUnavailable
                    | Code::ShopNotFound
                    | Code::Internal
            ),
            Self::Malformed(_) => true,
            _ => false,
        }
    }

    /// How the dashboard shows it.
    pub fn view(&self) -> ErrorView {
        sync::error_view(self)
    }

    pub fn code(&self) -> Code {
        match self {
            Self::Access(e) => e.code(),
            Self::Store(StoreError::Corrupt(_)) | Self::Malformed(_) => Code::Internal,
            _ => Code::StorageUnavailable,
        }
    }
}

/// Asks for a run of `sources` of one store, `true` when a run was queued. A store already
/// queued or running gets no second run: its queued request takes in the new sources (and a
/// full run), and with `follow_up` a running store runs again for them afterwards.
#[allow(clippy::too_many_arguments)]
pub async fn request_run(
    repo: &dyn KnowledgeRepository,
    queue: &dyn JobQueue,
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
    pub repo: std::sync::Arc<dyn KnowledgeRepository>,
    pub queue: std::sync::Arc<dyn JobQueue>,
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
        let job = Job::Remove {
            org_id: org.clone(),
            shop_domain: shop.clone(),
            sources: None,
            after: None,
            removed: 0,
        };
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
                let job = Job::Remove {
                    org_id: org.clone(),
                    shop_domain: store.shop_domain.clone(),
                    sources: Some(off.clone()),
                    after: None,
                    removed: 0,
                };
                deadline.run(self.queue.send(&job, Duration::ZERO)).await?;
            }
        }
        Ok(())
    }

    /// `POST /shopify/knowledge/sync`: queues a run (incremental, or full) of the enabled
    /// sources for one store or all; answers every store that is queued or running now.
    pub async fn sync(
        &self,
        stores: &dyn StoreRepository,
        deadline: &Deadline,
        org: &OrganizationId,
        targets: &[StoreRecord],
        full: bool,
    ) -> Result<Vec<ShopDomain>, KnowledgeError> {
        let settings = deadline.run(stores.get_settings(org)).await?;
        let sources = settings.knowledge.list();
        let kind = if full {
            RunKind::Full
        } else {
            RunKind::Incremental
        };
        let mut queued = Vec::new();
        if sources.is_empty() {
            return Ok(queued);
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
            queued.push(store.shop_domain.clone());
        }
        Ok(queued)
    }

    /// `GET /shopify/knowledge`.
    pub async fn status(
        &self,
        stores: &dyn StoreRepository,
        deadline: &Deadline,
        org: &OrganizationId,
    ) -> Result<KnowledgeStatus, KnowledgeError> {
        let (records, settings) = deadline.run(stores.load_org(org)).await?;
        let states = deadline.run(self.repo.states(org)).await?;
        let knowledge = settings.knowledge;
        let stores = records
            .iter()
            .map(|record| {
                let state = states.iter().find(|s| s.shop_domain == record.shop_domain);
                store_status(record, state, &knowledge)
            })
            .collect();
        Ok(KnowledgeStatus {
            sources: knowledge,
            stores,
        })
    }

    /// `GET /shopify/knowledge/documents`: what the AI has learned, a page at a time, store by
    /// store (oldest connection first), source by source, by id.
    /// `None` when the asked-for store is not connected to `org`.
    pub async fn documents(
        &self,
        stores: &dyn StoreRepository,
        deadline: &Deadline,
        org: &OrganizationId,
        query: &DocumentQuery,
    ) -> Result<Option<DocumentPage>, KnowledgeError> {
        let DocumentQuery {
            shop,
            source,
            limit,
            cursor,
        } = query;
        let (shop, source, limit, cursor) = (shop.as_ref(), *source, *limit, cursor.as_ref());
        let records = deadline.run(stores.list(org)).await?;
        let shops: Vec<&ShopDomain> = match shop {
            Some(shop) => match records.iter().find(|r| &r.shop_domain == shop) {
                Some(record) => vec![&record.shop_domain],
                None => return Ok(None),
            },
            None => records.iter().map(|r| &r.shop_domain).collect(),
        };
        let sources: Vec<Source> = source.map_or_else(|| Source::ALL.to_vec(), |s| vec![s]);
        let mut documents = Vec::new();
        let mut next = None;
        let mut started = cursor.is_none();
        'shops: for shop in shops {
            for source in &sources {
                let mut after = None;
                if !started {
                    let c = cursor.expect("a cursor until started");
                    if &c.shop != shop || c.source != *source {
                        continue;
                    }
                    started = true;
                    after = Some(c.after);
                }
                loop {
                    let want = limit - documents.len() + 1;
                    let entries = deadline
                        .run(
                            self.repo
                                .entries(org, shop, *source, after, None, want.min(500)),
                        )
                        .await?;
                    let got = entries.len();
                    for entry in entries {
                        if documents.len() == limit {
                            next = Some(DocumentCursor {
                                shop: shop.clone(),
                                source: *source,
                                after: after.unwrap_or(0),
                            });
                            break 'shops;
                        }
                        after = Some(entry.id);
                        documents.push(DocumentView::from(entry));
                    }
                    if got < want.min(500) {
                        break;
                    }
                }
            }
        }
        Ok(Some(DocumentPage {
            documents,
            next_cursor: next.map(|c| c.encode()),
        }))
    }
}

/// What `GET /shopify/knowledge/documents` asks for.
#[derive(Clone, Debug, Default)]
pub struct DocumentQuery {
    /// One store's documents only.
    pub shop: Option<ShopDomain>,
    /// One source's documents only.
    pub source: Option<Source>,
    /// At most this many (1-100).
    pub limit: usize,
    /// Where the previous page ended.
    pub cursor: Option<DocumentCursor>,
}

/// `GET /shopify/knowledge`.
#[derive(Clone, Debug, Serialize)]
pub struct KnowledgeStatus {
    pub sources: KnowledgeSources,
    pub stores: Vec<StoreKnowledge>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StoreKnowledge {
    pub shop_domain: ShopDomain,
    pub state: Phase,
    pub last_run: Option<LastRun>,
    pub sources: std::collections::BTreeMap<Source, SourceView>,
    /// The run under way, while the store is `running`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<RunProgress>,
}

/// How far the run under way has come (`progress` of a running store).
#[derive(Clone, Debug, Serialize)]
pub struct RunProgress {
    pub kind: RunKind,
    pub started_at: chrono::DateTime<Utc>,
    /// The source being read now.
    pub source: Option<Source>,
    /// Sources done, of the run's sources.
    pub sources_done: usize,
    pub sources_total: usize,
    /// Documents written new, rewritten, and removed so far.
    pub added: u64,
    pub updated: u64,
    pub removed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceState {
    Synced,
    Pending,
    Disabled,
    MissingScope,
    Failed,
}

#[derive(Clone, Debug, Serialize)]
pub struct SourceView {
    pub status: SourceState,
    pub documents: u64,
    pub synced_at: Option<chrono::DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorView>,
}

fn store_status(
    record: &StoreRecord,
    state: Option<&SyncState>,
    enabled: &KnowledgeSources,
) -> StoreKnowledge {
    let sources = Source::ALL
        .into_iter()
        .map(|source| {
            let status = state
                .and_then(|s| s.sources.get(&source))
                .cloned()
                .unwrap_or_default();
            let granted = source.granted_by(&record.granted_scopes);
            let state_of = if !enabled.enabled(source) {
                SourceState::Disabled
            } else if !granted || status.missing.is_some() {
                SourceState::MissingScope
            } else if status.error.is_some() {
                SourceState::Failed
            } else if status.synced_at.is_some() {
                SourceState::Synced
            } else {
                SourceState::Pending
            };
            let view = SourceView {
                status: state_of,
                documents: status.documents,
                synced_at: status.synced_at,
                missing: (state_of == SourceState::MissingScope)
                    .then(|| source.scopes().iter().map(|s| (*s).to_owned()).collect()),
                error: status.error,
            };
            (source, view)
        })
        .collect();
    let progress = state
        .filter(|s| s.phase == Phase::Running)
        .and_then(|s| s.run.as_ref())
        .map(|run| RunProgress {
            kind: run.kind,
            started_at: run.started_at,
            source: run
                .progress
                .iter()
                .find(|p| p.step != state::Step::Done)
                .map(|p| p.source),
            sources_done: run
                .progress
                .iter()
                .filter(|p| p.step == state::Step::Done)
                .count(),
            sources_total: run.progress.len(),
            added: run.added,
            updated: run.updated,
            removed: run.removed,
        });
    StoreKnowledge {
        shop_domain: record.shop_domain.clone(),
        state: state.map_or(Phase::Idle, |s| s.phase),
        last_run: state.and_then(|s| s.last_run.clone()),
        sources,
        progress,
    }
}

/// One document as `GET /shopify/knowledge/documents` lists it.
#[derive(Clone, Debug, Serialize)]
pub struct DocumentView {
    pub shop_domain: ShopDomain,
    pub source: Source,
    pub shopify_id: String,
    pub title: String,
    pub url: String,
    pub visibility: document::Visibility,
    pub updated_at: String,
    pub key: String,
}

impl From<IndexEntry> for DocumentView {
    fn from(entry: IndexEntry) -> Self {
        Self {
            shop_domain: entry.shop_domain,
            source: entry.source,
            shopify_id: entry.shopify_id,
            title: entry.title,
            url: entry.url,
            visibility: entry.visibility,
            updated_at: entry.updated_at,
            key: entry.key,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct DocumentPage {
    pub documents: Vec<DocumentView>,
    pub next_cursor: Option<String>,
}

/// Where a document listing continues: after `after` in `shop`'s `source`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentCursor {
    pub shop: ShopDomain,
    pub source: Source,
    pub after: u64,
}

impl DocumentCursor {
    /// An opaque token (URL-safe).
    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.shop.handle(), self.source, self.after)
    }

    pub fn decode(raw: &str) -> Option<Self> {
        let mut parts = raw.splitn(3, '.');
        let shop = ShopDomain::parse_exact(&format!("{}.myshopify.com", parts.next()?)).ok()?;
        let source = Source::parse(parts.next()?)?;
        let after = parts.next()?.parse().ok()?;
        Some(Self {
            shop,
            source,
            after,
        })
    }
}

/// `s3://{bucket}/{org}/{shop}/`.
pub fn store_uri(bucket: &str, org: &OrganizationId, shop: &ShopDomain) -> String {
    format!("s3://{bucket}/{}", store_prefix(org, shop))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_cursors_round_trip_and_refuse_junk() {
        let cursor = DocumentCursor {
            shop: ShopDomain::parse("demo-us").unwrap(),
            source: Source::Products,
            after: 42,
        };
        assert_eq!(DocumentCursor::decode(&cursor.encode()), Some(cursor));
        for junk in [
            "",
            "x",
            "demo.pages",
            "demo.blogs.1",
            "a/b.pages.1",
            "demo.pages.-1",
        ] {
            assert_eq!(DocumentCursor::decode(junk), None, "{junk}");
        }
    }
}
