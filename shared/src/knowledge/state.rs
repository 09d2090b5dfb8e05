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
    Done,
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
}

/// One store's sync state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    pub version: u64,
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
