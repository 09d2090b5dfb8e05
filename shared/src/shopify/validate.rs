//! Reading a shop's identity and granted scopes: the live check behind connect and verify.

use secrecy::SecretString;
use serde::Deserialize;

use super::queries::VALIDATE_CREDENTIALS;
use super::{ShopifyClient, ShopifyError};
use crate::deadline::Deadline;
use crate::domain::{Credentials, ShopDomain};

/// What Shopify says about a shop and the app's access to it.
#[derive(Clone, Debug, PartialEq)]
pub struct ShopInfo {
    pub name: String,
    pub myshopify_domain: String,
    pub currency: String,
    pub order_number_prefix: String,
    pub order_number_suffix: String,
    pub plan: Option<String>,
    pub granted_scopes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    shop: Shop,
    current_app_installation: AppInstallation,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shop {
    name: String,
    myshopify_domain: String,
    currency_code: String,
    #[serde(default)]
    order_number_format_prefix: Option<String>,
    #[serde(default)]
    order_number_format_suffix: Option<String>,
    plan: Option<Plan>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Plan {
    public_display_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppInstallation {
    access_scopes: Vec<Scope>,
}

#[derive(Deserialize)]
struct Scope {
    handle: String,
}

impl ShopifyClient {
    /// The live check behind connect and verify: client credentials are exchanged for a fresh
    /// token (never taken from the cache), then one query reads the shop and its scopes.
    pub async fn check_credentials(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        credentials: &Credentials,
    ) -> Result<ShopInfo, ShopifyError> {
        let token = self.fresh_token(deadline, shop, credentials).await?;
        self.shop_info(deadline, shop, &token).await
    }

    /// One query reading the shop and the scopes granted to the token.
    pub async fn shop_info(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
    ) -> Result<ShopInfo, ShopifyError> {
        let data: Data = self
            .query(
                deadline,
                shop,
                token,
                &VALIDATE_CREDENTIALS,
                serde_json::json!({}),
            )
            .await?;
        let mut granted_scopes: Vec<String> = data
            .current_app_installation
            .access_scopes
            .into_iter()
            .map(|s| s.handle)
            .collect();
        granted_scopes.sort();
        granted_scopes.dedup();
        Ok(ShopInfo {
            name: data.shop.name,
            myshopify_domain: data.shop.myshopify_domain,
            currency: data.shop.currency_code,
            order_number_prefix: data.shop.order_number_format_prefix.unwrap_or_default(),
            order_number_suffix: data.shop.order_number_format_suffix.unwrap_or_default(),
            plan: data.shop.plan.and_then(|p| p.public_display_name),
            granted_scopes,
        })
    }
}
