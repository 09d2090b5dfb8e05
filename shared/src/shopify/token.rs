//! The client-credentials grant: a Dev Dashboard app's client id/secret exchanged for an Admin
//! API token that lives about 24 hours, cached in memory until shortly before it expires.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::time::Instant;

use super::error::ShopifyError;
use super::transport::{classify_status, Attempt, Transport};
use crate::deadline::Deadline;
use crate::domain::ShopDomain;

/// Refresh this long before Shopify says the token expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// The longest lifetime believed, whatever `expires_in` says (Shopify's tokens live a day).
const MAX_LIFETIME: Duration = Duration::from_secs(2 * 24 * 3600);

/// The lifetime assumed when Shopify does not say.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(86_399);

/// An Admin API token obtained from the client-credentials exchange.
#[derive(Clone, Debug)]
pub struct AccessToken {
    pub token: SecretString,
    pub expires_at: Instant,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    /// Seconds; any JSON number is accepted and clamped (an absurd value must not panic).
    expires_in: Option<f64>,
}

type Key = (String, String, u64);

/// Tokens per (shop, client id, client secret); the secret enters the key only as a keyed
/// hash, so a rotated secret misses the cache while nothing of it is kept in clear.
#[derive(Default)]
pub(super) struct TokenCache {
    hasher: RandomState,
    entries: Mutex<HashMap<Key, AccessToken>>,
}

impl TokenCache {
    pub fn key(&self, shop: &ShopDomain, client_id: &str, secret: &SecretString) -> Key {
        (
            shop.to_string(),
            client_id.to_owned(),
            self.hasher.hash_one(secret.expose_secret()),
        )
    }

    /// A cached token that is not about to expire.
    pub fn get(&self, key: &Key) -> Option<SecretString> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|t| t.expires_at > Instant::now() + REFRESH_MARGIN)
            .map(|t| t.token.clone())
    }

    pub fn put(&self, key: Key, token: AccessToken) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|_, t| t.expires_at > Instant::now());
        entries.insert(key, token);
    }

    pub fn remove(&self, key: &Key) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(key);
    }
}

/// `POST /admin/oauth/access_token` with `grant_type=client_credentials`.
pub(super) async fn exchange(
    transport: &Transport,
    deadline: &Deadline,
    shop: &ShopDomain,
    client_id: &str,
    client_secret: &SecretString,
) -> Result<AccessToken, ShopifyError> {
    let url = format!("{}/oauth/access_token", transport.admin_url(shop));
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", client_secret.expose_secret()),
    ];
    transport
        .send(
            deadline,
            "client_credentials_exchange",
            shop,
            || transport.http.post(&url).form(&form),
            read_token_response,
        )
        .await
}

/// When a token with `expires_in` seconds to live, received now, expires.
fn expiry(expires_in: Option<f64>) -> Instant {
    let lifetime = match expires_in {
        Some(seconds) if seconds.is_finite() && seconds > 0.0 => {
            Duration::from_secs_f64(seconds.min(MAX_LIFETIME.as_secs_f64()))
        }
        Some(_) => Duration::ZERO,
        None => DEFAULT_LIFETIME,
    };
    let now = Instant::now();
    now.checked_add(lifetime).unwrap_or(now)
}

fn read_token_response(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Attempt<AccessToken> {
    // The OAuth endpoint answers a wrong client id/secret with 400 or 401 and an
    // `invalid_client`-style error; neither gets better by retrying.
    if status == StatusCode::BAD_REQUEST {
        return Attempt::Fatal(ShopifyError::Unauthorized);
    }
    if let Some(early) = classify_status(status, headers) {
        return early;
    }
    match serde_json::from_slice::<TokenResponse>(body) {
        Ok(answer) if !answer.access_token.is_empty() => Attempt::Done(AccessToken {
            token: answer.access_token.into(),
            expires_at: expiry(answer.expires_in),
        }),
        _ => Attempt::Retry(
            ShopifyError::InvalidResponse("the token exchange answer has no access_token".into()),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absurd_expires_in_is_clamped_instead_of_panicking() {
        let now = Instant::now();
        for seconds in [
            f64::MAX,
            1e300,
            u64::MAX as f64,
            18_446_744_073_709_551_615.0,
        ] {
            let at = expiry(Some(seconds));
            assert!(at <= now + MAX_LIFETIME + Duration::from_secs(1));
        }
        assert!(expiry(Some(-5.0)) <= Instant::now());
        assert!(expiry(Some(f64::NAN)) <= Instant::now());
        assert!(expiry(None) > now + Duration::from_secs(86_000));
    }

    #[test]
    fn a_token_answer_with_a_huge_expires_in_parses() {
        let body = br#"{"access_token":"shpat_x","expires_in":18446744073709551615999}"#;
        let attempt = read_token_response(StatusCode::OK, &HeaderMap::new(), body);
        assert!(matches!(attempt, Attempt::Done(_)));
    }
}
