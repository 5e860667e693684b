//! A program that idles between jobs for longer than `SACS_WARM_MS` has its job's big blocks
//! decommitted by its first call after the first pause, and carves them back at once: the
//! arena's cold delay stretches, and so does its hot delay (`purge::BigDelays`), so that after
//! the next pauses the blocks are still cached and come back without a system call or a page
//! fault. Then, once the program
//! stops coming back, a cooling that nothing carves back lowers the delay again. One test in
//! the binary (the counters are process-wide); the system allocator stays global.

mod common;

use common::*;
use std::thread::sleep;
use std::time::Duration;

/// One job: eight 1 MiB blocks, written, then freed.
fn job() {
    let blocks: Vec<*mut u8> = (0..8).map(|_| sacs::alloc(MIB, 16)).collect();
    for &p in &blocks {
        assert!(!p.is_null());
        // SAFETY: a live block of 1 MiB.
        unsafe { p.write_bytes(0x5a, MIB) };
    }
    for p in blocks {
        // SAFETY: from sacs::alloc, freed once.
        unsafe { sacs::free(p) };
    }
}

/// The warm delay this test is written for (`SACS_WARM_MS`, set before the first allocation).
const WARM_MS: usize = 200;

/// A pause past `SACS_WARM_MS` ([`WARM_MS`]), ended by a small big allocation, which runs the arena's
/// pass before the next job (as the first call after a pause does).
fn pause() {
    sleep(Duration::from_millis(260));
    let p = sacs::alloc(40 * KIB, 16);
    // SAFETY: from sacs::alloc.
    unsafe { sacs::free(p) };
}

#[test]
fn jobs_after_pauses_keep_their_big_blocks_once_a_refault_was_seen() {
    sacs::options::set(sacs::options::Opt::WarmMs, WARM_MS);
    job();
    pause();
    let first = sacs::stats();
    assert!(
        first.big_cache_cooled >= 4,
        "the first pause decommits the job's blocks (those in the thread's own cache may wait \
         for a later look; cooled {})",
        first.big_cache_cooled
    );
    job(); // carves the decommitted slices back: a refault
    let raised = sacs::stats().cold_delay_raised;
    assert!(
        raised >= 1,
        "a refault right after a cooling stretches the delay"
    );
    for round in 0..5 {
        pause();
        let before = sacs::stats();
        job();
        let after = sacs::stats();
        // The warm step (MADV_FREE) stretches too, one doubling per pause, up to the cold delay.
        if round >= 3 {
            assert_eq!(
                after.big_cache_warmed, before.big_cache_warmed,
                "round {round}: the hot delay has stretched past the pause"
            );
        }
        assert_eq!(
            after.big_cache_cooled, before.big_cache_cooled,
            "a pause shorter than the stretched delay cools nothing"
        );
        assert_eq!(
            after.big_cache_misses, before.big_cache_misses,
            "the job's blocks all come back from the cache"
        );
    }
    // The program stops: the blocks go cold after the stretched delay, and a cooling that
    // nothing carves back within the window halves the delay.
    let lowered = sacs::stats().cold_delay_lowered;
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    while sacs::stats().cold_delay_lowered == lowered {
        assert!(
            std::time::Instant::now() < deadline,
            "the delay never came down: {:?}",
            sacs::stats().cold_delay_lowered
        );
        sleep(Duration::from_millis(50));
        // More blocks than the thread's own cache holds per class: the last ones reach the
        // arena, whose pass runs on such calls.
        let small: Vec<*mut u8> = (0..6).map(|_| sacs::alloc(40 * KIB, 16)).collect();
        for p in small {
            // SAFETY: from sacs::alloc.
            unsafe { sacs::free(p) };
        }
    }
    let s = sacs::stats();
    assert!(
        s.big_cache_cooled >= first.big_cache_cooled + 4,
        "the idle blocks went cold"
    );
}
