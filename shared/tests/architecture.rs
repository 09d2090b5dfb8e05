//! The house stays layered: every `crate::` path in `shared/src` points at a top-level module of
//! its own layer or of a layer below (the list is `shared/LAYERS`), no modules import each
//! other in a loop, and the modules an `!independent` line names never import one another.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The lines of `shared/LAYERS` without comments and blank lines.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
}

/// The layers, bottom first.
fn layers(text: &str) -> Vec<Vec<String>> {
    lines(text)
        .filter(|line| !line.starts_with('!'))
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// The groups of modules that never import one another (`!independent a b ...` lines).
fn independent(text: &str) -> Vec<Vec<String>> {
    lines(text)
        .filter_map(|line| line.strip_prefix("!independent"))
        .map(|names| names.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// Every import between two modules of one `!independent` group, and every module such a
/// group names that `graph` does not have.
fn dependents(groups: &[Vec<String>], graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut found = Vec::new();
    for group in groups {
        for module in group {
            let Some(targets) = graph.get(module) else {
                found.push(format!(
                    "shared/LAYERS keeps `{module}` independent, but shared/src does not have it"
                ));
                continue;
            };
            for other in group.iter().filter(|other| targets.contains(*other)) {
                found.push(format!(
                    "`{module}` imports `{other}`, which shared/LAYERS keeps independent of it"
                ));
            }
        }
    }
    found
}

/// The source without comments (a doc link is not an import). String literals stay: a serde
/// attribute's `with = "crate::..."` is one.
fn code_only(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The top-level modules a piece of code names through `crate::` (paths and `use` groups).
fn imports(source: &str) -> BTreeSet<String> {
    let code = code_only(source);
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `shared_crate::`, not `crate::`
        }
        let rest_trimmed = rest.trim_start();
        if let Some(group) = rest_trimmed.strip_prefix('{') {
            let mut depth = 0usize;
            let mut item = String::new();
            let mut items = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(std::mem::take(&mut item));
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 || item.is_empty() {
                    item.push(c);
                }
            }
            items.push(item);
            for item in items {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest_trimmed
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

/// The crate root's re-exports (`pub use config::Config;`): the name and the module it is from.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    code_only(lib)
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub use "))
        .filter_map(|path| {
            let path = path.trim_end_matches(';').trim();
            let module = path.split("::").next()?;
            let name = path.rsplit("::").next()?;
            Some((name.to_owned(), module.to_owned()))
        })
        .collect()
}

/// Which top-level module imports which, from (module, source) pairs; a name the crate root
/// re-exports counts as its module.
fn graph_with(
    files: &[(String, String)],
    reexported: &BTreeMap<String, String>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, source) in files {
        let edges = graph.entry(module.clone()).or_default();
        for target in imports(source) {
            let target = reexported.get(&target).cloned().unwrap_or(target);
            if &target != module && target != "self" && target != "super" {
                edges.insert(target);
            }
        }
    }
    graph
}

fn graph(files: &[(String, String)]) -> BTreeMap<String, BTreeSet<String>> {
    graph_with(files, &BTreeMap::new())
}

/// Everything wrong with `graph` against `layers`: upward imports, modules the list does not
/// name, and loops.
fn violations(layers: &[Vec<String>], graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let level: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, layer)| layer.iter().map(move |m| (m.as_str(), i)))
        .collect();
    let mut found = Vec::new();
    for (module, targets) in graph {
        let Some(&from) = level.get(module.as_str()) else {
            found.push(format!("`{module}` is on no layer of shared/LAYERS"));
            continue;
        };
        for target in targets {
            match level.get(target.as_str()) {
                None => found.push(format!(
                    "`{module}` imports `crate::{target}`, which is on no layer"
                )),
                Some(&to) if to > from => found.push(format!(
                    "`{module}` (layer {}) imports `{target}` from a layer above (layer {})",
                    from + 1,
                    to + 1
                )),
                _ => {}
            }
        }
    }
    // Loops: a depth-first search that reports each cycle it closes.
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        found: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|n| *n == node) {
            let mut cycle: Vec<&str> = path[at..].to_vec();
            cycle.push(node);
            found.push(format!("import loop: {}", cycle.join(" -> ")));
            return;
        }
        if !done.insert(node) {
            return;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done, found);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        visit(module, graph, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

fn layers_file() -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("LAYERS")).unwrap()
}

