//! What every workload shares: the C allocation calls, the content pattern that proves a block
//! was not corrupted, a deterministic random generator, and resident-set readings.

use core::ptr;

/// Settings from the command line.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Multiplies the amount of work (operations, rounds); `scripts/compare.sh --quick` uses 0.1.
    pub scale: f64,
    /// Threads, for the workloads that take a thread count (`scaling`); the other multi-threaded
    /// workloads use it as their thread count too.
    pub threads: usize,
}

impl Config {
    /// `n` scaled by `--scale`, at least 1.
    pub fn scaled(&self, n: u64) -> u64 {
        ((n as f64 * self.scale) as u64).max(1)
    }
}

/// What a workload reports back to `main`.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Allocator operations done (an allocation, a free and a realloc each count one).
    pub ops: u64,
    /// Threads that allocated.
    pub threads: usize,
    /// A value folded from the contents read back, so the checks cannot be optimised away; it
    /// is the same for every allocator (the workloads are deterministic).
    pub checksum: u64,
    /// The resident set the workload measured itself (e.g. after freeing its short-lived
    /// objects); `None` lets `main` read it after the workload returns.
    pub final_rss_kib: Option<u64>,
    /// The resident set after each phase and its time-weighted mean, for the workloads that
    /// trace it (`fragmentation`, `server`).
    pub rss: Option<crate::trace::RssReport>,
}

/// `malloc(size)`; exits with a message if the allocator returns NULL.
#[inline(always)]
pub fn malloc(size: usize) -> *mut u8 {
    // SAFETY: malloc may be called with any size.
    let p = unsafe { libc::malloc(size) } as *mut u8;
    if p.is_null() {
        fail(format_args!("malloc({size}) returned NULL"));
    }
    p
}

/// `realloc(p, size)`; exits with a message if the allocator returns NULL.
///
/// # Safety
/// `p` is null or a live block from this allocator, not used again after the call.
#[inline(always)]
pub unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
    // SAFETY: the caller passes a live block (or null), which is then given up.
    let q = unsafe { libc::realloc(p.cast(), size) } as *mut u8;
    if q.is_null() {
        fail(format_args!("realloc({p:p}, {size}) returned NULL"));
    }
    q
}

/// `free(p)`.
///
/// # Safety
/// `p` is null or a live block from this allocator, not used again after the call.
#[inline(always)]
pub unsafe fn free(p: *mut u8) {
    // SAFETY: the caller passes a live block (or null).
    unsafe { libc::free(p.cast()) }
}

/// Reports a failed check or a NULL from the allocator and ends the process with status 1.
#[cold]
pub fn fail(what: core::fmt::Arguments) -> ! {
    eprintln!("workload: {what}");
    std::process::exit(1)
}

