//! "Where is my order?" and "where is my refund?": `get_order_details` tells each shipment's
//! latest carrier status in a shopper's words, the carrier's events, the items it carries and
//! the carrier's own estimate; and the order's refunds and return status. The timeline is a
//! second, cheap request sent only to the store that holds the customer's order, and only when
//! the order has shipments or may have refunds; when it fails or hangs, the order is still
//! answered soon, the missing parts named, and a store that hangs on the search does not cost
//! the found order its timeline.

mod common;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shared::Deadline;
use tests::app::TestApp;
use tests::fake_shopify::{FakeFulfillment, FakeOrder, FakeShop, Fault};

const JANE: &str = "jane@example.com";
const BOB: &str = "bob@example.com";
const US: &str = "demo-us.myshopify.com";
const EU: &str = "demo-eu.myshopify.com";

/// The lookup's default budget (`LOOKUP_BUDGET_MS`).
const BUDGET: Duration = Duration::from_secs(8);

/// Boots and a jacket; the boots delivered, the jacket on its way with the carrier's events
/// (told out of order: the answer puts them oldest first).
fn split_order() -> FakeOrder {
    let mut order = FakeOrder::new("#1001", "2026-11-20T10:00:00Z", JANE).with_fulfillments(vec![
        FakeFulfillment::delivered(&[(0, 1)], "2026-11-24T15:30:00Z"),
        FakeFulfillment::in_transit(&[(1, 2)])
            .with_tracking("DHL", "JD0146000012345")
            .with_event(
                "IN_TRANSIT",
                "2026-11-26T06:10:00Z",
                "Arrived at sort facility",
                Some("Louisville"),
            )
            .with_event(
                "LABEL_PRINTED",
                "2026-11-25T09:00:00Z",
                "Shipping label created",
                None,
            )
            .with_event(
                "OUT_FOR_DELIVERY",
                "2026-11-27T07:45:00Z",
                "Out for delivery",
                Some("Portland"),
            ),
    ]);
    order.line_items = vec![
        ("Trail Runner".into(), Some("42 / Blue".into()), 1),
        ("Summit Jacket".into(), Some("M".into()), 2),
    ];
    order
}

async fn shop_with(app: &TestApp, order: FakeOrder) {
    connected(app, "demo-us", order).await;
}

/// Connects the fake shop `{handle}.myshopify.com` holding `order` (order numbers `#…`).
async fn connected(app: &TestApp, handle: &str, order: FakeOrder) {
    let token = format!("shpat_{handle}");
    app.shopify
        .add_shop(FakeShop::new(handle).with_token(&token).with_order(order));
    let (status, _) = app
        .connect(json!({"shop_domain": handle, "access_token": token}))
        .await;
    assert_eq!(status, 201);
}

/// `get_order_details` for #1001 as Jane, within `budget`; the answer and how long it took.
async fn order_details_within(app: &TestApp, budget: Duration) -> (Value, Duration) {
    let event = json!({"org_id": app.org, "action": "get_order_details", "arguments": {"order_number": "#1001"}, "contact": {"email": JANE}});
    let started = Instant::now();
    let answer = lookup::answer(&app.services, event, Deadline::after(budget)).await;
    (answer, started.elapsed())
}

/// The operations `shop` received from the lookup.
fn asked_of(app: &TestApp, shop: &str) -> Vec<String> {
    app.shopify
        .received()
        .into_iter()
        .filter(|r| r.shop == shop)
        .filter_map(|r| r.operation)
        .filter(|o| !matches!(o.as_str(), "ValidateCredentials" | "ProtectedDataProbe"))
        .collect()
}

async fn order_details(app: &TestApp) -> Value {
    app.lookup(
        "get_order_details",
        json!({"order_number": "#1001"}),
        Some(JANE),
    )
    .await
}

/// The operations the lookup sent (the connect's own left out).
fn asked(app: &TestApp) -> Vec<String> {
    app.shopify
        .received()
        .into_iter()
        .filter_map(|r| r.operation)
        .filter(|o| !matches!(o.as_str(), "ValidateCredentials" | "ProtectedDataProbe"))
        .collect()
}

