//! The client-credentials grant: a Dev Dashboard app's client id/secret exchanged for an Admin
//! API token that lives about 24 hours, cached in memory until shortly before it expires.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::client::{classify_status, Attempt, ShopifyClient};
use super::error::ShopifyError;
use crate::domain::{Credentials, ShopDomain};

/// Refresh this long before Shopify says the token expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// An Admin API token obtained from the client-credentials exchange.
#[derive(Clone, Debug)]
pub struct AccessToken {
    pub token: SecretString,
    pub expires_at: Instant,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

/// Tokens per (shop, client id, client secret); the secret enters the key only as a keyed
/// hash, so a rotated secret misses the cache while nothing of it is kept in clear.
#[derive(Default)]
pub(super) struct TokenCache {
    hasher: RandomState,
    entries: Mutex<HashMap<(String, String, u64), AccessToken>>,
}

impl TokenCache {
    fn key(
        &self,
        shop: &ShopDomain,
        client_id: &str,
        secret: &SecretString,
    ) -> (String, String, u64) {
        (
            shop.to_string(),
            client_id.to_owned(),
            self.hasher.hash_one(secret.expose_secret()),
        )
    }

    fn get(&self, key: &(String, String, u64)) -> Option<SecretString> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|t| t.expires_at > Instant::now() + REFRESH_MARGIN)
            .map(|t| t.token.clone())
    }

    fn put(&self, key: (String, String, u64), token: AccessToken) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|_, t| t.expires_at > Instant::now());
        entries.insert(key, token);
    }

    fn remove(&self, key: &(String, String, u64)) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(key);
    }
}

impl ShopifyClient {
    /// Exchanges client credentials for a fresh token (`POST /admin/oauth/access_token`,
    /// `grant_type=client_credentials`) and caches it.
    pub async fn exchange_client_credentials(
        &self,
        shop: &ShopDomain,
        client_id: &str,
        client_secret: &SecretString,
    ) -> Result<AccessToken, ShopifyError> {
        let url = format!("{}/oauth/access_token", self.admin_url(shop));
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", client_secret.expose_secret()),
        ];
        let token = self
            .send_with_retry(
                "client_credentials_exchange",
                shop,
                || self.http().post(&url).form(&form),
                read_token_response,
            )
            .await?;
        self.tokens().put(
            self.tokens().key(shop, client_id, client_secret),
            token.clone(),
        );
        Ok(token)
    }

    /// The token to send for `credentials`: the static token, or a cached/refreshed
    /// client-credentials token.
    pub async fn access_token(
        &self,
        shop: &ShopDomain,
        credentials: &Credentials,
    ) -> Result<SecretString, ShopifyError> {
        match credentials {
            Credentials::AccessToken(token) => Ok(token.clone()),
            Credentials::ClientCredentials {
                client_id,
                client_secret,
            } => {
                let key = self.tokens().key(shop, client_id, client_secret);
                if let Some(token) = self.tokens().get(&key) {
                    return Ok(token);
                }
                Ok(self
                    .exchange_client_credentials(shop, client_id, client_secret)
                    .await?
                    .token)
            }
        }
    }

    /// Drops a cached token Shopify has just refused, so the next call exchanges anew.
    pub fn forget_token(&self, shop: &ShopDomain, credentials: &Credentials) {
        if let Credentials::ClientCredentials {
            client_id,
            client_secret,
        } = credentials
        {
            self.tokens()
                .remove(&self.tokens().key(shop, client_id, client_secret));
        }
    }
}

fn read_token_response(
    status: StatusCode,
    headers: &HeaderMap,
    text: &str,
) -> Attempt<AccessToken> {
    // The OAuth endpoint answers a wrong client id/secret with 400 or 401 and an
    // `invalid_client`-style error; neither gets better by retrying.
    if status == StatusCode::BAD_REQUEST {
        return Attempt::Fatal(ShopifyError::Unauthorized);
    }
    if let Some(early) = classify_status(status, headers) {
        return early;
    }
    match serde_json::from_str::<TokenResponse>(text) {
        Ok(body) if !body.access_token.is_empty() => Attempt::Done(AccessToken {
            token: body.access_token.into(),
            expires_at: Instant::now() + Duration::from_secs(body.expires_in.unwrap_or(86_399)),
        }),
        _ => Attempt::Retry(
            ShopifyError::InvalidResponse("the token exchange answer has no access_token".into()),
            None,
        ),
    }
}
