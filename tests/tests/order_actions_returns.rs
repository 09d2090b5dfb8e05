//! Order actions: the AI requests a return of shipped items for a verified shopper — the items
//! named as the order lookup shows them, taken from the oldest shipment first, checked against
//! Shopify's returnable fulfillments and the store's policy, proposed, confirmed with the
//! shopper's own yes, sent exactly once as `returnRequest` (never a refund), verified by
//! reading the order's returns back, and on the record. Every scenario runs in memory and on
//! moto (records in DynamoDB).

mod common;

use serde_json::{json, Value};
use shared::actions::{self, ActionAnswer, ActionFailure};
use shared::domain::{ActionKind, ActionMode, ActionStatus, OrganizationId, ReturnPolicy};
use shared::Code;
use tests::actions::{deadline, setup, shopper, ActionRig, CONVERSATION, JANE, US};
use tests::app::TestApp;
use tests::fake_shopify::returns::OPERATIONS;
use tests::fake_shopify::{FakeFulfillment, FakeOrder, FakeProduct, FakeShop, Fault};

/// RFC 3339, `days` before now.
fn days_ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A delivered order of four line items in two shipments, the newer one listed first:
/// shipment 0 (fulfilled 4 days ago, delivered 2 days ago) carries 1 Trail Runner and 2 Socks;
/// shipment 1 (fulfilled 10 days ago, delivered 8 days ago) 2 Trail Runners and both hats.
fn shipped(name: &str) -> FakeOrder {
    let mut order = FakeOrder::new(name, &days_ago(12), JANE).with_fulfillments(vec![
        FakeFulfillment::delivered(&[(0, 1), (3, 2)], &days_ago(2)),
        FakeFulfillment::delivered(&[(0, 2), (1, 1), (2, 1)], &days_ago(8)),
    ]);
    order.line_items = vec![
        ("Trail Runner".into(), Some("42 / Blue".into()), 3),
        ("Wool Hat".into(), Some("Red".into()), 1),
        ("Wool Hat".into(), Some("Grey".into()), 1),
        ("Socks".into(), None, 2),
    ];
    order
}

/// demo-us with the return scopes.
fn shop() -> FakeShop {
    FakeShop::new("demo-us").with_return_scopes()
}

/// Connects `shop` and turns return requests on in `mode`.
async fn setup_returns(app: &TestApp, shop: FakeShop, mode: ActionMode) -> ActionRig {
    let rig = setup(app, shop, mode).await;
    policy(app, |p| {
        p.enabled = true;
        p.mode = mode;
    })
    .await;
    rig
}

/// Changes the org's `request_return` policy.
async fn policy(app: &TestApp, change: impl FnOnce(&mut ReturnPolicy)) {
    let org = OrganizationId::parse(&app.org).unwrap();
    let stores = &app.services.storage.stores;
    let mut settings = stores.get_settings(&org).await.unwrap();
    change(&mut settings.order_actions.request_return);
    stores.put_settings(&org, &settings).await.unwrap();
}

fn request(order: &str, items: Value) -> Value {
    json!({"order_number": order, "items": items, "reason": "defective"})
}

async fn propose(
    app: &TestApp,
    rig: &ActionRig,
    arguments: Value,
) -> Result<ActionAnswer, ActionFailure> {
    actions::propose(
        &rig.ports,
        &deadline(),
        &shopper(&app.org, JANE, CONVERSATION, false),
        ActionKind::RequestReturn,
        &arguments,
    )
    .await
}

async fn confirm(app: &TestApp, rig: &ActionRig, id: &str) -> Result<ActionAnswer, ActionFailure> {
    actions::confirm(
        &rig.ports,
        &deadline(),
        &shopper(&app.org, JANE, CONVERSATION, true),
        id,
        true,
    )
    .await
}

async fn get(app: &TestApp, rig: &ActionRig, id: &str) -> ActionAnswer {
    actions::get(
        &rig.ports,
        &deadline(),
        &shopper(&app.org, JANE, CONVERSATION, false),
        id,
    )
    .await
    .unwrap()
}

fn reason(failure: &ActionFailure) -> &str {
    failure.details.as_ref().unwrap()["reason"]
        .as_str()
        .unwrap()
}

/// How many requests for `operation` the fake received.
fn sent(app: &TestApp, operation: &str) -> usize {
    app.shopify
        .received()
        .iter()
        .filter(|r| r.operation.as_deref() == Some(operation))
        .count()
}

/// What the fake's returns of `order` carry: (shipment, line item index, quantity), sorted.
fn returned(app: &TestApp, order: &str) -> Vec<Vec<(usize, usize, i64)>> {
    app.shopify
        .returns(US, order)
        .iter()
        .map(|r| {
            let mut lines: Vec<_> = r
                .lines
                .iter()
                .map(|l| (l.fulfillment, l.line_item, l.quantity))
                .collect();
            lines.sort();
            lines
        })
        .collect()
}

async fn record(app: &TestApp, rig: &ActionRig, id: &str) -> shared::actions::ActionRecord {
    let org = OrganizationId::parse(&app.org).unwrap();
    rig.ports
        .actions
        .get(&org, id)
        .await
        .unwrap()
        .expect("the record")
}

