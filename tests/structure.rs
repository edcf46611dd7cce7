//! The codebase's shape, checked: the binary only dispatches, no library file is
//! part of an import cycle, and a file over [`LONG_FILE`] lines says why in its
//! module doc.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Most lines `src/main.rs` may have: it parses the arguments and dispatches.
const MAIN_LINES: usize = 150;
/// Lines above which a file must state its reason.
const LONG_FILE: usize = 500;
/// How a long file states its reason, in its module doc.
const LONG_FILE_REASON: &str = "//! Longer than 500 lines because";

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The library's module path of a file under `src/` (`src/model/mod.rs` is `model`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The module paths a file's code names: `crate::a::b`, `super::c`, and paths
/// that start at one of its own child modules. `{a, b}` groups count each member.
fn named_paths(text: &str, module: &[String], is_dir_module: bool) -> Vec<Vec<String>> {
    // A file's own `#[cfg(test)] mod tests` (at its end here) uses `super::*`
    // for the file itself: not an import.
    let text = text.split("#[cfg(test)]").next().unwrap_or(text);
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let children: BTreeSet<String> = code
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            l.strip_prefix("mod ")
                .and_then(|r| r.strip_suffix(';'))
                .map(|m| m.trim().to_string())
        })
        .collect();
    // The module `super` names: a file's parent; a mod.rs's parent's parent.
    let parent: Vec<String> = if is_dir_module || module.is_empty() {
        module[..module.len().saturating_sub(1)].to_vec()
    } else {
        module[..module.len() - 1].to_vec()
    };
    let mut out = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < chars.len() {
        if !is_ident(chars[i]) || (i > 0 && (is_ident(chars[i - 1]) || chars[i - 1] == ':')) {
            i += 1;
            continue;
        }
        // A path from here: identifiers and `::`, then perhaps one `{...}` group.
        let mut j = i;
        while j < chars.len() && (is_ident(chars[j]) || chars[j] == ':') {
            j += 1;
        }
        let mut path: String = chars[i..j].iter().collect();
        if path.ends_with("::") && chars.get(j) == Some(&'{') {
            let mut depth = 0;
            let start = j;
            while j < chars.len() {
                match chars[j] {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                j += 1;
                if depth == 0 {
                    break;
                }
            }
            path.push_str(&chars[start..j].iter().collect::<String>());
        }
        let head = path.split("::").next().unwrap_or("").to_string();
        let base: Option<Vec<String>> = match head.as_str() {
            "crate" => Some(vec![]),
            "super" => Some(parent.clone()),
            h if children.contains(h) && path.contains("::") => Some(module.to_vec()),
            _ => None,
        };
        if let Some(base) = base {
            let rest = if head == "crate" || head == "super" {
                path.split_once("::").map_or("", |x| x.1).to_string()
            } else {
                path.clone()
            };
            let (stem, group) = match rest.find('{') {
                Some(k) => (
                    rest[..k].to_string(),
                    rest[k + 1..].trim_end_matches('}').to_string(),
                ),
                None => (rest.clone(), String::new()),
            };
            let split = |s: &str| -> Vec<String> {
                s.split("::")
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty() && p != "self" && p.chars().all(is_ident))
                    .collect()
            };
            let mut full = base;
            full.extend(split(&stem));
            if group.is_empty() {
                out.push(full);
            } else {
                // Nested groups are rare here; each top-level member counts.
                for member in group.split(',') {
                    let mut p = full.clone();
                    p.extend(split(member.split('{').next().unwrap_or("")));
                    out.push(p);
                }
            }
        }
        i = j.max(i + 1);
    }
    out
}

