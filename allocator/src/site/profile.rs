//! The heap profile (`SACS_PROFILE=1`): which call sites hold the most memory, which allocate
//! the most, and whose long-lived blocks sit among short-lived ones of their size, from Site
//! Rules' sampled allocations. What jemalloc's `prof` and tcmalloc's heap profiler give their
//! users, for the price of the sampling SACS does anyway.
//!
//! **Input.** [`allocated`] and [`freed`] are called by `site::alloc` and `site::free` after
//! they released the sampling lock, for the samples recorded in its table of live samples (a
//! sample it could not record is not profiled; neither is the free of one). Both return at once
//! unless the profile is on ([`enabled`]).
//!
//! **The table.** One entry per (site, size class), in a fixed table of 1024 slots under its
//! own lock ([`PROFILE`], after the sampling lock in `fork::locks()`), open addressing through
//! `crate::probe` with the *site* alone choosing the home slot, so that a site's entries lie in
//! one probe run and the report can add them up without a map. At most 768 entries: a new
//! key in a full table replaces the entry with the fewest samples among the 16 slots from its
//! home (the busiest keys stay), and the report counts the keys and samples dropped that way.
//! A free of a sample born before its key's entry was made (its entry was evicted meanwhile)
//! is not profiled, and counted as unmatched.
//!
//! Per entry: samples, live samples, samples freed within `SACS_SITES_SHORT_MS` (short-lived)
//! and after it (long-lived), the sum of freed samples' lifetimes, and the live samples by
//! birth in the last five epochs of a quarter of `SACS_SITES_SHORT_MS` each, which says,
//! without a record per block, how many live samples are already older than the short-lived
//! threshold (long-lived): those born before the five epochs, and those of the epochs that
//! ended at least that long ago (`SACS_SITES_SHORT_MS` is read at every call: changed while
//! the program runs, it makes these counts approximate). Bytes are counted as class sizes
//! ([`crate::size_class::class_size`]): what a block takes from its page.
//!
//! **Fragmentation cost.** A long-lived block pins its page for as long as it lives; it costs
//! memory when the other blocks of that page die young, because their memory cannot go back to
//! the system while the page holds a survivor. The blocks around a block on its page are the
//! blocks of its size class allocated about when it was, from any site (its own included), and
//! sampling is uniform over allocations, so the classified samples of the class estimate the
//! chance that a neighbour dies young. A key's cost is therefore
//!
//! ```text
//! frag(site, class) = live bytes of its long-lived samples
//!                     × short(class) / (short(class) + long(class))
//! ```
//!
//! where short(class) and long(class) count the classified samples of the class over all sites
//! (long ones including live samples past the threshold), and a site's cost is the sum over
//! its classes: the bytes of survivors weighted by how much dying surrounds them. A site whose
//! class holds only long-lived blocks costs nothing (its pages fill with survivors), and a
//! mixed site's survivors cost even when no other site shares their class. It is an estimate of
//! exposure, not measured pinned pages (sampled blocks live on sample pages, not beside their
//! real neighbours).
//!
//! **Output** ([`report`]): [`write_report`] fills a caller's buffer (never allocating): a
//! header with the sites, samples and drops, then three ranked tables of [`TOP`] sites each.
//! Counts are sampled counts; byte columns are sampled bytes times `site::sample_scale()`,
//! labelled as estimates. Sites are named after the lock is released, with `dladdr`, as module +
//! offset and the exported symbol that contains them.

mod report;

pub use report::{print, write_report};

use crate::lock::Lock;
use crate::options::{self, Opt};
use crate::probe;
use crate::size_class::{class_size, CLASSES};

/// Slots of the profile table (a power of two).
const SLOTS: usize = 1024;
/// Most keys in the table (3/4 of the slots, so that probe runs stay short).
const MAX_KEYS: usize = SLOTS / 4 * 3;
/// A new key in a full table evicts the least-sampled key among this many slots from its home.
const EVICT_WINDOW: usize = 16;
/// Rows of each ranked table.
pub const TOP: usize = 10;
/// Live samples are counted by birth in this many epochs ...
const EPOCHS: usize = 5;
/// ... of `SACS_SITES_SHORT_MS / EPOCH_PARTS` (rounded up) each.
const EPOCH_PARTS: u64 = 4;
/// A site is short- or long-lived when at least this share (percent) of its classified samples
/// are; otherwise it is mixed.
const MOSTLY_PERCENT: u64 = 90;

