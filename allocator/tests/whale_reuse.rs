//! The whale ring reuses a longer freed mapping for a shorter request: a freed 20 MiB whale
//! serves a 15 MiB one at the same address with no `mmap` (split at 16 MiB; the 4 MiB tail
//! stays cached and serves a 3.5 MiB whale next (within W_MAX, whole), again with no `mmap`); freed again, the pieces
//! merge back into one range that serves a 20 MiB whale whole. A request longer than anything
//! cached grows a cached mapping with `mremap` (the old contents come along). Contents are
//! written and checked throughout; after the frees, `sacs::purge()` gives the memory back.
//! A process of its own (one test), with the system allocator as the test's global allocator.

mod common;

use common::rss::stats_table;
use common::*;
use sacs::options::{self, Opt};

/// Mappings made so far (mmap calls).
fn mmaps() -> u64 {
    sacs::stats().syscalls[sacs::Syscall::Mmap as usize].calls
}

fn fill(p: *mut u8, len: usize, byte: u8) {
    // SAFETY: `p` is a live block of at least `len` bytes.
    unsafe { std::ptr::write_bytes(p, byte, len) };
}

/// Checks one byte in every 4 KiB page of `[p, p + len)`, and the last byte.
fn check(p: *const u8, len: usize, byte: u8, what: &str) {
    for off in (0..len).step_by(4096).chain([len - 1]) {
        // SAFETY: `off < len`, inside the live block.
        let got = unsafe { *p.add(off) };
        assert_eq!(got, byte, "{what}: byte {off} of {len} changed");
    }
}

#[test]
fn a_longer_freed_whale_serves_a_shorter_request_and_pieces_merge_back() {
    // Long delays: nothing ages out of the ring during the test.
    options::set(Opt::HotMs, 3_600_000);
    options::set(Opt::WarmMs, 3_600_000);
    let base_rss = rss();
    let keep = sacs::alloc(64, 16);

    // A 20 MiB whale, written, freed into the ring.
    let a = sacs::alloc(20 * MIB, 16);
    assert!(!a.is_null());
    fill(a, 20 * MIB, 0xA1);
    check(a, 20 * MIB, 0xA1, "20 MiB whale");
    // SAFETY: live, freed once.
    unsafe { sacs::free(a) };

    // 15 MiB: the same mapping, no mmap, split at 16 MiB.
    let (hits, maps) = (sacs::stats().whale_ring_hits, mmaps());
    let b = sacs::alloc(15 * MIB, 16);
    assert_eq!(
        b, a,
        "the 15 MiB whale should reuse the freed 20 MiB mapping"
    );
    assert_eq!(mmaps(), maps, "a ring hit makes no mmap");
    assert_eq!(sacs::stats().whale_ring_hits, hits + 1);
    assert!(sacs::stats().whale_ring_splits >= 1, "{}", stats_table());
    // SAFETY: `b` is a live whale.
    assert_eq!(unsafe { sacs::usable_size(b) }, 16 * MIB);
    fill(b, 15 * MIB, 0xB2);

    // 3.5 MiB: the 4 MiB tail, still cached, right after the 16 MiB head.
    let c = sacs::alloc(3 * MIB + 512 * KIB, 16);
    assert_eq!(
        c as usize,
        a as usize + 16 * MIB,
        "the tail serves the next whale"
    );
    assert_eq!(mmaps(), maps, "the tail's reuse makes no mmap");
    fill(c, 3 * MIB + 512 * KIB, 0xC3);
    check(b, 15 * MIB, 0xB2, "15 MiB whale beside the 3.5 MiB one");
    check(c, 3 * MIB + 512 * KIB, 0xC3, "3.5 MiB whale from the tail");

    // Freed, the two pieces merge into one 20 MiB range, which serves 20 MiB whole.
    let merges = sacs::stats().whale_ring_merges;
    // SAFETY: live, freed once each.
    unsafe {
        sacs::free(b);
        sacs::free(c);
    }
    assert!(
        sacs::stats().whale_ring_merges > merges,
        "{}",
        stats_table()
    );
    let d = sacs::alloc(20 * MIB, 16);
    assert_eq!(d, a, "the merged range should serve 20 MiB");
    assert_eq!(mmaps(), maps);
    fill(d, 20 * MIB, 0xD4);

    // Longer than anything cached: a cached mapping grows (its pages move, no copy).
    let e = sacs::alloc(6 * MIB, 16);
    fill(e, 6 * MIB, 0xE5);
    // SAFETY: live, freed once.
    unsafe { sacs::free(e) };
    let grown = sacs::stats().whale_ring_grown;
    let f = sacs::alloc(10 * MIB, 16);
    assert!(!f.is_null());
    assert_eq!(
        sacs::stats().whale_ring_grown,
        grown + 1,
        "{}",
        stats_table()
    );
    fill(f, 10 * MIB, 0xF6);
    check(f, 10 * MIB, 0xF6, "grown whale");
    check(d, 20 * MIB, 0xD4, "20 MiB whale beside the grown one");

    // calloc-like allocation from the ring reads as zero, old contents or not.
    // SAFETY: live, freed once.
    unsafe { sacs::free(f) };
    let z = sacs::alloc_zeroed(9 * MIB, 16);
    check(z, 9 * MIB, 0, "zeroed whale from the ring");

    let peak = rss();
    // SAFETY: live, freed once each.
    unsafe {
        sacs::free(d);
        sacs::free(z);
    }
    assert!(
        sacs::stats().whale_ring_bytes >= 20 * MIB,
        "{}",
        stats_table()
    );
    sacs::purge();
    let after = rss();
    assert_eq!(sacs::stats().whale_ring_bytes, 0, "{}", stats_table());
    assert!(
        after + 20 * MIB <= peak,
        "RSS after purge() {} MiB, at the peak {} MiB (base {} MiB)\n{}",
        after / MIB,
        peak / MIB,
        base_rss / MIB,
        stats_table()
    );
    // SAFETY: from sacs::alloc.
    unsafe { sacs::free(keep) };
}
