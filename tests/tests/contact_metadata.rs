//! The inbox sidebar: `GET /shopify/contact-metadata?email=...`, on both backends.

mod common;

use std::time::Duration;

use serde_json::{json, Value};
use shared::shopify::customers::{batch_points, first_points, BATCH_ORDERS, FIRST_ORDERS, RESERVE};
use tests::app::{section, TestApp};
use tests::events::HttpEvent;
use tests::fake_shopify::{
    CustomerDataAccess, FakeCustomer, FakeFulfillment, FakeOrder, FakeShop, Fault,
};
use tests::gateway::dashboard_routes;

const JANE: &str = "jane@example.com";
const US: &str = "demo-us.myshopify.com";
const UK: &str = "demo-uk.myshopify.com";

fn us_shop() -> FakeShop {
    FakeShop::new("demo-us")
        .named("Demo US")
        .with_token("shpat_us")
        .with_customer(FakeCustomer::new(111, "Jane Doe", JANE))
        .with_order(FakeOrder::new("#1001", "2026-11-01T10:00:00Z", JANE))
        .with_order(FakeOrder::new(
            "#1007",
            "2026-11-03T10:00:00Z",
            "JANE@example.com",
        ))
        .with_order(FakeOrder::new(
            "#1002",
            "2026-11-02T10:00:00Z",
            "bob@example.com",
        ))
        .with_customer(FakeCustomer::new(112, "Janet Fuzzy", "jane@example.com.au"))
}

fn uk_shop() -> FakeShop {
    FakeShop::new("demo-uk")
        .named("Demo UK")
        .with_prefix("UK-")
        .with_currency("GBP")
        .with_token("shpat_uk")
        .with_token("shpat_uk_new")
        .with_customer(FakeCustomer::new(221, "Jane Doe", JANE))
        .with_order(FakeOrder::new("UK-1001", "2026-10-05T10:00:00Z", JANE).currency("GBP"))
}

async fn connect(app: &TestApp, shops: Vec<FakeShop>) {
    for shop in shops {
        let token = shop.access_tokens[0].clone();
        let domain = shop.domain.clone();
        app.shopify.add_shop(shop);
        assert_eq!(
            app.connect(json!({"shop_domain": domain, "access_token": token}))
                .await
                .0,
            201
        );
    }
}

/// The customer with the two orders of [`us_shop`] and 48 more, newest first, each a different
/// case: cancelled, unshipped, shipped twice, several line items, refunded.
fn with_fifty_varied_orders(mut shop: FakeShop) -> FakeShop {
    for i in 0..48 {
        let mut order = FakeOrder::new(
            &format!("#{}", 3000 + i),
            &format!("2026-{:02}-{:02}T10:00:00Z", 10 - i / 28, 28 - i % 28),
            JANE,
        );
        match i % 5 {
            0 => order = order.cancelled("2026-11-05T10:00:00Z"),
            1 => {
                order.fulfillment_status = "UNFULFILLED".into();
                order.fulfillments.clear();
            }
            2 => {
                order.line_items.push(("Wool Socks".into(), None, 3));
                order.fulfillments = vec![
                    FakeFulfillment::in_transit(&[(0, 1)]),
                    FakeFulfillment::delivered(&[(1, 3)], "2026-11-02T10:00:00Z")
                        .with_tracking("DHL", &format!("DHL{i:06}")),
                ];
            }
            3 => {
                order.line_items = vec![
                    ("Trail Jacket".into(), Some("M".into()), 1),
                    ("Cap".into(), None, 2),
                    ("Laces".into(), Some("Red".into()), 4),
                ];
                order = order.total(&format!("{}.00", 100 + i));
            }
            _ => order.financial_status = "PARTIALLY_REFUNDED".into(),
        }
        shop = shop.with_order(order);
    }
    shop
}