/// The profile of one (site, size class).
#[derive(Clone, Copy)]
struct Entry {
    site: usize,
    class: u8,
    /// Sampled allocations; 0: an empty slot.
    samples: u64,
    /// Samples not freed yet.
    live: u64,
    /// Samples freed within `SACS_SITES_SHORT_MS` of their birth, and after it.
    short: u64,
    long_freed: u64,
    /// Sum of the lifetimes of freed samples, in ms.
    life_ms: u64,
    /// When the entry was made: frees of samples born before are another entry's.
    since_ms: u64,
    /// The newest epoch `young` counts ...
    epoch: u64,
    /// ... and the live samples born in it and the four before (index: epoch % EPOCHS).
    young: [u32; EPOCHS],
}

const EMPTY: Entry = Entry {
    site: 0,
    class: 0,
    samples: 0,
    live: 0,
    short: 0,
    long_freed: 0,
    life_ms: 0,
    since_ms: 0,
    epoch: 0,
    young: [0; EPOCHS],
};

/// Length of an epoch in ms: a quarter of the short-lived threshold, so that every sample born
/// before the five newest epochs is older than the threshold.
fn granule(short_ms: u64) -> u64 {
    short_ms.div_ceil(EPOCH_PARTS).max(1)
}

fn home(site: usize) -> usize {
    ((site as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOTS.trailing_zeros())) as usize
}

impl Entry {
    /// Moves the epoch window forward to `to`, forgetting the counts of epochs that leave it.
    fn advance(&mut self, to: u64) {
        if to <= self.epoch {
            return;
        }
        let steps = (to - self.epoch).min(EPOCHS as u64);
        for k in 1..=steps {
            self.young[((self.epoch + k) % EPOCHS as u64) as usize] = 0;
        }
        self.epoch = to;
    }

    /// Live samples surely older than `short_ms` at `now`: all but those born in an epoch of
    /// the window whose end is less than `short_ms` ago.
    fn live_long(&self, now: u64, short_ms: u64) -> u64 {
        let g = granule(short_ms);
        let mut young = 0u64;
        for k in 0..EPOCHS as u64 {
            let Some(b) = self.epoch.checked_sub(k) else {
                break;
            };
            // The youngest sample of epoch b was born at (b + 1) * g - 1.
            let youngest_age = now.saturating_sub((b + 1).saturating_mul(g) - 1);
            if youngest_age < short_ms {
                young += u64::from(self.young[(b % EPOCHS as u64) as usize]);
            }
        }
        self.live.saturating_sub(young)
    }
}

/// The profile table and its totals, under [`PROFILE`].
struct Profile {
    slots: [Entry; SLOTS],
    keys: usize,
    /// Every sample recorded, including those of evicted keys.
    samples: u64,
    /// Keys evicted to make room, and the samples they had.
    evicted_keys: u64,
    evicted_samples: u64,
    /// Frees of samples that no entry holds (evicted meanwhile).
    unmatched_frees: u64,
}

static PROFILE: Lock<Profile> = Lock::new(Profile::new());

/// A site's line in the report: its keys added up.
#[derive(Clone, Copy, Default)]
struct Row {
    site: usize,
    keys: u32,
    /// Class size of its most sampled key.
    size: usize,
    samples: u64,
    /// Sampled bytes (class sizes), live and allocated.
    live_bytes: u64,
    bytes: u64,
    live: u64,
    /// Classified samples: freed short-lived, and long-lived (freed late or live and old).
    short: u64,
    long: u64,
    freed: u64,
    life_ms: u64,
    /// Fragmentation cost, in sampled bytes.
    frag: u64,
}

impl Row {
    fn lifetime(&self) -> &'static str {
        let n = self.short + self.long;
        if n == 0 {
            "-"
        } else if self.short * 100 >= n * MOSTLY_PERCENT {
            "short"
        } else if self.long * 100 >= n * MOSTLY_PERCENT {
            "long"
        } else {
            "mixed"
        }
    }
}

