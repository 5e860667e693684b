//! Site Rules, observe mode: which call sites allocate short-lived blocks and which long-lived
//! ones, learned from sampled allocations, and how well that knowledge predicts.
//!
//! With `SACS_SITES=observe` the preload library's `malloc` enters through
//! `c_api::malloc_at_sites` (chosen once at load), which counts down the bytes a thread
//! `malloc`s (one decrement and one branch on the HOT path) and, once per
//! `SACS_SITES_SAMPLE_EVERY`, serves that allocation from a *sample page* instead ([`alloc`]).
//! Sample pages belong to no heap, so a free of a sampled block misses the HOT free's owner test
//! and comes here ([`free`]); unsampled blocks pay nothing on free.
//!
//! Each sampled block is recorded with its site, class and birth time in a table of live
//! samples. It is classified *short-lived* when freed within `SACS_SITES_SHORT_MS`, *long-lived*
//! when still live after it (found by a few steps of a round-robin scan on every sample). The
//! classification updates the site's entry in the rule table ([`Rules`]): 2048 entries in
//! buckets of 4, keyed by (site, size class). An entry whose recent samples agree (at least 8,
//! 90 % one class) adopts a rule; one whose samples stop agreeing (below 75 %) drops it; a full
//! bucket gives way to the new site by evicting its entry with the fewest recent samples, so the
//! table keeps the busiest sites. A sample born while its site had a rule is a prediction, and
//! its classification says whether the prediction was right: that is the accuracy the
//! statistics report. Placing blocks by their predicted class is the next step (not built).
//!
//! Everything here runs under one spin lock on sampled allocations and frees only, with no
//! system call under it: a segment for sample pages is mapped with the lock released.
//!
//! [`profile`] is the heap profile (`SACS_PROFILE`), fed by [`alloc`] and [`free`] after they
//! release the lock.

pub mod profile;

use core::ptr;
use core::sync::atomic::Ordering::Relaxed;

use crate::lock::Lock;
use crate::options::{self, Opt};
use crate::page::{Block, Page, PageKind, PageList};
use crate::probe;
use crate::segment::{self, SegmentKind, SegmentList, SLICE};
use crate::size_class::SMALL_CLASSES;
use crate::small::{is_tiny, MID_PAGE_SLICES, TINY_PAGE_SLICES};
use crate::stats::{Tier, GLOBAL};

/// The owner word of sample pages and their segments: never a heap's address (heaps are
/// aligned), so no heap takes them for its own.
const SAMPLE_OWNER: usize = 1;
/// Slots of the live-sample table (a power of two).
const LIVE_SLOTS: usize = 4096;
/// Live samples looked at for crossing the short-lived threshold, per sampled allocation.
const SCAN_STEPS: usize = 8;
/// Rule-table geometry: 512 buckets of 4 entries.
const BUCKETS: usize = 512;
const WAYS: usize = 4;
/// A rule is adopted after this many recent samples ...
const ADOPT_SAMPLES: u32 = 8;
/// ... of which at least this share (in percent) agree; it is dropped below `DROP_PERCENT`.
const ADOPT_PERCENT: u32 = 90;
const DROP_PERCENT: u32 = 75;
/// Recent samples are halved once an entry has this many: the rule follows the site's present.
const DECAY_AT: u32 = 64;

/// A lifetime class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Lifetime {
    Short = 1,
    Long = 2,
}

/// One live sampled block.
#[derive(Clone, Copy)]
struct Sample {
    /// The block's address; 0: an empty slot.
    addr: usize,
    site: usize,
    class: u8,
    /// The rule's class at birth, if the site had one.
    predicted: Option<Lifetime>,
    /// Already classified long-lived by the scan (its free classifies nothing more).
    classified: bool,
    born_ms: u64,
}

const NO_SAMPLE: Sample = Sample {
    addr: 0,
    site: 0,
    class: 0,
    predicted: None,
    classified: false,
    born_ms: 0,
};

/// One entry of the rule table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Entry {
    /// The call site; 0: an empty entry.
    site: usize,
    class: u8,
    /// Recent samples of each class (halved now and then).
    short: u32,
    long: u32,
    rule: Option<Lifetime>,
}

/// The rule table: (site, class) → lifetime class, for the busiest sites.
pub struct Rules {
    entries: [[Entry; WAYS]; BUCKETS],
}

const EMPTY_ENTRY: Entry = Entry {
    site: 0,
    class: 0,
    short: 0,
    long: 0,
    rule: None,
};

impl Rules {
    const fn new() -> Self {
        Self {
            entries: [[EMPTY_ENTRY; WAYS]; BUCKETS],
        }
    }

