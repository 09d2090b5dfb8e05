//! The build script every function crate shares (`build = "../build.rs"`; `tests/bare`, the
//! cold-start baseline, is linked the same way).
//!
//! On Linux with glibc (Lambda's `provided.al2023`), a function's binary is linked as a
//! position-dependent executable (`-no-pie`). A PIE is relocated by the dynamic loader at every
//! start: tens of thousands of `R_*_RELATIVE` entries applied over the tables of a multi-MiB
//! binary, each page they touch copied — part of every cold start — and the relocation
//! records themselves are ~0.5 MiB of each bootstrap. Lambda gives each sandbox its own
//! address space, so address randomization of the executable buys little there. Only the
//! binaries are linked this way: libraries (and a dependency's `cdylib`) stay
//! position-independent.
//!
//! The binaries are also linked with `init-order.ld` (beside this script; written by
//! `infra/init-order/profile`), which gathers the code the functions run before their first
//! request at the start of the text. It is an `INSERT BEFORE .text` script, so the linker's
//! own layout stays as it is otherwise; lld (rustc's own, and zig's for the arm64 build) and
//! GNU ld take it, mold does not (`INIT_ORDER=off` links without it).

/// The script, compiled into this build script: cargo runs it again when the file changes.
const INIT_ORDER: &str = include_str!("init-order.ld");

fn main() {
    println!("cargo::rerun-if-env-changed=CARGO_BUILD_TARGET");
    println!("cargo::rerun-if-env-changed=INIT_ORDER");
    let target = |key: &str| std::env::var(key).unwrap_or_default();
    if target("CARGO_CFG_TARGET_OS") == "linux" && target("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo::rustc-link-arg-bins=-no-pie");
        if target("INIT_ORDER") != "off" {
            let script = std::path::Path::new(&target("OUT_DIR")).join("init-order.ld");
            std::fs::write(&script, INIT_ORDER).expect("OUT_DIR is writable");
            println!("cargo::rustc-link-arg-bins=-Wl,-T,{}", script.display());
        }
    }
}
