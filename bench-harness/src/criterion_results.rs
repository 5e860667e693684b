//! Reading what criterion wrote: every `<group>/<function>/new/{benchmark,estimates}.json` under
//! a `CRITERION_HOME`, as (group, function, median ns). Shared by the table makers
//! (`bench_table`, `global_table`).

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One benchmark's result.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Criterion's group id (`pair_64B`, `global/vec_push`).
    pub group: String,
    /// The function id or value within the group (the contender's name).
    pub function: String,
    /// The median point estimate, in nanoseconds per iteration.
    pub median_ns: f64,
}

/// The `.../new` directories of every benchmark under `dir` (its `base`, `change` and `report`
/// directories are skipped).
pub fn find(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    find_into(dir, &mut out);
    out
}

fn find_into(dir: &Path, out: &mut Vec<PathBuf>) {
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
            find_into(&path, out);
        }
    }
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The result in one benchmark directory (`.../new`).
pub fn read(new_dir: &Path) -> Result<Estimate, String> {
    let bench = read_json(&new_dir.join("benchmark.json"))?;
    let est = read_json(&new_dir.join("estimates.json"))?;
    let group = bench["group_id"]
        .as_str()
        .ok_or("benchmark.json without group_id")?;
    let function = bench["value_str"]
        .as_str()
        .or_else(|| bench["function_id"].as_str())
        .ok_or("benchmark.json without value_str or function_id")?;
    let median_ns = est["median"]["point_estimate"]
        .as_f64()
        .ok_or("estimates.json without median.point_estimate")?;
    Ok(Estimate {
        group: group.to_string(),
        function: function.to_string(),
        median_ns,
    })
}

/// The median of `values` (the mean of the two middle ones for an even count); NaN if empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
