//! The background writer: dirty blocks handed over by the field (an evicted dirty block, or
//! every dirty block when their number reaches the write-back threshold) are written back
//! and synced on a thread of the field's own, not on the thread that queries or trains.
//!
//! - **Hand-over**: [`Writer::submit`] copies a block's values into an *in-flight copy* and
//!   queues it; the caller marks its hot block clean and goes on. The thread starts on the
//!   first hand-over and is joined when the writer is dropped (after it has written every
//!   block handed over).
//! - **A write-back** takes every queued copy (the newest of each block), and runs the
//!   store's three steps (`store::write`): plan with the store locked for writing, write and
//!   `fdatasync` with it unlocked (queries keep reading), commit locked. So the store's crash
//!   safety holds unchanged: each block's new version goes to the slot that does not hold
//!   its current one, and counts as current only after the sync.
//! - **Reads**: a block handed over but not yet committed reads from its in-flight copy
//!   ([`Writer::copy_in_flight`]), which the field checks before the file. A copy leaves
//!   the in-flight map only after its commit, and only if no newer copy of the block replaced
//!   it, so a read that misses the map finds the new version in the store.
//! - **Memory**: the bytes of in-flight copies are bounded by the writer's limit; a
//!   hand-over that would pass it waits until the thread has written what is queued (a
//!   condition variable, no busy-waiting). One block is always admitted.
//! - **No allocation on the thread** (session 24): the thread swaps the queue for an empty
//!   one it keeps (their room circulates), sorts it in place, and plans into a reused plan
//!   whose room the hand-over grows, on the caller's thread, before the queue can outgrow it;
//!   the copies are made by the hand-over too. So every buffer the writer uses comes from the
//!   caller's thread, where the resident budget counts it, and the thread's own allocator
//!   arena stays empty (docs/field.md, "Session 24").
//! - **Errors**: a write-back that fails leaves its copies in the map (reads stay correct),
//!   aborts the plan (the store will write no index, so the next open scans), and makes every
//!   later hand-over and [`Writer::drain`] fail with that error.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::thread::JoinHandle;

use crate::error::{Error, Result};
use crate::store::{BlockStore, SlotWriter, WritePlan};
use crate::worker::{DeathNotice, WorkerState};

/// The default bound on the bytes of dirty blocks' copies handed to the background writer
/// and not yet written (`Field::set_write_behind_bytes`).
pub const DEFAULT_WRITE_BEHIND_BYTES: usize = 16 << 20;

/// One block's values handed over for write-back.
struct Job {
    block: u64,
    /// Distinguishes copies of one block handed over at different times.
    generation: u64,
    values: Arc<[f32]>,
}

#[derive(Default)]
struct State {
    /// Handed over, not yet taken by the thread.
    queue: Vec<Job>,
    /// The newest copy of each block handed over and not yet committed.
    in_flight: HashMap<u64, (u64, Arc<[f32]>)>,
    /// Bytes of the copies queued or being written.
    bytes: usize,
    /// The most `bytes` reached.
    peak_bytes: usize,
    /// The thread holds jobs it took from the queue.
    writing: bool,
    /// The writer is being dropped: finish the queue, then end.
    stop: bool,
    /// Why a write-back failed (every later hand-over fails with it).
    failed: Option<String>,
    /// Write-backs completed (each one sync).
    write_backs: u64,
    /// Hand-overs that waited for room among the copies in flight, and their total wait.
    waits: u64,
    wait_ns: u64,
    /// The room of the plan the thread holds (or will take from `bigger_plan`).
    plan_room: usize,
    /// A plan with more room, made by a hand-over whose queue outgrew `plan_room`; the thread
    /// takes it with the queue.
    bigger_plan: Option<WritePlan>,
}

impl WorkerState for State {
    fn stop(&mut self) {
        self.stop = true;
    }

    fn fail(&mut self, why: &str) {
        self.failed = Some(why.into());
        self.writing = false;
    }
}

/// The state, with `work` signalled when jobs are queued or the writer stops and `progress`
/// when the thread finished a write-back (or died).
type Shared = crate::worker::Shared<State>;

/// What the writer did, for `Stats`.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriterStats {
    /// Write-backs completed.
    pub write_backs: u64,
    /// Bytes of in-flight copies now.
    pub bytes: usize,
    /// The most bytes of in-flight copies held at once.
    pub peak_bytes: usize,
    /// Hand-overs that waited for room among the copies in flight.
    pub waits: u64,
    /// Their total wait, in nanoseconds.
    pub wait_ns: u64,
}

