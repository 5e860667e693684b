//! The `#[global_allocator]` benchmarks with SACS (`sacs::Sacs`) as the process's allocator.
//! The workloads are in `global/body.rs`; run all four contenders with `scripts/bench-global.sh`.

#[global_allocator]
static GLOBAL: sacs::Sacs = sacs::Sacs;

/// The benchmark id of every workload in this process.
const CONTENDER: &str = "sacs";

#[path = "global/body.rs"]
mod body;

criterion::criterion_main!(body::global);
