//! `POST /shopify/stores`: connect a Shopify store to the caller's organization, or replace the
//! credentials of one already connected (rotation).
//!
//! Order of work, and why:
//! 1. Validate everything that needs no storage: caller, body, domain, credential shape.
//! 2. Validate the credentials live against Shopify (token exchange for client credentials,
//!    then one query for the shop and its scopes). Nothing is stored unless this passes.
//! 3. Put the credentials as a new version of the store's deterministic secret.
//! 4. Write the record, conditional on the version read, naming that secret version.
//!
//! A crash after 3 leaves a secret version no record names: invisible to users, and the next
//! request of the same shop reuses the same secret. When step 4 fails, the secret is put back
//! the way it was (deleted for a new connection, the previous version made current again for
//! a rotation) unless a re-read shows the write landed after all.

use chrono::Utc;
use lambda_http::{Body, Error, Request, Response};
use secrecy::SecretString;
use serde::Deserialize;
use shared::domain::{Credentials, ShopDomain};
use shared::error::logged;
use shared::http::{self, Caller};
use shared::secrets::SecretName;
use shared::shopify::{missing_scopes, scope_warnings};
use shared::store::{Expect, StoreError, StoreRecord, StoreStatus};
use shared::{ApiError, Services};
use tracing::Instrument;

/// Attempts of the record write when another request changes the same record meanwhile.
const WRITE_ATTEMPTS: usize = 3;

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

    let token = match &credentials {
        Credentials::AccessToken(token) => token.clone(),
        Credentials::ClientCredentials {
            client_id,
            client_secret,
        } => {
            services
                .shopify
                .exchange_client_credentials(&shop, client_id, client_secret)
                .await
                .map_err(logged)?
                .token
        }
    };
    let info = services
        .shopify
        .shop_info(&shop, &token)
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

    let name = SecretName::for_store(&services.secret_prefix, org, &shop);
    let mut existing = services.stores.get(org, &shop).await.map_err(logged)?;
    let put = services
        .secrets
        .put(&name, &credentials.to_secret_json())
        .await
        .map_err(logged)?;

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
            credentials_version: put.version_id.clone(),
            version: existing.as_ref().map_or(1, |old| old.version + 1),
        };
        let expect = existing
            .as_ref()
            .map_or(Expect::Absent, |old| Expect::Version(old.version));
        match services.stores.put(&record, expect).await {
            Ok(()) => {
                let status = if existing.is_some() { 200 } else { 201 };
                tracing::info!(
                    org_id = %org,
                    shop = %shop,
                    auth_type = ?record.auth_type,
                    rotated = existing.is_some(),
                    "store connected"
                );
                return Ok((status, record));
            }
            Err(StoreError::Conflict) if attempt < WRITE_ATTEMPTS => {
                existing = services.stores.get(org, &shop).await.map_err(logged)?;
            }
            Err(error) => {
                undo_secret(services, &caller, &shop, &name, &put.version_id).await;
                return Err(logged(error));
            }
        }
    }
    unreachable!("the last attempt returns")
}

/// Puts the secret back as it was after the record write failed, unless the write landed.
async fn undo_secret(
    services: &Services,
    caller: &Caller,
    shop: &ShopDomain,
    name: &SecretName,
    our_version: &str,
) {
    let landed = match services.stores.get(&caller.org, shop).await {
        Ok(current) => current.map(|r| r.credentials_version),
        Err(_) => {
            tracing::warn!(shop = %shop, "cannot tell whether the record write landed; keeping the secret");
            return;
        }
    };
    let result = match landed {
        Some(version) if version == our_version => return,
        Some(version) => services.secrets.make_current(name, &version).await,
        None => services.secrets.delete(name).await,
    };
    if let Err(error) = result {
        tracing::warn!(shop = %shop, error = %error, "could not undo the secret write; the next request repairs it");
    }
}
