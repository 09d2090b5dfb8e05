//! `infra/run`'s server: a sandbox Shopify with demo stores and every function behind a local
//! API Gateway, over the moto stack `infra/run` started; a dev identity provider minting the
//! bearer tokens that gateway (and the MCP route) verify; and what Lambda and EventBridge do in
//! AWS: a worker draining the knowledge queue into `knowledge-sync` the way the SQS event
//! source mapping does, the knowledge schedule, and a reader printing the events the connector
//! puts on its bus.

use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use secrecy::ExposeSecret;
use shared::actions::{ActionPorts, DynamoActions};
use shared::health::check::HealthPorts;
use shared::health::repo::DynamoHealth;
use shared::knowledge::sync::SyncPorts;
use shared::shopify::ShopifyConfig;
use shared::{Config, Services};
use tests::dev_issuer::{self, DevIssuer};
use tests::fake_shopify::{
    CustomerDataAccess, FakeArticle, FakeCustomer, FakeFulfillment, FakeOrder, FakePage,
    FakePolicy, FakeProduct, FakeShop, FakeShopify,
};
use tests::gateway::JwtAuthorizer;
use tests::worker::{self, Queue};

/// Demo credentials: what a merchant would paste into the dashboard.
const US_TOKEN: &str = "shpat_demo_us_0000000000000000000000";
const UK_CLIENT_ID: &str = "demo-uk-client-id";
const UK_CLIENT_SECRET: &str = "demo-uk-client-secret";
const UK_TOKEN: &str = "shpat_demo_uk_0000000000000000000000";
const LIMITED_TOKEN: &str = "shpat_demo_limited_000000000000000000";
const CATALOG_TOKEN: &str = "shpat_demo_catalog_000000000000000000";
const PRIVATE_TOKEN: &str = "shpat_demo_private_000000000000000000";

/// How often the local schedule queues a knowledge sync of every store
/// (`KNOWLEDGE_SCHEDULE_SECS`; in AWS the template's `KnowledgeSyncSchedule`, 6 hours).
const SCHEDULE_SECS: u64 = 300;

/// A port from the environment variable `name`, or `default` (0: any free port).
fn port(name: &str, default: u16) -> u16 {
    std::env::var(name)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(default)
}

/// Binds the gateway and the dev issuer, and points the functions' `MCP_*` settings at the dev
/// issuer (unless set already) while the process has one thread; then runs the rest.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let loopback = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let gateway = std::net::TcpListener::bind(loopback(port("PORT", 3000)))?;
    let issuer = std::net::TcpListener::bind(loopback(port("ISSUER_PORT", 3001)))?;
    let base = format!("http://{}", gateway.local_addr()?);
    let issuer_url = format!("http://{}", issuer.local_addr()?);
    for (name, value) in [
        ("MCP_ISSUER", issuer_url.clone()),
        ("MCP_AUDIENCE", dev_issuer::AUDIENCE.to_owned()),
        (
            "MCP_JWKS_URL",
            format!("{issuer_url}/.well-known/jwks.json"),
        ),
        ("MCP_RESOURCE_URL", format!("{base}/mcp")),
    ] {
        if std::env::var_os(name).is_none() {
            std::env::set_var(name, value);
        }
    }
    for listener in [&gateway, &issuer] {
        listener.set_nonblocking(true)?;
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(gateway, issuer, base))
}

