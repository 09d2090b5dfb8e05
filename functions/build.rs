//! The build script every function crate shares (`build = "../build.rs"`; the `tests` crate's
//! `bare-runtime`, the cold-start baseline, is linked the same way).
//!
//! On Linux with glibc (Lambda's `provided.al2023`), a function's binary is linked as a
//! position-dependent executable (`-no-pie`). A PIE is relocated by the dynamic loader at every
//! start: tens of thousands of `R_*_RELATIVE` entries applied over the tables of a multi-MiB
//! binary, each page they touch copied — part of every cold start — and the relocation
//! records themselves are ~0.5 MiB of each bootstrap. Lambda gives each sandbox its own
//! address space, so address randomization of the executable buys little there. Only the
//! binaries are linked this way: libraries (and a dependency's `cdylib`) stay
//! position-independent.
fn main() {
    // The script reads no file: naming what it does depend on keeps cargo from rerunning it at
    // every change in the package (each target's run is kept apart by cargo anyway).
    println!("cargo::rerun-if-env-changed=CARGO_BUILD_TARGET");
    let target = |key: &str| std::env::var(key).unwrap_or_default();
    if target("CARGO_CFG_TARGET_OS") == "linux" && target("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}
