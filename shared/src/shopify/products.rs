//! Product search for the AI: Shopify's own search over active products, the shopper's text
//! only ever quoted search terms.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::queries::SEARCH_PRODUCTS;
use super::types::{Money, Nodes};
use super::{ShopifyClient, ShopifyError};
use crate::deadline::Deadline;
use crate::domain::ShopDomain;

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

#[derive(Deserialize)]
struct ProductsData {
    products: Nodes<Product>,
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
    /// Active products matching `search` (from [`product_search_query`]).
    pub async fn search_products(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        search: &str,
        first: u8,
    ) -> Result<Vec<Product>, ShopifyError> {
        let data: ProductsData = self
            .query(
                deadline,
                shop,
                token,
                &SEARCH_PRODUCTS,
                json!({ "query": search, "first": first.clamp(1, 10) }),
            )
            .await?;
        Ok(data.products.nodes)
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
