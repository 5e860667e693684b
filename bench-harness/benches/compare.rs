//! SACS against mimalloc and glibc, side by side in one run.
//!
//! Each benchmark group is one workload; inside it the allocator is the parameter
//! (`<workload>/sacs`, `<workload>/mimalloc`, `<workload>/glibc`), so criterion reports the three
//! next to each other and `scripts/bench_table` (the `bench_table` binary) can turn the medians
//! into ratios. One iteration is:
//!
//! * `pair_<size>`: one allocation, one byte written, one free;
//! * `random_mixed_16-1024B`: one free of a random live block and one allocation of a random size
//!   in 16..=1024 (1024 blocks stay live);
//! * `scenario_<json|mir|vm>_<size>`: one allocation, a write in every 4 KiB page, one free;
//! * `tiny_hot_100x32B`: 100 allocations of 32 B, then 100 frees in reverse order.
//!
//! Run with `scripts/bench.sh` (or `cargo bench -p sacs-bench-harness --bench compare [FILTER]`).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sacs_bench_harness::{
    layout, pair, scenario, size_label, tiny_hot, with_contender, Contender, Ring, BURST,
    BURST_SIZE, PAIR_SIZES, SCENARIOS,
};

fn pairs(c: &mut Criterion) {
    for &(size, _tier) in &PAIR_SIZES {
        let mut group = c.benchmark_group(format!("pair_{}", size_label(size)));
        group.throughput(Throughput::Elements(1));
        for contender in Contender::ALL {
            with_contender!(contender, |a| {
                group.bench_function(BenchmarkId::from_parameter(contender.name()), |b| {
                    let l = layout(size);
                    b.iter(|| pair(a, l))
                });
            });
        }
        group.finish();
    }
}

fn random_mixed(c: &mut Criterion) {
    let mut group = c.benchmark_group("random_mixed_16-1024B");
    group.throughput(Throughput::Elements(1));
    for contender in Contender::ALL {
        with_contender!(contender, |a| {
            let mut ring = Ring::new(a, 0x5ac5_2024);
            group.bench_function(BenchmarkId::from_parameter(contender.name()), |b| {
                b.iter(|| ring.step())
            });
            drop(ring);
        });
    }
    group.finish();
}

fn scenarios(c: &mut Criterion) {
    for &(name, size) in &SCENARIOS {
        let mut group = c.benchmark_group(format!("scenario_{name}_{}", size_label(size)));
        group.throughput(Throughput::Elements(1));
        for contender in Contender::ALL {
            with_contender!(contender, |a| {
                group.bench_function(BenchmarkId::from_parameter(contender.name()), |b| {
                    b.iter(|| scenario(a, size))
                });
            });
        }
        group.finish();
    }
}

fn tiny_hot_burst(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("tiny_hot_{BURST}x{BURST_SIZE}B"));
    group.throughput(Throughput::Elements(BURST as u64));
    for contender in Contender::ALL {
        with_contender!(contender, |a| {
            group.bench_function(BenchmarkId::from_parameter(contender.name()), |b| {
                b.iter(|| tiny_hot(a))
            });
        });
    }
    group.finish();
}

/// Prints SACS's own statistics table after the run when `SACS_BENCH_STATS=1`.
fn sacs_stats(_c: &mut Criterion) {
    if std::env::var_os("SACS_BENCH_STATS").is_some_and(|v| v == "1") {
        let mut buf = vec![0u8; 64 << 10];
        let n = sacs::stats().write_table(&mut buf);
        eprintln!("{}", String::from_utf8_lossy(&buf[..n.min(buf.len())]));
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .without_plots()
}

criterion_group! {
    name = compare;
    config = config();
    targets = pairs, random_mixed, scenarios, tiny_hot_burst, sacs_stats
}
criterion_main!(compare);
