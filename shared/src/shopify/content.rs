//! What knowledge sync reads from a store: pages, articles, products and policies a page at a
//! time (in id order for a full run, by `updated_at` for an incremental one), a page of
//! products' variants, their ids alone, counts, the primary domain and currency, and bulk
//! operations for large catalogs.

use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::queries::{
    Query, ACTIVE_PRODUCTS_COUNT, ARTICLES_PAGE, ARTICLE_IDS, BULK_OPERATION_STATUS, BULK_PRODUCTS,
    BULK_PRODUCTS_QUERY, KNOWLEDGE_SHOP, MANY_VARIANT_PRODUCTS, PAGES_COUNT, PAGES_PAGE, PAGE_IDS,
    PRODUCTS_PAGE, PRODUCT_IDS, SHOP_POLICIES, VARIANTS_BY_PRODUCT, VARIANTS_WITH_PRODUCT,
};
use super::types::Money;
use super::types::{Nodes, Page};
pub use super::types::{PriceRange, ShopVariant};
use super::{ShopifyClient, ShopifyError};
use crate::deadline::Deadline;
use crate::domain::ShopDomain;

/// Items per content page: each page requests at most 150 points (see `knowledge.graphql`).
pub const PAGES_PER_REQUEST: u32 = 50;
pub const ARTICLES_PER_REQUEST: u32 = 35;
/// Half a request of variants: the variants of a page of products with two each (the most
/// common catalog after one-variant products) fill one request, and each request's own 2
/// points are shared by 74 documents, not 50.
pub const PRODUCTS_PER_REQUEST: u32 = VARIANTS_PER_REQUEST / 2;
pub const IDS_PER_REQUEST: u32 = 70;
/// Variants a request of a page's variants asks for, naming their product by display name,
/// and by id.
pub const VARIANTS_PER_REQUEST: u32 = 148;
pub const LINKED_VARIANTS_PER_REQUEST: u32 = 74;
/// Products with more variants than a document lists, read again per request.
pub const MANY_VARIANT_PRODUCTS_PER_REQUEST: usize = 5;
/// Variants a product document lists (read again by id for a product that has more; a bulk
/// result has them all).
pub const MAX_VARIANTS: usize = 20;

/// The requested cost of each content query, as `knowledge.graphql` states it (Shopify's
/// formula); a sync waits for this much to be spare before sending it.
pub fn requested_cost(kind: ContentQuery) -> f64 {
    match kind {
        ContentQuery::Pages => 52.0,
        ContentQuery::Articles => 107.0,
        ContentQuery::Products => 76.0,
        ContentQuery::Variants => 150.0,
        ContentQuery::ManyVariants => 137.0,
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
    /// A page's products' variants (either way of naming their product).
    Variants,
    /// Products with more variants than a document lists.
    ManyVariants,
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

/// What a product document says of a product but its prices and variants: the fields a page
/// of products and a bulk operation's product lines both carry.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductFields {
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
}

impl ProductFields {
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

/// A product as a page lists it: everything a document says but its prices and variants,
/// which [`ShopifyClient::product_variants`] reads for the whole page after it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedProduct {
    #[serde(flatten)]
    pub fields: ProductFields,
    /// How many variants it has.
    pub total_variants: u64,
}

impl ListedProduct {
    /// The product with its price range and, when known apart from its variants, how many
    /// it has; its variants go beside it (as a bulk result's do).
    pub fn into_product(self, price_range: PriceRange, count: Option<u64>) -> ShopProduct {
        ShopProduct {
            fields: self.fields,
            price_range_v2: price_range,
            variants: no_variants(),
            variants_count: count.map(|count| Count {
                count,
                precision: String::new(),
            }),
        }
    }
}

/// A product with its price range, from a page with its variants read after it, or from a
/// bulk operation's JSONL.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopProduct {
    #[serde(flatten)]
    pub fields: ProductFields,
    pub price_range_v2: PriceRange,
    /// Empty: a page's variants are read after it, a bulk operation's come as lines of their
    /// own; either way they go beside the product.
    #[serde(default = "no_variants")]
    pub variants: Nodes<ShopVariant>,
    /// How many variants the product has in all.
    #[serde(default)]
    pub variants_count: Option<Count>,
}

fn no_variants() -> Nodes<ShopVariant> {
    Nodes { nodes: Vec::new() }
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
impl Content for ListedProduct {
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
    currency_code: String,
    primary_domain: PrimaryDomain,
}

/// The storefront documents link to, and the currency its prices are in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Storefront {
    /// `https://example.com`, without a trailing `/`.
    pub url: String,
    pub currency: String,
}

/// How a request for a page's variants has each variant name its product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VariantLink {
    /// By `displayName` ("{product title} - {variant title}"): free, but it tells products
    /// apart only by title.
    DisplayName,
    /// By the product's id: one point more a variant.
    ProductId,
}

/// One variant of a page's products, with what names its product.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageVariant {
    pub id: String,
    #[serde(flatten)]
    pub variant: ShopVariant,
    /// Its place among its product's variants (the order a product lists them in).
    pub position: u32,
    /// With [`VariantLink::DisplayName`].
    #[serde(default)]
    pub display_name: Option<String>,
    /// With [`VariantLink::ProductId`].
    #[serde(default)]
    pub product: Option<Id>,
}

