//! "Where is my order?" and "where is my refund?": `get_order_details` tells each shipment's
//! latest carrier status in a shopper's words, the carrier's events, the items it carries and
//! the carrier's own estimate; and the order's refunds and return status. The timeline is a
//! second, cheap request sent only for an order with shipments or refunds; when it fails or
//! hangs, the order is still answered within the budget, the missing parts named.

mod common;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shared::Deadline;
use tests::app::TestApp;
use tests::fake_shopify::{FakeFulfillment, FakeOrder, FakeShop, Fault};

const JANE: &str = "jane@example.com";
const US: &str = "demo-us.myshopify.com";

/// The budget of the lookups that meet a hanging timeline request, and the slack allowed past
/// it (the contract's "budget + 1 s").
const BUDGET: Duration = Duration::from_millis(1500);
const SLACK: Duration = Duration::from_secs(1);

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
    app.shopify.add_shop(
        FakeShop::new("demo-us")
            .with_token("shpat_us")
            .with_order(order),
    );
    let (status, _) = app
        .connect(json!({"shop_domain": "demo-us", "access_token": "shpat_us"}))
        .await;
    assert_eq!(status, 201);
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

    async fn an_unshipped_order_is_answered_without_a_second_request(app: TestApp) {
        shop_with(&app, FakeOrder::unfulfilled("#1001", 30, JANE)).await;

        let answer = order_details(&app).await;

        assert_eq!(answer["ok"], true, "{answer}");
        assert_eq!(answer["data"]["fulfillments"], json!([]));
        assert_eq!(answer["data"]["refunds"], json!([]), "nothing was refunded");
        assert!(answer["data"].get("missing").is_none());
        assert_eq!(asked(&app), ["FindOrdersByName"], "no timeline request for an order with nothing to tell");
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

    async fn a_hanging_timeline_request_costs_the_timeline_not_the_answer(app: TestApp) {
        shop_with(&app, split_order()).await;
        app.shopify.update_shop(US, |shop| shop.fail_operation("OrderTimeline", Fault::Hang));
        let event = json!({"org_id": app.org, "action": "get_order_details", "arguments": {"order_number": "#1001"}, "contact": {"email": JANE}});

        let started = Instant::now();
        let answer = lookup::answer(&app.services, event, Deadline::after(BUDGET)).await;
        let took = started.elapsed();

        assert!(took < BUDGET + SLACK, "answered within the budget: {took:?}");
        assert_eq!(answer["ok"], true, "{answer}");
        assert_eq!(answer["data"]["fulfillments"][0]["status_text"], "Delivered");
        assert_eq!(answer["data"]["missing"], json!(["fulfillments.events", "fulfillments.line_items", "refunds"]));
        assert_eq!(answer["store_errors"], json!([]));
    }
}
