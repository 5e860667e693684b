//! The workloads of the `#[global_allocator]` benchmarks, shared by the four bench targets
//! `global_sacs`, `global_mimalloc`, `global_jemalloc` and `global_system`.
//!
//! Each target installs one contender as the process's real `#[global_allocator]`, names it in
//! `CONTENDER` and includes this module, so every `Vec`, `String`, `HashMap` and `BTreeMap` below
//! (and criterion's own bookkeeping, outside the timed loops) goes through that contender: what a
//! Rust program that sets `#[global_allocator]` gets. One process holds one global allocator,
//! hence one target per contender; `scripts/bench-global.sh` runs them in turn and
//! `src/bin/global_table.rs` puts their medians side by side.
//!
//! Every benchmark is `global/<workload>/<contender>`: group `global/<workload>`, id = the
//! contender, so criterion writes `global_<workload>/<contender>/new/estimates.json` under
//! `CRITERION_HOME` (criterion turns the `/` of a group name into `_`). One iteration is:
//!
//! * `vec_push`: 10 000 `u64` pushed into an empty `Vec` (grows by doubling), then dropped;
//! * `string_build`: 1 000 strings of about 40 bytes, each from a `format!` and `push_str` of
//!   small pieces, collected in a `Vec<String>`, then dropped;
//! * `hashmap_insert`: 10 000 `u64 -> String` entries into an empty `HashMap`, then dropped;
//! * `btreemap_insert`: 10 000 random `u64 -> u64` entries into a `BTreeMap`, then dropped;
//! * `vec_of_boxes`: 10 000 `Box<[u8; 48]>`, then dropped in a shuffled order;
//! * `pair/<size>`: one `Vec::<u8>::with_capacity(size)` with one byte written, then dropped.
//!
//! Run with `scripts/bench-global.sh`, or one contender alone with
//! `cargo bench -p sacs-bench-harness --bench global_sacs [FILTER]`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, BenchmarkGroup, Criterion, Throughput};
use sacs_bench_harness::{size_label, XorShift};

use super::CONTENDER;

/// Elements per iteration of the collection workloads.
const N: usize = 10_000;
/// Strings per iteration of `string_build`.
const STRINGS: usize = 1_000;
/// The sizes of the `pair/<size>` workloads.
const PAIR_SIZES: [usize; 8] = [16, 64, 256, 1 << 10, 4 << 10, 32 << 10, 256 << 10, 1 << 20];
/// The seed of every random sequence, so all contenders see the same keys and orders.
const SEED: u64 = 0x5ac5_2024;

/// Words that `string_build` glues together.
const WORDS: [&str; 8] = [
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
];

/// A group `global/<workload>` with the time budget of the collection workloads (one iteration
/// takes tens of µs to a few ms).
fn workload_group<'a>(c: &'a mut Criterion, workload: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(format!("global/{workload}"));
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(50);
    group
}

fn vec_push(c: &mut Criterion) {
    let mut group = workload_group(c, "vec_push");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function(CONTENDER, |b| {
        b.iter(|| {
            let mut v = Vec::new();
            for i in 0..N as u64 {
                v.push(black_box(i));
            }
            black_box(v)
        })
    });
    group.finish();
}

fn string_build(c: &mut Criterion) {
    let mut group = workload_group(c, "string_build");
    group.throughput(Throughput::Elements(STRINGS as u64));
    group.bench_function(CONTENDER, |b| {
        b.iter(|| {
            let mut strings = Vec::new();
            for i in 0..STRINGS {
                // About 40 bytes, grown from empty: the `String` reallocates on the way.
                let mut s = String::new();
                s.push_str(WORDS[i % WORDS.len()]);
                s.push('-');
                s.push_str(&format!("{i:05}"));
                for k in 1..4 {
                    s.push(' ');
                    s.push_str(WORDS[(i + k) % WORDS.len()]);
                }
                let _ = write!(s, " #{}", black_box(i) * 7);
                strings.push(s);
            }
            black_box(strings)
        })
    });
    group.finish();
}

fn hashmap_insert(c: &mut Criterion) {
    let mut group = workload_group(c, "hashmap_insert");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function(CONTENDER, |b| {
        b.iter(|| {
            let mut map = HashMap::new();
            for i in 0..N as u64 {
                map.insert(black_box(i), i.to_string());
            }
            black_box(map)
        })
    });
    group.finish();
}

fn btreemap_insert(c: &mut Criterion) {
    let mut rng = XorShift::new(SEED);
    let keys: Vec<u64> = (0..N).map(|_| rng.next_u64()).collect();
    let mut group = workload_group(c, "btreemap_insert");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function(CONTENDER, |b| {
        b.iter(|| {
            let mut map = BTreeMap::new();
            for &k in &keys {
                map.insert(black_box(k), k);
            }
            black_box(map)
        })
    });
    group.finish();
}

fn vec_of_boxes(c: &mut Criterion) {
    // A Fisher–Yates shuffle of 0..N, made once: the order in which the boxes are dropped.
    let mut rng = XorShift::new(SEED);
    let mut order: Vec<usize> = (0..N).collect();
    for i in (1..N).rev() {
        order.swap(i, rng.range(0, i));
    }
    let mut group = workload_group(c, "vec_of_boxes");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function(CONTENDER, |b| {
        b.iter(|| {
            let mut boxes: Vec<Option<Box<[u8; 48]>>> = Vec::with_capacity(N);
            for i in 0..N {
                boxes.push(Some(Box::new([i as u8; 48])));
            }
            let mut boxes = black_box(boxes);
            for &i in &order {
                drop(black_box(boxes[i].take()));
            }
            boxes
        })
    });
    group.finish();
}

fn pairs(c: &mut Criterion) {
    for size in PAIR_SIZES {
        let mut group = c.benchmark_group(format!("global/pair/{}", size_label(size)));
        // Tens of ns to a few µs per iteration: shorter budget than the collections.
        group
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .sample_size(50)
            .throughput(Throughput::Elements(1));
        group.bench_function(CONTENDER, |b| {
            b.iter(|| {
                let mut v = Vec::<u8>::with_capacity(black_box(size));
                v.push(1);
                black_box(v)
            })
        });
        group.finish();
    }
}

fn config() -> Criterion {
    Criterion::default().without_plots()
}

criterion_group! {
    name = global;
    config = config();
    targets = vec_push, string_build, hashmap_insert, btreemap_insert, vec_of_boxes, pairs
}
