//! `GET /shopify/contact-metadata?email=...`: for each connected store of the caller's
//! organization, at once, the customer with exactly that email and their 50 most recent orders,
//! with links into the Shopify admin. One broken store gives that store `status: "error"`; it
//! never blanks the sidebar.
//!
//! Answers are cached per container for at most 60 s, keyed by organization, email and every
//! store's credentials version, so a disconnect or a rotation is never served stale.

mod cache;

use lambda_http::http::header::CACHE_CONTROL;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde_json::{json, Value};
use shared::access::{per_store, AccessError};
use shared::domain::Email;
use shared::error::logged;
use shared::http::{self, Caller};
use shared::shopify::customers::{Customer, OrderSummary};
use shared::store::StoreRecord;
use shared::{ApiError, Services};
use tracing::Instrument;

pub use cache::SidebarCache;

/// Most recent orders shown per store.
pub const MAX_ORDERS: usize = 50;

/// The function's state: the shared services and this container's answer cache.
pub struct State {
    pub services: Services,
    pub cache: SidebarCache,
}

impl State {
    pub fn new(services: Services) -> Self {
        Self {
            services,
            cache: SidebarCache::default(),
        }
    }
}

/// Handles one API Gateway request; always answers, errors included.
pub async fn handle(state: &State, req: Request) -> Result<Response<Body>, Error> {
    let span = tracing::info_span!("contact_metadata", request_id = %http::request_id(&req));
    let response = async {
        match sidebar(state, &req).await {
            Ok(body) => {
                let mut response = http::json_response(200, &body);
                response.headers_mut().insert(
                    CACHE_CONTROL,
                    "private, max-age=60".parse().expect("a static header"),
                );
                response
            }
            Err(error) => http::error_response(&error),
        }
    }
    .instrument(span)
    .await;
    Ok(response)
}

fn admin_url(store: &StoreRecord, kind: &str, id: &str) -> String {
    format!(
        "https://admin.shopify.com/store/{}/{kind}/{id}",
        store.shop_domain.handle()
    )
}

fn order_summary(order: &OrderSummary, store: &StoreRecord) -> Value {
    let lower = |s: &str| s.to_ascii_lowercase();
    json!({
        "name": order.name,
        "created_at": order.created_at,
        "financial_status": order.display_financial_status.as_deref().map(lower),
        "fulfillment_status": lower(&order.display_fulfillment_status),
        "cancelled_at": order.cancelled_at,
        "total": {"amount": order.total_price_set.shop_money.amount, "currency": order.total_price_set.shop_money.currency_code},
        "line_items": order.line_items.nodes.iter().map(|l| json!({"title": l.title, "variant_title": l.variant_title, "quantity": l.quantity})).collect::<Vec<_>>(),
        "tracking": order.fulfillments.iter().flat_map(|f| &f.tracking_info).map(|t| json!({"company": t.company, "number": t.number, "url": t.url})).collect::<Vec<_>>(),
        "admin_url": admin_url(store, "orders", &order.legacy_resource_id),
    })
}

fn customer_profile(customer: &Customer, store: &StoreRecord) -> Value {
    json!({
        "id": customer.id,
        "name": customer.display_name,
        "email": customer.default_email_address.as_ref().map(|e| &e.email_address),
        "phone": customer.default_phone_number.as_ref().map(|p| &p.phone_number),
        "orders_count": customer.number_of_orders.parse::<u64>().unwrap_or_default(),
        "amount_spent": {"amount": customer.amount_spent.amount, "currency": customer.amount_spent.currency_code},
        "created_at": customer.created_at,
        "tags": customer.tags,
        "note": customer.note,
        "admin_url": admin_url(store, "customers", &customer.legacy_resource_id),
    })
}

fn error_message(code: &str) -> &'static str {
    match code {
        "invalid_credentials" => "Shopify no longer accepts this store's credentials. An admin can reconnect it in the Shopify settings.",
        "shop_unavailable" => "Shopify says this store is frozen, locked or closed.",
        "shopify_rate_limited" => "Shopify is rate-limiting this store right now. Try again in a minute.",
        "shopify_unavailable" => "Shopify did not answer for this store. Try again in a few minutes.",
        _ => "This store could not be read right now. Try again in a moment.",
    }
}

fn section(store: &StoreRecord, result: &Result<Option<Customer>, AccessError>) -> Value {
    let head = json!({"shop_domain": store.shop_domain, "shop_name": store.shop_name});
    let mut section = head;
    match result {
        Ok(Some(customer)) => {
            section["status"] = json!("found");
            section["customer"] = customer_profile(customer, store);
            section["orders"] = customer
                .orders
                .iter()
                .map(|o| order_summary(o, store))
                .collect();
        }
        Ok(None) => {
            section["status"] = json!("not_found");
            section["customer"] = Value::Null;
            section["orders"] = json!([]);
        }
        Err(error) => {
            section["status"] = json!("error");
            section["error"] =
                json!({"code": error.code(), "message": error_message(error.code())});
            section["customer"] = Value::Null;
            section["orders"] = json!([]);
        }
    }
    section
}

async fn sidebar(state: &State, req: &Request) -> Result<Value, ApiError> {
    let services = &state.services;
    let caller = Caller::from_request(req, &services.auth)?;
    let raw = req
        .query_string_parameters_ref()
        .and_then(|q| q.first("email"))
        .unwrap_or_default();
    let email = Email::parse(raw).map_err(|e| ApiError::invalid_request(e.to_string()))?;
    let stores = services.stores.list(&caller.org).await.map_err(logged)?;
    let key = SidebarCache::key(&caller.org, &email, &stores);
    if let Some(body) = state.cache.get(&key) {
        tracing::info!(org_id = %caller.org, email = %email.masked(), "sidebar served from cache");
        return Ok(body);
    }

    let results = per_store(services, stores.iter().collect(), |store, token| {
        let email = &email;
        async move {
            services
                .shopify
                .customer_by_email(&store.shop_domain, &token, email.as_str(), MAX_ORDERS)
                .await
        }
    })
    .await;
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    let body = json!({
        "email": email.as_str(),
        "stores": results.iter().map(|(s, r)| section(s, r)).collect::<Vec<_>>(),
    });
    tracing::info!(org_id = %caller.org, email = %email.masked(), stores = stores.len(), failed, "sidebar answered");
    if failed == 0 {
        state.cache.put(key, body.clone());
    }
    Ok(body)
}