fn shared_crate() -> (Vec<Vec<String>>, BTreeMap<String, BTreeSet<String>>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let layers = layers(&layers_file());
    let src = root.join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files: Vec<(String, String)> = paths
        .iter()
        .filter(|p| p.as_path() != src.join("lib.rs"))
        .map(|p| {
            let relative = p.strip_prefix(&src).unwrap();
            let first = relative.components().next().unwrap().as_os_str();
            let module = Path::new(first)
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (module, fs::read_to_string(p).unwrap())
        })
        .collect();
    let lib = fs::read_to_string(src.join("lib.rs")).unwrap();
    (layers, graph_with(&files, &reexports(&lib)))
}

#[test]
fn shared_modules_import_only_their_own_layer_or_below_and_never_in_a_loop() {
    let (layers, graph) = shared_crate();
    let found = violations(&layers, &graph);
    assert!(
        found.is_empty(),
        "the shared crate breaks its layers (shared/LAYERS):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn modules_kept_independent_never_import_one_another() {
    let (_, graph) = shared_crate();
    let found = dependents(&independent(&layers_file()), &graph);
    assert!(
        found.is_empty(),
        "the shared crate breaks its independence rules (shared/LAYERS):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn every_layer_module_exists_in_the_crate() {
    let (layers, graph) = shared_crate();
    for module in layers.iter().flatten() {
        assert!(
            graph.contains_key(module),
            "shared/LAYERS names `{module}`, which shared/src does not have"
        );
    }
}

fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(m, s)| (m.to_string(), s.to_string()))
        .collect()
}

#[test]
fn an_upward_import_is_found() {
    let layers = layers("domain\nstore\nknowledge\n");
    let graph = graph(&files(&[
        ("domain", ""),
        (
            "store",
            "use crate::domain::ShopDomain;\nuse crate::knowledge::ports::Job;",
        ),
        ("knowledge", "use crate::{domain::Source, store};"),
    ]));
    let found = violations(&layers, &graph);
    assert!(
        found.contains(
            &"`store` (layer 2) imports `knowledge` from a layer above (layer 3)".to_string()
        ),
        "{found:?}"
    );
    assert!(
        found.contains(&"import loop: knowledge -> store -> knowledge".to_string()),
        "{found:?}"
    );
}

#[test]
fn a_loop_within_one_layer_is_found() {
    let layers = layers("events queue store\n");
    let graph = graph(&files(&[
        ("events", "fn f() -> crate::store::Slot { todo!() }"),
        (
            "store",
            "use crate::{\n    queue::Queue,\n    deadline,\n};",
        ),
        ("queue", "pub(crate) use crate::events::EventError;"),
    ]));
    let found = violations(&layers, &graph);
    assert!(
        found.contains(&"import loop: events -> store -> queue -> events".to_string()),
        "{found:?}"
    );
    assert!(found.contains(&"`store` imports `crate::deadline`, which is on no layer".to_string()));
}

#[test]
fn a_name_the_crate_root_reexports_counts_as_its_module() {
    let reexported =
        reexports("pub mod config;\npub use config::Config;\npub use services::Services;");
    let graph = graph_with(
        &files(&[("health", "fn f(c: &crate::Config, s: crate::Services) {}")]),
        &reexported,
    );
    assert_eq!(
        graph["health"],
        BTreeSet::from(["config".to_string(), "services".to_string()])
    );
}

#[test]
fn comments_and_other_crates_are_not_imports_but_serde_paths_are() {
    let source = "//! See [`crate::knowledge`].\n/* crate::health */\n#[serde(with = \"crate::http::present\")]\nuse shared_crate::x;\nuse crate::domain::{Source, ShopDomain};";
    assert_eq!(
        imports(source),
        BTreeSet::from(["domain".to_string(), "http".to_string()])
    );
}

#[test]
fn an_import_between_independent_modules_of_one_layer_is_found() {
    let text = "domain\nhealth knowledge\n!independent health knowledge\n";
    let graph = graph(&files(&[
        ("domain", ""),
        ("health", "use crate::domain::ShopDomain;"),
        (
            "knowledge",
            "use crate::{domain::Source, health::check::StoreKey};",
        ),
    ]));

    assert!(violations(&layers(text), &graph).is_empty());
    assert_eq!(
        dependents(&independent(text), &graph),
        vec!["`knowledge` imports `health`, which shared/LAYERS keeps independent of it"]
    );
}

#[test]
fn an_independent_module_the_crate_does_not_have_is_found() {
    let text = "health knowledge\n!independent health knowlege\n";
    let graph = graph(&files(&[("health", ""), ("knowledge", "")]));

    assert_eq!(
        dependents(&independent(text), &graph),
        vec!["shared/LAYERS keeps `knowlege` independent, but shared/src does not have it"]
    );
}
