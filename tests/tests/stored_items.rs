//! Items another version of the connector stored (a field added, a value this version does not
//! know, an item it cannot read at all) never stop an organization's lookups or the schedules
//! that visit every store; and the schedules' scan pages hold stores only, however many other
//! items the table holds.

#[macro_use]
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue as A;
use chrono::Utc;
use serde_json::{json, Value};
use shared::domain::{AuthType, OrganizationId, ShopDomain, StoreStatus};
use shared::knowledge::memory::MemoryKnowledge;
use shared::knowledge::ports::{Job, KnowledgeRepository};
use shared::knowledge::state::SyncState;
use shared::knowledge::sync::{self, SyncPorts};
use shared::queue::{Queue, QueueError};
use shared::store::{Expect, MemoryStoreRepository, StoreRecord, StoreRepository};
use shared::Deadline;
use tests::app::{Backend, TestApp};

fn record(org: &OrganizationId, shop: &str) -> StoreRecord {
    let now = Utc::now();
    StoreRecord {
        org_id: org.clone(),
        shop_domain: ShopDomain::parse(shop).unwrap(),
        shop_name: shop.into(),
        auth_type: AuthType::AccessToken,
        status: StoreStatus::Connected,
        granted_scopes: vec!["read_products".into(), "read_content".into()],
        order_number_prefix: "#".into(),
        order_number_suffix: String::new(),
        currency: "USD".into(),
        plan: None,
        warnings: Vec::new(),
        connected_at: now,
        updated_at: now,
        credentials_updated_at: now,
        last_verified_at: now,
        credentials_version: "v1".into(),
        connection_id: "c1".into(),
        version: 1,
        write_id: "w1".into(),
        previous_credentials_version: None,
        outbox: Vec::new(),
    }
}

/// A settings item as a newer version writes it: an action and a source this version does not
/// know, a new top-level field, and a flag turned into a choice.
fn newer_settings() -> Value {
    json!({
        "actions": {"get_order_details": false, "search_products": true, "get_shop_details": true, "cancel_order": true},
        "require_email_match": "when_known",
        "tone": "friendly",
        "knowledge": {"pages": false, "articles": true, "products": false, "policies": true, "collections": true}
    })
}

/// Jobs the schedule queues, kept for assertions.
#[derive(Default)]
struct Recorded(Mutex<Vec<Job>>);

#[async_trait]
impl Queue<Job> for Recorded {
    async fn send(&self, job: &Job, _delay: Duration) -> Result<(), QueueError> {
        self.0.lock().unwrap().push(job.clone());
        Ok(())
    }
}

impl Recorded {
    fn removals(&self) -> Vec<String> {
        let mut shops: Vec<String> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|job| match job {
                Job::Remove { shop_domain, .. } => Some(shop_domain.to_string()),
                _ => None,
            })
            .collect();
        shops.sort();
        shops
    }
}

/// Plants an item under the store table's key `(pk, sk)` that no version can read.
async fn plant_unreadable(app: &TestApp, pk: String, sk: String) {
    let aws = app.aws.as_ref().unwrap();
    aws.dynamo
        .put_item()
        .table_name(&aws.table)
        .item("pk", A::S(pk))
        .item("sk", A::S(sk))
        .item("version", A::S("not a number".into()))
        .item("phase", A::N("7".into()))
        .send()
        .await
        .unwrap();
}

both_backends! {
    async fn settings_stored_by_another_version_still_answer(app: TestApp) {
        let org = OrganizationId::parse(&app.org).unwrap();
        let services = match &app.aws {
            Some(aws) => {
                let flags = |pairs: &[(&str, bool)]| A::M(pairs.iter().map(|(k, v)| (k.to_string(), A::Bool(*v))).collect());
                let item = [
                    ("pk", A::S(format!("ORG#{org}"))),
                    ("sk", A::S("SETTINGS".into())),
                    ("updated_at", A::S(Utc::now().to_rfc3339())),
                    ("actions", flags(&[("get_order_details", false), ("search_products", true), ("get_shop_details", true), ("cancel_order", true)])),
                    ("require_email_match", A::S("when_known".into())),
                    ("tone", A::S("friendly".into())),
                    ("knowledge", flags(&[("pages", false), ("articles", true), ("products", false), ("policies", true), ("collections", true)])),
                ];
                aws.dynamo.put_item().table_name(&aws.table).set_item(Some(item.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())).send().await.unwrap();
                app.services.clone()
            }
            None => {
                let stores = Arc::new(MemoryStoreRepository::new());
                stores.plant_settings(&org, newer_settings());
                app.with_storage(Some(stores), None)
            }
        };

        let (status, body) = app.send_with(&services, app.as_admin("GET", "/shopify/settings")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["actions"]["get_order_details"], false);
        assert_eq!(body["require_email_match"], true, "an unknown value reads as the strict default");
        assert_eq!(body["knowledge"]["articles"], true);
        let (stores, settings) = services.storage.stores.load_org(&org).await.expect("the lookups' read answers");
        assert!(stores.is_empty());
        assert!(!settings.actions.get_order_details);

        let mut put = newer_settings();
        put["require_email_match"] = json!(true);
        let (status, body) = app.send_with(&services, app.as_admin("PUT", "/shopify/settings").json(&put)).await;
        assert_eq!(status, 400, "API input stays strict: {body}");
    }
}

