//! Purging policy: when memory SACS holds but does not use goes back to the system.
//!
//! Nothing runs in the background. Purging happens on the allocator's own slow paths: a thread
//! heap looks at its warm pool and segments when it refills a page and its purge deadline has
//! passed; the shared structures (segment cache, abandoned segments, big arenas, whale ring)
//! are looked at by whichever thread passes the global deadline first ([`claim_global_look`]);
//! big arenas and the whale ring also age their caches on their own operations. A thread that
//! frees a big block or a whale, or empties a small page, is parked (`heap::park`), so that its
//! next call, however small, also looks; when its parked calls run out with work pending, it is
//! nudged, so that its next allocation of each class misses and looks. `heap::tick` runs the looks; `sacs::purge()` does all of them at once.
//!
//! This module holds the decisions, below the tiers that act on them: the look interval, the
//! global deadline, the flag saying whether shared structures hold memory to purge later
//! ([`note_deferred`]), and each heap's adaptive purge delay ([`PurgeDelay`]). Delays are
//! `SACS_PURGE_DELAY_MS`, `SACS_HOT_MS`, `SACS_WARM_MS`.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use crate::options::{self, Opt};
use crate::pressure;
use crate::stats::GLOBAL;

/// The shared look's schedule and the last pause it found, in one cache line: every slow call
/// that may look reads `next`, and the big arenas read the pause when they judge warm steps.
#[repr(C, align(64))]
struct Looks {
    /// When (ms) the next shared look is due ([`claim_global_look`]).
    next: AtomicU64,
    /// When (ms) the last look ran (the shared look, or a big arena's pass).
    last: AtomicU64,
    /// The last pause found: from the look before it to the look after it (ms).
    pause_from: AtomicU64,
    pause_to: AtomicU64,
}

static LOOKS: Looks = Looks {
    next: AtomicU64::new(0),
    last: AtomicU64::new(0),
    pause_from: AtomicU64::new(0),
    pause_to: AtomicU64::new(0),
};

/// Whether the shared structures (big arenas, whale ring, segment cache) hold memory that a
/// later global look may give back. Set by big and whale frees, recomputed by each global look.
static DEFERRED: AtomicBool = AtomicBool::new(false);

/// Records that a shared structure now holds memory to purge later.
#[inline]
pub fn note_deferred() {
    if !DEFERRED.load(Relaxed) {
        DEFERRED.store(true, Relaxed);
    }
}

/// Records what the last global look left behind.
pub fn set_deferred(left: bool) {
    DEFERRED.store(left, Relaxed);
}

/// Whether a later global look may have memory to give back.
#[inline]
pub fn deferred() -> bool {
    DEFERRED.load(Relaxed)
}

/// How often (ms) purging is looked at: half the shortest delay, at least 1 ms.
pub fn interval() -> u64 {
    let delay = options::get(Opt::PurgeDelayMs).min(options::get(Opt::HotMs)) as u64;
    (delay / 2).max(1)
}

/// Whether something that became idle at `since` (ms) has waited `delay` ms by `now` (or
/// `force`): the one aging test of every cache (warm pools, big blocks, whales, segments).
#[inline]
pub fn aged(since: u64, now: u64, delay: u64, force: bool) -> bool {
    force || now.saturating_sub(since) >= delay
}

/// The clock a hot delay is judged by at a look (the warm step of whales, a thread's own
/// big-block cache; each passes its previous look's time and records `now` in its place; the
/// big arenas, whose passes run only when due, use the process's record of the last pause
/// instead, [`paused_within`]): `now`, or, when the previous look, `looked_at`, was more than `hot` ms ago
/// (no look ran: the process made no slow-path call, it was idle), the time of that look. The
/// hot delay counts the time a block went unused while the program ran, not a pause: a block
/// freed just before a pause is still hot at the first look after it, and is warmed only if
/// the program, running again, leaves it unused for the delay. The cold delays (decommit) keep
/// counting real time, so a pause still gives memory back (architecture.md, "Hot after a
/// pause").
#[inline]
pub fn hot_clock(looked_at: u64, now: u64, hot: u64) -> u64 {
    if now.saturating_sub(looked_at) > hot {
        looked_at
    } else {
        now
    }
}

