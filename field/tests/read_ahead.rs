//! The background reader (`Field::set_read_ahead`): with it, `prefetch` and `query_batch`
//! answer exactly as without it, under a budget small enough that blocks keep leaving, with
//! updates and write-backs between; and a block whose read is pending is never served from a
//! read older than an update. Small fields (well under a second each in debug).

use field::bench::{Points, Workload};
use field::{Budget, Field, Layout, Predictor, DEFAULT_READ_AHEAD_BLOCKS};

/// 6 levels of 2^14 entries, 2 features, 4 KiB blocks: 32 blocks per level, 192 in all.
fn layout() -> Layout {
    Layout {
        dim: 3,
        levels: 6,
        log2_table: 14,
        features: 2,
        base_resolution: 8,
        finest_resolution: 256,
        log2_block_bytes: 12,
        init_scale: 0.1,
        seed: 11,
        ..Layout::default()
    }
}

/// A field under a hot-only budget of `hot_blocks` (hot values are exact, so answers do not
/// depend on which blocks happen to be resident), writing back after every 4 dirty blocks.
fn field(dir: &std::path::Path, name: &str, read_ahead: usize, hot_blocks: usize) -> Field {
    let mut f = Field::create(dir.join(name), layout()).unwrap();
    f.set_read_ahead(read_ahead).unwrap();
    f.set_budget(Budget {
        hot_bytes: hot_blocks * 4096,
        warm_bytes: 0,
    })
    .unwrap();
    f.set_write_back_threshold(4);
    f
}

fn gradient(x: &[f32], width: usize) -> Vec<f32> {
    (0..width).map(|i| (x[i % 3] - 0.5) * 0.3).collect()
}

#[test]
fn batches_and_prefetches_answer_exactly_as_without_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    // 60 hot blocks: a batch of 16 uniform points needs more, so groups, evictions and
    // write-backs of evicted dirty blocks happen throughout.
    let mut sync = field(dir.path(), "sync", 0, 60);
    let mut ahead = field(dir.path(), "ahead", DEFAULT_READ_AHEAD_BLOCKS, 60);
    let width = sync.output_len();
    let workloads = [Workload::Camera, Workload::Zipf, Workload::Uniform];
    let mut points: Vec<Points> = (0..3)
        .map(|i| Points::new(workloads[i], i as u64))
        .collect();
    for step in 0..24 {
        let w = step % 3;
        let xs = points[w].take_flat(16);
        let next = points[w].take_flat(4);
        let (mut a, mut b) = (vec![0f32; 16 * width], vec![0f32; 16 * width]);
        // Look-ahead for the next points, then a batch, on both fields.
        sync.prefetch(&next).unwrap();
        ahead.prefetch(&next).unwrap();
        sync.query_batch(&xs, &mut a).unwrap();
        ahead.query_batch(&xs, &mut b).unwrap();
        assert_eq!(a, b, "step {step}: batch answers differ");
        // Updates at the prefetched points, before their reads are placed.
        for x in next.chunks(3) {
            let g = gradient(x, width);
            sync.update(x, &g, 0.5).unwrap();
            ahead.update(x, &g, 0.5).unwrap();
        }
        for x in next.chunks(3) {
            let (mut a, mut b) = (vec![0f32; width], vec![0f32; width]);
            sync.query(x, &mut a).unwrap();
            ahead.query(x, &mut b).unwrap();
            assert_eq!(a, b, "step {step}: single answers differ at {x:?}");
        }
    }
    let s = ahead.stats();
    assert!(s.gathered > 0 && s.write_backs > 0, "{s:?}");
    assert!(s.hot_blocks <= 60, "{s:?}");
    assert_same_file(&mut ahead, &mut sync);
}

/// Flushes both fields and checks that every block of the test layout holds the same values.
fn assert_same_file(a: &mut Field, b: &mut Field) {
    a.flush().unwrap();
    b.flush().unwrap();
    for block in 0..192 {
        assert_eq!(
            a.block_values(block).unwrap(),
            b.block_values(block).unwrap(),
            "block {block} differs in the file"
        );
    }
}

