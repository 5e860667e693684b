//! Property test: random sequences of alloc / alloc_zeroed / realloc / free / aligned alloc over
//! every tier (1 B to ~6 MiB, skewed toward small), through both the `sacs::*` functions and
//! `GlobalAlloc`, checked against a shadow model of what each live block must hold.
//! Every block is filled with a per-block pattern, which is verified before it is freed or
//! reallocated; alignment and usable size are checked on every allocation; the usable ranges
//! of all live blocks are checked for overlap periodically. SACS is also the global allocator.

mod common;

use common::*;
use sacs::Sacs;
use std::alloc::{GlobalAlloc, Layout};

#[global_allocator]
static GLOBAL: Sacs = Sacs;

#[derive(Clone, Copy, PartialEq)]
enum Api {
    Raw,
    Global,
}

struct Block {
    ptr: *mut u8,
    size: usize,
    align: usize,
    tag: u64,
    api: Api,
}

const MAX_LIVE: usize = 400;
const MAX_LIVE_BYTES: usize = 96 * MIB;

/// Log-uniform in `lo..=hi`.
fn log_uniform(r: &mut Rng, lo: usize, hi: usize) -> usize {
    let (l, h) = ((lo as f64).ln(), (hi as f64).ln());
    let x = l + (h - l) * (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    (x.exp() as usize).clamp(lo, hi)
}

fn random_size(r: &mut Rng, boundaries: &[usize]) -> usize {
    match r.below(1000) {
        0..=49 => boundaries[r.below(boundaries.len())],
        50..=449 => r.range(1, 128),
        450..=749 => r.range(129, 1024),
        750..=944 => log_uniform(r, 1025, 32 * KIB),
        945..=994 => log_uniform(r, 32 * KIB + 1, 2 * MIB - 1),
        _ => log_uniform(r, 2 * MIB, 6 * MIB),
    }
}

fn random_align(r: &mut Rng) -> usize {
    match r.below(1000) {
        0..=699 => 1 << r.below(5),       // 1..=16: the natural alignments
        700..=994 => 1 << r.range(5, 16), // 32 B ..= 64 KiB
        _ => 1 << r.range(17, 22),        // 128 KiB ..= 4 MiB
    }
}

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size.max(1), align).unwrap()
}

fn allocate(r: &mut Rng, size: usize, align: usize, zeroed: bool) -> (*mut u8, Api) {
    let api = if r.chance(25) { Api::Global } else { Api::Raw };
    let p = match (api, zeroed) {
        (Api::Raw, false) => sacs::alloc(size, align),
        (Api::Raw, true) => sacs::alloc_zeroed(size, align),
        // SAFETY: the layout has a non-zero size.
        (Api::Global, false) => unsafe { GLOBAL.alloc(layout(size, align)) },
        // SAFETY: as above.
        (Api::Global, true) => unsafe { GLOBAL.alloc_zeroed(layout(size, align)) },
    };
    (p, api)
}

fn check_new(p: *mut u8, size: usize, align: usize, what: &str) {
    assert!(!p.is_null(), "{what}({size}, {align}) returned null");
    assert_eq!(
        p as usize % align,
        0,
        "{what}({size}, {align}) = {p:p} misaligned"
    );
    // SAFETY: p is a live SACS block.
    let usable = unsafe { sacs::usable_size(p) };
    assert!(
        usable >= size,
        "{what}({size}, {align}): usable_size {usable} < size"
    );
}

fn release(b: &Block) {
    // SAFETY: the block is live and holds `size` bytes of its pattern.
    unsafe { check(b.ptr, b.size, b.tag, "before free") };
    match b.api {
        // SAFETY: the block came from SACS and is freed once.
        Api::Raw => unsafe { sacs::free(b.ptr) },
        // SAFETY: allocated through GlobalAlloc with this layout.
        Api::Global => unsafe { GLOBAL.dealloc(b.ptr, layout(b.size, b.align)) },
    }
}

fn check_disjoint(live: &[Block]) {
    let ranges = live
        .iter()
        .map(|b| {
            // SAFETY: live block.
            let usable = unsafe { sacs::usable_size(b.ptr) };
            assert!(usable >= b.size);
            (b.ptr as usize, usable.max(1))
        })
        .collect();
    assert_disjoint(ranges, "live blocks");
}

