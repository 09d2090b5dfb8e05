//! `cargo bench -p tests --bench busy_sidebar`: whether inbox sidebars starve the AI's order
//! lookups. One store has a real-sized bucket (1,000 points restoring 50/s, each query holding
//! its requested cost while it runs); the org has two more stores; the customer has 50 orders
//! in each. Waves of six lookups at once hit the busy store (a wave every few seconds, about
//! what the bucket restores), first alone, then while reps open sidebars, several at once,
//! round after round. Prints what the lookups went through with and without sidebars (how many
//! were admitted at once, how many Shopify throttled — the target is none — and the longest a
//! lookup took beyond the slowest without sidebars) and what the sidebars showed. Prints
//! figures; asserts nothing (timings are not test outcomes).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;
use tests::app::{decode, section, Backend, TestApp};
use tests::bench::{self, Figures};
use tests::events::HttpEvent;
use tests::fake_shopify::{FakeCustomer, FakeOrder, FakeShop};

/// Every fake Shopify answer leaves this long after its request was sent (the fake looks at
/// the request after half of it).
const LATENCY: Duration = Duration::from_millis(50);
/// How long a query runs once admitted, holding its requested cost.
const EXECUTION: Duration = Duration::from_millis(100);
/// The busy store's bucket: Shopify's Standard plan.
const BUCKET: (f64, f64) = (1000.0, 50.0);
/// Lookups sent at once, per wave.
const WAVE: usize = 6;
/// Time between waves: six shipped-order lookups spend about 160 points, the bucket restores
/// 200 meanwhile.
const WAVE_EVERY: Duration = Duration::from_secs(4);
/// Waves before the sidebars start.
const QUIET_WAVES: usize = 3;
/// Sidebars opened at once, per round, and rounds.
const REPS: usize = 3;
const ROUNDS: usize = 3;
const JANE: &str = "jane@example.com";
const BUSY: &str = "busy-us.myshopify.com";
const LOOKUP_OPERATIONS: [&str; 2] = ["FindOrdersByName", "OrderTimeline"];

fn main() {
    bench::quiet_tracing();
    let runtime = bench::runtime();
    runtime.block_on(run());
}

/// One lookup's wall time, and whether sidebars were open meanwhile.
struct Lookup {
    wall: Duration,
    busy: bool,
    /// The error code of a lookup that failed.
    failed: Option<String>,
}

