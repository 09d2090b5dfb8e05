//! Which access scopes the app needs, and what a merchant should know about the ones it has.

use crate::domain::{ActionKind, Warning};

/// Scopes every connected store must grant.
pub const REQUIRED_SCOPES: [&str; 3] = ["read_orders", "read_products", "read_customers"];

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

/// Warnings about what the granted scopes will limit. Order actions are warned about when the
/// organization turned them on (`enabled`, from its settings) or their setup has begun (some of
/// an action's scopes granted, not all): a store whose org never asked for them is not told
/// about a feature that is off.
pub fn scope_warnings(granted: &[String], enabled: &[ActionKind]) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if !grants(granted, "read_all_orders") {
        warnings.push(Warning {
            code: "orders_limited_to_60_days".into(),
            message: "Only orders from the last 60 days can be looked up. Grant the read_all_orders scope to your app to find older orders.".into(),
        });
    }
    let begun: Vec<ActionKind> = ActionKind::ALL
        .into_iter()
        .filter(|kind| {
            enabled.contains(kind) || action_scopes(*kind).iter().any(|s| grants(granted, s))
        })
        .collect();
    warnings.extend(order_actions_warning(granted, &begun));
    warnings
}

/// The warning code of a store whose scopes block order actions.
pub const ORDER_ACTIONS_WARNING: &str = "order_actions_unavailable";

/// The scopes an order action needs besides the required ones (a `write_X` grant satisfies
/// `read_X`). Cancelling and re-addressing read fulfillment orders of both kinds: those the
/// merchant fulfills and those at a fulfillment service.
pub fn action_scopes(kind: ActionKind) -> &'static [&'static str] {
    match kind {
        ActionKind::CancelOrder | ActionKind::UpdateShippingAddress => &[
            "write_orders",
            "read_merchant_managed_fulfillment_orders",
            "read_third_party_fulfillment_orders",
        ],
        ActionKind::RequestReturn => &["write_returns", "read_returns"],
    }
}

/// The order actions the granted scopes block, each with the scopes to add (in
/// [`action_scopes`] order); actions that are allowed are left out.
pub fn blocked_actions(granted: &[String]) -> Vec<(ActionKind, Vec<&'static str>)> {
    ActionKind::ALL
        .into_iter()
        .filter_map(|kind| {
            let missing: Vec<&'static str> = action_scopes(kind)
                .iter()
                .copied()
                .filter(|scope| !grants(granted, scope))
                .collect();
            (!missing.is_empty()).then_some((kind, missing))
        })
        .collect()
}

/// The warning for the `wanted` order actions (turned on, or being set up) that the granted
/// scopes block, naming each action and the scopes to add; `None` when nothing wanted is
/// blocked.
pub fn order_actions_warning(granted: &[String], wanted: &[ActionKind]) -> Option<Warning> {
    let blocked: Vec<String> = blocked_actions(granted)
        .into_iter()
        .filter(|(kind, _)| wanted.contains(kind))
        .map(|(kind, missing)| format!("{} needs {}", kind.as_str(), missing.join(", ")))
        .collect();
    if blocked.is_empty() {
        return None;
    }
    Some(Warning {
        code: ORDER_ACTIONS_WARNING.into(),
        message: format!(
            "The AI can't take these order actions with your app's access scopes: {}. Grant the scopes to your app, then verify the store.",
            blocked.join("; ")
        ),
    })
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
        let warnings = scope_warnings(&owned(&["read_orders"]), &[]);
        assert_eq!(warnings[0].code, "orders_limited_to_60_days");
        assert!(scope_warnings(&owned(&["read_all_orders"]), &[]).is_empty());
    }

    const READS: [&str; 4] = [
        "read_orders",
        "read_all_orders",
        "read_products",
        "read_customers",
    ];

    #[test]
    fn a_store_that_never_asked_for_order_actions_is_not_warned_about_them() {
        assert!(scope_warnings(&owned(&READS), &[]).is_empty());
    }

    #[test]
    fn without_write_orders_cancelling_and_readdressing_are_blocked_and_named() {
        let granted = owned(&[
            "read_orders",
            "read_merchant_managed_fulfillment_orders",
            "read_third_party_fulfillment_orders",
        ]);

        let blocked = blocked_actions(&granted);
        let warning = order_actions_warning(&granted, &[ActionKind::CancelOrder]).unwrap();

        assert_eq!(blocked[0], (ActionKind::CancelOrder, vec!["write_orders"]));
        assert_eq!(
            blocked[1],
            (ActionKind::UpdateShippingAddress, vec!["write_orders"])
        );
        assert_eq!(warning.code, "order_actions_unavailable");
        assert!(warning.message.contains("cancel_order needs write_orders"));
        assert!(
            !warning.message.contains("update_shipping_address"),
            "only what is wanted"
        );
    }

    #[test]
    fn write_orders_without_the_fulfillment_order_scopes_is_warned_about_as_setup_begun() {
        let mut granted = owned(&READS);
        granted.push("write_orders".into());

        let warnings = scope_warnings(&granted, &[]);

        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].code, ORDER_ACTIONS_WARNING);
        assert!(warnings[0].message.contains(
            "cancel_order needs read_merchant_managed_fulfillment_orders, read_third_party_fulfillment_orders"
        ));
        assert!(warnings[0]
            .message
            .contains("update_shipping_address needs read_merchant_managed_fulfillment_orders"));
        assert!(!warnings[0].message.contains("request_return"));
    }

    #[test]
    fn every_scope_an_action_needs_unblocks_it_and_a_write_grant_counts_for_its_read() {
        let mut granted = owned(&READS);
        granted.extend(owned(&[
            "write_orders",
            "write_merchant_managed_fulfillment_orders",
            "read_third_party_fulfillment_orders",
        ]));

        assert_eq!(
            blocked_actions(&granted),
            [(
                ActionKind::RequestReturn,
                vec!["write_returns", "read_returns"]
            )]
        );
        assert!(scope_warnings(&granted, &[]).is_empty());
        assert!(order_actions_warning(&granted, &ActionKind::ALL[..2]).is_none());
    }

    #[test]
    fn an_action_the_org_turned_on_is_warned_about_when_no_scope_of_it_is_granted() {
        let granted = owned(&READS);

        let enabled = scope_warnings(&granted, &[ActionKind::CancelOrder]);
        let other = scope_warnings(&granted, &[ActionKind::RequestReturn]);

        assert_eq!(enabled.len(), 1, "{enabled:?}");
        assert_eq!(enabled[0].code, ORDER_ACTIONS_WARNING);
        assert!(enabled[0].message.contains(
            "cancel_order needs write_orders, read_merchant_managed_fulfillment_orders, read_third_party_fulfillment_orders"
        ));
        assert!(!enabled[0].message.contains("update_shipping_address"));
        assert!(other[0]
            .message
            .contains("request_return needs write_returns, read_returns"));
    }
}
