//! Site Rules: which call sites allocate short-lived blocks and which long-lived ones, learned
//! from sampled allocations; how well that knowledge predicts; and, with placement on, the table
//! that sends a site's blocks to its class's long-lived pages.
//!
//! With `SACS_SITES=observe` or `on` the preload library's `malloc` enters through
//! `c_api::malloc_at_sites` or `c_api::malloc_at_placed` (chosen once at load), which pass the
//! call site to the HOT path's miss. A thread samples one in `SACS_SITES_SAMPLE_EVERY` of its
//! misses (a `malloc` that found its page's free list empty): that allocation is served from a
//! *sample page* instead ([`alloc`]). Sampling at misses costs the HOT path nothing; it sees the
//! allocations that need memory rather than those served by reuse, which is what placement is
//! about. Sample pages belong to no heap, so a free of a sampled block misses the HOT free's
//! owner test and comes here ([`free`]); unsampled blocks pay nothing on free.
//!
//! Each sampled block is recorded with its site, class and birth time in a table of live
//! samples. It is classified *short-lived* when freed within `SACS_SITES_SHORT_MS`, *long-lived*
//! when still live after it (found by a few steps of a round-robin scan on every sample). Both
//! verdicts are counted at the same age: a sample freed young waits in a queue until it is
//! `SACS_SITES_SHORT_MS` old, so that a site's early short-lived samples cannot outvote its
//! long-lived ones not yet seen (its free is still taken at once as evidence against a
//! long-lived rule: [`Rules::freed_young`]). The
//! classification updates the site's entry in the rule table ([`Rules`]): 2048 entries in
//! buckets of 4, keyed by site. An entry whose recent samples agree (at least 16,
//! 95 % one class) adopts a rule; one whose samples stop agreeing (below 85 %) drops it; a full
//! bucket gives way to the new site by evicting its entry with the fewest recent samples, so the
//! table keeps the busiest sites. A sample born while its site had a rule is a prediction, and
//! its classification says whether the prediction was right: that is the accuracy the
//! statistics report.
//!
//! Placement (`on`): the rules are folded into [`placement`], 256 entries by the low byte of
//! the site, long-lived when the byte's sites with rules are all long-lived. Each heap copies
//! it (`Heap::place`, refreshed on a miss when [`placement_gen`] moved), and the HOT path adds
//! the entry to the class: two instructions, no branch. Two sites sharing a low byte share a
//! placement, which costs at worst a misplaced block, never a wrong one; a page whose blocks
//! outlive their placement is re-labelled (`small::refill`).
//!
//! Everything here runs under one spin lock on sampled allocations and frees only, with no
//! system call under it: a segment for sample pages is mapped with the lock released. A sample
//! page whose blocks have all come back goes back to its segment, and the global purge look
//! decommits it after the purge delay ([`purge`]); a segment left empty goes to the cache.
//!
//! [`profile`] is the heap profile (`SACS_PROFILE`), fed by [`alloc`] and [`free`] after they
//! release the lock.

pub mod big;
pub mod profile;
mod rules;

pub use rules::Rules;

use core::ptr;
use core::sync::atomic::Ordering::Relaxed;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize};

use crate::lock::Lock;
use crate::options::{self, Opt};
use crate::page::{Block, Page, PageKind, PageList, LONG_LIVED};
use crate::probe;
use crate::segment::{self, Segment, SegmentList, SAMPLE_OWNER, SLICE};
use crate::size_class::{class_size, SMALL_CLASSES};
use crate::small;
use crate::stats::{self, GLOBAL};

/// Slots of the live-sample table (a power of two).
const LIVE_SLOTS: usize = 4096;
/// Live samples looked at for crossing the short-lived threshold, per sampled allocation.
const SCAN_STEPS: usize = 64;
/// Samples freed young that wait to be counted (see [`State::pending`]).
const PENDING: usize = 1024;
/// Entries of the placement table (one per value of a site's low byte).
pub const PLACE_ENTRIES: usize = 256;
/// `flags` of a sample page in a class's second set, the one for samples of sites with a
/// long-lived rule (see [`State::pages`]): the bit of heap pages' `LONG_LIVED`, which no sample
/// page otherwise carries. A page stays in the set it was made for until it empties.
const SAMPLE_LONG_SET: u8 = LONG_LIVED;
/// Sample segments whose due dirty runs one purge look decommits at most; the others wait for
/// the next look (bounded work, and a bounded array, under the lock).
const PURGE_BATCH: usize = 8;

