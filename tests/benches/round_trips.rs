//! `cargo bench -p tests --bench round_trips`: each answer's wall time as a multiple of one
//! Shopify round trip. Every fake shop answers after a fixed latency, so an answer that waits
//! on its Shopify requests one after another takes that many latencies; the goal is the fewest
//! dependent requests the answer needs (requests sent at the same moment count once).
//! Prints medians; asserts nothing (timings are not test outcomes).

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tests::app::{decode, Backend, TestApp};
use tests::bench::{self, median};
use tests::events::HttpEvent;
use tests::fake_shopify::{FakeCustomer, FakeOrder, FakeShop};

/// How long after its request every fake Shopify answer leaves (the fake's own work hides
/// inside it).
const LATENCY: Duration = Duration::from_millis(100);
/// Runs per answer; the median is printed.
const RUNS: usize = 5;
/// Within this share of the goal, an answer is at goal (the connector's own time and loopback).
const SLACK: f64 = 0.5;
const JANE: &str = "jane@example.com";

struct Row {
    answer: &'static str,
    wall: Duration,
    requests: usize,
    goal: u32,
    reason: &'static str,
}

/// Runs `call(run)` [`RUNS`] times; answers the median wall time around the call and the
/// median number of Shopify requests one call made.
async fn measure<F, Fut>(app: &TestApp, mut call: F) -> (Duration, usize)
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut walls = Vec::new();
    let mut requests = Vec::new();
    for run in 0..RUNS {
        let (wall, made) = measure_one(app, call(run)).await;
        walls.push(wall);
        requests.push(made);
    }
    (median(walls), median(requests))
}

/// The wall time of `call` and the Shopify requests it made.
async fn measure_one(app: &TestApp, call: impl Future<Output = ()>) -> (Duration, usize) {
    let before = app.shopify.received().len();
    let start = Instant::now();
    call.await;
    (start.elapsed(), app.shopify.received().len() - before)
}

fn main() {
    bench::quiet_tracing();
    let runtime = bench::runtime();
    let mut rows = Vec::new();
    runtime.block_on(async {
        rows.extend(lookups().await);
        rows.push(sidebar().await);
        rows.extend(connects().await);
    });
    print(&rows);
}

