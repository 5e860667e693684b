//! The layer order of `sacs`, written as the `| layer | modules |` table in `src/lib.rs`'s crate
//! doc, is kept by this test. Reading the table rows top to bottom and modules left to right
//! gives a strict total order, and a module may use only modules before it: then the crate has
//! no cycles, and each module can be read knowing only what comes earlier. Checked:
//!
//! - no upward reference: `crate::x`, `$crate::x` and `use crate::{x, y::z}` (anywhere in code;
//!   comments and string literals are skipped) in a file of top module `m` name a module `x`
//!   before `m`, or `m` itself; a name that is not in the table is an error too;
//! - the table and lib.rs's `mod` lines name the same modules, and each has its file;
//! - only `src/platform/` names `libc` (every system call goes through the platform layer);
//! - every `.rs` file and folder is declared by its parent module (no orphan files).
//!
//! The scanner is hand-written (std only) and deliberately small: it knows line comments, block
//! comments, string / raw string / char literals, and nothing else of Rust's grammar.

mod layer_table;

use std::fmt;
use std::path::{Path, PathBuf};

/// One broken rule: where (`line` 0 when it is about a whole file), the reference, and why.
#[derive(Debug)]
struct Violation {
    file: String,
    line: usize,
    name: String,
    why: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}: `{}`: {}", self.file, self.name, self.why),
            n => write!(f, "{}:{n}: `{}`: {}", self.file, self.name, self.why),
        }
    }
}

fn violation(file: &str, line: usize, name: &str, why: impl Into<String>) -> Violation {
    Violation {
        file: file.to_string(),
        line,
        name: name.to_string(),
        why: why.into(),
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `text` with every comment and string / char literal blanked to spaces (newlines kept, so
/// byte offsets and line numbers stay those of the file).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &text[i..];
        let ident_before = |k: usize| k > 0 && is_ident(b[k - 1] as char);
        let raw_may_start = !ident_before(i) || (b[i - 1] == b'b' && !ident_before(i - 1)); // `r"`, `br"`
        let end = if rest.starts_with("//") {
            i + rest.find('\n').unwrap_or(rest.len())
        } else if rest.starts_with("/*") {
            let (mut depth, mut j) = (0, i);
            loop {
                if text[j..].starts_with("/*") {
                    (depth, j) = (depth + 1, j + 2);
                } else if text[j..].starts_with("*/") {
                    (depth, j) = (depth - 1, j + 2);
                    if depth == 0 {
                        break j;
                    }
                } else if j >= b.len() {
                    break j;
                } else {
                    j += 1;
                }
            }
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            (j + 1).min(b.len())
        } else if b[i] == b'r'
            && raw_may_start
            && rest[1..].trim_start_matches('#').starts_with('"')
        {
            let hashes = rest[1..].len() - rest[1..].trim_start_matches('#').len();
            let close = format!("\"{}", "#".repeat(hashes));
            let body = i + 2 + hashes;
            text[body..]
                .find(&close)
                .map_or(b.len(), |k| body + k + close.len())
        } else if b[i] == b'\'' {
            let mut chars = rest[1..].chars();
            match (chars.next(), chars.next()) {
                (Some('\\'), _) => rest[3..].find('\'').map_or(b.len(), |k| i + 3 + k + 1),
                (Some(c), Some('\'')) => i + 1 + c.len_utf8() + 1,
                _ => i + 1, // a lifetime or label: code
            }
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
            continue;
        };
        if b[i] == b'\'' && end == i + 1 {
            out.push('\'');
        } else {
            out.extend(
                text[i..end]
                    .chars()
                    .map(|c| if c == '\n' { '\n' } else { ' ' }),
            );
        }
        i = end;
    }
    out
}

fn line_of(code: &str, at: usize) -> usize {
    code[..at].matches('\n').count() + 1
}

fn ident_at(code: &str, at: usize) -> &str {
    let rest = &code[at..];
    &rest[..rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len())]
}

