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

/// A store with three customers and their orders, its app seeing customer data as `access`.
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
            assert!(message.contains("Dev Dashboard") && message.contains("Protected customer data"), "{message}");
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
