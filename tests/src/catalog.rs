//! A mixed catalog of products, as merchants' catalogs are: what the knowledge sync's product
//! read is checked against (`tests/knowledge_catalog.rs`, byte for byte) and measured on
//! (`benches/knowledge_sync.rs`, points per document).

use crate::fake_shopify::{FakeProduct, FakeShop};

/// The catalog's store handle (`catalog.myshopify.com`) and its access token.
pub const HANDLE: &str = "catalog";
pub const TOKEN: &str = "shpat_catalog_0000000000000000000000000";
/// Its active products: one document each.
pub const ACTIVE: usize = 127;

type Variant = (String, String, String, bool);

fn variant(title: &str, sku: &str, price: &str, available: bool) -> Variant {
    (title.into(), sku.into(), price.into(), available)
}

fn product(id: u64, title: &str, variants: Vec<Variant>) -> FakeProduct {
    let mut product = FakeProduct::active(title, "1.00").with_id(id);
    product.variants = variants;
    product
}

/// Products sharing a title, or holding ` - ` in theirs or a variant's: a row a variant, each
/// product's rows together (product id and title, variant title, SKU, price, available for sale).
#[rustfmt::skip]
const SHARED_TITLES: [(u64, &str, &str, &str, &str, bool); 10] = [
    (9_050, "Gift card",  "Default Title", "GIFT-25", "25.00", true),
    (9_057, "Gift card",  "Default Title", "GIFT-50", "50.00", true),
    (9_051, "Camp chair", "Green",         "CC-G",    "45.00", true),
    (9_051, "Camp chair", "Red",           "CC-R",    "47.50", false),
    (9_261, "Camp chair", "Green",         "CC2-G",   "65.00", true),
    (9_261, "Camp chair", "Grey",          "CC2-Y",   "65.00", true),
    (9_052, "Tee - Blue", "S",             "TB-S",    "15.00", true),
    (9_052, "Tee - Blue", "M",             "TB-M",    "15.00", true),
    (9_053, "Tee",        "Blue - S",      "T-BS",    "14.00", true),
    (9_053, "Tee",        "Blue - M",      "T-BM",    "14.50", true),
];

/// 129 products over more than one page of the sync's: 96 with one variant (some sold out,
/// some not on the online store), 24 with two to five, one with 25 (more than a document
/// lists), products sharing a title, titles and variant titles holding ` - ` and `|`, a variant
/// without a SKU, a draft and an archived product (no document), in no particular id order.
pub fn mixed_catalog() -> FakeShop {
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
    for rows in SHARED_TITLES.chunk_by(|a, b| a.0 == b.0) {
        let variants = rows
            .iter()
            .map(|&(_, _, title, sku, price, available)| variant(title, sku, price, available))
            .collect();
        products.push(product(rows[0].0, rows[0].1, variants));
    }
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
    let mut shop = FakeShop::new(HANDLE)
        .with_token(TOKEN)
        .with_bucket(1_000_000.0, 100_000.0);
    for product in products {
        shop = shop.with_product(product);
    }
    shop
}
