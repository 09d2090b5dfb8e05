//! The failures that give no error: a Dev Dashboard app whose protected customer data was never
//! enabled (Shopify denies or redacts customers' and orders' emails), and a store without
//! `read_all_orders` (orders older than 60 days are invisible). The connector finds them at
//! connect and verify, and says so where they bite — without revealing whether an order exists.
//! Every scenario runs on both backends.

mod common;

use serde_json::{json, Value};
use tests::app::{section, TestApp};
use tests::fake_shopify::{CustomerDataAccess, FakeCustomer, FakeOrder, FakeShop};
use tests::gateway::dashboard_routes;

const TOKEN: &str = "shpat_silent_0000000000000000000000";
const UK_TOKEN: &str = "shpat_silent_uk_000000000000000000";
const JANE: &str = "jane@example.com";
const BOB: &str = "bob@example.com";
const WARNING: &str = "protected_customer_data_unavailable";

/// A store with three customers and three orders, its app seeing customer data as `access`.
fn shop(handle: &str, token: &str, prefix: &str, access: CustomerDataAccess) -> FakeShop {
    FakeShop::new(handle)
        .with_token(token)
        .with_prefix(prefix)
        .withholding_customer_data(access)
        .with_customer(FakeCustomer::new(7001, "Jane Doe", JANE))
        .with_customer(FakeCustomer::new(7002, "Bob Stone", BOB))
        .with_customer(FakeCustomer::new(7003, "Ann Lee", "ann@example.com"))
        .with_order(FakeOrder::new(
            &format!("{prefix}1001"),
            "2026-11-01T10:00:00Z",
            JANE,
        ))
        .with_order(FakeOrder::new(
            &format!("{prefix}1002"),
            "2026-11-02T10:00:00Z",
            BOB,
        ))
        .with_order(FakeOrder::new(
            &format!("{prefix}1003"),
            "2026-11-03T10:00:00Z",
            "ann@example.com",
        ))
}

async fn connect(app: &TestApp, handle: &str, token: &str) -> Value {
    let (status, body) = app
        .connect(json!({"shop_domain": handle, "access_token": token}))
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

fn warning<'a>(store: &'a Value, code: &str) -> Option<&'a Value> {
    store["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == code)
}

/// The answer with the order number taken out, to compare answers for different numbers.
fn without_number(answer: &Value, number: &str) -> String {
    answer.to_string().replace(number, "N")
}