/// Whether the calling thread should make the shared structures' look now: always with `force`,
/// else if the global deadline passed and no other thread claimed this look first.
pub fn claim_global_look(now: u64, force: bool) -> bool {
    let claimed = claim_turn(&LOOKS.next, now, interval(), force);
    if claimed {
        note_look(now);
    }
    claimed
}

/// Records a look at `now`; if the previous one was more than `SACS_HOT_MS` before, the time
/// between them was a pause: the program made no slow-path call, it idled.
pub fn note_look(now: u64) {
    let last = LOOKS.last.swap(now, Relaxed);
    if last != 0 && now.saturating_sub(last) > options::get(Opt::HotMs) as u64 {
        LOOKS.pause_to.store(now, Relaxed);
        LOOKS.pause_from.store(last, Relaxed);
    }
}

/// How much of the time since `since` (ms) fell in the last pause found: what a hot delay
/// does not count for a block freed at `since` (architecture.md, "Hot after a pause"). 0 if
/// none was found. A reading that races with the record of a new pause may take the time from
/// the older pause's start to the newer one's end: a warm step then comes later, no sooner.
pub fn paused_within(since: u64) -> u64 {
    let to = LOOKS.pause_to.load(Relaxed);
    let from = LOOKS.pause_from.load(Relaxed);
    if from >= to {
        return 0;
    }
    to.saturating_sub(since.max(from))
}

/// Whether the calling thread takes the turn that `next` (ms) schedules: always with `force`,
/// else if `next` has passed and no other thread took it first; the next turn is then `period`
/// ms from `now` (at least 1).
pub fn claim_turn(next: &AtomicU64, now: u64, period: u64, force: bool) -> bool {
    if force {
        return true;
    }
    let at = next.load(Relaxed);
    now >= at
        && next
            .compare_exchange(at, now + period.max(1), Relaxed, Relaxed)
            .is_ok()
}

/// A thread heap's adaptive purge delay.
///
/// Purging memory that is needed again soon after costs a page fault per 4 KiB on the way back
/// (a program that builds and drops a large working set in phases a few tens of milliseconds
/// apart pays this on every phase), while keeping it costs only resident memory. So each heap
/// adapts its delay, on slow paths only: when the heap takes back slices that were decommitted
/// less than a window ago ([`note_refault`](Self::note_refault)), its delay doubles, or
/// stretches to the memory's whole idle time when that is longer (at most once per purge, up to
/// the window: [`COLD_STRETCH`] × `SACS_WARM_MS`, as a big arena's cold delay); when a purge of
/// the heap's has gone the window without any of its memory being taken back
/// ([`judge`](Self::judge)), the delay halves (down to `SACS_PURGE_DELAY_MS`). A worker thread
/// that waits longer than `SACS_WARM_MS` between jobs (`workload pool-small`, 640 ms) had its
/// memory purged by the first call after each wait and faulted it all back at once; its delay
/// now outgrows the wait after the first such job. The delay applies to the heap's warm pool and to its segments'
/// dirty slices. A new heap starts from the delay of the last heap that retired
/// ([`PurgeDelay::inherited`]); the segments exited threads abandoned have a delay of their own,
/// adapted the same way ([`abandoned_extra`]), and so have cached segments ([`cached_extra`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct PurgeDelay {
    /// The delay (ms) as last adapted; read through [`current`](Self::current), which keeps it
    /// between `SACS_PURGE_DELAY_MS` and the window (0: not adapted yet).
    delay: u64,
    /// When (ms) the oldest purge not yet judged gave memory back (0: none).
    purged_at: u64,
    /// The decommit time (ms) of the latest purged memory that the heap took back soon after.
    refaulted: u64,
    /// How long (ms) the memory the latest purge gave back had been idle before it (0: not
    /// known; the delay is assumed). A look made by a thread's first call after a long wait
    /// purges memory idle far longer than the delay, which the thread then takes back at once.
    idle: u64,
}

/// The delay (ms; 0: not adapted) of the last heap that retired: where new heaps start (see
/// [`PurgeDelay::inherited`]).
static INHERITED: AtomicU64 = AtomicU64::new(0);

/// The purge delay of the segments exited threads abandoned, a [`PurgeDelay`] of its own kept in
/// atomics: raised when a thread adopts one whose free slices were decommitted a moment ago
/// ([`note_adopted`]), lowered when its purges go a window without that ([`judge_abandoned`]).
/// Updates from two threads at once may lose one: a heuristic, never a correctness matter.
struct SharedDelay {
    delay: AtomicU64,
    purged_at: AtomicU64,
    refaulted: AtomicU64,
    idle: AtomicU64,
}