async fn run(
    gateway: std::net::TcpListener,
    issuer: std::net::TcpListener,
    base: String,
) -> Result<(), Box<dyn std::error::Error>> {
    shared::telemetry::init();
    let shopify =
        FakeShopify::start_on(SocketAddr::from(([127, 0, 0, 1], port("SHOPIFY_PORT", 0)))).await;
    for shop in demo_shops() {
        shopify.add_shop(shop);
    }

    let listener = tokio::net::TcpListener::from_std(gateway)?;
    let mut config = Config::from_env()?;
    let issuer = DevIssuer::serve(tokio::net::TcpListener::from_std(issuer)?, &config.auth);
    // The dashboard's authorizer trusts the dev issuer, as the template's trusts JwtIssuer.
    let authorizer = JwtAuthorizer::of(&issuer);
    config.shopify = ShopifyConfig {
        base_url: Some(shopify.base_url.clone()),
        ..config.shopify
    };
    // Webhooks go to this gateway unless WEBHOOK_BASE_URL says otherwise.
    if config.health.webhook_base_url.is_none() {
        config.health.webhook_base_url = Some(base.clone());
    }
    let sdk = shared::aws::sdk_config().await;
    // The webhook callbacks' token key: a secret in the local Secrets Manager, as the template
    // makes one, unless WEBHOOK_TOKEN_SECRET names another.
    if config.health.webhook_token_secret.is_none() {
        config.health.webhook_token_secret = Some(local_token_key(&sdk).await?);
    }
    let services = Services::from_sdk(&config, &sdk).with_knowledge(&config, &sdk);
    let sync = SyncPorts::from_sdk(&config, &sdk)?;
    let mut health = HealthPorts::from_sdk(&config, &sdk)?;
    // Locally a health check right after connecting is the point: nothing counts as fresh.
    health.config.fresh_for = Duration::ZERO;
    let tokens = services
        .webhook_tokens
        .clone()
        .expect("WEBHOOK_TOKEN_SECRET is set above");
    let org = shared::domain::OrganizationId::parse("demo-org").expect("a valid org id");
    let demo_token = tokens.token(&org).await?;
    let webhooks = webhooks::WebhookPorts {
        tokens,
        storage: services.storage.clone(),
        shopify: services.shopify.clone(),
        events: services.events.clone(),
        repo: Arc::new(DynamoHealth::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            config.stores_table.clone(),
        )),
        queue: Some(health.queue.clone()),
    };
    // Order actions' records in the same table, as deployed; the settle schedule every 5
    // minutes, as EventBridge Scheduler runs it.
    let actions = ActionPorts::from_services(
        &services,
        Arc::new(DynamoActions::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            config.stores_table.clone(),
        )),
    );
    // The MCP route over the same stores and actions, its tokens from the dev issuer
    // (MCP_ISSUER, MCP_AUDIENCE, MCP_JWKS_URL and MCP_RESOURCE_URL are set above).
    let bearer = shared::bearer::BearerConfig::from_env()?;
    let mcp = mcp::State::new(
        services.clone(),
        actions.clone(),
        Arc::new(shared::bearer::JwtVerifier::new(&bearer, &config.auth)?),
        bearer.clone(),
        mcp::AllowedOrigins::from_env(&bearer.resource_url),
    );
    run_settle_schedule(actions.clone());
    run_worker(&sdk, sync.clone());
    run_schedule(sync.clone());
    run_health_worker(&sdk, health.clone());
    print_events(&sdk);

    print_examples(
        &base,
        &shopify.base_url,
        &issuer.issuer,
        demo_token.expose_secret(),
    );
    axum::serve(
        listener,
        tests::gateway::app(services, sync, health, webhooks, actions, mcp, authorizer),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// The local webhook token key's secret (created with a random value on the first run, kept
/// for as long as the local stack keeps its data).
async fn local_token_key(
    sdk: &aws_config::SdkConfig,
) -> Result<String, Box<dyn std::error::Error>> {
    const NAME: &str = "local/webhook-token-key";
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    if client
        .describe_secret()
        .secret_id(NAME)
        .send()
        .await
        .is_err()
    {
        let key: String = std::iter::repeat_with(fastrand::alphanumeric)
            .take(64)
            .collect();
        client
            .create_secret()
            .name(NAME)
            .secret_string(key)
            .send()
            .await?;
    }
    Ok(NAME.to_owned())
}

/// Delivers the knowledge queue's messages to `knowledge-sync`, one at a time, as Lambda's
/// SQS event source mapping does: deleted when the function reports no failure, back to the
/// queue when it does (to the dead-letter queue after 5 receives).
fn run_worker(sdk: &aws_config::SdkConfig, ports: SyncPorts) {
    let queue = Queue::Sqs {
        client: aws_sdk_sqs::Client::new(sdk),
        url: std::env::var("KNOWLEDGE_QUEUE_URL").unwrap_or_default(),
    };
    tokio::spawn(async move {
        loop {
            worker::drain(&ports, &queue, worker::INVOCATION, usize::MAX).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
}

/// Delivers the health queue's messages to `health-check` as Lambda's SQS event source mapping
/// does (deleted on success, visible again at once on failure).
fn run_health_worker(sdk: &aws_config::SdkConfig, ports: HealthPorts) {
    let client = aws_sdk_sqs::Client::new(sdk);
    let Ok(url) = std::env::var("HEALTH_QUEUE_URL") else {
        return;
    };
    tokio::spawn(async move {
        loop {
            let received = client
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(1)
                .wait_time_seconds(1)
                .message_system_attribute_names(
                    aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                )
                .send()
                .await;
            let Some(message) = received
                .ok()
                .and_then(|o| o.messages)
                .and_then(|m| m.into_iter().next())
            else {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            let receives = message
                .attributes
                .as_ref()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                })
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            let event = worker::sqs_event(
                message.message_id.as_deref().unwrap_or_default(),
                message.body.as_deref().unwrap_or_default(),
                receives,
            );
            let deadline = shared::Deadline::after(tests::health::INVOCATION);
            let failed = match health_check::handle(&ports, event, deadline).await {
                Ok(answer) => answer["batchItemFailures"]
                    .as_array()
                    .is_some_and(|f| !f.is_empty()),
                Err(_) => true,
            };
            if let Some(receipt) = message.receipt_handle {
                if failed {
                    let _ = client
                        .change_message_visibility()
                        .queue_url(&url)
                        .receipt_handle(receipt)
                        .visibility_timeout(5)
                        .send()
                        .await;
                } else {
                    let _ = client
                        .delete_message()
                        .queue_url(&url)
                        .receipt_handle(receipt)
                        .send()
                        .await;
                }
            }
        }
    });
}

/// Invokes `knowledge-sync` with the schedule's event, as EventBridge Scheduler does.
fn run_schedule(ports: SyncPorts) {
    let every = std::env::var("KNOWLEDGE_SCHEDULE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SCHEDULE_SECS);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(every.max(1)));
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let event = serde_json::json!({"schedule": "knowledge-sync"});
            let deadline = shared::Deadline::after(worker::INVOCATION);
            if let Err(error) = knowledge_sync::handle(&ports, event, deadline).await {
                tracing::warn!(%error, "the scheduled knowledge sync tick failed");
            }
        }
    });
}

/// The order-action settle schedule: every 5 minutes, as the template's schedule.
fn run_settle_schedule(ports: ActionPorts) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(300));
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let event = serde_json::json!({"schedule": order_actions::SETTLE_SCHEDULE});
            let deadline = order_actions::deadline(&ports, 0);
            let answer = order_actions::answer(&ports, event, deadline).await;
            tracing::info!(%answer, "order actions settle schedule");
        }
    });
}

