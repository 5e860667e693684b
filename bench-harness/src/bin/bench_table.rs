//! `bench_table CRITERION_DIR...`: the results of `benches/compare.rs` as a markdown table.
//!
//! Reads every `<group>/<allocator>/new/{benchmark,estimates}.json` under each directory (one
//! directory per run; `CRITERION_HOME` of that run, `target/criterion` by default), takes each
//! benchmark's median point estimate, then across runs the median of those medians, and prints
//! one row per workload: sacs, mimalloc and glibc nanoseconds per iteration and the ratios
//! sacs / mimalloc and sacs / glibc (below 1.00 means SACS is faster). With several runs a last
//! column gives the lowest and highest sacs / mimalloc ratio seen in a single run.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sacs_bench_harness::fmt_ns;
use serde_json::Value;

const ALLOCATORS: [&str; 3] = ["sacs", "mimalloc", "glibc"];

/// workload -> allocator -> one median per run.
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

/// (workload, allocator, median ns) of one criterion benchmark directory (`.../new`).
fn read_one(new_dir: &Path) -> Result<(String, String, f64), String> {
    let bench = read_json(&new_dir.join("benchmark.json"))?;
    let est = read_json(&new_dir.join("estimates.json"))?;
    let group = bench["group_id"]
        .as_str()
        .ok_or("benchmark.json without group_id")?;
    let allocator = bench["value_str"]
        .as_str()
        .or_else(|| bench["function_id"].as_str())
        .ok_or("benchmark.json without value_str or function_id")?;
    let median = est["median"]["point_estimate"]
        .as_f64()
        .ok_or("estimates.json without median.point_estimate")?;
    Ok((group.to_string(), allocator.to_string(), median))
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
        let mut found = Vec::new();
        find_benchmarks(dir, &mut found);
        if found.is_empty() {
            eprintln!("bench_table: no criterion results under {}", dir.display());
            return ExitCode::FAILURE;
        }
        let mut run = BTreeMap::new();
        for new_dir in found {
            match read_one(&new_dir) {
                Ok((workload, allocator, ns)) => {
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