/// The top modules that `code` names through the crate root, each with its line: the `x` of
/// `crate::x` / `$crate::x`, and every first segment of `crate::{x, y::z, w::{..}}`.
fn crate_references(code: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        if code[..at].chars().next_back().is_some_and(is_ident) {
            continue; // `mycrate::`
        }
        let after = at + "crate::".len();
        let start = after + (code[after..].len() - code[after..].trim_start().len());
        if !code[start..].starts_with('{') {
            found.push((line_of(code, start), ident_at(code, start).to_string()));
            continue;
        }
        // A brace group: the first identifier of each entry at depth 1.
        let (mut depth, mut entry_start) = (0, true);
        for (k, c) in code[start..].char_indices() {
            match c {
                '{' => (depth, entry_start) = (depth + 1, depth == 0),
                '}' if depth == 1 => break,
                '}' => depth -= 1,
                ',' if depth == 1 => entry_start = true,
                c if entry_start && is_ident(c) => {
                    let name = ident_at(code, start + k);
                    if name != "self" {
                        found.push((line_of(code, start + k), name.to_string()));
                    }
                    entry_start = false;
                }
                _ => {}
            }
        }
    }
    found
}

/// The `mod x;` declarations of `code` (with `pub`, `pub(..)` and `#[..]` before them).
fn declared_mods(code: &str) -> Vec<(usize, String)> {
    let parse = |line: &str| -> Option<String> {
        let mut l = line.trim();
        while l.starts_with("#[") {
            l = l[l.find(']')? + 1..].trim_start();
        }
        if let Some(r) = l.strip_prefix("pub") {
            l = r.trim_start();
            if l.starts_with('(') {
                l = l[l.find(')')? + 1..].trim_start();
            }
        }
        let name = l.strip_prefix("mod ")?.trim().strip_suffix(';')?.trim();
        name.chars().all(is_ident).then(|| name.to_string())
    };
    code.lines()
        .enumerate()
        .filter_map(|(i, l)| Some((i + 1, parse(l)?)))
        .collect()
}

/// The source tree `src`: the layer table of its lib.rs (`order` is empty if it has none) and
/// each file's code (comments and literals blanked), by path relative to the crate.
struct Tree {
    src: PathBuf,
    order: Vec<String>,
    layers: Result<Vec<(usize, layer_table::Layer)>, String>,
    files: Vec<(String, String)>,
}

fn read_tree(src: &Path) -> Tree {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let layers = layer_table::layers(&lib);
    let order = layers
        .iter()
        .flatten()
        .flat_map(|(_, l)| l.modules.clone())
        .collect();
    let files = layer_table::rs_files(src)
        .into_iter()
        .map(|p| {
            let rel = format!("src/{}", p.strip_prefix(src).unwrap().to_string_lossy());
            (rel, code_only(&std::fs::read_to_string(&p).unwrap()))
        })
        .collect();
    Tree {
        src: src.to_path_buf(),
        order,
        layers,
        files,
    }
}

/// `src/x.rs` and `src/x/..` belong to `x`; lib.rs to no module.
fn top_module(rel: &str) -> Option<&str> {
    let inner = rel.strip_prefix("src/")?;
    match inner.split_once('/') {
        Some((dir, _)) => Some(dir),
        None => inner.strip_suffix(".rs").filter(|m| *m != "lib"),
    }
}

fn no_table(tree: &Tree) -> Vec<Violation> {
    let e = tree.layers.as_ref().err().unwrap();
    vec![violation(
        "src/lib.rs",
        0,
        "| layer | modules |",
        e.as_str(),
    )]
}

