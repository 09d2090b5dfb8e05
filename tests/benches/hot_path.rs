//! `cargo bench -p tests`: figures for the paths that run on every AI lookup, and for the work
//! a cold start does before the first invocation. Prints medians and ratios; asserts nothing
//! (timings are not test outcomes).

use std::time::{Duration, Instant};

use serde_json::json;
use shared::domain::OrderNumber;
use shared::routing;
use shared::shopify::products::product_search_query;
use tests::app::{Backend, TestApp};
use tests::fake_shopify::{FakeOrder, FakeShop};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn per_op(iterations: u32, f: impl Fn()) -> Duration {
    let samples = (0..15)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                f();
            }
            start.elapsed() / iterations
        })
        .collect();
    median(samples)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("{:<52} {:>12}", "benchmark", "median");

    let parse = per_op(20_000, || {
        std::hint::black_box(OrderNumber::parse(std::hint::black_box("Order #UK-1042")).unwrap());
    });
    println!("{:<52} {:>12?}", "order number parse", parse);

    let query = per_op(20_000, || {
        std::hint::black_box(product_search_query(std::hint::black_box(
            "blue OR status:draft linen shirt",
        )));
    });
    println!(
        "{:<52} {:>12?}",
        "product search query (escape + quote)", query
    );

    runtime.block_on(async {
        let app = TestApp::spawn(Backend::Memory).await;
        let mut handles = Vec::new();
        for (i, prefix) in ["#", "UK-", "EU-", "#", "CA-"].iter().enumerate() {
            let handle = format!("bench-{i}");
            app.shopify.add_shop(
                FakeShop::new(&handle)
                    .with_prefix(prefix)
                    .with_token(&format!("shpat_{handle}"))
                    .with_order(FakeOrder::new(&format!("{prefix}1001"), "2026-11-01T10:00:00Z", "jane@example.com")),
            );
            app.connect(json!({"shop_domain": handle, "access_token": format!("shpat_{handle}")})).await;
            handles.push(handle);
        }
        let stores = app.records().await;
        let number = OrderNumber::parse("UK-1001").unwrap();
        let plan = per_op(20_000, || {
            std::hint::black_box(routing::plan(std::hint::black_box(&stores), &number));
        });
        println!("{:<52} {:>12?}", "routing plan over 5 stores", plan);

        let event = json!({"org_id": app.org, "action": "get_order_details", "arguments": {"order_number": "UK-1001"}, "contact": {"email": "jane@example.com"}});
        let start = Instant::now();
        let first = app.invoke(&app.services, event.clone()).await;
        let cold = start.elapsed();
        assert_eq!(first["ok"], true, "{first}");
        let mut warm = Vec::new();
        for _ in 0..200 {
            let start = Instant::now();
            std::hint::black_box(app.invoke(&app.services, event.clone()).await);
            warm.push(start.elapsed());
        }
        let warm = median(warm);
        println!("{:<52} {:>12?}", "lookup, first call (credentials read, connect)", cold);
        println!("{:<52} {:>12?}", "lookup, warm (cached credentials, pooled connection)", warm);
        println!("{:<52} {:>11.1}x", "  first / warm", cold.as_secs_f64() / warm.as_secs_f64());

        let fan_out = json!({"org_id": app.org, "action": "get_shop_details", "arguments": {}});
        app.invoke(&app.services, fan_out.clone()).await;
        let mut all = Vec::new();
        for _ in 0..100 {
            let start = Instant::now();
            std::hint::black_box(app.invoke(&app.services, fan_out.clone()).await);
            all.push(start.elapsed());
        }
        let all = median(all);
        println!("{:<52} {:>12?}", "shop details fanned out to 5 stores (warm)", all);
        println!("{:<52} {:>11.1}x", "  5-store fan-out / 1-store lookup", all.as_secs_f64() / warm.as_secs_f64());
    });

    // Cold start: what main() does before the first invocation (no network at init).
    for (key, value) in [
        ("STORES_TABLE", "bench"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "x"),
        ("AWS_SECRET_ACCESS_KEY", "x"),
    ] {
        // SAFETY: single-threaded at this point; nothing else reads the environment.
        unsafe { std::env::set_var(key, value) };
    }
    let init = runtime.block_on(async {
        let mut samples = Vec::new();
        for _ in 0..15 {
            let start = Instant::now();
            std::hint::black_box(shared::Services::from_env().await.unwrap());
            samples.push(start.elapsed());
        }
        median(samples)
    });
    println!(
        "{:<52} {:>12?}",
        "cold-start init (config, SdkConfig, clients)", init
    );
}
