//! A thread's own few freed big blocks, in front of the arenas: a block of up to
//! [`LOCAL_BLOCK_MAX`] freed by a thread is kept here (still counted as in use by its arena)
//! and the thread's next request of the same class takes it back with no lock and no atomic.
//! Blocks older than `SACS_HOT_MS` (of the time the program ran: `purge::hot_clock`) or than
//! `SACS_WARM_MS` go to their arena at the heap's next purge look, all of them when the thread
//! exits, and one whenever a request misses, if its class is stale (no block
//! of it freed here for [`STALE_MISSES`] misses; [`LocalCache::release_stale`]): a thread whose
//! sizes seldom repeat keeps a few blocks here rather than up to the byte limit of blocks no
//! request matches, and one whose requests spread over many classes that do repeat keeps a
//! block of each.
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
//!
//! **Idle threads.** The owner's purge look runs on its own slow paths, and a thread that waits
//! (a worker of a pool between jobs, blocked on a condition variable) makes none: its blocks
//! would stay here, committed, for as long as it waits (`workload pool`: 16 workers taking
//! turns at jobs of three 1 MiB buffers held 49.5 MiB on average, when such blocks were still
//! kept here). So a cache that has kept a block is on a list ([`HOLDERS`]) that the shared
//! purge look walks ([`flush_idle`], from the global tick, at most
//! every `SACS_HOT_MS / 2`): it takes the blocks older than `SACS_HOT_MS` out of each cache that
//! no method is using and whose owner has made no purge look for `SACS_HOT_MS` (an owner that
//! looks flushes its own), and gives them to their arenas, which age them as any freed block.
//!
//! **The guard.** Each method runs inside [`LocalCache::guarded`], which marks the cache busy.
//! A signal handler that calls `malloc` or `free` in the middle of a method finds it busy and
//! goes to the arenas. The walk must also know that no method runs while it takes blocks, and
//! the owner that no walk is taking them while its method runs: a lock, which cost two atomic
//! swaps per cached pair of `free` and `malloc` (a quarter of the pair's time: 64 KiB pairs
//! 21 ns, 16 ns with plain stores). The guard is instead an asymmetric fence: the owner marks
//! the cache busy with a plain store, then (past a compiler fence) reads the count of walks in
//! progress ([`WALKS`]) and, finding one, leaves the cache alone (for the arenas, as a signal
//! handler does). A walk counts itself in and then makes every running thread of the process
//! pass a memory barrier (`platform::thread::heavy_barrier`, one `membarrier` per walk):
//! afterwards, an owner whose busy mark it does not see can only read the count after the
//! barrier, sees the walk, and stays out until the walk has counted itself out. Where the
//! system has no such barrier the walk does not take blocks: they wait for their owner's look.
//! A retiring thread's cache leaves the list, and then no walk can reach it: its last flush
//! ([`LocalCache::flush_unlisted`]) does not look at the walks in progress.

use super::{release, BIG_CLASSES};
use crate::lock::Lock;
use crate::options::{self, Opt};
use crate::page::{Page, LOCAL, SITE_FLAGS, ZERO};
use crate::platform;
use crate::purge;
use crate::size_class::{class_size, BIG_FIRST};
use crate::stats::GLOBAL;
use arrayvec::ArrayVec;
use core::ptr;
use core::sync::atomic::{
    compiler_fence, AtomicBool, AtomicU32, AtomicU64,
    Ordering::{Acquire, Relaxed, Release, SeqCst},
};

/// Blocks of one class a thread keeps in its own cache.
const PER_CLASS: usize = 4;
/// Bytes a thread keeps in its own cache at most, until its heap reads
/// `SACS_THREAD_BIG_CACHE_MIB` (the option's default).
const DEFAULT_LIMIT: usize = 4 << 20;
/// The largest block a thread keeps in its own cache: larger ones go to their arena at once.
/// Such a block takes a long time to write compared with an arena's lock, and a thread's cache
/// holds it from every other thread: threads that take turns (`workload pool`, 1 MiB buffers)
/// each kept their last job's blocks while the next job, on another thread, faulted in new ones.
pub const LOCAL_BLOCK_MAX: usize = 256 << 10;
/// Misses of the cache after which a class that has had no block freed into it is stale: a
/// miss then gives the oldest block of the stalest class back ([`LocalCache::release_stale`]).
/// A request of a class that repeats every `k` requests finds its block again when `k` is
/// below this many misses plus the hits between them; a thread whose sizes seldom repeat keeps
/// about as many blocks as the frees of this many misses.
pub const STALE_MISSES: u32 = 8;
/// Frees stamped with one reading of the clock.
pub const CLOCK_EVERY: u32 = 16;
/// Blocks one walk of [`flush_idle`] takes at most (the rest wait for the next walk).
const TAKE_MAX: usize = 64;

