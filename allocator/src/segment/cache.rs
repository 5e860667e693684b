//! The process-wide cache of empty segments.

use core::sync::atomic::Ordering::Relaxed;

use super::{Segment, SegmentKind, SegmentList};
use crate::lock::Lock;
use crate::options::{self, Opt};
use crate::stats::GLOBAL;

static CACHE: Lock<SegmentList> = Lock::new(SegmentList::new());

/// Takes an empty segment from the cache, re-initialised for `kind`.
///
/// A segment the cache's purge decommitted a moment ago is faulted back in by its taker: that
/// is reported to the cache's purge delay (`purge::note_cache_taken`).
pub fn take(kind: SegmentKind, now: u64) -> Option<*mut Segment> {
    let seg = CACHE.lock().pop_front()?;
    GLOBAL.segments_reused.add(1);
    // SAFETY: a cached segment is empty and now ours alone.
    unsafe {
        (*seg).kind = kind as u8;
        (*seg).owner.store(0, Relaxed);
        let purged = core::mem::take(&mut (*seg).cache_purged_at);
        crate::purge::note_cache_taken(purged, now);
    }
    Some(seg)
}

/// Puts an empty segment into the cache; unmaps the oldest cached segment when the cache is
/// full (or the segment itself when the cache has no room at all).
///
/// # Safety
/// - `seg` is an empty segment on no list that the caller owns.
pub unsafe fn put(seg: *mut Segment, now: u64) {
    let capacity = options::get(Opt::SegmentCache);
    let evicted = {
        let mut cache = CACHE.lock();
        if capacity == 0 {
            Some(seg)
        } else {
            // SAFETY: `seg` is ours and on no list.
            unsafe {
                (*seg).cached_at = now;
                (*seg).cache_purged_at = 0;
                (*seg).owner.store(0, Relaxed);
                cache.push_front(seg);
            }
            if cache.len > capacity {
                cache.pop_back()
            } else {
                None
            }
        }
    };
    if let Some(old) = evicted {
        // SAFETY: taken off the cache, empty, referenced by no one.
        unsafe { super::unmap(old) };
    }
}

/// Decommits cached segments whose purge deadline, lengthened by the cache's adaptive delay
/// (`purge::cached_extra`), passed and unmaps those cached longer than `SACS_WARM_MS` (all of
/// them with `force`). Returns whether segments are left cached.
///
/// No system call is made under the cache lock: segments to unmap or decommit are taken off
/// the cache under it (so no one can take one and use it meanwhile), unmapped or decommitted
/// after it, and the decommitted ones put back in their age order under it again.
#[inline(never)]
pub fn purge(now: u64, force: bool) -> bool {
    let warm = options::get(Opt::WarmMs) as u64;
    let extra = crate::purge::cached_extra();
    let mut expired = SegmentList::new();
    let mut due = SegmentList::new();
    {
        let mut cache = CACHE.lock();
        let mut seg = cache.head;
        // SAFETY: segments on the cache list are valid and guarded by the lock; each one
        // taken off goes on exactly one of our lists.
        unsafe {
            while !seg.is_null() {
                let next = (*seg).next;
                if crate::purge::aged((*seg).cached_at, now, warm, force) {
                    cache.remove(seg);
                    expired.push_back(seg);
                } else if (*seg).purge_due_after(now, false, extra) {
                    cache.remove(seg);
                    due.push_back(seg);
                }
                seg = next;
            }
        }
    }
    let (mut bytes, mut idle) = (0, 0);
    if !due.is_empty() {
        let mut seg = due.head;
        while !seg.is_null() {
            // SAFETY: off the cache, empty and ours alone until it goes back.
            unsafe {
                let since = (*seg).oldest_dirty();
                let done = Segment::purge_if_due_after(seg, now, false, extra);
                if done > 0 {
                    (*seg).cache_purged_at = now.max(1);
                    bytes += done;
                    idle = now.saturating_sub(since).max(idle);
                }
                seg = (*seg).next;
            }
        }
        let capacity = options::get(Opt::SegmentCache);
        let mut cache = CACHE.lock();
        cache.merge_newest_first(&mut due, |seg| {
            // SAFETY: segments on either list are valid and ours under the lock.
            unsafe { (*seg).cached_at }
        });
        // Segments cached meanwhile may have filled it: the oldest leave.
        while cache.len > capacity {
            let Some(old) = cache.pop_back() else { break };
            // SAFETY: taken off the cache, on no list.
            unsafe { expired.push_back(old) };
        }
    }
    while let Some(seg) = expired.pop_front() {
        // SAFETY: taken off the cache, empty, referenced by no one.
        unsafe { super::unmap(seg) };
    }
    if !force {
        crate::purge::judge_cached(now, bytes, idle);
    }
    !CACHE.lock().is_empty()
}

/// The cache's lock, for the fork handlers.
pub fn lock_for_fork() -> &'static Lock<SegmentList> {
    &CACHE
}
