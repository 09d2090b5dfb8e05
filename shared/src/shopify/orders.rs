//! Orders: found by exact name for the AI (cheaply: a few candidates with their details, a
//! second request only when the exact one was not among them), and the shape both the AI's
//! order details and the sidebar's order summaries are read into.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::queries::{FIND_ORDERS_BY_NAME, FIND_ORDER_IDS_BY_NAME, ORDERS_BY_IDS};
use super::types::{EmailAddress, LineItem, MoneyBag, Nodes, Page, Tracking};
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
    #[serde(default)]
    pub status: Option<String>,
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
}

#[derive(Deserialize)]
struct OrdersData {
    orders: Page<Order>,
}

#[derive(Deserialize)]
struct NamedId {
    id: String,
    name: String,
}

#[derive(Deserialize)]
struct IdsData {
    orders: Page<NamedId>,
}

#[derive(Deserialize)]
struct NodesData {
    nodes: Vec<Option<Order>>,
}

/// `name:"#1042"`: `name` is built from letters, digits, '#' and '-' only (see `routing`), so
/// quoting keeps it one search term.
fn name_search(name: &str) -> String {
    format!("name:\"{}\"", name.replace(['"', '\\'], ""))
}

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
        let search = name_search(name);
        let first: OrdersData = self
            .query(
                deadline,
                shop,
                token,
                &FIND_ORDERS_BY_NAME,
                json!({ "query": search, "first": FIRST_CANDIDATES }),
            )
            .await?;
        let exact: Vec<Order> = first
            .orders
            .nodes
            .into_iter()
            .filter(|o| is_exact(&o.name))
            .collect();
        let cursor = first.orders.page_info.end_cursor;
        if !exact.is_empty() || !first.orders.page_info.has_next_page || cursor.is_none() {
            return Ok(exact);
        }
        let more: IdsData = self
            .query(
                deadline,
                shop,
                token,
                &FIND_ORDER_IDS_BY_NAME,
                json!({ "query": search, "first": MORE_CANDIDATES, "after": cursor }),
            )
            .await?;
        let ids: Vec<String> = more
            .orders
            .nodes
            .into_iter()
            .filter(|o| is_exact(&o.name))
            .map(|o| o.id)
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let found: NodesData = self
            .query(deadline, shop, token, &ORDERS_BY_IDS, json!({ "ids": ids }))
            .await?;
        Ok(found
            .nodes
            .into_iter()
            .flatten()
            .filter(|o| is_exact(&o.name))
            .collect())
    }
}