/// Zeroes `size` bytes at `start`, a cached block just taken for `calloc`, and returns it: out
/// of line and last, so that `malloc`'s path through the cache makes no call and saves no
/// registers for one.
///
/// # Safety
/// - `start` is a block of at least `size` bytes that the caller now owns.
#[cold]
#[inline(never)]
pub unsafe fn zeroed(start: *mut u8, size: usize) -> *mut u8 {
    // SAFETY: per the contract.
    unsafe { ptr::write_bytes(start, 0, size) };
    start
}

/// The caches that have kept a block since their heap was made, linked through `next` and
/// `prev`: what [`flush_idle`] walks. A cache joins at its first kept block and leaves when its
/// heap retires ([`LocalCache::leave`]), so a cache on the list is a live heap's.
struct Holders {
    head: *mut LocalCache,
}
// SAFETY: the list is only touched under its lock.
unsafe impl Send for Holders {}
static HOLDERS: Lock<Holders> = Lock::new(Holders {
    head: ptr::null_mut(),
});
/// The lock of [`HOLDERS`], for the fork handlers: a leaf (nothing is locked under it; a
/// cache's own lock is only tried).
pub fn holders_lock_for_fork() -> &'static Lock<impl Sized> {
    &HOLDERS
}
/// When [`flush_idle`] may walk next (ms).
static NEXT_WALK: AtomicU64 = AtomicU64::new(0);
/// Walks of [`flush_idle`] in progress: while it is not 0, owners leave their caches alone.
static WALKS: AtomicU32 = AtomicU32::new(0);

/// A thread's cache of its freed big blocks (see the module doc).
pub struct LocalCache {
    /// Per big class, its cached blocks' page entries, oldest first; `lens` says how many.
    blocks: [[*mut Page; PER_CLASS]; BIG_CLASSES],
    lens: [u8; BIG_CLASSES],
    /// Bytes of the cached blocks.
    bytes: usize,
    /// Requests the cache could not serve ([`release_stale`](Self::release_stale) calls),
    /// wrapping, and per class its value when a block of the class was last kept.
    misses: u32,
    kept_at: [u32; BIG_CLASSES],
    /// The cache's clock (ms): the system clock at its last reading.
    now: u64,
    /// Frees to stamp with `now` before the clock is read again.
    stamps_left: u32,
    /// When (ms) the owner's purge look last flushed the cache ([`flush`](Self::flush)): a look
    /// more than `SACS_HOT_MS` after it follows a pause (`purge::hot_clock`); a cache whose
    /// owner has not looked for `SACS_HOT_MS` is one [`flush_idle`] walks. Written by the
    /// owner, read by walks.
    looked_at: AtomicU64,
    /// Bytes kept at most: `SACS_THREAD_BIG_CACHE_MIB`, read when the heap is made and at each
    /// purge look ([`set_limit`](Self::set_limit)), not on every free.
    limit: usize,
    /// Set while one of the cache's methods runs (see the module doc's guard). A signal
    /// handler that calls `malloc` or `free` in the middle of one (undefined by POSIX, done by
    /// real programs) finds it set and leaves the cache alone: it goes to the arenas, whose
    /// locks report a re-entry, instead of taking a block the interrupted call is taking too
    /// or indexing with a length that changed under it. [`flush_idle`] skips a cache it sees
    /// set. Written by the owner only, read by walks.
    busy: AtomicBool,
    /// Whether the cache is on [`HOLDERS`]; only its owner reads it, and writes it under the
    /// list's lock.
    listed: bool,
    /// Its neighbours on [`HOLDERS`], touched only under the list's lock.
    next: *mut LocalCache,
    prev: *mut LocalCache,
}

