//! A full products sync of a mixed catalog, read page by page: the documents it writes, byte for
//! byte, against the ones recorded in `golden/mixed_catalog.json`; and the points it and a
//! catalog of two-variant products cost a document.
//!
//! The recording was made with the product read that fetched every product with its prices and
//! first 20 variants in one query; any later way of reading the catalog must write the same
//! bytes. `UPDATE_GOLDEN=1 cargo test -p tests --test knowledge_catalog` records it again from
//! the code under test (for a deliberate change of the documents, never to make this pass).

mod common;

use std::collections::BTreeMap;

use serde_json::json;
use tests::app::TestApp;
use tests::catalog::{mixed_catalog, ACTIVE, TOKEN};
use tests::fake_shopify::FakeShop;

const SHOP: &str = "catalog.myshopify.com";

/// Every document and sidecar the sync wrote, by key below the store's prefix, the org's id
/// taken out.
async fn documents(app: &TestApp) -> BTreeMap<String, String> {
    let prefix = format!("{}/{SHOP}/", app.org);
    app.rig()
        .snapshot(&prefix)
        .await
        .into_iter()
        .map(|(key, bytes)| {
            let text = String::from_utf8(bytes).expect("documents are UTF-8");
            (
                key[prefix.len()..].to_owned(),
                text.replace(app.org.as_str(), "{org}"),
            )
        })
        .collect()
}

fn golden_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/mixed_catalog.json")
}

/// Turns the products source on (alone) and connects `shop`, which queues its first sync.
async fn connect(app: &TestApp, shop: FakeShop) {
    let settings = json!({"actions": {"get_order_details": true, "search_products": true, "get_shop_details": true},
        "require_email_match": false,
        "knowledge": {"pages": false, "articles": false, "products": true, "policies": false}});
    assert_eq!(app.put_settings(settings).await.0, 200);
    app.shopify.add_shop(shop);
    let (status, body) = app
        .connect(json!({"shop_domain": SHOP, "access_token": TOKEN}))
        .await;
    assert_eq!(status, 201, "{body}");
}

/// Syncs `shop` (products only) from its connect to its last document; answers what was
/// written and the Shopify points the sync spent (the connect's validation aside).
async fn full_sync(app: &TestApp, shop: FakeShop) -> (BTreeMap<String, String>, f64) {
    connect(app, shop).await;
    let drained = app.rig().drain().await;
    assert_eq!(drained.failed, 0, "{drained:?}");
    let points = app
        .shopify
        .spent()
        .into_iter()
        .filter(|(shop, operation, _, _)| shop == SHOP && operation != "ValidateCredentials")
        .map(|(_, _, _, actual)| actual)
        .sum();
    (documents(app).await, points)
}

/// The recording.
fn golden() -> BTreeMap<String, String> {
    serde_json::from_str(&std::fs::read_to_string(golden_path()).expect("the recording")).unwrap()
}

/// The recording, or (with `UPDATE_GOLDEN`) `written` recorded as it.
fn recorded(written: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let text = serde_json::to_string_pretty(written).unwrap();
        std::fs::create_dir_all(golden_path().parent().unwrap()).unwrap();
        std::fs::write(golden_path(), text + "\n").unwrap();
    }
    golden()
}

fn assert_as_recorded(written: &BTreeMap<String, String>) {
    let recorded = recorded(written);
    assert_eq!(
        written.len(),
        2 * ACTIVE,
        "a document and a sidecar per active product"
    );
    let keys = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(written), keys(&recorded), "the same documents");
    for (key, text) in &recorded {
        assert_eq!(&written[key], text, "{key} differs from its recording");
    }
}

/// Names of the operations the fake Shopify received for the catalog.
fn operations(app: &TestApp) -> Vec<String> {
    app.shopify
        .received()
        .into_iter()
        .filter(|r| r.shop == SHOP)
        .filter_map(|r| r.operation)
        .collect()
}

/// Requests and actual points the fake Shopify charged the catalog, by operation.
fn points_by_operation(app: &TestApp) -> BTreeMap<String, (usize, f64)> {
    let mut by = BTreeMap::new();
    for (shop, operation, _, actual) in app.shopify.spent() {
        if shop == SHOP && operation != "ValidateCredentials" {
            let entry: &mut (usize, f64) = by.entry(operation).or_default();
            entry.0 += 1;
            entry.1 += actual;
        }
    }
    by
}

fn count(operations: &[String], name: &str) -> usize {
    operations.iter().filter(|o| *o == name).count()
}

/// One delivery of the knowledge queue.
async fn deliver_once(app: &TestApp) -> tests::worker::Drained {
    let rig = app.rig();
    tests::worker::drain(&rig.sync, &rig.queue, tests::worker::INVOCATION, 1).await
}

