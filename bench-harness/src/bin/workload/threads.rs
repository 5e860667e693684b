//! Multi-threaded workloads: blocks freed by a thread other than the one that allocated them
//! (`larson`, `producer_consumer`), threads that come and go (`thread_churn`), small objects
//! written hard by different threads (`false_sharing`), and random mixed on 1–8 threads
//! (`scaling`).
//!
//! Every thread works through a [`Local`]: its own [`Rng`], seeded from its index, and its own
//! tags (the index in the high bits, a counter in the low), so each thread allocates the same
//! sequence of (size, tag) on every run and under every allocator. A block travels as a [`Block`]
//! (pointer, length, tag), so whichever thread frees it checks its content first. Only which
//! thread frees a block depends on the interleaving; every block is freed exactly once, so the
//! checksum (the wrapping sum of [`check`]'s words over all blocks) and the operation count do
//! not.
//!
//! The work is fixed in total and split between the threads, except in `scaling`, where it is
//! fixed per thread.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Barrier;
use std::thread;

use crate::common::{check, fail, fill, free, malloc, Config, Outcome, Rng};

/// `larson`: table slots per thread.
const LARSON_SLOTS: usize = 1024;
/// `larson`: replacements at scale 1, over all threads.
const LARSON_STEPS: u64 = 6_000_000;

/// `producer_consumer`: blocks per batch sent from a producer to its consumer.
const PC_BATCH: usize = 256;
/// `producer_consumer`: batches a producer may have in flight before it waits for its consumer.
const PC_DEPTH: usize = 4;
/// `producer_consumer`: blocks at scale 1, over all pairs.
const PC_BLOCKS: u64 = 2_000_000;

/// `thread_churn`: threads started at scale 1.
const CHURN_THREADS: u64 = 3000;
/// `thread_churn`: blocks each thread allocates (half freed by itself, half by its successor).
const CHURN_BLOCKS: usize = 500;

/// `thread_rounds`: rounds at scale 1; each round replaces every lane's thread.
const ROUNDS: u64 = 2000;
/// `thread_rounds`: live blocks per lane, handed from each round's thread to the next.
const ROUND_SLOTS: usize = 5000;
/// `thread_rounds`: replacements each thread makes in its round.
const ROUND_STEPS: usize = 2_000;

/// `false_sharing`: the size of every object (cache-scratch's default).
const SCRATCH_SIZE: usize = 8;
/// `false_sharing`: allocate-write-free rounds at scale 1, over all workers.
const SCRATCH_ROUNDS: u64 = 800_000;
/// `false_sharing`: how many times every byte of an object is incremented per round. A multiple
/// of 256, so the byte wraps round to what [`fill`] wrote and [`check`] still holds.
const SCRATCH_PASSES: usize = 256;

/// `scaling`: blocks each thread keeps live.
const RING: usize = 1024;
/// `scaling`: replacements at scale 1, per thread.
const SCALING_STEPS: u64 = 10_000_000;

/// A live block from [`malloc`] of `len` bytes, filled with the pattern of (`len`, `tag`). The
/// value is the block's only handle (neither `Copy` nor `Clone`); [`Local::free`] consumes it.
struct Block {
    ptr: *mut u8,
    len: usize,
    tag: u64,
}

// SAFETY: a `Block` is the only handle to its memory, so moving it to another thread moves the
// sole access with it; memory from `malloc` may be read and freed by any thread.
unsafe impl Send for Block {}

impl Block {
    /// Adds 1 to every byte of the block [`SCRATCH_PASSES`] times over, one volatile read and
    /// write at a time, which leaves every byte as it was.
    fn scratch(&self) {
        for _ in 0..SCRATCH_PASSES {
            for i in 0..self.len {
                // SAFETY: `i < len`, inside the live block this value owns.
                unsafe {
                    let byte = self.ptr.add(i);
                    byte.write_volatile(byte.read_volatile().wrapping_add(1));
                }
            }
        }
    }
}

/// Operations done and the checksum, of one thread or summed over many.
#[derive(Clone, Copy, Default)]
struct Tally {
    ops: u64,
    checksum: u64,
}

impl std::iter::Sum for Tally {
    fn sum<I: Iterator<Item = Tally>>(tallies: I) -> Tally {
        tallies.fold(Tally::default(), |a, b| Tally {
            ops: a.ops + b.ops,
            checksum: a.checksum.wrapping_add(b.checksum),
        })
    }
}

