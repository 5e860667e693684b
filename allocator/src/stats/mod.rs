//! Statistics: what SACS did, per tier, per system call, and how much memory it holds.
//!
//! Counters live where the work happens: each thread heap counts its own allocations and frees
//! in its [`HeapCounters`] with plain (relaxed load + store) updates, the shared tiers count in
//! [`GLOBAL`] with relaxed atomics, and the platform layer counts system calls. Live heaps'
//! counters are linked here ([`register`]) and folded into [`GLOBAL`] when their thread exits
//! ([`retire`]), so [`stats`] adds everything up into a [`Stats`] value without allocating and
//! without knowing what a heap is; [`Stats::write_table`] ([`table`]) renders it into a fixed
//! buffer.

mod heap;
mod json;
mod learning;
mod table;

use heap::add_live;
pub(crate) use heap::{lock_for_fork, register, retire};
pub use heap::{small_tier, HeapCounters, LocalCounter};
pub(crate) use json::JSON_MAX;
pub(crate) use learning::activity;
pub use learning::{KnobState, KnobStats, LearnStats};
pub(crate) use learning::{KNOB_STATE_NAMES, LEARN, START_RATING};
pub(crate) use table::{format_decimal, Writer};

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use crate::platform::{self, SYSCALL_KINDS};

/// The four tiers, as indexes into [`Stats::tiers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Tier {
    Tiny = 0,
    Mid = 1,
    Big = 2,
    Whale = 3,
}

/// Number of tiers.
pub const TIERS: usize = 4;
/// Tier names in [`Tier`] order.
pub const TIER_NAMES: [&str; TIERS] = ["tiny", "mid", "big", "whale"];

/// Counters of one tier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TierStats {
    /// Allocations served by the tier.
    pub allocs: u64,
    /// Frees returned to the tier (by any thread).
    pub frees: u64,
    /// Bytes of the tier's blocks the program holds now: the size of each live block (its
    /// request rounded up to its size class; a whale's mapping length).
    pub in_use_bytes: u64,
}

/// One kind of system call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallStats {
    pub calls: u64,
    pub cycles: u64,
    pub failures: u64,
}