static ABANDONED: SharedDelay = SharedDelay::new();

impl SharedDelay {
    const fn new() -> Self {
        Self {
            delay: AtomicU64::new(0),
            purged_at: AtomicU64::new(0),
            refaulted: AtomicU64::new(0),
            idle: AtomicU64::new(0),
        }
    }

    fn load(&self) -> PurgeDelay {
        PurgeDelay {
            delay: self.delay.load(Relaxed),
            purged_at: self.purged_at.load(Relaxed),
            refaulted: self.refaulted.load(Relaxed),
            idle: self.idle.load(Relaxed),
        }
    }

    fn store(&self, d: PurgeDelay) {
        self.delay.store(d.delay, Relaxed);
        self.purged_at.store(d.purged_at, Relaxed);
        self.refaulted.store(d.refaulted, Relaxed);
        self.idle.store(d.idle, Relaxed);
    }

    /// [`PurgeDelay::note_refault`] on the shared delay.
    fn note_refault(&self, purged: u64, now: u64) {
        let mut d = self.load();
        d.note_refault(purged, now);
        self.store(d);
    }

    /// [`PurgeDelay::judge`] on the shared delay.
    fn judge(&self, now: u64, bytes: usize, idle: u64) {
        let mut d = self.load();
        d.judge(now, bytes, idle);
        self.store(d);
    }
}

/// How much longer than `SACS_PURGE_DELAY_MS` the segments of exited threads wait before their
/// dirty slices are decommitted.
pub fn abandoned_extra() -> u64 {
    ABANDONED.load().extra()
}

/// A thread adopted an abandoned segment whose latest decommit was at `purged` (ms; 0: none):
/// if that was a moment ago, the purge only made the adopter fault the memory back.
pub fn note_adopted(purged: u64, now: u64) {
    ABANDONED.note_refault(purged, now);
}

/// After a purge look at the abandoned segments that gave back `bytes`.
pub fn judge_abandoned(now: u64, bytes: usize) {
    ABANDONED.judge(now, bytes, 0);
}

/// The purge delay of the segment cache, adapted like [`ABANDONED`]'s: raised when a segment
/// is taken from the cache soon after the cache's purge decommitted its dirty slices
/// ([`note_cache_taken`]), lowered when the cache's purges go a window without that
/// ([`judge_cached`]). Empty segments reach the cache when a thread's pages all empty (a
/// worker between jobs, a phase that ended): if another thread, or the same one, takes them
/// back a moment later, decommitting them in between only made it fault their pages back in.
static CACHED: SharedDelay = SharedDelay::new();

/// How much longer than `SACS_PURGE_DELAY_MS` the dirty slices of a cached segment wait before
/// they are decommitted.
pub fn cached_extra() -> u64 {
    CACHED.load().extra()
}

/// A segment was taken from the cache after the cache's purge decommitted slices of it at
/// `purged` (ms; 0: it did not).
pub fn note_cache_taken(purged: u64, now: u64) {
    CACHED.note_refault(purged, now);
}

/// After a purge look at the cached segments that gave back `bytes` of memory idle for up to
/// `idle` ms.
pub fn judge_cached(now: u64, bytes: usize, idle: u64) {
    CACHED.judge(now, bytes, idle);
}

/// Upper bound of a heap's purge delay (and of the abandoned and cached segments' delays), and
/// the window (ms) in which a re-commit counts as a re-fault of purged memory:
/// [`COLD_STRETCH`] × `SACS_WARM_MS`.
fn cap(base: u64) -> u64 {
    (options::get(Opt::WarmMs) as u64 * COLD_STRETCH).max(base)
}

fn base() -> u64 {
    options::get(Opt::PurgeDelayMs) as u64
}

impl PurgeDelay {
    /// Not adapted: `SACS_PURGE_DELAY_MS`.
    pub const fn new() -> Self {
        Self {
            delay: 0,
            purged_at: 0,
            refaulted: 0,
            idle: 0,
        }
    }

