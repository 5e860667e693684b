//! Resident memory falls after frees, by the purge delay alone: ~1 GiB of mixed sizes (tiny,
//! mid, big, whale) is allocated and touched, then freed; with short delays set, after some
//! time and a little allocator activity (no `sacs::purge()` call) the process's RSS must give
//! most of it back. This binary keeps the system allocator as its global allocator, so that
//! the only SACS memory is the test's own; it is a process of its own so that nothing freed
//! earlier blurs the measurement.

mod common;

use common::rss::*;
use common::*;
use sacs::options::{self, Opt};
use std::time::{Duration, Instant};

#[test]
fn rss_falls_after_the_purge_delay() {
    options::set(Opt::PurgeDelayMs, 10);
    options::set(Opt::HotMs, 10);
    options::set(Opt::WarmMs, 50);
    let (m, bytes) = allocate_and_free(1);
    // No purge() call: only the passing of time and a little allocator activity.
    let start = Instant::now();
    let mut now;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        // Purging runs on the allocator's slow paths (page refills, big and whale requests,
        // thread exits), never in the background: a 64 KiB request is such activity, a 64 B
        // one served from the current page is not.
        for size in [64, 64 * KIB] {
            let p = sacs::alloc(size, 8);
            assert!(!p.is_null());
            // SAFETY: from sacs::alloc.
            unsafe { sacs::free(p) };
        }
        now = rss();
        if fell_enough(&m, now) || start.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    let committed = sacs::stats().committed_bytes;
    assert!(
        fell_enough(&m, now),
        "5 s after freeing {} MiB (purge delay 10 ms, hot 10 ms, warm 50 ms) RSS is {} MiB: base {} MiB, peak {} MiB; \
         SACS says {} MiB committed\n{}",
        bytes / MIB,
        now / MIB,
        m.base / MIB,
        m.peak / MIB,
        committed / MIB,
        stats_table()
    );
    assert!(
        committed < bytes / 5,
        "stats: {} MiB still committed after the delay",
        committed / MIB
    );
}
