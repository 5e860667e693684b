//! Workloads shared by the criterion benchmarks (`benches/compare.rs`) and the small binaries
//! (`src/bin/pairs.rs` for instruction counts under callgrind, `src/bin/bench_table.rs` for the
//! results table).
//!
//! Every workload is generic over [`GlobalAlloc`] and calls the allocator *directly* through the
//! trait, so one process holds all contenders side by side: [`SACS`], [`MIMALLOC`] (the `mimalloc`
//! crate, built from source) and [`SYSTEM`] (glibc malloc). Monomorphisation gives each contender its
//! own copy of the loop, so none of them pays for dynamic dispatch.
//!
//! The process's own `#[global_allocator]` is left alone (glibc), so criterion's bookkeeping never
//! touches the allocator being measured.

pub mod criterion_results;

use core::alloc::{GlobalAlloc, Layout};
use core::hint::black_box;

/// SACS, called through `GlobalAlloc`.
pub static SACS: sacs::Sacs = sacs::Sacs;
/// mimalloc (crate `mimalloc`, default features off), called through `GlobalAlloc`.
pub static MIMALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
/// The system allocator (glibc malloc on this machine), called through `GlobalAlloc`.
pub static SYSTEM: std::alloc::System = std::alloc::System;

/// The alignment every workload asks for: what `Box<u64>` or a `Vec` of words asks for, and below
/// the 16 bytes every contender gives anyway, so no contender is sent down an aligned slow path.
pub const ALIGN: usize = 8;

/// One of the allocators being compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contender {
    /// `sacs::Sacs`
    Sacs,
    /// `mimalloc::MiMalloc`
    Mimalloc,
    /// `std::alloc::System` (glibc)
    System,
}

impl Contender {
    /// Every contender, in the order they run in each benchmark group.
    pub const ALL: [Contender; 3] = [Contender::Sacs, Contender::Mimalloc, Contender::System];

    /// The name used in benchmark ids, on the command line and in the results table.
    pub const fn name(self) -> &'static str {
        match self {
            Contender::Sacs => "sacs",
            Contender::Mimalloc => "mimalloc",
            Contender::System => "glibc",
        }
    }

    /// Parses a name given on a command line (`sacs`, `mimalloc`, `system` or `glibc`).
    pub fn parse(s: &str) -> Option<Contender> {
        match s {
            "sacs" => Some(Contender::Sacs),
            "mimalloc" | "mi" => Some(Contender::Mimalloc),
            "system" | "glibc" | "libc" => Some(Contender::System),
            _ => None,
        }
    }
}

/// Calls `$body` with `$a` bound to the static allocator of `$c` (a generic function can then be
/// instantiated once per contender).
#[macro_export]
macro_rules! with_contender {
    ($c:expr, |$a:ident| $body:expr) => {
        match $c {
            $crate::Contender::Sacs => {
                let $a = &$crate::SACS;
                $body
            }
            $crate::Contender::Mimalloc => {
                let $a = &$crate::MIMALLOC;
                $body
            }
            $crate::Contender::System => {
                let $a = &$crate::SYSTEM;
                $body
            }
        }
    };
}

/// The layout of a `size`-byte request at [`ALIGN`].
pub fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, ALIGN).expect("benchmark size must form a valid layout")
}

#[cold]
#[inline(never)]
fn out_of_memory(layout: Layout) -> ! {
    panic!(
        "allocator returned null for {} bytes (align {})",
        layout.size(),
        layout.align()
    )
}

/// Allocates `layout` from `a`, panicking (never continuing) on null.
#[inline(always)]
fn must_alloc<A: GlobalAlloc>(a: &A, layout: Layout) -> *mut u8 {
    // SAFETY: every layout used here has a non-zero size.
    let p = unsafe { a.alloc(layout) };
    if p.is_null() {
        out_of_memory(layout);
    }
    p
}

// ---------------------------------------------------------------------------------------------
// a. malloc / free pairs
// ---------------------------------------------------------------------------------------------

/// The pair sizes, with the tier of the brief each one falls in.
pub const PAIR_SIZES: [(usize, &str); 12] = [
    (16, "tiny"),
    (64, "tiny"),
    (256, "tiny"),
    (1024, "tiny"),
    (4096, "mid"),
    (16 << 10, "mid"),
    (32 << 10, "mid"),
    (64 << 10, "big"),
    (256 << 10, "big"),
    (1 << 20, "big"),
    (2 << 20, "whale"),
    (8 << 20, "whale"),
];

