//! Single-threaded workloads: the shapes of allocation one thread makes on its own, from tiny
//! hot bursts to buffers of megabytes grown by `realloc`.
//!
//! Every workload goes through a [`Tally`] (`tally.rs`), which owns the calls to `malloc`,
//! `realloc` and `free`, fills and checks every block and counts the operations. Every workload
//! is deterministic (fixed seeds and counts), so the checksum is the same under every allocator.
//!
//! `final_rss_kib` is read by `main` after the workload returned (everything freed), except in
//! [`fragmentation`], which reads it while its long-lived objects are still live, and which also
//! traces its resident set (`trace.rs`).

use crate::common::{rss_kib, Config, Outcome, Rng};
use crate::tally::{Block, Tally};
use crate::trace::RssTrace;

/// Keeps `slots` blocks live, with sizes drawn by `size`; each of `steps` steps checks and frees
/// a random one, then allocates its replacement; frees them all at the end.
fn replace_random(
    tally: &mut Tally,
    seed: u64,
    slots: usize,
    steps: u64,
    size: impl Fn(&mut Rng) -> usize,
) {
    let mut rng = Rng::new(seed);
    let mut live: Vec<Block> = (0..slots).map(|_| tally.alloc(size(&mut rng))).collect();
    for _ in 0..steps {
        let old = live.swap_remove(rng.range(0, slots - 1));
        tally.free(old);
        live.push(tally.alloc(size(&mut rng)));
    }
    for block in live {
        tally.free(block);
    }
}

/// Blocks per burst in [`tiny_hot`].
const BURST: usize = 100;

/// The seed's "tiny hot": `scaled(200_000)` rounds of allocating 100 blocks of 32 B (each
/// filled), then checking and freeing them all, last allocated first. 200 operations a round.
pub fn tiny_hot(config: &Config) -> Outcome {
    let mut tally = Tally::new("tiny-hot");
    let mut burst = Vec::with_capacity(BURST);
    for _ in 0..config.scaled(200_000) {
        for _ in 0..BURST {
            burst.push(tally.alloc(32));
        }
        while let Some(block) = burst.pop() {
            tally.free(block);
        }
    }
    tally.outcome(None)
}

/// 1024 live blocks of uniformly random sizes in 16..=1024 B; `scaled(16_000_000)` steps each
/// check and free a random one and allocate its replacement (a new random size). All are
/// freed at the end.
pub fn random_mixed(config: &Config) -> Outcome {
    let mut tally = Tally::new("random-mixed");
    replace_random(
        &mut tally,
        0x5EED_0002,
        1024,
        config.scaled(16_000_000),
        |rng| rng.range(16, 1024),
    );
    tally.outcome(None)
}

/// The seed's scenarios: `rounds` times allocate a buffer of `size` bytes, fill it (a word in
/// every 4 KiB page), check it and free it.
fn scenario(config: &Config, workload: &'static str, size: usize, rounds: u64) -> Outcome {
    let mut tally = Tally::new(workload);
    for _ in 0..config.scaled(rounds) {
        let block = tally.alloc(size);
        tally.free(block);
    }
    tally.outcome(None)
}

/// The seed's "json" scenario: `scaled(6_000_000)` rounds of a 64 KiB buffer allocated, every
/// page written, checked, freed.
pub fn json(config: &Config) -> Outcome {
    scenario(config, "json", 64 << 10, 6_000_000)
}

/// The seed's "mir" scenario: `scaled(1_500_000)` rounds of a 256 KiB buffer allocated, every
/// page written, checked, freed.
pub fn mir(config: &Config) -> Outcome {
    scenario(config, "mir", 256 << 10, 1_500_000)
}

/// The seed's "vm" scenario: `scaled(80_000)` rounds of a 2 MiB buffer allocated, every page
/// written, checked, freed.
pub fn vm(config: &Config) -> Outcome {
    scenario(config, "vm", 2 << 20, 80_000)
}

/// Buffers in [`realloc_growth`].
const GROWN: usize = 8;

