//! The `lookup` function, invoked directly by the AI platform:
//! `{"org_id", "action", "arguments", "contact"}` in, always a JSON answer out —
//! `{"ok": true, "action", "data", "stores_searched", "store_errors"}` or
//! `{"ok": false, "action", "error": {"code", "message"}}`. Expected failures are answers,
//! never Lambda errors. `arguments` come from the model and are untrusted; `contact` is set by
//! the platform and trusted. Messages are phrased so the AI can relay them.
//!
//! Per invocation the organization's stores and settings are read with one DynamoDB query, so
//! a disconnect or a settings change is seen at once; credentials come from the per-container
//! cache keyed by secret version (see `shared::access`).

mod orders;
mod products;
mod shops;

use serde::Deserialize;
use serde_json::{json, Value};
use shared::domain::{OrganizationId, ShopDomain};
use shared::store::StoreRecord;
use shared::Services;
use tracing::Instrument;

/// The tool manifest the AI platform registers; tested against what this function accepts.
pub const TOOL_MANIFEST: &str = include_str!("../tools.json");

#[derive(Deserialize)]
struct Event {
    org_id: String,
    action: String,
    #[serde(default)]
    arguments: Value,
    #[serde(default)]
    contact: Contact,
}

/// What the platform knows about the person in the conversation.
#[derive(Default, Deserialize)]
pub(crate) struct Contact {
    pub email: Option<String>,
}

/// An answer that is not data.
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: &'static str,
    pub message: String,
}

impl Failure {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid_arguments(message: impl Into<String>) -> Self {
        Self::new("invalid_arguments", message)
    }

    /// All asked stores failed: the most telling code among them.
    pub fn from_store_errors(errors: &[StoreError]) -> Self {
        if !errors.is_empty() && errors.iter().all(|e| e.code == "shopify_rate_limited") {
            Self::new(
                "shopify_rate_limited",
                "The store is receiving too many requests right now. Please try again in a minute.",
            )
        } else {
            Self::new(
                "shopify_unavailable",
                "I couldn't reach the store's system just now. Please try again in a few minutes.",
            )
        }
    }
}

/// One store that could not answer.
#[derive(Debug, Clone)]
pub(crate) struct StoreError {
    pub shop_domain: String,
    pub code: &'static str,
}

/// What an action found.
pub(crate) struct Success {
    pub data: Value,
    pub stores_searched: Vec<String>,
    pub store_errors: Vec<StoreError>,
}

/// Parses the model's arguments for one action; any mismatch is `invalid_arguments`.
pub(crate) fn arguments<T: serde::de::DeserializeOwned>(raw: &Value) -> Result<T, Failure> {
    let raw = if raw.is_null() {
        json!({})
    } else {
        raw.clone()
    };
    serde_json::from_value(raw)
        .map_err(|e| Failure::invalid_arguments(format!("The arguments are not valid: {e}.")))
}

/// Narrows `stores` to the one named by the model's `shop_domain`, if any.
pub(crate) fn choose_store<'a>(
    stores: &'a [StoreRecord],
    shop_domain: Option<&str>,
) -> Result<Vec<&'a StoreRecord>, Failure> {
    match shop_domain {
        None => Ok(stores.iter().collect()),
        Some(raw) => {
            let shop = ShopDomain::parse(raw).map_err(|_| {
                Failure::invalid_arguments(
                    "shop_domain must be one of the connected .myshopify.com domains.",
                )
            })?;
            let chosen: Vec<_> = stores.iter().filter(|s| s.shop_domain == shop).collect();
            if chosen.is_empty() {
                let known: Vec<_> = stores.iter().map(|s| s.shop_domain.as_str()).collect();
                return Err(Failure::invalid_arguments(format!(
                    "{shop} is not a connected store. Connected stores: {}.",
                    known.join(", ")
                )));
            }
            Ok(chosen)
        }
    }
}

/// Answers one AI event. Never fails: every outcome is a JSON answer.
pub async fn answer(services: &Services, payload: Value) -> Value {
    let action = payload
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match run(services, payload).await {
        Ok(success) => json!({
            "ok": true,
            "action": action,
            "data": success.data,
            "stores_searched": success.stores_searched,
            "store_errors": success.store_errors.iter().map(|e| json!({"shop_domain": e.shop_domain, "code": e.code})).collect::<Vec<_>>(),
        }),
        Err(failure) => json!({
            "ok": false,
            "action": action,
            "error": {"code": failure.code, "message": failure.message},
        }),
    }
}

async fn run(services: &Services, payload: Value) -> Result<Success, Failure> {
    let action = payload
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let span = tracing::info_span!("lookup", %action);
    run_action(services, payload).instrument(span).await
}

async fn run_action(services: &Services, payload: Value) -> Result<Success, Failure> {
    let event: Event = serde_json::from_value(payload)
        .map_err(|_| Failure::invalid_arguments("The event needs org_id, action and arguments."))?;
    let org = OrganizationId::parse(&event.org_id).map_err(|_| {
        Failure::invalid_arguments("The event's org_id is not a valid organization id.")
    })?;
    let action = event.action.as_str();
    let (stores, settings) = services.stores.load_org(&org).await.map_err(|error| {
        tracing::error!(%error, "cannot read the organization's stores");
        Failure::new(
            "internal",
            "Store information is temporarily unavailable. Please try again shortly.",
        )
    })?;
    let enabled = settings.action_enabled(action).ok_or_else(|| {
        Failure::invalid_arguments(format!(
            "Unknown action {action:?}; use get_order_details, search_products or get_shop_details."
        ))
    })?;
    if !enabled {
        return Err(Failure::new(
            "action_disabled",
            "This store has turned this kind of lookup off, so I can't do it here. A team member can help instead.",
        ));
    }
    if stores.is_empty() {
        return Err(Failure::new(
            "no_store_connected",
            "No Shopify store is connected yet, so I can't look this up.",
        ));
    }
    let result = match action {
        "get_order_details" => {
            orders::get_order_details(
                services,
                &stores,
                &settings,
                &event.arguments,
                &event.contact,
            )
            .await
        }
        "search_products" => products::search_products(services, &stores, &event.arguments).await,
        _ => shops::get_shop_details(services, &stores, &event.arguments).await,
    };
    match &result {
        Ok(success) => {
            tracing::info!(org_id = %org, action, stores = success.stores_searched.len(), failed = success.store_errors.len(), "lookup answered")
        }
        Err(failure) => {
            tracing::info!(org_id = %org, action, code = failure.code, "lookup refused")
        }
    }
    result
}
