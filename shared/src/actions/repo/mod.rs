//! Where action records are kept: per organization, newest first, every write conditional on
//! the version read. Port + adapters (DynamoDB in `STORES_TABLE`, memory).
//!
//! Beside the records the port keeps three small things the protocol needs:
//! - the *open proposal* of each (order, action): a new proposal replaces it, and the protocol
//!   expires the one it replaced;
//! - the *order lock*: one action per order runs at a time; a lock names the action holding it
//!   and lapses at its `until`, so an invocation that stopped never blocks the order for good;
//! - the *unsettled* marks: which actions the 5-minute schedule must look at (written before
//!   an action becomes unsettled, removed once it is final).

mod dynamo;
mod memory;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use dynamo::DynamoActions;
pub use memory::MemoryActions;

use super::record::ActionRecord;
use crate::domain::{ActionKind, ActionStatus, OrganizationId, ShopDomain};
use crate::store::{Expect, StoreError};

/// Which actions a listing shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub status: Option<ActionStatus>,
    pub shop: Option<ShopDomain>,
    /// The order's name (`#1001`) or GID.
    pub order: Option<String>,
}

impl ListFilter {
    /// Whether `record` passes (its status as stored).
    pub fn admits(&self, record: &ActionRecord) -> bool {
        self.status.is_none_or(|s| s == record.status)
            && self.shop.as_ref().is_none_or(|s| *s == record.shop_domain)
            && self
                .order
                .as_ref()
                .is_none_or(|o| *o == record.order_name || *o == record.order_id)
    }
}

/// A page of a listing, newest first.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionPage {
    pub actions: Vec<ActionRecord>,
    /// Opaque; where the next page starts.
    pub next_cursor: Option<String>,
}

/// One order, as the lock and the open proposals name it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderKey {
    pub org: OrganizationId,
    pub shop: ShopDomain,
    /// The order's GID.
    pub order_id: String,
}

impl OrderKey {
    pub fn of(record: &ActionRecord) -> Self {
        Self {
            org: record.org_id.clone(),
            shop: record.shop_domain.clone(),
            order_id: record.order_id.clone(),
        }
    }
}

/// An action the schedule must look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsettled {
    pub org: OrganizationId,
    pub action_id: String,
    /// Where the mark sits in the list: a cursor that starts the list after it.
    pub position: String,
}

#[async_trait]
pub trait ActionRepository: Send + Sync {
    /// One action of `org`, read strongly consistently.
    async fn get(
        &self,
        org: &OrganizationId,
        action_id: &str,
    ) -> Result<Option<ActionRecord>, StoreError>;

    /// Writes `record` if the stored one is what `expect` says; [`StoreError::Conflict`]
    /// otherwise.
    async fn put(&self, record: &ActionRecord, expect: Expect) -> Result<(), StoreError>;

    /// `org`'s actions, newest first, about `limit` a page (a page may hold fewer when a
    /// filter leaves some out), from `cursor`.
    async fn list(
        &self,
        org: &OrganizationId,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ActionPage, StoreError>;

    /// The newest `limit` actions proposed on behalf of `contact_email` (normalized) in `org`,
    /// newest first, whatever their status: the inbox sidebar's read (pending approvals and
    /// each order's last action). It reads the contact's own actions, never the whole
    /// organization's.
    async fn of_contact(
        &self,
        org: &OrganizationId,
        contact_email: &str,
        limit: usize,
    ) -> Result<Vec<ActionRecord>, StoreError>;

    /// Makes `action_id` the open proposal of `kind` on `order`; answers the one it replaced.
    async fn swap_open(
        &self,
        order: &OrderKey,
        kind: ActionKind,
        action_id: &str,
    ) -> Result<Option<String>, StoreError>;

    /// Takes the order's lock for `action_id` until `until`, or extends the lock the action
    /// holds (never shortens it): `true` when the action holds it now, `false` while another
    /// action's lock has not lapsed at `now`. An `until` before `now` only asks whether the
    /// order is free (the lock it writes has lapsed already).
    async fn lock_order(
        &self,
        order: &OrderKey,
        action_id: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Releases the order's lock if `action_id` holds it.
    async fn unlock_order(&self, order: &OrderKey, action_id: &str) -> Result<(), StoreError>;

    /// Releases the lease `action_id` took until `until`, only while the lock still lapses
    /// then: a lease extended since (by another invocation of the same action, which went on
    /// to execute it) stays.
    async fn release_lease(
        &self,
        order: &OrderKey,
        action_id: &str,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let _ = until;
        self.unlock_order(order, action_id).await
    }

    /// Marks an action for the schedule.
    async fn mark_unsettled(&self, org: &OrganizationId, action_id: &str)
        -> Result<(), StoreError>;

    /// Removes the mark.
    async fn clear_unsettled(
        &self,
        org: &OrganizationId,
        action_id: &str,
    ) -> Result<(), StoreError>;

    /// A page of the marked actions of every organization, and where the next page starts.
    async fn unsettled(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Unsettled>, Option<String>), StoreError>;

    /// Where the last run of the schedule that ran out of time stopped (a mark's `position`).
    async fn settle_resume(&self) -> Result<Option<String>, StoreError>;

    /// Records where the schedule stopped (`None`: it went through every mark).
    async fn set_settle_resume(&self, position: Option<&str>) -> Result<(), StoreError>;
}
