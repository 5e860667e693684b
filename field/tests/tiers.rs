//! The tiers under a memory budget: a field far larger than its budget pages blocks between
//! hot (f32), warm (f16) and the file, loses no update, stays within its budget, and answers
//! like an unbudgeted field within the error of f16; the int8 cold encoding stays within its
//! quantisation step.

use field::{Budget, Encoding, Field, Layout};

fn layout() -> Layout {
    Layout {
        dim: 3,
        levels: 4,
        log2_table: 14,
        features: 2,
        base_resolution: 8,
        finest_resolution: 128,
        log2_block_bytes: 12, // 512 entries per block, 32 blocks per level
        init_scale: 0.1,
        seed: 11,
        ..Layout::default()
    }
}

/// Applies the same training steps to every field.
fn train(fields: &mut [&mut Field], steps: usize, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let width = fields[0].output_len();
    for _ in 0..steps {
        let x = [rng.f32(), rng.f32(), rng.f32()];
        let grad: Vec<f32> = (0..width).map(|_| rng.f32() - 0.5).collect();
        for f in fields.iter_mut() {
            f.update(&x, &grad, 0.2).unwrap();
        }
    }
}

#[test]
fn a_field_larger_than_its_budget_pages_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut free = Field::create(dir.path().join("free"), layout()).unwrap();
    let mut tight = Field::create(dir.path().join("tight"), layout()).unwrap();
    // 128 blocks of 4 KiB exist; the budget holds 40 hot and 24 warm (an update touches up
    // to 32).
    let budget = Budget {
        hot_bytes: 40 * 4096,
        warm_bytes: 24 * 2048,
    };
    tight.set_budget(budget).unwrap();
    train(&mut [&mut free, &mut tight], 120, 1);

    let stats = tight.stats();
    eprintln!("after training: {stats:?}");
    assert!(
        stats.hot_blocks <= 40 && stats.warm_blocks <= 24,
        "{stats:?}"
    );
    assert!(stats.warm_bytes <= budget.warm_bytes, "{stats:?}");
    assert!(
        stats.hot_region_bytes <= tight.hot_bytes_bound(),
        "{stats:?}"
    );
    assert!(
        stats.loads > 128,
        "blocks were evicted and loaded again: {stats:?}"
    );

    // Queries: exact where the block is hot; where it is warm, each entry is off by at most
    // f16's rounding (2^-11 of its magnitude), so an interpolated feature by at most 2^-11 of
    // the largest entry.
    let largest = free
        .resident_blocks()
        .into_iter()
        .flat_map(|b| free.block_values(b).unwrap())
        .fold(0f32, |m, v| m.max(v.abs()));
    let bound = largest / 2048.0 + 1e-6;
    let mut rng = fastrand::Rng::with_seed(2);
    let width = free.output_len();
    let (mut a, mut b) = (vec![0f32; width], vec![0f32; width]);
    let (mut worst, mut diff2, mut norm2) = (0f32, 0f64, 0f64);
    for _ in 0..200 {
        let x = [rng.f32(), rng.f32(), rng.f32()];
        free.query(&x, &mut a).unwrap();
        tight.query(&x, &mut b).unwrap();
        for (u, v) in a.iter().zip(&b) {
            worst = worst.max((u - v).abs());
            diff2 += ((u - v) as f64).powi(2);
            norm2 += (*u as f64).powi(2);
        }
    }
    let stats = tight.stats();
    eprintln!(
        "after queries: {stats:?}; largest difference {worst} (bound {bound}), relative error \
         of all outputs {:.2e}",
        (diff2 / norm2).sqrt()
    );
    assert!(
        worst <= bound,
        "difference {worst} exceeds f16 rounding {bound}"
    );
    assert!(
        stats.warm_reads > 0,
        "queries read the warm tier: {stats:?}"
    );
    assert!(worst > 0.0, "warm reads are f16, not exact");

    // Every update reached the file: each block's exact values agree.
    tight.flush().unwrap();
    for block in free.resident_blocks() {
        assert_eq!(
            free.block_values(block).unwrap(),
            tight.block_values(block).unwrap(),
            "block {block}"
        );
    }
    assert!(tight.stats().hot_blocks <= 40);
}