both_backends! {
    async fn a_split_order_tells_where_each_shipment_is_with_its_items_and_the_carriers_events(app: TestApp) {
        shop_with(&app, split_order()).await;

        let answer = order_details(&app).await;

        assert_eq!(answer["ok"], true, "{answer}");
        let shipments = answer["data"]["fulfillments"].as_array().unwrap();
        assert_eq!(shipments.len(), 2, "{answer}");
        let delivered = &shipments[0];
        assert_eq!((delivered["display_status"].as_str(), delivered["status_text"].as_str()), (Some("DELIVERED"), Some("Delivered")));
        assert_eq!(delivered["status"], "delivered", "the earlier field is kept as it was");
        assert_eq!(delivered["delivered_at"], "2026-11-24T15:30:00Z");
        assert_eq!(delivered["line_items"], json!([{"title": "Trail Runner", "variant_title": "42 / Blue", "quantity": 1}]));
        assert_eq!(delivered["more_line_items"], false, "all its items are listed");
        assert_eq!(delivered["events"], json!([]));
        let moving = &shipments[1];
        assert_eq!((moving["display_status"].as_str(), moving["status_text"].as_str()), (Some("IN_TRANSIT"), Some("On its way")));
        assert_eq!(moving["estimated_delivery_at"], "2026-11-28T00:00:00Z", "the carrier's own estimate");
        assert_eq!(moving["delivered_at"], Value::Null);
        assert_eq!(moving["tracking"][0]["number"], "JD0146000012345");
        assert_eq!(moving["line_items"], json!([{"title": "Summit Jacket", "variant_title": "M", "quantity": 2}]));
        assert_eq!(moving["events"], json!([
            {"status": "label_printed", "status_text": "Shipping label printed; the carrier does not have the package yet", "happened_at": "2026-11-25T09:00:00Z", "message": "Shipping label created", "city": null},
            {"status": "in_transit", "status_text": "On its way", "happened_at": "2026-11-26T06:10:00Z", "message": "Arrived at sort facility", "city": "Louisville"},
            {"status": "out_for_delivery", "status_text": "Out for delivery", "happened_at": "2026-11-27T07:45:00Z", "message": "Out for delivery", "city": "Portland"},
        ]));
        assert!(answer["data"].get("missing").is_none(), "nothing is missing: {answer}");
        assert_eq!(answer["data"]["more_refunds"], false);
        assert_eq!(asked(&app), ["FindOrdersByName", "OrderTimeline"]);
    }

    async fn each_of_the_two_requests_stays_within_the_cost_target(app: TestApp) {
        shop_with(&app, split_order()).await;

        order_details(&app).await;

        let spent: Vec<(String, f64)> = app.shopify.spent().into_iter().filter(|(_, op, _, _)| op == "FindOrdersByName" || op == "OrderTimeline").map(|(_, op, requested, _)| (op, requested)).collect();
        assert_eq!(spent.len(), 2, "{spent:?}");
        for (operation, requested) in spent {
            assert!(requested <= 150.0, "{operation} requested {requested} points");
        }
    }

    async fn a_shipment_the_carrier_gave_no_estimate_for_has_no_estimated_delivery(app: TestApp) {
        let order = FakeOrder::new("#1001", "2026-11-20T10:00:00Z", JANE)
            .with_fulfillments(vec![FakeFulfillment::in_transit(&[(0, 1)]).without_estimate()]);
        shop_with(&app, order).await;

        let answer = order_details(&app).await;

        let shipment = &answer["data"]["fulfillments"][0];
        assert_eq!(shipment["status_text"], "On its way", "{answer}");
        assert_eq!(shipment["estimated_delivery_at"], Value::Null, "never invented: {answer}");
    }

    async fn only_the_carriers_latest_ten_events_are_told_oldest_first(app: TestApp) {
        let mut shipment = FakeFulfillment::in_transit(&[(0, 1)]);
        for day in 10..22 {
            shipment = shipment.with_event("IN_TRANSIT", &format!("2026-11-{day}T08:00:00Z"), &format!("Scan on the {day}th"), Some("Memphis"));
        }
        shop_with(&app, FakeOrder::new("#1001", "2026-11-01T10:00:00Z", JANE).with_fulfillments(vec![shipment])).await;

        let answer = order_details(&app).await;

        let times: Vec<&str> = answer["data"]["fulfillments"][0]["events"].as_array().unwrap().iter().map(|e| e["happened_at"].as_str().unwrap()).collect();
        let expected: Vec<String> = (12..22).map(|day| format!("2026-11-{day}T08:00:00Z")).collect();
        assert_eq!(times, expected, "{answer}");
    }

    async fn an_unshipped_order_is_answered_without_a_second_request_and_its_refunds_unread(app: TestApp) {
        shop_with(&app, FakeOrder::unfulfilled("#1001", 30, JANE)).await;

        let answer = order_details(&app).await;

        assert_eq!(answer["ok"], true, "{answer}");
        assert_eq!(answer["data"]["fulfillments"], json!([]));
        assert_eq!((answer["data"]["refunds"].clone(), answer["data"]["more_refunds"].clone()), (Value::Null, Value::Null), "not read, so not claimed to be none: {answer}");
        assert_eq!(answer["data"]["missing"], json!(["refunds"]));
        assert_eq!(asked(&app), ["FindOrdersByName"], "no timeline request for a paid, unshipped order without a return");
    }

    async fn a_refund_still_pending_on_a_cancelled_order_is_read(app: TestApp) {
        // Cancelled and a refund issued, which the payment provider has not settled yet: the
        // financial status still says paid.
        let mut order = FakeOrder::unfulfilled("#1001", 600, JANE)
            .cancelled("2026-11-21T09:00:00Z")
            .with_refund("49.90", "2026-11-21T09:00:05Z");
        order.financial_status = "PAID".into();
        shop_with(&app, order).await;

        let answer = order_details(&app).await;

        assert_eq!(answer["data"]["financial_status"], "paid", "{answer}");
        assert_eq!(answer["data"]["refunds"], json!([{"amount": {"amount": "49.90", "currency": "USD"}, "created_at": "2026-11-21T09:00:05Z"}]));
        assert!(answer["data"].get("missing").is_none(), "{answer}");
        assert_eq!(asked(&app), ["FindOrdersByName", "OrderTimeline"]);
    }

    async fn more_refunds_or_items_than_are_listed_are_flagged(app: TestApp) {
        let mut order = FakeOrder::new("#1001", "2026-11-01T10:00:00Z", JANE).total("500.00");
        order.line_items = (1..=7).map(|n| (format!("Sock pack {n}"), None, 1)).collect();
        let every_item: Vec<(usize, i64)> = (0..7).map(|i| (i, 1)).collect();
        order = order.with_fulfillments(vec![FakeFulfillment::in_transit(&every_item)]);
        for day in 10..16 {
            order = order.with_refund("5.00", &format!("2026-11-{day}T12:00:00Z"));
        }
        shop_with(&app, order).await;

        let answer = order_details(&app).await;

        let data = &answer["data"];
        let refunds: Vec<&str> = data["refunds"].as_array().unwrap().iter().map(|r| r["created_at"].as_str().unwrap()).collect();
        assert_eq!(refunds.len(), 5, "{answer}");
        assert!(!refunds.contains(&"2026-11-15T12:00:00Z"), "Shopify lists the oldest first");
        assert_eq!(data["more_refunds"], true, "the newest refund is not listed, and the answer says so: {answer}");
        let shipment = &data["fulfillments"][0];
        assert_eq!(shipment["line_items"].as_array().unwrap().len(), 6, "{answer}");
        assert_eq!(shipment["more_line_items"], true, "the seventh item is not listed, and the answer says so");
        assert!(data.get("missing").is_none(), "{answer}");
    }

    async fn refunds_and_the_return_status_say_where_the_money_is(app: TestApp) {
        let order = split_order()
            .with_return("RETURNED")
            .with_refund("20.00", "2026-12-02T11:00:00Z")
            .with_refund("9.90", "2026-11-30T16:20:00Z");
        shop_with(&app, order).await;

        let answer = order_details(&app).await;

        let data = &answer["data"];
        assert_eq!(data["return_status"], "returned", "{answer}");
        assert_eq!(data["financial_status"], "partially_refunded");
        assert_eq!(data["refunds"], json!([
            {"amount": {"amount": "9.90", "currency": "USD"}, "created_at": "2026-11-30T16:20:00Z"},
            {"amount": {"amount": "20.00", "currency": "USD"}, "created_at": "2026-12-02T11:00:00Z"},
        ]));
    }

    async fn a_refund_of_an_order_that_never_shipped_is_read_too(app: TestApp) {
        let order = FakeOrder::unfulfilled("#1001", 600, JANE)
            .cancelled("2026-11-21T09:00:00Z")
            .with_refund("49.90", "2026-11-21T09:00:05Z");
        shop_with(&app, order).await;

        let answer = order_details(&app).await;

        assert_eq!(answer["data"]["financial_status"], "refunded", "{answer}");
        assert_eq!(answer["data"]["refunds"], json!([{"amount": {"amount": "49.90", "currency": "USD"}, "created_at": "2026-11-21T09:00:05Z"}]));
        assert_eq!(asked(&app), ["FindOrdersByName", "OrderTimeline"]);
    }

    async fn a_failing_timeline_request_still_answers_the_order_and_names_what_is_missing(app: TestApp) {
        shop_with(&app, split_order().with_refund("9.90", "2026-11-30T16:20:00Z")).await;
        app.shopify.update_shop(US, |shop| shop.fail_operation("OrderTimeline", Fault::status(500)));

        let answer = order_details(&app).await;

        assert_eq!(answer["ok"], true, "{answer}");
        assert_eq!(answer["store_errors"], json!([]), "the store answered the order");
        let data = &answer["data"];
        assert_eq!(data["name"], "#1001");
        let moving = &data["fulfillments"][1];
        assert_eq!(moving["status_text"], "On its way", "the first request's facts are all there");
        assert_eq!(moving["estimated_delivery_at"], "2026-11-28T00:00:00Z");
        assert_eq!(moving["tracking"][0]["number"], "JD0146000012345");
        assert_eq!((moving["events"].clone(), moving["line_items"].clone()), (Value::Null, Value::Null));
        assert_eq!(data["refunds"], Value::Null, "unknown, not an empty list");
        assert_eq!(data["financial_status"], "partially_refunded");
        assert_eq!(data["missing"], json!(["fulfillments.events", "fulfillments.line_items", "refunds"]));
        assert!(asked(&app).iter().any(|o| o == "OrderTimeline"), "it was asked");
    }

    async fn a_hanging_timeline_request_holds_back_the_ready_answer_only_briefly(app: TestApp) {
        shop_with(&app, split_order()).await;
        app.shopify.update_shop(US, |shop| shop.fail_operation("OrderTimeline", Fault::Hang));

        let (answer, took) = order_details_within(&app, BUDGET).await;

        assert!(took < Duration::from_secs(5), "the timeline's own limit, not the 8 s budget: {took:?}");
        assert_eq!(answer["ok"], true, "{answer}");
        assert_eq!(asked(&app), ["FindOrdersByName", "OrderTimeline"], "asked once");
        assert_eq!(answer["data"]["fulfillments"][0]["status_text"], "Delivered");
        assert_eq!(answer["data"]["missing"], json!(["fulfillments.events", "fulfillments.line_items", "refunds"]));
        assert_eq!(answer["store_errors"], json!([]));
    }
}