/// A snapshot of every counter SACS keeps.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// The process, its name (`/proc/self/comm`, at most 15 bytes, `program_len` of them) and
    /// the milliseconds since SACS started in it.
    pub pid: u32,
    pub program: [u8; 16],
    pub program_len: usize,
    pub elapsed_ms: u64,
    /// Per tier, indexed by [`Tier`].
    pub tiers: [TierStats; TIERS],
    /// Page refills served from a thread's warm pool.
    pub warm_pool_hits: u64,
    /// Prefills of a warm pool (each carves several pages at once).
    pub warm_pool_prefills: u64,
    /// Refills that took blocks other threads had freed (from the current, a partial or a
    /// full page).
    pub remote_collects: u64,
    /// Small allocations served by a free block of a slightly larger class, whose page had
    /// blocks to spare, instead of carving new memory (`small::refill`).
    pub larger_class_blocks: u64,
    /// BigCache allocations served from its cache of freed blocks.
    pub big_cache_hits: u64,
    /// BigCache allocations that had to carve a new span.
    pub big_cache_misses: u64,
    /// Freed big blocks turned warm (MADV_FREE) or cold (decommitted, given back to a segment).
    pub big_cache_warmed: u64,
    pub big_cache_cooled: u64,
    /// Passes of the big arenas over their caches and segments (Hot / Warm / Cold): one when
    /// something an arena holds is due, not at every purge look.
    pub big_arena_passes: u64,
    /// Cached big blocks whose span went back to its segment still committed, to make room for
    /// a block of another class (no system call).
    pub big_cache_uncached: u64,
    /// Freed big blocks the shared purge look took out of threads' own caches, older than
    /// `SACS_HOT_MS` (threads that waited), and gave to their arenas.
    pub big_cache_taken_idle: u64,
    /// Hits (counted in `big_cache_hits`) on a block cached by another arena than the
    /// thread's, which missed (`big::take_from_other_arena`).
    pub big_cache_from_other_arena: u64,
    /// Bytes (class sizes) of the freed big blocks the arenas' caches hold now, hot or warm;
    /// blocks in threads' own caches are not counted.
    pub big_cache_bytes: usize,
    /// Times an arena lengthened (doubled) its cold delay because blocks it had decommitted
    /// were carved again soon after, and times it shortened (halved) it (`purge::BigDelays`).
    pub cold_delay_raised: u64,
    pub cold_delay_lowered: u64,
    /// The same for the hot delay (the warm step): raised when blocks it released lazily were
    /// taken back soon after.
    pub hot_delay_raised: u64,
    pub hot_delay_lowered: u64,
    /// Whale allocations served from the ring of freed mappings.
    pub whale_ring_hits: u64,
    /// Whale allocations that had to map.
    pub whale_ring_misses: u64,
    /// Mappings pushed out of the full ring (unmapped).
    pub whale_ring_evictions: u64,
    /// Mappings unmapped because they aged past `SACS_WARM_MS`.
    pub whale_ring_expired: u64,
    /// Whale allocations served by growing a shorter cached mapping with `mremap` (counted
    /// among the hits too).
    pub whale_ring_grown: u64,
    /// Cached mappings split to serve a shorter request (the tail stayed cached), tails
    /// trimmed off with one `munmap`, and freed mappings merged with a cached neighbour.
    pub whale_ring_splits: u64,
    pub whale_ring_trims: u64,
    pub whale_ring_merges: u64,
    /// Bytes in the whale ring now, and its byte budget (which follows the live whales).
    pub whale_ring_bytes: usize,
    pub whale_ring_budget: usize,
    /// Times the ring's budget share doubled because a request had to map soon after the ring
    /// pushed ranges out for its budget, and times it halved again.
    pub whale_budget_raised: u64,
    pub whale_budget_lowered: u64,
    /// Slice runs given back to the system by purging (each is one madvise).
    pub purged_runs: u64,
    /// Bytes given back by purging.
    pub purged_bytes: u64,
    /// System pages punched out of pages that still had blocks out (`page::holes`), and those
    /// of them filled again by a refill.
    pub holes_punched: u64,
    pub holes_filled: u64,
    /// Slices of heap segments that the shared purge look decommitted for their owners, threads
    /// that made no purge look of their own since the slices were due (`segment::idle`).
    pub idle_heap_slices: u64,
    /// Times a heap lengthened (doubled) its purge delay because memory it had purged was
    /// needed again soon after, and times it shortened (halved) it after a purge went unreused.
    pub purge_delay_raised: u64,
    pub purge_delay_lowered: u64,
    /// Segments mapped, unmapped, reused from the segment cache, adopted from exited threads.
    pub segments_mapped: u64,
    pub segments_unmapped: u64,
    pub segments_reused: u64,
    /// Big-arena segments whose every block was cached, emptied for a heap that needed a
    /// segment (`big::lend_idle_segment`).
    pub segments_lent: u64,
    /// Heap segments that went to the segment cache because only warm-pool pages were left in
    /// them (`small::retire`).
    pub segments_unpinned: u64,
    pub segments_abandoned: u64,
    pub segments_adopted: u64,
    /// Segments mapped in the segment space (of `segments_mapped`), and the segments the space
    /// can hold (0: no space, switched off or refused by the system).
    pub segments_in_space: u64,
    pub segment_space_slots: u64,
    /// Thread heaps created and retired (thread exits).
    pub heaps_created: u64,
    pub heaps_retired: u64,
    /// New heaps that took over a retired heap's pages whole (see `heap::lifecycle`).
    pub heaps_taken_over: u64,
    /// Bad pointers reported.
    pub invalid_frees: u64,
    /// Memory pressure (`pressure`): cgroup checks made, checks that found pressure, and the
    /// limit and working set (bytes) the last check read (0: no limit seen).
    pub pressure_checks: u64,
    pub pressure_found: u64,
    pub pressure_limit: u64,
    pub pressure_working: u64,
    /// The last memory stall share read (`/proc/pressure/memory`, some avg10), in hundredths of a percent.
    pub pressure_stall: u64,
    /// Site Rules (`SACS_SITES`): allocations sampled, sampled blocks freed, samples not
    /// recorded because the table of live samples was full, sample pages that emptied and went
    /// back to their segment (decommitted by a later purge look).
    pub site_samples: u64,
    pub site_sampled_frees: u64,
    pub site_records_dropped: u64,
    pub site_sample_pages_released: u64,
    /// Sampled blocks classified short-lived (freed within `SACS_SITES_SHORT_MS`) and long-lived.
    pub site_short: u64,
    pub site_long: u64,
    /// Rules adopted (a site's samples agreed), dropped (they stopped agreeing), and table
    /// entries evicted for another site.
    pub site_rules_adopted: u64,
    pub site_rules_dropped: u64,
    pub site_rules_evicted: u64,
    /// Classified samples whose site had a rule at their birth that predicted their class
    /// rightly or wrongly, and those with no rule to predict by.
    pub site_predicted_right: u64,
    pub site_predicted_wrong: u64,
    pub site_unpredicted: u64,
    /// Placement (`SACS_SITES=on`): allocations served from long-lived pages, ordinary pages
    /// re-labelled long-lived (their survivors outlived the prediction), and the long-lived
    /// pages and their bytes now in use.
    pub site_long_allocs: u64,
    pub site_pages_relabelled: u64,
    pub site_long_pages: u64,
    pub site_long_page_bytes: u64,
    /// Big blocks (`site::big`): allocations through Site Rules entries, those marked to skip
    /// the warm step (kept), those decommitted at their free (one-shot), and measured reuse
    /// gaps that agreed or disagreed with the site's policy before them.
    pub site_big_allocs: u64,
    pub site_big_kept: u64,
    pub site_big_released: u64,
    pub site_big_right: u64,
    pub site_big_wrong: u64,
    /// The learner (`learn`): knobs, ratings, windows, pressure events.
    pub learn: LearnStats,
    /// System calls per kind, indexed by [`platform::Syscall`].
    pub syscalls: [SyscallStats; SYSCALL_KINDS],
    /// Bytes currently mapped by SACS and not decommitted (an upper bound of what it holds resident).
    pub committed_bytes: usize,
    /// Highest `committed_bytes` seen.
    pub peak_committed_bytes: usize,
    /// Bytes currently mapped (committed or not).
    pub mapped_bytes: usize,
    /// The process's resident set size when the snapshot was taken (from /proc/self/statm).
    pub resident_bytes: usize,
}

