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

use std::path::PathBuf;
use std::process::ExitCode;

use sacs_bench_harness::criterion_results::{self, median};
use sacs_bench_harness::fmt_ns;

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
        let found = criterion_results::find(dir);
        if found.is_empty() {
            eprintln!("global_table: no criterion results under {}", dir.display());
            return ExitCode::FAILURE;
        }
        for new_dir in found {
            match criterion_results::read(&new_dir) {
                Ok(est) => {
                    // Only the `global/` groups of benches/global/body.rs.
                    if let Some(workload) = est.group.strip_prefix(GROUP_PREFIX) {
                        results
                            .entry(workload.to_string())
                            .or_default()
                            .entry(est.function)
                            .or_default()
                            .push(est.median_ns);
                    }
                }
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
