//! Statistics count every allocation and free in the tier that serves it, at the documented
//! tier boundaries, with the bytes in use. This binary keeps the system allocator as its
//! global allocator, so the only SACS calls are the test's own, and it has one test, so the
//! counts are exact.

mod common;

use common::*;

#[test]
fn tiers_count_at_their_boundaries() {
    // (size, tier index): tiny <= 1 KiB, mid <= 32 KiB, big < 2 MiB, whale >= 2 MiB.
    let cases = [
        (1, 0),
        (64, 0),
        (1024, 0),
        (1025, 1),
        (32 * KIB, 1),
        (32 * KIB + 1, 2),
        (2 * MIB - 1, 2),
        (2 * MIB, 3),
        (5 * MIB, 3),
    ];
    for (size, tier) in cases {
        let before = sacs::stats();
        let n = if tier == 3 { 3 } else { 50 };
        let ptrs: Vec<*mut u8> = (0..n).map(|_| sacs::alloc(size, 8)).collect();
        let mid = sacs::stats();
        // SAFETY: blocks of sacs::alloc.
        let bytes: u64 = ptrs
            .iter()
            .map(|&p| unsafe { sacs::usable_size(p) } as u64)
            .sum();
        for &p in &ptrs {
            assert!(!p.is_null());
            // SAFETY: from sacs::alloc.
            unsafe { sacs::free(p) };
        }
        let after = sacs::stats();
        for t in 0..4 {
            let allocs = mid.tiers[t].allocs - before.tiers[t].allocs;
            let frees = after.tiers[t].frees - mid.tiers[t].frees;
            let want = if t == tier { n as u64 } else { 0 };
            assert_eq!(
                allocs, want,
                "size {size}: tier {t} allocs grew by {allocs}, want {want}"
            );
            assert_eq!(
                frees, want,
                "size {size}: tier {t} frees grew by {frees}, want {want}"
            );
        }
        for t in 0..4 {
            let grew = mid.tiers[t].in_use_bytes as i64 - before.tiers[t].in_use_bytes as i64;
            let want = if t == tier { bytes as i64 } else { 0 };
            assert_eq!(grew, want, "size {size}: tier {t} in use grew by {grew}");
            assert_eq!(
                after.tiers[t].in_use_bytes, before.tiers[t].in_use_bytes,
                "size {size}: tier {t} in use did not fall back"
            );
        }
        assert_eq!(mid.allocs() - before.allocs(), n as u64);
        assert_eq!(after.frees() - mid.frees(), n as u64);
        if tier == 2 {
            // Beyond the few a thread keeps itself, the freed big blocks wait in the arena's
            // cache, committed and not in use (at most `SACS_BIG_CACHE_MIB` per arena).
            assert!(
                after.big_cache_bytes > mid.big_cache_bytes,
                "size {size}: the arenas' caches hold {} bytes after the frees, {} before",
                after.big_cache_bytes,
                mid.big_cache_bytes
            );
            assert!(after.big_cache_bytes <= 4 * 64 * MIB);
        }
    }

    in_use_follows_the_c_entries_other_threads_and_realloc();

    // A purge empties the caches.
    sacs::purge();
    assert_eq!(
        sacs::stats().big_cache_bytes,
        0,
        "cached big blocks after a purge"
    );

    let s = sacs::stats();
    assert!(s.heaps_created >= 1, "no heap was counted");
    assert!(s.syscalls[0].calls >= 1, "no mmap was counted");
    assert!(
        s.mapped_bytes >= s.committed_bytes,
        "committed {} > mapped {}",
        s.committed_bytes,
        s.mapped_bytes
    );
    assert!(s.peak_committed_bytes >= s.committed_bytes);
    assert!(
        s.peak_committed_bytes >= 5 * MIB,
        "peak committed {} below the 5 MiB whale",
        s.peak_committed_bytes
    );
    assert!(s.resident_bytes > 0);
    let mut buf = [0u8; 4096];
    let n = s.write_table(&mut buf);
    let text = std::str::from_utf8(&buf[..n]).expect("table is UTF-8");
    for word in ["tiny", "mid", "big", "whale", "mmap", "munmap", "mremap"] {
        assert!(text.contains(word), "stats table lacks {word}:\n{text}");
    }
}

/// Bytes in use through the C entry (its tiny HOT path counts per request word), freed by
/// another thread (remote frees, counted per class), after that thread exits (its counters
/// fold into the globals), and through a whale's `realloc` in place.
fn in_use_follows_the_c_entries_other_threads_and_realloc() {
    use sacs::c_api;
    let before = sacs::stats();
    let ptrs: Vec<usize> = (1..=3000usize)
        .map(|n| c_api::malloc(n * 11) as usize)
        .collect();
    // SAFETY: blocks of c_api::malloc.
    let bytes: u64 = ptrs
        .iter()
        .map(|&p| unsafe { c_api::malloc_usable_size(p as _) } as u64)
        .sum();
    let mid = sacs::stats();
    assert_eq!(mid.in_use_bytes() - before.in_use_bytes(), bytes);
    std::thread::spawn(move || {
        // With a heap of its own, the thread counts the remote frees in its own counters (a
        // thread without one counts them globally).
        let own = c_api::malloc(16);
        for p in ptrs {
            // SAFETY: each block is freed once, by this thread.
            unsafe { c_api::free(p as _) };
        }
        // SAFETY: the thread's own block.
        unsafe { c_api::free(own) };
    })
    .join()
    .unwrap();
    let after = sacs::stats();
    assert_eq!(
        after.in_use_bytes(),
        before.in_use_bytes(),
        "frees by an exited thread: in use {} -> {} -> {}",
        before.in_use_bytes(),
        mid.in_use_bytes(),
        after.in_use_bytes()
    );

    let whale = c_api::malloc(3 * MIB);
    // SAFETY: a live block of c_api::malloc, then its replacement.
    unsafe {
        let grown = c_api::realloc(whale, 9 * MIB);
        assert!(!grown.is_null());
        let s = sacs::stats();
        assert_eq!(
            s.tiers[3].in_use_bytes - before.tiers[3].in_use_bytes,
            c_api::malloc_usable_size(grown) as u64
        );
        let shrunk = c_api::realloc(grown, 2 * MIB + 1);
        let s = sacs::stats();
        assert_eq!(
            s.tiers[3].in_use_bytes - before.tiers[3].in_use_bytes,
            c_api::malloc_usable_size(shrunk) as u64
        );
        c_api::free(shrunk);
    }
    assert_eq!(
        sacs::stats().tiers[3].in_use_bytes,
        before.tiers[3].in_use_bytes
    );
}
