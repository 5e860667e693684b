//! The `#[global_allocator]` benchmarks with the system allocator
//! (`std::alloc::System`: glibc malloc here) as the process's allocator.
//! The workloads are in `global/body.rs`; run all four contenders with `scripts/bench-global.sh`.

#[global_allocator]
static GLOBAL: std::alloc::System = std::alloc::System;

/// The benchmark id of every workload in this process.
const CONTENDER: &str = "system";

#[path = "global/body.rs"]
mod body;

criterion::criterion_main!(body::global);