#[test]
fn int8_cold_blocks_stay_within_their_quantisation_step() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("int8");
    let layout = Layout {
        cold_encoding: Encoding::Int8,
        ..layout()
    };
    let mut f = Field::create(&path, layout).unwrap();
    train(&mut [&mut f], 100, 3);
    let blocks = f.resident_blocks();
    let before: Vec<Vec<f32>> = blocks.iter().map(|&b| f.block_values(b).unwrap()).collect();
    drop(f);
    let mut f = Field::open(&path).unwrap();
    assert_eq!(f.layout().cold_encoding, Encoding::Int8);
    for (block, exact) in blocks.iter().zip(&before) {
        let stored = f.block_values(*block).unwrap();
        let step = exact.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
        for (e, s) in exact.iter().zip(&stored) {
            assert!(
                (e - s).abs() <= step / 2.0 + 1e-6,
                "block {block}: {e} stored as {s}"
            );
        }
        assert_ne!(&stored, exact, "int8 rounds");
    }
}

/// Trains a field to a smooth target through a linear read-out (the sum of its outputs), the
/// way a small decoder would use it.
fn train_to_target(f: &mut Field, steps: usize) {
    let target = |x: &[f32; 3]| (6.0 * x[0]).sin() * (4.0 * x[1]).cos() + x[2];
    let mut rng = fastrand::Rng::with_seed(21);
    let mut out = vec![0f32; f.output_len()];
    for _ in 0..steps {
        let x = [rng.f32(), rng.f32(), rng.f32()];
        f.query(&x, &mut out).unwrap();
        let residual = out.iter().sum::<f32>() - target(&x);
        let grad = vec![2.0 * residual; out.len()];
        f.update(&x, &grad, 0.05).unwrap();
    }
}

/// `‖a − b‖ / ‖a‖` over the outputs of the same random queries.
fn relative_error(a: &mut Field, b: &mut Field, queries: usize) -> f64 {
    let mut rng = fastrand::Rng::with_seed(22);
    let (mut oa, mut ob) = (vec![0f32; a.output_len()], vec![0f32; b.output_len()]);
    let (mut diff2, mut norm2) = (0f64, 0f64);
    for _ in 0..queries {
        let x = [rng.f32(), rng.f32(), rng.f32()];
        a.query(&x, &mut oa).unwrap();
        b.query(&x, &mut ob).unwrap();
        for (u, v) in oa.iter().zip(&ob) {
            diff2 += ((u - v) as f64).powi(2);
            norm2 += (*u as f64).powi(2);
        }
    }
    (diff2 / norm2).sqrt()
}

#[test]
fn quantised_tiers_keep_the_error_of_a_trained_field_under_one_percent() {
    let dir = tempfile::tempdir().unwrap();
    let exact_path = dir.path().join("f32");
    let int8_path = dir.path().join("int8");
    let int8_layout = Layout {
        cold_encoding: Encoding::Int8,
        ..layout()
    };
    for (path, layout) in [(&exact_path, layout()), (&int8_path, int8_layout)] {
        let mut f = Field::create(path, layout).unwrap();
        f.set_write_back_threshold(usize::MAX);
        train_to_target(&mut f, 1500);
    } // dropped: written back, the int8 one quantised
      // A second opener is refused (the file lock): the warm field reads a copy.
    let warm_path = dir.path().join("f32-copy");
    std::fs::copy(&exact_path, &warm_path).unwrap();
    let mut exact = Field::open(&exact_path).unwrap();
    let mut int8 = Field::open(&int8_path).unwrap();
    let int8_error = relative_error(&mut exact, &mut int8, 300);
    drop(int8);
    let mut warm = Field::open(&warm_path).unwrap();
    warm.set_budget(Budget {
        hot_bytes: 4096,
        warm_bytes: 1 << 20,
    })
    .unwrap();
    let warm_error = relative_error(&mut exact, &mut warm, 300);
    let stats = warm.stats();
    eprintln!(
        "relative error of query outputs against f32: int8 in the file {int8_error:.2e}, \
         f16 warm {warm_error:.2e} ({} of {} rows from warm)",
        stats.warm_reads,
        300 * 4 * 8
    );
    assert!(int8_error > 0.0 && int8_error < 0.01, "int8: {int8_error}");
    assert!(warm_error > 0.0 && warm_error < 0.01, "f16: {warm_error}");
    // With one hot slot, every third touch of a warm block promotes it (PROMOTE_AT_COUNT)
    // and demotes another: about a third of the rows come from f16.
    assert!(
        stats.warm_reads > 300 * 4 * 8 / 4,
        "a good share of rows came from warm: {stats:?}"
    );
}

