//! The tree is the architecture: every module of `src/` sits on a floor, and code may use only
//! its own floor and the floors below. This test reads the sources and fails on any path that
//! reaches up (a `crate::…` or `super::…` path outside comments), naming the file, the line and
//! the two rooms, so an import circle between folders cannot come back unnoticed.

use std::fs;
use std::path::{Path, PathBuf};

/// Rooms from the top floor down; a room may use itself and any room after it.
const FLOORS: [&str; 15] = [
    "cli",
    "manipulate",
    "rerank",
    "bootstrap",
    "simulate",
    "report",
    "analyse",
    "solve",
    "solve::settings",
    "solve::posterior",
    "solve::map",
    "solve::backend",
    "design",
    "load",
    "base",
];

/// The room a module path (`solve::map::fista`) belongs to, with its floor (index in FLOORS).
fn room(module: &[String]) -> Option<(usize, &'static str)> {
    let joined = module.join("::");
    FLOORS
        .iter()
        .enumerate()
        .filter(|(_, r)| joined == **r || joined.starts_with(&format!("{r}::")))
        .max_by_key(|(_, r)| r.len())
        .map(|(i, r)| (i, *r))
}

/// `src/solve/map/fista.rs` → `["solve", "map", "fista"]`; `mod.rs` names its folder.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().map(String::as_str) == Some("mod") {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every module path a line names: `crate::a::b`, `crate::{a::b, c}`, `super::x`.
fn paths_in(line: &str, here: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let word = |s: &str| -> Vec<String> {
        s.split("::")
            .map(|p| {
                p.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|p| !p.is_empty() && p.chars().next().unwrap().is_ascii_lowercase())
            .collect()
    };
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for item in inner.split(',') {
                found.push(word(item.trim()));
            }
        } else {
            found.push(word(after));
        }
        rest = after;
    }
    let mut rest = line;
    while let Some(i) = rest.find("super::") {
        // Only a path's first `super` (the word must not continue another path).
        let before = rest[..i].chars().last();
        let after = &rest[i..];
        if before.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
            let mut base = here.to_vec();
            let mut tail = after;
            while let Some(t) = tail.strip_prefix("super::") {
                base.pop();
                tail = t;
            }
            let mut p = base;
            p.extend(word(tail));
            found.push(p);
        }
        rest = &after["super::".len()..];
    }
    found
}

#[test]
fn no_module_uses_a_floor_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut rooms_seen = 0;
    for file in &files {
        let module = module_of(&src, file);
        // The crate root and the binary only declare and dispatch.
        let Some((floor, here)) = room(&module) else {
            assert!(
                module.is_empty() || module == ["main"] || module == ["lib"],
                "{} is in no room: add its folder to FLOORS",
                file.display()
            );
            continue;
        };
        rooms_seen += 1;
        // `super` of `a/b.rs` (module a::b) and of `a/b/mod.rs` (also a::b) is `a`.
        let here_mod = module.clone();
        let text = fs::read_to_string(file).unwrap();
        let mut in_tests = false;
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            // Unit tests may reach anywhere for their references; production code may not.
            if code.starts_with("#[cfg(test)]") {
                in_tests = true;
            }
            if in_tests {
                continue;
            }
            for p in paths_in(code, &here_mod) {
                let Some((to_floor, there)) = room(&p) else {
                    continue;
                };
                if to_floor < floor {
                    violations.push(format!(
                        "{}:{}: `{here}` uses `{there}` ({})",
                        file.strip_prefix(&src).unwrap().display(),
                        n + 1,
                        p.join("::")
                    ));
                }
            }
        }
    }
    assert!(rooms_seen > 50, "read only {rooms_seen} files");
    assert!(
        violations.is_empty(),
        "imports reaching a floor above:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_sees_an_upward_path() {
    // The parser itself: a grouped path, a plain one and a `super` chain all resolve.
    let here: Vec<String> = ["solve", "map", "fista"].map(String::from).to_vec();
    let p = paths_in("use crate::{cli::fit, base::error::Error};", &here);
    assert_eq!(p[0], ["cli", "fit"]);
    assert_eq!(room(&p[0]).unwrap().1, "cli");
    let p = paths_in("use super::super::posterior::lanes::Field;", &here);
    assert_eq!(room(&p[0]).unwrap().1, "solve::posterior");
    assert!(room(&p[0]).unwrap().0 < room(&here).unwrap().0);
}
