//! `cargo bench -p tests --bench mcp`: what MCP costs on top of the direct invoke. A warm
//! `tools/call get_shop_details` through the `mcp` function's handler (the API Gateway event
//! parsed as Lambda does, the HTTP edges, the JSON-RPC envelope, rmcp's stateless transport,
//! the tool result) against `lookup::answer` for the same request (its event parsed too), both
//! against a fake Shopify on loopback, credentials cached. The MCP side verifies a real bearer
//! JWT (RS256, the dev identity provider's JWKS, fetched once and cached) on every call, as the
//! deployed function does. Prints medians and the ratio (the
//! goal: at most 1.2x); asserts nothing (timings are not test outcomes).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shared::Deadline;
use tests::app::{Backend, TestApp};
use tests::bench::{self, median, row};
use tests::fake_shopify::FakeShop;
use tests::mcp::{request, McpRig, V2025};

const ROUNDS: usize = 15;
const PER_ROUND: u32 = 40;

fn main() {
    bench::quiet_tracing();
    let runtime = bench::runtime();
    println!("-- Shopify answering at once: MCP's own cost, as a share of almost nothing");
    runtime.block_on(compare(Duration::ZERO, PER_ROUND));
    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("-- the same on a current_thread runtime");
    single.block_on(compare(Duration::ZERO, PER_ROUND));
    println!(
        "-- Shopify answering after {} ms, as an agent meets it (the goal's figure)",
        SHOPIFY_LATENCY.as_millis()
    );
    runtime.block_on(compare(SHOPIFY_LATENCY, 4));
}

/// A fast Admin API answer (Shopify's own are rarely quicker).
const SHOPIFY_LATENCY: Duration = Duration::from_millis(50);

async fn compare(latency: Duration, per_round: u32) {
    let app = TestApp::spawn(Backend::Memory).await;
    app.shopify.add_shop(
        FakeShop::new("demo-us")
            .named("Demo US")
            .with_token("shpat_us")
            .with_latency(latency),
    );
    let (status, _) = app
        .connect(json!({"shop_domain": "demo-us", "access_token": "shpat_us"}))
        .await;
    assert_eq!(status, 201);
    let rig = McpRig::new(&app).await;
    let issuer = tests::dev_issuer::DevIssuer::start().await;
    let state = rig.verifying(&app, &issuer);
    let token = issuer.token(&app.org, "agent");

    let direct_event =
        json!({"org_id": app.org, "action": "get_shop_details", "arguments": {}}).to_string();
    let mcp_event = request(
        Some(&token),
        V2025,
        "tools/call",
        json!({"name": "get_shop_details", "arguments": {}}),
    )
    .to_json()
    .to_string();

    let direct = || async {
        let payload: Value = serde_json::from_str(&direct_event).unwrap();
        let deadline = Deadline::after(app.services.budgets.lookup);
        lookup::answer(&app.services, payload, deadline).await
    };
    let over_mcp = || async {
        let req = lambda_http::request::from_str(&mcp_event).unwrap();
        mcp::handle(&state, req).await.unwrap()
    };

    // Warm: credentials cached, connections open, both paths answering the same.
    let answer = direct().await;
    assert_eq!(answer["ok"], true, "{answer}");
    let response = over_mcp().await;
    let body: Value = match response.body() {
        lambda_http::Body::Text(text) => serde_json::from_str(text).unwrap(),
        other => panic!("a JSON answer, not {other:?}"),
    };
    assert_eq!(
        body["result"]["structuredContent"], answer,
        "the same answer"
    );

    if latency.is_zero() {
        let ping_event = request(Some(&token), V2025, "ping", json!({}))
            .to_json()
            .to_string();
        let list_event = request(Some(&token), V2025, "tools/list", json!({}))
            .to_json()
            .to_string();
        let time = |n: u32, start: Instant| start.elapsed() / n;
        let start = Instant::now();
        for _ in 0..1000 {
            std::hint::black_box(lambda_http::request::from_str(&mcp_event).unwrap());
        }
        row(
            "parse the API Gateway event",
            format!("{:?}", time(1000, start)),
        );
        let start = Instant::now();
        for _ in 0..1000 {
            let req = lambda_http::request::from_str(&ping_event).unwrap();
            std::hint::black_box(mcp::handle(&state, req).await.unwrap());
        }
        row("mcp ping", format!("{:?}", time(1000, start)));
        let start = Instant::now();
        for _ in 0..1000 {
            let req = lambda_http::request::from_str(&list_event).unwrap();
            std::hint::black_box(mcp::handle(&state, req).await.unwrap());
        }
        row("mcp tools/list", format!("{:?}", time(1000, start)));
        let body = request(
            Some(&token),
            V2025,
            "tools/call",
            json!({"name": "get_shop_details", "arguments": {}}),
        )
        .body
        .unwrap();
        let start = Instant::now();
        for _ in 0..1000 {
            std::hint::black_box(mcp::envelope::check(body.as_bytes()).unwrap());
        }
        row("envelope check", format!("{:?}", time(1000, start)));
        let big = serde_json::to_string(&answer).unwrap();
        row("answer bytes", big.len());
    }

    let mut direct_samples = Vec::new();
    let mut mcp_samples = Vec::new();
    for _ in 0..ROUNDS {
        // Interleaved rounds, so a slow moment of the machine costs both alike.
        let start = Instant::now();
        for _ in 0..per_round {
            std::hint::black_box(direct().await);
        }
        direct_samples.push(start.elapsed() / per_round);
        let start = Instant::now();
        for _ in 0..per_round {
            std::hint::black_box(over_mcp().await);
        }
        mcp_samples.push(start.elapsed() / per_round);
    }
    let direct = median(direct_samples);
    let over_mcp = median(mcp_samples);
    row("benchmark (warm, median)", "figure");
    row("lookup::answer get_shop_details", format!("{direct:?}"));
    row(
        "mcp tools/call get_shop_details (through the handler)",
        format!("{over_mcp:?}"),
    );
    row(
        "MCP's cost over the direct invoke",
        format!("{:?}", over_mcp.saturating_sub(direct)),
    );
    row(
        "ratio mcp / direct (goal <= 1.20)",
        format!("{:.2}x", over_mcp.as_secs_f64() / direct.as_secs_f64()),
    );
}
