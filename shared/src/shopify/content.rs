//! What knowledge sync reads from a store: pages, articles, products and policies a page at a
//! time (in id order for a full run, by `updated_at` for an incremental one), their ids alone,
//! counts, the primary domain, and bulk operations for large catalogs.

use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::queries::{
    Query, ACTIVE_PRODUCTS_COUNT, ARTICLES_PAGE, ARTICLE_IDS, BULK_OPERATION_STATUS, BULK_PRODUCTS,
    BULK_PRODUCTS_QUERY, KNOWLEDGE_SHOP, PAGES_COUNT, PAGES_PAGE, PAGE_IDS, PRODUCTS_PAGE,
    PRODUCT_IDS, SHOP_POLICIES,
};
use super::types::{Nodes, Page};
pub use super::types::{PriceRange, ShopVariant};
use super::{ShopifyClient, ShopifyError};
use crate::deadline::Deadline;
use crate::domain::ShopDomain;

/// Items per content page: each page requests at most 150 points (see `knowledge.graphql`).
pub const PAGES_PER_REQUEST: u32 = 50;
pub const ARTICLES_PER_REQUEST: u32 = 35;
pub const PRODUCTS_PER_REQUEST: u32 = 3;
pub const IDS_PER_REQUEST: u32 = 70;
/// Variants a product document lists (a page reads this many; a bulk result has them all).
pub const MAX_VARIANTS: usize = 20;

/// The requested cost of each content query, as `knowledge.graphql` states it (Shopify's
/// formula); a sync waits for this much to be spare before sending it.
pub fn requested_cost(kind: ContentQuery) -> f64 {
    match kind {
        ContentQuery::Pages => 52.0,
        ContentQuery::Articles => 107.0,
        ContentQuery::Products => 83.0,
        ContentQuery::Ids => 72.0,
        ContentQuery::Small => 5.0,
    }
}

/// The content queries, by cost class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentQuery {
    Pages,
    Articles,
    Products,
    Ids,
    Small,
}

/// An Online Store page.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopPage {
    pub id: String,
    pub title: String,
    pub handle: String,
    pub body: String,
    pub is_published: bool,
    pub updated_at: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Named {
    pub name: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Handled {
    pub handle: String,
}

/// A blog article.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopArticle {
    pub id: String,
    pub title: String,
    pub handle: String,
    pub body: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub is_published: bool,
    pub published_at: Option<String>,
    pub updated_at: Option<String>,
    pub author: Option<Named>,
    pub blog: Handled,
}

/// A product with its variants, from a page or from a bulk operation's JSONL.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopProduct {
    pub id: String,
    pub title: String,
    pub handle: String,
    pub status: String,
    pub online_store_url: Option<String>,
    pub description_html: String,
    pub vendor: String,
    pub product_type: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub updated_at: String,
    pub price_range_v2: PriceRange,
    /// From a page (the first [`MAX_VARIANTS`]); a bulk operation's variants come as lines of
    /// their own.
    #[serde(default = "no_variants")]
    pub variants: Nodes<ShopVariant>,
    /// How many variants the product has in all.
    #[serde(default)]
    pub variants_count: Option<Count>,
}

fn no_variants() -> Nodes<ShopVariant> {
    Nodes { nodes: Vec::new() }
}

impl ShopProduct {
    /// Only active products are knowledge; draft, archived and unlisted ones are not.
    pub fn is_active(&self) -> bool {
        self.status.eq_ignore_ascii_case("ACTIVE")
    }

    /// Whether shoppers can see it on the Online Store: Shopify gives a product an
    /// `onlineStoreUrl` only while it is published to that channel. An active product without
    /// one is scheduled for a later launch, sold on POS or to B2B catalogs only.
    pub fn published_url(&self) -> Option<&str> {
        self.online_store_url
            .as_deref()
            .filter(|url| !url.is_empty())
    }
}

/// A shop policy (refund, shipping, privacy, terms, contact...).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopPolicy {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub body: String,
    pub url: String,
    pub updated_at: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Id {
    pub id: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Count {
    pub count: u64,
    /// `EXACT`, or `AT_LEAST` for a count Shopify stopped at (absent when not asked for).
    #[serde(default)]
    pub precision: String,
}

/// Which way a content page is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Order {
    /// Everything, in id order (full runs: merged with the document index).
    ById,
    /// What changed since this RFC 3339 time, oldest change first.
    ChangedSince(String),
}

