//! Organization-level settings: which AI actions are on, and whether order details need the
//! contact's email to match.

use serde::{Deserialize, Serialize};

/// The AI actions an organization can switch on and off. Unknown names are refused, never kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionToggles {
    pub get_order_details: bool,
    pub search_products: bool,
    pub get_shop_details: bool,
}

/// `GET`/`PUT /shopify/settings`. `PUT` takes the whole object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgSettings {
    pub actions: ActionToggles,
    pub require_email_match: bool,
}

impl Default for OrgSettings {
    /// Everything on, and order details only for a matching email.
    fn default() -> Self {
        Self {
            actions: ActionToggles {
                get_order_details: true,
                search_products: true,
                get_shop_details: true,
            },
            require_email_match: true,
        }
    }
}

impl OrgSettings {
    /// Whether the AI action named `action` is enabled; `None` for an unknown action.
    pub fn action_enabled(&self, action: &str) -> Option<bool> {
        match action {
            "get_order_details" => Some(self.actions.get_order_details),
            "search_products" => Some(self.actions.search_products),
            "get_shop_details" => Some(self.actions.get_shop_details),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_all_on() {
        let settings = OrgSettings::default();
        assert!(settings.require_email_match);
        for action in ["get_order_details", "search_products", "get_shop_details"] {
            assert_eq!(settings.action_enabled(action), Some(true));
        }
        assert_eq!(settings.action_enabled("delete_everything"), None);
    }

    #[test]
    fn unknown_and_missing_fields_are_refused() {
        let unknown = r#"{"actions":{"get_order_details":true,"search_products":true,"get_shop_details":true,"refund":true},"require_email_match":true}"#;
        assert!(serde_json::from_str::<OrgSettings>(unknown).is_err());
        let missing = r#"{"actions":{"get_order_details":true},"require_email_match":true}"#;
        assert!(serde_json::from_str::<OrgSettings>(missing).is_err());
        let wrong_type = r#"{"actions":{"get_order_details":"yes","search_products":true,"get_shop_details":true},"require_email_match":true}"#;
        assert!(serde_json::from_str::<OrgSettings>(wrong_type).is_err());
    }
}