impl Stats {
    /// Total allocations over all tiers.
    pub fn allocs(&self) -> u64 {
        self.tiers.iter().map(|t| t.allocs).sum()
    }

    /// Total frees over all tiers.
    pub fn frees(&self) -> u64 {
        self.tiers.iter().map(|t| t.frees).sum()
    }

    /// Bytes of blocks the program holds, over all tiers.
    pub fn in_use_bytes(&self) -> u64 {
        self.tiers.iter().map(|t| t.in_use_bytes).sum()
    }

    /// The program's name as text (empty if it could not be read).
    pub fn program(&self) -> &[u8] {
        &self.program[..self.program_len.min(self.program.len())]
    }

    /// Total system calls of every kind.
    pub fn syscall_calls(&self) -> u64 {
        self.syscalls.iter().map(|s| s.calls).sum()
    }
}

/// A counter shared between threads (relaxed atomic add).
pub struct SharedCounter(AtomicU64);

impl Default for SharedCounter {
    fn default() -> Self {
        Self::new()
    }
}

impl SharedCounter {
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }
    /// Subtracts `n` (modulo 2^64: a net count, such as bytes in use, may pass below zero
    /// in one counter while the sum of all stays right).
    #[inline]
    pub fn sub(&self, n: u64) {
        self.0.fetch_sub(n, Relaxed);
    }
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Process-wide counters of the shared tiers and of memory.
pub struct GlobalCounters {
    pub tier_allocs: [SharedCounter; TIERS],
    pub tier_frees: [SharedCounter; TIERS],
    /// Bytes in use per tier counted outside thread heaps (modulo 2^64; see [`SharedCounter::sub`]).
    /// The whale tier's is kept in `whale_live_bytes` instead.
    pub tier_bytes: [SharedCounter; TIERS],
    /// Bytes of live whales (`malloc` blocks, not large-page regions), as the last whale
    /// operation left them.
    pub whale_live_bytes: AtomicUsize,
    pub warm_pool_hits: SharedCounter,
    pub warm_pool_prefills: SharedCounter,
    pub remote_collects: SharedCounter,
    pub larger_class_blocks: SharedCounter,
    pub big_cache_hits: SharedCounter,
    pub big_cache_misses: SharedCounter,
    pub big_cache_warmed: SharedCounter,
    pub big_cache_cooled: SharedCounter,
    pub big_arena_passes: SharedCounter,
    pub big_cache_uncached: SharedCounter,
    pub big_cache_taken_idle: SharedCounter,
    pub big_cache_from_other_arena: SharedCounter,
    pub cold_delay_raised: SharedCounter,
    pub cold_delay_lowered: SharedCounter,
    pub hot_delay_raised: SharedCounter,
    pub hot_delay_lowered: SharedCounter,
    pub whale_ring_hits: SharedCounter,
    pub whale_ring_misses: SharedCounter,
    pub whale_ring_evictions: SharedCounter,
    pub whale_ring_expired: SharedCounter,
    pub whale_ring_grown: SharedCounter,
    pub whale_ring_splits: SharedCounter,
    pub whale_ring_trims: SharedCounter,
    pub whale_ring_merges: SharedCounter,
    pub whale_budget_raised: SharedCounter,
    pub whale_budget_lowered: SharedCounter,
    /// Bytes of the freed big blocks in the arenas' caches (`Stats::big_cache_bytes`).
    pub big_cache_bytes: AtomicUsize,
    /// Bytes in the whale ring and its budget, as the last whale operation left them.
    pub whale_ring_bytes: AtomicUsize,
    pub whale_ring_budget: AtomicUsize,
    pub purged_runs: SharedCounter,
    pub purged_bytes: SharedCounter,
    pub holes_punched: SharedCounter,
    pub holes_filled: SharedCounter,
    pub idle_heap_slices: SharedCounter,
    pub purge_delay_raised: SharedCounter,
    pub purge_delay_lowered: SharedCounter,
    pub segments_mapped: SharedCounter,
    pub segments_unmapped: SharedCounter,
    pub segments_reused: SharedCounter,
    pub segments_lent: SharedCounter,
    pub segments_unpinned: SharedCounter,
    pub segments_abandoned: SharedCounter,
    pub segments_adopted: SharedCounter,
    pub segments_in_space: SharedCounter,
    pub segment_space_slots: SharedCounter,
    pub heaps_created: SharedCounter,
    pub heaps_retired: SharedCounter,
    pub heaps_taken_over: SharedCounter,
    pub invalid_frees: SharedCounter,
    pub pressure_checks: SharedCounter,
    pub pressure_found: SharedCounter,
    /// The limit and working set the last pressure check read.
    pub pressure_limit: AtomicU64,
    pub pressure_working: AtomicU64,
    pub pressure_stall: AtomicU64,
    pub site_samples: SharedCounter,
    pub site_sampled_frees: SharedCounter,
    pub site_records_dropped: SharedCounter,
    pub site_sample_pages_released: SharedCounter,
    pub site_short: SharedCounter,
    pub site_long: SharedCounter,
    pub site_rules_adopted: SharedCounter,
    pub site_rules_dropped: SharedCounter,
    pub site_rules_evicted: SharedCounter,
    pub site_predicted_right: SharedCounter,
    pub site_predicted_wrong: SharedCounter,
    pub site_unpredicted: SharedCounter,
    pub site_long_allocs: SharedCounter,
    pub site_pages_relabelled: SharedCounter,
    /// Pages (and their bytes) that became long-lived, and that stopped being (emptied or
    /// abandoned): the difference is what is in use.
    pub site_long_pages_in: SharedCounter,
    pub site_long_pages_out: SharedCounter,
    pub site_long_bytes_in: SharedCounter,
    pub site_long_bytes_out: SharedCounter,
    pub site_big_allocs: SharedCounter,
    pub site_big_kept: SharedCounter,
    pub site_big_released: SharedCounter,
    pub site_big_right: SharedCounter,
    pub site_big_wrong: SharedCounter,
    committed: AtomicUsize,
    peak_committed: AtomicUsize,
    mapped: AtomicUsize,
}