/// The placement table: for each low byte of a call site, the slot offset its blocks take (0 or
/// `SMALL_CLASSES`). Written under [`STATE`]'s lock, read by heaps refreshing their copy.
static PLACEMENT: [AtomicUsize; PLACE_ENTRIES] = [const { AtomicUsize::new(0) }; PLACE_ENTRIES];
/// Bumped whenever [`PLACEMENT`] changes.
static PLACEMENT_GEN: AtomicU32 = AtomicU32::new(0);

/// The placement table's entry of `site`.
#[inline(always)]
pub fn place_index(site: usize) -> usize {
    site & (PLACE_ENTRIES - 1)
}

/// The generation of the placement table (a heap's copy is stale when it differs).
#[inline]
pub fn placement_gen() -> u32 {
    PLACEMENT_GEN.load(Relaxed)
}

/// Copies the placement table into `to`, returning the generation copied.
pub fn placement(to: &mut [usize; PLACE_ENTRIES]) -> u32 {
    let gen = PLACEMENT_GEN.load(Relaxed);
    for (dst, src) in to.iter_mut().zip(&PLACEMENT) {
        *dst = src.load(Relaxed);
    }
    gen
}

/// Whether Site Rules place blocks (`SACS_SITES=on`).
pub fn placing() -> bool {
    options::get(Opt::Sites) == 1
}

/// For a new heap's pages: after how many milliseconds an ordinary page with survivors is
/// re-labelled long-lived (0: never, placement off).
pub fn relabel_after() -> u64 {
    if placing() {
        (options::get(Opt::SitesShortMs) as u64).max(1)
    } else {
        0
    }
}

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

/// Everything sampling keeps, under [`STATE`].
struct State {
    /// Segments sample pages are carved from.
    segments: SegmentList,
    /// The sample pages of each small class, the one allocated from first: for samples of
    /// sites with no long-lived rule, and for those of sites with one, kept apart so that the
    /// long-lived samples do not pin the pages the others leave.
    pages: [[PageList; 2]; SMALL_CLASSES],
    /// Live samples, open addressing by address.
    live: [Sample; LIVE_SLOTS],
    live_count: usize,
    /// Next slot the short-lived-threshold scan looks at.
    scan: usize,
    /// Samples freed within `SACS_SITES_SHORT_MS`, oldest free first, counted short-lived only
    /// once they are `SACS_SITES_SHORT_MS` old: a long-lived verdict cannot come sooner, so
    /// counting short ones at their free would let a site's early short-lived samples outvote
    /// long-lived ones not yet seen and adopt a wrong rule (a site that starts building a
    /// structure, a program entering a new phase). Both verdicts come at the same age.
    pending: [Sample; PENDING],
    pending_head: usize,
    pending_len: usize,
    rules: Rules,
    /// Rules in force per placement entry: short-lived, long-lived.
    rules_by_byte: [[u16; 2]; PLACE_ENTRIES],
}

// SAFETY: only reached through its lock.
unsafe impl Send for State {}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_LIST: PageList = PageList::new();

static STATE: Lock<State> = Lock::new(State::new());

/// Whether a sample segment was ever added: until then the purge look has nothing to do and does
/// not take [`STATE`]'s lock, whose word and first fields lie on pages a program that samples
/// nothing never touches.
static ANY_SEGMENT: AtomicBool = AtomicBool::new(false);

/// Whether the heap profile is on (`SACS_PROFILE`): sampling is then a countdown of `malloc`s.
pub fn profiling() -> bool {
    options::get(Opt::Profile) != 0
}

/// The sampling interval: with the profile, `malloc`s (`SACS_PROFILE_SAMPLE_EVERY`), else
/// misses of the HOT allocation (`SACS_SITES_SAMPLE_EVERY`).
fn every() -> usize {
    let opt = if profiling() {
        Opt::ProfileSampleEvery
    } else {
        Opt::SitesSampleEvery
    };
    options::get(opt).clamp(1, 1 << 40)
}

/// What a thread counts down between two samples: the interval less one.
pub fn interval() -> isize {
    every() as isize - 1
}

/// How many allocations one sample stands for: what sampled counts and bytes are multiplied
/// by to *estimate* the whole program's (the heap profile's `est.` columns). With the profile on,
/// one `malloc` of up to 32 KiB in `SACS_PROFILE_SAMPLE_EVERY` is sampled by a countdown, so the
/// estimates are unbiased for those `malloc`s and say nothing of the allocations never sampled.
pub fn sample_scale() -> usize {
    every()
}