fn run_sequence(seed: u64, ops: usize, boundaries: &[usize]) {
    let mut r = Rng::new(seed);
    let mut live: Vec<Block> = Vec::new();
    let mut live_bytes = 0usize;
    let mut next_tag = seed << 24;
    for op in 0..ops {
        let choice = r.below(100);
        let must_free = live.len() >= MAX_LIVE || live_bytes >= MAX_LIVE_BYTES;
        if !live.is_empty() && (must_free || choice < 30) {
            // free a random block
            let b = live.swap_remove(r.below(live.len()));
            live_bytes -= b.size;
            release(&b);
        } else if !live.is_empty() && choice < 55 {
            // realloc a random block: to a random size, or a nearby one (in-place paths)
            let i = r.below(live.len());
            let new = if r.chance(30) {
                let s = live[i].size;
                (s + r.below(s / 8 + 2))
                    .saturating_sub(r.below(s / 8 + 2))
                    .max(1)
            } else {
                random_size(&mut r, boundaries)
            };
            // realloc to 0 bytes has no single meaning (free, or a minimal block): not tested here.
            let new = new.max(1);
            let b = &mut live[i];
            // SAFETY: live block with its pattern.
            unsafe { check(b.ptr, b.size, b.tag, "before realloc") };
            let q = match b.api {
                // SAFETY: live SACS block.
                Api::Raw => unsafe { sacs::realloc(b.ptr, new, b.align) },
                // SAFETY: allocated through GlobalAlloc with this layout; new size non-zero.
                Api::Global => unsafe { GLOBAL.realloc(b.ptr, layout(b.size, b.align), new) },
            };
            check_new(q, new, b.align, "realloc");
            // SAFETY: q holds the preserved prefix (patterns are prefix-consistent per tag).
            unsafe {
                check(
                    q,
                    b.size.min(new),
                    b.tag,
                    &format!("realloc {} -> {new} (seed {seed}, op {op})", b.size),
                )
            };
            // SAFETY: q holds `new` bytes.
            unsafe { fill(q, new, b.tag) };
            live_bytes = live_bytes - b.size + new;
            b.ptr = q;
            b.size = new;
        } else {
            let size = random_size(&mut r, boundaries);
            let align = random_align(&mut r);
            let zeroed = r.chance(15);
            let (p, api) = allocate(&mut r, size, align, zeroed);
            let size = if api == Api::Global {
                size.max(1)
            } else {
                size
            };
            check_new(
                p,
                size,
                align,
                if zeroed { "alloc_zeroed" } else { "alloc" },
            );
            if zeroed {
                // SAFETY: p holds `size` bytes.
                let bytes = unsafe { std::slice::from_raw_parts(p, size) };
                if let Some(at) = bytes.iter().position(|&x| x != 0) {
                    panic!("alloc_zeroed({size}, {align}) = {p:p} has {:#x} at {at} (seed {seed}, op {op})", bytes[at]);
                }
            }
            next_tag += 1;
            // SAFETY: p holds `size` bytes.
            unsafe { fill(p, size, next_tag) };
            live_bytes += size;
            live.push(Block {
                ptr: p,
                size,
                align,
                tag: next_tag,
                api,
            });
        }
        if op % 250 == 0 {
            check_disjoint(&live);
            #[cfg(feature = "validate")]
            sacs::validate();
        }
    }
    check_disjoint(&live);
    for b in live.drain(..) {
        release(&b);
    }
    #[cfg(feature = "validate")]
    sacs::validate();
}

fn run_seeds(first: u64, count: usize) {
    watchdog(600, "run_seeds");
    let boundaries = boundary_sizes(8 * MIB);
    let ops = 2000;
    for seed in first..first + count as u64 {
        run_sequence(seed, ops, &boundaries);
    }
}

// 200 sequences of 2000 operations in release (fewer in debug), in four tests that the
// harness runs on concurrent threads.
#[test]
fn shadow_model_seeds_0() {
    run_seeds(0, scale(50, 25));
}

#[test]
fn shadow_model_seeds_1() {
    run_seeds(1000, scale(50, 25));
}

#[test]
fn shadow_model_seeds_2() {
    run_seeds(2000, scale(50, 25));
}

#[test]
fn shadow_model_seeds_3() {
    run_seeds(3000, scale(50, 25));
}