knowledge_backends! {
    async fn an_unreadable_sync_state_does_not_stop_the_knowledge_schedule(app: TestApp) {
        let org = OrganizationId::parse(&app.org).unwrap();
        let (stores, repo): (Arc<dyn StoreRepository>, Arc<dyn KnowledgeRepository>) = match app.backend {
            Backend::Moto => (app.rig().sync.stores.clone(), app.rig().sync.repo.clone()),
            Backend::Memory => (Arc::new(MemoryStoreRepository::new()), Arc::new(MemoryKnowledge::default())),
        };
        let memory = Arc::new(MemoryKnowledge::default());
        let repo = if app.backend == Backend::Memory { memory.clone() as Arc<dyn KnowledgeRepository> } else { repo };
        let queue = Arc::new(Recorded::default());
        let ports = SyncPorts { stores: stores.clone(), repo: repo.clone(), queue: queue.clone(), ..app.rig().sync.clone() };
        let shops = ["shop-a", "shop-b", "shop-c", "shop-d", "shop-e"];
        for shop in shops {
            stores.put_live(&record(&org, shop), Expect::Absent).await.unwrap();
        }
        // The first store the scan visits has a sync state this version cannot read.
        let (page, _) = stores.scan(None, 100).await.unwrap();
        assert_eq!(page.len(), shops.len());
        let bad = page[0].shop_domain.clone();
        match app.backend {
            Backend::Moto => plant_unreadable(&app, format!("ORG#{org}"), format!("KSYNC#{bad}")).await,
            Backend::Memory => memory.plant_unreadable_state(&org, &bad),
        }

        sync::tick(&ports, None, Deadline::after(Duration::from_secs(30))).await.expect("the schedule goes on");

        for record in &page[1..] {
            let state = repo.state(&org, &record.shop_domain).await.unwrap();
            assert!(state.and_then(|s| s.requested).is_some(), "{} queued", record.shop_domain);
        }

        // The orphan sweep: states of two disconnected stores around an unreadable one.
        let gone = ["gone-a.myshopify.com", "gone-c.myshopify.com"];
        for shop in gone {
            let mut state = SyncState::new(&org, &ShopDomain::parse(shop).unwrap());
            state.version = 1;
            repo.put_state(&state, None).await.unwrap();
        }
        let broken = ShopDomain::parse("gone-b").unwrap();
        match app.backend {
            Backend::Moto => plant_unreadable(&app, format!("ORG#{org}"), format!("KSYNC#{broken}")).await,
            Backend::Memory => memory.plant_unreadable_state(&org, &broken),
        }
        let mut cursor = None;
        loop {
            let before = queue.0.lock().unwrap().len();
            sync::handle(&ports, Job::Tick { cursor, orphans: true }, Deadline::after(Duration::from_secs(30)), 1).await.expect("the sweep goes on");
            let next = queue.0.lock().unwrap()[before..].iter().find_map(|job| match job {
                Job::Tick { cursor: Some(c), orphans: true } => Some(c.clone()),
                _ => None,
            });
            if next.is_none() { break; }
            cursor = next;
        }
        assert_eq!(queue.removals(), gone);
    }
}

