//! The `#[global_allocator]` benchmarks with mimalloc (the `mimalloc` crate, built from
//! source) as the process's allocator.
//! The workloads are in `global/body.rs`; run all four contenders with `scripts/bench-global.sh`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The benchmark id of every workload in this process.
const CONTENDER: &str = "mimalloc";

#[path = "global/body.rs"]
mod body;

criterion::criterion_main!(body::global);
