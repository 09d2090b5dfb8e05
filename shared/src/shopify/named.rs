//! The exact-name search both order reads share (the AI's lookups in `orders`, the order
//! actions in `actions`): Shopify's name search is fuzzy, so a few candidates are read with
//! their details first, and only when the exact name is not among them are more candidates'
//! names listed and the exact ones read by id. Each read keeps its own documents and sizes.

use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use super::queries::{Query, FIND_ORDER_IDS_BY_NAME};
use super::types::Page;
use super::{ShopifyClient, ShopifyError};
use crate::deadline::Deadline;
use crate::domain::ShopDomain;

/// An order as one search reads it: all the search needs of it is its name.
pub(super) trait Named {
    fn name(&self) -> &str;
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
        let first: ByNameData<T> = self
            .query(
                deadline,
                shop,
                token,
                search.by_name,
                json!({ "query": query, "first": search.first }),
            )
            .await?;
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
        let found: ByIdsData<T> = self
            .query(deadline, shop, token, search.by_ids, json!({ "ids": ids }))
            .await?;
        Ok(found
            .nodes
            .into_iter()
            .flatten()
            .filter(|o| is_exact(o.name()))
            .collect())
    }
}
