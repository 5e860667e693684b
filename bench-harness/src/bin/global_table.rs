//! `global_table ROUND_DIR...`: the results of the `#[global_allocator]` benchmarks
//! (`benches/global_*.rs`) as a markdown table.
//!
//! Reads every `global_<workload>/<contender>/new/{benchmark,estimates}.json` below each
//! directory (one directory per round; `scripts/bench-global.sh` gives each contender of a round
//! its own `CRITERION_HOME` inside it), takes each benchmark's median point estimate, then across
//! rounds the median of those medians, and prints one row per workload: the nanoseconds per
//! iteration of sacs, mimalloc, jemalloc and system, and the ratios of sacs to each of the other
//! three (below 1.00 means SACS is faster). Geometric means of the ratios close the table.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sacs_bench_harness::fmt_ns;
use serde_json::Value;

const CONTENDERS: [&str; 4] = ["sacs", "mimalloc", "jemalloc", "system"];
/// The contenders SACS is divided by, in column order.
const OTHERS: [&str; 3] = ["mimalloc", "jemalloc", "system"];
/// The prefix of every group name in `benches/global/body.rs`.
const GROUP_PREFIX: &str = "global/";
/// The collection workloads, in table order; `pair/<size>` rows follow, by size.
const COLLECTIONS: [&str; 5] = [
    "vec_push",
    "string_build",
    "hashmap_insert",
    "btreemap_insert",
    "vec_of_boxes",
];

/// workload -> contender -> one median per round.
type Results = BTreeMap<String, BTreeMap<String, Vec<f64>>>;

fn find_benchmarks(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            if path.join("estimates.json").is_file() && path.join("benchmark.json").is_file() {
                out.push(path);
            }
        } else if path
            .file_name()
            .is_some_and(|n| n != "base" && n != "change" && n != "report")
        {
            find_benchmarks(&path, out);
        }
    }
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// (workload, contender, median ns) of one criterion benchmark directory (`.../new`), or `None`
/// for a benchmark that is not one of the `global/` groups.
fn read_one(new_dir: &Path) -> Result<Option<(String, String, f64)>, String> {
    let bench = read_json(&new_dir.join("benchmark.json"))?;
    let group = bench["group_id"]
        .as_str()
        .ok_or("benchmark.json without group_id")?;
    let Some(workload) = group.strip_prefix(GROUP_PREFIX) else {
        return Ok(None);
    };
    let contender = bench["function_id"]
        .as_str()
        .or_else(|| bench["value_str"].as_str())
        .ok_or("benchmark.json without function_id or value_str")?;
    let est = read_json(&new_dir.join("estimates.json"))?;
    let median = est["median"]["point_estimate"]
        .as_f64()
        .ok_or("estimates.json without median.point_estimate")?;
    Ok(Some((workload.to_string(), contender.to_string(), median)))
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Bytes of a `size_label` such as `16B`, `4KiB` or `1MiB`.
fn parse_size(label: &str) -> Option<u64> {
    let digits: String = label.chars().take_while(|c| c.is_ascii_digit()).collect();
    let n: u64 = digits.parse().ok()?;
    match &label[digits.len()..] {
        "B" => Some(n),
        "KiB" => Some(n << 10),
        "MiB" => Some(n << 20),
        _ => None,
    }
}

/// Sort key: the collection workloads in their fixed order, then `pair/<size>` by size, then
/// anything else by name.
fn row_key(name: &str) -> (usize, u64, String) {
    if let Some(i) = COLLECTIONS.iter().position(|w| *w == name) {
        return (0, i as u64, String::new());
    }
    if let Some(size) = name.strip_prefix("pair/").and_then(parse_size) {
        return (1, size, String::new());
    }
    (2, 0, name.to_string())
}

/// The geometric mean of `sacs / other` over `rows`, and how many rows had both.
fn geomean(rows: &[(&String, Vec<Option<f64>>)], other: usize) -> Option<(f64, usize)> {
    let logs: Vec<f64> = rows
        .iter()
        .filter_map(|(_, med)| match (med[0], med[other]) {
            (Some(s), Some(o)) if s > 0.0 && o > 0.0 => Some((s / o).ln()),
            _ => None,
        })
        .collect();
    if logs.is_empty() {
        return None;
    }
    Some((
        (logs.iter().sum::<f64>() / logs.len() as f64).exp(),
        logs.len(),
    ))
}

fn main() -> ExitCode {
    let dirs: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if dirs.is_empty() {
        eprintln!("usage: global_table ROUND_DIR... (one directory per round)");
        return ExitCode::from(2);
    }
    let mut results = Results::new();
    for dir in &dirs {
        let mut found = Vec::new();
        find_benchmarks(dir, &mut found);
        if found.is_empty() {
            eprintln!("global_table: no criterion results under {}", dir.display());
            return ExitCode::FAILURE;
        }
        for new_dir in found {
            match read_one(&new_dir) {
                Ok(Some((workload, contender, ns))) => results
                    .entry(workload)
                    .or_default()
                    .entry(contender)
                    .or_default()
                    .push(ns),
                Ok(None) => {}
                Err(e) => eprintln!("global_table: skipping {}: {e}", new_dir.display()),
            }
        }
    }

    let mut names: Vec<&String> = results.keys().collect();
    names.sort_by_key(|name| row_key(name));
    // Per row: the median over rounds of each contender, in CONTENDERS order.
    let rows: Vec<(&String, Vec<Option<f64>>)> = names
        .into_iter()
        .map(|name| {
            let by = &results[name];
            let med = CONTENDERS
                .iter()
                .map(|c| by.get(*c).map(|v| median(v)))
                .collect();
            (name, med)
        })
        .collect();
    let several = dirs.len() > 1;

    let mut out = String::new();
    out.push_str(&format!(
        "Median time per iteration in ns ({} of {} round{}), each contender the process's \
         `#[global_allocator]`; ratio < 1.00 means SACS is faster.\n\n",
        if several {
            "median of the per-round medians"
        } else {
            "criterion median"
        },
        dirs.len(),
        if several { "s" } else { "" },
    ));
    out.push_str("| workload |");
    for c in CONTENDERS {
        out.push_str(&format!(" {c} ns |"));
    }
    for o in OTHERS {
        out.push_str(&format!(" sacs/{o} |"));
    }
    out.push_str("\n| --- |");
    out.push_str(&" ---: |".repeat(CONTENDERS.len() + OTHERS.len()));
    out.push('\n');
    for (name, med) in &rows {
        out.push_str(&format!("| {name} |"));
        for v in med {
            out.push_str(&format!(" {} |", v.map_or("–".to_string(), fmt_ns)));
        }
        for other in 1..CONTENDERS.len() {
            let cell = match (med[0], med[other]) {
                (Some(s), Some(o)) if o > 0.0 => format!("{:.2}", s / o),
                _ => "–".to_string(),
            };
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    let (collections, pairs): (Vec<_>, Vec<_>) = rows
        .iter()
        .cloned()
        .partition(|(name, _)| !name.starts_with("pair/"));
    for (label, subset) in [
        ("geometric mean, all workloads", &rows),
        ("geometric mean, collections", &collections),
        ("geometric mean, pairs", &pairs),
    ] {
        if subset.is_empty() {
            continue;
        }
        out.push_str(&format!("| **{label}** |"));
        out.push_str(&" |".repeat(CONTENDERS.len()));
        for other in 1..CONTENDERS.len() {
            let cell =
                geomean(subset, other).map_or("–".to_string(), |(g, _)| format!("**{g:.2}**"));
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    print!("{out}");
    ExitCode::SUCCESS
}
