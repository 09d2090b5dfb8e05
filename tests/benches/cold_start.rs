//! `cargo bench -p tests --bench cold_start`: how long each function of `template.yaml` takes
//! from `exec` to its first request to the Lambda Runtime API (`GET /runtime/invocation/next`)
//! — everything a cold start does before the first invocation — against two bare
//! `lambda_runtime` binaries built with the same (release) profile, in one run: the one
//! `cargo lambda new` generates (a multi-thread runtime), the yardstick of the goal, and one on
//! a current-thread runtime, as every function starts, a stricter comparison of the init work
//! the functions add to the runtime's. Prints medians, ratios and sizes; asserts nothing.
//!
//! The binaries are built first (`cargo build --release` of the functions and the bare ones,
//! without the harness, whose features would reach them; see the README, "Cold start") and
//! started from the linker's files: a file read back from disk is cached in the same small
//! pieces the linker writes it in (a copy written whole would start faster than any binary
//! read from disk does; see the README, "Cold start"). Each start gets the environment every
//! function has in AWS (the template's globals and the variables a function fails to start
//! without), points `AWS_LAMBDA_RUNTIME_API` at a local listener that notes the first request
//! line and never answers; the process is then killed. Starts are interleaved so machine noise
//! hits every binary alike.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tests::bench::median;

const STARTS: usize = 60;
/// The performance goal: no function's init above this multiple of the bare function's as
/// `cargo lambda new` generates it.
const INIT_GOAL: f64 = 1.3;
/// The yardsticks: the bare function as generated (multi-thread runtime; the goal's), and the
/// same on the current-thread runtime every function uses (the init work added to the runtime's).
const BARE: [&str; 2] = ["bare-runtime", "bare-runtime-current-thread"];

/// What a function finds in its environment in AWS, with made-up values: the template's globals
/// and the variables of the functions that need more.
const ENV: [(&str, &str); 18] = [
    ("STORES_TABLE", "stores"),
    ("SECRET_PREFIX", "opencx/shopify/bench"),
    (
        "SECRETS_KMS_KEY_ID",
        "arn:aws:kms:us-east-1:123456789012:key/bench",
    ),
    ("RUST_LOG", "info"),
    ("KNOWLEDGE_BUCKET", "knowledge"),
    ("KNOWLEDGE_INDEX_TABLE", "knowledge-index"),
    (
        "KNOWLEDGE_QUEUE_URL",
        "https://sqs.us-east-1.amazonaws.com/123456789012/knowledge",
    ),
    ("EVENT_BUS_NAME", "bench"),
    (
        "HEALTH_QUEUE_URL",
        "https://sqs.us-east-1.amazonaws.com/123456789012/health",
    ),
    (
        "WEBHOOK_TOKEN_SECRET",
        "opencx/shopify/bench/webhook-token-key",
    ),
    ("WEBHOOK_BASE_URL", "https://api.example.com"),
    ("ACTIONS_BUDGET_MS", "15000"),
    ("APPROVAL_TTL_HOURS", "48"),
    ("ACTION_APPROVER_ROLES", "admin,owner,agent"),
    // The MCP route's identity provider (its keys are read at the first request, not at init).
    ("MCP_ISSUER", "https://id.example.com/"),
    ("MCP_AUDIENCE", "shopify-connector-mcp"),
    (
        "MCP_JWKS_URL",
        "https://id.example.com/.well-known/jwks.json",
    ),
    ("MCP_RESOURCE_URL", "https://api.example.com/mcp"),
];

/// Every function's binary, as `template.yaml` names it (`Binary:` in its build metadata).
fn functions(root: &Path) -> Vec<String> {
    let template = std::fs::read_to_string(root.join("template.yaml")).expect("template.yaml");
    let functions: Vec<String> = template
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Binary:"))
        .map(|name| name.trim().to_owned())
        .collect();
    assert!(
        !functions.is_empty(),
        "template.yaml names no function binary"
    );
    functions
}

