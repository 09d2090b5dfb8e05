//! Connection health: the scheduled health check, status-change events (exactly one per
//! change, from every detector), lookups that meet a revoked token, and Shopify's webhooks.
//! Every scenario runs on both backends: in memory, and on moto (DynamoDB, Secrets Manager,
//! SQS, EventBridge through the real SDK clients).

mod common;

use chrono::Utc;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use shared::domain::OrganizationId;
use shared::events::fix_for;
use shared::health::webhook::sign;
use shared::store::{Expect, StoreRecord};
use tests::app::{TestApp, WEBHOOK_BASE};
use tests::events::HttpEvent;
use tests::fake_shopify::{FakeCustomer, FakeOrder, FakeShop};

const TOKEN: &str = "shpat_health_00000000000000000000000";
const NEW_TOKEN: &str = "shpat_health_11111111111111111111111";
const US: &str = "demo-us.myshopify.com";
const UK: &str = "demo-uk.myshopify.com";
const CLIENT_ID: &str = "uk-client-id";
const SECRET: &str = "uk-client-secret-one";
const NEW_SECRET: &str = "uk-client-secret-two";
const JANE: &str = "jane@example.com";

async fn connect_us(app: &TestApp) {
    app.shopify.add_shop(
        FakeShop::new("demo-us")
            .with_token(TOKEN)
            .with_token(NEW_TOKEN)
            .with_customer(FakeCustomer::new(7001, "Jane Doe", JANE))
            .with_order(FakeOrder::new("#1001", "2026-11-01T10:00:00Z", JANE)),
    );
    let (status, body) = app
        .connect(json!({"shop_domain": "demo-us", "access_token": TOKEN}))
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn connect_uk(app: &TestApp) {
    app.shopify.add_shop(
        FakeShop::new("demo-uk")
            .with_prefix("UK-")
            .with_client(CLIENT_ID, SECRET),
    );
    let (status, body) = app
        .connect(json!({"shop_domain": "demo-uk", "client_id": CLIENT_ID, "client_secret": SECRET}))
        .await;
    assert_eq!(status, 201, "{body}");
}

async fn record(app: &TestApp, shop: &str) -> StoreRecord {
    app.records()
        .await
        .into_iter()
        .find(|r| r.shop_domain.as_str() == shop)
        .unwrap_or_else(|| panic!("{shop} is connected"))
}

async fn changes(app: &TestApp) -> Vec<Value> {
    app.health().status_changes().await
}

/// The one event so far, checked for what every event carries.
async fn only_change(app: &TestApp, shop: &str) -> Value {
    let changes = changes(app).await;
    assert_eq!(changes.len(), 1, "exactly one event: {changes:#?}");
    let change = changes[0].clone();
    assert_eq!(change["org_id"], app.org);
    assert_eq!(change["shop_domain"], shop);
    let code = change["reason"]["code"].as_str().unwrap();
    assert_eq!(change["fix"], fix_for(code), "the README's fix for {code}");
    assert!(!change["change_id"].as_str().unwrap().is_empty());
    assert!(
        !change.to_string().contains(TOKEN),
        "no credential in an event"
    );
    change
}

/// The organization's current callback token.
async fn callback_token(app: &TestApp) -> String {
    let org = OrganizationId::parse(&app.org).unwrap();
    app.health()
        .tokens
        .token(&org)
        .await
        .unwrap()
        .expose_secret()
        .to_owned()
}

/// The organization's current callback URL, as Shopify is told to deliver to.
async fn callback(app: &TestApp) -> String {
    format!(
        "{WEBHOOK_BASE}/shopify/webhooks?org_id={}&token={}",
        app.org,
        callback_token(app).await
    )
}

/// A delivery as Shopify sends it to the organization's callback: the body signed with `secret`.
async fn webhook(
    app: &TestApp,
    topic: &str,
    id: &str,
    body: &str,
    secret: Option<&str>,
) -> HttpEvent {
    let mut event = HttpEvent::new("POST", "/shopify/webhooks")
        .query("org_id", &app.org)
        .query("token", &callback_token(app).await)
        .header("X-Shopify-Topic", topic)
        .header("X-Shopify-Shop-Domain", UK)
        .header("X-Shopify-Webhook-Id", id)
        .header("X-Shopify-API-Version", "2026-10")
        .header("X-Shopify-Triggered-At", &Utc::now().to_rfc3339())
        .raw_body(body);
    if let Some(secret) = secret {
        event = event.header("X-Shopify-Hmac-Sha256", &sign(body.as_bytes(), secret));
    }
    event
}

async fn deliver(app: &TestApp, event: HttpEvent) -> (u16, Value) {
    let ports = app.health().webhook_ports(&app.services);
    app.call(
        move |_, req| {
            let ports = ports.clone();
            async move { webhooks::handle(&ports, req).await }
        },
        event,
    )
    .await
}

async fn deliver_to(
    app: &TestApp,
    ports: &webhooks::WebhookPorts,
    event: HttpEvent,
) -> (u16, Value) {
    let ports = ports.clone();
    app.call(
        move |_, req| {
            let ports = ports.clone();
            async move { webhooks::handle(&ports, req).await }
        },
        event,
    )
    .await
}

/// The body of every refused delivery.
fn not_signed_body() -> Value {
    json!({"error": {"code": "unauthorized", "message": "The webhook is not signed by the app of a store connected to this organization."}})
}

/// The webhook endpoint over storage that counts every call: store reads, secret calls, and
/// delivery items.
struct Counted {
    stores: std::sync::Arc<tests::faults::CountingStores>,
    secrets: std::sync::Arc<tests::faults::CountingSecrets>,
    repo: std::sync::Arc<CountingHealth>,
    ports: webhooks::WebhookPorts,
}

impl Counted {
    fn over(app: &TestApp) -> Self {
        let stores = std::sync::Arc::new(tests::faults::CountingStores::new(
            app.services.storage.stores.clone(),
        ));
        let secrets = std::sync::Arc::new(tests::faults::CountingSecrets::new(
            app.services.storage.secrets.clone(),
        ));
        let services = app.services.with_storage(shared::lifecycle::Storage {
            stores: stores.clone(),
            secrets: secrets.clone(),
            secret_prefix: app.services.storage.secret_prefix.clone(),
        });
        let mut ports = app.health().webhook_ports(&services);
        let repo = std::sync::Arc::new(CountingHealth {
            inner: ports.repo.clone(),
            calls: Default::default(),
        });
        ports.repo = repo.clone();
        Self {
            stores,
            secrets,
            repo,
            ports,
        }
    }

    fn storage_calls(&self) -> usize {
        self.stores.reads()
            + self.secrets.calls()
            + self.repo.calls.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn deliver(&self, app: &TestApp, event: HttpEvent) -> (u16, Value) {
        deliver_to(app, &self.ports, event).await
    }
}

/// A health repository that counts every call.
struct CountingHealth {
    inner: std::sync::Arc<dyn shared::health::repo::HealthRepository>,
    calls: std::sync::atomic::AtomicUsize,
}

impl CountingHealth {
    fn count(&self) {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl shared::health::repo::HealthRepository for CountingHealth {
    async fn cycle(
        &self,
    ) -> Result<Option<shared::health::repo::Cycle>, shared::store::StoreError> {
        self.count();
        self.inner.cycle().await
    }
    async fn put_cycle(
        &self,
        cycle: &shared::health::repo::Cycle,
        expect: Option<&shared::health::repo::Cycle>,
    ) -> Result<(), shared::store::StoreError> {
        self.count();
        self.inner.put_cycle(cycle, expect).await
    }
    async fn claim_webhook(
        &self,
        org: &OrganizationId,
        shop: &shared::domain::ShopDomain,
        id: &str,
        now: chrono::DateTime<Utc>,
    ) -> Result<shared::health::repo::Claim, shared::store::StoreError> {
        self.count();
        self.inner.claim_webhook(org, shop, id, now).await
    }
    async fn finish_webhook(
        &self,
        org: &OrganizationId,
        shop: &shared::domain::ShopDomain,
        id: &str,
    ) -> Result<(), shared::store::StoreError> {
        self.count();
        self.inner.finish_webhook(org, shop, id).await
    }
    async fn release_webhook(
        &self,
        org: &OrganizationId,
        shop: &shared::domain::ShopDomain,
        id: &str,
    ) -> Result<(), shared::store::StoreError> {
        self.count();
        self.inner.release_webhook(org, shop, id).await
    }
}

/// A health repository whose next tick writes land and answer `Conflict`, as the SDK's retry
/// of a write whose answer was lost does (the first attempt moved the page on).
struct LostCycleAnswers {
    inner: std::sync::Arc<dyn shared::health::repo::HealthRepository>,
    lose: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl shared::health::repo::HealthRepository for LostCycleAnswers {
    async fn cycle(
        &self,
    ) -> Result<Option<shared::health::repo::Cycle>, shared::store::StoreError> {
        self.inner.cycle().await
    }
    async fn put_cycle(
        &self,
        cycle: &shared::health::repo::Cycle,
        expect: Option<&shared::health::repo::Cycle>,
    ) -> Result<(), shared::store::StoreError> {
        self.inner.put_cycle(cycle, expect).await?;
        let tick = expect.is_some_and(|e| e.cycle_id == cycle.cycle_id);
        let lost = tick
            && self
                .lose
                .fetch_update(
                    std::sync::atomic::Ordering::SeqCst,
                    std::sync::atomic::Ordering::SeqCst,
                    |n| n.checked_sub(1),
                )
                .is_ok();
        if lost {
            return Err(shared::store::StoreError::Conflict);
        }
        Ok(())
    }
    async fn claim_webhook(
        &self,
        org: &OrganizationId,
        shop: &shared::domain::ShopDomain,
        id: &str,
        now: chrono::DateTime<Utc>,
    ) -> Result<shared::health::repo::Claim, shared::store::StoreError> {
        self.inner.claim_webhook(org, shop, id, now).await
    }
    async fn finish_webhook(
        &self,
        org: &OrganizationId,
        shop: &shared::domain::ShopDomain,
        id: &str,
    ) -> Result<(), shared::store::StoreError> {
        self.inner.finish_webhook(org, shop, id).await
    }
    async fn release_webhook(
        &self,
        org: &OrganizationId,
        shop: &shared::domain::ShopDomain,
        id: &str,
    ) -> Result<(), shared::store::StoreError> {
        self.inner.release_webhook(org, shop, id).await
    }
}

/// The check jobs waiting on the health queue, by shop, taken off the queue (with the ticks
/// too unless `keep_ticks`).
async fn queued_checks(app: &TestApp, keep_ticks: bool) -> Vec<String> {
    let mut shops = Vec::new();
    for job in app.health().take_jobs(keep_ticks).await {
        if let shared::health::check::HealthJob::Check { stores, .. } = job {
            shops.extend(stores.into_iter().map(|k| k.shop_domain.to_string()));
        }
    }
    shops
}

const UNINSTALLED: &str =
    r#"{"id":690933842,"name":"Demo UK","myshopify_domain":"demo-uk.myshopify.com"}"#;

health_backends! {
    async fn a_disconnect_announces_the_changes_still_waiting_in_the_stores_outbox(app: TestApp) {
        connect_us(&app).await;
        // A change found while the bus was down: it waits in the record's outbox.
        let before = record(&app, US).await;
        let mut after = before.clone();
        after.status = shared::domain::StoreStatus::InvalidCredentials;
        after.version = before.version + 1;
        after.write_id = "a-change".into();
        let after = shared::lifecycle::outbox::with_change(&before, after, shared::events::DetectedBy::HealthCheck);
        let change_id = after.outbox[0].change_id.clone();
        app.services.storage.stores.put_live(&after, Expect::Version(before.version)).await.unwrap();

        // The secret's deletion goes unanswered: the DELETE fails, the store stays gone, and a
        // retry (which finds no record) finishes it.
        let in_flight = std::sync::Arc::new(tests::faults::InFlightDelete::new(app.services.storage.secrets.clone()));
        let services = app.with_storage(None, Some(in_flight.clone()));
        let delete = || app.as_admin("DELETE", "/shopify/stores/{shop}").path_param("shop", US);
        assert_eq!(app.send_with(&services, delete()).await.0, 503);
        in_flight.land().await;
        assert_eq!(app.send_with(&services, delete()).await.0, 204);

        let changes = changes(&app).await;
        assert_eq!(changes.len(), 1, "{changes:#?}");
        assert_eq!(changes[0]["change_id"], change_id.as_str());
        assert_eq!(changes[0]["new_status"], "invalid_credentials");
    }

    async fn a_revoked_token_is_found_by_the_health_check_with_one_event(app: TestApp) {
        connect_us(&app).await;
        app.health().run_cycle().await;
        assert!(changes(&app).await.is_empty(), "a healthy store changes nothing");

        app.shopify.update_shop(US, |s| s.access_tokens.retain(|t| t != TOKEN));
        app.health().run_cycle().await;
        assert_eq!(record(&app, US).await.status, shared::domain::StoreStatus::InvalidCredentials);
        let change = only_change(&app, US).await;
        assert_eq!((change["old_status"].as_str(), change["new_status"].as_str()), (Some("connected"), Some("invalid_credentials")));
        assert_eq!(change["reason"]["code"], "invalid_credentials");
        assert_eq!(change["detected_by"], "health_check");
        assert!(change["changed"].as_array().unwrap().contains(&json!("status")));

        // Checked again, still broken: no second event.
        app.health().run_cycle().await;
        assert_eq!(changes(&app).await.len(), 1);

        // The merchant pastes a new token: mended, and announced once.
        let (status, _) = app.connect(json!({"shop_domain": "demo-us", "access_token": NEW_TOKEN})).await;
        assert_eq!(status, 200);
        let all = changes(&app).await;
        assert_eq!(all.len(), 2, "{all:#?}");
        assert_eq!((all[1]["new_status"].as_str(), all[1]["reason"]["code"].as_str(), all[1]["detected_by"].as_str()), (Some("connected"), Some("connected"), Some("rotation")));
        assert!(record(&app, US).await.outbox.is_empty(), "nothing left to announce");
    }

    async fn a_removed_scope_is_found_by_the_health_check_with_one_event(app: TestApp) {
        connect_us(&app).await;
        app.shopify.update_shop(US, |s| s.scopes.retain(|scope| scope != "read_customers"));
        app.health().run_cycle().await;
        app.health().run_cycle().await;
        let stored = record(&app, US).await;
        assert_eq!(stored.status, shared::domain::StoreStatus::MissingScopes);
        assert!(!stored.granted_scopes.contains(&"read_customers".to_owned()));
        let change = only_change(&app, US).await;
        assert_eq!(change["new_status"], "missing_scopes");
        assert_eq!(change["reason"]["code"], "missing_scopes");
        assert!(change["reason"]["message"].as_str().unwrap().contains("read_customers"));
        let changed = change["changed"].as_array().unwrap();
        assert!(changed.contains(&json!("status")) && changed.contains(&json!("granted_scopes")), "{changed:?}");
    }

    async fn a_frozen_shop_is_found_by_the_health_check_with_one_event(app: TestApp) {
        connect_us(&app).await;
        app.shopify.update_shop(US, |s| s.outage = Some(402));
        app.health().run_cycle().await;
        app.health().run_cycle().await;
        assert_eq!(record(&app, US).await.status, shared::domain::StoreStatus::ShopUnavailable);
        let change = only_change(&app, US).await;
        assert_eq!((change["new_status"].as_str(), change["reason"]["code"].as_str()), (Some("shop_unavailable"), Some("shop_unavailable")));

        // Shopify itself failing says nothing about the store: no change, no event.
        app.shopify.update_shop(US, |s| s.outage = Some(503));
        app.health().run_cycle().await;
        assert_eq!(record(&app, US).await.status, shared::domain::StoreStatus::ShopUnavailable);
        assert_eq!(changes(&app).await.len(), 1);
    }

    async fn a_changed_prefix_is_found_by_the_health_check_and_routing_follows(app: TestApp) {
        connect_us(&app).await;
        app.shopify.update_shop(US, |s| {
            s.order_number_prefix = "US-".into();
            s.orders[0].name = "US-1001".into();
        });
        app.health().run_cycle().await;
        app.health().run_cycle().await;
        let stored = record(&app, US).await;
        assert_eq!((stored.status, stored.order_number_prefix.as_str()), (shared::domain::StoreStatus::Connected, "US-"));
        let change = only_change(&app, US).await;
        assert_eq!((change["old_status"].as_str(), change["new_status"].as_str()), (Some("connected"), Some("connected")));
        assert_eq!(change["reason"]["code"], "order_number_format_changed");
        assert_eq!(change["order_number_prefix"], "US-");
        assert_eq!(change["changed"], json!(["order_number_prefix"]));
        let answer = app.lookup("get_order_details", json!({"order_number": "US-1001"}), Some(JANE)).await;
        assert_eq!(answer["data"]["name"], "US-1001", "{answer}");
    }

    async fn withheld_customer_data_is_found_by_the_health_check(app: TestApp) {
        connect_us(&app).await;
        app.shopify.update_shop(US, |s| {
            s.customers.push(FakeCustomer::new(7002, "Bob Stone", "bob@example.com"));
            s.customers.push(FakeCustomer::new(7003, "Ann Lee", "ann@example.com"));
            for n in 0..5 {
                s.orders.push(FakeOrder::new(&format!("#20{n}"), "2026-11-10T10:00:00Z", "bob@example.com"));
            }
            s.customer_data = tests::fake_shopify::CustomerDataAccess::Redacted;
        });
        app.health().run_cycle().await;
        app.health().run_cycle().await;
        let stored = record(&app, US).await;
        assert!(stored.warnings.iter().any(|w| w.code == "protected_customer_data_unavailable"), "{:?}", stored.warnings);
        let change = only_change(&app, US).await;
        assert_eq!((change["reason"]["code"].as_str(), change["new_status"].as_str()), (Some("protected_customer_data_unavailable"), Some("connected")));
        assert_eq!(change["changed"], json!(["warnings"]));
    }

    async fn a_cleared_warning_is_announced_as_cleared(app: TestApp) {
        connect_us(&app).await;
        app.shopify.update_shop(US, |s| {
            s.customers.push(FakeCustomer::new(7002, "Bob Stone", "bob@example.com"));
            s.customers.push(FakeCustomer::new(7003, "Ann Lee", "ann@example.com"));
            for n in 0..5 {
                s.orders.push(FakeOrder::new(&format!("#20{n}"), "2026-11-10T10:00:00Z", "bob@example.com"));
            }
            s.customer_data = tests::fake_shopify::CustomerDataAccess::Redacted;
        });
        app.get_store(US, true).await;
        app.shopify.update_shop(US, |s| s.customer_data = tests::fake_shopify::CustomerDataAccess::Granted);
        app.get_store(US, true).await;
        let all = changes(&app).await;
        assert_eq!(all.len(), 2, "{all:#?}");
        assert_eq!(all[1]["reason"]["code"], "warnings_cleared");
        assert!(all[1]["reason"]["message"].as_str().unwrap().contains("protected_customer_data_unavailable"));
    }

    async fn verify_announces_what_it_finds_once(app: TestApp) {
        connect_us(&app).await;
        app.shopify.update_shop(US, |s| s.scopes.retain(|scope| scope != "read_all_orders"));
        let (status, body) = app.get_store(US, true).await;
        assert_eq!(status, 200);
        assert_eq!(body["warnings"][0]["code"], "orders_limited_to_60_days");
        let change = only_change(&app, US).await;
        assert_eq!((change["reason"]["code"].as_str(), change["detected_by"].as_str()), (Some("orders_limited_to_60_days"), Some("verify")));
        assert_eq!(change["new_status"], "connected");
        app.get_store(US, true).await;
        assert_eq!(changes(&app).await.len(), 1);
    }

    async fn a_lookup_that_meets_a_revoked_token_marks_the_store_and_later_lookups_skip_it(app: TestApp) {
        connect_us(&app).await;
        app.shopify.update_shop(US, |s| s.access_tokens.retain(|t| t != TOKEN));
        let answer = app.lookup("get_order_details", json!({"order_number": "#1001"}), Some(JANE)).await;
        assert_eq!((answer["ok"].as_bool(), answer["error"]["code"].as_str()), (Some(false), Some("shopify_unavailable")), "the contract's code: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains("connection to Shopify needs attention"), "{answer}");
        assert_eq!(record(&app, US).await.status, shared::domain::StoreStatus::InvalidCredentials);
        let change = only_change(&app, US).await;
        assert_eq!(change["detected_by"], "lookup");

        let asked = app.shopify.requests_to(US);
        for _ in 0..3 {
            let answer = app.lookup("get_order_details", json!({"order_number": "#1001"}), Some(JANE)).await;
            assert!(answer["error"]["message"].as_str().unwrap().contains("needs attention"), "{answer}");
            let answer = app.lookup("search_products", json!({"query": "boots"}), None).await;
            assert!(answer["error"]["message"].as_str().unwrap().contains("needs attention"), "{answer}");
        }
        let routes = tests::gateway::dashboard_routes(app.services.clone());
        let (status, _, sidebar) = app.sidebar(&routes, JANE).await;
        assert_eq!(status, 200);
        assert_eq!(sidebar["stores"][0]["error"]["code"], "invalid_credentials", "{sidebar}");
        assert_eq!(app.shopify.requests_to(US), asked, "a marked store is not asked again");
        assert_eq!(changes(&app).await.len(), 1);
    }

    async fn a_missed_event_is_announced_by_the_next_health_check_exactly_once(app: TestApp) {
        connect_us(&app).await;
        app.shopify.update_shop(US, |s| s.access_tokens.retain(|t| t != TOKEN));
        // The bus refuses the event: the change waits in the store's outbox.
        let refusing = app.services.clone().with_events(std::sync::Arc::new(tests::faults::RefusingEvents));
        let (status, _) = app.send_with(&refusing, app.as_admin("GET", "/shopify/stores/{shop}").path_param("shop", US).query("verify", "true")).await;
        assert_eq!(status, 200);
        let stored = record(&app, US).await;
        assert_eq!((stored.status, stored.outbox.len()), (shared::domain::StoreStatus::InvalidCredentials, 1));
        assert!(changes(&app).await.is_empty());

        app.health().run_cycle().await;
        let change = only_change(&app, US).await;
        assert_eq!((change["detected_by"].as_str(), change["change_id"].as_str()), (Some("verify"), Some(stored.outbox[0].change_id.as_str())));
        assert!(record(&app, US).await.outbox.is_empty());
        app.health().run_cycle().await;
        assert_eq!(changes(&app).await.len(), 1);
    }

    async fn every_store_is_checked_once_per_cycle_across_pages(app: TestApp) {
        let mut app = app;
        app.health_mut().ports.config.page_size = 2;
        let handles = ["h-one", "h-two", "h-three", "h-four", "h-five"];
        for handle in handles {
            app.shopify.add_shop(FakeShop::new(handle).with_token(TOKEN));
            let (status, _) = app.connect(json!({"shop_domain": handle, "access_token": TOKEN})).await;
            assert_eq!(status, 201);
        }
        let before = app.shopify.received().len();
        app.health().run_cycle().await;
        let checks: Vec<_> = app.shopify.received()[before..]
            .iter()
            .filter(|r| r.operation.as_deref() == Some("ValidateCredentials"))
            .map(|r| r.shop.clone())
            .collect();
        let mut shops = checks.clone();
        shops.sort();
        shops.dedup();
        assert_eq!((checks.len(), shops.len()), (5, 5), "each store once: {checks:?}");
        let cycle = app.health().repo.cycle().await.unwrap().expect("a cycle");
        assert_eq!((cycle.pages, cycle.stores, cycle.finished_at.is_some()), (3, 5, true));

        // The next cycle spreads the three pages it expects over the interval.
        app.health().schedule().await.unwrap();
        let cycle = app.health().repo.cycle().await.unwrap().expect("a cycle");
        assert_eq!(cycle.expected_pages, 3);
        let next = shared::health::check::spacing(&cycle, 1, std::time::Duration::from_secs(3600), cycle.started_at);
        assert_eq!(next, std::time::Duration::from_secs(900), "page 1 of 3 is due after 18 of 54 minutes; SQS delays at most 15");
    }

    async fn a_page_recorded_with_its_answer_lost_still_goes_on_to_the_next(app: TestApp) {
        let mut app = app;
        let repo = std::sync::Arc::new(LostCycleAnswers {
            inner: app.health().ports.repo.clone(),
            lose: std::sync::atomic::AtomicUsize::new(2),
        });
        app.health_mut().ports.repo = repo.clone();
        app.health_mut().ports.config.page_size = 2;
        for handle in ["h-one", "h-two", "h-three", "h-four", "h-five"] {
            app.shopify.add_shop(FakeShop::new(handle).with_token(TOKEN));
            let (status, _) = app.connect(json!({"shop_domain": handle, "access_token": TOKEN})).await;
            assert_eq!(status, 201);
        }
        let before = app.shopify.received().len();

        app.health().run_cycle().await;

        assert_eq!(repo.lose.load(std::sync::atomic::Ordering::SeqCst), 0, "both answers were lost");
        let mut checked: Vec<_> = app.shopify.received()[before..]
            .iter()
            .filter(|r| r.operation.as_deref() == Some("ValidateCredentials"))
            .map(|r| r.shop.clone())
            .collect();
        checked.sort();
        checked.dedup();
        assert_eq!(checked.len(), 5, "every page was checked: {checked:?}");
        let cycle = app.health().repo.cycle().await.unwrap().expect("a cycle");
        assert_eq!((cycle.pages, cycle.stores, cycle.finished_at.is_some()), (3, 5, true));
    }

    async fn a_store_verified_recently_is_not_checked_again(app: TestApp) {
        let mut app = app;
        app.health_mut().ports.config.fresh_for = std::time::Duration::from_secs(1800);
        connect_us(&app).await;
        let before = app.shopify.requests_to(US);
        app.health().run_cycle().await;
        assert_eq!(app.shopify.requests_to(US), before, "connected moments ago: not asked");
    }

    async fn client_credential_stores_subscribe_their_webhooks_once(app: TestApp) {
        connect_uk(&app).await;
        let callback = callback(&app).await;
        let expected = vec![("APP_UNINSTALLED".to_owned(), callback.clone()), ("SHOP_UPDATE".to_owned(), callback.clone())];
        assert_eq!(app.shopify.webhook_subscriptions(UK), expected);
        // Reconnecting (a rotation) subscribes again, which Shopify refuses as a duplicate.
        let (status, _) = app.connect(json!({"shop_domain": "demo-uk", "client_id": CLIENT_ID, "client_secret": SECRET})).await;
        assert_eq!(status, 200);
        assert_eq!(app.shopify.webhook_subscriptions(UK), expected);
        // A static token cannot verify webhooks: none are subscribed for it.
        connect_us(&app).await;
        assert!(app.shopify.webhook_subscriptions(US).is_empty());
    }

    async fn an_uninstall_webhook_flips_the_store_at_once_and_forgeries_change_nothing(app: TestApp) {
        connect_uk(&app).await;
        let forged = [
            webhook(&app, "app/uninstalled", "w-forged", UNINSTALLED, Some("not-the-secret")).await,
            webhook(&app, "app/uninstalled", "w-unsigned", UNINSTALLED, None).await,
            webhook(&app, "app/uninstalled", "w-tampered", UNINSTALLED, Some(SECRET)).await.raw_body(&UNINSTALLED.replace("690933842", "1")),
        ];
        // Another organization's callback, with its own valid token: the store is not its.
        let other = app.other_org();
        let other_token = app.health().tokens.token(&OrganizationId::parse(&other).unwrap()).await.unwrap();
        let mut other_org = webhook(&app, "app/uninstalled", "w-other", UNINSTALLED, Some(SECRET)).await;
        other_org.query = vec![("org_id".into(), other), ("token".into(), other_token.expose_secret().to_owned())];
        let mut bad_org = webhook(&app, "app/uninstalled", "w-org", UNINSTALLED, Some(SECRET)).await;
        bad_org.query[0].1 = "not an org!".into();
        let mut no_org = webhook(&app, "app/uninstalled", "w-no-org", UNINSTALLED, Some(SECRET)).await;
        no_org.query.clear();
        for event in forged.into_iter().chain([other_org, bad_org, no_org]) {
            let (status, body) = deliver(&app, event).await;
            assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")), "{body}");
        }
        assert_eq!(record(&app, UK).await.status, shared::domain::StoreStatus::Connected);
        assert!(changes(&app).await.is_empty());

        // A signed uninstall Shopify does not confirm (the app still works) changes nothing.
        let (status, body) = deliver(&app, webhook(&app, "app/uninstalled", "w-0", UNINSTALLED, Some(SECRET)).await).await;
        assert_eq!((status, body["handled"].as_str()), (200, Some("not_confirmed")), "{body}");
        assert_eq!(record(&app, UK).await.status, shared::domain::StoreStatus::Connected);

        // The merchant uninstalls the app: Shopify refuses its credentials from now on.
        app.shopify.update_shop(UK, |s| {
            s.revoked_client = s.client.take();
            s.issued_tokens.clear();
        });
        let (status, body) = deliver(&app, webhook(&app, "app/uninstalled", "w-1", UNINSTALLED, Some(SECRET)).await).await;
        assert_eq!((status, body["handled"].as_str()), (200, Some("uninstalled")), "{body}");
        assert_eq!(record(&app, UK).await.status, shared::domain::StoreStatus::InvalidCredentials);
        let change = only_change(&app, UK).await;
        assert_eq!((change["detected_by"].as_str(), change["new_status"].as_str()), (Some("webhook"), Some("invalid_credentials")));

        // Reinstalled and reconnected; then the old delivery is replayed, as it was and under
        // a new id without its timestamp.
        app.shopify.update_shop(UK, |s| s.client = s.revoked_client.take());
        let (status, _) = app.connect(json!({"shop_domain": "demo-uk", "client_id": CLIENT_ID, "client_secret": SECRET})).await;
        assert_eq!(status, 200);
        let (status, body) = deliver(&app, webhook(&app, "app/uninstalled", "w-1", UNINSTALLED, Some(SECRET)).await).await;
        assert_eq!((status, body["handled"].as_str()), (200, Some("duplicate")));
        assert_eq!(record(&app, UK).await.status, shared::domain::StoreStatus::Connected, "a replay changes nothing");
        let mut renamed = webhook(&app, "app/uninstalled", "w-1-again", UNINSTALLED, Some(SECRET)).await;
        renamed.headers.remove("x-shopify-triggered-at");
        let (status, body) = deliver(&app, renamed).await;
        assert_eq!((status, body["handled"].as_str()), (200, Some("not_confirmed")), "{body}");
        assert_eq!(record(&app, UK).await.status, shared::domain::StoreStatus::Connected, "a replay under a new id changes nothing");
        // A genuine but old uninstall (sent before the reconnect) does not undo it either.
        let reconnected = record(&app, UK).await.credentials_updated_at;
        let old = webhook(&app, "app/uninstalled", "w-old", UNINSTALLED, Some(SECRET)).await
            .header("X-Shopify-Triggered-At", &(reconnected - chrono::Duration::seconds(30)).to_rfc3339());
        assert_eq!(deliver(&app, old).await.1["handled"], "stale");
        assert_eq!(record(&app, UK).await.status, shared::domain::StoreStatus::Connected);
        assert_eq!(changes(&app).await.len(), 2, "the uninstall and the reconnect");
    }

    async fn an_uninstall_shopify_does_not_confirm_in_time_can_be_delivered_again_at_once(app: TestApp) {
        connect_uk(&app).await;
        app.shopify.update_shop(UK, |s| {
            s.revoked_client = s.client.take();
            s.issued_tokens.clear();
        });
        // The token exchange that would confirm it never answers: the delivery fails within
        // its budget, and its claim is released for Shopify's retry.
        app.shopify.push_fault(UK, tests::fake_shopify::Fault::Hang);
        let delivery = || webhook(&app, "app/uninstalled", "w-slow", UNINSTALLED, Some(SECRET));
        let (status, body) = deliver(&app, delivery().await).await;
        assert_eq!((status, body["error"]["code"].as_str()), (502, Some("shopify_unavailable")), "{body}");
        assert_eq!(record(&app, UK).await.status, shared::domain::StoreStatus::Connected);

        let (status, body) = deliver(&app, delivery().await).await;

        assert_eq!((status, body["handled"].as_str()), (200, Some("uninstalled")), "the retry is not held off as in progress: {body}");
        assert_eq!(record(&app, UK).await.status, shared::domain::StoreStatus::InvalidCredentials);
    }

    async fn a_signed_body_about_another_shop_is_refused(app: TestApp) {
        // One Dev Dashboard app installed on two stores of the organization: one secret.
        connect_uk(&app).await;
        app.shopify.add_shop(FakeShop::new("demo-eu").with_client(CLIENT_ID, SECRET));
        let (status, _) = app.connect(json!({"shop_domain": "demo-eu", "client_id": CLIENT_ID, "client_secret": SECRET})).await;
        assert_eq!(status, 201);
        app.shopify.update_shop("demo-eu.myshopify.com", |s| {
            s.revoked_client = s.client.take();
        });
        // demo-uk's signed uninstall, delivered as if it were demo-eu's.
        let swapped = webhook(&app, "app/uninstalled", "x-1", UNINSTALLED, Some(SECRET)).await.header("X-Shopify-Shop-Domain", "demo-eu.myshopify.com");
        let (status, body) = deliver(&app, swapped).await;
        assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")), "{body}");
        assert_eq!(record(&app, "demo-eu.myshopify.com").await.status, shared::domain::StoreStatus::Connected);
        assert!(changes(&app).await.is_empty());
    }

    async fn a_webhook_id_that_is_not_an_id_is_refused_and_stored_nowhere(app: TestApp) {
        connect_uk(&app).await;
        for id in ["STORE#zzz", "", "a b", &"x".repeat(129)] {
            let (status, body) = deliver(&app, webhook(&app, "orders/create", id, r#"{"id":1}"#, Some(SECRET)).await).await;
            assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_request")), "{id:?}: {body}");
        }
        // The schedules still page through every store.
        app.shopify.update_shop(UK, |s| {
            s.revoked_client = s.client.take();
            s.issued_tokens.clear();
        });
        app.health().run_cycle().await;
        assert_eq!(record(&app, UK).await.status, shared::domain::StoreStatus::InvalidCredentials);
    }

    async fn a_store_marked_by_a_lookup_is_checked_again_by_the_next_cycle(app: TestApp) {
        let mut app = app;
        // Even with checks skipped for stores verified in the last half hour.
        app.health_mut().ports.config.fresh_for = std::time::Duration::from_secs(1800);
        connect_us(&app).await;
        // Last verified an hour ago: due at the next cycle.
        let mut stored = record(&app, US).await;
        let version = stored.version;
        stored.last_verified_at -= chrono::Duration::hours(1);
        stored.version += 1;
        app.services.storage.stores.put_live(&stored, Expect::Version(version)).await.unwrap();
        app.shopify.update_shop(US, |s| s.access_tokens.retain(|t| t != TOKEN));
        app.lookup("get_order_details", json!({"order_number": "#1001"}), Some(JANE)).await;
        assert_eq!(record(&app, US).await.status, shared::domain::StoreStatus::InvalidCredentials);
        // The token works again (the mark was wrong, or the app was reinstalled).
        app.shopify.update_shop(US, |s| s.access_tokens.push(TOKEN.into()));
        app.health().run_cycle().await;
        assert_eq!(record(&app, US).await.status, shared::domain::StoreStatus::Connected, "a mark verified nothing: the store is due");
        let all = changes(&app).await;
        assert_eq!(all.len(), 2, "{all:#?}");
        assert_eq!((all[1]["new_status"].as_str(), all[1]["detected_by"].as_str()), (Some("connected"), Some("health_check")));
    }

    async fn a_new_cycle_goes_on_from_where_an_unfinished_one_stopped(app: TestApp) {
        let mut app = app;
        app.health_mut().ports.config.page_size = 2;
        for handle in ["r-one", "r-two", "r-three", "r-four", "r-five"] {
            app.shopify.add_shop(FakeShop::new(handle).with_token(TOKEN));
            assert_eq!(app.connect(json!({"shop_domain": handle, "access_token": TOKEN})).await.0, 201);
        }
        // The first cycle gets no further than its first page (its ticks are lost).
        app.health().schedule().await.unwrap();
        let first = app.health().repo.cycle().await.unwrap().unwrap();
        assert_eq!((first.pages, first.finished_at.is_some()), (1, false));
        let queued_first = queued_checks(&app, false).await;
        // The next schedule starts with the stores the first one never reached.
        app.health().schedule().await.unwrap();
        let queued_second = queued_checks(&app, true).await;
        assert!(!queued_first.is_empty() && !queued_second.is_empty());
        assert!(queued_first.iter().all(|s| !queued_second.contains(s)), "not from the start again: {queued_first:?} {queued_second:?}");
        app.health().drain(100).await;
        let last = app.health().repo.cycle().await.unwrap().unwrap();
        assert_eq!((last.stores as usize + queued_first.len(), last.finished_at.is_some()), (5, true), "the rest of the table, then done");
    }

    async fn a_deferred_check_still_announces_a_change_left_in_the_outbox(app: TestApp) {
        connect_us(&app).await;
        app.shopify.update_shop(US, |s| s.access_tokens.retain(|t| t != TOKEN));
        let refusing = app.services.clone().with_events(std::sync::Arc::new(tests::faults::RefusingEvents));
        app.send_with(&refusing, app.as_admin("GET", "/shopify/stores/{shop}").path_param("shop", US).query("verify", "true")).await;
        assert_eq!(record(&app, US).await.outbox.len(), 1);
        // Shopify is down during the next cycle: the check is deferred, the event still goes.
        app.shopify.update_shop(US, |s| s.outage = Some(503));
        app.health().run_cycle().await;
        assert_eq!(only_change(&app, US).await["new_status"], "invalid_credentials");
        assert!(record(&app, US).await.outbox.is_empty());
    }

    async fn webhooks_signed_with_the_previous_secret_verify_for_an_hour_after_a_rotation(app: TestApp) {
        connect_uk(&app).await;
        app.shopify.update_shop(UK, |s| s.client = Some((CLIENT_ID.into(), NEW_SECRET.into())));
        let (status, _) = app.connect(json!({"shop_domain": "demo-uk", "client_id": CLIENT_ID, "client_secret": NEW_SECRET})).await;
        assert_eq!(status, 200);
        let other = r#"{"id":1}"#;
        for (id, secret) in [("g-old", SECRET), ("g-new", NEW_SECRET)] {
            let (status, body) = deliver(&app, webhook(&app, "orders/create", id, other, Some(secret)).await).await;
            assert_eq!((status, body["handled"].as_str()), (200, Some("ignored")), "{secret}: {body}");
        }
        // An hour and a bit later, only the new secret verifies.
        let mut stored = record(&app, UK).await;
        let version = stored.version;
        stored.credentials_updated_at -= chrono::Duration::minutes(61);
        stored.version += 1;
        app.services.storage.stores.put_live(&stored, Expect::Version(version)).await.unwrap();
        let (status, _) = deliver(&app, webhook(&app, "orders/create", "g-old-2", other, Some(SECRET)).await).await;
        assert_eq!(status, 401);
        let (status, _) = deliver(&app, webhook(&app, "orders/create", "g-new-2", other, Some(NEW_SECRET)).await).await;
        assert_eq!(status, 200);
    }

    async fn a_shop_update_webhook_refreshes_the_order_number_format(app: TestApp) {
        connect_uk(&app).await;
        app.shopify.update_shop(UK, |s| {
            s.order_number_prefix = "GB-".into();
            s.currency = "EUR".into();
            s.name = "Demo Europe".into();
        });
        let body = r#"{"id":690933842,"name":"Demo Europe","currency":"EUR","myshopify_domain":"demo-uk.myshopify.com"}"#;
        let (status, answer) = deliver(&app, webhook(&app, "shop/update", "u-1", body, Some(SECRET)).await).await;
        assert_eq!((status, answer["handled"].as_str()), (200, Some("shop_updated")));
        app.health().drain(100).await;
        let stored = record(&app, UK).await;
        assert_eq!((stored.order_number_prefix.as_str(), stored.currency.as_str(), stored.shop_name.as_str()), ("GB-", "EUR", "Demo Europe"));
        let change = only_change(&app, UK).await;
        assert_eq!(change["reason"]["code"], "order_number_format_changed");
    }

    async fn a_request_without_the_organizations_token_is_refused_before_anything_is_read(app: TestApp) {
        connect_uk(&app).await;
        let counted = Counted::over(&app);
        let token = callback_token(&app).await;
        let other_token = app.health().tokens.token(&OrganizationId::parse(&app.other_org()).unwrap()).await.unwrap();
        let flipped = format!("{}{}", &token[..63], if token.ends_with('0') { '1' } else { '0' });
        let wrong_tokens: Vec<Option<String>> = vec![
            None,
            Some(String::new()),
            Some(flipped),
            Some(token[..40].to_owned()),
            Some(other_token.expose_secret().to_owned()),
            Some("not a token at all".into()),
            Some("0".repeat(64)),
        ];
        for wrong in wrong_tokens {
            let mut event = webhook(&app, "app/uninstalled", "t-bad", UNINSTALLED, Some(SECRET)).await;
            event.query.retain(|(name, _)| name != "token");
            if let Some(wrong) = &wrong {
                event = event.query("token", wrong);
            }
            let (status, body) = counted.deliver(&app, event).await;
            assert_eq!(status, 401, "{wrong:?}: {body}");
            assert_eq!(body, not_signed_body(), "{wrong:?}: the one answer for every refusal");
        }
        assert_eq!(counted.storage_calls(), 0, "no store, secret or delivery read for a wrong token");
        if let tests::health::TokenKeysRig::Memory(keys) = &app.health().keys {
            assert!(keys.loads() <= 1, "the key is read once per container, not per request");
        }
        // With the token, a bad signature is still refused, with the same answer, after a read.
        let (status, body) = counted.deliver(&app, webhook(&app, "app/uninstalled", "t-sig", UNINSTALLED, Some("not-the-secret")).await).await;
        assert_eq!((status, body), (401, not_signed_body()));
        assert!(counted.storage_calls() > 0);
        // With the token and the signature, the delivery is handled.
        let (status, body) = counted.deliver(&app, webhook(&app, "app/uninstalled", "t-good", UNINSTALLED, Some(SECRET)).await).await;
        assert_eq!((status, body["handled"].as_str()), (200, Some("not_confirmed")), "{body}");
        assert!(!tests::logs::contents().contains(&token), "the token is never logged");
    }

    async fn a_rotated_token_key_keeps_old_callbacks_working_for_the_grace_and_the_health_check_repoints_them(app: TestApp) {
        connect_uk(&app).await;
        let old_callback = callback(&app).await;
        let old_token = callback_token(&app).await;
        app.health().keys.rotate().await;
        app.health().tokens.forget_keys();
        let new_callback = callback(&app).await;
        assert_ne!(old_callback, new_callback);
        // Shopify still delivers to the old address: accepted within the grace.
        let mut old = webhook(&app, "orders/create", "k-old", r#"{"id":1}"#, Some(SECRET)).await;
        old.query[1].1 = old_token.clone();
        let (status, body) = deliver(&app, old.clone()).await;
        assert_eq!((status, body["handled"].as_str()), (200, Some("ignored")), "{body}");
        let (status, _) = deliver(&app, webhook(&app, "orders/create", "k-new", r#"{"id":1}"#, Some(SECRET)).await).await;
        assert_eq!(status, 200);
        // The next health check points the subscriptions at the new address, without
        // duplicating them.
        assert!(app.shopify.webhook_subscriptions(UK).iter().all(|(_, uri)| *uri == old_callback));
        app.health().run_cycle().await;
        let expected = vec![("APP_UNINSTALLED".to_owned(), new_callback.clone()), ("SHOP_UPDATE".to_owned(), new_callback)];
        assert_eq!(app.shopify.webhook_subscriptions(UK), expected);
        // After the grace, the old token is refused like any wrong one.
        let mut ports = app.health().webhook_ports(&app.services);
        ports.tokens = std::sync::Arc::new(shared::health::token::WebhookTokens::new(app.health().keys.source()).with_grace(std::time::Duration::ZERO));
        let (status, body) = deliver_to(&app, &ports, old.header("X-Shopify-Webhook-Id", "k-old-2")).await;
        assert_eq!((status, body), (401, not_signed_body()));
        let (status, _) = deliver_to(&app, &ports, webhook(&app, "orders/create", "k-new-2", r#"{"id":1}"#, Some(SECRET)).await).await;
        assert_eq!(status, 200);
    }

    async fn a_store_missing_a_scope_has_its_subscriptions_repointed_after_a_key_rotation(app: TestApp) {
        connect_uk(&app).await;
        app.shopify.update_shop(UK, |s| s.scopes.retain(|scope| scope != "read_customers"));
        app.health().run_cycle().await;
        assert_eq!(record(&app, UK).await.status, shared::domain::StoreStatus::MissingScopes);
        let old_callback = callback(&app).await;
        app.health().keys.rotate().await;
        app.health().tokens.forget_keys();
        let new_callback = callback(&app).await;
        assert_ne!(old_callback, new_callback);

        app.health().run_cycle().await;

        // Its app is still installed: its uninstall must still reach us after the grace.
        let expected = vec![("APP_UNINSTALLED".to_owned(), new_callback.clone()), ("SHOP_UPDATE".to_owned(), new_callback)];
        assert_eq!(app.shopify.webhook_subscriptions(UK), expected);
    }

    async fn a_connect_whose_token_key_read_hangs_still_answers_within_its_invocation(app: TestApp) {
        /// Secrets Manager never answering the token key's read.
        struct Hanging;
        #[async_trait::async_trait]
        impl shared::health::token::TokenKeySource for Hanging {
            async fn load(&self) -> Result<shared::health::token::TokenKeys, shared::secrets::SecretsError> {
                std::future::pending().await
            }
        }
        app.shopify.add_shop(FakeShop::new("demo-uk").with_prefix("UK-").with_client(CLIENT_ID, SECRET));
        let mut services = app.services.clone();
        services.webhook_tokens = Some(std::sync::Arc::new(shared::health::token::WebhookTokens::new(std::sync::Arc::new(Hanging))));
        let event = HttpEvent::new("POST", "/shopify/stores")
            .claims(&[("org_id", app.org.as_str()), ("role", "admin")])
            .json(&json!({"shop_domain": "demo-uk", "client_id": CLIENT_ID, "client_secret": SECRET}));

        // A backstop far past the invocation, so a hang fails the test instead of stalling it.
        let answered = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            save_credentials::handle(&services, event.into_invocation(std::time::Duration::from_secs(10))),
        )
        .await;

        let response = answered.expect("answered within the invocation, not hanging").unwrap();
        assert_eq!(response.status(), 201, "the store is saved; the health check subscribes later");
        assert_eq!(record(&app, UK).await.status, shared::domain::StoreStatus::Connected);
    }

    async fn a_subscription_shopify_deleted_is_created_again_by_the_health_check(app: TestApp) {
        connect_uk(&app).await;
        let expected = app.shopify.webhook_subscriptions(UK);
        assert_eq!(expected.len(), 2);
        // Deliveries failed 8 times: Shopify deleted the app/uninstalled subscription.
        app.shopify.delete_webhook_subscriptions(UK, "APP_UNINSTALLED");
        app.health().run_cycle().await;
        let mut now = app.shopify.webhook_subscriptions(UK);
        now.sort();
        assert_eq!(now, expected, "created again");
        // A store connected with a static token still gets none.
        connect_us(&app).await;
        app.health().run_cycle().await;
        assert!(app.shopify.webhook_subscriptions(US).is_empty());
    }

    async fn a_subscription_made_before_callback_tokens_is_repointed_by_the_health_check(app: TestApp) {
        connect_uk(&app).await;
        let untokened = format!("{WEBHOOK_BASE}/shopify/webhooks?org_id={}", app.org);
        app.shopify.point_webhook_subscriptions(UK, &untokened);
        // Such an address no longer reaches the function's handling.
        let mut event = webhook(&app, "orders/create", "p-1", r#"{"id":1}"#, Some(SECRET)).await;
        event.query.retain(|(name, _)| name != "token");
        assert_eq!(deliver(&app, event).await.0, 401);
        app.health().run_cycle().await;
        let callback = callback(&app).await;
        let expected = vec![("APP_UNINSTALLED".to_owned(), callback.clone()), ("SHOP_UPDATE".to_owned(), callback)];
        assert_eq!(app.shopify.webhook_subscriptions(UK), expected);
    }
}

#[test]
fn every_fix_is_in_the_readme_word_for_word() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    for code in shared::events::REASON_CODES {
        let row = format!("| `{code}` | {} |", fix_for(code));
        assert!(readme.contains(&row), "README lacks the row {row}");
    }
}

#[test]
fn org_ids_and_tokens_in_the_callback_need_no_escaping() {
    // The callback carries the org id and the token as they are; the ids the contract allows
    // and the hex of a token are URL-safe.
    let org = OrganizationId::parse("org_1.a:b-c").unwrap();
    let token = secrecy::SecretString::from("0a".repeat(32));
    let url = shared::health::webhook::callback_url(WEBHOOK_BASE, &org, &token);
    assert!(url
        .expose_secret()
        .ends_with(&format!("org_id=org_1.a:b-c&token={}", "0a".repeat(32))));
}

/// A malformed item in the stores table (or one of another kind whose key looks like a store's)
/// is passed over by the scan: the schedules still reach every store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_item_does_not_stop_the_health_check() {
    needs_moto!();
    let app = TestApp::with_health(tests::app::Backend::Moto).await;
    connect_us(&app).await;
    let aws = app.aws.as_ref().unwrap();
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let other = tests::local_aws::unique("org");
    for (pk, sk) in [
        (
            format!("ORG#{other}"),
            "STORE#broken.myshopify.com".to_owned(),
        ),
        ("WEBHOOK#x#y".to_owned(), "STORE#zzz".to_owned()),
    ] {
        aws.dynamo
            .put_item()
            .table_name(&aws.table)
            .item("pk", A::S(pk))
            .item("sk", A::S(sk))
            .item("version", A::S("not a number".into()))
            .send()
            .await
            .unwrap();
    }
    app.shopify
        .update_shop(US, |s| s.access_tokens.retain(|t| t != TOKEN));
    app.health().run_cycle().await;
    assert_eq!(
        record(&app, US).await.status,
        shared::domain::StoreStatus::InvalidCredentials
    );
}

/// A stores table in which a connect's record lands just before the first deleting mark is
/// written: the moment between a sweep's read of the slot and its mark.
struct RecordLandsFirst {
    inner: std::sync::Arc<dyn shared::store::StoreRepository>,
    record: std::sync::Mutex<Option<(StoreRecord, Expect)>>,
}

#[async_trait::async_trait]
impl shared::store::StoreRepository for RecordLandsFirst {
    async fn slot(
        &self,
        org: &OrganizationId,
        shop: &shared::domain::ShopDomain,
    ) -> Result<shared::store::Slot, shared::store::StoreError> {
        self.inner.slot(org, shop).await
    }
    async fn list(
        &self,
        org: &OrganizationId,
    ) -> Result<Vec<StoreRecord>, shared::store::StoreError> {
        self.inner.list(org).await
    }
    async fn scan(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<StoreRecord>, Option<String>), shared::store::StoreError> {
        self.inner.scan(cursor, limit).await
    }
    async fn put_live(
        &self,
        record: &StoreRecord,
        expect: Expect,
    ) -> Result<(), shared::store::StoreError> {
        self.inner.put_live(record, expect).await
    }
    async fn put_gone(
        &self,
        tombstone: &shared::store::Tombstone,
        expect: Expect,
    ) -> Result<(), shared::store::StoreError> {
        let landing = self.record.lock().unwrap().take();
        if let Some((record, expected)) = landing {
            self.inner
                .put_live(&record, expected)
                .await
                .expect("the connect's record lands");
        }
        self.inner.put_gone(tombstone, expect).await
    }
    async fn get_settings(
        &self,
        org: &OrganizationId,
    ) -> Result<shared::domain::OrgSettings, shared::store::StoreError> {
        self.inner.get_settings(org).await
    }
    async fn put_settings(
        &self,
        org: &OrganizationId,
        settings: &shared::domain::OrgSettings,
    ) -> Result<(), shared::store::StoreError> {
        self.inner.put_settings(org, settings).await
    }
}

fn secret_of(app: &TestApp, record: &StoreRecord) -> String {
    app.services
        .storage
        .secret_name(&record.org_id, &record.shop_domain)
        .to_string()
}

health_backends! {
    async fn a_disconnect_that_stopped_after_its_mark_has_its_secret_deleted_by_the_sweep(app: TestApp) {
        use shared::store::{Slot, Tombstone, TombstoneOrigin};
        let mut app = app;
        connect_us(&app).await;
        connect_uk(&app).await;
        let (us, uk) = (record(&app, US).await, record(&app, UK).await);
        // The disconnect marked the slot and stopped there (its invocation was cut short): the
        // store left the merchant's list, so no DELETE comes to finish it; its secret stayed.
        let crashed = Utc::now() - chrono::Duration::minutes(5);
        let mark = Tombstone {
            org_id: us.org_id.clone(),
            shop_domain: us.shop_domain.clone(),
            version: us.version + 1,
            write_id: "a-disconnect-that-stopped".into(),
            deleting_since: Some(crashed),
            removed_at: crashed,
            origin: TombstoneOrigin::Disconnect,
        };
        app.services.storage.stores.put_gone(&mark, Expect::Version(us.version)).await.unwrap();
        assert!(app.secret_names().await.contains(&secret_of(&app, &us)));

        // Each schedule queues the sweep; a secret changed within the hour is left alone.
        app.health().run_cycle().await;
        assert!(app.secret_names().await.contains(&secret_of(&app, &us)), "changed minutes ago");

        app.health_mut().ports.config.reclaim_after = std::time::Duration::ZERO;
        app.health().run_cycle().await;
        let names = app.secret_names().await;
        assert!(!names.contains(&secret_of(&app, &us)), "unreadable: its deletion is scheduled: {names:?}");
        assert!(names.contains(&secret_of(&app, &uk)), "a connected store's secret stays: {names:?}");
        match app.services.storage.stores.slot(&us.org_id, &us.shop_domain).await.unwrap() {
            Slot::Gone(tombstone) => {
                assert_eq!(tombstone.origin, TombstoneOrigin::Disconnect);
                assert!(tombstone.deleting_since.is_some(), "the disconnect's mark stays, to expire by itself");
                assert_eq!(tombstone.removed_at, crashed, "disconnected when the merchant asked");
            }
            other => panic!("{other:?}"),
        }
        let after = record(&app, UK).await;
        assert_eq!((after.connection_id, after.credentials_version), (uk.connection_id, uk.credentials_version), "the connected store keeps its connection and credentials");

        // The merchant's repeated DELETE still finishes the disconnect: the secret goes at once
        // and for good, recovery window and all.
        let delete = app.as_admin("DELETE", "/shopify/stores/{shop}").path_param("shop", US);
        assert_eq!(app.send(delete).await.0, 204);
        assert!(!app.secret_held(&secret_of(&app, &us)).await);
    }

    async fn a_secret_a_connect_left_without_a_record_is_deleted_by_the_sweep(app: TestApp) {
        use secrecy::SecretString;
        use shared::store::{Slot, TombstoneOrigin};
        let mut app = app;
        app.health_mut().ports.config.reclaim_after = std::time::Duration::ZERO;
        let org = OrganizationId::parse(&app.org).unwrap();
        let shop = shared::domain::ShopDomain::parse("demo-never").unwrap();
        let name = app.services.storage.secret_name(&org, &shop);
        // A connect put the secret and stopped before its record.
        app.services.storage.secrets.put(&name, &SecretString::from("{\"access_token\":\"shpat_x\"}")).await.unwrap();

        app.health().run_cycle().await;

        assert!(!app.secret_names().await.contains(&name.to_string()));
        match app.services.storage.stores.slot(&org, &shop).await.unwrap() {
            Slot::Gone(tombstone) => assert_eq!((tombstone.origin, tombstone.deleting_since), (TombstoneOrigin::Undo, None)),
            other => panic!("{other:?}"),
        }
        let delete = app.as_admin("DELETE", "/shopify/stores/{shop}").path_param("shop", "demo-never.myshopify.com");
        assert_eq!(app.send(delete).await.0, 404, "never connected");
        // A connect of the shop restores the secret and connects it.
        app.shopify.add_shop(FakeShop::new("demo-never").with_token(TOKEN));
        let (status, body) = app.connect(json!({"shop_domain": "demo-never", "access_token": TOKEN})).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(app.current_secret("demo-never").await.unwrap()["access_token"], TOKEN);
        let answer = app.lookup("get_shop_details", json!({}), None).await;
        assert!(answer["error"].is_null(), "{answer}");
    }

    async fn a_record_that_lands_before_the_sweeps_mark_keeps_its_secret(app: TestApp) {
        use shared::store::{Slot, Tombstone, TombstoneOrigin};
        connect_us(&app).await;
        let us = record(&app, US).await;
        // Disconnected earlier; a reconnect has put its credentials and is about to write its
        // record when the sweep reads the slot.
        let gone = Tombstone {
            org_id: us.org_id.clone(),
            shop_domain: us.shop_domain.clone(),
            version: us.version + 1,
            write_id: "disconnected".into(),
            deleting_since: None,
            removed_at: Utc::now(),
            origin: TombstoneOrigin::Disconnect,
        };
        app.services.storage.stores.put_gone(&gone, Expect::Version(us.version)).await.unwrap();
        let reconnected = StoreRecord { version: us.version + 2, write_id: "reconnected".into(), ..us.clone() };
        let storage = shared::lifecycle::Storage {
            stores: std::sync::Arc::new(RecordLandsFirst {
                inner: app.services.storage.stores.clone(),
                record: std::sync::Mutex::new(Some((reconnected.clone(), Expect::Version(gone.version)))),
            }),
            secrets: app.services.storage.secrets.clone(),
            secret_prefix: app.services.storage.secret_prefix.clone(),
        };

        let outcome = shared::lifecycle::reclaim(&storage, &shared::Deadline::after(std::time::Duration::from_secs(30)), &us.org_id, &us.shop_domain).await.unwrap();

        assert_eq!(outcome, shared::lifecycle::Reclaimed::InUse);
        assert_eq!(app.services.storage.stores.slot(&us.org_id, &us.shop_domain).await.unwrap(), Slot::Live(reconnected));
        assert!(app.secret_names().await.contains(&secret_of(&app, &us)));
        let answer = app.lookup("get_shop_details", json!({}), None).await;
        assert!(answer["error"].is_null(), "the reconnected store answers: {answer}");
    }
}
