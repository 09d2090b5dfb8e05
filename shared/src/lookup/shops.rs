//! `get_shop_details`: what a shopper may be told about each shop.

use crate::access::Access;
use crate::deadline::Deadline;
use crate::domain::ShopDomain;
use crate::store::StoreRecord;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{arguments, ask_stores, shop_argument, Failure, Success};

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
struct Raw {
    shop_domain: Option<String>,
}

/// The checked arguments.
pub(super) struct Arguments {
    shop: Option<ShopDomain>,
}

impl Arguments {
    pub fn parse(raw: &Value) -> Result<Self, Failure> {
        let raw: Raw = arguments(raw)?;
        Ok(Self {
            shop: shop_argument(raw.shop_domain.as_deref())?,
        })
    }
}

pub(super) async fn get_shop_details(
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
            access
                .shopify()
                .shop_details(deadline, &store.shop_domain, &token)
                .await
        },
    )
    .await?;
    let shops: Vec<Value> = fan_out
        .results
        .iter()
        .map(|(store, shop)| {
            let base = shop.primary_domain.url.trim_end_matches('/');
            json!({
                "shop_domain": store.shop_domain,
                "name": shop.name,
                "description": shop.description,
                "currency": shop.currency_code,
                "ships_to_countries": shop.ships_to_countries,
                "primary_domain": shop.primary_domain.host,
                "contact_email": shop.contact_email,
                "policies": POLICIES.iter().map(|(title, slug)| json!({"title": title, "url": format!("{base}/policies/{slug}")})).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Success::from_fan_out(json!({ "shops": shops }), fan_out))
}
