//! The connector under the failures a real deployment meets: stores and AWS endpoints that
//! accept connections and never answer, or answer slowly; requests that race a disconnect and
//! a reconnect; and the review findings, each pinned by a test.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shared::secrets::SecretsManagerStore;
use shared::store::DynamoStoreRepository;
use shared::Deadline;
use tests::app::{section, Backend, TestApp};
use tests::events::HttpEvent;
use tests::fake_shopify::{FakeCustomer, FakeOrder, FakeShop, Fault};
use tests::faults::{
    BlackHole, CountingStores, FailingSecrets, FailingStores, Gate, GatedSecrets, GatedStores,
    InFlightDelete, LostDeleteAnswer, RetriedTombstone, SecretCall, Trigger,
};

const JANE: &str = "jane@example.com";
const US: &str = "demo-us.myshopify.com";
const SLOW: &str = "demo-slow.myshopify.com";
const TOKEN: &str = "shpat_first_0000000000000000000000000";
const NEW_TOKEN: &str = "shpat_second_000000000000000000000000";
const ROTATED_TOKEN: &str = "shpat_third_0000000000000000000000000";

/// The slack allowed past a budget: the contract's "budget + 1 s".
const SLACK: Duration = Duration::from_secs(1);

fn us_shop() -> FakeShop {
    FakeShop::new("demo-us")
        .named("Demo US")
        .with_token(TOKEN)
        .with_token(NEW_TOKEN)
        .with_token(ROTATED_TOKEN)
        .with_customer(FakeCustomer::new(1, "Jane Doe", JANE))
        .with_order(FakeOrder::new("#1001", "2026-11-01T10:00:00Z", JANE))
}

fn slow_shop() -> FakeShop {
    FakeShop::new("demo-slow")
        .with_token("shpat_slow")
        .with_customer(FakeCustomer::new(2, "Jane Doe", JANE))
        .with_order(FakeOrder::new("#1001", "2026-10-01T10:00:00Z", JANE))
}

fn token_body(shop: &str, token: &str) -> Value {
    json!({"shop_domain": shop, "access_token": token})
}

/// Connects the US store and a second one, then makes the second hang (or answer slowly).
async fn with_a_second_store(app: &TestApp, change: impl FnOnce(&mut FakeShop)) {
    app.shopify.add_shop(us_shop());
    app.shopify.add_shop(slow_shop());
    assert_eq!(app.connect(token_body(US, TOKEN)).await.0, 201);
    assert_eq!(app.connect(token_body(SLOW, "shpat_slow")).await.0, 201);
    app.shopify.update_shop(SLOW, change);
}

async fn lookup_within(
    app: &TestApp,
    budget: Duration,
    action: &str,
    arguments: Value,
) -> (Value, Duration) {
    let event = json!({"org_id": app.org, "action": action, "arguments": arguments, "contact": {"email": JANE}});
    let started = Instant::now();
    let answer = lookup::answer(&app.services, event, Deadline::after(budget)).await;
    (answer, started.elapsed())
}

fn sidebar_event(app: &TestApp) -> HttpEvent {
    HttpEvent::new("GET", "/shopify/contact-metadata")
        .claims(&[("org_id", app.org.as_str()), ("role", "agent")])
        .query("email", JANE)
}

fn validations(app: &TestApp) -> usize {
    app.shopify
        .received()
        .iter()
        .filter(|r| r.operation.as_deref() == Some("ValidateCredentials"))
        .count()
}

