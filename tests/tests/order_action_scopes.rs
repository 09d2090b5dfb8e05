//! Order actions and the app's access scopes: a store whose scopes block an action its org
//! turned on says so (a warning naming the actions and the scopes to add, kept current by
//! connect, verify and the health check, announced once per change), and a write Shopify
//! denies for a scope is `action_unavailable`, never a credentials problem. Every scenario runs
//! in memory and on moto.

mod common;

use serde_json::{json, Value};
use shared::actions;
use shared::domain::{ActionKind, ActionMode, OrganizationId, StoreStatus};
use shared::Code;
use shared::Deadline;
use std::time::Duration;
use tests::actions::{shopper, ActionRig};
use tests::app::TestApp;
use tests::fake_shopify::{FakeOrder, FakeShop};

const TOKEN: &str = "shpat_scopes_00000000000000000000000";
const US: &str = "demo-us.myshopify.com";
const JANE: &str = "jane@example.com";
const CONVERSATION: &str = "conv-7";

/// Settings with `cancel_order` on or off, everything else as the defaults.
fn settings(cancel: bool) -> Value {
    json!({
        "actions": {"get_order_details": true, "search_products": true, "get_shop_details": true},
        "require_email_match": true,
        "order_actions": {
            "cancel_order": {"enabled": cancel, "mode": "live", "window_minutes": 60, "approval_above": null},
            "update_shipping_address": {"enabled": false, "mode": "live", "window_minutes": 60, "same_country_only": true},
            "request_return": {"enabled": false, "mode": "live", "window_days": 30, "excluded_tags": ["final-sale"]}
        }
    })
}

async fn put_settings(app: &TestApp, cancel: bool) {
    let (status, body) = app.put_settings(settings(cancel)).await;
    assert_eq!(status, 200, "{body}");
}

