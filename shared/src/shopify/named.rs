//! The exact-name search both order reads share (the AI's lookups in `orders`, the order
//! actions in `actions`): Shopify's name search is fuzzy, so a few candidates are read with
//! their details first, and only when the exact name is not among them are more candidates'
//! names listed and the exact ones read by id. Each read keeps its own documents and sizes.

use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use super::client::Withheld;
use super::queries::{Query, FIND_ORDER_IDS_BY_NAME};
use super::types::Page;
use super::{ShopifyClient, ShopifyError};
use crate::deadline::Deadline;
use crate::domain::ShopDomain;

/// An order as one search reads it: all the search needs of it is its name.
pub(super) trait Named {
    fn name(&self) -> &str;

    /// Shopify withheld this field of the order as protected customer data (its path below
    /// the order, `shippingAddress.phone`): null as read, though the order may have it. A read
    /// that must tell withheld from empty keeps it; others ignore it.
    fn withheld(&mut self, _field: &str) {}
}

/// The fields Shopify withheld from the orders of a list, by the order's position: the paths
/// `{list}.{position}.{field}`.
fn withheld_in<'a>(
    withheld: &'a Withheld,
    list: &'a [&str],
) -> impl Iterator<Item = (usize, String)> + 'a {
    withheld.iter().filter_map(move |path| {
        let below = path.len() > list.len() && path.iter().zip(list).all(|(a, b)| a == b);
        let position = path.get(list.len()).filter(|_| below)?.parse().ok()?;
        Some((position, path[list.len() + 1..].join(".")))
    })
}

/// One read's side of the search: the documents that read its orders by name and by id, and
/// how many candidates each step asks for (the names between are listed by
/// `FIND_ORDER_IDS_BY_NAME`).
pub(super) struct NameSearch {
    pub by_name: &'static Query,
    pub first: u32,
    pub more: u32,
    pub by_ids: &'static Query,
}

#[derive(Deserialize)]
struct ByNameData<T> {
    orders: Page<T>,
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
struct ByIdsData<T> {
    nodes: Vec<Option<T>>,
}

/// `name:"#1042"`: `name` is built from letters, digits, '#' and '-' only (see `routing`), so
/// quoting keeps it one search term.
fn name_search(name: &str) -> String {
    format!("name:\"{}\"", name.replace(['"', '\\'], ""))
}

impl ShopifyClient {
    /// The orders named exactly as `is_exact` says, read as `search` reads them. One request
    /// when the exact name is among the first candidates or there are no more; otherwise the
    /// candidates' names are listed and the exact ones read by id (three requests).
    pub(super) async fn orders_named<T: DeserializeOwned + Named>(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        search: &NameSearch,
        name: &str,
        is_exact: impl Fn(&str) -> bool,
    ) -> Result<Vec<T>, ShopifyError> {
        let query = name_search(name);
        let (mut first, withheld): (ByNameData<T>, _) = self
            .query_withheld(
                deadline,
                shop,
                token,
                search.by_name,
                json!({ "query": query, "first": search.first }),
            )
            .await?;
        for (position, field) in withheld_in(&withheld, &["orders", "nodes"]) {
            if let Some(order) = first.orders.nodes.get_mut(position) {
                order.withheld(&field);
            }
        }
        let exact: Vec<T> = first
            .orders
            .nodes
            .into_iter()
            .filter(|o| is_exact(o.name()))
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
                json!({ "query": query, "first": search.more, "after": cursor }),
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
        let (found, withheld): (ByIdsData<T>, _) = self
            .query_withheld(deadline, shop, token, search.by_ids, json!({ "ids": ids }))
            .await?;
        let mut nodes = found.nodes;
        for (position, field) in withheld_in(&withheld, &["nodes"]) {
            if let Some(Some(order)) = nodes.get_mut(position) {
                order.withheld(&field);
            }
        }
        Ok(nodes
            .into_iter()
            .flatten()
            .filter(|o| is_exact(o.name()))
            .collect())
    }
}
