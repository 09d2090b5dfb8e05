//! `DELETE /shopify/stores/{shop}`: disconnect a store — delete its credentials and its record.
//!
//! The secret goes first, then the record (conditional on the version read), so the moment this
//! answers 204 no lookup can use the store's credentials. A concurrent rotation makes the
//! record delete fail its condition; the loop then starts over and removes what the rotation
//! wrote. A retry after a partial failure (secret gone, record still there) finishes the job; a
//! DELETE of a store that is no longer connected is `404 store_not_found`.
//!
//! Secrets are deleted at once, without a recovery window: disconnecting is the merchant
//! withdrawing our access, and reconnecting only takes pasting the credentials again. Secrets
//! Manager removes force-deleted secrets asynchronously; connecting the same shop right after
//! waits for that (see `SecretsManagerStore::put`). The deletion order is described in
//! [`shared::lifecycle`].

use lambda_http::{Body, Error, Request, Response};
use shared::error::logged;
use shared::http::{self, Caller};
use shared::lifecycle;
use shared::store::StoreError;
use shared::{ApiError, Services};
use tracing::Instrument;

/// Rounds against concurrent rotations of the same shop.
const ATTEMPTS: usize = 16;

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
    let org = &caller.org;
    let name = lifecycle::secret_name(services, org, &shop);
    for _ in 0..ATTEMPTS {
        let Some(record) = services.stores.get(org, &shop).await.map_err(logged)? else {
            return Err(ApiError::store_not_found());
        };
        services.secrets.delete(&name).await.map_err(logged)?;
        match services.stores.delete(org, &shop, record.version).await {
            Ok(()) => {
                tracing::info!(org_id = %org, shop = %shop, "store disconnected");
                return Ok(());
            }
            Err(StoreError::Conflict) => continue,
            Err(error) => return Err(logged(error)),
        }
    }
    Err(logged(StoreError::Conflict))
}
