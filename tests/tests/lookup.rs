//! The `lookup` function: order details with routing and the identity check, product search,
//! shop details, and the hot path (one store read per call, credential cache, 401 re-read).

mod common;

use serde_json::{json, Value};
use tests::app::TestApp;
use tests::fake_shopify::{FakeOrder, FakeProduct, FakeShop, Fault};

/// The queries a connect sends (the credentials check and the protected-data probe), which the
/// lookup tests leave out of what a lookup asked.
fn connect_time(operation: &str) -> bool {
    matches!(operation, "ValidateCredentials" | "ProtectedDataProbe")
}

const JANE: &str = "jane@example.com";
const BOB: &str = "bob@example.com";
const US: &str = "demo-us.myshopify.com";
const UK: &str = "demo-uk.myshopify.com";

fn us_shop() -> FakeShop {
    FakeShop::new("demo-us")
        .named("Demo US")
        .with_token("shpat_us")
        .with_order(FakeOrder::new("#1001", "2026-11-01T10:00:00Z", JANE))
        .with_order(FakeOrder::new("#10010", "2026-11-20T10:00:00Z", JANE))
        .with_order(FakeOrder::new("#1002", "2026-09-01T10:00:00Z", JANE).closed())
        .with_order(
            FakeOrder::new("#1004", "2026-11-02T10:00:00Z", "Jane@Example.com")
                .customer_email_only(),
        )
        .with_order(FakeOrder::new("#1005", "2026-10-01T10:00:00Z", BOB))
        .with_product(FakeProduct::active("Trail Runner", "89.00"))
        .with_product(FakeProduct::active("Summit Jacket", "199.00").sold_out())
        .with_product(FakeProduct::draft("Secret Prototype", "999.00"))
}

fn uk_shop() -> FakeShop {
    FakeShop::new("demo-uk")
        .named("Demo UK")
        .with_prefix("UK-")
        .with_currency("GBP")
        .with_client("uk-client", "uk-secret")
        .with_order(FakeOrder::new("UK-1001", "2026-11-05T10:00:00Z", JANE).currency("GBP"))
        .with_order(FakeOrder::new("UK-1003", "2026-11-06T10:00:00Z", JANE).currency("GBP"))
        .with_product(FakeProduct::active("Trail Runner UK", "79.00"))
}

async fn two_stores(app: &TestApp) {
    app.shopify.add_shop(us_shop());
    app.shopify.add_shop(uk_shop());
    assert_eq!(
        app.connect(json!({"shop_domain": "demo-us", "access_token": "shpat_us"}))
            .await
            .0,
        201
    );
    assert_eq!(app.connect(json!({"shop_domain": "demo-uk", "client_id": "uk-client", "client_secret": "uk-secret"})).await.0, 201);
}

fn order_requests(app: &TestApp, shop: &str) -> usize {
    app.shopify
        .received()
        .iter()
        .filter(|r| r.shop == shop && r.operation.as_deref() == Some("FindOrdersByName"))
        .count()
}

fn not_found_message(number: &str) -> Value {
    json!({"code": "order_not_found", "message": format!("I couldn't find order {number} for this customer. Please check the order number and the email address used for the order.")})
}