/// The best [`TOP`] rows by one measure, best first.
#[derive(Clone, Copy)]
struct Top {
    rows: [Row; TOP],
    len: usize,
    measure: fn(&Row) -> u64,
}

impl Top {
    fn new(measure: fn(&Row) -> u64) -> Self {
        Self {
            rows: [Row::default(); TOP],
            len: 0,
            measure,
        }
    }

    /// Whether `a` ranks before `b`: more of the measure, then more samples, then the lower
    /// address (so that the order does not depend on the table's).
    fn before(&self, a: &Row, b: &Row) -> bool {
        let (ma, mb) = ((self.measure)(a), (self.measure)(b));
        (ma, a.samples, usize::MAX - a.site) > (mb, b.samples, usize::MAX - b.site)
    }

    /// Takes `row` in if it ranks among the best (rows with none of the measure never do).
    #[inline(never)]
    #[link_section = ".sacs_rare"]
    fn offer(&mut self, row: Row) {
        if (self.measure)(&row) == 0 {
            return;
        }
        let mut i = self.len;
        if i == TOP {
            if !self.before(&row, &self.rows[TOP - 1]) {
                return;
            }
            i = TOP - 1;
        } else {
            self.len += 1;
        }
        while i > 0 && self.before(&row, &self.rows[i - 1]) {
            self.rows[i] = self.rows[i - 1];
            i -= 1;
        }
        self.rows[i] = row;
    }

    fn rows(&self) -> &[Row] {
        &self.rows[..self.len]
    }
}

/// What the report shows, copied out under the lock.
struct Snapshot {
    sites: u64,
    keys: u64,
    samples: u64,
    evicted_keys: u64,
    evicted_samples: u64,
    unmatched_frees: u64,
    by_live: Top,
    by_alloc: Top,
    by_frag: Top,
}

impl Profile {
    const fn new() -> Self {
        Self {
            slots: [EMPTY; SLOTS],
            keys: 0,
            samples: 0,
            evicted_keys: 0,
            evicted_samples: 0,
            unmatched_frees: 0,
        }
    }

    fn find(&self, site: usize, class: u8) -> Option<usize> {
        probe::find(
            &self.slots,
            home(site),
            |e| e.site == site && e.class == class,
            |e| e.samples == 0,
        )
    }

    /// Removes slot `i`, shifting later entries of its probe run back.
    fn remove(&mut self, i: usize) {
        probe::remove(&mut self.slots, i, EMPTY, |e| {
            (e.samples != 0).then(|| home(e.site))
        });
        self.keys -= 1;
    }

    /// Makes room for a key whose home is `from`: evicts the key with the fewest samples (of
    /// equals, one with no live samples) among the first [`EVICT_WINDOW`] slots from `from`, or
    /// the first key after them if they are all empty.
    fn evict_near(&mut self, from: usize) {
        let mut victim: Option<usize> = None;
        for k in 0..SLOTS {
            if k >= EVICT_WINDOW && victim.is_some() {
                break;
            }
            let i = (from + k) & (SLOTS - 1);
            let e = &self.slots[i];
            if e.samples == 0 {
                continue;
            }
            let fewer = |v: &Entry| (e.samples, e.live) < (v.samples, v.live);
            if victim.is_none_or(|v| fewer(&self.slots[v])) {
                victim = Some(i);
            }
        }
        if let Some(i) = victim {
            self.evicted_keys += 1;
            self.evicted_samples += self.slots[i].samples;
            self.remove(i);
        }
    }

    /// A sample of (site, class) born at `now`.
    fn allocated(&mut self, site: usize, class: u8, now: u64, short_ms: u64) {
        let epoch = now / granule(short_ms);
        let i = match self.find(site, class) {
            Some(i) => i,
            None => {
                if self.keys >= MAX_KEYS {
                    self.evict_near(home(site));
                }
                let i = probe::vacant(&self.slots, home(site), |e| e.samples == 0);
                self.slots[i] = Entry {
                    site,
                    class,
                    since_ms: now,
                    epoch,
                    ..EMPTY
                };
                self.keys += 1;
                i
            }
        };
        self.samples += 1;
        let e = &mut self.slots[i];
        // Another thread's sample of the same key, taken a moment earlier, may arrive after
        // this entry was made: it belongs to the entry all the same.
        e.since_ms = e.since_ms.min(now);
        e.advance(epoch);
        if epoch + EPOCHS as u64 > e.epoch {
            let young = &mut e.young[(epoch % EPOCHS as u64) as usize];
            *young = young.saturating_add(1);
        }
        e.samples += 1;
        e.live += 1;
    }

