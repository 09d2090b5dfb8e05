//! `POST /shopify/webhooks?org_id=...` — Shopify's webhooks for stores connected with client
//! credentials. No JWT: a delivery is authenticated only by `X-Shopify-Hmac-Sha256`, the
//! HMAC-SHA256 of the raw body under the store's client secret (or, for an hour after a
//! rotation, the previous one). Anything that does not verify answers 401 and changes nothing;
//! nothing from an unverified body is logged.
//!
//! - `app/uninstalled` marks the store `invalid_credentials` at once and announces it, once
//!   Shopify confirms it by refusing a fresh token for the store's credentials (headers are not
//!   signed, and a signed body can be replayed: a replay against a reinstalled app changes
//!   nothing); one sent before the store was reconnected is ignored;
//! - `shop/update` queues a forced health check of the store, which refreshes its name,
//!   currency and order-number prefix/suffix (and announces a change of format);
//! - other topics are acknowledged and ignored.
//!
//! Deliveries are deduplicated by `X-Shopify-Webhook-Id`: a repeat answers 200 and does nothing.
//! A body naming another shop than `X-Shopify-Shop-Domain` is refused. Everything fits in
//! [`BUDGET`], inside Shopify's 5-second timeout.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use secrecy::SecretString;
use shared::domain::{Credentials, OrganizationId, ShopDomain};
use shared::failure::Code;
use shared::health::change::{flush_logged, DetectedBy};
use shared::health::check::{HealthJob, HealthQueue, StoreKey};
use shared::health::repo::{valid_webhook_id, Claim, DynamoHealth, HealthRepository};
use shared::health::webhook::{verify_signature, ROTATION_GRACE};
use shared::http;
use shared::lifecycle::{self, record_check, Finding};
use shared::shopify::{ShopifyError, Warning};
use shared::store::{StoreRecord, StoreStatus};
use shared::{ApiError, Services};
use tracing::Instrument;

/// Everything the endpoint runs on.
#[derive(Clone)]
pub struct WebhookPorts {
    pub services: Services,
    pub repo: Arc<dyn HealthRepository>,
    /// Where a `shop/update` queues its check; without it the check runs inline.
    pub queue: Option<Arc<dyn HealthQueue>>,
}

impl WebhookPorts {
    pub async fn from_env() -> Result<Self, shared::config::ConfigError> {
        let config = shared::Config::from_env()?;
        let sdk = shared::aws::sdk_config().await;
        let services = Services::from_sdk(&config, &sdk);
        let queue: Option<Arc<dyn HealthQueue>> = config.health.queue_url.clone().map(|url| {
            Arc::new(shared::knowledge::aws::SqsQueue::new(
                aws_sdk_sqs::Client::new(&sdk),
                url,
            )) as Arc<dyn HealthQueue>
        });
        Ok(Self {
            repo: Arc::new(DynamoHealth::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                config.stores_table.clone(),
            )),
            services,
            queue,
        })
    }
}

/// The one answer to every delivery that does not verify, whatever the reason.
fn not_signed() -> ApiError {
    ApiError::new(
        Code::Unauthorized,
        "The webhook is not signed by the app of a store connected to this organization.",
    )
}

/// The headers of a delivery.
struct Delivery<'a> {
    org: OrganizationId,
    shop: ShopDomain,
    signature: &'a str,
    topic: &'a str,
    webhook_id: &'a str,
    triggered_at: Option<DateTime<Utc>>,
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

/// Handles one delivery; always answers.
pub async fn handle(ports: &WebhookPorts, req: Request) -> Result<Response<Body>, Error> {
    let span = tracing::info_span!("webhook", request_id = %http::request_id(&req));
    let response = async {
        match receive(ports, &req).await {
            Ok(answer) => {
                http::json_response(200, &serde_json::json!({ "ok": true, "handled": answer }))
            }
            Err(error) => http::error_response(&error),
        }
    }
    .instrument(span)
    .await;
    Ok(response)
}

