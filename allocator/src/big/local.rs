//! A thread's own few freed big blocks, in front of the arenas: a block freed by a thread is
//! kept here (still counted as in use by its arena) and the thread's next request of the same
//! class takes it back with no lock and no atomic. Blocks older than `SACS_HOT_MS` go to their
//! arena at the heap's next purge look, all of them when the thread exits, and the oldest one
//! whenever a request misses ([`LocalCache::release_oldest`]): a thread whose sizes seldom repeat
//! keeps a block or two here rather than up to the byte limit of blocks no request matches.
//!
//! Each class holds its blocks in a small array, oldest first: a free appends, an allocation
//! takes the newest (the one most likely still in the cache), a purge look takes the oldest off
//! the front. No list links are written, so a pair of a free and an allocation touches only the
//! block's page entry and this array.
//!
//! A block's age is counted from its free, stamped with the cache's own clock: the last reading
//! of the system clock, read again every [`CLOCK_EVERY`] frees and at every purge look, rather
//! than a clock read per free (a quarter of a cached pair's instructions). A stamp can be older
//! than the free by the time since that reading: the block then looks older to the purge look
//! and may go to its arena earlier; no block ever looks younger than it is.

use super::{release, BIG_CLASSES};
use crate::options::{self, Opt};
use crate::page::{Page, LOCAL, SITE_FLAGS, ZERO};
use crate::platform;
use crate::purge;
use crate::size_class::{class_size, BIG_FIRST};
use core::ptr;
use core::sync::atomic::{compiler_fence, AtomicBool, Ordering::Relaxed, Ordering::SeqCst};

/// Blocks of one class a thread keeps in its own cache.
const PER_CLASS: usize = 4;
/// Bytes a thread keeps in its own cache at most, until its heap reads
/// `SACS_THREAD_BIG_CACHE_MIB` (the option's default).
const DEFAULT_LIMIT: usize = 4 << 20;
/// Frees stamped with one reading of the clock.
pub const CLOCK_EVERY: u32 = 16;

/// A thread's cache of its freed big blocks (see the module doc).
pub struct LocalCache {
    /// Per big class, its cached blocks' page entries, oldest first; `lens` says how many.
    blocks: [[*mut Page; PER_CLASS]; BIG_CLASSES],
    lens: [u8; BIG_CLASSES],
    /// Bytes of the cached blocks.
    bytes: usize,
    /// The cache's clock (ms): the system clock at its last reading.
    now: u64,
    /// Frees to stamp with `now` before the clock is read again.
    stamps_left: u32,
    /// Bytes kept at most: `SACS_THREAD_BIG_CACHE_MIB`, read when the heap is made and at each
    /// purge look ([`set_limit`](Self::set_limit)), not on every free.
    limit: usize,
    /// Set while one of the cache's methods runs. A signal handler that calls `malloc` or
    /// `free` in the middle of one (undefined by POSIX, done by real programs) finds it set and
    /// leaves the cache alone: it goes to the arenas, whose locks report a re-entry, instead of
    /// taking a block the interrupted call is taking too or indexing with a length that
    /// changed under it. Only the owning thread (and its signal handlers) touches it, so a
    /// relaxed atomic and compiler fences are enough.
    busy: AtomicBool,
}

impl LocalCache {
    pub const fn new() -> Self {
        Self {
            blocks: [[ptr::null_mut(); PER_CLASS]; BIG_CLASSES],
            lens: [0; BIG_CLASSES],
            bytes: 0,
            now: 0,
            stamps_left: 0,
            limit: DEFAULT_LIMIT,
            busy: AtomicBool::new(false),
        }
    }

    /// Runs `body`, one of the cache's methods, with the cache marked busy; `None`, and the
    /// cache left alone, if it already is (a signal handler came in the middle of a method).
    #[inline(always)]
    fn guarded<R>(&mut self, body: impl FnOnce(&mut Self) -> R) -> Option<R> {
        if self.busy.load(Relaxed) {
            return None;
        }
        self.busy.store(true, Relaxed);
        compiler_fence(SeqCst);
        let r = body(self);
        compiler_fence(SeqCst);
        self.busy.store(false, Relaxed);
        Some(r)
    }

