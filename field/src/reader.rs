//! The background reader: block reads the field asks for ahead of their use (exact look-ahead
//! through `Field::prefetch`, and the blocks of a `Field::query_batch` group) done on a thread
//! of the field's own, so that the caller computes while they load.
//!
//! - **Requests** ([`Reader::request`]) are queued in order, each with a *ticket* (its position
//!   in that order). The thread starts on the first request and is joined when the reader is
//!   dropped (it finishes the chunk it is reading and drops the rest of the queue).
//! - **Reading**: the thread takes up to [`READ_CHUNK`] requests at a time. A block the
//!   background writer holds in flight is copied from its in-flight copy (`writer::InFlight`);
//!   the others are read from the store with several reads in flight, through an io_uring of
//!   the reader's own (`BlockStore::read_with_ring`; where io_uring is unavailable,
//!   `BlockStore::read_many`'s threads). The copy is looked up before the store, and a copy
//!   leaves the writer's map only after its commit, so the values are the block's newest
//!   written-back version — which is its newest version, because the field requests only
//!   blocks that are not resident (or, for an update, not hot with exact values: warm or
//!   approximate copies, which are clean) and lets nobody change a block while its read is
//!   pending (an access waits for it: `Field`'s read-ahead).
//! - **Results** ([`Loaded`]) wait in a list until the field takes them
//!   ([`Reader::take_done`]) and places them in its tiers on its own thread; their buffers come
//!   back through [`Reader::recycle`].
//! - **Memory** (session 24): the thread makes no heap allocation of its own. Each request
//!   carries its buffer, taken from those recycled or made by [`Reader::request`] on the
//!   caller's thread (so at most as many as requests were outstanding at once, which the field
//!   bounds and its resident budget counts); the request also makes room in the list of
//!   results for it; the ring, its buffers and the thread's lists of one chunk are made when the
//!   thread starts, also on the caller's thread. Before, the thread made them (and, while the
//!   caller used the store's ring, scoped threads of its own), and the C library's allocator
//!   gave it an arena whose memory the budget did not count (docs/field.md, "Session 24").
//! - **Waiting**: [`Reader::wait`] blocks on a condition variable until a ticket's read is
//!   done (no busy-waiting). A read that fails makes this and every later wait and take fail
//!   with its error.

use std::collections::VecDeque;
use std::sync::{Arc, PoisonError, RwLock};
use std::thread::JoinHandle;

use crate::error::{Error, Result};
use crate::store::{BlockStore, RingReader};
use crate::worker::{DeathNotice, WorkerState};
use crate::writer::InFlight;

/// Requests the thread takes from the queue at a time (one `read_many` call).
pub const READ_CHUNK: usize = 16;

/// One block read for the field.
pub struct Loaded {
    /// The block.
    pub block: u64,
    /// Its values (`floats_per_block` floats) if `stored`; unspecified otherwise.
    pub values: Vec<f32>,
    /// Whether the block has a stored (or in-flight) version; if not, the field gives it its
    /// initial values.
    pub stored: bool,
}

#[derive(Default)]
struct State {
    /// Requested, not yet taken by the thread: each block with the buffer it is read into.
    queue: VecDeque<(u64, Vec<f32>)>,
    /// Being read by the thread.
    reading: usize,
    /// Read, not yet taken by the field (room made by the requests).
    done: Vec<Loaded>,
    /// Buffers given back by the field (room for every buffer made).
    free: Vec<Vec<f32>>,
    /// Buffers made.
    made: usize,
    /// Tickets issued (requests made).
    requested: u64,
    /// Requests finished (read, failed, or dropped at stop), in ticket order.
    finished: u64,
    /// The reader is being dropped.
    stop: bool,
    /// Why a read failed.
    failed: Option<String>,
}

impl WorkerState for State {
    fn stop(&mut self) {
        self.stop = true;
    }

    fn fail(&mut self, why: &str) {
        self.failed = Some(why.into());
    }
}

/// The state, with `work` signalled when requests are queued or the reader stops and
/// `progress` when the thread finished a chunk (or died).
type Shared = crate::worker::Shared<State>;

fn failure(message: &str) -> Error {
    Error::Io(std::io::Error::other(format!(
        "a background block read failed: {message}"
    )))
}

/// The field's background reader (see the module documentation).
pub struct Reader {
    store: Arc<RwLock<BlockStore>>,
    copies: InFlight,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    floats: usize,
    in_flight: usize,
}