both_backends! {
    async fn withheld_customer_data_is_found_at_connect_and_verify(app: TestApp) {
        for (handle, access) in [("denied", CustomerDataAccess::Denied), ("redacted", CustomerDataAccess::Redacted)] {
            app.shopify.add_shop(shop(handle, TOKEN, "#", access));
            let store = connect(&app, handle, TOKEN).await;
            let found = warning(&store, WARNING).unwrap_or_else(|| panic!("{handle}: {store}"));
            let message = found["message"].as_str().unwrap();
            assert!(message.contains("customer email") && message.contains("order email"), "{message}");
            assert!(message.contains("protected customer data"), "{message}");
            assert_eq!(store["status"], "connected", "the store still works for products and shop details");
            let (status, verified) = app.get_store(&format!("{handle}.myshopify.com"), true).await;
            assert_eq!(status, 200);
            assert_eq!(warning(&verified, WARNING), Some(found), "verify finds it too");
        }
        // A store whose app sees the emails carries no such warning.
        app.shopify.add_shop(shop("granted", TOKEN, "#", CustomerDataAccess::Granted));
        let store = connect(&app, "granted", TOKEN).await;
        assert!(warning(&store, WARNING).is_none(), "{store}");
    }

    async fn the_warning_names_the_fix_for_the_kind_of_app(app: TestApp) {
        app.shopify.add_shop(shop("token", TOKEN, "#", CustomerDataAccess::Denied));
        let store = connect(&app, "token", TOKEN).await;
        let message = warning(&store, WARNING).unwrap()["message"].as_str().unwrap().to_owned();
        assert!(message.contains("Shopify admin") && !message.contains("Dev Dashboard, open"), "a custom app is fixed in the Shopify admin: {message}");
        app.shopify.add_shop(shop("client", TOKEN, "#", CustomerDataAccess::Denied).with_client("cid", "csecret"));
        let (status, store) = app.connect(json!({"shop_domain": "client", "client_id": "cid", "client_secret": "csecret"})).await;
        assert_eq!(status, 201);
        let message = warning(&store, WARNING).unwrap()["message"].as_str().unwrap();
        assert!(message.contains("In the Dev Dashboard"), "{message}");
    }

    async fn the_customer_data_check_rides_on_the_one_validation_request(app: TestApp) {
        for (handle, access, warned) in [("granted", CustomerDataAccess::Granted, false), ("redacted", CustomerDataAccess::Redacted, true)] {
            app.shopify.add_shop(shop(handle, TOKEN, "#", access));
            let domain = format!("{handle}.myshopify.com");
            let store = connect(&app, handle, TOKEN).await;
            assert_eq!(warning(&store, WARNING).is_some(), warned, "{handle}: {store}");
            assert_eq!(app.shopify.requests_to(&domain), 1, "{handle}: one request answers the connect");
        }
        // Shopify's denial may null the whole answer: the shop is read again, on its own.
        app.shopify.add_shop(shop("denied", TOKEN, "#", CustomerDataAccess::Denied));
        let store = connect(&app, "denied", TOKEN).await;
        assert!(warning(&store, WARNING).is_some(), "{store}");
        assert_eq!(store["shop_name"], "denied", "{store}");
        let operations: Vec<_> = app.shopify.received().into_iter().filter(|r| r.shop == "denied.myshopify.com").filter_map(|r| r.operation).collect();
        assert_eq!(operations, ["ValidateCredentials", "ShopAndScopes"]);
    }

    async fn a_store_with_few_customers_and_point_of_sale_orders_is_not_flagged(app: TestApp) {
        let mut pos = FakeShop::new("pos").with_token(TOKEN).with_customer(FakeCustomer::new(9001, "Walk In", ""));
        for n in 0..4 {
            let mut order = FakeOrder::new(&format!("#{}", 2000 + n), "2026-11-10T10:00:00Z", "");
            order.email = None;
            pos = pos.with_order(order);
        }
        app.shopify.add_shop(pos);
        let store = connect(&app, "pos", TOKEN).await;
        assert!(warning(&store, WARNING).is_none(), "{store}");
    }

    async fn an_unflagged_store_that_denies_fields_answers_alike_whether_or_not_the_order_exists(app: TestApp) {
        // Connected while Shopify showed everything; then the app loses protected data access
        // (no verify since, so no warning yet).
        app.shopify.add_shop(shop("demo-us", TOKEN, "#", CustomerDataAccess::Granted));
        app.shopify.add_shop(shop("demo-uk", UK_TOKEN, "UK-", CustomerDataAccess::Granted));
        connect(&app, "demo-us", TOKEN).await;
        connect(&app, "demo-uk", UK_TOKEN).await;
        app.shopify.update_shop("demo-uk.myshopify.com", |s| s.customer_data = CustomerDataAccess::Denied);
        let janes = app.lookup("get_order_details", json!({"order_number": "UK-1001"}), Some(JANE)).await;
        let bobs = app.lookup("get_order_details", json!({"order_number": "UK-1002"}), Some(JANE)).await;
        let missing = app.lookup("get_order_details", json!({"order_number": "UK-4242"}), Some(JANE)).await;
        assert_eq!(janes["error"]["code"], "order_not_found", "{janes}");
        assert_eq!(without_number(&janes, "UK-1001"), without_number(&missing, "UK-4242"));
        assert_eq!(without_number(&bobs, "UK-1002"), without_number(&missing, "UK-4242"));
        // Without the email check the order is shown, its withheld fields empty.
        app.put_settings(json!({"actions": {"get_order_details": true, "search_products": true, "get_shop_details": true}, "require_email_match": false})).await;
        let shown = app.lookup("get_order_details", json!({"order_number": "UK-1001"}), None).await;
        assert_eq!((shown["data"]["name"].as_str(), &shown["data"]["shipping_address"]), (Some("UK-1001"), &Value::Null), "{shown}");
    }

    async fn a_store_that_withholds_only_addresses_still_answers_orders(app: TestApp) {
        app.shopify.add_shop(shop("addr", TOKEN, "#", CustomerDataAccess::AddressDenied));
        let store = connect(&app, "addr", TOKEN).await;
        assert!(warning(&store, WARNING).is_none(), "emails are shown: identity checks work");
        let found = app.lookup("get_order_details", json!({"order_number": "#1001"}), Some(JANE)).await;
        assert_eq!(found["data"]["name"], "#1001", "{found}");
        assert_eq!(found["data"]["shipping_address"], Value::Null);
    }

    async fn a_flagged_store_whose_token_is_revoked_says_reconnect(app: TestApp) {
        app.shopify.add_shop(shop("demo-uk", UK_TOKEN, "UK-", CustomerDataAccess::Redacted));
        assert!(warning(&connect(&app, "demo-uk", UK_TOKEN).await, WARNING).is_some());
        app.shopify.update_shop("demo-uk.myshopify.com", |s| s.access_tokens.clear());
        let (_, verified) = app.get_store("demo-uk.myshopify.com", true).await;
        assert_eq!(verified["status"], "invalid_credentials");
        let routes = dashboard_routes(app.services.clone());
        let (_, _, body) = app.sidebar(&routes, JANE).await;
        assert_eq!(section(&body, "demo-uk.myshopify.com")["error"]["code"], "invalid_credentials", "{body}");
        let answer = app.lookup("get_order_details", json!({"order_number": "UK-1001"}), Some(JANE)).await;
        assert_ne!(answer["error"]["code"], "verification_unavailable", "{answer}");
    }

    async fn access_granted_later_clears_the_warning_at_the_next_verify(app: TestApp) {
        app.shopify.add_shop(shop("later", TOKEN, "#", CustomerDataAccess::Redacted));
        assert!(warning(&connect(&app, "later", TOKEN).await, WARNING).is_some());
        app.shopify.update_shop("later.myshopify.com", |s| s.customer_data = CustomerDataAccess::Granted);
        let (_, verified) = app.get_store("later.myshopify.com", true).await;
        assert!(warning(&verified, WARNING).is_none(), "{verified}");
        app.shopify.update_shop("later.myshopify.com", |s| s.customer_data = CustomerDataAccess::Redacted);
        let (_, verified) = app.get_store("later.myshopify.com", true).await;
        assert!(warning(&verified, WARNING).is_some());
        // A probe that cannot tell (too few customers and orders to judge) keeps what was known.
        app.shopify.update_shop("later.myshopify.com", |s| {
            s.customers.truncate(1);
            s.orders.clear();
        });
        let (_, verified) = app.get_store("later.myshopify.com", true).await;
        assert!(warning(&verified, WARNING).is_some(), "{verified}");
    }

    async fn a_lookup_says_the_store_cannot_verify_emails_without_revealing_the_order(app: TestApp) {
        app.shopify.add_shop(shop("demo-us", TOKEN, "#", CustomerDataAccess::Granted));
        app.shopify.add_shop(shop("demo-uk", UK_TOKEN, "UK-", CustomerDataAccess::Redacted));
        connect(&app, "demo-us", TOKEN).await;
        connect(&app, "demo-uk", UK_TOKEN).await;
        let asked = app.shopify.requests_to("demo-uk.myshopify.com");

        let exists = app.lookup("get_order_details", json!({"order_number": "UK-1001"}), Some(JANE)).await;
        assert_eq!((exists["ok"].as_bool(), exists["error"]["code"].as_str()), (Some(false), Some("verification_unavailable")), "{exists}");
        assert!(exists["error"]["message"].as_str().unwrap().contains("can't verify order emails yet"), "{exists}");
        let missing = app.lookup("get_order_details", json!({"order_number": "UK-4242"}), Some(JANE)).await;
        assert_eq!(without_number(&exists, "UK-1001"), without_number(&missing, "UK-4242"), "the same words whether or not the order exists");
        let someone_elses = app.lookup("get_order_details", json!({"order_number": "UK-1002"}), Some(JANE)).await;
        assert_eq!(without_number(&exists, "UK-1001"), without_number(&someone_elses, "UK-1002"));
        assert_eq!(app.shopify.requests_to("demo-uk.myshopify.com"), asked, "the store is not asked at all");

        // The store that can verify still answers its own orders.
        let found = app.lookup("get_order_details", json!({"order_number": "#1001"}), Some(JANE)).await;
        assert_eq!(found["data"]["name"], "#1001", "{found}");
        // Without the email check the withheld store's orders are looked up as before.
        app.put_settings(json!({"actions": {"get_order_details": true, "search_products": true, "get_shop_details": true}, "require_email_match": false})).await;
        let unchecked = app.lookup("get_order_details", json!({"order_number": "UK-1001"}), Some(JANE)).await;
        assert_eq!(unchecked["data"]["name"], "UK-1001", "{unchecked}");
    }

    async fn the_sidebar_says_why_a_withholding_store_is_empty(app: TestApp) {
        app.shopify.add_shop(shop("demo-us", TOKEN, "#", CustomerDataAccess::Granted));
        app.shopify.add_shop(shop("demo-uk", UK_TOKEN, "UK-", CustomerDataAccess::Denied));
        connect(&app, "demo-us", TOKEN).await;
        connect(&app, "demo-uk", UK_TOKEN).await;
        let routes = dashboard_routes(app.services.clone());
        let (status, _, body) = app.sidebar(&routes, JANE).await;
        assert_eq!(status, 200);
        assert_eq!(section(&body, "demo-us.myshopify.com")["status"], "found");
        let uk = section(&body, "demo-uk.myshopify.com");
        assert_eq!((uk["status"].as_str(), uk["error"]["code"].as_str()), (Some("error"), Some(WARNING)), "{uk}");
        assert!(uk["error"]["message"].as_str().unwrap().contains("protected customer data"), "{uk}");
    }

    async fn order_not_found_says_older_orders_are_invisible_without_read_all_orders(app: TestApp) {
        app.shopify.add_shop(shop("recent", TOKEN, "#", CustomerDataAccess::Granted).with_scopes(&["read_orders", "read_products", "read_customers"]));
        let store = connect(&app, "recent", TOKEN).await;
        assert!(warning(&store, "orders_limited_to_60_days").is_some(), "{store}");
        let answer = app.lookup("get_order_details", json!({"order_number": "#1000"}), Some(JANE)).await;
        assert_eq!(answer["error"]["code"], "order_not_found", "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains("more than 60 days ago"), "{answer}");
        // Someone else's order reads exactly like a missing one.
        let bobs = app.lookup("get_order_details", json!({"order_number": "#1002"}), Some(JANE)).await;
        assert_eq!(without_number(&answer, "#1000"), without_number(&bobs, "#1002"));
    }

    async fn order_not_found_says_nothing_of_60_days_when_every_order_is_visible(app: TestApp) {
        app.shopify.add_shop(shop("all", TOKEN, "#", CustomerDataAccess::Granted));
        connect(&app, "all", TOKEN).await;
        let answer = app.lookup("get_order_details", json!({"order_number": "#1000"}), Some(JANE)).await;
        assert_eq!(answer["error"]["code"], "order_not_found");
        assert!(!answer["error"]["message"].as_str().unwrap().contains("60 days"), "{answer}");
    }
}
