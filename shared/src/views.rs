//! How orders and customers are shown: one order view for the AI's order details and the
//! sidebar's order summaries, built from the same [`Order`] shape, with links into the Shopify
//! admin; the AI's order details also tell where each shipment is, in the carrier's own
//! events and in a shopper's words, and where the refunds are.

use serde::Serialize;

use crate::shopify::customers::Customer;
use crate::shopify::orders::{
    Fulfillment, FulfillmentEvent, FulfillmentLineItem, FulfillmentTimeline, Order, OrderTimeline,
    Refund,
};
use crate::shopify::types::{LineItem, Money, Tracking};
use crate::store::StoreRecord;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MoneyView {
    pub amount: String,
    pub currency: String,
}

impl From<&Money> for MoneyView {
    fn from(money: &Money) -> Self {
        Self {
            amount: money.amount.clone(),
            currency: money.currency_code.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LineItemView {
    pub title: String,
    pub variant_title: Option<String>,
    pub quantity: i64,
}

impl From<&LineItem> for LineItemView {
    fn from(item: &LineItem) -> Self {
        Self {
            title: item.title.clone(),
            variant_title: item.variant_title.clone(),
            quantity: item.quantity,
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TrackingView {
    pub company: Option<String>,
    pub number: Option<String>,
    pub url: Option<String>,
}

impl From<&Tracking> for TrackingView {
    fn from(tracking: &Tracking) -> Self {
        Self {
            company: tracking.company.clone(),
            number: tracking.number.clone(),
            url: tracking.url.clone(),
        }
    }
}

/// What every order view shows.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct OrderBasics {
    pub name: String,
    pub created_at: String,
    pub financial_status: Option<String>,
    pub fulfillment_status: String,
    pub cancelled_at: Option<String>,
    pub total: MoneyView,
    pub line_items: Vec<LineItemView>,
}

fn lower(value: &str) -> String {
    value.to_ascii_lowercase()
}

impl From<&Order> for OrderBasics {
    fn from(order: &Order) -> Self {
        Self {
            name: order.name.clone(),
            created_at: order.created_at.clone(),
            financial_status: order.display_financial_status.as_deref().map(lower),
            fulfillment_status: lower(&order.display_fulfillment_status),
            cancelled_at: order.cancelled_at.clone(),
            total: (&order.total_price_set.shop_money).into(),
            line_items: order.line_items.nodes.iter().map(Into::into).collect(),
        }
    }
}

/// An order in the inbox sidebar (the contract's ORDER_SUMMARY).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct OrderSummary {
    #[serde(flatten)]
    pub basics: OrderBasics,
    pub tracking: Vec<TrackingView>,
    pub admin_url: Option<String>,
    /// The order's actions waiting for a person's approval.
    pub pending_actions: Vec<PendingActionView>,
    /// The order's newest action, whatever came of it; `null` when it has none.
    pub last_action: Option<LastActionView>,
    /// The order's GID, to attach its pending actions; not shown.
    #[serde(skip)]
    pub order_id: Option<String>,
}

/// An order action waiting for a person, as the inbox sidebar shows it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PendingActionView {
    pub action_id: String,
    /// `cancel_order`, ...
    pub action: &'static str,
    /// `pending_approval`.
    pub status: &'static str,
    pub summary: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// An order's newest action, as the inbox sidebar shows it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LastActionView {
    pub action_id: String,
    /// `cancel_order`, `update_shipping_address`, `request_return`.
    pub action: &'static str,
    /// Its status now (`done`, `failed`, `pending_approval`, `expired`, ...).
    pub status: &'static str,
    pub summary: String,
    /// `ai`, or the person who approved or declined it.
    pub actor: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AddressView {
    pub city: Option<String>,
    pub province: Option<String>,
    pub country: Option<String>,
    pub zip: Option<String>,
}

/// What a shipment's status means to a shopper. The statuses are Shopify's
/// `FulfillmentDisplayStatus` (a carrier event's `FulfillmentEventStatus` is one of them), and
/// `FulfillmentStatus` for a shipment without a display status; a value Shopify adds later is
/// shown as its own words (`NEW_STATUS` → "new status").
pub fn shipment_status_text(status: &str) -> String {
    let text = match status {
        "LABEL_PURCHASED" => "Shipping label created; the carrier does not have the package yet",
        "LABEL_PRINTED" => "Shipping label printed; the carrier does not have the package yet",
        "LABEL_VOIDED" => "Shipping label cancelled; the package will not ship with it",
        "SUBMITTED" => "Sent to the fulfillment service, which is preparing the package",
        "CONFIRMED" => "Shipment confirmed; no update from the carrier yet",
        "MARKED_AS_FULFILLED" => "Marked as shipped by the store; the carrier sends no updates",
        "FULFILLED" | "SUCCESS" => "Shipped",
        "CARRIER_PICKED_UP" => "Picked up by the carrier",
        "IN_TRANSIT" => "On its way",
        "OUT_FOR_DELIVERY" => "Out for delivery",
        "ATTEMPTED_DELIVERY" => "The carrier tried to deliver it, but could not",
        "DELAYED" => "Delayed on its way",
        "READY_FOR_PICKUP" => "Ready for pickup",
        "PICKED_UP" => "Picked up by the customer",
        "DELIVERED" => "Delivered",
        "NOT_DELIVERED" => "Not delivered: the carrier could not deliver it",
        // The request to ship failed (`FulfillmentStatus`: "the fulfillment request failed",
        // "there was an error with the fulfillment request"): nothing says the package is lost.
        "FAILURE" | "ERROR" => {
            "The shipment could not be processed; the store needs to look into it"
        }
        "CANCELED" | "CANCELLED" => "Shipment cancelled",
        "OPEN" | "PENDING" => "Being prepared for shipping",
        other => return other.to_ascii_lowercase().replace('_', " "),
    };
    text.to_owned()
}

/// One carrier event of a shipment.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FulfillmentEventView {
    /// `FulfillmentEventStatus`, lower-cased (`in_transit`).
    pub status: String,
    pub status_text: String,
    pub happened_at: String,
    pub message: Option<String>,
    pub city: Option<String>,
}

impl From<&FulfillmentEvent> for FulfillmentEventView {
    fn from(event: &FulfillmentEvent) -> Self {
        Self {
            status: lower(&event.status),
            status_text: shipment_status_text(&event.status),
            happened_at: event.happened_at.clone(),
            message: event.message.clone(),
            city: event.city.clone(),
        }
    }
}

/// An item a shipment carries.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ShippedItemView {
    pub title: String,
    pub variant_title: Option<String>,
    pub quantity: Option<i64>,
}

impl From<&FulfillmentLineItem> for ShippedItemView {
    fn from(item: &FulfillmentLineItem) -> Self {
        Self {
            title: item.line_item.title.clone(),
            variant_title: item.line_item.variant_title.clone(),
            quantity: item.quantity,
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FulfillmentView {
    /// `display_status` (or, without one, Shopify's `status`), lower-cased.
    pub status: Option<String>,
    /// Shopify's `FulfillmentDisplayStatus` as given (`IN_TRANSIT`).
    pub display_status: Option<String>,
    /// The status in a shopper's words.
    pub status_text: Option<String>,
    pub created_at: Option<String>,
    pub tracking: Vec<TrackingView>,
    /// Only the carrier's own estimate; `null` when it gave none.
    pub estimated_delivery_at: Option<String>,
    pub delivered_at: Option<String>,
    /// The carrier's latest events, oldest first; `null` when they could not be read.
    pub events: Option<Vec<FulfillmentEventView>>,
    /// The items in this shipment; `null` when they could not be read.
    pub line_items: Option<Vec<ShippedItemView>>,
    /// Whether the shipment carries more items than `line_items` lists; `null` with them.
    pub more_line_items: Option<bool>,
}

impl FulfillmentView {
    fn new(fulfillment: &Fulfillment, timeline: Option<&FulfillmentTimeline>) -> Self {
        let status = fulfillment
            .display_status
            .as_deref()
            .or(fulfillment.status.as_deref());
        Self {
            status: status.map(lower),
            display_status: fulfillment.display_status.clone(),
            status_text: status.map(shipment_status_text),
            created_at: fulfillment.created_at.clone(),
            tracking: fulfillment.tracking_info.iter().map(Into::into).collect(),
            estimated_delivery_at: fulfillment.estimated_delivery_at.clone(),
            delivered_at: fulfillment.delivered_at.clone(),
            events: timeline.map(|t| t.events.nodes.iter().map(Into::into).collect()),
            line_items: timeline.map(|t| {
                t.fulfillment_line_items
                    .nodes
                    .iter()
                    .map(Into::into)
                    .collect()
            }),
            more_line_items: timeline.map(|t| t.fulfillment_line_items.page_info.has_next_page),
        }
    }
}

/// Money given back on an order.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RefundView {
    pub amount: MoneyView,
    pub created_at: Option<String>,
}

impl From<&Refund> for RefundView {
    fn from(refund: &Refund) -> Self {
        Self {
            amount: (&refund.total_refunded_set.shop_money).into(),
            created_at: refund.created_at.clone(),
        }
    }
}

/// An order as the AI is told about it (`get_order_details`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct OrderDetails {
    #[serde(flatten)]
    pub basics: OrderBasics,
    pub shop_domain: String,
    pub cancel_reason: Option<String>,
    /// `OrderReturnStatus`, lower-cased (`no_return`, `return_requested`, `in_progress`, ...).
    pub return_status: Option<String>,
    pub shipping_address: Option<AddressView>,
    pub fulfillments: Vec<FulfillmentView>,
    /// The first refunds, oldest first; `null` when they were not read.
    pub refunds: Option<Vec<RefundView>>,
    /// Whether the order has refunds beyond those listed (newer ones); `null` with them.
    pub more_refunds: Option<bool>,
    pub status_page_url: Option<String>,
    /// The parts that were not read (`fulfillments.events`, `fulfillments.line_items`,
    /// `refunds`): the timeline failed or ran out of time, or (refunds only) the order showed
    /// no sign of one and they were not asked for. Left out when nothing is missing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<&'static str>,
}

/// `https://admin.shopify.com/store/{handle}/{kind}/{id}`.
pub fn admin_url(store: &StoreRecord, kind: &str, id: &str) -> String {
    format!(
        "https://admin.shopify.com/store/{}/{kind}/{id}",
        store.shop_domain.handle()
    )
}

impl OrderSummary {
    pub fn new(order: &Order, store: &StoreRecord) -> Self {
        Self {
            basics: order.into(),
            tracking: order
                .fulfillments
                .iter()
                .flat_map(|f| &f.tracking_info)
                .map(Into::into)
                .collect(),
            admin_url: order
                .legacy_resource_id
                .as_deref()
                .map(|id| admin_url(store, "orders", id)),
            pending_actions: Vec::new(),
            last_action: None,
            order_id: order.id.clone().or_else(|| {
                order
                    .legacy_resource_id
                    .as_ref()
                    .map(|id| format!("gid://shopify/Order/{id}"))
            }),
        }
    }
}

impl OrderDetails {
    /// The order with its timeline; `timeline: None` means it was not read (or could not be),
    /// so its parts — the refunds, and the events and items of any shipment — are `null` and
    /// named in `missing`.
    pub fn new(order: &Order, store: &StoreRecord, timeline: Option<&OrderTimeline>) -> Self {
        let fulfillments: Vec<FulfillmentView> = order
            .fulfillments
            .iter()
            .map(|f| {
                let read = timeline.and_then(|t| f.id.as_deref().and_then(|id| t.fulfillment(id)));
                FulfillmentView::new(f, read)
            })
            .collect();
        let refunds: Option<Vec<RefundView>> =
            timeline.map(|t| t.listed_refunds().iter().map(Into::into).collect());
        let mut missing = Vec::new();
        if fulfillments.iter().any(|f| f.events.is_none()) {
            missing.push("fulfillments.events");
        }
        if fulfillments.iter().any(|f| f.line_items.is_none()) {
            missing.push("fulfillments.line_items");
        }
        if refunds.is_none() {
            missing.push("refunds");
        }
        Self {
            basics: order.into(),
            shop_domain: store.shop_domain.to_string(),
            cancel_reason: order.cancel_reason.as_deref().map(lower),
            return_status: order.return_status.as_deref().map(lower),
            shipping_address: order.shipping_address.as_ref().map(|a| AddressView {
                city: a.city.clone(),
                province: a.province.clone(),
                country: a.country.clone(),
                zip: a.zip.clone(),
            }),
            fulfillments,
            refunds,
            more_refunds: timeline.map(OrderTimeline::more_refunds),
            status_page_url: order.status_page_url.clone(),
            missing,
        }
    }
}

/// A customer in the inbox sidebar.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CustomerProfile {
    pub id: String,
    /// Shopify's `displayName`: the customer's name, else their email or phone number. `None`
    /// when Shopify has nothing to show: no name, email or phone (`""`), or a value the store's
    /// app may not read (masked as `•••`).
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub orders_count: u64,
    pub amount_spent: MoneyView,
    pub created_at: String,
    pub tags: Vec<String>,
    pub note: Option<String>,
    pub admin_url: String,
}

impl CustomerProfile {
    pub fn new(customer: &Customer, store: &StoreRecord) -> Self {
        Self {
            id: customer.id.clone(),
            name: shown_name(&customer.display_name),
            email: customer
                .default_email_address
                .as_ref()
                .map(|e| e.email_address.clone()),
            phone: customer
                .default_phone_number
                .as_ref()
                .map(|p| p.phone_number.clone()),
            orders_count: customer.number_of_orders.parse().unwrap_or_default(),
            amount_spent: (&customer.amount_spent).into(),
            created_at: customer.created_at.clone(),
            tags: customer.tags.clone(),
            note: customer.note.clone(),
            admin_url: admin_url(store, "customers", &customer.legacy_resource_id),
        }
    }
}

/// `display_name` unless it shows nothing: blank, or only Shopify's mask (`•`).
fn shown_name(display_name: &str) -> Option<String> {
    let shown = display_name.trim();
    let masked = shown.chars().all(|c| c == '•' || c.is_whitespace());
    (!masked).then(|| shown.to_owned())
}

#[cfg(test)]
mod tests {
    use super::{shipment_status_text, shown_name};

    #[test]
    fn a_display_name_that_shows_nothing_is_no_name() {
        assert_eq!(shown_name("Jane Doe"), Some("Jane Doe".to_owned()));
        assert_eq!(
            shown_name(" jane@example.com "),
            Some("jane@example.com".to_owned())
        );
        assert_eq!(shown_name("Zoë •"), Some("Zoë •".to_owned()));
        for nothing in ["", "  ", "•••", " ••• "] {
            assert_eq!(shown_name(nothing), None, "{nothing:?}");
        }
    }

    /// Every `FulfillmentDisplayStatus` of the 2026-10 Admin schema (the carrier events'
    /// `FulfillmentEventStatus` values are among them).
    const DISPLAY_STATUSES: [&str; 18] = [
        "ATTEMPTED_DELIVERY",
        "CANCELED",
        "CARRIER_PICKED_UP",
        "CONFIRMED",
        "DELAYED",
        "DELIVERED",
        "FAILURE",
        "FULFILLED",
        "IN_TRANSIT",
        "LABEL_PRINTED",
        "LABEL_PURCHASED",
        "LABEL_VOIDED",
        "MARKED_AS_FULFILLED",
        "NOT_DELIVERED",
        "OUT_FOR_DELIVERY",
        "PICKED_UP",
        "READY_FOR_PICKUP",
        "SUBMITTED",
    ];

    #[test]
    fn every_shipment_status_is_told_in_a_shoppers_words() {
        let mut texts: Vec<String> = DISPLAY_STATUSES
            .iter()
            .map(|s| shipment_status_text(s))
            .collect();
        for (status, text) in DISPLAY_STATUSES.iter().zip(&texts) {
            assert_ne!(
                *text,
                status.to_ascii_lowercase().replace('_', " "),
                "{status} has words of its own"
            );
        }
        texts.sort();
        texts.dedup();
        assert_eq!(
            texts.len(),
            DISPLAY_STATUSES.len(),
            "no two statuses read alike"
        );
        assert_eq!(shipment_status_text("IN_TRANSIT"), "On its way");
    }

    #[test]
    fn a_failed_shipping_request_is_not_told_as_a_lost_or_undelivered_package() {
        for status in ["FAILURE", "ERROR"] {
            let text = shipment_status_text(status);
            assert_eq!(
                text, "The shipment could not be processed; the store needs to look into it",
                "{status}"
            );
            let lower = text.to_lowercase();
            assert!(
                !["deliver", "lost", "failed"]
                    .iter()
                    .any(|w| lower.contains(w)),
                "{status}: {text}"
            );
        }
    }

    #[test]
    fn a_status_shopify_adds_later_is_shown_as_its_words() {
        assert_eq!(shipment_status_text("HELD_AT_CUSTOMS"), "held at customs");
    }
}
