//! Using stores' credentials on the hot path: decrypted credentials cached per container, keyed
//! by (organization, shop, secret version) so a rotation or disconnect — which change or remove
//! the record naming the version — is never served from the cache; and the bounded fan-out
//! that asks several stores at once and answers with what it has when the deadline comes.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures::future::join_all;
use secrecy::SecretString;
use tokio::sync::Semaphore;

use crate::deadline::{Deadline, TimedOut};
use crate::domain::{Credentials, ShopDomain, StoreStatus};
use crate::events::{DetectedBy, EventPublisher};
use crate::failure::Code;
use crate::lifecycle::{record_check, stored_credentials, Finding, Storage};
use crate::routing::Target;
use crate::secrets::{SecretName, SecretStore, SecretsError};
use crate::shopify::{ShopifyClient, ShopifyError};
use crate::store::StoreRecord;

/// Stores asked at the same time when a request fans out.
pub const MAX_CONCURRENCY: usize = 6;

type Key = (String, String, String);

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
    /// The request's time budget ended before this store answered.
    #[error("the store did not answer within the time budget")]
    TimedOut,
    /// The store is marked `invalid_credentials`: not asked until it is reconnected or a
    /// check finds its credentials working again.
    #[error("the store's credentials were refused; it needs reconnecting")]
    NeedsReconnect,
}

impl From<TimedOut> for AccessError {
    fn from(_: TimedOut) -> Self {
        Self::TimedOut
    }
}

impl AccessError {
    /// The code reported for this store (`store_errors`, sidebar sections).
    pub fn code(&self) -> Code {
        match self {
            Self::Shopify(error) => error.code(),
            Self::Secrets(_) => Code::StorageUnavailable,
            Self::CredentialsMissing | Self::NeedsReconnect => Code::InvalidCredentials,
            Self::TimedOut => Code::ShopifyUnavailable,
        }
    }
}

/// A store's credentials, read from Secrets Manager once per container and version, and the
/// Shopify client to use them with.
pub struct Access {
    secrets: Arc<dyn SecretStore>,
    secret_prefix: String,
    shopify: ShopifyClient,
    entries: Mutex<HashMap<Key, Credentials>>,
    /// Where a store whose token Shopify refused is marked (see [`Access::marking_revoked`]).
    marking: Option<(Storage, Arc<dyn EventPublisher>)>,
}

fn key(record: &StoreRecord) -> Key {
    (
        record.org_id.to_string(),
        record.shop_domain.to_string(),
        record.credentials_version.clone(),
    )
}

/// One store's outcome in a fan-out.
#[derive(Debug)]
pub struct StoreFailure {
    pub shop_domain: ShopDomain,
    pub code: Code,
}

/// What a fan-out over several stores came to: the answers, in the stores' order, of the
/// stores that answered; every store asked; and the ones that failed or ran out of time.
pub struct FanOut<'a, T> {
    pub results: Vec<(&'a StoreRecord, T)>,
    pub searched: Vec<ShopDomain>,
    pub errors: Vec<StoreFailure>,
}

/// The code to answer with when no store answered: throttling only if every store was
/// throttled, otherwise Shopify being unavailable.
pub fn failure_code(errors: &[StoreFailure]) -> Code {
    if !errors.is_empty() && errors.iter().all(|e| e.code == Code::ShopifyRateLimited) {
        Code::ShopifyRateLimited
    } else {
        Code::ShopifyUnavailable
    }
}

impl Access {
    pub fn new(
        secrets: Arc<dyn SecretStore>,
        secret_prefix: String,
        shopify: ShopifyClient,
    ) -> Self {
        Self {
            secrets,
            secret_prefix,
            shopify,
            entries: Mutex::default(),
            marking: None,
        }
    }

    /// This access, marking a store `invalid_credentials` (and announcing the change) when
    /// Shopify refuses its token even after the credentials were read again; later fan-outs
    /// then skip the store at once instead of asking Shopify again and again.
    pub fn marking_revoked(mut self, storage: Storage, events: Arc<dyn EventPublisher>) -> Self {
        self.marking = Some((storage, events));
        self
    }

    /// Records that Shopify refused `record`'s token (within `deadline`; best effort).
    async fn mark_revoked(&self, record: &StoreRecord, deadline: &Deadline) {
        let Some((storage, events)) = &self.marking else {
            return;
        };
        let finding = Finding::from_check(Err(ShopifyError::Unauthorized))
            .expect("a refused token is a finding about the store");
        match record_check(
            storage,
            Some(events),
            deadline,
            record,
            &finding,
            DetectedBy::Lookup,
        )
        .await
        {
            Ok(stored) => {
                tracing::warn!(org_id = %record.org_id, shop = %record.shop_domain, status = ?stored.status, "Shopify refused the store's token; the store is marked");
            }
            Err(error) => {
                tracing::warn!(shop = %record.shop_domain, %error, "could not mark the store whose token was refused");
            }
        }
    }

