//! The inbox sidebar: `GET /shopify/contact-metadata?email=...`, on both backends.

mod common;

use std::time::Duration;

use serde_json::{json, Value};
use tests::app::{section, TestApp};
use tests::events::HttpEvent;
use tests::fake_shopify::{FakeCustomer, FakeOrder, FakeShop, Fault};
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

    async fn more_than_fifty_orders_are_paged_and_cut_at_the_newest_fifty(app: TestApp) {
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
        assert_eq!(sidebar_requests(&app), 9, "pages of 6 as far as 50 orders, no further");
    }

    async fn a_later_page_that_fails_costs_the_older_orders_not_the_customer_or_the_newest(app: TestApp) {
        let mut shop = us_shop();
        for i in 0..48 {
            shop = shop.with_order(FakeOrder::new(&format!("#{}", 3000 + i), &format!("2026-{:02}-{:02}T10:00:00Z", 10 - i / 28, 28 - i % 28), JANE));
        }
        connect(&app, vec![shop]).await;
        let routes = dashboard_routes(app.services.clone());
        // The first two pages answer; the third fails however often it is retried.
        app.shopify.push_fault(US, Fault::Delay(Duration::ZERO));
        app.shopify.push_fault(US, Fault::Delay(Duration::ZERO));
        for _ in 0..8 {
            app.shopify.push_fault(US, Fault::status(503));
        }

        let (status, _, body) = app.sidebar(&routes, JANE).await;

        assert_eq!(status, 200, "{body}");
        let us = section(&body, US);
        assert_eq!(us["status"], "found", "{us}");
        let names: Vec<_> = us["orders"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
        assert_eq!(names.len(), 12, "two pages of six: {names:?}");
        assert_eq!(names[..2], ["#1007", "#1001"], "the newest first");
    }

    async fn a_customer_with_fifty_orders_sees_all_fifty_newest_first_each_request_within_150_points(app: TestApp) {
        let mut shop = us_shop();
        let mut expected = vec!["#1007".to_owned(), "#1001".to_owned()];
        for i in 0..48 {
            let name = format!("#{}", 3000 + i);
            shop = shop.with_order(FakeOrder::new(&name, &format!("2026-{:02}-{:02}T10:00:00Z", 10 - i / 28, 28 - i % 28), JANE));
            expected.push(name);
        }
        connect(&app, vec![shop]).await;
        let routes = dashboard_routes(app.services.clone());

        let (_, _, body) = app.sidebar(&routes, JANE).await;

        let us = section(&body, US);
        assert_eq!(us["customer"]["orders_count"], 50);
        let names: Vec<_> = us["orders"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap().to_owned()).collect();
        assert_eq!(names, expected, "all fifty, newest first");
        let each = &us["orders"][49];
        assert_eq!((each["line_items"][0]["title"].as_str(), each["tracking"][0]["company"].as_str()), (Some("Trail Runner"), Some("UPS")));
        let requested: Vec<f64> = app.shopify.spent().into_iter().filter(|(_, op, _, _)| op == "CustomerByEmail").map(|(_, _, requested, _)| requested).collect();
        assert_eq!(requested.len(), 9, "{requested:?}");
        assert!(requested.iter().all(|r| *r <= 150.0), "every request within 150 points: {requested:?}");
    }

    async fn a_sidebar_and_six_order_lookups_fit_in_one_standard_bucket_at_once(app: TestApp) {
        // Shopify's Standard plan: 1,000 points restoring 50/s; each query holds its requested
        // cost while it runs, so the seven overlap.
        let mut shop = us_shop().with_bucket(1000.0, 50.0).with_execution(std::time::Duration::from_millis(100));
        for i in 0..48 {
            shop = shop.with_order(FakeOrder::new(&format!("#{}", 3000 + i), &format!("2026-09-{:02}T10:00:00Z", 1 + i % 28), JANE));
        }
        connect(&app, vec![shop]).await;
        let routes = dashboard_routes(app.services.clone());

        let lookup = || app.lookup("get_order_details", json!({"order_number": "#1001"}), Some(JANE));
        let ((_, _, sidebar), a, b, c, d, e, f) = tokio::join!(app.sidebar(&routes, JANE), lookup(), lookup(), lookup(), lookup(), lookup(), lookup());

        assert_eq!(section(&sidebar, US)["orders"].as_array().unwrap().len(), 50, "{sidebar}");
        for answer in [a, b, c, d, e, f] {
            assert_eq!(answer["data"]["name"], "#1001", "{answer}");
        }
        assert_eq!(app.shopify.throttled_operations(), Vec::<String>::new(), "nobody waited for the bucket");
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
