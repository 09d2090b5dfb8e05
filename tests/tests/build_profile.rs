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
/// start, which `cargo bench -p tests --bench cold_start` measures at about a quarter of a
/// millisecond. The handlers' concurrency (fan-out over stores, pages in flight) is
/// asynchronous and needs no second thread.
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

/// An invoked function's handler future is boxed: `lambda_runtime`'s loop would otherwise hold
/// it inline, and `main`'s future (the whole of which a cold start builds on the stack, and
/// tokio then moves to the heap when it is large) would carry every state of the handler:
/// `lookup`'s `main` took a 39 KiB frame, ten pages touched at every cold start.
#[test]
fn every_invoked_function_boxes_its_handler_future() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut invoked = 0;
    for entry in std::fs::read_dir(root.join("functions")).unwrap().flatten() {
        let main = entry.path().join("src/main.rs");
        let Ok(source) = std::fs::read_to_string(&main) else {
            continue;
        };
        if !source.contains("run(service_fn(") {
            continue;
        }
        invoked += 1;
        let handler: String = source[source.find("run(service_fn(").unwrap()..]
            .split_whitespace()
            .collect();
        assert!(
            handler.contains("Box::pin(asyncmove"),
            "{}: the handler's future is boxed",
            main.display()
        );
    }
    assert!(invoked >= 4, "{invoked} invoked functions");
}

/// The functions are built with their own dependencies' features alone. `sam build` runs
/// `cargo lambda build --bin <function>` at the workspace root, which selects the workspace's
/// default members: were `tests` one of them, cargo would unify the harness's features into
/// every function's build, and tokio's signal and process drivers (which the runtime starts
/// with `enable_all`, allocating a registry of every signal) into every cold start.
#[test]
fn the_functions_are_built_without_the_harness_s_features() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let tokio_features = |extra: &[&str]| {
        let output = std::process::Command::new(env!("CARGO"))
            .args(["tree", "--locked", "--offline", "--prefix", "none"])
            .args(["-e", "features,normal,build", "-i", "tokio"])
            .args(extra)
            .current_dir(root)
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let deployed = tokio_features(&[]);
    assert!(deployed.contains("tokio feature \"rt\""), "{deployed}");
    for feature in ["signal", "process", "test-util"] {
        assert!(
            !deployed.contains(&format!("tokio feature \"{feature}\"")),
            "the functions' build enables tokio's {feature}:\n{deployed}"
        );
    }
    // The harness does use them, so the query above would see them if selected.
    assert!(tokio_features(&["--workspace"]).contains("tokio feature \"signal\""));
}

/// An ELF64 little-endian file's sections and symbols, as far as the test below needs them.
struct Elf<'a> {
    bytes: &'a [u8],
}

impl<'a> Elf<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        assert!(
            bytes.get(..6) == Some(b"\x7fELF\x02\x01"),
            "not an ELF64 little-endian file"
        );
        Self { bytes }
    }

    fn slice(&self, at: u64, len: u64) -> &'a [u8] {
        usize::try_from(at)
            .ok()
            .zip(usize::try_from(len).ok())
            .and_then(|(at, len)| self.bytes.get(at..at.checked_add(len)?))
            .unwrap_or_else(|| panic!("{len} bytes at {at:#x} are outside the file"))
    }

    fn int(&self, at: u64, len: u64) -> u64 {
        self.slice(at, len)
            .iter()
            .rev()
            .fold(0, |value, &byte| value << 8 | u64::from(byte))
    }

    /// Every section: (name, type, file offset, address, size, linked section).
    fn sections(&self) -> Vec<(String, u64, u64, u64, u64, u64)> {
        let (table, entry, count) = (self.int(0x28, 8), self.int(0x3a, 2), self.int(0x3c, 2));
        let header = |index: u64| table + index * entry;
        let names = self.int(header(self.int(0x3e, 2)) + 0x18, 8);
        (0..count)
            .map(|index| {
                let at = header(index);
                (
                    self.string(names + self.int(at, 4)),
                    self.int(at + 4, 4),
                    self.int(at + 0x18, 8),
                    self.int(at + 0x10, 8),
                    self.int(at + 0x20, 8),
                    self.int(at + 0x28, 4),
                )
            })
            .collect()
    }

    fn string(&self, at: u64) -> String {
        let tail = usize::try_from(at)
            .ok()
            .and_then(|at| self.bytes.get(at..))
            .unwrap_or_else(|| panic!("a name at {at:#x} is outside the file"));
        let end = tail
            .iter()
            .position(|&b| b == 0)
            .expect("a terminated name");
        String::from_utf8_lossy(&tail[..end]).into_owned()
    }

    /// Every symbol `.symtab` defines, with its address; `None` for a stripped file.
    fn symbols(&self) -> Option<Vec<(String, u64)>> {
        let sections = self.sections();
        let (_, _, offset, _, size, link) = sections.iter().find(|s| s.1 == 2)?;
        let strings = sections.get(usize::try_from(*link).ok()?)?.2;
        Some(
            (0..size / 24)
                .map(|index| offset + index * 24)
                // st_shndx 0: a symbol another object defines.
                .filter(|&at| self.int(at + 6, 2) != 0)
                .map(|at| (self.string(strings + self.int(at, 4)), self.int(at + 8, 8)))
                .collect(),
        )
    }
}