impl LocalCache {
    pub const fn new() -> Self {
        Self {
            blocks: [[ptr::null_mut(); PER_CLASS]; BIG_CLASSES],
            lens: [0; BIG_CLASSES],
            bytes: 0,
            misses: 0,
            kept_at: [0; BIG_CLASSES],
            now: 0,
            stamps_left: 0,
            looked_at: AtomicU64::new(0),
            limit: DEFAULT_LIMIT,
            busy: AtomicBool::new(false),
            listed: false,
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
        }
    }

    /// Runs `body`, one of the cache's methods, with the cache marked busy; `None`, and the
    /// cache left alone, if it is busy (a signal handler came in the middle of a method) or a
    /// walk of [`flush_idle`] is in progress. Called by the owner only (and its signal
    /// handlers). The light side of the module doc's asymmetric fence: the busy mark is
    /// stored before the walks are counted, in program order (the compiler fence) and, through
    /// the walk's barrier, as other threads see it. The count's acquire orders the body after
    /// a finished walk's writes; the final release orders the body before a later walk's reads.
    #[inline(always)]
    fn guarded<R>(&mut self, body: impl FnOnce(&mut Self) -> R) -> Option<R> {
        self.marked_busy(true, body)
    }

    /// Runs `body` with the cache marked busy; `None` if it is busy already (a signal handler
    /// came in the middle of a method) or, with `walks_keep_out`, if a walk is in progress
    /// ([`guarded`](Self::guarded) sets it; [`flush_unlisted`](Self::flush_unlisted), which no
    /// walk can reach, does not).
    #[inline(always)]
    fn marked_busy<R>(
        &mut self,
        walks_keep_out: bool,
        body: impl FnOnce(&mut Self) -> R,
    ) -> Option<R> {
        if self.busy.load(Relaxed) {
            return None;
        }
        self.busy.store(true, Relaxed);
        compiler_fence(SeqCst);
        if walks_keep_out && WALKS.load(Acquire) != 0 {
            self.busy.store(false, Relaxed);
            return None;
        }
        let r = body(self);
        self.busy.store(false, Release);
        Some(r)
    }

    /// Makes a zeroed cache what [`new`](Self::new) is: its byte limit is the only field that is
    /// not zero.
    pub fn init_zeroed(&mut self) {
        self.limit = DEFAULT_LIMIT;
    }

    /// Bytes of the cached blocks, for tests outside this module.
    #[cfg(test)]
    pub fn held_bytes(&self) -> usize {
        self.bytes
    }

    /// Reads the byte limit from `SACS_THREAD_BIG_CACHE_MIB`.
    pub fn set_limit(&mut self) {
        self.limit = options::get(Opt::ThreadBigCacheMib).saturating_mul(1 << 20);
    }

    /// A cached block of `class` (the newest); [`zeroed`] zeroes it for `calloc`.
    ///
    /// # Safety
    /// - `class` is a big class (the cache indexes its arrays with it unchecked).
    #[inline(always)]
    pub unsafe fn alloc(&mut self, class: usize) -> Option<*mut u8> {
        // SAFETY: per the contract.
        self.guarded(|cache| unsafe { cache.take(class) }).flatten()
    }

    /// [`alloc`](Self::alloc) inside its guard.
    ///
    /// # Safety
    /// - as for [`alloc`](Self::alloc).
    #[inline(always)]
    unsafe fn take(&mut self, class: usize) -> Option<*mut u8> {
        let i = class - BIG_FIRST;
        debug_assert!(i < BIG_CLASSES);
        // SAFETY: `class` is a big class (the contract), so `i` indexes `lens` and `blocks`; a
        // class holds at most `PER_CLASS`.
        let page = unsafe {
            let n = *self.lens.get_unchecked(i) as usize;
            if n == 0 {
                return None;
            }
            debug_assert!(n <= PER_CLASS);
            *self.lens.get_unchecked_mut(i) = (n - 1) as u8;
            *self.blocks.get_unchecked(i).get_unchecked(n - 1)
        };
        let size = class_size(class);
        self.bytes -= size;
        // SAFETY: a cached page is a live (arena-wise) big block this thread holds.
        // A `malloc` of a Site Rules entry marks the block again (`site::big`).
        let start = unsafe {
            (*page).flags &= !(LOCAL | SITE_FLAGS);
            (*page).start
        };
        Some(start)
    }

