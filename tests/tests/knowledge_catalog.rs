//! A full products sync of a mixed catalog, read page by page: the documents it writes, byte for
//! byte, against the ones recorded in `golden/mixed_catalog.json`.
//!
//! The recording was made with the product read that fetched every product with its prices and
//! first 20 variants in one query; any later way of reading the catalog must write the same
//! bytes. `UPDATE_GOLDEN=1 cargo test -p tests --test knowledge_catalog` records it again from
//! the code under test (for a deliberate change of the documents, never to make this pass).

mod common;

use std::collections::BTreeMap;

use serde_json::json;
use tests::app::TestApp;
use tests::fake_shopify::{FakeProduct, FakeShop};

const TOKEN: &str = "shpat_catalog_0000000000000000000000000";
const SHOP: &str = "catalog.myshopify.com";

type Variant = (String, String, String, bool);

fn variant(title: &str, sku: &str, price: &str, available: bool) -> Variant {
    (title.into(), sku.into(), price.into(), available)
}

fn product(id: u64, title: &str, variants: Vec<Variant>) -> FakeProduct {
    let mut product = FakeProduct::active(title, "1.00").with_id(id);
    product.variants = variants;
    product
}

/// 129 products over three pages of any size the sync may read: 96 with one variant (some sold
/// out, some not on the online store), 24 with two to five, one with 25 (more than a document
/// lists), products sharing a title, titles and variant titles holding ` - ` and `|`, a variant
/// without a SKU, a draft and an archived product (no document), in no particular id order.
fn mixed_catalog() -> FakeShop {
    let prices = ["19.00", "5.50", "1000.00", "0.99", "12.10", "249.95"];
    let mut products = Vec::new();
    for i in 0..96u64 {
        let mut one = FakeProduct::active(&format!("Everyday item {i:03}"), prices[i as usize % 6])
            .with_id(9_100 + i * 7 % 97);
        one.tags = vec![format!("batch-{}", i % 4)];
        one.description = format!("<p>Item <b>{i}</b> of the everyday range.</p>");
        if i.is_multiple_of(9) {
            one = one.sold_out();
        }
        if i.is_multiple_of(13) {
            one = one.unpublished();
        }
        products.push(one);
    }
    let sizes = ["38", "40", "42", "44", "46"];
    for i in 0..24u64 {
        let count = 2 + (i as usize % 4);
        let variants = sizes[..count]
            .iter()
            .enumerate()
            .map(|(n, size)| {
                let sku = if i == 5 && n == 1 {
                    String::new()
                } else {
                    format!("TR-{i}-{size}")
                };
                let price = format!("{}.{:02}", 80 + n * 5, (i * 5) % 100);
                (
                    format!("{size} | Blue"),
                    sku,
                    price,
                    !(i + n as u64).is_multiple_of(3),
                )
            })
            .collect();
        let mut many = product(
            9_300 + (i * 11) % 29,
            &format!("Trail shoe {i:02}"),
            variants,
        );
        many.vendor = "Summit Works".into();
        many.product_type = if i.is_multiple_of(2) {
            "Shoes".into()
        } else {
            String::new()
        };
        products.push(many);
    }
    products.push(product(
        9_050,
        "Gift card",
        vec![variant("Default Title", "GIFT-25", "25.00", true)],
    ));
    products.push(product(
        9_057,
        "Gift card",
        vec![variant("Default Title", "GIFT-50", "50.00", true)],
    ));
    products.push(product(
        9_051,
        "Camp chair",
        vec![
            variant("Green", "CC-G", "45.00", true),
            variant("Red", "CC-R", "47.50", false),
        ],
    ));
    products.push(product(
        9_261,
        "Camp chair",
        vec![
            variant("Green", "CC2-G", "65.00", true),
            variant("Grey", "CC2-Y", "65.00", true),
        ],
    ));
    products.push(product(
        9_052,
        "Tee - Blue",
        vec![
            variant("S", "TB-S", "15.00", true),
            variant("M", "TB-M", "15.00", true),
        ],
    ));
    products.push(product(
        9_053,
        "Tee",
        vec![
            variant("Blue - S", "T-BS", "14.00", true),
            variant("Blue - M", "T-BM", "14.50", true),
        ],
    ));
    // Its dearest variant is the last one, beyond the 20 a document lists.
    let socks = (0..25u32)
        .map(|n| {
            let price = if n == 24 {
                "12.00".to_owned()
            } else {
                format!("{}.{}0", 3 + n % 5, n % 10)
            };
            variant(
                &format!("Pattern {n:02}"),
                &format!("SOCK-{n:02}"),
                &price,
                !n.is_multiple_of(4),
            )
        })
        .collect();
    products.push(product(9_054, "Sock assortment", socks));
    products.push(FakeProduct::draft("Prototype", "99.00").with_id(9_055));
    let mut archived = FakeProduct::active("Last season", "30.00").with_id(9_056);
    archived.status = "ARCHIVED".into();
    products.push(archived);
    let mut shop = FakeShop::new("catalog")
        .with_token(TOKEN)
        .with_bucket(1_000_000.0, 100_000.0);
    for product in products {
        shop = shop.with_product(product);
    }
    shop
}

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

knowledge_backends! {
    async fn a_mixed_catalog_read_page_by_page_writes_the_recorded_documents(app: TestApp) {
        let settings = json!({"actions": {"get_order_details": true, "search_products": true, "get_shop_details": true},
            "require_email_match": false,
            "knowledge": {"pages": false, "articles": false, "products": true, "policies": false}});
        assert_eq!(app.put_settings(settings).await.0, 200);
        app.shopify.add_shop(mixed_catalog());
        let (status, body) = app.connect(json!({"shop_domain": SHOP, "access_token": TOKEN})).await;
        assert_eq!(status, 201, "{body}");

        let drained = app.rig().drain().await;

        assert_eq!(drained.failed, 0, "{drained:?}");
        let written = documents(&app).await;
        assert_eq!(written.len(), 2 * 127, "a document and a sidecar per active product");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            let text = serde_json::to_string_pretty(&written).unwrap();
            std::fs::create_dir_all(golden_path().parent().unwrap()).unwrap();
            std::fs::write(golden_path(), text + "\n").unwrap();
        }
        let recorded: BTreeMap<String, String> =
            serde_json::from_str(&std::fs::read_to_string(golden_path()).expect("the recording")).unwrap();
        let keys = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&written), keys(&recorded), "the same documents");
        for (key, text) in &recorded {
            assert_eq!(&written[key], text, "{key} differs from its recording");
        }
    }
}
