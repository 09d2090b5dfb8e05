//! Orders: found by exact name for the AI (cheaply: a few candidates with their details, a
//! second request only when the exact one was not among them), and the shape both the AI's
//! order details and the sidebar's order summaries are read into.

use secrecy::SecretString;
use serde::Deserialize;

use super::named::{NameSearch, Named};
use super::queries::{FIND_ORDERS_BY_NAME, ORDERS_BY_IDS};
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
}
