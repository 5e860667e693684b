//! Resident memory falls after frees: ~1 GiB of mixed sizes (tiny, mid, big, whale) is
//! allocated and touched, then freed; the process's RSS must give most of it back, either by
//! the purge delay (on later allocator activity, no explicit call) or at once by
//! `sacs::purge()`. This binary keeps the system allocator as its global allocator, so that
//! the only SACS memory is the test's own and the measurements are not blurred.

mod common;

use common::*;
use sacs::options::{self, Opt};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

struct Allocation {
    blocks: Vec<(*mut u8, usize)>,
    bytes: usize,
}

/// Allocates ~1 GiB: 128 MiB tiny, 128 MiB mid, 256 MiB big, 512 MiB whales; writes every byte.
fn allocate_gib(seed: u64) -> Allocation {
    let mut r = Rng::new(seed);
    let mut blocks = Vec::with_capacity(300_000);
    let mut bytes = 0;
    let plan: [(usize, usize, usize); 4] = [
        (128 * MIB, 16, 1024),
        (128 * MIB, 1025, 32 * KIB),
        (256 * MIB, 32 * KIB + 1, 2 * MIB - 1),
        (512 * MIB, 2 * MIB, 16 * MIB),
    ];
    for (budget, lo, hi) in plan {
        let mut done = 0;
        while done < budget {
            let size = r.range(lo, hi).min(budget - done).max(lo);
            let p = sacs::alloc(size, 16);
            assert!(!p.is_null(), "alloc({size}) failed");
            // SAFETY: p holds size bytes.
            unsafe { std::ptr::write_bytes(p, 0x5C, size) };
            blocks.push((p, size));
            done += size;
        }
        bytes += done;
    }
    Allocation { blocks, bytes }
}

fn free_all(a: Allocation) {
    for (p, size) in a.blocks {
        // SAFETY: each block is live and still holds its fill.
        unsafe {
            assert_eq!(*p.add(size - 1), 0x5C);
            sacs::free(p);
        }
    }
}

struct Measure {
    base: usize,
    peak: usize,
}

fn allocate_and_free(seed: u64) -> (Measure, usize) {
    let base = rss();
    let a = allocate_gib(seed);
    let bytes = a.bytes;
    let peak = rss();
    assert!(
        peak >= base + bytes * 9 / 10,
        "RSS rose by only {} MiB after touching {} MiB",
        (peak.saturating_sub(base)) / MIB,
        bytes / MIB
    );
    let committed = sacs::stats().committed_bytes;
    assert!(committed >= bytes, "stats: committed {} MiB < {} MiB live", committed / MIB, bytes / MIB);
    free_all(a);
    (Measure { base, peak }, bytes)
}

/// True when RSS has fallen back to within a fifth of the rise.
fn fell_enough(m: &Measure, now: usize) -> bool {
    now <= m.base + (m.peak - m.base) / 5
}

#[test]
fn rss_falls_after_the_purge_delay() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    options::set(Opt::PurgeDelayMs, 10);
    options::set(Opt::HotMs, 10);
    options::set(Opt::WarmMs, 50);
    let (m, bytes) = allocate_and_free(1);
    // No purge() call: only the passing of time and a little allocator activity.
    let start = Instant::now();
    let mut now;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let p = sacs::alloc(64, 8);
        assert!(!p.is_null());
        // SAFETY: from sacs::alloc.
        unsafe { sacs::free(p) };
        now = rss();
        if fell_enough(&m, now) || start.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    let committed = sacs::stats().committed_bytes;
    assert!(
        fell_enough(&m, now),
        "5 s after freeing {} MiB (purge delay 10 ms, hot 10 ms, warm 50 ms) RSS is {} MiB: base {} MiB, peak {} MiB; \
         SACS says {} MiB committed",
        bytes / MIB,
        now / MIB,
        m.base / MIB,
        m.peak / MIB,
        committed / MIB
    );
    assert!(committed < bytes / 5, "stats: {} MiB still committed after the delay", committed / MIB);
}

#[test]
fn rss_falls_at_once_with_purge() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
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
         SACS says {} MiB committed",
        now / MIB,
        held / MIB,
        m.base / MIB,
        m.peak / MIB,
        bytes / MIB,
        committed / MIB
    );
    assert!(committed < bytes / 5, "stats: {} MiB still committed after purge()", committed / MIB);
    // The allocator works as before after a purge, and reuses what it kept mapped.
    let a = allocate_gib(3);
    free_all(a);
    sacs::purge();
}
