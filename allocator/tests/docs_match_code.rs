//! `docs/configuration.md` must agree with `sacs::options::OPTIONS`, the one table of settings:
//! every option has a row `| `NAME` | `DEFAULT` | meaning |` (so its default is on the same line
//! as its name), and the page names no `SACS_*` variable that the table does not have. The
//! architecture page may not name unknown variables either. When an option is added, renamed or
//! its default changes, this test fails until the docs follow.

use std::collections::BTreeSet;
use std::path::PathBuf;

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

fn assert_names_only_real_options(doc_name: &str) {
    let doc = read_doc(doc_name);
    let known: BTreeSet<&str> = sacs::options::OPTIONS.iter().map(|o| o.name).collect();
    let unknown: Vec<String> = variables_named(&doc)
        .into_iter()
        .filter(|n| !known.contains(n.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/{doc_name} names SACS_ variables that sacs::options::OPTIONS does not have: {unknown:?}"
    );
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
