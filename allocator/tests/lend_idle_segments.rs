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

#[test]
fn idle_big_segments_serve_small_pages() {
    watchdog(120, "lend_idle_segments");
    for opt in [Opt::PurgeDelayMs, Opt::HotMs, Opt::WarmMs] {
        options::set(opt, 600_000);
    }
    // Scratch buffers, written whole, then all freed: they go to the big cache.
    let big: Vec<usize> = (0..BIG_BLOCKS)
        .map(|i| {
            let p = sacs::alloc(MIB, 16);
            assert!(!p.is_null());
            // SAFETY: MIB bytes.
            unsafe { fill(p, MIB, i as u64) };
            p as usize
        })
        .collect();
    for &p in &big {
        // SAFETY: live blocks, freed once.
        unsafe { sacs::free(p as *mut u8) };
    }
    let before = sacs::stats();

    // A swell of small objects: their pages need new segments.
    let small: Vec<usize> = (0..SMALL_BYTES / SMALL_SIZE)
        .map(|i| {
            let p = sacs::alloc(SMALL_SIZE, 8);
            assert!(!p.is_null());
            // SAFETY: SMALL_SIZE bytes.
            unsafe { fill(p, SMALL_SIZE, 1_000_000 + i as u64) };
            p as usize
        })
        .collect();
    let after = sacs::stats();
    for (i, &p) in small.iter().enumerate() {
        // SAFETY: live blocks of SMALL_SIZE bytes.
        unsafe {
            check(
                p as *const u8,
                SMALL_SIZE,
                1_000_000 + i as u64,
                "small block",
            )
        };
    }
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

    // The big tier keeps working on what it has left, and maps again when it must.
    let again: Vec<usize> = (0..BIG_BLOCKS)
        .map(|i| {
            let p = sacs::alloc(MIB, 16);
            assert!(!p.is_null());
            // SAFETY: MIB bytes.
            unsafe { fill(p, MIB, 500 + i as u64) };
            p as usize
        })
        .collect();
    for (i, &p) in again.iter().enumerate() {
        // SAFETY: live blocks of MIB bytes.
        unsafe {
            check(
                p as *const u8,
                MIB,
                500 + i as u64,
                "big block after lending",
            )
        };
    }
    for (i, &p) in small.iter().enumerate() {
        // SAFETY: as above; the big blocks did not write over them.
        unsafe {
            check(
                p as *const u8,
                SMALL_SIZE,
                1_000_000 + i as u64,
                "small block",
            )
        };
        // SAFETY: live, freed once.
        unsafe { sacs::free(p as *mut u8) };
    }
    for &p in &again {
        // SAFETY: live, freed once.
        unsafe { sacs::free(p as *mut u8) };
    }
    assert_eq!(sacs::stats().invalid_frees, 0);
}