    /// The free, at `now`, of a sample of (site, class) that lived `life_ms`.
    fn freed(&mut self, site: usize, class: u8, life_ms: u64, now: u64, short_ms: u64) {
        let born = now.saturating_sub(life_ms);
        let Some(i) = self
            .find(site, class)
            .filter(|&i| self.slots[i].since_ms <= born && self.slots[i].live > 0)
        else {
            self.unmatched_frees += 1;
            return;
        };
        let e = &mut self.slots[i];
        e.live -= 1;
        e.life_ms = e.life_ms.saturating_add(life_ms);
        if life_ms < short_ms {
            e.short += 1;
        } else {
            e.long_freed += 1;
        }
        let b = born / granule(short_ms);
        if b <= e.epoch && b + EPOCHS as u64 > e.epoch {
            let young = &mut e.young[(b % EPOCHS as u64) as usize];
            *young = young.saturating_sub(1);
        }
    }

    /// Adds up each site's keys at `now` and ranks the sites.
    fn snapshot(&self, now: u64, short_ms: u64) -> Snapshot {
        // The lifetime mix of each size class, over all sites.
        let mut class_short = [0u64; CLASSES];
        let mut class_long = [0u64; CLASSES];
        for e in self.slots.iter().filter(|e| e.samples != 0) {
            class_short[e.class as usize] += e.short;
            class_long[e.class as usize] += e.long_freed + e.live_long(now, short_ms);
        }
        let mut snap = Snapshot {
            sites: 0,
            keys: self.keys as u64,
            samples: self.samples,
            evicted_keys: self.evicted_keys,
            evicted_samples: self.evicted_samples,
            unmatched_frees: self.unmatched_frees,
            by_live: Top::new(|r| r.live_bytes),
            by_alloc: Top::new(|r| r.bytes),
            by_frag: Top::new(|r| r.frag),
        };
        for (i, e) in self.slots.iter().enumerate() {
            // A site is added up once, from its first entry in probe order from its home.
            let first = |x: &Entry| x.site == e.site;
            if e.samples == 0
                || probe::find(&self.slots, home(e.site), first, |x| x.samples == 0) != Some(i)
            {
                continue;
            }
            let mut row = Row {
                site: e.site,
                ..Row::default()
            };
            let mut most = 0;
            let mut j = i;
            while self.slots[j].samples != 0 {
                let k = &self.slots[j];
                j = (j + 1) & (SLOTS - 1);
                if k.site != e.site {
                    continue;
                }
                let size = class_size(k.class as usize) as u64;
                let long_live = k.live_long(now, short_ms);
                row.keys += 1;
                row.samples += k.samples;
                row.bytes += k.samples * size;
                row.live += k.live;
                row.live_bytes += k.live * size;
                row.short += k.short;
                row.long += k.long_freed + long_live;
                row.freed += k.short + k.long_freed;
                row.life_ms = row.life_ms.saturating_add(k.life_ms);
                let (short, long) = (class_short[k.class as usize], class_long[k.class as usize]);
                if short > 0 {
                    let cost =
                        u128::from(long_live * size) * u128::from(short) / u128::from(short + long);
                    row.frag += cost as u64;
                }
                if k.samples > most {
                    most = k.samples;
                    row.size = size as usize;
                }
            }
            snap.sites += 1;
            snap.by_live.offer(row);
            snap.by_alloc.offer(row);
            snap.by_frag.offer(row);
        }
        snap
    }
}

/// Whether the heap profile is on (`SACS_PROFILE`).
#[inline]
pub fn enabled() -> bool {
    options::get(Opt::Profile) != 0
}

