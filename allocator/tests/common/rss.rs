//! Shared by the two RSS tests (rss_falls_delay.rs, rss_falls_purge.rs): allocate ~1 GiB of
//! mixed sizes, touch it, free it.
#![allow(dead_code)]

use super::*;

pub struct Allocation {
    pub blocks: Vec<(*mut u8, usize)>,
    pub bytes: usize,
}

/// Allocates ~1 GiB: 128 MiB tiny, 128 MiB mid, 256 MiB big, 512 MiB whales; writes every byte.
pub fn allocate_gib(seed: u64) -> Allocation {
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

pub fn free_all(a: Allocation) {
    for (p, size) in a.blocks {
        // SAFETY: each block is live and still holds its fill.
        unsafe {
            assert_eq!(*p.add(size - 1), 0x5C);
            sacs::free(p);
        }
    }
}

pub struct Measure {
    pub base: usize,
    pub peak: usize,
}

pub fn allocate_and_free(seed: u64) -> (Measure, usize) {
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
    assert!(
        committed >= bytes,
        "stats: committed {} MiB < {} MiB live",
        committed / MIB,
        bytes / MIB
    );
    free_all(a);
    (Measure { base, peak }, bytes)
}

/// True when RSS has fallen back to within a fifth of the rise.
pub fn fell_enough(m: &Measure, now: usize) -> bool {
    now <= m.base + (m.peak - m.base) / 5
}

/// SACS's statistics table, for failure messages.
pub fn stats_table() -> String {
    let mut buf = [0u8; 8192];
    let n = sacs::stats().write_table(&mut buf);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}
