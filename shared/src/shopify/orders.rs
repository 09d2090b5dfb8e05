//! Orders: found by exact name for the AI (cheaply: a few candidates with their details, a
//! second request only when the exact one was not among them), the shape both the AI's
//! order details and the sidebar's order summaries are read into, and the found order's
//! timeline (carrier events, items per shipment, refunds), read apart by id.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::named::{NameSearch, Named};
use super::queries::{FIND_ORDERS_BY_NAME, ORDERS_BY_IDS, ORDER_TIMELINE};
use super::types::{EmailAddress, LineItem, MoneyBag, Nodes, Tracking};
use super::{ShopifyClient, ShopifyError};
use crate::deadline::Deadline;
use crate::domain::ShopDomain;

/// Candidates read with their details in the first request. Sorted by order number, the exact
/// name comes before every fuzzy match that contains it, so three is plenty.
pub const FIRST_CANDIDATES: u32 = 3;

/// Names listed by the second request, when the first did not hold the exact name.
pub const MORE_CANDIDATES: u32 = 50;

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCustomer {
    pub default_email_address: Option<EmailAddress>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Address {
    pub city: Option<String>,
    pub province: Option<String>,
    pub country: Option<String>,
    pub zip: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fulfillment {
    /// Its GID: what the timeline's shipments are matched by.
    #[serde(default)]
    pub id: Option<String>,
    /// When it was created (the items were handed over for shipping).
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    /// `FulfillmentDisplayStatus`: the carrier's latest word on it (`IN_TRANSIT`, ...).
    #[serde(default)]
    pub display_status: Option<String>,
    #[serde(default)]
    pub estimated_delivery_at: Option<String>,
    #[serde(default)]
    pub delivered_at: Option<String>,
    #[serde(default)]
    pub tracking_info: Vec<Tracking>,
}

/// An order as the AI lookup (details) or the sidebar (summary) reads it; fields only one of
/// them asks for are optional.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub legacy_resource_id: Option<String>,
    pub name: String,
    pub created_at: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub customer: Option<OrderCustomer>,
    pub display_financial_status: Option<String>,
    pub display_fulfillment_status: String,
    pub cancelled_at: Option<String>,
    #[serde(default)]
    pub cancel_reason: Option<String>,
    /// `OrderReturnStatus` (`NO_RETURN`, `RETURN_REQUESTED`, `IN_PROGRESS`, ...).
    #[serde(default)]
    pub return_status: Option<String>,
    pub total_price_set: MoneyBag,
    pub line_items: Nodes<LineItem>,
    #[serde(default)]
    pub shipping_address: Option<Address>,
    #[serde(default)]
    pub fulfillments: Vec<Fulfillment>,
    #[serde(default)]
    pub status_page_url: Option<String>,
}

impl Order {
    /// The order's own email and its customer's, as given.
    pub fn emails(&self) -> impl Iterator<Item = &str> {
        self.email.as_deref().into_iter().chain(
            self.customer
                .as_ref()
                .and_then(|c| c.default_email_address.as_ref())
                .map(|e| e.email_address.as_str()),
        )
    }

    /// Whether the order has a timeline to read: shipments (their carrier events and items)
    /// or money given back (`displayFinancialStatus` says refunded, wholly or in part).
    pub fn has_timeline(&self) -> bool {
        !self.fulfillments.is_empty()
            || matches!(
                self.display_financial_status.as_deref(),
                Some("REFUNDED" | "PARTIALLY_REFUNDED")
            )
    }
}

/// One carrier event of a shipment (`FulfillmentEvent`).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentEvent {
    /// `FulfillmentEventStatus` (`IN_TRANSIT`, `DELIVERED`, ...).
    pub status: String,
    pub happened_at: String,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
}

/// The order line a shipment's item is.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfilledLine {
    pub title: String,
    #[serde(default)]
    pub variant_title: Option<String>,
}

/// One item of a shipment (`FulfillmentLineItem`): which order line, and how many of it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentLineItem {
    #[serde(default)]
    pub quantity: Option<i64>,
    pub line_item: FulfilledLine,
}

/// A shipment's side of the timeline.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FulfillmentTimeline {
    pub id: String,
    /// The latest events, oldest first.
    pub events: Nodes<FulfillmentEvent>,
    pub fulfillment_line_items: Nodes<FulfillmentLineItem>,
}

/// Money given back on an order.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Refund {
    #[serde(default)]
    pub created_at: Option<String>,
    pub total_refunded_set: MoneyBag,
}

/// What happened to an order after it was placed: its shipments' carrier events and items,
/// and its refunds. The default is the timeline of an order without shipments or refunds.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct OrderTimeline {
    #[serde(default)]
    pub fulfillments: Vec<FulfillmentTimeline>,
    #[serde(default)]
    pub refunds: Vec<Refund>,
}

impl OrderTimeline {
    /// The timeline of the shipment with this GID.
    pub fn fulfillment(&self, id: &str) -> Option<&FulfillmentTimeline> {
        self.fulfillments.iter().find(|f| f.id == id)
    }
}

#[derive(Deserialize)]
struct TimelineData {
    order: Option<OrderTimeline>,
}

impl Named for Order {
    fn name(&self) -> &str {
        &self.name
    }
}

/// How the AI's lookups search: a few candidates with their details, then more by name.
const SEARCH: NameSearch = NameSearch {
    by_name: &FIND_ORDERS_BY_NAME,
    first: FIRST_CANDIDATES,
    more: MORE_CANDIDATES,
    by_ids: &ORDERS_BY_IDS,
};

impl ShopifyClient {
    /// The orders named exactly as `is_exact` says (Shopify's name search is fuzzy), with their
    /// details. One request when the exact name is among the first few candidates or there
    /// are no more; otherwise the candidates' names are listed and the exact ones read by id.
    pub async fn find_orders_named(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        name: &str,
        is_exact: impl Fn(&str) -> bool,
    ) -> Result<Vec<Order>, ShopifyError> {
        self.orders_named(deadline, shop, token, &SEARCH, name, is_exact)
            .await
    }

    /// The timeline of the order with this GID (one request); `None` when the store has no
    /// such order (any more).
    pub async fn order_timeline(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        order_id: &str,
    ) -> Result<Option<OrderTimeline>, ShopifyError> {
        let data: TimelineData = self
            .query(
                deadline,
                shop,
                token,
                &ORDER_TIMELINE,
                json!({ "id": order_id }),
            )
            .await?;
        Ok(data.order)
    }
}