macro_rules! counters {
    ($($f:ident),*) => {
        GlobalCounters {
            tier_allocs: [SharedCounter::new(), SharedCounter::new(), SharedCounter::new(), SharedCounter::new()],
            tier_frees: [SharedCounter::new(), SharedCounter::new(), SharedCounter::new(), SharedCounter::new()],
            tier_bytes: [SharedCounter::new(), SharedCounter::new(), SharedCounter::new(), SharedCounter::new()],
            whale_live_bytes: AtomicUsize::new(0),
            pressure_limit: AtomicU64::new(0),
            pressure_working: AtomicU64::new(0),
            pressure_stall: AtomicU64::new(0),
            $($f: SharedCounter::new(),)*
            big_cache_bytes: AtomicUsize::new(0),
            whale_ring_bytes: AtomicUsize::new(0),
            whale_ring_budget: AtomicUsize::new(0),
            committed: AtomicUsize::new(0),
            peak_committed: AtomicUsize::new(0),
            mapped: AtomicUsize::new(0),
        }
    };
}

/// The process-wide counters.
pub static GLOBAL: GlobalCounters = counters!(
    warm_pool_hits,
    warm_pool_prefills,
    remote_collects,
    larger_class_blocks,
    big_cache_hits,
    big_cache_misses,
    big_cache_warmed,
    big_cache_cooled,
    big_arena_passes,
    big_cache_uncached,
    big_cache_taken_idle,
    big_cache_from_other_arena,
    cold_delay_raised,
    cold_delay_lowered,
    hot_delay_raised,
    hot_delay_lowered,
    whale_ring_hits,
    whale_ring_misses,
    whale_ring_evictions,
    whale_ring_expired,
    whale_ring_grown,
    whale_ring_splits,
    whale_ring_trims,
    whale_ring_merges,
    whale_budget_raised,
    whale_budget_lowered,
    purged_runs,
    purged_bytes,
    holes_punched,
    holes_filled,
    idle_heap_slices,
    purge_delay_raised,
    purge_delay_lowered,
    segments_mapped,
    segments_unmapped,
    segments_reused,
    segments_lent,
    segments_unpinned,
    segments_abandoned,
    segments_adopted,
    segments_in_space,
    segment_space_slots,
    heaps_created,
    heaps_retired,
    heaps_taken_over,
    invalid_frees,
    pressure_checks,
    pressure_found,
    site_samples,
    site_sampled_frees,
    site_records_dropped,
    site_sample_pages_released,
    site_short,
    site_long,
    site_rules_adopted,
    site_rules_dropped,
    site_rules_evicted,
    site_predicted_right,
    site_predicted_wrong,
    site_unpredicted,
    site_long_allocs,
    site_pages_relabelled,
    site_long_pages_in,
    site_long_pages_out,
    site_long_bytes_in,
    site_long_bytes_out,
    site_big_allocs,
    site_big_kept,
    site_big_released,
    site_big_right,
    site_big_wrong
);

