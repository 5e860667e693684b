//! Handover: a thread that exits leaves its heap whole, pages and all, and the next thread to
//! need a heap takes it over; one that no thread takes is released (its pages abandoned) by the
//! shared purge look, or at once by `sacs::purge()`. A process of its own, with the system
//! allocator as the test's global allocator; one test function, since the statistics are
//! process-wide.

mod common;

use common::*;
use std::thread;

/// Allocates `n` blocks of `size` on a new thread, checks and frees `n - keep` of them there,
/// and returns the addresses of all and the `keep` still live (with their tags).
fn on_a_thread(n: usize, size: usize, keep: usize, tag: u64) -> (Vec<usize>, Vec<usize>) {
    thread::spawn(move || {
        let blocks: Vec<usize> = (0..n)
            .map(|i| {
                let p = sacs::alloc(size, 8);
                assert!(!p.is_null());
                // SAFETY: a new block of `size` bytes.
                unsafe { fill(p, size, tag + i as u64) };
                p as usize
            })
            .collect();
        for (i, &p) in blocks.iter().enumerate().skip(keep) {
            // SAFETY: live blocks, freed once.
            unsafe {
                check(p as *const u8, size, tag + i as u64, "own block");
                sacs::free(p as *mut u8);
            }
        }
        (blocks.clone(), blocks[..keep].to_vec())
    })
    .join()
    .expect("thread")
}

/// Checks the live blocks `blocks` (block `i` filled with tag `tag + i`) and frees them.
fn check_and_free(blocks: &[usize], size: usize, tag: u64, what: &str) {
    for (i, &p) in blocks.iter().enumerate() {
        // SAFETY: live blocks of `size` bytes, freed once.
        unsafe {
            check(p as *const u8, size, tag + i as u64, what);
            sacs::free(p as *mut u8);
        }
    }
}

#[test]
fn the_next_thread_takes_over_an_exited_threads_pages_and_idle_ones_are_released() {
    const SIZE: usize = 200;
    // Thread A: 2000 blocks, 100 of them handed on live.
    let before = sacs::stats();
    let (a_all, a_live) = on_a_thread(2000, SIZE, 100, 1 << 32);
    let mid = sacs::stats();
    assert_eq!(mid.heaps_retired - before.heaps_retired, 1);
    // Thread B, right after: its blocks come from A's pages (the same addresses), and no new
    // memory is mapped for them.
    let (b_all, b_live) = on_a_thread(1000, SIZE, 0, 2 << 32);
    let after = sacs::stats();
    assert_eq!(
        after.heaps_taken_over - mid.heaps_taken_over,
        1,
        "the second thread did not take over the first one's heap"
    );
    assert!(b_live.is_empty());
    let a_set: std::collections::HashSet<usize> = a_all.iter().copied().collect();
    let reused = b_all.iter().filter(|p| a_set.contains(p)).count();
    assert!(
        reused >= 500,
        "only {reused} of 1000 blocks reused the exited thread's freed blocks"
    );
    assert_eq!(
        after.segments_mapped, mid.segments_mapped,
        "new memory was mapped"
    );
    // A's live blocks are intact and free from here (frees into a pooled heap's pages).
    check_and_free(&a_live, SIZE, 1 << 32, "handed-on block");
    // A heap no thread takes: released by the purge, its pages abandoned and then adopted by
    // the purging thread, its memory given back.
    let (_, c_live) = on_a_thread(5000, SIZE, 1, 3 << 32);
    let kept = sacs::stats();
    sacs::purge();
    let purged = sacs::stats();
    assert!(
        purged.segments_abandoned > kept.segments_abandoned,
        "the kept heap's pages were not released"
    );
    check_and_free(&c_live, SIZE, 3 << 32, "block of a released heap");
}