    /// Makes a zeroed cache what [`new`](Self::new) is: its byte limit is the only field that is
    /// not zero.
    pub fn init_zeroed(&mut self) {
        self.limit = DEFAULT_LIMIT;
    }

    /// Reads the byte limit from `SACS_THREAD_BIG_CACHE_MIB`.
    pub fn set_limit(&mut self) {
        self.limit = options::get(Opt::ThreadBigCacheMib).saturating_mul(1 << 20);
    }

    /// A cached block of `class` (the newest), zeroed if `zero`.
    #[inline(always)]
    pub fn alloc(&mut self, class: usize, zero: bool) -> Option<*mut u8> {
        self.guarded(|cache| cache.take(class, zero)).flatten()
    }

    /// [`alloc`](Self::alloc) inside its guard.
    #[inline(always)]
    fn take(&mut self, class: usize, zero: bool) -> Option<*mut u8> {
        let i = class - BIG_FIRST;
        let n = self.lens[i] as usize;
        if n == 0 {
            return None;
        }
        let page = self.blocks[i][n - 1];
        self.lens[i] = (n - 1) as u8;
        let size = class_size(class);
        self.bytes -= size;
        // SAFETY: a cached page is a live (arena-wise) big block this thread holds.
        // A `malloc` of a Site Rules entry marks the block again (`site::big`).
        let start = unsafe {
            (*page).flags &= !(LOCAL | SITE_FLAGS);
            (*page).start
        };
        if zero {
            // SAFETY: the block is ours and `size` bytes long.
            unsafe { ptr::write_bytes(start, 0, size) };
        }
        Some(start)
    }

    /// Keeps the freed block `page` if there is room. Returns false (block untouched) if not,
    /// and the caller frees it to its arena.
    ///
    /// # Safety
    /// - `page` is a live big block being freed by the calling thread, whose cache this is.
    #[inline(always)]
    pub unsafe fn free(&mut self, page: *mut Page) -> bool {
        // SAFETY: per the contract.
        self.guarded(|cache| unsafe { cache.keep(page) }) == Some(true)
    }

    /// [`free`](Self::free) inside its guard.
    ///
    /// # Safety
    /// - as for [`free`](Self::free).
    #[inline(always)]
    unsafe fn keep(&mut self, page: *mut Page) -> bool {
        // SAFETY: per the contract.
        let p = unsafe { &mut *page };
        let class = p.class as usize;
        let i = class - BIG_FIRST;
        let n = self.lens[i] as usize;
        let size = class_size(class);
        if n >= PER_CLASS || self.bytes + size > self.limit {
            return false;
        }
        p.flags = (p.flags & !ZERO) | LOCAL;
        p.since = self.stamp();
        self.blocks[i][n] = page;
        self.lens[i] = (n + 1) as u8;
        self.bytes += size;
        true
    }

    /// The time to stamp a free with: the cache's clock, read again every [`CLOCK_EVERY`] frees.
    #[inline]
    fn stamp(&mut self) -> u64 {
        if self.stamps_left == 0 {
            self.now = platform::now_ms();
            self.stamps_left = CLOCK_EVERY;
        }
        self.stamps_left -= 1;
        self.now
    }

    /// Returns the oldest cached block (over all classes) to its arena, if any block is cached.
    /// Called on a miss, which goes to an arena anyway: a thread whose requests keep missing
    /// (sizes that seldom repeat) then holds a block or two here, not blocks of every size it
    /// freed lately, each keeping its span from the arena's other sizes until the purge look.
    /// A thread whose requests hit (a buffer of one size freed and taken again) never misses,
    /// and keeps its blocks.
    pub fn release_oldest(&mut self) {
        self.guarded(Self::release_oldest_inside);
    }

