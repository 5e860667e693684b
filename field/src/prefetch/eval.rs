//! The offline evaluator: replays a [`Trace`] against a cache of a fixed number of blocks
//! (LRU, or a CLOCK over decaying counts like the field's tiers) with a [`Prefetcher`], and
//! counts demand misses, prefetched blocks and those used before their eviction.

use std::collections::HashMap;

use super::{Event, NoPrefetch, Prefetcher, Trace};

/// The cache's replacement policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Least recently used.
    Lru,
    /// The field's CLOCK: a touch adds one to a block's count (saturating), the hand halves
    /// each count it passes and evicts the first block at zero (`tiers`).
    Clock,
}

impl Policy {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Lru => "lru",
            Policy::Clock => "clock",
        }
    }
}

/// One prefetcher's counts on one trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Demand accesses replayed.
    pub accesses: u64,
    /// Demand misses of the same trace and cache without prefetch.
    pub baseline_misses: u64,
    /// Demand misses with the prefetcher.
    pub misses: u64,
    /// Blocks the prefetcher loaded (proposed and not resident).
    pub prefetched: u64,
    /// Prefetched blocks that a demand access reached before their eviction.
    pub used: u64,
}

impl Metrics {
    /// used / prefetched (1 when nothing was prefetched: no prefetch was wrong).
    pub fn accuracy(&self) -> f64 {
        if self.prefetched == 0 {
            return 1.0;
        }
        self.used as f64 / self.prefetched as f64
    }

    /// Misses avoided / misses without prefetch (negative if prefetching caused misses).
    pub fn coverage(&self) -> f64 {
        if self.baseline_misses == 0 {
            return 0.0;
        }
        (self.baseline_misses as f64 - self.misses as f64) / self.baseline_misses as f64
    }

    /// Prefetched blocks never used / misses without prefetch.
    pub fn extra_io(&self) -> f64 {
        if self.baseline_misses == 0 {
            return 0.0;
        }
        (self.prefetched - self.used) as f64 / self.baseline_misses as f64
    }

    /// Blocks read in all (demand misses and prefetches).
    pub fn total_io(&self) -> u64 {
        self.misses + self.prefetched
    }
}

/// A slot of the simulated cache.
#[derive(Clone, Copy)]
struct Slot {
    block: u64,
    /// Brought by a prefetch and not yet reached by a demand access.
    unused_prefetch: bool,
    /// CLOCK: the access count. LRU: unused.
    count: u8,
    /// LRU: neighbours in recency order (`NIL` at the ends).
    prev: usize,
    next: usize,
}

const NIL: usize = usize::MAX;

/// A cache of `capacity` blocks.
struct Cache {
    policy: Policy,
    capacity: usize,
    slots: Vec<Slot>,
    index: HashMap<u64, usize>,
    /// CLOCK hand.
    hand: usize,
    /// LRU: most and least recently used slots.
    head: usize,
    tail: usize,
}

impl Cache {
    fn new(policy: Policy, capacity: usize) -> Cache {
        let capacity = capacity.max(1);
        Cache {
            policy,
            capacity,
            slots: Vec::with_capacity(capacity),
            index: HashMap::with_capacity(capacity * 2),
            hand: 0,
            head: NIL,
            tail: NIL,
        }
    }

    fn contains(&self, block: u64) -> bool {
        self.index.contains_key(&block)
    }

    fn unlink(&mut self, i: usize) {
        let Slot { prev, next, .. } = self.slots[i];
        if prev == NIL {
            self.head = next;
        } else {
            self.slots[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slots[next].prev = prev;
        }
    }

    fn push_front(&mut self, i: usize) {
        self.slots[i].prev = NIL;
        self.slots[i].next = self.head;
        if self.head != NIL {
            self.slots[self.head].prev = i;
        }
        self.head = i;
        if self.tail == NIL {
            self.tail = i;
        }
    }

    /// A demand access: `Some(was an unused prefetch)` on a hit (touching the block), `None`
    /// on a miss.
    fn access(&mut self, block: u64) -> Option<bool> {
        let &i = self.index.get(&block)?;
        let first_use = std::mem::replace(&mut self.slots[i].unused_prefetch, false);
        match self.policy {
            Policy::Lru => {
                self.unlink(i);
                self.push_front(i);
            }
            Policy::Clock => self.slots[i].count = self.slots[i].count.saturating_add(1),
        }
        Some(first_use)
    }

    /// Inserts `block` (not resident), evicting a block if full.
    fn insert(&mut self, block: u64, prefetched: bool) {
        let slot = Slot {
            block,
            unused_prefetch: prefetched,
            count: 1,
            prev: NIL,
            next: NIL,
        };
        let i = if self.slots.len() < self.capacity {
            self.slots.push(slot);
            self.slots.len() - 1
        } else {
            let i = self.victim();
            self.index.remove(&self.slots[i].block);
            if self.policy == Policy::Lru {
                self.unlink(i);
            }
            self.slots[i] = slot;
            i
        };
        if self.policy == Policy::Lru {
            self.push_front(i);
        }
        self.index.insert(block, i);
    }

    fn victim(&mut self) -> usize {
        match self.policy {
            Policy::Lru => self.tail,
            Policy::Clock => loop {
                let i = self.hand;
                self.hand = (i + 1) % self.slots.len();
                let count = &mut self.slots[i].count;
                if *count == 0 {
                    return i;
                }
                *count /= 2;
            },
        }
    }
}

/// Demand misses of `trace` on a cache of `capacity` blocks without prefetch.
pub fn demand_misses(trace: &Trace, capacity: usize, policy: Policy) -> u64 {
    evaluate(trace, capacity, policy, &mut NoPrefetch, 0).misses
}

/// Replays `trace` on a cache of `capacity` blocks under `policy`, with `prefetcher`
/// observing every access; `baseline_misses` is [`demand_misses`] of the same trace and cache
/// (pass it in so that sweeps compute it once).
pub fn evaluate(
    trace: &Trace,
    capacity: usize,
    policy: Policy,
    prefetcher: &mut dyn Prefetcher,
    baseline_misses: u64,
) -> Metrics {
    let mut cache = Cache::new(policy, capacity);
    let mut m = Metrics {
        baseline_misses,
        ..Metrics::default()
    };
    let mut proposals = Vec::new();
    for (index, access) in trace.accesses.iter().enumerate() {
        m.accesses += 1;
        let event = match cache.access(access.block) {
            Some(true) => {
                m.used += 1;
                Event::PrefetchHit
            }
            Some(false) => Event::Hit,
            None => {
                m.misses += 1;
                cache.insert(access.block, false);
                Event::Miss
            }
        };
        proposals.clear();
        prefetcher.observe(index, access, event, &mut proposals);
        for &block in &proposals {
            if block < trace.block_count && !cache.contains(block) {
                cache.insert(block, true);
                m.prefetched += 1;
                prefetcher.loaded(block);
            }
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_and_clock_count_misses_of_a_loop_larger_than_the_cache() {
        // A loop over 5 blocks in a cache of 4: LRU misses every access.
        let blocks: Vec<u64> = (0..50).map(|i| i % 5).collect();
        let trace = Trace::from_blocks(&blocks, 5);
        assert_eq!(demand_misses(&trace, 4, Policy::Lru), 50);
        assert_eq!(demand_misses(&trace, 5, Policy::Lru), 5);
        assert_eq!(demand_misses(&trace, 5, Policy::Clock), 5);
        let clock = demand_misses(&trace, 4, Policy::Clock);
        assert!((5..=50).contains(&clock), "{clock}");
    }
}