/// Records a sample of small class `class` taken at `now` from `site` (`site::alloc`, after
/// it released its lock; only samples it recorded as live).
pub fn allocated(site: usize, class: usize, now: u64) {
    if !enabled() || class >= CLASSES {
        return;
    }
    let short_ms = options::get(Opt::SitesShortMs) as u64;
    PROFILE.lock().allocated(site, class as u8, now, short_ms);
}

/// Records the free, at `now`, of a sample of `class` from `site` that lived `lifetime_ms`
/// (`site::free`, after it released its lock).
pub fn freed(site: usize, class: usize, lifetime_ms: u64, now: u64) {
    if !enabled() || class >= CLASSES {
        return;
    }
    let short_ms = options::get(Opt::SitesShortMs) as u64;
    PROFILE
        .lock()
        .freed(site, class as u8, lifetime_ms, now, short_ms);
}

/// The profile's lock, for the fork handlers.
pub(crate) fn lock_for_fork() -> &'static Lock<impl Sized> {
    &PROFILE
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::boxed::Box;
    use std::vec::Vec;

    const SHORT: u64 = 100;

    fn profile() -> Box<Profile> {
        // On the heap: the table is 96 KiB.
        Box::new(Profile::new())
    }

    fn sites(top: &Top) -> Vec<usize> {
        top.rows().iter().map(|r| r.site).collect()
    }

    /// `n` samples of (site, class) at `now`.
    fn alloc_n(p: &mut Profile, site: usize, class: u8, n: usize, now: u64) {
        for _ in 0..n {
            p.allocated(site, class, now, SHORT);
        }
    }

    #[test]
    fn sites_are_ranked_by_live_allocated_and_fragmenting_bytes() {
        let mut p = profile();
        // 0x1000: 10 live blocks of class 7 (64 B) and 5 of class 3 (32 B): one site, two keys.
        alloc_n(&mut p, 0x1000, 7, 10, 1000);
        alloc_n(&mut p, 0x1000, 3, 5, 1000);
        // 0x2000: 100 blocks of 64 B, all freed at once: allocated most, holds nothing.
        for _ in 0..100 {
            p.allocated(0x2000, 7, 1000, SHORT);
            p.freed(0x2000, 7, 0, 1000, SHORT);
        }
        // 0x3000: 2 live blocks of 1 KiB (class 39), alone in their class.
        alloc_n(&mut p, 0x3000, 39, 2, 1000);
        let snap = p.snapshot(1000 + 2 * SHORT, SHORT);
        assert_eq!(snap.sites, 3);
        assert_eq!(snap.keys, 4);
        assert_eq!(snap.samples, 117);
        assert_eq!(sites(&snap.by_live), [0x3000, 0x1000], "2 KiB, then 800 B");
        assert_eq!(sites(&snap.by_alloc), [0x2000, 0x3000, 0x1000]);
        let r = snap.by_live.rows()[1];
        assert_eq!((r.keys, r.size, r.live, r.live_bytes), (2, 64, 15, 800));
        assert_eq!((r.short, r.long, r.lifetime()), (0, 15, "long"));
        assert_eq!(snap.by_alloc.rows()[0].lifetime(), "short");
        // Only 0x1000's 64 B survivors sit among short-lived blocks (0x2000's): 640 B live
        // long-lived, in a class whose samples are 100 short and 10 long.
        assert_eq!(sites(&snap.by_frag), [0x1000]);
        assert_eq!(snap.by_frag.rows()[0].frag, 640 * 100 / 110);
    }

    #[test]
    fn frees_keep_live_accounting_and_lifetimes() {
        let mut p = profile();
        alloc_n(&mut p, 0x1000, 7, 4, 1000);
        p.freed(0x1000, 7, 30, 1030, SHORT); // short
        p.freed(0x1000, 7, 250, 1250, SHORT); // long
        let i = p.find(0x1000, 7).unwrap();
        let e = p.slots[i];
        assert_eq!(
            (e.samples, e.live, e.short, e.long_freed, e.life_ms),
            (4, 2, 1, 1, 280)
        );
        // The two live samples are long-lived once the threshold has passed, not before.
        assert_eq!(e.live_long(1050, SHORT), 0);
        assert_eq!(e.live_long(1000 + SHORT + granule(SHORT), SHORT), 2);
        let snap = p.snapshot(1300, SHORT);
        let r = snap.by_live.rows()[0];
        assert_eq!(
            (r.live, r.live_bytes, r.short, r.long, r.freed),
            (2, 128, 1, 3, 2)
        );
        assert_eq!(r.lifetime(), "mixed");
        // A free of a sample that the profile never saw changes nothing but a counter.
        p.freed(0x9000, 7, 1, 1300, SHORT);
        assert_eq!(p.unmatched_frees, 1);
        p.freed(0x1000, 7, 1, 1301, SHORT);
        p.freed(0x1000, 7, 1, 1302, SHORT);
        p.freed(0x1000, 7, 1, 1303, SHORT);
        assert_eq!(p.slots[p.find(0x1000, 7).unwrap()].live, 0);
        assert_eq!(p.unmatched_frees, 2, "more frees than live samples");
    }

    #[test]
    fn young_samples_in_older_epochs_age_into_long_lived() {
        let mut p = profile();
        let g = granule(SHORT);
        // One sample per epoch over ten epochs; the oldest leave the window of five.
        for k in 0..10 {
            p.allocated(0x1000, 1, 5000 + k * g, SHORT);
        }
        let e = p.slots[p.find(0x1000, 1).unwrap()];
        let now = 5000 + 9 * g;
        // Born at least SHORT ago: epochs 0..=5 of ten (5 left the window, 1 ended long ago).
        let long = e.live_long(now, SHORT);
        assert!((5..=6).contains(&long), "{long}");
        // A free of a sample born before the window does not touch the young counts.
        p.freed(0x1000, 1, 9 * g, now, SHORT);
        let e = p.slots[p.find(0x1000, 1).unwrap()];
        assert_eq!(e.live, 9);
        assert_eq!(e.young.iter().map(|&y| y as u64).sum::<u64>(), 5);
    }

    #[test]
    fn a_full_table_keeps_its_busiest_keys() {
        let mut p = profile();
        let busy: Vec<usize> = (1..=68).map(|i| i * 0x10_0000).collect();
        for &s in &busy {
            alloc_n(&mut p, s, 0, 100, 1000);
        }
        for i in 0..(MAX_KEYS - busy.len()) {
            p.allocated(0x7000_0000 + i * 16, 0, 1000, SHORT);
        }
        assert_eq!(p.keys, MAX_KEYS);
        assert_eq!(p.evicted_keys, 0);
        for i in 0..300 {
            let newcomer = 0x9000_0000 + i * 16;
            p.allocated(newcomer, 0, 2000, SHORT);
            assert!(p.find(newcomer, 0).is_some(), "the newcomer is in");
        }
        assert_eq!(p.keys, MAX_KEYS, "the table stays at its bound");
        assert_eq!(p.evicted_keys, 300);
        assert_eq!(p.evicted_samples, 300, "only keys of one sample went");
        for &s in &busy {
            assert!(p.find(s, 0).is_some(), "busy site {s:#x} was evicted");
        }
        let kept: u64 = p.slots.iter().map(|e| e.samples).sum();
        assert_eq!(kept + p.evicted_samples, p.samples);
        // A free of a sample born before its key's entry (evicted and made again) is not its.
        let gone = (0..(MAX_KEYS - busy.len()))
            .map(|i| 0x7000_0000 + i * 16)
            .find(|&s| p.find(s, 0).is_none())
            .unwrap();
        p.allocated(gone, 0, 3000, SHORT);
        p.freed(gone, 0, 2000, 3000, SHORT); // born at 1000, under the old entry
        assert_eq!(p.slots[p.find(gone, 0).unwrap()].live, 1);
        assert_eq!(p.unmatched_frees, 1);
    }

    #[test]
    fn the_top_list_keeps_the_best_in_order() {
        let mut top = Top::new(|r| r.bytes);
        for (i, bytes) in [5u64, 0, 50, 7, 3, 9, 1, 2, 8, 6, 4, 11, 10, 12]
            .iter()
            .enumerate()
        {
            top.offer(Row {
                site: i,
                bytes: *bytes,
                ..Row::default()
            });
        }
        let got: Vec<u64> = top.rows().iter().map(|r| r.bytes).collect();
        assert_eq!(got, [50, 12, 11, 10, 9, 8, 7, 6, 5, 4]);
    }
}