impl Reader {
    /// A reader of `floats`-float blocks from `store` (and from the writer's `copies`), keeping
    /// up to `in_flight` reads in flight. No thread runs until the first request.
    pub fn new(
        store: Arc<RwLock<BlockStore>>,
        copies: InFlight,
        floats: usize,
        in_flight: usize,
    ) -> Reader {
        Reader {
            store,
            copies,
            shared: Arc::new(Shared::new(State::default())),
            thread: None,
            floats,
            in_flight,
        }
    }

    /// Queues reads of `blocks`, in order; returns the ticket of the first (the others follow
    /// it). Fails if an earlier read failed or the thread cannot be started.
    pub fn request(&mut self, blocks: &[u64]) -> Result<u64> {
        if self.thread.is_none() {
            self.start()?;
        }
        let mut state = self.shared.lock();
        if let Some(message) = &state.failed {
            return Err(failure(message));
        }
        let first = state.requested;
        for &block in blocks {
            let buffer = match state.free.pop() {
                Some(buffer) => buffer,
                None => {
                    state.made += 1;
                    vec![0f32; self.floats]
                }
            };
            state.queue.push_back((block, buffer));
        }
        // Room for every result outstanding, and for every buffer to come back (on a failure
        // the thread puts its chunk's buffers back itself).
        let outstanding = state.queue.len() + state.reading;
        state.done.reserve(outstanding);
        let room = state.made.saturating_sub(state.free.len());
        state.free.reserve(room);
        state.requested += blocks.len() as u64;
        drop(state);
        self.shared.work.notify_one();
        Ok(first)
    }

    /// Moves the reads done so far into `into` (appended); fails if a read failed.
    pub fn take_done(&self, into: &mut Vec<Loaded>) -> Result<()> {
        let mut state = self.shared.lock();
        if let Some(message) = &state.failed {
            return Err(failure(message));
        }
        into.append(&mut state.done);
        Ok(())
    }

    /// Gives buffers back for the thread's next reads.
    pub fn recycle(&self, buffers: impl IntoIterator<Item = Vec<f32>>) {
        self.shared.lock().free.extend(buffers);
    }