impl GlobalCounters {
    /// Records `bytes` newly mapped (and committed).
    pub fn mapped(&self, bytes: usize) {
        self.mapped.fetch_add(bytes, Relaxed);
        self.committed(bytes);
    }
    /// Records `bytes` unmapped, of which `committed` were still committed.
    pub fn unmapped(&self, bytes: usize, committed: usize) {
        self.mapped.fetch_sub(bytes, Relaxed);
        self.decommitted(committed);
    }
    /// Records `bytes` committed again (a decommitted range taken back into use).
    pub fn committed(&self, bytes: usize) {
        let now = self.committed.fetch_add(bytes, Relaxed) + bytes;
        self.peak_committed.fetch_max(now, Relaxed);
    }
    /// Records `bytes` decommitted.
    pub fn decommitted(&self, bytes: usize) {
        self.committed.fetch_sub(bytes, Relaxed);
    }
    /// Bytes mapped and not decommitted now.
    pub fn committed_now(&self) -> usize {
        self.committed.load(Relaxed)
    }
}

/// When SACS started in this process (monotonic milliseconds), for `Stats::elapsed_ms`.
static START_MS: AtomicU64 = AtomicU64::new(0);

/// Records the start of SACS in this process (once, at `process::init`).
pub fn mark_start() {
    let _ = START_MS.compare_exchange(0, platform::now_ms(), Relaxed, Relaxed);
}

