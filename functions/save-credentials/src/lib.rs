//! `POST /shopify/stores`: connect a Shopify store to the caller's organization, or replace the
//! credentials of one already connected (rotation, including switching between a static token
//! and client credentials).
//!
//! Nothing is stored until the credentials pass the live check. The order of the storage
//! writes, and what a crash between them leaves behind, is described in
//! [`shared::lifecycle`].

use std::time::Duration;

use chrono::Utc;
use lambda_http::{Body, Error, Request, Response};
use secrecy::SecretString;
use serde::Deserialize;
use shared::domain::OrganizationId;
use shared::domain::{Credentials, ShopDomain};
use shared::error::logged;
use shared::http::{self, Caller};
use shared::lifecycle;
use shared::shopify::{missing_scopes, scope_warnings, ShopInfo};
use shared::store::{Expect, StoreError, StoreRecord, StoreStatus};
use shared::{ApiError, Services};
use tracing::Instrument;

/// Attempts of the record write when other requests change the same record meanwhile; enough
/// for a burst of concurrent rotations of one shop to serialize.
const WRITE_ATTEMPTS: usize = 32;

#[derive(Deserialize)]
struct ConnectBody {
    shop_domain: String,
    access_token: Option<SecretString>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
}

/// Handles one API Gateway request; always answers, errors included.
pub async fn handle(services: &Services, req: Request) -> Result<Response<Body>, Error> {
    let span = tracing::info_span!("save_credentials", request_id = %http::request_id(&req));
    let response = async {
        match connect(services, &req).await {
            Ok((status, record)) => http::json_response(status, &record.view()),
            Err(error) => http::error_response(&error),
        }
    }
    .instrument(span)
    .await;
    Ok(response)
}

fn credentials_of(body: ConnectBody) -> Result<(ShopDomain, Credentials), ApiError> {
    let credentials = match (body.access_token, body.client_id, body.client_secret) {
        (Some(token), None, None) => Credentials::access_token(token)?,
        (None, Some(id), Some(secret)) => Credentials::client_credentials(&id, secret)?,
        (None, Some(_), None) | (None, None, Some(_)) => {
            return Err(ApiError::invalid_request(
                "Send both client_id and client_secret of your Dev Dashboard app.",
            ))
        }
        (None, None, None) => {
            return Err(ApiError::invalid_request(
                "Send either access_token, or client_id and client_secret.",
            ))
        }
        _ => {
            return Err(ApiError::invalid_request(
                "Send either access_token, or client_id and client_secret, not both.",
            ))
        }
    };
    let shop = ShopDomain::parse(&body.shop_domain)?;
    Ok((shop, credentials))
}

async fn connect(services: &Services, req: &Request) -> Result<(u16, StoreRecord), ApiError> {
    let caller = Caller::from_request(req, &services.auth)?;
    caller.require_admin()?;
    let (shop, credentials) = credentials_of(http::json_body(req)?)?;
    let org = &caller.org;
    tracing::info!(org_id = %org, shop = %shop, auth_type = ?credentials.auth_type(), "validating store credentials");

    let info = services
        .shopify
        .check_credentials(&shop, &credentials)
        .await
        .map_err(logged)?;
    if info.myshopify_domain != shop.as_str() {
        tracing::warn!(shop = %shop, answered = %info.myshopify_domain, "Shopify names the shop by another domain");
    }
    let missing = missing_scopes(&info.granted_scopes);
    if !missing.is_empty() {
        tracing::info!(org_id = %org, shop = %shop, ?missing, "store refused: scopes missing");
        return Err(ApiError::missing_scopes(&missing));
    }

    persist(services, org, &shop, &credentials, &info).await
}

/// Stages the credentials and points the record at them (see [`shared::lifecycle`]). When the
/// record write fails for a new connection, the secret this request created is scheduled for
/// deletion (recoverable; the next attempt restores it), unless a re-read shows the write landed.
async fn persist(
    services: &Services,
    org: &OrganizationId,
    shop: &ShopDomain,
    credentials: &Credentials,
    info: &ShopInfo,
) -> Result<(u16, StoreRecord), ApiError> {
    let name = lifecycle::secret_name(services, org, shop);
    let secret = credentials.to_secret_json();
    let mut existing = services.stores.get(org, shop).await.map_err(logged)?;
    let mut staged = services.secrets.put(&name, &secret).await.map_err(logged)?;

    for attempt in 1..=WRITE_ATTEMPTS {
        let now = Utc::now();
        let record = StoreRecord {
            org_id: org.clone(),
            shop_domain: shop.clone(),
            shop_name: info.name.clone(),
            auth_type: credentials.auth_type(),
            status: StoreStatus::Connected,
            granted_scopes: info.granted_scopes.clone(),
            order_number_prefix: info.order_number_prefix.clone(),
            order_number_suffix: info.order_number_suffix.clone(),
            currency: info.currency.clone(),
            plan: info.plan.clone(),
            warnings: scope_warnings(&info.granted_scopes),
            connected_at: existing.as_ref().map_or(now, |old| old.connected_at),
            updated_at: now,
            credentials_updated_at: now,
            last_verified_at: now,
            credentials_version: staged.version_id.clone(),
            version: existing.as_ref().map_or(1, |old| old.version + 1),
        };
        let expect = existing
            .as_ref()
            .map_or(Expect::Absent, |old| Expect::Version(old.version));
        match services.stores.put(&record, expect).await {
            Ok(()) => {
                lifecycle::converge_current(services, org, shop).await;
                let rotated = existing.is_some();
                tracing::info!(
                    org_id = %org,
                    shop = %shop,
                    auth_type = ?record.auth_type,
                    rotated,
                    attempt,
                    "store connected"
                );
                return Ok((if rotated { 200 } else { 201 }, record));
            }
            Err(StoreError::Conflict) if attempt < WRITE_ATTEMPTS => {
                // Another request changed the record; back off a little and build on its state.
                let jitter = fastrand::u64(0..=10 * attempt as u64);
                tokio::time::sleep(Duration::from_millis(jitter)).await;
                existing = services.stores.get(org, shop).await.map_err(logged)?;
                if existing.is_none() {
                    // A disconnect ran meanwhile and may have deleted the secret: stage again.
                    staged = services.secrets.put(&name, &secret).await.map_err(logged)?;
                }
            }
            Err(error) => {
                let landed = services.stores.get(org, shop).await;
                match landed {
                    Ok(Some(current)) if current.credentials_version == staged.version_id => {
                        // The write did land; only its answer was lost.
                        lifecycle::converge_current(services, org, shop).await;
                        let status = if existing.is_some() { 200 } else { 201 };
                        return Ok((status, current));
                    }
                    Ok(None) if staged.created => {
                        if let Err(undo) = services.secrets.schedule_deletion(&name).await {
                            tracing::warn!(shop = %shop, error = %undo, "could not remove the secret of a failed connection; the next attempt reuses it");
                        }
                    }
                    _ => {}
                }
                return Err(logged(error));
            }
        }
    }
    unreachable!("the last attempt returns")
}
