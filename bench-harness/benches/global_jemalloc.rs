//! The `#[global_allocator]` benchmarks with jemalloc (the `tikv-jemallocator` crate, built
//! from source) as the process's allocator.
//! The workloads are in `global/body.rs`; run all four contenders with `scripts/bench-global.sh`.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The benchmark id of every workload in this process.
const CONTENDER: &str = "jemalloc";

#[path = "global/body.rs"]
mod body;

criterion::criterion_main!(body::global);
