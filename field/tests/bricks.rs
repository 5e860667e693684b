//! Bricked dense levels (`Hashing::Bricked`): a dense level's entries follow the brick layout
//! (and a local file's still follow rows, as before), the field round-trips through a reopen,
//! and a query path touches fewer blocks than with rows.

mod common;

use field::bench::Workload;
use field::quality;
use field::{Budget, Field, Hashing, Kernel, Layout};

/// One dense level of 21³ vertices over 2^14 entries, 2 features, 4 KiB blocks of 512 entries
/// (bricks of 8 × 8 × 8: 3 × 3 × 3 of them, 13,824 entries with the padding).
fn dense_layout(hashing: Hashing) -> Layout {
    Layout {
        dim: 3,
        levels: 1,
        log2_table: 14,
        features: 2,
        base_resolution: 20,
        finest_resolution: 20,
        log2_block_bytes: 12,
        init_scale: 0.1,
        hashing,
        ..Layout::default()
    }
}

/// The entry of vertex `v` of the dense level above, written out by hand: rows
/// (`x + 21·y + 441·z`, the layout of every file before the bricked hashing) or bricks.
fn entry(hashing: Hashing, v: [u32; 3]) -> u32 {
    match hashing {
        Hashing::Bricked => {
            let brick = (v[0] >> 3) + 3 * (v[1] >> 3) + 9 * (v[2] >> 3);
            let place = (v[0] & 7) + 8 * (v[1] & 7) + 64 * (v[2] & 7);
            brick * 512 + place
        }
        _ => v[0] + 21 * v[1] + 441 * v[2],
    }
}

/// Entry `e`'s feature `f` in the filled field.
fn value(e: u32, f: usize) -> f32 {
    e as f32 + 0.25 * f as f32
}

/// What a query at `x` must answer if the level is laid out as `hashing` says.
fn expected(hashing: Hashing, x: [f32; 3]) -> [f32; 2] {
    let mut out = [0f32; 2];
    let mut cell = [0u32; 3];
    let mut frac = [0f32; 3];
    for d in 0..3 {
        let p = x[d] * 20.0;
        cell[d] = (p.floor() as u32).min(19);
        frac[d] = p - cell[d] as f32;
    }
    for c in 0..8 {
        let mut v = cell;
        let mut w = 1.0f32;
        for d in 0..3 {
            let upper = (c >> d) & 1;
            v[d] += upper;
            w *= if upper == 1 { frac[d] } else { 1.0 - frac[d] };
        }
        for (f, o) in out.iter_mut().enumerate() {
            *o += w * value(entry(hashing, v), f);
        }
    }
    out
}

#[test]
fn a_local_file_keeps_its_rows_and_a_bricked_one_its_bricks_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(11);
    let mut points: Vec<[f32; 3]> = (0..200)
        .map(|_| [rng.f32(), rng.f32(), rng.f32()])
        .collect();
    points.push([1.0, 1.0, 1.0]);
    points.push([0.0, 0.0, 0.0]);
    for hashing in [Hashing::Local, Hashing::Bricked] {
        let path = dir.path().join(hashing.name());
        {
            let mut f = Field::create(&path, dense_layout(hashing)).unwrap();
            let epb = f.blocking().entries_per_block() as u32;
            for block in 0..f.blocking().block_count(f.layout()) {
                let values: Vec<f32> = (0..epb * 2)
                    .map(|i| value(block as u32 * epb + i / 2, (i % 2) as usize))
                    .collect();
                f.write_block(block, &values).unwrap();
            }
        }
        // Reopened from the file: the header says which layout, and the answers follow it.
        let mut f = Field::open(&path).unwrap();
        assert_eq!(f.layout().hashing, hashing);
        let mut out = [0f32; 2];
        let mut other = 0;
        for x in &points {
            f.query(x, &mut out).unwrap();
            let want = expected(hashing, *x);
            for (a, b) in out.iter().zip(&want) {
                assert!(
                    (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                    "{hashing:?} at {x:?}: {out:?}, expected {want:?}"
                );
            }
            let rows = expected(Hashing::Local, *x);
            other += usize::from((out[0] - rows[0]).abs() > 1e-3 * rows[0].abs().max(1.0));
        }
        match hashing {
            Hashing::Local => assert_eq!(other, 0),
            _ => assert!(other > 150, "bricks are not rows: {other} of 202 differ"),
        }
    }
}