impl Order {
    fn variables(&self, query: Option<&str>) -> (Value, &'static str) {
        match self {
            Self::ById => (query.map_or(Value::Null, |q| json!(q)), "ID"),
            Self::ChangedSince(since) => {
                let changed = format!("updated_at:>'{since}'");
                let query = match query {
                    Some(q) => format!("{q} AND {changed}"),
                    None => changed,
                };
                (json!(query), "UPDATED_AT")
            }
        }
    }
}

/// What knowledge sync reads a page at a time: pages, articles and products.
pub trait Content: DeserializeOwned {
    /// The query reading one page (its connection is `pages`, `articles` or `products`).
    const QUERY: &'static Query;
    /// Items a page asks for.
    const PER_REQUEST: u32;
    /// The filter of a read in id order; a read of changes sees every item, so that one that
    /// left the filter is seen and removed.
    const FULL_FILTER: Option<&'static str> = None;
}

impl Content for ShopPage {
    const QUERY: &'static Query = &PAGES_PAGE;
    const PER_REQUEST: u32 = PAGES_PER_REQUEST;
}

impl Content for ShopArticle {
    const QUERY: &'static Query = &ARTICLES_PAGE;
    const PER_REQUEST: u32 = ARTICLES_PER_REQUEST;
}

/// Products: every status when reading changes (a product that left `ACTIVE` must be seen to
/// be removed), active ones in id order for a full run.
impl Content for ShopProduct {
    const QUERY: &'static Query = &PRODUCTS_PAGE;
    const PER_REQUEST: u32 = PRODUCTS_PER_REQUEST;
    const FULL_FILTER: Option<&'static str> = Some("status:active");
}

#[derive(Deserialize)]
struct ContentData<T> {
    #[serde(alias = "pages", alias = "articles", alias = "products")]
    items: Page<T>,
}