#[test]
fn the_manifests_examples_are_accepted_as_they_are() {
    use shared::actions::OrderAction;
    let manifest: Value =
        serde_json::from_str(include_str!("../../functions/order-actions/tools.json")).unwrap();
    let tool = manifest["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "request_return")
        .unwrap();
    let examples = tool["input_schema"]["examples"].as_array().unwrap();
    assert!(!examples.is_empty());
    for example in examples {
        let request = shared::actions::RequestReturn
            .parse(example)
            .unwrap_or_else(|e| panic!("{example}: {e:?}"));
        assert_eq!(request.arguments["reason"], example["reason"]);
    }
}

both_backends! {
    async fn an_eligible_return_is_requested_once_with_the_items_taken_from_the_oldest_shipment_first(app: TestApp) {
        let rig = setup_returns(&app, shop().with_order(shipped("#1001")), ActionMode::Live).await;
        let before = app.shopify.received().len();

        let proposal = propose(&app, &rig, json!({
            "order_number": "#1001",
            "items": [{"line_item": "trail runner", "quantity": 3}, {"line_item": 4, "quantity": 1}],
            "reason": "defective",
            "note": "  The sole came off.  ",
        })).await.unwrap();

        assert_eq!(proposal.status, "confirmation_required");
        assert!(proposal.summary.contains("3 × Trail Runner (42 / Blue) and 1 × Socks"), "{}", proposal.summary);
        assert!(proposal.summary.contains("The store reviews the request") && proposal.summary.contains("nothing is refunded now"), "{}", proposal.summary);
        let effects = proposal.effects.clone().unwrap();
        assert_eq!(effects["refund_now"], false);
        assert_eq!(effects["reason"]["handle"], "defective");
        assert_eq!(effects["items"][0]["quantity"], 3);
        assert_eq!(app.shopify.return_requests(US, "#1001"), 0, "a proposal writes nothing");

        let done = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_eq!(done.status, "done", "{done:?}");
        let outcome = done.order.unwrap();
        assert_eq!(outcome["return"]["status"], "REQUESTED");
        assert_eq!(outcome["return_status"], "RETURN_REQUESTED");
        let created = app.shopify.returns(US, "#1001");
        assert_eq!(created.len(), 1);
        assert_eq!(created[0].status, "REQUESTED");
        assert_eq!(outcome["return"]["id"], created[0].id.as_str());
        assert_eq!(
            returned(&app, "#1001"),
            [vec![(0, 0, 1), (0, 3, 1), (1, 0, 2)]],
            "two runners from the older shipment, the third and the socks from the newer one"
        );
        let reason_id = app.shopify.return_reason_id(US, "defective");
        for line in &created[0].lines {
            assert_eq!(line.reason_definition_id.as_deref(), Some(reason_id.as_str()));
            assert_eq!(line.deprecated_reason, None, "the deprecated returnReason is never sent");
            assert_eq!(line.customer_note.as_deref(), Some("The sole came off."));
        }
        assert_eq!(app.shopify.order(US, "#1001").return_status, "RETURN_REQUESTED");
        assert_eq!(app.shopify.return_requests(US, "#1001"), 1);

        // Never a refund: the only write is the return request, and no money moved.
        let reads = ["ActionOrdersByName", "FindOrderIdsByName", "ActionOrdersByIds", "ActionOrder"];
        let operations: Vec<String> = app.shopify.received()[before..].iter().filter_map(|r| r.operation.clone()).collect();
        assert!(operations.iter().all(|op| reads.contains(&op.as_str()) || OPERATIONS.contains(&op.as_str())), "{operations:?}");
        assert_eq!(operations.iter().filter(|op| *op == "RequestReturn").count(), 1);
        let order = app.shopify.order(US, "#1001");
        assert_eq!(order.financial_status, "PAID");
        assert!(order.transactions.iter().all(|t| t.kind == "SALE"), "{:?}", order.transactions);
        assert_eq!(app.shopify.cancel_calls(US, "#1001"), 0);

        // Each return read stays within 150 requested points.
        for (_, operation, requested, _) in app.shopify.spent() {
            if OPERATIONS.contains(&operation.as_str()) {
                assert!(requested <= 150.0, "{operation}: {requested}");
            }
        }

        // The record and its events.
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "done"]);
        let events = rig.events.order_actions();
        assert!(events.iter().all(|e| e.action == ActionKind::RequestReturn && e.order_name == "#1001"
            && e.conversation_id.as_deref() == Some(CONVERSATION) && e.actor == "ai"));
        assert!(events[0].summary.contains("Trail Runner"));
        let stored = record(&app, &rig, &proposal.proposal_id).await;
        assert_eq!(stored.kind, ActionKind::RequestReturn);
        assert_eq!(stored.status, ActionStatus::Done);
        assert_eq!(stored.arguments, json!({
            "order_number": "#1001",
            "items": [{"line_item": "trail runner", "quantity": 3}, {"line_item": 4, "quantity": 1}],
            "reason": "defective",
            "note": "The sole came off.",
        }));
        assert_eq!(stored.order_id, app.shopify.order_gid(US, "#1001"));
        assert_eq!(stored.outcome.as_ref().unwrap()["return"]["status"], "REQUESTED");
        assert_eq!(get(&app, &rig, &proposal.proposal_id).await.status, "done");
        let page = actions::list(&rig.ports, &deadline(), &OrganizationId::parse(&app.org).unwrap(), &Default::default(), None).await.unwrap();
        assert_eq!(page.actions.len(), 1);
        assert_eq!(page.actions[0].action, ActionKind::RequestReturn);
        assert_eq!(page.actions[0].status, ActionStatus::Done);
    }

    async fn each_ineligible_return_is_refused_with_its_reason_and_nothing_is_sent(app: TestApp) {
        let mut partly = FakeOrder::new("#2002", &days_ago(5), JANE)
            .partly_fulfilled()
            .with_fulfillments(vec![FakeFulfillment::delivered(&[(0, 1)], &days_ago(2))]);
        partly.line_items.push(("Cap".into(), None, 1));
        let one_runner = |name: &str, fulfillment: FakeFulfillment| {
            FakeOrder::new(name, &days_ago(60), JANE).with_fulfillments(vec![fulfillment])
        };
        let cases: Vec<(FakeOrder, Value, &str)> = vec![
            (FakeOrder::unfulfilled("#2001", 5, JANE), json!([{"line_item": 1, "quantity": 1}]), "not_fulfilled"),
            (partly, json!([{"line_item": "Cap", "quantity": 1}]), "not_fulfilled"),
            (shipped("#2003"), json!([{"line_item": "Trail Runner", "quantity": 1}]), "not_returnable"),
            (shipped("#2004"), json!([{"line_item": "Trail Runner", "quantity": 4}]), "not_returnable"),
            (shipped("#2005").with_tags(&["Final-Sale"]), json!([{"line_item": "Socks", "quantity": 1}]), "excluded_tag"),
            (one_runner("#2006", FakeFulfillment::delivered(&[(0, 1)], &days_ago(31))), json!([{"line_item": 1, "quantity": 1}]), "outside_window"),
            (one_runner("#2007", FakeFulfillment::in_transit(&[(0, 1)]).created_at(&days_ago(31))), json!([{"line_item": 1, "quantity": 1}]), "outside_window"),
            (shipped("#2008").cancelled(&days_ago(1)), json!([{"line_item": "Socks", "quantity": 1}]), "already_cancelled"),
        ];
        let mut fake = shop();
        for (order, _, _) in &cases {
            fake = fake.with_order(order.clone());
        }
        // Every runner of #2003 is already on a return.
        fake = fake.with_requested_return("#2003", &[(0, 0, 1), (1, 0, 2)]);
        let rig = setup_returns(&app, fake, ActionMode::Live).await;

        for (order, items, expected) in &cases {
            let refused = propose(&app, &rig, request(&order.name, items.clone())).await.unwrap_err();
            assert_eq!(refused.code, Code::ActionNotAllowed, "{}: {refused:?}", order.name);
            assert_eq!(reason(&refused), *expected, "{}: {}", order.name, refused.message);
            assert!(!refused.message.is_empty());
        }
        let nothing_shipped = propose(&app, &rig, request("#2001", json!([{"line_item": 1, "quantity": 1}]))).await.unwrap_err();
        assert_eq!(nothing_shipped.details.unwrap()["alternative"], "cancel_order");
        let only_some = propose(&app, &rig, request("#2004", json!([{"line_item": "Trail Runner", "quantity": 4}]))).await.unwrap_err();
        assert!(only_some.message.contains("Only 3 of Trail Runner (42 / Blue)"), "{}", only_some.message);
        for (order, _, _) in &cases {
            assert_eq!(app.shopify.return_requests(US, &order.name), 0, "{}", order.name);
        }
        assert_eq!(sent(&app, "RequestReturn"), 0);
        assert!(rig.events.order_actions().is_empty(), "nothing proposed, nothing announced");
    }

    async fn the_window_counts_from_delivery_and_from_the_fulfillment_when_there_is_no_delivery_date(app: TestApp) {
        let runner = |name: &str, fulfillment: FakeFulfillment| {
            FakeOrder::new(name, &days_ago(60), JANE).with_fulfillments(vec![fulfillment])
        };
        let fake = shop()
            .with_order(runner("#3001", FakeFulfillment::delivered(&[(0, 1)], &days_ago(9)).created_at(&days_ago(12))))
            .with_order(runner("#3002", FakeFulfillment::in_transit(&[(0, 1)]).created_at(&days_ago(9))))
            .with_order(runner("#3003", FakeFulfillment::in_transit(&[(0, 1)]).created_at(&days_ago(11))));
        let rig = setup_returns(&app, fake, ActionMode::Live).await;
        policy(&app, |p| p.window_days = 10).await;
        let one = json!([{"line_item": 1, "quantity": 1}]);

        let delivered = propose(&app, &rig, request("#3001", one.clone())).await;
        let in_transit = propose(&app, &rig, request("#3002", one.clone())).await;
        let late = propose(&app, &rig, request("#3003", one)).await.unwrap_err();

        assert_eq!(delivered.unwrap().status, "confirmation_required", "fulfilled 12 days ago, delivered 9 days ago");
        assert_eq!(in_transit.unwrap().status, "confirmation_required", "fulfilled 9 days ago");
        assert_eq!(reason(&late), "outside_window", "fulfilled 11 days ago, no delivery date");
        assert!(late.message.contains("10 days"), "{}", late.message);
    }

    async fn shipments_over_several_pages_are_all_read_and_more_than_can_be_read_are_refused(app: TestApp) {
        // One runner a shipment, newest first: the oldest ones are on the second page.
        let order = |name: &str, shipments: usize| {
            let mut order = FakeOrder::new(name, &days_ago(20), JANE).with_fulfillments(
                (0..shipments)
                    .map(|i| FakeFulfillment::delivered(&[(0, 1)], &days_ago(1 + i as i64)))
                    .collect(),
            );
            order.line_items[0].2 = shipments as i64;
            order
        };
        let rig = setup_returns(&app, shop().with_order(order("#1001", 5)).with_order(order("#1002", 10)), ActionMode::Live).await;

        let proposal = propose(&app, &rig, request("#1001", json!([{"line_item": 1, "quantity": 2}]))).await.unwrap();
        let too_many = propose(&app, &rig, request("#1002", json!([{"line_item": 1, "quantity": 1}]))).await.unwrap_err();

        assert_eq!(confirm(&app, &rig, &proposal.proposal_id).await.unwrap().status, "done");
        assert_eq!(returned(&app, "#1001"), [vec![(3, 0, 1), (4, 0, 1)]], "the two oldest shipments");
        assert_eq!(reason(&too_many), "too_many_items");
    }

    async fn an_unknown_reason_is_invalid_and_lists_the_stores_reason_handles(app: TestApp) {
        let rig = setup_returns(&app, shop().with_order(shipped("#1001")), ActionMode::Live).await;

        let refused = propose(&app, &rig, json!({
            "order_number": "#1001", "items": [{"line_item": "Socks", "quantity": 1}], "reason": "too_small",
        })).await.unwrap_err();

        assert_eq!(refused.code, Code::InvalidArguments);
        let details = refused.details.unwrap();
        assert_eq!(details["field"], "reason");
        let handles: Vec<&str> = details["handles"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
        assert!(handles.contains(&"size_too_small") && handles.contains(&"defective") && handles.contains(&"unwanted"), "{handles:?}");
        assert!(!handles.contains(&"style"), "a deleted reason is not offered");
        assert!(refused.message.contains("size_too_small"), "{}", refused.message);
        let upper = propose(&app, &rig, json!({
            "order_number": "#1001", "items": [{"line_item": "Socks", "quantity": 1}], "reason": " Size_Too_Small ",
        })).await.unwrap();
        assert_eq!(upper.effects.unwrap()["reason"]["handle"], "size_too_small");
        assert_eq!(app.shopify.return_requests(US, "#1001"), 0);
    }

    async fn a_title_two_items_share_is_invalid_listing_them_and_a_position_picks_one(app: TestApp) {
        let rig = setup_returns(&app, shop().with_order(shipped("#1001")), ActionMode::Live).await;

        let ambiguous = propose(&app, &rig, request("#1001", json!([{"line_item": "WOOL HAT", "quantity": 1}]))).await.unwrap_err();

        assert_eq!(ambiguous.code, Code::InvalidArguments);
        let matches = ambiguous.details.as_ref().unwrap()["matches"].as_array().unwrap().clone();
        let listed: Vec<(u64, &str)> = matches.iter().map(|m| (m["position"].as_u64().unwrap(), m["variant_title"].as_str().unwrap())).collect();
        assert_eq!(listed, [(2, "Red"), (3, "Grey")]);
        let missing = propose(&app, &rig, request("#1001", json!([{"line_item": "Scarf", "quantity": 1}]))).await.unwrap_err();
        assert_eq!(missing.code, Code::InvalidArguments);
        assert_eq!(missing.details.unwrap()["line_items"].as_array().unwrap().len(), 4);
        let beyond = propose(&app, &rig, request("#1001", json!([{"line_item": 5, "quantity": 1}]))).await.unwrap_err();
        assert_eq!(beyond.code, Code::InvalidArguments);

        let grey = propose(&app, &rig, request("#1001", json!([{"line_item": 3, "quantity": 1}]))).await.unwrap();
        assert!(grey.summary.contains("1 × Wool Hat (Grey)"), "{}", grey.summary);
        assert_eq!(confirm(&app, &rig, &grey.proposal_id).await.unwrap().status, "done");
        assert_eq!(returned(&app, "#1001"), [vec![(1, 2, 1)]], "the grey hat, from the shipment that carried it");
    }

    async fn a_note_longer_than_300_characters_is_refused_before_anything_is_read(app: TestApp) {
        let rig = setup_returns(&app, shop().with_order(shipped("#1001")), ActionMode::Live).await;
        let before = app.shopify.requests_to(US);
        let mut arguments = request("#1001", json!([{"line_item": "Socks", "quantity": 1}]));
        arguments["note"] = Value::from("x".repeat(301));

        let refused = propose(&app, &rig, arguments.clone()).await.unwrap_err();

        assert_eq!(refused.code, Code::InvalidArguments);
        assert_eq!(refused.details.unwrap()["field"], "note");
        assert_eq!(app.shopify.requests_to(US), before, "refused before the store is asked anything");
        arguments["note"] = Value::from("x".repeat(300));
        assert_eq!(propose(&app, &rig, arguments).await.unwrap().status, "confirmation_required");
    }

    async fn only_the_verified_owner_with_her_own_yes_can_request_a_return(app: TestApp) {
        let fake = shop().with_order(shipped("#1001")).with_order(shipped("#1002").without_email());
        let rig = setup_returns(&app, fake, ActionMode::Live).await;
        let one = request("#1001", json!([{"line_item": "Socks", "quantity": 1}]));
        let mut unverified = shopper(&app.org, JANE, CONVERSATION, false);
        unverified.email_verified = false;

        let refused = actions::propose(&rig.ports, &deadline(), &unverified, ActionKind::RequestReturn, &one).await.unwrap_err();
        assert_eq!(refused.code, Code::VerificationRequired);
        let stranger = actions::propose(&rig.ports, &deadline(), &shopper(&app.org, "someone@example.com", CONVERSATION, false), ActionKind::RequestReturn, &one).await.unwrap_err();
        assert_eq!(stranger.code, Code::OrderNotFound);
        let no_email = propose(&app, &rig, request("#1002", json!([{"line_item": "Socks", "quantity": 1}]))).await.unwrap_err();
        assert_eq!(no_email.code, Code::OrderNotFound, "an order without an email belongs to no one");

        let proposal = propose(&app, &rig, one).await.unwrap();
        let unconfirmed = actions::confirm(&rig.ports, &deadline(), &shopper(&app.org, JANE, CONVERSATION, false), &proposal.proposal_id, false).await.unwrap();
        assert_eq!(unconfirmed.status, "confirmation_required");
        assert_eq!(unconfirmed.proposal_id, proposal.proposal_id);
        for (email, conversation) in [("other@example.com", CONVERSATION), (JANE, "another-conversation")] {
            let other = actions::confirm(&rig.ports, &deadline(), &shopper(&app.org, email, conversation, true), &proposal.proposal_id, true).await.unwrap_err();
            assert_eq!(other.code, Code::ProposalNotFound);
        }
        assert_eq!(app.shopify.return_requests(US, "#1001"), 0);
        assert_eq!(confirm(&app, &rig, &proposal.proposal_id).await.unwrap().status, "done");
    }

    async fn a_return_whose_order_or_returnable_items_changed_after_the_proposal_is_not_sent(app: TestApp) {
        let rig = setup_returns(&app, shop().with_order(shipped("#1001")), ActionMode::Live).await;
        let one_runner = request("#1001", json!([{"line_item": "Trail Runner", "quantity": 1}]));
        let proposal = propose(&app, &rig, one_runner.clone()).await.unwrap();
        // One of the older shipment's runners went back meanwhile (the order's return status
        // left as it was): the runner still can, from the same shipment, but fewer could.
        app.shopify.update_shop(US, |s| {
            *s = s.clone().with_requested_return("#1001", &[(1, 0, 1)]);
            s.orders[0].return_status = "NO_RETURN".into();
        });

        let refused = confirm(&app, &rig, &proposal.proposal_id).await.unwrap_err();

        assert_eq!(refused.code, Code::ActionNotAllowed);
        assert_eq!(reason(&refused), "order_changed");
        let proposal = propose(&app, &rig, one_runner).await.unwrap();
        app.shopify.update_order(US, "#1001", |o| o.line_items[3].2 = 3);
        let refused = confirm(&app, &rig, &proposal.proposal_id).await.unwrap_err();
        assert_eq!(reason(&refused), "order_changed", "a line item's quantity changed");
        assert_eq!(app.shopify.return_requests(US, "#1001"), 0);
    }

    async fn a_new_proposal_for_the_order_expires_the_open_one(app: TestApp) {
        let rig = setup_returns(&app, shop().with_order(shipped("#1001")), ActionMode::Live).await;
        let first = propose(&app, &rig, request("#1001", json!([{"line_item": "Socks", "quantity": 1}]))).await.unwrap();
        let second = propose(&app, &rig, request("#1001", json!([{"line_item": "Socks", "quantity": 2}]))).await.unwrap();

        let refused = confirm(&app, &rig, &first.proposal_id).await.unwrap_err();

        assert_eq!(refused.code, Code::ProposalExpired);
        assert_eq!(confirm(&app, &rig, &second.proposal_id).await.unwrap().status, "done");
        assert_eq!(returned(&app, "#1001"), [vec![(0, 3, 2)]]);
        assert_eq!(rig.statuses(&first.proposal_id), ["proposed", "expired"]);
    }

    async fn checks_run_disabled_first_then_the_order_and_identity_then_scopes_then_policy(app: TestApp) {
        let fake = FakeShop::new("demo-us")
            .with_order(shipped("#1001").with_tags(&["final-sale"]))
            .with_order(FakeOrder::new("#1002", &days_ago(3), "someone@example.com"));
        let rig = setup(&app, fake, ActionMode::Live).await;
        let mut unverified = shopper(&app.org, JANE, CONVERSATION, false);
        unverified.email_verified = false;
        let own = request("#1001", json!([{"line_item": "Socks", "quantity": 1}]));

        for (inv, arguments) in [(&unverified, &own), (&shopper(&app.org, JANE, CONVERSATION, false), &request("#9999", json!([{"line_item": 1, "quantity": 1}])))] {
            let off = actions::propose(&rig.ports, &deadline(), inv, ActionKind::RequestReturn, arguments).await.unwrap_err();
            assert_eq!(off.code, Code::ActionDisabled, "off says nothing about the order or the shopper");
        }
        policy(&app, |p| p.enabled = true).await;
        let unverified_answer = actions::propose(&rig.ports, &deadline(), &unverified, ActionKind::RequestReturn, &own).await.unwrap_err();
        assert_eq!(unverified_answer.code, Code::VerificationRequired);
        let someone_elses = propose(&app, &rig, request("#1002", json!([{"line_item": 1, "quantity": 1}]))).await.unwrap_err();
        assert_eq!(someone_elses.code, Code::OrderNotFound, "a stranger's order reads as missing, not as a missing scope");
        let unavailable = propose(&app, &rig, own).await.unwrap_err();
        assert_eq!(unavailable.code, Code::ActionUnavailable, "scopes before the policy (the order is final sale)");
        assert_eq!(unavailable.details.unwrap()["missing"], json!(["write_returns", "read_returns"]));
        assert_eq!(sent(&app, "ReturnableFulfillments") + sent(&app, "ReturnContext"), 0);
    }

    async fn a_store_without_write_returns_is_unavailable_naming_the_scope_before_and_after_the_proposal(app: TestApp) {
        let fake = FakeShop::new("demo-us").with_scopes(&["read_orders", "read_products", "read_customers", "read_returns"]).with_order(shipped("#1001"));
        let rig = setup_returns(&app, fake, ActionMode::Live).await;
        let one = request("#1001", json!([{"line_item": "Socks", "quantity": 1}]));
        let refused = propose(&app, &rig, one.clone()).await.unwrap_err();
        assert_eq!(refused.code, Code::ActionUnavailable);
        assert_eq!(refused.details.unwrap()["missing"], json!(["write_returns"]));

        app.shopify.update_shop(US, |s| s.scopes.push("write_returns".into()));
        let (status, store) = app.get_store("demo-us", true).await;
        assert_eq!(status, 200, "verified with the new scope: {store}");
        let proposal = propose(&app, &rig, one).await.unwrap();
        // The merchant takes write_returns away before the shopper says yes.
        app.shopify.update_shop(US, |s| s.scopes.retain(|scope| scope != "write_returns"));

        let lost = confirm(&app, &rig, &proposal.proposal_id).await.unwrap_err();

        assert_eq!(lost.code, Code::ActionUnavailable, "{lost:?}");
        assert_eq!(lost.details.unwrap()["missing"], json!(["write_returns"]));
        assert!(app.shopify.returns(US, "#1001").is_empty());
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "failed"]);
        assert_eq!(record(&app, &rig, &proposal.proposal_id).await.reason.as_deref(), Some("not_sent"));
        // With read_returns gone too, the returnable items cannot be read: the scope is named.
        app.shopify.update_shop(US, |s| s.scopes.retain(|scope| scope != "read_returns"));
        let unreadable = propose(&app, &rig, request("#1001", json!([{"line_item": "Socks", "quantity": 1}]))).await.unwrap_err();
        assert_eq!(unreadable.code, Code::ActionUnavailable, "{unreadable:?}");
        assert_eq!(unreadable.details.unwrap()["missing"], json!(["read_returns"]));
    }

    async fn two_concurrent_confirmations_and_a_retry_send_exactly_one_return_request(app: TestApp) {
        let rig = setup_returns(&app, shop().with_order(shipped("#1001")), ActionMode::Live).await;
        let proposal = propose(&app, &rig, request("#1001", json!([{"line_item": "Trail Runner", "quantity": 2}]))).await.unwrap();

        let (a, b) = tokio::join!(
            confirm(&app, &rig, &proposal.proposal_id),
            confirm(&app, &rig, &proposal.proposal_id)
        );
        let retry = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        let statuses = [a.unwrap().status, b.unwrap().status];
        assert!(statuses.contains(&"done".to_owned()), "{statuses:?}");
        assert!(statuses.iter().all(|s| s == "done" || s == "executing"), "{statuses:?}");
        assert_eq!(retry.status, "done");
        assert_eq!(sent(&app, "RequestReturn"), 1);
        assert_eq!(returned(&app, "#1001"), [vec![(1, 0, 2)]]);
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "done"]);
    }

    async fn a_lost_answer_whose_return_exists_is_done_with_that_return_without_a_second_request(app: TestApp) {
        let rig = setup_returns(&app, shop().with_order(shipped("#1001")), ActionMode::Live).await;
        let one_sock = request("#1001", json!([{"line_item": "Socks", "quantity": 1}]));
        // An earlier return of exactly the same item and quantity, moments before.
        let earlier = propose(&app, &rig, one_sock.clone()).await.unwrap();
        assert_eq!(confirm(&app, &rig, &earlier.proposal_id).await.unwrap().status, "done");
        // Both hats go back on returns someone else requests right after ours lands: listed
        // after it, they push it out of any short "newest" list.
        app.shopify.update_shop(US, |s| {
            *s = s.clone().with_returns_requested_alongside("#1001", &[&[(1, 1, 1)], &[(1, 2, 1)]]);
            s.lose_answer("RequestReturn", Fault::status(502));
        });
        let proposal = propose(&app, &rig, one_sock).await.unwrap();
        assert_eq!(proposal.effects.as_ref().unwrap()["items"], earlier.effects.as_ref().unwrap()["items"], "the same fulfillment line item and quantity");

        let answered = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        let returns = app.shopify.returns(US, "#1001");
        assert_eq!(returns.len(), 4, "the earlier one, ours, and the two hats");
        assert_eq!(answered.status, "done", "the order's returns show it: {answered:?}");
        let outcome = answered.order.unwrap();
        assert_eq!(outcome["return"]["id"], returns[1].id.as_str(), "ours, not the earlier return of the same sock");
        assert_eq!(outcome["return"]["status"], "REQUESTED");
        assert_eq!(sent(&app, "RequestReturn"), 2);
        let settled = get(&app, &rig, &proposal.proposal_id).await;
        assert_eq!(settled.status, "done");
        assert_eq!(settled.order.unwrap()["return"]["id"], returns[1].id.as_str());
        assert_eq!(sent(&app, "RequestReturn"), 2, "never sent again");
        assert_eq!(record(&app, &rig, &proposal.proposal_id).await.created_id, None, "Shopify's answer never came");
    }

    async fn a_request_lost_before_shopify_ran_it_is_not_taken_for_an_earlier_return_of_the_same_items(app: TestApp) {
        let rig = setup_returns(&app, shop().with_order(shipped("#1001")), ActionMode::Live).await;
        let one_sock = request("#1001", json!([{"line_item": "Socks", "quantity": 1}]));
        let earlier = propose(&app, &rig, one_sock.clone()).await.unwrap();
        assert_eq!(confirm(&app, &rig, &earlier.proposal_id).await.unwrap().status, "done");
        app.shopify.update_shop(US, |s| s.fail_operation("RequestReturn", Fault::status(502)));
        let proposal = propose(&app, &rig, one_sock).await.unwrap();
        assert_eq!(proposal.effects.as_ref().unwrap()["items"], earlier.effects.as_ref().unwrap()["items"], "the same fulfillment line item and quantity");

        let answered = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_eq!(answered.status, "in_progress", "the earlier return is not this one: {answered:?}");
        assert_eq!(get(&app, &rig, &proposal.proposal_id).await.status, "in_progress", "within the lease it may still land");
        rig.clock.advance(chrono::Duration::minutes(3));
        actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap();
        let failed = get(&app, &rig, &proposal.proposal_id).await;
        assert_eq!(failed.status, "failed");
        assert_eq!(failed.details.unwrap()["reason"], "return_not_created");
        assert_eq!(app.shopify.returns(US, "#1001").len(), 1, "only the earlier one");
        assert_eq!(sent(&app, "RequestReturn"), 2, "never sent again");
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "in_progress", "failed"]);
    }

    async fn the_return_shopify_answered_with_is_found_by_its_id_though_newer_returns_are_listed(app: TestApp) {
        let fake = shop().with_order(shipped("#1001")).with_returns_requested_alongside("#1001", &[&[(1, 1, 1)], &[(1, 2, 1)]]);
        let rig = setup_returns(&app, fake, ActionMode::Live).await;
        let proposal = propose(&app, &rig, request("#1001", json!([{"line_item": "Socks", "quantity": 1}]))).await.unwrap();

        let answered = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        let returns = app.shopify.returns(US, "#1001");
        assert_eq!(returns.len(), 3, "ours, then both hats");
        assert_eq!(answered.status, "done", "{answered:?}");
        assert_eq!(answered.order.unwrap()["return"]["id"], returns[0].id.as_str());
        let stored = record(&app, &rig, &proposal.proposal_id).await;
        assert_eq!(stored.created_id.as_deref(), Some(returns[0].id.as_str()), "what Shopify named is on the record");
        assert_eq!(stored.status, ActionStatus::Done);
        assert_eq!(sent(&app, "OrderReturns"), 0, "read by its id, not looked for");
    }

    async fn a_return_shopify_answered_with_is_never_failed_while_it_cannot_be_read(app: TestApp) {
        let mut fake = shop().with_order(shipped("#1001"));
        fake.fail_operation("ReturnById", Fault::status(502));
        let rig = setup_returns(&app, fake, ActionMode::Live).await;
        let proposal = propose(&app, &rig, request("#1001", json!([{"line_item": "Socks", "quantity": 1}]))).await.unwrap();

        let answered = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_eq!(answered.status, "in_progress", "{answered:?}");
        let created = app.shopify.returns(US, "#1001");
        assert_eq!(created.len(), 1);
        assert_eq!(record(&app, &rig, &proposal.proposal_id).await.created_id.as_deref(), Some(created[0].id.as_str()));
        rig.clock.advance(chrono::Duration::minutes(3));
        actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap();
        assert_eq!(get(&app, &rig, &proposal.proposal_id).await.status, "in_progress", "past the lease, but Shopify said it created it");
        app.shopify.update_shop(US, |s| s.broken_operations.clear());
        let done = get(&app, &rig, &proposal.proposal_id).await;
        assert_eq!(done.status, "done");
        assert_eq!(done.order.unwrap()["return"]["id"], created[0].id.as_str());
        assert_eq!(sent(&app, "RequestReturn"), 1);
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "in_progress", "done"]);
    }

    async fn a_store_with_only_the_return_scopes_requests_a_return_end_to_end(app: TestApp) {
        // No fulfillment-order scope: Shopify lists none of the order's fulfillment orders,
        // which the return rules do not use.
        let fake = FakeShop::new("demo-us")
            .with_scopes(&["read_orders", "read_products", "read_customers", "read_returns", "write_returns"])
            .with_order(shipped("#1001"));
        let rig = setup_returns(&app, fake, ActionMode::Live).await;

        let proposal = propose(&app, &rig, request("#1001", json!([{"line_item": "Socks", "quantity": 1}]))).await.unwrap();
        let done = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_eq!(done.status, "done", "{done:?}");
        assert_eq!(returned(&app, "#1001"), [vec![(0, 3, 1)]]);
    }

    async fn a_product_tagged_with_an_excluded_tag_is_not_returned_though_the_order_is_not_tagged(app: TestApp) {
        let mut final_sale = FakeProduct::active("Socks", "9.00");
        final_sale.tags = vec!["Final-Sale".into()];
        let fake = shop().with_product(final_sale).with_order(shipped("#1001"));
        let rig = setup_returns(&app, fake, ActionMode::Live).await;

        let refused = propose(&app, &rig, request("#1001", json!([{"line_item": "Trail Runner", "quantity": 1}, {"line_item": "Socks", "quantity": 1}]))).await.unwrap_err();

        assert_eq!(refused.code, Code::ActionNotAllowed);
        assert_eq!(reason(&refused), "excluded_tag", "{}", refused.message);
        assert!(refused.message.contains("Socks"), "{}", refused.message);
        let runner = propose(&app, &rig, request("#1001", json!([{"line_item": "Trail Runner", "quantity": 1}]))).await.unwrap();
        assert_eq!(runner.status, "confirmation_required", "the runner's product carries no excluded tag");
        assert_eq!(sent(&app, "RequestReturn"), 0);
    }

    async fn a_deleted_return_reason_is_not_accepted_and_the_offered_ones_are_listed(app: TestApp) {
        let rig = setup_returns(&app, shop().with_order(shipped("#1001")), ActionMode::Live).await;

        let refused = propose(&app, &rig, json!({
            "order_number": "#1001", "items": [{"line_item": "Socks", "quantity": 1}], "reason": "style",
        })).await.unwrap_err();

        assert_eq!(refused.code, Code::InvalidArguments, "{refused:?}");
        let details = refused.details.unwrap();
        assert_eq!(details["field"], "reason");
        let handles: Vec<&str> = details["handles"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
        assert!(handles.contains(&"defective") && !handles.contains(&"style"), "{handles:?}");
        assert_eq!(sent(&app, "RequestReturn"), 0);
    }

    async fn a_request_lost_before_shopify_ran_it_fails_as_not_created_and_is_never_resent(app: TestApp) {
        let mut fake = shop().with_order(shipped("#1001"));
        fake.fail_operation("RequestReturn", Fault::status(502));
        let rig = setup_returns(&app, fake, ActionMode::Live).await;
        let proposal = propose(&app, &rig, request("#1001", json!([{"line_item": "Socks", "quantity": 1}]))).await.unwrap();

        let answered = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_eq!(answered.status, "in_progress", "its answer never came, so it is not told as done or failed yet");
        assert_eq!(get(&app, &rig, &proposal.proposal_id).await.status, "in_progress", "within the lease it may still land");
        rig.clock.advance(chrono::Duration::minutes(3));
        let report = actions::settle_unsettled(&rig.ports, &deadline()).await.unwrap();
        assert_eq!(report.settled, 1);
        let failed = get(&app, &rig, &proposal.proposal_id).await;
        assert_eq!(failed.status, "failed");
        assert_eq!(failed.details.unwrap()["reason"], "return_not_created");
        assert!(app.shopify.returns(US, "#1001").is_empty());
        assert_eq!(sent(&app, "RequestReturn"), 1, "never sent again");
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "in_progress", "failed"]);
    }

    async fn shopifys_refusal_fails_the_action_with_a_reason_the_ai_can_relay(app: TestApp) {
        let fake = shop()
            .with_order(shipped("#1001"))
            .refusing_returns(&["input", "returnLineItems", "0", "quantity"], "INVALID", "Quantity is not returnable");
        let rig = setup_returns(&app, fake, ActionMode::Live).await;
        let proposal = propose(&app, &rig, request("#1001", json!([{"line_item": "Socks", "quantity": 1}]))).await.unwrap();

        let answered = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_eq!(answered.status, "failed");
        assert_eq!(answered.details.unwrap()["reason"], "not_returnable");
        assert_eq!(app.shopify.return_requests(US, "#1001"), 1);
        assert!(app.shopify.returns(US, "#1001").is_empty());
        app.shopify.update_shop(US, |s| *s = s.clone().refusing_returns(&["input", "orderId"], "INVALID", "Order can't be returned"));
        let proposal = propose(&app, &rig, request("#1001", json!([{"line_item": "Socks", "quantity": 1}]))).await.unwrap();
        let answered = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();
        assert_eq!(answered.status, "failed");
        assert_eq!(answered.details.unwrap()["reason"], "shopify_refused");
        assert_eq!(app.shopify.return_requests(US, "#1001"), 2, "each proposal's request sent once");
        assert!(app.shopify.returns(US, "#1001").is_empty());
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "executing", "failed"]);
    }

    async fn approval_mode_waits_for_a_person_whose_approval_skips_the_window(app: TestApp) {
        // Delivered 3 minutes short of the one-day window.
        let delivered = (chrono::Utc::now() - chrono::Duration::hours(24) + chrono::Duration::minutes(3))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let order = |name: &str| {
            FakeOrder::new(name, &days_ago(5), JANE)
                .with_fulfillments(vec![FakeFulfillment::delivered(&[(0, 1)], &delivered)])
        };
        let fake = shop().with_order(order("#1001")).with_order(order("#1002"));
        let rig = setup_returns(&app, fake, ActionMode::Approval).await;
        policy(&app, |p| p.window_days = 1).await;
        let org = OrganizationId::parse(&app.org).unwrap();
        let proposal = propose(&app, &rig, request("#1001", json!([{"line_item": 1, "quantity": 1}]))).await.unwrap();

        let waiting = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_eq!(waiting.status, "pending_approval");
        assert!(waiting.summary.starts_with("Nothing has changed yet"), "{}", waiting.summary);
        assert_eq!(app.shopify.return_requests(US, "#1001"), 0);
        let late = propose(&app, &rig, request("#1002", json!([{"line_item": 1, "quantity": 1}]))).await.unwrap();
        rig.clock.advance(chrono::Duration::minutes(5));
        let refused = confirm(&app, &rig, &late.proposal_id).await.unwrap_err();
        assert_eq!(reason(&refused), "outside_window", "a confirmation checks the window again");
        rig.clock.advance(chrono::Duration::hours(2));
        let other = OrganizationId::parse(&app.other_org()).unwrap();
        let hidden = actions::approve(&rig.ports, &deadline(), &other, "rep-1", &proposal.proposal_id).await.unwrap_err();
        assert_eq!(hidden.code, Code::ProposalNotFound, "another org sees nothing");
        let approved = actions::approve(&rig.ports, &deadline(), &org, "rep-1", &proposal.proposal_id).await.unwrap();
        assert_eq!(approved.status, ActionStatus::Done, "delivered over a day ago, but approvals skip the window");
        assert_eq!(approved.actor, "rep-1");
        assert_eq!(returned(&app, "#1001"), [vec![(0, 0, 1)]]);
        assert_eq!(rig.statuses(&proposal.proposal_id), ["proposed", "pending_approval", "approved", "executing", "done"]);
        assert_eq!(app.shopify.return_requests(US, "#1002"), 0);
    }

    async fn simulate_mode_sends_no_return_request(app: TestApp) {
        let rig = setup_returns(&app, shop().with_order(shipped("#1001")), ActionMode::Simulate).await;
        let proposal = propose(&app, &rig, request("#1001", json!([{"line_item": "Socks", "quantity": 1}]))).await.unwrap();

        let simulated = confirm(&app, &rig, &proposal.proposal_id).await.unwrap();

        assert_eq!(simulated.status, "simulated");
        assert!(simulated.summary.contains("no change was made"), "{}", simulated.summary);
        assert_eq!(sent(&app, "RequestReturn"), 0);
        assert!(app.shopify.returns(US, "#1001").is_empty());
        assert_eq!(app.shopify.order(US, "#1001").return_status, "NO_RETURN");
    }

    async fn another_org_can_neither_confirm_read_nor_list_a_return_request(app: TestApp) {
        let rig = setup_returns(&app, shop().with_order(shipped("#1001")), ActionMode::Live).await;
        let proposal = propose(&app, &rig, request("#1001", json!([{"line_item": "Socks", "quantity": 1}]))).await.unwrap();
        let other = app.other_org();

        let confirmed = actions::confirm(&rig.ports, &deadline(), &shopper(&other, JANE, CONVERSATION, true), &proposal.proposal_id, true).await.unwrap_err();
        let read = actions::get(&rig.ports, &deadline(), &shopper(&other, JANE, CONVERSATION, false), &proposal.proposal_id).await.unwrap_err();
        let proposed = actions::propose(&rig.ports, &deadline(), &shopper(&other, JANE, CONVERSATION, false), ActionKind::RequestReturn, &request("#1001", json!([{"line_item": "Socks", "quantity": 1}]))).await.unwrap_err();

        assert_eq!(confirmed.code, Code::ProposalNotFound);
        assert_eq!(read.code, Code::ProposalNotFound);
        assert_eq!(proposed.code, Code::ActionDisabled, "the other org has not turned returns on, nor has it this store");
        let page = actions::list(&rig.ports, &deadline(), &OrganizationId::parse(&other).unwrap(), &Default::default(), None).await.unwrap();
        assert!(page.actions.is_empty());
        assert_eq!(sent(&app, "RequestReturn"), 0);
        assert_eq!(confirm(&app, &rig, &proposal.proposal_id).await.unwrap().status, "done");
    }
}
