//! Baseline (a) of the benchmark (`field::bench::mmap`): the plain f32 copy of a field file,
//! mapped whole, answers the same queries with the same numbers as the field itself (all hot,
//! so exact), before and after the same training steps, under the spatial hashing and with
//! bricked dense levels; the measuring loop runs on it.

use std::collections::HashMap;

use field::bench::{self, mmap::MmapField, Config, Engine, Workload};
use field::{Field, Hashing, Layout};

/// A 2 MiB field: two levels of 2^16 entries, 4 KiB blocks (see tests/bench.rs).
fn small_layout() -> Layout {
    Layout {
        levels: 2,
        log2_table: 16,
        ..bench::layout_for_size(2, 12, 11)
    }
}

fn assert_same(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(x.to_bits(), y.to_bits(), "{what}: output {i}: {x} vs {y}");
    }
}

#[test]
fn the_mapped_copy_answers_like_the_field_before_and_after_training() {
    check_mapped_copy(small_layout());
}

#[test]
fn the_mapped_copy_of_a_bricked_field_answers_like_the_field() {
    // The coarse level (resolution 16) is dense, in bricks of 8 × 8 × 4.
    check_mapped_copy(Layout {
        hashing: Hashing::Bricked,
        ..small_layout()
    });
}

/// The field file of `layout` and its mapped f32 copy answer alike, before and after the
/// same training steps.
fn check_mapped_copy(layout: Layout) {
    let dir = tempfile::tempdir().unwrap();
    let path = bench::field_path(dir.path(), &layout);
    bench::prepare(&path, layout).unwrap();
    let f32_path = bench::mmap_path(&path);
    assert_eq!(bench::mmap::export_f32(&path, &f32_path).unwrap(), layout);
    assert_eq!(
        std::fs::metadata(&f32_path).unwrap().len(),
        bench::layout_bytes(&layout)
    );

    let mut field = Field::open(&path).unwrap();
    let mut mapped = MmapField::open(&f32_path, layout).unwrap();
    assert_eq!(mapped.output_len(), field.output_len());
    let width = field.output_len();
    let (mut a, mut b) = (vec![0f32; width], vec![0f32; width]);
    let mut differ = 0;
    for workload in [Workload::Camera, Workload::Zipf, Workload::Uniform] {
        let mut points = bench::Points::new(workload, 5);
        for _ in 0..300 {
            let x = points.next_point();
            field.query(&x, &mut a).unwrap();
            mapped.query(&x, &mut b).unwrap();
            assert_same(&a, &b, &format!("{workload:?} at {x:?}"));
        }
        // A batch gives the same as single queries.
        let xs = points.take_flat(40);
        let (mut ab, mut bb) = (vec![0f32; 40 * width], vec![0f32; 40 * width]);
        field.query_batch(&xs, &mut ab).unwrap();
        mapped.query_batch(&xs, &mut bb).unwrap();
        assert_same(&ab, &bb, &format!("{workload:?} batch"));
    }

    // The same SGD steps on both, then the same answers again (and different from before).
    let mut points = bench::Points::new(Workload::Train, 9);
    let grad: Vec<f32> = (0..width).map(|i| 0.5 - i as f32 * 0.1).collect();
    let probe = points.next_point();
    field.query(&probe, &mut a).unwrap();
    let before = a.clone();
    for _ in 0..200 {
        let x = points.next_point();
        field.update(&x, &grad, 0.05).unwrap();
        mapped.update(&x, &grad, 0.05).unwrap();
    }
    field.update(&probe, &grad, 0.05).unwrap();
    mapped.update(&probe, &grad, 0.05).unwrap();
    field.flush().unwrap();
    mapped.flush().unwrap();
    let mut points = bench::Points::new(Workload::Train, 9);
    for _ in 0..201 {
        let x = points.next_point();
        field.query(&x, &mut a).unwrap();
        mapped.query(&x, &mut b).unwrap();
        assert_same(&a, &b, &format!("after training, at {x:?}"));
    }
    field.query(&probe, &mut a).unwrap();
    for (x, y) in a.iter().zip(&before) {
        differ += (x != y) as usize;
    }
    assert!(
        differ > 0,
        "the training steps changed nothing at the probe"
    );

    // The mapping's writes reached the file: a new mapping answers the trained values.
    drop(mapped);
    let reopened = MmapField::open(&f32_path, layout).unwrap();
    reopened.query(&probe, &mut b).unwrap();
    assert_same(&a, &b, "reopened mapping at the probe");
}