/// Prints the events the connector put on its bus (a rule copies them into a queue).
fn print_events(sdk: &aws_config::SdkConfig) {
    let Ok(url) = std::env::var("KNOWLEDGE_EVENTS_QUEUE_URL") else {
        return;
    };
    let client = aws_sdk_sqs::Client::new(sdk);
    tokio::spawn(async move {
        loop {
            let received = client
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await;
            let Ok(output) = received else {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            };
            if output.messages.as_ref().is_none_or(Vec::is_empty) {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            for message in output.messages.unwrap_or_default() {
                let event: serde_json::Value =
                    serde_json::from_str(message.body.as_deref().unwrap_or("null"))
                        .unwrap_or_default();
                println!(
                    "event on the bus: {} {}",
                    event["detail-type"].as_str().unwrap_or_default(),
                    event["detail"]
                );
                if let Some(receipt) = message.receipt_handle {
                    let _ = client
                        .delete_message()
                        .queue_url(&url)
                        .receipt_handle(receipt)
                        .send()
                        .await;
                }
            }
        }
    });
}

/// Two stores (one with order prefix `UK-`) with customers, orders (one archived, one shipped
/// in two parts, one partly refunded), products
/// (one draft, one active but not yet published on the online store) and storefront content
/// (pages, one unpublished; a blog; policies), a store missing scopes, and a store with a
/// 2,500-product catalog (synced by a bulk operation).
fn demo_shops() -> Vec<FakeShop> {
    let jane = "jane@example.com";
    vec![
        FakeShop::new("demo-us")
            .named("Demo Outfitters US")
            .with_token(US_TOKEN)
            .with_demo_content()
            .with_customer(FakeCustomer::new(7001, "Jane Doe", jane))
            .with_customer(FakeCustomer::new(7002, "Bob Stone", "bob@example.com"))
            .with_order(FakeOrder::new("#1001", "2026-11-01T10:00:00Z", jane))
            .with_order(FakeOrder::new("#1002", "2026-09-12T10:00:00Z", jane).closed())
            .with_order(FakeOrder::new(
                "#1003",
                "2026-11-20T10:00:00Z",
                "bob@example.com",
            ))
            // Order actions: granted here (not in demo-uk, where a proposal is
            // action_unavailable). #1004 is paid and not shipped yet, placed as the run
            // starts: cancellable within the default 60-minute window
            // (`POST $SHOPIFY/_sandbox/demo-us.myshopify.com/place` places another one later).
            .with_order_action_scopes()
            .with_order(FakeOrder::unfulfilled("#1004", 0, jane).total("89.00"))
            // Where is my order, and returns: #1005 came in two shipments, #1006 was partly
            // refunded. Returns are granted here too.
            .with_return_scopes()
            .with_order(shipped_in_two(jane))
            .with_order(partly_refunded(jane))
            .with_product(FakeProduct::active("Trail Runner", "89.00"))
            .with_product(FakeProduct::active("Summit Jacket", "199.00").sold_out())
            .with_product(FakeProduct::draft("Secret Prototype", "999.00"))
            .with_product(FakeProduct::active("Trail Runner 2", "129.00").unpublished()),
        FakeShop::new("demo-uk")
            .named("Demo Outfitters UK")
            .with_prefix("UK-")
            .with_currency("GBP")
            .with_token(UK_TOKEN)
            .with_client(UK_CLIENT_ID, UK_CLIENT_SECRET)
            .with_customer(FakeCustomer::new(8001, "Jane Doe", jane))
            .with_order(FakeOrder::new("UK-1001", "2026-11-05T10:00:00Z", jane).currency("GBP"))
            .with_product(FakeProduct::active("Trail Runner UK", "79.00"))
            .with_content_scopes()
            .with_page(FakePage::new(
                111,
                "Delivery to Europe",
                "<p>We ship from London to the EU and Norway in 3-5 working days.</p>",
            ))
            .with_article(FakeArticle::new(
                211,
                "journal",
                "Packing for the Highlands",
                "<p>Layers, a waterproof shell and spare socks.</p>",
            ))
            .with_policy(FakePolicy::new(
                311,
                "REFUND_POLICY",
                "Refund policy",
                "<p>Returns within 14 days under UK consumer law.</p>",
            )),
        FakeShop::new("demo-catalog")
            .named("Demo Catalog")
            .with_token(CATALOG_TOKEN)
            .with_catalog(2500),
        FakeShop::new("demo-limited")
            .named("Demo Limited Scopes")
            .with_token(LIMITED_TOKEN)
            .with_scopes(&["read_products"]),
        // An app whose protected customer data access was never set up, and without
        // read_all_orders: the silent failures the README troubleshoots.
        FakeShop::new("demo-private")
            .named("Demo Private Data")
            .with_token(PRIVATE_TOKEN)
            .with_prefix("PD-")
            .with_scopes(&["read_orders", "read_products", "read_customers"])
            .withholding_customer_data(CustomerDataAccess::Denied)
            .with_customer(FakeCustomer::new(9001, "Jane Doe", jane))
            .with_order(FakeOrder::new("PD-1001", "2026-11-02T10:00:00Z", jane)),
    ]
}

/// RFC 3339, `days` (fractions allowed) before now.
fn days_ago(days: f64) -> String {
    let seconds = (days * 86_400.0) as i64;
    (chrono::Utc::now() - chrono::Duration::seconds(seconds))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `#1005`, Jane's, placed five days before the run: Trail Runner delivered three days ago
/// (returnable within the default 30 days), Summit Jacket on its way with the carrier's events
/// and no estimate from it.
fn shipped_in_two(email: &str) -> FakeOrder {
    let mut order = FakeOrder::new("#1005", &days_ago(5.0), email).total("288.00");
    order.line_items = vec![
        ("Trail Runner".into(), Some("42 / Blue".into()), 1),
        ("Summit Jacket".into(), Some("M / Black".into()), 1),
    ];
    order.fulfilled().with_fulfillments(vec![
        FakeFulfillment::delivered(&[(0, 1)], &days_ago(3.0)).without_estimate(),
        FakeFulfillment::in_transit(&[(1, 1)])
            .created_at(&days_ago(2.0))
            .with_tracking("USPS", "9400111899223344556677")
            .without_estimate()
            .with_event(
                "LABEL_PRINTED",
                &days_ago(2.0),
                "Shipping label created",
                Some("Portland"),
            )
            .with_event(
                "IN_TRANSIT",
                &days_ago(1.5),
                "Departed USPS facility",
                Some("Portland"),
            )
            .with_event(
                "IN_TRANSIT",
                &days_ago(0.5),
                "Arrived at USPS regional facility",
                Some("Sacramento"),
            ),
    ])
}

/// `#1006`, Jane's, delivered ten days ago; 15.00 of its 89.00 given back two days ago.
fn partly_refunded(email: &str) -> FakeOrder {
    FakeOrder::new("#1006", &days_ago(14.0), email)
        .total("89.00")
        .fulfilled()
        .with_fulfillments(vec![
            FakeFulfillment::delivered(&[(0, 1)], &days_ago(10.0)).without_estimate()
        ])
        .with_refund("15.00", &days_ago(2.0))
}

fn print_examples(base: &str, shopify: &str, issuer: &str, webhook_token: &str) {
    println!(
        r##"
Local stack ready.
  API (local API Gateway): {base}
  Sandbox Shopify:         {shopify}
  Dev identity provider:   {issuer} (JWKS at {issuer}/.well-known/jwks.json)

The dashboard routes want a bearer token, as in AWS: without one they answer 401
{{"message":"Unauthorized"}}. Mint one for org "demo-org" as an admin, and one as an agent:
  AUTH="Authorization: Bearer $(curl -s -X POST {issuer}/dev/token)"
  AGENT="Authorization: Bearer $(curl -s -X POST {issuer}/dev/token -H 'X-Dev-Role: agent')"
Other claims: -H 'X-Dev-Org-Id: other-org' (none: no org claim), X-Dev-Sub, X-Dev-Email,
X-Dev-Email-Verified: true, X-Dev-Expires-In: -120 (expired). The headers only shape the token;
the gateway verifies it as API Gateway's JWT authorizer does. A token lasts an hour.

Connect the US demo store with an Admin API token:
  curl -s -H "$AUTH" -X POST {base}/shopify/stores -H 'content-type: application/json' \
    -d '{{"shop_domain":"demo-us.myshopify.com","access_token":"{US_TOKEN}"}}'

Connect the UK demo store (order prefix UK-) with Dev Dashboard client credentials:
  curl -s -H "$AUTH" -X POST {base}/shopify/stores -H 'content-type: application/json' \
    -d '{{"shop_domain":"demo-uk","client_id":"{UK_CLIENT_ID}","client_secret":"{UK_CLIENT_SECRET}"}}'

See the errors: a custom domain, a wrong token, missing scopes:
  curl -s -H "$AUTH" -X POST {base}/shopify/stores -d '{{"shop_domain":"www.example.com","access_token":"x"}}'
  curl -s -H "$AUTH" -X POST {base}/shopify/stores -d '{{"shop_domain":"demo-us","access_token":"shpat_wrong"}}'
  curl -s -H "$AUTH" -X POST {base}/shopify/stores -d '{{"shop_domain":"demo-limited","access_token":"{LIMITED_TOKEN}"}}'
A store whose app Shopify withholds customer data from (see its warnings, the sidebar and a lookup):
  curl -s -H "$AUTH" -X POST {base}/shopify/stores -d '{{"shop_domain":"demo-private","access_token":"{PRIVATE_TOKEN}"}}'

List the stores, verify one live, read the AI settings, disconnect:
  curl -s -H "$AUTH" {base}/shopify/stores
  curl -s -H "$AUTH" '{base}/shopify/stores/demo-us.myshopify.com?verify=true'
  curl -s -H "$AGENT" '{base}/shopify/stores/demo-us.myshopify.com?verify=true'  # 403: admins only
  curl -s -H "$AUTH" {base}/shopify/settings
  curl -s -i -H "$AUTH" -X DELETE {base}/shopify/stores/demo-uk.myshopify.com

The inbox sidebar for a contact (customer profile and recent orders per store):
  curl -s -H "$AUTH" '{base}/shopify/contact-metadata?email=jane@example.com'

Ask as the AI platform does (POST /invoke/lookup stands in for Lambda's direct Invoke):
  curl -s -X POST {base}/invoke/lookup -H 'content-type: application/json' -d '{{"org_id":"demo-org",
    "action":"get_order_details","arguments":{{"order_number":"UK-1001"}},"contact":{{"email":"jane@example.com"}}}}'
Where is my order: #1005 came in two shipments (one delivered, one on its way), #1006 was partly refunded:
  curl -s -X POST {base}/invoke/lookup -H 'content-type: application/json' -d '{{"org_id":"demo-org",
    "action":"get_order_details","arguments":{{"order_number":"#1005"}},"contact":{{"email":"jane@example.com"}}}}'
  curl -s -X POST {base}/invoke/lookup -H 'content-type: application/json' -d '{{"org_id":"demo-org",
    "action":"search_products","arguments":{{"query":"trail runner","limit":3}}}}'
  curl -s -X POST {base}/invoke/lookup -H 'content-type: application/json' -d '{{"org_id":"demo-org",
    "action":"get_shop_details","arguments":{{}}}}'