    /// [`release_oldest`](Self::release_oldest) inside its guard.
    fn release_oldest_inside(&mut self) {
        let mut oldest: Option<(usize, u64)> = None;
        for (i, &n) in self.lens.iter().enumerate() {
            if n != 0 {
                // SAFETY: cached pages are valid blocks this thread holds.
                let since = unsafe { (*self.blocks[i][0]).since };
                if oldest.is_none_or(|(_, s)| since < s) {
                    oldest = Some((i, since));
                }
            }
        }
        let Some((i, _)) = oldest else {
            return;
        };
        self.release_prefix(i, 1);
    }

    /// Gives the `count` oldest blocks of class index `i` to their arenas.
    fn release_prefix(&mut self, i: usize, count: usize) {
        let n = self.lens[i] as usize;
        debug_assert!(count <= n);
        for k in 0..count {
            let page = self.blocks[i][k];
            self.bytes -= class_size(BIG_FIRST + i);
            // SAFETY: the block is live (arena-wise) and now out of the cache. It was counted
            // as freed when it entered this cache.
            unsafe {
                (*page).flags &= !LOCAL;
                let ok = release(page, (*page).start, (*page).since);
                debug_assert!(ok);
            }
        }
        self.blocks[i].copy_within(count..n, 0);
        self.lens[i] = (n - count) as u8;
    }

    /// Returns blocks cached longer than `SACS_HOT_MS` (all with `force`) to their arenas, and
    /// sets the cache's clock to `now`.
    pub fn flush(&mut self, now: u64, force: bool) {
        self.guarded(|cache| cache.flush_inside(now, force));
    }

    /// [`flush`](Self::flush) inside its guard.
    fn flush_inside(&mut self, now: u64, force: bool) {
        self.set_limit();
        self.now = now;
        self.stamps_left = CLOCK_EVERY;
        let hot = options::get(Opt::HotMs) as u64;
        for i in 0..BIG_CLASSES {
            let n = self.lens[i] as usize;
            // Stamps never decrease, so the blocks due are a prefix.
            let due = self.blocks[i][..n]
                .iter()
                // SAFETY: cached pages are valid blocks this thread holds.
                .take_while(|&&p| purge::aged(unsafe { (*p).since }, now, hot, force))
                .count();
            if due != 0 {
                self.release_prefix(i, due);
            }
        }
    }
}

impl Default for LocalCache {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            cache.alloc(class + 1, false).is_none(),
            "another class is empty"
        );
        for k in (0..PER_CLASS).rev() {
            assert_eq!(cache.alloc(class, false), Some(ps[k].start));
            assert!(ps[k].flags & LOCAL == 0);
        }
        assert!(cache.alloc(class, false).is_none());
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
            cache.alloc(class, false).is_none(),
            "a busy cache hands out nothing"
        );
        // SAFETY: as above.
        let kept = unsafe { cache.free(&mut ps[1]) };
        assert!(!kept, "a busy cache keeps nothing");
        assert!(ps[1].flags & LOCAL == 0);
        cache.release_oldest();
        cache.flush(u64::MAX, true);
        assert_eq!(
            (cache.lens[class - BIG_FIRST], cache.bytes),
            (1, class_size(class))
        );
        cache.busy.store(false, Relaxed);
        assert_eq!(cache.alloc(class, false), Some(ps[0].start));
        assert!(
            !cache.busy.load(Relaxed),
            "every method leaves the cache idle"
        );
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
        let mut cache = LocalCache::new();
        let before = platform::now_ms();
        let mut last = 0;
        for _ in 0..3 * CLOCK_EVERY {
            let s = cache.stamp();
            assert!(s >= last && s >= before);
            last = s;
        }
        assert!(last <= platform::now_ms());
        // A purge look sets the clock: the next stamps are that reading.
        cache.flush(before + 12_345, false);
        assert_eq!(cache.stamp(), before + 12_345);
    }

    #[test]
    fn the_bounds_fit_their_types() {
        const { assert!(PER_CLASS <= u8::MAX as usize) };
        assert!(DEFAULT_LIMIT >= PER_CLASS * class_size(BIG_FIRST));
    }
}
