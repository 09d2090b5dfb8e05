//! What a shopper may be told about a shop.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::queries::SHOP_DETAILS;
use super::{ShopifyClient, ShopifyError};
use crate::deadline::Deadline;
use crate::domain::ShopDomain;

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
struct ShopData {
    shop: ShopDetails,
}

impl ShopifyClient {
    pub async fn shop_details(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
    ) -> Result<ShopDetails, ShopifyError> {
        let data: ShopData = self
            .query(deadline, shop, token, &SHOP_DETAILS, json!({}))
            .await?;
        Ok(data.shop)
    }
}
