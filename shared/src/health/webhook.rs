//! Shopify webhooks for stores connected with a Dev Dashboard app's client credentials: we hold
//! the app's client secret, which is the key Shopify signs its webhooks with.
//!
//! On connect and rotation, and at every health check of the store, [`ensure_subscribed`]
//! makes sure Shopify sends `app/uninstalled` and `shop/update` to
//! `{WEBHOOK_BASE_URL}/shopify/webhooks?org_id={org}&token={token}` (see [`super::token`]): it
//! reads the app's subscriptions to those topics (`webhookSubscriptions`), re-points one of ours
//! whose address is stale (an older token, or none) with `webhookSubscriptionUpdate`, and
//! creates a missing one with `webhookSubscriptionCreate` (Shopify deletes subscriptions whose
//! deliveries keep failing); [`SubscribeOnConnect`] does so after a connect or rotation.
//! [`verify_signature`] checks `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the raw body) in
//! constant time.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::deadline::Deadline;
use crate::domain::{Credentials, OrganizationId, ShopDomain};
use crate::health::token::WebhookTokens;
use crate::lifecycle::connect::{AfterConnect, Connected};
use crate::secrets::SecretsError;
use crate::shopify::queries::{REPOINT_WEBHOOK, SUBSCRIBE_WEBHOOK, WEBHOOK_SUBSCRIPTIONS};
use crate::shopify::{ShopifyClient, ShopifyError};

/// The topics subscribed: (GraphQL enum, `X-Shopify-Topic` header).
pub const TOPICS: [(&str, &str); 2] = [
    ("APP_UNINSTALLED", "app/uninstalled"),
    ("SHOP_UPDATE", "shop/update"),
];

/// After a rotation, webhooks signed with the previous client secret are accepted this long.
pub const ROTATION_GRACE: Duration = Duration::from_secs(3600);

/// The address Shopify delivers an organization's webhooks to, with its token: a credential.
pub fn callback_url(base: &str, org: &OrganizationId, token: &SecretString) -> SecretString {
    SecretString::from(format!(
        "{}&token={}",
        route_of(base, org),
        token.expose_secret()
    ))
}

/// The callback without its token: how the addresses of `org`'s subscriptions begin (and the
/// whole address of those made before tokens).
fn route_of(base: &str, org: &OrganizationId) -> String {
    format!(
        "{}/shopify/webhooks?org_id={org}",
        base.trim_end_matches('/')
    )
}

/// Where this deployment receives webhooks: `WEBHOOK_BASE_URL` and the tokens.
#[derive(Clone)]
pub struct WebhookEndpoint {
    pub base_url: String,
    pub tokens: Arc<WebhookTokens>,
}

impl WebhookEndpoint {
    /// `org`'s callback URL under the current token.
    pub async fn callback(&self, org: &OrganizationId) -> Result<SecretString, SecretsError> {
        let token = self.tokens.token(org).await?;
        Ok(callback_url(&self.base_url, org, &token))
    }