both_backends! {
    async fn a_store_that_hangs_on_the_search_does_not_cost_the_found_order_its_timeline(app: TestApp) {
        connected(&app, "demo-us", split_order()).await;
        connected(&app, "demo-eu", FakeOrder::new("#1001", "2026-11-25T10:00:00Z", BOB)).await;
        app.shopify.update_shop(EU, |shop| shop.fail_operation("FindOrdersByName", Fault::Hang));
        let budget = Duration::from_secs(4);

        let (answer, took) = order_details_within(&app, budget).await;

        assert!(took < budget, "{took:?}");
        assert_eq!(answer["ok"], true, "{answer}");
        assert_eq!(answer["data"]["shop_domain"], US);
        assert!(answer["data"].get("missing").is_none(), "the timeline was read: {answer}");
        assert_eq!(answer["data"]["fulfillments"][1]["events"][2]["city"], "Portland");
        assert_eq!(answer["store_errors"], json!([{"shop_domain": EU, "code": "shopify_unavailable"}]));
    }

    async fn the_timeline_is_asked_only_of_the_store_holding_the_customers_order(app: TestApp) {
        // The same number in two stores, both asked; Bob's (newer, with an event of its own)
        // is not Jane's. The fake's order ids are alike in every store, so only what each
        // store received tells a timeline sent to the wrong one.
        connected(&app, "demo-us", split_order()).await;
        let bobs = FakeOrder::new("#1001", "2026-11-25T10:00:00Z", BOB).with_fulfillments(vec![
            FakeFulfillment::in_transit(&[(0, 1)]).with_event("IN_TRANSIT", "2026-11-26T08:00:00Z", "Departed", Some("Lyon")),
        ]);
        connected(&app, "demo-eu", bobs).await;

        let answer = order_details(&app).await;

        assert_eq!(answer["data"]["shop_domain"], US, "{answer}");
        assert_eq!(answer["data"]["fulfillments"][1]["events"][2]["city"], "Portland");
        assert_eq!(asked_of(&app, US), ["FindOrdersByName", "OrderTimeline"]);
        assert_eq!(asked_of(&app, EU), ["FindOrdersByName"], "no timeline from the store whose order is not hers");
    }

    async fn a_lookup_with_the_wrong_email_never_asks_for_a_timeline(app: TestApp) {
        shop_with(&app, FakeOrder::new("#1001", "2026-11-20T10:00:00Z", BOB).with_refund("9.90", "2026-11-22T10:00:00Z")).await;

        let answer = order_details(&app).await;

        assert_eq!(answer["error"]["code"], "order_not_found", "{answer}");
        assert_eq!(asked(&app), ["FindOrdersByName"], "nothing more is read of an order that is not hers");
    }
}
