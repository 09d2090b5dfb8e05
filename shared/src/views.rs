//! How orders and customers are shown: one order view for the AI's order details and the
//! sidebar's order summaries, built from the same [`Order`] shape, with links into the Shopify
//! admin.

use serde::Serialize;

use crate::shopify::customers::Customer;
use crate::shopify::orders::Order;
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

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AddressView {
    pub city: Option<String>,
    pub province: Option<String>,
    pub country: Option<String>,
    pub zip: Option<String>,
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
pub struct FulfillmentView {
    pub status: Option<String>,
    pub tracking: Vec<TrackingView>,
    pub estimated_delivery_at: Option<String>,
    pub delivered_at: Option<String>,
}

/// An order as the AI is told about it (`get_order_details`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct OrderDetails {
    #[serde(flatten)]
    pub basics: OrderBasics,
    pub shop_domain: String,
    pub cancel_reason: Option<String>,
    pub shipping_address: Option<AddressView>,
    pub fulfillments: Vec<FulfillmentView>,
    pub status_page_url: Option<String>,
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
    pub fn new(order: &Order, store: &StoreRecord) -> Self {
        Self {
            basics: order.into(),
            shop_domain: store.shop_domain.to_string(),
            cancel_reason: order.cancel_reason.as_deref().map(lower),
            shipping_address: order.shipping_address.as_ref().map(|a| AddressView {
                city: a.city.clone(),
                province: a.province.clone(),
                country: a.country.clone(),
                zip: a.zip.clone(),
            }),
            fulfillments: order
                .fulfillments
                .iter()
                .map(|f| FulfillmentView {
                    status: f
                        .display_status
                        .as_deref()
                        .or(f.status.as_deref())
                        .map(lower),
                    tracking: f.tracking_info.iter().map(Into::into).collect(),
                    estimated_delivery_at: f.estimated_delivery_at.clone(),
                    delivered_at: f.delivered_at.clone(),
                })
                .collect(),
            status_page_url: order.status_page_url.clone(),
        }
    }
}

/// A customer in the inbox sidebar.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CustomerProfile {
    pub id: String,
    pub name: String,
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
            name: customer.display_name.clone(),
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
