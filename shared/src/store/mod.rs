//! The store records: one slot per (organization, shop). Port + adapters.
//!
//! A slot holds a live [`StoreRecord`], a [`Tombstone`] left by a disconnect, or nothing. The
//! tombstone stays (it is a few bytes), so a slot's `version` only ever grows: a write
//! conditional on a version read can never land on a later connection of the same shop.
//!
//! A record never holds a credential; it names the Secrets Manager version that holds them
//! (`credentials_version`), so record and secret cannot disagree about which credentials a
//! store uses.
//!
//! [`dynamo_items`] holds what every DynamoDB adapter (this one, knowledge's, health's) reads
//! DynamoDB's answers with: it speaks [`StoreError`], so it lives beside the port.

mod dynamo;
pub(crate) mod dynamo_items;
mod memory;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use dynamo::DynamoStoreRepository;
pub(crate) use dynamo_items::{
    batch_get, conditional, corrupt, put_versioned, read_as, read_item, unavailable,
};
pub use memory::MemoryStoreRepository;

use crate::deadline::{Deadline, TimedOut};
use crate::domain::{AuthType, OrgSettings, OrganizationId, ShopDomain, StoreStatus, Warning};

/// One connected shop of one organization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreRecord {
    pub org_id: OrganizationId,
    pub shop_domain: ShopDomain,
    pub shop_name: String,
    pub auth_type: AuthType,
    pub status: StoreStatus,
    pub granted_scopes: Vec<String>,
    pub order_number_prefix: String,
    pub order_number_suffix: String,
    pub currency: String,
    #[serde(default)]
    pub plan: Option<String>,
    pub warnings: Vec<Warning>,
    pub connected_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub credentials_updated_at: DateTime<Utc>,
    pub last_verified_at: DateTime<Utc>,
    /// The Secrets Manager `VersionId` holding this store's credentials.
    pub credentials_version: String,
    /// This connection's identity: set when the shop is connected, kept by rotations and
    /// checks, new after a disconnect and reconnect.
    #[serde(default)]
    pub connection_id: String,
    /// The slot's version: every write states the version it read and writes the next one.
    pub version: u64,
    /// A random id of the write that produced this state, so a writer whose answer was lost
    /// (and whose retry then failed its condition) can recognise its own write.
    #[serde(default)]
    pub write_id: String,
    /// The credentials version replaced by the last rotation (`credentials_updated_at` says
    /// when): webhooks signed with the previous client secret stay verifiable for a while.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_credentials_version: Option<String>,
    /// Status changes written with this state and not yet announced on the event bus
    /// (see [`crate::lifecycle::outbox`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<crate::events::StatusChanged>,
}

/// What a disconnect (or the undo of a connection that never landed) leaves in the slot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tombstone {
    pub org_id: OrganizationId,
    pub shop_domain: ShopDomain,
    pub version: u64,
    pub write_id: String,
    /// Set while the store's secret is being deleted. Writers wait for it to clear (or go
    /// stale) before staging credentials, so a deletion never hits credentials they just put.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleting_since: Option<DateTime<Utc>>,
    pub removed_at: DateTime<Utc>,
    /// What left the tombstone: a disconnect of a connected store, or the undo of a connect
    /// whose record never landed (the shop was never connected).
    #[serde(default)]
    pub origin: TombstoneOrigin,
}

/// See [`Tombstone::origin`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TombstoneOrigin {
    #[default]
    Disconnect,
    Undo,
}

/// The state of one (organization, shop) slot. (Short-lived and read once per request; the
/// size difference between the variants does not matter.)
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Slot {
    Absent,
    Live(StoreRecord),
    Gone(Tombstone),
}

impl Slot {
    /// What a write over this state must expect.
    pub fn expect(&self) -> Expect {
        match self {
            Self::Absent => Expect::Absent,
            Self::Live(record) => Expect::Version(record.version),
            Self::Gone(tombstone) => Expect::Version(tombstone.version),
        }
    }

    /// The version a write over this state gets.
    pub fn next_version(&self) -> u64 {
        match self {
            Self::Absent => 1,
            Self::Live(record) => record.version + 1,
            Self::Gone(tombstone) => tombstone.version + 1,
        }
    }

    /// The id of the write that produced this state (`None` when absent).
    pub fn write_id(&self) -> Option<&str> {
        match self {
            Self::Absent => None,
            Self::Live(record) => Some(&record.write_id),
            Self::Gone(tombstone) => Some(&tombstone.write_id),
        }
    }

    pub fn live(self) -> Option<StoreRecord> {
        match self {
            Self::Live(record) => Some(record),
            _ => None,
        }
    }
}

/// The store as every route returns it: no credential, no storage internals.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoreView<'a> {
    pub shop_domain: &'a ShopDomain,
    pub shop_name: &'a str,
    pub auth_type: AuthType,
    pub status: StoreStatus,
    pub granted_scopes: &'a [String],
    pub order_number_prefix: &'a str,
    pub order_number_suffix: &'a str,
    pub currency: &'a str,
    pub warnings: &'a [Warning],
    pub connected_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub credentials_updated_at: DateTime<Utc>,
    pub last_verified_at: DateTime<Utc>,
}

