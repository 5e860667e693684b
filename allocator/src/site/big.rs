//! Site Rules for big blocks (32 KiB – 2 MiB): how long each call site's freed blocks wait
//! before the site asks again, and the cache policy that follows from it.
//!
//! The big tier keeps a freed block committed for `SACS_HOT_MS`, then releases it lazily
//! (`MADV_FREE`, warm), then decommits it after `SACS_WARM_MS` (cold). That suits a site whose
//! blocks come back within those delays and wastes memory on one that asks again only later:
//! its blocks stay resident for the whole warm period and are decommitted anyway before the
//! site reuses them. So, for every big allocation made through a Site Rules entry, the site's
//! *reuse gap* is measured: the time from the site's last free to its next allocation. The
//! first allocation after a free measures it and the others of a burst do not, so a site that
//! frees eight buffers at once and asks for eight more 300 ms later has a gap of 300 ms. The
//! gap is averaged (EWMA, weight 1/4) per site in a table of [`SLOTS`] entries (direct-mapped
//! by the site's hash, a newcomer takes the slot over). Once a site has [`LEARN_GAPS`] gaps:
//!
//! - gap above `SACS_WARM_MS`: **one-shot**. Its blocks carry `ONE_SHOT`, and their free
//!   decommits them at once instead of caching them: the site would not have reused them
//!   before they went cold.
//! - gap up to `SACS_WARM_MS`: **kept**. Its blocks carry `KEEP`: cached, they skip the warm
//!   step (whose `MADV_FREE` the reuse would undo) and stay committed until they go cold.
//! - too few gaps yet: the default policy.
//!
//! Each measured gap also checks the policy the site had before it: a gap above the warm delay
//! should have followed a one-shot policy, and a shorter one a kept one. Those checks are the
//! accuracy the statistics report, in `observe` mode as in `on`; only `on` flags the blocks.
//!
//! All of this is atomics, read and written relaxed: two threads allocating from one site at
//! once may lose one gap or mix two, which costs a measurement, never a wrong block. It runs
//! on big allocations and frees of Site Rules entries only (`c_api::malloc_at_sites` and its
//! siblings) and adds a clock reading to each; with Site Rules off no block carries `SITED`
//! and nothing here runs.

use core::sync::atomic::Ordering::Relaxed;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize};

use crate::options::{self, Opt};
use crate::page::{Page, PageKind, KEEP, ONE_SHOT, SITED, SITE_FLAGS};
use crate::segment::Segment;
use crate::segment_map;
use crate::stats::GLOBAL;

/// Entries of the site table (a power of two).
pub const SLOTS: usize = 256;
/// Gaps a site needs before its policy changes from the default.
pub const LEARN_GAPS: u32 = 4;

/// What the table knows of one site.
struct Entry {
    /// The call site; 0: an empty entry.
    site: AtomicUsize,
    /// When the site last freed a block (ms), not yet followed by an allocation; 0: none.
    last_free: AtomicU64,
    /// Mean reuse gap (ms, EWMA), saturated at `u32::MAX`.
    gap: AtomicU32,
    /// Gaps measured (saturating).
    gaps: AtomicU32,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Entry = Entry {
    site: AtomicUsize::new(0),
    last_free: AtomicU64::new(0),
    gap: AtomicU32::new(0),
    gaps: AtomicU32::new(0),
};

static TABLE: [Entry; SLOTS] = [EMPTY; SLOTS];

/// A site's cache policy for its big blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Not enough gaps measured: the tier's own Hot / Warm / Cold policy.
    Default,
    /// Decommitted at free.
    OneShot,
    /// Cached without the warm step.
    Keep,
}

impl Policy {
    /// The policy for a mean reuse gap of `gap` ms after `gaps` measurements.
    pub fn of(gap: u32, gaps: u32, warm_ms: u64) -> Self {
        if gaps < LEARN_GAPS {
            Policy::Default
        } else if gap as u64 > warm_ms {
            Policy::OneShot
        } else {
            Policy::Keep
        }
    }

    /// The page flags of a block allocated under this policy (with [`SITED`]).
    fn flags(self) -> u8 {
        SITED
            | match self {
                Policy::Default => 0,
                Policy::OneShot => ONE_SHOT,
                Policy::Keep => KEEP,
            }
    }
}

fn slot_of(site: usize) -> &'static Entry {
    let i = ((site as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - 8)) as usize;
    &TABLE[i & (SLOTS - 1)]
}

/// The next mean after a gap of `gap` ms (the first gap is taken as it is).
pub fn ewma(mean: u32, gaps: u32, gap: u64) -> u32 {
    let gap = gap.min(u32::MAX as u64);
    if gaps == 0 {
        gap as u32
    } else {
        ((3 * mean as u64 + gap) / 4) as u32
    }
}

