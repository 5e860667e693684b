//! A program that idles between short jobs (`workload batch`) finds its big blocks where it left
//! them: the hot delay counts the time a block goes unused while the program runs, not a pause
//! (`purge::hot_clock`). A job of eight 1 MiB blocks (kept by the big arena) and eight blocks
//! of 192 and 240 KiB (kept by the thread's own cache) runs, the thread sleeps 250 ms (past
//! `SACS_HOT_MS`, short of `SACS_WARM_MS`), and the next job, the first call after the pause
//! included, must take every block back from the caches with no warm step (`MADV_FREE`) and
//! no miss. Before, the first call after each pause gave the thread cache's blocks to the
//! arena, and the first one warmed the arena's. Then a pause past `SACS_WARM_MS` must still
//! give them all back at the calls after it: the cold delay keeps counting real time. The defaults are used on
//! purpose. A process of its own: the counters are process-wide.

mod common;

use common::rss::stats_table;
use common::*;
use sacs::Syscall;
use std::thread::sleep;
use std::time::Duration;

/// Sizes of a job's blocks: four arena blocks of 1 MiB, and two classes the thread's cache
/// keeps (at most `big::local::LOCAL_BLOCK_MAX`), four of each.
const SIZES: [(usize, usize); 3] = [(MIB, 8), (192 * KIB, 4), (240 * KIB, 4)];
const BLOCKS: usize = 16;

/// One job: every block taken, written whole, checked, freed.
fn job(round: u8) {
    let mut blocks = Vec::new();
    for &(size, n) in &SIZES {
        for _ in 0..n {
            let p = sacs::alloc(size, 16);
            assert!(!p.is_null());
            // SAFETY: a live block of `size` bytes.
            unsafe { p.write_bytes(round, size) };
            blocks.push((p, size));
        }
    }
    for (p, size) in blocks {
        // SAFETY: written above; freed once.
        unsafe {
            assert_eq!(*p.add(size - 1), round);
            sacs::free(p);
        }
    }
}

fn madvise_free_calls() -> u64 {
    sacs::stats().syscalls[Syscall::MadviseFree as usize].calls
}

#[test]
fn a_job_after_a_short_pause_takes_its_blocks_back_without_a_warm_step() {
    watchdog(120, "hot_after_pause");
    let hot = sacs::options::get(sacs::options::Opt::HotMs) as u64;
    let warm = sacs::options::get(sacs::options::Opt::WarmMs) as u64;
    let pause = 250;
    assert!(
        hot < pause && pause + 100 < warm,
        "written for the defaults (hot {hot} ms, warm {warm} ms)"
    );
    job(1);
    job(2); // every block now comes from a cache
    for round in 3..6 {
        sleep(Duration::from_millis(pause));
        let before = sacs::stats();
        let free_calls = madvise_free_calls();
        job(round);
        let after = sacs::stats();
        assert_eq!(
            (after.big_cache_warmed, madvise_free_calls()),
            (before.big_cache_warmed, free_calls),
            "round {round}: a pause shorter than the cold delay warms nothing\n{}",
            stats_table()
        );
        assert_eq!(
            after.big_cache_misses,
            before.big_cache_misses,
            "round {round}: every block comes back from a cache\n{}",
            stats_table()
        );
        assert!(
            after.big_cache_hits >= before.big_cache_hits + BLOCKS as u64,
            "round {round}: {} hits for {BLOCKS} blocks",
            after.big_cache_hits - before.big_cache_hits
        );
    }
    // A pause past the cold delay: the first call's look decommits the arena's blocks and
    // gives the thread cache's to their arena, whose next pass (a call a few ms later)
    // decommits them too.
    let cooled = sacs::stats().big_cache_cooled;
    sleep(Duration::from_millis(warm + 100));
    let small_call = || {
        let p = sacs::alloc(40 * KIB, 16);
        // SAFETY: from sacs::alloc.
        unsafe { sacs::free(p) };
    };
    small_call();
    let first = sacs::stats().big_cache_cooled - cooled;
    sleep(Duration::from_millis(20));
    small_call();
    let then = sacs::stats().big_cache_cooled - cooled;
    assert!(
        first >= 8 && then >= BLOCKS as u64,
        "after {} ms idle, {first} of the {BLOCKS} blocks went cold at the first call, {then} \
         at the second\n{}",
        warm + 100,
        stats_table()
    );
}
