//! The kernel alone, in cache: scalar against AVX2 + FMA (issue 13's bar: the vector kernel at
//! least 4× the scalar one). Each benchmark encodes 1,024 points of a camera path (consecutive
//! points a small step apart, so the rows they read stay in cache) against tables in memory
//! (`field::Grids`, no blocks or tiers): 3-D, 2^14 entries per level, 2 / 4 / 8 features, 16
//! levels (resolutions 16 – 2048) or one hashed level (resolution 2048), spatial hashing.
//!
//! Contenders: `scalar` (`Kernel::scalar().encode_batch`, a point at a time), `avx2-single`
//! (`Kernel::avx2_fma()`'s `encode` called per point: corners in lanes, rows blended in one
//! register, what `Field::query` uses) and `avx2-batch` (its `encode_batch`: 8 points per
//! pass, one per lane). Run: `cargo bench -p sacs-field --bench kernel`.
//!
//! On a shared machine wall-clock samples include the time other processes held the core;
//! `FIELD_KERNEL_CLOCK=thread-cpu` makes criterion measure this thread's CPU time instead
//! (`CLOCK_THREAD_CPUTIME_ID`), which leaves that time out (cache pollution by the others
//! stays in).

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{black_box, BenchmarkId, Criterion, Throughput};
use field::bench::{Points, Workload};
use field::{Grids, Kernel, Layout};

const POINTS: usize = 1024;

fn layout(levels: u8, features: u8) -> Layout {
    Layout {
        dim: 3,
        levels,
        log2_table: 14,
        features,
        base_resolution: if levels == 1 { 2048 } else { 16 },
        finest_resolution: 2048,
        ..Layout::default()
    }
}

fn kernels<M: Measurement>(c: &mut Criterion<M>) {
    let Some(vector) = Kernel::avx2_fma() else {
        eprintln!("no AVX2+FMA on this processor: nothing to compare");
        return;
    };
    let scalar = Kernel::scalar();
    let xs = Points::new(Workload::Camera, 5).take_flat(POINTS);
    let mut rng = fastrand::Rng::with_seed(3);
    for levels in [16u8, 1] {
        let mut group = c.benchmark_group(format!("encode-{levels}-levels"));
        group.throughput(Throughput::Elements(POINTS as u64));
        for features in [2u8, 4, 8] {
            let grids = Grids::new(&layout(levels, features)).expect("a valid layout");
            let tables: Vec<f32> = (0..grids.table_floats())
                .map(|_| rng.f32() * 0.2 - 0.1)
                .collect();
            let mut out = vec![0f32; POINTS * grids.output_len()];
            let width = grids.output_len();
            group.bench_function(BenchmarkId::new("scalar", features), |b| {
                b.iter(|| scalar.encode_batch(&grids, &tables, black_box(&xs), &mut out))
            });
            group.bench_function(BenchmarkId::new("avx2-single", features), |b| {
                b.iter(|| {
                    for (x, o) in black_box(&xs)
                        .chunks_exact(3)
                        .zip(out.chunks_exact_mut(width))
                    {
                        vector.encode(&grids, &tables, x, o);
                    }
                })
            });
            group.bench_function(BenchmarkId::new("avx2-batch", features), |b| {
                b.iter(|| vector.encode_batch(&grids, &tables, black_box(&xs), &mut out))
            });
        }
        group.finish();
    }
}

/// This thread's CPU time, in nanoseconds.
struct ThreadCpu;

fn thread_cpu_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec; the clock id is a Linux constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns() - start
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuNanos
    }
}

/// Formats CPU nanoseconds as criterion formats wall time (ns, µs, ms; elements per second).
struct CpuNanos;

impl ValueFormatter for CpuNanos {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if typical < 1e3 {
            (1.0, "ns (cpu)")
        } else if typical < 1e6 {
            (1e-3, "µs (cpu)")
        } else {
            (1e-6, "ms (cpu)")
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }

    fn scale_throughputs(&self, _typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let per = match *t {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) | Throughput::Elements(n) => n,
        } as f64;
        values.iter_mut().for_each(|v| *v = per * 1e9 / *v / 1e6);
        "M/s (cpu)"
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn configure<M: Measurement>(c: Criterion<M>) -> Criterion<M> {
    c.sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args()
}

fn main() {
    if std::env::var("FIELD_KERNEL_CLOCK").as_deref() == Ok("thread-cpu") {
        let mut c = configure(Criterion::default().with_measurement(ThreadCpu));
        kernels(&mut c);
        c.final_summary();
    } else {
        let mut c = configure(Criterion::default().with_measurement(WallTime));
        kernels(&mut c);
        c.final_summary();
    }
}