    /// Whether a subscription's address is one of ours for `org`, whatever its token.
    fn is_ours(&self, uri: &str, org: &OrganizationId) -> bool {
        let route = route_of(&self.base_url, org);
        uri == route
            || uri
                .strip_prefix(route.as_str())
                .is_some_and(|rest| rest.starts_with('&'))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subscriptions {
    webhook_subscriptions: Nodes,
}

#[derive(Deserialize)]
struct Nodes {
    nodes: Vec<Subscription>,
}

#[derive(Deserialize)]
struct Subscription {
    id: String,
    topic: String,
    #[serde(default)]
    uri: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Created {
    webhook_subscription_create: Payload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Updated {
    webhook_subscription_update: Payload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    #[serde(default)]
    user_errors: Vec<UserError>,
}

#[derive(Deserialize)]
struct UserError {
    message: String,
}

impl Payload {
    fn refused(self) -> Result<(), SubscribeError> {
        let refused: Vec<_> = self
            .user_errors
            .into_iter()
            .map(|e| e.message)
            // The same topic and address again: already subscribed.
            .filter(|m| !m.to_ascii_lowercase().contains("already been taken"))
            .collect();
        if refused.is_empty() {
            Ok(())
        } else {
            Err(SubscribeError::Refused(refused.join("; ")))
        }
    }
}

/// Why a subscription did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error(transparent)]
    Shopify(#[from] ShopifyError),
    #[error("Shopify refused the webhook subscription: {0}")]
    Refused(String),
    #[error("the webhook token key could not be read")]
    Token(#[source] SecretsError),
}

/// What [`ensure_subscribed`] had to do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Subscribed {
    /// Subscriptions created (missing before).
    pub created: usize,
    /// Subscriptions pointed at the current address (they had a stale one).
    pub repointed: usize,
}

/// Makes sure `shop`'s app sends [`TOPICS`] to `org`'s current callback: one read of the
/// app's subscriptions, then a create or an update only for what is missing or stale. Only
/// stores connected with client credentials get webhooks (a static token has no secret to
/// verify them with).
pub async fn ensure_subscribed(
    shopify: &ShopifyClient,
    deadline: &Deadline,
    endpoint: &WebhookEndpoint,
    org: &OrganizationId,
    shop: &ShopDomain,
    credentials: &Credentials,
) -> Result<Subscribed, SubscribeError> {
    // The token key is read from Secrets Manager when the cache has none: within the deadline.
    let callback = deadline
        .run(endpoint.callback(org))
        .await
        .map_err(SubscribeError::Token)?;
    let token = shopify.access_token(deadline, shop, credentials).await?;
    let topics: Vec<&str> = TOPICS.iter().map(|(topic, _)| *topic).collect();
    let existing: Subscriptions = shopify
        .query(
            deadline,
            shop,
            &token,
            &WEBHOOK_SUBSCRIPTIONS,
            serde_json::json!({ "topics": topics }),
        )
        .await?;
    let ours: Vec<Subscription> = existing
        .webhook_subscriptions
        .nodes
        .into_iter()
        .filter(|s| endpoint.is_ours(&s.uri, org))
        .collect();
    let mut done = Subscribed::default();
    for topic in topics {
        let mine = ours.iter().filter(|s| s.topic == topic);
        if mine.clone().any(|s| s.uri == callback.expose_secret()) {
            continue;
        }
        let variables = serde_json::json!({"uri": callback.expose_secret()});
        match mine.clone().next() {
            Some(stale) => {
                let mut variables = variables;
                variables["id"] = stale.id.clone().into();
                let answer: Updated = shopify
                    .query(deadline, shop, &token, &REPOINT_WEBHOOK, variables)
                    .await?;
                answer.webhook_subscription_update.refused()?;
                done.repointed += 1;
            }
            None => {
                let mut variables = variables;
                variables["topic"] = topic.into();
                let answer: Created = shopify
                    .query(deadline, shop, &token, &SUBSCRIBE_WEBHOOK, variables)
                    .await?;
                answer.webhook_subscription_create.refused()?;
                done.created += 1;
            }
        }
    }
    Ok(done)
}

/// What subscribing a store's webhooks may add to a connect.
pub const CONNECT_BUDGET: Duration = Duration::from_secs(5);

/// Subscribes a connected client-credentials store's app to [`TOPICS`], last after a connect
/// and within [`CONNECT_BUDGET`] of its own: a slow Shopify delays the answer at most this
/// long. Best effort: the health check covers a store without webhooks.
pub struct SubscribeOnConnect {
    pub shopify: ShopifyClient,
    /// Where webhooks are subscribed; `None` without `WEBHOOK_BASE_URL` (or the tokens).
    pub endpoint: Option<WebhookEndpoint>,
}

#[async_trait]
impl AfterConnect for SubscribeOnConnect {
    async fn connected(
        &self,
        deadline: &Deadline,
        connected: &Connected,
        credentials: &Credentials,
    ) {
        if !matches!(credentials, Credentials::ClientCredentials { .. }) {
            return;
        }
        let (org, shop) = (&connected.record().org_id, &connected.record().shop_domain);
        let Some(endpoint) = &self.endpoint else {
            tracing::warn!(org_id = %org, shop = %shop, "WEBHOOK_BASE_URL is not set: no webhooks subscribed; the health check still covers the store");
            return;
        };
        let budget = deadline.within(CONNECT_BUDGET);
        match ensure_subscribed(&self.shopify, &budget, endpoint, org, shop, credentials).await {
            Ok(done) => {
                tracing::info!(org_id = %org, shop = %shop, created = done.created, repointed = done.repointed, "webhooks subscribed")
            }
            Err(error) => {
                tracing::warn!(org_id = %org, shop = %shop, %error, "could not subscribe the webhooks; the health check still covers the store")
            }
        }
    }
}

/// Whether `signature` (the `X-Shopify-Hmac-Sha256` header) is the HMAC-SHA256 of `body` under
/// one of `secrets`. Constant time in the signature.
pub fn verify_signature(body: &[u8], signature: &str, secrets: &[SecretString]) -> bool {
    let Ok(tag) = aws_smithy_types::base64::decode(signature.trim()) else {
        return false;
    };
    if tag.len() != 32 {
        return false;
    }
    secrets.iter().any(|secret| {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.expose_secret().as_bytes());
        ring::hmac::verify(&key, body, &tag).is_ok()
    })
}

/// The signature Shopify would send for `body` under `secret` (tests, the local sample).
pub fn sign(body: &[u8], secret: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    aws_smithy_types::base64::encode(ring::hmac::sign(&key, body).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_under_its_secret_only() {
        let body = br#"{"id":1}"#;
        let signature = sign(body, "secret-a");
        let a = SecretString::from("secret-a");
        let b = SecretString::from("secret-b");
        assert!(verify_signature(body, &signature, std::slice::from_ref(&a)));
        assert!(verify_signature(body, &signature, &[b.clone(), a.clone()]));
        assert!(!verify_signature(body, &signature, &[b]));
        assert!(!verify_signature(
            b"{\"id\":2}",
            &signature,
            std::slice::from_ref(&a)
        ));
        assert!(!verify_signature(body, "", std::slice::from_ref(&a)));
        assert!(!verify_signature(
            body,
            "not base64!",
            std::slice::from_ref(&a)
        ));
        assert!(!verify_signature(body, &signature[..20], &[a]));
    }

    #[test]
    fn the_callback_names_the_organization_and_carries_its_token() {
        let org = OrganizationId::parse("org_1").unwrap();
        let token = SecretString::from("ab".repeat(32));
        assert_eq!(
            callback_url("https://api.example.com/", &org, &token).expose_secret(),
            format!(
                "https://api.example.com/shopify/webhooks?org_id=org_1&token={}",
                "ab".repeat(32)
            )
        );
    }

    #[test]
    fn only_the_organizations_own_addresses_are_ours() {
        let endpoint = WebhookEndpoint {
            base_url: "https://api.example.com".into(),
            tokens: Arc::new(WebhookTokens::new(Arc::new(
                crate::health::token::MemoryTokenKeys::new("k"),
            ))),
        };
        let org = OrganizationId::parse("org_1").unwrap();
        let ours = |uri: &str| endpoint.is_ours(uri, &org);
        assert!(ours(
            "https://api.example.com/shopify/webhooks?org_id=org_1"
        ));
        assert!(ours(
            "https://api.example.com/shopify/webhooks?org_id=org_1&token=00"
        ));
        assert!(!ours(
            "https://api.example.com/shopify/webhooks?org_id=org_12&token=00"
        ));
        assert!(!ours(
            "https://api.example.com/shopify/webhooks?org_id=org_2"
        ));
        assert!(!ours(
            "https://other.example.com/shopify/webhooks?org_id=org_1"
        ));
    }
}
