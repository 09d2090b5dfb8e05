//! The address change the order actions send: `orderUpdate` with the order's id and its new
//! shipping address, nothing else ([`ShopifyClient::update_shipping_address`]).

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{json, Value};

use super::queries::UPDATE_SHIPPING_ADDRESS;
use super::{ShopifyClient, ShopifyError};
use crate::deadline::Deadline;
use crate::domain::{NewAddress, ShopDomain};

/// One of `orderUpdate`'s `userErrors` (it has no code).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct UpdateUserError {
    /// The input path Shopify blames (e.g. `["shippingAddress", "zip"]`).
    #[serde(default)]
    pub field: Option<Vec<String>>,
    /// Shopify's text: it may hold the address, so it is shown to no one and never logged.
    pub message: String,
}

impl UpdateUserError {
    /// Whether Shopify blames the address itself (a part it does not accept).
    pub fn about_address(&self) -> bool {
        self.field.as_ref().is_some_and(|path| {
            path.iter()
                .any(|p| p.eq_ignore_ascii_case("shippingAddress"))
        })
    }
}

/// Shopify refused the change (nothing was changed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressRefused {
    pub user_errors: Vec<UpdateUserError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdatePayload {
    #[serde(default)]
    user_errors: Vec<UpdateUserError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateData {
    order_update: Option<UpdatePayload>,
}

/// `MailingAddressInput` for `address`: every part, those left out as `null` (see
/// `order_update_address.graphql`); `provinceCode` and `countryCode`, not the deprecated
/// `province` and `country`.
pub fn mailing_address(address: &NewAddress) -> Value {
    json!({
        "firstName": address.first_name,
        "lastName": address.last_name,
        "company": address.company,
        "address1": address.address1,
        "address2": address.address2,
        "city": address.city,
        "provinceCode": address.province_code,
        "zip": address.zip,
        "countryCode": address.country_code,
        "phone": address.phone,
    })
}

impl ShopifyClient {
    /// Replaces the shipping address of the order `order_id` (its GID) with `address`. `Ok(Ok)`
    /// means Shopify answered that it did — which it has been seen to answer without doing
    /// it: read the order back.
    ///
    /// Sent once: it is resent only when Shopify throttled it. An `Err` that Shopify answers
    /// before running a request (throttled, 401, 402, 403, 404, 423, `ACCESS_DENIED`,
    /// `MAX_COST_EXCEEDED`) or [`ShopifyError::NotSent`] means it was not run; any other
    /// leaves the outcome unknown: read the order back, never send it again blindly.
    pub async fn update_shipping_address(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
        order_id: &str,
        address: &NewAddress,
    ) -> Result<Result<(), AddressRefused>, ShopifyError> {
        let data: UpdateData = self
            .mutate(
                deadline,
                shop,
                token,
                &UPDATE_SHIPPING_ADDRESS,
                json!({ "id": order_id, "address": mailing_address(address) }),
            )
            .await?;
        let Some(payload) = data.order_update else {
            return Err(ShopifyError::InvalidResponse(
                "UpdateShippingAddress answered without its payload".into(),
            ));
        };
        if !payload.user_errors.is_empty() {
            return Ok(Err(AddressRefused {
                user_errors: payload.user_errors,
            }));
        }
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_is_sent_and_the_parts_left_out_are_null() {
        let address = NewAddress::parse(&json!({
            "first_name": "Jane", "last_name": "Doe", "address1": "1 Main St",
            "city": "Springfield", "province_code": "IL", "zip": "62701", "country_code": "US"
        }))
        .unwrap();

        let input = mailing_address(&address);

        let object = input.as_object().unwrap();
        assert_eq!(object.len(), 10);
        for cleared in ["company", "address2", "phone"] {
            assert_eq!(object[cleared], Value::Null, "{cleared}");
        }
        assert_eq!(input["provinceCode"], "IL");
        assert_eq!(input["countryCode"], "US");
        assert!(object.get("province").is_none() && object.get("country").is_none());
    }
}
