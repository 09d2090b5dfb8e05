//! Using a store's credentials on the hot path: decrypted credentials cached per container,
//! keyed by (organization, shop, secret version) so a rotation or disconnect — which change or
//! remove the record naming the version — is never served from the cache.

use std::collections::HashMap;

use futures::future::join_all;
use std::future::Future;
use std::sync::Mutex;
use tokio::sync::Semaphore;

use secrecy::SecretString;

use crate::domain::Credentials;
use crate::lifecycle;
use crate::secrets::SecretsError;
use crate::shopify::ShopifyError;
use crate::store::StoreRecord;
use crate::Services;

type Key = (String, String, String);

/// Credentials read from Secrets Manager, per container.
#[derive(Default)]
pub struct CredentialCache {
    entries: Mutex<HashMap<Key, Credentials>>,
}

/// Why a store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Shopify(#[from] ShopifyError),
    #[error("the store's credentials could not be read")]
    Secrets(#[from] SecretsError),
    /// The version the record names is gone (a disconnect is under way).
    #[error("the store's credentials are missing")]
    CredentialsMissing,
}

impl AccessError {
    /// The code reported for this store in `store_errors` (and for the sidebar).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Shopify(ShopifyError::RateLimited { .. }) => "shopify_rate_limited",
            Self::Shopify(
                ShopifyError::Unauthorized
                | ShopifyError::Forbidden
                | ShopifyError::AccessDenied(_),
            )
            | Self::CredentialsMissing => "invalid_credentials",
            Self::Shopify(
                ShopifyError::PaymentRequired | ShopifyError::Locked | ShopifyError::ShopNotFound,
            ) => "shop_unavailable",
            Self::Shopify(ShopifyError::MaxCostExceeded | ShopifyError::GraphQl(_)) => "internal",
            Self::Shopify(_) => "shopify_unavailable",
            Self::Secrets(_) => "storage_unavailable",
        }
    }
}

fn key(record: &StoreRecord) -> Key {
    (
        record.org_id.to_string(),
        record.shop_domain.to_string(),
        record.credentials_version.clone(),
    )
}

impl CredentialCache {
    async fn load(
        &self,
        services: &Services,
        record: &StoreRecord,
    ) -> Result<Credentials, AccessError> {
        if let Some(found) = self
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key(record))
        {
            return Ok(found.clone());
        }
        let credentials = lifecycle::stored_credentials(services, record)
            .await?
            .ok_or(AccessError::CredentialsMissing)?;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // A store's older versions are dead once a newer one is read.
        entries.retain(|(org, shop, _), _| {
            !(org == record.org_id.as_str() && shop == record.shop_domain.as_str())
        });
        entries.insert(key(record), credentials.clone());
        Ok(credentials)
    }

    fn forget(&self, record: &StoreRecord) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key(record));
    }

    /// Runs `call` with an Admin API token for `record`. When Shopify answers 401, the
    /// credentials are read again from Secrets Manager (and a client-credentials token
    /// exchanged again) once before giving up.
    pub async fn with_token<T, F, Fut>(
        &self,
        services: &Services,
        record: &StoreRecord,
        call: F,
    ) -> Result<T, AccessError>
    where
        F: Fn(SecretString) -> Fut,
        Fut: Future<Output = Result<T, ShopifyError>>,
    {
        let shop = &record.shop_domain;
        let credentials = self.load(services, record).await?;
        let token = services.shopify.access_token(shop, &credentials).await?;
        match call(token).await {
            Err(ShopifyError::Unauthorized) => {
                tracing::info!(shop = %shop, "Shopify refused the cached credentials; reading them again");
                self.forget(record);
                services.shopify.forget_token(shop, &credentials);
                let credentials = self.load(services, record).await?;
                let token = services.shopify.access_token(shop, &credentials).await?;
                Ok(call(token).await?)
            }
            other => Ok(other?),
        }
    }
}

/// Stores asked at the same time when a request fans out.
pub const MAX_CONCURRENCY: usize = 6;

/// Runs `call` for each store with a token (see [`CredentialCache::with_token`]), at most
/// [`MAX_CONCURRENCY`] at a time, answering in the stores' order. Failures are logged per store.
pub async fn per_store<'a, T, F, Fut>(
    services: &Services,
    stores: Vec<&'a StoreRecord>,
    call: F,
) -> Vec<(&'a StoreRecord, Result<T, AccessError>)>
where
    F: Fn(&'a StoreRecord, SecretString) -> Fut + Clone,
    Fut: Future<Output = Result<T, ShopifyError>>,
{
    let limit = Semaphore::new(MAX_CONCURRENCY);
    let mut pending = Vec::with_capacity(stores.len());
    for store in stores {
        let call = call.clone();
        let limit = &limit;
        pending.push(async move {
            let _permit = limit.acquire().await.expect("the semaphore is never closed");
            let result = services
                .credentials
                .with_token(services, store, |token| call(store, token))
                .await;
            if let Err(error) = &result {
                tracing::warn!(shop = %store.shop_domain, code = error.code(), %error, "store request failed");
            }
            (store, result)
        });
    }
    join_all(pending).await
}