/// Library files and the library files each one imports.
fn import_graph() -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let src = common::root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.retain(|f| !f.ends_with("main.rs") && !f.starts_with(src.join("cli")));
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|f| (module_of(&src, f), f.clone()))
        .collect();
    // Names a file re-exports (`pub use a::b::Name;`), by (file, name): where they are defined.
    let mut reexports: BTreeMap<(PathBuf, String), Vec<String>> = BTreeMap::new();
    for f in &files {
        let module = module_of(&src, f);
        let is_dir = f.ends_with("mod.rs") || f.ends_with("lib.rs");
        let text = std::fs::read_to_string(f).unwrap();
        // The file's `mod` lines come along, so that paths from its child modules resolve.
        let mods: String = text
            .lines()
            .filter(|l| l.starts_with("mod ") || l.starts_with("pub mod "))
            .map(|l| format!("{l}\n"))
            .collect();
        for stmt in text.split("\npub use ").skip(1) {
            let stmt = format!("{mods}use {}", stmt.split(';').next().unwrap_or(""));
            for path in named_paths(&stmt, &module, is_dir) {
                if let Some(name) = path.last() {
                    reexports.insert((f.clone(), name.clone()), path.clone());
                }
            }
        }
    }
    // The file that defines what `path` names: the longest prefix that is a module
    // file, followed through that file's re-exports.
    let resolve = |path: &[String]| -> Option<PathBuf> {
        let mut path = path.to_vec();
        for _ in 0..8 {
            let n = (1..=path.len())
                .rev()
                .find(|&n| modules.contains_key(&path[..n]))?;
            let file = modules[&path[..n]].clone();
            match path
                .get(n)
                .and_then(|name| reexports.get(&(file.clone(), name.clone())))
            {
                Some(target) if target.as_slice() != path.as_slice() => {
                    let mut next = target.clone();
                    next.extend(path[n + 1..].iter().cloned());
                    path = next;
                }
                _ => return Some(file),
            }
        }
        None
    };
    let mut graph = BTreeMap::new();
    for f in &files {
        let module = module_of(&src, f);
        let is_dir = f.ends_with("mod.rs") || f.ends_with("lib.rs");
        let text = std::fs::read_to_string(f).unwrap();
        let mut deps = BTreeSet::new();
        for path in named_paths(&text, &module, is_dir) {
            if let Some(target) = resolve(&path) {
                if target != *f {
                    deps.insert(target);
                }
            }
        }
        graph.insert(f.clone(), deps);
    }
    graph
}

/// A cycle in `graph`, if there is one, as the files along it.
fn find_cycle(graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Option<Vec<PathBuf>> {
    fn visit(
        f: &PathBuf,
        graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        state: &mut BTreeMap<PathBuf, u8>,
        stack: &mut Vec<PathBuf>,
    ) -> Option<Vec<PathBuf>> {
        state.insert(f.clone(), 1);
        stack.push(f.clone());
        for d in graph.get(f).into_iter().flatten() {
            match state.get(d).copied().unwrap_or(0) {
                1 => {
                    let k = stack.iter().position(|s| s == d).unwrap();
                    let mut cycle = stack[k..].to_vec();
                    cycle.push(d.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(d, graph, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(f.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for f in graph.keys() {
        if state.get(f).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(f, graph, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn no_library_file_is_part_of_an_import_cycle() {
    let graph = import_graph();
    let root = common::root().join("src");
    // The checker sees imports: these are known edges of this code base.
    let edge = |a: &str, b: &str| graph[&root.join(a)].contains(&root.join(b));
    assert!(edge("train.rs", "model/learner.rs"));
    assert!(edge("model/ensemble.rs", "model/mlp.rs"));
    assert!(edge("batch/mod.rs", "batch/output.rs"));
    assert!(edge("batch/resume.rs", "batch/output.rs"));
    assert!(edge("live/mod.rs", "live/track.rs"));
    if let Some(cycle) = find_cycle(&graph) {
        let names: Vec<String> = cycle
            .iter()
            .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
            .collect();
        panic!("import cycle: {}", names.join(" -> "));
    }
}

#[test]
fn the_checker_finds_a_cycle_when_there_is_one() {
    let p = |s: &str| PathBuf::from(s);
    let mut graph = BTreeMap::new();
    graph.insert(p("a"), BTreeSet::from([p("b")]));
    graph.insert(p("b"), BTreeSet::from([p("c")]));
    graph.insert(p("c"), BTreeSet::from([p("a")]));
    assert_eq!(find_cycle(&graph).map(|c| c.len()), Some(4));
    graph.insert(p("c"), BTreeSet::new());
    assert_eq!(find_cycle(&graph), None);
    let named = named_paths(
        "use crate::model::{mlp::Mlp, forest};\nuse super::x::Y;\nmod kid;\nuse kid::Z;",
        &["a".to_string(), "b".to_string()],
        false,
    );
    assert!(
        named.contains(&vec!["model".into(), "mlp".into(), "Mlp".into()]),
        "{named:?}"
    );
    assert!(
        named.contains(&vec!["model".into(), "forest".into()]),
        "{named:?}"
    );
    assert!(
        named.contains(&vec!["a".into(), "x".into(), "Y".into()]),
        "{named:?}"
    );
    assert!(
        named.contains(&vec!["a".into(), "b".into(), "kid".into(), "Z".into()]),
        "{named:?}"
    );
}

#[test]
fn main_only_dispatches_and_long_files_say_why() {
    let root = common::root();
    let main = std::fs::read_to_string(root.join("src/main.rs")).unwrap();
    assert!(
        main.lines().count() < MAIN_LINES,
        "src/main.rs has {} lines",
        main.lines().count()
    );
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines = text.lines().count();
        assert!(
            lines <= LONG_FILE || text.contains(LONG_FILE_REASON),
            "{} has {lines} lines and no `{LONG_FILE_REASON} ...` in its module doc",
            f.display()
        );
    }
}