    pub fn shopify(&self) -> &ShopifyClient {
        &self.shopify
    }

    async fn load(
        &self,
        record: &StoreRecord,
        deadline: &Deadline,
    ) -> Result<Credentials, AccessError> {
        if let Some(found) = self
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key(record))
        {
            return Ok(found.clone());
        }
        let name = SecretName::for_store(&self.secret_prefix, &record.org_id, &record.shop_domain);
        let credentials = stored_credentials(self.secrets.as_ref(), &name, record, deadline)
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
        record: &StoreRecord,
        deadline: &Deadline,
        call: F,
    ) -> Result<T, AccessError>
    where
        F: Fn(SecretString) -> Fut,
        Fut: Future<Output = Result<T, ShopifyError>>,
    {
        let shop = &record.shop_domain;
        let credentials = self.load(record, deadline).await?;
        let first = async {
            let token = self
                .shopify
                .access_token(deadline, shop, &credentials)
                .await?;
            call(token).await
        };
        // A refusal of the token exchange or of the call itself: read again and retry once.
        match first.await {
            Err(ShopifyError::Unauthorized) => {
                tracing::info!(shop = %shop, "Shopify refused the cached credentials; reading them again");
                self.forget(record);
                self.shopify.forget_token(shop, &credentials);
                let credentials = self.load(record, deadline).await?;
                let token = self
                    .shopify
                    .access_token(deadline, shop, &credentials)
                    .await?;
                Ok(call(token).await?)
            }
            other => Ok(other?),
        }
    }

    /// Runs `call` for each store with a token, at most [`MAX_CONCURRENCY`] at a time, and
    /// answers at the deadline at the latest: a store still working then is reported as
    /// [`AccessError::TimedOut`]. Failures are logged per store.
    pub async fn fan_out<'a, T, F, Fut>(
        &self,
        stores: Vec<&'a StoreRecord>,
        deadline: &Deadline,
        call: F,
    ) -> FanOut<'a, T>
    where
        F: Fn(&'a StoreRecord, SecretString) -> Fut + Clone,
        Fut: Future<Output = Result<T, ShopifyError>>,
    {
        let limit = Semaphore::new(MAX_CONCURRENCY);
        let pending = stores.into_iter().map(|store| {
            let call = call.clone();
            let limit = &limit;
            async move {
                if store.status == StoreStatus::InvalidCredentials {
                    let result: Result<T, AccessError> = Err(AccessError::NeedsReconnect);
                    return (store, result);
                }
                let work = async {
                    let _permit = limit.acquire().await.expect("the semaphore is never closed");
                    self.with_token(store, deadline, |token| call(store, token))
                        .await
                };
                let result: Result<T, AccessError> = deadline.run(work).await;
                if let Err(error) = &result {
                    tracing::warn!(shop = %store.shop_domain, code = %error.code(), %error, "store request failed");
                    if matches!(error, AccessError::Shopify(ShopifyError::Unauthorized)) {
                        self.mark_revoked(store, deadline).await;
                    }
                }
                (store, result)
            }
        });
        let mut out = FanOut {
            results: Vec::new(),
            searched: Vec::new(),
            errors: Vec::new(),
        };
        for (store, result) in join_all(pending).await {
            out.searched.push(store.shop_domain.clone());
            match result {
                Ok(value) => out.results.push((store, value)),
                Err(error) => out.errors.push(StoreFailure {
                    shop_domain: store.shop_domain.clone(),
                    code: error.code(),
                }),
            }
        }
        out
    }

    /// [`Access::fan_out`] over routing targets: asks each target's store (`stores[t.index]`)
    /// with `call`, the target in hand (its search name, what counts as exact).
    pub async fn fan_out_targets<'a, 't, T, F, Fut>(
        &self,
        stores: &'a [StoreRecord],
        targets: impl IntoIterator<Item = &'t Target>,
        deadline: &Deadline,
        call: F,
    ) -> FanOut<'a, T>
    where
        F: Fn(&'a StoreRecord, SecretString, &'t Target) -> Fut,
        Fut: Future<Output = Result<T, ShopifyError>>,
    {
        let targets: Vec<&'t Target> = targets.into_iter().collect();
        let asked: Vec<&'a StoreRecord> = targets.iter().map(|t| &stores[t.index]).collect();
        self.fan_out(asked, deadline, |store, token| {
            let target = targets
                .iter()
                .copied()
                .find(|t| std::ptr::eq(&stores[t.index], store))
                .expect("a target per store");
            call(store, token, target)
        })
        .await
    }
}
