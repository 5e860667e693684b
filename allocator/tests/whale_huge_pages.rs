//! Which whale mappings get transparent huge pages (`madvise(MADV_HUGEPAGE)`, counted per
//! system call): under the default `SACS_WHALE_HUGE_PAGES=1` the whales that `realloc` grows
//! (moved into a whale from a smaller block, or a whale extended by `mremap`), not the ones
//! `malloc` makes; 2 every fresh whale mapping, 0 none. Contents survive every move.
//!
//! One test, since it changes a process-wide option; sizes differ from step to step by more
//! than the ring's waste bound, so that no step is served by a mapping an earlier one freed.

use sacs::options::{self, Opt};
use sacs::Syscall;

const MIB: usize = 1 << 20;

fn huge_advice_calls() -> u64 {
    sacs::stats().syscalls[Syscall::MadviseHuge as usize].calls
}

fn filled(size: usize, seed: u8) -> *mut u8 {
    let p = sacs::alloc(size, 8);
    assert!(!p.is_null());
    // SAFETY: a fresh block of `size` bytes.
    unsafe { p.write_bytes(seed, size) };
    p
}

/// `realloc(p, new_size)`, checked not null, with the `madvise(MADV_HUGEPAGE)` calls it made.
fn realloc_counting(p: *mut u8, new_size: usize) -> (*mut u8, u64) {
    let before = huge_advice_calls();
    // SAFETY: the callers pass live blocks of theirs.
    let q = unsafe { sacs::realloc(p, new_size, 8) };
    assert!(!q.is_null());
    (q, huge_advice_calls() - before)
}

fn check(p: *mut u8, size: usize, seed: u8) {
    for at in (0..size).step_by(4096).chain([size - 1]) {
        // SAFETY: `p` is a live block of at least `size` bytes.
        assert_eq!(unsafe { *p.add(at) }, seed, "byte {at} of {size}");
    }
}

#[test]
fn whales_that_realloc_grows_get_huge_pages() {
    assert_eq!(options::get(Opt::WhaleHugePages), 1, "the default");

    // `malloc` makes a whale: no advice.
    let before = huge_advice_calls();
    let plain = filled(8 * MIB, 1);
    assert_eq!(huge_advice_calls(), before, "a plain whale got huge pages");

    // `realloc` moves a big block into a whale: advised.
    let (grown, advised) = realloc_counting(filled(MIB, 2), 20 * MIB);
    assert!(advised > 0, "a whale made by realloc got no huge pages");
    check(grown, MIB, 2);

    // `realloc` extends the plain whale: advised then.
    let (extended, advised) = realloc_counting(plain, 64 * MIB);
    assert!(advised > 0, "a whale grown by realloc got no huge pages");
    check(extended, 8 * MIB, 1);

    // 2: every whale; 0: none.
    options::set(Opt::WhaleHugePages, 2);
    let before = huge_advice_calls();
    let every = filled(150 * MIB, 3);
    assert!(
        huge_advice_calls() > before,
        "SACS_WHALE_HUGE_PAGES=2: a plain whale got none"
    );
    options::set(Opt::WhaleHugePages, 0);
    let (none, advised) = realloc_counting(filled(MIB, 4), 400 * MIB);
    assert_eq!(advised, 0, "SACS_WHALE_HUGE_PAGES=0: advised");
    check(none, MIB, 4);
    options::set(Opt::WhaleHugePages, 1);

    for p in [grown, extended, every, none] {
        // SAFETY: live blocks, freed once.
        unsafe { sacs::free(p) };
    }
}