/// Learns from a big allocation of `site` at `now` (ms) and returns the site's policy.
pub fn learn(site: usize, now: u64) -> Policy {
    let e = slot_of(site);
    let warm = options::get(Opt::WarmMs) as u64;
    if e.site.load(Relaxed) != site {
        // A new site (or one whose entry another took): start over.
        e.site.store(site, Relaxed);
        e.last_free.store(0, Relaxed);
        e.gap.store(0, Relaxed);
        e.gaps.store(0, Relaxed);
        return Policy::Default;
    }
    let freed = e.last_free.swap(0, Relaxed);
    let (mut gap, mut gaps) = (e.gap.load(Relaxed), e.gaps.load(Relaxed));
    if freed != 0 {
        let measured = now.saturating_sub(freed);
        // The policy in force until now, judged by what the site just did.
        match Policy::of(gap, gaps, warm) {
            Policy::Default => {}
            Policy::OneShot if measured > warm => GLOBAL.site_big_right.add(1),
            Policy::Keep if measured <= warm => GLOBAL.site_big_right.add(1),
            _ => GLOBAL.site_big_wrong.add(1),
        }
        gap = ewma(gap, gaps, measured);
        gaps = gaps.saturating_add(1);
        e.gap.store(gap, Relaxed);
        e.gaps.store(gaps, Relaxed);
    }
    Policy::of(gap, gaps, warm)
}

/// After a `malloc` through a Site Rules entry returned `p`: if `p` is a big block, learns
/// from it and marks it with its site and (when `act`, i.e. `SACS_SITES=on`) its policy.
/// Whales and small blocks are left alone.
#[inline(never)]
#[link_section = ".sacs_rare"]
pub fn allocated(p: *mut u8, site: usize, now: u64, act: bool) {
    if !segment_map::contains(p as usize) {
        return;
    }
    // SAFETY: `p` lies in a live segment, so its page entry is valid; `p` was just handed to
    // this thread, so a big block's entry is written by no one else until its free.
    unsafe {
        let page = &mut *Segment::page_of(p);
        if page.kind != PageKind::Big as u8 || page.start != p {
            return;
        }
        let policy = learn(site, now);
        GLOBAL.site_big_allocs.add(1);
        let flags = if act { policy.flags() } else { SITED };
        if flags & KEEP != 0 {
            GLOBAL.site_big_kept.add(1);
        }
        page.site = site;
        page.flags = (page.flags & !SITE_FLAGS) | flags;
    }
}

/// A block carrying [`SITED`] is being freed at `now` (ms): records the free for its site.
/// Returns whether the block is to be decommitted at once ([`ONE_SHOT`]).
///
/// # Safety
/// - `page` is the page entry of a live big block being freed by the calling thread.
pub unsafe fn freed(page: *mut Page, now: u64) -> bool {
    // SAFETY: per the contract.
    let (site, flags) = unsafe { ((*page).site, (*page).flags) };
    debug_assert!(flags & SITED != 0);
    let e = slot_of(site);
    if e.site.load(Relaxed) == site {
        e.last_free.store(now.max(1), Relaxed);
    }
    flags & ONE_SHOT != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_follows_the_mean_gap_once_learned() {
        let warm = 200;
        assert_eq!(Policy::of(5_000, LEARN_GAPS - 1, warm), Policy::Default);
        assert_eq!(Policy::of(5_000, LEARN_GAPS, warm), Policy::OneShot);
        assert_eq!(Policy::of(201, LEARN_GAPS, warm), Policy::OneShot);
        assert_eq!(Policy::of(200, LEARN_GAPS, warm), Policy::Keep);
        assert_eq!(Policy::of(0, LEARN_GAPS, warm), Policy::Keep);
    }

    #[test]
    fn the_mean_starts_at_the_first_gap_and_moves_a_quarter_of_the_way() {
        assert_eq!(ewma(0, 0, 300), 300);
        assert_eq!(ewma(300, 1, 100), 250);
        assert_eq!(ewma(0, 7, u64::MAX), u32::MAX / 4);
    }

    #[test]
    fn a_site_that_asks_again_late_becomes_one_shot_and_a_busy_one_kept() {
        let late = 0x7777_0000_0101;
        let busy = 0x7777_0000_0202;
        assert!(
            !core::ptr::eq(slot_of(late), slot_of(busy)),
            "the two sites must not share an entry"
        );
        let warm = options::get(Opt::WarmMs) as u64;
        let mut now = 1_000_000;
        assert_eq!(learn(late, now), Policy::Default, "a new site");
        assert_eq!(learn(busy, now), Policy::Default);
        for _ in 0..LEARN_GAPS {
            // Each round: both sites free, `busy` asks again 1 ms later, `late` much later.
            slot_of(late).last_free.store(now, Relaxed);
            slot_of(busy).last_free.store(now, Relaxed);
            learn(busy, now + 1);
            // A second allocation in the burst measures no gap.
            learn(busy, now + 2);
            now += 3 * warm;
            learn(late, now);
        }
        assert_eq!(learn(late, now), Policy::OneShot);
        assert_eq!(learn(busy, now), Policy::Keep);
        assert_eq!(slot_of(busy).gaps.load(Relaxed), LEARN_GAPS);
        // Another site taking `late`'s entry starts over.
        let mut other = late + 16;
        while !core::ptr::eq(slot_of(other), slot_of(late)) {
            other += 16;
        }
        assert_eq!(learn(other, now), Policy::Default);
        assert_eq!(learn(late, now), Policy::Default, "`late` was evicted");
    }
}
