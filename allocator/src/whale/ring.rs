//! The whale ring: freed whale mappings (and released large-page regions) kept for reuse, with
//! no system call on a hit.
//!
//! It is a list of free address ranges, oldest first, in the manner of tcmalloc's page heap and
//! jemalloc's extents, small enough (at most [`RING_MAX`]) to scan on every whale operation:
//!
//! - **best fit**: a request takes the smallest cached range that is at least its length (and
//!   suitably aligned). If the range is larger than the request by more than W_MAX
//!   (`SACS_WHALE_WASTE_PERCENT`), it is *split* at the first 2 MiB boundary past the request:
//!   the tail stays in the ring as a range of its own, in its age place, still resident, with no
//!   system call. A tail too short to stand alone (under 2 MiB) or that finds the ring full is
//!   *trimmed* instead: one `munmap` of everything past the request.
//! - **coalescing**: a freed range merges with cached ranges that touch it on either side, so
//!   a split range comes back whole and neighbouring whales form larger ranges.
//! - **growing**: when no cached range is long enough, the longest one is taken to be grown
//!   (`super::obtain` moves it with `mremap` into a fresh reservation of the request's length):
//!   its pages come along, and only the difference is new memory that the kernel zeroes.
//! - **budget**: the ring holds at most `SACS_WHALE_RING` ranges and a byte budget that follows
//!   the live whale footprint: `SACS_WHALE_RING_PERCENT` of the most bytes of whales live
//!   lately, at least `SACS_WHALE_RING_MIB` and at most `SACS_WHALE_RING_MAX_MIB`. Beyond
//!   either bound the oldest ranges leave (unmapped).
//! - **aging**: ranges idle for `SACS_HOT_MS` get `MADV_FREE`, for `SACS_WARM_MS` are unmapped.
//!
//! Everything here runs under the whale lock and makes no system call: what is to be unmapped
//! or advised is handed back to the caller (`super`), which makes the calls after releasing it.

use arrayvec::ArrayVec;

use super::LARGE_PAGE;
use crate::options::{self, Opt};
use crate::stats::GLOBAL;

/// Most ranges the ring can hold.
pub const RING_MAX: usize = 64;

/// A freed range in the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Cached {
    pub(super) base: usize,
    pub(super) len: usize,
    /// When it was freed (coarse milliseconds); a merged range takes the time of its merge.
    pub(super) freed_at: u64,
    /// Released with MADV_FREE: the kernel may have taken its pages.
    pub(super) warm: bool,
}

/// Ranges taken out of the ring, to unmap once the lock is released: at most the whole ring and
/// the range being freed.
pub(super) type Expired = ArrayVec<(usize, usize), { RING_MAX + 1 }>;

/// Ranges taken out of the ring to be released with MADV_FREE outside the lock, oldest first.
pub(super) type Warming = ArrayVec<Cached, RING_MAX>;

/// Ranges pushed out of the ring when warmed ones go back: at most the ring and those.
pub(super) type Evicted = ArrayVec<(usize, usize), { 2 * RING_MAX }>;

/// What [`Ring::take`] found for a request.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Take {
    /// `[base, base + len)` serves the request (`len` at least the request); `trim`, if any, is
    /// the rest of the cached range, to unmap.
    Hit {
        base: usize,
        len: usize,
        trim: Option<(usize, usize)>,
    },
    /// No cached range is long enough; this one, the longest, left the ring to be grown.
    Grow(Cached),
    /// The ring has nothing for the request.
    Miss,
}

/// The ring's bounds, read from the options once per whale operation (and made up by the unit
/// tests, which must not change the process's options under each other).
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    /// Most ranges (`SACS_WHALE_RING`, at most [`RING_MAX`]).
    pub(super) capacity: usize,
    /// The byte budget's floor and ceiling (`SACS_WHALE_RING_MIB`, `SACS_WHALE_RING_MAX_MIB`).
    pub(super) floor: usize,
    pub(super) ceiling: usize,
    /// The budget's share of the footprint (`SACS_WHALE_RING_PERCENT`).
    pub(super) percent: usize,
    /// W_MAX (`SACS_WHALE_WASTE_PERCENT`).
    pub(super) waste_percent: usize,
}

