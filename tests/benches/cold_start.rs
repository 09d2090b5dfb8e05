//! `cargo bench -p tests --bench cold_start`: how long each function takes from `exec` to its
//! first request to the Lambda Runtime API (`GET /runtime/invocation/next`) — everything a
//! cold start does before the first invocation — against a bare `lambda_runtime` binary built
//! with the same (release) profile, in one run. Prints medians and ratios; asserts nothing.
//!
//! The binaries are built first (`cargo build --release`, sharing the bench's artifacts). Each
//! start points `AWS_LAMBDA_RUNTIME_API` at a local listener that notes the first request
//! line and never answers; the process is then killed. Starts are interleaved so machine
//! noise hits every binary alike.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const FUNCTIONS: [&str; 6] = [
    "save-credentials",
    "settings",
    "disconnect",
    "lookup",
    "contact-metadata",
    "mcp",
];
const STARTS: usize = 15;

fn build(root: &Path) -> PathBuf {
    let mut args = vec!["build", "--release", "--locked", "--bin", "bare-runtime"];
    for function in FUNCTIONS {
        args.extend(["--bin", function]);
    }
    for package in FUNCTIONS.iter().chain(&["tests"]) {
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
        .env("STORES_TABLE", "stores")
        // The MCP route's identity provider (its keys are read at the first request, not here).
        .env("MCP_ISSUER", "https://id.example.com/")
        .env("MCP_AUDIENCE", "shopify-connector-mcp")
        .env(
            "MCP_JWKS_URL",
            "https://id.example.com/.well-known/jwks.json",
        )
        .env("MCP_RESOURCE_URL", "https://api.example.com/mcp")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let (stream, _) = listener.accept().expect("the runtime asks for an event");
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    let elapsed = started.elapsed();
    assert!(
        line.starts_with("GET /2018-06-01/runtime/invocation/next"),
        "{line}"
    );
    let _ = child.kill();
    let _ = child.wait();
    elapsed
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let bin = build(root);
    let mut names: Vec<&str> = vec!["bare-runtime"];
    names.extend(FUNCTIONS);
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); names.len()];
    for name in &names {
        one_start(&bin.join(name)); // warm the page cache
    }
    for _ in 0..STARTS {
        for (i, name) in names.iter().enumerate() {
            samples[i].push(one_start(&bin.join(name)));
        }
    }
    let medians: Vec<Duration> = samples.iter().cloned().map(median).collect();
    let bare = medians[0];
    println!(
        "{:<44} {:>12} {:>10}",
        "cold start: exec to first runtime request", "median", "× bare"
    );
    for (name, samples) in names.iter().zip(samples) {
        let m = median(samples);
        let size = std::fs::metadata(bin.join(name))
            .map(|m| m.len())
            .unwrap_or(0);
        println!(
            "{:<44} {:>12?} {:>9.1}x   ({:.1} MiB x86_64)",
            name,
            m,
            m.as_secs_f64() / bare.as_secs_f64(),
            size as f64 / 1024.0 / 1024.0
        );
    }
    let of = |name: &str| medians[names.iter().position(|n| *n == name).unwrap()];
    println!(
        "{:<44} {:>12} {:>9.2}x   (goal <= 1.20x: the same tools over MCP start as fast)",
        "mcp cold start / lookup cold start",
        "",
        of("mcp").as_secs_f64() / of("lookup").as_secs_f64()
    );
}
