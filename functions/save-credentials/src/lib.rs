//! `POST /shopify/stores`: connect a Shopify store to the caller's organization, or replace the
//! credentials of one already connected (rotation, including switching between a static token
//! and client credentials).
//!
//! Parse the caller and the body, run [`shared::lifecycle::connect`] (validated live, then
//! stored by the write protocol), answer 201 for a new connection and 200 for a rotation. The
//! whole request runs within the invocation's deadline minus one second.

use lambda_http::{Body, Error, Request, Response};
use secrecy::SecretString;
use serde::Deserialize;
use shared::domain::{Credentials, ShopDomain};
use shared::error::logged;
use shared::health::change::flush_logged;
use shared::health::webhook;
use shared::http::{self, Caller};
use shared::lifecycle::{self, Connected};
use shared::{ApiError, Services};
use tracing::Instrument;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectBody {
    shop_domain: String,
    #[serde(default, deserialize_with = "http::present")]
    access_token: Option<SecretString>,
    #[serde(default, deserialize_with = "http::present")]
    client_id: Option<String>,
    #[serde(default, deserialize_with = "http::present")]
    client_secret: Option<SecretString>,
}

/// Handles one API Gateway request; always answers, errors included.
pub async fn handle(services: &Services, req: Request) -> Result<Response<Body>, Error> {
    let span = tracing::info_span!("save_credentials", request_id = %http::request_id(&req));
    let response = async {
        match connect(services, &req).await {
            Ok(Connected::New(record)) => http::json_response(201, &record.view()),
            Ok(Connected::Rotated(record)) => http::json_response(200, &record.view()),
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

async fn connect(services: &Services, req: &Request) -> Result<Connected, ApiError> {
    let caller = Caller::from_request(req, &services.auth)?;
    caller.require_admin()?;
    let (shop, credentials) = credentials_of(http::json_body(req)?)?;
    tracing::info!(org_id = %caller.org, shop = %shop, auth_type = ?credentials.auth_type(), "connecting a store");
    let deadline = http::deadline(req);
    let connected = lifecycle::connect(
        &services.storage,
        &services.shopify,
        deadline,
        &caller.org,
        &shop,
        &credentials,
    )
    .await
    .map_err(logged)?;
    if !connected.record().outbox.is_empty() {
        // New credentials mended the store (or changed its scopes): say so.
        flush_logged(
            &services.storage,
            services.events.as_ref(),
            &deadline,
            &caller.org,
            &shop,
        )
        .await;
    }
    if let (Connected::New(_), Some(knowledge)) = (&connected, &services.knowledge) {
        // The first knowledge sync; the scheduled run picks the store up if this fails.
        let stores = services.storage.stores.as_ref();
        if let Err(error) = knowledge
            .connected(stores, &deadline, &caller.org, &shop)
            .await
        {
            tracing::warn!(shop = %shop, %error, "could not queue the first knowledge sync");
        }
    }
    if matches!(credentials, Credentials::ClientCredentials { .. }) {
        // Last, and within a few seconds of its own: a slow Shopify delays the answer at most
        // this long, and the health check covers a store without webhooks.
        let budget = deadline.within(WEBHOOK_BUDGET);
        subscribe_webhooks(services, &budget, &caller.org, &shop, &credentials).await;
    }
    Ok(connected)
}

/// What subscribing a store's webhooks may add to a connect.
pub const WEBHOOK_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// Subscribes the store's app to `app/uninstalled` and `shop/update` (see
/// [`shared::health::webhook`]). Best effort: the health check covers a store without them.
async fn subscribe_webhooks(
    services: &Services,
    deadline: &shared::Deadline,
    org: &shared::domain::OrganizationId,
    shop: &ShopDomain,
    credentials: &Credentials,
) {
    let Some(base) = &services.webhook_base_url else {
        tracing::warn!(org_id = %org, shop = %shop, "WEBHOOK_BASE_URL is not set: no webhooks subscribed; the health check still covers the store");
        return;
    };
    let callback = webhook::callback_url(base, org);
    match webhook::subscribe(&services.shopify, deadline, shop, credentials, &callback).await {
        Ok(()) => tracing::info!(org_id = %org, shop = %shop, "webhooks subscribed"),
        Err(error) => {
            tracing::warn!(org_id = %org, shop = %shop, %error, "could not subscribe the webhooks; the health check still covers the store")
        }
    }
}