fn copy_in_flight(shared: &Shared, block: u64, out: &mut [f32]) -> bool {
    let state = shared.lock();
    match state.in_flight.get(&block) {
        Some((_, values)) => {
            out.copy_from_slice(values);
            true
        }
        None => false,
    }
}

/// The writer's in-flight copies, readable from any thread ([`Writer::copies`]). A copy
/// leaves them only after its block's new version is committed in the store, so a reader that
/// finds no copy and then reads the store gets the newest version written back.
#[derive(Clone)]
pub struct InFlight(Arc<Shared>);

impl InFlight {
    /// Copies the in-flight values of `block` into `out`, if it has any; true if it did.
    pub fn copy_in_flight(&self, block: u64, out: &mut [f32]) -> bool {
        copy_in_flight(&self.0, block, out)
    }
}

/// The field's background writer (see the module documentation).
pub struct Writer {
    store: Arc<RwLock<BlockStore>>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    next_generation: u64,
    limit_bytes: usize,
}

fn failure(message: &str) -> Error {
    Error::Io(std::io::Error::other(format!(
        "an earlier background write-back failed: {message}"
    )))
}

impl Writer {
    /// A writer for `store` whose in-flight copies take at most `limit_bytes` (at least one
    /// block is always admitted). No thread runs until the first hand-over.
    pub fn new(store: Arc<RwLock<BlockStore>>, limit_bytes: usize) -> Writer {
        Writer {
            store,
            shared: Arc::new(Shared::new(State::default())),
            thread: None,
            next_generation: 0,
            limit_bytes,
        }
    }

    /// Sets the bound on in-flight copies' bytes.
    pub fn set_limit(&mut self, limit_bytes: usize) {
        self.limit_bytes = limit_bytes;
    }

    /// The bound on in-flight copies' bytes.
    pub fn limit(&self) -> usize {
        self.limit_bytes
    }

    /// Hands `values` of `block` over for write-back (copied), waiting first while the copies
    /// in flight would pass the limit. Fails if an earlier write-back failed, or the thread
    /// cannot be started.
    pub fn submit(&mut self, block: u64, values: &[f32]) -> Result<()> {
        self.hand(block, values, true).map(|_| ())
    }

    /// Like [`Writer::submit`], but never waits: hands `values` over only if the copies in
    /// flight, with this one, stay within half the limit (leaving the other half to blocks
    /// that must leave memory); returns whether it did.
    pub fn try_submit(&mut self, block: u64, values: &[f32]) -> Result<bool> {
        self.hand(block, values, false)
    }