impl Tally {
    /// The tally as `main` reports it, for a workload that ran on `threads` threads.
    fn outcome(self, threads: usize) -> Outcome {
        Outcome {
            ops: self.ops,
            threads,
            checksum: self.checksum,
            final_rss_kib: None,
            rss: None,
        }
    }
}

/// One thread's side of a workload: its random sizes, its tags and its tally.
struct Local {
    workload: &'static str,
    rng: Rng,
    next_tag: u64,
    tally: Tally,
}

impl Local {
    /// The side of thread `thread` (an index unique within the run) of `workload`.
    fn new(workload: &'static str, thread: usize) -> Local {
        Local {
            workload,
            rng: Rng::new(thread as u64),
            next_tag: (thread as u64) << 40,
            tally: Tally::default(),
        }
    }

    /// Allocates a block of a random size in `lo..=hi` (`lo >= 1`) and fills it.
    fn alloc(&mut self, lo: usize, hi: usize) -> Block {
        let len = self.rng.range(lo, hi);
        self.alloc_len(len)
    }

    /// Allocates a block of `len >= 1` bytes and fills it with the next tag.
    fn alloc_len(&mut self, len: usize) -> Block {
        debug_assert!(len >= 1);
        let ptr = malloc(len);
        let tag = self.next_tag;
        self.next_tag += 1;
        // SAFETY: `ptr` is a live block of `len >= 1` bytes, just allocated.
        unsafe { fill(ptr, len, tag) };
        self.tally.ops += 1;
        Block { ptr, len, tag }
    }

    /// Checks the block's content (exiting on corruption), folds it into the checksum, frees it.
    fn free(&mut self, block: Block) {
        // SAFETY: a `Block` owns a live block of `len` bytes filled with (`len`, `tag`).
        let word = unsafe { check(block.ptr, block.len, block.tag, self.workload) };
        // SAFETY: as above; `block` is consumed here, so nothing uses the memory afterwards.
        unsafe { free(block.ptr) };
        self.tally.ops += 1;
        self.tally.checksum = self.tally.checksum.wrapping_add(word);
    }
}

/// What a joined workload thread returned; ends the process if it panicked (the release profile
/// aborts first anyway).
fn joined<T>(result: thread::Result<T>) -> T {
    result.unwrap_or_else(|_| fail(format_args!("a workload thread panicked")))
}

/// Runs `work(i, input)` for every input, each on its own thread, all at once; sums their tallies.
fn spawn_all<T: Send>(inputs: Vec<T>, work: impl Fn(usize, T) -> Tally + Sync) -> Tally {
    let work = &work;
    thread::scope(|s| {
        let handles: Vec<_> = inputs
            .into_iter()
            .enumerate()
            .map(|(i, input)| s.spawn(move || work(i, input)))
            .collect();
        handles.into_iter().map(|h| joined(h.join())).sum()
    })
}

/// Runs `work(i)` on `n` threads at once, `i` in `0..n`; sums their tallies.
fn on_threads(n: usize, work: impl Fn(usize) -> Tally + Sync) -> Tally {
    spawn_all(vec![(); n], |i, ()| work(i))
}

// ---------------------------------------------------------------------------------------------
// larson

/// Where a `larson` block lives while its record's index sits in a table slot or is a thread's
/// spare. Whoever holds the index owns the record.
struct Record(UnsafeCell<Option<Block>>);

// SAFETY: a record is only touched by the holder of its index, and an index changes hands only
// through a slot's `swap` (acquire-release, which publishes the record's new block) or through
// the start barrier and the threads' join, so no two threads access a record at once.
unsafe impl Sync for Record {}

impl Record {
    /// Stores `block` in the record.
    ///
    /// # Safety
    /// - The calling thread holds this record's index, and the record is empty.
    unsafe fn put(&self, block: Block) {
        // SAFETY: the caller owns the record, so nothing else reads or writes it now.
        let cell = unsafe { &mut *self.0.get() };
        debug_assert!(cell.is_none());
        *cell = Some(block);
    }

    /// Takes the block out of the record.
    ///
    /// # Safety
    /// - The calling thread holds this record's index.
    unsafe fn take(&self) -> Block {
        // SAFETY: the caller owns the record, so nothing else reads or writes it now.
        taken(unsafe { &mut *self.0.get() })
    }
}

/// The block out of a record's cell, which is never empty while its index is in the table.
fn taken(cell: &mut Option<Block>) -> Block {
    cell.take()
        .unwrap_or_else(|| fail(format_args!("larson: a table record was empty")))
}

