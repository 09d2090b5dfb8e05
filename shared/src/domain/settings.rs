//! Organization-level settings: which AI actions are on, whether order details need the
//! contact's email to match, which of each store's content the AI learns from, which order
//! actions the AI may take for a shopper, and whether AI agents over MCP may take them too.

use serde::{Deserialize, Serialize};

use super::order_actions::{AddressPolicy, CancelPolicy, OrderActionsPolicy, ReturnPolicy};

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

/// What AI agents may do over MCP beyond the read tools. Off unless an admin turns it on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpSettings {
    /// The order actions (each still as `order_actions` allows it) are offered over MCP.
    pub order_actions: bool,
}

/// `GET /shopify/settings`, and what is stored. Read back tolerantly (see [`StoredSettings`]):
/// an item written by another version of the connector still reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredSettings")]
pub struct OrgSettings {
    pub actions: ActionToggles,
    pub require_email_match: bool,
    /// Settings saved before knowledge sync existed read as the defaults.
    #[serde(default)]
    pub knowledge: KnowledgeSources,
    /// The stored sources held a value this version cannot read (another version wrote it):
    /// those read as off, and no source's documents are removed on the strength of it.
    #[serde(skip)]
    pub knowledge_unread: bool,
    /// Settings saved before order actions existed read as the defaults (all off).
    #[serde(default)]
    pub order_actions: OrderActionsPolicy,
    /// Part of the stored policy held a value this version cannot read: that part reads as
    /// off, and saving without `order_actions` leaves what is stored as it is.
    #[serde(skip)]
    pub order_actions_unread: bool,
    /// Settings saved before MCP existed read as the defaults (off).
    #[serde(default)]
    pub mcp: McpSettings,
    /// The stored MCP switches held a value this version cannot read: they read as off, and
    /// saving without `mcp` leaves what is stored as it is.
    #[serde(skip)]
    pub mcp_unread: bool,
}

/// `PUT /shopify/settings`: the whole object, except that `knowledge`, `order_actions` and
/// `mcp` may be left out (they are then kept as they are). Every field that is present is checked
/// strictly: unknown keys, `window_minutes` outside 1–10080, `window_days` outside 1–365 and an
/// `approval_above` that is not decimal amounts by 3-letter currency code are refused.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsUpdate {
    pub actions: ActionToggles,
    pub require_email_match: bool,
    #[serde(default, deserialize_with = "crate::domain::present")]
    pub knowledge: Option<KnowledgeSources>,
    #[serde(default, deserialize_with = "valid_order_actions")]
    pub order_actions: Option<OrderActionsPolicy>,
    #[serde(default, deserialize_with = "crate::domain::present")]
    pub mcp: Option<McpSettings>,
}

impl SettingsUpdate {
    /// The settings after applying this update to `current`.
    pub fn apply(self, current: &OrgSettings) -> OrgSettings {
        OrgSettings {
            actions: self.actions,
            require_email_match: self.require_email_match,
            knowledge: self.knowledge.unwrap_or(current.knowledge),
            // A source the merchant set is read; one kept as is stays as uncertain as it was.
            knowledge_unread: self.knowledge.is_none() && current.knowledge_unread,
            order_actions_unread: self.order_actions.is_none() && current.order_actions_unread,
            order_actions: self
                .order_actions
                .unwrap_or_else(|| current.order_actions.clone()),
            mcp_unread: self.mcp.is_none() && current.mcp_unread,
            mcp: self.mcp.unwrap_or(current.mcp),
        }
    }
}

/// The longest order-action window in minutes (a week).
pub const MAX_WINDOW_MINUTES: u32 = 10_080;
/// The longest return window in days.
pub const MAX_WINDOW_DAYS: u32 = 365;

/// `order_actions` as the API takes it: present (never `null`), every key known, and every
/// value in range.
fn valid_order_actions<'de, D>(deserializer: D) -> Result<Option<OrderActionsPolicy>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let policy = OrderActionsPolicy::deserialize(deserializer)?;
    check_order_actions(&policy).map_err(serde::de::Error::custom)?;
    Ok(Some(policy))
}

