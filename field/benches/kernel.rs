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

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
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

fn kernels(c: &mut Criterion) {
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

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = kernels
}
criterion_main!(benches);