    /// Keeps the freed block `page` if there is room. Returns false (block untouched) if not,
    /// and the caller frees it to its arena. Once it returns true the block is the cache's,
    /// which the shared look ([`flush_idle`]) may empty at once: the caller must not read the
    /// page entry again (its arena may have unmapped the segment).
    ///
    /// # Safety
    /// - `page` is a live big block being freed by the calling thread, whose cache this is.
    #[inline(always)]
    pub unsafe fn free(&mut self, page: *mut Page) -> bool {
        // SAFETY: per the contract.
        self.guarded(|cache| unsafe { cache.keep(page) }) == Some(true)
    }

    /// Puts the cache on [`HOLDERS`] if it is not on it yet: called by its heap after the cache
    /// kept a block, so a heap joins once, at its first kept block.
    ///
    /// # Safety
    /// - the cache is a live heap's, and takes itself off with [`leave`](Self::leave) before
    ///   that heap retires (the list's walk dereferences it until then).
    #[inline(always)]
    pub unsafe fn list(&mut self) {
        if !self.listed {
            self.join();
        }
    }

    /// [`list`](Self::list) the first time.
    #[cold]
    #[inline(never)]
    fn join(&mut self) {
        let me: *mut LocalCache = self;
        let mut list = HOLDERS.lock();
        // SAFETY: every cache on the list is a live heap's (see `Holders`); links are only
        // touched under the lock, which is held.
        unsafe {
            self.prev = ptr::null_mut();
            self.next = list.head;
            if !list.head.is_null() {
                (*list.head).prev = me;
            }
        }
        list.head = me;
        self.listed = true;
    }

    /// Takes the cache off [`HOLDERS`], if it is on it: its heap retires. Once this returns,
    /// no walk of [`flush_idle`] touches the cache (a walk holds the list's lock throughout).
    pub fn leave(&mut self) {
        if !self.listed {
            return;
        }
        let mut list = HOLDERS.lock();
        // SAFETY: as in `join`.
        unsafe {
            if self.prev.is_null() {
                list.head = self.next;
            } else {
                (*self.prev).next = self.next;
            }
            if !self.next.is_null() {
                (*self.next).prev = self.prev;
            }
        }
        self.next = ptr::null_mut();
        self.prev = ptr::null_mut();
        self.listed = false;
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
        debug_assert!(i < BIG_CLASSES);
        // SAFETY: a big block's class is a big class, so `i` indexes `lens`.
        let n = unsafe { *self.lens.get_unchecked(i) } as usize;
        let size = class_size(class);
        if n >= PER_CLASS || size > LOCAL_BLOCK_MAX || self.bytes + size > self.limit {
            return false;
        }
        p.flags = (p.flags & !ZERO) | LOCAL;
        p.since = self.now;
        // SAFETY: `i` as above, and `n < PER_CLASS`.
        unsafe {
            *self.blocks.get_unchecked_mut(i).get_unchecked_mut(n) = page;
            *self.lens.get_unchecked_mut(i) = (n + 1) as u8;
            *self.kept_at.get_unchecked_mut(i) = self.misses;
        }
        self.bytes += size;
        // The stamp is the cache's clock, read again every `CLOCK_EVERY` frees: last, so that
        // the clock's call (one free in 16) keeps nothing else alive across it, and the path
        // without it saves no registers for it.
        if self.stamps_left == 0 {
            self.restamp(p);
        } else {
            self.stamps_left -= 1;
        }
        true
    }

    /// Reads the clock for the cache and stamps `p` (kept just now) with it: the first free of
    /// each [`CLOCK_EVERY`].
    #[cold]
    #[inline(never)]
    fn restamp(&mut self, p: &mut Page) {
        self.now = platform::now_ms();
        self.stamps_left = CLOCK_EVERY - 1;
        p.since = self.now;
    }

