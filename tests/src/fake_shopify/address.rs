//! `orderUpdate` as the address change sends it (`UpdateShippingAddress`): counted per order;
//! refused with `userErrors` or answered with success and nothing changed when the order says
//! so ([`AddressUpdate`]); otherwise the shipping address is changed as sent.
//!
//! The fake takes the stricter reading of "overwrites the existing shipping address": a part
//! sent as `null` is cleared, a part left out is kept. So a connector that leaves a part out
//! instead of clearing it is caught by the read-back, as it would be at Shopify. Like Shopify,
//! it writes codes and postal codes uppercase, writes a Japanese postal code in its own form
//! (`1540023` becomes `154-0023`), and fills in the country's and the province's names.

use serde_json::{json, Value};

use super::actions::{arguments, order_index};
use super::model::AddressUpdate;
use super::Inner;

fn answer(user_errors: Vec<Value>, order: Option<String>) -> Value {
    json!({"orderUpdate": {
        "order": order.map(|id| json!({"id": id})),
        "userErrors": user_errors,
    }})
}

fn user_error(field: &[&str], message: &str) -> Value {
    json!({"field": field, "message": message})
}

/// `orderUpdate(input: {id, shippingAddress})`. The caller has checked `write_orders`.
pub fn update(inner: &mut Inner, shop: &str, document: &str, variables: &Value) -> Value {
    let input = arguments(document, "orderUpdate", variables)
        .remove("input")
        .unwrap_or(Value::Null);
    let gid = input["id"].as_str().unwrap_or_default().to_owned();
    let Some(index) = inner.shops.get(shop).and_then(|s| order_index(s, &gid)) else {
        return answer(vec![user_error(&["id"], "Order does not exist")], None);
    };
    let order = &mut inner.shops.get_mut(shop).expect("found above").orders[index];
    order.address_update_calls += 1;
    let Some(sent) = input.get("shippingAddress").and_then(Value::as_object) else {
        return answer(Vec::new(), Some(gid));
    };
    match order.address_update.clone() {
        AddressUpdate::Refused { field, message } => {
            let field: Vec<&str> = field.iter().map(String::as_str).collect();
            return answer(vec![user_error(&field, &message)], None);
        }
        AddressUpdate::Ignored => return answer(Vec::new(), Some(gid)),
        AddressUpdate::Applies | AddressUpdate::KeepsNulls => {}
    }
    let keeps_nulls = order.address_update == AddressUpdate::KeepsNulls;
    let a = &mut order.shipping_address;
    // A part sent as null: cleared, or left out as if not sent when the order keeps them.
    let given = |key: &str| sent.get(key).filter(|v| !(keeps_nulls && v.is_null()));
    let text = |key: &str| given(key).map(|v| v.as_str().map(str::to_owned));
    let upper = |key: &str| given(key).map(|v| v.as_str().map(|s| s.trim().to_ascii_uppercase()));
    let country = upper("countryCode")
        .flatten()
        .unwrap_or_else(|| a.country_code.clone());
    let zip = upper("zip").map(|zip| zip.map(|zip| postal_code(&country, zip)));
    let set = |target: &mut String, value: Option<Option<String>>| {
        if let Some(value) = value {
            *target = value.unwrap_or_default();
        }
    };
    let set_optional = |target: &mut Option<String>, value: Option<Option<String>>| {
        if let Some(value) = value {
            *target = value;
        }
    };
    set(&mut a.first_name, text("firstName"));
    set(&mut a.last_name, text("lastName"));
    set_optional(&mut a.company, text("company"));
    set(&mut a.address1, text("address1"));
    set_optional(&mut a.address2, text("address2"));
    set(&mut a.city, text("city"));
    set_optional(&mut a.zip, zip);
    set_optional(&mut a.phone, text("phone"));
    if let Some(code) = upper("provinceCode") {
        a.province = code.clone();
        a.province_code = code;
    }
    if let Some(code) = upper("countryCode") {
        let code = code.unwrap_or_default();
        a.country = country_name(&code);
        a.country_code = code;
    }
    answer(Vec::new(), Some(gid))
}

/// `zip` as Shopify writes it for `country`: a Japanese one of seven digits as `NNN-NNNN`.
fn postal_code(country: &str, zip: String) -> String {
    let digits = zip.len() == 7 && zip.chars().all(|c| c.is_ascii_digit());
    if country == "JP" && digits {
        format!("{}-{}", &zip[..3], &zip[3..])
    } else {
        zip
    }
}

/// The country's name as Shopify gives it in `MailingAddress.country`.
fn country_name(code: &str) -> String {
    match code {
        "US" => "United States",
        "CA" => "Canada",
        "GB" => "United Kingdom",
        "DE" => "Germany",
        "FR" => "France",
        "JP" => "Japan",
        other => other,
    }
    .to_owned()
}
