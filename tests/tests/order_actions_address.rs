//! Order actions: the AI changes an order's shipping address for a verified shopper —
//! proposed with the old and the new address, confirmed with the shopper's own yes, sent
//! exactly once, verified by reading the order's address back, and on the record. Every
//! scenario runs in memory and on moto (records in DynamoDB).

mod common;

use std::time::Duration;

use serde_json::{json, Value};
use shared::actions::{self, ActionFailure, ActionPorts};
use shared::domain::{ActionKind, ActionMode, ActionStatus, OrganizationId};
use shared::Code;
use tests::actions::{
    deadline, enable_address_changes, setup, shopper, us_shop, ActionRig, CONVERSATION, JANE, US,
};
use tests::app::TestApp;
use tests::fake_shopify::{
    CancelJob, CustomerDataAccess, FakeAddress, FakeFulfillmentOrder, FakeOrder, FakeShop, Fault,
};

/// Where order #1001 ships today: with a company, an apartment and a phone, so a new address
/// without them shows whether they were cleared.
fn portland() -> FakeAddress {
    FakeAddress {
        company: Some("Pine Co".into()),
        address2: Some("Apt 2".into()),
        phone: Some("+15035550100".into()),
        ..FakeAddress::default()
    }
}

/// The new address the shopper gives.
fn new_york() -> Value {
    json!({
        "first_name": "Jane", "last_name": "Doe", "address1": "350 Fifth Avenue",
        "city": "New York", "province_code": "ny", "zip": "10118", "country_code": "us",
    })
}

fn toronto() -> Value {
    json!({
        "first_name": "Jane", "last_name": "Doe", "address1": "290 Bremner Blvd",
        "city": "Toronto", "province_code": "ON", "zip": "M5V 3L9", "country_code": "CA",
    })
}

fn unshipped(name: &str) -> FakeOrder {
    FakeOrder::unfulfilled(name, 5, JANE).with_address(portland())
}

/// demo-us holding `order`, address changes on in `mode` (within the order's country).
async fn readdressing(app: &TestApp, shop: FakeShop, mode: ActionMode) -> ActionRig {
    let rig = setup(app, shop, mode).await;
    enable_address_changes(app, mode, true).await;
    rig
}

async fn propose_with(
    app: &TestApp,
    ports: &ActionPorts,
    order: &str,
    address: Value,
) -> Result<actions::ActionAnswer, ActionFailure> {
    actions::propose(
        ports,
        &deadline(),
        &shopper(&app.org, JANE, CONVERSATION, false),
        ActionKind::UpdateShippingAddress,
        &json!({"order_number": order, "address": address}),
    )
    .await
}

async fn propose(
    app: &TestApp,
    rig: &ActionRig,
    order: &str,
    address: Value,
) -> Result<actions::ActionAnswer, ActionFailure> {
    propose_with(app, &rig.ports, order, address).await
}

async fn confirm_with(
    app: &TestApp,
    ports: &ActionPorts,
    id: &str,
) -> Result<actions::ActionAnswer, ActionFailure> {
    actions::confirm(
        ports,
        &deadline(),
        &shopper(&app.org, JANE, CONVERSATION, true),
        id,
        true,
    )
    .await
}

async fn confirm(
    app: &TestApp,
    rig: &ActionRig,
    id: &str,
) -> Result<actions::ActionAnswer, ActionFailure> {
    confirm_with(app, &rig.ports, id).await
}

async fn get(app: &TestApp, rig: &ActionRig, id: &str) -> actions::ActionAnswer {
    actions::get(
        &rig.ports,
        &deadline(),
        &shopper(&app.org, JANE, CONVERSATION, false),
        id,
    )
    .await
    .unwrap()
}

fn org(app: &TestApp) -> OrganizationId {
    OrganizationId::parse(&app.org).unwrap()
}

async fn record(app: &TestApp, rig: &ActionRig, id: &str) -> shared::actions::ActionRecord {
    rig.ports
        .actions
        .get(&org(app), id)
        .await
        .unwrap()
        .expect("the record")
}

