//! `field-prefetch`: issue 13's prefetch evaluation. Builds (or, with `--reuse`, reuses) a
//! field file of about `--size-mib` MiB with `field::bench::prepare`, records the block-access
//! traces of the benchmark's workloads (camera, zipf, uniform, train: the points `field-bench`
//! queries with the same seed), and replays each against a cache of the budget's number of
//! blocks (3/4 of the budget hot f32 blocks, 1/4 warm f16 ones, as `field-bench` splits it)
//! with every prefetcher of a sweep, printing one `key=value` line per (workload, prefetcher).
//!
//! ```text
//! field-prefetch --size-mib 256 --budget-mib 64 --queries 20000 [--policy clock|lru]
//!                [--dir PATH] [--seed N] [--block-kib 16] [--reuse] [--keep]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use field::bench::{self, Points, Workload};
use field::prefetch::{
    demand_misses, evaluate, Leap, Learned, LearnedConfig, LookAhead, NextN, Policy, Prefetcher,
    Trace, Trajectory,
};
use field::Field;

const USAGE: &str = "usage: field-prefetch --size-mib N --budget-mib N --queries N \
[--policy clock|lru] [--dir PATH] [--seed N] [--block-kib 4..64] [--reuse] [--keep]";

/// The seed mix `field::bench::measure` applies to its points (so the traces are the points
/// `field-bench` queries).
const POINT_SEED_MIX: u64 = 0x9e37_79b9_7f4a_7c15;

struct Args {
    size_mib: u64,
    budget_mib: u64,
    queries: usize,
    policy: Policy,
    dir: PathBuf,
    seed: u64,
    block_kib: u64,
    reuse: bool,
    keep: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        size_mib: 256,
        budget_mib: 64,
        queries: 20_000,
        policy: Policy::Clock,
        dir: PathBuf::from("/work/fb-field-prefetch"),
        seed: 1,
        block_kib: 16,
        reuse: false,
        keep: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{v:?}: {e}"));
        match flag.as_str() {
            "--size-mib" => a.size_mib = number(value()?)?,
            "--budget-mib" => a.budget_mib = number(value()?)?.max(1),
            "--queries" => a.queries = number(value()?)? as usize,
            "--policy" => {
                a.policy = match value()?.as_str() {
                    "clock" => Policy::Clock,
                    "lru" => Policy::Lru,
                    other => return Err(format!("--policy {other:?}: clock or lru")),
                }
            }
            "--dir" => a.dir = PathBuf::from(value()?),
            "--seed" => a.seed = number(value()?)?,
            "--block-kib" => a.block_kib = number(value()?)?,
            "--reuse" => a.reuse = true,
            "--keep" => a.keep = true,
            "--help" | "-h" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    bench::log2_block_bytes(a.block_kib)?;
    Ok(a)
}

/// The sweep: each family over its parameter, so that curves of coverage against extra I/O
/// can be compared at equal extra I/O.
fn prefetchers<'a>(
    field: &'a Field,
    trace: &'a Trace,
) -> Vec<(&'static str, Box<dyn Prefetcher + 'a>)> {
    let mut all: Vec<(&'static str, Box<dyn Prefetcher + 'a>)> = Vec::new();
    for n in [1, 2, 4, 8] {
        all.push(("next-n", Box::new(NextN::new(n))));
    }
    for w in [1, 2, 4, 8, 16] {
        all.push(("leap", Box::new(Leap::new(32, w))));
    }
    for (min_count, min_confidence) in [(2, 0.5), (3, 0.6), (4, 0.75), (8, 0.9)] {
        all.push((
            "learned",
            Box::new(Learned::new(LearnedConfig {
                min_count,
                min_confidence,
                ..LearnedConfig::default()
            })),
        ));
    }
    for (horizon, max_error) in [(1, 0.5), (2, 0.5), (4, 0.5), (1, 0.2)] {
        all.push((
            "trajectory",
            Box::new(Trajectory::new(field, trace, horizon, max_error)),
        ));
    }
    for d in [1, 64] {
        all.push(("lookahead", Box::new(LookAhead::new(trace, d))));
    }
    all
}

fn run(a: &Args) -> field::Result<()> {
    std::fs::create_dir_all(&a.dir)?;
    let log2_block_bytes = bench::log2_block_bytes(a.block_kib).expect("checked");
    let layout = bench::layout_for_size(a.size_mib, log2_block_bytes, a.seed);
    let path = bench::field_path(&a.dir, &layout);
    if !(a.reuse && path.exists()) {
        if path.exists() {
            std::fs::remove_file(&path)?;
        }
        bench::prepare(&path, layout)?;
    }
    let field = Field::open(&path)?;
    let block_bytes = 1u64 << log2_block_bytes;
    let budget = a.budget_mib << 20;
    let capacity = (budget / 4 * 3 / block_bytes + budget / 4 / (block_bytes / 2)) as usize;
    for workload in Workload::ALL {
        let xs = Points::new(workload, a.seed ^ POINT_SEED_MIX).take_flat(a.queries);
        let trace = Trace::record(&field, &xs)?;
        let baseline = demand_misses(&trace, capacity, a.policy);
        println!(
            "workload={} policy={} capacity_blocks={} block_count={} queries={} accesses={} \
             distinct_blocks={} baseline_misses={}",
            workload.name(),
            a.policy.name(),
            capacity,
            trace.block_count,
            trace.queries,
            trace.accesses.len(),
            trace.distinct_blocks(),
            baseline
        );
        for (family, mut p) in prefetchers(&field, &trace) {
            let m = evaluate(&trace, capacity, a.policy, p.as_mut(), baseline);
            println!(
                "workload={} family={} prefetcher={} misses={} prefetched={} used={} \
                 accuracy={:.4} coverage={:.4} extra_io={:.4}",
                workload.name(),
                family,
                p.name(),
                m.misses,
                m.prefetched,
                m.used,
                m.accuracy(),
                m.coverage(),
                m.extra_io()
            );
        }
    }
    drop(field);
    if !a.keep {
        std::fs::remove_file(&path)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    bench::cli_main("field-prefetch", parse_args, |a| run(&a))
}