/// The word written into a block of `len` bytes carrying `tag`: differs between blocks of
/// different tags and lengths, so a block handed out twice, or overlapping another, is caught.
#[inline(always)]
fn pattern(tag: u64, len: usize) -> u64 {
    (tag ^ (len as u64).rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1
}

/// The distance between the words [`fill`] writes inside a block: one per 4 KiB page, so large
/// blocks have every page touched (and committed), as a real program that uses its memory would.
pub const STRIDE: usize = 4096;

/// Writes the pattern of (`tag`, `len`) into the block at `p` of `len` bytes: its last 8 bytes
/// and one word every [`STRIDE`] bytes from the start, except a word that would overlap the last
/// one (for blocks under 8 bytes, every byte).
///
/// # Safety
/// `p` is a live block of at least `len` bytes, `len >= 1`.
#[inline(always)]
pub unsafe fn fill(p: *mut u8, len: usize, tag: u64) {
    let word = pattern(tag, len);
    if len < 8 {
        for i in 0..len {
            // SAFETY: `i < len`, inside the block.
            unsafe { p.add(i).write(word as u8) };
        }
        return;
    }
    let mut off = 0;
    while off + 16 <= len {
        // SAFETY: `off + 16 <= len`, inside the block; unaligned writes are allowed.
        unsafe { ptr::write_unaligned(p.add(off).cast::<u64>(), word ^ off as u64) };
        off += STRIDE;
    }
    // SAFETY: `len >= 8`, so the last 8 bytes are inside the block.
    unsafe { ptr::write_unaligned(p.add(len - 8).cast::<u64>(), !word) };
}

/// Checks what [`fill`] wrote with the same (`tag`, `len`); exits with a message naming
/// `workload` if anything changed. Returns a word to fold into the checksum.
///
/// # Safety
/// `p` is a live block of at least `len` bytes, `len >= 1`, filled by [`fill`].
#[inline(always)]
pub unsafe fn check(p: *const u8, len: usize, tag: u64, workload: &str) -> u64 {
    let word = pattern(tag, len);
    if len < 8 {
        for i in 0..len {
            // SAFETY: `i < len`, inside the block.
            if unsafe { p.add(i).read() } != word as u8 {
                corrupted(workload, p, len, i);
            }
        }
        return word;
    }
    let mut off = 0;
    while off + 16 <= len {
        // SAFETY: `off + 16 <= len`, inside the block.
        if unsafe { ptr::read_unaligned(p.add(off).cast::<u64>()) } != word ^ off as u64 {
            corrupted(workload, p, len, off);
        }
        off += STRIDE;
    }
    // SAFETY: `len >= 8`, so the last 8 bytes are inside the block.
    if unsafe { ptr::read_unaligned(p.add(len - 8).cast::<u64>()) } != !word {
        corrupted(workload, p, len, len - 8);
    }
    word
}

#[cold]
fn corrupted(workload: &str, p: *const u8, len: usize, off: usize) -> ! {
    fail(format_args!(
        "{workload}: block {p:p} of {len} bytes was corrupted at offset {off} (the allocator \
         handed out memory that was still in use, or lost what was written)"
    ))
}

/// The bench harness's xorshift64 generator, with the workloads' seeding and a log-uniform
/// draw: deterministic, so every allocator sees the same sequence.
#[derive(Clone, Debug)]
pub struct Rng(sacs_bench_harness::XorShift);

impl Rng {
    /// A generator from a seed (any value).
    pub fn new(seed: u64) -> Rng {
        Rng(sacs_bench_harness::XorShift::new(
            seed.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        ))
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        self.0.range(lo, hi)
    }

    /// A value in `lo..=hi` with a log-uniform distribution (as many requests in 32–64 KiB as
    /// in 1–2 MiB), the usual shape of large-object sizes.
    pub fn log_range(&mut self, lo: usize, hi: usize) -> usize {
        let (a, b) = ((lo as f64).ln(), (hi as f64).ln());
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((a + (b - a) * u).exp() as usize).clamp(lo, hi)
    }
}

/// The process's resident set now, in KiB (`/proc/self/statm`).
pub fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    pages * page / 1024
}

/// The process's peak resident set so far, in KiB (`VmHWM` of `/proc/self/status`). Not
/// `getrusage`: its `ru_maxrss` keeps the high-water mark of the image before `exec`, so a
/// workload started by a large parent (the Python runner) would report the parent's size.
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Time the workloads slept in [`idle`] (and so in [`settle`]), in nanoseconds; `main` leaves
/// it out of `elapsed_s`.
pub static IDLE_NS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// How long [`settle`] stays idle: longer than the delay after which SACS (10 ms) and mimalloc
/// (100 ms) give freed memory back, much shorter than jemalloc's default decay (10 s), which is
/// what those allocators' users get.
pub const SETTLE: core::time::Duration = core::time::Duration::from_millis(250);

/// Sleeps for `d`, a program idle between pieces of work; not counted in the workload's time.
/// What is left out is the time measured around the sleep, which overshoots `d` by the
/// kernel's wake-up latency.
pub fn idle(d: core::time::Duration) {
    let start = std::time::Instant::now();
    std::thread::sleep(d);
    let slept = start.elapsed().as_nanos() as u64;
    IDLE_NS.fetch_add(slept, core::sync::atomic::Ordering::Relaxed);
}

/// Lets the allocator settle before a resident-set reading, as a program idle between requests
/// would: [`SETTLE`] of sleep (not counted in the workload's time), then one small allocation
/// and free, so an allocator that purges on its next call gets that call.
pub fn settle() {
    idle(SETTLE);
    // The write and `black_box` keep the compiler from removing the pair (it may drop a
    // malloc/free pair whose block is never used, and then the allocator gets no call).
    let p = core::hint::black_box(malloc(16));
    // SAFETY: `p` is a live block of 16 bytes, written once and freed once.
    unsafe {
        p.write_volatile(1);
        free(p);
    }
}
