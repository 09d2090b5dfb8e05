//! Events the connector puts on the platform's bus (`EVENT_BUS_NAME`): the port, the event
//! details, and adapters for EventBridge ([`EventBridgeEvents`]) and memory ([`MemoryEvents`]).
//! The features decide when to announce (the store outbox in `lifecycle`, the sync outbox in
//! `knowledge`); this module only says what an event is and how it is put.

mod eventbridge;
mod memory;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use eventbridge::{EventBridgeEvents, EVENT_SOURCE};
pub use memory::MemoryEvents;

use crate::domain::{ActionKind, ActionStatus, OrganizationId, ShopDomain, StoreStatus, Warning};

/// The `detail-type` of a store status change.
pub const STATUS_CHANGED_DETAIL_TYPE: &str = "Shopify Store Status Changed";

/// The `detail-type` of an order action's status change.
pub const ORDER_ACTION_DETAIL_TYPE: &str = "Shopify Order Action";

/// The `detail-type` of a knowledge sync that changed something.
pub const SYNCED_DETAIL_TYPE: &str = "Shopify Knowledge Synced";

/// Who noticed a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectedBy {
    /// The scheduled `health-check`.
    HealthCheck,
    /// A Shopify webhook (`app/uninstalled`, `shop/update`).
    Webhook,
    /// `GET /shopify/stores/{shop}?verify=true`.
    Verify,
    /// An AI lookup or sidebar request that met a revoked token.
    Lookup,
    /// New credentials pasted for a connected store.
    Rotation,
}

/// The detail of `Shopify Store Status Changed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChanged {
    /// One id per change; a repeated delivery carries the same id.
    pub change_id: String,
    pub org_id: OrganizationId,
    pub shop_domain: ShopDomain,
    pub old_status: StoreStatus,
    pub new_status: StoreStatus,
    /// What changed: `status`, `granted_scopes`, `order_number_prefix`,
    /// `order_number_suffix`, `warnings`.
    pub changed: Vec<String>,
    /// Why, as a code and a sentence for the merchant.
    pub reason: Warning,
    /// What the merchant should do (the README's troubleshooting wording for `reason.code`).
    pub fix: String,
    pub detected_by: DetectedBy,
    /// The store after the change.
    pub granted_scopes: Vec<String>,
    pub order_number_prefix: String,
    pub order_number_suffix: String,
    pub warnings: Vec<Warning>,
    pub occurred_at: DateTime<Utc>,
}

/// What the merchant should do about a store reason `code`. The README's "Store status changes"
/// table says the same, word for word (a test holds them together).
pub fn fix_for(code: &str) -> &'static str {
    match code {
        "invalid_credentials" => "Paste the store's current credentials in the dashboard (a new Admin API access token, or the Dev Dashboard app's client ID and secret); if the app was uninstalled, install it again first.",
        "missing_scopes" => "Add the missing scopes to the app's configuration, reinstall or release the app, then verify the store in the dashboard.",
        "shop_unavailable" => "Settle the store's bill or lift its lock in the Shopify admin, then verify the store in the dashboard.",
        "orders_limited_to_60_days" => "Grant the read_all_orders scope to the app (Shopify asks for a reason), then verify the store in the dashboard.",
        "order_number_format_changed" => "Nothing to do: lookups route order numbers by the new prefix and suffix from now on.",
        "protected_customer_data_unavailable" => "Enable protected customer data access (Name, Email, Phone, Address) for the app: in the Dev Dashboard for a Dev Dashboard app, in the Shopify admin for a custom app (as the store's plan allows); then verify the store in the dashboard.",
        "order_actions_unavailable" => "Grant the app the scopes the warning names for each order action (write_orders and both fulfillment-order read scopes to cancel orders or change addresses; write_returns and read_returns for returns), release or reinstall it, then verify the store in the dashboard.",
        "warnings_cleared" => "Nothing to do: what limited lookups no longer applies.",
        "connected" => "Nothing to do: lookups use the store again.",
        "scopes_changed" => "Nothing to do unless a feature stopped working; verify the store in the dashboard to see its warnings.",
        _ => "Verify the store in the dashboard and follow the warning it shows.",
    }
}

/// Every code [`fix_for`] knows, for the docs test.
pub const REASON_CODES: [&str; 10] = [
    "invalid_credentials",
    "order_actions_unavailable",
    "protected_customer_data_unavailable",
    "warnings_cleared",
    "missing_scopes",
    "shop_unavailable",
    "orders_limited_to_60_days",
    "order_number_format_changed",
    "connected",
    "scopes_changed",
];

/// The detail of `Shopify Knowledge Synced`. `event_id` is the same on every put of one
/// announcement (the bus may see it twice after a crash), so consumers can drop repeats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncedEvent {
    #[serde(default)]
    pub event_id: String,
    pub org_id: OrganizationId,
    pub shop_domain: ShopDomain,
    pub prefix: String,
    pub added: u64,
    pub updated: u64,
    pub removed: u64,
}

/// The detail of `Shopify Order Action`: one per status change of an action. `event_id` is
/// the same on every put of one change, so consumers can drop repeats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderActionEvent {
    pub event_id: String,
    /// The proposal's id.
    pub action_id: String,
    pub org_id: OrganizationId,
    pub shop_domain: ShopDomain,
    pub order_name: String,
    pub action: ActionKind,
    pub status: ActionStatus,
    pub summary: String,
    /// `ai`, or the user who approved or declined.
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Why, for `failed` (`details.reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

/// Why an event could not be put.
#[derive(Debug, thiserror::Error)]
#[error("the event bus is unavailable")]
pub struct EventError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl From<crate::deadline::TimedOut> for EventError {
    fn from(e: crate::deadline::TimedOut) -> Self {
        Self(Box::new(e))
    }
}

/// `EVENT_BUS_NAME`.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn knowledge_synced(&self, event: &SyncedEvent) -> Result<(), EventError>;

    /// `Shopify Store Status Changed`.
    async fn store_status_changed(&self, event: &StatusChanged) -> Result<(), EventError>;

    /// `Shopify Order Action`.
    async fn order_action(&self, event: &OrderActionEvent) -> Result<(), EventError>;
}
