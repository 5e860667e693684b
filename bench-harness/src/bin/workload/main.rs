//! `workload`: the whole-program workloads of the side-by-side comparison (`scripts/compare.sh`).
//!
//! Every workload allocates through the C API (`malloc`, `free`, `realloc` from libc), so the
//! allocator is whatever the dynamic linker binds those names to: glibc, or the library named in
//! `LD_PRELOAD` (SACS, mimalloc, jemalloc, tcmalloc). The binary's own Rust allocations go through
//! `malloc` too (its global allocator is `System`), so nothing here bypasses the contender.
//!
//! Every workload writes a pattern into what it allocates and checks it before freeing, so a
//! broken allocator fails (exit status 1, a message on stderr) instead of winning.
//!
//! ```text
//! workload list                         names and one-line descriptions
//! workload NAME [--scale F] [--threads N]
//! ```
//!
//! On success it prints one line of `key=value` fields, which `scripts/compare.py` parses:
//!
//! ```text
//! workload=larson threads=2 ops=4000000 elapsed_s=0.912 ops_per_s=4385964 peak_rss_kib=9120 final_rss_kib=3012 checksum=…
//! ```
//!
//! `elapsed_s` is the wall time of the workload itself (not the process start-up, nor the time
//! slept in its idle pauses, `common::idle`, as measured around each sleep), `peak_rss_kib`
//! the process's high-water resident set (`VmHWM`), and `final_rss_kib` the resident set at the
//! moment the workload chose (fragmentation: while its long-lived objects remain; server: while
//! a quarter of its cache remains), or else after it freed everything; either way after
//! `common::settle`'s idle pause.
//!
//! The workloads that trace their resident set over time (`fragmentation`, `server`, `batch`,
//! `phases`, `pool`, `pool-small`; see
//! `trace.rs`) add four fields: `phases` (the phases' names, `/`-separated), `phase_rss_kib`
//! (the resident set at the end of each phase, in the same order), `mean_rss_kib` (the
//! time-weighted mean resident set, idle pauses included) and `rss_samples` (readings taken):
//!
//! ```text
//! … checksum=… phases=fill/steady/shrink/idle phase_rss_kib=54008/118652/118568/118568 mean_rss_kib=109135 rss_samples=1565
//! ```

mod batch;
mod common;
mod phases;
mod pool;
mod server;
mod single;
mod tally;
mod threads;
mod trace;
mod whale;

use std::process::ExitCode;
use std::time::Instant;

use common::{peak_rss_kib, rss_kib, Config, Outcome, IDLE_NS};

/// One workload: its name on the command line, a description, and the function that runs it.
struct Workload {
    name: &'static str,
    about: &'static str,
    run: fn(&Config) -> Outcome,
}

/// Every workload, in the order `scripts/compare.sh` runs them.
const WORKLOADS: &[Workload] = &[
    Workload {
        name: "tiny-hot",
        about: "bursts of 100 x 32 B allocated, then freed",
        run: single::tiny_hot,
    },
    Workload {
        name: "random-mixed",
        about: "1024 live blocks of 16-1024 B, one replaced per step",
        run: single::random_mixed,
    },
    Workload {
        name: "json",
        about: "64 KiB buffers allocated, every page touched, freed",
        run: single::json,
    },
    Workload {
        name: "mir",
        about: "256 KiB buffers allocated, every page touched, freed",
        run: single::mir,
    },
    Workload {
        name: "vm",
        about: "2 MiB buffers allocated, every page touched, freed",
        run: single::vm,
    },
    Workload {
        name: "realloc-growth",
        about: "buffers grown by realloc to many MiB",
        run: single::realloc_growth,
    },
    Workload {
        name: "fragmentation",
        about: "long- and short-lived objects interleaved; peak and final RSS",
        run: single::fragmentation,
    },
    Workload {
        name: "server",
        about: "requests' buffers and an LRU cache of the same sizes; load waves, cache shrinks",
        run: server::server,
    },
    Workload {
        name: "big-mix",
        about: "live blocks of 32 KiB-2 MiB, one replaced per step, pages touched",
        run: single::big_mix,
    },
    Workload {
        name: "batch",
        about: "jobs with 1 MiB scratch buffers between bursts of big request buffers, idle pauses",
        run: batch::batch,
    },
    Workload {
        name: "whale-churn",
        about: "20 live whales of 5-25 MiB, one replaced per step, each written whole",
        run: whale::whale_churn,
    },
    Workload {
        name: "phases",
        about: "small-object swells and drains, then big-buffer jobs with idle pauses, alternating",
        run: phases::phases,
    },
    Workload {
        name: "larson",
        about: "threads replacing each other's objects in a shared table",
        run: threads::larson,
    },
    Workload {
        name: "producer-consumer",
        about: "blocks allocated on one thread, freed on another",
        run: threads::producer_consumer,
    },
    Workload {
        name: "thread-churn",
        about: "short-lived threads allocating and handing blocks on",
        run: threads::thread_churn,
    },
    Workload {
        name: "thread-rounds",
        about: "larson with its threads replaced every round, blocks inherited",
        run: threads::thread_rounds,
    },
    Workload {
        name: "pool",
        about: "16 workers taking turns at jobs with 1 MiB buffers, waiting in between",
        run: pool::pool,
    },
    Workload {
        name: "pool-small",
        about: "16 workers taking turns at jobs of 40,000 objects of 16-512 B, waiting in between",
        run: pool::pool_small,
    },
    Workload {
        name: "false-sharing",
        about: "small objects written hard by different threads (cache-scratch)",
        run: threads::false_sharing,
    },
    Workload {
        name: "scaling",
        about: "random mixed on --threads N threads (1, 2, 4, 8)",
        run: threads::scaling,
    },
];

fn usage() -> ExitCode {
    eprintln!("usage: workload list | workload NAME [--scale F] [--threads N]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(name) = args.first() else {
        return usage();
    };
    if name == "list" {
        for w in WORKLOADS {
            println!("{:<18} {}", w.name, w.about);
        }
        return ExitCode::SUCCESS;
    }
    let Some(workload) = WORKLOADS.iter().find(|w| w.name == name) else {
        eprintln!("workload: no workload named {name:?} (try `workload list`)");
        return ExitCode::from(2);
    };
    let mut config = Config {
        scale: 1.0,
        threads: 2,
    };
    let mut rest = args[1..].iter();
    while let Some(flag) = rest.next() {
        let value = rest.next();
        match (flag.as_str(), value.map(|v| v.parse::<f64>())) {
            ("--scale", Some(Ok(v))) if v > 0.0 => config.scale = v,
            ("--threads", Some(Ok(v))) if v >= 1.0 => config.threads = v as usize,
            _ => return usage(),
        }
    }

    let start = Instant::now();
    let outcome = (workload.run)(&config);
    let idle = IDLE_NS.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e9;
    let elapsed = start.elapsed().as_secs_f64() - idle;
    let final_rss = match outcome.final_rss_kib {
        Some(kib) => kib,
        None => {
            common::settle();
            rss_kib()
        }
    };
    let traced = outcome.rss.as_ref().map(|r| r.fields()).unwrap_or_default();
    println!(
        "workload={} threads={} ops={} elapsed_s={:.4} ops_per_s={:.0} peak_rss_kib={} final_rss_kib={} checksum={:x}{}",
        workload.name,
        outcome.threads,
        outcome.ops,
        elapsed,
        outcome.ops as f64 / elapsed,
        peak_rss_kib(),
        final_rss,
        outcome.checksum,
        traced,
    );
    ExitCode::SUCCESS
}