    /// A new heap's delay: the last retired heap's ([`hand_on`](Self::hand_on)). Threads that
    /// come and go (a server replacing its workers, a pool re-spawning) each live too briefly to
    /// learn that the memory of their predecessors is taken back at once; the delay carries what
    /// they learned from one to the next. It comes down as a long-lived heap judges its purges.
    pub fn inherited() -> Self {
        Self {
            delay: INHERITED.load(Relaxed),
            purged_at: 0,
            refaulted: 0,
            idle: 0,
        }
    }

    /// Hands this (retiring) heap's delay on to the heaps made after it.
    pub fn hand_on(&self) {
        INHERITED.store(self.delay, Relaxed);
    }

    /// The current delay (ms): `SACS_PURGE_DELAY_MS`, lengthened while purges are faulted back.
    pub fn current(&self) -> u64 {
        let base = base();
        if pressure::active() {
            return base;
        }
        self.current_within(base, cap(base))
    }

    /// The delay kept between `base` and `cap`.
    fn current_within(&self, base: u64, cap: u64) -> u64 {
        self.delay.clamp(base, cap.max(base))
    }

    /// How much longer (ms) than `SACS_PURGE_DELAY_MS` the heap waits now.
    pub fn extra(&self) -> u64 {
        self.current().saturating_sub(base())
    }

    /// Memory just taken back had been decommitted at `purged` (ms; 0: it was not): if that was
    /// less than the window ago, and this purge has not lengthened the delay already, lengthens
    /// it: doubles it, or more if the memory's idle time was longer.
    pub fn note_refault(&mut self, purged: u64, now: u64) {
        let base = base();
        if self.refault_within(purged, now, base, cap(base)) {
            GLOBAL.purge_delay_raised.add(1);
        }
    }

    /// [`note_refault`](Self::note_refault) between `base` and `cap` (which is also the window);
    /// returns whether the delay was raised.
    fn refault_within(&mut self, purged: u64, now: u64, base: u64, cap: u64) -> bool {
        if purged == 0 || purged <= self.refaulted {
            return false;
        }
        if now.saturating_sub(purged) >= cap {
            return false;
        }
        self.refaulted = purged;
        // Had the delay been longer than the memory's whole idle time (the time it waited
        // before the purge, at least the delay, then `now - purged`), it would have stayed
        // committed: jump there at once when that is more than doubling. `purged` may be a
        // little later than `now` (another thread stamped it after our clock read).
        let delay = self.current_within(base, cap);
        let waited = delay.max(self.idle);
        let raised = (delay.max(1).saturating_mul(2))
            .max(waited.saturating_add(now.saturating_sub(purged)))
            .min(cap);
        if raised > self.delay {
            self.delay = raised;
            return true;
        }
        false
    }

    /// After a purge look that gave back `bytes` of memory idle for up to `idle` ms (0: not
    /// known): halves the delay when the oldest purge not yet judged is a window old and none
    /// of its memory was taken back, then starts judging this one.
    pub fn judge(&mut self, now: u64, bytes: usize, idle: u64) {
        if bytes > 0 {
            self.idle = idle;
        }
        let base = base();
        if self.judge_within(now, bytes, base, cap(base)) {
            GLOBAL.purge_delay_lowered.add(1);
        }
    }

    /// [`judge`](Self::judge) between `base` and `cap` (the window); returns whether the delay
    /// was lowered.
    fn judge_within(&mut self, now: u64, bytes: usize, base: u64, cap: u64) -> bool {
        let mut lowered = false;
        if self.purged_at != 0 && now.saturating_sub(self.purged_at) >= cap {
            if self.refaulted < self.purged_at && self.delay > base {
                self.delay = (self.current_within(base, cap) / 2).max(base);
                lowered = true;
            }
            self.purged_at = 0;
        }
        if bytes > 0 && self.purged_at == 0 {
            self.purged_at = now.max(1);
        }
        lowered
    }
}

/// How many times `SACS_WARM_MS` a big arena's cold delay may stretch to ([`BigDelays`]).
pub const COLD_STRETCH: u64 = 8;

