//! `field-quality`: what the local hashing buys and costs, and what the quantised tiers cost
//! (issue 13), over `field::quality`. Prints one line of `key=value` per measurement.
//!
//! ```text
//! field-quality [--what all|locality|fit|kernel|bench] [--dir PATH] [--seed N]
//!   [--hashings spatial,local]   (locality, bench, fit: the hashings compared, in this order)
//!   locality: [--size-mib 256] [--budget-mib 64] [--queries 20000] [--block-kib 16]
//!   kernel:   [--size-mib 256] [--queries 20000] [--block-kib 16] [--rounds 5]
//!   bench:    [--size-mib 256] [--budget-mib 64] [--queries 20000] [--block-kib 16] [--runs 1]
//!   fit:      [--steps 1000000] [--eval 20000] [--levels 16] [--log2-table 16] [--features 2]
//!             [--base 16] [--finest 1024] [--fit-block-kib 4] [--lr 0.2] [--readout-lr 0.001]
//!             [--waves 8] [--cycles 12]
//! ```
//!
//! - `locality`: for each of `--hashings` (spatial and local unless told), the benchmark's layout of `--size-mib`
//!   (`bench::layout_for_size`) under `--budget-mib` (3/4 hot, 1/4 warm), `--queries` single
//!   queries of each of camera, zipf and uniform: loads per query and block utilisation.
//! - `kernel` (only when asked for): the same layout in memory (unlimited budget), `--queries`
//!   single queries of camera and uniform, `--rounds` passes with the scalar and the AVX2 +
//!   FMA kernel alternately: median queries per CPU second (the thread's) of each and their ratio, the vector
//!   kernel's end-to-end gain.
//! - `bench` (only when asked for): `field::bench`'s measured run (cold reopen, page cache
//!   dropped, latency percentiles, throughput, bytes read) on the benchmark's layout filled
//!   once per hashing, for camera, zipf and uniform single queries, the hashings
//!   alternating, `--runs` times: one `key=value` line per run, prefixed by the hashing.
//! - `fit`: a field of each hashing trained toward the same sum of sinusoids, same steps and
//!   points, same table size; the relative RMS error of each on held-out points. Then, if
//!   spatial is among the hashings, the spatial field's quantisation errors: int8 in the
//!   file, f16 warm copies, against f32.
//!
//! Files go to a directory `field-quality-<pid>` in `--dir` (default: the system's temporary
//! directory), removed at the end.

use std::path::PathBuf;
use std::process::ExitCode;

use field::bench::{self, Workload};
use field::quality::{self, FitConfig, Target};
use field::{Budget, Field, Hashing, Layout};

const USAGE: &str = "usage: field-quality [--what all|locality|fit|kernel|bench] [--dir PATH] [--seed N] \
[--hashings spatial,local,bricked] \
[--size-mib N] [--budget-mib N] [--queries N] [--block-kib N] [--rounds N] [--runs N] [--steps N] [--eval N] [--levels N] \
[--log2-table N] [--features N] [--base N] [--finest N] [--fit-block-kib N] [--lr F] \
[--readout-lr F] [--waves N] [--cycles F]";

