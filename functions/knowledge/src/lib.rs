//! The dashboard's knowledge routes:
//! - `GET /shopify/knowledge` (members) — which sources are on, and per store where its sync
//!   stands and what the AI has of each source;
//! - `POST /shopify/knowledge/sync` (admins) — body `{}` or `{"shop_domain", "full"}`: queue a
//!   run (202 with the stores queued or already running);
//! - `GET /shopify/knowledge/documents?shop_domain=&source=&limit=&cursor=` (members) — what the
//!   AI has learned, a page at a time.
//!
//! Everything comes from the caller's organization only; another organization's store is
//! `404 store_not_found` like everywhere else.

use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde::Deserialize;
use shared::domain::{ShopDomain, Source};
use shared::error::logged;
use shared::http::{self, Caller};
use shared::knowledge::{DocumentCursor, DocumentQuery, KnowledgePorts};
use shared::{ApiError, Code, Services};

/// The default and the largest page of `GET /shopify/knowledge/documents`.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 100;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SyncBody {
    #[serde(default, deserialize_with = "shared::domain::present")]
    shop_domain: Option<String>,
    #[serde(default)]
    full: bool,
}

/// Handles one API Gateway request; always answers, errors included.
pub async fn handle(services: &Services, req: Request) -> Result<Response<Body>, Error> {
    let span = tracing::info_span!("knowledge", request_id = %http::request_id(&req));
    http::respond(span, route(services, &req)).await
}

fn ports(services: &Services) -> Result<&KnowledgePorts, ApiError> {
    services.knowledge.as_ref().ok_or_else(|| {
        tracing::error!("KNOWLEDGE_QUEUE_URL is not set");
        ApiError::internal()
    })
}

async fn route(services: &Services, req: &Request) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(req, &services.auth)?;
    let deadline = http::deadline(req);
    let stores = services.storage.stores.as_ref();
    let knowledge = ports(services)?;
    match http::route_key(req).as_str() {
        "GET /shopify/knowledge" => {
            let status = knowledge
                .status(stores, &deadline, &caller.org)
                .await
                .map_err(logged)?;
            Ok(http::json_response(200, &status))
        }
        "POST /shopify/knowledge/sync" => {
            caller.require_admin()?;
            // No body (or only whitespace) means "every store, incrementally"; anything else
            // is checked like every other body, its size first.
            let body: SyncBody = match req.body() {
                Body::Empty => SyncBody::default(),
                Body::Text(t) if t.len() <= http::MAX_BODY_BYTES && t.trim().is_empty() => {
                    SyncBody::default()
                }
                _ => http::json_body(req)?,
            };
            let shop = body
                .shop_domain
                .map(|raw| ShopDomain::parse(&raw))
                .transpose()
                .map_err(ApiError::from)?;
            let queued = knowledge
                .request_sync(stores, &deadline, &caller.org, shop.as_ref(), body.full)
                .await
                .map_err(logged)?
                .ok_or_else(ApiError::store_not_found)?;
            tracing::info!(org_id = %caller.org, stores = queued.len(), full = body.full, "knowledge sync requested");
            Ok(http::json_response(
                202,
                &serde_json::json!({ "queued": queued }),
            ))
        }
        "GET /shopify/knowledge/documents" => {
            let query = req.query_string_parameters_ref();
            let param = |name: &str| query.and_then(|q| q.first(name)).map(str::to_owned);
            let shop = param("shop_domain")
                .map(|raw| {
                    ShopDomain::parse(&raw).map_err(|e| ApiError::invalid_request(e.to_string()))
                })
                .transpose()?;
            let source = param("source")
                .map(|raw| {
                    Source::parse(&raw).ok_or_else(|| {
                        ApiError::invalid_request(
                            "source must be one of pages, articles, products, policies.",
                        )
                    })
                })
                .transpose()?;
            let limit = match param("limit") {
                None => DEFAULT_LIMIT,
                Some(raw) => raw
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        ApiError::invalid_request("limit must be a number from 1 to 100.")
                    })?,
            };
            let cursor = param("cursor")
                .map(|raw| {
                    DocumentCursor::decode(&raw).ok_or_else(|| {
                        ApiError::invalid_request("cursor is not one this listing gave out.")
                    })
                })
                .transpose()?;
            let page = knowledge
                .documents(
                    stores,
                    &deadline,
                    &caller.org,
                    &DocumentQuery {
                        shop,
                        source,
                        limit,
                        cursor,
                    },
                )
                .await
                .map_err(logged)?
                .ok_or_else(ApiError::store_not_found)?;
            Ok(http::json_response(200, &page))
        }
        other => {
            tracing::error!(route = other, "route not served by this function");
            Err(ApiError::of(Code::Internal))
        }
    }
}