impl StoreRecord {
    pub fn view(&self) -> StoreView<'_> {
        StoreView {
            shop_domain: &self.shop_domain,
            shop_name: &self.shop_name,
            auth_type: self.auth_type,
            status: self.status,
            granted_scopes: &self.granted_scopes,
            order_number_prefix: &self.order_number_prefix,
            order_number_suffix: &self.order_number_suffix,
            currency: &self.currency,
            warnings: &self.warnings,
            connected_at: self.connected_at,
            updated_at: self.updated_at,
            credentials_updated_at: self.credentials_updated_at,
            last_verified_at: self.last_verified_at,
        }
    }

    /// Whether Shopify withholds customer and order emails from the store's app (a store that
    /// is not connected fails for that reason instead).
    pub fn withholds_emails(&self) -> bool {
        self.status == StoreStatus::Connected
            && self
                .warnings
                .iter()
                .any(|w| w.code == crate::shopify::PROTECTED_DATA_WARNING)
    }
}

/// What a write expects to find, so concurrent writers cannot lose each other's updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Nothing stored for this shop yet, not even a tombstone.
    Absent,
    /// The slot (record or tombstone) still has this `version`.
    Version(u64),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The slot changed (or appeared) since it was read.
    #[error("the store record was changed by another request")]
    Conflict,
    /// A stored item could not be read back as a record.
    #[error("a stored item is malformed")]
    Corrupt(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// DynamoDB failed, could not be reached, or did not answer in time.
    #[error("the store table is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<TimedOut> for StoreError {
    fn from(e: TimedOut) -> Self {
        Self::Unavailable(Box::new(e))
    }
}

/// Persistence of store records.
#[async_trait]
pub trait StoreRepository: Send + Sync {
    /// The slot of one shop, read strongly consistently.
    async fn slot(&self, org: &OrganizationId, shop: &ShopDomain) -> Result<Slot, StoreError>;

    /// The live record of one shop, if connected.
    async fn get(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
    ) -> Result<Option<StoreRecord>, StoreError> {
        Ok(self.slot(org, shop).await?.live())
    }

    /// Every connected store of `org`, ordered by `connected_at` then domain.
    async fn list(&self, org: &OrganizationId) -> Result<Vec<StoreRecord>, StoreError>;

    /// A page of the connected stores of every organization (at most about `limit`), and the
    /// cursor of the next page; for the schedules that visit every store.
    async fn scan(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<StoreRecord>, Option<String>), StoreError>;

    /// Puts a page of the store records that [`StoreRepository::scan`] cannot see yet (written
    /// before its index existed, or by an older version) into it. Answers the cursor of the
    /// next page, or `None` once every record is in; that is remembered for a day, so a later
    /// call without a cursor within it answers at once, and one after it looks again (an older
    /// version may have written records since). Once `until` has passed the page stops early,
    /// after at least one record, and answers the cursor of the rest. Backends without such
    /// records answer `None`.
    async fn index_unlisted(
        &self,
        _cursor: Option<&str>,
        _until: &Deadline,
    ) -> Result<Option<String>, StoreError> {
        Ok(None)
    }

    /// Writes `record` if the slot is what `expect` says.
    async fn put_live(&self, record: &StoreRecord, expect: Expect) -> Result<(), StoreError>;

    /// Writes `tombstone` if the slot is what `expect` says.
    async fn put_gone(&self, tombstone: &Tombstone, expect: Expect) -> Result<(), StoreError>;

    /// Everything an AI lookup needs about an organization — its stores (ordered as in
    /// [`StoreRepository::list`]) and its settings — in one read.
    async fn load_org(
        &self,
        org: &OrganizationId,
    ) -> Result<(Vec<StoreRecord>, OrgSettings), StoreError> {
        Ok((self.list(org).await?, self.get_settings(org).await?))
    }

    /// The organization's settings; defaults when never saved.
    async fn get_settings(&self, org: &OrganizationId) -> Result<OrgSettings, StoreError>;

    /// Replaces the organization's settings.
    async fn put_settings(
        &self,
        org: &OrganizationId,
        settings: &OrgSettings,
    ) -> Result<(), StoreError>;
}

/// A record with the given order-number format, for unit tests.
#[cfg(test)]
pub(crate) fn test_record(handle: &str, prefix: &str, suffix: &str) -> StoreRecord {
    let now = Utc::now();
    StoreRecord {
        org_id: OrganizationId::parse("org").unwrap(),
        shop_domain: ShopDomain::parse(handle).unwrap(),
        shop_name: handle.into(),
        auth_type: AuthType::AccessToken,
        status: StoreStatus::Connected,
        granted_scopes: Vec::new(),
        order_number_prefix: prefix.into(),
        order_number_suffix: suffix.into(),
        currency: "USD".into(),
        plan: None,
        warnings: Vec::new(),
        connected_at: now,
        updated_at: now,
        credentials_updated_at: now,
        last_verified_at: now,
        credentials_version: "v1".into(),
        connection_id: "c1".into(),
        version: 1,
        write_id: "w1".into(),
        previous_credentials_version: None,
        outbox: Vec::new(),
    }
}

pub(crate) fn sort_for_listing(records: &mut [StoreRecord]) {
    records.sort_by(|a, b| {
        a.connected_at
            .cmp(&b.connected_at)
            .then_with(|| a.shop_domain.cmp(&b.shop_domain))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shopify::customer_data_warning;

    #[test]
    fn only_a_connected_store_warned_about_protected_data_withholds_emails() {
        let plain = test_record("plain", "#", "");
        let mut warned = test_record("warned", "#", "");
        warned.warnings = vec![customer_data_warning(
            &["customer email".into()],
            AuthType::AccessToken,
        )];
        let mut broken = warned.clone();
        broken.status = StoreStatus::InvalidCredentials;

        assert!(!plain.withholds_emails());
        assert!(warned.withholds_emails());
        assert!(!broken.withholds_emails());
    }
}