/// Two dense levels (bricked) under two hashed ones: resolutions 8, 19, 48, 120 in 3-D, 8,
/// 40, 200, 1000 in 2-D.
fn mixed_layout(hashing: Hashing, dim: u8) -> Layout {
    Layout {
        dim,
        levels: 4,
        base_resolution: 8,
        finest_resolution: if dim == 3 { 120 } else { 1000 },
        ..dense_layout(hashing)
    }
}

#[test]
fn a_bricked_field_round_trips_create_update_reopen() {
    let dir = tempfile::tempdir().unwrap();
    for dim in [3u8, 2] {
        let path = dir.path().join(format!("bricked-{dim}"));
        let mut rng = fastrand::Rng::with_seed(dim as u64);
        let points: Vec<Vec<f32>> = (0..60)
            .map(|_| (0..dim).map(|_| rng.f32()).collect())
            .collect();
        let (before, after, f) = common::answers_before_and_after_reopen(
            &path,
            mixed_layout(Hashing::Bricked, dim),
            &points,
            20,
        );
        assert_eq!(f.layout().hashing, Hashing::Bricked);
        assert_eq!(before, after, "dim {dim}");
        // The update moved the answers: a field that was never written answers otherwise.
        let mut fresh = Field::create(
            dir.path().join(format!("fresh-{dim}")),
            mixed_layout(Hashing::Bricked, dim),
        )
        .unwrap();
        let mut out = vec![0f32; fresh.output_len()];
        fresh.query(&points[0], &mut out).unwrap();
        assert_ne!(&before[..out.len()], &out[..]);
        // The same updates on a local field (same hashed levels, dense levels in rows) land
        // in other blocks: the dense levels' layout differs.
        let mut l = Field::create(
            dir.path().join(format!("local-{dim}")),
            mixed_layout(Hashing::Local, dim),
        )
        .unwrap();
        let grad = vec![0.5f32; l.output_len()];
        for p in &points[..20] {
            l.update(p, &grad, 0.1).unwrap();
        }
        l.flush().unwrap();
        assert_ne!(f.stored_blocks(), l.stored_blocks(), "dim {dim}");
    }
}

#[test]
fn bricked_dense_levels_load_fewer_blocks_than_rows() {
    let dir = tempfile::tempdir().unwrap();
    // Two dense levels (resolutions 16 and 20) of 32 blocks each, under 2 hot + 2 warm blocks.
    let layout = |hashing| Layout {
        levels: 2,
        base_resolution: 16,
        ..dense_layout(hashing)
    };
    let budget = Budget {
        hot_bytes: 2 * 4096,
        warm_bytes: 2 * 2048,
    };
    for workload in [Workload::Camera, Workload::Uniform] {
        let run = |hashing: Hashing| {
            let path = dir
                .path()
                .join(format!("{}-{}", hashing.name(), workload.name()));
            quality::locality(&path, layout(hashing), budget, workload, 2000, 3).unwrap()
        };
        let (rows, bricks) = (run(Hashing::Local), run(Hashing::Bricked));
        eprintln!(
            "{}: rows {:.3} loads/query, utilisation {:.4}; bricks {:.3}, {:.4}",
            workload.name(),
            rows.loads_per_query(),
            rows.utilisation,
            bricks.loads_per_query(),
            bricks.utilisation
        );
        assert!(rows.loads > 10, "the field pages: {rows:?}");
        assert!(bricks.loads < rows.loads, "{bricks:?} vs {rows:?}");
        assert!(
            bricks.utilisation > rows.utilisation,
            "{bricks:?} vs {rows:?}"
        );
    }
}