/// Why `policy` cannot be saved, in words for the merchant.
fn check_order_actions(policy: &OrderActionsPolicy) -> Result<(), String> {
    let minutes = |name: &str, value: u32| {
        if (1..=MAX_WINDOW_MINUTES).contains(&value) {
            Ok(())
        } else {
            Err(format!(
                "order_actions.{name}.window_minutes must be between 1 and {MAX_WINDOW_MINUTES}"
            ))
        }
    };
    minutes("cancel_order", policy.cancel_order.window_minutes)?;
    minutes(
        "update_shipping_address",
        policy.update_shipping_address.window_minutes,
    )?;
    if !(1..=MAX_WINDOW_DAYS).contains(&policy.request_return.window_days) {
        return Err(format!(
            "order_actions.request_return.window_days must be between 1 and {MAX_WINDOW_DAYS}"
        ));
    }
    for (currency, amount) in policy.cancel_order.approval_above.iter().flatten() {
        if !is_currency_code(currency) {
            return Err(
                "order_actions.cancel_order.approval_above is keyed by 3-letter currency codes such as \"USD\""
                    .into(),
            );
        }
        if !is_decimal_amount(amount) {
            return Err(format!(
                "order_actions.cancel_order.approval_above.{currency} must be a decimal amount such as \"200.00\""
            ));
        }
    }
    Ok(())
}

/// An ISO 4217 code as Shopify writes it: three upper-case letters.
fn is_currency_code(raw: &str) -> bool {
    raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase())
}

/// A non-negative decimal amount: digits, optionally a point and up to 4 more digits.
fn is_decimal_amount(raw: &str) -> bool {
    let (whole, fraction) = match raw.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (raw, None),
    };
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    digits(whole, 15) && fraction.is_none_or(|f| digits(f, 4))
}

/// Settings as stored. A release may add a field (an action, a source) or turn a flag into a
/// choice of values, and be rolled back: unknown fields are ignored, and a field that is
/// missing takes its default, so such an item never makes the organization's lookups fail. A
/// field that holds a value this version does not know reads as the safe choice: an action is
/// off, the email must match, and a source is neither synced nor removed
/// ([`OrgSettings::knowledge_unread`]). API input stays strict ([`SettingsUpdate`]).
#[derive(Deserialize)]
struct StoredSettings {
    #[serde(default, deserialize_with = "lenient")]
    actions: Stored<StoredActions>,
    #[serde(default, deserialize_with = "lenient")]
    require_email_match: Stored<bool>,
    #[serde(default, deserialize_with = "lenient")]
    knowledge: Stored<StoredKnowledge>,
    #[serde(default, deserialize_with = "lenient")]
    order_actions: Stored<StoredOrderActions>,
    #[serde(default, deserialize_with = "lenient")]
    mcp: Stored<StoredMcp>,
}

/// Each switch that cannot be read is off.
#[derive(Default, Deserialize)]
struct StoredMcp {
    #[serde(default, deserialize_with = "lenient")]
    order_actions: Stored<bool>,
}

/// Each action's policy is read whole and strictly: a policy another version extended (a
/// limit this version does not know) reads as off rather than as a looser policy.
#[derive(Default, Deserialize)]
struct StoredOrderActions {
    #[serde(default, deserialize_with = "lenient")]
    cancel_order: Stored<CancelPolicy>,
    #[serde(default, deserialize_with = "lenient")]
    update_shipping_address: Stored<AddressPolicy>,
    #[serde(default, deserialize_with = "lenient")]
    request_return: Stored<ReturnPolicy>,
}

#[derive(Default, Deserialize)]
struct StoredActions {
    #[serde(default, deserialize_with = "lenient")]
    get_order_details: Stored<bool>,
    #[serde(default, deserialize_with = "lenient")]
    search_products: Stored<bool>,
    #[serde(default, deserialize_with = "lenient")]
    get_shop_details: Stored<bool>,
}

#[derive(Default, Deserialize)]
struct StoredKnowledge {
    #[serde(default, deserialize_with = "lenient")]
    pages: Stored<bool>,
    #[serde(default, deserialize_with = "lenient")]
    articles: Stored<bool>,
    #[serde(default, deserialize_with = "lenient")]
    products: Stored<bool>,
    #[serde(default, deserialize_with = "lenient")]
    policies: Stored<bool>,
}

/// A stored field: absent, a value this version reads, or one written by another version.
#[derive(Default)]
enum Stored<T> {
    #[default]
    Missing,
    Known(T),
    Unknown,
}

impl<T> Stored<T> {
    /// The value, `missing` when absent, `unknown` when this version cannot read it.
    fn or(self, missing: T, unknown: T) -> T {
        match self {
            Self::Missing => missing,
            Self::Known(value) => value,
            Self::Unknown => unknown,
        }
    }

    fn is_unknown(&self) -> bool {
        matches!(self, Self::Unknown)
    }
}