impl Limits {
    #[link_section = ".sacs_rare"]
    pub(super) fn from_options() -> Limits {
        // Under memory pressure the ring keeps nothing: a freed whale is unmapped at once,
        // instead of refilling the ring between two pressure checks.
        let capacity = if crate::pressure::active() {
            0
        } else {
            options::get(Opt::WhaleRing).min(RING_MAX)
        };
        Limits {
            capacity,
            floor: options::get(Opt::WhaleRingMib).saturating_mul(1 << 20),
            ceiling: options::get(Opt::WhaleRingMaxMib).saturating_mul(1 << 20),
            percent: options::get(Opt::WhaleRingPercent),
            waste_percent: options::get(Opt::WhaleWastePercent),
        }
    }

    /// How much longer than `len` a cached range may be and serve it whole (W_MAX), saturating:
    /// `len / 100 * SACS_WHALE_WASTE_PERCENT`.
    pub(super) fn waste_limit(&self, len: usize) -> usize {
        (len / 100).saturating_mul(self.waste_percent)
    }
}

/// The freed ranges.
pub(super) struct Ring {
    /// Oldest first.
    entries: ArrayVec<Cached, RING_MAX>,
    /// Bytes of the ranges in the ring.
    bytes: usize,
    /// The live whale footprint the byte budget follows: the most bytes of whales live since
    /// the last aging look, halved at each look down to what is live then.
    footprint: usize,
    /// How many times the budget's share has doubled ([`Ring::note_fresh`]), up to the whole
    /// footprint; when the ring last pushed a range out for the budget; when the share last
    /// changed.
    boost: u32,
    evicted_at: u64,
    boosted_at: u64,
    /// When (ms) the ring was last aged: an aging more than the hot delay after it follows a
    /// pause and judges the warm step by this time (`purge::hot_clock`).
    looked_at: u64,
}

/// How many `SACS_WARM_MS` a doubled budget share lasts without a wasted eviction before it
/// halves.
const BOOST_WINDOWS: u64 = 8;

impl Ring {
    pub(super) const fn new() -> Ring {
        Ring {
            entries: ArrayVec::new_const(),
            bytes: 0,
            footprint: 0,
            boost: 0,
            evicted_at: 0,
            boosted_at: 0,
            looked_at: 0,
        }
    }

    /// The budget's share of the footprint (percent): `SACS_WHALE_RING_PERCENT`, doubled
    /// `boost` times, at most 100 (or the option, if higher).
    fn share(&self, l: &Limits) -> usize {
        let doubled = l.percent.checked_shl(self.boost).unwrap_or(usize::MAX);
        doubled.min(l.percent.max(100))
    }

    /// A request at `now` had to map (or grow a mapping): if the ring pushed ranges out for its
    /// budget less than `window` ms ago, that memory was needed after all. The budget's share of
    /// the footprint doubles (at most once per `window`, up to the whole footprint).
    pub(super) fn note_fresh(&mut self, now: u64, window: u64, l: &Limits) {
        if self.evicted_at == 0
            || now.saturating_sub(self.evicted_at) >= window
            || now.saturating_sub(self.boosted_at) < window
            || self.share(l) >= l.percent.max(100)
        {
            return;
        }
        self.boost += 1;
        self.boosted_at = now;
        GLOBAL.whale_budget_raised.add(1);
    }

    /// The byte budget: `SACS_WHALE_RING_PERCENT` of the footprint, clamped to
    /// `[SACS_WHALE_RING_MIB, SACS_WHALE_RING_MAX_MIB]` (saturating; a ceiling below the floor
    /// counts as the floor).
    pub(super) fn budget(&self, l: &Limits) -> usize {
        (self.footprint / 100)
            .saturating_mul(self.share(l))
            .clamp(l.floor, l.ceiling.max(l.floor))
    }

    /// Notes that `live` bytes of whales are (or are about to be) live.
    pub(super) fn note_live(&mut self, live: usize) {
        self.footprint = self.footprint.max(live);
    }

    /// Bytes of the ranges in the ring.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether the ring holds any range (purging has work left).
    pub(super) fn holds_any(&self) -> bool {
        !self.entries.is_empty()
    }