    /// Counts a miss and returns the oldest block of the stalest class (the one whose last kept
    /// block is the longest ago, in misses) to its arena, if that class is stale: no block of it
    /// kept for [`STALE_MISSES`] misses. Called on a miss, which goes to an arena anyway. A
    /// thread whose sizes seldom repeat then holds a few blocks here, not blocks of every size
    /// it freed lately, each keeping its span from the arena's other sizes until the purge look
    /// (`workload big-mix`). A thread whose requests hit (a buffer of one size freed and taken
    /// again), or spread over classes that each come back within a few misses (`workload
    /// batch`'s requests of 32 – 128 KiB: 16 classes), keeps its blocks: giving back the oldest
    /// block at every miss there left the cache one block and 7 % of hits.
    pub fn release_stale(&mut self) {
        // A cache that holds nothing (a thread whose big blocks all go to their arenas) is
        // not walked. Read outside the guard: at worst a stale value skips a release or walks
        // for nothing, and only the owner (or its signal handler) changes it.
        if self.bytes == 0 {
            return;
        }
        self.guarded(Self::release_stale_inside);
    }

    /// [`release_stale`](Self::release_stale) inside its guard.
    fn release_stale_inside(&mut self) {
        self.misses = self.misses.wrapping_add(1);
        let mut stalest: Option<(usize, u32)> = None;
        for (i, &n) in self.lens.iter().enumerate() {
            let idle = self.misses.wrapping_sub(self.kept_at[i]);
            if n != 0 && stalest.is_none_or(|(_, most)| idle > most) {
                stalest = Some((i, idle));
            }
        }
        if let Some((i, idle)) = stalest {
            if idle >= STALE_MISSES {
                self.release_prefix(i, 1);
            }
        }
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

    /// [`flush`](Self::flush) of a cache that has left [`HOLDERS`] ([`leave`](Self::leave):
    /// its heap retires). No walk reaches it any more (a walk holds the list's lock while it
    /// looks at caches, and `leave` took that lock), so a walk in progress elsewhere does not
    /// keep it out as it keeps out [`guarded`](Self::guarded): every due block goes back.
    pub fn flush_unlisted(&mut self, now: u64, force: bool) {
        debug_assert!(!self.listed);
        self.marked_busy(false, |cache| cache.flush_inside(now, force));
    }

    /// [`flush`](Self::flush) inside its guard.
    fn flush_inside(&mut self, now: u64, force: bool) {
        self.set_limit();
        self.now = now;
        self.stamps_left = CLOCK_EVERY;
        let hot = options::get(Opt::HotMs) as u64;
        let cold = options::get(Opt::WarmMs) as u64;
        // After a pause the hot delay restarts (the blocks stay for the next job); a block
        // idle for the shortest cold delay goes to its arena, which may decommit it.
        let hot_now = purge::hot_clock(self.looked_at.swap(now, Relaxed), now, hot);
        for i in 0..BIG_CLASSES {
            let due = self
                .aged(i, hot_now, hot, force)
                .max(self.aged(i, now, cold, force));
            if due != 0 {
                self.release_prefix(i, due);
            }
        }
    }

    /// How many of class index `i`'s blocks have been cached `hot` ms by `now` (all with
    /// `force`): stamps never decrease, so they are a prefix, the oldest first.
    fn aged(&self, i: usize, now: u64, hot: u64, force: bool) -> usize {
        self.blocks[i][..self.lens[i] as usize]
            .iter()
            // SAFETY: cached pages are valid blocks of the cache's heap.
            .take_while(|&&p| purge::aged(unsafe { (*p).since }, now, hot, force))
            .count()
    }

    /// Moves the blocks cached longer than `hot` ms by `now` (all with `force`) into `taken`,
    /// the oldest of each class first, until `taken` is full. The caller holds the cache's lock
    /// and gives the blocks to their arenas.
    fn take_aged(
        &mut self,
        now: u64,
        hot: u64,
        force: bool,
        taken: &mut ArrayVec<*mut Page, TAKE_MAX>,
    ) {
        for i in 0..BIG_CLASSES {
            let n = self.lens[i] as usize;
            let due = self
                .aged(i, now, hot, force)
                .min(taken.remaining_capacity());
            if due == 0 {
                continue;
            }
            taken.extend(self.blocks[i][..due].iter().copied());
            self.bytes -= due * class_size(BIG_FIRST + i);
            self.blocks[i].copy_within(due..n, 0);
            self.lens[i] = (n - due) as u8;
            if taken.is_full() {
                return;
            }
        }
    }
}

/// The shared purge look's part in threads' own caches (see the module doc): gives the blocks
/// older than `SACS_HOT_MS` (all with `force`) of every cache on [`HOLDERS`] that no method is
/// using and whose owner has made no look for `SACS_HOT_MS` ([`unlooked`]; every cache with
/// `force`) to their arenas, at most [`TAKE_MAX`] per call, and walks at most every
/// `SACS_HOT_MS / 2` (every call with `force`). Called from the global tick; makes one
/// `membarrier` when there is such a cache, takes no lock but the list's (tried), and calls the
/// arenas after letting it go.
pub fn flush_idle(now: u64, force: bool) {
    let hot = options::get(Opt::HotMs) as u64;
    if !crate::purge::claim_turn(&NEXT_WALK, now, hot / 2, force) {
        return;
    }
    // No cache to walk (none whose owner has stopped looking), or no barrier to be had: no
    // walk, and no barrier. The barrier's registration (once per process, up to a grace period
    // of the kernel's) is made before the walk counts itself in, so owners never keep out of
    // their caches for it.
    let listed = HOLDERS.try_lock().is_some_and(|list| {
        let mut c = list.head;
        while !c.is_null() {
            // SAFETY: a cache on the list stays valid while the list's lock is held; its
            // `looked_at` is atomic and its links are only touched under that lock.
            unsafe {
                if force || unlooked(&*c, now, hot) {
                    return true;
                }
                c = (*c).next;
            }
        }
        false
    });
    if !listed || !platform::thread::heavy_barrier_ready() {
        return;
    }
    let mut taken: ArrayVec<*mut Page, TAKE_MAX> = ArrayVec::new_const();
    // Counted in before the barrier: an owner that starts a method after the barrier sees the
    // walk and keeps out; one that started before has its busy mark visible after it.
    WALKS.fetch_add(1, SeqCst);
    if platform::thread::heavy_barrier() {
        if let Some(list) = HOLDERS.try_lock() {
            let mut c = list.head;
            while !c.is_null() && !taken.is_full() {
                // SAFETY: a cache on the list is a live heap's and stays valid while the list's
                // lock is held (its heap leaves the list under that lock before it retires).
                // Its fields other than the links are touched by its owner inside `guarded`
                // only: a cache not marked busy after the barrier has no method running and
                // none starts before the walk counts itself out (module doc); the busy load's
                // acquire orders the owner's last method before these reads. Walks change
                // caches one at a time, under the list's lock.
                unsafe {
                    if !(*c).busy.load(Acquire) && (force || unlooked(&*c, now, hot)) {
                        (*c).take_aged(now, hot, force, &mut taken);
                    }
                    c = (*c).next;
                }
            }
        }
    }
    // Release: the owners' next methods (acquire) see what the walk took.
    WALKS.fetch_sub(1, Release);
    GLOBAL.big_cache_taken_idle.add(taken.len() as u64);
    for page in taken {
        // SAFETY: the block was taken out of its cache above, so it is ours alone: live for
        // its arena, counted as freed when the cache kept it. A `false` (not in use) can only
        // come from a double free of the block racing with this look; the arena has it then.
        unsafe {
            (*page).flags &= !LOCAL;
            release(page, (*page).start, (*page).since);
        }
    }
}

/// Whether `c`'s owner has made no purge look for `hot` ms by `now`: a thread that waits, whose
/// cache [`flush_idle`] walks. An owner that looks flushes its own cache, judging the hot delay
/// by the time it ran ([`LocalCache::flush`]), and a walk must not undo that.
fn unlooked(c: &LocalCache, now: u64, hot: u64) -> bool {
    c.looked_at.load(Relaxed).saturating_add(hot) <= now
}

impl Default for LocalCache {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests;
