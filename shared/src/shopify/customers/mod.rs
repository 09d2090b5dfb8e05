//! The inbox sidebar's read: one customer by exact email with their most recent orders, newest
//! first, in two round trips. The first request brings the customer, their newest orders in
//! detail and the ids of their 50 newest orders; then the orders beyond those by id, in
//! batches sent at once — as many at a time as the store's bucket leaves room for beside the
//! AI's order lookups ([`share`]). The first request, too, waits for that room when this
//! container has read the bucket before.

mod share;

use std::collections::HashSet;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::client::SidebarHold;
use super::orders::Order;
use super::queries::{CUSTOMER_BY_EMAIL, SIDEBAR_ORDERS_BY_IDS};
use super::transport::MIN_ATTEMPT;
use super::types::{EmailAddress, Money, Nodes, PhoneNumber};
use super::{ShopifyClient, ShopifyError};
use crate::deadline::Deadline;
use crate::domain::ShopDomain;
use share::Room;

pub use share::RESERVE;

/// Orders read in detail by the first request: as many as fit in 150 requested points beside
/// the customer (4) and the ids of the 50 newest orders (52): 4 + 52 + 2 + 4 × 22 = 146.
pub const FIRST_ORDERS: usize = 4;

/// Orders per request by id: 2 + 6 × 22 = 134 requested points.
pub const BATCH_ORDERS: usize = 6;

/// The most orders the first request lists the ids of (its cost is sized for this many).
pub const MOST_RECENT: usize = 50;

/// Requested points of one order in detail: the order 1, its total 2, 5 line items 7, and
/// 2 shipments with 2 tracking numbers each 12.
const ORDER_POINTS: f64 = 22.0;

/// How often a sidebar waiting for the container's other sidebars' requests to finish looks
/// again.
const OTHERS_FINISH: Duration = Duration::from_millis(20);

/// The batches stop this long before the store's own deadline (at most a quarter of the time
/// left), so a batch that hangs costs its orders, never the customer and the orders read.
const BATCH_MARGIN: Duration = Duration::from_millis(300);

/// Requested points of one request for `orders` orders by id.
pub fn batch_points(orders: usize) -> f64 {
    2.0 + orders as f64 * ORDER_POINTS
}

/// Requested points of the first request, with `detailed` orders in detail and the ids of
/// `listed`: the customer and its email, phone and amount objects 4, then each list 2 + its
/// orders (one point an id, [`ORDER_POINTS`] an order in detail).
pub fn first_points(detailed: usize, listed: usize) -> f64 {
    4.0 + (2.0 + listed as f64) + batch_points(detailed)
}

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
struct OrderId {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCustomer {
    #[serde(flatten)]
    customer: Customer,
    /// The newest orders, in detail.
    orders: Nodes<Order>,
    /// The ids of the newest orders (`recent:` in the document), those above included.
    recent: Nodes<OrderId>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CustomerData {
    customer_by_identifier: Option<RawCustomer>,
}

#[derive(Deserialize)]
struct BatchData {
    /// In the order of the ids asked for; `null` for an order deleted meanwhile.
    nodes: Vec<Option<Order>>,
}

/// The GID an order is listed by.
fn order_gid(order: &Order) -> Option<String> {
    order.id.clone().or_else(|| {
        order
            .legacy_resource_id
            .as_ref()
            .map(|id| format!("gid://shopify/Order/{id}"))
    })
}

impl ShopifyClient {
    /// The customer whose email is exactly `email` (compared case-insensitively, as Shopify
    /// does), with up to `max_orders` (at most [`MOST_RECENT`]) most recent orders, newest
    /// first; `None` when the shop has no such customer. Only the first request can fail the
    /// answer: a later one that fails or runs out of time ends the list with the newest orders
    /// read before it.
    pub async fn customer_by_email(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        email: &str,
        max_orders: usize,
    ) -> Result<Option<Customer>, ShopifyError> {
        let most = max_orders.min(MOST_RECENT);
        let detailed = FIRST_ORDERS.min(most);
        let hold = self
            .room_for_first(deadline, shop, first_points(detailed, most))
            .await?;
        let data: CustomerData = self
            .query(
                deadline,
                shop,
                token,
                &CUSTOMER_BY_EMAIL,
                json!({ "email": email, "first": detailed, "recent": most }),
            )
            .await?;
        drop(hold);
        let Some(raw) = data.customer_by_identifier else {
            return Ok(None);
        };
        let exact = raw
            .customer
            .default_email_address
            .as_ref()
            .is_some_and(|e| e.email_address.trim().eq_ignore_ascii_case(email.trim()));
        if !exact {
            return Ok(None);
        }
        let mut customer = raw.customer;
        // The ids list repeats the orders in detail; a malformed answer may repeat any order.
        let mut seen: HashSet<String> = HashSet::new();
        customer.orders = raw
            .orders
            .nodes
            .into_iter()
            .filter(|order| order_gid(order).is_none_or(|id| seen.insert(id)))
            .take(most)
            .collect();
        let rest: Vec<String> = raw
            .recent
            .nodes
            .into_iter()
            .map(|order| order.id)
            .filter(|id| seen.insert(id.clone()))
            .take(most - customer.orders.len())
            .collect();
        if !rest.is_empty() {
            let older = self.older_orders(deadline, shop, token, &rest).await;
            customer.orders.extend(older);
        }
        Ok(Some(customer))
    }