Over MCP, as any AI agent (README, "MCP"): a token of the dev identity provider, then JSON-RPC:
  MCP=(-H "Authorization: Bearer $(curl -s -X POST {issuer}/dev/token -H 'X-Dev-Role: agent')"
    -H 'Accept: application/json, text/event-stream' -H 'content-type: application/json')
  curl -s "${{MCP[@]}}" {base}/mcp -d '{{"jsonrpc":"2.0","id":1,"method":"tools/list"}}'
  curl -s "${{MCP[@]}}" {base}/mcp -d '{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":
    {{"name":"get_order_details","arguments":{{"order_number":"#1001","email":"jane@example.com"}}}}}}'

Knowledge sync (the AI learns from each store's pages, articles, products and policies).
Connecting a store queued its first sync; the local worker runs it. Watch it and list what
the AI learned:
  curl -s -H "$AUTH" {base}/shopify/knowledge
  curl -s -H "$AUTH" '{base}/shopify/knowledge/documents?limit=5'
Turn products and articles on (they sync at once), then sync again by hand:
  curl -s -H "$AUTH" -X PUT {base}/shopify/settings -H 'content-type: application/json' -d '{{"actions":
    {{"get_order_details":true,"search_products":true,"get_shop_details":true}},"require_email_match":true,
    "knowledge":{{"pages":true,"articles":true,"products":true,"policies":true}}}}'
  curl -s -H "$AUTH" -X POST {base}/shopify/knowledge/sync -H 'content-type: application/json' -d '{{}}'