    /// Waits until the read of `ticket` (and of every earlier one) is done, or a read failed.
    pub fn wait(&self, ticket: u64) -> Result<()> {
        let mut state = self.shared.lock();
        loop {
            if let Some(message) = &state.failed {
                return Err(failure(message));
            }
            if state.finished > ticket {
                return Ok(());
            }
            state = self
                .shared
                .progress
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Waits until every request made so far is done (or a read failed).
    pub fn wait_all(&self) -> Result<()> {
        let last = self.shared.lock().requested;
        match last {
            0 => Ok(()),
            n => self.wait(n - 1),
        }
    }

    fn start(&mut self) -> Result<()> {
        let store = Arc::clone(&self.store);
        let copies = self.copies.clone();
        let shared = Arc::clone(&self.shared);
        // Everything the thread uses, made here on the caller's thread.
        let ring = self
            .store
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .ring_reader(READ_CHUNK, self.in_flight);
        let chunk = Chunk {
            blocks: Vec::with_capacity(READ_CHUNK),
            buffers: Vec::with_capacity(READ_CHUNK),
            stored: Vec::with_capacity(READ_CHUNK),
            ring,
            in_flight: self.in_flight,
        };
        let thread = std::thread::Builder::new()
            .name("field-reader".into())
            .spawn(move || run(&store, &copies, &shared, chunk))?;
        self.thread = Some(thread);
        Ok(())
    }
}

impl Drop for Reader {
    /// Stops the thread (after the chunk it is reading) and joins it.
    fn drop(&mut self) {
        self.shared.stop_and_join(self.thread.take());
    }
}

/// The thread's lists for one chunk of requests and its ring: made before it starts, never
/// grown.
struct Chunk {
    blocks: Vec<u64>,
    buffers: Vec<Vec<f32>>,
    /// Per block: whether it has a version (copied from the writer, or read).
    stored: Vec<bool>,
    /// `None` where io_uring is unavailable: then `read_many`, which allocates.
    ring: Option<RingReader>,
    in_flight: usize,
}

/// The thread: takes up to [`READ_CHUNK`] requests, reads them, posts them, until stopped.
/// Makes no heap allocation of its own (see the module documentation).
fn run(store: &RwLock<BlockStore>, copies: &InFlight, shared: &Arc<Shared>, mut chunk: Chunk) {
    let _notice = DeathNotice(Arc::clone(shared), "the reader thread panicked");
    loop {
        {
            let mut state = shared.lock();
            while state.queue.is_empty() && !state.stop {
                state = shared
                    .work
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.stop {
                return;
            }
            let n = state.queue.len().min(READ_CHUNK);
            state.reading = n;
            for (block, buffer) in state.queue.drain(..n) {
                chunk.blocks.push(block);
                chunk.buffers.push(buffer);
            }
        }
        let result = read_chunk(store, copies, &mut chunk);
        let mut state = shared.lock();
        state.finished += chunk.blocks.len() as u64;
        state.reading = 0;
        match result {
            Ok(()) => {
                let read = chunk.blocks.drain(..).zip(chunk.buffers.drain(..));
                for ((block, values), stored) in read.zip(chunk.stored.drain(..)) {
                    state.done.push(Loaded {
                        block,
                        values,
                        stored,
                    });
                }
            }
            Err(e) => {
                state.failed = Some(e.to_string());
                chunk.blocks.clear();
                let failed = chunk.buffers.drain(..);
                state.free.extend(failed);
            }
        }
        drop(state);
        shared.progress.notify_all();
    }
}

/// Reads the chunk's blocks into its buffers: in-flight copies first, the rest from the store
/// together; sets, per block, whether it has a version.
fn read_chunk(store: &RwLock<BlockStore>, copies: &InFlight, chunk: &mut Chunk) -> Result<()> {
    let Chunk {
        blocks,
        buffers,
        stored,
        ring,
        in_flight,
    } = chunk;
    stored.clear();
    let copied = blocks.iter().zip(buffers.iter_mut());
    stored.extend(copied.map(|(&block, buffer)| copies.copy_in_flight(block, buffer)));
    if stored.iter().all(|&s| s) {
        return Ok(());
    }
    let store = store.read().unwrap_or_else(PoisonError::into_inner);
    if let Some(ring) = ring {
        return store.read_with_ring(ring, blocks, buffers, stored);
    }
    // No ring of its own: the store's `read_many` (its lists, or threads, allocate).
    let (ids, mut outs): (Vec<u64>, Vec<&mut [f32]>) = blocks
        .iter()
        .zip(buffers.iter_mut())
        .zip(stored.iter())
        .filter(|(_, &copied)| !copied)
        .map(|((&block, buffer), _)| (block, buffer.as_mut_slice()))
        .unzip();
    let found = store.read_many_with(&ids, &mut outs, *in_flight)?;
    let mut found = found.into_iter();
    for s in stored.iter_mut().filter(|s| !**s) {
        *s = found.next().expect("one result per block read");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;
    use crate::writer::{Writer, DEFAULT_WRITE_BEHIND_BYTES};

    #[test]
    fn reads_come_back_in_order_from_the_store_the_writer_or_nowhere() {
        let dir = tempfile::tempdir().unwrap();
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
        let store = BlockStore::create(&dir.path().join("r"), &layout).unwrap();
        let n = store.blocking().floats_per_block();
        let store = Arc::new(RwLock::new(store));
        let mut writer = Writer::new(Arc::clone(&store), DEFAULT_WRITE_BEHIND_BYTES);
        writer.submit(3, &vec![3.0; n]).unwrap();
        writer.drain().unwrap();
        let mut reader = Reader::new(Arc::clone(&store), writer.copies(), n, 4);
        // Block 5 is handed over just before its read: whether the reader finds its
        // in-flight copy or (committed meanwhile) its stored version, it reads 5.0.
        writer.submit(5, &vec![5.0; n]).unwrap();
        let first = reader.request(&[3, 5, 9]).unwrap();
        assert_eq!(first, 0);
        reader.wait(first + 2).unwrap();
        let mut done = Vec::new();
        reader.take_done(&mut done).unwrap();
        let got: Vec<(u64, bool)> = done.iter().map(|l| (l.block, l.stored)).collect();
        assert_eq!(got, [(3, true), (5, true), (9, false)]);
        assert!(done[0].values.iter().all(|&v| v == 3.0));
        assert!(done[1].values.iter().all(|&v| v == 5.0), "the newest copy");
        reader.recycle(done.into_iter().map(|l| l.values));
        assert_eq!(reader.request(&[3]).unwrap(), 3);
        reader.wait_all().unwrap();
        let mut again = Vec::new();
        reader.take_done(&mut again).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(reader.shared.lock().free.len(), 2, "a buffer was reused");
    }
}
