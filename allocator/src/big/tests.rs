//! Unit tests of the big arenas: hits, misses, the thread caches' hand-back, other arenas' blocks,
//! carving after giving cached blocks back.

use super::*;
use crate::size_class::class_of;

/// [`LocalCache::alloc`] of a big class, as every class in these tests is (also `local`'s).
pub(super) fn take(cache: &mut LocalCache, class: usize) -> Option<*mut u8> {
    assert!((BIG_FIRST..BIG_FIRST + BIG_CLASSES).contains(&class));
    // SAFETY: a big class (checked above).
    unsafe { cache.alloc(class) }
}

/// Whether the block at `p` of `class` reads all zero.
///
/// # Safety
/// - `p` is a live block of `class`.
unsafe fn all_zero(p: *const u8, class: usize) -> bool {
    // SAFETY: per the contract.
    unsafe { core::slice::from_raw_parts(p, class_size(class)) }
        .iter()
        .all(|&b| b == 0)
}

#[test]
fn misses_give_the_thread_caches_stale_blocks_to_their_arena() {
    let arena = 2;
    let classes = [class_of(40_000), class_of(150_000), class_of(250_000)];
    let blocks: std::vec::Vec<*mut u8> = classes.iter().map(|&c| alloc(c, false, arena)).collect();
    let mut cache = LocalCache::new();
    let keep = |cache: &mut LocalCache, p: *mut u8| {
        // SAFETY: live blocks of this test, each freed into the cache once at a time.
        unsafe { assert!(cache.free(Segment::page_of(p))) }
    };
    keep(&mut cache, blocks[0]);
    keep(&mut cache, blocks[1]);
    // Misses before the classes are stale keep every block.
    for _ in 1..local::STALE_MISSES {
        cache.release_stale();
    }
    let both = class_size(classes[0]) + class_size(classes[1]);
    assert_eq!(cache.held_bytes(), both);
    keep(&mut cache, blocks[2]);
    // The next miss makes the first two classes stale: the lower one goes first, one per miss.
    cache.release_stale();
    assert!(
        take(&mut cache, classes[0]).is_none(),
        "the stale block left the cache"
    );
    // SAFETY: the block is now free in its arena: another free of it is refused.
    assert!(!unsafe { free(Segment::page_of(blocks[0]), blocks[0]) });
    cache.release_stale();
    assert!(
        take(&mut cache, classes[1]).is_none(),
        "one more miss, one more"
    );
    // SAFETY: as above.
    assert!(!unsafe { free(Segment::page_of(blocks[1]), blocks[1]) });
    // The class kept 2 misses ago is not stale.
    cache.release_stale();
    assert_eq!(take(&mut cache, classes[2]), Some(blocks[2]));
    // SAFETY: a live block taken back from the cache, freed once.
    assert!(unsafe { free(Segment::page_of(blocks[2]), blocks[2]) });
}

#[test]
fn a_thread_cache_keeps_no_block_above_its_size_bound() {
    let class = class_of(local::LOCAL_BLOCK_MAX + 1);
    let p = alloc(class, false, 2);
    assert!(!p.is_null());
    let mut cache = LocalCache::new();
    // SAFETY: a live block of this test, freed once (to its arena, the cache refusing it).
    unsafe {
        let page = Segment::page_of(p);
        assert!(
            !cache.free(page),
            "a block above the bound goes to its arena"
        );
        assert!(free(page, p));
    }
}

#[test]
fn a_miss_takes_the_block_another_arena_cached() {
    let class = class_of(600_000);
    let a = alloc(class, false, 0);
    assert!(!a.is_null());
    // SAFETY: a live block of this test, written whole, freed once into arena 0.
    unsafe {
        ptr::write_bytes(a, 0xCD, class_size(class));
        assert!(free(Segment::page_of(a), a));
    }
    let taken = GLOBAL.big_cache_from_other_arena.get();
    let b = alloc(class, true, 1);
    assert_eq!(b, a, "arena 0's cached block serves arena 1's miss");
    assert!(GLOBAL.big_cache_from_other_arena.get() > taken);
    // SAFETY: the block is ours again, `class_size(class)` bytes, zero requested.
    unsafe {
        assert!(all_zero(b, class));
        // Its free goes back to arena 0, which owns its segment, and serves arena 0 again.
        assert!(free(Segment::page_of(b), b));
    }
    let c = alloc(class, false, 0);
    assert_eq!(c, a);
    // SAFETY: as above.
    assert!(unsafe { free(Segment::page_of(c), c) });
}

#[test]
fn freed_blocks_are_reused_hot_and_zeroed_when_fresh() {
    let class = class_of(100_000);
    let arena = 3;
    let a = alloc(class, true, arena);
    assert!(!a.is_null());
    // SAFETY: a fresh block of class_size(class) bytes.
    unsafe {
        assert!(all_zero(a, class));
        ptr::write_bytes(a, 0xAB, class_size(class));
        let page = Segment::page_of(a);
        assert!(free(page, a));
        assert!(!free(page, a), "a double free is refused");
    }
    let hits = GLOBAL.big_cache_hits.get();
    let b = alloc(class, true, arena);
    assert_eq!(b, a, "the hot block comes back");
    assert!(GLOBAL.big_cache_hits.get() > hits);
    // SAFETY: reused block, zero requested.
    unsafe {
        assert!(all_zero(b, class));
        assert!(free(Segment::page_of(b), b));
    }
}

#[test]
fn a_carve_gives_back_the_oldest_cached_blocks_until_a_run_fits() {
    // An arena of its own, with one segment filled by one-slice blocks, all then cached, the
    // oldest first in slice order.
    let mut a = new_arena(ARENAS);
    let seg = segment::map_new(SegmentKind::Arena).expect("a segment");
    let small = class_of(40_000);
    assert_eq!(slices_for(small), 1);
    // SAFETY: an empty segment of this test alone, in this arena only.
    let pages: std::vec::Vec<*mut Page> = unsafe {
        a.segments.push_front(seg);
        core::iter::from_fn(|| a.carve(small, 0)).collect()
    };
    assert!(pages.len() > 8, "the segment holds {} blocks", pages.len());
    for (k, &page) in pages.iter().enumerate() {
        // SAFETY: spans of this arena's segment: used, then cached as `release` does.
        unsafe {
            mark_used(page);
            (*page).set_used(0);
            (*page).since = k as u64;
            a.cache[small - BIG_FIRST].push_front(page);
        }
        a.count_cached(class_size(small));
    }
    // A four-slice block: the segment has no free run, so the four oldest blocks go back.
    let large = class_of(200_000);
    assert_eq!(slices_for(large), 4);
    let page = a.carve(large, 0).expect("a run after uncaching");
    // SAFETY: the new span's entry and the first block's, in our segment.
    unsafe {
        assert_eq!(
            (*page).start,
            (*pages[0]).start,
            "the oldest blocks' slices"
        );
        assert_eq!(Segment::of((*page).start), seg);
    }
    let mut cached = 0;
    let mut p = a.cache[small - BIG_FIRST].head;
    while !p.is_null() {
        cached += 1;
        // SAFETY: a cached page of the arena.
        p = unsafe { (*p).next };
    }
    assert_eq!(cached, pages.len() - 4, "the others stay cached");
}