/// Utilisation under a small budget along a smooth path, for a one-level field of the given
/// resolution.
fn path_utilisation(dir: &std::path::Path, resolution: u32) -> field::Stats {
    let layout = Layout {
        levels: 1,
        base_resolution: resolution,
        finest_resolution: resolution,
        ..layout()
    };
    let mut f = Field::create(dir.join(format!("path-{resolution}")), layout).unwrap();
    f.set_budget(Budget {
        hot_bytes: 4 * 4096,
        warm_bytes: 4 * 2048,
    })
    .unwrap();
    let mut out = vec![0f32; f.output_len()];
    for step in 0..2000 {
        let t = step as f32 / 2000.0;
        let x = [t, 0.5 + 0.3 * (6.0 * t).sin(), 0.5 + 0.3 * (4.0 * t).cos()];
        f.query(&x, &mut out).unwrap();
    }
    f.stats()
}

#[test]
fn utilisation_is_low_where_the_hash_scatters_and_high_where_indexing_is_dense() {
    let dir = tempfile::tempdir().unwrap();
    // 17³ vertices fit the 2^14-entry table: dense. 1025³ do not: hashed.
    let dense = path_utilisation(dir.path(), 16);
    let hashed = path_utilisation(dir.path(), 1024);
    eprintln!(
        "utilisation along a path: dense {:.4} ({dense:?}), hashed {:.4} ({hashed:?})",
        dense.utilisation(),
        hashed.utilisation()
    );
    assert!(
        hashed.residencies > 100,
        "the hashed level pages: {hashed:?}"
    );
    assert!(hashed.utilisation() < 0.02, "{hashed:?}");
    assert!(dense.utilisation() > 4.0 * hashed.utilisation());
}

/// Eviction hands dirty blocks to the background writer: a budget of 33 hot blocks and no
/// warm tier (so an evicted block leaves memory and its next load reads its copy in flight or
/// the file), one block's bytes in flight at most (every hand-over after the first waits for
/// the writer). Queries between the updates, before any flush, must equal an unbudgeted
/// field's exactly (f32 everywhere), and after the flush so must every block in the file.
#[test]
fn write_back_off_the_query_thread_loses_nothing_and_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut free = Field::create(dir.path().join("free"), layout()).unwrap();
    let mut tight = Field::create(dir.path().join("tight"), layout()).unwrap();
    tight
        .set_budget(Budget {
            hot_bytes: 33 * 4096,
            warm_bytes: 0,
        })
        .unwrap();
    tight.set_write_behind_bytes(4096);
    let width = free.output_len();
    let (mut a, mut b) = (vec![0f32; width], vec![0f32; width]);
    let mut rng = fastrand::Rng::with_seed(3);
    for step in 0..60 {
        train(&mut [&mut free, &mut tight], 2, 100 + step);
        for _ in 0..3 {
            let x = [rng.f32(), rng.f32(), rng.f32()];
            free.query(&x, &mut a).unwrap();
            tight.query(&x, &mut b).unwrap();
            assert_eq!(a, b, "step {step}: query at {x:?}");
        }
    }
    let stats = tight.stats();
    eprintln!("before the flush: {stats:?}");
    assert!(stats.write_backs > 10, "evictions wrote back: {stats:?}");
    assert!(stats.write_behind_peak_bytes <= 4096, "{stats:?}");
    assert!(
        stats.hot_blocks <= 33 && stats.warm_blocks == 0,
        "{stats:?}"
    );
    tight.flush().unwrap();
    free.flush().unwrap();
    assert_eq!(tight.stats().write_behind_bytes, 0);
    assert_eq!(tight.stored_blocks(), free.stored_blocks());
    drop(tight);
    let mut reopened = Field::open(dir.path().join("tight")).unwrap();
    for block in free.stored_blocks() {
        assert_eq!(
            reopened.block_values(block).unwrap(),
            free.block_values(block).unwrap(),
            "block {block}"
        );
    }
}