fn order_actions_warning(store: &Value) -> Option<String> {
    store["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "order_actions_unavailable")
        .map(|w| w["message"].as_str().unwrap().to_owned())
}

async fn connect(app: &TestApp, shop: FakeShop) -> Value {
    app.shopify.add_shop(shop.with_token(TOKEN));
    let (status, body) = app
        .connect(json!({"shop_domain": "demo-us", "access_token": TOKEN}))
        .await;
    assert!(status == 201 || status == 200, "{body}");
    body
}

fn deadline() -> Deadline {
    Deadline::after(Duration::from_secs(30))
}

health_backends! {
    async fn a_store_whose_scopes_block_an_action_its_org_turned_on_is_warned_and_kept_current(app: TestApp) {
        // The org enabled nothing: a store without any order-action scope is not told about them.
        let body = connect(&app, FakeShop::new("demo-us")).await;
        assert_eq!(body["warnings"], json!([]), "{body}");

        // Turned on, the next verify names the action and every scope to add, announced once.
        put_settings(&app, true).await;
        let (status, store) = app.get_store("demo-us", true).await;
        assert_eq!(status, 200, "{store}");
        let message = order_actions_warning(&store).unwrap_or_else(|| panic!("no warning: {store}"));
        assert!(message.contains("cancel_order needs write_orders, read_merchant_managed_fulfillment_orders, read_third_party_fulfillment_orders"), "{message}");
        assert!(!message.contains("update_shipping_address") && !message.contains("request_return"), "only what is on: {message}");
        let changes = app.health().status_changes().await;
        assert_eq!(changes.len(), 1, "{changes:#?}");
        assert_eq!(changes[0]["changed"], json!(["warnings"]));
        assert_eq!(changes[0]["reason"]["code"], "order_actions_unavailable");
        assert_eq!(changes[0]["detected_by"], "verify");
        assert_eq!(changes[0]["new_status"], "connected");

        // Checked again, nothing changed: no second event.
        app.health().run_cycle().await;
        assert_eq!(app.health().status_changes().await.len(), 1);

        // Turned off, the health check clears it and says so.
        put_settings(&app, false).await;
        app.health().run_cycle().await;
        let (_, store) = app.get_store("demo-us", false).await;
        assert_eq!(order_actions_warning(&store), None, "{store}");
        let changes = app.health().status_changes().await;
        assert_eq!(changes.len(), 2, "{changes:#?}");
        assert_eq!(changes[1]["reason"]["code"], "warnings_cleared");
        assert_eq!(changes[1]["detected_by"], "health_check");
    }

    async fn a_store_connected_after_its_org_turned_an_action_on_is_warned_at_once(app: TestApp) {
        put_settings(&app, true).await;

        let body = connect(&app, FakeShop::new("demo-us").with_order_action_scopes().without_scope("write_orders")).await;

        let message = order_actions_warning(&body).unwrap_or_else(|| panic!("no warning: {body}"));
        assert!(message.contains("cancel_order needs write_orders"), "{message}");
        assert!(!message.contains("fulfillment_orders"), "granted scopes are not asked for: {message}");

        // Granted, the health check finds it and the warning goes.
        app.shopify.update_shop(US, |s| s.scopes.push("write_orders".into()));
        app.health().run_cycle().await;
        let (_, store) = app.get_store("demo-us", false).await;
        assert_eq!(order_actions_warning(&store), None, "{store}");
    }
}

both_backends! {
    async fn a_proposal_at_a_store_without_the_scopes_names_every_scope_to_add(app: TestApp) {
        put_settings(&app, true).await;
        connect(&app, FakeShop::new("demo-us").with_order(FakeOrder::unfulfilled("#1001", 5, JANE))).await;
        let rig = ActionRig::new(&app).await;

        let refused = actions::propose(&rig.ports, &deadline(), &shopper(&app.org, JANE, CONVERSATION, false),
            ActionKind::CancelOrder, &json!({"order_number": "#1001"})).await.unwrap_err();

        assert_eq!(refused.code, Code::ActionUnavailable);
        assert_eq!(refused.details.unwrap()["missing"], json!(["write_orders", "read_merchant_managed_fulfillment_orders", "read_third_party_fulfillment_orders"]));
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 0);
    }

    async fn a_write_scope_lost_after_the_proposal_is_action_unavailable_and_nothing_is_sent(app: TestApp) {
        connect(&app, FakeShop::new("demo-us").with_order_action_scopes().with_order(FakeOrder::unfulfilled("#1001", 5, JANE))).await;
        let org = OrganizationId::parse(&app.org).unwrap();
        let stores = &app.services.storage.stores;
        let mut enabled = stores.get_settings(&org).await.unwrap();
        enabled.order_actions.cancel_order.enabled = true;
        enabled.order_actions.cancel_order.mode = ActionMode::Live;
        stores.put_settings(&org, &enabled).await.unwrap();
        let rig = ActionRig::new(&app).await;
        let proposal = actions::propose(&rig.ports, &deadline(), &shopper(&app.org, JANE, CONVERSATION, false),
            ActionKind::CancelOrder, &json!({"order_number": "#1001"})).await.unwrap();

        // The merchant takes write_orders away before the shopper says yes.
        app.shopify.update_shop(US, |s| s.scopes.retain(|scope| scope != "write_orders"));
        let refused = actions::confirm(&rig.ports, &deadline(), &shopper(&app.org, JANE, CONVERSATION, true),
            &proposal.proposal_id, true).await.unwrap_err();

        assert_eq!(refused.code, Code::ActionUnavailable, "{refused:?}");
        assert_eq!(refused.details.unwrap()["missing"], json!(["write_orders"]));
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 0);
        assert!(app.shopify.order(US, "#1001").cancellation.is_none());
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "failed"]);
        let stored = rig.ports.actions.get(&org, &proposal.proposal_id).await.unwrap().unwrap();
        assert_eq!(stored.reason.as_deref(), Some("not_sent"));
        let store = app.records().await.into_iter().find(|r| r.shop_domain.as_str() == US).unwrap();
        assert_eq!(store.status, StoreStatus::Connected, "a missing scope is not a refused token");
        // Asked again, the shopper hears the recorded outcome, not `executing`.
        let again = actions::confirm(&rig.ports, &deadline(), &shopper(&app.org, JANE, CONVERSATION, true),
            &proposal.proposal_id, true).await.unwrap();
        assert_eq!(again.status, "failed");
        assert_eq!(again.details.unwrap()["reason"], "not_sent");
    }
}
