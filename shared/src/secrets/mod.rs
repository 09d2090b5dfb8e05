//! Where credentials live: AWS Secrets Manager, one secret per store, named
//! `{SECRET_PREFIX}/{org_id}/{shop_domain}`. Port + adapters.

mod aws;
mod memory;

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

pub use aws::SecretsManagerStore;
pub use memory::MemorySecretStore;

use crate::domain::{OrganizationId, ShopDomain};

/// The deterministic secret name of one store, so a retry finds the secret it created.
///
/// Secrets Manager names may not hold `:`, which organization ids may; it is written as `+`
/// (a character organization ids never hold), so the mapping stays one-to-one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretName(String);

impl SecretName {
    pub fn for_store(prefix: &str, org: &OrganizationId, shop: &ShopDomain) -> Self {
        let org = org.as_str().replace(':', "+");
        Self(format!("{}/{org}/{shop}", prefix.trim_end_matches('/')))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The store a listed secret name belongs to: the organization and shop that
    /// [`SecretName::for_store`] makes exactly this name of under `prefix`, or `None` for any
    /// other secret (the webhook token key, a name in another case, one made by hand).
    pub fn store_of(prefix: &str, name: &str) -> Option<(OrganizationId, ShopDomain)> {
        let rest = name.strip_prefix(prefix.trim_end_matches('/'))?;
        let rest = rest.strip_prefix('/')?;
        let (org, shop) = rest.rsplit_once('/')?;
        let org = OrganizationId::parse(&org.replace('+', ":")).ok()?;
        let shop = ShopDomain::parse(shop).ok()?;
        (Self::for_store(prefix, &org, &shop).as_str() == name).then_some((org, shop))
    }
}

/// One secret as [`SecretStore::list`] names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedSecret {
    pub name: String,
    /// When the secret last changed in any way (a version put, a label moved, a restore), or
    /// was created; `None` when Secrets Manager did not say.
    pub changed_at: Option<DateTime<Utc>>,
}

/// A page of [`SecretStore::list`], and the cursor of the next one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretPage {
    pub secrets: Vec<ListedSecret>,
    pub next: Option<String>,
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The version a [`SecretStore::put`] created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutOutcome {
    pub version_id: String,
    /// The secret did not exist before (not even pending deletion).
    pub created: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// Secrets Manager failed, could not be reached, or did not answer in time: the request
    /// may still have been carried out.
    #[error("Secrets Manager is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Secrets Manager answered the request with a client error (4xx): it was not carried out.
    #[error("Secrets Manager refused the request")]
    Refused(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<crate::deadline::TimedOut> for SecretsError {
    fn from(e: crate::deadline::TimedOut) -> Self {
        Self::Unavailable(Box::new(e))
    }
}

/// Persistence of store credentials.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Stores `value` as a new version. A new secret's first version is current at once; on an
    /// existing secret the version is only staged (`AWSPENDING`) and becomes current through
    /// [`SecretStore::make_current`] once the store record names it, so a rotation that fails
    /// half-way never changes the credentials in use. A secret pending deletion is restored
    /// first.
    async fn put(
        &self,
        name: &SecretName,
        value: &SecretString,
    ) -> Result<PutOutcome, SecretsError>;

    /// The `VersionId` labelled current, `None` when the secret does not exist.
    async fn current_version(&self, name: &SecretName) -> Result<Option<String>, SecretsError>;

    /// One version's value; `None` when the secret or the version is gone.
    async fn get_version(
        &self,
        name: &SecretName,
        version_id: &str,
    ) -> Result<Option<SecretString>, SecretsError>;

    /// Moves the current label to `version_id` (no-op when it is current already).
    async fn make_current(&self, name: &SecretName, version_id: &str) -> Result<(), SecretsError>;

    /// Schedules the secret for deletion after Secrets Manager's shortest recovery window
    /// (7 days); a later [`SecretStore::put`] restores it. Undoes a connection whose record
    /// never landed without the power to destroy anything for good. Missing secrets are fine.
    async fn schedule_deletion(&self, name: &SecretName) -> Result<(), SecretsError>;

    /// Deletes the secret at once, without a recovery window. Missing secrets are fine.
    async fn delete(&self, name: &SecretName) -> Result<(), SecretsError>;

    /// A page (up to 100) of the secrets whose names start with `prefix`, from `cursor` on,
    /// leaving out those scheduled for deletion; the names may hold others than stores'
    /// (see [`SecretName::store_of`]).
    async fn list(&self, prefix: &str, cursor: Option<&str>) -> Result<SecretPage, SecretsError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_deterministic_and_colon_free() {
        let org = OrganizationId::parse("tenant:42").unwrap();
        let shop = ShopDomain::parse("example").unwrap();
        let name = SecretName::for_store("opencx/shopify/", &org, &shop);
        assert_eq!(
            name.as_str(),
            "opencx/shopify/tenant+42/example.myshopify.com"
        );
        assert_eq!(name, SecretName::for_store("opencx/shopify", &org, &shop));
    }

    #[test]
    fn a_listed_name_is_a_stores_only_when_for_store_makes_exactly_it() {
        let org = OrganizationId::parse("tenant:42").unwrap();
        let shop = ShopDomain::parse("example").unwrap();
        let name = SecretName::for_store("opencx/shopify", &org, &shop);
        assert_eq!(
            SecretName::store_of("opencx/shopify/", name.as_str()),
            Some((org, shop))
        );
        for other in [
            "opencx/shopify/webhook-token-key",
            "opencx/shopify/tenant+42/EXAMPLE.myshopify.com",
            "opencx/shopify/tenant+42/example.myshopify.com/extra",
            "opencx/shopify/tenant+42/example",
            "opencx/shopify-other/tenant+42/example.myshopify.com",
            "opencx/shopify//example.myshopify.com",
            "other/tenant+42/example.myshopify.com",
        ] {
            assert_eq!(
                SecretName::store_of("opencx/shopify", other),
                None,
                "{other}"
            );
        }
    }
}
