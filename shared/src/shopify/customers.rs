//! The inbox sidebar's read: one customer by exact email, and their most recent orders.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::orders::Order;
use super::queries::CUSTOMER_BY_EMAIL;
use super::types::{EmailAddress, Money, Page, PhoneNumber};
use super::{ShopifyClient, ShopifyError};
use crate::deadline::Deadline;
use crate::domain::ShopDomain;

/// Orders per request. Each order in detail requests 22 points (5 line items, 2 shipments with
/// 2 tracking numbers each), so a page of 6 requests 138: every request stays within 150 points
/// and a Standard-plan bucket (1,000 points) admits it beside six order lookups. Shopify's cursor
/// pages are sequential, so 50 orders take 9 requests one after another.
const PAGE: usize = 6;

/// A customer as the sidebar shows them.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    pub id: String,
    pub legacy_resource_id: String,
    pub display_name: String,
    pub default_email_address: Option<EmailAddress>,
    pub default_phone_number: Option<PhoneNumber>,
    /// `UnsignedInt64`, which GraphQL sends as a string.
    pub number_of_orders: String,
    pub amount_spent: Money,
    pub created_at: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub note: Option<String>,
    #[serde(skip)]
    pub orders: Vec<Order>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCustomer {
    #[serde(flatten)]
    customer: Customer,
    orders: Page<Order>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    customer_by_identifier: Option<RawCustomer>,
}

impl ShopifyClient {
    /// The customer whose email is exactly `email` (compared case-insensitively, as Shopify
    /// does), with up to `max_orders` most recent orders, newest first; `None` when the shop has
    /// no such customer. Pages end when Shopify says so, when a page brings nothing new (a
    /// malformed answer cannot loop), or at the deadline: a page after the first that fails or
    /// runs out of time ends the list with the newest orders already read.
    pub async fn customer_by_email(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        email: &str,
        max_orders: usize,
    ) -> Result<Option<Customer>, ShopifyError> {
        let mut after: Option<String> = None;
        let mut found: Option<Customer> = None;
        let max_pages = max_orders.div_ceil(PAGE).max(1);
        for _ in 0..max_pages {
            let answer = self
                .query(
                    deadline,
                    shop,
                    token,
                    &CUSTOMER_BY_EMAIL,
                    json!({ "email": email, "first": PAGE, "after": after }),
                )
                .await;
            let data: Data = match (answer, &found) {
                (Ok(data), _) => data,
                // A later page that fails or runs out of time costs the older orders, not the
                // customer and the newest ones already read.
                (Err(error), Some(customer)) => {
                    tracing::warn!(shop = %shop, orders = customer.orders.len(), %error, "a later page of the customer's orders could not be read; answering with the newest ones");
                    break;
                }
                (Err(error), None) => return Err(error),
            };
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
            let page = raw.orders;
            let customer = found.get_or_insert(raw.customer);
            let progressed = !page.nodes.is_empty();
            customer.orders.extend(page.nodes);
            let next = page.page_info.end_cursor;
            let stuck = !progressed || next.is_none() || next == after;
            if customer.orders.len() >= max_orders || !page.page_info.has_next_page || stuck {
                break;
            }
            after = next;
        }
        if let Some(customer) = &mut found {
            customer.orders.truncate(max_orders);
        }
        Ok(found)
    }
}