/// The code a function runs before its first request is gathered at the start of the text
/// (`functions/init-order.ld`, linked by `functions/build.rs`), so a cold start maps it in
/// fewer page faults. The script names functions without the hashes a build gives them, so it
/// holds for either target and across dependency updates.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn the_binaries_gather_their_init_code_before_the_rest_of_the_text() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let script = std::fs::read_to_string(root.join("functions/init-order.ld")).unwrap();
    assert!(script.contains("INSERT BEFORE .text;"), "{script}");
    let patterns: Vec<&str> = script
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("*(.text."))
        .collect();
    assert!(patterns.len() > 300, "{} patterns", patterns.len());
    for pattern in &patterns {
        let legacy_hash = pattern.match_indices("17h").any(|(at, _)| {
            let hash = pattern.get(at + 3..at + 19).unwrap_or_default();
            hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())
        });
        assert!(!legacy_hash, "a build's hash in {pattern}");
        // LLVM puts a function it deems cold in `.text.unlikely.<name>`, and init runs some
        // (`RawVecInner::finish_grow`, on every first growth of a vector): each pattern takes
        // the function from either section.
        let name = pattern
            .strip_prefix("*(.text.")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_default()
            .trim_end_matches(')');
        assert!(
            pattern.contains(&format!(" .text.unlikely.{name}")),
            "{pattern} misses .text.unlikely.{name}"
        );
        // v0 names (`.cargo/config.toml`), each without the crate that instantiated it: which
        // crate's copy of an instance a binary keeps depends on what is built with it.
        assert!(
            name.starts_with("_R") || name == "main",
            "{pattern}: not a v0 name"
        );
        let stem = name.trim_end_matches('*');
        let crate_suffix = stem.rsplit_once("Cs*_").is_some_and(|(_, tail)| {
            let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
            tail[..digits]
                .parse::<usize>()
                .is_ok_and(|length| length > 0 && tail.len() == digits + length)
        });
        assert!(
            !crate_suffix && !stem.ends_with("B*_"),
            "{pattern} names the crate that instantiated it"
        );
    }
    // The bare function (`tests/bare`, built within this package as `init-order-probe`) is
    // linked by the same build script: its `main` and the runtime's start are in `.text.init`,
    // ahead of the rest.
    let bytes = std::fs::read(env!("CARGO_BIN_EXE_init-order-probe")).unwrap();
    let elf = Elf::new(&bytes);
    let sections = elf.sections();
    let find = |name: &str| {
        sections
            .iter()
            .find(|section| section.0 == name)
            .unwrap_or_else(|| panic!("no {name} section"))
    };
    let (_, _, _, init_at, init_size, _) = find(".text.init");
    let (_, _, _, text_at, _, _) = find(".text");
    assert!(
        init_at < text_at,
        ".text.init at {init_at:#x}, .text at {text_at:#x}"
    );
    // A release build keeps no symbols; the test build does.
    let Some(symbols) = elf.symbols() else {
        eprintln!("no .symtab: the symbols' places are not checked");
        return;
    };
    let inside = |address: &u64| (*init_at..init_at + init_size).contains(address);
    let main = symbols
        .iter()
        .find(|(name, _)| name == "main")
        .expect("main");
    assert!(inside(&main.1), "main at {:#x}", main.1);
    // Every function a pattern names is in `.text.init`, wherever the build put the rest. The
    // bare function shares the functions' runtime code (std's, tokio's, lambda_runtime's
    // non-generic functions), so the script names some of its functions too.
    let globs: Vec<&str> = patterns
        .iter()
        .filter_map(|pattern| pattern.strip_prefix("*(.text.")?.split_whitespace().next())
        .collect();
    // An alias (identical code the compiler folded into another function) lives in the
    // section named after that other function, which the script need not name.
    let mut at_address = std::collections::HashMap::<u64, usize>::new();
    for (_, address) in &symbols {
        *at_address.entry(*address).or_default() += 1;
    }
    let named: Vec<&(String, u64)> = symbols
        .iter()
        .filter(|(name, address)| name.starts_with("_R") && at_address[address] == 1)
        .filter(|(name, _)| globs.iter().any(|glob| glob_matches(glob, name)))
        .collect();
    assert!(
        named.len() >= 20,
        "the script names {} functions",
        named.len()
    );
    let outside: Vec<&String> = named
        .iter()
        .filter(|(_, address)| !inside(address))
        .map(|(name, _)| name)
        .collect();
    assert!(
        outside.is_empty(),
        "{} of the {} functions the script names are outside .text.init: {:?}",
        outside.len(),
        named.len(),
        &outside[..outside.len().min(5)]
    );
}

/// Whether `name` matches `glob`, a linker script's section pattern whose only wildcard is `*`.
fn glob_matches(glob: &str, name: &str) -> bool {
    let mut parts = glob.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[test]
fn a_glob_matches_as_the_linker_s_does() {
    assert!(glob_matches("main", "main"));
    assert!(!glob_matches("main", "mains"));
    assert!(glob_matches("_RNvCs*_4core*", "_RNvCsAb1_4core3fmt"));
    assert!(glob_matches("_RNvCs*_4core3fmt", "_RNvCsAb1_4core3fmt"));
    assert!(!glob_matches("_RNvCs*_4core3fmt", "_RNvCsAb1_4core3fmtX"));
    assert!(!glob_matches("_RNvCs*_5alloc*", "_RNvCsAb1_4core3fmt"));
    assert!(glob_matches("a*b*b", "ab_b"));
    assert!(!glob_matches("a*bb*b", "abb"));
}