/// The ORDER_SUMMARY of each of Jane's orders in `shop`, newest first, from the fake's data.
fn expected_summaries(app: &TestApp, shop: &FakeShop) -> Vec<Value> {
    let mut orders: Vec<&FakeOrder> = shop
        .orders
        .iter()
        .filter(|o| {
            o.email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(JANE))
        })
        .collect();
    orders.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    orders
        .into_iter()
        .map(|o| {
            let gid = app.shopify.order_gid(US, &o.name);
            json!({
                "name": o.name,
                "created_at": o.created_at,
                "financial_status": o.financial_status.to_ascii_lowercase(),
                "fulfillment_status": o.fulfillment_status.to_ascii_lowercase(),
                "cancelled_at": o.cancelled_at,
                "total": {"amount": o.total, "currency": o.currency},
                "line_items": o.line_items.iter().map(|(title, variant, quantity)| json!({"title": title, "variant_title": variant, "quantity": quantity})).collect::<Vec<_>>(),
                "tracking": o.fulfillments.iter().flat_map(|f| &f.tracking).map(|(company, number)| json!({"company": company, "number": number, "url": format!("https://track.example/{number}")})).collect::<Vec<_>>(),
                "admin_url": format!("https://admin.shopify.com/store/demo-us/orders/{}", gid.trim_start_matches("gid://shopify/Order/")),
                "pending_actions": [],
                "last_action": null,
            })
        })
        .collect()
}

/// The ids each batch of older orders asked for, in the order the fake received them.
fn batches(app: &TestApp) -> Vec<Vec<String>> {
    app.shopify
        .received()
        .into_iter()
        .filter(|r| r.operation.as_deref() == Some("SidebarOrdersByIds"))
        .map(|r| serde_json::from_value(r.variables["ids"].clone()).unwrap_or_default())
        .collect()
}

fn sidebar_requests(app: &TestApp) -> usize {
    app.shopify
        .received()
        .iter()
        .filter(|r| r.operation.as_deref() == Some("CustomerByEmail"))
        .count()
}

