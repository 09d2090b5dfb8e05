//! Which access scopes the app needs, and what a merchant should know about the ones it has.

use serde::{Deserialize, Serialize};

/// Scopes every connected store must grant.
pub const REQUIRED_SCOPES: [&str; 3] = ["read_orders", "read_products", "read_customers"];

/// A limitation the merchant should know about; shown in the dashboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub code: String,
    pub message: String,
}

fn grants(granted: &[String], read_scope: &str) -> bool {
    let write_scope = read_scope.replacen("read_", "write_", 1);
    granted.iter().any(|g| g == read_scope || *g == write_scope)
}

/// The required scopes not granted; a `write_X` grant satisfies `read_X`.
pub fn missing_scopes(granted: &[String]) -> Vec<String> {
    REQUIRED_SCOPES
        .iter()
        .filter(|scope| !grants(granted, scope))
        .map(|scope| (*scope).to_owned())
        .collect()
}

/// Warnings about what the granted scopes will limit.
pub fn scope_warnings(granted: &[String]) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if !grants(granted, "read_all_orders") {
        warnings.push(Warning {
            code: "orders_limited_to_60_days".into(),
            message: "Only orders from the last 60 days can be looked up. Grant the read_all_orders scope to your app to find older orders.".into(),
        });
    }
    warnings
}

/// The warning code of a store whose app Shopify withholds protected customer data from.
pub const PROTECTED_DATA_WARNING: &str = "protected_customer_data_unavailable";

/// The warning for a store whose app does not see `fields` (e.g. `customer email`), with the
/// fix for the kind of app it is.
pub fn customer_data_warning(fields: &[String], auth_type: crate::domain::AuthType) -> Warning {
    let fix = match auth_type {
        crate::domain::AuthType::ClientCredentials => "In the Dev Dashboard, open the app, go to API access → Protected customer data access, request access and select the Name, Email, Phone and Address fields, release a new version, then verify the store.",
        crate::domain::AuthType::AccessToken => "In the Shopify admin, open Settings → Apps and sales channels → Develop apps → this app → Configuration and request access to protected customer data with the Name, Email, Phone and Address fields (the store's Shopify plan decides what a custom app may read), or connect a Dev Dashboard app that has that access; then verify the store.",
    };
    Warning {
        code: PROTECTED_DATA_WARNING.into(),
        message: format!(
            "Shopify withholds protected customer data ({}) from this app, so order lookups can't verify shoppers' emails and the inbox sidebar finds no customers. {fix}",
            fields.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(scopes: &[&str]) -> Vec<String> {
        scopes.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn write_scopes_satisfy_their_read_scope() {
        assert!(missing_scopes(&owned(&[
            "write_orders",
            "read_products",
            "write_customers"
        ]))
        .is_empty());
    }

    #[test]
    fn missing_scopes_are_listed_in_a_stable_order() {
        assert_eq!(
            missing_scopes(&owned(&["read_products"])),
            ["read_orders", "read_customers"]
        );
        assert_eq!(missing_scopes(&[]), REQUIRED_SCOPES);
    }

    #[test]
    fn a_similar_but_different_scope_does_not_count() {
        assert_eq!(
            missing_scopes(&owned(&["read_orders_x", "read_product", "read_customers"])),
            ["read_orders", "read_products"]
        );
    }

    #[test]
    fn without_read_all_orders_the_merchant_is_warned() {
        let warnings = scope_warnings(&owned(&["read_orders"]));
        assert_eq!(warnings[0].code, "orders_limited_to_60_days");
        assert!(scope_warnings(&owned(&["read_all_orders"])).is_empty());
    }
}
