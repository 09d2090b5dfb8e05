//! `DELETE /shopify/stores/{shop}`: disconnect a store — its record and its credentials go.
//!
//! Parse the caller and the shop, run [`shared::lifecycle::disconnect`], queue the removal of
//! the store's knowledge documents, answer 204 (or 404 when the store is not connected). From the first write of that protocol no lookup uses the
//! store; the secret is deleted at once, without a recovery window: disconnecting is the
//! merchant withdrawing our access, and reconnecting only takes pasting the credentials again.

use lambda_http::{Body, Error, Request, Response};
use shared::error::logged;
use shared::http::{self, Caller};
use shared::lifecycle::{self, LifecycleError};
use shared::{ApiError, Services};
use tracing::Instrument;

/// Handles one API Gateway request; always answers, errors included.
pub async fn handle(services: &Services, req: Request) -> Result<Response<Body>, Error> {
    let span = tracing::info_span!("disconnect", request_id = %http::request_id(&req));
    let response = async {
        match disconnect(services, &req).await {
            Ok(()) => http::no_content(),
            Err(error) => http::error_response(&error),
        }
    }
    .instrument(span)
    .await;
    Ok(response)
}

async fn disconnect(services: &Services, req: &Request) -> Result<(), ApiError> {
    let caller = Caller::from_request(req, &services.auth)?;
    caller.require_admin()?;
    let shop = http::shop_param(req)?;
    let deadline = http::deadline(req);
    match lifecycle::disconnect(&services.storage, deadline, &caller.org, &shop).await {
        Ok(()) => {}
        Err(LifecycleError::NotConnected) => return Err(ApiError::store_not_found()),
        Err(error) => return Err(logged(error)),
    }
    if let Some(knowledge) = &services.knowledge {
        // Its documents and sync state go; the scheduled run removes them if this fails.
        if let Err(error) = knowledge.disconnected(&deadline, &caller.org, &shop).await {
            tracing::warn!(shop = %shop, %error, "could not queue the removal of its knowledge");
        }
    }
    Ok(())
}