/// Waits until the fake has received `count` validation queries (one of them gated).
async fn until_validations(app: &TestApp, count: usize) {
    for _ in 0..500 {
        if validations(app) >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the gated request never reached Shopify");
}

/// The record names a secret version that exists, holds what the record says, and is current.
async fn assert_record_and_secret_agree(app: &TestApp, token: &str) {
    let record = app.records().await.into_iter().next().expect("a record");
    let name = app.secret_name("demo-us");
    let secrets = &app.services.storage.secrets;
    assert_eq!(
        secrets.current_version(&name).await.unwrap().as_deref(),
        Some(record.credentials_version.as_str()),
        "AWSCURRENT is the version the record names"
    );
    let value = secrets
        .get_version(&name, &record.credentials_version)
        .await
        .unwrap()
        .expect("the named version exists");
    assert!(secrecy::ExposeSecret::expose_secret(&value).contains(token));
}

/// A lookup that uses the store's credentials works, with `token`.
async fn assert_lookups_use(app: &TestApp, token: &str) {
    let answer = app.lookup("get_shop_details", json!({}), None).await;
    assert_eq!(answer["ok"], true, "{answer}");
    let last = app
        .shopify
        .received()
        .into_iter()
        .rev()
        .find(|r| r.operation.as_deref() == Some("ShopDetails"))
        .unwrap();
    assert_eq!(last.access_token.as_deref(), Some(token));
}

both_backends! {
    async fn a_hanging_store_costs_a_lookup_its_part_never_the_answer(app: TestApp) {
        with_a_second_store(&app, |shop| shop.hangs = true).await;
        let budget = Duration::from_millis(1500);

        let (details, took) = lookup_within(&app, budget, "get_shop_details", json!({})).await;
        let (order, order_took) = lookup_within(&app, budget, "get_order_details", json!({"order_number": "#1001"})).await;

        assert!(took < budget + SLACK && order_took < budget + SLACK, "{took:?} {order_took:?}");
        assert_eq!(details["ok"], true, "{details}");
        assert_eq!(details["data"]["shops"].as_array().unwrap().len(), 1);
        assert_eq!(details["store_errors"], json!([{"shop_domain": SLOW, "code": "shopify_unavailable"}]));
        assert_eq!(order["data"]["shop_domain"], US, "{order}");
        assert_eq!(order["store_errors"], json!([{"shop_domain": SLOW, "code": "shopify_unavailable"}]));
    }

    async fn when_every_store_hangs_the_lookup_says_shopify_is_unavailable_in_time(app: TestApp) {
        with_a_second_store(&app, |shop| shop.hangs = true).await;
        app.shopify.update_shop(US, |shop| shop.hangs = true);
        let budget = Duration::from_millis(1200);

        let (answer, took) = lookup_within(&app, budget, "search_products", json!({"query": "boots"})).await;

        assert!(took < budget + SLACK, "{took:?}");
        assert_eq!(answer["ok"], false);
        assert_eq!(answer["error"]["code"], "shopify_unavailable");
    }

    async fn a_slow_store_is_waited_for_within_the_budget(app: TestApp) {
        with_a_second_store(&app, |shop| shop.latency = Duration::from_millis(600)).await;

        let (answer, took) = lookup_within(&app, Duration::from_secs(4), "get_shop_details", json!({})).await;

        assert!(took >= Duration::from_millis(600));
        assert_eq!(answer["data"]["shops"].as_array().unwrap().len(), 2, "{answer}");
        assert_eq!(answer["store_errors"], json!([]));
    }

    async fn a_hanging_store_gets_an_error_section_within_the_sidebar_budget(app: TestApp) {
        with_a_second_store(&app, |shop| shop.hangs = true).await;
        let mut services = app.services.clone();
        services.budgets.sidebar = Duration::from_millis(1500);

        let (status, body, took) = app.send_within(&services, sidebar_event(&app), Duration::from_secs(28)).await;

        assert_eq!(status, 200, "a JSON answer, never the gateway's own 503");
        assert!(took < Duration::from_millis(1500) + SLACK, "{took:?}");
        assert_eq!(section(&body, US)["status"], "found");
        let slow = section(&body, SLOW);
        assert_eq!((slow["status"].as_str(), slow["error"]["code"].as_str()), (Some("error"), Some("shopify_unavailable")));
    }

    async fn the_sidebar_never_runs_past_the_invocation(app: TestApp) {
        with_a_second_store(&app, |shop| shop.hangs = true).await;

        let (status, body, took) = app.send_within(&app.services, sidebar_event(&app), Duration::from_millis(2500)).await;

        assert_eq!(status, 200);
        assert!(took < Duration::from_millis(2500), "the invocation deadline bounds the default budget: {took:?}");
        assert_eq!(section(&body, SLOW)["status"], "error");
    }

    async fn connecting_a_hanging_shop_answers_502_within_the_deadline_and_stores_nothing(app: TestApp) {
        app.shopify.add_shop(us_shop().hanging());
        let invocation = Duration::from_secs(5);

        let (status, body, took) = app.send_within(&app.services, app.as_admin("POST", "/shopify/stores").json(&token_body(US, TOKEN)), invocation).await;

        assert_eq!((status, body["error"]["code"].as_str()), (502, Some("shopify_unavailable")), "{body}");
        assert!(took < invocation - Duration::from_millis(500), "{took:?}");
        assert!(app.records().await.is_empty() && app.secret_names().await.is_empty());
    }

    async fn verify_of_a_hanging_shop_answers_502_and_keeps_the_store(app: TestApp) {
        app.shopify.add_shop(us_shop());
        assert_eq!(app.connect(token_body(US, TOKEN)).await.0, 201);
        let before = app.records().await;
        app.shopify.update_shop(US, |shop| shop.hangs = true);
        let event = app.as_admin("GET", "/shopify/stores/{shop}").path_param("shop", US).query("verify", "true");

        let (status, _, took) = app.send_within(&app.services, event, Duration::from_secs(4)).await;

        assert_eq!(status, 502);
        assert!(took < Duration::from_secs(4));
        assert_eq!(app.records().await, before, "a check that did not finish records nothing");
    }

    async fn a_rotation_racing_a_disconnect_and_reconnect_never_touches_the_new_connection(app: TestApp) {
        app.shopify.add_shop(us_shop());
        assert_eq!(app.connect(token_body(US, TOKEN)).await.0, 201);
        let (gate, open) = Fault::gate();
        app.shopify.push_fault(US, gate);
        let app = Arc::new(app);

        let rotation = tokio::spawn({
            let app = app.clone();
            async move { app.connect(token_body(US, ROTATED_TOKEN)).await }
        });
        until_validations(&app, 2).await;
        assert_eq!(app.disconnect(US).await.0, 204);
        assert_eq!(app.connect(token_body(US, NEW_TOKEN)).await.0, 201);
        open.notify_one();
        let (status, body) = rotation.await.unwrap();

        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("store_not_found")), "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("disconnected"));
        assert_record_and_secret_agree(&app, NEW_TOKEN).await;
        assert_lookups_use(&app, NEW_TOKEN).await;
    }

    async fn a_rotation_staged_before_a_disconnect_and_reconnect_is_dropped(app: TestApp) {
        app.shopify.add_shop(us_shop());
        assert_eq!(app.connect(token_body(US, TOKEN)).await.0, 201);
        let gated = Arc::new(GatedSecrets::new(app.services.storage.secrets.clone(), SecretCall::Put));
        let services = app.with_storage(None, Some(gated.clone()));
        let reached = gated.gate.reached.clone();
        let app = Arc::new(app);

        let rotation = tokio::spawn({
            let app = app.clone();
            async move { app.send_with(&services, app.as_admin("POST", "/shopify/stores").json(&token_body(US, ROTATED_TOKEN))).await }
        });
        reached.notified().await;
        assert_eq!(app.disconnect(US).await.0, 204);
        assert_eq!(app.connect(token_body(US, NEW_TOKEN)).await.0, 201);
        gated.gate.open.notify_one();
        let (status, body) = rotation.await.unwrap();

        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("store_not_found")), "{body}");
        assert_record_and_secret_agree(&app, NEW_TOKEN).await;
        assert_lookups_use(&app, NEW_TOKEN).await;
    }

    async fn a_rotation_in_flight_during_a_disconnect_does_not_bring_the_store_back(app: TestApp) {
        app.shopify.add_shop(us_shop());
        assert_eq!(app.connect(token_body(US, TOKEN)).await.0, 201);
        let (gate, open) = Fault::gate();
        app.shopify.push_fault(US, gate);
        let app = Arc::new(app);

        let rotation = tokio::spawn({
            let app = app.clone();
            async move { app.connect(token_body(US, ROTATED_TOKEN)).await }
        });
        until_validations(&app, 2).await;
        assert_eq!(app.disconnect(US).await.0, 204);
        open.notify_one();
        let (status, _) = rotation.await.unwrap();

        assert_eq!(status, 404);
        assert!(app.records().await.is_empty(), "a disconnect that answered 204 stays done");
        assert!(app.secret_names().await.is_empty());
        assert_eq!(app.lookup("get_shop_details", json!({}), None).await["error"]["code"], "no_store_connected");
    }

    async fn verify_racing_a_disconnect_and_reconnect_never_clobbers_the_new_connection(app: TestApp) {
        app.shopify.add_shop(us_shop());
        assert_eq!(app.connect(token_body(US, TOKEN)).await.0, 201);
        let (gate, open) = Fault::gate();
        app.shopify.push_fault(US, gate);
        let app = Arc::new(app);

        let verify = tokio::spawn({
            let app = app.clone();
            async move { app.get_store(US, true).await }
        });
        until_validations(&app, 2).await;
        assert_eq!(app.disconnect(US).await.0, 204);
        assert_eq!(app.connect(token_body(US, NEW_TOKEN)).await.0, 201);
        let reconnected = app.records().await.remove(0);
        open.notify_one();
        let (status, _) = verify.await.unwrap();

        assert_eq!(status, 200);
        let record = app.records().await.remove(0);
        assert_eq!(record.credentials_version, reconnected.credentials_version, "the reconnected store keeps its credentials");
        assert_eq!(record.connection_id, reconnected.connection_id);
        assert_record_and_secret_agree(&app, NEW_TOKEN).await;
        assert_lookups_use(&app, NEW_TOKEN).await;
    }

    async fn a_failed_connect_never_removes_a_secret_a_concurrent_connect_just_used(app: TestApp) {
        app.shopify.add_shop(us_shop());
        let trigger = Arc::new(Trigger::default());
        trigger.fail_on(1);
        let failing = FailingStores::new(app.services.storage.stores.clone(), trigger);
        let gated = Arc::new(GatedStores { inner: Arc::new(failing), gate: Gate::default() });
        let first = app.with_storage(Some(gated.clone()), None);
        let app = Arc::new(app);

        let failed = tokio::spawn({
            let app = app.clone();
            async move { app.send_with(&first, app.as_admin("POST", "/shopify/stores").json(&token_body(US, TOKEN))).await }
        });
        gated.gate.reached.notified().await;
        let (status, _) = app.connect(token_body(US, NEW_TOKEN)).await;
        assert_eq!(status, 201, "the concurrent connect lands while the failed one is about to undo");
        gated.gate.open.notify_one();
        let (failed_status, _) = failed.await.unwrap();

        assert_eq!(failed_status, 503);
        assert_eq!(app.secret_names().await.len(), 1, "the secret in use was not scheduled for deletion");
        assert_record_and_secret_agree(&app, NEW_TOKEN).await;
        assert_lookups_use(&app, NEW_TOKEN).await;
    }

    async fn a_first_connect_whose_secret_write_answer_was_lost_keeps_no_credentials(app: TestApp) {
        app.shopify.add_shop(us_shop());
        let secrets = Arc::new(tests::faults::LostPutAnswer::new(app.services.storage.secrets.clone()));
        let services = app.with_storage(None, Some(secrets));

        let (status, _) = app.send_with(&services, app.as_admin("POST", "/shopify/stores").json(&token_body(US, TOKEN))).await;

        assert_eq!(status, 503);
        assert!(app.records().await.is_empty());
        assert!(app.secret_names().await.is_empty(), "no credentials are kept that no record names");
        assert_eq!(app.connect(token_body(US, NEW_TOKEN)).await.0, 201, "the retry ends well");
        assert_record_and_secret_agree(&app, NEW_TOKEN).await;
    }

    async fn a_new_connection_rewritten_after_its_lost_answer_is_still_new(app: TestApp) {
        app.shopify.add_shop(us_shop());
        let stores = Arc::new(tests::faults::RewrittenAfterLostAnswer::new(app.services.storage.stores.clone()));
        let services = app.with_storage(Some(stores), None);

        let (status, body) = app.send_with(&services, app.as_admin("POST", "/shopify/stores").json(&token_body(US, TOKEN))).await;

        assert_eq!(status, 201, "a new connection, not a rotation: {body}");
        let record = app.records().await.remove(0);
        assert_eq!(record.write_id, "another-writer", "written over by the other writer only");
        assert!(record.previous_credentials_version.is_none(), "no second staging of the same credentials");
        assert_record_and_secret_agree(&app, TOKEN).await;
    }

    async fn a_failed_connect_retried_after_its_undo_leaves_no_secret_live_when_it_fails_again(app: TestApp) {
        app.shopify.add_shop(us_shop());
        let trigger = Arc::new(Trigger::default());
        let failing = Arc::new(FailingStores::new(app.services.storage.stores.clone(), trigger.clone()));
        let services = app.with_storage(Some(failing), None);
        let connect = || app.as_admin("POST", "/shopify/stores").json(&token_body(US, TOKEN));

        for attempt in ["the first connect", "its retry, which restores the secret"] {
            trigger.fail_on(1);
            assert_eq!(app.send_with(&services, connect()).await.0, 503, "{attempt}");
            assert!(app.records().await.is_empty(), "{attempt}");
            assert!(app.secret_names().await.is_empty(), "{attempt}: no credentials are kept that no record names");
        }
        assert_eq!(app.connect(token_body(US, NEW_TOKEN)).await.0, 201, "the next connect ends well");
        assert_record_and_secret_agree(&app, NEW_TOKEN).await;
    }

    async fn a_connect_waits_for_an_undo_under_way_and_restores_the_secret(app: TestApp) {
        app.shopify.add_shop(us_shop());
        let trigger = Arc::new(Trigger::default());
        trigger.fail_on(1);
        let failing = Arc::new(FailingStores::new(app.services.storage.stores.clone(), trigger));
        let gated = Arc::new(GatedSecrets::new(app.services.storage.secrets.clone(), SecretCall::ScheduleDeletion));
        let first = app.with_storage(Some(failing), Some(gated.clone()));
        let app = Arc::new(app);

        let failed = tokio::spawn({
            let app = app.clone();
            async move { app.send_with(&first, app.as_admin("POST", "/shopify/stores").json(&token_body(US, TOKEN))).await }
        });
        gated.gate.reached.notified().await;
        let second = tokio::spawn({
            let app = app.clone();
            async move { app.connect(token_body(US, NEW_TOKEN)).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!second.is_finished(), "the second connect waits while the secret is being removed");
        gated.gate.open.notify_one();

        assert_eq!(failed.await.unwrap().0, 503);
        assert_eq!(second.await.unwrap().0, 201);
        assert_eq!(app.secret_names().await.len(), 1, "restored, not left pending deletion");
        assert_record_and_secret_agree(&app, NEW_TOKEN).await;
        assert_lookups_use(&app, NEW_TOKEN).await;
    }

    async fn two_deletes_at_once_never_let_a_reconnect_lose_its_secret(app: TestApp) {
        app.shopify.add_shop(us_shop());
        assert_eq!(app.connect(token_body(US, TOKEN)).await.0, 201);
        let held = Arc::new(GatedSecrets::new(app.services.storage.secrets.clone(), SecretCall::Delete));
        let first = app.with_storage(None, Some(held.clone()));
        let app = Arc::new(app);

        let first_delete = tokio::spawn({
            let app = app.clone();
            async move { app.send_with(&first, app.as_admin("DELETE", "/shopify/stores/{shop}").path_param("shop", US)).await }
        });
        held.gate.reached.notified().await; // marked, inside its window, about to delete
        assert_eq!(app.disconnect(US).await.0, 204, "a second DELETE finishes the job too");
        let reconnect = tokio::spawn({
            let app = app.clone();
            async move { app.connect(token_body(US, NEW_TOKEN)).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!reconnect.is_finished(), "the reconnect waits while a deletion may still land");
        held.gate.open.notify_one(); // the first DELETE's (bounded) call lands now
        let (status, _) = first_delete.await.unwrap();
        assert!(status == 204 || status == 503, "{status}");

        assert_eq!(reconnect.await.unwrap().0, 201);
        assert_record_and_secret_agree(&app, NEW_TOKEN).await;
        assert_lookups_use(&app, NEW_TOKEN).await;
    }

    async fn a_lost_deletion_answer_never_brings_back_a_store_without_credentials(app: TestApp) {
        app.shopify.add_shop(us_shop());
        assert_eq!(app.connect(token_body(US, TOKEN)).await.0, 201);
        let services = app.with_storage(None, Some(Arc::new(LostDeleteAnswer::new(app.services.storage.secrets.clone()))));
        let event = || app.as_admin("DELETE", "/shopify/stores/{shop}").path_param("shop", US);

        let (status, _) = app.send_with(&services, event()).await;

        assert_eq!(status, 503, "it cannot be told whether the secret went");
        assert!(app.records().await.is_empty(), "no record comes back naming credentials that may be gone");
        assert_eq!(app.send_with(&services, event()).await.0, 204, "a retry finishes the disconnect");
        assert!(app.secret_names().await.is_empty());
    }

    async fn a_deletion_that_went_unanswered_never_puts_back_a_store_whose_secret_then_goes(app: TestApp) {
        app.shopify.add_shop(us_shop());
        assert_eq!(app.connect(token_body(US, TOKEN)).await.0, 201);
        let in_flight = Arc::new(InFlightDelete::new(app.services.storage.secrets.clone()));
        let services = app.with_storage(None, Some(in_flight.clone()));
        let event = || app.as_admin("DELETE", "/shopify/stores/{shop}").path_param("shop", US);

        let (status, _) = app.send_with(&services, event()).await;
        in_flight.land().await; // the unanswered deletion is carried out after all

        assert_eq!(status, 503, "it cannot be told whether the secret goes");
        assert!(app.records().await.is_empty(), "no record comes back naming credentials that may still go");
        assert_eq!(app.send_with(&services, event()).await.0, 204, "a retry finishes the disconnect");
        assert!(app.secret_names().await.is_empty());
    }

    async fn a_disconnect_whose_mark_write_was_retried_still_puts_the_store_back(app: TestApp) {
        app.shopify.add_shop(us_shop());
        assert_eq!(app.connect(token_body(US, TOKEN)).await.0, 201);
        let trigger = Arc::new(Trigger::default());
        trigger.fail_on(1);
        let secrets = Arc::new(FailingSecrets { inner: app.services.storage.secrets.clone(), trigger });
        let services = app.with_storage(Some(Arc::new(RetriedTombstone::new(app.services.storage.stores.clone()))), Some(secrets));

        let (status, _) = app.send_with(&services, app.as_admin("DELETE", "/shopify/stores/{shop}").path_param("shop", US)).await;

        assert_eq!(status, 503);
        assert_eq!(app.records().await.len(), 1, "a DELETE that failed leaves the store connected");
        assert_record_and_secret_agree(&app, TOKEN).await;
        assert_lookups_use(&app, TOKEN).await;
    }

    async fn a_delete_during_a_failed_connects_undo_is_a_404_and_the_next_connect_ends_well(app: TestApp) {
        app.shopify.add_shop(us_shop());
        let trigger = Arc::new(Trigger::default());
        trigger.fail_on(1);
        let failing = Arc::new(FailingStores::new(app.services.storage.stores.clone(), trigger));
        let gated = Arc::new(GatedSecrets::new(app.services.storage.secrets.clone(), SecretCall::ScheduleDeletion));
        let first = app.with_storage(Some(failing), Some(gated.clone()));
        let app = Arc::new(app);

        let failed = tokio::spawn({
            let app = app.clone();
            async move { app.send_with(&first, app.as_admin("POST", "/shopify/stores").json(&token_body(US, TOKEN))).await }
        });
        gated.gate.reached.notified().await; // the undo marked the slot and is about to delete
        let (delete_status, body) = app.disconnect(US).await;
        assert_eq!(delete_status, 404, "the shop was never connected: {body}");
        let reconnect = tokio::spawn({
            let app = app.clone();
            async move { app.connect(token_body(US, NEW_TOKEN)).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        gated.gate.open.notify_one();

        assert_eq!(failed.await.unwrap().0, 503);
        assert_eq!(reconnect.await.unwrap().0, 201);
        assert_record_and_secret_agree(&app, NEW_TOKEN).await;
        assert_lookups_use(&app, NEW_TOKEN).await;
    }

    async fn a_connect_that_lands_on_a_concurrent_connect_answers_200_even_when_its_answer_is_lost(app: TestApp) {
        for lost in [false, true] {
            let app = TestApp::spawn(app.backend).await;
            app.shopify.add_shop(us_shop());
            let trigger = Arc::new(Trigger::default());
            if lost {
                trigger.fail_on(2);
            }
            let stores = FailingStores { after_write: true, ..FailingStores::new(app.services.storage.stores.clone(), trigger) };
            let gated = Arc::new(GatedSecrets::new(app.services.storage.secrets.clone(), SecretCall::Put));
            let first = app.with_storage(Some(Arc::new(stores)), Some(gated.clone()));
            let app = Arc::new(app);

            let a = tokio::spawn({
                let app = app.clone();
                async move { app.send_with(&first, app.as_admin("POST", "/shopify/stores").json(&token_body(US, TOKEN))).await }
            });
            gated.gate.reached.notified().await; // read the slot empty, about to stage
            assert_eq!(app.connect(token_body(US, NEW_TOKEN)).await.0, 201);
            gated.gate.open.notify_one();
            let (status, body) = a.await.unwrap();

            assert_eq!(status, 200, "it replaced a connected store's credentials (answer lost: {lost}): {body}");
            assert_record_and_secret_agree(&app, TOKEN).await;
        }
    }

    async fn a_null_contact_is_no_verified_contact(app: TestApp) {
        app.shopify.add_shop(us_shop());
        app.connect(token_body(US, TOKEN)).await;

        let answer = app.invoke(&app.services, json!({"org_id": app.org, "action": "get_order_details", "arguments": {"order_number": "1001"}, "contact": null})).await;

        assert_eq!(answer["error"]["code"], "verification_required", "{answer}");
    }

    async fn unknown_actions_and_bad_arguments_are_answered_without_reading_storage(app: TestApp) {
        app.shopify.add_shop(us_shop());
        app.connect(token_body(US, TOKEN)).await;
        let counting = Arc::new(CountingStores::new(app.services.storage.stores.clone()));
        let services = app.with_storage(Some(counting.clone()), None);

        for (action, arguments) in [("delete_store", json!({})), ("get_order_details", json!({"order_number": "DROP TABLE"})), ("search_products", json!({"query": "boots", "limit": 99})), ("get_shop_details", json!({"shop_domain": "www.example.com"}))] {
            let answer = app.invoke(&services, json!({"org_id": app.org, "action": action, "arguments": arguments})).await;
            assert_eq!(answer["error"]["code"], "invalid_arguments", "{action}: {answer}");
        }

        assert_eq!(counting.reads(), 0);
    }

    async fn a_malformed_order_page_cannot_loop_the_sidebar(app: TestApp) {
        app.shopify.add_shop(FakeShop { stuck_paging: true, ..us_shop() });
        app.connect(token_body(US, TOKEN)).await;

        let answer = tokio::time::timeout(Duration::from_secs(10), app.send_within(&app.services, sidebar_event(&app), Duration::from_secs(28))).await;

        let (status, body, _) = answer.expect("the sidebar answers although Shopify's pages never end");
        assert_eq!(status, 200);
        let us = section(&body, US);
        assert_eq!(us["status"], "found");
        assert_eq!(us["orders"].as_array().unwrap().len(), 1);
        let pages = app.shopify.received().iter().filter(|r| r.operation.as_deref() == Some("CustomerByEmail")).count();
        assert!(pages <= 2, "{pages} pages were asked for");
    }

    async fn an_absurd_token_lifetime_from_shopify_does_not_panic(app: TestApp) {
        let mut shop = us_shop().with_client("cid", "csecret");
        shop.token_ttl = u64::MAX;
        app.shopify.add_shop(shop);

        assert_eq!(app.connect(json!({"shop_domain": US, "client_id": "cid", "client_secret": "csecret"})).await.0, 201);
        assert_eq!(app.lookup("get_shop_details", json!({}), None).await["ok"], true);
        assert_eq!(app.lookup("get_shop_details", json!({}), None).await["ok"], true);
    }

    async fn verify_is_for_admins_and_records_what_changed(app: TestApp) {
        app.shopify.add_shop(us_shop());
        app.connect(token_body(US, TOKEN)).await;
        let before = app.records().await.remove(0);
        let member = HttpEvent::new("GET", "/shopify/stores/{shop}").path_param("shop", US).query("verify", "true").claims(&[("org_id", app.org.as_str()), ("role", "agent")]);
        let calls = app.shopify.received().len();

        let (status, body) = app.send(member).await;

        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));
        assert_eq!(app.shopify.received().len(), calls, "Shopify is not even asked");
        assert_eq!(app.send(HttpEvent::new("GET", "/shopify/stores/{shop}").path_param("shop", US).claims(&[("org_id", app.org.as_str()), ("role", "agent")])).await.0, 200, "members still read the store");

        app.shopify.update_shop(US, |shop| shop.order_number_prefix = "US-".into());
        let (status, body) = app.get_store(US, true).await;

        assert_eq!(status, 200);
        assert_eq!(body["order_number_prefix"], "US-", "routing follows the merchant's change");
        let after = app.records().await.remove(0);
        assert_eq!((after.credentials_version.clone(), after.connection_id.clone(), after.connected_at, after.credentials_updated_at), (before.credentials_version, before.connection_id, before.connected_at, before.credentials_updated_at), "nothing else changes");
        assert!(after.last_verified_at > before.last_verified_at);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopify_error_texts_never_reach_the_logs() {
    let app = TestApp::spawn(Backend::Memory).await;
    app.shopify.add_shop(us_shop());
    app.connect(token_body(US, TOKEN)).await;
    app.shopify
        .push_fault(US, Fault::GraphQlError("ACCESS_DENIED"));
    app.shopify
        .push_fault(US, Fault::GraphQlError("BAD_USER_INPUT"));

    let denied = app
        .lookup(
            "get_order_details",
            json!({"order_number": "1001"}),
            Some(JANE),
        )
        .await;
    let other = app
        .lookup(
            "get_order_details",
            json!({"order_number": "1001"}),
            Some(JANE),
        )
        .await;

    assert_eq!(denied["ok"], false);
    assert_eq!(other["ok"], false);
    let logs = tests::logs::contents();
    assert!(
        logs.contains("ACCESS_DENIED") || logs.contains("denied access"),
        "the failure itself is logged"
    );
    assert!(
        !logs.contains("jane.doe.leak@example.com"),
        "Shopify's message text is not"
    );
}

/// A DynamoDB that never answers: every function still answers within its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_dynamodb_costs_each_function_only_its_budget() {
    let app = TestApp::spawn(Backend::Memory).await;
    app.shopify.add_shop(us_shop());
    let hole = BlackHole::start().await;
    let stores = DynamoStoreRepository::new(
        aws_sdk_dynamodb::Client::new(&hole.sdk_config().await),
        "stores",
    );
    let services = app.with_storage(Some(Arc::new(stores)), None);

    let started = Instant::now();
    let answer = lookup::answer(
        &services,
        json!({"org_id": app.org, "action": "get_shop_details", "arguments": {}}),
        Deadline::after(Duration::from_millis(1200)),
    )
    .await;
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1200) + SLACK, "{took:?}");
    assert_eq!(
        (answer["ok"].as_bool(), answer["error"]["code"].as_str()),
        (Some(false), Some("internal")),
        "{answer}"
    );

    for event in [
        app.as_admin("GET", "/shopify/stores"),
        app.as_admin("POST", "/shopify/stores")
            .json(&token_body(US, TOKEN)),
        app.as_admin("DELETE", "/shopify/stores/{shop}")
            .path_param("shop", US),
        sidebar_event(&app),
    ] {
        let what = format!("{} {}", event.method, event.route);
        let (status, body, took) = app
            .send_within(&services, event, Duration::from_secs(3))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (503, Some("storage_unavailable")),
            "{what}: {body}"
        );
        assert!(took < Duration::from_secs(3), "{what} took {took:?}");
    }
    assert!(
        app.shopify.received().is_empty(),
        "nothing reached Shopify before the store was read"
    );
    assert!(app.secret_names().await.is_empty(), "nothing was stored");
}

/// A Secrets Manager that never answers: a connect answers 503 within its deadline and leaves
/// no record; lookups and the sidebar report the store and answer in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_secrets_manager_costs_each_function_only_its_budget() {
    let app = TestApp::spawn(Backend::Memory).await;
    app.shopify.add_shop(us_shop());
    let hole = BlackHole::start().await;
    let secrets = SecretsManagerStore::new(
        aws_sdk_secretsmanager::Client::new(&hole.sdk_config().await),
        None,
    );
    let services = app.with_storage(None, Some(Arc::new(secrets)));

    let (status, body, took) = app
        .send_within(
            &services,
            app.as_admin("POST", "/shopify/stores")
                .json(&token_body(US, TOKEN)),
            Duration::from_secs(4),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("storage_unavailable")),
        "{body}"
    );
    assert!(took < Duration::from_secs(4), "{took:?}");
    assert!(
        app.records().await.is_empty(),
        "no record names credentials that were never stored"
    );

    assert_eq!(app.connect(token_body(US, TOKEN)).await.0, 201);
    let fresh = services.with_storage(shared::lifecycle::Storage {
        secrets: services.storage.secrets.clone(),
        ..app.services.storage.clone()
    });
    let started = Instant::now();
    let answer = lookup::answer(
        &fresh,
        json!({"org_id": app.org, "action": "get_shop_details", "arguments": {}}),
        Deadline::after(Duration::from_millis(1200)),
    )
    .await;
    assert!(started.elapsed() < Duration::from_millis(1200) + SLACK);
    assert_eq!(answer["error"]["code"], "shopify_unavailable", "{answer}");
    let mut sidebar = fresh.clone();
    sidebar.budgets.sidebar = Duration::from_millis(1200);
    let (status, body, took) = app
        .send_within(&sidebar, sidebar_event(&app), Duration::from_secs(28))
        .await;
    assert_eq!(status, 200);
    assert!(took < Duration::from_millis(1200) + SLACK, "{took:?}");
    assert_eq!(section(&body, US)["status"], "error");
}