both_backends! {
    async fn a_contact_found_in_two_stores_gets_a_section_for_each(app: TestApp) {
        connect(&app, vec![us_shop(), uk_shop()]).await;
        let routes = dashboard_routes(app.services.clone());

        let (status, headers, body) = app.sidebar(&routes, " Jane@Example.com ").await;

        assert_eq!(status, 200, "{body}");
        assert_eq!(headers["cache-control"], "private, max-age=60");
        assert_eq!(body["email"], "Jane@Example.com");
        let us = section(&body, US);
        assert_eq!(us["status"], "found");
        assert_eq!(us["shop_name"], "Demo US");
        assert_eq!(us["customer"]["id"], "gid://shopify/Customer/111");
        assert_eq!(us["customer"]["name"], "Jane Doe");
        assert_eq!(us["customer"]["email"], JANE);
        assert_eq!(us["customer"]["phone"], "+15555550123");
        assert_eq!(us["customer"]["orders_count"], 2);
        assert_eq!(us["customer"]["amount_spent"], json!({"amount": "139.80", "currency": "USD"}));
        assert_eq!(us["customer"]["tags"], json!(["vip"]));
        assert_eq!(us["customer"]["admin_url"], "https://admin.shopify.com/store/demo-us/customers/111");
        let names: Vec<_> = us["orders"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["#1007", "#1001"], "newest first, only hers");
        let order = &us["orders"][1];
        assert_eq!(order["financial_status"], "paid");
        assert_eq!(order["fulfillment_status"], "fulfilled");
        assert_eq!(order["total"], json!({"amount": "49.90", "currency": "USD"}));
        assert_eq!(order["line_items"][0]["title"], "Trail Runner");
        assert_eq!(order["tracking"][0]["company"], "UPS");
        assert!(order["admin_url"].as_str().unwrap().starts_with("https://admin.shopify.com/store/demo-us/orders/"));
        let uk = section(&body, UK);
        assert_eq!((uk["status"].as_str(), uk["customer"]["amount_spent"]["currency"].as_str()), (Some("found"), Some("GBP")));
    }

    async fn a_name_the_app_may_not_read_is_no_name(app: TestApp) {
        // Shopify masks a display name the store's app may not read as `•••`.
        let masked = us_shop().withholding_customer_data(CustomerDataAccess::NamesAndPhonesDenied);
        connect(&app, vec![masked]).await;
        let routes = dashboard_routes(app.services.clone());

        let (status, _, body) = app.sidebar(&routes, JANE).await;

        assert_eq!(status, 200, "{body}");
        let customer = &section(&body, US)["customer"];
        assert_eq!((customer["name"].clone(), customer["email"].clone()), (Value::Null, json!(JANE)));
    }

    async fn a_contact_in_one_store_only_gets_an_empty_section_elsewhere(app: TestApp) {
        connect(&app, vec![us_shop(), FakeShop::new("demo-uk").with_token("shpat_uk")]).await;
        let routes = dashboard_routes(app.services.clone());

        let (status, _, body) = app.sidebar(&routes, JANE).await;

        assert_eq!(status, 200);
        assert_eq!(section(&body, US)["status"], "found");
        let uk = section(&body, UK);
        assert_eq!((uk["status"].clone(), uk["customer"].clone(), uk["orders"].clone()), (json!("not_found"), Value::Null, json!([])));
        assert!(uk.get("error").is_none());
    }

    async fn a_contact_nowhere_and_a_near_miss_are_not_found(app: TestApp) {
        connect(&app, vec![us_shop(), uk_shop()]).await;
        let routes = dashboard_routes(app.services.clone());

        for email in ["nobody@example.com", "jane@example.co"] {
            let (_, _, body) = app.sidebar(&routes, email).await;
            assert!(body["stores"].as_array().unwrap().iter().all(|s| s["status"] == "not_found"), "{email}: {body}");
        }
    }

    async fn more_than_fifty_orders_are_cut_at_the_newest_fifty(app: TestApp) {
        let mut shop = us_shop();
        for i in 0..60 {
            shop = shop.with_order(FakeOrder::new(&format!("#{}", 2000 + i), &format!("2025-{:02}-{:02}T10:00:00Z", 1 + i / 28, 1 + i % 28), JANE));
        }
        connect(&app, vec![shop]).await;
        let routes = dashboard_routes(app.services.clone());

        let (_, _, body) = app.sidebar(&routes, JANE).await;

        let us = section(&body, US);
        let orders = us["orders"].as_array().unwrap();
        assert_eq!(orders.len(), 50);
        assert_eq!(us["customer"]["orders_count"], 62);
        assert_eq!(orders[0]["name"], "#1007");
        let dates: Vec<_> = orders.iter().map(|o| o["created_at"].as_str().unwrap()).collect();
        assert!(dates.windows(2).all(|w| w[0] >= w[1]), "newest first");
        let asked: usize = batches(&app).iter().map(Vec::len).sum();
        assert_eq!((sidebar_requests(&app), asked), (1, 50 - FIRST_ORDERS), "the older orders as far as 50, no further");
    }

    async fn a_customer_with_fifty_orders_sees_every_field_of_all_fifty_newest_first_in_two_round_trips(app: TestApp) {
        let shop = with_fifty_varied_orders(us_shop());
        connect(&app, vec![shop.clone()]).await;
        let connected = app.shopify.received().len();
        let routes = dashboard_routes(app.services.clone());
        // The customer's request answers; the first batch by id to arrive waits until every
        // batch has been sent.
        app.shopify.push_fault(US, Fault::Delay(Duration::ZERO));
        let (gate, open) = Fault::gate();
        app.shopify.push_fault(US, gate);
        let batch_count = (50 - FIRST_ORDERS).div_ceil(BATCH_ORDERS);
        let all_sent = async {
            let sent = tokio::time::timeout(Duration::from_secs(10), async {
                while batches(&app).len() < batch_count {
                    tokio::task::yield_now().await;
                }
            })
            .await;
            open.notify_one();
            sent.is_ok()
        };

        let ((status, _, body), all_sent) = tokio::join!(app.sidebar(&routes, JANE), all_sent);

        assert_eq!(status, 200, "{body}");
        assert!(all_sent, "every batch is sent before the first one answers: {} of {batch_count}", batches(&app).len());
        let us = section(&body, US);
        assert_eq!(us["customer"]["orders_count"], 50);
        assert_eq!(us["orders"], json!(expected_summaries(&app, &shop)), "all fifty, newest first, every field as the first request gives it");
        let received: Vec<_> = app.shopify.received().into_iter().skip(connected).filter(|r| r.shop == US).collect();
        assert_eq!(received.len(), 1 + batch_count, "one customer request, then {batch_count} batches");
        let mut asked: Vec<String> = batches(&app).concat();
        asked.sort();
        asked.dedup();
        assert_eq!(asked.len(), 50 - FIRST_ORDERS, "each older order asked for once");
        let spent = app.shopify.spent();
        assert!(spent.iter().all(|(_, _, requested, _)| *requested <= 150.0), "every request within 150 points: {spent:?}");
        let first: Vec<f64> = spent.iter().filter(|(_, op, _, _)| op == "CustomerByEmail").map(|(_, _, requested, _)| *requested).collect();
        assert_eq!(first, [first_points(FIRST_ORDERS, 50)], "the first request as the sidebar reckons it");
        for (_, operation, requested, _) in spent.iter().filter(|(_, op, _, _)| op == "SidebarOrdersByIds") {
            assert!(batches(&app).iter().any(|ids| batch_points(ids.len()) == *requested), "{operation} requested {requested} as the sidebar reckons it");
        }
    }

    async fn a_customer_with_no_more_orders_than_the_first_request_reads_costs_one_request(app: TestApp) {
        let mut shop = us_shop();
        for i in 0..FIRST_ORDERS - 2 {
            shop = shop.with_order(FakeOrder::new(&format!("#{}", 3000 + i), "2026-10-01T10:00:00Z", JANE));
        }
        connect(&app, vec![shop]).await;
        let connected = app.shopify.received().len();
        let routes = dashboard_routes(app.services.clone());

        let (_, _, body) = app.sidebar(&routes, JANE).await;

        assert_eq!(section(&body, US)["orders"].as_array().unwrap().len(), FIRST_ORDERS);
        let received: Vec<_> = app.shopify.received().into_iter().skip(connected).filter_map(|r| r.operation).collect();
        assert_eq!(received, ["CustomerByEmail"]);
    }

    async fn a_sidebar_holds_in_flight_no_more_than_the_bucket_has_beyond_the_lookups_reserve(app: TestApp) {
        // A bucket that barely refills (1 point a second) with 1,150 points left: beside the
        // 720 kept for order lookups the sidebar has room for two batches at a time at first.
        let shop = with_fifty_varied_orders(us_shop()).with_bucket(2000.0, 1.0).with_execution(Duration::from_millis(50));
        connect(&app, vec![shop.clone()]).await;
        app.shopify.set_available(US, 1150.0);
        let routes = dashboard_routes(app.services.clone());

        let (status, _, body) = app.sidebar(&routes, JANE).await;

        assert_eq!(status, 200, "{body}");
        let us = section(&body, US);
        assert_eq!(us["status"], "found", "{us}");
        let shown = us["orders"].as_array().unwrap();
        assert!((FIRST_ORDERS..50).contains(&shown.len()), "the sidebar stops where the bucket has no room: {}", shown.len());
        assert_eq!(us["orders"], json!(expected_summaries(&app, &shop)[..shown.len()]), "the newest orders, with no gap");
        let (_, _, _, first_actual) = app.shopify.spent().into_iter().find(|(_, op, _, _)| op == "CustomerByEmail").unwrap();
        let share = 1150.0 - first_actual - RESERVE;
        let (held, at_once) = app.shopify.peak_held(US, &["SidebarOrdersByIds"]);
        assert!(held <= share + 1.0, "held {held} of a share of {share} points, {at_once} batches at once");
        assert_eq!(app.shopify.throttled(), 0);
    }

    async fn with_no_room_beside_the_reserve_the_sidebar_answers_with_the_first_orders_at_once(app: TestApp) {
        let shop = with_fifty_varied_orders(us_shop()).with_bucket(2000.0, 1.0);
        connect(&app, vec![shop.clone()]).await;
        app.shopify.set_available(US, 880.0);
        let routes = dashboard_routes(app.services.clone());

        let (status, _, body) = app.sidebar(&routes, JANE).await;

        assert_eq!(status, 200, "{body}");
        assert_eq!(section(&body, US)["orders"], json!(expected_summaries(&app, &shop)[..FIRST_ORDERS]));
        assert_eq!(batches(&app).len(), 0, "no batch fits beside the reserve, and none is waited for past the budget");
    }

    async fn a_store_whose_bucket_has_no_room_beside_the_reserve_in_time_is_rate_limited_without_asking(app: TestApp) {
        let shop = with_fifty_varied_orders(us_shop()).with_bucket(2000.0, 1.0);
        connect(&app, vec![shop]).await;
        app.shopify.set_available(US, 800.0);
        // An order lookup reads the bucket: under 800 points, less than the reserve and the
        // sidebar's first request; at 1 point a second it would take well over a minute to
        // refill.
        assert_eq!(app.lookup("get_order_details", json!({"order_number": "#1001"}), Some(JANE)).await["ok"], true);
        let asked = app.shopify.received().len();
        let routes = dashboard_routes(app.services.clone());

        let (status, _, body) = app.sidebar(&routes, JANE).await;

        assert_eq!(status, 200, "{body}");
        let us = section(&body, US);
        assert_eq!((us["status"].as_str(), us["error"]["code"].as_str()), (Some("error"), Some("shopify_rate_limited")), "{us}");
        assert_eq!(app.shopify.received().len(), asked, "nothing was sent");
    }

    async fn the_reserve_admits_a_wave_of_six_lookups_and_then_their_six_timelines(app: TestApp) {
        // The least a sidebar leaves in a store's bucket, which here never refills: six
        // lookups of shipped orders at once, each reading its order's timeline once found.
        // Each order has a customer and two line items, as most do. The lookups hold their
        // requested points while they run; the timelines are asked while the other lookups
        // still hold theirs.
        let mut shop = us_shop().with_bucket(1000.0, 0.0).with_execution(Duration::from_millis(200));
        for i in 0..6 {
            let mut order = FakeOrder::new(&format!("#{}", 4000 + i), "2026-11-04T10:00:00Z", JANE);
            order.customer_email = Some(JANE.into());
            order.line_items.push(("Wool Socks".into(), None, 2));
            shop = shop.with_order(order);
        }
        connect(&app, vec![shop]).await;
        app.shopify.set_available(US, RESERVE);

        let answers = futures::future::join_all((0..6).map(|i| {
            app.lookup("get_order_details", json!({"order_number": format!("#{}", 4000 + i)}), Some(JANE))
        }))
        .await;

        for answer in &answers {
            assert_eq!(answer["ok"], true, "{answer}");
        }
        let spent = app.shopify.spent();
        let lookups: Vec<f64> = spent.iter().filter(|(_, op, _, _)| op == "FindOrdersByName").map(|s| s.3).collect();
        assert_eq!(lookups, [18.0; 6], "each lookup spent what the reserve counts on: {spent:?}");
        assert_eq!(spent.iter().filter(|(_, op, _, _)| op == "OrderTimeline").count(), 6, "{spent:?}");
        assert_eq!(app.shopify.throttled(), 0, "throttled: {:?}", app.shopify.throttled_operations());
    }

    async fn sidebars_opened_at_once_in_one_container_share_one_room_beside_the_reserve(app: TestApp) {
        // A Standard-plan bucket; each query holds its requested points while it runs, so the
        // sidebars' requests overlap.
        let shop = with_fifty_varied_orders(us_shop()).with_bucket(1000.0, 50.0).with_execution(Duration::from_millis(50));
        connect(&app, vec![shop]).await;
        app.shopify.set_available(US, 1000.0);
        assert_eq!(app.lookup("get_order_details", json!({"order_number": "#1001"}), Some(JANE)).await["ok"], true);
        // Three reps, each with a sidebar of their own, on one container's Shopify client.
        let routes: Vec<_> = (0..3).map(|_| dashboard_routes(app.services.clone())).collect();

        let answers = futures::future::join_all(routes.iter().map(|routes| app.sidebar(routes, JANE))).await;

        // What does not fit in time beside the reserve is not asked for: a rep may see the
        // store rate-limited, never a lookup throttled.
        for (status, _, body) in &answers {
            assert_eq!(*status, 200, "{body}");
            let us = section(body, US);
            assert!(us["status"] == "found" || us["error"]["code"] == "shopify_rate_limited", "{us}");
        }
        assert!(answers.iter().any(|(_, _, body)| section(body, US)["status"] == "found"));
        let (held, at_once) = app.shopify.peak_held(US, &["CustomerByEmail", "SidebarOrdersByIds"]);
        assert!(held <= 1000.0 - RESERVE, "the sidebars held {held} points at once ({at_once} requests): the lookups' reserve is theirs");
        assert_eq!(app.shopify.throttled(), 0);
    }

    async fn a_batch_that_fails_costs_its_orders_and_older_ones_not_the_customer_or_the_newer(app: TestApp) {
        let shop = with_fifty_varied_orders(us_shop());
        let expected = {
            connect(&app, vec![shop.clone()]).await;
            expected_summaries(&app, &shop)
        };
        // The third batch holds the 17th newest order; it fails however often it is retried.
        let unreadable = expected[FIRST_ORDERS + 2 * BATCH_ORDERS]["name"].as_str().unwrap().to_owned();
        app.shopify.update_shop(US, |s| s.unreadable_orders.push(unreadable));
        let routes = dashboard_routes(app.services.clone());

        let (status, _, body) = app.sidebar(&routes, JANE).await;

        assert_eq!(status, 200, "{body}");
        let us = section(&body, US);
        assert_eq!(us["status"], "found", "{us}");
        assert_eq!(us["customer"]["orders_count"], 50);
        assert_eq!(us["orders"], json!(expected[..FIRST_ORDERS + 2 * BATCH_ORDERS]), "the newest orders up to the failed batch");
    }

    async fn a_batch_that_hangs_costs_the_older_orders_within_the_budget(app: TestApp) {
        let shop = with_fifty_varied_orders(us_shop());
        connect(&app, vec![shop.clone()]).await;
        let mut services = app.services.clone();
        services.budgets.sidebar = Duration::from_millis(1500);
        let routes = dashboard_routes(services);
        app.shopify.push_fault(US, Fault::Delay(Duration::ZERO));
        app.shopify.push_fault(US, Fault::Hang);

        let (status, _, body) = app.sidebar(&routes, JANE).await;

        assert_eq!(status, 200, "{body}");
        let us = section(&body, US);
        assert_eq!(us["status"], "found", "the customer and the newest orders are kept: {us}");
        let shown = us["orders"].as_array().unwrap().len();
        assert!((FIRST_ORDERS..50).contains(&shown), "{shown}");
        assert_eq!(us["orders"], json!(expected_summaries(&app, &shop)[..shown]), "the newest orders, with no gap");
    }

    async fn six_order_lookups_beside_a_sidebar_on_a_standard_bucket_are_never_throttled(app: TestApp) {
        // Shopify's Standard plan: 1,000 points restoring 50/s; each query holds its requested
        // cost while it runs, so the seven overlap.
        let shop = with_fifty_varied_orders(us_shop()).with_bucket(1000.0, 50.0).with_execution(Duration::from_millis(100));
        connect(&app, vec![shop.clone()]).await;
        let mut services = app.services.clone();
        services.budgets.sidebar = Duration::from_millis(1500);
        let routes = dashboard_routes(services);

        let lookup = || app.lookup("get_order_details", json!({"order_number": "#1001"}), Some(JANE));
        let ((_, _, sidebar), a, b, c, d, e, f) = tokio::join!(app.sidebar(&routes, JANE), lookup(), lookup(), lookup(), lookup(), lookup(), lookup());

        for answer in [a, b, c, d, e, f] {
            assert_eq!(answer["data"]["name"], "#1001", "{answer}");
        }
        assert_eq!(app.shopify.throttled_operations(), Vec::<String>::new(), "nobody waited for the bucket");
        let us = section(&sidebar, US);
        let shown = us["orders"].as_array().unwrap().len();
        assert!(shown >= FIRST_ORDERS, "{sidebar}");
        assert_eq!(us["orders"], json!(expected_summaries(&app, &shop)[..shown]), "the newest orders, with no gap");
    }

    async fn a_failing_store_gets_an_error_section_and_the_rest_still_shows(app: TestApp) {
        connect(&app, vec![us_shop(), uk_shop()]).await;
        let routes = dashboard_routes(app.services.clone());
        for _ in 0..4 {
            app.shopify.push_fault(UK, Fault::status(502));
        }

        let (status, _, body) = app.sidebar(&routes, JANE).await;

        assert_eq!(status, 200);
        assert_eq!(section(&body, US)["status"], "found");
        let uk = section(&body, UK);
        assert_eq!(uk["status"], "error");
        assert_eq!(uk["error"]["code"], "shopify_unavailable");
        assert!(!uk["error"]["message"].as_str().unwrap().is_empty());

        let (_, _, again) = app.sidebar(&routes, JANE).await;
        assert_eq!(section(&again, UK)["status"], "found", "an answer with an error is not cached");
    }

    async fn a_throttled_store_is_waited_for(app: TestApp) {
        connect(&app, vec![us_shop()]).await;
        let routes = dashboard_routes(app.services.clone());
        app.shopify.push_fault(US, Fault::Throttled { requested: 138.0, available: 500.0, restore_rate: 1000.0 });

        let (_, _, body) = app.sidebar(&routes, JANE).await;

        assert_eq!(section(&body, US)["status"], "found", "{body}");
        assert_eq!(sidebar_requests(&app), 2);
    }

    async fn answers_are_cached_but_never_past_a_disconnect_or_rotation(app: TestApp) {
        connect(&app, vec![us_shop(), uk_shop()]).await;
        let routes = dashboard_routes(app.services.clone());
        app.sidebar(&routes, JANE).await;
        assert_eq!(sidebar_requests(&app), 2);

        app.sidebar(&routes, "JANE@example.com").await;
        assert_eq!(sidebar_requests(&app), 2, "served from the cache");

        assert_eq!(app.connect(json!({"shop_domain": UK, "access_token": "shpat_uk_new"})).await.0, 200);
        app.sidebar(&routes, JANE).await;
        assert_eq!(sidebar_requests(&app), 4, "a rotation misses the cache");

        assert_eq!(app.disconnect(UK).await.0, 204);
        let (_, _, body) = app.sidebar(&routes, JANE).await;
        let shops: Vec<_> = body["stores"].as_array().unwrap().iter().map(|s| s["shop_domain"].clone()).collect();
        assert_eq!(shops, [json!(US)], "the disconnected store is gone at once");
    }

    async fn the_cache_never_crosses_organizations(app: TestApp) {
        connect(&app, vec![us_shop()]).await;
        let routes = dashboard_routes(app.services.clone());
        assert_eq!(section(&app.sidebar(&routes, JANE).await.2, US)["status"], "found");

        let other = HttpEvent::new("GET", "/shopify/contact-metadata").claims(&[("org_id", "another-org"), ("role", "agent")]).query("email", JANE);
        let route = routes.iter().find(|r| r.route == "/shopify/contact-metadata").unwrap();
        let (status, body) = tests::app::decode((route.handler)(other.into_request()).await.unwrap());

        assert_eq!((status, body), (200, json!({"email": JANE, "stores": []})));
    }

    async fn a_bad_or_missing_email_is_invalid_request(app: TestApp) {
        let routes = dashboard_routes(app.services.clone());
        for email in ["", "jane", "jane@example", "jane doe@example.com", "a@b.c)"] {
            let (status, _, body) = app.sidebar(&routes, email).await;
            assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_request")), "{email:?}");
        }
        let without = HttpEvent::new("GET", "/shopify/contact-metadata").claims(&app.admin());
        assert_eq!(app.send(without).await.0, 400);
        let anonymous = HttpEvent::new("GET", "/shopify/contact-metadata").query("email", JANE);
        assert_eq!(app.send(anonymous).await.0, 401);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emails_are_masked_in_logs() {
    let app = TestApp::spawn(tests::app::Backend::Memory).await;
    let email = format!("masked.{:08x}@example.com", fastrand::u32(..));
    connect(
        &app,
        vec![FakeShop::new("demo-us")
            .with_token("shpat_us")
            .with_customer(FakeCustomer::new(1, "M", &email))],
    )
    .await;
    let routes = dashboard_routes(app.services.clone());

    app.sidebar(&routes, &email).await;

    let logs = tests::logs::contents();
    assert!(
        logs.contains("m***@example.com"),
        "the masked form is logged"
    );
    assert!(!logs.contains(&email), "the full email never is");
}