    fn bucket(site: usize, class: u8) -> usize {
        let key = (site as u64) ^ ((class as u64) << 56);
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - 9)) as usize
    }

    /// The rule of (site, class), if one is adopted.
    pub fn predict(&self, site: usize, class: u8) -> Option<Lifetime> {
        self.entries[Self::bucket(site, class)]
            .iter()
            .find(|e| e.site == site && e.class == class)
            .and_then(|e| e.rule)
    }

    /// Folds one classified sample of (site, class) into its entry, adopting, keeping or
    /// dropping the rule; makes room by evicting the entry with the fewest recent samples.
    pub fn learn(&mut self, site: usize, class: u8, lifetime: Lifetime) {
        let bucket = &mut self.entries[Self::bucket(site, class)];
        let i = match bucket
            .iter()
            .position(|e| e.site == site && e.class == class)
        {
            Some(i) => i,
            None => {
                let (i, victim) = bucket
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, e)| if e.site == 0 { 0 } else { 1 + e.short + e.long })
                    .expect("a bucket has entries");
                if victim.site != 0 {
                    GLOBAL.site_rules_evicted.add(1);
                    if victim.rule.is_some() {
                        GLOBAL.site_rules_dropped.add(1);
                    }
                }
                bucket[i] = Entry {
                    site,
                    class,
                    ..EMPTY_ENTRY
                };
                i
            }
        };
        let e = &mut bucket[i];
        match lifetime {
            Lifetime::Short => e.short += 1,
            Lifetime::Long => e.long += 1,
        }
        if e.short + e.long >= DECAY_AT {
            e.short /= 2;
            e.long /= 2;
        }
        let total = e.short + e.long;
        let (major, count) = if e.long > e.short {
            (Lifetime::Long, e.long)
        } else {
            (Lifetime::Short, e.short)
        };
        match e.rule {
            None if total >= ADOPT_SAMPLES && count * 100 >= total * ADOPT_PERCENT => {
                e.rule = Some(major);
                GLOBAL.site_rules_adopted.add(1);
            }
            Some(rule) => {
                let agree = if rule == Lifetime::Long {
                    e.long
                } else {
                    e.short
                };
                if agree * 100 < total * DROP_PERCENT {
                    e.rule = None;
                    GLOBAL.site_rules_dropped.add(1);
                }
            }
            None => {}
        }
    }
}

/// Everything sampling keeps, under [`STATE`].
struct State {
    /// Segments sample pages are carved from.
    segments: SegmentList,
    /// The sample pages of each small class, the one allocated from first.
    pages: [PageList; SMALL_CLASSES],
    /// Live samples, open addressing by address.
    live: [Sample; LIVE_SLOTS],
    live_count: usize,
    /// Next slot the short-lived-threshold scan looks at.
    scan: usize,
    rules: Rules,
}

// SAFETY: only reached through its lock.
unsafe impl Send for State {}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_LIST: PageList = PageList::new();

static STATE: Lock<State> = Lock::new(State {
    segments: SegmentList::new(),
    pages: [EMPTY_LIST; SMALL_CLASSES],
    live: [NO_SAMPLE; LIVE_SLOTS],
    live_count: 0,
    scan: 0,
    rules: Rules::new(),
});

/// `malloc`s of a thread between two samples.
pub fn interval() -> isize {
    options::get(Opt::SitesSampleEvery).clamp(1, 1 << 40) as isize - 1
}

/// How many allocations one sample stands for: what sampled counts and bytes are multiplied
/// by to *estimate* the whole program's (the heap profile's `est.` columns). Today one `malloc`
/// in `SACS_SITES_SAMPLE_EVERY` is sampled, so the estimate is unbiased for counts and bytes
/// of `malloc`s up to 32 KiB, and says nothing of the allocations that are never sampled.
pub fn sample_scale() -> usize {
    options::get(Opt::SitesSampleEvery).clamp(1, 1 << 40)
}

fn slot_of(addr: usize) -> usize {
    ((addr as u64 >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - 12)) as usize
}

/// The page shape of `class`: slices per page.
fn page_slices(class: usize) -> usize {
    if is_tiny(class) {
        TINY_PAGE_SLICES
    } else {
        MID_PAGE_SLICES
    }
}

