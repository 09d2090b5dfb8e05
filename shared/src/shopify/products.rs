//! Product search for the AI: Shopify's own search over active products published on the
//! Online Store, the shopper's text only ever quoted search terms.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::queries::SEARCH_PRODUCTS;
use super::types::{Nodes, Page, PriceRange, ShopVariant};
use super::{ShopifyClient, ShopifyError};
use crate::deadline::Deadline;
use crate::domain::ShopDomain;

#[derive(Clone, Debug, Deserialize)]
pub struct ImageUrl {
    pub url: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct MediaPreviewImage {
    pub image: Option<ImageUrl>,
}

/// A product's featured media, as far as the AI shows it: its image when the media is one.
#[derive(Clone, Debug, Deserialize)]
#[serde(from = "MediaImage")]
pub struct Media {
    pub preview: Option<MediaPreviewImage>,
}

/// `featuredMedia { ... on MediaImage { image { url } } }`: an image is its own preview; other
/// media (a video, a 3D model) answer `{}`.
#[derive(Deserialize)]
struct MediaImage {
    image: Option<ImageUrl>,
}

impl From<MediaImage> for Media {
    fn from(media: MediaImage) -> Self {
        Self {
            preview: Some(MediaPreviewImage { image: media.image }),
        }
    }
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
    pub variants: Nodes<ShopVariant>,
}

impl Product {
    /// Its Online Store URL while it is active and published there; `None` for a product
    /// shoppers cannot see (a draft, or active but scheduled, POS- or B2B-only). Checked on every
    /// result, not left to the search filter alone: Shopify's search index can lag behind a
    /// product just taken off the store.
    pub fn shopper_url(&self) -> Option<&str> {
        if !self.status.eq_ignore_ascii_case("ACTIVE") {
            return None;
        }
        self.online_store_url
            .as_deref()
            .filter(|url| !url.is_empty())
    }
}

#[derive(Deserialize)]
struct ProductsData {
    products: Page<Product>,
}

/// Most products one `SearchProducts` page asks for (with their variants, 147 points).
pub const SEARCH_PAGE: u8 = 5;
/// Most products a search answers.
pub const MAX_SEARCH_RESULTS: u8 = 10;

/// Longest product search text accepted, in characters.
pub const MAX_SEARCH_CHARS: usize = 200;
/// Most words of a product search used.
const MAX_SEARCH_WORDS: usize = 12;

/// Turns shopper text into a search limited to active products published on the Online Store
/// (`published_status:published`): every word is quoted and escaped, so `OR`, `status:draft`,
/// `published_status:any`, `vendor:x`, `*` or parentheses are only ever words to look for.
/// `None` when nothing searchable is left.
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
    Some(format!(
        "status:active AND published_status:published AND ({})",
        terms.join(" ")
    ))
}

impl ShopifyClient {
    /// Products matching `search` (from [`product_search_query`]) that shoppers can see: the
    /// search filters them, and each result is checked again ([`Product::shopper_url`]).
    /// Up to `first` (1–10) results in pages of [`SEARCH_PAGE`]: more than five ask for a
    /// second page after the first, and only when Shopify has one; a second page that fails
    /// answers the first page's results.
    pub async fn search_products(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        search: &str,
        first: u8,
    ) -> Result<Vec<Product>, ShopifyError> {
        let mut wanted = first.clamp(1, MAX_SEARCH_RESULTS);
        let mut found = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page_size = wanted.min(SEARCH_PAGE);
            let asked = self
                .query::<ProductsData>(
                    deadline,
                    shop,
                    token,
                    &SEARCH_PRODUCTS,
                    json!({ "query": search, "first": page_size, "after": after }),
                )
                .await;
            let page = match asked {
                Ok(data) => data.products,
                // A second page that fails costs its results only: the first page answers.
                Err(error) if after.is_some() => {
                    tracing::warn!(shop = %shop, %error, "second page of a product search failed");
                    break;
                }
                Err(error) => return Err(error),
            };
            wanted -= page_size;
            found.extend(page.nodes);
            match page.page_info.end_cursor {
                Some(cursor) if wanted > 0 && page.page_info.has_next_page => after = Some(cursor),
                _ => break,
            }
        }
        Ok(found
            .into_iter()
            .filter(|p| p.shopper_url().is_some())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shopper_text_is_only_ever_quoted_terms_of_a_search_for_published_active_products() {
        assert_eq!(
            product_search_query("blue  shirt").unwrap(),
            r#"status:active AND published_status:published AND ("blue" "shirt")"#
        );
        assert_eq!(
            product_search_query(r#"x OR status:draft vendor:"evil" \"#).unwrap(),
            r#"status:active AND published_status:published AND ("x" "OR" "status:draft" "vendor:\"evil\"" "\\")"#
        );
        assert_eq!(product_search_query(" \n\t "), None);
    }

    #[test]
    fn long_texts_are_cut_to_a_few_words() {
        let query = product_search_query(&"word ".repeat(100)).unwrap();
        assert_eq!(query.matches("\"word\"").count(), MAX_SEARCH_WORDS);
    }
}
