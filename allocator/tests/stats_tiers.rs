//! Statistics count every allocation and free in the tier that serves it, at the documented
//! tier boundaries. This binary keeps the system allocator as its global allocator, so the
//! only SACS calls are the test's own, and it has one test, so the counts are exact.

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
        assert_eq!(mid.allocs() - before.allocs(), n as u64);
        assert_eq!(after.frees() - mid.frees(), n as u64);
    }

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
