//! Promotion from warm without a second read (session 12): a block that a prefetch (or a
//! query's miss) put into the warm tier, promoted to hot by later touches, takes its f32
//! values from its f16 copy instead of reading the file again. Queries then stay within f16
//! rounding of an unbudgeted field's, and an update of a block so promoted reads its exact
//! values first, so the file ends exactly as without a budget.

use field::{Budget, Field, Layout};

fn layout() -> Layout {
    Layout {
        dim: 3,
        levels: 4,
        log2_table: 14,
        features: 2,
        base_resolution: 8,
        finest_resolution: 128,
        log2_block_bytes: 12, // 512 entries per block, 32 blocks per level: 128 blocks
        init_scale: 0.1,
        seed: 5,
        ..Layout::default()
    }
}

/// A smooth path through the unit cube, `n` points.
fn path(n: usize, seed: u64) -> Vec<[f32; 3]> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut p = [rng.f32(), rng.f32(), rng.f32()];
    let mut d = [0.004f32, 0.003, -0.002];
    (0..n)
        .map(|_| {
            for k in 0..3 {
                d[k] += (rng.f32() - 0.5) * 0.001;
                p[k] += d[k];
                if !(0.0..=1.0).contains(&p[k]) {
                    d[k] = -d[k];
                    p[k] = p[k].clamp(0.0, 1.0);
                }
            }
            p
        })
        .collect()
}

#[test]
fn a_block_promoted_from_warm_is_not_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut free = Field::create(dir.path().join("free"), layout()).unwrap();
    let width = free.output_len();
    let blocks = free.blocking().block_count(&layout());
    // Every block gets a stored version (values the initialisation would not give).
    for b in 0..blocks {
        let values: Vec<f32> = free
            .block_values(b)
            .unwrap()
            .iter()
            .map(|v| v * 3.0 + 0.01)
            .collect();
        free.write_block(b, &values).unwrap();
    }
    free.flush().unwrap();
    drop(free);
    std::fs::copy(dir.path().join("free"), dir.path().join("tight")).unwrap();
    let mut free = Field::open(dir.path().join("free")).unwrap();
    let mut tight = Field::open(dir.path().join("tight")).unwrap();
    // 24 hot blocks; warm holds every block, so no block leaves memory once loaded.
    tight
        .set_budget(Budget {
            hot_bytes: 24 * 4096,
            warm_bytes: blocks as usize * 2048,
        })
        .unwrap();

    let points = path(400, 3);
    let (mut a, mut b) = (vec![0f32; width], vec![0f32; width]);
    let mut touched = std::collections::BTreeSet::new();
    let mut worst = 0f32;
    for chunk in points.chunks(8) {
        // Look-ahead: the chunk's blocks load (into warm once hot is full), then each point
        // is queried three times, which promotes its blocks.
        let xs: Vec<f32> = chunk.iter().flatten().copied().collect();
        tight.prefetch(&xs).unwrap();
        for x in chunk {
            let mut out = Vec::new();
            tight.blocks_of(x, &mut out).unwrap();
            touched.extend(out.into_iter().map(|(_, b)| b));
            free.query(x, &mut a).unwrap();
            for _ in 0..3 {
                tight.query(x, &mut b).unwrap();
                for (p, q) in a.iter().zip(&b) {
                    worst = worst.max((p - q).abs());
                }
            }
        }
    }
    let stats = tight.stats();
    let slot = 4096 + 512; // a 4 KiB block's slot: record header and payload, rounded up
    eprintln!(
        "{} distinct blocks touched, {} loads ({} bytes of slots), {} promotions from warm, \
         worst difference {worst:e}; {stats:?}",
        touched.len(),
        stats.loads,
        stats.loads as usize * slot,
        stats.tail.promotions
    );
    assert!(
        stats.tail.promotions > 50,
        "blocks were promoted: {stats:?}"
    );
    assert_eq!(
        stats.loads,
        touched.len() as u64,
        "each block read once: a promotion reads nothing ({stats:?})"
    );
    // f16 rounds each entry by at most 2^-11 of its magnitude (entries here are below 0.4).
    assert!(worst > 0.0, "some rows came from f16 values");
    assert!(worst <= 0.4 / 2048.0, "worst difference {worst}");

    // Updates at the same points: blocks promoted from f16 are made exact first, so after a
    // flush every block equals the unbudgeted field's exactly.
    let mut rng = fastrand::Rng::with_seed(9);
    for x in points.iter().step_by(5) {
        let grad: Vec<f32> = (0..width).map(|_| rng.f32() - 0.5).collect();
        free.update(x, &grad, 0.3).unwrap();
        tight.update(x, &grad, 0.3).unwrap();
    }
    let reloads = tight.stats().tail.exact_reloads;
    assert!(reloads > 0, "updates met promoted blocks: {reloads}");
    free.flush().unwrap();
    tight.flush().unwrap();
    drop(tight);
    let mut tight = Field::open(dir.path().join("tight")).unwrap();
    for b in 0..blocks {
        assert_eq!(
            tight.block_values(b).unwrap(),
            free.block_values(b).unwrap(),
            "block {b}"
        );
    }
}
