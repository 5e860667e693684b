//! A page that empties into the warm pool may push out an older warm page of the same segment,
//! and with it the whole segment (its pages were all warm: `small::retire::release_if_only_warm`).
//! The segment then belongs to the cache, and the page that was just retired is no longer the
//! freeing thread's to read. With a segment cache of no entries the segment is unmapped at
//! once, so a read of the page after that faults: this test frees a segment's pages one by one
//! under a warm pool of one page and a cache of none, and checks that the process survives with
//! the segments returned and every other block intact. (Found by `forktest` under the
//! validation build: a SIGSEGV in `retire_page`, once in 20–30 runs, where another thread's
//! cache purge unmapped the segment between the release and the read.)
//!
//! One test in this file, so that the options and the counters are this test's alone.

mod common;

use common::*;
use sacs::options::{self, Opt};

/// Blocks of one narrow class: 1 KiB, 64 to a page.
const SIZE: usize = 1024;
/// Enough blocks for three segments of pages.
const BLOCKS: usize = 3 * 4 * MIB / SIZE;

#[test]
fn a_segment_released_with_the_page_just_retired_is_not_read_again() {
    watchdog(60, "warm_pool_release");
    options::set(Opt::WarmPoolPages, 1);
    options::set(Opt::SegmentCache, 0);
    // Long delays: nothing is purged behind the test's back, the releases are the pool's.
    options::set(Opt::PurgeDelayMs, 600_000);
    // A thread of its own: a fresh heap whose segments hold only this test's pages.
    std::thread::spawn(|| {
        let before = sacs::stats();
        let blocks: Vec<usize> = (0..BLOCKS)
            .map(|i| {
                let p = sacs::alloc(SIZE, 8);
                assert!(!p.is_null());
                // SAFETY: SIZE bytes.
                unsafe { fill(p, SIZE, i as u64) };
                p as usize
            })
            .collect();
        // Freed in allocation order: each full page empties in turn, the last page of a
        // segment finds the one before it in the pool and pushes it out, which leaves the
        // segment with warm pages only.
        for (i, &p) in blocks.iter().enumerate() {
            // SAFETY: live blocks of SIZE bytes, freed once.
            unsafe {
                check(p as *const u8, SIZE, i as u64, "a 1 KiB block");
                sacs::free(p as *mut u8);
            }
        }
        let after = sacs::stats();
        let unpinned = after.segments_unpinned - before.segments_unpinned;
        let unmapped = after.segments_unmapped - before.segments_unmapped;
        assert!(
            unpinned >= 2,
            "the segments left with warm pages only were not released ({unpinned})"
        );
        assert!(
            unmapped >= 2,
            "with no segment cache, released segments are unmapped ({unmapped})"
        );
        // The heap goes on working after its segments went.
        let p = sacs::alloc(SIZE, 8);
        assert!(!p.is_null());
        // SAFETY: SIZE bytes, freed once.
        unsafe {
            fill(p, SIZE, 7);
            check(p, SIZE, 7, "a block after the releases");
            sacs::free(p);
        }
    })
    .join()
    .expect("the freeing thread failed");
}
