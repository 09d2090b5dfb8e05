//! The read queries behind the AI actions, with their response types and the one place where
//! shopper text becomes a Shopify search query.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::queries::{FIND_ORDERS_BY_NAME, SEARCH_PRODUCTS, SHOP_DETAILS};
use super::{ShopifyClient, ShopifyError};
use crate::domain::ShopDomain;

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Money {
    pub amount: String,
    pub currency_code: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MoneyBag {
    pub shop_money: Money,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Nodes<T> {
    pub nodes: Vec<T>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailAddress {
    pub email_address: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCustomer {
    pub default_email_address: Option<EmailAddress>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItem {
    pub title: String,
    pub variant_title: Option<String>,
    pub quantity: i64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Address {
    pub city: Option<String>,
    pub province: Option<String>,
    pub country: Option<String>,
    pub zip: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Tracking {
    pub company: Option<String>,
    pub number: Option<String>,
    pub url: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fulfillment {
    pub status: String,
    pub display_status: Option<String>,
    pub estimated_delivery_at: Option<String>,
    pub delivered_at: Option<String>,
    #[serde(default)]
    pub tracking_info: Vec<Tracking>,
}

/// One order as `FindOrdersByName` reads it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub name: String,
    pub created_at: String,
    pub email: Option<String>,
    pub customer: Option<OrderCustomer>,
    pub display_financial_status: Option<String>,
    pub display_fulfillment_status: String,
    pub cancelled_at: Option<String>,
    pub cancel_reason: Option<String>,
    pub total_price_set: MoneyBag,
    pub line_items: Nodes<LineItem>,
    pub shipping_address: Option<Address>,
    #[serde(default)]
    pub fulfillments: Vec<Fulfillment>,
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

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceRange {
    pub min_variant_price: Money,
    pub max_variant_price: Money,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ImageUrl {
    pub url: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct MediaPreviewImage {
    pub image: Option<ImageUrl>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Media {
    pub preview: Option<MediaPreviewImage>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Variant {
    pub title: String,
    pub sku: Option<String>,
    pub price: String,
    pub available_for_sale: bool,
}

/// One product as `SearchProducts` reads it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub title: String,
    pub handle: String,
    pub description: String,
    pub product_type: String,
    pub vendor: String,
    pub status: String,
    pub online_store_url: Option<String>,
    pub price_range_v2: PriceRange,
    pub featured_media: Option<Media>,
    pub variants: Nodes<Variant>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Domain {
    pub host: String,
    pub url: String,
}

/// A shop as `ShopDetails` reads it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopDetails {
    pub name: String,
    pub description: Option<String>,
    pub currency_code: String,
    #[serde(default)]
    pub ships_to_countries: Vec<String>,
    pub contact_email: String,
    pub primary_domain: Domain,
}

#[derive(Deserialize)]
struct OrdersData {
    orders: Nodes<Order>,
}

#[derive(Deserialize)]
struct ProductsData {
    products: Nodes<Product>,
}

#[derive(Deserialize)]
struct ShopData {
    shop: ShopDetails,
}

/// Longest product search text accepted, in characters.
pub const MAX_SEARCH_CHARS: usize = 200;
/// Most words of a product search used.
const MAX_SEARCH_WORDS: usize = 12;

/// Turns shopper text into a search limited to active products: every word is quoted and
/// escaped, so `OR`, `status:draft`, `vendor:x`, `*` or parentheses are only ever words to look
/// for. `None` when nothing searchable is left.
pub fn product_search_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .take(MAX_SEARCH_WORDS)
        .map(|word| {
            let escaped = word.replace('\\', "\\\\").replace('"', "\\\"");
            format!("\"{escaped}\"")
        })
        .collect();
    if terms.is_empty() {
        return None;
    }
    Some(format!("status:active AND ({})", terms.join(" ")))
}

impl ShopifyClient {
    /// Orders whose name Shopify's search relates to `name` (fuzzy; filter exact matches).
    pub async fn find_orders_by_name(
        &self,
        shop: &ShopDomain,
        token: &SecretString,
        name: &str,
    ) -> Result<Vec<Order>, ShopifyError> {
        // `name` is built from letters, digits, '#' and '-' only (see `routing`), so quoting
        // it is enough to keep it one search term.
        let query = format!("name:\"{}\"", name.replace(['"', '\\'], ""));
        let data: OrdersData = self
            .query(shop, token, &FIND_ORDERS_BY_NAME, json!({ "query": query }))
            .await?;
        Ok(data.orders.nodes)
    }

    /// Active products matching `search` (from [`product_search_query`]).
    pub async fn search_products(
        &self,
        shop: &ShopDomain,
        token: &SecretString,
        search: &str,
        first: u8,
    ) -> Result<Vec<Product>, ShopifyError> {
        let data: ProductsData = self
            .query(
                shop,
                token,
                &SEARCH_PRODUCTS,
                json!({ "query": search, "first": first.clamp(1, 10) }),
            )
            .await?;
        Ok(data.products.nodes)
    }

    pub async fn shop_details(
        &self,
        shop: &ShopDomain,
        token: &SecretString,
    ) -> Result<ShopDetails, ShopifyError> {
        let data: ShopData = self.query(shop, token, &SHOP_DETAILS, json!({})).await?;
        Ok(data.shop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shopper_text_is_only_ever_quoted_terms_of_an_active_product_search() {
        assert_eq!(
            product_search_query("blue  shirt").unwrap(),
            r#"status:active AND ("blue" "shirt")"#
        );
        assert_eq!(
            product_search_query(r#"x OR status:draft vendor:"evil" \"#).unwrap(),
            r#"status:active AND ("x" "OR" "status:draft" "vendor:\"evil\"" "\\")"#
        );
        assert_eq!(product_search_query(" \n\t "), None);
    }

    #[test]
    fn long_texts_are_cut_to_a_few_words() {
        let query = product_search_query(&"word ".repeat(100)).unwrap();
        assert_eq!(query.matches("\"word\"").count(), MAX_SEARCH_WORDS);
    }
}
