//! How every function is built and started: the release profile's per-crate overrides keep
//! each function's own code, and so its whole binary, at the profile's level; each runs on a
//! current-thread runtime.

use std::path::Path;

/// With fat LTO and one codegen unit, the whole program is optimized at the level of the
/// binary crate: a function crate at `opt-level = "z"` would build all of that function
/// (its parsing, TLS and crypto included) for size alone.
#[test]
fn no_function_crate_is_optimized_for_size_alone() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let functions: Vec<String> = std::fs::read_dir(root.join("functions"))
        .unwrap()
        .flatten()
        .filter(|entry| entry.path().join("Cargo.toml").exists())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(functions.len() >= 12, "{functions:?}");
    let mut overridden = Vec::new();
    let mut package: Option<String> = None;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            package = line
                .strip_prefix("[profile.release.package.")
                .and_then(|rest| rest.strip_suffix(']'))
                .map(|name| name.trim_matches('"').to_owned());
        } else if let Some(package) = &package {
            if line.replace(' ', "").starts_with("opt-level=") {
                overridden.push(package.clone());
            }
        }
    }
    assert!(
        overridden.iter().any(|p| p == "aws-sdk-dynamodb"),
        "the network-bound crates are built for size: {overridden:?}"
    );
    // The SDK's JSON parser reads every DynamoDB answer and, at each cold start, the SDK's
    // endpoint partition table: at "z" none of its tokenizer is inlined (README, "Cold start").
    assert!(
        !overridden.iter().any(|p| p == "aws-smithy-json"),
        "aws-smithy-json stays at the release profile's level: {overridden:?}"
    );
    for package in &overridden {
        assert!(
            !functions.contains(package) && package != "shared" && package != "*",
            "[profile.release.package.{package}]: a function's own code stays at the release \
             profile's level"
        );
    }
}

/// Every function runs its handler on a current-thread runtime. A Lambda function handles one
/// event at a time, and at the template's 256 MB it has a fraction of one vCPU: worker threads
/// would add nothing but their start (thread creation, stacks, allocator arenas) to every cold
/// start, which `cargo bench --bench cold_start` measures at about a quarter of a millisecond.
/// The handlers' concurrency (fan-out over stores, pages in flight) is asynchronous and needs
/// no second thread.
#[test]
fn every_function_starts_a_current_thread_runtime() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let template = std::fs::read_to_string(root.join("template.yaml")).unwrap();
    let binaries: Vec<&str> = template
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Binary:"))
        .map(str::trim)
        .collect();
    assert!(binaries.len() >= 12, "{binaries:?}");
    for binary in binaries {
        let main = root.join("functions").join(binary).join("src/main.rs");
        let source =
            std::fs::read_to_string(&main).unwrap_or_else(|e| panic!("{}: {e}", main.display()));
        let attributes: Vec<&str> = source
            .lines()
            .map(str::trim)
            .filter(|line| line.starts_with("#[tokio::main"))
            .collect();
        assert_eq!(
            attributes,
            ["#[tokio::main(flavor = \"current_thread\")]"],
            "{}: the function's runtime has one thread",
            main.display()
        );
    }
}