    /// Takes what serves a request of `len` bytes (a multiple of 4 KiB) aligned to `align`:
    /// the best-fitting cached range, split or trimmed when it is longer than W_MAX allows (to
    /// exactly `len` when `exact`, for large-page regions); else the longest shorter one, to
    /// grow, when `grow` allows; else nothing.
    pub(super) fn take(
        &mut self,
        len: usize,
        align: usize,
        exact: bool,
        grow: bool,
        l: &Limits,
    ) -> Take {
        debug_assert!(len > 0 && len.is_multiple_of(crate::platform::OS_PAGE));
        let mut best: Option<usize> = None;
        let mut longest_short: Option<usize> = None;
        for (i, c) in self.entries.iter().enumerate() {
            if !c.base.is_multiple_of(align) {
                continue;
            }
            if c.len >= len {
                // `<=`: of equal lengths the newest (its pages the likeliest still resident).
                if best.is_none_or(|b| c.len <= self.entries[b].len) {
                    best = Some(i);
                }
            } else if longest_short.is_none_or(|b| c.len >= self.entries[b].len) {
                longest_short = Some(i);
            }
        }
        if let Some(i) = best {
            let c = self.entries[i];
            let slack = c.len - len;
            if slack == 0 || (!exact && slack <= l.waste_limit(len)) {
                self.remove(i);
                return Take::Hit {
                    base: c.base,
                    len: c.len,
                    trim: None,
                };
            }
            // Split at the first huge-page boundary past the request (regions: at the request,
            // itself a multiple of 2 MiB), if the tail can stand alone as an aligned range.
            let cut = if exact {
                len
            } else {
                len.next_multiple_of(LARGE_PAGE)
            };
            if cut < c.len && c.len - cut >= LARGE_PAGE {
                // The tail takes the range's place (and age); the head leaves.
                self.entries[i] = Cached {
                    base: c.base + cut,
                    len: c.len - cut,
                    ..c
                };
                self.bytes -= cut;
                GLOBAL.whale_ring_splits.add(1);
                return Take::Hit {
                    base: c.base,
                    len: cut,
                    trim: None,
                };
            }
            self.remove(i);
            GLOBAL.whale_ring_trims.add(1);
            return Take::Hit {
                base: c.base,
                len,
                trim: Some((c.base + len, c.len - len)),
            };
        }
        match longest_short {
            Some(i) if grow => Take::Grow(self.remove(i)),
            _ => Take::Miss,
        }
    }

    /// Removes entry `i`.
    fn remove(&mut self, i: usize) -> Cached {
        let c = self.entries.remove(i);
        self.bytes -= c.len;
        c
    }

    /// Removes the oldest entry into `out` (an eviction).
    fn evict_oldest<const N: usize>(&mut self, out: &mut ArrayVec<(usize, usize), N>) {
        GLOBAL.whale_ring_evictions.add(1);
        let old = self.remove(0);
        out.push((old.base, old.len));
    }

    /// Puts a freed range into the ring, merged with the cached ranges it touches, pushing the
    /// oldest out while the ring is over its count or byte budget. A range larger than the
    /// budget does not enter. Adds what is to be unmapped to `out`.
    pub(super) fn insert(
        &mut self,
        base: usize,
        len: usize,
        now: u64,
        l: &Limits,
        out: &mut Expired,
    ) {
        let budget = self.budget(l);
        if l.capacity == 0 || len > budget {
            out.push((base, len));
            return;
        }
        let (mut base, mut len) = (base, len);
        let mut i = 0;
        while i < self.entries.len() {
            let e = self.entries[i];
            if e.base + e.len == base || base + len == e.base {
                self.remove(i);
                base = base.min(e.base);
                len += e.len;
                GLOBAL.whale_ring_merges.add(1);
            } else {
                i += 1;
            }
        }
        while !self.entries.is_empty()
            && (self.entries.len() >= l.capacity || self.bytes + len > budget)
        {
            if self.bytes + len > budget {
                self.evicted_at = now.max(1);
            }
            self.evict_oldest(out);
        }
        if len > budget {
            self.evicted_at = now.max(1);
            // Merged beyond the budget: the whole range leaves.
            GLOBAL.whale_ring_evictions.add(1);
            out.push((base, len));
            return;
        }
        self.entries.push(Cached {
            base,
            len,
            freed_at: now,
            warm: false,
        });
        self.bytes += len;
        debug_assert!(self.bytes <= budget && self.entries.len() <= l.capacity);
    }

