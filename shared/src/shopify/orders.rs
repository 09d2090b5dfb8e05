//! Orders: found by exact name for the AI (cheaply: a few candidates with their details, a
//! second request only when the exact one was not among them), the shape both the AI's
//! order details and the sidebar's order summaries are read into, and the found order's
//! timeline (carrier events, items per shipment, refunds), read apart by id.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::named::{NameSearch, Named};
use super::queries::{FIND_ORDERS_BY_NAME, ORDERS_BY_IDS, ORDER_TIMELINE};
use super::types::{EmailAddress, LineItem, MoneyBag, Nodes, Page, Tracking};
use super::{ShopifyClient, ShopifyError};
use crate::deadline::Deadline;
use crate::domain::ShopDomain;

/// Candidates read with their details in the first request. Sorted by order number, the exact
/// name comes before every fuzzy match that contains it, so three is plenty.
pub const FIRST_CANDIDATES: u32 = 3;

/// Names listed by the second request, when the first did not hold the exact name.
pub const MORE_CANDIDATES: u32 = 50;

/// Refunds told about an order: the first ones Shopify lists. `Order.refunds` takes only
/// `first` (no sort key, no page info) and lists them oldest first, so `OrderTimeline` reads
/// one more than this, and that one's presence says newer refunds were left out.
pub const REFUNDS_LISTED: usize = 5;

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

    /// Whether the order's timeline is worth its request: the order has shipments (their
    /// carrier events and items), or it may have refunds — refunded wholly or in part, its
    /// financial status not given, cancelled (a refund may still be pending) or with a return
    /// (`returnStatus` other than `NO_RETURN`, or not given). An order with none of these has
    /// its refunds left unread, never taken to be none.
    pub fn needs_timeline(&self) -> bool {
        let refunded = matches!(
            self.display_financial_status.as_deref(),
            None | Some("REFUNDED" | "PARTIALLY_REFUNDED")
        );
        let returned = self.return_status.as_deref() != Some("NO_RETURN");
        !self.fulfillments.is_empty() || refunded || self.cancelled_at.is_some() || returned
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
    /// The first items; `page_info.has_next_page` when it carries more.
    pub fulfillment_line_items: Page<FulfillmentLineItem>,
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
/// and its refunds (as read: up to one more than [`REFUNDS_LISTED`]).
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

    /// The refunds to tell: the first [`REFUNDS_LISTED`], oldest first.
    pub fn listed_refunds(&self) -> &[Refund] {
        &self.refunds[..self.refunds.len().min(REFUNDS_LISTED)]
    }

    /// Whether the order has refunds beyond those listed (the newer ones).
    pub fn more_refunds(&self) -> bool {
        self.refunds.len() > REFUNDS_LISTED
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

#[cfg(test)]
mod tests {
    use super::*;

    fn order(
        fulfilled: bool,
        financial: Option<&str>,
        cancelled: bool,
        returns: Option<&str>,
    ) -> Order {
        serde_json::from_value(json!({
            "name": "#1001",
            "createdAt": "2026-11-20T10:00:00Z",
            "displayFinancialStatus": financial,
            "displayFulfillmentStatus": if fulfilled { "FULFILLED" } else { "UNFULFILLED" },
            "cancelledAt": cancelled.then_some("2026-11-21T09:00:00Z"),
            "returnStatus": returns,
            "totalPriceSet": {"shopMoney": {"amount": "49.90", "currencyCode": "USD"}},
            "lineItems": {"nodes": []},
            "fulfillments": if fulfilled { json!([{"status": "SUCCESS"}]) } else { json!([]) },
        }))
        .expect("an order")
    }

    #[test]
    fn only_an_unshipped_order_with_no_sign_of_a_refund_skips_its_timeline() {
        let paid = Some("PAID");
        let none = Some("NO_RETURN");
        assert!(!order(false, paid, false, none).needs_timeline());
        assert!(order(true, paid, false, none).needs_timeline(), "shipped");
        assert!(order(false, Some("PARTIALLY_REFUNDED"), false, none).needs_timeline());
        assert!(
            order(false, None, false, none).needs_timeline(),
            "financial status not given"
        );
        assert!(
            order(false, paid, true, none).needs_timeline(),
            "cancelled, a refund may be pending"
        );
        assert!(order(false, paid, false, Some("RETURN_REQUESTED")).needs_timeline());
        assert!(
            order(false, paid, false, None).needs_timeline(),
            "return status not given"
        );
    }

    #[test]
    fn the_timeline_reads_one_refund_more_than_it_lists() {
        let asked = format!("refunds(first: {})", REFUNDS_LISTED + 1);
        assert!(ORDER_TIMELINE.document.contains(&asked), "{asked}");
    }
}
