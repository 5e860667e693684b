//! Big blocks above a thread cache's bound (256 KiB) go to their arena at every free, and a
//! thread whose arena has none of a size takes another arena's (`big::take_from_other_arena`).
//! Four threads, one per arena (heap index % 4), take turns in bursts and overlap at random:
//! each allocates a handful of blocks of three such sizes, fills each with a pattern of its own,
//! checks them and frees them in a shuffled order, over and over. A block taken from another
//! arena while that arena's owner frees into it, or handed out twice, shows as a pattern
//! overwritten. The test also asserts that the other arenas' blocks were used (the path under
//! test ran) and that the memory stayed near what one burst needs.
//!
//! A process of its own, with the system allocator as the test's global allocator.

mod common;

use common::*;
use std::sync::{Arc, Barrier};

const THREADS: usize = 4;
const ROUNDS: usize = 300;
/// Blocks one burst holds at once.
const BURST: usize = 6;
/// Above `big::local::LOCAL_BLOCK_MAX` (256 KiB), below the 2 MiB whale threshold.
const SIZES: [usize; 3] = [300 * KIB, 600 * KIB, 1100 * KIB];

#[test]
fn threads_share_big_blocks_across_arenas_without_mixing_them() {
    watchdog(120, "big_across_arenas");
    let before = sacs::stats();
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                let mut rng = Rng::new(0xB16 + t as u64);
                start.wait();
                for round in 0..ROUNDS {
                    let mut held: Vec<(usize, usize, u64)> = (0..BURST)
                        .map(|k| {
                            let size = SIZES[rng.below(SIZES.len())];
                            let tag = ((t as u64) << 48) | ((round as u64) << 8) | k as u64;
                            let p = sacs::alloc(size, 16);
                            assert!(!p.is_null());
                            // SAFETY: `size` bytes.
                            unsafe { fill(p, size, tag) };
                            (p as usize, size, tag)
                        })
                        .collect();
                    // Let the other threads run between the writes and the checks.
                    std::thread::yield_now();
                    while !held.is_empty() {
                        let i = rng.below(held.len());
                        let (p, size, tag) = held.swap_remove(i);
                        // SAFETY: a live block of this thread, `size` bytes, freed once.
                        unsafe {
                            check(p as *const u8, size, tag, "a big block");
                            sacs::free(p as *mut u8);
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a worker failed");
    }
    let after = sacs::stats();
    let from_other = after.big_cache_from_other_arena - before.big_cache_from_other_arena;
    let mapped = after.segments_mapped - before.segments_mapped;
    assert!(
        from_other > 0,
        "no request took another arena's block: the path under test did not run\n{}",
        rss::stats_table()
    );
    // One burst of every thread at once needs at most 4 x 6 blocks of 1.1 MiB (a 4 MiB
    // segment holds three): 8 segments (8 – 9 seen, with 950 – 1,320 blocks of 7,200 taken
    // from another arena). The bound says freed blocks are reused rather than left behind.
    assert!(
        mapped <= 16,
        "{mapped} segments mapped for {THREADS} threads of {BURST} blocks of at most 1.1 MiB\n{}",
        rss::stats_table()
    );
}
