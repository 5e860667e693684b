//! The whale-churn workload: a small live set of whales (blocks of several MiB) of varied sizes,
//! replaced one at a time, the way a program keeps a few large buffers
//! (`b[k] = std::make_unique<char[]>(n)` in a loop). Each new block is written whole, as
//! `make_unique`'s value-initialisation does (a `memset`), so an allocator that hands out a
//! fresh mapping pays the kernel's zeroing and page faults of every page on top of the
//! program's own write; one that reuses freed memory pays only the write.
//!
//! Issue 10 measured this shape: SACS's whale ring hit 22 % of requests and spent most of its
//! time in the kernel. `docs/benchmarks.md` ("Whale churn") has the figures.

use crate::common::{check, fill, free, malloc, Config, Outcome, Rng};

/// Whales live at once.
const LIVE: usize = 20;
/// Smallest whale.
const MIN: usize = 5 << 20;
/// Largest whale.
const MAX: usize = 25 << 20;

/// A live whale: address, length, pattern tag, and the byte the whole block was set to.
struct Whale {
    ptr: *mut u8,
    len: usize,
    tag: u64,
}

/// The byte a whole block of `tag` is set to before its pattern words are written.
fn fill_byte(tag: u64) -> u8 {
    (tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8 | 1
}

/// `malloc(len)`, every byte set (`memset`), then the pattern of `tag` written over it.
fn make(len: usize, tag: u64) -> Whale {
    let ptr = malloc(len);
    // SAFETY: `ptr` is a live block of `len` bytes, just returned by malloc.
    unsafe {
        core::ptr::write_bytes(ptr, fill_byte(tag), len);
        fill(ptr, len, tag);
    }
    Whale { ptr, len, tag }
}

/// Checks `w`'s pattern words and a byte of the `memset` between them in every page (so a
/// block that lost its contents, or overlaps another, fails), then frees it. Returns the
/// check's word.
fn check_and_free(w: Whale) -> u64 {
    // SAFETY: `w` is live for `len` bytes, written by `make` with its tag.
    let word = unsafe { check(w.ptr, w.len, w.tag, "whale-churn") };
    let byte = fill_byte(w.tag);
    let mut off = 64;
    while off < w.len - 8 {
        // SAFETY: `off < len - 8`, inside the block, past the pattern word of its page.
        if unsafe { w.ptr.add(off).read() } != byte {
            crate::common::fail(format_args!(
                "whale-churn: block {:p} of {} bytes lost its memset at offset {off}",
                w.ptr, w.len
            ));
        }
        off += crate::common::STRIDE;
    }
    // SAFETY: `w` is live and from this allocator; it is consumed here.
    unsafe { free(w.ptr) };
    word
}

/// 20 live whales of log-uniform random sizes in 5–25 MiB; each of `scaled(2000)` steps checks
/// and frees a random one and allocates its replacement (a new size), written whole. All are
/// freed at the end.
pub fn whale_churn(config: &Config) -> Outcome {
    let mut rng = Rng::new(0x5EED_000C);
    let mut ops = 0u64;
    let mut checksum = 0u64;
    let mut live: Vec<Whale> = (0..LIVE)
        .map(|_| {
            ops += 1;
            make(rng.log_range(MIN, MAX), ops)
        })
        .collect();
    for _ in 0..config.scaled(2000) {
        let k = rng.range(0, LIVE - 1);
        let n = rng.log_range(MIN, MAX);
        ops += 1;
        let new = make(n, ops);
        // The replacement is made before the old block is freed, as `b[k] = make_unique(n)`
        // does (the new object exists before the assignment destroys the old one).
        let old = core::mem::replace(&mut live[k], new);
        checksum = checksum.wrapping_add(check_and_free(old));
        ops += 1;
    }
    for w in live {
        checksum = checksum.wrapping_add(check_and_free(w));
        ops += 1;
    }
    Outcome {
        ops,
        threads: 1,
        checksum,
        final_rss_kib: None,
        rss: None,
    }
}
