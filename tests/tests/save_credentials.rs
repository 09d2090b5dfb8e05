//! `POST /shopify/stores`: connecting a store and rotating its credentials, on both backends.

mod common;

use std::sync::Arc;

use serde_json::{json, Value};
use tests::app::{Backend, TestApp};
use tests::events::HttpEvent;
use tests::fake_shopify::{FakeShop, Fault};
use tests::faults::{FailingSecrets, FailingStores, Trigger};

const TOKEN: &str = "shpat_0123456789abcdef0123456789abcdef";

fn demo_shop() -> FakeShop {
    FakeShop::new("demo-us").named("Demo US").with_token(TOKEN)
}

fn token_body(shop: &str, token: &str) -> Value {
    json!({"shop_domain": shop, "access_token": token})
}

async fn assert_nothing_stored(app: &TestApp) {
    assert!(
        app.records().await.is_empty(),
        "no store record may be left behind"
    );
    assert!(
        app.secret_names().await.is_empty(),
        "no secret may be left behind"
    );
}

both_backends! {
    async fn connecting_with_an_admin_api_token_stores_the_shop(app: TestApp) {
        app.shopify.add_shop(demo_shop().with_prefix("#"));

        let (status, body) = app.connect(token_body(" https://Demo-US.myshopify.com/admin ", TOKEN)).await;

        assert_eq!(status, 201, "{body}");
        assert_eq!(body["shop_domain"], "demo-us.myshopify.com");
        assert_eq!(body["shop_name"], "Demo US");
        assert_eq!(body["auth_type"], "access_token");
        assert_eq!(body["status"], "connected");
        assert_eq!(body["currency"], "USD");
        assert_eq!(body["order_number_prefix"], "#");
        assert_eq!(body["order_number_suffix"], "");
        assert_eq!(body["granted_scopes"], json!(["read_all_orders", "read_customers", "read_orders", "read_products"]));
        assert_eq!(body["warnings"], json!([]));
        for field in ["connected_at", "updated_at", "credentials_updated_at", "last_verified_at"] {
            assert!(chrono::DateTime::parse_from_rfc3339(body[field].as_str().unwrap()).is_ok(), "{field}");
        }
        assert!(!body.to_string().contains(TOKEN));
        let records = app.records().await;
        assert_eq!(records.len(), 1);
        assert_eq!(app.secret_names().await.len(), 1);
        assert_eq!(app.current_secret("demo-us").await.unwrap(), json!({"auth_type": "access_token", "access_token": TOKEN}));
        let sent = app.shopify.received();
        let operations: Vec<_> = sent.iter().map(|r| r.operation.as_deref()).collect();
        assert_eq!(operations, [Some("ValidateCredentials")], "one request reads the shop, checks the token, its scopes and whether customer emails are visible");
        assert!(sent.iter().all(|r| r.access_token.as_deref() == Some(TOKEN)));
        assert!(sent.iter().all(|r| r.api_version.as_deref() == Some("2026-10")));
    }

    async fn connecting_with_client_credentials_exchanges_them_and_keeps_only_the_client_secret(app: TestApp) {
        app.shopify.add_shop(FakeShop::new("demo-uk").with_prefix("UK-").with_currency("GBP").with_client("client-123", "secret-456"));

        let (status, body) = app.connect(json!({"shop_domain": "demo-uk", "client_id": "client-123", "client_secret": "secret-456"})).await;

        assert_eq!(status, 201, "{body}");
        assert_eq!(body["auth_type"], "client_credentials");
        assert_eq!(body["order_number_prefix"], "UK-");
        assert_eq!(body["currency"], "GBP");
        let secret = app.current_secret("demo-uk").await.unwrap();
        assert_eq!(secret, json!({"auth_type": "client_credentials", "client_id": "client-123", "client_secret": "secret-456"}));
        let sent = app.shopify.received();
        assert_eq!(sent.len(), 2, "the token exchange, then the one validation query");
        assert_eq!(sent[0].path, "oauth/access_token");
        assert_eq!(sent[1].operation.as_deref(), Some("ValidateCredentials"));
        let issued = sent[1].access_token.clone().unwrap();
        assert!(issued.starts_with("shpat_cc_"), "the exchanged token is used for the query");
        assert!(!secret.to_string().contains(&issued), "the short-lived token is not stored");
    }

    async fn connecting_the_same_shop_again_answers_200_and_keeps_one_record_and_one_secret(app: TestApp) {
        app.shopify.add_shop(demo_shop().with_token("shpat_second"));

        let (first, created) = app.connect(token_body("demo-us", TOKEN)).await;
        let (second, updated) = app.connect(token_body("demo-us.myshopify.com", "shpat_second")).await;

        assert_eq!((first, second), (201, 200));
        assert_eq!(created["connected_at"], updated["connected_at"], "connected_at is kept");
        assert_eq!(app.records().await.len(), 1);
        assert_eq!(app.secret_names().await.len(), 1);
        assert_eq!(app.current_secret("demo-us").await.unwrap()["access_token"], "shpat_second");
    }

    async fn a_custom_domain_is_rejected_with_a_hint_and_nothing_is_contacted(app: TestApp) {
        let (status, body) = app.connect(token_body("www.example.com", TOKEN)).await;

        assert_eq!(status, 422);
        assert_eq!(body["error"]["code"], "invalid_shop_domain");
        assert!(body["error"]["message"].as_str().unwrap().contains(".myshopify.com domain"));
        assert!(app.shopify.received().is_empty());
        assert_nothing_stored(&app).await;
    }

    async fn hostile_domains_are_invalid_shop_domain(app: TestApp) {
        for domain in ["a.myshopify.com@evil.com", "myshopify.com.evil.com", "evil.com/.myshopify.com", "127.0.0.1", "a.myshopify.com:8443", "", "ex\u{0430}mple.myshopify.com"] {
            let (status, body) = app.connect(token_body(domain, TOKEN)).await;
            assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_shop_domain")), "{domain:?}");
        }
        assert!(app.shopify.received().is_empty());
    }

    async fn a_rejected_token_is_invalid_credentials_and_nothing_is_stored(app: TestApp) {
        app.shopify.add_shop(demo_shop());

        let (status, body) = app.connect(token_body("demo-us", "shpat_wrong")).await;

        assert_eq!(status, 422);
        assert_eq!(body["error"]["code"], "invalid_credentials");
        assert_eq!(app.shopify.received().len(), 1, "a 401 is not retried");
        assert_nothing_stored(&app).await;
    }

    async fn a_wrong_client_secret_is_invalid_credentials(app: TestApp) {
        app.shopify.add_shop(FakeShop::new("demo-uk").with_client("client-123", "secret-456"));

        let (status, body) = app.connect(json!({"shop_domain": "demo-uk", "client_id": "client-123", "client_secret": "nope"})).await;

        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_credentials")));
        assert_nothing_stored(&app).await;
    }

    async fn missing_scopes_are_listed_and_nothing_is_stored(app: TestApp) {
        app.shopify.add_shop(demo_shop().with_scopes(&["read_products", "read_all_orders"]));

        let (status, body) = app.connect(token_body("demo-us", TOKEN)).await;

        assert_eq!(status, 422);
        assert_eq!(body["error"]["code"], "missing_scopes");
        assert_eq!(body["error"]["details"]["missing"], json!(["read_orders", "read_customers"]));
        assert_nothing_stored(&app).await;
    }

    async fn write_scopes_count_and_a_missing_read_all_orders_is_a_warning(app: TestApp) {
        app.shopify.add_shop(demo_shop().with_scopes(&["write_orders", "write_products", "read_customers"]));

        let (status, body) = app.connect(token_body("demo-us", TOKEN)).await;

        assert_eq!(status, 201, "{body}");
        assert_eq!(body["warnings"][0]["code"], "orders_limited_to_60_days");
        assert!(body["warnings"][0]["message"].as_str().unwrap().contains("read_all_orders"));
    }

    async fn an_unknown_shop_is_shop_not_found(app: TestApp) {
        let (status, body) = app.connect(token_body("no-such-shop", TOKEN)).await;

        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("shop_not_found")));
        assert_nothing_stored(&app).await;
    }

    async fn frozen_and_locked_shops_are_shop_unavailable(app: TestApp) {
        app.shopify.add_shop(demo_shop());
        for status in [402, 423] {
            app.shopify.push_fault("demo-us.myshopify.com", Fault::status(status));
            let (code, body) = app.connect(token_body("demo-us", TOKEN)).await;
            assert_eq!((code, body["error"]["code"].as_str()), (422, Some("shop_unavailable")), "HTTP {status}");
        }
        assert_nothing_stored(&app).await;
    }

    async fn a_throttled_query_is_retried_after_the_bucket_refills(app: TestApp) {
        app.shopify.add_shop(demo_shop());
        app.shopify.push_fault("demo-us.myshopify.com", Fault::Throttled { requested: 10.0, available: 2.0, restore_rate: 100.0 });

        let (status, body) = app.connect(token_body("demo-us", TOKEN)).await;

        assert_eq!(status, 201, "{body}");
        assert_eq!(app.shopify.requests_to("demo-us.myshopify.com"), 2, "the throttled validation and its retry");
    }

    async fn throttling_past_the_budget_is_shopify_rate_limited(app: TestApp) {
        app.shopify.add_shop(demo_shop());
        for _ in 0..6 {
            app.shopify.push_fault("demo-us.myshopify.com", Fault::Status { status: 429, retry_after: Some("0.01".into()) });
        }

        let (status, body) = app.connect(token_body("demo-us", TOKEN)).await;

        assert_eq!((status, body["error"]["code"].as_str()), (429, Some("shopify_rate_limited")));
        assert_eq!(app.shopify.requests_to("demo-us.myshopify.com"), 4, "bounded by the retry budget");
        assert_nothing_stored(&app).await;
    }

    async fn a_503_with_retry_after_and_an_html_page_are_retried(app: TestApp) {
        app.shopify.add_shop(demo_shop());
        app.shopify.push_fault("demo-us.myshopify.com", Fault::Status { status: 503, retry_after: Some("0".into()) });
        app.shopify.push_fault("demo-us.myshopify.com", Fault::NotJson);

        let (status, body) = app.connect(token_body("demo-us", TOKEN)).await;

        assert_eq!(status, 201, "{body}");
        assert_eq!(app.shopify.requests_to("demo-us.myshopify.com"), 3, "two failures, then the validation");
    }

    async fn shopify_failing_past_the_budget_is_shopify_unavailable(app: TestApp) {
        app.shopify.add_shop(demo_shop());
        for _ in 0..4 {
            app.shopify.push_fault("demo-us.myshopify.com", Fault::status(500));
        }

        let (status, body) = app.connect(token_body("demo-us", TOKEN)).await;

        assert_eq!((status, body["error"]["code"].as_str()), (502, Some("shopify_unavailable")));
        assert!(!body.to_string().contains("500"), "no upstream detail in the body: {body}");
        assert_nothing_stored(&app).await;
    }

    async fn access_denied_on_the_validation_query_is_invalid_credentials(app: TestApp) {
        app.shopify.add_shop(demo_shop());
        app.shopify.push_fault("demo-us.myshopify.com", Fault::GraphQlError("ACCESS_DENIED"));

        let (status, body) = app.connect(token_body("demo-us", TOKEN)).await;

        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_credentials")));
    }

    async fn only_admins_may_connect(app: TestApp) {
        app.shopify.add_shop(demo_shop());
        let event = HttpEvent::new("POST", "/shopify/stores")
            .claims(&[("org_id", &app.org), ("role", "agent")])
            .json(&token_body("demo-us", TOKEN));

        let (status, body) = app.call(|s, r| async move { save_credentials::handle(&s, r).await }, event).await;

        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
        assert!(app.shopify.received().is_empty());
    }

    async fn a_missing_or_malformed_org_claim_is_unauthorized(app: TestApp) {
        let cases = [
            HttpEvent::new("POST", "/shopify/stores"),
            HttpEvent::new("POST", "/shopify/stores").claims(&[("role", "admin")]),
            HttpEvent::new("POST", "/shopify/stores").claims(&[("org_id", "org/../other"), ("role", "admin")]),
            HttpEvent::new("POST", "/shopify/stores").claims(&[("org_id", ""), ("role", "admin")]),
        ];
        for event in cases {
            let (status, body) = app.call(|s, r| async move { save_credentials::handle(&s, r).await }, event.json(&token_body("demo-us", TOKEN))).await;
            assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")));
        }
    }

    async fn malformed_bodies_are_invalid_request(app: TestApp) {
        let bodies = [
            "not json".to_owned(),
            "[]".to_owned(),
            json!({"shop_domain": "demo-us"}).to_string(),
            json!({"access_token": TOKEN}).to_string(),
            json!({"shop_domain": "demo-us", "access_token": TOKEN, "client_id": "a", "client_secret": "b"}).to_string(),
            json!({"shop_domain": "demo-us", "client_id": "a"}).to_string(),
            json!({"shop_domain": 42, "access_token": TOKEN}).to_string(),
            json!({"shop_domain": "demo-us", "access_token": "shpat with spaces"}).to_string(),
            // Fields the API does not know (a typo, say) are refused rather than ignored.
            json!({"shop_domain": "demo-us", "access_token": TOKEN, "shop_name": "Demo"}).to_string(),
            // A credential field sent as null is a mistake, not "left out".
            json!({"shop_domain": "demo-us", "access_token": null, "client_id": "a", "client_secret": "b"}).to_string(),
            json!({"shop_domain": "demo-us", "access_token": TOKEN, "client_id": null}).to_string(),
            json!({"shop_domain": "demo-us", "access_token": TOKEN, "client_secret": null}).to_string(),
        ];
        for body in bodies {
            let event = HttpEvent::new("POST", "/shopify/stores").claims(&app.admin()).raw_body(&body);
            let (status, answer) = app.call(|s, r| async move { save_credentials::handle(&s, r).await }, event).await;
            assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("invalid_request")), "{body}");
            assert!(!answer.to_string().contains(TOKEN), "the body is never echoed");
        }
        let huge = json!({"shop_domain": "demo-us", "access_token": "x".repeat(70_000)}).to_string();
        let event = HttpEvent::new("POST", "/shopify/stores").claims(&app.admin()).raw_body(&huge);
        let (status, answer) = app.call(|s, r| async move { save_credentials::handle(&s, r).await }, event).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (413, Some("payload_too_large")));
        assert!(app.shopify.received().is_empty());
    }

    async fn organizations_connecting_the_same_shop_stay_apart(app: TestApp) {
        app.shopify.add_shop(demo_shop().with_token("shpat_other_org"));
        let other_org = tests::local_aws::unique("org");

        let (mine, _) = app.connect(token_body("demo-us", TOKEN)).await;
        let event = HttpEvent::new("POST", "/shopify/stores")
            .claims(&[("org_id", &other_org), ("role", "owner")])
            .json(&token_body("demo-us", "shpat_other_org"));
        let (theirs, _) = app.call(|s, r| async move { save_credentials::handle(&s, r).await }, event).await;

        assert_eq!((mine, theirs), (201, 201), "each org gets its own connection");
        assert_eq!(app.current_secret("demo-us").await.unwrap()["access_token"], TOKEN, "the other org did not overwrite ours");
        assert_eq!(app.secret_names().await.len(), 2);
        assert_eq!(app.records().await.len(), 1, "our org sees only its own record");
    }

    async fn a_failed_record_write_leaves_nothing_behind_and_a_retry_converges(app: TestApp) {
        app.shopify.add_shop(demo_shop());
        let trigger = Arc::new(Trigger::default());
        let services = app.with_storage(Some(Arc::new(FailingStores::new(app.services.storage.stores.clone(), trigger.clone()))), None);
        trigger.fail_on(1);

        let event = || HttpEvent::new("POST", "/shopify/stores").claims(&app.admin()).json(&token_body("demo-us", TOKEN)).into_request();
        let failed = tests::app::decode(save_credentials::handle(&services, event()).await.unwrap());
        assert_eq!((failed.0, failed.1["error"]["code"].as_str()), (503, Some("storage_unavailable")));
        assert_nothing_stored(&app).await;

        let retried = tests::app::decode(save_credentials::handle(&services, event()).await.unwrap());
        let again = tests::app::decode(save_credentials::handle(&services, event()).await.unwrap());

        assert_eq!((retried.0, again.0), (201, 200));
        assert_eq!(app.records().await.len(), 1);
        assert_eq!(app.secret_names().await.len(), 1);
    }

    async fn a_failed_secret_write_stores_nothing(app: TestApp) {
        app.shopify.add_shop(demo_shop());
        let trigger = Arc::new(Trigger::default());
        let services = app.with_storage(None, Some(Arc::new(FailingSecrets { inner: app.services.storage.secrets.clone(), trigger: trigger.clone() })));
        trigger.fail_on(1);

        let event = HttpEvent::new("POST", "/shopify/stores").claims(&app.admin()).json(&token_body("demo-us", TOKEN));
        let (status, body) = tests::app::decode(save_credentials::handle(&services, event.into_request()).await.unwrap());

        assert_eq!((status, body["error"]["code"].as_str()), (503, Some("storage_unavailable")));
        assert_nothing_stored(&app).await;
    }

    async fn a_failed_record_write_during_rotation_keeps_the_old_credentials_current(app: TestApp) {
        app.shopify.add_shop(demo_shop().with_token("shpat_new"));
        assert_eq!(app.connect(token_body("demo-us", TOKEN)).await.0, 201);
        let trigger = Arc::new(Trigger::default());
        let services = app.with_storage(Some(Arc::new(FailingStores::new(app.services.storage.stores.clone(), trigger.clone()))), None);
        trigger.fail_on(1);

        let event = HttpEvent::new("POST", "/shopify/stores").claims(&app.admin()).json(&token_body("demo-us", "shpat_new"));
        let (status, _) = tests::app::decode(save_credentials::handle(&services, event.into_request()).await.unwrap());

        assert_eq!(status, 503);
        assert_eq!(app.current_secret("demo-us").await.unwrap()["access_token"], TOKEN);
        let record = &app.records().await[0];
        let org = shared::domain::OrganizationId::parse(&app.org).unwrap();
        let shop = shared::domain::ShopDomain::parse("demo-us").unwrap();
        let name = shared::secrets::SecretName::for_store(&app.services.storage.secret_prefix, &org, &shop);
        let stored = app.services.storage.secrets.get_version(&name, &record.credentials_version).await.unwrap().unwrap();
        assert!(secrecy::ExposeSecret::expose_secret(&stored).contains(TOKEN), "the record still names the old version");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_reaches_a_response_a_log_line_or_the_table() {
    needs_moto!();
    let app = TestApp::spawn(Backend::Moto).await;
    let token = format!("shpat_leakcheck_{:016x}", fastrand::u64(..));
    let client_secret = format!("ccsecret_leakcheck_{:016x}", fastrand::u64(..));
    app.shopify
        .add_shop(FakeShop::new("leak-a").with_token(&token));
    app.shopify
        .add_shop(FakeShop::new("leak-b").with_client("leak-client", &client_secret));

    let mut answers = Vec::new();
    answers.push(app.connect(token_body("leak-a", &token)).await);
    answers.push(app.connect(json!({"shop_domain": "leak-b", "client_id": "leak-client", "client_secret": client_secret})).await);
    answers.push(
        app.connect(token_body("leak-a", &format!("{token}x")))
            .await,
    );
    answers.push(app.connect(json!({"shop_domain": "leak-b", "client_id": "leak-client", "client_secret": format!("{client_secret}x")})).await);

    assert_eq!(
        answers.iter().map(|a| a.0).collect::<Vec<_>>(),
        [201, 201, 422, 422]
    );
    let issued: Vec<String> = app
        .shopify
        .received()
        .iter()
        .filter_map(|r| r.access_token.clone())
        .filter(|t| t.starts_with("shpat_cc_"))
        .collect();
    assert!(!issued.is_empty());
    let mut needles = vec![token.clone(), client_secret.clone()];
    needles.extend(issued);
    for (_, body) in &answers {
        for needle in &needles {
            assert!(
                !body.to_string().contains(needle.as_str()),
                "response leaks a credential: {body}"
            );
        }
    }
    let aws = app.aws.as_ref().unwrap();
    let items = tests::local_aws::scan_table(&aws.dynamo, &aws.table).await;
    assert!(
        items.iter().any(|i| format!("{i:?}").contains(&app.org)),
        "our records are in the table"
    );
    for item in &items {
        for needle in &needles {
            assert!(
                !format!("{item:?}").contains(needle.as_str()),
                "a table item holds a credential"
            );
        }
    }
    let logs = tests::logs::contents();
    assert!(logs.contains("store connected"), "the capture works");
    for needle in &needles {
        assert!(
            !logs.contains(needle.as_str()),
            "a log line holds a credential"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_pending_deletion_is_restored_when_the_shop_connects_again() {
    needs_moto!();
    let app = TestApp::spawn(Backend::Moto).await;
    app.shopify.add_shop(demo_shop());
    assert_eq!(app.connect(token_body("demo-us", TOKEN)).await.0, 201);
    let aws = app.aws.as_ref().unwrap();
    let name = format!(
        "{}/{}/demo-us.myshopify.com",
        app.services.storage.secret_prefix, app.org
    );
    aws.secrets
        .delete_secret()
        .secret_id(&name)
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    let record = app.records().await.remove(0);
    let tombstone = shared::store::Tombstone {
        org_id: record.org_id.clone(),
        shop_domain: record.shop_domain.clone(),
        version: record.version + 1,
        write_id: "test".into(),
        deleting_since: None,
        removed_at: chrono::Utc::now(),
        origin: shared::store::TombstoneOrigin::Disconnect,
    };
    app.services
        .storage
        .stores
        .put_gone(&tombstone, shared::store::Expect::Version(record.version))
        .await
        .unwrap();
    assert!(
        app.secret_names().await.is_empty(),
        "the secret is pending deletion"
    );

    let (status, body) = app.connect(token_body("demo-us", TOKEN)).await;

    assert_eq!(status, 201, "{body}");
    assert_eq!(app.secret_names().await, [name]);
    assert_eq!(
        app.current_secret("demo-us").await.unwrap()["access_token"],
        TOKEN
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopify_that_does_not_answer_in_time_is_shopify_unavailable() {
    let app = TestApp::spawn(Backend::Memory).await;
    app.shopify.add_shop(demo_shop());
    let mut services = app.services.clone();
    services.shopify = shared::shopify::ShopifyClient::new(shared::shopify::ShopifyConfig {
        base_url: Some(app.shopify.base_url.clone()),
        retry: tests::app::fast_retry(),
        request_timeout: std::time::Duration::from_millis(200),
        ..shared::shopify::ShopifyConfig::default()
    });
    for _ in 0..4 {
        app.shopify.push_fault(
            "demo-us.myshopify.com",
            Fault::Delay(std::time::Duration::from_secs(1)),
        );
    }

    let event = HttpEvent::new("POST", "/shopify/stores")
        .claims(&app.admin())
        .json(&token_body("demo-us", TOKEN));
    let (status, body) = tests::app::decode(
        save_credentials::handle(&services, event.into_request())
            .await
            .unwrap(),
    );

    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (502, Some("shopify_unavailable"))
    );
    assert_eq!(
        app.shopify.requests_to("demo-us.myshopify.com"),
        4,
        "timeouts are retried within the budget"
    );
    assert_nothing_stored(&app).await;
}
