//! `server`: a request-serving program with a long-lived cache, the shape of memory that Site
//! Rules (issue 9) are for.
//!
//! Requests in flight allocate buffers (a request's parse tree, headers, a response being
//! built) and free them all when they complete; a share of completed requests put a copy of
//! their response into an LRU cache, which lives on. Buffers and cache entries have the *same
//! sizes* (one size distribution, so the same size classes) but come from *different call
//! sites* ([`request_buffer`], [`cache_entry`]). The load comes in waves: the number of
//! requests in flight swings between [`LOW_INFLIGHT`] and a high mark, so the buffers of a busy
//! moment take fresh pages, and the cache entries made meanwhile land among them. When the wave
//! passes, those pages keep a few cache entries each. A size-class allocator then cannot give
//! the pages back, least of all after the cache shrinks; one that puts each site's blocks on
//! pages of their own can.
//!
//! Phases (each ends with a resident-set reading, `phase_rss_kib`):
//!
//! 1. `fill`: requests run at the low load while the cache grows to its capacity
//!    (`scaled(48_000)` entries, ~39 MiB at scale 1);
//! 2. `steady`: `scaled(24_000)` requests in 4 waves of load, up to `scaled(1536)` in flight
//!    (~60 MiB of buffers at the crest); one completed request in 2 inserts an entry and evicts
//!    the least recently used one, and every completed request looks up 2 random entries;
//! 3. `shrink`: the cache's capacity falls to a quarter, evicting least recently used entries
//!    over the first half of `scaled(3_000)` more requests at the low load;
//! 4. `idle`: the pause of [`RssTrace::settle`]; `final_rss_kib` is read after it, while the
//!    quarter of the cache is still live.
//!
//! Every block is filled and checked ([`Tally`]); the workload is deterministic.

use crate::common::{rss_kib, Config, Outcome, Rng};
use crate::tally::{os_pages_touched_kib, Block, Tally};
use crate::trace::RssTrace;

/// Requests in flight between waves (and in the `fill` and `shrink` phases).
const LOW_INFLIGHT: usize = 64;

/// Requests in flight at a wave's crest, at scale 1.
const HIGH_INFLIGHT: u64 = 1536;

/// The fewest and the most buffers one request allocates (~96 on average, ~80 KiB).
const BUFFERS: (usize, usize) = (32, 160);

/// Buffers a request allocates at most each time it is given a turn.
const BUFFERS_PER_TURN: usize = 8;

/// Cache entries at full capacity, at scale 1.
const CACHE_ENTRIES: u64 = 48_000;

/// Entries each completed request inserts while the cache fills.
const FILL_INSERTS: usize = 8;

/// Requests in the `steady` phase at scale 1, and the waves of load they come in.
const STEADY_REQUESTS: u64 = 24_000;
const WAVES: u64 = 4;

/// In `steady` and `shrink`, one completed request in this many inserts a cache entry.
const INSERT_EVERY: u64 = 2;

/// Random cache slots each completed request looks up (a hit is checked and becomes the most
/// recently used).
const LOOKUPS: usize = 2;

/// Requests in the `shrink` phase at scale 1.
const SHRINK_REQUESTS: u64 = 3_000;

/// Operations between two resident-set readings (about 1,500 readings at scale 1).
const TRACE_EVERY: u64 = 4096;

/// The size of a request buffer or a cache entry: 3 in 4 of 32..=512 B, 1 in 4 of 1..=4 KiB
/// (~840 B on average).
fn object_size(rng: &mut Rng) -> usize {
    if rng.range(0, 3) > 0 {
        rng.range(32, 512)
    } else {
        rng.range(1 << 10, 4 << 10)
    }
}

/// A request-scoped buffer, from a call site of its own: freed when its request completes.
#[inline(never)]
fn request_buffer(tally: &mut Tally, rng: &mut Rng) -> Block {
    let len = object_size(rng);
    // The marker keeps this function's code apart from `cache_entry`'s: identical bodies are
    // merged into one function by the compiler, and the two sites would be one.
    core::hint::black_box(SITE_MARKER_BUFFER);
    tally.alloc(len)
}