    /// Waits until the last reading of the store's bucket (if this container has one) has
    /// room for the first request beside the lookups' reserve and what this container's other
    /// sidebars hold, and holds its points. When that cannot happen with time left for the
    /// request, nothing is sent: the store is rate-limited for the sidebar, and the AI's order
    /// lookups keep the bucket.
    async fn room_for_first(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        points: f64,
    ) -> Result<SidebarHold, ShopifyError> {
        loop {
            let reading = self.bucket(shop);
            let wait = match self.sidebar_hold(shop, points, |held| {
                match share::room(reading.as_ref(), held, points) {
                    // Nothing in flight to wait for: only the bucket's own answer tells.
                    Room::Now => Ok(()),
                    Room::WhenOneFinishes if held <= 0.0 => Ok(()),
                    Room::WhenOneFinishes => Err(OTHERS_FINISH),
                    Room::After(wait) => Err(wait),
                }
            }) {
                Ok(hold) => return Ok(hold),
                Err(wait) => wait,
            };
            if !deadline.allows(wait, MIN_ATTEMPT) {
                tracing::warn!(shop = %shop, wait_ms = wait.as_millis() as u64, "the store's bucket has no room for the sidebar beside the lookups' reserve in time");
                return Err(ShopifyError::RateLimited {
                    retry_after: Some(wait),
                });
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// The orders with these ids (newest first), in batches of [`BATCH_ORDERS`] sent at once
    /// as far as the sidebar's share of the bucket allows: a batch that does not fit waits
    /// for an earlier one to finish or for the bucket to refill, never past the deadline.
    /// Answers the orders up to the first batch that failed or could not be sent.
    async fn older_orders(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        ids: &[String],
    ) -> Vec<Order> {
        let deadline = deadline.minus(BATCH_MARGIN.min(deadline.remaining() / 4));
        let deadline = &deadline;
        let batches: Vec<&[String]> = ids.chunks(BATCH_ORDERS).collect();
        let mut read: Vec<Option<Vec<Order>>> = vec![None; batches.len()];
        // The first batch not shown (it failed or was never sent); later ones are not shown
        // either, so the list stays the newest orders, with no gap.
        let mut cut = batches.len();
        let mut next = 0;
        let mut running = FuturesUnordered::new();
        // Which batches are in flight, and the points they requested in all.
        let mut in_flight: Vec<bool> = vec![false; batches.len()];
        let mut held = 0.0;
        loop {
            let mut room = Room::Now;
            while next < cut {
                let points = batch_points(batches[next].len());
                let reading = self.bucket(shop);
                let hold = self.sidebar_hold(shop, points, |others| {
                    room = share::room(reading.as_ref(), others, points);
                    match room {
                        Room::Now => Ok(()),
                        _ => Err(()),
                    }
                });
                let Ok(hold) = hold else {
                    break;
                };
                let (index, ids) = (next, batches[next]);
                held += points;
                in_flight[index] = true;
                running.push(async move {
                    let _hold = hold;
                    let answer: Result<BatchData, ShopifyError> = self
                        .query(
                            deadline,
                            shop,
                            token,
                            &SIDEBAR_ORDERS_BY_IDS,
                            json!({ "ids": ids }),
                        )
                        .await;
                    (index, points, answer)
                });
                next += 1;
            }
            let refill = match room {
                Room::After(wait) if deadline.allows(wait, MIN_ATTEMPT) => Some(wait),
                // Other sidebars' requests hold the room: they finish soon.
                Room::WhenOneFinishes
                    if self.sidebar_held(shop) > held
                        && deadline.allows(OTHERS_FINISH, MIN_ATTEMPT) =>
                {
                    Some(OTHERS_FINISH)
                }
                _ => None,
            };
            if running.is_empty() {
                match refill {
                    Some(wait) if next < cut => {
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    _ => {
                        if next < cut {
                            tracing::warn!(shop = %shop, orders = ids.len() - next * BATCH_ORDERS, left_ms = deadline.remaining().as_millis() as u64, "the store's bucket has no room for the customer's older orders in time; answering with the newest ones");
                            cut = next;
                        }
                        break;
                    }
                }
            }
            tokio::select! {
                Some((index, points, answer)) = running.next() => {
                    held -= points;
                    in_flight[index] = false;
                    match answer {
                        Ok(data) => read[index] = Some(data.nodes.into_iter().flatten().collect()),
                        Err(error) => {
                            if index < cut {
                                tracing::warn!(shop = %shop, orders = ids.len() - index * BATCH_ORDERS, %error, "a batch of the customer's older orders could not be read; answering with the newer ones");
                                cut = index;
                            }
                        }
                    }
                }
                () = tokio::time::sleep(refill.unwrap_or_default()), if refill.is_some() => {}
            }
            // Done when nothing newer than the cut is left to send or to wait for.
            if next >= cut && !in_flight[..cut].contains(&true) {
                break;
            }
        }
        read.into_iter()
            .take(cut)
            .map_while(|batch| batch)
            .flatten()
            .collect()
    }
}
