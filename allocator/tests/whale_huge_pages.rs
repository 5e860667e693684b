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
    let big = filled(MIB, 2);
    let before = huge_advice_calls();
    // SAFETY: `big` is live and ours.
    let grown = unsafe { sacs::realloc(big, 20 * MIB, 8) };
    assert!(!grown.is_null());
    assert!(
        huge_advice_calls() > before,
        "a whale made by realloc got no huge pages"
    );
    check(grown, MIB, 2);

    // `realloc` extends the plain whale: advised then.
    let before = huge_advice_calls();
    // SAFETY: `plain` is live and ours.
    let extended = unsafe { sacs::realloc(plain, 64 * MIB, 8) };
    assert!(!extended.is_null());
    assert!(
        huge_advice_calls() > before,
        "a whale grown by realloc got no huge pages"
    );
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
    let small = filled(MIB, 4);
    let before = huge_advice_calls();
    // SAFETY: `small` is live and ours.
    let none = unsafe { sacs::realloc(small, 400 * MIB, 8) };
    assert!(!none.is_null());
    assert_eq!(
        huge_advice_calls(),
        before,
        "SACS_WHALE_HUGE_PAGES=0: advised"
    );
    check(none, MIB, 4);
    options::set(Opt::WhaleHugePages, 1);

    for p in [grown, extended, every, none] {
        // SAFETY: live blocks, freed once.
        unsafe { sacs::free(p) };
    }
}
