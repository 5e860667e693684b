//! `bench_table CRITERION_DIR...`: the results of `benches/compare.rs` as a markdown table.
//!
//! Reads every `<group>/<allocator>/new/{benchmark,estimates}.json` under each directory (one
//! directory per run; `CRITERION_HOME` of that run, `target/criterion` by default), takes each
//! benchmark's median point estimate, then across runs the median of those medians, and prints
//! one row per workload: sacs, mimalloc and glibc nanoseconds per iteration and the ratios
//! sacs / mimalloc and sacs / glibc (below 1.00 means SACS is faster). With several runs a last
//! column gives the lowest and highest sacs / mimalloc ratio seen in a single run.

use std::collections::BTreeMap;

use std::path::PathBuf;
use std::process::ExitCode;

use sacs_bench_harness::criterion_results::{self, median};
use sacs_bench_harness::fmt_ns;

const ALLOCATORS: [&str; 3] = ["sacs", "mimalloc", "glibc"];

/// workload -> allocator -> one median per run.
type Results = BTreeMap<String, BTreeMap<String, Vec<f64>>>;

/// Sort key: pairs, random mixed, scenarios, tiny hot, anything else; then by the size in the
/// name (`pair_256KiB` after `pair_4KiB`).
fn row_key(name: &str) -> (u8, u64, String) {
    let rank = ["pair_", "random_mixed", "scenario_", "tiny_hot"]
        .iter()
        .position(|p| name.starts_with(p))
        .unwrap_or(4) as u8;
    let size = name
        .rsplit('_')
        .next()
        .and_then(|last| {
            let digits: String = last.chars().take_while(|c| c.is_ascii_digit()).collect();
            let n: u64 = digits.parse().ok()?;
            let unit = &last[digits.len()..];
            Some(match unit {
                u if u.starts_with("MiB") => n << 20,
                u if u.starts_with("KiB") => n << 10,
                _ => n,
            })
        })
        .unwrap_or(0);
    (rank, size, name.to_string())
}

fn main() -> ExitCode {
    let dirs: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if dirs.is_empty() {
        eprintln!("usage: bench_table CRITERION_DIR... (one directory per run)");
        return ExitCode::from(2);
    }
    let mut results = Results::new();
    // Per run: workload -> allocator -> median, for the per-run ratio range.
    let mut per_run: Vec<BTreeMap<(String, String), f64>> = Vec::new();
    for dir in &dirs {
        let found = criterion_results::find(dir);
        if found.is_empty() {
            eprintln!("bench_table: no criterion results under {}", dir.display());
            return ExitCode::FAILURE;
        }
        let mut run = BTreeMap::new();
        for new_dir in found {
            match criterion_results::read(&new_dir) {
                Ok(criterion_results::Estimate {
                    group: workload,
                    function: allocator,
                    median_ns: ns,
                }) => {
                    results
                        .entry(workload.clone())
                        .or_default()
                        .entry(allocator.clone())
                        .or_default()
                        .push(ns);
                    run.insert((workload, allocator), ns);
                }
                Err(e) => eprintln!("bench_table: skipping {}: {e}", new_dir.display()),
            }
        }
        per_run.push(run);
    }

    let mut rows: Vec<&String> = results.keys().collect();
    rows.sort_by_key(|name| row_key(name));
    let several = dirs.len() > 1;

    let mut out = String::new();
    out.push_str(&format!(
        "Median time per iteration in ns ({} of {} run{}); ratio < 1.00 means SACS is faster.\n\n",
        if several {
            "median of the per-run medians"
        } else {
            "criterion median"
        },
        dirs.len(),
        if several { "s" } else { "" },
    ));
    out.push_str("| workload | sacs ns | mimalloc ns | glibc ns | sacs/mimalloc | sacs/glibc |");
    out.push_str(if several {
        " sacs/mimalloc per run (min–max) |\n"
    } else {
        "\n"
    });
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: |");
    out.push_str(if several { " ---: |\n" } else { "\n" });
    for workload in rows {
        let by_alloc = &results[workload];
        let med: Vec<Option<f64>> = ALLOCATORS
            .iter()
            .map(|a| by_alloc.get(*a).map(|v| median(v)))
            .collect();
        let cell = |v: Option<f64>| v.map_or("–".to_string(), fmt_ns);
        let ratio = |num: Option<f64>, den: Option<f64>| match (num, den) {
            (Some(n), Some(d)) if d > 0.0 => format!("{:.2}", n / d),
            _ => "–".to_string(),
        };
        out.push_str(&format!(
            "| {workload} | {} | {} | {} | {} | {} |",
            cell(med[0]),
            cell(med[1]),
            cell(med[2]),
            ratio(med[0], med[1]),
            ratio(med[0], med[2]),
        ));
        if several {
            let ratios: Vec<f64> = per_run
                .iter()
                .filter_map(|run| {
                    let s = run.get(&(workload.clone(), "sacs".to_string()))?;
                    let m = run.get(&(workload.clone(), "mimalloc".to_string()))?;
                    Some(s / m)
                })
                .collect();
            if ratios.is_empty() {
                out.push_str(" – |");
            } else {
                let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                out.push_str(&format!(" {lo:.2}–{hi:.2} |"));
            }
        }
        out.push('\n');
    }
    print!("{out}");
    ExitCode::SUCCESS
}
