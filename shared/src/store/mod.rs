//! The store records: one per connected shop, keyed by organization. Port + adapters.
//!
//! A record never holds a credential; it names the Secrets Manager version that holds them
//! (`credentials_version`), so record and secret cannot disagree about which credentials a
//! store uses.

mod dynamo;
mod memory;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use dynamo::DynamoStoreRepository;
pub use memory::MemoryStoreRepository;

use crate::domain::{AuthType, OrgSettings, OrganizationId, ShopDomain};
use crate::shopify::Warning;

/// Where a store stands, as last checked against Shopify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreStatus {
    Connected,
    InvalidCredentials,
    MissingScopes,
    ShopUnavailable,
}

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
    /// Optimistic-locking counter: every write states the version it read.
    pub version: u64,
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
}

/// What a write expects to find, so concurrent writers cannot lose each other's updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// No record for this shop yet.
    Absent,
    /// The record still has this `version`.
    Version(u64),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record changed (or appeared) since it was read.
    #[error("the store record was changed by another request")]
    Conflict,
    /// A stored item could not be read back as a record.
    #[error("a stored item is malformed")]
    Corrupt(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// DynamoDB failed or could not be reached.
    #[error("the store table is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Persistence of store records.
#[async_trait]
pub trait StoreRepository: Send + Sync {
    async fn get(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
    ) -> Result<Option<StoreRecord>, StoreError>;

    /// Every store of `org`, ordered by `connected_at` then domain.
    async fn list(&self, org: &OrganizationId) -> Result<Vec<StoreRecord>, StoreError>;

    /// Writes `record` if the stored state is what `expect` says.
    async fn put(&self, record: &StoreRecord, expect: Expect) -> Result<(), StoreError>;

    /// Removes the record if it still has `version`.
    async fn delete(
        &self,
        org: &OrganizationId,
        shop: &ShopDomain,
        version: u64,
    ) -> Result<(), StoreError>;

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
        version: 1,
    }
}

pub(crate) fn sort_for_listing(records: &mut [StoreRecord]) {
    records.sort_by(|a, b| {
        a.connected_at
            .cmp(&b.connected_at)
            .then_with(|| a.shop_domain.cmp(&b.shop_domain))
    });
}