/// Larson-like server simulation. `config.threads` threads share a table of
/// `1024 × threads` slots, filled with blocks of 16–512 B (each thread fills its own 1024, then
/// all start together). Each step, a thread allocates and fills a block of random size 16–512 B,
/// swaps it into a random slot anywhere in the table (lock-free, `AtomicUsize::swap` of a record
/// index), and checks and frees the block it took out, which another thread often allocated.
/// 6 million steps at scale 1, split between the threads; the main thread then checks and frees
/// what is left in the table.
pub fn larson(config: &Config) -> Outcome {
    let threads = config.threads;
    let slots = LARSON_SLOTS * threads;
    // Slot `i` starts out holding record `i`; record `slots + t` starts as thread `t`'s spare.
    let mut records: Vec<Record> = (0..slots + threads)
        .map(|_| Record(UnsafeCell::new(None)))
        .collect();
    let table: Vec<AtomicUsize> = (0..slots).map(AtomicUsize::new).collect();
    let steps = config.scaled(LARSON_STEPS) / threads as u64;
    let start = Barrier::new(threads);
    let tally = on_threads(threads, |t| {
        larson_thread(t, steps, &table, &records, &start)
    });

    let mut main = Local::new("larson", threads);
    for slot in table {
        main.free(taken(records[slot.into_inner()].0.get_mut()));
    }
    [tally, main.tally]
        .into_iter()
        .sum::<Tally>()
        .outcome(threads)
}

/// Thread `t` of [`larson`]: fills its own slots, waits for the others, then does `steps`
/// replacements anywhere in the table.
fn larson_thread(
    t: usize,
    steps: u64,
    table: &[AtomicUsize],
    records: &[Record],
    start: &Barrier,
) -> Tally {
    let mut local = Local::new("larson", t);
    for record in &records[t * LARSON_SLOTS..(t + 1) * LARSON_SLOTS] {
        let block = local.alloc(16, 512);
        // SAFETY: until the barrier, only this thread touches its own slots' records (slot `i`
        // holds record `i`), and they start empty.
        unsafe { record.put(block) };
    }
    start.wait();

    let mut spare = table.len() + t;
    for _ in 0..steps {
        let block = local.alloc(16, 512);
        // SAFETY: this thread holds `spare` (its first spare, or the index the last swap
        // returned), and emptied it when it took that record's block out.
        unsafe { records[spare].put(block) };
        let slot = local.rng.range(0, table.len() - 1);
        spare = table[slot].swap(spare, Ordering::AcqRel);
        // SAFETY: the swap gave this thread the index that was in the slot; acquire ordering
        // makes the block its previous holder put there visible.
        let old = unsafe { records[spare].take() };
        local.free(old);
    }
    local.tally
}

// ---------------------------------------------------------------------------------------------
// producer_consumer

/// One thread of a [`producer_consumer`] pair, with its ends of the pair's two channels: full
/// batches go from producer to consumer, emptied batches (their `Vec`s, for reuse) come back.
enum End {
    Producer {
        to: SyncSender<Vec<Block>>,
        back: Receiver<Vec<Block>>,
    },
    Consumer {
        from: Receiver<Vec<Block>>,
        back: SyncSender<Vec<Block>>,
    },
}

/// Blocks allocated on one thread and freed on another. `config.threads / 2` pairs (at least
/// one) of a producer and a consumer: the producer allocates and fills batches of 256 blocks of
/// random size 16–2048 B and sends each through a bounded channel (4 batches deep); the consumer
/// checks and frees every block. Every free is cross-thread. 2 million blocks at scale 1
/// (rounded to whole batches), split between the pairs.
pub fn producer_consumer(config: &Config) -> Outcome {
    let pairs = (config.threads / 2).max(1);
    let batches = config
        .scaled(PC_BLOCKS / PC_BATCH as u64)
        .div_ceil(pairs as u64);
    let ends: Vec<End> = (0..pairs)
        .flat_map(|_| {
            let (to, from) = sync_channel(PC_DEPTH);
            let (back_to, back) = sync_channel(PC_DEPTH);
            [
                End::Producer { to, back },
                End::Consumer {
                    from,
                    back: back_to,
                },
            ]
        })
        .collect();
    let tally = spawn_all(ends, |i, end| match end {
        End::Producer { to, back } => produce(i, batches, to, back),
        End::Consumer { from, back } => consume(i, from, back),
    });
    tally.outcome(2 * pairs)
}