/// A cache entry, from a call site of its own: lives until the cache evicts it.
#[inline(never)]
fn cache_entry(tally: &mut Tally, rng: &mut Rng) -> Block {
    let len = object_size(rng);
    core::hint::black_box(SITE_MARKER_CACHE);
    tally.alloc(len)
}

/// Distinct constants for [`request_buffer`] and [`cache_entry`] (see there).
const SITE_MARKER_BUFFER: u32 = 0xB0F;
const SITE_MARKER_CACHE: u32 = 0xCAC;

/// No slot: the end of the LRU list.
const NIL: u32 = u32::MAX;

/// A cache slot: an entry (or none) and its neighbours in recency order.
struct Node {
    entry: Option<Block>,
    /// The next less recently used slot, or [`NIL`].
    older: u32,
    /// The next more recently used slot, or [`NIL`].
    newer: u32,
}

/// The long-lived cache: a fixed array of slots (allocated once, before the workload's own
/// blocks) linked in recency order, evicting the least recently used entry when full.
struct Cache {
    nodes: Vec<Node>,
    /// Slots with no entry.
    vacant: Vec<u32>,
    /// The least recently used slot, or [`NIL`].
    oldest: u32,
    /// The most recently used slot, or [`NIL`].
    newest: u32,
    /// Entries held.
    len: usize,
    /// Entries held at most; evictions keep `len <= capacity`.
    capacity: usize,
}

impl Cache {
    fn new(capacity: usize) -> Cache {
        let nodes = (0..capacity)
            .map(|_| Node {
                entry: None,
                older: NIL,
                newer: NIL,
            })
            .collect();
        Cache {
            nodes,
            vacant: (0..capacity as u32).rev().collect(),
            oldest: NIL,
            newest: NIL,
            len: 0,
            capacity,
        }
    }

    fn is_full(&self) -> bool {
        self.len >= self.capacity
    }

    /// Inserts a new entry (from [`cache_entry`]) as the most recently used, first evicting
    /// the least recently used entries while the cache is full.
    fn insert(&mut self, tally: &mut Tally, rng: &mut Rng) {
        while self.is_full() {
            self.evict_oldest(tally);
        }
        let slot = self.vacant.pop().expect("a vacant slot below capacity");
        self.nodes[slot as usize].entry = Some(cache_entry(tally, rng));
        self.link_newest(slot);
        self.len += 1;
    }

    /// Looks up a random slot: an entry there is checked and becomes the most recently used.
    fn lookup(&mut self, tally: &mut Tally, rng: &mut Rng) {
        let slot = rng.range(0, self.nodes.len() - 1) as u32;
        if let Some(entry) = &self.nodes[slot as usize].entry {
            tally.check(entry);
            self.unlink(slot);
            self.link_newest(slot);
        }
    }

    /// Frees the least recently used entry, if any.
    fn evict_oldest(&mut self, tally: &mut Tally) {
        let slot = self.oldest;
        if slot == NIL {
            return;
        }
        self.unlink(slot);
        let entry = self.nodes[slot as usize].entry.take();
        tally.free(entry.expect("a linked slot holds an entry"));
        self.vacant.push(slot);
        self.len -= 1;
    }

    /// Frees every entry.
    fn clear(&mut self, tally: &mut Tally) {
        while self.len > 0 {
            self.evict_oldest(tally);
        }
    }

    fn link_newest(&mut self, slot: u32) {
        let node = &mut self.nodes[slot as usize];
        node.older = self.newest;
        node.newer = NIL;
        match self.newest {
            NIL => self.oldest = slot,
            newest => self.nodes[newest as usize].newer = slot,
        }
        self.newest = slot;
    }

    fn unlink(&mut self, slot: u32) {
        let Node { older, newer, .. } = self.nodes[slot as usize];
        match older {
            NIL => self.oldest = newer,
            o => self.nodes[o as usize].newer = newer,
        }
        match newer {
            NIL => self.newest = older,
            n => self.nodes[n as usize].older = older,
        }
    }
}

/// A request in flight: the buffers it holds so far and how many it will have.
struct Request {
    buffers: Vec<Block>,
    target: usize,
}

