//! The dashboard's read and settings routes:
//! - `GET /shopify/stores` — every store of the caller's organization, oldest connection first;
//! - `GET /shopify/stores/{shop}` — one store; `?verify=true` re-checks its credentials live
//!   and records the outcome (`status`, `granted_scopes`, `warnings`, `last_verified_at`);
//! - `GET /shopify/settings` — the organization's AI action toggles (defaults: all on);
//! - `PUT /shopify/settings` — replace them (admins only; the whole object, strictly checked).

use chrono::Utc;
use lambda_http::{Body, Error, Request, Response};
use serde::Serialize;
use shared::domain::OrgSettings;
use shared::error::logged;
use shared::http::{self, Caller};
use shared::lifecycle;
use shared::shopify::{missing_scopes, scope_warnings, ShopifyError, Warning};
use shared::store::{Expect, StoreError, StoreRecord, StoreStatus, StoreView};
use shared::{ApiError, Services};
use tracing::Instrument;

#[derive(Serialize)]
struct StoreList<'a> {
    stores: Vec<StoreView<'a>>,
}

/// Handles one API Gateway request; always answers, errors included.
pub async fn handle(services: &Services, req: Request) -> Result<Response<Body>, Error> {
    let span = tracing::info_span!("settings", request_id = %http::request_id(&req));
    let response = async {
        match route(services, &req).await {
            Ok(response) => response,
            Err(error) => http::error_response(&error),
        }
    }
    .instrument(span)
    .await;
    Ok(response)
}

async fn route(services: &Services, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(req, &services.auth)?;
    match http::route_key(req).as_str() {
        "GET /shopify/stores" => {
            let records = services.stores.list(&caller.org).await.map_err(logged)?;
            let stores = records.iter().map(StoreRecord::view).collect();
            Ok(http::json_response(200, &StoreList { stores }))
        }
        "GET /shopify/stores/{shop}" => {
            let shop = http::shop_param(req)?;
            let record = services
                .stores
                .get(&caller.org, &shop)
                .await
                .map_err(logged)?
                .ok_or_else(ApiError::store_not_found)?;
            let record = if http::query_flag(req, "verify") {
                verify(services, record).await?
            } else {
                record
            };
            Ok(http::json_response(200, &record.view()))
        }
        "GET /shopify/settings" => {
            let settings = services
                .stores
                .get_settings(&caller.org)
                .await
                .map_err(logged)?;
            Ok(http::json_response(200, &settings))
        }
        "PUT /shopify/settings" => {
            caller.require_admin()?;
            let settings: OrgSettings = http::json_body(req)?;
            services
                .stores
                .put_settings(&caller.org, &settings)
                .await
                .map_err(logged)?;
            tracing::info!(org_id = %caller.org, ?settings, "settings saved");
            Ok(http::json_response(200, &settings))
        }
        other => {
            tracing::error!(route = other, "route not served by this function");
            Err(ApiError::internal())
        }
    }
}

/// What a live check found.
struct Finding {
    status: StoreStatus,
    granted_scopes: Option<Vec<String>>,
    warning: Option<Warning>,
    shop: Option<shared::shopify::ShopInfo>,
}

fn warning(code: &str, message: String) -> Option<Warning> {
    Some(Warning {
        code: code.into(),
        message,
    })
}

/// Re-validates the stored credentials against Shopify and records the outcome.
async fn verify(services: &Services, record: StoreRecord) -> Result<StoreRecord, ApiError> {
    let shop = &record.shop_domain;
    let credentials = lifecycle::stored_credentials(services, &record)
        .await
        .map_err(logged)?;
    let finding = match credentials {
        None => Finding {
            status: StoreStatus::InvalidCredentials,
            granted_scopes: None,
            warning: warning(
                "invalid_credentials",
                "The stored credentials are missing. Paste the store's credentials again to reconnect it.".into(),
            ),
            shop: None,
        },
        Some(credentials) => match services.shopify.check_credentials(shop, &credentials).await {
            Ok(info) => {
                let missing = missing_scopes(&info.granted_scopes);
                Finding {
                    status: if missing.is_empty() { StoreStatus::Connected } else { StoreStatus::MissingScopes },
                    granted_scopes: Some(info.granted_scopes.clone()),
                    warning: (!missing.is_empty()).then(|| Warning {
                        code: "missing_scopes".into(),
                        message: format!(
                            "The app no longer has the {} access scope(s), so lookups that need them fail. Add them in the app's configuration, reinstall or release the app, then connect again.",
                            missing.join(", ")
                        ),
                    }),
                    shop: Some(info),
                }
            }
            Err(ShopifyError::Unauthorized | ShopifyError::Forbidden | ShopifyError::AccessDenied(_)) => Finding {
                status: StoreStatus::InvalidCredentials,
                granted_scopes: None,
                warning: warning(
                    "invalid_credentials",
                    "Shopify no longer accepts the stored credentials (the token was revoked, the client secret rotated or the app uninstalled). Paste new credentials to reconnect the store.".into(),
                ),
                shop: None,
            },
            Err(ShopifyError::PaymentRequired | ShopifyError::Locked | ShopifyError::ShopNotFound) => Finding {
                status: StoreStatus::ShopUnavailable,
                granted_scopes: None,
                warning: warning(
                    "shop_unavailable",
                    "Shopify says this store is frozen, locked or closed. Resolve it in the Shopify admin, then verify again.".into(),
                ),
                shop: None,
            },
            Err(other) => return Err(logged(other)),
        },
    };
    let now = Utc::now();
    let mut updated = record.clone();
    updated.status = finding.status;
    if let Some(scopes) = finding.granted_scopes {
        updated.warnings = scope_warnings(&scopes);
        updated.granted_scopes = scopes;
    }
    if let Some(info) = finding.shop {
        updated.shop_name = info.name;
        updated.currency = info.currency;
        updated.order_number_prefix = info.order_number_prefix;
        updated.order_number_suffix = info.order_number_suffix;
        updated.plan = info.plan;
    }
    updated
        .warnings
        .retain(|w| w.code != "invalid_credentials" && w.code != "shop_unavailable");
    updated.warnings.extend(finding.warning);
    updated.last_verified_at = now;
    updated.updated_at = now;
    updated.version = record.version + 1;
    tracing::info!(org_id = %record.org_id, shop = %shop, status = ?updated.status, "store verified");
    match services
        .stores
        .put(&updated, Expect::Version(record.version))
        .await
    {
        Ok(()) => {
            lifecycle::converge_current(services, &record.org_id, shop).await;
            Ok(updated)
        }
        // Rotated or disconnected meanwhile: what we checked is no longer what is stored.
        Err(StoreError::Conflict) => services
            .stores
            .get(&record.org_id, shop)
            .await
            .map_err(logged)?
            .ok_or_else(ApiError::store_not_found),
        Err(error) => Err(logged(error)),
    }
}