/// One adaptive step of a big arena's cache ([`BigDelays`]): how long a cached block waits
/// before a release (`MADV_FREE` for the warm step, decommit for the cold one), between a base
/// and a cap given by the caller. Taking back within the cap, at least a quarter of the bytes
/// that recent releases released ([`note_reuse`](Self::note_reuse)) doubles it, or stretches it
/// to the memory's whole idle time; a release that goes a whole cap without such a reuse
/// ([`judge`](Self::judge)) halves it. A sliver taken back (a small block placed in a large
/// released run) is not enough. The rule of a heap's [`PurgeDelay`], one level up.
#[derive(Clone, Copy, Debug, Default)]
pub struct ArenaDelay {
    delay: PurgeDelay,
    /// Bytes released by recent releases, and bytes of them taken back since.
    released: u64,
    reused: u64,
    /// Bytes released after the judgement window opened: when the window closes, the latest of
    /// those releases (`recent[0]`) opens the next one, so a release made while one is open is
    /// judged too.
    late: u64,
    /// When the last few passes that released memory ran (ms), newest first: the stamps their
    /// releases left.
    recent: [u64; 4],
}

impl ArenaDelay {
    pub const fn new() -> Self {
        Self {
            delay: PurgeDelay::new(),
            released: 0,
            reused: 0,
            late: 0,
            recent: [0; 4],
        }
    }

    /// The current delay (ms), between `base` and `cap`.
    pub fn current(&self, base: u64, cap: u64) -> u64 {
        self.delay.current_within(base, cap)
    }

    /// Whether one of the last few passes that released memory ran at `stamp` (ms): memory
    /// with that stamp was released by this delay's step, not by something else.
    pub fn released_at(&self, stamp: u64) -> bool {
        stamp != 0 && self.recent.contains(&stamp)
    }

    /// `bytes` released at `released_at` (ms; 0: never released) were taken back. Returns
    /// whether the delay was raised.
    pub fn note_reuse(
        &mut self,
        released_at: u64,
        now: u64,
        bytes: usize,
        base: u64,
        cap: u64,
    ) -> bool {
        if released_at == 0 || now.saturating_sub(released_at) >= cap {
            return false;
        }
        self.reused = self.reused.saturating_add(bytes as u64);
        if self.reused.saturating_mul(4) < self.released {
            return false;
        }
        let raised = self.delay.refault_within(released_at, now, base, cap);
        if raised {
            self.reused = 0;
            self.released = 0;
        }
        raised
    }

    /// After a pass of the arena that released `bytes`. Returns whether the delay was lowered.
    pub fn judge(&mut self, now: u64, bytes: usize, base: u64, cap: u64) -> bool {
        let window = self.delay.purged_at;
        let lowered = self.delay.judge_within(now, bytes, base, cap);
        if bytes > 0 {
            let stamp = now.max(1);
            if !self.recent.contains(&stamp) {
                self.recent.rotate_right(1);
                self.recent[0] = stamp;
            }
            self.released = self.released.saturating_add(bytes as u64);
            if window != 0 {
                self.late = self.late.saturating_add(bytes as u64);
            }
        }
        if window != 0 && self.delay.purged_at != window {
            // The window closed: the releases made during it open the next one.
            if self.delay.purged_at == 0 && self.late > 0 {
                self.delay.purged_at = self.recent[0];
            }
            self.released = self.late;
            self.reused = 0;
            self.late = 0;
        }
        lowered
    }
}

/// A big arena's two adaptive delays. The cold delay (decommit) starts at `SACS_WARM_MS` and
/// stretches up to [`COLD_STRETCH`] × that when the arena carves back memory its coolings
/// decommitted; the hot delay (the warm step, `MADV_FREE`) starts at `SACS_HOT_MS` and stretches
/// up to the cold delay when the arena takes back cached blocks it had just released lazily. A
/// program that idles between jobs for longer than `SACS_WARM_MS` thus keeps its big blocks
/// across the pause, instead of releasing them at its first call after it, just before it needs
/// them: each release costs a system call, and a decommit a page fault per 4 KiB on the way back.
#[derive(Clone, Copy, Debug, Default)]
pub struct BigDelays {
    hot: ArenaDelay,
    cold: ArenaDelay,
}

impl BigDelays {
    pub const fn new() -> Self {
        Self {
            hot: ArenaDelay::new(),
            cold: ArenaDelay::new(),
        }
    }

    fn cold_bounds() -> (u64, u64) {
        let warm = options::get(Opt::WarmMs) as u64;
        (warm, warm.saturating_mul(COLD_STRETCH))
    }

