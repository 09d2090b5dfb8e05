//! The release profile's per-crate overrides keep every function's own code, and so its whole
//! binary, at the profile's level.

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
    for package in &overridden {
        assert!(
            !functions.contains(package) && package != "shared" && package != "*",
            "[profile.release.package.{package}]: a function's own code stays at the release \
             profile's level"
        );
    }
}