/// Puts the shared tiers' counts into `s` (before [`add_live`] adds the live heaps' own).
fn read_global_tiers(s: &mut Stats) {
    for (t, tier) in s.tiers.iter_mut().enumerate() {
        tier.allocs = GLOBAL.tier_allocs[t].get();
        tier.frees = GLOBAL.tier_frees[t].get();
        tier.in_use_bytes = GLOBAL.tier_bytes[t].get();
    }
}

/// Finishes the tiers' bytes in use after [`add_live`]: counters read one after another can
/// show a free before its allocation, so a net count that went below zero reads as zero; the
/// whale tier's bytes are those of its live whales.
fn settle_tiers(s: &mut Stats) {
    for t in s.tiers.iter_mut() {
        if t.in_use_bytes > i64::MAX as u64 {
            t.in_use_bytes = 0;
        }
    }
    s.tiers[Tier::Whale as usize].in_use_bytes = GLOBAL.whale_live_bytes.load(Relaxed) as u64;
}

/// A snapshot of every counter, with the calling process's resident size.
#[inline(never)]
#[link_section = ".sacs_rare"]
pub fn stats() -> Stats {
    let g = &GLOBAL;
    let mut s = Stats::default();
    s.pid = platform::process_id();
    s.program_len = platform::program_name(&mut s.program);
    s.elapsed_ms = platform::now_ms().saturating_sub(START_MS.load(Relaxed));
    read_global_tiers(&mut s);
    s.warm_pool_hits = g.warm_pool_hits.get();
    s.warm_pool_prefills = g.warm_pool_prefills.get();
    s.remote_collects = g.remote_collects.get();
    s.larger_class_blocks = g.larger_class_blocks.get();
    s.big_cache_hits = g.big_cache_hits.get();
    s.big_cache_misses = g.big_cache_misses.get();
    s.big_cache_warmed = g.big_cache_warmed.get();
    s.big_cache_cooled = g.big_cache_cooled.get();
    s.big_arena_passes = g.big_arena_passes.get();
    s.big_cache_uncached = g.big_cache_uncached.get();
    s.big_cache_taken_idle = g.big_cache_taken_idle.get();
    s.big_cache_from_other_arena = g.big_cache_from_other_arena.get();
    s.big_cache_bytes = g.big_cache_bytes.load(Relaxed);
    s.cold_delay_raised = g.cold_delay_raised.get();
    s.cold_delay_lowered = g.cold_delay_lowered.get();
    s.hot_delay_raised = g.hot_delay_raised.get();
    s.hot_delay_lowered = g.hot_delay_lowered.get();
    s.whale_ring_hits = g.whale_ring_hits.get();
    s.whale_ring_misses = g.whale_ring_misses.get();
    s.whale_ring_evictions = g.whale_ring_evictions.get();
    s.whale_ring_expired = g.whale_ring_expired.get();
    s.whale_ring_grown = g.whale_ring_grown.get();
    s.whale_ring_splits = g.whale_ring_splits.get();
    s.whale_ring_trims = g.whale_ring_trims.get();
    s.whale_ring_merges = g.whale_ring_merges.get();
    s.whale_budget_raised = g.whale_budget_raised.get();
    s.whale_budget_lowered = g.whale_budget_lowered.get();
    s.whale_ring_bytes = g.whale_ring_bytes.load(Relaxed);
    s.whale_ring_budget = g.whale_ring_budget.load(Relaxed);
    s.purged_runs = g.purged_runs.get();
    s.purged_bytes = g.purged_bytes.get();
    s.holes_punched = g.holes_punched.get();
    s.holes_filled = g.holes_filled.get();
    s.idle_heap_slices = g.idle_heap_slices.get();
    s.purge_delay_raised = g.purge_delay_raised.get();
    s.purge_delay_lowered = g.purge_delay_lowered.get();
    s.segments_mapped = g.segments_mapped.get();
    s.segments_unmapped = g.segments_unmapped.get();
    s.segments_reused = g.segments_reused.get();
    s.segments_lent = g.segments_lent.get();
    s.segments_unpinned = g.segments_unpinned.get();
    s.segments_abandoned = g.segments_abandoned.get();
    s.segments_adopted = g.segments_adopted.get();
    s.segments_in_space = g.segments_in_space.get();
    s.segment_space_slots = g.segment_space_slots.get();
    s.heaps_created = g.heaps_created.get();
    s.heaps_retired = g.heaps_retired.get();
    s.heaps_taken_over = g.heaps_taken_over.get();
    s.invalid_frees = g.invalid_frees.get();
    s.pressure_checks = g.pressure_checks.get();
    s.pressure_found = g.pressure_found.get();
    s.pressure_limit = g.pressure_limit.load(Relaxed);
    s.pressure_working = g.pressure_working.load(Relaxed);
    s.pressure_stall = g.pressure_stall.load(Relaxed);
    s.site_samples = g.site_samples.get();
    s.site_sampled_frees = g.site_sampled_frees.get();
    s.site_records_dropped = g.site_records_dropped.get();
    s.site_sample_pages_released = g.site_sample_pages_released.get();
    s.site_short = g.site_short.get();
    s.site_long = g.site_long.get();
    s.site_rules_adopted = g.site_rules_adopted.get();
    s.site_rules_dropped = g.site_rules_dropped.get();
    s.site_rules_evicted = g.site_rules_evicted.get();
    s.site_predicted_right = g.site_predicted_right.get();
    s.site_predicted_wrong = g.site_predicted_wrong.get();
    s.site_unpredicted = g.site_unpredicted.get();
    s.site_long_allocs = g.site_long_allocs.get();
    s.site_pages_relabelled = g.site_pages_relabelled.get();
    s.site_long_pages = g
        .site_long_pages_in
        .get()
        .saturating_sub(g.site_long_pages_out.get());
    s.site_long_page_bytes = g
        .site_long_bytes_in
        .get()
        .saturating_sub(g.site_long_bytes_out.get());
    s.site_big_allocs = g.site_big_allocs.get();
    s.site_big_kept = g.site_big_kept.get();
    s.site_big_released = g.site_big_released.get();
    s.site_big_right = g.site_big_right.get();
    s.site_big_wrong = g.site_big_wrong.get();
    s.learn = LearnStats::read();
    // Live heaps' own counters (after the globals they add to).
    add_live(&mut s);
    settle_tiers(&mut s);
    for (i, c) in platform::SYSCALLS.iter().enumerate() {
        s.syscalls[i] = SyscallStats {
            calls: c.calls.load(Relaxed),
            cycles: c.cycles.load(Relaxed),
            failures: c.failures.load(Relaxed),
        };
    }
    s.committed_bytes = g.committed.load(Relaxed);
    s.peak_committed_bytes = g.peak_committed.load(Relaxed);
    s.mapped_bytes = g.mapped.load(Relaxed);
    s.resident_bytes = platform::resident_bytes();
    s
}