    /// The cold delay (ms): cached blocks older than this are decommitted.
    pub fn cold(&self) -> u64 {
        let (base, cap) = Self::cold_bounds();
        if pressure::active() {
            return base;
        }
        self.cold.current(base, cap)
    }

    /// The hot delay (ms): cached blocks older than this are released with `MADV_FREE`.
    pub fn hot(&self) -> u64 {
        let base = options::get(Opt::HotMs) as u64;
        if pressure::active() {
            return base;
        }
        self.hot.current(base, self.cold())
    }

    /// The arena carved `bytes` whose latest decommit was at `purged` (ms; 0: none was). Only
    /// memory its coolings decommitted counts: slices a segment decommitted after
    /// `SACS_PURGE_DELAY_MS` (spans given back to make room) would not have stayed with a
    /// longer cold delay.
    pub fn note_carved(&mut self, purged: u64, now: u64, bytes: usize) {
        if !self.cold.released_at(purged) {
            return;
        }
        let (base, cap) = Self::cold_bounds();
        if self.cold.note_reuse(purged, now, bytes, base, cap) {
            GLOBAL.cold_delay_raised.add(1);
        }
    }

    /// The arena took back a cached block of `bytes` that its warm step released at `warmed`.
    pub fn note_warm_hit(&mut self, warmed: u64, now: u64, bytes: usize) {
        let (base, cap) = (options::get(Opt::HotMs) as u64, self.cold());
        if self.hot.note_reuse(warmed, now, bytes, base, cap) {
            GLOBAL.hot_delay_raised.add(1);
        }
    }

