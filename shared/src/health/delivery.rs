//! Receiving Shopify's webhooks: the protocol behind `POST /shopify/webhooks`, from a delivery's
//! query parameters, headers and raw body to what it changed.
//!
//! First the organization's callback token (see [`super::token`]) is checked in constant time,
//! before anything is read: a request without it is refused at the cost of a hash, and learns
//! nothing about which stores are connected. Then a delivery is authenticated by
//! `X-Shopify-Hmac-Sha256`, the HMAC-SHA256 of the raw body under the store's client secret
//! (or, for [`ROTATION_GRACE`] after a rotation, the previous one). Anything that does not
//! verify is [`DeliveryError::NotSigned`], whatever the reason, and changes nothing; nothing
//! from an unverified body, and never the token, is logged.
//!
//! - `app/uninstalled` marks the store `invalid_credentials` at once and announces it, once
//!   Shopify confirms it by refusing a fresh token for the store's credentials (headers are not
//!   signed, and a signed body can be replayed: a replay against a reinstalled app changes
//!   nothing); one sent before the store was reconnected is ignored;
//! - `shop/update` queues a forced health check of the store, which refreshes its name,
//!   currency and order-number prefix/suffix (and announces a change of format);
//! - other topics are acknowledged and ignored.
//!
//! Deliveries are deduplicated by `X-Shopify-Webhook-Id`: a repeat is acknowledged and does
//! nothing. A body naming another shop than `X-Shopify-Shop-Domain` is refused.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::deadline::Deadline;
use crate::domain::{AuthType, Credentials, OrganizationId, ShopDomain, StoreStatus, Warning};
use crate::events::{DetectedBy, EventPublisher};
use crate::health::check::{HealthJob, StoreKey};
use crate::health::repo::{valid_webhook_id, Claim, HealthRepository};
use crate::health::token::WebhookTokens;
use crate::health::webhook::{verify_signature, ROTATION_GRACE};
use crate::lifecycle::outbox::flush_logged;
use crate::lifecycle::{
    credentials_at, record_check, stored_credentials, verify_record, Finding, LifecycleError,
    Storage, VerifyError,
};
use crate::queue::{Queue, QueueError};
use crate::secrets::SecretsError;
use crate::shopify::{ShopifyClient, ShopifyError};
use crate::store::{StoreError, StoreRecord};

/// Everything the webhook endpoint runs on.
#[derive(Clone)]
pub struct WebhookPorts {
    pub storage: Storage,
    pub shopify: ShopifyClient,
    /// Where status changes are announced; without it they wait in the stores' outboxes.
    pub events: Option<Arc<dyn EventPublisher>>,
    /// The callback tokens (`WEBHOOK_TOKEN_SECRET`, required).
    pub tokens: Arc<WebhookTokens>,
    pub repo: Arc<dyn HealthRepository>,
    /// Where a `shop/update` queues its check; without it the check runs inline.
    pub queue: Option<Arc<dyn Queue<HealthJob>>>,
}

/// A delivery as it arrived: the callback's query parameters, the headers that matter
/// (trimmed) and the raw body. Nothing in it is trusted yet; its `Debug` shows neither the
/// token nor the body (only its length).
#[derive(Clone, Copy, Default)]
pub struct Incoming<'a> {
    /// `org_id` of the callback URL.
    pub org_id: Option<&'a str>,
    /// `token` of the callback URL.
    pub token: Option<&'a str>,
    /// `X-Shopify-Shop-Domain`.
    pub shop_domain: Option<&'a str>,
    /// `X-Shopify-Hmac-Sha256`.
    pub signature: Option<&'a str>,
    /// `X-Shopify-Topic`.
    pub topic: Option<&'a str>,
    /// `X-Shopify-Webhook-Id`.
    pub webhook_id: Option<&'a str>,
    /// `X-Shopify-Triggered-At`.
    pub triggered_at: Option<&'a str>,
    pub body: &'a [u8],
}