both_backends! {
    async fn a_prefixed_order_number_is_routed_to_its_store_only(app: TestApp) {
        two_stores(&app).await;

        let answer = app.lookup("get_order_details", json!({"order_number": "uk1001"}), Some(JANE)).await;

        assert_eq!(answer["ok"], true, "{answer}");
        assert_eq!(answer["data"]["name"], "UK-1001");
        assert_eq!(answer["data"]["shop_domain"], UK);
        assert_eq!(answer["data"]["total"], json!({"amount": "49.90", "currency": "GBP"}));
        assert_eq!(answer["stores_searched"], json!([UK]));
        assert_eq!(order_requests(&app, US), 0, "the US store is not asked");
        let data = &answer["data"];
        assert_eq!(data["financial_status"], "paid");
        assert_eq!(data["line_items"][0], json!({"title": "Trail Runner", "variant_title": "42 / Blue", "quantity": 1}));
        assert_eq!(data["fulfillments"][0]["tracking"][0]["number"], "1Z999AA10123456784");
        assert_eq!(data["shipping_address"]["city"], "Portland");
        assert!(data["status_page_url"].as_str().unwrap().starts_with("https://"));
        assert!(data.get("email").is_none(), "the customer's email is not echoed");
    }

    async fn a_bare_number_asks_matching_stores_first_then_the_others(app: TestApp) {
        two_stores(&app).await;

        let answer = app.lookup("get_order_details", json!({"order_number": "order 1003"}), Some(JANE)).await;

        assert_eq!(answer["data"]["name"], "UK-1003", "{answer}");
        assert_eq!(answer["stores_searched"], json!([US, UK]));
        let first = app.lookup("get_order_details", json!({"order_number": "#1001"}), Some(JANE)).await;
        assert_eq!((first["data"]["name"].as_str(), first["stores_searched"].clone()), (Some("#1001"), json!([US])));
    }

    async fn a_prefix_holding_digits_routes_and_a_bare_number_finds_its_orders(app: TestApp) {
        two_stores(&app).await;
        app.shopify.add_shop(FakeShop::new("demo-a1").with_prefix("A1-").with_token("shpat_a1").with_order(FakeOrder::new("A1-2001", "2026-11-07T10:00:00Z", JANE)));
        assert_eq!(app.connect(json!({"shop_domain": "demo-a1", "access_token": "shpat_a1"})).await.0, 201);
        let a1 = "demo-a1.myshopify.com";

        let prefixed = app.lookup("get_order_details", json!({"order_number": "a1-2001"}), Some(JANE)).await;
        let bare = app.lookup("get_order_details", json!({"order_number": "2001"}), Some(JANE)).await;

        assert_eq!(prefixed["data"]["name"], "A1-2001", "{prefixed}");
        assert_eq!(prefixed["stores_searched"], json!([a1]));
        assert_eq!(bare["data"]["name"], "A1-2001", "{bare}");
        assert_eq!(bare["data"]["shop_domain"], a1);
    }

    async fn an_unknown_prefix_asks_every_store(app: TestApp) {
        two_stores(&app).await;

        let answer = app.lookup("get_order_details", json!({"order_number": "FR-1001"}), Some(JANE)).await;

        assert_eq!(answer["error"]["code"], "order_not_found");
        assert_eq!((order_requests(&app, US), order_requests(&app, UK)), (1, 1));
    }

    async fn matches_in_several_stores_return_the_newest_and_list_the_rest(app: TestApp) {
        app.shopify.add_shop(us_shop());
        app.shopify.add_shop(FakeShop::new("demo-ca").with_token("shpat_ca").with_order(FakeOrder::new("#1001", "2026-11-10T10:00:00Z", JANE)));
        app.connect(json!({"shop_domain": "demo-us", "access_token": "shpat_us"})).await;
        app.connect(json!({"shop_domain": "demo-ca", "access_token": "shpat_ca"})).await;

        let answer = app.lookup("get_order_details", json!({"order_number": "1001"}), Some(JANE)).await;

        assert_eq!(answer["data"]["shop_domain"], "demo-ca.myshopify.com", "{answer}");
        assert_eq!(answer["data"]["other_matches"], json!([{"shop_domain": US, "name": "#1001"}]));
    }

    async fn only_an_exact_name_counts(app: TestApp) {
        two_stores(&app).await;

        let answer = app.lookup("get_order_details", json!({"order_number": "#1001"}), Some(JANE)).await;

        assert_eq!(answer["data"]["name"], "#1001", "not the newer #10010 Shopify also returns");
        assert!(answer["data"].get("other_matches").is_none());
    }

    async fn an_exact_order_is_found_with_one_search_request_well_under_the_cost_target(app: TestApp) {
        two_stores(&app).await;

        let answer = app.lookup("get_order_details", json!({"order_number": "#1001"}), Some(JANE)).await;

        assert_eq!(answer["data"]["name"], "#1001", "{answer}");
        let asked: Vec<_> = app.shopify.spent().into_iter().filter(|(shop, op, _, _)| shop == US && !connect_time(op)).collect();
        let operations: Vec<&str> = asked.iter().map(|(_, op, _, _)| op.as_str()).collect();
        assert_eq!(operations, ["FindOrdersByName", "OrderTimeline"], "one search, then the shipped order's timeline");
        for (_, operation, requested, actual) in &asked {
            assert!(*requested <= 150.0, "{operation} requested cost {requested}");
            assert!(actual < requested, "the actual cost is what came back: {operation} {actual}");
        }
    }

    async fn an_exact_order_behind_more_candidates_is_found_with_a_second_request(app: TestApp) {
        let mut shop = FakeShop::new("demo-us").with_token("shpat_us");
        for decoy in ["#01042", "#001042", "#0001042"] {
            shop = shop.with_order(FakeOrder::new(decoy, "2026-11-20T10:00:00Z", JANE));
        }
        app.shopify.add_shop(shop.with_order(FakeOrder::new("#1042", "2026-10-01T10:00:00Z", JANE)));
        app.connect(json!({"shop_domain": "demo-us", "access_token": "shpat_us"})).await;

        let answer = app.lookup("get_order_details", json!({"order_number": "1042"}), Some(JANE)).await;

        assert_eq!(answer["data"]["name"], "#1042", "{answer}");
        let operations: Vec<_> = app.shopify.received().into_iter().filter_map(|r| r.operation).filter(|o| !connect_time(o)).collect();
        assert_eq!(operations, ["FindOrdersByName", "FindOrderIdsByName", "OrdersByIds", "OrderTimeline"]);
    }

    async fn closed_and_archived_orders_are_found(app: TestApp) {
        two_stores(&app).await;

        let answer = app.lookup("get_order_details", json!({"order_number": "1002"}), Some(JANE)).await;

        assert_eq!(answer["data"]["name"], "#1002", "{answer}");
        let query = app.shopify.received().iter().rev().find(|r| r.operation.as_deref() == Some("FindOrdersByName")).unwrap().variables["query"].clone();
        assert_eq!(query, json!("name:\"#1002\""));
    }

    async fn the_email_must_match_case_and_space_insensitively(app: TestApp) {
        two_stores(&app).await;

        let own = app.lookup("get_order_details", json!({"order_number": "1001"}), Some("  JANE@example.COM ")).await;
        let customer_only = app.lookup("get_order_details", json!({"order_number": "1004"}), Some(JANE)).await;
        let someone_else = app.lookup("get_order_details", json!({"order_number": "1005"}), Some(JANE)).await;
        let missing = app.lookup("get_order_details", json!({"order_number": "1999"}), Some(JANE)).await;

        assert_eq!(own["data"]["name"], "#1001");
        assert_eq!(customer_only["data"]["name"], "#1004", "the customer's email counts too");
        assert_eq!(someone_else["ok"], false);
        assert_eq!(someone_else["error"], not_found_message("#1005"), "a mismatch reads like a missing order");
        assert_eq!(missing["error"], not_found_message("#1999"));
    }

    async fn without_a_contact_email_no_order_details_are_given(app: TestApp) {
        two_stores(&app).await;

        for email in [None, Some(""), Some("   ")] {
            let answer = app.lookup("get_order_details", json!({"order_number": "1001"}), email).await;
            assert_eq!(answer["error"]["code"], "verification_required", "{email:?}");
        }
        assert_eq!(order_requests(&app, US), 0, "Shopify is not even asked");
    }

    async fn with_email_matching_off_the_order_is_returned_to_anyone(app: TestApp) {
        two_stores(&app).await;
        app.put_settings(json!({"actions": {"get_order_details": true, "search_products": true, "get_shop_details": true}, "require_email_match": false})).await;

        let answer = app.lookup("get_order_details", json!({"order_number": "1005"}), None).await;

        assert_eq!(answer["data"]["name"], "#1005");
    }

    async fn disabled_actions_answer_action_disabled(app: TestApp) {
        two_stores(&app).await;
        app.put_settings(json!({"actions": {"get_order_details": false, "search_products": false, "get_shop_details": false}, "require_email_match": true})).await;

        for (action, args) in [("get_order_details", json!({"order_number": "1001"})), ("search_products", json!({"query": "trail"})), ("get_shop_details", json!({}))] {
            let answer = app.lookup(action, args, Some(JANE)).await;
            assert_eq!((answer["ok"].clone(), answer["action"].clone(), answer["error"]["code"].clone()), (json!(false), json!(action), json!("action_disabled")));
        }
        assert!(app.shopify.received().iter().all(|r| r.operation.as_deref().is_some_and(connect_time) || r.path != "graphql"));
    }

    async fn an_org_without_stores_answers_no_store_connected(app: TestApp) {
        let answer = app.lookup("search_products", json!({"query": "boots"}), None).await;
        assert_eq!(answer["error"]["code"], "no_store_connected");
    }

    async fn bad_arguments_are_invalid_arguments(app: TestApp) {
        two_stores(&app).await;
        let cases = [
            ("get_order_details", json!({})),
            ("get_order_details", json!({"order_number": "1001 OR 1=1"})),
            ("get_order_details", json!({"order_number": 1001})),
            ("get_order_details", json!({"order_number": "1001", "email": JANE})),
            ("search_products", json!({"query": "boots", "limit": 0})),
            ("search_products", json!({"query": "boots", "limit": 11})),
            ("search_products", json!({"query": "   "})),
            ("search_products", json!({"query": "boots", "shop_domain": "other.myshopify.com"})),
            ("get_shop_details", json!({"shop_domain": "www.example.com"})),
            ("delete_store", json!({})),
        ];
        for (action, args) in cases {
            let answer = app.lookup(action, args.clone(), Some(JANE)).await;
            assert_eq!(answer["error"]["code"], "invalid_arguments", "{action} {args}");
            assert!(!answer["error"]["message"].as_str().unwrap().is_empty());
        }
        let malformed = app.invoke(&app.services, json!({"action": "search_products"})).await;
        assert_eq!(malformed["error"]["code"], "invalid_arguments");
    }

    async fn a_store_failing_during_fan_out_is_reported_not_fatal(app: TestApp) {
        app.shopify.add_shop(us_shop());
        app.shopify.add_shop(FakeShop::new("demo-ca").with_token("shpat_ca"));
        app.connect(json!({"shop_domain": "demo-us", "access_token": "shpat_us"})).await;
        app.connect(json!({"shop_domain": "demo-ca", "access_token": "shpat_ca"})).await;
        for _ in 0..4 {
            app.shopify.push_fault("demo-ca.myshopify.com", Fault::status(500));
        }

        let answer = app.lookup("get_order_details", json!({"order_number": "1001"}), Some(JANE)).await;

        assert_eq!(answer["ok"], true, "{answer}");
        assert_eq!(answer["data"]["name"], "#1001");
        assert_eq!(answer["store_errors"], json!([{"shop_domain": "demo-ca.myshopify.com", "code": "shopify_unavailable"}]));

        for _ in 0..4 {
            app.shopify.push_fault("demo-ca.myshopify.com", Fault::status(500));
        }
        let unsure = app.lookup("get_order_details", json!({"order_number": "1999"}), Some(JANE)).await;
        assert_eq!(unsure["error"]["code"], "shopify_unavailable", "not found, but one store could not be asked");
    }

    async fn a_bare_number_is_not_answered_by_another_store_while_its_own_store_fails(app: TestApp) {
        two_stores(&app).await;
        for _ in 0..4 {
            app.shopify.push_fault(US, Fault::status(500));
        }

        // "1003" routes to the US store (no letters); the UK store's UK-1003 is a different
        // order, and the US store's own 1003 may be the one the shopper means.
        let answer = app.lookup("get_order_details", json!({"order_number": "1003"}), Some(JANE)).await;

        assert_eq!(answer["ok"], false, "{answer}");
        assert_eq!(answer["error"]["code"], "shopify_unavailable", "{answer}");
        assert_eq!(order_requests(&app, UK), 0, "the other stores are not asked in its place");

        let answered = app.lookup("get_order_details", json!({"order_number": "1003"}), Some(JANE)).await;
        assert_eq!(answered["data"]["name"], "UK-1003", "once the US store answers, the others are asked: {answered}");
    }

    async fn a_throttled_lookup_waits_and_succeeds(app: TestApp) {
        two_stores(&app).await;
        app.shopify.push_fault(US, Fault::Throttled { requested: 460.0, available: 400.0, restore_rate: 1000.0 });

        let answer = app.lookup("get_order_details", json!({"order_number": "1001"}), Some(JANE)).await;

        assert_eq!(answer["data"]["name"], "#1001", "{answer}");
        assert_eq!(order_requests(&app, US), 2);
    }

    async fn throttling_past_the_budget_is_reported_as_rate_limited(app: TestApp) {
        two_stores(&app).await;
        for _ in 0..4 {
            app.shopify.push_fault(UK, Fault::Status { status: 429, retry_after: Some("0".into()) });
        }

        let answer = app.lookup("get_order_details", json!({"order_number": "UK-1001"}), Some(JANE)).await;

        assert_eq!(answer["error"]["code"], "shopify_rate_limited", "{answer}");
    }

    async fn product_search_returns_active_products_with_prices_and_availability(app: TestApp) {
        two_stores(&app).await;

        let answer = app.lookup("search_products", json!({"query": "trail runner"}), None).await;

        assert_eq!(answer["ok"], true, "{answer}");
        let products = answer["data"]["products"].as_array().unwrap();
        let titles: Vec<_> = products.iter().map(|p| p["title"].as_str().unwrap()).collect();
        assert_eq!(titles, ["Trail Runner", "Trail Runner UK"]);
        let us = &products[0];
        assert_eq!(us["price_range"], json!({"min": "89.00", "max": "89.00", "currency": "USD"}));
        assert_eq!(us["available"], true);
        assert_eq!(us["variants"][0]["available_for_sale"], true);
        assert_eq!(us["url"], "https://demo-us.example/products/trail-runner");
        assert_eq!(us["image_url"], "https://cdn.example/trail-runner.jpg");
        assert_eq!(products[1]["price_range"]["currency"], "GBP");
        assert_eq!(answer["stores_searched"], json!([US, UK]));

        let sold_out = app.lookup("search_products", json!({"query": "jacket", "shop_domain": US}), None).await;
        assert_eq!(sold_out["data"]["products"][0]["available"], false);
        assert_eq!(sold_out["stores_searched"], json!([US]));
        let one = app.lookup("search_products", json!({"query": "trail", "limit": 1}), None).await;
        assert_eq!(one["data"]["products"].as_array().unwrap().len(), 1);
    }

    async fn a_search_for_ten_results_asks_two_pages_of_five_and_a_failing_second_page_keeps_the_first(app: TestApp) {
        let mut shop = us_shop();
        for n in 1..=12 {
            shop = shop.with_product(FakeProduct::active(&format!("Wool Sock {n:02}"), "9.00"));
        }
        app.shopify.add_shop(shop);
        assert_eq!(app.connect(json!({"shop_domain": "demo-us", "access_token": "shpat_us"})).await.0, 201);
        let searches = |app: &TestApp| {
            app.shopify.spent().into_iter().filter(|(_, op, _, _)| op == "SearchProducts").collect::<Vec<_>>()
        };

        let answer = app.lookup("search_products", json!({"query": "wool sock", "limit": 10}), None).await;

        let titles: Vec<String> = answer["data"]["products"].as_array().unwrap().iter().map(|p| p["title"].as_str().unwrap().to_owned()).collect();
        assert_eq!(titles, (1..=10).map(|n| format!("Wool Sock {n:02}")).collect::<Vec<_>>(), "{answer}");
        let pages = searches(&app);
        assert_eq!(pages.len(), 2, "{pages:?}");
        assert!(pages.iter().all(|(_, _, requested, _)| *requested <= 150.0), "{pages:?}");

        let five = app.lookup("search_products", json!({"query": "wool sock"}), None).await;
        assert_eq!(five["data"]["products"].as_array().unwrap().len(), 5, "{five}");
        assert_eq!(searches(&app).len(), 3, "the default five are one page");

        // The first page is answered; the second, and every retry of it, fails.
        app.shopify.push_fault(US, Fault::Delay(std::time::Duration::ZERO));
        for _ in 0..8 {
            app.shopify.push_fault(US, Fault::status(500));
        }
        let answer = app.lookup("search_products", json!({"query": "wool sock", "limit": 10}), None).await;
        assert_eq!(answer["ok"], true, "{answer}");
        let titles: Vec<String> = answer["data"]["products"].as_array().unwrap().iter().map(|p| p["title"].as_str().unwrap().to_owned()).collect();
        assert_eq!(titles, (1..=5).map(|n| format!("Wool Sock {n:02}")).collect::<Vec<_>>(), "{answer}");
    }

    async fn search_syntax_in_the_query_is_only_ever_words(app: TestApp) {
        two_stores(&app).await;
        let attacks = [
            "Secret OR status:draft",
            "status:draft",
            "Secret",
            "Prototype) OR (status:draft",
            "\"Secret\" OR status:any",
            "* OR vendor:Demo",
            "Secret\\\" OR status:draft",
        ];
        for attack in attacks {
            let answer = app.lookup("search_products", json!({"query": attack, "shop_domain": US}), None).await;
            assert_eq!(answer["ok"], true, "{attack}: {answer}");
            let titles: Vec<_> = answer["data"]["products"].as_array().unwrap().iter().map(|p| p["title"].clone()).collect();
            assert!(!titles.contains(&json!("Secret Prototype")), "{attack:?} reached a draft: {titles:?}");
        }
        let sent: Vec<_> = app.shopify.received().iter().filter(|r| r.operation.as_deref() == Some("SearchProducts")).map(|r| r.variables["query"].as_str().unwrap().to_owned()).collect();
        assert_eq!(sent[0], r#"status:active AND published_status:published AND ("Secret" "OR" "status:draft")"#);
        assert!(sent.iter().all(|q| q.starts_with("status:active AND published_status:published AND (")));
    }

    async fn a_product_not_published_on_the_online_store_is_not_found_even_when_its_words_match(app: TestApp) {
        two_stores(&app).await;
        app.shopify.update_shop(US, |shop| {
            // Active, but launching next month, or sold on POS or to B2B catalogs only.
            shop.products.push(FakeProduct::active("Trail Runner Prototype", "149.00").with_id(7_000_000_101).unpublished());
        });

        for text in ["trail runner", "prototype", "Prototype published_status:any", "Prototype OR published_status:unpublished"] {
            let answer = app.lookup("search_products", json!({"query": text, "shop_domain": US}), None).await;

            assert_eq!(answer["ok"], true, "{text}: {answer}");
            let titles: Vec<_> = answer["data"]["products"].as_array().unwrap().iter().map(|p| p["title"].clone()).collect();
            assert!(!titles.contains(&json!("Trail Runner Prototype")), "{text:?} reached an unpublished product: {titles:?}");
        }
        let first = app.lookup("search_products", json!({"query": "trail runner", "shop_domain": US}), None).await;
        assert_eq!(first["data"]["products"][0]["url"], "https://demo-us.example/products/trail-runner");
        let sent: Vec<_> = app.shopify.received().iter().filter(|r| r.operation.as_deref() == Some("SearchProducts")).map(|r| r.variables["query"].as_str().unwrap().to_owned()).collect();
        assert_eq!(sent[3], r#"status:active AND published_status:published AND ("Prototype" "OR" "published_status:unpublished")"#);
    }

    async fn a_search_index_lagging_behind_an_unpublish_cannot_show_the_product(app: TestApp) {
        two_stores(&app).await;
        app.shopify.update_shop(US, |shop| {
            // Taken off the online store a moment ago: Shopify's search still finds it.
            shop.products.push(FakeProduct::active("Trail Runner Recall", "89.00").with_id(7_000_000_102).unpublished_after_indexing());
        });

        let answer = app.lookup("search_products", json!({"query": "trail runner", "shop_domain": US}), None).await;

        assert_eq!(answer["ok"], true, "{answer}");
        let titles: Vec<_> = answer["data"]["products"].as_array().unwrap().iter().map(|p| p["title"].clone()).collect();
        assert_eq!(titles, [json!("Trail Runner")], "only what shoppers can see on the store");
    }

    async fn shop_details_cover_every_store(app: TestApp) {
        two_stores(&app).await;

        let answer = app.lookup("get_shop_details", Value::Null, None).await;

        let shops = answer["data"]["shops"].as_array().unwrap();
        assert_eq!(shops.len(), 2, "{answer}");
        assert_eq!(shops[0]["name"], "Demo US");
        assert_eq!(shops[0]["currency"], "USD");
        assert_eq!(shops[0]["ships_to_countries"], json!(["US", "CA"]));
        assert_eq!(shops[0]["primary_domain"], "demo-us.example");
        assert_eq!(shops[0]["contact_email"], "help@demo-us.example");
        assert_eq!(shops[0]["policies"][0], json!({"title": "Refund policy", "url": "https://demo-us.example/policies/refund-policy"}));
        assert_eq!(shops[1]["currency"], "GBP");
        let one = app.lookup("get_shop_details", json!({"shop_domain": "demo-uk"}), None).await;
        assert_eq!(one["stores_searched"], json!([UK]));
    }

    async fn a_disconnect_is_seen_by_the_very_next_lookup(app: TestApp) {
        two_stores(&app).await;
        assert_eq!(app.lookup("get_shop_details", json!({}), None).await["data"]["shops"].as_array().unwrap().len(), 2);

        assert_eq!(app.disconnect(UK).await.0, 204);

        let answer = app.lookup("get_shop_details", json!({}), None).await;
        assert_eq!(answer["stores_searched"], json!([US]));
        let order = app.lookup("get_order_details", json!({"order_number": "UK-1001"}), Some(JANE)).await;
        assert_eq!(order["error"]["code"], "order_not_found");
        assert_eq!(order_requests(&app, UK), 0);
        assert_eq!(app.disconnect(US).await.0, 204);
        assert_eq!(app.lookup("get_shop_details", json!({}), None).await["error"]["code"], "no_store_connected");
    }

    async fn a_rotation_is_used_at_once_although_credentials_are_cached(app: TestApp) {
        app.shopify.add_shop(us_shop().with_token("shpat_us_new"));
        app.connect(json!({"shop_domain": "demo-us", "access_token": "shpat_us"})).await;
        assert_eq!(app.lookup("get_shop_details", json!({}), None).await["ok"], true);

        assert_eq!(app.connect(json!({"shop_domain": "demo-us", "access_token": "shpat_us_new"})).await.0, 200);
        app.shopify.update_shop(US, |shop| shop.access_tokens.retain(|t| t != "shpat_us"));

        let answer = app.lookup("get_shop_details", json!({}), None).await;
        assert_eq!(answer["ok"], true, "{answer}");
        let last = app.shopify.received().into_iter().rev().find(|r| r.operation.as_deref() == Some("ShopDetails")).unwrap();
        assert_eq!(last.access_token.as_deref(), Some("shpat_us_new"));
    }

    async fn a_refused_client_credentials_token_is_exchanged_again_once(app: TestApp) {
        two_stores(&app).await;
        assert_eq!(app.lookup("get_shop_details", json!({"shop_domain": UK}), None).await["ok"], true);
        let exchanges = || app.shopify.received().iter().filter(|r| r.shop == UK && r.path == "oauth/access_token").count();
        let before = exchanges();
        app.lookup("get_shop_details", json!({"shop_domain": UK}), None).await;
        assert_eq!(exchanges(), before, "the token is cached between lookups");

        app.shopify.update_shop(UK, |shop| shop.issued_tokens.clear());
        let answer = app.lookup("get_shop_details", json!({"shop_domain": UK}), None).await;

        assert_eq!(answer["ok"], true, "{answer}");
        assert_eq!(exchanges(), before + 1, "one fresh exchange after the 401");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_tokens_are_refreshed_before_they_expire() {
    let app = TestApp::spawn(tests::app::Backend::Memory).await;
    let mut uk = uk_shop();
    uk.token_ttl = 240; // inside the 5-minute refresh margin: every use must exchange anew
    app.shopify.add_shop(uk);
    assert_eq!(app.connect(json!({"shop_domain": "demo-uk", "client_id": "uk-client", "client_secret": "uk-secret"})).await.0, 201);
    let exchanges = || {
        app.shopify
            .received()
            .iter()
            .filter(|r| r.path == "oauth/access_token")
            .count()
    };
    let before = exchanges();

    assert_eq!(
        app.lookup("get_shop_details", json!({}), None).await["ok"],
        true
    );
    assert_eq!(
        app.lookup("get_shop_details", json!({}), None).await["ok"],
        true
    );

    assert_eq!(
        exchanges(),
        before + 2,
        "a token about to expire is never reused"
    );
    let tokens: Vec<_> = app
        .shopify
        .received()
        .iter()
        .filter(|r| r.operation.as_deref() == Some("ShopDetails"))
        .filter_map(|r| r.access_token.clone())
        .collect();
    assert_ne!(tokens[0], tokens[1]);
}

mod hot_path {
    use super::*;
    use std::sync::Arc;
    use tests::faults::CountingStores;

    both_backends! {
        async fn each_lookup_reads_the_org_with_one_storage_query(app: TestApp) {
            two_stores(&app).await;
            let counting = Arc::new(CountingStores::new(app.services.storage.stores.clone()));
            let services = app.with_storage(Some(counting.clone()), None);
            let event = json!({"org_id": app.org, "action": "get_order_details", "arguments": {"order_number": "1003"}, "contact": {"email": JANE}});

            let first = app.invoke(&services, event.clone()).await;
            let second = app.invoke(&services, event).await;

            assert_eq!((first["data"]["name"].as_str(), second["data"]["name"].as_str()), (Some("UK-1003"), Some("UK-1003")));
            assert_eq!(counting.reads(), 2, "one store read per invocation, nothing more");
        }
    }
}
