//! Memory the big tier holds for blocks nobody asked back serves small objects: when a heap
//! needs a segment and the segment cache is empty, an arena segment whose every block sits in
//! the big cache is emptied and handed over (`big::lend_idle_segment`), instead of a new
//! segment being mapped beside it. A program whose memory moves from big buffers to small
//! objects (the `phases` workload: jobs with 1 MiB scratch buffers, then a swell of small
//! objects) then does not hold both at its peak.
//!
//! One test in this file, so that the process-wide counters are this test's alone. The cache
//! delays are set far beyond the test's run time, so that every freed big block is still cached
//! (hot) when the small objects come: nothing is purged, only lent.

mod common;

use common::*;
use sacs::options::{self, Opt};

/// Big blocks of 1 MiB (16 slices: three to a segment) allocated, written and freed.
const BIG_BLOCKS: usize = 30;
/// Small objects allocated after them: 24 MiB of 256-byte blocks, six segments' worth.
const SMALL_BYTES: usize = 24 * MIB;
const SMALL_SIZE: usize = 256;

/// `count` blocks of `size` bytes, each filled with the pattern of `first_tag + i`.
fn alloc_filled(count: usize, size: usize, first_tag: u64) -> Vec<usize> {
    (0..count)
        .map(|i| {
            let p = sacs::alloc(size, 16);
            assert!(!p.is_null());
            // SAFETY: `size` bytes.
            unsafe { fill(p, size, first_tag + i as u64) };
            p as usize
        })
        .collect()
}

/// Checks the blocks of [`alloc_filled`] and, with `free`, frees them.
fn check_blocks(blocks: &[usize], size: usize, first_tag: u64, what: &str, free: bool) {
    for (i, &p) in blocks.iter().enumerate() {
        // SAFETY: live blocks of `size` bytes, freed once.
        unsafe {
            check(p as *const u8, size, first_tag + i as u64, what);
            if free {
                sacs::free(p as *mut u8);
            }
        }
    }
}

#[test]
fn idle_big_segments_serve_small_pages() {
    watchdog(120, "lend_idle_segments");
    for opt in [Opt::PurgeDelayMs, Opt::HotMs, Opt::WarmMs] {
        options::set(opt, 600_000);
    }
    // Scratch buffers, written whole, then all freed: they go to the big cache.
    let big = alloc_filled(BIG_BLOCKS, MIB, 0);
    check_blocks(&big, MIB, 0, "big block", true);
    let before = sacs::stats();

    // A swell of small objects: their pages need new segments.
    let small = alloc_filled(SMALL_BYTES / SMALL_SIZE, SMALL_SIZE, 1_000_000);
    let after = sacs::stats();
    check_blocks(&small, SMALL_SIZE, 1_000_000, "small block", false);
    let lent = after.segments_lent - before.segments_lent;
    let mapped = after.segments_mapped - before.segments_mapped;
    // 30 blocks fill ten segments; the thread's own big-block cache keeps a few of them back
    // (their segments are not idle), the others' segments all are.
    assert!(
        lent >= 4,
        "only {lent} idle arena segments were lent to the heap ({mapped} segments mapped meanwhile)"
    );
    assert!(
        mapped + lent >= 6,
        "the small objects got {lent} lent and {mapped} new segments: fewer than they fill"
    );

    // The big tier keeps working on what it has left, and maps again when it must; neither
    // tier writes over the other's blocks.
    let again = alloc_filled(BIG_BLOCKS, MIB, 500);
    check_blocks(&again, MIB, 500, "big block after lending", false);
    check_blocks(
        &small,
        SMALL_SIZE,
        1_000_000,
        "small block after big ones",
        true,
    );
    check_blocks(&again, MIB, 500, "big block", true);
    assert_eq!(sacs::stats().invalid_frees, 0);
}
