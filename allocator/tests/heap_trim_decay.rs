//! A heap handed from thread to thread gives back its pages' free tails as threads retire: the
//! whole tail when a purge delay has passed since the last trim, and otherwise, when threads
//! retire faster than that, the upper half of each tail at every 16th retirement
//! (`heap::lifecycle`, `Page::trim_tail`). A process of its own (the statistics are
//! process-wide), with a purge delay of a minute so that no time-based purge runs meanwhile.

mod common;

use common::*;
use std::thread;

/// 1 KiB blocks: 64 to a 64 KiB page, 4 to a system page.
const SIZE: usize = 1024;
/// Blocks each thread takes: three quarters of a page, so that the blocks of all 17 threads
/// below fit in the one page beside the blocks kept before them, and the 17 blocks kept stay
/// under a third of the 64 carved (a retiring thread that hands on more than that is not
/// trimmed: `small::retire::trim`).
const BLOCKS: usize = 48;

/// On a new thread: takes `BLOCKS` blocks, keeps the first (returned, filled with `tag`) and
/// frees the others, highest first (so that the next thread's first block is the lowest free
/// one, and the blocks kept gather at the bottom of the page), then exits.
fn one_thread(tag: u64) -> usize {
    thread::spawn(move || {
        let blocks: Vec<usize> = (0..BLOCKS)
            .map(|i| {
                let p = sacs::alloc(SIZE, 8);
                assert!(!p.is_null());
                // SAFETY: a new block of SIZE bytes.
                unsafe { fill(p, SIZE, tag + i as u64) };
                p as usize
            })
            .collect();
        for (i, &p) in blocks.iter().enumerate().skip(1).rev() {
            // SAFETY: live blocks, freed once.
            unsafe {
                check(p as *const u8, SIZE, tag + i as u64, "own block");
                sacs::free(p as *mut u8);
            }
        }
        blocks[0]
    })
    .join()
    .expect("thread")
}

#[test]
fn free_tails_decay_by_halves_when_threads_retire_fast() {
    sacs::options::set(sacs::options::Opt::PurgeDelayMs, 60_000);
    let purged = || sacs::stats().purged_bytes;
    let mut kept = Vec::new();
    let tag = |k: usize| (k as u64) << 32;

    // The first retirement: no trim before it, so a purge delay has passed; the whole free tail
    // above the one block kept goes (44 KiB: the system pages from 4 KiB to 48 KiB).
    let before = purged();
    kept.push(one_thread(tag(0)));
    let first = purged() - before;
    assert!(
        first >= 40 * 1024,
        "the first retiring thread trims its whole free tail: {first} bytes given back"
    );

    // The next 15 threads take the same heap over, carve the page again and retire within the
    // delay: none of them trims.
    let before = purged();
    for k in 1..16 {
        kept.push(one_thread(tag(k)));
    }
    assert_eq!(
        purged() - before,
        0,
        "threads retiring within the purge delay trim only every 16th time"
    );

    // The 16th retirement since the last trim halves the tail. Blocks 0..=16 are out (one per
    // thread, the lowest), 47 free above them (the page is carved to its end): the whole tail
    // would be 44 KiB of system pages (20 .. 64 KiB); the upper half goes (from block 40:
    // 24 KiB).
    let before = purged();
    kept.push(one_thread(tag(16)));
    let half = purged() - before;
    assert!(
        half > 0 && half <= 28 * 1024,
        "the 16th retirement gives back the upper half of the free tail: {half} bytes"
    );

    for (k, &p) in kept.iter().enumerate() {
        // SAFETY: the first block of thread `k`, live and filled with its tag.
        unsafe {
            check(p as *const u8, SIZE, tag(k), "kept block");
            sacs::free(p as *mut u8);
        }
    }
}
