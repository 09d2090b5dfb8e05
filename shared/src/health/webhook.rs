//! Shopify webhooks for stores connected with a Dev Dashboard app's client credentials: we hold
//! the app's client secret, which is the key Shopify signs its webhooks with.
//!
//! On connect and rotation, [`subscribe`] asks Shopify (`webhookSubscriptionCreate`) to send
//! `app/uninstalled` and `shop/update` to `{WEBHOOK_BASE_URL}/shopify/webhooks?org_id={org}`.
//! Repeating it is harmless: Shopify refuses a second subscription of the same topic and
//! address with a user error, which counts as done. [`verify_signature`] checks
//! `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the raw body) in constant time.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::deadline::Deadline;
use crate::domain::{Credentials, OrganizationId, ShopDomain};
use crate::shopify::queries::SUBSCRIBE_WEBHOOK;
use crate::shopify::{ShopifyClient, ShopifyError};

/// The topics subscribed: (GraphQL enum, `X-Shopify-Topic` header).
pub const TOPICS: [(&str, &str); 2] = [
    ("APP_UNINSTALLED", "app/uninstalled"),
    ("SHOP_UPDATE", "shop/update"),
];

/// After a rotation, webhooks signed with the previous client secret are accepted this long.
pub const ROTATION_GRACE: Duration = Duration::from_secs(3600);

/// The address Shopify delivers an organization's webhooks to.
pub fn callback_url(base: &str, org: &OrganizationId) -> String {
    format!(
        "{}/shopify/webhooks?org_id={org}",
        base.trim_end_matches('/')
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subscribed {
    webhook_subscription_create: Payload,
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

/// Why a subscription did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error(transparent)]
    Shopify(#[from] ShopifyError),
    #[error("Shopify refused the webhook subscription: {0}")]
    Refused(String),
}

/// Subscribes `shop`'s app to [`TOPICS`] at `callback`. Only stores connected with client
/// credentials get webhooks (a static token has no secret to verify them with).
pub async fn subscribe(
    shopify: &ShopifyClient,
    deadline: &Deadline,
    shop: &ShopDomain,
    credentials: &Credentials,
    callback: &str,
) -> Result<(), SubscribeError> {
    let token = shopify.access_token(deadline, shop, credentials).await?;
    for (topic, _) in TOPICS {
        let answer: Subscribed = shopify
            .query(
                deadline,
                shop,
                &token,
                &SUBSCRIBE_WEBHOOK,
                serde_json::json!({"topic": topic, "uri": callback}),
            )
            .await?;
        let refused: Vec<_> = answer
            .webhook_subscription_create
            .user_errors
            .into_iter()
            .map(|e| e.message)
            // The same topic and address again: already subscribed.
            .filter(|m| !m.to_ascii_lowercase().contains("already been taken"))
            .collect();
        if !refused.is_empty() {
            return Err(SubscribeError::Refused(refused.join("; ")));
        }
    }
    Ok(())
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
        let key = aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            secret.expose_secret().as_bytes(),
        );
        aws_lc_rs::hmac::verify(&key, body, &tag).is_ok()
    })
}

/// The signature Shopify would send for `body` under `secret` (tests, the local sample).
pub fn sign(body: &[u8], secret: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    aws_smithy_types::base64::encode(aws_lc_rs::hmac::sign(&key, body).as_ref())
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
    fn the_callback_names_the_organization() {
        let org = OrganizationId::parse("org_1").unwrap();
        assert_eq!(
            callback_url("https://api.example.com/", &org),
            "https://api.example.com/shopify/webhooks?org_id=org_1"
        );
    }
}