A 2,500-product catalog, read with a bulk operation:
  curl -s -H "$AUTH" -X POST {base}/shopify/stores -d '{{"shop_domain":"demo-catalog","access_token":"{CATALOG_TOKEN}"}}'
The documents are in the local S3 bucket (moto):
  ./infra/stack ls demo-org/demo-us.myshopify.com/
  ./infra/stack cat demo-org/demo-us.myshopify.com/pages/102.md
Run the schedule now (as EventBridge Scheduler does every 6 hours; locally every {SCHEDULE_SECS} s):
  curl -s -X POST {base}/invoke/knowledge-sync -d '{{"schedule":"knowledge-sync"}}'

Connection health. Break a store in the sandbox Shopify, then run the health check (hourly in
AWS); the change is printed as a "Shopify Store Status Changed" event and shown by the store:
  curl -s -X POST {shopify}/_sandbox/demo-us.myshopify.com/revoke
  curl -s -X POST {base}/invoke/health-check -d '{{"schedule":"health-check"}}'
  curl -s -H "$AUTH" {base}/shopify/stores/demo-us.myshopify.com
Send a signed app/uninstalled webhook for the UK store (connected with client credentials) to
demo-org's callback, with its token (without it: 401, nothing read):
  TOKEN={webhook_token}
  BODY='{{"id":1,"myshopify_domain":"demo-uk.myshopify.com"}}'
  SIG=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac '{UK_CLIENT_SECRET}' -binary | base64)
  curl -s -X POST "{base}/shopify/webhooks?org_id=demo-org&token=$TOKEN" -H 'X-Shopify-Topic: app/uninstalled' \
    -H 'X-Shopify-Shop-Domain: demo-uk.myshopify.com' -H "X-Shopify-Webhook-Id: sample-$RANDOM" \
    -H "X-Shopify-Hmac-Sha256: $SIG" -d "$BODY"
Reconnect it with the POST above (its credentials still work) to see it mended.

Press Ctrl-C to stop.
"##
    );
}