fn reason(failure: &ActionFailure) -> &str {
    failure.details.as_ref().unwrap()["reason"]
        .as_str()
        .unwrap()
}

fn field(failure: &ActionFailure) -> &str {
    failure.details.as_ref().unwrap()["field"].as_str().unwrap()
}

/// The `UpdateShippingAddress` requests the fake received, with their variables.
fn updates_sent(app: &TestApp) -> Vec<Value> {
    app.shopify
        .received()
        .into_iter()
        .filter(|r| r.operation.as_deref() == Some("UpdateShippingAddress"))
        .map(|r| r.variables)
        .collect()
}

fn shipping(app: &TestApp, name: &str) -> FakeAddress {
    app.shopify.order(US, name).shipping_address
}

both_backends! {
    async fn an_eligible_order_gets_its_new_address_once_verified_by_reading_it_back(app: TestApp) {
        let rig = readdressing(&app, us_shop(unshipped("#1001")), ActionMode::Live).await;

        let proposal = propose(&app, &rig, "#1001", new_york()).await.unwrap();

        assert_eq!(proposal.status, "confirmation_required");
        assert!(
            proposal.summary.contains("from Jane Doe, Pine Co, 1 Pine St, Apt 2, Portland OR 97201, US, phone +15035550100 to Jane Doe, 350 Fifth Avenue, New York NY 10118, US."),
            "{}", proposal.summary
        );
        assert!(proposal.summary.contains("shipping costs and taxes are not recalculated"), "{}", proposal.summary);
        let effects = proposal.effects.clone().unwrap();
        assert_eq!(effects["old_address"]["address2"], "Apt 2");
        assert_eq!(effects["new_address"], json!({
            "first_name": "Jane", "last_name": "Doe", "address1": "350 Fifth Avenue",
            "city": "New York", "province_code": "NY", "zip": "10118", "country_code": "US",
        }));
        assert_eq!(app.shopify.address_updates(US, "#1001"), 0, "a proposal writes nothing");

        let done = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_eq!(done.status, "done", "{done:?}");
        assert_eq!(done.order.as_ref().unwrap()["shipping_address"]["address1"], "350 Fifth Avenue");
        let now = shipping(&app, "#1001");
        assert_eq!((now.address1.as_str(), now.city.as_str()), ("350 Fifth Avenue", "New York"));
        assert_eq!((now.province_code.as_deref(), now.zip.as_deref(), now.country_code.as_str()), (Some("NY"), Some("10118"), "US"));
        assert_eq!((now.company, now.address2, now.phone), (None, None, None), "the parts left out are cleared");
        assert_eq!(app.shopify.address_updates(US, "#1001"), 1);
        let sent = updates_sent(&app);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0]["id"], app.shopify.order_gid(US, "#1001"));
        for cleared in ["company", "address2", "phone"] {
            assert_eq!(sent[0]["address"][cleared], Value::Null, "{cleared} is sent as null");
        }
        assert_eq!(sent[0]["address"]["countryCode"], "US");
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 0);
    }

    async fn the_record_and_the_announcements_name_the_address_change(app: TestApp) {
        let rig = readdressing(&app, us_shop(unshipped("#1001")), ActionMode::Live).await;
        let proposal = propose(&app, &rig, "#1001", new_york()).await.unwrap();

        confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        let stored = record(&app, &rig, &proposal.proposal_id).await;
        assert_eq!(stored.kind, ActionKind::UpdateShippingAddress);
        assert_eq!(stored.status, ActionStatus::Done);
        assert_eq!(stored.arguments["address"]["province_code"], "NY", "the normalized address is what was confirmed");
        assert_eq!(stored.effects["new_address"]["city"], "New York");
        assert_eq!(stored.outcome.as_ref().unwrap()["shipping_address"]["zip"], "10118");
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "done"]);
        let events = rig.events.order_actions();
        assert!(events.iter().all(|e| e.action == ActionKind::UpdateShippingAddress
            && e.order_name == "#1001"
            && e.shop_domain.as_str() == US
            && e.actor == "ai"
            && e.conversation_id.as_deref() == Some(CONVERSATION)));
        assert!(events.last().unwrap().summary.contains("350 Fifth Avenue"));
        assert_eq!(get(&app, &rig, &proposal.proposal_id).await.status, "done");
        let page = actions::list(&rig.ports, &deadline(), &org(&app), &Default::default(), None).await.unwrap();
        assert_eq!(page.actions.len(), 1);
        assert_eq!((page.actions[0].action, page.actions[0].status), (ActionKind::UpdateShippingAddress, ActionStatus::Done));
        let other = OrganizationId::parse(&app.other_org()).unwrap();
        assert!(actions::list(&rig.ports, &deadline(), &other, &Default::default(), None).await.unwrap().actions.is_empty());
        let stranger = actions::confirm(&rig.ports, &deadline(), &shopper(&app.other_org(), JANE, CONVERSATION, true), &proposal.proposal_id, true).await.unwrap_err();
        assert_eq!(stranger.code, Code::ProposalNotFound, "another org sees nothing");
    }

    async fn each_ineligible_order_is_refused_with_its_reason_and_nothing_is_sent(app: TestApp) {
        let cases = [
            ("#2001", unshipped("#2001").fulfilled(), new_york(), "fulfilled"),
            ("#2002", unshipped("#2002").partly_fulfilled(), new_york(), "partially_fulfilled"),
            ("#2003", unshipped("#2003").sent_to_fulfillment_service("SUBMITTED"), new_york(), "submitted_to_fulfillment_service"),
            ("#2004", unshipped("#2004").sent_to_fulfillment_service("ACCEPTED"), new_york(), "submitted_to_fulfillment_service"),
            ("#2005", unshipped("#2005").cancelled("2026-01-01T00:00:00Z"), new_york(), "already_cancelled"),
            ("#2006", FakeOrder::unfulfilled("#2006", 90, JANE), new_york(), "outside_window"),
            ("#2007", unshipped("#2007").not_shipped(), new_york(), "not_shipped"),
            ("#2008", unshipped("#2008"), toronto(), "country_change_not_allowed"),
            ("#2009", unshipped("#2009"), json!({
                "first_name": "Jane", "last_name": "Doe", "address1": "10 Downing St",
                "city": "London", "zip": "SW1A 2AA", "country_code": "GB",
            }), "country_not_shipped_to"),
            ("#2010", unshipped("#2010"), json!({
                "first_name": "Jane", "last_name": "Doe", "company": "pine co", "address1": "1 Pine St",
                "address2": "Apt 2", "city": "Portland", "province_code": "OR", "zip": "97201",
                "country_code": "US", "phone": "+15035550100",
            }), "same_address"),
            ("#2011", unshipped("#2011").with_address(FakeAddress {
                country: String::new(),
                country_code: String::new(),
                ..portland()
            }), new_york(), "address_unavailable"),
        ];
        let mut shop = FakeShop::new("demo-us").with_order_action_scopes();
        for (_, order, _, _) in &cases {
            shop = shop.with_order(order.clone());
        }
        let rig = readdressing(&app, shop, ActionMode::Live).await;

        for (name, _, address, expected) in &cases {
            let refused = propose(&app, &rig, name, address.clone()).await.unwrap_err();
            assert_eq!(refused.code, Code::ActionNotAllowed, "{name}: {refused:?}");
            assert_eq!(reason(&refused), *expected, "{name}");
            assert!(!refused.message.is_empty());
        }
        for (name, _, _, _) in &cases {
            assert_eq!(app.shopify.address_updates(US, name), 0, "{name}");
        }
        assert!(updates_sent(&app).is_empty());
        assert!(rig.events.order_actions().is_empty(), "nothing proposed, nothing announced");

        enable_address_changes(&app, ActionMode::Live, false).await;
        let abroad = propose(&app, &rig, "#2008", toronto()).await.unwrap();
        assert_eq!(abroad.status, "confirmation_required", "another country the shop ships to, once the policy allows it");
    }

    async fn the_window_is_checked_again_at_confirmation(app: TestApp) {
        let rig = readdressing(&app, us_shop(FakeOrder::unfulfilled("#1001", 55, JANE)), ActionMode::Live).await;
        let proposal = propose(&app, &rig, "#1001", new_york()).await.unwrap();
        rig.clock.advance(chrono::Duration::minutes(6));

        let refused = confirm(&app, &rig, &proposal.proposal_id).await.unwrap_err();

        assert_eq!(reason(&refused), "outside_window");
        assert_eq!(app.shopify.address_updates(US, "#1001"), 0);
    }

    async fn an_incomplete_or_unknown_address_is_refused_naming_the_part_before_anything_is_read(app: TestApp) {
        let rig = readdressing(&app, us_shop(unshipped("#1001")), ActionMode::Live).await;
        let before = app.shopify.requests_to(US);
        let without = |part: &str| {
            let mut address = new_york();
            address.as_object_mut().unwrap().remove(part);
            address
        };
        let with = |part: &str, value: Value| {
            let mut address = new_york();
            address[part] = value;
            address
        };
        let cases = [
            (without("zip"), "address.zip"),
            (without("province_code"), "address.province_code"),
            (without("address1"), "address.address1"),
            (with("last_name", json!("  ")), "address.last_name"),
            (with("country_code", json!("XX")), "address.country_code"),
            (with("province_code", json!("ZZ")), "address.province_code"),
            (with("phone", json!("555-0100")), "address.phone"),
            (with("floor", json!("3")), "address.floor"),
            (with("zip", json!("10118-")), "address.zip"),
            (with("address1", json!("350 Fifth\u{202E}Avenue")), "address.address1"),
            (with("first_name", json!("Jane\u{200B}")), "address.first_name"),
        ];

        for (address, expected) in cases {
            let refused = propose(&app, &rig, "#1001", address.clone()).await.unwrap_err();
            assert_eq!(refused.code, Code::InvalidArguments, "{address}");
            assert_eq!(field(&refused), expected, "{address}");
            assert!(refused.message.contains("customer"), "words the AI can relay: {}", refused.message);
        }
        let missing = actions::propose(&rig.ports, &deadline(), &shopper(&app.org, JANE, CONVERSATION, false),
            ActionKind::UpdateShippingAddress, &json!({"order_number": "#1001"})).await.unwrap_err();
        assert_eq!(field(&missing), "address");

        assert_eq!(app.shopify.requests_to(US), before, "nothing was read for a bad address");
        assert!(rig.events.order_actions().is_empty());
    }

    async fn an_update_shopify_answers_without_making_is_failed_never_done(app: TestApp) {
        let rig = readdressing(&app, us_shop(unshipped("#1001").ignoring_address_updates()), ActionMode::Live).await;
        let proposal = propose(&app, &rig, "#1001", new_york()).await.unwrap();

        let answered = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_eq!(answered.status, "failed", "{answered:?}");
        assert_eq!(answered.details.unwrap()["reason"], "address_not_updated");
        assert_eq!(shipping(&app, "#1001"), portland());
        assert_eq!(app.shopify.address_updates(US, "#1001"), 1);
        rig.clock.advance(chrono::Duration::minutes(5));
        actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap();
        assert_eq!(get(&app, &rig, &proposal.proposal_id).await.status, "failed");
        assert_eq!(confirm(&app, &rig, &proposal.proposal_id).await.unwrap().status, "failed");
        assert_eq!(app.shopify.address_updates(US, "#1001"), 1, "never sent again");
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "failed"]);
    }

    async fn a_postal_code_shopify_writes_in_its_own_form_is_the_new_address_done(app: TestApp) {
        let tokyo = FakeAddress {
            first_name: "Hanako".into(), last_name: "Sato".into(), address1: "1-1 Jingumae".into(),
            city: "Shibuya".into(), province: Some("Tokyo".into()), province_code: Some("JP-13".into()),
            zip: Some("150-0001".into()), country: "Japan".into(), country_code: "JP".into(),
            ..FakeAddress::default()
        };
        let mut shop = us_shop(FakeOrder::unfulfilled("#1001", 5, JANE).with_address(tokyo));
        shop.ships_to.push("JP".into());
        let rig = readdressing(&app, shop, ActionMode::Live).await;
        let setagaya = json!({
            "first_name": "Hanako", "last_name": "Sato", "address1": "1-2-3 Sangenjaya",
            "city": "Setagaya", "province_code": "JP-13", "zip": "1540023", "country_code": "JP",
        });
        let proposal = propose(&app, &rig, "#1001", setagaya).await.unwrap();

        let answered = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_eq!(updates_sent(&app)[0]["address"]["zip"], "1540023");
        assert_eq!(shipping(&app, "#1001").zip.as_deref(), Some("154-0023"), "Shopify's own form");
        assert_eq!(answered.status, "done", "{answered:?}");
        assert_eq!(answered.order.unwrap()["shipping_address"]["zip"], "154-0023");
        assert_eq!(app.shopify.address_updates(US, "#1001"), 1);
    }

    async fn an_address_shopify_takes_only_in_part_fails_showing_what_the_order_now_says(app: TestApp) {
        let rig = readdressing(&app, us_shop(unshipped("#1001").keeping_cleared_address_parts()), ActionMode::Live).await;
        let proposal = propose(&app, &rig, "#1001", new_york()).await.unwrap();

        let answered = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_eq!(answered.status, "failed", "{answered:?}");
        assert_eq!(answered.details.as_ref().unwrap()["reason"], "address_partly_updated");
        let now = &answered.order.as_ref().expect("the order as it now reads")["shipping_address"];
        assert_eq!(now["address1"], "350 Fifth Avenue");
        assert_eq!((&now["company"], &now["address2"], &now["phone"]), (&json!("Pine Co"), &json!("Apt 2"), &json!("+15035550100")), "the parts Shopify kept");
        let stored = record(&app, &rig, &proposal.proposal_id).await;
        assert_eq!((stored.status, stored.reason.as_deref()), (ActionStatus::Failed, Some("address_partly_updated")));
        assert_eq!(get(&app, &rig, &proposal.proposal_id).await.order, answered.order, "get_action tells the same");
        assert_eq!(app.shopify.address_updates(US, "#1001"), 1, "never sent again");
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "failed"]);
    }

    async fn an_address_whose_names_or_phone_shopify_withholds_is_refused_at_the_proposal(app: TestApp) {
        let shop = us_shop(unshipped("#1001")).withholding_customer_data(CustomerDataAccess::NamesAndPhonesDenied);
        let rig = readdressing(&app, shop, ActionMode::Live).await;

        let refused = propose(&app, &rig, "#1001", new_york()).await.unwrap_err();

        assert_eq!(refused.code, Code::ActionNotAllowed, "{refused:?}");
        assert_eq!(reason(&refused), "address_unavailable");
        assert!(updates_sent(&app).is_empty(), "nothing is written that could not be verified");
        assert_eq!(shipping(&app, "#1001"), portland());
        assert!(rig.events.order_actions().is_empty());
    }

    async fn an_order_picked_up_or_not_delivered_to_an_address_is_not_readdressed(app: TestApp) {
        let delivered_by = |name: &str, method: &str| {
            unshipped(name).with_fulfillment("UNFULFILLED", &[FakeFulfillmentOrder::merchant("OPEN", "UNSUBMITTED").delivered_by(method)])
        };
        let cases = [
            ("#3001", "PICK_UP", Some("not_shipped")),
            ("#3002", "RETAIL", Some("not_shipped")),
            ("#3003", "NONE", Some("not_shipped")),
            ("#3004", "PICKUP_POINT", Some("pickup_point")),
            ("#3005", "LOCAL", None),
        ];
        let mut shop = FakeShop::new("demo-us").with_order_action_scopes();
        for (name, method, _) in &cases {
            shop = shop.with_order(delivered_by(name, method));
        }
        let rig = readdressing(&app, shop, ActionMode::Live).await;

        for (name, method, expected) in cases {
            assert!(app.shopify.order(US, name).requires_shipping, "{name}");
            let answer = propose(&app, &rig, name, new_york()).await;
            match expected {
                Some(expected) => {
                    let refused = answer.unwrap_err();
                    assert_eq!(refused.code, Code::ActionNotAllowed, "{method}");
                    assert_eq!(reason(&refused), expected, "{method}");
                }
                None => assert_eq!(answer.unwrap().status, "confirmation_required", "{method}: a local delivery goes to the address"),
            }
        }
        assert!(updates_sent(&app).is_empty());
    }

    async fn an_address_shopify_refuses_fails_the_action_and_changes_nothing(app: TestApp) {
        let shop = us_shop(unshipped("#1001").refusing_address_update(&["shippingAddress", "zip"], "Zip is invalid for New York"))
            .with_order(unshipped("#1002").refusing_address_update(&["id"], "Order can't be edited"));
        let rig = readdressing(&app, shop, ActionMode::Live).await;

        for (name, expected) in [("#1001", "address_rejected"), ("#1002", "shopify_refused")] {
            let proposal = propose(&app, &rig, name, new_york()).await.unwrap();
            let answered = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

            assert_eq!(answered.status, "failed", "{name}");
            assert_eq!(answered.details.unwrap()["reason"], expected, "{name}");
            assert_eq!(shipping(&app, name), portland(), "{name}");
            assert_eq!(app.shopify.address_updates(US, name), 1, "{name}");
            assert_eq!(record(&app, &rig, &proposal.proposal_id).await.status, ActionStatus::Failed);
        }
    }

    async fn a_lost_answer_whose_order_shows_the_new_address_is_done_without_a_second_update(app: TestApp) {
        let mut shop = us_shop(unshipped("#1001"));
        shop.lose_answer("UpdateShippingAddress", Fault::Status { status: 502, retry_after: None });
        let rig = readdressing(&app, shop, ActionMode::Live).await;
        let proposal = propose(&app, &rig, "#1001", new_york()).await.unwrap();

        let answered = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_eq!(answered.status, "done", "read back, not resent: {answered:?}");
        assert_eq!(shipping(&app, "#1001").city, "New York");
        assert_eq!(app.shopify.address_updates(US, "#1001"), 1);
        assert_eq!(updates_sent(&app).len(), 1);
    }

    async fn a_lost_answer_whose_order_keeps_its_address_is_failed_once_no_late_write_can_land(app: TestApp) {
        let mut shop = us_shop(unshipped("#1001").ignoring_address_updates());
        shop.lose_answer("UpdateShippingAddress", Fault::Status { status: 502, retry_after: None });
        let rig = readdressing(&app, shop, ActionMode::Live).await;
        let proposal = propose(&app, &rig, "#1001", new_york()).await.unwrap();

        let answered = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_eq!(answered.status, "in_progress", "the answer was lost a moment ago: not known yet");
        assert_eq!(get(&app, &rig, &proposal.proposal_id).await.status, "in_progress");
        rig.clock.advance(chrono::Duration::minutes(3));
        let report = actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap();
        assert_eq!(report.settled, 1);
        let failed = get(&app, &rig, &proposal.proposal_id).await;
        assert_eq!(failed.status, "failed");
        assert_eq!(failed.details.unwrap()["reason"], "address_not_updated");
        assert_eq!(app.shopify.address_updates(US, "#1001"), 1, "never sent again");
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "in_progress", "failed"]);
    }

    async fn two_concurrent_confirmations_and_a_retry_send_exactly_one_update(app: TestApp) {
        let rig = readdressing(&app, us_shop(unshipped("#1001")), ActionMode::Live).await;
        let proposal = propose(&app, &rig, "#1001", new_york()).await.unwrap();

        let (a, b) = tokio::join!(
            confirm(&app, &rig, &proposal.proposal_id),
            confirm(&app, &rig, &proposal.proposal_id)
        );
        let retry = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        let statuses = [a.unwrap().status, b.unwrap().status];
        assert!(statuses.contains(&"done".to_owned()), "{statuses:?}");
        assert!(statuses.iter().all(|s| s == "done" || s == "executing"), "{statuses:?}");
        assert_eq!(retry.status, "done");
        assert_eq!(app.shopify.address_updates(US, "#1001"), 1);
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "done"]);
    }

    async fn writes_need_a_verified_email_and_the_shoppers_own_yes(app: TestApp) {
        let rig = readdressing(&app, us_shop(unshipped("#1001")), ActionMode::Live).await;
        let mut unverified = shopper(&app.org, JANE, CONVERSATION, false);
        unverified.email_verified = false;
        let refused = actions::propose(&rig.ports, &deadline(), &unverified, ActionKind::UpdateShippingAddress,
            &json!({"order_number": "#1001", "address": new_york()})).await.unwrap_err();
        assert_eq!(refused.code, Code::VerificationRequired);
        let proposal = propose(&app, &rig, "#1001", new_york()).await.unwrap();

        let unconfirmed = actions::confirm(&rig.ports, &deadline(), &shopper(&app.org, JANE, CONVERSATION, false), &proposal.proposal_id, false).await.unwrap();

        assert_eq!(unconfirmed.status, "confirmation_required");
        assert_eq!(unconfirmed.proposal_id, proposal.proposal_id);
        let other_conversation = actions::confirm(&rig.ports, &deadline(), &shopper(&app.org, JANE, "another-conversation", true), &proposal.proposal_id, true).await.unwrap_err();
        assert_eq!(other_conversation.code, Code::ProposalNotFound);
        assert_eq!(app.shopify.address_updates(US, "#1001"), 0);
        assert_eq!(shipping(&app, "#1001"), portland());
    }

    async fn an_order_that_changes_after_the_proposal_is_not_readdressed(app: TestApp) {
        let rig = readdressing(&app, us_shop(unshipped("#1001")), ActionMode::Live).await;
        let proposal = propose(&app, &rig, "#1001", new_york()).await.unwrap();
        app.shopify.update_order(US, "#1001", |o| o.shipping_address.address2 = Some("Apt 3".into()));

        let refused = confirm(&app, &rig, &proposal.proposal_id).await.unwrap_err();

        assert_eq!(refused.code, Code::ActionNotAllowed);
        assert_eq!(reason(&refused), "order_changed");
        app.shopify.update_order(US, "#1001", |o| {
            o.shipping_address.address2 = Some("Apt 2".into());
            o.fulfillment_orders[0].request_status = "SUBMITTED".into();
            o.fulfillment_orders[0].third_party = true;
        });
        let refused = confirm(&app, &rig, &proposal.proposal_id).await.unwrap_err();
        assert_eq!(reason(&refused), "submitted_to_fulfillment_service");
        assert_eq!(app.shopify.address_updates(US, "#1001"), 0);
    }

    async fn one_action_per_order_at_a_time(app: TestApp) {
        let shop = us_shop(unshipped("#1001")).with_order(unshipped("#1002")).with_cancel_job(CancelJob::NeverFinishes);
        let rig = readdressing(&app, shop, ActionMode::Live).await;
        let first = propose(&app, &rig, "#1001", new_york()).await.unwrap();
        let second = propose(&app, &rig, "#1001", buffalo()).await.unwrap();

        let replaced = confirm(&app, &rig, &first.proposal_id).await.unwrap_err();

        assert_eq!(replaced.code, Code::ProposalExpired, "a new proposal for the order expires the open one");
        assert_eq!(confirm(&app, &rig, &second.proposal_id).await.unwrap().status, "done");
        assert_eq!(shipping(&app, "#1001").city, "Buffalo");
        assert_eq!(app.shopify.address_updates(US, "#1001"), 1);

        let cancelling = actions::propose(&rig.ports, &deadline(), &shopper(&app.org, JANE, CONVERSATION, false),
            ActionKind::CancelOrder, &json!({"order_number": "#1002"})).await.unwrap();
        let mut short = rig.ports.clone();
        short.config.budget = Duration::from_secs(3);
        assert_eq!(confirm_with(&app, &short, &cancelling.proposal_id).await.unwrap().status, "in_progress");
        let busy = propose(&app, &rig, "#1002", new_york()).await.unwrap_err();
        assert_eq!(busy.code, Code::ActionNotAllowed);
        assert_eq!(reason(&busy), "action_in_progress", "the unsettled cancellation holds the order");
        assert_eq!(app.shopify.address_updates(US, "#1002"), 0);
    }

    async fn checks_run_in_order_so_no_answer_tells_a_stranger_an_order_exists(app: TestApp) {
        let shop = FakeShop::new("demo-us").with_order_action_scopes().without_scope("write_orders")
            .with_order(unshipped("#1001"))
            .with_order(unshipped("#1002").fulfilled())
            .with_order(FakeOrder::unfulfilled("#1003", 5, "someone@example.com"));
        let rig = setup(&app, shop, ActionMode::Live).await;
        let before = app.shopify.requests_to(US);

        let disabled = propose(&app, &rig, "#9999", json!({})).await.unwrap_err();

        assert_eq!(disabled.code, Code::ActionDisabled, "off comes first, even for a bad address and no order");
        assert_eq!(app.shopify.requests_to(US), before, "nothing was read");
        enable_address_changes(&app, ActionMode::Live, true).await;
        for stranger in ["#1003", "#9999"] {
            let hidden = propose(&app, &rig, stranger, new_york()).await.unwrap_err();
            assert_eq!(hidden.code, Code::OrderNotFound, "{stranger}: the scopes are not told before the order is found");
        }
        let unavailable = propose(&app, &rig, "#1001", new_york()).await.unwrap_err();
        assert_eq!(unavailable.code, Code::ActionUnavailable);
        assert_eq!(unavailable.details.unwrap()["missing"], json!(["write_orders"]));
        let before_policy = propose(&app, &rig, "#1002", new_york()).await.unwrap_err();
        assert_eq!(before_policy.code, Code::ActionUnavailable, "the scopes come before the policy");
        assert!(updates_sent(&app).is_empty());
    }

    async fn approval_mode_waits_for_a_person_whose_approval_skips_the_window(app: TestApp) {
        let rig = readdressing(&app, us_shop(unshipped("#1001")), ActionMode::Approval).await;
        let proposal = propose(&app, &rig, "#1001", new_york()).await.unwrap();

        let waiting = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_eq!(waiting.status, "pending_approval");
        assert!(waiting.summary.starts_with("Nothing has changed yet"), "{}", waiting.summary);
        assert_eq!(app.shopify.address_updates(US, "#1001"), 0);
        let other = OrganizationId::parse(&app.other_org()).unwrap();
        let hidden = actions::approve(&rig.ports, &deadline(), &other, "rep-1", &proposal.proposal_id).await.unwrap_err();
        assert_eq!(hidden.code, Code::ProposalNotFound);
        rig.clock.advance(chrono::Duration::minutes(61));
        let approved = actions::approve(&rig.ports, &deadline(), &org(&app), "rep-1", &proposal.proposal_id).await.unwrap();

        assert_eq!(approved.status, ActionStatus::Done, "windows are not checked at approval");
        assert_eq!(approved.actor, "rep-1");
        assert_eq!(shipping(&app, "#1001").city, "New York");
        assert_eq!(app.shopify.address_updates(US, "#1001"), 1);
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "pending_approval", "approved", "executing", "done"]);
    }

    async fn simulate_mode_changes_nothing_and_sends_nothing(app: TestApp) {
        let rig = readdressing(&app, us_shop(unshipped("#1001")), ActionMode::Simulate).await;
        let proposal = propose(&app, &rig, "#1001", new_york()).await.unwrap();

        let simulated = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_eq!(simulated.status, "simulated");
        assert!(simulated.summary.contains("no change was made"), "{}", simulated.summary);
        assert_eq!(app.shopify.address_updates(US, "#1001"), 0);
        assert!(updates_sent(&app).is_empty());
        assert_eq!(shipping(&app, "#1001"), portland());
    }
}

/// Another address in the United States, for a second proposal.
fn buffalo() -> Value {
    json!({
        "first_name": "Jane", "last_name": "Doe", "address1": "1 Niagara Sq",
        "city": "Buffalo", "province_code": "NY", "zip": "14202", "country_code": "US",
    })
}