fn delivery(req: &Request) -> Option<Delivery<'_>> {
    let org = req
        .query_string_parameters_ref()
        .and_then(|q| q.first("org_id"))
        .and_then(|raw| OrganizationId::parse(raw).ok())?;
    let shop_header = header(req, "x-shopify-shop-domain")?;
    let shop = ShopDomain::parse(shop_header)
        .ok()
        .filter(|s| s.as_str() == shop_header.to_ascii_lowercase())?;
    Some(Delivery {
        org,
        shop,
        signature: header(req, "x-shopify-hmac-sha256").filter(|s| !s.is_empty())?,
        topic: header(req, "x-shopify-topic").unwrap_or_default(),
        webhook_id: header(req, "x-shopify-webhook-id").unwrap_or_default(),
        triggered_at: header(req, "x-shopify-triggered-at")
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
    })
}

/// The client secrets a delivery for `record` may be signed with: the current one, and the
/// previous one for [`ROTATION_GRACE`] after a rotation.
async fn secrets_of(
    ports: &WebhookPorts,
    record: &StoreRecord,
    deadline: &shared::Deadline,
) -> Result<Vec<SecretString>, ApiError> {
    let storage = &ports.services.storage;
    let name = storage.secret_name(&record.org_id, &record.shop_domain);
    let mut versions = vec![record.credentials_version.clone()];
    let grace = chrono::Duration::from_std(ROTATION_GRACE).expect("an hour");
    if let Some(previous) = &record.previous_credentials_version {
        if Utc::now() < record.credentials_updated_at + grace {
            versions.push(previous.clone());
        }
    }
    let mut secrets = Vec::new();
    for version in versions {
        let mut at = record.clone();
        at.credentials_version = version;
        let credentials =
            lifecycle::stored_credentials(storage.secrets.as_ref(), &name, &at, deadline)
                .await
                .map_err(|e| shared::error::logged(lifecycle::LifecycleError::from(e)))?;
        if let Some(Credentials::ClientCredentials { client_secret, .. }) = credentials {
            secrets.push(client_secret);
        }
    }
    Ok(secrets)
}

/// What the endpoint may spend on a delivery: Shopify gives up after 5 seconds.
pub const BUDGET: Duration = Duration::from_millis(4_500);

/// The shop a topic's payload names (`myshopify_domain`), when it names one.
fn payload_shop(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value
        .get("myshopify_domain")
        .and_then(|d| d.as_str())
        .map(|d| d.trim().to_ascii_lowercase())
}