/// Three stores (`UK-`, `EU-`, `US-`), one unshipped order each (no timeline request).
async fn lookups() -> Vec<Row> {
    let app = TestApp::spawn(Backend::Memory).await;
    for (handle, prefix, order) in [
        ("rt-uk", "UK-", "UK-1001"),
        ("rt-eu", "EU-", "EU-2002"),
        ("rt-us", "US-", "US-3003"),
    ] {
        let token = format!("shpat_{handle}");
        app.shopify.add_shop(
            FakeShop::new(handle)
                .with_prefix(prefix)
                .with_token(&token)
                .with_latency(LATENCY)
                .with_order(FakeOrder::unfulfilled(order, 60, JANE)),
        );
        let (status, body) = app
            .connect(json!({"shop_domain": handle, "access_token": token}))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let mut rows = Vec::new();
    for (answer, action, arguments, goal, reason) in [
        (
            "lookup UK-1001 (prefix-routed)",
            "get_order_details",
            json!({"order_number": "UK-1001"}),
            1,
            "the prefix names the one store; an unshipped order needs no timeline",
        ),
        (
            "lookup 2002 (bare, 3 stores)",
            "get_order_details",
            json!({"order_number": "2002"}),
            1,
            "no store's prefix matches, so all three are asked at once",
        ),
        (
            "get_shop_details (3 stores)",
            "get_shop_details",
            json!({}),
            1,
            "one shop query per store, all at once",
        ),
    ] {
        let event = json!({"org_id": app.org, "action": action, "arguments": arguments, "contact": {"email": JANE}});
        let (wall, requests) = measure(&app, |_| {
            let event = event.clone();
            let app = &app;
            async move {
                let answer = app.invoke(&app.services, event).await;
                assert_eq!(answer["ok"], true, "{answer}");
            }
        })
        .await;
        rows.push(Row {
            answer,
            wall,
            requests,
            goal,
            reason,
        });
    }
    rows
}

const SIDEBAR_SHOPS: [&str; 3] = ["rt-side-uk", "rt-side-eu", "rt-side-us"];

/// Waits until the buckets of `handles` are full again.
async fn full_buckets(app: &TestApp, handles: &[&str]) {
    for handle in handles {
        let domain = format!("{handle}.myshopify.com");
        while app
            .shopify
            .available(&domain)
            .is_some_and(|points| points < 1999.0)
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Three stores with the customer and 50 of her orders each; a fresh sidebar cache per run.
async fn sidebar() -> Row {
    let app = TestApp::spawn(Backend::Memory).await;
    for handle in SIDEBAR_SHOPS {
        let token = format!("shpat_{handle}");
        let mut shop = FakeShop::new(handle)
            .with_token(&token)
            .with_latency(LATENCY)
            .with_customer(FakeCustomer::new(1, "Jane Doe", JANE));
        for i in 0..contact_metadata::MAX_ORDERS {
            shop = shop.with_order(FakeOrder::new(
                &format!("#{}", 1000 + i),
                "2026-11-01T10:00:00Z",
                JANE,
            ));
        }
        app.shopify.add_shop(shop);
        let (status, body) = app
            .connect(json!({"shop_domain": handle, "access_token": token}))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let mut walls = Vec::new();
    let mut made = Vec::new();
    for _ in 0..RUNS {
        // Each run starts with full buckets, as a rep's sidebar mostly does: waiting for the
        // points the run before spent to restore is not a round trip.
        full_buckets(&app, &SIDEBAR_SHOPS).await;
        let state = contact_metadata::State::new(app.services.clone());
        let request = HttpEvent::new("GET", "/shopify/contact-metadata")
            .claims(&[("org_id", app.org.as_str()), ("role", "agent")])
            .query("email", JANE)
            .into_request();
        let (wall, requests) = measure_one(&app, async move {
            let response = contact_metadata::handle(&state, request)
                .await
                .expect("handlers answer");
            let (status, body) = decode(response);
            assert_eq!(status, 200, "{body}");
        })
        .await;
        walls.push(wall);
        made.push(requests);
    }
    let (wall, requests) = (median(walls), median(made));
    Row {
        answer: "sidebar (3 stores x 50 orders)",
        wall,
        requests,
        goal: 2,
        reason: "the customer with the ids of its orders, then the rest by id at once: 50 orders \
                 in detail need >= 5 requests of <= 150 points and Shopify pages by cursor",
    }
}

/// Connects a new store per run, with an Admin API token and with client credentials.
async fn connects() -> Vec<Row> {
    let app = TestApp::spawn(Backend::Memory).await;
    let mut rows = Vec::new();
    for (answer, kind, goal, reason) in [
        (
            "connect, Admin API token",
            "token",
            1,
            "one query validates the token, reads its scopes and sees customer emails",
        ),
        (
            "connect, client credentials",
            "client",
            2,
            "the token exchange, then that one query with its token",
        ),
    ] {
        let (wall, requests) = measure(&app, |run| {
            let handle = format!("rt-{kind}-{run}");
            let body: Value = if kind == "token" {
                app.shopify.add_shop(
                    FakeShop::new(&handle)
                        .with_token("shpat_rt")
                        .with_latency(LATENCY),
                );
                json!({"shop_domain": handle, "access_token": "shpat_rt"})
            } else {
                app.shopify.add_shop(
                    FakeShop::new(&handle)
                        .with_client("cid", "csecret")
                        .with_latency(LATENCY),
                );
                json!({"shop_domain": handle, "client_id": "cid", "client_secret": "csecret"})
            };
            let request = HttpEvent::new("POST", "/shopify/stores")
                .claims(&app.admin())
                .json(&body)
                .into_request();
            let services = app.services.clone();
            async move {
                let response = save_credentials::handle(&services, request)
                    .await
                    .expect("handlers answer");
                let (status, body) = decode(response);
                assert_eq!(status, 201, "{body}");
            }
        })
        .await;
        rows.push(Row {
            answer,
            wall,
            requests,
            goal,
            reason,
        });
    }
    rows
}

fn print(rows: &[Row]) {
    println!(
        "{:<32} {:>9} {:>9} {:>9} {:>5} {:<11} minimum because",
        "answer", "wall", "latencies", "requests", "min", "verdict"
    );
    for row in rows {
        let multiple = row.wall.as_secs_f64() / LATENCY.as_secs_f64();
        let verdict = if multiple < f64::from(row.goal) + SLACK {
            "at goal"
        } else {
            "above goal"
        };
        println!(
            "{:<32} {:>7.0}ms {:>8.2}x {:>9} {:>5} {:<11} {}",
            row.answer,
            row.wall.as_secs_f64() * 1000.0,
            multiple,
            row.requests,
            row.goal,
            verdict,
            row.reason
        );
    }
    println!(
        "(each fake Shopify answer leaves {}ms after its request; {RUNS} runs per answer, medians; \"at goal\" is \
         under the minimum + {SLACK} latencies)",
        LATENCY.as_millis()
    );
}
