//! What knowledge sync keeps per store: whether a run is queued or running (and its saved
//! progress, so a run continues across invocations), the lease that keeps runs one at a time,
//! the last run's outcome, and per source how many documents the AI has; and the document
//! index — one entry per stored document, with the fingerprint that decides whether it must be
//! written again.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::document::{Document, Visibility};
use crate::domain::{OrganizationId, ShopDomain, Source};
use crate::events::SyncedEvent;
use crate::failure::Code;

/// Where a store's knowledge sync stands (`state` in `GET /shopify/knowledge`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    #[default]
    Idle,
    Queued,
    Running,
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Full,
    Incremental,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
}

/// A failure as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorView {
    pub code: String,
    pub message: String,
}

impl ErrorView {
    pub fn of(code: Code, message: impl Into<String>) -> Self {
        Self {
            code: code.as_str().to_owned(),
            message: message.into(),
        }
    }
}

/// A run asked for but not started yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub run_id: String,
    pub kind: RunKind,
    pub sources: Vec<Source>,
    pub queued_at: DateTime<Utc>,
}

/// Where a source stands within a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Reading items: everything in id order (full), or what changed (incremental).
    List,
    /// Incremental only: listing ids to find what was deleted.
    Sweep,
    /// The store no longer grants the source's scope, or the source was turned off: its
    /// documents are removed.
    Purge,
    Done,
}

/// How a source ended in a run other than synced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceEnd {
    /// The source failed on its own; the run went on with the others.
    Failed { error: ErrorView },
    /// Shopify denied the source's scope (or the store no longer records it): its documents
    /// were removed.
    Withdrawn { missing: Vec<String> },
    /// The source was turned off during the run: its documents were removed under the run's
    /// lease.
    TurnedOff,
}

/// A bulk operation a full products run waits for or reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkProgress {
    pub id: String,
    pub started_at: DateTime<Utc>,
    /// Bytes of the result already processed (whole products only).
    pub offset: u64,
    /// Polls so far, to space them out.
    pub polls: u32,
    /// Set while the batch at `offset` is merged in parts (many index entries to remove in its
    /// range): the batch is read again, and its products, whose ids may now be below
    /// `merged_through`, must follow this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_in_parts: Option<BatchInParts>,
}

/// See [`BulkProgress::batch_in_parts`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchInParts {
    /// The highest product id read before the batch (`None` before the first).
    pub after: Option<u64>,
}

/// One source's saved progress in a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub source: Source,
    pub kind: RunKind,
    pub step: Step,
    /// Shopify's page cursor of the next page to read.
    pub cursor: Option<String>,
    /// The highest numeric id merged with the document index so far (full listing and sweep).
    pub merged_through: Option<u64>,
    /// Incremental: changes after this time are read.
    pub since: Option<DateTime<Utc>>,
    pub bulk: Option<BulkProgress>,
    /// A bulk operation was refused or failed: read pages instead.
    #[serde(default)]
    pub paged: bool,
    /// The source's documents once it is done, counted under the run's deadline.
    #[serde(default)]
    pub documents: Option<u64>,
    /// Set when the source did not sync: it failed, or its scope was withdrawn.
    #[serde(default)]
    pub end: Option<SourceEnd>,
    /// Items of the source this run could not render (see [`SourceStatus::skipped`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped: u64,
    /// Incremental: [`SourceStatus::unindexed`] when the run was planned.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unindexed_before: bool,
    /// Incremental sweep: ids Shopify listed so far, and index entries found among them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub swept_ids: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub swept_indexed: u64,
}

/// A run under way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub id: String,
    /// The message that may continue the run ([`super::ports::Job::Run`]).
    #[serde(default)]
    pub ticket: String,
    /// When the run last saved its progress; a run silent far longer than any pause has lost
    /// its message, and the schedule sends it again.
    #[serde(default)]
    pub touched_at: Option<DateTime<Utc>>,
    pub kind: RunKind,
    pub started_at: DateTime<Utc>,
    pub progress: Vec<Progress>,
    pub added: u64,
    pub updated: u64,
    pub removed: u64,
    /// The storefront URL documents link to, read once per run.
    pub primary_url: Option<String>,
    /// The currency of the shop's prices, read with [`Run::primary_url`] (absent from a run
    /// an older version started: the store record's currency stands in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Times in a row the run stepped aside because Shopify throttled it (live lookups were
    /// using the bucket).
    #[serde(default)]
    pub throttled: u32,
    /// An invocation of this run died or failed after writing documents its counts may miss:
    /// the run announces itself when done even if its counts are zero.
    #[serde(default)]
    pub interrupted: bool,
}

