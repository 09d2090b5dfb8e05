//! `DELETE /shopify/stores/{shop}`: disconnect a store — its record and its credentials go.
//!
//! Parse the caller and the shop, run [`Services::disconnector`] (the lifecycle's disconnect,
//! then the removal of the store's knowledge documents), answer 204 (or 404 when the store is
//! not connected). From the first write of that protocol no lookup uses the store; the secret
//! is deleted at once, without a recovery window: disconnecting is the merchant withdrawing our
//! access, and reconnecting only takes pasting the credentials again.

use lambda_http::{Body, Error, Request, Response};
use shared::error::logged;
use shared::http::{self, Caller};
use shared::lifecycle::LifecycleError;
use shared::{ApiError, Services};

/// Handles one API Gateway request; always answers, errors included.
pub async fn handle(services: &Services, req: Request) -> Result<Response<Body>, Error> {
    let span = tracing::info_span!("disconnect", request_id = %http::request_id(&req));
    http::respond(span, async {
        disconnect(services, &req).await?;
        Ok(http::no_content())
    })
    .await
}

async fn disconnect(services: &Services, req: &Request) -> Result<(), ApiError> {
    let caller = Caller::from_request(req, &services.auth)?;
    caller.require_admin()?;
    let shop = http::shop_param(req)?;
    let deadline = http::deadline(req);
    match services
        .disconnector()
        .remove(deadline, &caller.org, &shop)
        .await
    {
        Ok(()) => Ok(()),
        Err(LifecycleError::NotConnected) => Err(ApiError::store_not_found()),
        Err(error) => Err(logged(error)),
    }
}