/// The server: requests in flight (the first `active` of `requests`; every slot's buffer list
/// is allocated once, before the workload's own blocks), the cache, and the counters.
struct Server {
    tally: Tally,
    rng: Rng,
    requests: Vec<Request>,
    active: usize,
    cache: Cache,
    /// Requests completed so far.
    completed: u64,
    trace: RssTrace,
}

impl Server {
    fn new(max_inflight: usize, cache_entries: usize) -> Server {
        let requests = (0..max_inflight)
            .map(|_| Request {
                buffers: Vec::with_capacity(BUFFERS.1),
                target: 0,
            })
            .collect();
        Server {
            tally: Tally::new("server"),
            rng: Rng::new(0x5EED_0009),
            requests,
            active: 0,
            cache: Cache::new(cache_entries),
            completed: 0,
            trace: RssTrace::new(TRACE_EVERY),
        }
    }

    /// Starts requests until `inflight` are in flight, or gives a random one its turn: it
    /// allocates a few more buffers, and completes once it has all of them.
    /// `on_complete` does the cache work of a completed request, before its buffers are freed.
    fn step(&mut self, inflight: usize, on_complete: &mut dyn FnMut(&mut Server)) {
        if self.active < inflight.min(self.requests.len()) {
            let target = self.rng.range(BUFFERS.0, BUFFERS.1);
            self.requests[self.active].target = target;
            self.active += 1;
            return;
        }
        let i = self.rng.range(0, self.active - 1);
        let turn = self.rng.range(1, BUFFERS_PER_TURN);
        for _ in 0..turn {
            let request = &self.requests[i];
            if request.buffers.len() >= request.target {
                break;
            }
            let buffer = request_buffer(&mut self.tally, &mut self.rng);
            self.requests[i].buffers.push(buffer);
        }
        if self.requests[i].buffers.len() >= self.requests[i].target {
            on_complete(self);
            self.complete(i);
        }
        self.trace.tick(self.tally.ops());
    }

    /// Frees request `i`'s buffers, in the order it allocated them, and retires its slot.
    fn complete(&mut self, i: usize) {
        let mut buffers = std::mem::take(&mut self.requests[i].buffers);
        for buffer in buffers.drain(..) {
            self.tally.free(buffer);
        }
        self.requests[i].buffers = buffers;
        self.active -= 1;
        self.requests.swap(i, self.active);
        self.completed += 1;
    }

    /// A completed request's usual cache work: [`LOOKUPS`] lookups, and one insert in
    /// [`INSERT_EVERY`] requests.
    fn serve(&mut self) {
        for _ in 0..LOOKUPS {
            self.cache.lookup(&mut self.tally, &mut self.rng);
        }
        if self.completed.is_multiple_of(INSERT_EVERY) {
            self.cache.insert(&mut self.tally, &mut self.rng);
        }
    }

    /// Runs until `requests` more requests completed, at `load(completed so far in this run)`
    /// requests in flight, with `on_complete` as the cache work of each.
    fn run(
        &mut self,
        requests: u64,
        load: impl Fn(u64) -> usize,
        on_complete: &mut dyn FnMut(&mut Server),
    ) {
        let end = self.completed + requests;
        let begin = self.completed;
        while self.completed < end {
            let inflight = load(self.completed - begin);
            self.step(inflight, on_complete);
        }
    }

    /// Completes every request in flight (no cache work) and frees the cache.
    fn drain(&mut self) {
        while self.active > 0 {
            self.complete(self.active - 1);
        }
        self.cache.clear(&mut self.tally);
    }
}

/// Requests in flight after `done` of a phase's `total` requests, in `WAVES` waves of load from
/// [`LOW_INFLIGHT`] up to `high` and back (a triangle).
fn wave(done: u64, total: u64, high: usize) -> usize {
    let period = (total / WAVES).max(1);
    let x = (done % period) as f64 / period as f64;
    let crest = 1.0 - (2.0 * x - 1.0).abs();
    LOW_INFLIGHT + ((high - LOW_INFLIGHT) as f64 * crest) as usize
}

