//! `docs/configuration.md` must agree with `sacs::options::OPTIONS`, the one table of settings:
//! every option has a row `| `NAME` | `DEFAULT` | meaning |` (so its default is on the same line
//! as its name), and the page names no `SACS_*` variable that the table does not have. The
//! architecture page may not name unknown variables either. When an option is added, renamed or
//! its default changes, this test fails until the docs follow.
//!
//! `docs/architecture.md` must also name the real modules: its table whose header row begins
//! `| module |` has a row for every `.rs` file under `allocator/src` (but lib.rs), first cell
//! `` `heap` `` (src/heap/mod.rs or src/heap.rs) or `` `heap::lifecycle` `` (src/heap/lifecycle.rs),
//! and names no module that has no file; and its `| layer | modules |` table is the one in
//! lib.rs's crate doc, row for row, so that the page and the order `tests/layering.rs` enforces
//! cannot drift apart.

mod layer_table;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn read_doc(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../docs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every `SACS_[A-Z0-9_]+` token in `text` (a bare `SACS_*` wildcard is not a name).
fn variables_named(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let is_name_byte = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_';
    let mut names = BTreeSet::new();
    let mut i = 0;
    while let Some(found) = text[i..].find("SACS_") {
        let start = i + found;
        let mut end = start + "SACS_".len();
        while end < bytes.len() && is_name_byte(bytes[end]) {
            end += 1;
        }
        let preceded_by_name =
            start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let name = text[start..end].trim_end_matches('_');
        if !preceded_by_name && name.len() > "SACS".len() {
            names.insert(name.to_string());
        }
        i = end;
    }
    names
}

/// The cells of a Markdown table row, trimmed and without backticks; `None` for other lines.
fn table_cells(line: &str) -> Option<Vec<String>> {
    let line = line.trim();
    if !line.starts_with('|') {
        return None;
    }
    let inner = line.trim_start_matches('|').trim_end_matches('|');
    Some(
        inner
            .split('|')
            .map(|c| c.trim().trim_matches('`').trim().to_string())
            .collect(),
    )
}

#[test]
fn every_option_is_documented_with_its_default() {
    let doc = read_doc("configuration.md");
    let mut problems = Vec::new();
    for opt in sacs::options::OPTIONS.iter() {
        if !doc.contains(opt.name) {
            problems.push(format!("{} is not mentioned", opt.name));
            continue;
        }
        let rows: Vec<Vec<String>> = doc
            .lines()
            .filter_map(table_cells)
            .filter(|cells| cells.first().is_some_and(|c| c == opt.name))
            .collect();
        match rows.as_slice() {
            [row] => {
                let default = opt.default.to_string();
                if row.get(1) != Some(&default) {
                    problems.push(format!(
                        "{}: the row gives default {:?}, the code has {default}",
                        opt.name,
                        row.get(1).map(String::as_str).unwrap_or("")
                    ));
                }
                if !matches!(row.get(2), Some(meaning) if !meaning.is_empty()) {
                    problems.push(format!("{}: the row has no meaning", opt.name));
                }
            }
            [] => problems.push(format!(
                "{}: no table row `| `{}` | `{}` | meaning |`",
                opt.name, opt.name, opt.default
            )),
            _ => problems.push(format!("{}: {} table rows, want one", opt.name, rows.len())),
        }
    }
    assert!(
        problems.is_empty(),
        "docs/configuration.md disagrees with sacs::options::OPTIONS:\n  {}",
        problems.join("\n  ")
    );
}

/// Names the docs may give that are not options: configuration.md's example of a typo, and
/// the prefixes of the project's own variables that SACS does not report as unknown.
const NAMED_NON_OPTIONS: [&str; 3] = ["SACS_STAT", "SACS_TEST", "SACS_BENCH"];

fn assert_names_only_real_options(doc_name: &str) {
    let doc = read_doc(doc_name);
    let known: BTreeSet<&str> = sacs::options::OPTIONS
        .iter()
        .map(|o| o.name)
        .chain(sacs::options::TEXT_OPTIONS.iter().map(|o| o.name))
        .collect();
    let unknown: Vec<String> = variables_named(&doc)
        .into_iter()
        .filter(|n| !known.contains(n.as_str()) && !NAMED_NON_OPTIONS.contains(&n.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/{doc_name} names SACS_ variables that sacs::options::OPTIONS does not have: {unknown:?}"
    );
}

#[test]
fn every_text_option_has_a_row() {
    let doc = read_doc("configuration.md");
    for opt in sacs::options::TEXT_OPTIONS.iter() {
        let rows = doc
            .lines()
            .filter_map(table_cells)
            .filter(|cells| cells.first().is_some_and(|c| c == opt.name))
            .count();
        assert_eq!(
            rows, 1,
            "{}: want one row `| `{}` | unset | meaning |`",
            opt.name, opt.name
        );
    }
}

#[test]
fn configuration_names_no_unknown_variable() {
    assert_names_only_real_options("configuration.md");
}

#[test]
fn architecture_names_no_unknown_variable() {
    assert_names_only_real_options("architecture.md");
}

#[test]
fn the_name_scanner_finds_names_and_skips_wildcards() {
    let found =
        variables_named("`SACS_*`, SACS_HOT_MS=5, (SACS_WHALE_RING) XSACS_NOT and SACS_X_.");
    let want: BTreeSet<String> = ["SACS_HOT_MS", "SACS_WHALE_RING", "SACS_X"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(found, want);
    assert_eq!(
        table_cells("| `SACS_HOT_MS` | `100` | m |").unwrap(),
        ["SACS_HOT_MS", "100", "m"]
    );
    assert!(table_cells("SACS_HOT_MS 100").is_none());
}

fn crate_src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The module paths in the first cells of `doc`'s table whose header row begins `| module |`,
/// each with its line; a first cell may name several (`` `segment`, `segment_map` ``).
fn documented_modules(doc: &str) -> Result<Vec<(usize, String)>, String> {
    let rows = layer_table::table(doc, &["module"])
        .ok_or("no table whose header row begins `| module |`")?;
    let mut named = Vec::new();
    for row in rows {
        for item in row.cells[0].split(',') {
            let path = layer_table::backticked(item).ok_or_else(|| {
                format!(
                    "line {}: {:?} is not a module path in backticks",
                    row.line,
                    item.trim()
                )
            })?;
            named.push((row.line, path));
        }
    }
    Ok(named)
}

/// The module path of a file under `src`: `heap/lifecycle.rs` → `heap::lifecycle`,
/// `heap/mod.rs` → `heap`, `big.rs` → `big`.
fn module_path(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.len() > 1 && parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// Between `doc`'s module table and the tree `src`: the paths the table names that have no
/// file, and the files (but lib.rs) that the table does not name.
fn module_table_problems(doc: &str, src: &Path) -> Result<(Vec<String>, Vec<String>), String> {
    let named = documented_modules(doc)?;
    let files: Vec<(String, PathBuf)> = layer_table::rs_files(src)
        .into_iter()
        .filter(|f| f != &src.join("lib.rs"))
        .map(|f| (module_path(src, &f), f))
        .collect();
    let missing = named
        .iter()
        .filter(|(_, path)| !files.iter().any(|(m, _)| m == path))
        .map(|(line, path)| {
            let p = path.replace("::", "/");
            format!("line {line}: `{path}` (no src/{p}.rs, no src/{p}/mod.rs)")
        })
        .collect();
    let unnamed = files
        .iter()
        .filter(|(m, _)| !named.iter().any(|(_, path)| path == m))
        .map(|(m, f)| format!("`{m}` (src/{})", f.strip_prefix(src).unwrap().display()))
        .collect();
    Ok((missing, unnamed))
}

#[test]
fn architecture_names_only_modules_that_exist() {
    let (missing, _) = module_table_problems(&read_doc("architecture.md"), &crate_src())
        .unwrap_or_else(|e| panic!("docs/architecture.md: {e}"));
    assert!(
        missing.is_empty(),
        "docs/architecture.md's module table names modules with no file under allocator/src:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn architecture_names_every_source_file() {
    let (_, unnamed) = module_table_problems(&read_doc("architecture.md"), &crate_src())
        .unwrap_or_else(|e| panic!("docs/architecture.md: {e}"));
    assert!(
        unnamed.is_empty(),
        "files under allocator/src without a row `| `path` | ... |` in docs/architecture.md's module table:\n  {}",
        unnamed.join("\n  ")
    );
}

fn layer_rows(text: &str, what: &str) -> Vec<layer_table::Layer> {
    let layers = layer_table::layers(text).unwrap_or_else(|e| panic!("{what}: {e}"));
    layers.into_iter().map(|(_, layer)| layer).collect()
}

#[test]
fn architecture_layer_order_is_lib_rs_layer_order() {
    let lib = std::fs::read_to_string(crate_src().join("lib.rs")).unwrap();
    let code = layer_rows(&lib, "allocator/src/lib.rs");
    let page = layer_rows(&read_doc("architecture.md"), "docs/architecture.md");
    assert!(
        code == page,
        "the `| layer | modules |` tables of allocator/src/lib.rs and docs/architecture.md differ:\n  lib.rs:          {:?}\n  architecture.md: {:?}",
        code.iter().map(|l| (l.name.as_str(), l.modules.join(", "))).collect::<Vec<_>>(),
        page.iter().map(|l| (l.name.as_str(), l.modules.join(", "))).collect::<Vec<_>>()
    );
}

#[test]
fn the_module_table_checker_on_a_fixture() {
    let src = layer_table::fixture(
        "docs-modules",
        &[
            ("lib.rs", ""),
            ("heap/mod.rs", ""),
            ("heap/lifecycle.rs", ""),
            ("platform/memory.rs", ""),
            ("platform/mod.rs", ""),
            ("big.rs", ""),
            ("fresh.rs", ""),
        ],
    );
    let doc = "# A\n\n| module | what |\n| --- | --- |\n| `heap` | h |\n| `heap::lifecycle` | l |\n\
               | `platform`, `platform::memory` | p |\n| `big` | b |\n| `ghost` | g |\n\nafter | `x` |\n";
    let (missing, unnamed) = module_table_problems(doc, &src).unwrap();
    assert_eq!(
        missing,
        ["line 9: `ghost` (no src/ghost.rs, no src/ghost/mod.rs)"]
    );
    assert_eq!(unnamed, ["`fresh` (src/fresh.rs)"]);
    assert!(
        module_table_problems("| module |\n| --- |\n| heap |\n", &src).is_err(),
        "no backticks"
    );

    let lib = "//! Doc.\n//!\n//! | layer | modules |\n//! | --- | --- |\n//! | base | `platform` |\n//! | top | `heap`, `big` |\n//!\n//! More.\n";
    let page = "| layer | modules |\n|---|---|\n| base | `platform` |\n| top | `heap`, `big` |\n";
    assert!(layer_rows(lib, "lib") == layer_rows(page, "page"));
    assert_eq!(layer_rows(lib, "lib")[1].modules, ["heap", "big"]);
    assert!(
        layer_rows(lib, "lib")
            != layer_rows(&page.replace("`heap`, `big`", "`big`, `heap`"), "page")
    );
    assert!(
        layer_table::layers(&page.replace("`big`", "`platform`")).is_err(),
        "a module twice"
    );
}
