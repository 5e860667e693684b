//! Session 11's fixes of the single update's tail: an update reads the blocks it must load
//! together, and the dirty blocks at the write-back threshold are handed to the writer a
//! bounded step per call. Small fields (well under a second each in debug).

use field::bench::{Points, Workload};
use field::{Budget, Field, Layout, HAND_OVER_STEP};

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
        seed: 12,
        ..Layout::default()
    }
}

fn gradient(x: &[f32], width: usize) -> Vec<f32> {
    (0..width).map(|i| (x[i % 3] - 0.4) * 0.2).collect()
}

#[test]
fn no_call_hands_over_more_than_a_step_and_every_update_reaches_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut f = Field::create(dir.path().join("f"), layout()).unwrap();
    let mut reference = Field::create(dir.path().join("r"), layout()).unwrap();
    f.set_write_back_threshold(60);
    let width = f.output_len();
    let xs = Points::new(Workload::Uniform, 1).take_flat(3 * 300);
    let mut most = 0;
    for x in xs.chunks(3) {
        let g = gradient(x, width);
        let before = f.tail_counters().dirty_blocks_handed;
        f.update(x, &g, 0.3).unwrap();
        reference.update(x, &g, 0.3).unwrap();
        most = most.max(f.tail_counters().dirty_blocks_handed - before);
    }
    let tail = f.tail_counters();
    assert!(tail.dirty_blocks_handed >= 60, "{tail:?}");
    assert!(
        most <= HAND_OVER_STEP as u64,
        "one call handed over {most} blocks"
    );
    assert!(f.stats().dirty_blocks < 192, "{:?}", f.stats());
    f.flush().unwrap();
    drop(f);
    let mut f = Field::open(dir.path().join("f")).unwrap();
    for block in 0..192 {
        assert_eq!(
            f.block_values(block).unwrap(),
            reference.block_values(block).unwrap(),
            "block {block}"
        );
    }
}

#[test]
fn an_update_reads_its_cold_blocks_together() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    {
        let mut f = Field::create(&path, layout()).unwrap();
        let floats = f.blocking().floats_per_block();
        for block in 0..192u64 {
            f.write_block(block, &vec![block as f32 / 1000.0; floats])
                .unwrap();
        }
    }
    let mut f = Field::open(&path).unwrap();
    f.set_budget(Budget {
        hot_bytes: 64 * 4096,
        warm_bytes: 16 * 2048,
    })
    .unwrap();
    let width = f.output_len();
    // A batch finds out whether this machine reads batches through io_uring.
    let mut out = vec![0f32; 2 * width];
    f.query_batch(&[0.9, 0.9, 0.9, 0.8, 0.8, 0.8], &mut out)
        .unwrap();
    let uring = f.store_stats().ring_reads > 0;
    let x = [0.2f32, 0.3, 0.4];
    let mut blocks = Vec::new();
    f.blocks_of(&x, &mut blocks).unwrap();
    let resident = f.resident_blocks();
    let cold = blocks
        .iter()
        .filter(|(_, b)| resident.binary_search(b).is_err())
        .count() as u64;
    assert!(cold > 4, "{cold}");
    let (reads, ring) = (f.store_stats().slot_reads, f.store_stats().ring_reads);
    f.update(&x, &gradient(&x, width), 0.5).unwrap();
    let stats = f.store_stats();
    if uring {
        // All but (at most) the first read went through one batch.
        assert!(stats.ring_reads - ring >= cold - 1, "{stats:?}");
    }
    assert!(stats.slot_reads - reads >= cold, "{stats:?}");
    // The values: each block read once, updated once, exact.
    let mut expected = Field::create(dir.path().join("e"), layout()).unwrap();
    let floats = expected.blocking().floats_per_block();
    for block in 0..192u64 {
        expected
            .write_block(block, &vec![block as f32 / 1000.0; floats])
            .unwrap();
    }
    expected.update(&x, &gradient(&x, width), 0.5).unwrap();
    for &(_, b) in &blocks {
        assert_eq!(
            f.block_values(b).unwrap(),
            expected.block_values(b).unwrap()
        );
    }
}
