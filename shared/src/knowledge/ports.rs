//! The ports knowledge sync runs on: sync state and document index (DynamoDB), documents (S3),
//! jobs (SQS), events (EventBridge). Adapters: `aws` (the real services, moto locally) and
//! `memory` (handler tests).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::state::{IndexEntry, SyncState};
use crate::domain::{OrganizationId, ShopDomain, Source};
use crate::store::StoreError;

/// Sync state and the document index.
#[async_trait]
pub trait KnowledgeRepository: Send + Sync {
    async fn state(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
    ) -> Result<Option<SyncState>, StoreError>;

    /// Writes `state` if the stored one still has `expect` as its version (`None`: if there
    /// is none). `state.version` is the new version.
    async fn put_state(&self, state: &SyncState, expect: Option<u64>) -> Result<(), StoreError>;

    /// Deletes the state if it is still at `version` (or gone already).
    async fn delete_state(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        version: u64,
    ) -> Result<(), StoreError>;

    /// Every store's state of `org`.
    async fn states(&self, org: &OrganizationId) -> Result<Vec<SyncState>, StoreError>;

    /// Index entries of one source with `after < id <= through` (no upper bound when
    /// `through` is `None`), in id order, at most `limit`.
    async fn entries(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        source: Source,
        after: Option<u64>,
        through: Option<u64>,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreError>;

    /// The entries of these ids that exist.
    async fn entries_by_id(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        source: Source,
        ids: &[u64],
    ) -> Result<Vec<IndexEntry>, StoreError>;

    async fn put_entry(&self, entry: &IndexEntry) -> Result<(), StoreError>;

    async fn delete_entry(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        source: Source,
        id: u64,
    ) -> Result<(), StoreError>;

    /// A page of every organization's store states (at most about `limit`), and the cursor of
    /// the next page; for the schedule's sweep of states whose store is gone.
    async fn scan_states(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<SyncState>, Option<String>), StoreError>;

    /// How many entries a source has.
    async fn count_entries(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        source: Source,
    ) -> Result<u64, StoreError>;
}

/// Why the document store failed.
#[derive(Debug, thiserror::Error)]
#[error("the document store is unavailable")]
pub struct BlobError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl From<crate::deadline::TimedOut> for BlobError {
    fn from(e: crate::deadline::TimedOut) -> Self {
        Self(Box::new(e))
    }
}

/// Where documents live (`KNOWLEDGE_BUCKET`).
#[async_trait]
pub trait DocumentStore: Send + Sync {
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), BlobError>;

    /// Deletes these keys (missing ones are fine).
    async fn delete(&self, keys: &[String]) -> Result<(), BlobError>;

    /// Up to 1,000 keys under `prefix` after `start_after`, in key order, and whether more
    /// follow.
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<(Vec<String>, bool), BlobError>;
}

/// One unit of work for the `knowledge-sync` function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    /// Start or continue the store's queued or running run. The `ticket` is the one message
    /// that may do so (the request's run id, then a new one with every continuation); any
    /// other delivery is stale or a duplicate.
    Run {
        org_id: OrganizationId,
        shop_domain: ShopDomain,
        ticket: String,
    },
    /// Remove a store's documents (all of them when `sources` is `None`: it was
    /// disconnected), continuing after the key `after`.
    Remove {
        org_id: OrganizationId,
        shop_domain: ShopDomain,
        sources: Option<Vec<Source>>,
        after: Option<String>,
        /// Documents removed by the earlier pieces of this removal.
        #[serde(default)]
        removed: u64,
    },
    /// Queue an incremental run for every store, a page of the store table at a time; then
    /// (`orphans`) queue the removal of what stores no longer connected left behind.
    Tick {
        cursor: Option<String>,
        #[serde(default)]
        orphans: bool,
    },
}

impl Job {
    /// The removal of a store's documents: of `sources`, or all of them and its sync state
    /// (`None`: it was disconnected).
    pub fn remove(org: &OrganizationId, shop: &ShopDomain, sources: Option<Vec<Source>>) -> Self {
        Self::remove_after(org, shop, sources, None, 0)
    }

    /// A removal's continuation: after the key `after`, `removed` documents removed so far.
    pub fn remove_after(
        org: &OrganizationId,
        shop: &ShopDomain,
        sources: Option<Vec<Source>>,
        after: Option<String>,
        removed: u64,
    ) -> Self {
        Self::Remove {
            org_id: org.clone(),
            shop_domain: shop.clone(),
            sources,
            after,
            removed,
        }
    }
}
