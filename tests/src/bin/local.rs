//! `infra/run`'s server: a sandbox Shopify with demo stores and every function behind a local
//! API Gateway, over the moto stack `infra/run` started.

use std::net::SocketAddr;

use shared::shopify::ShopifyConfig;
use shared::{Config, Services};
use tests::fake_shopify::{FakeCustomer, FakeOrder, FakeProduct, FakeShop, FakeShopify};

/// Demo credentials: what a merchant would paste into the dashboard.
const US_TOKEN: &str = "shpat_demo_us_0000000000000000000000";
const UK_CLIENT_ID: &str = "demo-uk-client-id";
const UK_CLIENT_SECRET: &str = "demo-uk-client-secret";
const UK_TOKEN: &str = "shpat_demo_uk_0000000000000000000000";
const LIMITED_TOKEN: &str = "shpat_demo_limited_000000000000000000";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shared::telemetry::init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let shopify_port: u16 = std::env::var("SHOPIFY_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);

    let shopify = FakeShopify::start_on(SocketAddr::from(([127, 0, 0, 1], shopify_port))).await;
    for shop in demo_shops() {
        shopify.add_shop(shop);
    }

    let mut config = Config::from_env()?;
    config.shopify = ShopifyConfig {
        base_url: Some(shopify.base_url.clone()),
        ..config.shopify
    };
    let sdk = shared::aws::sdk_config().await;
    let services = Services::from_sdk(&config, &sdk);

    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let base = format!("http://{}", listener.local_addr()?);
    print_examples(&base, &shopify.base_url);
    axum::serve(listener, tests::gateway::app(services))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// Two stores (one with order prefix `UK-`) with customers, orders (one archived) and products
/// (one draft), and a store missing scopes.
fn demo_shops() -> Vec<FakeShop> {
    let jane = "jane@example.com";
    vec![
        FakeShop::new("demo-us")
            .named("Demo Outfitters US")
            .with_token(US_TOKEN)
            .with_customer(FakeCustomer::new(7001, "Jane Doe", jane))
            .with_customer(FakeCustomer::new(7002, "Bob Stone", "bob@example.com"))
            .with_order(FakeOrder::new("#1001", "2026-11-01T10:00:00Z", jane))
            .with_order(FakeOrder::new("#1002", "2026-09-12T10:00:00Z", jane).closed())
            .with_order(FakeOrder::new(
                "#1003",
                "2026-11-20T10:00:00Z",
                "bob@example.com",
            ))
            .with_product(FakeProduct::active("Trail Runner", "89.00"))
            .with_product(FakeProduct::active("Summit Jacket", "199.00").sold_out())
            .with_product(FakeProduct::draft("Secret Prototype", "999.00")),
        FakeShop::new("demo-uk")
            .named("Demo Outfitters UK")
            .with_prefix("UK-")
            .with_currency("GBP")
            .with_token(UK_TOKEN)
            .with_client(UK_CLIENT_ID, UK_CLIENT_SECRET)
            .with_customer(FakeCustomer::new(8001, "Jane Doe", jane))
            .with_order(FakeOrder::new("UK-1001", "2026-11-05T10:00:00Z", jane).currency("GBP"))
            .with_product(FakeProduct::active("Trail Runner UK", "79.00")),
        FakeShop::new("demo-limited")
            .named("Demo Limited Scopes")
            .with_token(LIMITED_TOKEN)
            .with_scopes(&["read_products"]),
    ]
}

fn print_examples(base: &str, shopify: &str) {
    println!(
        r#"
Local stack ready.
  API (local API Gateway): {base}
  Sandbox Shopify:         {shopify}
  Requests act as org "demo-org", role "admin"; override with -H 'X-Dev-Org-Id: ...'
  and -H 'X-Dev-Role: agent' (or X-Dev-Org-Id: none for no JWT at all).

Connect the US demo store with an Admin API token:
  curl -s -X POST {base}/shopify/stores -H 'content-type: application/json' \
    -d '{{"shop_domain":"demo-us.myshopify.com","access_token":"{US_TOKEN}"}}'

Connect the UK demo store (order prefix UK-) with Dev Dashboard client credentials:
  curl -s -X POST {base}/shopify/stores -H 'content-type: application/json' \
    -d '{{"shop_domain":"demo-uk","client_id":"{UK_CLIENT_ID}","client_secret":"{UK_CLIENT_SECRET}"}}'

See the errors: a custom domain, a wrong token, missing scopes:
  curl -s -X POST {base}/shopify/stores -d '{{"shop_domain":"www.example.com","access_token":"x"}}'
  curl -s -X POST {base}/shopify/stores -d '{{"shop_domain":"demo-us","access_token":"shpat_wrong"}}'
  curl -s -X POST {base}/shopify/stores -d '{{"shop_domain":"demo-limited","access_token":"{LIMITED_TOKEN}"}}'

List the stores, verify one live, read the AI settings, disconnect:
  curl -s {base}/shopify/stores
  curl -s '{base}/shopify/stores/demo-us.myshopify.com?verify=true'
  curl -s {base}/shopify/settings
  curl -s -i -X DELETE {base}/shopify/stores/demo-uk.myshopify.com

The inbox sidebar for a contact (customer profile and recent orders per store):
  curl -s '{base}/shopify/contact-metadata?email=jane@example.com'

Ask as the AI platform does (POST /invoke/lookup stands in for Lambda's direct Invoke):
  curl -s -X POST {base}/invoke/lookup -H 'content-type: application/json' -d '{{"org_id":"demo-org",
    "action":"get_order_details","arguments":{{"order_number":"UK-1001"}},"contact":{{"email":"jane@example.com"}}}}'
  curl -s -X POST {base}/invoke/lookup -H 'content-type: application/json' -d '{{"org_id":"demo-org",
    "action":"search_products","arguments":{{"query":"trail runner","limit":3}}}}'
  curl -s -X POST {base}/invoke/lookup -H 'content-type: application/json' -d '{{"org_id":"demo-org",
    "action":"get_shop_details","arguments":{{}}}}'

Press Ctrl-C to stop.
"#
    );
}
