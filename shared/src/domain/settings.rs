//! Organization-level settings: which AI actions are on, whether order details need the
//! contact's email to match, and which of each store's content the AI learns from.

use serde::{Deserialize, Serialize};

/// The AI actions an organization can switch on and off. Unknown names are refused, never kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionToggles {
    pub get_order_details: bool,
    pub search_products: bool,
    pub get_shop_details: bool,
}

/// A kind of store content the AI can be trained on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Pages,
    Articles,
    Products,
    Policies,
}

impl Source {
    pub const ALL: [Source; 4] = [
        Source::Pages,
        Source::Articles,
        Source::Products,
        Source::Policies,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pages => "pages",
            Self::Articles => "articles",
            Self::Products => "products",
            Self::Policies => "policies",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// The access scopes that unlock this source; any one of them is enough.
    pub fn scopes(self) -> &'static [&'static str] {
        match self {
            Self::Pages | Self::Articles => &["read_online_store_pages", "read_content"],
            Self::Products => &["read_products"],
            Self::Policies => &["read_legal_policies"],
        }
    }

    /// Whether `granted` unlocks this source (a `write_X` grant satisfies `read_X`).
    pub fn granted_by(self, granted: &[String]) -> bool {
        self.scopes().iter().any(|scope| {
            let write = scope.replacen("read_", "write_", 1);
            granted.iter().any(|g| g == scope || *g == write)
        })
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which sources the AI learns from, for every store of the organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnowledgeSources {
    pub pages: bool,
    pub articles: bool,
    pub products: bool,
    pub policies: bool,
}

impl Default for KnowledgeSources {
    /// Pages and policies: what answers most shopper questions, and what every store has.
    fn default() -> Self {
        Self {
            pages: true,
            articles: false,
            products: false,
            policies: true,
        }
    }
}

impl KnowledgeSources {
    pub fn enabled(&self, source: Source) -> bool {
        match source {
            Source::Pages => self.pages,
            Source::Articles => self.articles,
            Source::Products => self.products,
            Source::Policies => self.policies,
        }
    }

    /// The enabled sources, in a stable order.
    pub fn list(&self) -> Vec<Source> {
        Source::ALL
            .into_iter()
            .filter(|s| self.enabled(*s))
            .collect()
    }
}

/// `GET /shopify/settings`, and what is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgSettings {
    pub actions: ActionToggles,
    pub require_email_match: bool,
    /// Settings saved before knowledge sync existed read as the defaults.
    #[serde(default)]
    pub knowledge: KnowledgeSources,
}

/// `PUT /shopify/settings`: the whole object, except that `knowledge` may be left out (it is
/// then kept as it is). Every field that is present is checked strictly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsUpdate {
    pub actions: ActionToggles,
    pub require_email_match: bool,
    #[serde(default, deserialize_with = "crate::http::present")]
    pub knowledge: Option<KnowledgeSources>,
}

impl SettingsUpdate {
    /// The settings after applying this update to `current`.
    pub fn apply(self, current: &OrgSettings) -> OrgSettings {
        OrgSettings {
            actions: self.actions,
            require_email_match: self.require_email_match,
            knowledge: self.knowledge.unwrap_or(current.knowledge),
        }
    }
}

impl Default for OrgSettings {
    /// Every action on, order details only for a matching email, pages and policies learned.
    fn default() -> Self {
        Self {
            actions: ActionToggles {
                get_order_details: true,
                search_products: true,
                get_shop_details: true,
            },
            require_email_match: true,
            knowledge: KnowledgeSources::default(),
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
    fn defaults_are_all_actions_on_and_pages_and_policies_learned() {
        let settings = OrgSettings::default();
        assert!(settings.require_email_match);
        for action in ["get_order_details", "search_products", "get_shop_details"] {
            assert_eq!(settings.action_enabled(action), Some(true));
        }
        assert_eq!(settings.action_enabled("delete_everything"), None);
        assert_eq!(settings.knowledge.list(), [Source::Pages, Source::Policies]);
    }

    #[test]
    fn unknown_and_missing_fields_are_refused() {
        let unknown = r#"{"actions":{"get_order_details":true,"search_products":true,"get_shop_details":true,"refund":true},"require_email_match":true}"#;
        assert!(serde_json::from_str::<SettingsUpdate>(unknown).is_err());
        let missing = r#"{"actions":{"get_order_details":true},"require_email_match":true}"#;
        assert!(serde_json::from_str::<SettingsUpdate>(missing).is_err());
        let wrong_type = r#"{"actions":{"get_order_details":"yes","search_products":true,"get_shop_details":true},"require_email_match":true}"#;
        assert!(serde_json::from_str::<SettingsUpdate>(wrong_type).is_err());
        let bad_knowledge = r#"{"actions":{"get_order_details":true,"search_products":true,"get_shop_details":true},"require_email_match":true,"knowledge":{"pages":true,"articles":false,"products":false}}"#;
        assert!(serde_json::from_str::<SettingsUpdate>(bad_knowledge).is_err());
        let extra_source = r#"{"actions":{"get_order_details":true,"search_products":true,"get_shop_details":true},"require_email_match":true,"knowledge":{"pages":true,"articles":false,"products":false,"policies":true,"blogs":true}}"#;
        assert!(serde_json::from_str::<SettingsUpdate>(extra_source).is_err());
    }

    #[test]
    fn leaving_knowledge_out_of_an_update_keeps_it() {
        let current = OrgSettings {
            knowledge: KnowledgeSources {
                products: true,
                ..KnowledgeSources::default()
            },
            ..OrgSettings::default()
        };
        let update: SettingsUpdate = serde_json::from_str(r#"{"actions":{"get_order_details":false,"search_products":true,"get_shop_details":true},"require_email_match":true}"#).unwrap();
        let next = update.apply(&current);
        assert!(!next.actions.get_order_details);
        assert_eq!(next.knowledge, current.knowledge);
    }

    #[test]
    fn settings_saved_before_knowledge_existed_read_as_the_defaults() {
        let old = r#"{"actions":{"get_order_details":true,"search_products":true,"get_shop_details":true},"require_email_match":false}"#;
        let settings: OrgSettings = serde_json::from_str(old).unwrap();
        assert_eq!(settings.knowledge, KnowledgeSources::default());
    }

    #[test]
    fn a_write_scope_or_either_content_scope_unlocks_a_source() {
        let granted = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(Source::Pages.granted_by(&granted(&["read_content"])));
        assert!(Source::Articles.granted_by(&granted(&["write_online_store_pages"])));
        assert!(!Source::Policies.granted_by(&granted(&["read_products"])));
        assert!(Source::Products.granted_by(&granted(&["write_products"])));
    }
}