#[test]
fn a_file_of_the_wrong_size_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let layout = small_layout();
    let path = dir.path().join("short.f32");
    std::fs::write(&path, vec![0u8; 4096]).unwrap();
    assert!(MmapField::open(&path, layout).is_err());
    let mapped_len = bench::layout_bytes(&layout) as usize;
    std::fs::write(&path, vec![0u8; mapped_len]).unwrap();
    let mapped = MmapField::open(&path, layout).unwrap();
    let mut out = vec![0f32; mapped.output_len()];
    assert!(
        mapped.query(&[0.5, 0.5], &mut out).is_err(),
        "2 coordinates"
    );
    assert!(mapped.query(&[0.5, f32::NAN, 0.5], &mut out).is_err());
    mapped.query(&[0.5, 0.5, 0.5], &mut out).unwrap();
    assert!(
        out.iter().all(|&v| v == 0.0),
        "a file of zeros answers zeros"
    );
}

#[test]
fn the_measuring_loop_runs_on_the_mapping_and_stops_at_its_time_limit() {
    let dir = tempfile::tempdir().unwrap();
    let layout = small_layout();
    let path = bench::field_path(dir.path(), &layout);
    bench::prepare(&path, layout).unwrap();
    let f32_path = bench::mmap_path(&path);
    bench::mmap::export_f32(&path, &f32_path).unwrap();
    for (workload, budget_mib, batch) in [
        (Workload::Camera, 1, 1),
        (Workload::Uniform, 0, 64),
        (Workload::Train, 1, 64),
    ] {
        let config = Config {
            engine: Engine::Mmap,
            size_mib: 2,
            budget_mib,
            workload,
            queries: 1000,
            max_seconds: 0.0,
            batch,
            seed: 7,
            drop_caches: false,
            read_ahead: None,
            look_ahead: 0,
            predict: 0,
            promote_at: None,
            warm_percent: 25,
        };
        let line = bench::measure_mmap(&f32_path, layout, &config)
            .unwrap()
            .line();
        let values: HashMap<&str, &str> = line
            .split_whitespace()
            .map(|pair| pair.split_once('=').unwrap())
            .collect();
        assert_eq!(values["engine"], "mmap", "{line}");
        assert_eq!(values["queries"], "1000", "{line}");
        assert_eq!(values["non_finite"], "0", "{line}");
        let qps: f64 = values["queries_per_s"].parse().unwrap();
        assert!(qps.is_finite() && qps > 0.0, "{line}");
        if budget_mib == 0 {
            let warmup: f64 = values["warmup_ms"].parse().unwrap();
            assert!(warmup > 0.0, "the whole file is touched first: {line}");
        }
    }
    // A time limit ends the loop before all the queries asked for are done.
    let config = Config {
        engine: Engine::Mmap,
        size_mib: 2,
        budget_mib: 1,
        workload: Workload::Uniform,
        queries: usize::MAX,
        max_seconds: 0.05,
        batch: 1,
        seed: 7,
        drop_caches: false,
        read_ahead: None,
        look_ahead: 0,
        predict: 0,
        promote_at: None,
        warm_percent: 25,
    };
    let report = bench::measure_mmap(&f32_path, layout, &config).unwrap();
    assert!(
        report.queries > 0 && report.queries < usize::MAX,
        "{}",
        report.line()
    );
    assert!(
        report.seconds >= 0.05 && report.seconds < 5.0,
        "{}",
        report.line()
    );
}