health_backends! {
    async fn a_scan_page_holds_stores_only(app: TestApp) {
        let org = OrganizationId::parse(&app.org).unwrap();
        let stores = app.services.storage.stores.clone();
        let shops = ["p-1", "p-2", "p-3", "p-4", "p-5"];
        for shop in shops {
            stores.put_live(&record(&org, shop), Expect::Absent).await.unwrap();
        }
        // Far more other items than stores: sync states, settings, webhook deliveries, a
        // disconnected store's tombstone.
        stores.put_settings(&org, &Default::default()).await.unwrap();
        let gone = record(&org, "p-gone");
        stores.put_live(&gone, Expect::Absent).await.unwrap();
        stores.put_gone(&shared::store::Tombstone {
            org_id: org.clone(), shop_domain: gone.shop_domain.clone(), version: 2, write_id: "w2".into(),
            deleting_since: None, removed_at: Utc::now(), origin: Default::default(),
        }, Expect::Version(1)).await.unwrap();
        for i in 0..60 {
            let shop = ShopDomain::parse(&format!("other-{i}")).unwrap();
            app.health().repo.claim_webhook(&org, &shop, &format!("d{i}"), Utc::now()).await.unwrap();
            if let Some(aws) = &app.aws {
                let item = [("pk", A::S(format!("ORG#{org}"))), ("sk", A::S(format!("KSYNC#{shop}"))), ("version", A::N("1".into()))];
                aws.dynamo.put_item().table_name(&aws.table).set_item(Some(item.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())).send().await.unwrap();
            }
        }

        let mut seen = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let (page, next) = stores.scan(cursor.as_deref(), 2).await.unwrap();
            pages += 1;
            if next.is_some() {
                assert_eq!(page.len(), 2, "a page before the last is full of stores");
            }
            seen.extend(page.into_iter().map(|r| r.shop_domain.to_string()));
            match next { Some(next) => cursor = Some(next), None => break }
        }
        seen.sort();
        let expected: Vec<String> = shops.iter().map(|s| format!("{s}.myshopify.com")).collect();
        assert_eq!(seen, expected);
        assert!(pages <= 4, "{pages} pages for 5 stores among 120 other items");
    }
}

/// A store record written before the store index existed (no `store_key`) is not in the scan
/// until the health check's schedule has put it in; then both schedules reach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_written_before_the_store_index_is_found_after_the_schedule() {
    needs_moto!();
    let app = TestApp::with_health(Backend::Moto).await;
    let org = OrganizationId::parse(&app.org).unwrap();
    let stores = app.services.storage.stores.clone();
    stores
        .put_live(&record(&org, "legacy"), Expect::Absent)
        .await
        .unwrap();
    let aws = app.aws.as_ref().unwrap();
    aws.dynamo
        .update_item()
        .table_name(&aws.table)
        .key("pk", A::S(format!("ORG#{org}")))
        .key("sk", A::S("STORE#legacy.myshopify.com".into()))
        .update_expression("REMOVE store_key")
        .send()
        .await
        .unwrap();
    assert!(stores.scan(None, 100).await.unwrap().0.is_empty());

    app.health()
        .schedule()
        .await
        .expect("the schedule starts a cycle");

    let (page, _) = stores.scan(None, 100).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].shop_domain.as_str(), "legacy.myshopify.com");
    assert_eq!(
        stores.get(&org, &page[0].shop_domain).await.unwrap(),
        Some(page[0].clone())
    );
}

/// Removes the store index key from a record, as a version without the index writes it.
async fn unlist(app: &TestApp, org: &OrganizationId, shop: &str) {
    let aws = app.aws.as_ref().unwrap();
    aws.dynamo
        .update_item()
        .table_name(&aws.table)
        .key("pk", A::S(format!("ORG#{org}")))
        .key("sk", A::S(format!("STORE#{shop}.myshopify.com")))
        .update_expression("REMOVE store_key")
        .send()
        .await
        .unwrap();
}