/// One allocation of `layout`, one byte written into it, one free: the unit of the pair workload.
#[inline(always)]
pub fn pair<A: GlobalAlloc>(a: &A, layout: Layout) {
    let p = must_alloc(a, layout);
    // SAFETY: `p` is a live allocation of at least one byte.
    unsafe { p.write_volatile(1) };
    let p = black_box(p);
    // SAFETY: `p` came from `a.alloc(layout)` and is freed once.
    unsafe { a.dealloc(p, layout) };
}

/// `n` pairs of `size` bytes. Not inlined, so callgrind can name it (`--toggle-collect`).
#[inline(never)]
pub fn pairs<A: GlobalAlloc>(a: &A, size: usize, n: u64) {
    let layout = layout(black_box(size));
    for _ in 0..n {
        pair(a, layout);
    }
}

// ---------------------------------------------------------------------------------------------
// b. random mixed 16–1024 B
// ---------------------------------------------------------------------------------------------

/// A xorshift64 generator: deterministic, so every contender sees the same sequence.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
}

/// Number of live slots in the random-mixed ring.
pub const RING_SLOTS: usize = 1024;
/// Number of precomputed (slot, size) operations; the sequence repeats after this many.
pub const RING_OPS: usize = 1 << 16;
/// The smallest and largest request of the random-mixed workload.
pub const MIXED_MIN: usize = 16;
/// See [`MIXED_MIN`].
pub const MIXED_MAX: usize = 1024;

/// The seed's "random mixed" workload: [`RING_SLOTS`] live blocks; each step frees a random slot
/// and puts a new block of a random size in 16..=1024 in its place, writing its first 8 bytes.
/// Sizes and slots are precomputed, so a step costs one free and one allocation plus an index.
pub struct Ring<'a, A: GlobalAlloc> {
    a: &'a A,
    slots: Vec<(*mut u8, usize)>,
    ops: Vec<(u16, u16)>,
    pos: usize,
}

impl<'a, A: GlobalAlloc> Ring<'a, A> {
    /// A full ring (every slot holds a block), with the operation sequence of `seed`.
    pub fn new(a: &'a A, seed: u64) -> Ring<'a, A> {
        let mut rng = XorShift::new(seed);
        let ops = (0..RING_OPS)
            .map(|_| {
                let slot = rng.range(0, RING_SLOTS - 1) as u16;
                let size = rng.range(MIXED_MIN, MIXED_MAX) as u16;
                (slot, size)
            })
            .collect();
        let slots = (0..RING_SLOTS)
            .map(|_| {
                let size = rng.range(MIXED_MIN, MIXED_MAX);
                let p = must_alloc(a, layout(size));
                // SAFETY: `p` is live for `size` >= 16 bytes, aligned to 8.
                unsafe { p.cast::<u64>().write(size as u64) };
                (p, size)
            })
            .collect();
        Ring {
            a,
            slots,
            ops,
            pos: 0,
        }
    }

    /// One step: free one random slot, allocate its replacement.
    #[inline(always)]
    pub fn step(&mut self) {
        // SAFETY: `pos` is kept below RING_OPS (a power of two) by the mask.
        let (slot, size) = unsafe { *self.ops.get_unchecked(self.pos) };
        self.pos = (self.pos + 1) & (RING_OPS - 1);
        // SAFETY: every slot index is below RING_SLOTS.
        let entry = unsafe { self.slots.get_unchecked_mut(slot as usize) };
        // SAFETY: the slot holds a live block of `entry.1` bytes from `self.a`, freed once here.
        unsafe { self.a.dealloc(entry.0, layout(entry.1)) };
        let size = size as usize;
        let p = must_alloc(self.a, layout(size));
        // SAFETY: `p` is live for `size` >= 16 bytes, aligned to 8.
        unsafe { p.cast::<u64>().write_volatile(size as u64) };
        *entry = (black_box(p), size);
    }
}

impl<A: GlobalAlloc> Drop for Ring<'_, A> {
    fn drop(&mut self) {
        for &(p, size) in &self.slots {
            // SAFETY: each slot holds a live block of `size` bytes from `self.a`.
            unsafe { self.a.dealloc(p, layout(size)) };
        }
    }
}

