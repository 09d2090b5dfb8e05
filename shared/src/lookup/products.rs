//! `search_products`: Shopify's own product search over active products published on the
//! Online Store, the model's text only ever a search term.

use crate::access::Access;
use crate::deadline::Deadline;
use crate::domain::ShopDomain;
use crate::shopify::products::{product_search_query, Product, MAX_SEARCH_CHARS};
use crate::store::StoreRecord;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{arguments, ask_stores, shop_argument, Failure, Success};

const DEFAULT_LIMIT: i64 = 5;
const MAX_DESCRIPTION_CHARS: usize = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    query: String,
    limit: Option<i64>,
    shop_domain: Option<String>,
}

/// The checked arguments.
pub(super) struct Arguments {
    search: String,
    limit: u8,
    shop: Option<ShopDomain>,
}

impl Arguments {
    pub fn parse(raw: &Value) -> Result<Self, Failure> {
        let raw: Raw = arguments(raw)?;
        let limit = raw.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=10).contains(&limit) {
            return Err(Failure::invalid_arguments(
                "limit must be between 1 and 10.",
            ));
        }
        if raw.query.chars().count() > MAX_SEARCH_CHARS {
            return Err(Failure::invalid_arguments(format!(
                "query must be at most {MAX_SEARCH_CHARS} characters."
            )));
        }
        let search = product_search_query(&raw.query).ok_or_else(|| {
            Failure::invalid_arguments("query must contain the words to search for.")
        })?;
        Ok(Self {
            search,
            limit: limit as u8,
            shop: shop_argument(raw.shop_domain.as_deref())?,
        })
    }
}

/// What the AI may show a shopper of `product`; `None` for one shoppers cannot see (a draft,
/// or active but not published on the Online Store), whatever the search returned.
fn view(product: &Product, store: &StoreRecord) -> Option<Value> {
    let url = product.shopper_url()?;
    let image_url = product
        .featured_media
        .as_ref()
        .and_then(|m| m.preview.as_ref())
        .and_then(|p| p.image.as_ref())
        .map(|i| i.url.clone());
    let range = &product.price_range_v2;
    Some(json!({
        "shop_domain": store.shop_domain,
        "title": product.title,
        "handle": product.handle,
        "description": product.description.chars().take(MAX_DESCRIPTION_CHARS).collect::<String>(),
        "product_type": product.product_type,
        "vendor": product.vendor,
        "price_range": {
            "min": range.min_variant_price.amount,
            "max": range.max_variant_price.amount,
            "currency": range.min_variant_price.currency_code,
        },
        "available": product.variants.nodes.iter().any(|v| v.available_for_sale),
        "variants": product.variants.nodes.iter().map(|v| json!({
            "title": v.title, "sku": v.sku, "price": v.price, "available_for_sale": v.available_for_sale,
        })).collect::<Vec<_>>(),
        "url": url,
        "image_url": image_url,
    }))
}

pub(super) async fn search_products(
    access: &Access,
    deadline: &Deadline,
    stores: &[StoreRecord],
    args: &Arguments,
) -> Result<Success, Failure> {
    let fan_out = ask_stores(
        access,
        deadline,
        stores,
        args.shop.as_ref(),
        |store, token| async move {
            let shop = &store.shop_domain;
            access
                .shopify()
                .search_products(deadline, shop, &token, &args.search, args.limit)
                .await
        },
    )
    .await?;
    let per_store: Vec<Vec<Value>> = fan_out
        .results
        .iter()
        .map(|(store, products)| products.iter().filter_map(|p| view(p, store)).collect())
        .collect();
    // Take turns between stores so one big catalogue does not crowd out the others.
    let limit = usize::from(args.limit);
    let longest = per_store.iter().map(Vec::len).max().unwrap_or(0);
    let products: Vec<Value> = (0..longest)
        .flat_map(|round| per_store.iter().filter_map(move |views| views.get(round)))
        .take(limit)
        .cloned()
        .collect();
    Ok(Success::from_fan_out(
        json!({ "products": products }),
        fan_out,
    ))
}