struct Args {
    hashings: Vec<Hashing>,
    locality: bool,
    fit: bool,
    kernel: bool,
    bench: bool,
    rounds: usize,
    runs: usize,
    dir: Option<PathBuf>,
    seed: u64,
    size_mib: u64,
    budget_mib: u64,
    queries: usize,
    block_kib: u64,
    fit_layout: Layout,
    fit_block_kib: u64,
    config: FitConfig,
    waves: usize,
    cycles: f32,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        hashings: vec![Hashing::Spatial, Hashing::Local],
        locality: true,
        fit: true,
        kernel: false,
        bench: false,
        rounds: 5,
        runs: 1,
        dir: None,
        seed: 1,
        size_mib: 256,
        budget_mib: 64,
        queries: 20_000,
        block_kib: 16,
        fit_layout: Layout {
            dim: 3,
            levels: 16,
            log2_table: 16,
            features: 2,
            base_resolution: 16,
            finest_resolution: 1024,
            init_scale: 1e-4,
            ..Layout::default()
        },
        fit_block_kib: 4,
        config: FitConfig {
            steps: 1_000_000,
            lr: 0.2,
            readout_lr: 1e-3,
            eval_points: 20_000,
            seed: 1,
        },
        waves: 8,
        cycles: 12.0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        fn num<T: std::str::FromStr>(v: String) -> Result<T, String>
        where
            T::Err: std::fmt::Display,
        {
            v.parse::<T>().map_err(|e| format!("{v:?}: {e}"))
        }
        match flag.as_str() {
            "--what" => match value()?.as_str() {
                "all" => (a.locality, a.fit, a.kernel) = (true, true, false),
                "locality" => (a.locality, a.fit, a.kernel) = (true, false, false),
                "fit" => (a.locality, a.fit, a.kernel) = (false, true, false),
                "kernel" => (a.locality, a.fit, a.kernel) = (false, false, true),
                "bench" => {
                    (a.locality, a.fit, a.kernel) = (false, false, false);
                    a.bench = true;
                }
                other => {
                    return Err(format!(
                        "--what {other:?}: all, locality, fit, kernel or bench"
                    ))
                }
            },
            "--dir" => a.dir = Some(PathBuf::from(value()?)),
            "--hashings" => {
                a.hashings = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--seed" => a.seed = num(value()?)?,
            "--size-mib" => a.size_mib = num(value()?)?,
            "--budget-mib" => a.budget_mib = num(value()?)?,
            "--queries" => a.queries = num(value()?)?,
            "--block-kib" => a.block_kib = num(value()?)?,
            "--rounds" => a.rounds = num::<usize>(value()?)?.max(1),
            "--runs" => a.runs = num::<usize>(value()?)?.max(1),
            "--steps" => a.config.steps = num(value()?)?,
            "--eval" => a.config.eval_points = num(value()?)?,
            "--levels" => a.fit_layout.levels = num(value()?)?,
            "--log2-table" => a.fit_layout.log2_table = num(value()?)?,
            "--features" => a.fit_layout.features = num(value()?)?,
            "--base" => a.fit_layout.base_resolution = num(value()?)?,
            "--finest" => a.fit_layout.finest_resolution = num(value()?)?,
            "--fit-block-kib" => a.fit_block_kib = num(value()?)?,
            "--lr" => a.config.lr = num(value()?)?,
            "--readout-lr" => a.config.readout_lr = num(value()?)?,
            "--waves" => a.waves = num(value()?)?,
            "--cycles" => a.cycles = num(value()?)?,
            "--help" | "-h" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    a.fit_layout.log2_block_bytes = bench::log2_block_bytes(a.fit_block_kib)?;
    a.fit_layout.seed = a.seed;
    a.config.seed = a.seed;
    bench::log2_block_bytes(a.block_kib)?;
    Ok(a)
}

/// A directory of this run's files inside `--dir` (or the system's temporary directory),
/// removed when dropped.
struct RunDir(PathBuf);

impl RunDir {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(a: &Args) -> field::Result<()> {
    let parent = a.dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = RunDir(parent.join(format!("field-quality-{}", std::process::id())));
    std::fs::create_dir_all(dir.path())?;
    if a.locality {
        let base = bench::layout_for_size(
            a.size_mib,
            bench::log2_block_bytes(a.block_kib).expect("checked"),
            a.seed,
        );
        let budget = (a.budget_mib << 20) as usize;
        let budget = Budget {
            hot_bytes: budget / 4 * 3,
            warm_bytes: budget / 4,
        };
        for workload in [Workload::Camera, Workload::Zipf, Workload::Uniform] {
            for &hashing in &a.hashings {
                let path =
                    dir.path()
                        .join(format!("locality-{}-{}", workload.name(), hashing.name()));
                let layout = Layout { hashing, ..base };
                let l = quality::locality(&path, layout, budget, workload, a.queries, a.seed)?;
                std::fs::remove_file(&path)?;
                println!(
                    "what=locality size_mib={} budget_mib={} levels={} log2_table={} block_kib={} \
                     workload={} hashing={} queries={} loads={} loads_per_query={:.3} \
                     utilisation={:.4} entries_per_load={:.1} entries_per_block={}",
                    a.size_mib,
                    a.budget_mib,
                    layout.levels,
                    layout.log2_table,
                    a.block_kib,
                    workload.name(),
                    hashing.name(),
                    l.queries,
                    l.loads,
                    l.loads_per_query(),
                    l.utilisation,
                    l.entries_per_load(),
                    l.entries_per_block
                );
            }
        }
    }
    if a.bench {
        let base = bench::layout_for_size(
            a.size_mib,
            bench::log2_block_bytes(a.block_kib).expect("checked"),
            a.seed,
        );
        let paths: Vec<_> = a
            .hashings
            .iter()
            .map(|&hashing| {
                (
                    hashing,
                    dir.path().join(format!("bench-{}", hashing.name())),
                )
            })
            .collect();
        for (hashing, path) in &paths {
            bench::prepare(
                path,
                Layout {
                    hashing: *hashing,
                    ..base
                },
            )?;
        }
        for run in 0..a.runs {
            for workload in [Workload::Camera, Workload::Zipf, Workload::Uniform] {
                for (hashing, path) in &paths {
                    let config = bench::Config {
                        engine: bench::Engine::Field,
                        max_seconds: 0.0,
                        size_mib: a.size_mib,
                        budget_mib: a.budget_mib,
                        workload,
                        queries: a.queries,
                        batch: 1,
                        seed: a.seed,
                        drop_caches: true,
                        read_ahead: None,
                        look_ahead: 0,
                        predict: 0,
                        promote_at: None,
                        warm_percent: 25,
                    };
                    let report = bench::measure(path, &config)?;
                    println!(
                        "what=bench run={run} hashing={} {}",
                        hashing.name(),
                        report.line()
                    );
                }
            }
        }
    }
    if a.kernel {
        let layout = bench::layout_for_size(
            a.size_mib,
            bench::log2_block_bytes(a.block_kib).expect("checked"),
            a.seed,
        );
        for workload in [Workload::Camera, Workload::Uniform] {
            let path = dir.path().join(format!("kernel-{}", workload.name()));
            let mut f = Field::create(&path, layout)?;
            match quality::kernel_gain(&mut f, workload, a.queries, a.rounds, a.seed)? {
                None => println!("what=kernel vector=none (no AVX2+FMA on this processor)"),
                Some(g) => println!(
                    "what=kernel size_mib={} workload={} queries={} rounds={} \
                     scalar_q_per_cpu_s={:.0} vector_q_per_cpu_s={:.0} gain={:.3} scalar_rounds={:?} vector_rounds={:?}",
                    a.size_mib,
                    workload.name(),
                    a.queries,
                    a.rounds,
                    g.scalar_median(),
                    g.vector_median(),
                    g.vector_median() / g.scalar_median(),
                    g.scalar.iter().map(|r| r.round() as u64).collect::<Vec<_>>(),
                    g.vector.iter().map(|r| r.round() as u64).collect::<Vec<_>>()
                ),
            }
            drop(f);
            std::fs::remove_file(&path)?;
        }
    }
    if a.fit {
        let target = Target::new(a.waves, a.cycles, a.seed);
        let l = a.fit_layout;
        let mut spatial_model = None;
        for &hashing in &a.hashings {
            let layout = Layout { hashing, ..l };
            let (fit, model) = quality::fit(dir.path(), layout, &target, &a.config)?;
            println!(
                "what=fit hashing={} levels={} log2_table={} features={} resolutions={}-{} \
                 block_kib={} steps={} lr={} readout_lr={} waves={} cycles={} eval={} \
                 fit_error={:.5} untrained_error={:.5} train_s={:.1}",
                hashing.name(),
                l.levels,
                l.log2_table,
                l.features,
                l.base_resolution,
                l.finest_resolution,
                a.fit_block_kib,
                a.config.steps,
                a.config.lr,
                a.config.readout_lr,
                a.waves,
                a.cycles,
                a.config.eval_points,
                fit.error,
                fit.untrained_error,
                fit.seconds
            );
            if hashing == Hashing::Spatial {
                spatial_model = Some(model);
            }
        }
        let Some(mut model) = spatial_model else {
            return Ok(());
        };
        let f32_path = dir.path().join("fit-spatial");
        let q = quality::quantisation(
            dir.path(),
            &mut model,
            &f32_path,
            a.config.eval_points,
            a.seed ^ 7,
        )?;
        println!(
            "what=quantisation hashing=spatial queries={} int8_encoding_error={:.3e} \
             int8_prediction_error={:.3e} f16_encoding_error={:.3e} f16_prediction_error={:.3e} \
             warm_rows={} rows={}",
            a.config.eval_points,
            q.int8_encoding,
            q.int8_prediction,
            q.f16_encoding,
            q.f16_prediction,
            q.warm_rows,
            q.rows
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    bench::cli_main("field-quality", parse_args, |a| run(&a))
}