// ---------------------------------------------------------------------------------------------
// c. the seed's json / mir / vm scenarios
// ---------------------------------------------------------------------------------------------

/// The seed's scenarios: a buffer of the given size allocated, touched and freed.
pub const SCENARIOS: [(&str, usize); 3] = [("json", 64 << 10), ("mir", 256 << 10), ("vm", 2 << 20)];

/// The distance between touched bytes: one write per 4 KiB page.
pub const PAGE: usize = 4096;

/// One scenario cycle: allocate `size` bytes, write one byte in every 4 KiB page (and the last
/// byte), free.
#[inline(always)]
pub fn scenario<A: GlobalAlloc>(a: &A, size: usize) {
    let layout = layout(size);
    let p = must_alloc(a, layout);
    let mut off = 0;
    while off < size {
        // SAFETY: `off < size`, inside the live block.
        unsafe { p.add(off).write_volatile(off as u8) };
        off += PAGE;
    }
    // SAFETY: `size - 1` is the last byte of the live block.
    unsafe { p.add(size - 1).write_volatile(1) };
    let p = black_box(p);
    // SAFETY: `p` came from `a.alloc(layout)` and is freed once.
    unsafe { a.dealloc(p, layout) };
}

// ---------------------------------------------------------------------------------------------
// d. tiny hot burst
// ---------------------------------------------------------------------------------------------

/// Blocks per burst in [`tiny_hot`].
pub const BURST: usize = 100;
/// Block size in [`tiny_hot`].
pub const BURST_SIZE: usize = 32;

/// The seed's "tiny hot": allocate [`BURST`] blocks of [`BURST_SIZE`] bytes (one byte written in
/// each), then free them all, last allocated first.
#[inline(always)]
pub fn tiny_hot<A: GlobalAlloc>(a: &A) {
    let layout = layout(BURST_SIZE);
    let mut ptrs = [core::ptr::null_mut::<u8>(); BURST];
    for (i, slot) in ptrs.iter_mut().enumerate() {
        let p = must_alloc(a, layout);
        // SAFETY: `p` is live for BURST_SIZE bytes.
        unsafe { p.write_volatile(i as u8) };
        *slot = p;
    }
    let ptrs = black_box(ptrs);
    for &p in ptrs.iter().rev() {
        // SAFETY: each pointer came from `a.alloc(layout)` above and is freed once.
        unsafe { a.dealloc(p, layout) };
    }
}

/// A benchmark name's size part: `1024` -> `1KiB`, `2097152` -> `2MiB`, `16` -> `16B`.
pub fn size_label(size: usize) -> String {
    if size >= 1 << 20 && size & ((1 << 20) - 1) == 0 {
        format!("{}MiB", size >> 20)
    } else if size >= 1 << 10 && size & ((1 << 10) - 1) == 0 {
        format!("{}KiB", size >> 10)
    } else {
        format!("{size}B")
    }
}

/// Nanoseconds for a results table: more decimals for smaller numbers.
pub fn fmt_ns(ns: f64) -> String {
    if ns < 100.0 {
        format!("{ns:.2}")
    } else if ns < 10_000.0 {
        format!("{ns:.1}")
    } else {
        format!("{ns:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_workloads<A: GlobalAlloc>(a: &A) {
        for &(size, _) in &PAIR_SIZES {
            pairs(a, size, 3);
        }
        let mut ring = Ring::new(a, 42);
        for _ in 0..(RING_OPS + 100) {
            ring.step();
        }
        drop(ring);
        for &(_, size) in &SCENARIOS {
            scenario(a, size);
        }
        tiny_hot(a);
    }

    #[test]
    fn workloads_run_on_every_contender() {
        for c in Contender::ALL {
            with_contender!(c, |a| all_workloads(a));
        }
    }

    #[test]
    fn names_round_trip() {
        for c in Contender::ALL {
            assert_eq!(Contender::parse(c.name()), Some(c));
        }
        assert_eq!(Contender::parse("system"), Some(Contender::System));
        assert_eq!(Contender::parse("nope"), None);
    }
}
