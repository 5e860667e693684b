//! What `tests/layering.rs` and `tests/docs_match_code.rs` both read (each has `mod layer_table;`):
//! Markdown tables (in a `.md` page or in `//!` lines), the `| layer | modules |` table that
//! writes the layer order down, the `.rs` files of a source tree, and fixture trees for the
//! tests that check the checkers.
#![allow(dead_code)] // each test file uses part of this

use std::path::{Path, PathBuf};

/// The cells of a Markdown table row `| a | b |`, trimmed, backticks kept; a leading `//!` is
/// dropped first, so a table in a crate doc reads the same as one in a page. `None` otherwise.
pub fn cells(line: &str) -> Option<Vec<String>> {
    let line = line.trim_start();
    let line = line.strip_prefix("//!").unwrap_or(line).trim();
    let inner = line.strip_prefix('|')?;
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    Some(inner.split('|').map(|c| c.trim().to_string()).collect())
}

/// A body row of a table: its 1-based line number in the text, and its cells.
pub struct Row {
    pub line: usize,
    pub cells: Vec<String>,
}

/// The body rows of the first table whose header row begins with the cells `header`, up to the
/// first line that is not a table row; `| --- |` separator rows are skipped.
pub fn table(text: &str, header: &[&str]) -> Option<Vec<Row>> {
    let mut lines = text.lines().enumerate();
    lines.by_ref().find(|(_, line)| {
        cells(line)
            .is_some_and(|c| c.len() >= header.len() && c.iter().zip(header).all(|(a, b)| a == b))
    })?;
    let mut rows = Vec::new();
    for (i, line) in lines {
        let Some(cells) = cells(line) else { break };
        let separator = cells
            .iter()
            .all(|c| !c.is_empty() && c.chars().all(|ch| ch == '-' || ch == ':'));
        if !separator {
            rows.push(Row { line: i + 1, cells });
        }
    }
    Some(rows)
}

/// `` `name` `` or `` `a::b` `` → the path inside the backticks, if it is one.
pub fn backticked(cell: &str) -> Option<String> {
    let path = cell.trim().strip_prefix('`')?.strip_suffix('`')?;
    let ok = !path.is_empty()
        && path.split("::").all(|seg| {
            !seg.is_empty() && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    ok.then(|| path.to_string())
}

/// One row of the layer table.
#[derive(Debug, PartialEq)]
pub struct Layer {
    pub name: String,
    pub modules: Vec<String>,
}

/// The `| layer | modules |` table of `text` (lib.rs or a page), rows top to bottom, modules
/// left to right: that reading order is the layer order. Each module is a top-level name in
/// backticks and appears once. The layers' 1-based line numbers come alongside.
pub fn layers(text: &str) -> Result<Vec<(usize, Layer)>, String> {
    let rows = table(text, &["layer", "modules"])
        .ok_or("no table with the header row `| layer | modules |`")?;
    let mut layers: Vec<(usize, Layer)> = Vec::new();
    for row in rows {
        let [name, modules] = &row.cells[..] else {
            return Err(format!(
                "line {}: a layer row has 2 cells, this one {}",
                row.line,
                row.cells.len()
            ));
        };
        let mut list = Vec::new();
        for m in modules.split(',') {
            match backticked(m) {
                Some(m) if !m.contains("::") => list.push(m),
                _ => {
                    return Err(format!(
                        "line {}: {:?} is not a top-level module in backticks",
                        row.line,
                        m.trim()
                    ))
                }
            }
        }
        for m in &list {
            if layers.iter().any(|(_, l)| l.modules.contains(m))
                || list.iter().filter(|x| *x == m).count() > 1
            {
                return Err(format!(
                    "line {}: `{m}` is in the layer table twice",
                    row.line
                ));
            }
        }
        layers.push((
            row.line,
            Layer {
                name: name.clone(),
                modules: list,
            },
        ));
    }
    if layers.is_empty() {
        return Err("the layer table has no rows".to_string());
    }
    Ok(layers)
}

/// Every `.rs` file under `dir`, recursively, sorted.
pub fn rs_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files.extend(rs_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// Writes `files` (path relative to the root, contents) into a fresh directory named `name`
/// under Cargo's scratch directory for integration tests, and returns that directory.
pub fn fixture(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let root =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    }
    root
}