/// How the last run ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRun {
    pub kind: RunKind,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub outcome: Outcome,
    pub error: Option<ErrorView>,
}

/// What the AI has of one source.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceStatus {
    pub documents: u64,
    /// Shopify denied the source's queries although the store's recorded scopes include it
    /// (the scope was withdrawn since): the scopes to grant again.
    #[serde(default)]
    pub missing: Option<Vec<String>>,
    /// When the last successful sync of this source started; changes after it (less an
    /// overlap) are what the next incremental run reads.
    pub synced_at: Option<DateTime<Utc>>,
    pub error: Option<ErrorView>,
    /// Items the source's last sync could not render (HTML over the size cap, or a rendering
    /// failure): they have no document, and are logged by id.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped: u64,
    /// Some item of the source may be without a document (one could not be rendered, and no
    /// sweep or full run since found every item indexed): the next incremental run merges
    /// the ids instead of trusting equal counts, which such an item could balance against a
    /// deleted item's document.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unindexed: bool,
    /// The [`DOCUMENT_FORMAT`] the source's documents were last written in whole: an older
    /// one makes its next run a full one, so documents written by an earlier version (a
    /// product made public before publication decided it) are rewritten without waiting for
    /// their item to change.
    #[serde(default)]
    pub format: u32,
}

/// How documents are rendered, as a number that goes up whenever the same item would give
/// other documents (2: product visibility by Online Store publication; bounded HTML).
pub const DOCUMENT_FORMAT: u32 = 2;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One store's sync state. Read back tolerantly (see [`StoredSyncState`]): an item written by
/// another version of the connector still reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredSyncState")]
pub struct SyncState {
    pub org_id: OrganizationId,
    pub shop_domain: ShopDomain,
    #[serde(default)]
    pub phase: Phase,
    pub requested: Option<Request>,
    pub run: Option<Run>,
    pub last_run: Option<LastRun>,
    #[serde(default)]
    pub sources: BTreeMap<Source, SourceStatus>,
    /// The invocation running the store's sync, and until when it may.
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    /// `Shopify Knowledge Synced` events not yet accepted by the bus: written in the same
    /// conditional write as the outcome they announce, removed once put.
    #[serde(default)]
    pub outbox: Vec<SyncedEvent>,
    pub version: u64,
}

/// A sync state as stored. What this version cannot read in it (a phase, a step, a source or
/// an announcement another version wrote) reads as absent, never as an unreadable item: a
/// run it cannot follow is dropped (the store is then queued or idle, and its next run starts
/// afresh), a source it does not know is left out.
#[derive(Deserialize)]
struct StoredSyncState {
    org_id: OrganizationId,
    shop_domain: ShopDomain,
    #[serde(default, deserialize_with = "lenient")]
    phase: Phase,
    #[serde(default, deserialize_with = "lenient")]
    requested: Option<Request>,
    #[serde(default, deserialize_with = "lenient")]
    run: Option<Run>,
    #[serde(default, deserialize_with = "lenient")]
    last_run: Option<LastRun>,
    #[serde(default, deserialize_with = "lenient_sources")]
    sources: BTreeMap<Source, SourceStatus>,
    #[serde(default)]
    lease_owner: Option<String>,
    #[serde(default)]
    lease_until: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_outbox")]
    outbox: Vec<SyncedEvent>,
    version: u64,
}

impl From<StoredSyncState> for SyncState {
    fn from(stored: StoredSyncState) -> Self {
        let mut phase = stored.phase;
        if phase == Phase::Running && stored.run.is_none() {
            phase = if stored.requested.is_some() {
                Phase::Queued
            } else {
                Phase::Idle
            };
        }
        Self {
            org_id: stored.org_id,
            shop_domain: stored.shop_domain,
            phase,
            requested: stored.requested,
            run: stored.run,
            last_run: stored.last_run,
            sources: stored.sources,
            lease_owner: stored.lease_owner,
            lease_until: stored.lease_until,
            outbox: stored.outbox,
            version: stored.version,
        }
    }
}

/// `T` if the value reads as one, else its default.
fn lenient<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).unwrap_or_else(|error| {
        tracing::warn!(%error, "a stored sync state field this version cannot read is left out");
        T::default()
    }))
}