fn build(root: &Path, functions: &[String]) -> PathBuf {
    let mut args = vec!["build", "--release", "--locked"];
    for bare in BARE {
        args.extend(["--bin", bare]);
    }
    for function in functions {
        args.extend(["--bin", function]);
    }
    // The bare functions' own package, not `tests`: built beside the harness, tokio would
    // carry its signal and process drivers into every binary of the build.
    for package in functions.iter().map(String::as_str).chain(["bare-runtime"]) {
        args.extend(["-p", package]);
    }
    let status = Command::new(env!("CARGO"))
        .args(&args)
        .current_dir(root)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the release build failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    target.join("release")
}

/// Time from spawning `binary` to its first Runtime API request line.
fn one_start(binary: &Path) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let api = listener.local_addr().unwrap().to_string();
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "cold-start-bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_SESSION_TOKEN", "token")
        .envs(ENV)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    // The listener waits in a thread of its own, so a binary that exits at init (a variable
    // missing from ENV) is reported instead of waited for.
    let (first_request, asked) = mpsc::channel();
    // The connection is handed over with the line and stays open until the process is
    // killed: a function that saw it closed would exit on its own, racing the kill.
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut line = String::new();
        let mut reader = BufReader::new(stream);
        reader.read_line(&mut line).unwrap();
        let _ = first_request.send((started.elapsed(), line, reader));
    });
    let (elapsed, line, connection) = loop {
        if let Ok(request) = asked.recv_timeout(Duration::from_millis(5)) {
            break request;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
            panic!("{} exited ({status}) at init: {stderr}", binary.display());
        }
    };
    assert!(
        line.starts_with("GET /2018-06-01/runtime/invocation/next"),
        "{line}"
    );
    let _ = child.kill();
    let _ = child.wait();
    drop(connection);
    elapsed
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let functions = functions(root);
    let bin = build(root, &functions);
    let mut names: Vec<&str> = BARE.to_vec();
    names.extend(functions.iter().map(String::as_str));
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); names.len()];
    for name in &names {
        one_start(&bin.join(name)); // warm the page cache
    }
    for _ in 0..STARTS {
        for (i, name) in names.iter().enumerate() {
            samples[i].push(one_start(&bin.join(name)));
        }
    }
    let medians: Vec<Duration> = samples.into_iter().map(median).collect();
    let (template, same_runtime) = (medians[0], medians[1]);
    println!(
        "{:<44} {:>12} {:>10} {:>14}",
        "cold start: exec to first runtime request", "median", "× bare", "× same rt"
    );
    let (mut worst, mut worst_same_runtime): (f64, f64) = (0.0, 0.0);
    for (i, (name, m)) in names.iter().zip(&medians).enumerate() {
        let ratio = |bare: Duration| m.as_secs_f64() / bare.as_secs_f64();
        if i >= BARE.len() {
            worst = worst.max(ratio(template));
            worst_same_runtime = worst_same_runtime.max(ratio(same_runtime));
        }
        let size = std::fs::metadata(bin.join(name))
            .map(|m| m.len())
            .unwrap_or(0);
        println!(
            "{:<44} {:>12?} {:>9.2}x {:>13.2}x   ({:.2} MiB x86_64)",
            name,
            m,
            ratio(template),
            ratio(same_runtime),
            size as f64 / 1024.0 / 1024.0
        );
    }
    println!(
        "slowest function: {worst:.2}x the bare function as generated (goal: at most \
         {INIT_GOAL}x; {}), {worst_same_runtime:.2}x the bare start on the same runtime",
        if worst <= INIT_GOAL {
            "at goal"
        } else {
            "ABOVE GOAL"
        }
    );
    let of = |name: &str| medians[names.iter().position(|n| *n == name).unwrap()];
    println!(
        "{:<44} {:>12} {:>9.2}x   (goal <= 1.20x: the same tools over MCP start as fast)",
        "mcp cold start / lookup cold start",
        "",
        of("mcp").as_secs_f64() / of("lookup").as_secs_f64()
    );
}