#[test]
fn a_prefetched_block_is_never_served_from_a_read_older_than_an_update() {
    let dir = tempfile::tempdir().unwrap();
    // 16 hot blocks, no warm tier: a block evicted is gone from memory (its copy in flight to
    // the file, or the file).
    let mut sync = field(dir.path(), "sync", 0, 16);
    let mut ahead = field(dir.path(), "ahead", DEFAULT_READ_AHEAD_BLOCKS, 16);
    let width = sync.output_len();
    let mut camera = Points::new(Workload::Camera, 3);
    let mut others = Points::new(Workload::Uniform, 4);
    for round in 0..40 {
        let x = camera.take_flat(1);
        let g = gradient(&x, width);
        // Read-ahead of x's blocks, then at once an update there: the update must wait for
        // the pending reads (or the values read would be older than the update).
        ahead.prefetch(&x).unwrap();
        ahead.update(&x, &g, 1.0).unwrap();
        sync.update(&x, &g, 1.0).unwrap();
        // Other points push x's blocks out of memory (dirty ones to the writer).
        let away = others.take_flat(3);
        for y in away.chunks(3) {
            let mut o = vec![0f32; width];
            ahead.query(y, &mut o).unwrap();
            sync.query(y, &mut o).unwrap();
        }
        // Read ahead again (from the writer's copies or the file) and query.
        ahead.prefetch(&x).unwrap();
        let (mut a, mut b) = (vec![0f32; width], vec![0f32; width]);
        ahead.query(&x, &mut a).unwrap();
        sync.query(&x, &mut b).unwrap();
        assert_eq!(a, b, "round {round}: a stale value was served");
    }
}

#[test]
fn prefetch_returns_before_its_reads_are_done_and_wait_places_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = field(dir.path(), "f", DEFAULT_READ_AHEAD_BLOCKS, 100);
    let xs = Points::new(Workload::Uniform, 9).take_flat(8);
    let requested = f.prefetch(&xs).unwrap();
    assert!(requested > 8, "{requested}");
    f.wait_for_reads().unwrap();
    let s = f.stats();
    assert_eq!(s.gathered, requested as u64);
    assert_eq!(s.loads, requested as u64);
    assert_eq!(f.resident_blocks().len(), requested);
    assert_eq!(f.prefetch(&xs).unwrap(), 0, "all resident");
    // Switching the reader off waits for nothing pending and keeps the tiers.
    f.set_read_ahead(0).unwrap();
    assert_eq!(f.read_ahead(), 0);
    assert_eq!(f.prefetch(&xs).unwrap(), 0);
}

/// Two fields as [`field`] makes them (the reader on, 60 hot blocks), the second with the live
/// predictor at horizon 8.
fn plain_and_predicting(dir: &std::path::Path) -> (Field, Field) {
    let plain = field(dir, "plain", DEFAULT_READ_AHEAD_BLOCKS, 60);
    let mut predicting = field(dir, "predicting", DEFAULT_READ_AHEAD_BLOCKS, 60);
    predicting.set_predictor(Some(Predictor {
        horizon: 8,
        ..Predictor::default()
    }));
    (plain, predicting)
}

#[test]
fn the_live_predictor_prefetches_a_camera_path_and_stays_quiet_on_uniform_points() {
    let dir = tempfile::tempdir().unwrap();
    let (mut plain, mut predicting) = plain_and_predicting(dir.path());
    let width = plain.output_len();
    let (mut a, mut b) = (vec![0f32; width], vec![0f32; width]);
    for x in Points::new(Workload::Camera, 5).take_flat(600).chunks(3) {
        plain.query(x, &mut a).unwrap();
        predicting.query(x, &mut b).unwrap();
        assert_eq!(a, b, "the predictor changes no answer (hot blocks only)");
    }
    let (p, q) = (plain.stats(), predicting.stats());
    assert_eq!((p.predictions, p.gathered), (0, 0), "{p:?}");
    assert!(q.predictions > 500, "{q:?}");
    assert!(q.gathered > 0, "{q:?}");
    // Accuracy: blocks loaded ahead that a query then used while resident.
    assert!(q.ahead_used * 10 >= q.gathered * 8, "{q:?}");
    // Coverage: the queries themselves missed and loaded fewer blocks.
    let (p, q) = (plain.tail_counters(), predicting.tail_counters());
    assert!(
        p.misses > 0 && q.misses * 2 < p.misses,
        "misses: {q:?} / {p:?}"
    );
    assert!(q.loads * 2 < p.loads, "caller loads: {q:?} / {p:?}");
    let before = predicting.stats();
    for x in Points::new(Workload::Uniform, 5).take_flat(300).chunks(3) {
        predicting.query(x, &mut b).unwrap();
    }
    let after = predicting.stats();
    assert!(
        after.predictions - before.predictions < 5,
        "uniform points: {} predictions",
        after.predictions - before.predictions
    );
}

