//! Helpers shared by the integration tests (each test file includes this with `mod common;`).
//! Not every test uses every helper.
#![allow(dead_code)]

use std::sync::OnceLock;

pub const KIB: usize = 1024;
pub const MIB: usize = 1024 * 1024;
pub const GIB: usize = 1024 * 1024 * 1024;

/// xorshift64*: small, fast, deterministic for a seed.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so that small seeds give well-mixed states (never 0).
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(z | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() >> 11) % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Process resident set size in bytes, from /proc/self/statm (independent of SACS's own reading).
pub fn rss() -> usize {
    let text = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: usize = text
        .split_whitespace()
        .nth(1)
        .expect("statm has a resident field")
        .parse()
        .expect("statm number");
    pages * page_size()
}

pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// A fixed pseudo-random byte string; a block with tag `t` holds `pattern(t, len)`.
/// Filling is a memcpy and checking a memcmp, so both are fast even in debug builds.
const PATTERN_LEN: usize = 17 * MIB;
const TAGS: usize = 1 << 16;

fn pattern_buf() -> &'static [u8] {
    static P: OnceLock<Vec<u8>> = OnceLock::new();
    P.get_or_init(|| {
        let mut r = Rng::new(0x5AC5);
        let mut v = vec![0u8; PATTERN_LEN + TAGS];
        for chunk in v.chunks_mut(8) {
            let x = r.next_u64().to_le_bytes();
            chunk.copy_from_slice(&x[..chunk.len()]);
        }
        v
    })
}

/// The expected bytes of a block with `tag` and length `len` (len <= 17 MiB).
pub fn pattern(tag: u64, len: usize) -> &'static [u8] {
    assert!(len <= PATTERN_LEN, "pattern too long: {len}");
    let start = (tag as usize).wrapping_mul(0x9E37) % TAGS;
    &pattern_buf()[start..start + len]
}

/// Fills `len` bytes at `p` with the pattern of `tag`.
///
/// # Safety
/// `p` must be valid for `len` bytes of writes.
pub unsafe fn fill(p: *mut u8, len: usize, tag: u64) {
    let src = pattern(tag, len);
    // SAFETY: per the contract; the pattern buffer is never one of the test's blocks.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), p, len) };
}

/// Checks that `len` bytes at `p` still hold the pattern of `tag`; panics with the first
/// differing offset and `what` otherwise.
///
/// # Safety
/// `p` must be valid for `len` bytes of reads.
pub unsafe fn check(p: *const u8, len: usize, tag: u64, what: &str) {
    // SAFETY: per the contract.
    let got = unsafe { std::slice::from_raw_parts(p, len) };
    let want = pattern(tag, len);
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap();
        panic!(
            "{what}: block {p:p} (len {len}, tag {tag}) corrupted at offset {at}: got {:#04x}, want {:#04x}",
            got[at], want[at]
        );
    }
}

/// Sizes at and around every size-class boundary up to `max`: 8-byte steps to 128, then eight
/// classes per doubling (a superset of four per doubling), each class size `s` with `s - 1` and
/// `s + 1`, plus 0 and 1. Sorted, without duplicates.
pub fn boundary_sizes(max: usize) -> Vec<usize> {
    let mut classes = Vec::new();
    let mut s = 8;
    while s <= 128 {
        classes.push(s);
        s += 8;
    }
    let mut k = 128;
    while k < max {
        for j in 1..=8 {
            classes.push(k + j * (k / 8));
        }
        k *= 2;
    }
    let mut sizes = vec![0, 1];
    for c in classes {
        if c <= max + 1 {
            sizes.extend([c - 1, c, c + 1]);
        }
    }
    sizes.retain(|&s| s <= max);
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

/// Every power of two from 1 to `max` inclusive.
pub fn alignments(max: usize) -> Vec<usize> {
    (0..usize::BITS)
        .map(|b| 1usize << b)
        .take_while(|&a| a <= max)
        .collect()
}

/// Panics if any two of the half-open intervals `[start, start + len)` overlap.
pub fn assert_disjoint(mut blocks: Vec<(usize, usize)>, what: &str) {
    blocks.sort_unstable();
    for w in blocks.windows(2) {
        let (a, alen) = w[0];
        let (b, blen) = w[1];
        assert!(
            a + alen <= b,
            "{what}: blocks overlap: [{a:#x}, +{alen}) and [{b:#x}, +{blen})"
        );
    }
}

/// A scale factor for loop counts: debug builds of the allocator and the tests are much slower.
pub fn scale(release: usize, debug: usize) -> usize {
    if cfg!(debug_assertions) {
        debug
    } else {
        release
    }
}

pub mod rss;

/// Aborts the whole test process with a message if it is still running after `secs` seconds,
/// so that a deadlock in the allocator fails the test run instead of hanging it.
pub fn watchdog(secs: u64, what: &'static str) {
    // Formatted now: when it fires, the allocator may be the thing that is stuck.
    let msg = format!(
        "\nWATCHDOG: {what} still running after {secs} s: presumed hung (deadlock?); aborting\n"
    );
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(secs));
        // No eprintln!: its locks (and the test harness's output capture) may be held by the
        // hung threads. One write(2) and abort(), which neither allocate nor lock.
        // SAFETY: writing a valid buffer to standard error.
        unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
        // SAFETY: abort has no preconditions.
        unsafe { libc::abort() };
    });
}

/// An anonymous mapping made directly with `mmap`, not through SACS: memory SACS must not call
/// its own. Unmap it with `libc::munmap(p.cast(), len)`.
pub fn foreign_mapping(len: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping at a kernel-chosen address has no preconditions.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED, "mmap failed");
    p.cast()
}

/// This test binary run again as a child that runs only its ignored test `child_entry`, with
/// `child_env` set to `mode` (the child entry reads it to know what to do).
pub fn child_command(child_env: &str, mode: &str) -> std::process::Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = std::process::Command::new(exe);
    cmd.args([
        "--exact",
        "child_entry",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(child_env, mode);
    cmd
}

/// A live block of SACS's filled with the pattern of `tag` ([`alloc_filled`]): address,
/// length and tag, plain numbers that threads hand to each other.
#[derive(Clone, Copy, Debug)]
pub struct Held {
    pub ptr: usize,
    pub len: usize,
    pub tag: u64,
}

/// A new block of `len` bytes from `sacs::alloc`, filled with the pattern of `tag`.
pub fn alloc_filled(len: usize, tag: u64) -> Held {
    let p = sacs::alloc(len, 8);
    assert!(!p.is_null());
    // SAFETY: a new block of `len` bytes.
    unsafe { fill(p, len, tag) };
    Held {
        ptr: p as usize,
        len,
        tag,
    }
}

/// Checks that `h` still holds its pattern (panicking with `what` otherwise) and frees it.
pub fn check_and_free(h: Held, what: &str) {
    // SAFETY: a live block of `h.len` bytes filled with `h.tag`'s pattern, freed once.
    unsafe {
        check(h.ptr as *const u8, h.len, h.tag, what);
        sacs::free(h.ptr as *mut u8);
    }
}
