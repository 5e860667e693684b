//! `field-bench`: issue 13's benchmark of the paged neural field. Creates (or, with `--reuse`,
//! reuses) a field file of about `--size-mib` MiB of f32 features with every block written
//! once, drops it, reopens it cold under `--budget-mib` (3/4 hot, 1/4 warm; 0 = unlimited after
//! loading every block) and prints one line of `key=value` for the run (see `field::bench`).
//!
//! `--engine mmap` (or `mmap-random`: the mapping advised `MADV_RANDOM`) runs baseline (a) instead: the field file's values exported once to a plain
//! f32 file beside it (`.f32`, reused with `--reuse`), mapped whole; its budget is whatever
//! memory cgroup the process runs in (`field/bench/run-big.sh` makes one), and with
//! `--budget-mib 0` the whole file is loaded into the page cache first.
//!
//! ```text
//! field-bench --size-mib 256 --budget-mib 64 --workload camera --queries 100000 --batch 1
//!             [--engine field|mmap|mmap-random] [--max-seconds S] [--dir PATH] [--seed N]
//!             [--block-kib 16] [--hashing spatial|local|bricked] [--reuse] [--no-drop-caches]
//!             [--prepare-only] [--read-ahead BLOCKS] [--look-ahead N] [--predict HORIZON]
//!             [--promote-at COUNT] [--warm-percent P] [--cold-encoding f32|int8]
//! ```
//!
//! `--hashing local` gives the hashed levels the locality-aware layout (`Hashing::Local`,
//! docs/field-locality.md), `--hashing bricked` the dense levels bricks too
//! (`Hashing::Bricked`); their files have their own names, and the line says `hashing=`.
//!
//! `--cold-encoding int8` stores the field file's blocks as int8 with one f32 scale per block
//! (`Encoding::Int8`, a quarter of the f32 payload; f32 by default): its file has its own name
//! (`-int8`), and the line says `cold_encoding=` and `bytes_per_load=` (the bytes the process
//! read from the disk in the measured loop, `bytes_read`, over the blocks it loaded, `loads`;
//! 0 without loads). The mmap engines map an f32 copy of whichever field file they are given
//! (of an int8 one: its decoded values, still f32).
//!
//! `--prepare-only` makes the engine's files (as without it) and exits without measuring, so
//! that a script can make them outside the memory cgroup it measures in.
//!
//! `--read-ahead BLOCKS` sets the field's bound on pending background reads
//! (`Field::set_read_ahead`; 0: no reader, the reads of `prefetch` and `query_batch` on the
//! calling thread). `--look-ahead N` (single queries) hands the field, before each query, the
//! point N queries ahead (`Field::prefetch`, timed with the query). `--predict HORIZON` turns
//! on the field's live predictor (`Field::set_predictor`), prefetching the point it predicts
//! HORIZON queries ahead; the line's `gathered`, `ahead_used` and `caller_loads` give its
//! accuracy (`ahead_used / gathered`) and, against a run without it, its coverage.
//! `--promote-at COUNT` sets the promotion threshold (`Field::set_promote_at`; by default
//! derived from the budget since session 12; 3 was the constant before). `--warm-percent P`
//! gives the warm tier (f16 copies) P % of the tiers' budget instead of 25 %, the rest hot;
//! the line's `hot_blocks` and `warm_blocks` say what each tier got.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use field::bench::{self, Config, Engine, Workload};
use field::{Encoding, Hashing, Layout};

const USAGE: &str = "usage: field-bench --size-mib N --budget-mib N \
--workload camera|zipf|uniform|train --queries N --batch N [--engine field|mmap|mmap-random] \
[--max-seconds S] [--dir PATH] [--seed N] [--block-kib 4..64] [--hashing spatial|local|bricked] [--reuse] \
[--no-drop-caches] [--prepare-only] [--read-ahead BLOCKS] [--look-ahead N] [--predict HORIZON] \
[--promote-at COUNT] [--warm-percent P] [--cold-encoding f32|int8]";

struct Args {
    config: Config,
    dir: Option<PathBuf>,
    reuse: bool,
    prepare_only: bool,
    log2_block_bytes: u8,
    hashing: Hashing,
    cold_encoding: Encoding,
}

