//! What the dashboard reads: `GET /shopify/knowledge` (each store's sources, last run and the
//! run under way), `GET /shopify/knowledge/documents` (what the AI has learned, a page at a
//! time), and how failures are worded there.

use std::collections::BTreeMap;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::document::Visibility;
use super::requests::KnowledgePorts;
use super::state::{ErrorView, IndexEntry, LastRun, Phase, RunKind, Step, SyncState};
use super::KnowledgeError;
use crate::deadline::Deadline;
use crate::domain::{KnowledgeSources, OrganizationId, ShopDomain, Source};
use crate::failure::Code;
use crate::store::{StoreRecord, StoreRepository};

impl KnowledgePorts {
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
    pub sources: BTreeMap<Source, SourceView>,
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
    /// Items the last sync could not render (they have no document); left out when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<u64>,
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
                skipped: (status.skipped > 0).then_some(status.skipped),
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
                .find(|p| p.step != Step::Done)
                .map(|p| p.source),
            sources_done: run.progress.iter().filter(|p| p.step == Step::Done).count(),
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
    pub visibility: Visibility,
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

/// What the dashboard says of a source every delivery of a run died in.
pub(super) const STOPPED_EVERY_TIME: &str = "The sync stopped in this source on every try (something in its content takes too long or too much memory to read). The other sources synced; this one will be tried again at the next scheduled run.";

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