/// A producer: sends `batches` batches of [`PC_BATCH`] new blocks, reusing the `Vec`s that come
/// back.
fn produce(
    i: usize,
    batches: u64,
    to: SyncSender<Vec<Block>>,
    back: Receiver<Vec<Block>>,
) -> Tally {
    let mut local = Local::new("producer-consumer", i);
    for _ in 0..batches {
        let mut batch = back
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(PC_BATCH));
        for _ in 0..PC_BATCH {
            batch.push(local.alloc(16, 2048));
        }
        to.send(batch)
            .unwrap_or_else(|_| fail(format_args!("producer-consumer: consumer gone")));
    }
    local.tally
}

/// A consumer: checks and frees every block of every batch until its producer hangs up.
fn consume(i: usize, from: Receiver<Vec<Block>>, back: SyncSender<Vec<Block>>) -> Tally {
    let mut local = Local::new("producer-consumer", i);
    for mut batch in from {
        for block in batch.drain(..) {
            local.free(block);
        }
        // The producer may have finished (or have enough spare `Vec`s): then this one is dropped.
        let _ = back.try_send(batch);
    }
    local.tally
}

// ---------------------------------------------------------------------------------------------
// thread_churn

/// Short-lived threads. 3000 threads at scale 1, `config.threads` alive at a time, in as many
/// lanes; the main thread starts a lane's next thread as soon as it has joined its previous one.
/// Each thread allocates and fills 500 blocks of 16–4096 B (log-uniform), checks and frees the
/// blocks its predecessor in the lane handed on (allocated by a thread that has since exited),
/// frees every other block of its own, and hands the other 250 on through its return value. The
/// main thread checks and frees what the last threads hand on.
pub fn thread_churn(config: &Config) -> Outcome {
    let lanes = config.threads;
    let total = config.scaled(CHURN_THREADS) as usize;
    let mut running: VecDeque<thread::JoinHandle<(Vec<Block>, Tally)>> =
        VecDeque::with_capacity(lanes);
    let mut tallies = Vec::with_capacity(total + 1);
    for id in 0..total {
        let inherited = if id < lanes {
            Vec::new()
        } else {
            let previous = running
                .pop_front()
                .unwrap_or_else(|| fail(format_args!("thread-churn: no thread to join")));
            let (blocks, tally) = joined(previous.join());
            tallies.push(tally);
            blocks
        };
        running.push_back(thread::spawn(move || churn_thread(id, inherited)));
    }
    let mut main = Local::new("thread-churn", total);
    for handle in running {
        let (blocks, tally) = joined(handle.join());
        tallies.push(tally);
        blocks.into_iter().for_each(|block| main.free(block));
    }
    tallies.push(main.tally);
    tallies.into_iter().sum::<Tally>().outcome(lanes)
}

/// Thread `id` of [`thread_churn`]: frees what it `inherited` and half of its own blocks, and
/// returns the other half with its tally.
fn churn_thread(id: usize, inherited: Vec<Block>) -> (Vec<Block>, Tally) {
    let mut local = Local::new("thread-churn", id);
    let own: Vec<Block> = (0..CHURN_BLOCKS)
        .map(|_| {
            let len = local.rng.log_range(16, 4096);
            local.alloc_len(len)
        })
        .collect();
    inherited.into_iter().for_each(|block| local.free(block));
    let mut handed_on = Vec::with_capacity(CHURN_BLOCKS / 2);
    for (i, block) in own.into_iter().enumerate() {
        if i % 2 == 0 {
            local.free(block);
        } else {
            handed_on.push(block);
        }
    }
    (handed_on, local.tally)
}

// ---------------------------------------------------------------------------------------------
// thread_rounds

/// A larson-style server whose threads are replaced every round (larson's own thread
/// replacement): `config.threads` lanes, each holding 5000 live blocks of 8–1000 B (~2.5 MiB).
/// In each of 2000 rounds at scale 1, every lane gets a new thread that inherits the lane's
/// blocks (allocated by threads that have exited), makes 2000 replacements (checks and frees a
/// random block, allocates and fills a new one of random size), and hands the blocks on when it
/// exits: thousands of threads, each living about a millisecond. The
/// lanes' threads of a round run at once; the main thread checks and frees what the last round
/// hands on. What it measures: memory of exited threads that the next round reuses at once,
/// which an allocator must not give back to the system in between (page faults, system time).
pub fn thread_rounds(config: &Config) -> Outcome {
    let lanes = config.threads;
    let rounds = config.scaled(ROUNDS) as usize;
    let mut held: Vec<Vec<Block>> = (0..lanes).map(|_| Vec::new()).collect();
    let mut tallies = Vec::with_capacity(rounds * lanes + 1);
    for round in 0..rounds {
        let handles: Vec<_> = held
            .drain(..)
            .enumerate()
            .map(|(lane, blocks)| {
                let id = round * lanes + lane;
                thread::spawn(move || round_thread(id, blocks))
            })
            .collect();
        for handle in handles {
            let (blocks, tally) = joined(handle.join());
            held.push(blocks);
            tallies.push(tally);
        }
    }
    let mut main = Local::new("thread-rounds", rounds * lanes);
    held.into_iter()
        .flatten()
        .for_each(|block| main.free(block));
    tallies.push(main.tally);
    tallies.into_iter().sum::<Tally>().outcome(lanes)
}