/// The `server` workload (see the module's documentation).
pub fn server(config: &Config) -> Outcome {
    let high = (config.scaled(HIGH_INFLIGHT) as usize).max(2 * LOW_INFLIGHT);
    let capacity = config.scaled(CACHE_ENTRIES) as usize;
    let mut s = Server::new(high, capacity);

    // fill: every completed request inserts a few entries until the cache is full.
    while !s.cache.is_full() {
        s.run(1, |_| LOW_INFLIGHT, &mut |s| {
            for _ in 0..FILL_INSERTS {
                if !s.cache.is_full() {
                    s.cache.insert(&mut s.tally, &mut s.rng);
                }
            }
        });
    }
    s.trace.end_phase("fill");

    let steady = config.scaled(STEADY_REQUESTS);
    s.run(steady, |done| wave(done, steady, high), &mut Server::serve);
    s.trace.end_phase("steady");

    // shrink: the capacity falls to a quarter; the excess is evicted over the first half of
    // the phase's requests, a few entries per completed request.
    let shrink = config.scaled(SHRINK_REQUESTS);
    s.cache.capacity = (capacity / 4).max(1);
    let per_request = (capacity - s.cache.capacity).div_ceil((shrink / 2).max(1) as usize);
    s.run(shrink, |_| LOW_INFLIGHT, &mut |s| {
        for _ in 0..per_request {
            if s.cache.len > s.cache.capacity {
                s.cache.evict_oldest(&mut s.tally);
            }
        }
        s.serve();
    });
    s.trace.end_phase("shrink");

    s.trace.settle();
    s.trace.end_phase("idle");
    let final_rss = rss_kib();
    if std::env::var_os("WORKLOAD_LIVE_PAGES").is_some() {
        // Diagnostic (stderr): how much of the final resident set the live entries need at
        // the least, in whole system pages.
        let live = || s.cache.nodes.iter().filter_map(|n| n.entry.as_ref());
        eprintln!(
            "server: {} live entries, {} KiB, on system pages of {} KiB; final RSS {} KiB",
            live().count(),
            live().map(|b| b.len).sum::<usize>() / 1024,
            os_pages_touched_kib(live().map(|b| (b.addr(), b.len))),
            final_rss
        );
    }
    let report = s.trace.finish();
    s.drain();
    Outcome {
        rss: Some(report),
        ..s.tally.outcome(Some(final_rss))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slots holding an entry, least recently used first.
    fn recency(cache: &Cache) -> Vec<u32> {
        let mut order = Vec::new();
        let mut slot = cache.oldest;
        while slot != NIL {
            order.push(slot);
            slot = cache.nodes[slot as usize].newer;
        }
        order
    }

    #[test]
    fn cache_evicts_the_least_recently_used_entry() {
        let mut tally = Tally::new("server-test");
        let mut rng = Rng::new(1);
        let mut cache = Cache::new(3);
        for _ in 0..3 {
            cache.insert(&mut tally, &mut rng);
        }
        assert_eq!(recency(&cache), [0, 1, 2]);
        // A hit on slot 0 makes it the most recently used: slot 1 goes first.
        cache.unlink(0);
        cache.link_newest(0);
        assert_eq!(recency(&cache), [1, 2, 0]);
        cache.insert(&mut tally, &mut rng);
        assert_eq!(cache.len, 3);
        assert!(cache.nodes[1].entry.is_some(), "the vacated slot is reused");
        assert_eq!(recency(&cache), [2, 0, 1]);
        // Shrinking: evictions take the oldest first, down to empty.
        cache.evict_oldest(&mut tally);
        assert_eq!(recency(&cache), [0, 1]);
        cache.clear(&mut tally);
        assert_eq!((cache.len, cache.oldest, cache.newest), (0, NIL, NIL));
        // Every block was freed once: 4 allocations and 4 frees.
        assert_eq!(tally.ops(), 8);
    }

    #[test]
    fn load_rises_from_low_to_high_and_back_in_each_wave() {
        let (total, high) = (400, 1000);
        let period = total / WAVES;
        for wave_start in (0..total).step_by(period as usize) {
            assert_eq!(wave(wave_start, total, high), LOW_INFLIGHT);
            assert_eq!(wave(wave_start + period / 2, total, high), high);
            assert!(wave(wave_start + period / 4, total, high) < high);
        }
    }
}
