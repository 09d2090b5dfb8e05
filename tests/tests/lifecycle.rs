//! Store lifecycle: list, verify, settings, rotation and disconnect — consistent under failure
//! and concurrency, and never across organizations. Every scenario runs on both backends.

mod common;

use std::sync::Arc;

use serde_json::{json, Value};
use shared::domain::{OrgSettings, OrganizationId, SettingsUpdate, ShopDomain};
use shared::store::{Expect, Slot, StoreError, StoreRecord, StoreRepository, Tombstone};
use tests::app::TestApp;
use tests::events::HttpEvent;
use tests::fake_shopify::FakeShop;
use tests::faults::{FailingSecrets, FailingStores, Trigger};

const TOKEN: &str = "shpat_first_0000000000000000000000000";
const NEW_TOKEN: &str = "shpat_second_000000000000000000000000";

fn token_body(shop: &str, token: &str) -> Value {
    json!({"shop_domain": shop, "access_token": token})
}

async fn connected(app: &TestApp) {
    app.shopify.add_shop(
        FakeShop::new("demo-us")
            .named("Demo US")
            .with_token(TOKEN)
            .with_token(NEW_TOKEN),
    );
    assert_eq!(app.connect(token_body("demo-us", TOKEN)).await.0, 201);
}

/// The record names a secret version that exists, holds what the record says, and is current.
async fn assert_record_and_secret_agree(app: &TestApp, shop: &str) -> Value {
    let record = app
        .records()
        .await
        .into_iter()
        .find(|r| r.shop_domain.as_str() == format!("{shop}.myshopify.com"))
        .expect("a record");
    let name = app.secret_name(shop);
    let current = app
        .services
        .storage
        .secrets
        .current_version(&name)
        .await
        .unwrap();
    assert_eq!(
        current.as_deref(),
        Some(record.credentials_version.as_str()),
        "AWSCURRENT is the version the record names"
    );
    let value = app
        .services
        .storage
        .secrets
        .get_version(&name, &record.credentials_version)
        .await
        .unwrap()
        .expect("the named version exists");
    let value: Value = serde_json::from_str(secrecy::ExposeSecret::expose_secret(&value)).unwrap();
    assert_eq!(
        value["auth_type"],
        json!(record.auth_type),
        "the secret holds the kind of credentials the record says"
    );
    value
}

fn with_failing_stores(app: &TestApp, trigger: &Arc<Trigger>) -> shared::Services {
    let stores = FailingStores::new(app.services.storage.stores.clone(), trigger.clone());
    app.with_storage(Some(Arc::new(stores)), None)
}

fn with_failing_secrets(app: &TestApp, trigger: &Arc<Trigger>) -> shared::Services {
    let secrets = FailingSecrets {
        inner: app.services.storage.secrets.clone(),
        trigger: trigger.clone(),
    };
    app.with_storage(None, Some(Arc::new(secrets)))
}

/// The stores, except that the first settings read answers the ones given: a save that read
/// before another save's write.
struct ReadBefore {
    inner: Arc<dyn StoreRepository>,
    read: std::sync::Mutex<Option<OrgSettings>>,
}

#[async_trait::async_trait]
impl StoreRepository for ReadBefore {
    async fn slot(&self, org: &OrganizationId, shop: &ShopDomain) -> Result<Slot, StoreError> {
        self.inner.slot(org, shop).await
    }
    async fn list(&self, org: &OrganizationId) -> Result<Vec<StoreRecord>, StoreError> {
        self.inner.list(org).await
    }
    async fn scan(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<StoreRecord>, Option<String>), StoreError> {
        self.inner.scan(cursor, limit).await
    }
    async fn put_live(&self, record: &StoreRecord, expect: Expect) -> Result<(), StoreError> {
        self.inner.put_live(record, expect).await
    }
    async fn put_gone(&self, tombstone: &Tombstone, expect: Expect) -> Result<(), StoreError> {
        self.inner.put_gone(tombstone, expect).await
    }
    async fn get_settings(&self, org: &OrganizationId) -> Result<OrgSettings, StoreError> {
        let first = self.read.lock().unwrap().take();
        match first {
            Some(read) => Ok(read),
            None => self.inner.get_settings(org).await,
        }
    }
    async fn put_settings(
        &self,
        org: &OrganizationId,
        settings: &OrgSettings,
    ) -> Result<(), StoreError> {
        self.inner.put_settings(org, settings).await
    }
}

