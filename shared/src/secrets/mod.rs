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
    #[error("Secrets Manager is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Persistence of store credentials.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Stores `value` as the new current version. Creates the secret when missing and restores
    /// it first when it is pending deletion.
    async fn put(
        &self,
        name: &SecretName,
        value: &SecretString,
    ) -> Result<PutOutcome, SecretsError>;

    /// One version's value; `None` when the secret or the version is gone.
    async fn get_version(
        &self,
        name: &SecretName,
        version_id: &str,
    ) -> Result<Option<SecretString>, SecretsError>;

    /// Moves the current label back to `version_id` (undoing a rotation that did not land).
    async fn make_current(&self, name: &SecretName, version_id: &str) -> Result<(), SecretsError>;

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