    /// After a pass of the arena that released `warmed` bytes lazily and decommitted `cooled`.
    pub fn judge(&mut self, now: u64, warmed: usize, cooled: usize) {
        let (base, cap) = Self::cold_bounds();
        if self.cold.judge(now, cooled, base, cap) {
            GLOBAL.cold_delay_lowered.add(1);
        }
        let (base, cap) = (options::get(Opt::HotMs) as u64, self.cold());
        if self.hot.judge(now, warmed, base, cap) {
            GLOBAL.hot_delay_lowered.add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults: SACS_PURGE_DELAY_MS 10, SACS_WARM_MS 600 (tests do not change them).
    const BASE: u64 = 10;
    const CAP: u64 = 600;
    /// The longest delay of a heap, and its window.
    const HEAP_CAP: u64 = COLD_STRETCH * CAP;

    #[test]
    fn the_hot_clock_stops_at_the_last_look_over_a_pause() {
        let hot = 100;
        // Looks a few ms apart: the program runs, the clock is now.
        assert_eq!(hot_clock(1000, 1005, hot), 1005);
        assert_eq!(
            hot_clock(1000, 1100, hot),
            1100,
            "a gap of the delay is no pause"
        );
        // A look 250 ms after the last one: a block freed at 1001 is 0 ms old, not 249.
        assert_eq!(hot_clock(1000, 1250, hot), 1000);
        assert!(!aged(1001, hot_clock(1000, 1250, hot), hot, false));
        // One freed long before the last look is aged by it.
        assert!(aged(850, hot_clock(1000, 1250, hot), hot, false));
        // The first look of all (nothing looked before) judges by time 0: nothing is hot-aged.
        assert_eq!(hot_clock(0, 5000, hot), 0);
    }

    #[test]
    fn a_refault_soon_after_a_purge_raises_the_delay_once_per_purge() {
        let mut d = PurgeDelay::new();
        assert_eq!(d.current(), BASE);
        d.note_refault(1000, 1005);
        assert_eq!(d.current(), 2 * BASE);
        d.note_refault(1000, 1006);
        assert_eq!(d.current(), 2 * BASE, "the same purge raises it once");
        // Memory idle for 150 ms would have stayed with a delay of 20 + 150.
        d.note_refault(1100, 1250);
        assert_eq!(d.current(), 170);
        d.note_refault(2000, 2001);
        assert_eq!(d.current(), 340, "doubled");
        for t in [3000, 4000, 5000, 6000] {
            d.note_refault(t, t + 1);
        }
        assert_eq!(d.current(), HEAP_CAP, "never above 8 x SACS_WARM_MS");
        assert_eq!(d.extra(), HEAP_CAP - BASE);
    }

    #[test]
    fn memory_purged_after_a_long_wait_and_taken_back_at_once_stretches_the_delay_past_the_wait() {
        let mut d = PurgeDelay::new();
        // A thread's first call after 640 ms asleep purges memory idle that long, then takes
        // it back: only a delay longer than the wait keeps it.
        d.judge(5000, 8 << 20, 640);
        d.note_refault(5000, 5002);
        assert_eq!(d.current(), 642);
        // A purge of memory idle for no longer than the delay doubles it, as before.
        d.judge(6000, 4096, 0);
        d.note_refault(6000, 6001);
        assert_eq!(d.current(), 2 * 642);
    }

    #[test]
    fn an_old_or_absent_purge_is_not_a_refault() {
        let mut d = PurgeDelay::new();
        d.note_refault(0, 5000);
        d.note_refault(1000, 1000 + HEAP_CAP);
        assert_eq!(d.current(), BASE);
    }

    #[test]
    fn a_purge_left_alone_for_the_window_halves_the_delay() {
        let mut d = PurgeDelay::new();
        d.note_refault(1000, 1001);
        d.note_refault(1100, 1101);
        assert_eq!(d.current(), 40);
        d.judge(2000, 4096, 0); // starts judging the purge made at 2000
        d.judge(2100, 0, 0);
        assert_eq!(d.current(), 40, "not a window old yet");
        d.judge(2000 + HEAP_CAP, 0, 0);
        assert_eq!(d.current(), 20);
        d.judge(10_000, 4096, 0);
        d.judge(10_000 + HEAP_CAP, 0, 0);
        d.judge(20_000, 4096, 0);
        d.judge(20_000 + HEAP_CAP, 0, 0);
        assert_eq!(d.current(), BASE, "never below SACS_PURGE_DELAY_MS");
    }

    #[test]
    fn a_cold_delay_stretches_over_an_idle_pause_and_comes_back() {
        let mut d = BigDelays::new();
        assert_eq!(d.cold(), CAP, "starts at SACS_WARM_MS");
        // 8 MiB cooled at 1000 after a pause; a sliver carved back is not a refault.
        d.judge(1000, 0, 8 << 20);
        d.note_carved(1000, 1002, 64 << 10);
        assert_eq!(d.cold(), CAP, "64 KiB of 8 MiB is a sliver");
        d.note_carved(990, 1002, 8 << 20);
        assert_eq!(
            d.cold(),
            CAP,
            "slices a segment decommitted (another stamp) do not count"
        );
        // The job carves its blocks back at 1003: the pause was too long by little.
        d.note_carved(1000, 1003, 2 << 20);
        assert_eq!(d.cold(), 2 * CAP);
        // Pauses carved back at once stretch it, at most to COLD_STRETCH x SACS_WARM_MS.
        for t in [3000, 5000] {
            d.judge(t, 0, 8 << 20);
            d.note_carved(t, t + 1, 8 << 20);
        }
        assert_eq!(d.cold(), COLD_STRETCH * CAP);
        // The program stops: a cooling made while a window is open is judged in the next one.
        d.judge(5500, 0, 8 << 20);
        d.judge(5000 + COLD_STRETCH * CAP, 0, 0);
        assert_eq!(
            d.cold(),
            COLD_STRETCH * CAP,
            "the refaulted window does not lower it"
        );
        d.judge(5500 + COLD_STRETCH * CAP, 0, 0);
        assert_eq!(
            d.cold(),
            COLD_STRETCH * CAP / 2,
            "a cooling left alone halves it"
        );
    }

    #[test]
    fn a_hot_delay_stretches_up_to_the_cold_one() {
        const HOT: u64 = 100; // SACS_HOT_MS's default
        let mut d = BigDelays::new();
        assert_eq!(d.hot(), HOT);
        d.judge(1000, 8 << 20, 0);
        d.note_warm_hit(1000, 1001, 1 << 20);
        assert_eq!(d.hot(), HOT, "one block of eight is not enough");
        d.note_warm_hit(1000, 1002, 1 << 20);
        assert_eq!(d.hot(), 2 * HOT);
        for (t, hot) in [(2000, 4 * HOT), (3000, CAP)] {
            d.judge(t, 8 << 20, 0);
            d.note_warm_hit(t, t + 1, 8 << 20);
            assert_eq!(d.hot(), hot, "doubled, never above the cold delay");
        }
    }
}