fn upward_references(tree: &Tree) -> Vec<Violation> {
    if tree.layers.is_err() {
        return no_table(tree);
    }
    let position = |m: &str| tree.order.iter().position(|x| x == m);
    let mut found = Vec::new();
    for (rel, code) in &tree.files {
        let Some(own) = top_module(rel).and_then(|m| position(m).map(|p| (m, p))) else {
            continue; // lib.rs, or a module that `table_and_crate` reports
        };
        for (line, name) in crate_references(code) {
            match position(&name) {
                None => found.push(violation(rel, line, &format!("crate::{name}"), "not in the layer table")),
                Some(p) if p > own.1 => found.push(violation(
                    rel,
                    line,
                    &format!("crate::{name}"),
                    format!("`{}` may use only modules before it in the layer table; `{name}` comes after it", own.0),
                )),
                Some(_) => {}
            }
        }
    }
    found
}

fn table_and_crate(tree: &Tree) -> Vec<Violation> {
    let lib = tree.files.iter().find(|(rel, _)| rel == "src/lib.rs");
    let declared = declared_mods(&lib.unwrap().1);
    let Ok(layers) = &tree.layers else {
        return no_table(tree);
    };
    let mut found = Vec::new();
    for (line, name) in &declared {
        if !tree.order.contains(name) {
            found.push(violation(
                "src/lib.rs",
                *line,
                &format!("mod {name}"),
                "not in the layer table",
            ));
        }
    }
    for (line, layer) in layers {
        for m in &layer.modules {
            if !declared.iter().any(|(_, d)| d == m) {
                found.push(violation(
                    "src/lib.rs",
                    *line,
                    m,
                    "in the layer table but not declared by a `mod` line",
                ));
            }
            if !tree.src.join(format!("{m}.rs")).is_file()
                && !tree.src.join(m).join("mod.rs").is_file()
            {
                found.push(violation(
                    "src/lib.rs",
                    *line,
                    m,
                    format!("in the layer table but neither src/{m}.rs nor src/{m}/mod.rs exists"),
                ));
            }
        }
    }
    found
}

fn libc_outside_platform(tree: &Tree) -> Vec<Violation> {
    let mut found = Vec::new();
    for (rel, code) in &tree.files {
        if rel.starts_with("src/platform/") {
            continue;
        }
        for (at, _) in code.match_indices("libc") {
            let before = code[..at].chars().next_back().is_some_and(is_ident);
            if !before && ident_at(code, at) == "libc" {
                found.push(violation(
                    rel,
                    line_of(code, at),
                    "libc",
                    "only src/platform/ may name libc",
                ));
            }
        }
    }
    found
}

/// Every folder `src/..../d` is owned by `d/mod.rs` (or `d.rs` beside it; `src` by lib.rs), which
/// must declare each `.rs` file and each folder in it.
fn orphans(tree: &Tree) -> Vec<Violation> {
    let mut dirs = vec![tree.src.clone()];
    let mut found = Vec::new();
    while let Some(dir) = dirs.pop() {
        let rel = |p: &Path| {
            format!(
                "src/{}",
                p.strip_prefix(&tree.src).unwrap().to_string_lossy()
            )
        };
        let owner = if dir == tree.src {
            dir.join("lib.rs")
        } else if dir.join("mod.rs").is_file() {
            dir.join("mod.rs")
        } else {
            dir.with_extension("rs")
        };
        let declared = match tree.files.iter().find(|(r, _)| *r == rel(&owner)) {
            Some((_, code)) => declared_mods(code).into_iter().map(|(_, m)| m).collect(),
            None => Vec::new(),
        };
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            let (is_dir, is_rs) = (path.is_dir(), path.extension().is_some_and(|e| e == "rs"));
            if is_dir {
                dirs.push(path.clone());
            }
            if (is_dir || is_rs) && path != owner && !declared.contains(&name) {
                found.push(violation(
                    &rel(&path),
                    0,
                    &name,
                    format!("{} has no `mod {name};`", rel(&owner)),
                ));
            }
        }
    }
    found
}

