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

/// A field file with every block stored (values the initialisation would not give), copied
/// to `tight`; returns the original, reopened, and the copy, reopened.
fn stored_pair(dir: &std::path::Path) -> (Field, Field) {
    let mut free = Field::create(dir.join("free"), layout()).unwrap();
    let blocks = free.blocking().block_count(&layout());
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
    std::fs::copy(dir.join("free"), dir.join("tight")).unwrap();
    (
        Field::open(dir.join("free")).unwrap(),
        Field::open(dir.join("tight")).unwrap(),
    )
}

/// Queries each of `points` three times on `f`, and once on `free`; returns the largest
/// difference of an output value.
fn query_path(f: &mut Field, free: &mut Field, points: &[[f32; 3]]) -> f32 {
    let width = f.output_len();
    let (mut a, mut b) = (vec![0f32; width], vec![0f32; width]);
    let mut worst = 0f32;
    for x in points {
        free.query(x, &mut a).unwrap();
        for _ in 0..3 {
            f.query(x, &mut b).unwrap();
            for (p, q) in a.iter().zip(&b) {
                worst = worst.max((p - q).abs());
            }
        }
    }
    worst
}

#[test]
fn a_block_promoted_from_warm_is_not_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let (mut free, mut tight) = stored_pair(dir.path());
    let width = free.output_len();
    let blocks = free.blocking().block_count(&layout());
    // 24 hot blocks; warm holds every block, so no block leaves memory once loaded.
    tight
        .set_budget(Budget {
            hot_bytes: 24 * 4096,
            warm_bytes: blocks as usize * 2048,
        })
        .unwrap();
    // Promote as sessions 1 – 11 did (the derived threshold is the other test's).
    tight.set_promote_at(Some(field::PROMOTE_AT_COUNT));

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

#[test]
fn the_promotion_threshold_follows_the_budget() {
    // The 4 GiB benchmark's tiers under 1 GiB: two touches. One hot slot: the most.
    assert_eq!(field::promote_at(46_545, 31_000, 128), 2);
    assert_eq!(field::promote_at(1, 4096, 128), 255);
    assert_eq!(field::promote_at(56, 24, 32), 2);
    assert_eq!(field::promote_at(12, 116, 32), 1 + 13);

    let dir = tempfile::tempdir().unwrap();
    let (mut free, tight) = stored_pair(dir.path());
    drop(tight);
    let points = path(400, 4);
    let bound = 0.4 / 2048.0; // f16 rounding of entries below 0.4
    let mut run = |hot: usize, warm: usize, at: Option<u8>| {
        let mut f = Field::open(dir.path().join("tight")).unwrap();
        f.set_budget(Budget {
            hot_bytes: hot * 4096,
            warm_bytes: warm * 2048,
        })
        .unwrap();
        f.set_promote_at(at);
        let worst = query_path(&mut f, &mut free, &points);
        assert!(worst <= bound, "{hot} hot, {at:?}: {worst}");
        (f.promote_at(), f.stats())
    };
    // A small hot tier (12 blocks, a query touches up to 32) and a larger one (56, warm 24).
    let (small_at, small) = run(12, 116, None);
    let (_, small_constant) = run(12, 116, Some(field::PROMOTE_AT_COUNT));
    let (large_at, large) = run(56, 24, None);
    let (_, large_constant) = run(56, 24, Some(field::PROMOTE_AT_COUNT));
    eprintln!(
        "small budget: threshold {small_at}, {} evictions, {} warm reads (constant 3: {}, {}); \
         large: threshold {large_at}, {} evictions, {} warm reads (constant 3: {}, {})",
        small.tail.evictions,
        small.warm_reads,
        small_constant.tail.evictions,
        small_constant.warm_reads,
        large.tail.evictions,
        large.warm_reads,
        large_constant.tail.evictions,
        large_constant.warm_reads,
    );
    assert_eq!((small_at, large_at), (14, 2));
    // Small: the constant makes a query's promotions evict each other; the derived threshold
    // keeps the swaps down and reads from warm instead.
    assert!(
        small.tail.evictions * 2 < small_constant.tail.evictions,
        "{small:?} {small_constant:?}"
    );
    assert!(small.warm_reads > small_constant.warm_reads);
    // Larger: promotion on the second touch answers more rows from hot, for as many swaps.
    assert!(large.warm_reads < large_constant.warm_reads);
    assert!(large.tail.evictions <= large_constant.tail.evictions + 8);
    // Reading only: every block was read from the file once, whatever the threshold.
    for stats in [&small, &small_constant, &large, &large_constant] {
        assert!(stats.loads <= 128, "{stats:?}");
    }
}