/// `scaled(8)` rounds of: 8 buffers start at 16 B and are grown in turn by `realloc`, each by
/// half its length (plus 16 B) a step, until buffer `i` reaches `64 MiB >> i` (64 MiB down to
/// 512 KiB, 127.5 MiB together); then all are freed. Before each realloc the buffer's pattern
/// is checked, after it the old prefix is checked again (the contents must move with it), and
/// the new length is filled (every page written).
pub fn realloc_growth(config: &Config) -> Outcome {
    let mut tally = Tally::new("realloc-growth");
    for _ in 0..config.scaled(8) {
        let mut buffers: Vec<Block> = (0..GROWN).map(|_| tally.alloc(16)).collect();
        let mut growing = true;
        while growing {
            growing = false;
            for (i, block) in buffers.iter_mut().enumerate() {
                let limit = (64 << 20) >> i;
                if block.len < limit {
                    let len = (block.len + block.len / 2 + 16).min(limit);
                    tally.grow(block, len);
                    growing = true;
                }
            }
        }
        for block in buffers {
            tally.free(block);
        }
    }
    tally.outcome(None)
}

/// Phases in [`fragmentation`].
const PHASES: usize = 12;

/// Short-lived objects allocated in [`fragmentation`] for each long-lived one.
const SHORT_PER_LONG: usize = 24;

/// A short-lived object (a temporary), from a call site of its own: 85 % of 16..=512 B,
/// 15 % of 2..=8 KiB (~1 KiB on average).
#[inline(never)]
fn short_lived(tally: &mut Tally, rng: &mut Rng) -> Block {
    let len = if rng.range(0, 99) < 85 {
        rng.range(16, 512)
    } else {
        rng.range(2 << 10, 8 << 10)
    };
    tally.alloc(len)
}

/// A long-lived object (kept to the end), from a call site of its own: 127 in 128 of
/// 64..=256 B, 1 in 128 of 32 KiB (~400 B on average).
#[inline(never)]
fn long_lived(tally: &mut Tally, rng: &mut Rng) -> Block {
    let len = if rng.range(0, 127) > 0 {
        rng.range(64, 256)
    } else {
        32 << 10
    };
    tally.alloc(len)
}

/// The names of [`fragmentation`]'s phases, as its `phases` field gives them.
const PHASE_NAMES: [&str; PHASES] = [
    "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12",
];

/// Operations between two resident-set readings of [`fragmentation`] (about 730 readings at
/// scale 1, ~1.5 ms of reading).
const TRACE_EVERY: u64 = 4096;

/// Long- and short-lived objects interleaved, as a program that keeps a few results of each
/// piece of work: 12 phases, each allocating `scaled(120_000)` short-lived objects (see
/// [`short_lived`], ~115 MiB at scale 1) with one long-lived object (see [`long_lived`]) after
/// every 24 of them, then checking and freeing the short-lived ones, in the order they were
/// allocated. The long-lived survive to the end: ~23 MiB at scale 1, ~17 % of the peak.
///
/// `final_rss_kib` is read when only the long-lived objects remain, before they are freed, after
/// [`settle`](crate::common::settle): it shows how much of the memory scattered between
/// survivors the allocator gave back once idle for a moment. `phase_rss_kib` is the resident set
/// at the end of each phase (after its frees, with no idle pause), and `mean_rss_kib` the
/// time-weighted mean from the start to the `final_rss_kib` reading.
pub fn fragmentation(config: &Config) -> Outcome {
    let mut tally = Tally::new("fragmentation");
    let mut rng = Rng::new(0x5EED_0007);
    let shorts = config.scaled(120_000) as usize;
    let mut short = Vec::with_capacity(shorts);
    let mut long = Vec::with_capacity(PHASES * (shorts / SHORT_PER_LONG + 1));
    let mut trace = RssTrace::new(TRACE_EVERY);
    for phase in PHASE_NAMES {
        for i in 1..=shorts {
            short.push(short_lived(&mut tally, &mut rng));
            if i % SHORT_PER_LONG == 0 {
                long.push(long_lived(&mut tally, &mut rng));
            }
            trace.tick(tally.ops());
        }
        for block in short.drain(..) {
            tally.free(block);
            trace.tick(tally.ops());
        }
        trace.end_phase(phase);
    }
    trace.settle();
    let final_rss = rss_kib();
    let report = trace.finish();
    for block in long {
        tally.free(block);
    }
    Outcome {
        rss: Some(report),
        ..tally.outcome(Some(final_rss))
    }
}

/// 64 live blocks of log-uniform random sizes in 32 KiB..=2 MiB (mean ~485 KiB); each of
/// `scaled(50_000)` steps checks and frees a random one and allocates its replacement (a new
/// size), writing every page of it. All are freed at the end.
pub fn big_mix(config: &Config) -> Outcome {
    let mut tally = Tally::new("big-mix");
    replace_random(&mut tally, 0x5EED_0008, 64, config.scaled(50_000), |rng| {
        rng.log_range(32 << 10, 2 << 20)
    });
    tally.outcome(None)
}
