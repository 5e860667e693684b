//! The benchmark's core (`field::bench`) on a tiny field: every workload, single queries and
//! batches, under a 1 MiB budget and unlimited; the report line parses and the answers are
//! finite.

use std::collections::HashMap;
use std::time::Instant;

use field::bench::{self, Config, Workload};

fn parse(line: &str) -> HashMap<&str, &str> {
    line.split_whitespace()
        .map(|pair| pair.split_once('=').expect("key=value"))
        .collect()
}

#[test]
fn every_workload_runs_on_a_tiny_field_and_reports_a_parsable_line() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        bench::layout_bytes(&bench::layout_for_size(2, 12, 7)),
        2 << 20
    );
    assert_eq!(
        bench::layout_bytes(&bench::layout_for_size(256, 14, 7)),
        256 << 20
    );
    assert_eq!(
        bench::layout_bytes(&bench::layout_for_size(1024, 14, 7)),
        1 << 30
    );
    // 8 MiB in two levels of 2^18 entries (16 rows per query, so that the paging runs below
    // take under a second each in a debug build), 4 KiB blocks: twice the smallest budget
    // that leaves room for hot blocks beside the field's fixed memory (a 2 MiB hot region,
    // buffers).
    let layout = field::Layout {
        levels: 2,
        log2_table: 18,
        ..bench::layout_for_size(8, 12, 7)
    };
    assert_eq!(bench::layout_bytes(&layout), 8 << 20);
    let path = bench::field_path(dir.path(), &layout);
    bench::prepare(&path, layout).unwrap();
    let stored = field::Field::open(&path).unwrap().stored_blocks().len() as u64;
    assert_eq!(
        stored,
        field::layout::Blocking::new(&layout).block_count(&layout),
        "every block is written once"
    );

    for workload in Workload::ALL {
        let batch = if matches!(workload, Workload::Zipf | Workload::Train) {
            64
        } else {
            1
        };
        for budget_mib in [4, 0] {
            let run = Instant::now();
            let config = Config {
                engine: bench::Engine::Field,
                size_mib: 8,
                budget_mib,
                workload,
                queries: 2000,
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
            let line = bench::measure(&path, &config).unwrap().line();
            let values = parse(&line);
            assert_eq!(values["workload"], workload.name(), "{line}");
            assert_eq!(values["queries"], "2000", "{line}");
            assert_eq!(values["non_finite"], "0", "{line}");
            for key in ["p50_us", "p99_us", "p999_us", "queries_per_s"] {
                let v: f64 = values[key].parse().unwrap();
                assert!(v.is_finite() && v > 0.0, "{key} in {line}");
            }
            let p50: f64 = values["p50_us"].parse().unwrap();
            let p999: f64 = values["p999_us"].parse().unwrap();
            assert!(p50 <= p999, "{line}");
            for key in ["rss_peak_kib", "rss_end_kib", "bytes_read", "loads"] {
                values[key].parse::<u64>().unwrap();
            }
            eprintln!("{:.2} s: {line}", run.elapsed().as_secs_f64());
            if budget_mib > 0 {
                assert!(values["loads"].parse::<u64>().unwrap() > 0, "{line}");
            }
        }
    }
    // Meant to stay under 5 s in a debug build (about 3.1 s on the 2-core machine).
    eprintln!("bench test took {:.2} s", started.elapsed().as_secs_f64());
}

#[test]
fn the_workloads_stay_in_the_unit_cube_and_the_camera_moves_in_small_steps() {
    for workload in Workload::ALL {
        let mut points = bench::Points::new(workload, 3);
        let mut last = points.next_point();
        for _ in 0..10_000 {
            let p = points.next_point();
            assert!(
                p.iter().all(|c| (0.0..=1.0).contains(c)),
                "{workload:?} {p:?}"
            );
            if matches!(workload, Workload::Camera | Workload::Train) {
                let step: f32 = (0..3).map(|d| (p[d] - last[d]).powi(2)).sum::<f32>().sqrt();
                assert!(step < 1e-3, "{workload:?} stepped {step}");
            }
            last = p;
        }
    }
    assert!("camera".parse::<Workload>().is_ok());
    assert!("nope".parse::<Workload>().is_err());
}

#[test]
fn an_int8_field_prepared_by_the_bench_answers_within_a_percent_of_the_f32_one() {
    let dir = tempfile::tempdir().unwrap();
    // 2 MiB: 8 levels of 2^14 entries, 16 KiB blocks (the benchmark's), local hashing.
    let f32_layout = field::Layout {
        hashing: field::Hashing::Local,
        ..bench::layout_for_size(2, 14, 7)
    };
    let int8_layout = field::Layout {
        cold_encoding: field::Encoding::Int8,
        ..f32_layout
    };
    let f32_path = bench::field_path(dir.path(), &f32_layout);
    let int8_path = bench::field_path(dir.path(), &int8_layout);
    assert_ne!(
        f32_path, int8_path,
        "the encodings' files have their own names"
    );
    assert!(int8_path.to_str().unwrap().ends_with("-local-int8.field"));
    bench::prepare(&f32_path, f32_layout).unwrap();
    bench::prepare(&int8_path, int8_layout).unwrap();

    let mut exact = field::Field::open(&f32_path).unwrap();
    let mut quantised = field::Field::open(&int8_path).unwrap();
    assert_eq!(quantised.layout().cold_encoding, field::Encoding::Int8);
    let width = exact.output_len();
    let xs = bench::Points::new(Workload::Zipf, 11).take_flat(2000);
    let (mut a, mut b) = (vec![0f32; 2000 * width], vec![0f32; 2000 * width]);
    exact.query_batch(&xs, &mut a).unwrap();
    quantised.query_batch(&xs, &mut b).unwrap();
    let err: f64 = a
        .iter()
        .zip(&b)
        .map(|(x, y)| ((x - y) as f64).powi(2))
        .sum();
    let norm: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum();
    let relative = (err / norm).sqrt();
    eprintln!(
        "int8 against f32: relative L2 error {:.4} %",
        relative * 100.0
    );
    assert!(relative > 0.0 && relative < 0.01, "{relative}");
}
