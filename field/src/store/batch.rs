//! Batched reads: [`BlockStore::read_many`] keeps several slot reads in flight, through the
//! store's io_uring (`uring`) or through scoped threads, each `pread`ing its share.

use super::{uring, BlockStore, Current, Pair, READ_MANY_IN_FLIGHT};
use crate::error::Result;

/// How [`BlockStore::read_many`] keeps several reads in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadEngine {
    /// One scoped thread per read in flight, each `pread`ing its share of the batch.
    Threads,
    /// One io_uring owned by the store, filled from the calling thread (falls back to
    /// threads where io_uring is unavailable, or while another thread uses the ring).
    Uring,
}

/// The store's ring, created on first use.
pub(super) enum RingState {
    Untried,
    Ready(Box<io_uring::IoUring>),
    Unavailable,
}

impl BlockStore {
    /// Reads many blocks, `outs[i]` receiving block `blocks[i]` as [`BlockStore::read`] would,
    /// with up to [`READ_MANY_IN_FLIGHT`] reads in flight (through the store's io_uring, or
    /// scoped threads: [`ReadEngine`]); returns, per block, whether it has a stored version.
    /// Blocks with none cost no I/O. On an error, which of `outs` were filled is unspecified.
    pub fn read_many(&self, blocks: &[u64], outs: &mut [&mut [f32]]) -> Result<Vec<bool>> {
        self.read_many_with(blocks, outs, READ_MANY_IN_FLIGHT)
    }

    /// [`BlockStore::read_many`] with up to `in_flight` reads in flight (1 reads on the
    /// calling thread; io_uring keeps at most 64).
    pub fn read_many_with(
        &self,
        blocks: &[u64],
        outs: &mut [&mut [f32]],
        in_flight: usize,
    ) -> Result<Vec<bool>> {
        assert_eq!(blocks.len(), outs.len(), "one output per block");
        let mut found = vec![false; blocks.len()];
        let present = blocks.iter().filter(|b| self.pairs.contains_key(b)).count();
        let workers = in_flight.min(present);
        if workers > 1 && self.engine == ReadEngine::Uring {
            if let Ok(mut ring) = self.ring.try_lock() {
                if matches!(*ring, RingState::Untried) {
                    *ring = match uring::new_ring() {
                        Ok(r) => RingState::Ready(Box::new(r)),
                        Err(_) => RingState::Unavailable,
                    };
                }
                if let RingState::Ready(r) = &mut *ring {
                    let mut buffers = uring::RingBuffers::new(in_flight, self.record_bytes, 0);
                    self.read_uring(r, &mut buffers, blocks, outs, &mut found, in_flight)?;
                    return Ok(found);
                }
            }
        }
        let mut jobs: Vec<(usize, u64, &Pair, &mut [f32])> = Vec::with_capacity(present);
        for (i, (&block, out)) in blocks.iter().zip(outs.iter_mut()).enumerate() {
            assert_eq!(out.len(), self.geometry.floats);
            if let Some(pair) = self.pairs.get(&block) {
                jobs.push((i, block, pair, &mut **out));
            }
        }
        if workers <= 1 {
            for (i, block, _, out) in jobs {
                found[i] = self.read(block, out)?;
            }
            return Ok(found);
        }
        let per_worker = jobs.len().div_ceil(workers);
        let results: Vec<Result<Vec<(usize, bool)>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = jobs
                .chunks_mut(per_worker)
                .map(|chunk| {
                    scope.spawn(move || -> Result<Vec<(usize, bool)>> {
                        let mut buf = vec![0u8; self.slot_bytes];
                        let mut done = Vec::with_capacity(chunk.len());
                        for (i, block, pair, out) in chunk.iter_mut() {
                            let current = self.find_current(*block, pair, out, &mut buf)?;
                            done.push((*i, matches!(current, Current::Slot(_))));
                        }
                        Ok(done)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a read_many worker panicked"))
                .collect()
        });
        for result in results {
            for (i, ok) in result? {
                found[i] = ok;
            }
        }
        Ok(found)
    }

    /// Chooses how [`BlockStore::read_many`] keeps reads in flight (default:
    /// [`ReadEngine::Uring`]).
    pub fn set_read_engine(&mut self, engine: ReadEngine) {
        self.engine = engine;
    }
}