impl<T: Default> Stored<T> {
    /// The value, or the default when it is absent or unreadable.
    fn or_default(self) -> T {
        self.or(T::default(), T::default())
    }
}

fn lenient<'de, D, T>(deserializer: D) -> Result<Stored<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Maybe<T> {
        Known(T),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Maybe::<T>::deserialize(deserializer)? {
        Maybe::Known(value) => Stored::Known(value),
        Maybe::Other(_) => Stored::Unknown,
    })
}

impl From<StoredSettings> for OrgSettings {
    fn from(s: StoredSettings) -> Self {
        let d = OrgSettings::default();
        let unknown_actions = s.actions.is_unknown();
        let actions = s
            .actions
            .or(StoredActions::default(), StoredActions::default());
        // An action whose value is unknown is off.
        let action = |stored: Stored<bool>, default: bool| {
            if unknown_actions {
                false
            } else {
                stored.or(default, false)
            }
        };
        let knowledge_unread = s.knowledge.is_unknown();
        let knowledge = s
            .knowledge
            .or(StoredKnowledge::default(), StoredKnowledge::default());
        let knowledge_unread = knowledge_unread
            || [
                &knowledge.pages,
                &knowledge.articles,
                &knowledge.products,
                &knowledge.policies,
            ]
            .iter()
            .any(|f| f.is_unknown());
        let order_actions_unread = s.order_actions.is_unknown();
        let policy = s
            .order_actions
            .or(StoredOrderActions::default(), StoredOrderActions::default());
        let order_actions_unread = order_actions_unread
            || policy.cancel_order.is_unknown()
            || policy.update_shipping_address.is_unknown()
            || policy.request_return.is_unknown();
        let mcp_unread = s.mcp.is_unknown();
        let mcp = s.mcp.or_default();
        let mcp_unread = mcp_unread || mcp.order_actions.is_unknown();
        // Every default is off, so a policy that cannot be read is off.
        let order_actions = OrderActionsPolicy {
            cancel_order: policy.cancel_order.or_default(),
            update_shipping_address: policy.update_shipping_address.or_default(),
            request_return: policy.request_return.or_default(),
        };
        Self {
            actions: ActionToggles {
                get_order_details: action(actions.get_order_details, d.actions.get_order_details),
                search_products: action(actions.search_products, d.actions.search_products),
                get_shop_details: action(actions.get_shop_details, d.actions.get_shop_details),
            },
            require_email_match: s.require_email_match.or(d.require_email_match, true),
            knowledge: KnowledgeSources {
                pages: knowledge.pages.or(d.knowledge.pages, false),
                articles: knowledge.articles.or(d.knowledge.articles, false),
                products: knowledge.products.or(d.knowledge.products, false),
                policies: knowledge.policies.or(d.knowledge.policies, false),
            },
            knowledge_unread,
            order_actions,
            order_actions_unread,
            mcp_unread,
            mcp: McpSettings {
                order_actions: mcp.order_actions.or(d.mcp.order_actions, false),
            },
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
            knowledge_unread: false,
            order_actions: OrderActionsPolicy::default(),
            order_actions_unread: false,
            mcp: McpSettings::default(),
            mcp_unread: false,
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
    use crate::domain::ActionKind;

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
    fn stored_settings_from_another_version_still_read() {
        let newer = r#"{"actions":{"get_order_details":false,"search_products":true,"get_shop_details":true,"cancel_order":true},"require_email_match":false,"tone":"friendly","knowledge":{"pages":false,"articles":true,"products":true,"policies":true,"collections":true}}"#;
        let settings: OrgSettings = serde_json::from_str(newer).unwrap();
        assert!(!settings.actions.get_order_details);
        assert!(!settings.require_email_match);
        assert_eq!(
            settings.knowledge.list(),
            [Source::Articles, Source::Products, Source::Policies]
        );
        let older = r#"{"actions":{"get_order_details":false},"require_email_match":false}"#;
        let settings: OrgSettings = serde_json::from_str(older).unwrap();
        assert!(!settings.actions.get_order_details);
        assert!(settings.actions.search_products);
        // A flag a newer version turned into a choice reads as the (strictest) default.
        let choice = r#"{"actions":{"get_order_details":"ask","search_products":false,"get_shop_details":true},"require_email_match":"when_known"}"#;
        let settings: OrgSettings = serde_json::from_str(choice).unwrap();
        assert!(settings.require_email_match);
        // An action whose value this version cannot read is off, never on.
        assert!(!settings.actions.get_order_details);
        assert!(!settings.actions.search_products);
        assert!(!settings.knowledge_unread);
        assert!(serde_json::from_str::<SettingsUpdate>(newer).is_err());
    }

    #[test]
    fn a_source_whose_stored_value_is_unknown_is_neither_synced_nor_trusted_off() {
        let newer = r#"{"actions":{"get_order_details":true,"search_products":true,"get_shop_details":true},"require_email_match":true,"knowledge":{"pages":true,"articles":false,"products":{"enabled":true,"collections":["a"]},"policies":true}}"#;
        let settings: OrgSettings = serde_json::from_str(newer).unwrap();
        assert_eq!(settings.knowledge.list(), [Source::Pages, Source::Policies]);
        assert!(settings.knowledge_unread, "products is not known to be off");
        // The merchant setting the sources again makes them known.
        let update: SettingsUpdate = serde_json::from_str(r#"{"actions":{"get_order_details":true,"search_products":true,"get_shop_details":true},"require_email_match":true,"knowledge":{"pages":true,"articles":false,"products":false,"policies":true}}"#).unwrap();
        assert!(!update.apply(&settings).knowledge_unread);
        let kept: SettingsUpdate = serde_json::from_str(r#"{"actions":{"get_order_details":true,"search_products":true,"get_shop_details":true},"require_email_match":true}"#).unwrap();
        assert!(kept.apply(&settings).knowledge_unread);
    }

    const BASE: &str = r#""actions":{"get_order_details":true,"search_products":true,"get_shop_details":true},"require_email_match":true"#;

    fn update_with(order_actions: &str) -> Result<SettingsUpdate, serde_json::Error> {
        serde_json::from_str(&format!(r#"{{{BASE},"order_actions":{order_actions}}}"#))
    }

    #[test]
    fn order_actions_are_all_off_by_default_and_kept_when_an_update_leaves_them_out() {
        assert_eq!(
            OrgSettings::default().order_actions,
            OrderActionsPolicy::default()
        );
        let current = OrgSettings {
            order_actions: OrderActionsPolicy {
                cancel_order: CancelPolicy {
                    enabled: true,
                    ..CancelPolicy::default()
                },
                ..OrderActionsPolicy::default()
            },
            ..OrgSettings::default()
        };
        let update: SettingsUpdate = serde_json::from_str(&format!("{{{BASE}}}")).unwrap();
        assert_eq!(update.apply(&current).order_actions, current.order_actions);
    }

    #[test]
    fn order_action_windows_currencies_and_amounts_out_of_range_are_refused() {
        let policy = |cancel: &str, window_days: u32| {
            format!(
                r#"{{"cancel_order":{cancel},"update_shipping_address":{{"enabled":false,"mode":"live","window_minutes":60,"same_country_only":true}},"request_return":{{"enabled":false,"mode":"live","window_days":{window_days},"excluded_tags":[]}}}}"#
            )
        };
        let cancel = |window: u32, above: &str| {
            format!(
                r#"{{"enabled":true,"mode":"approval","window_minutes":{window},"approval_above":{above}}}"#
            )
        };
        let good = update_with(&policy(
            &cancel(10_080, r#"{"USD":"200.00","EUR":"150"}"#),
            365,
        ))
        .expect("the widest windows and a map by currency are accepted");
        let saved = good.apply(&OrgSettings::default()).order_actions;
        assert!(saved.cancel_order.enabled);
        assert_eq!(saved.cancel_order.mode, crate::domain::ActionMode::Approval);
        for bad in [
            policy(&cancel(0, "null"), 30),
            policy(&cancel(10_081, "null"), 30),
            policy(&cancel(60, "null"), 0),
            policy(&cancel(60, "null"), 366),
            policy(&cancel(60, r#"{"usd":"200.00"}"#), 30),
            policy(&cancel(60, r#"{"DOLLARS":"200.00"}"#), 30),
            policy(&cancel(60, r#"{"USD":"-1"}"#), 30),
            policy(&cancel(60, r#"{"USD":"2e3"}"#), 30),
            policy(&cancel(60, r#"{"USD":"200."}"#), 30),
            policy(&cancel(60, r#"{"USD":200}"#), 30),
            policy(
                r#"{"enabled":true,"mode":"live","window_minutes":60,"approval_above":null,"refund_shipping":true}"#,
                30,
            ),
            policy(
                r#"{"enabled":true,"mode":"sometimes","window_minutes":60,"approval_above":null}"#,
                30,
            ),
            r#"{"cancel_order":{"enabled":true,"mode":"live","window_minutes":60,"approval_above":null}}"#.into(),
            "null".into(),
        ] {
            assert!(update_with(&bad).is_err(), "{bad}");
        }
        let unknown_action = format!(
            r#"{{"cancel_order":{},"update_shipping_address":{{"enabled":false,"mode":"live","window_minutes":60,"same_country_only":true}},"request_return":{{"enabled":false,"mode":"live","window_days":30,"excluded_tags":[]}},"refund_order":{{}}}}"#,
            cancel(60, "null")
        );
        assert!(update_with(&unknown_action).is_err());
    }

    #[test]
    fn a_stored_order_action_policy_this_version_cannot_read_is_off() {
        let stored = |order_actions: &str| {
            serde_json::from_str::<OrgSettings>(&format!(
                r#"{{{BASE},"order_actions":{order_actions}}}"#
            ))
            .expect("a stored item always reads")
        };
        let on = r#"{"enabled":true,"mode":"live","window_minutes":60,"approval_above":null}"#;
        let settings = stored(&format!(
            r#"{{"cancel_order":{on},"edit_order":{{"enabled":true}}}}"#
        ));
        assert!(
            settings.order_actions.cancel_order.enabled,
            "another version's new action is ignored"
        );
        assert!(!settings.order_actions_unread);
        let extended = r#"{"enabled":true,"mode":"live","window_minutes":60,"approval_above":null,"max_items":2}"#;
        let settings = stored(&format!(r#"{{"cancel_order":{extended}}}"#));
        assert!(
            !settings.order_actions.cancel_order.enabled,
            "a policy with a limit this version does not know is off"
        );
        assert!(settings.order_actions_unread);
        for unreadable in [r#""on""#, "[1]", r#"{"cancel_order":{"enabled":"yes"}}"#] {
            let settings = stored(unreadable);
            assert!(
                ActionKind::ALL
                    .iter()
                    .all(|k| settings.order_actions.mode_of(*k).is_none()),
                "{unreadable}"
            );
            assert!(settings.order_actions_unread, "{unreadable}");
        }
        // Leaving the policy out of an update keeps it unread, so it is not written back as off.
        let update: SettingsUpdate = serde_json::from_str(&format!("{{{BASE}}}")).unwrap();
        assert!(update.apply(&stored(r#""on""#)).order_actions_unread);
    }

    #[test]
    fn mcp_order_actions_are_off_by_default_and_in_settings_saved_before_mcp_existed() {
        assert!(!OrgSettings::default().mcp.order_actions);
        let old: OrgSettings = serde_json::from_str(&format!("{{{BASE}}}")).unwrap();
        assert!(!old.mcp.order_actions);
        assert!(!old.mcp_unread);
        let shown = serde_json::to_value(&old).unwrap();
        assert_eq!(shown["mcp"], serde_json::json!({"order_actions": false}));
    }

    #[test]
    fn an_update_turns_mcp_on_and_one_that_leaves_it_out_keeps_it() {
        let on: SettingsUpdate =
            serde_json::from_str(&format!(r#"{{{BASE},"mcp":{{"order_actions":true}}}}"#)).unwrap();
        let saved = on.apply(&OrgSettings::default());
        assert!(saved.mcp.order_actions);
        let kept: SettingsUpdate = serde_json::from_str(&format!("{{{BASE}}}")).unwrap();
        assert!(kept.apply(&saved).mcp.order_actions);
        for bad in [
            "null",
            "true",
            "{}",
            r#"{"order_actions":"yes"}"#,
            r#"{"order_actions":true,"write_tools":true}"#,
        ] {
            assert!(
                serde_json::from_str::<SettingsUpdate>(&format!(r#"{{{BASE},"mcp":{bad}}}"#))
                    .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn stored_mcp_switches_this_version_cannot_read_are_off_and_not_written_back() {
        for unreadable in [r#""on""#, r#"{"order_actions":"always"}"#] {
            let settings: OrgSettings =
                serde_json::from_str(&format!(r#"{{{BASE},"mcp":{unreadable}}}"#)).unwrap();
            assert!(!settings.mcp.order_actions, "{unreadable}");
            assert!(settings.mcp_unread, "{unreadable}");
            let kept: SettingsUpdate = serde_json::from_str(&format!("{{{BASE}}}")).unwrap();
            assert!(kept.apply(&settings).mcp_unread);
        }
        let newer: OrgSettings = serde_json::from_str(&format!(
            r#"{{{BASE},"mcp":{{"order_actions":true,"prompts":true}}}}"#
        ))
        .unwrap();
        assert!(
            newer.mcp.order_actions,
            "another version's new switch is ignored"
        );
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
