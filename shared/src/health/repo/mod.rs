//! What the health check and the webhook endpoint keep: the current check cycle, and the
//! webhook deliveries already handled. Port + adapters (DynamoDB in `STORES_TABLE`, memory).

mod dynamo;
mod memory;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{OrganizationId, ShopDomain};
use crate::store::StoreError;

pub use dynamo::DynamoHealth;
pub use memory::MemoryHealth;

/// One pass of the health check over every store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cycle {
    pub cycle_id: String,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// Pages of the store table queued so far; the next tick's page number.
    pub pages: u64,
    /// Stores queued so far.
    pub stores: u64,
    /// Where the next page starts (`None` before the first page, and after the last).
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// Pages the previous cycle had: how far apart this cycle's pages are spread.
    pub expected_pages: u64,
    /// Set by each write: a write whose answer was lost (its retry then failing its condition)
    /// is told apart from another delivery's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_id: Option<String>,
}

/// How a webhook delivery's claim went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// First delivery (or one whose earlier handler stopped half-way): handle it.
    New,
    /// Already handled: acknowledge, change nothing.
    Done,
    /// Another handler is at it right now.
    InProgress,
}

/// A claim older than this whose handler never finished is taken over by a redelivery.
pub const CLAIM_LEASE: Duration = Duration::seconds(60);

/// How long a handled delivery's id is remembered (Shopify retries for 48 hours).
pub const WEBHOOK_MEMORY: Duration = Duration::days(7);

#[async_trait]
pub trait HealthRepository: Send + Sync {
    /// The current (or last) cycle.
    async fn cycle(&self) -> Result<Option<Cycle>, StoreError>;

    /// Writes `cycle` if the stored one is still `expect` (its id and pages), or absent when
    /// `expect` is `None`; [`StoreError::Conflict`] otherwise.
    async fn put_cycle(&self, cycle: &Cycle, expect: Option<&Cycle>) -> Result<(), StoreError>;

    /// Claims the delivery `webhook_id` for `(org, shop)`.
    async fn claim_webhook(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        webhook_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError>;

    /// Marks a claimed delivery handled.
    async fn finish_webhook(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        webhook_id: &str,
    ) -> Result<(), StoreError>;

    /// Gives a claim up (its handling failed), so Shopify's retry handles it.
    async fn release_webhook(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        webhook_id: &str,
    ) -> Result<(), StoreError>;
}

/// Whether `id` can be an `X-Shopify-Webhook-Id` (Shopify sends UUIDs): 1–128 letters, digits,
/// `-` and `_`. Anything else is refused before it reaches a key.
pub fn valid_webhook_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