/// Thread `id` of [`thread_rounds`]: fills its lane on the first round, makes its replacements,
/// hands the lane's blocks on.
fn round_thread(id: usize, mut blocks: Vec<Block>) -> (Vec<Block>, Tally) {
    let mut local = Local::new("thread-rounds", id);
    while blocks.len() < ROUND_SLOTS {
        blocks.push(local.alloc(8, 1000));
    }
    for _ in 0..ROUND_STEPS {
        let i = local.rng.range(0, ROUND_SLOTS - 1);
        let fresh = local.alloc(8, 1000);
        let old = std::mem::replace(&mut blocks[i], fresh);
        local.free(old);
    }
    (blocks, local.tally)
}

// ---------------------------------------------------------------------------------------------
// false_sharing

/// Passive false sharing (cache-scratch, from the Hoard benchmarks). The main thread allocates
/// one 8-byte object per worker (`config.threads` workers), back to back, and hands one to each.
/// Each worker checks and frees the object it was given, then repeats: allocate an 8-byte object
/// and fill it, increment each of its bytes 256 times (2048 volatile read-and-writes, which leave
/// the content as filled), check it and free it. 800,000 rounds at scale 1, split between the
/// workers. An allocator that hands neighbouring objects to different threads (e.g. by giving a
/// worker back the freed object of its neighbour's cache line) makes the writes ping-pong the
/// line between cores.
pub fn false_sharing(config: &Config) -> Outcome {
    let workers = config.threads;
    let rounds = config.scaled(SCRATCH_ROUNDS) / workers as u64;
    let mut main = Local::new("false-sharing", workers);
    let objects: Vec<Block> = (0..workers).map(|_| main.alloc_len(SCRATCH_SIZE)).collect();
    let tally = spawn_all(objects, |w, given| scratch_worker(w, given, rounds));
    [tally, main.tally]
        .into_iter()
        .sum::<Tally>()
        .outcome(workers)
}

/// Worker `w` of [`false_sharing`]: frees the object it was `given`, then does `rounds` rounds
/// of allocate, write hard, free.
fn scratch_worker(w: usize, given: Block, rounds: u64) -> Tally {
    let mut local = Local::new("false-sharing", w);
    local.free(given);
    for _ in 0..rounds {
        let object = local.alloc_len(SCRATCH_SIZE);
        object.scratch();
        local.free(object);
    }
    local.tally
}

// ---------------------------------------------------------------------------------------------
// scaling

/// Random mixed on `config.threads` threads. Each thread keeps a ring of 1024 live blocks of
/// random size 16–1024 B and, each step, checks and frees a random one and allocates and fills a
/// replacement of random size; at the end it frees its ring. 10 million steps per thread at scale
/// 1, so the total work grows with the thread count.
pub fn scaling(config: &Config) -> Outcome {
    let steps = config.scaled(SCALING_STEPS);
    on_threads(config.threads, |t| scaling_thread(t, steps)).outcome(config.threads)
}

/// Thread `t` of [`scaling`].
fn scaling_thread(t: usize, steps: u64) -> Tally {
    let mut local = Local::new("scaling", t);
    let mut ring: Vec<Block> = (0..RING).map(|_| local.alloc(16, 1024)).collect();
    for _ in 0..steps {
        let i = local.rng.range(0, RING - 1);
        // The last block takes the freed one's place, the replacement goes last: the ring stays
        // 1024 blocks in random order, and the block is freed before its replacement is allocated.
        let old = ring.swap_remove(i);
        local.free(old);
        ring.push(local.alloc(16, 1024));
    }
    ring.into_iter().for_each(|block| local.free(block));
    local.tally
}
