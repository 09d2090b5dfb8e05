//! `search_products`: Shopify's own product search over active products, the model's text
//! only ever a search term.

use serde::Deserialize;
use serde_json::{json, Value};
use shared::access::per_store;
use shared::shopify::lookups::{product_search_query, Product, MAX_SEARCH_CHARS};
use shared::store::StoreRecord;
use shared::Services;

use crate::{arguments, choose_store, Failure, StoreError, Success};

const DEFAULT_LIMIT: i64 = 5;
const MAX_DESCRIPTION_CHARS: usize = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Arguments {
    query: String,
    limit: Option<i64>,
    shop_domain: Option<String>,
}

fn view(product: &Product, store: &StoreRecord) -> Value {
    let url = product
        .online_store_url
        .clone()
        .unwrap_or_else(|| format!("https://{}/products/{}", store.shop_domain, product.handle));
    let image_url = product
        .featured_media
        .as_ref()
        .and_then(|m| m.preview.as_ref())
        .and_then(|p| p.image.as_ref())
        .map(|i| i.url.clone());
    let range = &product.price_range_v2;
    json!({
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
    })
}

pub(crate) async fn search_products(
    services: &Services,
    stores: &[StoreRecord],
    raw: &Value,
) -> Result<Success, Failure> {
    let args: Arguments = arguments(raw)?;
    let limit = args.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=10).contains(&limit) {
        return Err(Failure::invalid_arguments(
            "limit must be between 1 and 10.",
        ));
    }
    if args.query.chars().count() > MAX_SEARCH_CHARS {
        return Err(Failure::invalid_arguments(format!(
            "query must be at most {MAX_SEARCH_CHARS} characters."
        )));
    }
    let search = product_search_query(&args.query)
        .ok_or_else(|| Failure::invalid_arguments("query must contain the words to search for."))?;
    let chosen = choose_store(stores, args.shop_domain.as_deref())?;
    let first = limit as u8;
    let results = per_store(services, chosen, |store, token| {
        let search = search.clone();
        async move {
            services
                .shopify
                .search_products(&store.shop_domain, &token, &search, first)
                .await
        }
    })
    .await;

    let mut searched = Vec::new();
    let mut errors = Vec::new();
    let mut per_store_views: Vec<Vec<Value>> = Vec::new();
    for (store, result) in results {
        searched.push(store.shop_domain.to_string());
        match result {
            Ok(products) => per_store_views.push(
                products
                    .iter()
                    .filter(|p| p.status.eq_ignore_ascii_case("active"))
                    .map(|p| view(p, store))
                    .collect(),
            ),
            Err(error) => errors.push(StoreError {
                shop_domain: store.shop_domain.to_string(),
                code: error.code(),
            }),
        }
    }
    if per_store_views.is_empty() {
        return Err(Failure::from_store_errors(&errors));
    }
    // Take turns between stores so one big catalogue does not crowd out the others.
    let mut products = Vec::new();
    let mut round = 0;
    while products.len() < limit as usize {
        let before = products.len();
        for views in &per_store_views {
            if let Some(view) = views.get(round) {
                if products.len() < limit as usize {
                    products.push(view.clone());
                }
            }
        }
        if products.len() == before {
            break;
        }
        round += 1;
    }
    Ok(Success {
        data: json!({ "products": products }),
        stores_searched: searched,
        store_errors: errors,
    })
}