async fn run() {
    let app = TestApp::spawn(Backend::Memory).await;
    for (handle, prefix) in [("busy-us", "US-"), ("calm-uk", "UK-"), ("calm-eu", "EU-")] {
        let token = format!("shpat_{handle}");
        let mut shop = FakeShop::new(handle)
            .with_prefix(prefix)
            .with_token(&token)
            .with_latency(LATENCY)
            .with_execution(EXECUTION)
            .with_customer(FakeCustomer::new(1, "Jane Doe", JANE));
        if handle == "busy-us" {
            shop = shop.with_bucket(BUCKET.0, BUCKET.1);
        }
        for i in 0..contact_metadata::MAX_ORDERS {
            shop = shop.with_order(FakeOrder::new(
                &format!("{prefix}{}", 1000 + i),
                &format!("2026-{:02}-{:02}T10:00:00Z", 10 - i / 28, 28 - i % 28),
                JANE,
            ));
        }
        app.shopify.add_shop(shop);
        let (status, body) = app
            .connect(json!({"shop_domain": handle, "access_token": token}))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    // The connects spent some of the busy bucket; start full.
    app.shopify.set_available(BUSY, BUCKET.0);

    let sidebars_open = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    let lookups: Mutex<Vec<Lookup>> = Mutex::default();
    let waves = async {
        let mut wave = 0;
        while !done.load(Ordering::SeqCst) {
            let started = Instant::now();
            let busy = sidebars_open.load(Ordering::SeqCst);
            let one = |i: usize| {
                let number = format!("US-{}", 1000 + (wave * WAVE + i) % 50);
                let app = &app;
                async move {
                    let start = Instant::now();
                    let answer = app
                        .lookup(
                            "get_order_details",
                            json!({"order_number": number}),
                            Some(JANE),
                        )
                        .await;
                    let failed = (answer["ok"] != true)
                        .then(|| answer["error"]["code"].as_str().unwrap_or("?").to_owned());
                    (start.elapsed(), failed)
                }
            };
            let answered = futures::future::join_all((0..WAVE).map(one)).await;
            let busy = busy || sidebars_open.load(Ordering::SeqCst);
            lookups
                .lock()
                .unwrap()
                .extend(
                    answered
                        .into_iter()
                        .map(|(wall, failed)| Lookup { wall, busy, failed }),
                );
            wave += 1;
            tokio::time::sleep(WAVE_EVERY.saturating_sub(started.elapsed())).await;
        }
    };
    let sidebars = async {
        tokio::time::sleep(WAVE_EVERY * QUIET_WAVES as u32).await;
        let throttled_before = app.shopify.throttled_operations().len();
        sidebars_open.store(true, Ordering::SeqCst);
        let mut shown = Vec::new();
        let mut walls = Vec::new();
        let mut statuses = Vec::new();
        for _ in 0..ROUNDS {
            let round = (0..REPS).map(|_| {
                // A fresh sidebar cache per rep, as another container would have.
                let state = contact_metadata::State::new(app.services.clone());
                let request = HttpEvent::new("GET", "/shopify/contact-metadata")
                    .claims(&[("org_id", app.org.as_str()), ("role", "agent")])
                    .query("email", JANE)
                    .into_request();
                async move {
                    let start = Instant::now();
                    let response = contact_metadata::handle(&state, request)
                        .await
                        .expect("handlers answer");
                    let wall = start.elapsed();
                    let (_, body) = decode(response);
                    let busy = section(&body, BUSY);
                    let orders = busy["orders"].as_array().map_or(0, Vec::len);
                    let status = match busy["error"]["code"].as_str() {
                        Some(code) => code.to_owned(),
                        None => busy["status"].as_str().unwrap_or_default().to_owned(),
                    };
                    (wall, orders, status)
                }
            });
            for (wall, orders, status) in futures::future::join_all(round).await {
                walls.push(wall);
                shown.push(orders);
                statuses.push(status);
            }
        }
        sidebars_open.store(false, Ordering::SeqCst);
        // One more wave sees the sidebars' last requests out.
        tokio::time::sleep(WAVE_EVERY).await;
        done.store(true, Ordering::SeqCst);
        (walls, shown, statuses, throttled_before)
    };
    let ((), (walls, shown, mut statuses, throttled_before)) = tokio::join!(waves, sidebars);

    let lookups = lookups.into_inner().unwrap();
    let throttled = app.shopify.throttled_operations();
    let throttled_lookups = |range: std::ops::Range<usize>| {
        throttled[range]
            .iter()
            .filter(|op| LOOKUP_OPERATIONS.contains(&op.as_str()))
            .count()
    };
    let (lookup_points, lookups_at_once) = app.shopify.peak_held(BUSY, &LOOKUP_OPERATIONS);
    let (sidebar_points, sidebar_queries) = app
        .shopify
        .peak_held(BUSY, &["CustomerByEmail", "SidebarOrdersByIds"]);
    let (all_points, _) = app.shopify.peak_held(BUSY, &[]);
    let slowest = |busy: bool| {
        lookups
            .iter()
            .filter(|l| l.busy == busy)
            .map(|l| l.wall)
            .max()
            .unwrap_or_default()
    };
    let count = |busy: bool| lookups.iter().filter(|l| l.busy == busy).count();
    let failed: Vec<&str> = lookups.iter().filter_map(|l| l.failed.as_deref()).collect();

    println!(
        "busy store: {} points, {}/s; each query holds its requested points {} ms; latency {} ms",
        BUCKET.0,
        BUCKET.1,
        EXECUTION.as_millis(),
        LATENCY.as_millis()
    );
    println!(
        "{WAVE} lookups at once every {} s; {REPS} sidebars at once x {ROUNDS} rounds \
         (3 stores x 50 orders)",
        WAVE_EVERY.as_secs()
    );
    println!();
    let figures = Figures {
        name_width: 52,
        value_width: 12,
    };
    figures.row("figure", "value");
    figures.row("lookups without sidebars", count(false).to_string());
    figures.row("lookups beside sidebars", count(true).to_string());
    figures.row(
        "lookups that failed",
        format!("{} {}", failed.len(), failed.join(" ")),
    );
    figures.row(
        "lookups admitted at once (peak)",
        format!("{lookups_at_once} ({lookup_points:.0} pts)"),
    );
    figures.row(
        "lookups throttled without sidebars",
        throttled_lookups(0..throttled_before).to_string(),
    );
    figures.row(
        "lookups throttled beside sidebars (target 0)",
        throttled_lookups(throttled_before..throttled.len()).to_string(),
    );
    figures.row(
        "slowest lookup without sidebars",
        format!("{} ms", slowest(false).as_millis()),
    );
    figures.row(
        "slowest lookup beside sidebars",
        format!("{} ms", slowest(true).as_millis()),
    );
    figures.row(
        "longest wait a lookup had because of a sidebar",
        format!(
            "{} ms",
            slowest(true).saturating_sub(slowest(false)).as_millis()
        ),
    );
    figures.row(
        "sidebar requests in flight at once (peak)",
        format!("{sidebar_queries} ({sidebar_points:.0} pts)"),
    );
    figures.row(
        "points held at once, all queries (peak)",
        format!("{all_points:.0} of {:.0}", BUCKET.0),
    );
    let mut sorted = walls.clone();
    sorted.sort();
    figures.row(
        "sidebar wall, median / slowest",
        format!(
            "{} / {} ms",
            sorted[sorted.len() / 2].as_millis(),
            sorted.last().copied().unwrap_or_default().as_millis()
        ),
    );
    statuses.sort();
    let mut tally: Vec<(String, usize)> = Vec::new();
    for status in statuses {
        match tally.last_mut() {
            Some((last, n)) if *last == status => *n += 1,
            _ => tally.push((status, 1)),
        }
    }
    figures.row(
        "busy store's sidebar sections",
        tally
            .iter()
            .map(|(status, n)| format!("{n} {status}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let mut shown = shown;
    shown.sort();
    figures.row(
        "busy store's orders shown, fewest / median / most",
        format!(
            "{} / {} / {}",
            shown[0],
            shown[shown.len() / 2],
            shown[shown.len() - 1]
        ),
    );
}
