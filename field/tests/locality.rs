//! The local hashing (`Hashing::Local`): it keeps a smooth path's fine-level vertices in few
//! blocks (utilisation several times the spatial hash's), survives a reopen, and fits as well;
//! the quantised tiers keep a trained field's error under 1 %. Small versions of what the
//! `field-quality` binary measures (`field::quality`).

mod common;

use field::bench::Workload;
use field::quality::{self, FitConfig, Target};
use field::{Budget, Field, Hashing, Layout};

/// Three hashed levels (65³ … 257³ vertices over 2^14 entries), 4 KiB blocks of 512 entries
/// (bricks of 8 × 8 × 8 under the local hashing).
fn layout(hashing: Hashing) -> Layout {
    Layout {
        dim: 3,
        levels: 3,
        log2_table: 14,
        features: 2,
        base_resolution: 64,
        finest_resolution: 256,
        log2_block_bytes: 12,
        init_scale: 0.1,
        hashing,
        ..Layout::default()
    }
}

#[test]
fn local_hashing_uses_several_times_more_of_each_block_on_a_smooth_path() {
    let dir = tempfile::tempdir().unwrap();
    // 8 hot + 8 warm blocks of the 96 the tables hold.
    let budget = Budget {
        hot_bytes: 8 * 4096,
        warm_bytes: 8 * 2048,
    };
    let run = |hashing: Hashing, workload: Workload| {
        let path = dir
            .path()
            .join(format!("{}-{}", hashing.name(), workload.name()));
        quality::locality(&path, layout(hashing), budget, workload, 600, 3).unwrap()
    };
    for workload in [Workload::Camera, Workload::Zipf] {
        let spatial = run(Hashing::Spatial, workload);
        let local = run(Hashing::Local, workload);
        eprintln!(
            "{}: spatial {:.2} loads/query, utilisation {:.4} ({:.1} entries per load); \
             local {:.2} loads/query, utilisation {:.4} ({:.1} entries per load)",
            workload.name(),
            spatial.loads_per_query(),
            spatial.utilisation,
            spatial.entries_per_load(),
            local.loads_per_query(),
            local.utilisation,
            local.entries_per_load()
        );
        assert!(spatial.loads > 100, "the spatial field pages: {spatial:?}");
        assert!(
            local.utilisation > spatial.utilisation,
            "{workload:?}: {local:?} vs {spatial:?}"
        );
        if workload == Workload::Camera {
            assert!(
                local.utilisation > 4.0 * spatial.utilisation,
                "{local:?} vs {spatial:?}"
            );
            assert!(
                local.loads_per_query() * 4.0 < spatial.loads_per_query(),
                "{local:?} vs {spatial:?}"
            );
        }
    }
}

#[test]
fn a_local_field_reopens_local_and_answers_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("local");
    let mut rng = fastrand::Rng::with_seed(4);
    let points: Vec<[f32; 3]> = (0..50).map(|_| [rng.f32(), rng.f32(), rng.f32()]).collect();
    let (before, after, f) =
        common::answers_before_and_after_reopen(&path, layout(Hashing::Local), &points, 10);
    assert_eq!(f.layout().hashing, Hashing::Local);
    assert_eq!(before, after);
    // The same updates on a spatial field land in other entries: the hashing is in effect.
    let mut s = Field::create(dir.path().join("spatial"), layout(Hashing::Spatial)).unwrap();
    let grad = vec![0.5f32; s.output_len()];
    for p in &points[..10] {
        s.update(p, &grad, 0.1).unwrap();
    }
    s.flush().unwrap();
    assert!(!s.stored_blocks().is_empty());
    assert_ne!(f.stored_blocks(), s.stored_blocks());
}

#[test]
fn both_layouts_fit_a_smooth_target_and_quantised_tiers_stay_under_one_percent() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::new(3, 3.0, 9);
    // Two dense levels (resolutions 4 and 10) under two hashed ones (25 and 64).
    let fit_layout = |hashing| Layout {
        levels: 4,
        base_resolution: 4,
        finest_resolution: 64,
        ..layout(hashing)
    };
    let config = FitConfig {
        steps: 3000,
        lr: 0.2,
        readout_lr: 1e-3,
        eval_points: 300,
        seed: 5,
    };
    let mut spatial_model = None;
    for hashing in [Hashing::Spatial, Hashing::Local] {
        let (fit, model) = quality::fit(dir.path(), fit_layout(hashing), &target, &config).unwrap();
        eprintln!("{fit:?}");
        assert!(fit.error.is_finite() && fit.untrained_error.is_finite());
        assert!(
            fit.error < 0.5 * fit.untrained_error,
            "training halves the error: {fit:?}"
        );
        if hashing == Hashing::Spatial {
            spatial_model = Some(model);
        }
    }
    let mut model = spatial_model.unwrap();
    let f32_path = dir.path().join("fit-spatial");
    let q = quality::quantisation(dir.path(), &mut model, &f32_path, 300, 6).unwrap();
    eprintln!("{q:?}");
    for e in [
        q.int8_encoding,
        q.int8_prediction,
        q.f16_encoding,
        q.f16_prediction,
    ] {
        assert!(e > 0.0 && e < 0.01, "{q:?}");
    }
    assert!(q.warm_rows > q.rows / 4, "most rows from warm: {q:?}");
}

#[test]
fn a_version_1_file_opens_as_spatial_and_answers_as_before() {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1");
    let x = [0.3f32, 0.6, 0.9];
    let mut before = Vec::new();
    {
        let mut f = Field::create(&path, layout(Hashing::Spatial)).unwrap();
        let grad = vec![1.0f32; f.output_len()];
        f.update(&x, &grad, 0.5).unwrap();
        before.resize(f.output_len(), 0.0);
        f.query(&x, &mut before).unwrap();
    }
    // Rewrite the header as the first format wrote it: version 1, byte 34 unused (zero).
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut head = [0u8; 64];
    file.read_exact_at(&mut head, 0).unwrap();
    assert_eq!(u32::from_le_bytes(head[8..12].try_into().unwrap()), 2);
    head[8..12].copy_from_slice(&1u32.to_le_bytes());
    assert_eq!(head[34], 0, "spatial");
    let crc = crc32fast::hash(&head[0..60]);
    head[60..64].copy_from_slice(&crc.to_le_bytes());
    file.write_all_at(&head, 0).unwrap();
    drop(file);
    let mut f = Field::open(&path).unwrap();
    assert_eq!(f.layout().hashing, Hashing::Spatial);
    let mut after = vec![0f32; f.output_len()];
    f.query(&x, &mut after).unwrap();
    assert_eq!(before, after);
}