knowledge_backends! {
    async fn a_catalog_of_two_variant_products_read_page_by_page_costs_little_beyond_its_three_objects_each(app: TestApp) {
        // As the bench's 500 products: a document is three objects (the product and its two
        // variants), 3 points, and shares each request's own 2 with the others of its page.
        let shop = FakeShop::new(tests::catalog::HANDLE).with_token(TOKEN).with_catalog(500)
            .with_bucket(1_000_000.0, 100_000.0);

        let (written, points) = full_sync(&app, shop).await;

        assert_eq!(written.len(), 2 * 500, "a document and a sidecar per product");
        let per_operation = points_by_operation(&app);
        let per_document = points / 500.0;
        assert!(per_document <= 3.065, "{points} points for 500 documents: {per_document:.3} each (3.09 at 50 a page); {per_operation:?}");
        let operations = operations(&app);
        assert_eq!(count(&operations, "ProductsPage"), 7, "74 products a page: {per_operation:?}");
        assert_eq!(count(&operations, "VariantsByProduct"), 7, "a page's 148 variants in one request: {per_operation:?}");
    }

    async fn a_mixed_catalog_read_page_by_page_writes_the_recorded_documents_at_3_points_each_at_most(app: TestApp) {
        let (written, points) = full_sync(&app, mixed_catalog()).await;

        assert_as_recorded(&written);
        let per_document = points / ACTIVE as f64;
        assert!(per_document <= 3.0, "{points} points for {ACTIVE} documents: {per_document:.2} each");
        let operations = operations(&app);
        assert_eq!(count(&operations, "ProductsPage"), 2, "127 active products, 74 a page: {operations:?}");
        assert_eq!(count(&operations, "VariantsWithProduct"), 1, "the two gift cards of the first page share a title: {operations:?}");
        assert_eq!(count(&operations, "ManyVariantProducts"), 1, "the 25 socks are more than a document lists: {operations:?}");
    }

    async fn variants_whose_display_names_name_no_product_are_read_again_by_product_id(app: TestApp) {
        let mut shop = mixed_catalog();
        shop.bare_display_names = true;

        let (written, points) = full_sync(&app, shop).await;

        assert_as_recorded(&written);
        let operations = operations(&app);
        assert_eq!(count(&operations, "VariantsByProduct"), 2, "one request a page, its answer set aside: {operations:?}");
        assert!(count(&operations, "VariantsWithProduct") >= 2, "every page's variants read by product id: {operations:?}");
        assert!(points / ACTIVE as f64 > 3.0, "reading them twice costs more: {points}");
    }

    async fn variants_the_search_has_not_seen_yet_are_read_from_their_product(app: TestApp) {
        // Just added: the search finds a trail shoe's first variants, not its last, and a
        // one-variant item's only variant not at all.
        let mut shop = mixed_catalog();
        for (id, unseen) in [(9_300, 1), (9_100, 1)] {
            shop.products.iter_mut().find(|p| p.id == id).unwrap().unindexed_variants = unseen;
        }

        let (written, _) = full_sync(&app, shop).await;

        assert_as_recorded(&written);
        let operations = operations(&app);
        assert_eq!(count(&operations, "ManyVariantProducts"), 2, "the first page's socks and item, the second page's shoe, from the products themselves: {operations:?}");
    }

    async fn a_page_whose_variants_cannot_be_read_writes_none_of_its_documents_until_they_can(app: TestApp) {
        // The second page's first trail shoe: reading its variants fails, however often asked.
        let mut shop = mixed_catalog();
        shop.unreadable_variants = vec![9_300];
        connect(&app, shop).await;

        let first = deliver_once(&app).await;

        assert_eq!(first.failed, 1, "the delivery fails, to come back: {first:?}");
        let written = documents(&app).await;
        let golden = golden();
        assert_eq!(written.len(), 2 * 74, "the page before it, nothing of the second");
        for (key, text) in &written {
            assert_eq!(Some(text), golden.get(key), "{key} is as recorded");
        }

        app.shopify.update_shop(SHOP, |shop| shop.unreadable_variants.clear());
        let drained = app.rig().drain().await;

        assert_eq!(drained.failed, 0, "{drained:?}");
        assert_as_recorded(&documents(&app).await);
    }

    async fn an_incremental_run_whose_variants_cannot_be_read_keeps_the_document_until_they_can(app: TestApp) {
        let (written, _) = full_sync(&app, mixed_catalog()).await;
        assert_as_recorded(&written);
        // The socks' last variant costs more now (beyond the 20 listed, it sets the price
        // range); then reading their variants fails, however often asked.
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        app.shopify.update_shop(SHOP, |shop| {
            let socks = shop.products.iter_mut().find(|p| p.id == 9_054).unwrap();
            socks.variants[24].2 = "14.00".into();
            socks.updated_at = at.clone();
            shop.unreadable_variants = vec![9_054];
        });
        let (status, _) = app
            .send(app.as_admin("POST", "/shopify/knowledge/sync").json(&json!({})))
            .await;
        assert_eq!(status, 202);

        let first = deliver_once(&app).await;

        assert_eq!(first.failed, 1, "the delivery fails, to come back: {first:?}");
        assert_as_recorded(&documents(&app).await);

        app.shopify.update_shop(SHOP, |shop| shop.unreadable_variants.clear());
        let drained = app.rig().drain().await;

        assert_eq!(drained.failed, 0, "{drained:?}");
        let after = documents(&app).await;
        assert!(after["products/9054.md"].contains("Price: 3.0–14.0 USD"), "{}", after["products/9054.md"]);
        for (key, text) in golden().iter().filter(|(key, _)| !key.starts_with("products/9054.")) {
            assert_eq!(&after[key], text, "{key} untouched");
        }
    }
}