/// One request's variants, in variant id order, and whether more follow.
#[derive(Clone, Debug)]
pub struct VariantsPage {
    pub variants: Vec<PageVariant>,
    pub has_next: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VariantsData {
    product_variants: VariantsConnection,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VariantsConnection {
    page_info: HasNext,
    nodes: Vec<PageVariant>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HasNext {
    has_next_page: bool,
}

/// A product with more variants than a document lists: how many, its price range, and its
/// first [`MAX_VARIANTS`] in the order it lists them.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManyVariants {
    pub id: String,
    pub variants_count: Option<Count>,
    pub price_range_v2: PriceRange,
    pub variants: Nodes<ShopVariant>,
}

#[derive(Deserialize)]
struct ManyVariantsData {
    nodes: Vec<Option<ManyVariants>>,
}

/// The price range Shopify gives a product (`priceRangeV2`) whose variants are all of
/// `variants`: their lowest and highest price in `currency`, each written as Shopify writes a
/// `Decimal` amount (`19.0`, `29.99`), where a variant's `Money` price has two decimals
/// (`19.00`). `None` without variants, or with a price that is not a plain decimal number.
pub fn price_range(variants: &[ShopVariant], currency: &str) -> Option<PriceRange> {
    let mut prices = Vec::with_capacity(variants.len());
    for variant in variants {
        let amount = variant.price.trim();
        let value: f64 = amount.parse().ok()?;
        let plain = !amount.is_empty() && amount.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if !plain || !value.is_finite() {
            return None;
        }
        prices.push((value, amount));
    }
    let lowest = prices.iter().min_by(|a, b| a.0.total_cmp(&b.0))?;
    let highest = prices.iter().max_by(|a, b| a.0.total_cmp(&b.0))?;
    let money = |amount: &str| Money {
        amount: as_decimal(amount),
        currency_code: currency.to_owned(),
    };
    Some(PriceRange {
        min_variant_price: money(lowest.1),
        max_variant_price: money(highest.1),
    })
}

/// A `Money` amount (`19.00`) as a `Decimal` one (`19.0`): trailing zeros go, one decimal stays.
fn as_decimal(amount: &str) -> String {
    match amount.split_once('.') {
        Some((whole, fraction)) => {
            let fraction = fraction.trim_end_matches('0');
            let fraction = if fraction.is_empty() { "0" } else { fraction };
            format!("{whole}.{fraction}")
        }
        None => format!("{amount}.0"),
    }
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
    /// The shop's public storefront URL (`https://example.com`), for document URLs, and the
    /// currency of its prices.
    pub async fn storefront(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
    ) -> Result<Storefront, ShopifyError> {
        let data: ShopUrl = self
            .query(deadline, shop, token, &KNOWLEDGE_SHOP, json!({}))
            .await?;
        Ok(Storefront {
            url: data
                .shop
                .primary_domain
                .url
                .trim_end_matches('/')
                .to_owned(),
            currency: data.shop.currency_code,
        })
    }

    /// Up to `first` of the variants of `products` (numeric ids; at most as many as `link`
    /// allows a request), in variant id order after the variant `after`, each naming its
    /// product as `link` says.
    pub async fn product_variants(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        products: &[u64],
        (first, after): (u32, Option<u64>),
        link: VariantLink,
    ) -> Result<VariantsPage, ShopifyError> {
        let ids: Vec<String> = products.iter().map(u64::to_string).collect();
        let mut query = format!("product_ids:{}", ids.join(","));
        if let Some(after) = after {
            query.push_str(&format!(" AND id:>{after}"));
        }
        let (document, most) = match link {
            VariantLink::DisplayName => (&VARIANTS_BY_PRODUCT, VARIANTS_PER_REQUEST),
            VariantLink::ProductId => (&VARIANTS_WITH_PRODUCT, LINKED_VARIANTS_PER_REQUEST),
        };
        let first = first.clamp(1, most);
        let data: VariantsData = self
            .query(
                deadline,
                shop,
                token,
                document,
                json!({"first": first, "query": query}),
            )
            .await?;
        Ok(VariantsPage {
            variants: data.product_variants.nodes,
            has_next: data.product_variants.page_info.has_next_page,
        })
    }

    /// Products (gids, at most [`MANY_VARIANT_PRODUCTS_PER_REQUEST`]) with more variants than
    /// a document lists, read again: those Shopify no longer has are left out.
    pub async fn many_variant_products(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        ids: &[String],
    ) -> Result<Vec<ManyVariants>, ShopifyError> {
        let data: ManyVariantsData = self
            .query(
                deadline,
                shop,
                token,
                &MANY_VARIANT_PRODUCTS,
                json!({"ids": ids}),
            )
            .await?;
        Ok(data.nodes.into_iter().flatten().collect())
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

    fn variants(prices: &[&str]) -> Vec<ShopVariant> {
        prices
            .iter()
            .map(|price| ShopVariant {
                title: "Default Title".into(),
                sku: None,
                price: (*price).into(),
                available_for_sale: true,
            })
            .collect()
    }

    #[test]
    fn a_price_range_is_written_as_shopify_writes_decimal_amounts() {
        let range = price_range(&variants(&["21.00", "19.00", "1000.50", "0.99"]), "USD").unwrap();
        assert_eq!(
            (
                range.min_variant_price.amount.as_str(),
                range.max_variant_price.amount.as_str(),
                range.min_variant_price.currency_code.as_str()
            ),
            ("0.99", "1000.5", "USD")
        );
        let one = price_range(&variants(&["19.00"]), "EUR").unwrap();
        assert_eq!(
            (
                one.min_variant_price.amount.as_str(),
                one.max_variant_price.amount.as_str()
            ),
            ("19.0", "19.0")
        );
        assert_eq!(
            price_range(&variants(&["100"]), "JPY")
                .unwrap()
                .min_variant_price
                .amount,
            "100.0"
        );
        assert!(price_range(&[], "USD").is_none(), "no variants, no range");
        assert!(
            price_range(&variants(&["19.00", "1e3"]), "USD").is_none(),
            "not a plain amount"
        );
        assert!(price_range(&variants(&["-1.00"]), "USD").is_none());
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