/// Query results of a spatial and a local field (4 levels: 2 dense, 2 hashed; 5 updates,
/// reopened; scalar kernel), printed by the code before `Hashing::Bricked` existed (commit
/// `9f6fb3a`, the same steps in a test of its tree): 4 points × 4 levels × 2 features, f32 bits.
const GOLDEN_SPATIAL: [u32; 32] = [
    0xbc9b4358, 0xbca5401c, 0xbcefea42, 0xbceea775, 0xbc903a4c, 0x3c988836, 0xbdb81064, 0xbc617f9d,
    0xbcbbb450, 0xbca4b19c, 0x3c840b86, 0x3d3d7728, 0x3bb7539c, 0x3c968826, 0xbda57c6f, 0xbdc2b40d,
    0x39cecea0, 0xbd1cf9e0, 0x3d26bc21, 0xbbc082b0, 0xbd5e440b, 0xbc0bd849, 0xbd968f15, 0x3d0d2cf0,
    0x3dafd0a3, 0x3dbf7e19, 0x3bc021aa, 0xbcedffd6, 0x3d016875, 0x3d5dbd08, 0x3d9ec32c, 0xbc9fa02e,
];
/// The same for the local hashing.
const GOLDEN_LOCAL: [u32; 32] = [
    0xbc9b4358, 0xbca5401c, 0xbcefea42, 0xbceea775, 0xbd324785, 0xbb072f56, 0xbd639038, 0xbddba84c,
    0xbcbbb450, 0xbca4b19c, 0x3c840b86, 0x3d3d7728, 0x3b61a73c, 0x3ba486a1, 0xbd6f0cca, 0xbd432cd7,
    0x39cecea0, 0xbd1cf9e0, 0x3d26bc21, 0xbbc082b0, 0x3c44b480, 0x3d07d5f3, 0xbb1afc9a, 0x3daf1478,
    0x3dafd0a3, 0x3dbf7e19, 0x3bc021aa, 0xbcedffd6, 0xbd8da9da, 0xbc27ea94, 0x3c2526c1, 0x3c82d076,
];

/// Creates a field of `hashing` (the mixed 3-D layout), makes 5 updates, reopens it and
/// returns the bits of 4 queries, all with the scalar kernel.
fn golden_run(dir: &std::path::Path, hashing: Hashing) -> Vec<u32> {
    let path = dir.join(format!("golden-{}", hashing.name()));
    {
        let mut f = Field::create(&path, mixed_layout(hashing, 3)).unwrap();
        f.set_kernel(Kernel::scalar());
        let grad: Vec<f32> = (0..f.output_len()).map(|i| 0.5 - 0.05 * i as f32).collect();
        for i in 0..5 {
            let t = i as f32 / 5.0;
            let x = [0.1 + 0.7 * t, 0.9 - 0.6 * t, 0.3 + 0.2 * t];
            f.update(&x, &grad, 0.1).unwrap();
        }
    }
    let mut f = Field::open(&path).unwrap();
    f.set_kernel(Kernel::scalar());
    let mut out = vec![0f32; f.output_len()];
    let mut bits = Vec::new();
    for x in [
        [0.1f32, 0.9, 0.3],
        [0.45, 0.6, 0.4],
        [0.8, 0.3, 0.5],
        [0.0, 1.0, 0.77],
    ] {
        f.query(&x, &mut out).unwrap();
        bits.extend(out.iter().map(|v| v.to_bits()));
    }
    bits
}

#[test]
fn spatial_and_local_files_answer_what_the_code_before_bricks_answered() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(golden_run(dir.path(), Hashing::Spatial), GOLDEN_SPATIAL);
    assert_eq!(golden_run(dir.path(), Hashing::Local), GOLDEN_LOCAL);
    // Bricked: the hashed levels (outputs 4 – 7 of each point) as local, the dense ones not.
    let bricked = golden_run(dir.path(), Hashing::Bricked);
    let (mut same_hashed, mut other_dense) = (0, 0);
    for (i, (b, l)) in bricked.iter().zip(&GOLDEN_LOCAL).enumerate() {
        if i % 8 >= 4 {
            same_hashed += usize::from(b == l);
        } else {
            other_dense += usize::from(b != l);
        }
    }
    assert_eq!(same_hashed, 16, "{bricked:x?}");
    assert!(other_dense > 8, "{bricked:x?}");
}
