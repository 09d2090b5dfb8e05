//! Knowledge sync end to end: the dashboard's routes and settings, the connect and disconnect
//! hooks, and `knowledge-sync` fed by its queue the way Lambda's event source mapping feeds it,
//! against the fake Shopify — on in-memory ports and on moto (DynamoDB, S3, SQS with its
//! dead-letter queue, EventBridge with a rule into a queue).

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use shared::domain::{OrganizationId, ShopDomain};
use shared::knowledge::ports::Job;
use shared::knowledge::state::Phase;
use shared::knowledge::{KnowledgeError, KnowledgePorts};
use shared::queue::{Queue, QueueError};
use shared::Deadline;
use tests::app::TestApp;
use tests::events::HttpEvent;
use tests::fake_shopify::{BulkStyle, FakeOrder, FakePage, FakeProduct, FakeShop, Fault};
use tests::knowledge::{GatedDocuments, HookedRepo};

const TOKEN: &str = "shpat_knowledge_00000000000000000000000";
const US: &str = "demo-us.myshopify.com";
const UK: &str = "demo-uk.myshopify.com";

fn actions() -> Value {
    json!({"get_order_details": true, "search_products": true, "get_shop_details": true})
}

fn sources(pages: bool, articles: bool, products: bool, policies: bool) -> Value {
    json!({"actions": actions(), "require_email_match": false,
           "knowledge": {"pages": pages, "articles": articles, "products": products, "policies": policies}})
}

/// The demo storefront: three pages (one unpublished), two articles, four policies (one
/// empty), and products 501, 502 and 505 active, 503 a draft.
fn demo_shop(handle: &str) -> FakeShop {
    FakeShop::new(handle)
        .with_token(TOKEN)
        .with_demo_content()
        .with_product(FakeProduct::active("Trail Runner", "89.00").with_id(501))
        .with_product(
            FakeProduct::active("Summit Jacket", "199.00")
                .with_id(502)
                .sold_out(),
        )
        .with_product(FakeProduct::draft("Secret Prototype", "999.00").with_id(503))
        .with_product(FakeProduct::active("Camp Mug", "12.00").with_id(505))
        .with_order(FakeOrder::new(
            "#1001",
            "2026-11-01T10:00:00Z",
            "jane@example.com",
        ))
}

/// A knowledge queue that refuses every job.
struct DownQueue;

#[async_trait::async_trait]
impl Queue<Job> for DownQueue {
    async fn send(&self, _: &Job, _: Duration) -> Result<(), QueueError> {
        Err(QueueError("the queue is down".into()))
    }
}

/// Every key a full sync of [`demo_shop`] writes: each document and its sidecar.
fn demo_keys(app: &TestApp, shop: &str) -> BTreeSet<String> {
    keys_of(
        app,
        shop,
        &[
            ("pages", 101),
            ("pages", 102),
            ("pages", 103),
            ("articles", 201),
            ("articles", 202),
            ("products", 501),
            ("products", 502),
            ("products", 505),
            ("policies", 301),
            ("policies", 302),
            ("policies", 303),
        ],
    )
}

fn keys_of(app: &TestApp, shop: &str, items: &[(&str, u64)]) -> BTreeSet<String> {
    items
        .iter()
        .flat_map(|(source, id)| {
            let key = format!("{}/{shop}/{source}/{id}.md", app.org);
            [format!("{key}.metadata.json"), key]
        })
        .collect()
}