fn crate_src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn assert_none(rule: &str, found: Vec<Violation>) {
    let list: Vec<String> = found.iter().map(|v| v.to_string()).collect();
    assert!(
        list.is_empty(),
        "{rule} ({} violations):\n  {}",
        list.len(),
        list.join("\n  ")
    );
}

#[test]
fn no_module_uses_a_later_one() {
    assert_none(
        "a module uses one that is not before it in the layer table of src/lib.rs",
        upward_references(&read_tree(&crate_src())),
    );
}

#[test]
fn the_layer_table_and_the_crate_agree() {
    assert_none(
        "src/lib.rs's layer table and its `mod` lines disagree",
        table_and_crate(&read_tree(&crate_src())),
    );
}

#[test]
fn only_the_platform_layer_names_libc() {
    assert_none(
        "libc named outside src/platform/",
        libc_outside_platform(&read_tree(&crate_src())),
    );
}

#[test]
fn every_folder_module_is_whole() {
    assert_none(
        "files that no module declares",
        orphans(&read_tree(&crate_src())),
    );
}

#[test]
fn the_checker_catches_what_it_should_on_a_fixture() {
    let lib = "//! | layer | modules |\n//! | --- | --- |\n//! | platform | `platform` |\n\
               //! | low | `low`, `mid` |\n//! | top | `top` |\n\n\
               pub mod platform;\npub(crate) mod low;\nmod mid;\npub mod top;\npub mod extra;\n";
    let low = "// Nothing here may use crate::top: this comment must not count.\n\
               use crate::platform::page;\n\
               use crate::top::Thing;\n\
               pub fn f() -> usize { let s = \"crate::top\"; s.len() + page() }\n\
               pub fn g() { crate::mid::h() }\n\
               /* crate::top in a block comment */ pub fn l<'a>(x: &'a str) -> &'a str { x }\n\
               pub fn size() -> usize { unsafe { libc::getpagesize() as usize } }\n\
               macro_rules! m { () => { $crate::low::f() } }\n";
    let mid = "use crate::{low, platform::{self as p, sys}, top::{a, b}};\n\
               pub fn h() { let q = '\"'; low::f(); crate::Sacs; }\n";
    let top = "use crate::{low, mid};\npub fn go() { mid::h(); crate::low::g(); }\n";
    let platform =
        "pub mod sys;\npub fn page() -> usize { unsafe { libc::getpagesize() as usize } }\n";
    let src = layer_table::fixture(
        "layering",
        &[
            ("lib.rs", lib),
            ("low.rs", low),
            ("mid.rs", mid),
            ("top.rs", top),
            ("extra.rs", "pub fn e() { crate::top::go() }\n"),
            ("platform/mod.rs", platform),
            ("platform/sys.rs", "pub fn s() { libc::abort() }\n"),
            ("platform/orphan.rs", "\n"),
        ],
    );
    let tree = read_tree(&src);
    let all: Vec<Violation> = [
        upward_references(&tree),
        table_and_crate(&tree),
        libc_outside_platform(&tree),
        orphans(&tree),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut got: Vec<String> = all
        .iter()
        .map(|v| format!("{}:{} {}", v.file, v.line, v.name))
        .collect();
    got.sort();
    let want = [
        "src/lib.rs:11 mod extra",         // declared, not in the table
        "src/low.rs:3 crate::top",         // upward `use`
        "src/low.rs:5 crate::mid",         // upward inline call (same layer, later)
        "src/low.rs:7 libc",               // libc outside platform
        "src/mid.rs:1 crate::top",         // upward, in a brace group
        "src/mid.rs:2 crate::Sacs",        // not a module (and after a '"' char literal)
        "src/platform/orphan.rs:0 orphan", // not declared by platform/mod.rs
    ];
    let found: Vec<String> = all.iter().map(|v| v.to_string()).collect();
    assert_eq!(got, want, "the checker found:\n  {}", found.join("\n  "));
    assert_eq!(tree.order, ["platform", "low", "mid", "top"]);
}
