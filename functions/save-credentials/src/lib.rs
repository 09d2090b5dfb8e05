//! `POST /shopify/stores`: connect a Shopify store to the caller's organization, or replace the
//! credentials of one already connected (rotation, including switching between a static token
//! and client credentials).
//!
//! Parse the caller and the body, run [`shared::lifecycle::connect::Connector::save`] (validated
//! live, stored by the write protocol, a change of status announced, then the first knowledge
//! sync and the webhook subscriptions), answer 201 for a new connection and 200 for a rotation.
//! The whole request runs within the invocation's deadline minus one second.

use lambda_http::{Body, Error, Request, Response};
use secrecy::SecretString;
use serde::Deserialize;
use shared::domain::{Credentials, ShopDomain};
use shared::error::logged;
use shared::http::{self, Caller};
use shared::lifecycle::Connected;
use shared::{ApiError, Services};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectBody {
    shop_domain: String,
    #[serde(default, deserialize_with = "shared::domain::present")]
    access_token: Option<SecretString>,
    #[serde(default, deserialize_with = "shared::domain::present")]
    client_id: Option<String>,
    #[serde(default, deserialize_with = "shared::domain::present")]
    client_secret: Option<SecretString>,
}

/// Handles one API Gateway request; always answers, errors included.
pub async fn handle(services: &Services, req: Request) -> Result<Response<Body>, Error> {
    let span = tracing::info_span!("save_credentials", request_id = %http::request_id(&req));
    http::respond(span, async {
        Ok(match connect(services, &req).await? {
            Connected::New(record) => http::json_response(201, &record.view()),
            Connected::Rotated(record) => http::json_response(200, &record.view()),
        })
    })
    .await
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
    services
        .connector()
        .save(deadline, &caller.org, &shop, &credentials)
        .await
        .map_err(logged)
}