/// A record an older version writes after the backfill finished (during a deploy, or after a
/// rollback) lacks the index key too: the schedule looks over the table again once the last
/// backfill is a day old, so the record is back in the schedules within a day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_written_without_the_index_key_after_the_backfill_is_found_within_a_day() {
    needs_moto!();
    let app = TestApp::with_health(Backend::Moto).await;
    let org = OrganizationId::parse(&app.org).unwrap();
    let stores = app.services.storage.stores.clone();
    app.health()
        .schedule()
        .await
        .expect("the schedule starts a cycle");
    let aws = app.aws.as_ref().unwrap();
    let marker = aws
        .dynamo
        .get_item()
        .table_name(&aws.table)
        .key("pk", A::S("INDEX#STORES".into()))
        .key("sk", A::S("-".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the finished backfill is remembered");
    assert!(marker.contains_key("indexed_at"));

    stores
        .put_live(&record(&org, "late"), Expect::Absent)
        .await
        .unwrap();
    unlist(&app, &org, "late").await;
    app.health()
        .schedule()
        .await
        .expect("the schedule starts a cycle");
    assert!(
        stores.scan(None, 100).await.unwrap().0.is_empty(),
        "a backfill younger than a day is trusted"
    );

    let day_ago = Utc::now() - chrono::TimeDelta::hours(25);
    aws.dynamo
        .update_item()
        .table_name(&aws.table)
        .key("pk", A::S("INDEX#STORES".into()))
        .key("sk", A::S("-".into()))
        .update_expression("SET indexed_at = :at")
        .expression_attribute_values(":at", A::S(day_ago.to_rfc3339()))
        .send()
        .await
        .unwrap();
    app.health()
        .schedule()
        .await
        .expect("the schedule starts a cycle");

    let (page, _) = stores.scan(None, 100).await.unwrap();
    let shops: Vec<&str> = page.iter().map(|r| r.shop_domain.as_str()).collect();
    assert_eq!(shops, ["late.myshopify.com"]);
}

/// A backfill whose time is up stops inside a page, after at least one record, and answers
/// the cursor of the rest instead of running past its deadline; going on from that cursor
/// puts in every record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_out_of_time_stops_inside_a_page_and_goes_on_from_its_cursor() {
    needs_moto!();
    let app = TestApp::with_health(Backend::Moto).await;
    let org = OrganizationId::parse(&app.org).unwrap();
    let stores = app.services.storage.stores.clone();
    for shop in ["one", "two", "three"] {
        stores
            .put_live(&record(&org, shop), Expect::Absent)
            .await
            .unwrap();
        unlist(&app, &org, shop).await;
    }

    let cursor = stores
        .index_unlisted(None, &Deadline::after(Duration::ZERO))
        .await
        .unwrap()
        .expect("the rest of the page is left for later");
    assert_eq!(stores.scan(None, 100).await.unwrap().0.len(), 1);

    let mut cursor = Some(cursor);
    while let Some(c) = cursor {
        cursor = stores
            .index_unlisted(Some(&c), &Deadline::after(Duration::from_secs(600)))
            .await
            .unwrap();
    }
    assert_eq!(stores.scan(None, 100).await.unwrap().0.len(), 3);
}

/// Saving settings with this version keeps what another version stored beside them: a field
/// it does not know, and a source whose value it cannot read (which reads as off, and is not
/// written back as off).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_settings_keeps_what_another_version_stored() {
    needs_moto!();
    let app = TestApp::spawn(Backend::Moto).await;
    let aws = app.aws.as_ref().unwrap();
    let org = OrganizationId::parse(&app.org).unwrap();
    let flags = |pairs: &[(&str, bool)]| {
        A::M(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), A::Bool(*v)))
                .collect(),
        )
    };
    let mut knowledge = match flags(&[("pages", true), ("articles", false), ("policies", true)]) {
        A::M(map) => map,
        _ => unreachable!(),
    };
    knowledge.insert(
        "products".into(),
        A::M(
            [("enabled".to_string(), A::Bool(true))]
                .into_iter()
                .collect(),
        ),
    );
    let item = [
        ("pk", A::S(format!("ORG#{org}"))),
        ("sk", A::S("SETTINGS".into())),
        ("updated_at", A::S(Utc::now().to_rfc3339())),
        (
            "actions",
            flags(&[
                ("get_order_details", true),
                ("search_products", true),
                ("get_shop_details", true),
            ]),
        ),
        ("require_email_match", A::Bool(true)),
        ("tone", A::S("friendly".into())),
        ("knowledge", A::M(knowledge)),
        ("order_actions", A::S("cancel_everything".into())),
    ];
    aws.dynamo
        .put_item()
        .table_name(&aws.table)
        .set_item(Some(
            item.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        ))
        .send()
        .await
        .unwrap();

    let (_, settings) = app.services.storage.stores.load_org(&org).await.unwrap();
    assert!(settings.knowledge_unread);
    assert!(
        !settings.knowledge.products,
        "an unknown value is not synced"
    );
    assert!(settings.order_actions_unread);
    assert!(
        !settings.order_actions.cancel_order.enabled,
        "an unreadable order-action policy is off"
    );
    let (status, body) = app
        .put_settings(json!({"actions": {"get_order_details": false, "search_products": true, "get_shop_details": true}, "require_email_match": true}))
        .await;
    assert_eq!(status, 200, "{body}");

    let stored = aws
        .dynamo
        .get_item()
        .table_name(&aws.table)
        .key("pk", A::S(format!("ORG#{org}")))
        .key("sk", A::S("SETTINGS".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        stored["tone"],
        A::S("friendly".into()),
        "a field of another version stays"
    );
    let A::M(knowledge) = &stored["knowledge"] else {
        panic!("{stored:?}")
    };
    assert!(
        matches!(knowledge["products"], A::M(_)),
        "the unread source is not written back as off: {knowledge:?}"
    );
    let A::M(actions) = &stored["actions"] else {
        panic!("{stored:?}")
    };
    assert_eq!(
        actions["get_order_details"],
        A::Bool(false),
        "the change is saved"
    );
    assert_eq!(
        stored["order_actions"],
        A::S("cancel_everything".into()),
        "the unread order-action policy is not written back as off"
    );
}