both_backends! {
    async fn a_settings_save_that_leaves_a_part_out_keeps_what_another_save_wrote_there(app: TestApp) {
        let org = OrganizationId::parse(&app.org).unwrap();
        let stores = app.services.storage.stores.clone();
        let mut on = stores.get_settings(&org).await.unwrap();
        on.order_actions.cancel_order.enabled = true;
        on.mcp.order_actions = true;
        on.knowledge.products = true;
        stores.put_settings(&org, &on).await.unwrap();
        // Admin B's save reads the settings; admin A then turns cancellations (and the rest) off.
        let read_by_b = stores.get_settings(&org).await.unwrap();
        let mut off = read_by_b.clone();
        off.order_actions.cancel_order.enabled = false;
        off.mcp.order_actions = false;
        off.knowledge.products = false;
        stores.put_settings(&org, &off).await.unwrap();

        // B's PUT names only the lookup toggles and the email check.
        let update: SettingsUpdate = serde_json::from_value(json!({"actions": {"get_order_details": false, "search_products": true, "get_shop_details": true}, "require_email_match": false})).unwrap();
        let b = ReadBefore { inner: stores.clone(), read: std::sync::Mutex::new(Some(read_by_b)) };
        let answered = shared::settings::save(&b, None, &shared::Deadline::after(std::time::Duration::from_secs(10)), &org, update).await.unwrap();

        let stored = stores.get_settings(&org).await.unwrap();
        assert_eq!(answered, stored, "B is answered what is stored, not what it read");
        assert!(!stored.actions.get_order_details && !stored.require_email_match, "B's change is saved");
        assert!(!stored.order_actions.cancel_order.enabled, "A's turning cancellations off stands");
        assert!(!stored.mcp.order_actions && !stored.knowledge.products, "and A's other changes");
    }

    async fn listing_shows_every_store_of_the_org_oldest_first(app: TestApp) {
        for (handle, token) in [("shop-c", "shpat_c"), ("shop-a", "shpat_a"), ("shop-b", "shpat_b")] {
            app.shopify.add_shop(FakeShop::new(handle).with_token(token));
            assert_eq!(app.connect(token_body(handle, token)).await.0, 201);
        }

        let (status, body) = app.list().await;

        assert_eq!(status, 200);
        let domains: Vec<_> = body["stores"].as_array().unwrap().iter().map(|s| s["shop_domain"].as_str().unwrap()).collect();
        assert_eq!(domains, ["shop-c.myshopify.com", "shop-a.myshopify.com", "shop-b.myshopify.com"]);
        assert!(!body.to_string().contains("shpat_"), "no credential in the listing");
        assert!(body["stores"][0].get("credentials_version").is_none() && body["stores"][0].get("version").is_none());
        let member = HttpEvent::new("GET", "/shopify/stores").claims(&[("org_id", &app.org), ("role", "agent")]);
        assert_eq!(app.send(member).await.1["stores"].as_array().unwrap().len(), 3, "any member may list");
    }

    async fn an_org_without_stores_lists_none(app: TestApp) {
        assert_eq!(app.list().await, (200, json!({"stores": []})));
    }

    async fn getting_one_store_and_an_unknown_one(app: TestApp) {
        connected(&app).await;

        let (status, body) = app.get_store("demo-us.myshopify.com", false).await;
        assert_eq!((status, body["shop_name"].as_str()), (200, Some("Demo US")));
        let (status, body) = app.get_store("other-shop.myshopify.com", false).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("store_not_found")));
        let (status, body) = app.get_store("www.example.com", false).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_request")));
    }

    async fn verify_detects_a_revoked_token_and_a_reconnect_clears_it(app: TestApp) {
        connected(&app).await;
        let (_, before) = app.get_store("demo-us.myshopify.com", false).await;
        app.shopify.update_shop("demo-us.myshopify.com", |shop| shop.access_tokens.retain(|t| t != TOKEN));

        let (status, body) = app.get_store("demo-us.myshopify.com", true).await;

        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "invalid_credentials");
        assert!(body["warnings"].as_array().unwrap().iter().any(|w| w["code"] == "invalid_credentials" && w["message"].as_str().unwrap().contains("Paste new credentials")));
        assert!(body["last_verified_at"].as_str().unwrap() > before["last_verified_at"].as_str().unwrap());
        assert_eq!(app.get_store("demo-us.myshopify.com", false).await.1["status"], "invalid_credentials", "the outcome is stored");

        assert_eq!(app.connect(token_body("demo-us", NEW_TOKEN)).await.0, 200);
        let (_, body) = app.get_store("demo-us.myshopify.com", true).await;
        assert_eq!(body["status"], "connected");
        assert!(body["warnings"].as_array().unwrap().is_empty(), "{body}");
    }

    async fn verify_detects_a_removed_scope(app: TestApp) {
        connected(&app).await;
        app.shopify.update_shop("demo-us.myshopify.com", |shop| shop.scopes.retain(|s| s != "read_customers" && s != "read_all_orders"));

        let (status, body) = app.get_store("demo-us.myshopify.com", true).await;

        assert_eq!(status, 200);
        assert_eq!(body["status"], "missing_scopes");
        assert_eq!(body["granted_scopes"], json!(["read_orders", "read_products"]));
        let codes: Vec<_> = body["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["orders_limited_to_60_days", "missing_scopes"]);
        assert!(body["warnings"][1]["message"].as_str().unwrap().contains("read_customers"));
    }

    async fn verify_detects_a_rotated_client_secret(app: TestApp) {
        app.shopify.add_shop(FakeShop::new("demo-uk").with_client("cid", "old-secret"));
        assert_eq!(app.connect(json!({"shop_domain": "demo-uk", "client_id": "cid", "client_secret": "old-secret"})).await.0, 201);
        app.shopify.update_shop("demo-uk.myshopify.com", |shop| shop.client = Some(("cid".into(), "new-secret".into())));

        let (_, body) = app.get_store("demo-uk.myshopify.com", true).await;

        assert_eq!(body["status"], "invalid_credentials");
    }

    async fn a_frozen_shop_verifies_as_shop_unavailable(app: TestApp) {
        connected(&app).await;
        app.shopify.push_fault("demo-us.myshopify.com", tests::fake_shopify::Fault::status(402));

        let (_, body) = app.get_store("demo-us.myshopify.com", true).await;

        assert_eq!(body["status"], "shop_unavailable");
    }

    async fn settings_default_to_all_on_and_round_trip(app: TestApp) {
        let knowledge = json!({"pages": true, "articles": false, "products": false, "policies": true});
        let order_actions = json!({
            "cancel_order": {"enabled": false, "mode": "live", "window_minutes": 60, "approval_above": null},
            "update_shipping_address": {"enabled": false, "mode": "live", "window_minutes": 60, "same_country_only": true},
            "request_return": {"enabled": false, "mode": "live", "window_days": 30, "excluded_tags": ["final-sale"]}});
        let defaults = json!({"actions": {"get_order_details": true, "search_products": true, "get_shop_details": true}, "require_email_match": true, "knowledge": knowledge, "order_actions": order_actions, "mcp": {"order_actions": false}});
        assert_eq!(app.send(app.as_admin("GET", "/shopify/settings")).await, (200, defaults.clone()));

        // `knowledge`, `order_actions` and `mcp` may be left out of a PUT: they are kept as they are.
        let update = json!({"actions": {"get_order_details": false, "search_products": true, "get_shop_details": false}, "require_email_match": false});
        let mut changed = update.clone();
        changed["knowledge"] = knowledge;
        changed["order_actions"] = order_actions;
        changed["mcp"] = json!({"order_actions": false});
        assert_eq!(app.send(app.as_admin("PUT", "/shopify/settings").json(&update)).await, (200, changed.clone()));
        let member = HttpEvent::new("GET", "/shopify/settings").claims(&[("org_id", &app.org), ("role", "agent")]);
        assert_eq!(app.send(member).await, (200, changed.clone()), "members read the saved settings");

        let other = HttpEvent::new("GET", "/shopify/settings").claims(&[("org_id", "someone-else"), ("role", "admin")]);
        assert_eq!(app.send(other).await.1, defaults, "another org is untouched");
    }

    async fn order_actions_are_off_until_an_admin_turns_them_on_and_stay_when_a_put_leaves_them_out(app: TestApp) {
        let (_, defaults) = app.send(app.as_admin("GET", "/shopify/settings")).await;
        assert_eq!(defaults["order_actions"]["cancel_order"]["enabled"], false);
        let mut on = defaults.clone();
        on["order_actions"]["cancel_order"] = json!({"enabled": true, "mode": "approval", "window_minutes": 10080, "approval_above": {"USD": "200.00", "GBP": "150"}});
        on["order_actions"]["request_return"]["window_days"] = json!(365);
        assert_eq!(app.send(app.as_admin("PUT", "/shopify/settings").json(&on)).await, (200, on.clone()));
        assert_eq!(app.send(app.as_admin("GET", "/shopify/settings")).await, (200, on.clone()), "the policy round-trips through storage");

        let mut without = on.clone();
        without.as_object_mut().unwrap().remove("order_actions");
        without["require_email_match"] = json!(false);
        let (status, saved) = app.send(app.as_admin("PUT", "/shopify/settings").json(&without)).await;
        assert_eq!(status, 200, "{saved}");
        assert_eq!(saved["order_actions"], on["order_actions"], "a PUT without order_actions keeps them");
        assert_eq!(app.send(app.as_admin("GET", "/shopify/settings")).await.1["order_actions"], on["order_actions"]);
    }

    async fn each_bad_order_action_policy_is_refused_and_nothing_is_kept(app: TestApp) {
        let (_, defaults) = app.send(app.as_admin("GET", "/shopify/settings")).await;
        let with = |path: &[&str], value: Value| {
            let mut body = defaults.clone();
            let mut at = &mut body["order_actions"];
            for key in &path[..path.len() - 1] {
                at = &mut at[*key];
            }
            at[path[path.len() - 1]] = value;
            body
        };
        let without = |action: &str, key: &str| {
            let mut body = defaults.clone();
            body["order_actions"][action].as_object_mut().unwrap().remove(key);
            body
        };
        let bad = [
            with(&["cancel_order", "window_minutes"], json!(0)),
            with(&["cancel_order", "window_minutes"], json!(10081)),
            with(&["update_shipping_address", "window_minutes"], json!(0)),
            with(&["update_shipping_address", "window_minutes"], json!(20000)),
            with(&["request_return", "window_days"], json!(0)),
            with(&["request_return", "window_days"], json!(366)),
            with(&["cancel_order", "window_minutes"], json!(-5)),
            with(&["cancel_order", "approval_above"], json!({"usd": "200.00"})),
            with(&["cancel_order", "approval_above"], json!({"US": "200.00"})),
            with(&["cancel_order", "approval_above"], json!({"USD": "two hundred"})),
            with(&["cancel_order", "approval_above"], json!({"USD": "-200"})),
            with(&["cancel_order", "approval_above"], json!({"USD": 200})),
            with(&["cancel_order", "approval_above"], json!(["USD", "200"])),
            with(&["cancel_order", "mode"], json!("ask_first")),
            with(&["cancel_order", "enabled"], json!("yes")),
            with(&["cancel_order", "refund_shipping"], json!(true)),
            with(&["edit_order"], json!({"enabled": true})),
            without("cancel_order", "window_minutes"),
            without("request_return", "excluded_tags"),
            with(&["cancel_order"], Value::Null),
            {
                let mut body = defaults.clone();
                body["order_actions"] = Value::Null;
                body
            },
        ];
        for body in bad {
            let (status, answer) = app.send(app.as_admin("PUT", "/shopify/settings").json(&body)).await;
            assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("invalid_request")), "{}", body["order_actions"]);
        }
        assert_eq!(app.send(app.as_admin("GET", "/shopify/settings")).await.1, defaults, "nothing was kept");
    }

    async fn settings_are_validated_strictly_and_admin_only(app: TestApp) {
        let bad = [
            json!({"actions": {"get_order_details": true, "search_products": true, "get_shop_details": true, "issue_refund": true}, "require_email_match": true}),
            json!({"actions": {"get_order_details": true}, "require_email_match": true}),
            json!({"actions": {"get_order_details": "yes", "search_products": true, "get_shop_details": true}, "require_email_match": true}),
            json!({"actions": {"get_order_details": true, "search_products": true, "get_shop_details": true}}),
            json!({"actions": {"get_order_details": true, "search_products": true, "get_shop_details": true}, "require_email_match": true, "extra": 1}),
            json!([]),
        ];
        for body in bad {
            let (status, answer) = app.send(app.as_admin("PUT", "/shopify/settings").json(&body)).await;
            assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("invalid_request")), "{body}");
        }
        let all_off = json!({"actions": {"get_order_details": false, "search_products": false, "get_shop_details": false}, "require_email_match": true});
        let agent = HttpEvent::new("PUT", "/shopify/settings").claims(&[("org_id", &app.org), ("role", "agent")]).json(&all_off);
        assert_eq!(app.send(agent).await.1["error"]["code"], "forbidden");
        assert_eq!(app.send(app.as_admin("GET", "/shopify/settings")).await.1["actions"]["get_order_details"], true, "nothing was kept");
    }

    async fn rotation_replaces_the_credentials_and_keeps_the_connection(app: TestApp) {
        connected(&app).await;
        let (_, before) = app.get_store("demo-us.myshopify.com", false).await;

        let (status, after) = app.connect(token_body("demo-us.myshopify.com", NEW_TOKEN)).await;

        assert_eq!(status, 200);
        assert_eq!(after["connected_at"], before["connected_at"]);
        assert!(after["credentials_updated_at"].as_str().unwrap() > before["credentials_updated_at"].as_str().unwrap());
        assert_eq!(assert_record_and_secret_agree(&app, "demo-us").await["access_token"], NEW_TOKEN);
    }

    async fn switching_from_a_token_to_client_credentials_is_a_rotation(app: TestApp) {
        app.shopify.add_shop(FakeShop::new("demo-us").with_token(TOKEN).with_client("cid", "csecret"));
        assert_eq!(app.connect(token_body("demo-us", TOKEN)).await.0, 201);

        let (status, body) = app.connect(json!({"shop_domain": "demo-us", "client_id": "cid", "client_secret": "csecret"})).await;

        assert_eq!((status, body["auth_type"].as_str()), (200, Some("client_credentials")));
        assert_eq!(assert_record_and_secret_agree(&app, "demo-us").await["client_id"], "cid");
        assert_eq!(app.get_store("demo-us", true).await.1["status"], "connected");
    }

    async fn a_failed_rotation_leaves_the_old_credentials_working(app: TestApp) {
        connected(&app).await;
        let before = app.records().await;

        let (status, body) = app.connect(token_body("demo-us", "shpat_not_valid")).await;

        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_credentials")));
        assert_eq!(app.records().await, before, "the record is untouched");
        assert_eq!(assert_record_and_secret_agree(&app, "demo-us").await["access_token"], TOKEN);
        assert_eq!(app.get_store("demo-us", true).await.1["status"], "connected", "the old token still works");
    }

    async fn disconnect_removes_record_and_secret_and_reconnecting_works(app: TestApp) {
        connected(&app).await;

        assert_eq!(app.disconnect("demo-us.myshopify.com").await, (204, Value::Null));

        assert_eq!(app.get_store("demo-us.myshopify.com", false).await.0, 404);
        assert_eq!(app.list().await.1, json!({"stores": []}));
        assert!(app.secret_names().await.is_empty(), "the secret is deleted");
        let (status, body) = app.disconnect("demo-us.myshopify.com").await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("store_not_found")));

        assert_eq!(app.connect(token_body("demo-us", NEW_TOKEN)).await.0, 201, "reconnecting right away works");
        assert_eq!(assert_record_and_secret_agree(&app, "demo-us").await["access_token"], NEW_TOKEN);
    }

    async fn only_admins_disconnect_and_the_path_must_name_a_shop(app: TestApp) {
        connected(&app).await;
        let agent = HttpEvent::new("DELETE", "/shopify/stores/{shop}").path_param("shop", "demo-us.myshopify.com").claims(&[("org_id", &app.org), ("role", "agent")]);
        assert_eq!(app.send(agent).await.1["error"]["code"], "forbidden");
        let (status, body) = app.disconnect("not a shop").await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_request")));
        assert_eq!(app.records().await.len(), 1);
    }

    async fn a_failed_secret_delete_keeps_the_store_whole_and_a_retry_finishes(app: TestApp) {
        connected(&app).await;
        let trigger = Arc::new(Trigger::default());
        let services = with_failing_secrets(&app, &trigger);
        trigger.fail_on(1);
        let event = || app.as_admin("DELETE", "/shopify/stores/{shop}").path_param("shop", "demo-us.myshopify.com");

        let (status, body) = app.send_with(&services, event()).await;

        assert_eq!((status, body["error"]["code"].as_str()), (503, Some("storage_unavailable")));
        assert_eq!(app.get_store("demo-us", true).await.1["status"], "connected", "still fully usable");
        assert_eq!(app.send_with(&services, event()).await.0, 204);
        assert!(app.records().await.is_empty() && app.secret_names().await.is_empty());
    }

    async fn a_failed_disconnect_mark_leaves_the_store_whole_and_a_retry_finishes(app: TestApp) {
        connected(&app).await;
        let trigger = Arc::new(Trigger::default());
        let services = with_failing_stores(&app, &trigger);
        trigger.fail_on(1);
        let event = || app.as_admin("DELETE", "/shopify/stores/{shop}").path_param("shop", "demo-us.myshopify.com");

        let (status, _) = app.send_with(&services, event()).await;

        assert_eq!(status, 503);
        assert_eq!(app.secret_names().await.len(), 1, "nothing was deleted");
        assert_eq!(app.get_store("demo-us", true).await.1["status"], "connected", "still fully usable");
        assert_eq!(app.send_with(&services, event()).await.0, 204, "the retry does the job");
        assert!(app.records().await.is_empty() && app.secret_names().await.is_empty());
        assert_eq!(app.send_with(&services, event()).await.0, 404);
    }

    async fn a_disconnect_whose_answer_was_lost_still_answers_204(app: TestApp) {
        connected(&app).await;
        let trigger = Arc::new(Trigger::default());
        let stores = FailingStores { after_write: true, ..FailingStores::new(app.services.storage.stores.clone(), trigger.clone()) };
        let services = app.with_storage(Some(Arc::new(stores)), None);
        trigger.fail_on(1);

        let (status, body) = app.send_with(&services, app.as_admin("DELETE", "/shopify/stores/{shop}").path_param("shop", "demo-us.myshopify.com")).await;

        assert_eq!(status, 204, "the write landed; its lost answer must not turn into a 404: {body}");
        assert!(app.records().await.is_empty() && app.secret_names().await.is_empty());
    }

    async fn a_disconnect_that_could_not_clear_its_mark_is_finished_by_the_next_one(app: TestApp) {
        connected(&app).await;
        let trigger = Arc::new(Trigger::default());
        let services = with_failing_stores(&app, &trigger);
        trigger.fail_on(2);
        let event = || app.as_admin("DELETE", "/shopify/stores/{shop}").path_param("shop", "demo-us.myshopify.com");

        assert_eq!(app.send_with(&services, event()).await.0, 204, "record and secret are gone; only the mark stayed");
        assert!(app.records().await.is_empty() && app.secret_names().await.is_empty());
        assert_eq!(app.lookup("get_shop_details", json!({}), None).await["error"]["code"], "no_store_connected");

        assert_eq!(app.send_with(&services, event()).await.0, 204, "a repeated DELETE finishes the job");
        assert_eq!(app.connect(token_body("demo-us", NEW_TOKEN)).await.0, 201, "the shop connects again once no deletion can still land");
        assert_eq!(assert_record_and_secret_agree(&app, "demo-us").await["access_token"], NEW_TOKEN);
        assert_eq!(app.send_with(&services, event()).await.0, 204);
        assert_eq!(app.send_with(&services, event()).await.0, 404);
    }

    async fn a_failed_record_write_during_rotation_is_repaired_by_a_retry(app: TestApp) {
        connected(&app).await;
        let trigger = Arc::new(Trigger::default());
        let services = with_failing_stores(&app, &trigger);
        trigger.fail_on(1);
        let event = || app.as_admin("POST", "/shopify/stores").json(&token_body("demo-us", NEW_TOKEN));

        assert_eq!(app.send_with(&services, event()).await.0, 503);
        assert_eq!(assert_record_and_secret_agree(&app, "demo-us").await["access_token"], TOKEN, "old credentials still in use");

        assert_eq!(app.send_with(&services, event()).await.0, 200);
        assert_eq!(assert_record_and_secret_agree(&app, "demo-us").await["access_token"], NEW_TOKEN);
        assert_eq!(app.secret_names().await.len(), 1);
    }

    async fn a_failed_relabel_after_a_rotation_is_repaired_by_the_next_write(app: TestApp) {
        connected(&app).await;
        let trigger = Arc::new(Trigger::default());
        let services = with_failing_secrets(&app, &trigger);
        trigger.fail_on(2);

        let (status, _) = app.send_with(&services, app.as_admin("POST", "/shopify/stores").json(&token_body("demo-us", NEW_TOKEN))).await;

        assert_eq!(status, 200, "the rotation landed; only the label is behind");
        let record = app.records().await.remove(0);
        let name = app.secret_name("demo-us");
        let value = app.services.storage.secrets.get_version(&name, &record.credentials_version).await.unwrap().unwrap();
        assert!(secrecy::ExposeSecret::expose_secret(&value).contains(NEW_TOKEN), "readers follow the record");
        assert_ne!(app.services.storage.secrets.current_version(&name).await.unwrap(), Some(record.credentials_version.clone()));

        assert_eq!(app.get_store("demo-us", true).await.1["status"], "connected");
        assert_eq!(assert_record_and_secret_agree(&app, "demo-us").await["access_token"], NEW_TOKEN, "verify relabelled it");
    }

    async fn twenty_concurrent_rotations_leave_record_and_secret_agreeing(app: TestApp) {
        let tokens: Vec<String> = (0..20).map(|i| format!("shpat_concurrent_{i:02}")).collect();
        let mut shop = FakeShop::new("demo-us").with_token(TOKEN);
        for token in &tokens {
            shop = shop.with_token(token);
        }
        app.shopify.add_shop(shop);
        assert_eq!(app.connect(token_body("demo-us", TOKEN)).await.0, 201);

        let app = Arc::new(app);
        let tasks: Vec<_> = tokens.iter().cloned().map(|token| {
            let app = app.clone();
            tokio::spawn(async move { app.connect(token_body("demo-us", &token)).await })
        }).collect();
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap().0);
        }

        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        let value = assert_record_and_secret_agree(&app, "demo-us").await;
        assert!(tokens.contains(&value["access_token"].as_str().unwrap().to_owned()));
        assert_eq!(app.records().await[0].version, 21, "every rotation was applied, none lost");
        assert_eq!(app.secret_names().await.len(), 1);
    }

    async fn another_orgs_shop_is_not_found_on_every_route(app: TestApp) {
        connected(&app).await;
        let intruder = [("org_id", "intruder-org"), ("role", "owner"), ("org", app.org.as_str()), ("custom:org_id", app.org.as_str()), ("tenant_id", app.org.as_str())];
        let shop = "demo-us.myshopify.com";

        let get = app.send(HttpEvent::new("GET", "/shopify/stores/{shop}").path_param("shop", shop).claims(&intruder)).await;
        let verify = app.send(HttpEvent::new("GET", "/shopify/stores/{shop}").path_param("shop", shop).query("verify", "true").claims(&intruder)).await;
        let delete = app.send(HttpEvent::new("DELETE", "/shopify/stores/{shop}").path_param("shop", shop).claims(&intruder)).await;
        let list = app.send(HttpEvent::new("GET", "/shopify/stores").claims(&intruder)).await;
        let put = app.send(HttpEvent::new("PUT", "/shopify/settings").claims(&intruder).json(&json!({"actions": {"get_order_details": false, "search_products": false, "get_shop_details": false}, "require_email_match": false}))).await;

        for (status, body) in [&get, &verify, &delete] {
            assert_eq!((*status, body["error"]["code"].as_str()), (404, Some("store_not_found")), "never 403, never a leak");
        }
        assert_eq!(list.1, json!({"stores": []}));
        assert_eq!(put.0, 200);
        assert_eq!(app.send(app.as_admin("GET", "/shopify/settings")).await.1["actions"]["get_order_details"], true, "our settings are untouched");
        assert_eq!(assert_record_and_secret_agree(&app, "demo-us").await["access_token"], TOKEN, "our store is intact");
        assert_eq!(app.get_store(shop, false).await.0, 200);
    }

    async fn requests_without_an_org_claim_are_unauthorized_on_every_route(app: TestApp) {
        let routes = [("GET", "/shopify/stores"), ("GET", "/shopify/stores/{shop}"), ("DELETE", "/shopify/stores/{shop}"), ("GET", "/shopify/settings"), ("PUT", "/shopify/settings"), ("POST", "/shopify/stores")];
        for (method, route) in routes {
            let event = HttpEvent::new(method, route).path_param("shop", "demo-us.myshopify.com").claims(&[("role", "admin")]).json(&json!({}));
            let (status, body) = app.send(event).await;
            assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")), "{method} {route}");
        }
    }
}