    fn hand(&mut self, block: u64, values: &[f32], wait: bool) -> Result<bool> {
        if self.thread.is_none() {
            self.start()?;
        }
        let bytes = std::mem::size_of_val(values);
        let mut state = self.shared.lock();
        let mut waited: Option<std::time::Instant> = None;
        loop {
            if let Some(message) = &state.failed {
                return Err(failure(message));
            }
            if !wait {
                if state.bytes + bytes > self.limit_bytes / 2 {
                    return Ok(false);
                }
                break;
            }
            if state.bytes == 0 || state.bytes + bytes <= self.limit_bytes {
                break;
            }
            waited.get_or_insert_with(std::time::Instant::now);
            state = self
                .shared
                .progress
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if let Some(since) = waited {
            state.waits += 1;
            state.wait_ns += since.elapsed().as_nanos() as u64;
        }
        let copy: Arc<[f32]> = Arc::from(values);
        let generation = self.next_generation;
        self.next_generation += 1;
        state.bytes += bytes;
        state.peak_bytes = state.peak_bytes.max(state.bytes);
        state
            .in_flight
            .insert(block, (generation, Arc::clone(&copy)));
        state.queue.push(Job {
            block,
            generation,
            values: copy,
        });
        if state.queue.len() > state.plan_room {
            // Made here, on the caller's thread, so that the writer's never allocates.
            state.plan_room = (2 * state.queue.len()).max(16);
            state.bigger_plan = Some(WritePlan::with_capacity(state.plan_room));
        }
        drop(state);
        self.shared.work.notify_one();
        Ok(true)
    }

    /// Copies the in-flight values of `block` into `out`, if it has any; true if it did.
    pub fn copy_in_flight(&self, block: u64, out: &mut [f32]) -> bool {
        copy_in_flight(&self.shared, block, out)
    }

    /// Whether a copy of `block` is in flight (handed over, not yet committed).
    pub fn has_copy(&self, block: u64) -> bool {
        self.shared.lock().in_flight.contains_key(&block)
    }

    /// A handle that reads the in-flight copies from another thread (the background reader's).
    pub fn copies(&self) -> InFlight {
        InFlight(Arc::clone(&self.shared))
    }

    /// Whether any block is in flight (cheap check before per-block look-ups).
    pub fn is_idle(&self) -> bool {
        self.shared.lock().in_flight.is_empty()
    }

    /// Waits until every block handed over is written back and synced (or a write-back
    /// failed: then its error).
    pub fn drain(&self) -> Result<()> {
        let mut state = self.shared.lock();
        loop {
            if let Some(message) = &state.failed {
                return Err(failure(message));
            }
            if state.queue.is_empty() && !state.writing {
                return Ok(());
            }
            state = self
                .shared
                .progress
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Write-backs done and in-flight bytes.
    pub fn stats(&self) -> WriterStats {
        let state = self.shared.lock();
        WriterStats {
            write_backs: state.write_backs,
            bytes: state.bytes,
            peak_bytes: state.peak_bytes,
            waits: state.waits,
            wait_ns: state.wait_ns,
        }
    }

    fn start(&mut self) -> Result<()> {
        let slots = self
            .store
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .slot_writer()?;
        let store = Arc::clone(&self.store);
        let shared = Arc::clone(&self.shared);
        let thread = std::thread::Builder::new()
            .name("field-writer".into())
            .spawn(move || run(store, shared, slots))?;
        self.thread = Some(thread);
        Ok(())
    }
}

impl Drop for Writer {
    /// Lets the thread write what is queued, then joins it.
    fn drop(&mut self) {
        self.shared.stop_and_join(self.thread.take());
    }
}

/// The thread: takes the queue, writes it back, until stopped with an empty queue. Makes no
/// heap allocation of its own (see the module documentation).
fn run(store: Arc<RwLock<BlockStore>>, shared: Arc<Shared>, mut slots: SlotWriter) {
    let _notice = DeathNotice(Arc::clone(&shared), "the writer thread panicked");
    // Swapped with the queue: the room of both comes from the hand-overs' pushes.
    let mut jobs: Vec<Job> = Vec::new();
    let mut plan = WritePlan::default();
    loop {
        {
            let mut state = shared.lock();
            while state.queue.is_empty() && !state.stop {
                state = shared
                    .work
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.queue.is_empty() {
                return;
            }
            state.writing = true;
            std::mem::swap(&mut state.queue, &mut jobs);
            if let Some(bigger) = state.bigger_plan.take() {
                plan = bigger;
            }
        }
        debug_assert!(plan.capacity() >= jobs.len(), "the hand-over grew the plan");
        // Each block's copies together, the newest last (no allocation: unstable, in place).
        jobs.sort_unstable_by_key(|j| (j.block, j.generation));
        let result = write_back(&store, &mut slots, &mut plan, &jobs);
        let mut state = shared.lock();
        state.writing = false;
        match result {
            Ok(()) => {
                for job in newest(&jobs) {
                    if state.in_flight.get(&job.block).map(|(g, _)| *g) == Some(job.generation) {
                        state.in_flight.remove(&job.block);
                    }
                }
                let bytes: usize = jobs.iter().map(|j| std::mem::size_of_val(&*j.values)).sum();
                state.bytes -= bytes;
                state.write_backs += 1;
            }
            Err(e) => {
                // The copies stay in the map (and counted): reads keep the newest values.
                state.failed = Some(e.to_string());
            }
        }
        drop(state);
        // The copies go back to the caller's allocator arena, where they were made.
        jobs.clear();
        shared.progress.notify_all();
    }
}

/// The newest copy of each block of `jobs` (sorted by block, then generation), in block-id
/// order.
fn newest(jobs: &[Job]) -> impl Iterator<Item = &Job> {
    jobs.iter()
        .enumerate()
        .filter(|&(k, job)| jobs.get(k + 1).is_none_or(|next| next.block != job.block))
        .map(|(_, job)| job)
}

/// The store's three steps for the newest copy of each block of `jobs` (sorted by block,
/// then generation), the store write-locked only to plan and to commit.
fn write_back(
    store: &RwLock<BlockStore>,
    slots: &mut SlotWriter,
    plan: &mut WritePlan,
    jobs: &[Job],
) -> Result<()> {
    let lock = || store.write().unwrap_or_else(PoisonError::into_inner);
    lock().plan_write_back(newest(jobs).map(|j| j.block), plan)?;
    match slots.write(plan, newest(jobs).map(|j| &*j.values)) {
        Ok(()) => {
            lock().commit_write_back(plan);
            Ok(())
        }
        Err(e) => {
            lock().abort_write_back(plan);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;

    fn store(dir: &std::path::Path) -> (Arc<RwLock<BlockStore>>, usize) {
        let layout = Layout {
            dim: 2,
            levels: 2,
            log2_table: 14,
            features: 2,
            base_resolution: 4,
            finest_resolution: 64,
            log2_block_bytes: 12,
            ..Layout::default()
        };
        let store = BlockStore::create(&dir.join("w"), &layout).unwrap();
        let n = store.blocking().floats_per_block();
        (Arc::new(RwLock::new(store)), n)
    }

    fn read(store: &RwLock<BlockStore>, block: u64, n: usize) -> Option<Vec<f32>> {
        let mut out = vec![0f32; n];
        store
            .read()
            .unwrap()
            .read(block, &mut out)
            .unwrap()
            .then_some(out)
    }

    #[test]
    fn a_block_in_flight_reads_its_newest_copy_until_the_file_has_it() {
        let dir = tempfile::tempdir().unwrap();
        let (store, n) = store(dir.path());
        let mut w = Writer::new(Arc::clone(&store), DEFAULT_WRITE_BEHIND_BYTES);
        let (a, b) = (vec![1.0f32; n], vec![2.0f32; n]);
        let mut out = vec![0f32; n];
        // The first hand-over starts the thread (which needs the store for a moment).
        w.submit(1, &a).unwrap();
        w.drain().unwrap();
        {
            // Held for writing, the store keeps the thread at its plan step.
            let held = store.write().unwrap();
            w.submit(7, &a).unwrap();
            w.submit(7, &b).unwrap();
            w.submit(8, &a).unwrap();
            assert!(w.copy_in_flight(7, &mut out));
            assert_eq!(out, b, "the newest copy answers");
            assert!(!w.copy_in_flight(9, &mut out));
            assert_eq!(w.stats().bytes, 3 * n * 4);
            drop(held);
        }
        w.drain().unwrap();
        assert!(w.is_idle() && !w.copy_in_flight(7, &mut out));
        assert_eq!(read(&store, 7, n), Some(b));
        assert_eq!(read(&store, 8, n), Some(a.clone()));
        let stats = w.stats();
        assert_eq!((stats.bytes, stats.peak_bytes), (0, 3 * n * 4));
        assert_eq!(read(&store, 1, n), Some(a.clone()));
        assert!(stats.write_backs >= 1);
    }

    #[test]
    fn copies_in_flight_stay_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let (store, n) = store(dir.path());
        let block_bytes = n * 4;
        let mut w = Writer::new(Arc::clone(&store), 3 * block_bytes);
        for round in 0..4u64 {
            for block in 0..16u64 {
                w.submit(block, &vec![(round * 100 + block) as f32; n])
                    .unwrap();
            }
        }
        w.drain().unwrap();
        let stats = w.stats();
        assert!(stats.peak_bytes <= 3 * block_bytes, "{stats:?}");
        assert!(stats.write_backs >= 64 / 3, "{stats:?}");
        for block in 0..16u64 {
            assert_eq!(read(&store, block, n), Some(vec![(300 + block) as f32; n]));
        }
        drop(w);
        assert_eq!(Arc::strong_count(&store), 1, "the thread was joined");
    }
    #[test]
    fn a_try_never_waits_and_keeps_half_the_limit_free() {
        let dir = tempfile::tempdir().unwrap();
        let (store, n) = store(dir.path());
        let block = vec![1.0f32; n];
        let mut w = Writer::new(Arc::clone(&store), 4 * n * 4);
        w.submit(0, &block).unwrap();
        w.drain().unwrap();
        {
            // Held for writing, the store keeps the thread at its plan step.
            let held = store.write().unwrap();
            assert!(w.try_submit(1, &block).unwrap());
            assert!(w.try_submit(2, &block).unwrap());
            assert!(!w.try_submit(3, &block).unwrap(), "half the limit is taken");
            w.submit(3, &block).unwrap();
            assert_eq!(w.stats().bytes, 3 * n * 4);
            assert_eq!(w.stats().waits, 0);
            drop(held);
        }
        w.drain().unwrap();
        for b in 1..4 {
            assert_eq!(read(&store, b, n), Some(block.clone()));
        }
    }
}
