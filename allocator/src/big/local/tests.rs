//! Unit tests of the thread's own big-block cache (`big::local`).

use super::super::tests::take;
use super::*;
use core::sync::atomic::Ordering::Relaxed;
use std::vec::Vec;

/// Page entries of `n` pretend blocks of `class` (nothing is released to an arena here).
fn pages(class: usize, n: usize) -> Vec<Page> {
    (0..n)
        .map(|k| {
            let mut p = Page::zeroed();
            p.class = class as u8;
            p.start = (0x1000_0000 + k * 0x10_0000) as *mut u8;
            p
        })
        .collect()
}

#[test]
fn keeps_four_per_class_and_hands_back_the_newest_first() {
    let class = BIG_FIRST + 3;
    let mut cache = LocalCache::new();
    let mut ps = pages(class, PER_CLASS + 1);
    for p in ps.iter_mut().take(PER_CLASS) {
        // SAFETY: pretend blocks, never touched through `start`.
        assert!(unsafe { cache.free(p) });
        assert!(p.flags & LOCAL != 0);
    }
    // SAFETY: as above.
    let fifth = unsafe { cache.free(&mut ps[PER_CLASS]) };
    assert!(!fifth, "a fifth block is refused");
    assert_eq!(cache.bytes, PER_CLASS * class_size(class));
    assert!(
        take(&mut cache, class + 1).is_none(),
        "another class is empty"
    );
    for k in (0..PER_CLASS).rev() {
        assert_eq!(take(&mut cache, class), Some(ps[k].start));
        assert!(ps[k].flags & LOCAL == 0);
    }
    assert!(take(&mut cache, class).is_none());
    assert_eq!(cache.bytes, 0);
}

#[test]
fn a_call_that_comes_in_the_middle_of_another_leaves_the_cache_alone() {
    // What a signal handler's `malloc` or `free` sees when it interrupts one of the cache's
    // methods: the cache busy. It must neither take nor keep a block, and the interrupted
    // method's work must be intact afterwards.
    let class = BIG_FIRST + 5;
    let mut cache = LocalCache::new();
    let mut ps = pages(class, 2);
    // SAFETY: pretend blocks, never touched through `start`.
    assert!(unsafe { cache.free(&mut ps[0]) });
    assert!(!cache.busy.load(Relaxed), "the cache starts idle");
    // What a method does first (`guarded`), with the handler's calls inside it.
    cache.busy.store(true, Relaxed);
    assert!(
        take(&mut cache, class).is_none(),
        "a busy cache hands out nothing"
    );
    // SAFETY: as above.
    let kept = unsafe { cache.free(&mut ps[1]) };
    assert!(!kept, "a busy cache keeps nothing");
    assert!(ps[1].flags & LOCAL == 0);
    cache.release_stale();
    cache.flush(u64::MAX, true);
    assert_eq!(
        (cache.lens[class - BIG_FIRST], cache.bytes),
        (1, class_size(class))
    );
    cache.busy.store(false, Relaxed);
    assert_eq!(take(&mut cache, class), Some(ps[0].start));
    assert!(
        !cache.busy.load(Relaxed),
        "every method leaves the cache idle"
    );
}

#[test]
fn the_shared_look_takes_the_aged_blocks_oldest_first_up_to_its_room() {
    // What `flush_idle` takes out of an idle thread's cache (without the list and the
    // arenas: pretend blocks).
    let (a, b) = (BIG_FIRST + 2, BIG_FIRST + 6);
    let mut cache = LocalCache::new();
    let mut pa = pages(a, 3);
    let mut pb = pages(b, 1);
    for p in pa.iter_mut().chain(pb.iter_mut()) {
        // SAFETY: pretend blocks, never touched through `start`.
        assert!(unsafe { cache.free(p) });
    }
    // Freed at 1000, 1050 and 1120 (class a) and 1000 (class b).
    for (p, since) in pa.iter_mut().zip([1000, 1050, 1120]) {
        p.since = since;
    }
    pb[0].since = 1000;
    let mut taken: ArrayVec<*mut Page, TAKE_MAX> = ArrayVec::new_const();
    cache.take_aged(1150, 100, false, &mut taken);
    let pa0: *mut Page = &mut pa[0];
    let pa1: *mut Page = &mut pa[1];
    let pb0: *mut Page = &mut pb[0];
    assert_eq!(
        taken.as_slice(),
        [pa0, pa1, pb0],
        "the blocks 100 ms old, oldest first"
    );
    assert_eq!(cache.lens[a - BIG_FIRST], 1);
    assert_eq!(cache.lens[b - BIG_FIRST], 0);
    assert_eq!(cache.bytes, class_size(a));
    assert_eq!(
        take(&mut cache, a),
        Some(pa[2].start),
        "the young block stays, first in its class"
    );
    // A walk with room for one block takes one, and leaves the rest for the next walk.
    for p in pa.iter_mut().take(2) {
        // SAFETY: as above.
        assert!(unsafe { cache.free(p) });
        p.since = 0;
    }
    let mut full: ArrayVec<*mut Page, TAKE_MAX> = ArrayVec::new_const();
    while full.remaining_capacity() > 1 {
        full.push(ptr::null_mut());
    }
    cache.take_aged(10_000, 100, false, &mut full);
    assert_eq!(full.last(), Some(&pa0));
    assert_eq!(cache.lens[a - BIG_FIRST], 1);
    assert_eq!(take(&mut cache, a), Some(pa[1].start));
}

#[test]
fn the_byte_limit_caps_the_cache_and_zero_turns_it_off() {
    let class = BIG_FIRST + 3;
    let mut ps = pages(class, 2);
    let mut cache = LocalCache::new();
    cache.limit = class_size(class);
    // SAFETY: pretend blocks, never touched through `start`.
    unsafe {
        assert!(cache.free(&mut ps[0]));
        assert!(!cache.free(&mut ps[1]), "a second block is over the limit");
    }
    let mut off = LocalCache::new();
    off.limit = 0;
    // SAFETY: as above.
    let kept = unsafe { off.free(&mut ps[1]) };
    assert!(!kept, "a limit of 0 keeps nothing");
}

#[test]
fn stamps_come_from_one_clock_reading_per_batch_and_never_decrease() {
    let class = BIG_FIRST + 1;
    let mut ps = pages(class, 1);
    let mut cache = LocalCache::new();
    // The stamp a free gives the block (taken back at once, for the next free).
    let mut stamp = |cache: &mut LocalCache| {
        // SAFETY: a pretend block, never touched through `start`.
        assert!(unsafe { cache.free(&mut ps[0]) });
        assert_eq!(take(cache, class), Some(ps[0].start));
        ps[0].since
    };
    let before = platform::now_ms();
    let mut last = 0;
    let mut readings = 0;
    for _ in 0..3 * CLOCK_EVERY {
        let s = stamp(&mut cache);
        assert!(s >= last && s >= before);
        if cache.stamps_left == CLOCK_EVERY - 1 {
            readings += 1;
        }
        last = s;
    }
    assert_eq!(readings, 3, "one clock reading per {CLOCK_EVERY} frees");
    assert!(last <= platform::now_ms());
    // A purge look sets the clock: the next stamps are that reading.
    cache.flush(before + 12_345, false);
    assert_eq!(stamp(&mut cache), before + 12_345);
}

#[test]
fn the_bounds_fit_their_types() {
    const { assert!(PER_CLASS <= u8::MAX as usize) };
    assert!(DEFAULT_LIMIT >= PER_CLASS * class_size(BIG_FIRST));
}
