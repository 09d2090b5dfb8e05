//! `get_shop_details`: what a shopper may be told about each shop.

use serde::Deserialize;
use serde_json::{json, Value};
use shared::access::per_store;
use shared::store::StoreRecord;
use shared::Services;

use crate::{arguments, choose_store, Failure, StoreError, Success};

/// The storefront's standard policy pages. Reading the policy texts through the Admin API
/// needs `read_legal_policies`, which merchants are not asked to grant.
const POLICIES: [(&str, &str); 4] = [
    ("Refund policy", "refund-policy"),
    ("Shipping policy", "shipping-policy"),
    ("Privacy policy", "privacy-policy"),
    ("Terms of service", "terms-of-service"),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Arguments {
    shop_domain: Option<String>,
}

pub(crate) async fn get_shop_details(
    services: &Services,
    stores: &[StoreRecord],
    raw: &Value,
) -> Result<Success, Failure> {
    let args: Arguments = arguments(raw)?;
    let chosen = choose_store(stores, args.shop_domain.as_deref())?;
    let results = per_store(services, chosen, |store, token| async move {
        services
            .shopify
            .shop_details(&store.shop_domain, &token)
            .await
    })
    .await;
    let mut searched = Vec::new();
    let mut errors = Vec::new();
    let mut shops = Vec::new();
    for (store, result) in results {
        searched.push(store.shop_domain.to_string());
        match result {
            Ok(shop) => {
                let base = shop.primary_domain.url.trim_end_matches('/').to_owned();
                shops.push(json!({
                    "shop_domain": store.shop_domain,
                    "name": shop.name,
                    "description": shop.description,
                    "currency": shop.currency_code,
                    "ships_to_countries": shop.ships_to_countries,
                    "primary_domain": shop.primary_domain.host,
                    "contact_email": shop.contact_email,
                    "policies": POLICIES.iter().map(|(title, slug)| json!({"title": title, "url": format!("{base}/policies/{slug}")})).collect::<Vec<_>>(),
                }));
            }
            Err(error) => errors.push(StoreError {
                shop_domain: store.shop_domain.to_string(),
                code: error.code(),
            }),
        }
    }
    if shops.is_empty() {
        return Err(Failure::from_store_errors(&errors));
    }
    Ok(Success {
        data: json!({ "shops": shops }),
        stores_searched: searched,
        store_errors: errors,
    })
}