#[test]
fn the_live_predictor_prefetches_for_updates_along_a_path() {
    let dir = tempfile::tempdir().unwrap();
    let (mut plain, mut predicting) = plain_and_predicting(dir.path());
    let width = plain.output_len();
    let xs = Points::new(Workload::Camera, 7).take_flat(600);
    for x in xs.chunks(3) {
        let grad = gradient(x, width);
        plain.update(x, &grad, 0.05).unwrap();
        predicting.update(x, &grad, 0.05).unwrap();
    }
    // The same steps, so the same values (hot blocks are exact; evicted ones were written
    // back and read again).
    let (mut a, mut b) = (vec![0f32; width], vec![0f32; width]);
    for x in xs.chunks(3).step_by(7) {
        plain.query(x, &mut a).unwrap();
        predicting.query(x, &mut b).unwrap();
        assert_eq!(a, b, "the predictor changes no update");
    }
    let q = predicting.stats();
    assert_eq!(plain.stats().predictions, 0);
    assert!(q.predictions > 500, "{q:?}");
    // Accuracy: at least 70 %. On this small field (60 hot blocks, every updated block dirty)
    // some blocks loaded ahead are evicted before their update comes: 80 – 84 % in 15 runs of
    // the debug build, 79 % once in a loaded CI run, which failed an 80 % bound (the 4 GiB
    // benchmark measures 94 – 95 %, docs/field.md).
    assert!(q.ahead_used * 10 >= q.gathered * 7, "accuracy: {q:?}");
    // Coverage: the updates loaded fewer blocks themselves.
    let (p, q) = (plain.tail_counters(), predicting.tail_counters());
    assert!(
        p.loads > 0 && q.loads * 2 < p.loads,
        "update loads: {q:?} / {p:?}"
    );
}

/// A field as [`field`] makes it, with a warm tier of `warm_blocks` beside the hot one.
fn field_with_warm(dir: &std::path::Path, name: &str, hot: usize, warm_blocks: usize) -> Field {
    let mut f = field(dir, name, DEFAULT_READ_AHEAD_BLOCKS, hot);
    f.set_budget(Budget {
        hot_bytes: hot * 4096,
        warm_bytes: warm_blocks * 2048,
    })
    .unwrap();
    f
}

#[test]
fn blocks_read_ahead_for_an_update_are_not_read_again_by_it() {
    let dir = tempfile::tempdir().unwrap();
    for exact in [false, true] {
        // 24 hot and 120 warm blocks: uniform queries fill hot, then warm.
        let mut f = field_with_warm(dir.path(), &format!("f{exact}"), 24, 120);
        let width = f.output_len();
        let mut out = vec![0f32; width];
        let mut points = Points::new(Workload::Uniform, 21);
        while f.stats().hot_blocks < 24 {
            f.query(&points.take_flat(1), &mut out).unwrap();
        }
        // An update at a point with blocks that are not resident, read ahead.
        let x = loop {
            let x = points.take_flat(1);
            let mut blocks = Vec::new();
            f.blocks_of(&x, &mut blocks).unwrap();
            let resident = f.resident_blocks();
            if blocks.iter().filter(|(_, b)| !resident.contains(b)).count() >= 4 {
                break x;
            }
            f.query(&x, &mut out).unwrap();
        };
        let requested = if exact {
            f.prefetch_for_update(&x).unwrap()
        } else {
            f.prefetch(&x).unwrap()
        };
        f.wait_for_reads().unwrap();
        assert!(requested > 0);
        let before = f.tail_counters();
        f.update(&x, &gradient(&x, width), 0.5).unwrap();
        let after = f.tail_counters();
        if exact {
            // Read into hot with exact values: the update loaded nothing itself.
            assert_eq!(after.loads, before.loads, "{after:?}");
        } else {
            // Read into warm (hot is full): the update read them again (session 22's loss).
            assert!(
                after.update_ahead_loads > before.update_ahead_loads,
                "{after:?}"
            );
            assert!(after.loads > before.loads, "{after:?}");
        }
        let s = f.stats();
        assert!(s.hot_blocks <= 24 && s.warm_blocks <= 120, "{s:?}");
    }
}

#[test]
fn the_live_predictor_covers_updates_once_hot_is_full() {
    let dir = tempfile::tempdir().unwrap();
    // 40 hot and 80 warm blocks, fewer than the path's updates touch: hot fills early.
    let mut plain = field_with_warm(dir.path(), "plain", 40, 80);
    let mut predicting = field_with_warm(dir.path(), "predicting", 40, 80);
    predicting.set_predictor(Some(Predictor {
        horizon: 8,
        ..Predictor::default()
    }));
    let width = plain.output_len();
    let xs = Points::new(Workload::Camera, 8).take_flat(900);
    for x in xs.chunks(3) {
        let grad = gradient(x, width);
        plain.update(x, &grad, 0.05).unwrap();
        predicting.update(x, &grad, 0.05).unwrap();
    }
    let q = predicting.stats();
    assert_eq!(q.hot_blocks, 40, "{q:?}");
    assert!(q.warm_blocks > 0, "{q:?}");
    assert!(q.ahead_used * 10 >= q.gathered * 7, "accuracy: {q:?}");
    let (p, q) = (plain.tail_counters(), predicting.tail_counters());
    // Coverage: at least 80 % of the plain field's update loads avoided (none read again
    // from warm: every block an update needs is read ahead into hot).
    assert!(
        p.loads > 0 && q.loads * 5 <= p.loads,
        "update loads: {q:?} / {p:?}"
    );
    // The same steps, so the same values, exact in the file.
    assert_same_file(&mut plain, &mut predicting);
}
