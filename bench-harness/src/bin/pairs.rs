//! `pairs ALLOCATOR [N] [SIZE]`: N (default 1,000,000) allocation / free pairs of SIZE (default 64)
//! bytes through one allocator's `GlobalAlloc`, ALLOCATOR being `sacs`, `mimalloc` or `system`.
//!
//! A tiny program for instruction counts: run it under `valgrind --tool=callgrind` twice with
//! different N and divide the difference of the totals by the difference of N (start-up cancels
//! out), or collect only inside the loop with `--toggle-collect='sacs_bench_harness::pairs*'`.
//! `scripts/hot-path-instructions.sh` does the former for several sizes, through this program and
//! through the C API under LD_PRELOAD (`bench-harness/c/pairs.c`).

use std::process::ExitCode;

use sacs_bench_harness::{pairs, with_contender, Contender};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: pairs sacs|mimalloc|system [N] [SIZE]";
    let Some(contender) = args.get(1).and_then(|s| Contender::parse(s)) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let parse = |i: usize, default: u64| -> Option<u64> {
        match args.get(i) {
            None => Some(default),
            Some(s) => s.replace('_', "").parse().ok(),
        }
    };
    let (Some(n), Some(size)) = (parse(2, 1_000_000), parse(3, 64)) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    if size == 0 {
        eprintln!("SIZE must be at least 1");
        return ExitCode::from(2);
    }
    with_contender!(contender, |a| {
        // One pair first: the allocator's one-time set-up (thread heap, first page) is not part
        // of the loop that `--toggle-collect` measures.
        pairs(a, size as usize, 1);
        pairs(a, size as usize, n);
    });
    println!("{}: {n} pairs of {size} B", contender.name());
    ExitCode::SUCCESS
}