fn slot_of(addr: usize) -> usize {
    ((addr as u64 >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - 12)) as usize
}

impl State {
    const fn new() -> Self {
        State {
            segments: SegmentList::new(),
            pages: [const { [EMPTY_LIST; 2] }; SMALL_CLASSES],
            live: [NO_SAMPLE; LIVE_SLOTS],
            live_count: 0,
            scan: 0,
            pending: [NO_SAMPLE; PENDING],
            pending_head: 0,
            pending_len: 0,
            rules: Rules::new(),
            rules_by_byte: [[0; 2]; PLACE_ENTRIES],
        }
    }

    /// A block of `class` from the first sample page of its set (`long`: for a site with a
    /// long-lived rule); when that one has none left, from the first of the set's other pages
    /// that got blocks back (moved to the front), else from a new page. `None` when no segment
    /// has room (the caller adds one).
    fn pop(&mut self, class: usize, long: bool) -> Option<*mut u8> {
        let set = long as usize;
        // SAFETY: sample pages and segments are only touched under the lock.
        unsafe {
            let has_block = |p: *mut Page| !(*p).free.is_null() || (*p).extend();
            let mut page = self.pages[class][set].head;
            if page.is_null() || !has_block(page) {
                page = self.pages[class][set].head;
                while !page.is_null() && !has_block(page) {
                    page = (*page).next;
                }
                if page.is_null() {
                    page = self.new_page(class)?;
                    if long {
                        (*page).flags |= SAMPLE_LONG_SET;
                    }
                    (*page).extend();
                } else {
                    self.pages[class][set].remove(page);
                }
                self.pages[class][set].push_front(page);
            }
            let p = &mut *page;
            let block = p.free;
            p.free = (*block).next;
            p.held += 1;
            Some(block as *mut u8)
        }
    }