impl State {
    /// A block of `class` from its first sample page; when that one has none left, from the
    /// first of the class's other pages that got blocks back (moved to the front), else from a
    /// new page. `None` when no segment has room (the caller adds one).
    fn pop(&mut self, class: usize) -> Option<*mut u8> {
        // SAFETY: sample pages and segments are only touched under the lock.
        unsafe {
            let has_block = |p: *mut Page| !(*p).free.is_null() || (*p).extend();
            let mut page = self.pages[class].head;
            if page.is_null() || !has_block(page) {
                page = self.pages[class].head;
                while !page.is_null() && !has_block(page) {
                    page = (*page).next;
                }
                if page.is_null() {
                    page = self.new_page(class)?;
                    (*page).extend();
                } else {
                    self.pages[class].remove(page);
                }
                self.pages[class].push_front(page);
            }
            let p = &mut *page;
            let block = p.free;
            p.free = (*block).next;
            p.used += 1;
            Some(block as *mut u8)
        }
    }

    /// A fresh sample page for `class` from the sample segments (on no list yet).
    fn new_page(&mut self, class: usize) -> Option<*mut Page> {
        let n = page_slices(class);
        let mut seg = self.segments.head;
        while !seg.is_null() {
            // SAFETY: sample segments are only touched under the lock.
            unsafe {
                if let Some(page) = (*seg).take_span(n) {
                    let p = &mut *page;
                    p.init(PageKind::Sampled, class, p.start, n * SLICE, SAMPLE_OWNER);
                    return Some(page);
                }
                seg = (*seg).next;
            }
        }
        None
    }

    fn insert(&mut self, sample: Sample) -> bool {
        if self.live_count >= LIVE_SLOTS / 4 * 3 {
            return false;
        }
        let i = probe::vacant(&self.live, slot_of(sample.addr), |s| s.addr == 0);
        self.live[i] = sample;
        self.live_count += 1;
        true
    }

    fn find(&self, addr: usize) -> Option<usize> {
        probe::find(
            &self.live,
            slot_of(addr),
            |s| s.addr == addr,
            |s| s.addr == 0,
        )
    }

    /// Removes slot `i`, shifting later entries of its probe run back (no tombstones).
    fn remove(&mut self, i: usize) {
        probe::remove(&mut self.live, i, NO_SAMPLE, |s| {
            (s.addr != 0).then(|| slot_of(s.addr))
        });
        self.live_count -= 1;
    }

    /// Classifies a sample and learns from it.
    fn classify(&mut self, s: &Sample, lifetime: Lifetime) {
        match lifetime {
            Lifetime::Short => GLOBAL.site_short.add(1),
            Lifetime::Long => GLOBAL.site_long.add(1),
        }
        match s.predicted {
            Some(p) if p == lifetime => GLOBAL.site_predicted_right.add(1),
            Some(_) => GLOBAL.site_predicted_wrong.add(1),
            None => GLOBAL.site_unpredicted.add(1),
        }
        self.rules.learn(s.site, s.class, lifetime);
    }

    /// A few steps of the round-robin scan: live samples older than the threshold are
    /// long-lived.
    fn scan(&mut self, now: u64, short_ms: u64) {
        for _ in 0..SCAN_STEPS {
            let i = self.scan;
            self.scan = (i + 1) & (LIVE_SLOTS - 1);
            let s = self.live[i];
            if s.addr != 0 && !s.classified && now.saturating_sub(s.born_ms) >= short_ms {
                self.live[i].classified = true;
                self.classify(&s, Lifetime::Long);
            }
        }
    }
}

/// Serves a sampled allocation of small class `class` from `site`: a block of a sample page,
/// recorded as a live sample. Returns null only when the system has no memory.
pub fn alloc(class: usize, site: usize, now: u64) -> *mut u8 {
    debug_assert!(class < SMALL_CLASSES);
    loop {
        {
            let mut st = STATE.lock();
            if let Some(block) = st.pop(class) {
                let predicted = st.rules.predict(site, class as u8);
                let recorded = st.insert(Sample {
                    addr: block as usize,
                    site,
                    class: class as u8,
                    predicted,
                    classified: false,
                    born_ms: now,
                });
                if !recorded {
                    GLOBAL.site_records_dropped.add(1);
                }
                st.scan(now, options::get(Opt::SitesShortMs) as u64);
                GLOBAL.site_samples.add(1);
                drop(st);
                if recorded {
                    profile::allocated(site, class, now);
                }
                return block;
            }
        }
        // No room in the sample segments: add one, found with the lock released.
        let Some(seg) =
            segment::cache::take(SegmentKind::Heap).or_else(|| segment::map_new(SegmentKind::Heap))
        else {
            return ptr::null_mut();
        };
        // SAFETY: an empty segment, ours alone until it joins the sample segments.
        unsafe {
            (*seg).owner.store(SAMPLE_OWNER, Relaxed);
            STATE.lock().segments.push_front(seg);
        }
    }
}

