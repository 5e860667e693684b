//! Resident memory falls at once after frees with `sacs::purge()`: ~1 GiB of mixed sizes (tiny,
//! mid, big, whale) is allocated, touched and freed with delays set so long that only purge()
//! can give it back; right after the call the process's RSS must have fallen by most of it.
//! The system allocator stays this binary's global allocator (only the test's own memory is
//! SACS's), and it is a process of its own so that nothing freed earlier blurs the measurement.

mod common;

use common::rss::*;
use common::*;
use sacs::options::{self, Opt};

#[test]
fn rss_falls_at_once_with_purge() {
    // Delays so long that only purge() can give the memory back within this test.
    options::set(Opt::PurgeDelayMs, 3_600_000);
    options::set(Opt::HotMs, 3_600_000);
    options::set(Opt::WarmMs, 3_600_000);
    let (m, bytes) = allocate_and_free(2);
    let held = rss();
    sacs::purge();
    let now = rss();
    let committed = sacs::stats().committed_bytes;
    assert!(
        fell_enough(&m, now),
        "right after purge() RSS is {} MiB (before purge {} MiB; base {} MiB, peak {} MiB, freed {} MiB); \
         SACS says {} MiB committed\n{}",
        now / MIB,
        held / MIB,
        m.base / MIB,
        m.peak / MIB,
        bytes / MIB,
        committed / MIB,
        stats_table()
    );
    assert!(
        committed < bytes / 5,
        "stats: {} MiB still committed after purge()",
        committed / MIB
    );
    // The segments the purge emptied are unmapped too, not left in the segment cache (which
    // holds up to 8): what stays mapped is what holds live blocks and SACS's own structures.
    let mapped = sacs::stats().mapped_bytes;
    assert!(
        mapped <= 16 * MIB,
        "stats: {} MiB still mapped after purge()\n{}",
        mapped / MIB,
        stats_table()
    );
    // The allocator works as before after a purge, and a second round falls just the same.
    let (m2, _) = allocate_and_free(3);
    sacs::purge();
    let now2 = rss();
    assert!(
        fell_enough(&m2, now2),
        "second round: RSS {} MiB after purge() (base {} MiB, peak {} MiB)",
        now2 / MIB,
        m2.base / MIB,
        m2.peak / MIB
    );
}