    /// A fresh sample page for `class` from the sample segments (on no list yet).
    fn new_page(&mut self, class: usize) -> Option<*mut Page> {
        let n = small::page_slices(class);
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

    /// Gives an emptied sample page's span back to its segment, dirty since `now` (the global
    /// purge look decommits it after `SACS_PURGE_DELAY_MS`, [`purge`]). Returns the segment when
    /// that left it empty: it is then off the sample segments, and the caller puts it in the
    /// segment cache once the lock is released.
    ///
    /// # Safety
    /// - `page` is a sample page with no block out, on its set's list.
    unsafe fn release_page(&mut self, page: *mut Page, now: u64) -> Option<*mut Segment> {
        // SAFETY: per the contract; sample pages and segments are only touched under the lock.
        unsafe {
            let p = &mut *page;
            debug_assert!(p.used() == 0);
            let set = (p.flags & SAMPLE_LONG_SET != 0) as usize;
            self.pages[p.class as usize][set].remove(page);
            p.flags = 0;
            p.free = ptr::null_mut();
            let seg = Segment::of(page as *const u8);
            (*seg).give_span(page, true, now);
            GLOBAL.site_sample_pages_released.add(1);
            if !(*seg).is_empty() {
                return None;
            }
            self.segments.remove(seg);
            Some(seg)
        }
    }

    /// Records a live sample. When the table is full, a sample already classified long-lived
    /// gives way (its free would teach nothing more): long-lived samples must not crowd out the
    /// learning. Returns false when none could.
    fn insert(&mut self, sample: Sample) -> bool {
        if self.live_count >= LIVE_SLOTS / 4 * 3 {
            let start = self.scan;
            let Some(k) = (0..LIVE_SLOTS)
                .map(|k| (start + k) & (LIVE_SLOTS - 1))
                .find(|&i| self.live[i].addr != 0 && self.live[i].classified)
            else {
                return false;
            };
            self.remove(k);
            GLOBAL.site_records_dropped.add(1);
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
    #[inline(never)]
    #[link_section = ".sacs_rare"]
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
        let by_byte = &mut self.rules_by_byte;
        self.rules
            .learn_with(s.site, lifetime, |site, before, after| {
                rule_changed(by_byte, site, before, after)
            });
    }

    /// Holds a sample freed young until it is as old as a long-lived verdict needs (see
    /// [`State::pending`]); counts it at once when the queue is full.
    fn defer_short(&mut self, s: Sample, now: u64, short_ms: u64) {
        if self.pending_len == PENDING {
            self.count_pending(now, short_ms);
        }
        if self.pending_len == PENDING {
            self.classify(&s, Lifetime::Short);
            return;
        }
        self.pending[(self.pending_head + self.pending_len) % PENDING] = s;
        self.pending_len += 1;
    }

    /// Counts the samples freed young that are now `short_ms` old, in the order they were
    /// freed (one whose turn is not yet due holds back the ones behind it, which are counted
    /// later, never sooner).
    fn count_pending(&mut self, now: u64, short_ms: u64) {
        while self.pending_len != 0 {
            let s = self.pending[self.pending_head];
            if now.saturating_sub(s.born_ms) < short_ms {
                break;
            }
            self.pending_head = (self.pending_head + 1) % PENDING;
            self.pending_len -= 1;
            self.classify(&s, Lifetime::Short);
        }
    }

    /// A few steps of the round-robin scan: live samples older than the threshold are
    /// long-lived.
    #[inline(never)]
    #[link_section = ".sacs_rare"]
    fn scan(&mut self, now: u64, short_ms: u64) {
        self.count_pending(now, short_ms);
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

/// A site's rule changed from `before` to `after`: updates the rules in force per placement
/// entry and the placement table (long-lived only where no rule of the entry says short-lived).
fn rule_changed(
    by_byte: &mut [[u16; 2]; PLACE_ENTRIES],
    site: usize,
    before: Option<Lifetime>,
    after: Option<Lifetime>,
) {
    let counts = &mut by_byte[place_index(site)];
    if let Some(l) = before {
        counts[l as usize - 1] -= 1;
    }
    if let Some(l) = after {
        counts[l as usize - 1] += 1;
    }
    let offset = if counts[1] > 0 && counts[0] == 0 {
        SMALL_CLASSES
    } else {
        0
    };
    let entry = &PLACEMENT[place_index(site)];
    if entry.load(Relaxed) != offset {
        entry.store(offset, Relaxed);
        PLACEMENT_GEN.fetch_add(1, Relaxed);
    }
}

/// Serves a sampled allocation of small class `class` from `site`: a block of a sample page,
/// recorded as a live sample. Returns null only when the system has no memory.
pub fn alloc(class: usize, site: usize, now: u64) -> *mut u8 {
    debug_assert!(class < SMALL_CLASSES);
    loop {
        {
            let mut st = STATE.lock();
            let predicted = st.rules.predict(site);
            if let Some(block) = st.pop(class, predicted == Some(Lifetime::Long)) {
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
        let Some(seg) = crate::small::refill::obtain_segment(now) else {
            return ptr::null_mut();
        };
        // SAFETY: an empty segment, ours alone until it joins the sample segments.
        unsafe {
            (*seg).owner.store(SAMPLE_OWNER, Relaxed);
            STATE.lock().segments.push_front(seg);
            ANY_SEGMENT.store(true, Relaxed);
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
    if !pg.is_block_start(p) || pg.used() == 0 || pg.free as *mut u8 == p {
        return false;
    }
    let mut profiled = None;
    if let Some(i) = st.find(p as usize) {
        let s = st.live[i];
        profiled = Some((s.site, s.class, now.saturating_sub(s.born_ms)));
        st.remove(i);
        if !s.classified {
            let short_ms = options::get(Opt::SitesShortMs) as u64;
            if now.saturating_sub(s.born_ms) < short_ms {
                let State {
                    rules,
                    rules_by_byte,
                    ..
                } = &mut *st;
                rules.freed_young(s.site, |site, before, after| {
                    rule_changed(rules_by_byte, site, before, after)
                });
                st.defer_short(s, now, short_ms);
            } else {
                st.classify(&s, Lifetime::Long);
            }
        }
    }
    // SAFETY: `p` is a block of this page that its program gave back.
    unsafe { (*(p as *mut Block)).next = pg.free };
    pg.free = p as *mut Block;
    pg.held -= 1;
    GLOBAL.site_sampled_frees.add(1);
    let tier = stats::small_tier(pg.class as usize) as usize;
    GLOBAL.tier_frees[tier].add(1);
    GLOBAL.tier_bytes[tier].sub(class_size(pg.class as usize) as u64);
    let emptied = if pg.used() == 0 {
        // SAFETY: the page has no block out and is on its set's list (sample pages leave their
        // list only here).
        unsafe { st.release_page(page, now) }
    } else {
        None
    };
    drop(st);
    if let Some(seg) = emptied {
        // SAFETY: an empty segment taken off the sample segments: ours alone.
        unsafe { segment::cache::put(seg, now) };
    }
    if let Some((site, class, lifetime_ms)) = profiled {
        profile::freed(site, class as usize, lifetime_ms, now);
    }
    true
}

/// The global purge look's share for sampling: decommits the free slices of sample segments
/// that have been dirty for `SACS_PURGE_DELAY_MS` (all of them with `force`), left by sample
/// pages that emptied. No system call under the lock: the due runs are reserved under it (so
/// that they can be neither carved nor let their segment look empty), decommitted after it, and
/// given back under it again. Returns whether dirty slices are left for a later look.
#[inline]
pub fn purge(now: u64, force: bool) -> bool {
    // Without sample segments (Site Rules off, the default) the look stays out of rare code.
    ANY_SEGMENT.load(Relaxed) && purge_segments(now, force)
}

/// [`purge`] once a sample segment exists.
#[inline(never)]
#[link_section = ".sacs_rare"]
fn purge_segments(now: u64, force: bool) -> bool {
    let mut reserved = [(ptr::null_mut::<Segment>(), 0u64); PURGE_BATCH];
    let mut n = 0;
    let mut left = false;
    {
        let st = STATE.lock();
        let mut seg = st.segments.head;
        while !seg.is_null() {
            // SAFETY: sample segments are only touched under the lock, which is held.
            unsafe {
                if n < PURGE_BATCH {
                    let old = (*seg).reserve_purge(now, force);
                    if old != 0 {
                        reserved[n] = (seg, old);
                        n += 1;
                    }
                }
                left |= (*seg).has_dirty();
                seg = (*seg).next;
            }
        }
    }
    for &(seg, old) in &reserved[..n] {
        // SAFETY: the runs were reserved: no one carves them or frees their segment meanwhile.
        let done = unsafe { segment::decommit_runs(seg, old) };
        let mut st = STATE.lock();
        // SAFETY: `old` was reserved on `seg` above and `done` is its decommit's result; sample
        // segments are touched under the lock, which is held.
        let emptied = unsafe {
            (*seg).finish_purge(old, done);
            left |= (*seg).has_dirty();
            // Its last page may have emptied while the runs were reserved (the segment did not
            // look empty then): it leaves now.
            (*seg).is_empty()
        };
        if emptied {
            // SAFETY: an empty sample segment, on the sample segments' list.
            unsafe { st.segments.remove(seg) };
            drop(st);
            // SAFETY: taken off the list: ours alone.
            unsafe { segment::cache::put(seg, now) };
        }
    }
    left
}

/// The sampling lock, for the fork handlers.
pub(crate) fn lock_for_fork() -> &'static Lock<impl Sized> {
    &STATE
}

#[cfg(test)]
mod tests {
    use super::rules::ADOPT_SAMPLES;
    use super::*;

    #[test]
    fn a_sample_freed_young_is_counted_only_once_as_old_as_a_long_verdict_needs() {
        let mut st = std::boxed::Box::new(State::new());
        let (site, short_ms) = (0x5000, 100);
        let sample = |born_ms| Sample {
            addr: 0x10,
            site,
            class: 3,
            predicted: None,
            classified: false,
            born_ms,
        };
        for k in 0..ADOPT_SAMPLES as u64 {
            st.defer_short(sample(1_000 + k), 1_010 + k, short_ms);
        }
        st.count_pending(1_000 + short_ms - 1, short_ms);
        assert_eq!(
            st.pending_len, ADOPT_SAMPLES as usize,
            "none is old enough yet"
        );
        assert_eq!(st.rules.predict(site), None, "nothing counted, no rule");
        st.count_pending(1_000 + short_ms + 7, short_ms);
        assert_eq!(
            st.pending_len,
            ADOPT_SAMPLES as usize - 8,
            "the eight oldest counted"
        );
        st.count_pending(10_000, short_ms);
        assert_eq!(st.pending_len, 0);
        assert_eq!(st.rules.predict(site), Some(Lifetime::Short));
    }

    #[test]
    fn a_full_queue_of_young_frees_counts_at_once() {
        let mut st = std::boxed::Box::new(State::new());
        let s = Sample {
            addr: 0x10,
            site: 0x6000,
            class: 3,
            predicted: None,
            classified: false,
            born_ms: 5_000,
        };
        for _ in 0..PENDING + 20 {
            st.defer_short(s, 5_001, 100);
        }
        assert_eq!(st.pending_len, PENDING);
        assert_eq!(st.rules.predict(0x6000), Some(Lifetime::Short));
    }
}