/// The sources this version knows, each whose status reads.
fn lenient_sources<'de, D>(deserializer: D) -> Result<BTreeMap<Source, SourceStatus>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw = BTreeMap::<String, serde_json::Value>::deserialize(deserializer)?;
    Ok(raw
        .into_iter()
        .filter_map(|(key, value)| {
            Some((Source::parse(&key)?, serde_json::from_value(value).ok()?))
        })
        .collect())
}

/// The announcements that read.
fn lenient_outbox<'de, D>(deserializer: D) -> Result<Vec<SyncedEvent>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw = Vec::<serde_json::Value>::deserialize(deserializer)?;
    Ok(raw
        .into_iter()
        .filter_map(|value| serde_json::from_value(value).ok())
        .collect())
}

impl SyncState {
    pub fn new(org: &OrganizationId, shop: &ShopDomain) -> Self {
        Self {
            org_id: org.clone(),
            shop_domain: shop.clone(),
            phase: Phase::Idle,
            requested: None,
            run: None,
            last_run: None,
            sources: BTreeMap::new(),
            lease_owner: None,
            lease_until: None,
            outbox: Vec::new(),
            version: 0,
        }
    }

    /// Whether another invocation holds the lease now.
    pub fn leased_by_other(&self, me: &str, now: DateTime<Utc>) -> bool {
        match (&self.lease_owner, self.lease_until) {
            (Some(owner), Some(until)) => owner != me && until > now,
            _ => false,
        }
    }
}

/// One stored document, as the index keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub org_id: OrganizationId,
    pub shop_domain: ShopDomain,
    pub source: Source,
    /// The numeric Shopify id; entries are ordered by it within a source.
    pub id: u64,
    pub shopify_id: String,
    pub title: String,
    pub url: String,
    pub visibility: Visibility,
    pub updated_at: String,
    pub fingerprint: String,
    pub key: String,
}

impl IndexEntry {
    pub fn of(org: &OrganizationId, shop: &ShopDomain, document: &Document) -> Option<Self> {
        Some(Self {
            org_id: org.clone(),
            shop_domain: shop.clone(),
            source: document.source,
            id: document.numeric_id.parse().ok()?,
            shopify_id: document.shopify_id.clone(),
            title: document.title.clone(),
            url: document.url.clone(),
            visibility: document.visibility,
            updated_at: document.updated_at.clone(),
            fingerprint: document.fingerprint(),
            key: document.key(org, shop),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_state_written_by_another_version_still_reads() {
        let stored = serde_json::json!({
            "org_id": "org-1", "shop_domain": "demo-us.myshopify.com",
            "phase": "running",
            "requested": null,
            "run": {"id": "r", "kind": "full", "started_at": "2026-12-01T00:00:00Z",
                    "progress": [{"source": "videos", "kind": "full", "step": "teleport"}],
                    "added": 0, "updated": 0, "removed": 0, "primary_url": null},
            "last_run": {"kind": "full", "started_at": "2026-12-01T00:00:00Z",
                         "finished_at": "2026-12-01T00:01:00Z", "outcome": "partly", "error": null},
            "sources": {"pages": {"documents": 3, "synced_at": null, "error": null, "new_field": 1},
                        "videos": {"documents": 9, "synced_at": null, "error": null}},
            "outbox": [{"event_id": "a", "org_id": "org-1", "shop_domain": "demo-us.myshopify.com",
                        "prefix": "s3://b/org-1/demo-us.myshopify.com/", "added": 1, "updated": 0, "removed": 0},
                       {"event_id": "b", "kind": "something new"}],
            "lease_owner": null, "lease_until": null, "version": 4, "a_field_from_the_future": true
        });
        let state: SyncState = serde_json::from_value(stored).expect("it reads");
        assert_eq!(state.version, 4);
        assert!(
            state.run.is_none(),
            "a run this version cannot follow is dropped"
        );
        assert_eq!(state.phase, Phase::Idle, "not running without a run");
        assert!(state.last_run.is_none());
        assert_eq!(state.sources.len(), 1);
        assert_eq!(state.sources[&Source::Pages].documents, 3);
        assert_eq!(state.outbox.len(), 1);
        // What this version writes reads back the same.
        let again: SyncState =
            serde_json::from_value(serde_json::to_value(&state).unwrap()).unwrap();
        assert_eq!(again, state);
    }
}
