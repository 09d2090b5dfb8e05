//! The dashboard's store and settings routes (the contract names this function `settings`):
//! - `GET /shopify/stores` — every store of the caller's organization, oldest connection first;
//! - `GET /shopify/stores/{shop}` — one store; `?verify=true` (admins only, as it writes)
//!   re-checks its credentials live, exactly as a connect does, and records the outcome
//!   (`status`, `granted_scopes`, `warnings`, shop details, `last_verified_at`);
//! - `GET /shopify/settings` — the organization's AI action toggles (defaults: all on),
//!   knowledge sources, order-action policy and MCP switches (`mcp.order_actions`; defaults:
//!   all off);
//! - `PUT /shopify/settings` — replace them (admins only; the whole object, strictly checked;
//!   `knowledge`, `order_actions` and `mcp` may be left out and are then kept). Knowledge
//!   sources turned on are synced on every store, sources turned off lose their documents.

use lambda_http::{Body, Error, Request, Response};
use serde::Serialize;
use shared::domain::SettingsUpdate;
use shared::error::logged;
use shared::events::DetectedBy;
use shared::http::{self, Caller};
use shared::lifecycle::{self, LifecycleError, VerifyError};
use shared::settings;
use shared::store::{StoreRecord, StoreView};
use shared::{ApiError, Services};

#[derive(Serialize)]
struct StoreList<'a> {
    stores: Vec<StoreView<'a>>,
}

/// Handles one API Gateway request; always answers, errors included.
pub async fn handle(services: &Services, req: Request) -> Result<Response<Body>, Error> {
    let span = tracing::info_span!("settings", request_id = %http::request_id(&req));
    http::respond(span, route(services, &req)).await
}

async fn route(services: &Services, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(req, &services.auth)?;
    let deadline = http::deadline(req);
    let stores = &services.storage.stores;
    match http::route_key(req).as_str() {
        "GET /shopify/stores" => {
            let records = deadline
                .run(stores.list(&caller.org))
                .await
                .map_err(logged)?;
            let stores = records.iter().map(StoreRecord::view).collect();
            Ok(http::json_response(200, &StoreList { stores }))
        }
        "GET /shopify/stores/{shop}" => {
            let shop = http::shop_param(req)?;
            let record = if http::query_flag(req, "verify") {
                caller.require_admin()?;
                lifecycle::verify(
                    &services.storage,
                    &services.shopify,
                    services.events.as_ref(),
                    deadline,
                    &caller.org,
                    &shop,
                    DetectedBy::Verify,
                )
                .await
                .map_err(|error| match error {
                    VerifyError::Lifecycle(LifecycleError::NotConnected) => {
                        ApiError::store_not_found()
                    }
                    other => logged(other),
                })?
            } else {
                deadline
                    .run(stores.get(&caller.org, &shop))
                    .await
                    .map_err(logged)?
                    .ok_or_else(ApiError::store_not_found)?
            };
            Ok(http::json_response(200, &record.view()))
        }
        "GET /shopify/settings" => {
            let settings = deadline
                .run(stores.get_settings(&caller.org))
                .await
                .map_err(logged)?;
            Ok(http::json_response(200, &settings))
        }
        "PUT /shopify/settings" => {
            caller.require_admin()?;
            let update: SettingsUpdate = http::json_body(req)?;
            let settings = settings::save(
                stores.as_ref(),
                services.knowledge.as_ref(),
                &deadline,
                &caller.org,
                update,
            )
            .await
            .map_err(logged)?;
            Ok(http::json_response(200, &settings))
        }
        other => {
            tracing::error!(route = other, "route not served by this function");
            Err(ApiError::internal())
        }
    }
}