/// Frees a block of a sample page: classifies its sample if it was not yet, and puts the block
/// back on its page. Returns false (nothing changed) when `p` is not a live block of the page.
///
/// # Safety
/// - `page` is the page entry of `p`, of kind [`PageKind::Sampled`].
pub unsafe fn free(page: *mut Page, p: *mut u8, now: u64) -> bool {
    let mut st = STATE.lock();
    // SAFETY: sample pages are only written under the lock.
    let pg = unsafe { &mut *page };
    if !pg.is_block_start(p) || pg.used == 0 || pg.free as *mut u8 == p {
        return false;
    }
    let mut profiled = None;
    if let Some(i) = st.find(p as usize) {
        let s = st.live[i];
        profiled = Some((s.site, s.class, now.saturating_sub(s.born_ms)));
        st.remove(i);
        if !s.classified {
            let short = now.saturating_sub(s.born_ms) < options::get(Opt::SitesShortMs) as u64;
            st.classify(
                &s,
                if short {
                    Lifetime::Short
                } else {
                    Lifetime::Long
                },
            );
        }
    }
    // SAFETY: `p` is a block of this page that its program gave back.
    unsafe { (*(p as *mut Block)).next = pg.free };
    pg.free = p as *mut Block;
    pg.used -= 1;
    GLOBAL.site_sampled_frees.add(1);
    let tier = if is_tiny(pg.class as usize) {
        Tier::Tiny
    } else {
        Tier::Mid
    };
    GLOBAL.tier_frees[tier as usize].add(1);
    drop(st);
    if let Some((site, class, lifetime_ms)) = profiled {
        profile::freed(site, class as usize, lifetime_ms, now);
    }
    true
}

/// The sampling lock, for the fork handlers.
pub(crate) fn lock_for_fork() -> &'static Lock<impl Sized> {
    &STATE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learn_n(r: &mut Rules, site: usize, class: u8, l: Lifetime, n: usize) {
        for _ in 0..n {
            r.learn(site, class, l);
        }
    }

    #[test]
    fn a_rule_is_adopted_when_samples_agree_and_dropped_when_they_stop() {
        let mut r = std::boxed::Box::new(Rules::new());
        learn_n(&mut r, 0x1000, 3, Lifetime::Long, 7);
        assert_eq!(r.predict(0x1000, 3), None, "not enough samples yet");
        learn_n(&mut r, 0x1000, 3, Lifetime::Long, 1);
        assert_eq!(r.predict(0x1000, 3), Some(Lifetime::Long));
        assert_eq!(r.predict(0x1000, 4), None, "another class is another key");
        // The site turns short-lived: the rule goes, then the opposite one comes.
        learn_n(&mut r, 0x1000, 3, Lifetime::Short, 3);
        assert_eq!(r.predict(0x1000, 3), None);
        learn_n(&mut r, 0x1000, 3, Lifetime::Short, 100);
        assert_eq!(r.predict(0x1000, 3), Some(Lifetime::Short));
    }

    #[test]
    fn a_mixed_site_gets_no_rule() {
        let mut r = std::boxed::Box::new(Rules::new());
        for _ in 0..50 {
            r.learn(0x2000, 1, Lifetime::Short);
            r.learn(0x2000, 1, Lifetime::Long);
        }
        assert_eq!(r.predict(0x2000, 1), None);
    }

    #[test]
    fn a_new_site_in_a_full_bucket_evicts_the_least_sampled_entry() {
        let mut r = std::boxed::Box::new(Rules::new());
        // Sites that land in one bucket.
        let bucket = Rules::bucket(0x10, 0);
        let same: std::vec::Vec<usize> = (1..1_000_000usize)
            .map(|i| i * 16)
            .filter(|&s| Rules::bucket(s, 0) == bucket)
            .take(WAYS + 1)
            .collect();
        for &s in &same[..WAYS] {
            learn_n(&mut r, s, 0, Lifetime::Long, 20);
        }
        learn_n(&mut r, same[WAYS], 0, Lifetime::Short, 1);
        let kept = same[..WAYS]
            .iter()
            .filter(|&&s| r.predict(s, 0).is_some())
            .count();
        assert_eq!(kept, WAYS - 1, "one busy site made room for the newcomer");
        learn_n(&mut r, same[WAYS], 0, Lifetime::Short, 20);
        assert_eq!(r.predict(same[WAYS], 0), Some(Lifetime::Short));
    }
}