async fn receive(ports: &WebhookPorts, req: &Request) -> Result<&'static str, ApiError> {
    let body = body_bytes(req);
    if body.len() > http::MAX_BODY_BYTES {
        return Err(ApiError::payload_too_large());
    }
    let deadline = http::deadline(req).within(BUDGET);
    // Whatever is wrong before the signature verifies answers the same 401.
    let Some(delivery) = delivery(req) else {
        tracing::info!("a webhook without a valid org, shop or signature header");
        return Err(not_signed());
    };
    let stores = &ports.services.storage.stores;
    let record = deadline
        .run(stores.get(&delivery.org, &delivery.shop))
        .await
        .map_err(shared::error::logged)?
        .filter(|r| r.auth_type == shared::domain::AuthType::ClientCredentials);
    let Some(record) = record else {
        tracing::info!("a webhook for no store connected with client credentials");
        return Err(not_signed());
    };
    let secrets = secrets_of(ports, &record, &deadline).await?;
    if !verify_signature(body, delivery.signature, &secrets) {
        tracing::warn!(org_id = %delivery.org, shop = %delivery.shop, "a webhook whose signature does not verify");
        return Err(not_signed());
    }
    // The signature covers the body only: a body about another shop (one app installed on
    // several stores shares its secret) is not this shop's delivery.
    if matches!(delivery.topic, "app/uninstalled" | "shop/update")
        && payload_shop(body).as_deref() != Some(delivery.shop.as_str())
    {
        tracing::warn!(org_id = %delivery.org, shop = %delivery.shop, topic = delivery.topic, "a signed webhook whose body names another shop");
        return Err(not_signed());
    }
    if !valid_webhook_id(delivery.webhook_id) {
        return Err(ApiError::invalid_request(
            "X-Shopify-Webhook-Id is missing or not an id (1-128 letters, digits, - and _).",
        ));
    }
    let (org, shop, id) = (&delivery.org, &delivery.shop, delivery.webhook_id);
    match deadline
        .run(ports.repo.claim_webhook(org, shop, id, Utc::now()))
        .await
        .map_err(shared::error::logged)?
    {
        Claim::Done => {
            tracing::info!(org_id = %org, shop = %shop, webhook_id = id, "a repeated webhook delivery");
            return Ok("duplicate");
        }
        Claim::InProgress => {
            return Err(ApiError::new(
                Code::StorageUnavailable,
                "This delivery is being handled; Shopify will retry it.",
            ))
        }
        Claim::New => {}
    }
    tracing::info!(org_id = %org, shop = %shop, topic = delivery.topic, webhook_id = id, "webhook received");
    let handled = apply(ports, &delivery, record, &deadline).await;
    match handled {
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

async fn apply(
    ports: &WebhookPorts,
    delivery: &Delivery<'_>,
    record: StoreRecord,
    deadline: &shared::Deadline,
) -> Result<&'static str, ApiError> {
    let services = &ports.services;
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
                    flush_logged(
                        &services.storage,
                        services.events.as_ref(),
                        deadline,
                        &delivery.org,
                        &delivery.shop,
                    )
                    .await;
                }
                return Ok("uninstalled");
            }
            // Headers are not signed and a signed body can be replayed: Shopify itself confirms
            // the uninstall by refusing a fresh token for the store's credentials.
            let name = services
                .storage
                .secret_name(&record.org_id, &record.shop_domain);
            let credentials = lifecycle::stored_credentials(
                services.storage.secrets.as_ref(),
                &name,
                &record,
                deadline,
            )
            .await
            .map_err(|e| shared::error::logged(lifecycle::LifecycleError::from(e)))?
            .ok_or_else(not_signed)?;
            match services
                .shopify
                .fresh_token(deadline, &delivery.shop, &credentials)
                .await
            {
                Ok(_) => {
                    tracing::warn!(shop = %delivery.shop, "an uninstall Shopify does not confirm (the credentials still work); ignored");
                    return Ok("not_confirmed");
                }
                Err(ShopifyError::Unauthorized) => {}
                Err(error) => {
                    tracing::warn!(shop = %delivery.shop, %error, "could not confirm an uninstall; Shopify will retry it");
                    return Err(ApiError::of(Code::ShopifyUnavailable));
                }
            }
            let finding = Finding {
                status: StoreStatus::InvalidCredentials,
                granted_scopes: None,
                warning: Some(Warning {
                    code: "invalid_credentials".into(),
                    message: "The app was uninstalled from the store, so Shopify no longer accepts its credentials. Install the app again, then paste its credentials to reconnect the store.".into(),
                }),
                shop: None,
            };
            record_check(
                &services.storage,
                deadline,
                &record,
                &finding,
                DetectedBy::Webhook,
            )
            .await
            .map_err(shared::error::logged)?;
            flush_logged(
                &services.storage,
                services.events.as_ref(),
                deadline,
                &delivery.org,
                &delivery.shop,
            )
            .await;
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
                            ApiError::of(Code::StorageUnavailable)
                        })?;
                }
                None => {
                    lifecycle::verify_record(
                        &services.storage,
                        &services.shopify,
                        services.events.as_ref(),
                        *deadline,
                        record,
                        DetectedBy::Webhook,
                    )
                    .await
                    .map_err(shared::error::logged)?;
                }
            }
            Ok("shop_updated")
        }
        _ => Ok("ignored"),
    }
}