fn parse_args() -> Result<Args, String> {
    let mut config = Config {
        engine: Engine::Field,
        size_mib: 64,
        budget_mib: 0,
        workload: Workload::Camera,
        queries: 100_000,
        max_seconds: 0.0,
        batch: 1,
        seed: 1,
        drop_caches: true,
        read_ahead: None,
        look_ahead: 0,
        predict: 0,
        promote_at: None,
        warm_percent: 25,
    };
    let mut dir = None;
    let mut reuse = false;
    let mut prepare_only = false;
    let mut block_kib = 16u64;
    let mut hashing = Hashing::Spatial;
    let mut cold_encoding = Encoding::F32;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{v:?}: {e}"));
        match flag.as_str() {
            "--size-mib" => config.size_mib = number(value()?)?,
            "--budget-mib" => config.budget_mib = number(value()?)?,
            "--workload" => config.workload = value()?.parse()?,
            "--engine" => config.engine = value()?.parse()?,
            "--max-seconds" => {
                let v = value()?;
                config.max_seconds = v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| format!("--max-seconds {v:?}: a number of seconds >= 0"))?;
            }
            "--queries" => config.queries = number(value()?)? as usize,
            "--batch" => config.batch = (number(value()?)? as usize).max(1),
            "--seed" => config.seed = number(value()?)?,
            "--dir" => dir = Some(PathBuf::from(value()?)),
            "--block-kib" => block_kib = number(value()?)?,
            "--hashing" => hashing = value()?.parse()?,
            "--cold-encoding" => cold_encoding = value()?.parse()?,
            "--reuse" => reuse = true,
            "--prepare-only" => prepare_only = true,
            "--no-drop-caches" => config.drop_caches = false,
            "--read-ahead" => config.read_ahead = Some(number(value()?)? as usize),
            "--look-ahead" => config.look_ahead = number(value()?)? as usize,
            "--predict" => config.predict = number(value()?)? as usize,
            "--promote-at" => config.promote_at = Some(number(value()?)?.clamp(1, 255) as u8),
            "--warm-percent" => config.warm_percent = number(value()?)?.min(100) as u8,
            "--help" | "-h" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if prepare_only && dir.is_none() {
        return Err("--prepare-only needs --dir (the files are kept there)".to_string());
    }
    let log2_block_bytes = bench::log2_block_bytes(block_kib)?;
    Ok(Args {
        config,
        dir,
        reuse,
        prepare_only,
        log2_block_bytes,
        hashing,
        cold_encoding,
    })
}

fn run(args: Args) -> field::Result<()> {
    let temporary = args.dir.is_none();
    let dir = args.dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("field-bench-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir)?;
    let layout = Layout {
        hashing: args.hashing,
        cold_encoding: args.cold_encoding,
        ..bench::layout_for_size(
            args.config.size_mib,
            args.log2_block_bytes,
            args.config.seed,
        )
    };
    let path = bench::field_path(&dir, &layout);
    let mut create_s = 0.0;
    let created = !(args.reuse && path.exists());
    if created {
        if path.exists() {
            std::fs::remove_file(&path)?;
        }
        let started = Instant::now();
        bench::prepare(&path, layout)?;
        create_s = started.elapsed().as_secs_f64();
    }
    let mut export_s = 0.0;
    let f32_path = bench::mmap_path(&path);
    // A field file made just now has new values: its copy is made again too.
    let mapped = matches!(args.config.engine, Engine::Mmap | Engine::MmapRandom);
    if mapped && (!(args.reuse && f32_path.exists()) || created) {
        let started = Instant::now();
        bench::mmap::export_f32(&path, &f32_path)?;
        export_s = started.elapsed().as_secs_f64();
    }
    if args.prepare_only {
        println!(
            "prepared {} create_s={create_s:.2} export_s={export_s:.2}",
            path.display()
        );
        return Ok(());
    }
    let report = match args.config.engine {
        Engine::Field => bench::measure(&path, &args.config),
        Engine::Mmap | Engine::MmapRandom => bench::measure_mmap(&f32_path, layout, &args.config),
    };
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let report = report?;
    let bytes_per_load = report.bytes_read.checked_div(report.loads).unwrap_or(0);
    println!(
        "{} create_s={create_s:.2} export_s={export_s:.2} hashing={} cold_encoding={} \
         bytes_per_load={bytes_per_load}",
        report.line(),
        layout.hashing.name(),
        layout.cold_encoding.name()
    );
    Ok(())
}

fn main() -> ExitCode {
    bench::cli_main("field-bench", parse_args, run)
}