fn prefix(app: &TestApp, shop: &str) -> String {
    format!("{}/{shop}/", app.org)
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn connect(app: &TestApp, shop: FakeShop) {
    let domain = shop.domain.clone();
    app.shopify.add_shop(shop);
    let (status, body) = app
        .connect(json!({"shop_domain": domain, "access_token": TOKEN}))
        .await;
    assert_eq!(status, 201, "{body}");
}

/// Turns every source on, then connects the demo store and runs its first sync.
async fn synced_demo(app: &TestApp) {
    assert_eq!(
        app.put_settings(sources(true, true, true, true)).await.0,
        200
    );
    connect(app, demo_shop("demo-us")).await;
    drain(app).await;
}

async fn drain(app: &TestApp) -> tests::worker::Drained {
    let drained = app.rig().drain().await;
    assert_eq!(drained.failed, 0, "no delivery fails: {drained:?}");
    drained
}

async fn knowledge(app: &TestApp) -> Value {
    let (status, body) = app.send(app.as_admin("GET", "/shopify/knowledge")).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn store<'a>(status: &'a Value, shop: &str) -> &'a Value {
    status["stores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["shop_domain"] == shop)
        .unwrap_or_else(|| panic!("no {shop} in {status}"))
}

async fn request_sync(app: &TestApp, body: Value) -> (u16, Value) {
    app.send(app.as_admin("POST", "/shopify/knowledge/sync").json(&body))
        .await
}

fn sidecar(bytes: &[u8]) -> Value {
    serde_json::from_slice::<Value>(bytes).expect("a JSON sidecar")["metadataAttributes"].clone()
}

/// Names of the operations the fake Shopify received for `shop`.
fn operations(app: &TestApp, shop: &str) -> Vec<String> {
    app.shopify
        .received()
        .into_iter()
        .filter(|r| r.shop == shop)
        .filter_map(|r| r.operation)
        .collect()
}

fn count(operations: &[String], name: &str) -> usize {
    operations.iter().filter(|o| *o == name).count()
}

fn org(app: &TestApp) -> OrganizationId {
    OrganizationId::parse(&app.org).unwrap()
}

/// Turns the products source on or off in the stored settings alone (no removal job or run
/// is queued, as the settings route would).
async fn set_products(app: &TestApp, on: bool) {
    let stores = &app.services.storage.stores;
    let mut settings = stores.get_settings(&org(app)).await.unwrap();
    settings.knowledge.products = on;
    stores.put_settings(&org(app), &settings).await.unwrap();
}

/// Every attempt of the next Shopify query is throttled: the run's step steps aside.
fn throttle_next_step(app: &TestApp) {
    for _ in 0..tests::app::fast_retry().max_attempts {
        app.shopify.push_fault(
            US,
            Fault::Throttled {
                requested: 52.0,
                available: 10.0,
                restore_rate: 100.0,
            },
        );
    }
}

knowledge_backends! {
    async fn a_full_sync_writes_every_document_and_sidecar(app: TestApp) {
        synced_demo(&app).await;
        let rig = app.rig();
        let stored = rig.snapshot(&prefix(&app, US)).await;
        let keys: BTreeSet<String> = stored.keys().cloned().collect();
        assert_eq!(keys, demo_keys(&app, US), "the draft product and the empty policy have no document");

        let text = |id: &str| String::from_utf8(stored[&format!("{}{id}", prefix(&app, US))].clone()).unwrap();
        let meta = |id: &str| sidecar(&stored[&format!("{}{id}.metadata.json", prefix(&app, US))]);

        let faq = text("pages/102.md");
        assert!(faq.starts_with("# Shipping FAQ\n"), "{faq}");
        assert!(faq.contains("https://demo-us.example/pages/shipping-faq"), "{faq}");
        for kept in ["Where do you ship?", "Norway", "| Zone", "Map of shipping zones", "[Contact us](https://demo-us.example/pages/contact)"] {
            assert!(faq.contains(kept), "{kept} missing from {faq}");
        }
        for dropped in ["track(", "color:red", "iframe", "video.example", "<"] {
            assert!(!faq.contains(dropped), "{dropped} kept in {faq}");
        }
        assert_eq!(
            meta("pages/102.md"),
            json!({"org_id": app.org, "shop_domain": US, "source": "pages",
                   "shopify_id": "gid://shopify/Page/102", "title": "Shipping FAQ",
                   "url": "https://demo-us.example/pages/shipping-faq", "visibility": "public",
                   "updated_at": "2026-10-01T10:00:00Z"})
        );
        assert_eq!(meta("pages/103.md")["visibility"], "internal", "an unpublished page is internal");

        let article = text("articles/201.md");
        assert!(article.starts_with("# Is the Trail Runner waterproof\n"), "{article}");
        for fact in ["Ana Ortiz", "2026-09-15", "guides", "waterproof membrane"] {
            assert!(article.contains(fact), "{fact} missing from {article}");
        }
        assert_eq!(
            meta("articles/201.md")["url"],
            "https://demo-us.example/blogs/news/is-the-trail-runner-waterproof"
        );

        let product = text("products/501.md");
        assert!(product.starts_with("# Trail Runner\n"), "{product}");
        for fact in ["Demo Outfitters", "Shoes", "89.00", "USD", "SKU-trail-runner", "https://demo-us.example/products/trail-runner"] {
            assert!(product.contains(fact), "{fact} missing from {product}");
        }
        assert_eq!(meta("policies/301.md")["url"], "https://demo-us.example/policies/refund-policy");
        assert!(text("policies/301.md").contains("**30 days**"));
        for key in stored.keys().filter(|k| k.ends_with(".md")) {
            let body = String::from_utf8(stored[key].clone()).unwrap();
            assert!(body.starts_with("# "), "{key} starts with its title");
            assert!(body.contains("https://demo-us.example/"), "{key} names its public URL");
        }

        // The platform is told once, with what changed.
        let events = rig.events().await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["org_id"], app.org.as_str());
        assert_eq!(events[0]["shop_domain"], US);
        assert_eq!(events[0]["prefix"], format!("s3://{}/{}/{US}/", rig.bucket, app.org));
        assert_eq!((events[0]["added"].as_u64(), events[0]["updated"].as_u64(), events[0]["removed"].as_u64()), (Some(11), Some(0), Some(0)));

        // The dashboard sees it.
        let status = knowledge(&app).await;
        assert_eq!(status["sources"], json!({"pages": true, "articles": true, "products": true, "policies": true}));
        let us = store(&status, US);
        assert_eq!(us["state"], "idle");
        assert_eq!(us["last_run"]["kind"], "full");
        assert_eq!(us["last_run"]["outcome"], "succeeded");
        for (source, documents) in [("pages", 3), ("articles", 2), ("products", 3), ("policies", 3)] {
            assert_eq!(us["sources"][source]["status"], "synced", "{us}");
            assert_eq!(us["sources"][source]["documents"], documents, "{source}: {us}");
            assert!(us["sources"][source]["synced_at"].is_string());
        }

        // The document listing pages through all of it.
        let mut listed = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut event = app.as_admin("GET", "/shopify/knowledge/documents").query("limit", "4");
            if let Some(c) = &cursor {
                event = event.query("cursor", c);
            }
            let (code, page) = app.send(event).await;
            assert_eq!(code, 200, "{page}");
            let documents = page["documents"].as_array().unwrap();
            assert!(documents.len() <= 4);
            listed.extend(documents.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let listed_keys: BTreeSet<String> = listed.iter().map(|d| d["key"].as_str().unwrap().to_owned()).collect();
        let md_keys: BTreeSet<String> = demo_keys(&app, US).into_iter().filter(|k| k.ends_with(".md")).collect();
        assert_eq!(listed_keys, md_keys);
        assert_eq!(listed.len(), 11, "no document listed twice");
        let faq = listed.iter().find(|d| d["shopify_id"] == "gid://shopify/Page/102").unwrap();
        assert_eq!(faq, &json!({"shop_domain": US, "source": "pages", "shopify_id": "gid://shopify/Page/102",
            "title": "Shipping FAQ", "url": "https://demo-us.example/pages/shipping-faq", "visibility": "public",
            "updated_at": "2026-10-01T10:00:00Z", "key": format!("{}pages/102.md", prefix(&app, US))}));
        let (code, page) = app.send(app.as_admin("GET", "/shopify/knowledge/documents")
            .query("shop_domain", "demo-us").query("source", "articles")).await;
        assert_eq!(code, 200);
        assert_eq!(page["documents"].as_array().unwrap().len(), 2);

        // No credential anywhere in the tables.
        if let (Some(aws), Some(knowledge)) = (&app.aws, &rig.aws) {
            let mut items = tests::local_aws::scan_table(&aws.dynamo, &aws.table).await;
            let index = tests::local_aws::scan_table(&aws.dynamo, &knowledge.index_table).await;
            assert_eq!(index.len(), 11, "one index entry per document");
            items.extend(index);
            for item in items {
                assert!(!format!("{item:?}").contains(TOKEN), "a credential in DynamoDB: {item:?}");
            }
        }
    }

    async fn an_incremental_run_rewrites_only_what_changed(app: TestApp) {
        synced_demo(&app).await;
        let rig = app.rig();
        let before = rig.snapshot(&prefix(&app, US)).await;
        let at = now();
        app.shopify.update_shop(US, |shop| {
            let page = shop.pages.iter_mut().find(|p| p.id == 101).unwrap();
            page.body = "<p>Outdoor gear since 2010. Now also in Norway.</p>".into();
            page.updated_at = at.clone();
            let page = shop.pages.iter_mut().find(|p| p.id == 102).unwrap();
            page.published = false;
            page.updated_at = at.clone();
            shop.pages.retain(|p| p.id != 103);
            shop.articles.retain(|a| a.id != 202);
            let product = shop.products.iter_mut().find(|p| p.id == 501).unwrap();
            product.variants[0].2 = "79.00".into();
            product.updated_at = at.clone();
            let product = shop.products.iter_mut().find(|p| p.id == 502).unwrap();
            product.status = "ARCHIVED".into();
            product.updated_at = at.clone();
            // Inventory moved: Shopify bumps updatedAt, nothing the AI reads changed.
            shop.products.iter_mut().find(|p| p.id == 505).unwrap().updated_at = at.clone();
            let mut new = FakeProduct::active("Trail Socks", "15.00").with_id(504);
            new.updated_at = at.clone();
            shop.products.push(new);
            shop.policies.iter_mut().find(|p| p.id == 302).unwrap().body = "<p>Free shipping over $50.</p>".into();
        });
        rig.documents.reset();
        let (code, body) = request_sync(&app, json!({})).await;
        assert_eq!((code, body), (202, json!({"queued": [US]})));
        drain(&app).await;

        let changed = keys_of(&app, US, &[("pages", 101), ("pages", 102), ("products", 501), ("products", 504), ("policies", 302)]);
        let written: BTreeSet<String> = rig.documents.written().into_iter().collect();
        assert_eq!(written, changed, "only the changed documents are written");
        assert_eq!(rig.documents.puts(), changed.len(), "each exactly once");

        let after = rig.snapshot(&prefix(&app, US)).await;
        let removed = keys_of(&app, US, &[("pages", 103), ("articles", 202), ("products", 502)]);
        let expected: BTreeSet<String> = demo_keys(&app, US).difference(&removed).cloned().chain(keys_of(&app, US, &[("products", 504)])).collect();
        assert_eq!(after.keys().cloned().collect::<BTreeSet<_>>(), expected);
        for (key, bytes) in &after {
            if !changed.contains(key) {
                assert_eq!(Some(bytes), before.get(key), "{key} untouched");
            }
        }
        let faq = sidecar(&after[&format!("{}pages/102.md.metadata.json", prefix(&app, US))]);
        assert_eq!(faq["visibility"], "internal");
        assert!(String::from_utf8(after[&format!("{}products/501.md", prefix(&app, US))].clone()).unwrap().contains("79.00"));

        let events = rig.events().await;
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!((events[1]["added"].as_u64(), events[1]["updated"].as_u64(), events[1]["removed"].as_u64()), (Some(1), Some(4), Some(3)));
        let status = knowledge(&app).await;
        let us = store(&status, US);
        assert_eq!(us["last_run"]["kind"], "incremental");
        assert_eq!(us["sources"]["pages"]["documents"], 2);
        assert_eq!(us["sources"]["products"]["documents"], 3);

        // Nothing changed since: a run writes nothing and tells no one.
        rig.documents.reset();
        assert_eq!(request_sync(&app, json!({"shop_domain": "demo-us"})).await.0, 202);
        drain(&app).await;
        assert_eq!(rig.documents.puts(), 0);
        assert_eq!(rig.documents.deletes(), 0);
        assert_eq!(rig.events().await.len(), 2);
    }

    async fn a_missing_scope_shows_missing_scope_and_the_rest_syncs(app: TestApp) {
        assert_eq!(app.put_settings(sources(true, true, true, true)).await.0, 200);
        let shop = demo_shop("demo-us").with_scopes(&["read_orders", "read_products", "read_customers", "read_online_store_pages"]);
        connect(&app, shop).await;
        drain(&app).await;

        let status = knowledge(&app).await;
        let us = store(&status, US);
        assert_eq!(us["state"], "idle");
        assert_eq!(us["last_run"]["outcome"], "succeeded");
        assert_eq!(us["sources"]["policies"], json!({"status": "missing_scope", "documents": 0, "synced_at": null, "missing": ["read_legal_policies"]}));
        assert_eq!(us["sources"]["pages"]["status"], "synced");
        assert_eq!(us["sources"]["products"]["documents"], 3);
        assert!(rig_keys(&app, &format!("{}policies/", prefix(&app, US))).await.is_empty());
        assert_eq!(count(&operations(&app, US), "ShopPolicies"), 0, "a source without its scope is not asked for");

        // The merchant grants the scope; a verify records it and the next sync reads policies.
        app.shopify.update_shop(US, |shop| shop.scopes.push("read_legal_policies".into()));
        assert_eq!(app.get_store(US, true).await.0, 200);
        assert_eq!(request_sync(&app, json!({})).await.0, 202);
        drain(&app).await;
        let status = knowledge(&app).await;
        let us = store(&status, US);
        assert_eq!(us["sources"]["policies"]["status"], "synced", "{us}");
        assert_eq!(us["sources"]["policies"]["documents"], 3);
        assert_eq!(rig_keys(&app, &format!("{}policies/", prefix(&app, US))).await.len(), 6);
    }

    async fn duplicate_deliveries_and_an_overlapping_schedule_make_one_run(app: TestApp) {
        assert_eq!(app.put_settings(sources(true, true, true, true)).await.0, 200);
        connect(&app, demo_shop("demo-us")).await;
        let rig = app.rig();
        let shop = ShopDomain::parse(US).unwrap();
        let state = rig.ports.repo.state(&org(&app), &shop).await.unwrap().expect("a queued first sync");
        assert_eq!(state.phase, Phase::Queued);
        let job = Job::Run { org_id: org(&app), shop_domain: shop.clone(), ticket: state.requested.unwrap().run_id };

        // The schedule fires and the merchant presses "sync" while the first run is queued.
        let tick = knowledge_sync::handle(&rig.sync, json!({"schedule": "knowledge-sync"}), Deadline::after(Duration::from_secs(20))).await;
        assert_eq!(tick, Ok(json!({"ok": true})));
        assert_eq!(request_sync(&app, json!({})).await, (202, json!({"queued": [US]})));
        assert_eq!(rig.queue.pending().await, 2, "still one run job (and the schedule's sweep of disconnected stores)");

        // Two deliveries of the same job at once: the first holds Shopify's first answer
        // until the second has come and gone.
        let (gate, open) = Fault::gate();
        app.shopify.push_fault(US, gate);
        let first = tokio::spawn({
            let ports = rig.sync.clone();
            let job = job.clone();
            async move { shared::knowledge::sync::handle(&ports, job, Deadline::after(Duration::from_secs(60)), 1).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let second = shared::knowledge::sync::handle(&rig.sync, job.clone(), Deadline::after(Duration::from_secs(60)), 1).await;
        assert!(matches!(second, Err(KnowledgeError::Busy)), "the duplicate comes back later: {second:?}");
        assert_eq!(rig.documents.puts(), 0, "the duplicate did no work");
        open.notify_one();
        first.await.unwrap().expect("the first delivery runs the sync");
        // The original message (and a third copy) arrive late: dropped.
        rig.ports.queue.send(&job, Duration::ZERO).await.unwrap();
        drain(&app).await;

        assert_eq!(rig.events().await.len(), 1, "one run");
        assert_eq!(rig.documents.puts(), 22, "every document written once");
        let ops = operations(&app, US);
        assert_eq!(count(&ops, "PagesPage"), 1, "{ops:?}");
        assert_eq!(count(&ops, "ProductsPage"), 1, "{ops:?}");
        assert_eq!(store(&knowledge(&app).await, US)["state"], "idle");

        // Two schedules in a row queue one incremental run.
        for _ in 0..2 {
            let tick = knowledge_sync::handle(&rig.sync, json!({"schedule": "knowledge-sync"}), Deadline::after(Duration::from_secs(20))).await;
            assert_eq!(tick, Ok(json!({"ok": true})));
        }
        assert_eq!(rig.queue.pending().await, 3, "one run job (and two sweeps)");
        rig.documents.reset();
        drain(&app).await;
        assert_eq!(rig.documents.puts(), 0, "nothing changed");
        let us_status = knowledge(&app).await;
        assert_eq!(store(&us_status, US)["last_run"]["kind"], "incremental");
    }

    async fn a_failing_run_is_retried_then_dead_lettered_and_shown_failed(app: TestApp) {
        assert_eq!(app.put_settings(sources(true, false, false, true)).await.0, 200);
        connect(&app, demo_shop("demo-us")).await;
        app.shopify.update_shop(US, |shop| shop.outage = Some(503));
        let rig = app.rig();
        let drained = rig.drain().await;
        assert_eq!(drained.failed, 5, "five receives: {drained:?}");
        assert_eq!(rig.dead_letters().await, 1, "then the dead-letter queue");
        let status = knowledge(&app).await;
        let us = store(&status, US);
        assert_eq!(us["state"], "failed");
        assert_eq!(us["last_run"]["outcome"], "failed");
        assert_eq!(us["last_run"]["error"]["code"], "shopify_unavailable");
        assert_eq!(us["sources"]["pages"]["status"], "failed");
        assert!(!us.to_string().contains("Internal Server Error"), "no Shopify text: {us}");

        // Shopify is back; the next sync succeeds.
        app.shopify.update_shop(US, |shop| shop.outage = None);
        assert_eq!(request_sync(&app, json!({})).await.0, 202);
        drain(&app).await;
        let status = knowledge(&app).await;
        let us = store(&status, US);
        assert_eq!(us["state"], "idle");
        assert_eq!(us["sources"]["pages"]["status"], "synced");
        assert_eq!(us["sources"]["policies"]["documents"], 3);
    }

    async fn a_source_turned_on_during_a_run_that_then_fails_is_still_synced(app: TestApp) {
        assert_eq!(app.put_settings(sources(true, false, false, true)).await.0, 200);
        connect(&app, demo_shop("demo-us")).await;
        app.shopify.update_shop(US, |shop| shop.outage = Some(503));
        let rig = app.rig();
        let deliver = |n| tests::worker::drain(&rig.sync, &rig.queue, tests::worker::INVOCATION, n);
        assert_eq!(deliver(1).await.failed, 1, "the run's first receive fails");

        // A source turned on while the run is under way is synced by a run after it.
        assert_eq!(app.put_settings(sources(true, true, false, true)).await.0, 200);
        assert_eq!(deliver(4).await.failed, 4, "then its last receives");
        let failed = knowledge(&app).await;
        assert_eq!(store(&failed, US)["last_run"]["outcome"], "failed", "the run failed: {failed}");

        // The run failed; the one asked for meanwhile runs without being asked again.
        app.shopify.update_shop(US, |shop| shop.outage = None);
        drain(&app).await;
        let us = store(&knowledge(&app).await, US).clone();
        assert_eq!(us["state"], "idle", "{us}");
        assert_eq!(us["last_run"]["outcome"], "succeeded", "{us}");
        assert_eq!(us["sources"]["articles"]["status"], "synced", "{us}");
    }

    async fn a_source_turned_off_during_a_run_has_its_documents_removed_by_the_run(app: TestApp) {
        synced_demo(&app).await;
        let rig = app.rig();
        let products = format!("{}products/", prefix(&app, US));
        assert!(!rig.keys(&products).await.is_empty());
        assert_eq!(request_sync(&app, json!({})).await.0, 202);
        // The run's first step is throttled: it is planned with every source, then steps aside.
        throttle_next_step(&app);
        let first = tests::worker::drain(&rig.sync, &rig.queue, tests::worker::INVOCATION, 1).await;
        assert_eq!(first.failed, 0);

        // Products are turned off meanwhile, and their removal job never comes (it was lost,
        // or is still waiting for the run).
        set_products(&app, false).await;
        drain(&app).await;

        assert!(rig.keys(&products).await.is_empty(), "the run removed the products it holds the store for");
        let us = store(&knowledge(&app).await, US).clone();
        assert_eq!(us["sources"]["products"], json!({"status": "disabled", "documents": 0, "synced_at": null}), "{us}");
        assert_eq!(us["last_run"]["outcome"], "succeeded", "{us}");
        assert_eq!(us["sources"]["pages"]["status"], "synced", "{us}");
    }

    async fn a_source_turned_off_and_on_again_during_a_run_keeps_its_documents(app: TestApp) {
        synced_demo(&app).await;
        let rig = app.rig();
        let products = format!("{}products/", prefix(&app, US));
        let before = rig.keys(&products).await;
        assert!(!before.is_empty());
        assert_eq!(request_sync(&app, json!({})).await.0, 202);
        throttle_next_step(&app);
        assert_eq!(tests::worker::drain(&rig.sync, &rig.queue, tests::worker::INVOCATION, 1).await.failed, 0);
        // Off: the next message marks products for removal, then steps aside before reaching them.
        set_products(&app, false).await;
        throttle_next_step(&app);
        assert_eq!(tests::worker::drain(&rig.sync, &rig.queue, tests::worker::INVOCATION, 1).await.failed, 0);
        // On again before the run removed them.
        set_products(&app, true).await;
        drain(&app).await;

        assert_eq!(rig.keys(&products).await, before, "the products are still there");
        let us = store(&knowledge(&app).await, US).clone();
        assert_eq!(us["sources"]["products"]["status"], "synced", "{us}");
        assert_eq!(us["sources"]["products"]["documents"], 3, "{us}");
    }

    async fn a_throttled_run_steps_aside_and_continues(app: TestApp) {
        assert_eq!(app.put_settings(sources(true, false, false, false)).await.0, 200);
        connect(&app, demo_shop("demo-us")).await;
        // Every attempt of the run's first page is throttled: the run steps aside, then goes on.
        for _ in 0..tests::app::fast_retry().max_attempts {
            app.shopify.push_fault(US, Fault::Throttled { requested: 52.0, available: 10.0, restore_rate: 100.0 });
        }
        let drained = drain(&app).await;
        assert!(drained.delivered >= 2, "continued in a new message: {drained:?}");
        let status = knowledge(&app).await;
        let us = store(&status, US);
        assert_eq!(us["last_run"]["outcome"], "succeeded", "{us}");
        assert_eq!(us["sources"]["pages"]["documents"], 3);
    }

    async fn a_killed_run_resumes_from_its_saved_progress(app: TestApp) {
        assert_eq!(app.put_settings(sources(false, false, true, false)).await.0, 200);
        connect(&app, FakeShop::new("demo-us").with_token(TOKEN).with_catalog(120)).await;
        let rig = app.rig();
        let shop = ShopDomain::parse(US).unwrap();
        let state = rig.ports.repo.state(&org(&app), &shop).await.unwrap().unwrap();
        let job = Job::Run { org_id: org(&app), shop_domain: shop.clone(), ticket: state.requested.unwrap().run_id };

        // An invocation killed once it has written a page of 74 products and 15 of the next:
        // its 179th file write never answers, and the test kills it there.
        let parking = Arc::new(tests::knowledge::FaultyDocuments::parking_after(rig.sync.documents.clone(), 178));
        let mut ports = rig.sync.clone();
        ports.documents = parking.clone();
        let invocation = tests::worker::INVOCATION;
        let worker = tokio::spawn({
            let (ports, job) = (ports.clone(), job.clone());
            async move { shared::knowledge::sync::handle(&ports, job, Deadline::after(invocation), 1).await }
        });
        while parking.parked() == 0 {
            assert!(!worker.is_finished(), "the run stops at the held write");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // A page's documents are written together: the writes sent before the held one end
        // on their own (on DynamoDB and S3 they may still be in flight), then the kill.
        let written = tokio::time::timeout(Duration::from_secs(60), async {
            while rig.documents.puts() < 178 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(written.is_ok(), "the writes before the held one ended: {}", rig.documents.puts());
        worker.abort();
        assert!(worker.await.unwrap_err().is_cancelled(), "killed mid-run");
        let killed_at = rig.documents.puts();
        assert_eq!(killed_at, 178, "killed before the end");
        // The dashboard shows the run under way and how far it came.
        let status = knowledge(&app).await;
        let progress = &store(&status, US)["progress"];
        assert_eq!(store(&status, US)["state"], "running");
        assert_eq!((progress["kind"].as_str(), progress["source"].as_str(), progress["sources_total"].as_u64()), (Some("full"), Some("products"), Some(1)));
        assert!(progress["added"].as_u64().unwrap() >= 10, "{progress}");

        // Redelivered while the dead invocation's lease lasts: back to the queue, nothing done.
        let early = shared::knowledge::sync::handle(&rig.sync, job.clone(), Deadline::after(Duration::from_secs(60)), 2).await;
        assert!(matches!(early, Err(KnowledgeError::Busy)), "{early:?}");
        assert_eq!(rig.documents.puts(), killed_at);
        let mut state = rig.ports.repo.state(&org(&app), &shop).await.unwrap().unwrap();
        assert_eq!(state.phase, Phase::Running);
        let lease = state.lease_until.expect("the killed invocation's lease");
        let latest = chrono::Utc::now() + chrono::Duration::from_std(invocation + Duration::from_secs(8)).unwrap();
        assert!(lease <= latest, "a lease ends with its invocation");

        // After the lease ran out (the visibility timeout is longer than that), the message
        // comes back and the run continues from its saved page. The lease's end is moved
        // into the past instead of waiting for it.
        state.lease_until = Some(chrono::Utc::now() - chrono::Duration::seconds(1));
        let version = state.version;
        state.version += 1;
        rig.ports.repo.put_state(&state, Some(version)).await.unwrap();
        drain(&app).await;
        let keys = rig_keys(&app, &format!("{}products/", prefix(&app, US))).await;
        assert_eq!(keys.len(), 240, "every product, once");
        assert!(rig.documents.puts() <= 240 + 2 * 46, "at most the page in flight (46 products) written again: {}", rig.documents.puts());
        let first_pages = app.shopify.received().into_iter()
            .filter(|r| r.operation.as_deref() == Some("ProductsPage") && r.variables["after"].is_null())
            .count();
        assert_eq!(first_pages, 1, "the resumed run did not start over");
        let status = knowledge(&app).await;
        assert_eq!(store(&status, US)["sources"]["products"]["documents"], 120);
        assert_eq!(store(&status, US)["state"], "idle");
    }

    async fn disconnecting_removes_the_documents_and_sync_state(app: TestApp) {
        synced_demo(&app).await;
        let rig = app.rig();
        assert_eq!(rig.keys(&prefix(&app, US)).await.len(), 22);
        assert_eq!(app.disconnect(US).await.0, 204);
        drain(&app).await;
        assert!(rig.keys(&prefix(&app, US)).await.is_empty(), "documents gone");
        let events = rig.events().await;
        assert_eq!(events.len(), 2, "the removal is announced: {events:?}");
        assert_eq!((events[1]["removed"].as_u64(), events[1]["added"].as_u64()), (Some(11), Some(0)));
        let shop = ShopDomain::parse(US).unwrap();
        assert!(rig.ports.repo.state(&org(&app), &shop).await.unwrap().is_none(), "sync state gone");
        for source in shared::domain::Source::ALL {
            assert_eq!(rig.ports.repo.count_entries(&org(&app), &shop, source).await.unwrap(), 0);
        }
        assert_eq!(knowledge(&app).await["stores"], json!([]));
        if let (Some(aws), Some(knowledge)) = (&app.aws, &rig.aws) {
            let states: Vec<_> = tests::local_aws::scan_table(&aws.dynamo, &aws.table).await.into_iter()
                .filter(|item| format!("{item:?}").contains("KSYNC#")).collect();
            assert!(states.is_empty(), "{states:?}");
            let index = tests::local_aws::scan_table(&aws.dynamo, &knowledge.index_table).await;
            assert!(index.is_empty(), "{index:?}");
        }
    }

    async fn a_removal_waits_for_the_run_under_way(app: TestApp) {
        assert_eq!(app.put_settings(sources(false, false, true, false)).await.0, 200);
        connect(&app, FakeShop::new("demo-us").with_token(TOKEN).with_catalog(80)).await;
        let rig = app.rig();
        let shop = ShopDomain::parse(US).unwrap();
        let state = rig.ports.repo.state(&org(&app), &shop).await.unwrap().unwrap();
        let job = Job::Run { org_id: org(&app), shop_domain: shop.clone(), ticket: state.requested.unwrap().run_id };
        // The run writes its first page (the shop, the count, the page and its variants), then
        // waits on Shopify for the second.
        for _ in 0..4 {
            app.shopify.push_fault(US, Fault::Delay(Duration::ZERO));
        }
        let (gate, open) = Fault::gate();
        app.shopify.push_fault(US, gate);
        let run = tokio::spawn({
            let ports = rig.sync.clone();
            async move { shared::knowledge::sync::handle(&ports, job, Deadline::after(Duration::from_secs(60)), 1).await }
        });
        while rig.documents.puts() < 20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The store is disconnected meanwhile (its removal job comes by hand here).
        let without_queue = app.services.with_storage(app.services.storage.clone());
        let mut without_queue = without_queue;
        without_queue.knowledge = None;
        assert_eq!(app.send_with(&without_queue, app.as_admin("DELETE", "/shopify/stores/{shop}").path_param("shop", US)).await.0, 204);
        let removal = Job::Remove { org_id: org(&app), shop_domain: shop.clone(), sources: None, after: None, removed: 0 };
        let queued = rig.queue.pending().await;
        // Its last receive: a removal that meets a run is never a failed delivery.
        let early = shared::knowledge::sync::handle(&rig.sync, removal.clone(), Deadline::after(Duration::from_secs(60)), 5).await;
        assert!(early.is_ok(), "acknowledged; it comes back in a message of its own: {early:?}");
        assert_eq!(rig.documents.deletes(), 0, "the removal waits for the run");
        assert_eq!(rig.queue.pending().await, queued + 1, "the removal, queued again for later");
        open.notify_one();
        run.await.unwrap().unwrap();
        drain(&app).await;
        assert!(rig.keys(&prefix(&app, US)).await.is_empty(), "nothing the run wrote is left");
        assert!(rig.ports.repo.state(&org(&app), &shop).await.unwrap().is_none());
    }

    async fn the_schedule_removes_what_a_lost_removal_left(app: TestApp) {
        synced_demo(&app).await;
        let rig = app.rig();
        // A disconnect whose removal job was never queued (the queue was down).
        let mut without_queue = app.services.with_storage(app.services.storage.clone());
        without_queue.knowledge = None;
        assert_eq!(app.send_with(&without_queue, app.as_admin("DELETE", "/shopify/stores/{shop}").path_param("shop", US)).await.0, 204);
        drain(&app).await;
        assert_eq!(rig.keys(&prefix(&app, US)).await.len(), 22, "still there");
        let tick = knowledge_sync::handle(&rig.sync, json!({"schedule": "knowledge-sync"}), Deadline::after(Duration::from_secs(20))).await;
        assert_eq!(tick, Ok(json!({"ok": true})));
        drain(&app).await;
        assert!(rig.keys(&prefix(&app, US)).await.is_empty(), "the schedule's sweep removed them");
        let shop = ShopDomain::parse(US).unwrap();
        assert!(rig.ports.repo.state(&org(&app), &shop).await.unwrap().is_none());
    }

    async fn a_disconnect_whose_knowledge_removal_cannot_be_queued_still_answers_204(app: TestApp) {
        synced_demo(&app).await;
        let rig = app.rig();
        let mut queue_down = app.services.with_storage(app.services.storage.clone());
        queue_down.knowledge = Some(KnowledgePorts { repo: rig.ports.repo.clone(), queue: Arc::new(DownQueue) });
        assert_eq!(app.send_with(&queue_down, app.as_admin("DELETE", "/shopify/stores/{shop}").path_param("shop", US)).await.0, 204);
        assert_eq!(app.disconnect(US).await.0, 404, "the store is gone");
        drain(&app).await;
        assert_eq!(rig.keys(&prefix(&app, US)).await.len(), 22, "its documents wait for the schedule's sweep");
    }

    async fn settings_whose_knowledge_changes_cannot_be_queued_are_still_saved(app: TestApp) {
        connect(&app, demo_shop("demo-us")).await;
        let rig = app.rig();
        let mut queue_down = app.services.with_storage(app.services.storage.clone());
        queue_down.knowledge = Some(KnowledgePorts { repo: rig.ports.repo.clone(), queue: Arc::new(DownQueue) });
        let (code, saved) = app.send_with(&queue_down, app.as_admin("PUT", "/shopify/settings").json(&sources(false, false, true, false))).await;
        assert_eq!((code, &saved["knowledge"]), (200, &sources(false, false, true, false)["knowledge"]));
        let (code, read) = app.send(app.as_admin("GET", "/shopify/settings")).await;
        assert_eq!((code, &read["knowledge"]), (200, &sources(false, false, true, false)["knowledge"]), "the settings are saved");
    }

    async fn a_run_starting_while_its_state_changes_still_runs(app: TestApp) {
        assert_eq!(app.put_settings(sources(true, false, false, true)).await.0, 200);
        connect(&app, demo_shop("demo-us")).await;
        let rig = app.rig();
        // Someone else writes the store's state between the worker's read and its lease.
        let inner = rig.ports.repo.clone();
        let hooked = Arc::new(HookedRepo::new(inner.clone()));
        let (o, shop) = (org(&app), ShopDomain::parse(US).unwrap());
        hooked.before_next_put_state(Box::new(move || Box::pin(async move {
            let mut state = inner.state(&o, &shop).await.unwrap().unwrap();
            let version = state.version;
            state.version += 1;
            inner.put_state(&state, Some(version)).await.unwrap();
        })));
        let mut ports = rig.sync.clone();
        ports.repo = hooked;
        let drained = tests::worker::drain(&ports, &rig.queue, tests::worker::INVOCATION, 100).await;
        assert_eq!(drained.failed, 0);
        let status = knowledge(&app).await;
        let us = store(&status, US);
        assert_eq!(us["state"], "idle", "the run was not lost: {us}");
        assert_eq!(us["sources"]["pages"]["documents"], 3);
    }

    async fn counting_a_large_index_does_not_fail_the_finish(app: TestApp) {
        assert_eq!(app.put_settings(sources(true, false, false, true)).await.0, 200);
        connect(&app, demo_shop("demo-us")).await;
        let rig = app.rig();
        // Counts that take longer than the moment a run has after its work.
        let mut slow = HookedRepo::new(rig.ports.repo.clone());
        slow.count_delay = shared::knowledge::sync::GRACE + Duration::from_millis(500);
        let mut ports = rig.sync.clone();
        ports.repo = Arc::new(slow);
        let drained = tests::worker::drain(&ports, &rig.queue, tests::worker::INVOCATION, 100).await;
        assert_eq!(drained.failed, 0);
        let status = knowledge(&app).await;
        assert_eq!(store(&status, US)["state"], "idle");
        assert_eq!(store(&status, US)["sources"]["policies"]["documents"], 3);
    }

    async fn a_reconnect_during_a_removal_keeps_the_new_connections_sync(app: TestApp) {
        synced_demo(&app).await;
        let rig = app.rig();
        let mut without_queue = app.services.with_storage(app.services.storage.clone());
        without_queue.knowledge = None;
        assert_eq!(app.send_with(&without_queue, app.as_admin("DELETE", "/shopify/stores/{shop}").path_param("shop", US)).await.0, 204);
        // The removal holds at its first deletion while the merchant connects the store again.
        let gated = Arc::new(GatedDocuments { inner: rig.documents.clone(), gate: tests::faults::Gate::default() });
        let reached = gated.gate.reached.clone();
        let open = gated.gate.open.clone();
        let mut ports = rig.sync.clone();
        ports.documents = gated;
        let removal = Job::Remove { org_id: org(&app), shop_domain: ShopDomain::parse(US).unwrap(), sources: None, after: None, removed: 0 };
        let removing = tokio::spawn(async move {
            shared::knowledge::sync::handle(&ports, removal, Deadline::after(Duration::from_secs(60)), 1).await
        });
        reached.notified().await;
        let (code, body) = app.connect(json!({"shop_domain": US, "access_token": TOKEN})).await;
        assert_eq!(code, 201, "{body}");
        open.notify_one();
        removing.await.unwrap().unwrap();
        drain(&app).await;
        let status = knowledge(&app).await;
        let us = store(&status, US);
        assert_eq!(us["state"], "idle", "{us}");
        assert_eq!(us["last_run"]["outcome"], "succeeded");
        assert_eq!(rig.keys(&prefix(&app, US)).await.len(), 22, "the new connection's documents");
    }

    async fn a_scope_withdrawn_after_connecting_shows_missing_scope(app: TestApp) {
        synced_demo(&app).await;
        // The merchant removes read_legal_policies from the app; the record still lists it.
        app.shopify.update_shop(US, |shop| shop.scopes.retain(|s| s != "read_legal_policies"));
        assert_eq!(request_sync(&app, json!({"full": true})).await.0, 202);
        drain(&app).await;
        let status = knowledge(&app).await;
        let us = store(&status, US);
        assert_eq!(us["state"], "idle", "{us}");
        assert_eq!(us["last_run"]["outcome"], "succeeded");
        assert_eq!(us["sources"]["policies"]["status"], "missing_scope");
        assert_eq!(us["sources"]["policies"]["missing"], json!(["read_legal_policies"]));
        assert_eq!(us["sources"]["pages"]["status"], "synced");
        // What the AI learned under the withdrawn scope is removed, and the removal announced.
        assert_eq!(us["sources"]["policies"]["documents"], 0, "{us}");
        let rig = app.rig();
        assert!(rig.keys(&format!("{}policies/", prefix(&app, US))).await.is_empty(), "policy documents gone");
        assert_eq!(rig.keys(&prefix(&app, US)).await.len(), 16, "the other sources' documents stay");
        let events = rig.events().await;
        assert_eq!(events.last().unwrap()["removed"], 3, "{events:?}");
        // Granted again: the next run reads the policies in full.
        app.shopify.update_shop(US, |shop| shop.scopes.push("read_legal_policies".into()));
        assert_eq!(request_sync(&app, json!({})).await.0, 202);
        drain(&app).await;
        let status = knowledge(&app).await;
        assert_eq!(store(&status, US)["sources"]["policies"]["documents"], 3);
        assert_eq!(store(&status, US)["sources"]["policies"]["status"], "synced");
    }

    async fn a_page_that_cannot_be_rendered_never_hides_a_deleted_pages_document(app: TestApp) {
        assert_eq!(app.put_settings(sources(true, false, false, false)).await.0, 200);
        let huge = format!("<p>{}</p>", "a".repeat(600 * 1024));
        connect(&app, demo_shop("demo-us").with_page(FakePage::new(104, "Lookbook", &huge))).await;
        drain(&app).await;
        let rig = app.rig();
        // As a state written before it was kept whether an item may lack a document: the
        // skipped count alone.
        let shop = ShopDomain::parse(US).unwrap();
        let mut state = rig.ports.repo.state(&org(&app), &shop).await.unwrap().unwrap();
        state.sources.get_mut(&shared::domain::Source::Pages).unwrap().unindexed = false;
        let version = state.version;
        state.version += 1;
        rig.ports.repo.put_state(&state, Some(version)).await.unwrap();
        let pages = |keys: Vec<String>| keys.into_iter().filter(|k| k.ends_with(".md")).count();
        assert_eq!(pages(rig.keys(&prefix(&app, US)).await), 3, "page 104 is skipped");
        assert_eq!(store(&knowledge(&app).await, US)["sources"]["pages"]["skipped"], 1);
        // An incremental run with nothing changed (it does not read page 104 again).
        assert_eq!(request_sync(&app, json!({})).await.0, 202);
        drain(&app).await;

        // Page 101 is deleted: Shopify counts 3 pages (104 among them), the index holds 3
        // entries (101 among them).
        app.shopify.update_shop(US, |shop| shop.pages.retain(|p| p.id != 101));
        assert_eq!(request_sync(&app, json!({})).await.0, 202);
        drain(&app).await;

        let keys: BTreeSet<String> = rig.keys(&prefix(&app, US)).await.into_iter().collect();
        assert_eq!(keys, keys_of(&app, US, &[("pages", 102), ("pages", 103)]), "the deleted page's document is gone");

        // Page 104 fixed: once a sweep finds every page indexed, equal counts are trusted again.
        let at = now();
        app.shopify.update_shop(US, |shop| {
            let lookbook = shop.pages.iter_mut().find(|p| p.id == 104).unwrap();
            lookbook.body = "<p>Autumn.</p>".into();
            lookbook.updated_at = at.clone();
        });
        let unindexed = || async {
            let state = rig.ports.repo.state(&org(&app), &ShopDomain::parse(US).unwrap()).await.unwrap().unwrap();
            state.sources[&shared::domain::Source::Pages].unindexed
        };
        assert!(unindexed().await);
        assert_eq!(request_sync(&app, json!({})).await.0, 202);
        drain(&app).await;
        assert!(!unindexed().await);
    }

    async fn a_document_whose_index_write_failed_is_removed_with_its_item(app: TestApp) {
        assert_eq!(app.put_settings(sources(true, false, false, false)).await.0, 200);
        connect(&app, demo_shop("demo-us")).await;
        let rig = app.rig();
        let shop = ShopDomain::parse(US).unwrap();
        let state = rig.ports.repo.state(&org(&app), &shop).await.unwrap().unwrap();
        let job = Job::Run { org_id: org(&app), shop_domain: shop.clone(), ticket: state.requested.unwrap().run_id };
        // Page 102's files are written, then its index write fails: the run fails.
        let hooked = HookedRepo::new(rig.ports.repo.clone());
        hooked.fail_entry_once(102);
        let mut ports = rig.sync.clone();
        ports.repo = Arc::new(hooked);
        let failed = shared::knowledge::sync::handle(&ports, job, Deadline::after(Duration::from_secs(60)), 1).await;
        assert!(failed.is_err());
        // The page is deleted at Shopify before the message comes back.
        app.shopify.update_shop(US, |shop| shop.pages.retain(|p| p.id != 102));
        drain(&app).await;
        let keys = rig.keys(&prefix(&app, US)).await;
        assert_eq!(keys.into_iter().collect::<BTreeSet<_>>(), keys_of(&app, US, &[("pages", 101), ("pages", 103)]), "no file without its item");
        assert_eq!(rig.events().await.len(), 1, "the interrupted run is announced");
    }

    async fn a_bulk_result_out_of_id_order_is_read_page_by_page(app: TestApp) {
        assert_eq!(app.put_settings(sources(false, false, true, false)).await.0, 200);
        let mut shop = FakeShop::new("demo-us").with_token(TOKEN).with_catalog(120);
        shop.bulk_style = BulkStyle::Reversed;
        connect(&app, shop).await;
        let mut ports = app.rig().sync.clone();
        ports.config.bulk_threshold = 50;
        let drained = tests::worker::drain(&ports, &app.rig().queue, tests::worker::INVOCATION, 1000).await;
        assert_eq!(drained.failed, 0);
        assert_eq!(app.shopify.bulk_started(), 1);
        assert!(count(&operations(&app, US), "ProductsPage") > 0, "read page by page");
        assert_eq!(rig_keys(&app, &format!("{}products/", prefix(&app, US))).await.len(), 240, "no product lost");
    }

    async fn a_bulk_result_without_a_final_newline_keeps_its_last_product(app: TestApp) {
        assert_eq!(app.put_settings(sources(false, false, true, false)).await.0, 200);
        let mut shop = FakeShop::new("demo-us").with_token(TOKEN).with_catalog(60);
        shop.bulk_style = BulkStyle::NoFinalNewline;
        connect(&app, shop).await;
        let mut ports = app.rig().sync.clone();
        ports.config.bulk_threshold = 50;
        let drained = tests::worker::drain(&ports, &app.rig().queue, tests::worker::INVOCATION, 1000).await;
        assert_eq!(drained.failed, 0);
        assert_eq!(count(&operations(&app, US), "ProductsPage"), 0);
        assert_eq!(rig_keys(&app, &format!("{}products/", prefix(&app, US))).await.len(), 120);
        let last = app.rig().text(&format!("{}products/8000000060.md", prefix(&app, US))).await;
        assert!(last.contains("CAT-00059-L"), "the last line (the last product's last variant) is read: {last}");
    }

    async fn another_org_sees_none_of_it(app: TestApp) {
        synced_demo(&app).await;
        let other = app.other_org();
        let member = |method: &str, route: &str| HttpEvent::new(method, route).claims(&[("org_id", other.as_str()), ("role", "admin")]);
        let (code, body) = app.send(member("GET", "/shopify/knowledge")).await;
        assert_eq!((code, &body["stores"]), (200, &json!([])));
        let (code, body) = app.send(member("GET", "/shopify/knowledge/documents")).await;
        assert_eq!((code, body), (200, json!({"documents": [], "next_cursor": null})));
        let (code, body) = app.send(member("GET", "/shopify/knowledge/documents").query("shop_domain", US)).await;
        assert_eq!((code, body["error"]["code"].as_str()), (404, Some("store_not_found")));
        let (code, body) = app.send(member("POST", "/shopify/knowledge/sync").json(&json!({"shop_domain": US, "full": true}))).await;
        assert_eq!((code, body["error"]["code"].as_str()), (404, Some("store_not_found")));
        let cursor = "demo-us.pages.0";
        let (code, body) = app.send(member("GET", "/shopify/knowledge/documents").query("cursor", cursor)).await;
        assert_eq!((code, body["documents"].as_array().map(Vec::len)), (200, Some(0)), "a cursor naming another org's store reads nothing");
        // Its own store of the same domain is its own: connecting it syncs into its prefix.
        let (code, _) = app.send(member("POST", "/shopify/stores").json(&json!({"shop_domain": US, "access_token": TOKEN}))).await;
        assert_eq!(code, 201);
        drain(&app).await;
        let theirs = rig_keys(&app, &format!("{other}/{US}/")).await;
        assert_eq!(theirs.len(), 12, "pages and policies, the defaults: {theirs:?}");
        assert_eq!(rig_keys(&app, &prefix(&app, US)).await.len(), 22, "the first org's documents untouched");
    }

    async fn turning_sources_on_syncs_them_and_off_removes_them(app: TestApp) {
        connect(&app, demo_shop("demo-us")).await;
        drain(&app).await;
        let rig = app.rig();
        let sources_of = |keys: &[String]| keys.iter().map(|k| k.split('/').nth(2).unwrap().to_owned()).collect::<BTreeSet<_>>();
        let keys = rig.keys(&prefix(&app, US)).await;
        assert_eq!(sources_of(&keys), BTreeSet::from(["pages".to_owned(), "policies".to_owned()]), "the defaults");

        rig.documents.reset();
        let (code, body) = app.put_settings(sources(true, false, true, true)).await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["knowledge"], json!({"pages": true, "articles": false, "products": true, "policies": true}));
        drain(&app).await;
        assert_eq!(rig.documents.puts(), 6, "only the products are written");
        let status = knowledge(&app).await;
        assert_eq!(store(&status, US)["sources"]["products"]["status"], "synced");

        let (code, _) = app.put_settings(sources(false, false, true, true)).await;
        assert_eq!(code, 200);
        drain(&app).await;
        let keys = rig.keys(&prefix(&app, US)).await;
        assert_eq!(sources_of(&keys), BTreeSet::from(["policies".to_owned(), "products".to_owned()]));
        let status = knowledge(&app).await;
        assert_eq!(store(&status, US)["sources"]["pages"], json!({"status": "disabled", "documents": 0, "synced_at": null}));

        // Leaving `knowledge` out keeps it; a malformed one is refused and changes nothing.
        let (code, body) = app.put_settings(json!({"actions": actions(), "require_email_match": true})).await;
        assert_eq!((code, &body["knowledge"]), (200, &json!({"pages": false, "articles": false, "products": true, "policies": true})));
        for bad in [json!({"pages": true}), json!({"pages": true, "articles": false, "products": true, "policies": true, "blogs": true}), json!({"pages": "yes", "articles": false, "products": true, "policies": true}), Value::Null] {
            let (code, body) = app.put_settings(json!({"actions": actions(), "require_email_match": true, "knowledge": bad})).await;
            assert_eq!((code, body["error"]["code"].as_str()), (400, Some("invalid_request")), "{bad}");
        }
        assert_eq!(knowledge(&app).await["sources"], json!({"pages": false, "articles": false, "products": true, "policies": true}));
    }

    async fn the_schedule_queues_one_incremental_run_per_store_with_sources_on(app: TestApp) {
        assert_eq!(app.put_settings(sources(true, false, false, true)).await.0, 200);
        connect(&app, demo_shop("demo-us")).await;
        connect(&app, demo_shop("demo-uk")).await;
        // An organization with every source off: the schedule leaves its store alone.
        let quiet = app.other_org();
        let as_quiet = |method: &str, route: &str| HttpEvent::new(method, route).claims(&[("org_id", quiet.as_str()), ("role", "admin")]);
        let (code, _) = app.send(as_quiet("PUT", "/shopify/settings").json(&sources(false, false, false, false))).await;
        assert_eq!(code, 200);
        app.shopify.add_shop(demo_shop("demo-quiet"));
        let (code, _) = app.send(as_quiet("POST", "/shopify/stores").json(&json!({"shop_domain": "demo-quiet", "access_token": TOKEN}))).await;
        assert_eq!(code, 201);
        drain(&app).await;
        let rig = app.rig();
        assert_eq!(rig.events().await.len(), 2);

        app.shopify.update_shop(UK, |shop| {
            let page = shop.pages.iter_mut().find(|p| p.id == 101).unwrap();
            page.title = "About Demo UK".into();
            page.updated_at = now();
        });
        rig.documents.reset();
        let tick = knowledge_sync::handle(&rig.sync, json!({"schedule": "knowledge-sync"}), Deadline::after(Duration::from_secs(20))).await;
        assert_eq!(tick, Ok(json!({"ok": true})));
        assert_eq!(rig.queue.pending().await, 3, "one run per store with sources on (and the sweep)");
        drain(&app).await;
        assert_eq!(rig.documents.written().into_iter().collect::<BTreeSet<_>>(), keys_of(&app, UK, &[("pages", 101)]));
        assert_eq!(rig.documents.puts(), 2);
        let events = rig.events().await;
        assert_eq!(events.len(), 3, "only the store that changed is announced");
        assert_eq!(events[2]["shop_domain"], UK);
        let quiet_shop = ShopDomain::parse("demo-quiet").unwrap();
        let quiet_org = OrganizationId::parse(&quiet).unwrap();
        assert!(rig.ports.repo.state(&quiet_org, &quiet_shop).await.unwrap().is_none());
        assert!(rig_keys(&app, &format!("{quiet}/")).await.is_empty());
    }

    async fn the_knowledge_routes_check_roles_and_input(app: TestApp) {
        connect(&app, demo_shop("demo-us")).await;
        let agent = [("org_id", app.org.as_str()), ("role", "agent")];
        let (code, _) = app.send(HttpEvent::new("GET", "/shopify/knowledge").claims(&agent)).await;
        assert_eq!(code, 200, "members read");
        let (code, _) = app.send(HttpEvent::new("GET", "/shopify/knowledge/documents").claims(&agent)).await;
        assert_eq!(code, 200, "members list");
        let (code, body) = app.send(HttpEvent::new("POST", "/shopify/knowledge/sync").claims(&agent).json(&json!({}))).await;
        assert_eq!((code, body["error"]["code"].as_str()), (403, Some("forbidden")));
        let (code, body) = app.send(HttpEvent::new("GET", "/shopify/knowledge")).await;
        assert_eq!((code, body["error"]["code"].as_str()), (401, Some("unauthorized")));
        for (name, value) in [("limit", "0"), ("limit", "101"), ("limit", "ten"), ("source", "blogs"), ("cursor", "junk"), ("shop_domain", "https://shop.example.com")] {
            let (code, body) = app.send(app.as_admin("GET", "/shopify/knowledge/documents").query(name, value)).await;
            assert_eq!((code, body["error"]["code"].as_str()), (400, Some("invalid_request")), "{name}={value}: {body}");
        }
        for bad in [json!({"full": "yes"}), json!({"shop": US}), json!([]), json!({"shop_domain": null})] {
            let (code, body) = request_sync(&app, bad.clone()).await;
            assert_eq!((code, body["error"]["code"].as_str()), (400, Some("invalid_request")), "{bad}");
        }
        let (code, body) = request_sync(&app, json!({"shop_domain": "nowhere"})).await;
        assert_eq!((code, body["error"]["code"].as_str()), (404, Some("store_not_found")));
        let (code, body) = app.send(app.as_admin("POST", "/shopify/knowledge/sync")).await;
        assert_eq!((code, body), (202, json!({"queued": [US]})), "an empty body is {{}}");
        // The size limit holds whatever the body holds, blank padding included.
        let padded = " ".repeat(70_000);
        let (code, body) = app.send(app.as_admin("POST", "/shopify/knowledge/sync").raw_body(&padded)).await;
        assert_eq!((code, body["error"]["code"].as_str()), (413, Some("payload_too_large")));
    }
}

/// Keys under `prefix`, through the rig.
async fn rig_keys(app: &TestApp, prefix: &str) -> Vec<String> {
    app.rig().keys(prefix).await
}

knowledge_backends! {
    async fn a_large_catalog_syncs_through_a_bulk_operation(app: TestApp) {
        assert_eq!(app.put_settings(sources(false, false, true, false)).await.0, 200);
        connect(&app, FakeShop::new("demo-big").with_token(TOKEN).with_catalog(5000)).await;
        let rig = app.rig();
        // Storage fails at two chosen points: a document write in the middle of the result
        // (the message comes back and resumes at its saved offset) and the count of the
        // products once they are all read. Invocations get the function's real time limit.
        let documents = Arc::new(tests::knowledge::FaultyDocuments::new(rig.sync.documents.clone(), &[5001]));
        let repo = Arc::new(tests::knowledge::FaultyRepo::new(rig.sync.repo.clone(), Some("count_entries"), &[1]));
        let mut ports = rig.sync.clone();
        ports.documents = documents;
        ports.repo = repo.clone();
        let drained = tests::worker::drain(&ports, &rig.queue, tests::worker::INVOCATION, 1000).await;
        assert_eq!(repo.fired.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(drained.failed, 2, "exactly the two injected faults fail a delivery: {drained:?}: {}", knowledge(&app).await);
        assert_eq!(knowledge(&app).await["stores"][0]["last_run"]["outcome"], "succeeded");
        assert!(app.shopify.bulk_downloads() >= 2, "the result is read again from the saved offset");
        let big = "demo-big.myshopify.com";
        assert_eq!(app.shopify.bulk_started(), 1, "one bulk operation");
        let ops = operations(&app, big);
        assert_eq!(count(&ops, "ProductsPage"), 0, "no paging through the catalog");
        assert!(count(&ops, "BulkOperationStatus") >= 1);
        let keys = rig_keys(&app, &format!("{}/{big}/products/", app.org)).await;
        assert_eq!(keys.len(), 10_000, "5,000 documents and their sidecars");
        let item = rig.text(&format!("{}/{big}/products/8000000043.md", app.org)).await;
        assert!(item.starts_with("# Catalog item 00042\n"), "{item}");
        assert!(item.contains("CAT-00042-L") && item.contains("21.00"), "variants from the JSONL: {item}");
        let status = knowledge(&app).await;
        assert_eq!(store(&status, big)["sources"]["products"]["documents"], 5000);
        let events = rig.events().await;
        assert_eq!(events[0]["added"], 5000);
        eprintln!("bulk result fetched {} time(s) over {} deliveries", app.shopify.bulk_downloads(), drained.delivered);
    }

    async fn live_lookups_during_a_full_sync_against_a_tight_bucket_all_succeed(app: TestApp) {
        assert_eq!(app.put_settings(sources(false, false, true, false)).await.0, 200);
        // A small bucket (1,000 points, 400/s), every query holding its requested cost for
        // 50 ms while it runs: a sync reading its 20 pages back to back would empty it.
        let shop = FakeShop::new("demo-us").with_token(TOKEN).with_catalog(200)
            .with_bucket(1000.0, 400.0).with_execution(Duration::from_millis(50))
            .with_order(FakeOrder::new("#1001", "2026-11-01T10:00:00Z", "jane@example.com"));
        connect(&app, shop).await;
        let rig = app.rig();
        let sync = tokio::spawn({
            let ports = rig.sync.clone();
            let queue = rig.queue.clone();
            async move { tests::worker::drain(&ports, &queue, Duration::from_secs(60), 1000).await }
        });
        // The AI answers shoppers meanwhile: a lookup every 250 ms.
        let mut answers = Vec::new();
        let started = std::time::Instant::now();
        while !sync.is_finished() || started.elapsed() < Duration::from_secs(2) {
            let answer = if answers.len() % 2 == 0 {
                app.lookup("search_products", json!({"query": "catalog"}), None).await
            } else {
                app.lookup("get_order_details", json!({"order_number": "1001"}), Some("jane@example.com")).await
            };
            answers.push(answer);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let drained = sync.await.unwrap();
        assert_eq!(drained.failed, 0, "{drained:?}: {}\n{:?}\n{:?}", knowledge(&app).await, app.shopify.throttled_operations(), app.shopify.spent().iter().take(12).collect::<Vec<_>>());
        assert!(answers.len() >= 6, "lookups ran during the sync: {}", answers.len());
        for answer in &answers {
            assert_eq!(answer["ok"], true, "{answer}");
        }
        assert_eq!(app.shopify.throttled_operations(), Vec::<String>::new(), "nobody was throttled");
        assert_eq!(store(&knowledge(&app).await, US)["sources"]["products"]["documents"], 200);
    }
}

/// The pacing waits for each query's requested cost: it must be the cost Shopify computes
/// for that query with the variables the client sends.
#[test]
fn the_paced_costs_are_the_requested_costs_shopify_computes() {
    use shared::shopify::content::{
        requested_cost, ContentQuery, ARTICLES_PER_REQUEST, IDS_PER_REQUEST,
        LINKED_VARIANTS_PER_REQUEST, MANY_VARIANT_PRODUCTS_PER_REQUEST, PAGES_PER_REQUEST,
        PRODUCTS_PER_REQUEST, VARIANTS_PER_REQUEST,
    };
    use shared::shopify::queries::{self as q, Query};
    let cost = |query: &Query, variables: Value| {
        tests::fake_shopify::cost::costs(
            query.document,
            Some(query.operation),
            &variables,
            &Value::Null,
        )
        .0
    };
    assert_eq!(
        requested_cost(ContentQuery::Pages),
        cost(&q::PAGES_PAGE, json!({"first": PAGES_PER_REQUEST}))
    );
    assert_eq!(
        requested_cost(ContentQuery::Articles),
        cost(&q::ARTICLES_PAGE, json!({"first": ARTICLES_PER_REQUEST}))
    );
    assert_eq!(
        requested_cost(ContentQuery::Products),
        cost(&q::PRODUCTS_PAGE, json!({"first": PRODUCTS_PER_REQUEST}))
    );
    assert_eq!(
        requested_cost(ContentQuery::Variants),
        cost(
            &q::VARIANTS_BY_PRODUCT,
            json!({"first": VARIANTS_PER_REQUEST})
        )
    );
    assert_eq!(
        requested_cost(ContentQuery::Variants),
        cost(
            &q::VARIANTS_WITH_PRODUCT,
            json!({"first": LINKED_VARIANTS_PER_REQUEST})
        )
    );
    let ids = vec!["gid://shopify/Product/1"; MANY_VARIANT_PRODUCTS_PER_REQUEST];
    assert_eq!(
        requested_cost(ContentQuery::ManyVariants),
        cost(&q::MANY_VARIANT_PRODUCTS, json!({"ids": ids}))
    );
    for ids in [q::PAGE_IDS, q::ARTICLE_IDS, q::PRODUCT_IDS] {
        assert_eq!(
            requested_cost(ContentQuery::Ids),
            cost(&ids, json!({"first": IDS_PER_REQUEST})),
            "{}",
            ids.operation
        );
    }
    for small in [
        q::KNOWLEDGE_SHOP,
        q::PAGES_COUNT,
        q::ACTIVE_PRODUCTS_COUNT,
        q::SHOP_POLICIES,
        q::BULK_OPERATION_STATUS,
    ] {
        assert!(
            cost(&small, json!({})) <= requested_cost(ContentQuery::Small),
            "{}",
            small.operation
        );
    }
    // Every page requests at most 150 points: six of any mix fit in the smallest bucket.
    for kind in [
        ContentQuery::Pages,
        ContentQuery::Articles,
        ContentQuery::Products,
        ContentQuery::Variants,
        ContentQuery::ManyVariants,
        ContentQuery::Ids,
    ] {
        assert!(requested_cost(kind) <= 150.0);
    }
}

/// A store with three active products: 601 on the online store, 602 launching next month (not
/// published there yet) and 603 sold on POS only.
fn launch_shop() -> FakeShop {
    FakeShop::new("demo-us")
        .with_token(TOKEN)
        .with_product(FakeProduct::active("Trail Runner", "89.00").with_id(601))
        .with_product(
            FakeProduct::active("Trail Runner 2", "129.00")
                .with_id(602)
                .unpublished(),
        )
        .with_product(
            FakeProduct::active("Gift Wrap", "5.00")
                .with_id(603)
                .unpublished(),
        )
}

/// What a products sync of [`launch_shop`] stored: 601 public at its storefront URL; 602 and
/// 603 internal, naming their admin page and no storefront URL.
async fn assert_launch_documents(app: &TestApp) {
    let stored = app.rig().snapshot(&prefix(app, US)).await;
    let ids = [("products", 601), ("products", 602), ("products", 603)];
    assert_eq!(
        stored.keys().cloned().collect::<BTreeSet<_>>(),
        keys_of(app, US, &ids)
    );
    let text = |id: u64| {
        String::from_utf8(stored[&format!("{}products/{id}.md", prefix(app, US))].clone()).unwrap()
    };
    let meta =
        |id: u64| sidecar(&stored[&format!("{}products/{id}.md.metadata.json", prefix(app, US))]);

    assert_eq!(meta(601)["visibility"], "public");
    assert_eq!(
        meta(601)["url"],
        "https://demo-us.example/products/trail-runner"
    );
    assert_eq!(
        meta(602),
        json!({"org_id": app.org, "shop_domain": US, "source": "products",
               "shopify_id": "gid://shopify/Product/602", "title": "Trail Runner 2",
               "url": "https://admin.shopify.com/store/demo-us/products/602", "visibility": "internal",
               "updated_at": "2026-10-01T10:00:00Z"})
    );
    assert_eq!(meta(603)["visibility"], "internal");
    for id in [602, 603] {
        let body = text(id);
        assert!(body.contains("Not published on the online store"), "{body}");
        assert!(
            !body.contains("demo-us.example"),
            "no storefront URL is made up: {body}"
        );
    }
    let (code, page) = app
        .send(
            app.as_admin("GET", "/shopify/knowledge/documents")
                .query("source", "products"),
        )
        .await;
    assert_eq!(code, 200, "{page}");
    let visibility: Vec<_> = page["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["shopify_id"].clone(), d["visibility"].clone()))
        .collect();
    assert_eq!(
        visibility,
        [
            (json!("gid://shopify/Product/601"), json!("public")),
            (json!("gid://shopify/Product/602"), json!("internal")),
            (json!("gid://shopify/Product/603"), json!("internal")),
        ]
    );
}

knowledge_backends! {
    async fn an_active_product_not_on_the_online_store_is_an_internal_document_without_a_storefront_url(app: TestApp) {
        assert_eq!(app.put_settings(sources(false, false, true, false)).await.0, 200);
        connect(&app, launch_shop()).await;

        drain(&app).await;

        assert_eq!(app.shopify.bulk_started(), 0, "read page by page");
        assert!(count(&operations(&app, US), "ProductsPage") > 0);
        assert_launch_documents(&app).await;
    }

    async fn an_active_product_not_on_the_online_store_read_in_bulk_is_an_internal_document(app: TestApp) {
        assert_eq!(app.put_settings(sources(false, false, true, false)).await.0, 200);
        connect(&app, launch_shop()).await;
        let mut ports = app.rig().sync.clone();
        ports.config.bulk_threshold = 1;

        let drained = tests::worker::drain(&ports, &app.rig().queue, tests::worker::INVOCATION, 1000).await;

        assert_eq!(drained.failed, 0, "{drained:?}");
        assert_eq!(app.shopify.bulk_started(), 1, "read with a bulk operation");
        assert_eq!(count(&operations(&app, US), "ProductsPage"), 0);
        assert_launch_documents(&app).await;
    }

    async fn a_product_taken_off_the_online_store_is_rewritten_as_internal_by_an_incremental_run(app: TestApp) {
        assert_eq!(app.put_settings(sources(false, false, true, false)).await.0, 200);
        connect(&app, launch_shop()).await;
        drain(&app).await;
        let rig = app.rig();
        let key = format!("{}products/601.md", prefix(&app, US));
        assert_eq!(sidecar(&rig.object(&format!("{key}.metadata.json")).await.unwrap())["visibility"], "public");
        rig.documents.reset();
        let at = now();
        app.shopify.update_shop(US, |shop| {
            let product = shop.products.iter_mut().find(|p| p.id == 601).unwrap();
            product.published = false;
            product.indexed_published = false;
            product.updated_at = at.clone();
        });

        assert_eq!(request_sync(&app, json!({})).await.0, 202);
        drain(&app).await;

        let written: BTreeSet<String> = rig.documents.written().into_iter().collect();
        assert_eq!(written, keys_of(&app, US, &[("products", 601)]), "only the product taken off is rewritten");
        let meta = sidecar(&rig.object(&format!("{key}.metadata.json")).await.unwrap());
        assert_eq!((meta["visibility"].as_str(), meta["url"].as_str()), (Some("internal"), Some("https://admin.shopify.com/store/demo-us/products/601")));
        assert!(!rig.text(&key).await.contains("demo-us.example/products/"), "its storefront URL is gone");
        let events = rig.events().await;
        let last = events.last().unwrap();
        assert_eq!((last["added"].as_u64(), last["updated"].as_u64(), last["removed"].as_u64()), (Some(0), Some(1), Some(0)), "{events:?}");
        let status = knowledge(&app).await;
        assert_eq!(store(&status, US)["last_run"]["kind"], "incremental");
        assert_eq!(store(&status, US)["sources"]["products"]["documents"], 3);

        // Back on the store: public again, at its storefront URL.
        app.shopify.update_shop(US, |shop| {
            let product = shop.products.iter_mut().find(|p| p.id == 601).unwrap();
            product.published = true;
            product.indexed_published = true;
            product.updated_at = now();
        });
        assert_eq!(request_sync(&app, json!({})).await.0, 202);
        drain(&app).await;
        let meta = sidecar(&rig.object(&format!("{key}.metadata.json")).await.unwrap());
        assert_eq!((meta["visibility"].as_str(), meta["url"].as_str()), (Some("public"), Some("https://demo-us.example/products/trail-runner")));
    }
}

/// The demo store's documents per source after a full sync.
const DEMO_DOCUMENTS: [(&str, u64); 4] = [
    ("pages", 3),
    ("articles", 2),
    ("products", 3),
    ("policies", 3),
];

/// Syncs the demo store in a new app of `backend`, with the `at`-th calls of `only` (every
/// call when `None`) of the index failing once each, and checks that the run ends as if
/// nothing had failed: every document stored, each source's count true, the changes announced.
async fn sync_with_storage_fault(
    backend: tests::app::Backend,
    only: Option<&'static str>,
    at: usize,
) {
    let app = TestApp::with_knowledge(backend).await;
    assert_eq!(
        app.put_settings(sources(true, true, true, true)).await.0,
        200
    );
    connect(&app, demo_shop("demo-us")).await;
    let rig = app.rig();
    let faulty = Arc::new(tests::knowledge::FaultyRepo::new(
        rig.sync.repo.clone(),
        only,
        &[at],
    ));
    let mut ports = rig.sync.clone();
    ports.repo = faulty.clone();
    let drained = tests::worker::drain(&ports, &rig.queue, tests::worker::INVOCATION, 100).await;
    let fired = faulty.fired.load(std::sync::atomic::Ordering::SeqCst);
    let point = format!("{only:?} call {at} (fired {fired})");
    if drained.failed > fired {
        for line in tests::logs::contents()
            .lines()
            .filter(|l| l.contains("\"WARN\"") || l.contains("\"ERROR\""))
        {
            eprintln!("{line}");
        }
    }
    assert!(
        drained.failed <= fired,
        "{point}: only the injected fault fails a delivery: {drained:?}"
    );
    let status = knowledge(&app).await;
    let us = store(&status, US);
    assert_eq!(us["state"], "idle", "{point}: {us}");
    assert_eq!(us["last_run"]["outcome"], "succeeded", "{point}: {us}");
    for (source, documents) in DEMO_DOCUMENTS {
        assert_eq!(
            us["sources"][source]["documents"], documents,
            "{point}: {source} in {us}"
        );
        assert_eq!(
            us["sources"][source]["status"], "synced",
            "{point}: {source} in {us}"
        );
    }
    let keys: BTreeSet<String> = rig.keys(&prefix(&app, US)).await.into_iter().collect();
    assert_eq!(keys, demo_keys(&app, US), "{point}");
    // A put whose answer was lost may come again, with the same id.
    let events = rig.events().await;
    let ids: BTreeSet<&str> = events
        .iter()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 1, "{point}: one announcement: {events:?}");
    assert!(
        events.iter().all(|e| e["added"] == 11),
        "{point}: every document counted once as added: {events:?}"
    );
}

knowledge_backends! {
    async fn counts_stay_true_when_a_storage_call_fails_at_any_point_of_a_run(app: TestApp) {
        // How many index calls a clean run makes.
        assert_eq!(app.put_settings(sources(true, true, true, true)).await.0, 200);
        connect(&app, demo_shop("demo-us")).await;
        let rig = app.rig();
        let counting = Arc::new(tests::knowledge::FaultyRepo::new(rig.sync.repo.clone(), None, &[]));
        let mut ports = rig.sync.clone();
        ports.repo = counting.clone();
        assert_eq!(tests::worker::drain(&ports, &rig.queue, tests::worker::INVOCATION, 100).await.failed, 0);
        let calls = counting.calls();
        assert!(calls > 20, "a run makes many index calls: {calls}");
        // Then a run with each of them failing in turn (every third on moto, which is slower).
        let stride = if app.backend == tests::app::Backend::Memory { 1 } else { 3 };
        for at in (1..=calls).step_by(stride) {
            sync_with_storage_fault(app.backend, None, at).await;
        }
    }

    async fn a_source_whose_count_failed_is_counted_before_the_run_ends(app: TestApp) {
        // The count after each source's last page fails, one source after another.
        for at in 1..=4 {
            sync_with_storage_fault(app.backend, Some("count_entries"), at).await;
        }
        drop(app);
    }

    async fn a_sync_announcement_the_bus_refuses_is_put_again(app: TestApp) {
        assert_eq!(app.put_settings(sources(true, true, true, true)).await.0, 200);
        connect(&app, demo_shop("demo-us")).await;
        let rig = app.rig();
        let bus = Arc::new(tests::knowledge::RefusingFirst::new(rig.sync.events.clone(), 1));
        let mut ports = rig.sync.clone();
        ports.events = bus.clone();
        let drained = tests::worker::drain(&ports, &rig.queue, tests::worker::INVOCATION, 100).await;
        assert_eq!(bus.left(), 0, "the bus refused the first put");
        assert_eq!(drained.failed, 1, "the refused announcement fails its message: {drained:?}");
        let events = rig.events().await;
        assert_eq!(events.len(), 1, "announced once, on the redelivery: {events:?}");
        assert_eq!(events[0]["added"], 11);
        assert!(!events[0]["event_id"].as_str().unwrap_or_default().is_empty(), "{events:?}");
        let status = knowledge(&app).await;
        assert_eq!(store(&status, US)["last_run"]["outcome"], "succeeded");
        let state = rig.ports.repo.state(&org(&app), &ShopDomain::parse(US).unwrap()).await.unwrap().unwrap();
        assert!(state.outbox.is_empty(), "the outbox is empty once the bus took it: {:?}", state.outbox);
    }

    async fn an_announcement_refused_past_its_message_is_put_by_the_schedule(app: TestApp) {
        assert_eq!(app.put_settings(sources(true, false, false, false)).await.0, 200);
        connect(&app, demo_shop("demo-us")).await;
        let rig = app.rig();
        // The bus refuses every put of the message's five receives: the last one leaves it to
        // the schedule rather than to the dead-letter queue.
        let bus = Arc::new(tests::knowledge::RefusingFirst::new(rig.sync.events.clone(), 5));
        let mut ports = rig.sync.clone();
        ports.events = bus.clone();
        let drained = tests::worker::drain(&ports, &rig.queue, tests::worker::INVOCATION, 100).await;
        assert_eq!(drained.failed, 4, "{drained:?}");
        assert_eq!(rig.dead_letters().await, 0, "nothing to redrive: the outbox keeps it");
        assert!(rig.events().await.is_empty());
        let shop = ShopDomain::parse(US).unwrap();
        let state = rig.ports.repo.state(&org(&app), &shop).await.unwrap().unwrap();
        assert_eq!(state.outbox.len(), 1, "kept until the bus takes it");
        assert_eq!(store(&knowledge(&app).await, US)["last_run"]["outcome"], "succeeded");
        // The next schedule puts it.
        let tick = knowledge_sync::handle(&ports, json!({"schedule": "knowledge-sync"}), Deadline::after(Duration::from_secs(20))).await;
        assert_eq!(tick, Ok(json!({"ok": true})));
        let events = rig.events().await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["added"], 3);
        let state = rig.ports.repo.state(&org(&app), &shop).await.unwrap().unwrap();
        assert!(state.outbox.is_empty());
    }

    async fn an_announcement_put_while_the_state_changes_keeps_the_change(app: TestApp) {
        assert_eq!(app.put_settings(sources(true, false, false, false)).await.0, 200);
        connect(&app, demo_shop("demo-us")).await;
        let rig = app.rig();
        let refusing = Arc::new(tests::knowledge::RefusingFirst::new(rig.sync.events.clone(), 5));
        let mut ports = rig.sync.clone();
        ports.events = refusing;
        tests::worker::drain(&ports, &rig.queue, tests::worker::INVOCATION, 100).await;
        let shop = ShopDomain::parse(US).unwrap();
        assert_eq!(rig.ports.repo.state(&org(&app), &shop).await.unwrap().unwrap().outbox.len(), 1);
        // While the schedule puts the waiting announcement, another writer changes the state.
        let repo = rig.ports.repo.clone();
        let (o, s) = (org(&app), shop.clone());
        let hook: tests::knowledge::Hook = Box::new(move || Box::pin(async move {
            let mut state = repo.state(&o, &s).await.unwrap().unwrap();
            state.sources.entry(shared::domain::Source::Pages).or_default().documents = 999;
            let version = state.version;
            state.version += 1;
            repo.put_state(&state, Some(version)).await.unwrap();
        }));
        ports.events = Arc::new(tests::knowledge::HookedEvents::new(rig.sync.events.clone(), hook));
        let tick = knowledge_sync::handle(&ports, json!({"schedule": "knowledge-sync"}), Deadline::after(Duration::from_secs(20))).await;
        assert_eq!(tick, Ok(json!({"ok": true})));
        let state = rig.ports.repo.state(&org(&app), &shop).await.unwrap().unwrap();
        assert!(state.outbox.is_empty(), "{:?}", state.outbox);
        assert_eq!(state.sources[&shared::domain::Source::Pages].documents, 999, "the other writer's change stays");
        assert_eq!(rig.events().await.len(), 1);
    }

    async fn a_disconnect_whose_last_write_failed_is_still_announced(app: TestApp) {
        synced_demo(&app).await;
        let rig = app.rig();
        assert_eq!(app.disconnect(US).await.0, 204);
        // The removal deletes every document, then its save fails (and its second try); the
        // redelivery finds nothing left to delete.
        let faulty = Arc::new(tests::knowledge::FaultyRepo::new(rig.sync.repo.clone(), Some("put_state"), &[2, 3]));
        let mut ports = rig.sync.clone();
        ports.repo = faulty.clone();
        let drained = tests::worker::drain(&ports, &rig.queue, tests::worker::INVOCATION, 1).await;
        assert_eq!(faulty.fired.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(drained.failed, 1, "{drained:?}");
        assert!(rig.keys(&prefix(&app, US)).await.is_empty(), "documents gone");
        assert!(rig.events().await.len() == 1, "not announced yet");
        // The message comes back after its visibility timeout, when the lease is over (moved
        // into the past here instead of waiting).
        let shop = ShopDomain::parse(US).unwrap();
        let mut state = rig.ports.repo.state(&org(&app), &shop).await.unwrap().unwrap();
        state.lease_until = Some(chrono::Utc::now() - chrono::Duration::seconds(1));
        let version = state.version;
        state.version += 1;
        rig.ports.repo.put_state(&state, Some(version)).await.unwrap();
        let drained = tests::worker::drain(&ports, &rig.queue, tests::worker::INVOCATION, 100).await;
        assert_eq!(drained.failed, 0, "{drained:?}");
        let events = rig.events().await;
        assert_eq!(events.len(), 2, "the removal is announced all the same: {events:?}");
        assert_eq!(events[1]["removed"], 11, "{events:?}");
        assert!(rig.ports.repo.state(&org(&app), &shop).await.unwrap().is_none(), "sync state gone");
    }

    async fn a_source_every_delivery_dies_in_fails_alone_on_the_last_receive(app: TestApp) {
        assert_eq!(app.put_settings(sources(true, true, false, true)).await.0, 200);
        connect(&app, demo_shop("demo-us")).await;
        let rig = app.rig();
        let shop = ShopDomain::parse(US).unwrap();
        let state = rig.ports.repo.state(&org(&app), &shop).await.unwrap().unwrap();
        let job = Job::Run { org_id: org(&app), shop_domain: shop.clone(), ticket: state.requested.unwrap().run_id };
        // Every invocation dies as soon as it writes an article (as one killed by Lambda for
        // time or memory would): four receives in a row.
        let parking = Arc::new(tests::knowledge::FaultyDocuments::parking_keys(rig.sync.documents.clone(), "/articles/"));
        let mut ports = rig.sync.clone();
        ports.documents = parking.clone();
        for receives in 1..shared::queue::MAX_RECEIVES {
            let before = parking.parked();
            let worker = tokio::spawn({
                let (ports, job) = (ports.clone(), job.clone());
                async move { shared::knowledge::sync::handle(&ports, job, Deadline::after(tests::worker::INVOCATION), receives).await }
            });
            while parking.parked() == before {
                assert!(!worker.is_finished(), "the delivery dies in the articles");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            worker.abort();
            let _ = worker.await;
            // The message comes back after its visibility timeout, when the lease is over.
            let mut state = rig.ports.repo.state(&org(&app), &shop).await.unwrap().unwrap();
            assert_eq!(state.phase, Phase::Running);
            state.lease_until = Some(chrono::Utc::now() - chrono::Duration::seconds(1));
            let version = state.version;
            state.version += 1;
            rig.ports.repo.put_state(&state, Some(version)).await.unwrap();
        }
        // The last receive: the articles fail alone, the policies still sync.
        let last = shared::knowledge::sync::handle(&ports, job, Deadline::after(tests::worker::INVOCATION), shared::queue::MAX_RECEIVES).await;
        assert!(last.is_ok(), "{last:?}");
        let status = knowledge(&app).await;
        let us = store(&status, US);
        assert_eq!(us["state"], "failed", "{us}");
        assert_eq!(us["sources"]["articles"]["status"], "failed", "{us}");
        assert!(us["sources"]["articles"]["error"]["message"].as_str().unwrap().contains("on every try"), "{us}");
        assert_eq!((us["sources"]["pages"]["status"].as_str(), us["sources"]["pages"]["documents"].as_u64()), (Some("synced"), Some(3)), "{us}");
        assert_eq!((us["sources"]["policies"]["status"].as_str(), us["sources"]["policies"]["documents"].as_u64()), (Some("synced"), Some(3)), "{us}");
    }

    async fn documents_written_in_an_older_format_are_rewritten_by_the_next_run(app: TestApp) {
        assert_eq!(app.put_settings(sources(false, false, true, false)).await.0, 200);
        connect(&app, demo_shop("demo-us")).await;
        drain(&app).await;
        let rig = app.rig();
        let shop = ShopDomain::parse(US).unwrap();
        // As an earlier version left it: its documents in an older format, and a product
        // since taken off the online store without its updatedAt moving.
        let mut state = rig.ports.repo.state(&org(&app), &shop).await.unwrap().unwrap();
        state.sources.get_mut(&shared::domain::Source::Products).unwrap().format = 1;
        let version = state.version;
        state.version += 1;
        rig.ports.repo.put_state(&state, Some(version)).await.unwrap();
        app.shopify.update_shop(US, |shop| {
            shop.products.iter_mut().find(|p| p.id == 501).unwrap().published = false;
        });
        assert_eq!(request_sync(&app, json!({})).await.0, 202);
        drain(&app).await;
        let status = knowledge(&app).await;
        assert_eq!(store(&status, US)["last_run"]["kind"], "full", "an older format makes the run full");
        let sidecar = rig.text(&format!("{}/{US}/products/501.md.metadata.json", app.org)).await;
        assert!(sidecar.contains("\"visibility\":\"internal\""), "{sidecar}");
        // Written in the current format: the next run is incremental again.
        assert_eq!(request_sync(&app, json!({})).await.0, 202);
        drain(&app).await;
        assert_eq!(store(&knowledge(&app).await, US)["last_run"]["kind"], "incremental");
    }

    async fn a_disconnect_is_announced_before_its_sync_state_goes(app: TestApp) {
        synced_demo(&app).await;
        let rig = app.rig();
        assert_eq!(rig.events().await.len(), 1);
        assert_eq!(app.disconnect(US).await.0, 204);
        let bus = Arc::new(tests::knowledge::RefusingFirst::new(rig.sync.events.clone(), 1));
        let mut ports = rig.sync.clone();
        ports.events = bus.clone();
        let shop = ShopDomain::parse(US).unwrap();
        // The first removal delivery: documents gone, the bus refuses, the state stays with
        // the announcement in its outbox.
        let drained = tests::worker::drain(&ports, &rig.queue, tests::worker::INVOCATION, 1).await;
        assert_eq!((drained.delivered, drained.failed), (1, 1), "{drained:?}");
        assert!(rig.keys(&prefix(&app, US)).await.is_empty(), "documents gone");
        let state = rig.ports.repo.state(&org(&app), &shop).await.unwrap();
        let outbox = state.map(|s| s.outbox).unwrap_or_default();
        assert_eq!(outbox.len(), 1, "the removal waits in the outbox");
        assert_eq!(outbox[0].removed, 11);
        // The redelivery announces it, then the state goes.
        let drained = tests::worker::drain(&ports, &rig.queue, tests::worker::INVOCATION, 100).await;
        assert_eq!(drained.failed, 0, "{drained:?}");
        let events = rig.events().await;
        assert_eq!(events.len(), 2, "the removal is announced: {events:?}");
        assert_eq!((events[1]["removed"].as_u64(), events[1]["added"].as_u64()), (Some(11), Some(0)));
        assert!(rig.ports.repo.state(&org(&app), &shop).await.unwrap().is_none(), "sync state gone");
    }

    async fn a_source_that_fails_on_its_own_does_not_stop_the_others(app: TestApp) {
        assert_eq!(app.put_settings(sources(true, true, true, true)).await.0, 200);
        connect(&app, demo_shop("demo-us")).await;
        // Every articles query fails with an error Shopify keeps giving (an internal error).
        app.shopify.update_shop(US, |shop| shop.fail_operation("ArticlesPage", Fault::GraphQlError("BAD_REQUEST")));
        let drained = app.rig().drain().await;
        assert_eq!(drained.failed, 0, "{drained:?}");
        let status = knowledge(&app).await;
        let us = store(&status, US);
        assert_eq!(us["sources"]["articles"]["status"], "failed", "{us}");
        assert_eq!(us["sources"]["articles"]["documents"], 0, "{us}");
        for (source, documents) in [("pages", 3), ("products", 3), ("policies", 3)] {
            assert_eq!(us["sources"][source]["status"], "synced", "{source}: {us}");
            assert_eq!(us["sources"][source]["documents"], documents, "{source}: {us}");
        }
        assert_eq!(us["last_run"]["outcome"], "failed", "{us}");
        assert_eq!(us["state"], "failed", "{us}");
        assert_eq!(app.rig().keys(&format!("{}/{US}/policies/", app.org)).await.len(), 6, "policies synced after the failed source");
        let events = app.rig().events().await;
        assert_eq!(events.len(), 1, "what synced is announced: {events:?}");
        assert_eq!(events[0]["added"], 9);
    }

    async fn a_source_that_keeps_timing_out_fails_alone_after_its_receives(app: TestApp) {
        assert_eq!(app.put_settings(sources(true, true, false, true)).await.0, 200);
        connect(&app, demo_shop("demo-us")).await;
        // Shopify answers every pages query with a 503: transient, so the message comes back,
        // and after its last receive the source fails and the others go on.
        app.shopify.update_shop(US, |shop| shop.fail_operation("PagesPage", Fault::status(503)));
        let drained = app.rig().drain().await;
        assert_eq!(drained.failed as u32, shared::queue::MAX_RECEIVES - 1, "{drained:?}");
        let status = knowledge(&app).await;
        let us = store(&status, US);
        assert_eq!(us["sources"]["pages"]["status"], "failed", "{us}");
        assert_eq!(us["sources"]["pages"]["error"]["code"], "shopify_unavailable", "{us}");
        assert_eq!(us["sources"]["articles"]["documents"], 2, "{us}");
        assert_eq!(us["sources"]["policies"]["documents"], 3, "{us}");
    }
}

/// A page whose HTML is hostile: 9,000 nested `<div>`, 8,000 unclosed `<b>` (a Word paste)
/// and 1,800 nested tables, each of which overflowed an 8 MiB stack when converted.
fn hostile_html() -> String {
    format!(
        "<p>Deep answer</p>{}<p>deepest</p>{}Returns accepted{}inside",
        "<div>".repeat(9_000),
        "<b>".repeat(8_000),
        "<table><tr><td>".repeat(1_800)
    )
}

/// A page over the size converted.
fn oversized_html() -> String {
    format!(
        "<p>{}</p>",
        "long ".repeat(shared::knowledge::document::MAX_HTML_BYTES / 5 + 1)
    )
}

knowledge_backends! {
    async fn hostile_html_never_stops_a_run_and_an_oversized_item_alone_is_skipped(app: TestApp) {
        // The worker runs here on a tokio test thread (2 MiB of stack), a quarter of Lambda's.
        assert_eq!(app.put_settings(sources(true, false, false, true)).await.0, 200);
        connect(
            &app,
            demo_shop("demo-us")
                .with_page(tests::fake_shopify::FakePage::new(104, "Deep", &hostile_html()))
                .with_page(tests::fake_shopify::FakePage::new(105, "Huge", &oversized_html())),
        )
        .await;
        drain(&app).await;

        let pages = format!("{}/{US}/pages/", app.org);
        let keys: BTreeSet<String> = app.rig().keys(&pages).await.into_iter().collect();
        assert_eq!(
            keys,
            keys_of(&app, US, &[("pages", 101), ("pages", 102), ("pages", 103), ("pages", 104)]),
            "every page but the oversized one has a document"
        );
        let deep = String::from_utf8(app.rig().object(&format!("{pages}104.md")).await.unwrap()).unwrap();
        assert!(deep.starts_with("# Deep\n\nSource: https://demo-us.example/pages/deep\n\n"), "{deep}");
        for kept in ["Deep answer", "deepest", "Returns accepted", "inside"] {
            assert!(deep.contains(kept), "{kept} missing from the hostile page's document");
        }
        assert!(!deep.contains('<'), "no HTML left in the document");

        let status = knowledge(&app).await;
        let us = store(&status, US);
        assert_eq!(us["state"], "idle", "{us}");
        assert_eq!(us["last_run"]["outcome"], "succeeded", "{us}");
        assert_eq!(us["sources"]["pages"]["status"], "synced", "{us}");
        assert_eq!(us["sources"]["pages"]["documents"], 4, "{us}");
        assert_eq!(us["sources"]["pages"]["skipped"], 1, "the oversized page is reported: {us}");
        assert_eq!(us["sources"]["policies"]["documents"], 3, "the next source synced: {us}");
        assert!(us["sources"]["policies"].get("skipped").is_none(), "no skipped count when none: {us}");

        // The merchant shortens the huge page and pastes a huge one over "About us": the next
        // run writes the one, and the other's stale document goes.
        let at = now();
        app.shopify.update_shop(US, |shop| {
            let huge = shop.pages.iter_mut().find(|p| p.id == 105).unwrap();
            huge.body = "<p>Now short.</p>".into();
            huge.updated_at = at.clone();
            let about = shop.pages.iter_mut().find(|p| p.id == 101).unwrap();
            about.body = oversized_html();
            about.updated_at = at.clone();
        });
        assert_eq!(request_sync(&app, json!({})).await.0, 202);
        drain(&app).await;
        let keys: BTreeSet<String> = app.rig().keys(&pages).await.into_iter().collect();
        assert_eq!(
            keys,
            keys_of(&app, US, &[("pages", 102), ("pages", 103), ("pages", 104), ("pages", 105)])
        );
        let status = knowledge(&app).await;
        let us = store(&status, US);
        assert_eq!(us["last_run"]["kind"], "incremental", "{us}");
        assert_eq!(us["sources"]["pages"]["documents"], 4, "{us}");
        assert_eq!(us["sources"]["pages"]["skipped"], 1, "{us}");

        // Fixed: nothing is skipped, and the count leaves the status.
        let at = now();
        app.shopify.update_shop(US, |shop| {
            let about = shop.pages.iter_mut().find(|p| p.id == 101).unwrap();
            about.body = "<p>Outdoor gear since 2010.</p>".into();
            about.updated_at = at.clone();
        });
        assert_eq!(request_sync(&app, json!({})).await.0, 202);
        drain(&app).await;
        let status = knowledge(&app).await;
        let us = store(&status, US);
        assert_eq!(us["sources"]["pages"]["documents"], 5, "{us}");
        assert!(us["sources"]["pages"].get("skipped").is_none(), "{us}");
    }
}

/// A document store whose deletions each take `pause` (S3 under load).
struct SlowDeletes {
    inner: Arc<dyn shared::knowledge::ports::DocumentStore>,
    pause: Duration,
}

#[async_trait::async_trait]
impl shared::knowledge::ports::DocumentStore for SlowDeletes {
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), shared::knowledge::ports::BlobError> {
        self.inner.put(key, body, content_type).await
    }
    async fn delete(&self, keys: &[String]) -> Result<(), shared::knowledge::ports::BlobError> {
        tokio::time::sleep(self.pause).await;
        self.inner.delete(keys).await
    }
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<(Vec<String>, bool), shared::knowledge::ports::BlobError> {
        self.inner.list(prefix, start_after).await
    }
}

/// Timed by sleeps that only lengthen the work (each 500 removals take at least 2.5 s of a
/// message's 2 s before its step reserve), so one tier is enough: what it proves is the
/// merge's own stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_over_many_deleted_items_goes_on_in_the_next_message_instead_of_running_out_of_time(
) {
    let app = TestApp::with_knowledge(tests::app::Backend::Memory).await;
    assert_eq!(
        app.put_settings(sources(false, false, true, false)).await.0,
        200
    );
    connect(&app, demo_shop("demo-us")).await;
    drain(&app).await;
    let rig = app.rig();
    // 3,000 products deleted at Shopify since: their entries sit past the live products' ids.
    let shop = ShopDomain::parse(US).unwrap();
    let mut ports = rig.sync.clone();
    ports.documents = Arc::new(SlowDeletes {
        inner: rig.sync.documents.clone(),
        pause: Duration::from_millis(40),
    });
    let invocation = shared::knowledge::sync::STEP_RESERVE + Duration::from_secs(2);

    // A full run merges the listing with the index (read page by page, or in bulk); an
    // incremental one merges the ids.
    let runs = [
        (json!({"full": true}), "full", false),
        (json!({}), "incremental", false),
        (json!({"full": true}), "full", true),
    ];
    for (run, kind, bulk) in runs {
        let mut ports = ports.clone();
        if bulk {
            ports.config.bulk_threshold = 1;
        }
        let (bulk_started, pages_read) = (
            app.shopify.bulk_started(),
            count(&operations(&app, US), "ProductsPage"),
        );
        seed_deleted_products(&app, 10_000..13_000).await;
        assert_eq!(request_sync(&app, run).await.0, 202);

        let drained = tests::worker::drain(&ports, &rig.queue, invocation, 100).await;

        assert_eq!(
            drained.failed, 0,
            "{kind}: every message ends in time: {drained:?}"
        );
        assert!(
            drained.delivered >= 4,
            "{kind}: the merge went on over several messages: {drained:?}"
        );
        let left = rig
            .ports
            .repo
            .entries(
                &org(&app),
                &shop,
                shared::domain::Source::Products,
                None,
                None,
                1000,
            )
            .await
            .unwrap();
        assert_eq!(
            left.iter().map(|e| e.id).collect::<Vec<_>>(),
            [501, 502, 505],
            "{kind}"
        );
        let us = store(&knowledge(&app).await, US).clone();
        assert_eq!(
            (
                us["last_run"]["kind"].as_str(),
                us["last_run"]["outcome"].as_str()
            ),
            (Some(kind), Some("succeeded")),
            "{us}"
        );
        assert_eq!(us["sources"]["products"]["documents"], 3, "{us}");
        assert_eq!(
            app.shopify.bulk_started() - bulk_started,
            u64::from(bulk),
            "{kind}: read in bulk: {bulk}"
        );
        if bulk {
            assert_eq!(
                count(&operations(&app, US), "ProductsPage"),
                pages_read,
                "the batch merged in parts is read again from the bulk result, not page by page"
            );
        }
    }
}

/// Seeds product entries `ids` (deleted at Shopify since) like the store's first one.
async fn seed_deleted_products(app: &TestApp, ids: std::ops::Range<u64>) {
    let rig = app.rig();
    let (org, shop) = (org(app), ShopDomain::parse(US).unwrap());
    let products = shared::domain::Source::Products;
    let template = rig
        .ports
        .repo
        .entries(&org, &shop, products, None, None, 1)
        .await
        .unwrap();
    for id in ids {
        let entry = shared::knowledge::state::IndexEntry {
            id,
            shopify_id: format!("gid://shopify/Product/{id}"),
            key: format!("{}products/{id}.md", prefix(app, US)),
            ..template[0].clone()
        };
        rig.ports.repo.put_entry(&entry).await.unwrap();
    }
}

/// A full run read in bulk: a batch of the result whose range holds many entries to remove is
/// merged over several messages, and so is the end of a result that holds no product at all
/// (as above, timed by sleeps that only lengthen the work).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_read_over_many_deleted_items_goes_on_in_the_next_message() {
    for archived in [false, true] {
        let app = TestApp::with_knowledge(tests::app::Backend::Memory).await;
        assert_eq!(
            app.put_settings(sources(false, false, true, false)).await.0,
            200
        );
        // 64 products: a first batch of 50 (ids 501 to 8,000,000,046, one of them too large
        // to render), then 14 more.
        let mut huge = FakeProduct::active("Huge", "1.00").with_id(506);
        huge.description = oversized_html();
        connect(
            &app,
            demo_shop("demo-us").with_product(huge).with_catalog(60),
        )
        .await;
        drain(&app).await;
        // Inside the first batch's range.
        seed_deleted_products(&app, 10_000..13_000).await;
        let rig = app.rig();
        let mut ports = rig.sync.clone();
        ports.documents = Arc::new(SlowDeletes {
            inner: rig.sync.documents.clone(),
            pause: Duration::from_millis(40),
        });
        ports.config.bulk_threshold = 1;
        let invocation = shared::knowledge::sync::STEP_RESERVE + Duration::from_secs(2);
        assert_eq!(request_sync(&app, json!({"full": true})).await.0, 202);
        let pages_read = count(&operations(&app, US), "ProductsPage");

        // The first message counts the products and starts the bulk read; then, in the second
        // case, every product is archived and the operation completes without a result file.
        let first = tests::worker::drain(&ports, &rig.queue, invocation, 1).await;
        assert_eq!((first.delivered, first.failed), (1, 0));
        assert_eq!(app.shopify.bulk_started(), 1);
        if archived {
            app.shopify.update_shop(US, |shop| {
                for product in &mut shop.products {
                    product.status = "ARCHIVED".into();
                }
            });
        }
        let drained = tests::worker::drain(&ports, &rig.queue, invocation, 100).await;

        assert_eq!(
            drained.failed, 0,
            "archived {archived}: every message ends in time: {drained:?}"
        );
        assert!(
            drained.delivered >= 4,
            "archived {archived}: the merge went on over several messages: {drained:?}"
        );
        assert_eq!(
            count(&operations(&app, US), "ProductsPage"),
            pages_read,
            "archived {archived}: the batch merged in parts is read again from the result"
        );
        let (org, shop) = (org(&app), ShopDomain::parse(US).unwrap());
        let left = rig
            .ports
            .repo
            .entries(
                &org,
                &shop,
                shared::domain::Source::Products,
                None,
                None,
                1000,
            )
            .await
            .unwrap();
        let expected = if archived { 0 } else { 63 };
        assert_eq!(left.len(), expected, "archived {archived}");
        assert!(left.iter().all(|e| !(10_000..13_000).contains(&e.id)));
        let us = store(&knowledge(&app).await, US).clone();
        assert_eq!(us["last_run"]["outcome"], "succeeded", "{us}");
        assert_eq!(us["sources"]["products"]["documents"], expected, "{us}");
        // The batch read again counts its product that cannot be rendered once.
        let skipped = us["sources"]["products"].get("skipped").cloned();
        assert_eq!(skipped, (!archived).then(|| json!(1)), "{us}");
    }
}