#[derive(Deserialize)]
struct ShopUrl {
    shop: PrimaryDomainShop,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrimaryDomainShop {
    primary_domain: PrimaryDomain,
}

#[derive(Deserialize)]
struct PrimaryDomain {
    url: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PoliciesData {
    shop: PoliciesShop,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PoliciesShop {
    shop_policies: Vec<ShopPolicy>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PagesCountData {
    pages_count: Option<Count>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductsCountData {
    products_count: Option<Count>,
}

/// A bulk operation as Shopify reports it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperation {
    pub id: String,
    pub status: String,
    pub error_code: Option<String>,
    pub object_count: Option<String>,
    pub url: Option<String>,
    pub partial_data_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkStartData {
    bulk_operation_run_query: BulkStartPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkStartPayload {
    bulk_operation: Option<BulkOperationRef>,
    #[serde(default)]
    user_errors: Vec<BulkUserError>,
}

#[derive(Deserialize)]
struct BulkOperationRef {
    id: String,
}

#[derive(Deserialize)]
struct BulkUserError {
    code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkStatusData {
    bulk_operation: Option<BulkOperation>,
}

/// Why a bulk operation could not be started.
#[derive(Debug, PartialEq, Eq)]
pub enum BulkStart {
    Started(String),
    /// Shopify refused it (`LIMIT_REACHED`, `OPERATION_IN_PROGRESS`, `INVALID`): read page by
    /// page instead.
    Refused(Option<String>),
}

/// A gid's numeric tail: `gid://shopify/Page/123` → `123`.
pub fn numeric_id(gid: &str) -> Option<&str> {
    let tail = gid.rsplit('/').next()?;
    let tail = tail.split('?').next()?;
    (!tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit())).then_some(tail)
}

impl ShopifyClient {
    /// The shop's public storefront URL (`https://example.com`), for document URLs.
    pub async fn primary_url(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
    ) -> Result<String, ShopifyError> {
        let data: ShopUrl = self
            .query(deadline, shop, token, &KNOWLEDGE_SHOP, json!({}))
            .await?;
        Ok(data
            .shop
            .primary_domain
            .url
            .trim_end_matches('/')
            .to_owned())
    }

    /// One page of `T`, read in `order` after the cursor `after`.
    pub async fn content_page<T: Content>(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        order: &Order,
        after: Option<&str>,
    ) -> Result<Page<T>, ShopifyError> {
        let filter = match order {
            Order::ById => T::FULL_FILTER,
            Order::ChangedSince(_) => None,
        };
        let (query, sort) = order.variables(filter);
        let vars =
            json!({"first": T::PER_REQUEST, "after": after, "query": query, "sortKey": sort});
        let data: ContentData<T> = self.query(deadline, shop, token, T::QUERY, vars).await?;
        Ok(data.items)
    }

    /// One page of ids of `kind` (`pages`, `articles` or active `products`), in id order.
    pub async fn ids_page(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        kind: crate::domain::Source,
        after: Option<&str>,
    ) -> Result<Page<Id>, ShopifyError> {
        use crate::domain::Source;
        let mut vars = json!({"first": IDS_PER_REQUEST, "after": after});
        if kind == Source::Products {
            vars["query"] = json!("status:active");
        }
        #[derive(Deserialize)]
        struct Data {
            #[serde(alias = "pages", alias = "articles", alias = "products")]
            items: Page<Id>,
        }
        let query = match kind {
            Source::Pages => &PAGE_IDS,
            Source::Articles => &ARTICLE_IDS,
            Source::Products => &PRODUCT_IDS,
            Source::Policies => {
                return Err(ShopifyError::InvalidResponse(
                    "policies have no id listing".into(),
                ))
            }
        };
        let data: Data = self.query(deadline, shop, token, query, vars).await?;
        Ok(data.items)
    }

    /// How many items of `kind` the store has (every page; active products), when Shopify
    /// knows exactly; `None` when it gives only a lower bound. Articles have no count.
    pub async fn exact_count(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        kind: crate::domain::Source,
    ) -> Result<Option<u64>, ShopifyError> {
        use crate::domain::Source;
        let exact = |c: Option<Count>| c.filter(|c| c.precision == "EXACT").map(|c| c.count);
        Ok(match kind {
            Source::Pages => {
                let data: PagesCountData = self
                    .query(deadline, shop, token, &PAGES_COUNT, json!({}))
                    .await?;
                exact(data.pages_count)
            }
            Source::Products => exact(self.products_count(deadline, shop, token).await?),
            Source::Articles | Source::Policies => None,
        })
    }

    /// How many active products the store has (at least), to choose a bulk operation.
    pub async fn active_products(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
    ) -> Result<u64, ShopifyError> {
        Ok(self
            .products_count(deadline, shop, token)
            .await?
            .map_or(0, |c| c.count))
    }

    async fn products_count(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
    ) -> Result<Option<Count>, ShopifyError> {
        let data: ProductsCountData = self
            .query(
                deadline,
                shop,
                token,
                &ACTIVE_PRODUCTS_COUNT,
                json!({"query": "status:active"}),
            )
            .await?;
        Ok(data.products_count)
    }

    pub async fn shop_policies(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
    ) -> Result<Vec<ShopPolicy>, ShopifyError> {
        let data: PoliciesData = self
            .query(deadline, shop, token, &SHOP_POLICIES, json!({}))
            .await?;
        Ok(data.shop.shop_policies)
    }

    /// Starts the bulk read of every active product with its variants.
    pub async fn start_bulk_products(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
    ) -> Result<BulkStart, ShopifyError> {
        let data: BulkStartData = self
            .query(
                deadline,
                shop,
                token,
                &BULK_PRODUCTS,
                json!({"query": BULK_PRODUCTS_QUERY.document}),
            )
            .await?;
        let payload = data.bulk_operation_run_query;
        Ok(match payload.bulk_operation {
            Some(operation) if payload.user_errors.is_empty() => BulkStart::Started(operation.id),
            _ => BulkStart::Refused(payload.user_errors.into_iter().find_map(|e| e.code)),
        })
    }

    pub async fn bulk_operation(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        id: &str,
    ) -> Result<Option<BulkOperation>, ShopifyError> {
        let data: BulkStatusData = self
            .query(
                deadline,
                shop,
                token,
                &BULK_OPERATION_STATUS,
                json!({"id": id}),
            )
            .await?;
        Ok(data.bulk_operation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ids_are_the_tail_of_a_gid() {
        assert_eq!(numeric_id("gid://shopify/Page/123"), Some("123"));
        assert_eq!(numeric_id("gid://shopify/Product/9?foo=1"), Some("9"));
        assert_eq!(numeric_id("gid://shopify/Page/"), None);
        assert_eq!(numeric_id("gid://shopify/Page/../x"), None);
    }

    #[test]
    fn changes_are_read_by_updated_at_with_the_filter_kept() {
        let order = Order::ChangedSince("2026-11-01T00:00:00Z".into());
        let (query, sort) = order.variables(None);
        assert_eq!(query, json!("updated_at:>'2026-11-01T00:00:00Z'"));
        assert_eq!(sort, "UPDATED_AT");
        let (query, sort) = Order::ById.variables(Some("status:active"));
        assert_eq!((query, sort), (json!("status:active"), "ID"));
    }
}
