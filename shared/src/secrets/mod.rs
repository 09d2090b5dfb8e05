//! Where credentials live: AWS Secrets Manager, one secret per store, named
//! `{SECRET_PREFIX}/{org_id}/{shop_domain}`. Port + adapters.

mod aws;
mod memory;

use std::fmt;

use async_trait::async_trait;
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
}
