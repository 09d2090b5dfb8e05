//! The inbox sidebar's read: one customer by exact email, and their most recent orders.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::lookups::{LineItem, Money, MoneyBag, Nodes, Tracking};
use super::queries::CUSTOMER_BY_EMAIL;
use super::{ShopifyClient, ShopifyError};
use crate::domain::ShopDomain;

/// Orders per request: 25 keeps the query's cost well under Shopify's single-query limit.
const PAGE: u32 = 25;

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumber {
    pub phone_number: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerEmail {
    pub email_address: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryFulfillment {
    #[serde(default)]
    pub tracking_info: Vec<Tracking>,
}

/// An order as the sidebar lists it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderSummary {
    pub legacy_resource_id: String,
    pub name: String,
    pub created_at: String,
    pub display_financial_status: Option<String>,
    pub display_fulfillment_status: String,
    pub cancelled_at: Option<String>,
    pub total_price_set: MoneyBag,
    pub line_items: Nodes<LineItem>,
    #[serde(default)]
    pub fulfillments: Vec<SummaryFulfillment>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderPage {
    page_info: PageInfo,
    nodes: Vec<OrderSummary>,
}

/// A customer as the sidebar shows them.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    pub id: String,
    pub legacy_resource_id: String,
    pub display_name: String,
    pub default_email_address: Option<CustomerEmail>,
    pub default_phone_number: Option<PhoneNumber>,
    /// `UnsignedInt64`, which GraphQL sends as a string.
    pub number_of_orders: String,
    pub amount_spent: Money,
    pub created_at: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub note: Option<String>,
    #[serde(skip)]
    pub orders: Vec<OrderSummary>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCustomer {
    #[serde(flatten)]
    customer: Customer,
    orders: OrderPage,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    customer_by_identifier: Option<RawCustomer>,
}

impl ShopifyClient {
    /// The customer whose email is exactly `email` (compared case-insensitively, as Shopify
    /// does), with up to `max_orders` most recent orders, newest first; `None` when the shop has
    /// no such customer.
    pub async fn customer_by_email(
        &self,
        shop: &ShopDomain,
        token: &SecretString,
        email: &str,
        max_orders: usize,
    ) -> Result<Option<Customer>, ShopifyError> {
        let mut after: Option<String> = None;
        let mut found: Option<Customer> = None;
        loop {
            let data: Data = self
                .query(
                    shop,
                    token,
                    &CUSTOMER_BY_EMAIL,
                    json!({ "email": email, "first": PAGE, "after": after }),
                )
                .await?;
            let Some(raw) = data.customer_by_identifier else {
                return Ok(found);
            };
            let exact = raw
                .customer
                .default_email_address
                .as_ref()
                .is_some_and(|e| e.email_address.trim().eq_ignore_ascii_case(email.trim()));
            if !exact {
                return Ok(None);
            }
            let customer = found.get_or_insert(raw.customer);
            customer.orders.extend(raw.orders.nodes);
            if customer.orders.len() >= max_orders || !raw.orders.page_info.has_next_page {
                customer.orders.truncate(max_orders);
                return Ok(found);
            }
            after = raw.orders.page_info.end_cursor;
            if after.is_none() {
                return Ok(found);
            }
        }
    }
}