impl std::fmt::Debug for Incoming<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("org_id", &self.org_id)
            .field("token", &self.token.map(|_| "<redacted>"))
            .field("shop_domain", &self.shop_domain)
            .field("signature", &self.signature)
            .field("topic", &self.topic)
            .field("webhook_id", &self.webhook_id)
            .field("triggered_at", &self.triggered_at)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

/// Why a delivery was not handled.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The one answer to every delivery that does not verify, whatever the reason.
    #[error("the webhook is not signed by the app of a store connected to the organization")]
    NotSigned,
    /// The token key could not be read; Shopify retries.
    #[error("the webhook token key could not be read")]
    TokenKey(#[source] SecretsError),
    #[error("the webhook id is missing or not an id")]
    InvalidWebhookId,
    /// Another delivery of the same webhook is being handled; Shopify retries.
    #[error("the delivery is being handled")]
    InProgress,
    /// Shopify could not be asked to confirm an uninstall; Shopify retries.
    #[error("the uninstall could not be confirmed")]
    Unconfirmed(#[source] ShopifyError),
    /// The check of an updated shop could not be queued; Shopify retries.
    #[error("the check of the updated shop could not be queued")]
    Queue(#[source] QueueError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

impl From<SecretsError> for DeliveryError {
    fn from(e: SecretsError) -> Self {
        Self::Lifecycle(e.into())
    }
}

/// What Shopify's webhook names, once its headers parse.
struct Delivery<'a> {
    org: OrganizationId,
    shop: ShopDomain,
    signature: &'a str,
    topic: &'a str,
    webhook_id: &'a str,
    triggered_at: Option<DateTime<Utc>>,
}

impl<'a> Delivery<'a> {
    /// The delivery's headers, when the shop and the signature are there and well formed.
    fn parse(incoming: &Incoming<'a>, org: OrganizationId) -> Option<Self> {
        let shop_header = incoming.shop_domain?;
        let shop = ShopDomain::parse(shop_header)
            .ok()
            .filter(|s| s.as_str() == shop_header.to_ascii_lowercase())?;
        Some(Self {
            org,
            shop,
            signature: incoming.signature.filter(|s| !s.is_empty())?,
            topic: incoming.topic.unwrap_or_default(),
            webhook_id: incoming.webhook_id.unwrap_or_default(),
            triggered_at: incoming
                .triggered_at
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
        })
    }
}

/// The organization a request names, when its callback token is that organization's: checked
/// before anything is read (the keys come from the container's cache).
async fn caller(
    ports: &WebhookPorts,
    incoming: &Incoming<'_>,
    deadline: &Deadline,
) -> Result<Option<OrganizationId>, DeliveryError> {
    let (Some(org), Some(token)) = (incoming.org_id, incoming.token) else {
        return Ok(None);
    };
    let Ok(org) = OrganizationId::parse(org) else {
        return Ok(None);
    };
    match deadline
        .run(ports.tokens.accepts(&org, token, Utc::now()))
        .await
    {
        Ok(true) => Ok(Some(org)),
        Ok(false) => Ok(None),
        Err(error) => {
            tracing::warn!(%error, "cannot read the webhook token key; Shopify will retry");
            Err(DeliveryError::TokenKey(error))
        }
    }
}

/// The client secrets a delivery for `record` may be signed with: the current one, and the
/// previous one for [`ROTATION_GRACE`] after a rotation.
pub async fn signing_secrets(
    storage: &Storage,
    record: &StoreRecord,
    deadline: &Deadline,
) -> Result<Vec<SecretString>, SecretsError> {
    let name = storage.secret_name(&record.org_id, &record.shop_domain);
    let mut versions = vec![&record.credentials_version];
    let grace = chrono::Duration::from_std(ROTATION_GRACE).expect("an hour");
    if let Some(previous) = &record.previous_credentials_version {
        if Utc::now() < record.credentials_updated_at + grace {
            versions.push(previous);
        }
    }
    let mut secrets = Vec::new();
    for version in versions {
        let credentials =
            credentials_at(storage.secrets.as_ref(), &name, version, deadline).await?;
        if let Some(Credentials::ClientCredentials { client_secret, .. }) = credentials {
            secrets.push(client_secret);
        }
    }
    Ok(secrets)
}

/// The shop a topic's payload names (`myshopify_domain`), when it names one.
fn payload_shop(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value
        .get("myshopify_domain")
        .and_then(|d| d.as_str())
        .map(|d| d.trim().to_ascii_lowercase())
}

/// Handles one delivery within `deadline`: authenticates it, claims its webhook id, applies
/// its topic. Answers what it did (`duplicate`, `stale`, `uninstalled`, `not_confirmed`,
/// `shop_updated` or `ignored`).
pub async fn receive(
    ports: &WebhookPorts,
    deadline: &Deadline,
    incoming: Incoming<'_>,
) -> Result<&'static str, DeliveryError> {
    // Whatever is wrong before the signature verifies is the same refusal; without the
    // organization's token, nothing is read at all.
    let Some(org) = caller(ports, &incoming, deadline).await? else {
        tracing::debug!("a webhook request without its organization's token");
        return Err(DeliveryError::NotSigned);
    };
    let Some(delivery) = Delivery::parse(&incoming, org) else {
        tracing::info!("a webhook without a valid org, shop or signature header");
        return Err(DeliveryError::NotSigned);
    };
    let record = deadline
        .run(ports.storage.stores.get(&delivery.org, &delivery.shop))
        .await?
        .filter(|r| r.auth_type == AuthType::ClientCredentials);
    let Some(record) = record else {
        tracing::info!("a webhook for no store connected with client credentials");
        return Err(DeliveryError::NotSigned);
    };
    let secrets = signing_secrets(&ports.storage, &record, deadline).await?;
    if !verify_signature(incoming.body, delivery.signature, &secrets) {
        tracing::warn!(org_id = %delivery.org, shop = %delivery.shop, "a webhook whose signature does not verify");
        return Err(DeliveryError::NotSigned);
    }
    // The signature covers the body only: a body about another shop (one app installed on
    // several stores shares its secret) is not this shop's delivery.
    if matches!(delivery.topic, "app/uninstalled" | "shop/update")
        && payload_shop(incoming.body).as_deref() != Some(delivery.shop.as_str())
    {
        tracing::warn!(org_id = %delivery.org, shop = %delivery.shop, topic = delivery.topic, "a signed webhook whose body names another shop");
        return Err(DeliveryError::NotSigned);
    }
    if !valid_webhook_id(delivery.webhook_id) {
        return Err(DeliveryError::InvalidWebhookId);
    }
    let (org, shop, id) = (&delivery.org, &delivery.shop, delivery.webhook_id);
    match deadline
        .run(ports.repo.claim_webhook(org, shop, id, Utc::now()))
        .await?
    {
        Claim::Done => {
            tracing::info!(org_id = %org, shop = %shop, webhook_id = id, "a repeated webhook delivery");
            return Ok("duplicate");
        }
        Claim::InProgress => return Err(DeliveryError::InProgress),
        Claim::New => {}
    }
    tracing::info!(org_id = %org, shop = %shop, topic = delivery.topic, webhook_id = id, "webhook received");
    // The claim is marked done or released whatever the topic's work came to: a claim left
    // behind would answer Shopify's retries "in progress" until its lease ran out.
    let work = deadline.minus(CLAIM_RESERVE);
    match apply(ports, &delivery, record, &work).await {
        Ok(answer) => {
            if let Err(error) = deadline.run(ports.repo.finish_webhook(org, shop, id)).await {
                tracing::warn!(%error, "could not mark the webhook handled; a repeat is applied again, harmlessly");
            }
            Ok(answer)
        }
        Err(error) => {
            let _ = deadline
                .run(ports.repo.release_webhook(org, shop, id))
                .await;
            Err(error)
        }
    }
}

/// Kept back from a delivery's work for marking its claim done, or releasing it.
const CLAIM_RESERVE: Duration = Duration::from_millis(500);

/// Kept back from confirming an uninstall at Shopify for recording what Shopify said.
const RECORD_RESERVE: Duration = Duration::from_millis(1_500);

/// What an uninstall Shopify confirmed finds.
fn uninstalled() -> Finding {
    Finding {
        status: StoreStatus::InvalidCredentials,
        granted_scopes: None,
        warning: Some(Warning {
            code: "invalid_credentials".into(),
            message: "The app was uninstalled from the store, so Shopify no longer accepts its credentials. Install the app again, then paste its credentials to reconnect the store.".into(),
        }),
        shop: None,
    }
}

/// Applies a verified, claimed delivery's topic to `record`.
async fn apply(
    ports: &WebhookPorts,
    delivery: &Delivery<'_>,
    record: StoreRecord,
    deadline: &Deadline,
) -> Result<&'static str, DeliveryError> {
    let storage = &ports.storage;
    let events = ports.events.as_ref();
    match delivery.topic {
        "app/uninstalled" => {
            if delivery
                .triggered_at
                .is_some_and(|at| at < record.credentials_updated_at)
            {
                tracing::info!(shop = %delivery.shop, "an uninstall from before the store was reconnected; ignored");
                return Ok("stale");
            }
            if record.status == StoreStatus::InvalidCredentials {
                if !record.outbox.is_empty() {
                    // Marked already: announce what an earlier delivery left in the outbox.
                    flush_logged(storage, events, deadline, &delivery.org, &delivery.shop).await;
                }
                return Ok("uninstalled");
            }
            // Headers are not signed and a signed body can be replayed: Shopify itself confirms
            // the uninstall by refusing a fresh token for the store's credentials.
            let name = storage.secret_name(&record.org_id, &record.shop_domain);
            let credentials =
                stored_credentials(storage.secrets.as_ref(), &name, &record, deadline)
                    .await?
                    .ok_or(DeliveryError::NotSigned)?;
            // Shopify may take its time: what it says is recorded within the deadline.
            let asking = deadline.minus(RECORD_RESERVE);
            match ports
                .shopify
                .fresh_token(&asking, &delivery.shop, &credentials)
                .await
            {
                Ok(_) => {
                    tracing::warn!(shop = %delivery.shop, "an uninstall Shopify does not confirm (the credentials still work); ignored");
                    return Ok("not_confirmed");
                }
                Err(ShopifyError::Unauthorized) => {}
                Err(error) => {
                    tracing::warn!(shop = %delivery.shop, %error, "could not confirm an uninstall; Shopify will retry it");
                    return Err(DeliveryError::Unconfirmed(error));
                }
            }
            record_check(
                storage,
                events,
                deadline,
                &record,
                &uninstalled(),
                DetectedBy::Webhook,
            )
            .await?;
            Ok("uninstalled")
        }
        "shop/update" => {
            let key = StoreKey {
                org_id: delivery.org.clone(),
                shop_domain: delivery.shop.clone(),
            };
            match &ports.queue {
                Some(queue) => {
                    let job = HealthJob::Check {
                        stores: vec![key],
                        force: true,
                    };
                    deadline
                        .run(queue.send(&job, Duration::ZERO))
                        .await
                        .map_err(|e| {
                            tracing::warn!(error = %e, "could not queue the check of an updated shop");
                            DeliveryError::Queue(e)
                        })?;
                }
                None => {
                    verify_record(
                        storage,
                        &ports.shopify,
                        events,
                        *deadline,
                        record,
                        DetectedBy::Webhook,
                    )
                    .await?;
                }
            }
            Ok("shop_updated")
        }
        _ => Ok("ignored"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_shown_for_debugging_hides_its_token_and_body() {
        let incoming = Incoming {
            org_id: Some("org-1"),
            token: Some("callback-token-secret"),
            shop_domain: Some("a.myshopify.com"),
            body: b"{\"email\":\"someone@example.com\"}",
            ..Incoming::default()
        };

        let shown = format!("{incoming:?}");

        assert!(!shown.contains("callback-token-secret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains("someone@example.com"), "{shown}");
        assert!(shown.contains("<31 bytes>"), "{shown}");
        assert!(shown.contains("a.myshopify.com"), "{shown}");
    }
}