    /// Puts ranges taken out for MADV_FREE ([`Ring::age`]) back, as warm, in their age order,
    /// pushing the oldest out while the ring is over its count or byte budget (into `out`, to
    /// unmap).
    pub(super) fn put_back(&mut self, warmed: &[Cached], l: &Limits, out: &mut Evicted) {
        for &c in warmed {
            let mut at = self
                .entries
                .iter()
                .position(|r| r.freed_at > c.freed_at)
                .unwrap_or(self.entries.len());
            if self.entries.is_full() {
                // Full (of ranges cached meanwhile): the oldest leaves, which may be this one.
                if at == 0 {
                    GLOBAL.whale_ring_evictions.add(1);
                    out.push((c.base, c.len));
                    continue;
                }
                self.evict_oldest(out);
                at -= 1;
            }
            self.entries.insert(at, Cached { warm: true, ..c });
            self.bytes += c.len;
        }
        let budget = self.budget(l);
        while !self.entries.is_empty() && (self.entries.len() > l.capacity || self.bytes > budget) {
            self.evict_oldest(out);
        }
    }

    /// Ages the ring: MADV_FREE after `SACS_HOT_MS`, out of the ring after `SACS_WARM_MS` (or
    /// everything with `force`). Adds the ranges to unmap to `out`, and takes those to release
    /// out of the ring into `warming` (so no one takes one and writes to it while the
    /// MADV_FREE runs). The footprint halves, down to the `live` bytes of whales now, and the
    /// oldest ranges leave while the ring is over the budget that leaves it.
    pub(super) fn age(
        &mut self,
        now: u64,
        force: bool,
        live: usize,
        l: &Limits,
        out: &mut Expired,
        warming: &mut Warming,
    ) {
        let hot = options::get(Opt::HotMs) as u64;
        let warm = options::get(Opt::WarmMs) as u64;
        // A doubled share that has gone its windows without a wasted eviction halves.
        let quiet = warm.saturating_mul(BOOST_WINDOWS);
        if self.boost > 0
            && now.saturating_sub(self.boosted_at) >= quiet
            && now.saturating_sub(self.evicted_at) >= warm
        {
            self.boost -= 1;
            self.boosted_at = now;
            GLOBAL.whale_budget_lowered.add(1);
        }
        self.footprint = (self.footprint / 2).max(live);
        let budget = self.budget(l);
        while self.bytes > budget {
            self.evict_oldest(out);
        }
        while let Some(c) = self.entries.first() {
            if crate::purge::aged(c.freed_at, now, warm, force) {
                let c = self.remove(0);
                GLOBAL.whale_ring_expired.add(1);
                out.push((c.base, c.len));
            } else {
                break;
            }
        }
        // After a pause the hot delay restarts; the warm (unmap) delay above keeps counting.
        let hot_now =
            crate::purge::hot_clock(core::mem::replace(&mut self.looked_at, now), now, hot);
        let mut i = 0;
        while i < self.entries.len() {
            let c = self.entries[i];
            if !c.warm && crate::purge::aged(c.freed_at, hot_now, hot, false) {
                warming.push(self.remove(i));
            } else {
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    /// The defaults' bounds, with a 256 MiB floor.
    const L: Limits = Limits {
        capacity: 16,
        floor: 256 * MIB,
        ceiling: 1024 * MIB,
        percent: 25,
        waste_percent: 25,
    };

    fn entry(base: usize, len: usize, freed_at: u64) -> Cached {
        Cached {
            base,
            len,
            freed_at,
            warm: false,
        }
    }

    fn ring_of(entries: &[Cached]) -> Ring {
        let mut r = Ring::new();
        for &c in entries {
            r.entries.push(c);
            r.bytes += c.len;
        }
        r
    }

    #[test]
    fn warmed_ranges_go_back_in_age_order() {
        let mut r = ring_of(&[
            entry(1 << 30, LARGE_PAGE, 10),
            entry(2 << 30, LARGE_PAGE, 30),
        ]);
        let mut out = Evicted::new();
        r.put_back(&[entry(3 << 30, LARGE_PAGE, 20)], &L, &mut out);
        assert!(out.is_empty());
        let order: std::vec::Vec<u64> = r.entries.iter().map(|c| c.freed_at).collect();
        assert_eq!(order, [10, 20, 30]);
        assert!(r.entries[1].warm && !r.entries[0].warm);
        assert_eq!(r.bytes, 3 * LARGE_PAGE);
    }

    #[test]
    fn best_fit_splits_a_long_range_and_keeps_the_tail_in_its_place() {
        let g = 1usize << 30;
        let mut r = ring_of(&[
            entry(g, 40 * MIB, 1),
            entry(2 * g, 22 * MIB, 2),
            entry(3 * g, 6 * MIB, 3),
        ]);
        // 15 MiB: the 22 MiB range fits best; 7 MiB over is beyond 25 %: split at 16 MiB.
        let t = r.take(15 * MIB, LARGE_PAGE, false, true, &L);
        assert_eq!(
            t,
            Take::Hit {
                base: 2 * g,
                len: 16 * MIB,
                trim: None
            }
        );
        assert_eq!(r.entries[1], entry(2 * g + 16 * MIB, 6 * MIB, 2));
        assert_eq!(r.bytes, 52 * MIB);
        // 5 MiB: two 6 MiB ranges within W_MAX; the newer is taken whole.
        let t = r.take(5 * MIB, LARGE_PAGE, false, true, &L);
        assert_eq!(
            t,
            Take::Hit {
                base: 3 * g,
                len: 6 * MIB,
                trim: None
            }
        );
        // 50 MiB: nothing fits; the longest is taken to grow, or nothing when growing is off.
        assert_eq!(r.take(50 * MIB, LARGE_PAGE, false, false, &L), Take::Miss);
        assert_eq!(
            r.take(50 * MIB, LARGE_PAGE, false, true, &L),
            Take::Grow(entry(g, 40 * MIB, 1))
        );
        assert_eq!(r.bytes, 6 * MIB);
        // Alignment is honoured: a 4 MiB-aligned request skips a range at an odd 2 MiB.
        let mut r = ring_of(&[entry(g + 2 * MIB, 8 * MIB, 1)]);
        assert_eq!(r.take(8 * MIB, 4 * MIB, false, false, &L), Take::Miss);
    }

    #[test]
    fn a_short_tail_is_trimmed_and_regions_are_exact() {
        let g = 1usize << 30;
        let mut r = ring_of(&[entry(g, 5 * MIB, 1)]);
        // 3 MiB + 4 KiB: the tail past 4 MiB is under 2 MiB, and 2 MiB over is beyond W_MAX.
        let len = 3 * MIB + 4096;
        assert_eq!(
            r.take(len, LARGE_PAGE, false, true, &L),
            Take::Hit {
                base: g,
                len,
                trim: Some((g + len, 5 * MIB - len))
            }
        );
        assert_eq!(r.bytes, 0);
        // A region takes exactly its length, even within W_MAX.
        let mut r = ring_of(&[entry(g, 10 * MIB, 1)]);
        assert_eq!(
            r.take(8 * MIB, LARGE_PAGE, true, true, &L),
            Take::Hit {
                base: g,
                len: 8 * MIB,
                trim: None
            }
        );
        assert_eq!(r.entries[0], entry(g + 8 * MIB, 2 * MIB, 1));
    }

    #[test]
    fn freed_ranges_merge_with_their_neighbours() {
        let g = 1usize << 30;
        let mut r = ring_of(&[entry(g, 4 * MIB, 1), entry(g + 10 * MIB, 6 * MIB, 2)]);
        let mut out = Expired::new();
        r.insert(g + 4 * MIB, 6 * MIB, 9, &L, &mut out);
        assert!(out.is_empty());
        assert_eq!(r.entries.as_slice(), [entry(g, 16 * MIB, 9)]);
        assert_eq!(r.bytes, 16 * MIB);
    }

    #[test]
    fn the_oldest_leave_beyond_the_budget_or_the_count() {
        let g = 1usize << 30;
        let small = Limits {
            floor: 32 * MIB,
            capacity: 3,
            ..L
        };
        let mut r = ring_of(&[entry(g, 20 * MIB, 1), entry(2 * g, 8 * MIB, 2)]);
        let mut out = Expired::new();
        r.insert(3 * g, 10 * MIB, 3, &small, &mut out);
        assert_eq!(out.as_slice(), [(g, 20 * MIB)]);
        r.insert(4 * g, 2 * MIB, 4, &small, &mut out);
        r.insert(5 * g, 2 * MIB, 5, &small, &mut out);
        assert_eq!(out.as_slice(), [(g, 20 * MIB), (2 * g, 8 * MIB)]);
        assert_eq!(r.entries.len(), 3);
        // Larger than the budget: unmapped at once.
        r.insert(6 * g, 40 * MIB, 6, &small, &mut out);
        assert_eq!(out.last(), Some(&(6 * g, 40 * MIB)));
        assert_eq!(r.bytes, 14 * MIB);
    }

    #[test]
    fn budget_follows_the_footprint_between_floor_and_ceiling() {
        let mut r = Ring::new();
        assert_eq!(r.budget(&L), 256 * MIB);
        r.note_live(2000 * MIB);
        assert_eq!(r.budget(&L), 500 * MIB);
        r.note_live(8000 * MIB);
        assert_eq!(r.budget(&L), 1024 * MIB);
        // The footprint halves at each look, down to what is live.
        let (mut out, mut warming) = (Expired::new(), Warming::new());
        r.age(0, false, 1000 * MIB, &L, &mut out, &mut warming);
        assert_eq!(r.footprint, 4000 * MIB);
        for _ in 0..3 {
            r.age(0, false, 1000 * MIB, &L, &mut out, &mut warming);
        }
        assert_eq!(r.footprint, 1000 * MIB);
        assert_eq!(r.budget(&L), 256 * MIB);
        // A ring over the budget the decay leaves sheds its oldest ranges at the next look.
        let g = 1usize << 30;
        let mut r = ring_of(&[entry(g, 200 * MIB, 0), entry(2 * g, 100 * MIB, 0)]);
        r.note_live(1200 * MIB);
        r.age(0, false, 0, &L, &mut out, &mut warming);
        assert_eq!(out.as_slice(), [(g, 200 * MIB)]);
        assert_eq!(r.bytes, 100 * MIB);
    }

    #[test]
    fn a_wasted_eviction_doubles_the_budget_share_and_quiet_halves_it() {
        let l = Limits { floor: 0, ..L };
        // `note_fresh` takes its window here (200 ms); `age` reads SACS_WARM_MS's.
        let warm = options::get(Opt::WarmMs) as u64;
        let mut r = Ring::new();
        r.note_live(400 * MIB);
        assert_eq!(r.budget(&l), 100 * MIB, "25 % of the footprint");
        let mut out = Expired::new();
        r.insert(1 << 30, 64 * MIB, 1000, &l, &mut out);
        r.insert(2 << 30, 64 * MIB, 1001, &l, &mut out);
        assert_eq!(
            out.len(),
            1,
            "the second pushes the first out for the budget"
        );
        r.note_fresh(5000, 200, &l);
        assert_eq!(
            r.budget(&l),
            100 * MIB,
            "a map long after the eviction is not a waste"
        );
        r.insert(3 << 30, 64 * MIB, 5100, &l, &mut out);
        r.note_fresh(5150, 200, &l);
        assert_eq!(
            r.budget(&l),
            200 * MIB,
            "mapped 50 ms after an eviction: doubled"
        );
        r.note_fresh(5160, 200, &l);
        assert_eq!(r.budget(&l), 200 * MIB, "at most once per window");
        r.insert(4 << 30, 64 * MIB, 5400, &l, &mut out);
        r.insert(5 << 30, 64 * MIB, 5401, &l, &mut out);
        r.insert(6 << 30, 64 * MIB, 5402, &l, &mut out);
        r.note_fresh(5450, 200, &l);
        assert_eq!(r.budget(&l), 400 * MIB, "up to the whole footprint");
        r.note_fresh(6000, 200, &l);
        assert_eq!(r.share(&l), 100, "never above it");
        // Quiet for BOOST_WINDOWS windows: one halving per look.
        let mut warming = Warming::new();
        let mut gone = Expired::new();
        r.age(
            5450 + warm * BOOST_WINDOWS,
            false,
            400 * MIB,
            &l,
            &mut gone,
            &mut warming,
        );
        assert_eq!(r.share(&l), 50);
    }

    #[test]
    fn a_huge_waste_percent_saturates() {
        let l = Limits {
            waste_percent: 1_000_000_000_000_000,
            ..L
        };
        assert_eq!(l.waste_limit(usize::MAX / 2), usize::MAX);
        let mut r = ring_of(&[entry(1 << 30, 64 * MIB, 1)]);
        assert_eq!(
            r.take(4 * MIB, LARGE_PAGE, false, true, &l),
            Take::Hit {
                base: 1 << 30,
                len: 64 * MIB,
                trim: None
            }
        );
    }
}
