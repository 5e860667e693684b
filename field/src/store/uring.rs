//! `read_many` through io_uring: one thread keeps up to `in_flight` slot reads queued in one
//! ring, instead of starting a thread per read in flight. Each block's most likely current
//! slot is read first; a block whose read does not check out (a torn newest version) is
//! finished by the ordinary `pread` path afterwards.
//!
//! Two rings read this way: the store's own (created on first use, shared by callers of
//! `read_many` through a lock), and a [`RingReader`]'s (session 24), a ring with its buffers
//! that a thread owns (the field's background reader), so that it never waits for the
//! store's ring nor falls back to scoped threads, and, its buffers made once on the thread
//! that creates it, makes no heap allocation per batch.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;

use io_uring::{opcode, types, IoUring};

use super::{scan, BlockStore, Current, ReadEngine};
use crate::error::Result;
use crate::format;

/// Entries of the ring's submission queue: the most reads one call keeps in flight.
pub(super) const RING_ENTRIES: u32 = 64;

/// Creates a ring; fails where io_uring is unavailable (old kernel, seccomp, sysctl).
pub(super) fn new_ring() -> io::Result<IoUring> {
    IoUring::new(RING_ENTRIES)
}

/// What one call of [`BlockStore::read_uring`] needs besides the ring, sized for up to `depth`
/// reads in flight and `blocks` blocks per call: nothing grows while a call stays within
/// those.
pub(super) struct RingBuffers {
    depth: usize,
    /// `depth` records' bytes: a read's destination. Emptied (leaked) if the ring failed with
    /// reads still queued, and made again by the next call.
    bufs: Vec<u8>,
    /// Buffers free to take.
    free: Vec<usize>,
    /// Per buffer: the block (position in the call's arrays) and the slot its read is for.
    owner: Vec<(usize, usize)>,
    /// Completions taken from the ring at once: user data (buffer) and result.
    completions: Vec<(u64, i32)>,
    /// Blocks the ordinary path finishes, with the slot already tried, if any.
    slow: Vec<(usize, Option<usize>)>,
    /// One record's bytes, for the ordinary path.
    record: Vec<u8>,
}

impl RingBuffers {
    /// Buffers for up to `depth` reads in flight (at most [`RING_ENTRIES`]) of
    /// `record_bytes`-byte records and `blocks` blocks per call.
    pub(super) fn new(depth: usize, record_bytes: usize, blocks: usize) -> RingBuffers {
        let depth = depth.clamp(1, RING_ENTRIES as usize);
        RingBuffers {
            depth,
            bufs: vec![0; depth * record_bytes],
            free: Vec::with_capacity(depth),
            owner: vec![(0, 0); depth],
            completions: Vec::with_capacity(RING_ENTRIES as usize * 2),
            slow: Vec::with_capacity(blocks),
            record: vec![0; record_bytes],
        }
    }
}

/// An io_uring and its buffers owned by one reading thread ([`BlockStore::ring_reader`],
/// [`BlockStore::read_with_ring`]): see the module documentation.
pub struct RingReader {
    ring: IoUring,
    buffers: RingBuffers,
    blocks: usize,
}

impl BlockStore {
    /// A ring of the caller's own for [`BlockStore::read_with_ring`], reading up to `blocks`
    /// blocks per call with up to `in_flight` reads in flight; every buffer is made here, on
    /// the calling thread. `None` with [`ReadEngine::Threads`] or where io_uring is
    /// unavailable.
    pub fn ring_reader(&self, blocks: usize, in_flight: usize) -> Option<RingReader> {
        if self.engine != ReadEngine::Uring {
            return None;
        }
        let ring = new_ring().ok()?;
        Some(RingReader {
            ring,
            buffers: RingBuffers::new(in_flight, self.record_bytes, blocks),
            blocks,
        })
    }

    /// Reads, through `reader`'s ring, every block `blocks[i]` with `found[i]` false into
    /// `outs[i]`, as [`BlockStore::read`] would, and sets `found[i]` to whether it has a stored
    /// version; blocks with `found[i]` true are skipped (the caller has their values). With at
    /// most the `blocks` and `in_flight` the reader was made for, the call allocates nothing.
    /// On an error, which of `outs` were filled is unspecified.
    ///
    /// # Panics
    /// If the slices' lengths differ, an output is not `floats_per_block` long, or `blocks` is
    /// longer than the reader was made for.
    pub fn read_with_ring<O: AsMut<[f32]>>(
        &self,
        reader: &mut RingReader,
        blocks: &[u64],
        outs: &mut [O],
        found: &mut [bool],
    ) -> Result<()> {
        assert!(
            blocks.len() <= reader.blocks,
            "more blocks than the reader holds"
        );
        let depth = reader.buffers.depth;
        self.read_uring(
            &mut reader.ring,
            &mut reader.buffers,
            blocks,
            outs,
            found,
            depth,
        )
    }

    /// Reads every block `blocks[i]` with `found[i]` false (and a stored version) into
    /// `outs[i]` through `ring`, with up to `in_flight` reads queued (at most the buffers'
    /// depth); sets `found[i]` to whether the block has a complete version.
    pub(super) fn read_uring<O: AsMut<[f32]>>(
        &self,
        ring: &mut IoUring,
        b: &mut RingBuffers,
        blocks: &[u64],
        outs: &mut [O],
        found: &mut [bool],
        in_flight: usize,
    ) -> Result<()> {
        assert_eq!(blocks.len(), outs.len(), "one output per block");
        assert_eq!(blocks.len(), found.len(), "one result per block");
        // Checked before any read is queued: a panic must not drop a buffer being read into.
        let floats = self.geometry.floats;
        assert!(outs.iter_mut().all(|o| o.as_mut().len() == floats));
        let depth = in_flight.clamp(1, b.depth);
        // Each buffer holds one record of the file's encoding (not the whole slot: an int8
        // record is a quarter of it).
        let rb = self.record_bytes;
        if b.bufs.len() < depth * rb {
            b.bufs.resize(b.depth * rb, 0);
        }
        let fd = types::Fd(self.file.as_raw_fd());
        b.free.clear();
        b.free.extend((0..depth).rev());
        b.slow.clear();
        let mut failed: Option<io::Error> = None;
        let (mut next, mut queued) = (0usize, 0usize);
        loop {
            while failed.is_none() && next < blocks.len() && !b.free.is_empty() {
                let i = next;
                next += 1;
                if found[i] {
                    continue; // the caller has it
                }
                let Some(pair) = self.pairs.get(&blocks[i]) else {
                    continue; // never written: no version
                };
                let slot = pair.order()[0];
                if pair.seq[slot] == 0 {
                    b.slow.push((i, None)); // no slot has a valid header: no version
                    continue;
                }
                let k = b.free.pop().expect("not empty");
                let buf = b.bufs[k * rb..(k + 1) * rb].as_mut_ptr();
                let read = opcode::Read::new(fd, buf, rb as u32)
                    .offset(self.slot_offset(pair.index, slot))
                    .build()
                    .user_data(k as u64);
                // SAFETY: the read writes `rb` bytes into buffer `k` of `b.bufs`, which is not
                // touched, moved, resized or dropped until the read's completion is taken below
                // (every queued read is waited for before this function returns, or `b.bufs`
                // is leaked); the descriptor belongs to `self.file`, borrowed for the whole call.
                let pushed = unsafe { ring.submission().push(&read) };
                pushed.expect("the queue has room: at most RING_ENTRIES reads are queued");
                b.owner[k] = (i, slot);
                self.slot_reads.fetch_add(1, Ordering::Relaxed);
                self.ring_reads.fetch_add(1, Ordering::Relaxed);
                queued += 1;
            }
            if queued == 0 {
                break;
            }
            match ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Reads may still be queued in the kernel: their buffers must never be
                    // freed or reused.
                    std::mem::forget(std::mem::take(&mut b.bufs));
                    return Err(e.into());
                }
            }
            b.completions.clear();
            b.completions
                .extend(ring.completion().map(|c| (c.user_data(), c.result())));
            for c in 0..b.completions.len() {
                let (k, res) = b.completions[c];
                let k = k as usize;
                queued -= 1;
                b.free.push(k);
                let (i, slot) = b.owner[k];
                if res < 0 {
                    failed.get_or_insert(io::Error::from_raw_os_error(-res));
                    continue;
                }
                let pair = self.pairs.get(&blocks[i]).expect("a block read has a pair");
                let buf = &mut b.bufs[k * rb..(k + 1) * rb];
                let n = res as usize;
                if n < rb {
                    // Short: the end of the file (the rest reads as zeros) or an interrupted
                    // read; `read_full` finishes it either way.
                    let at = self.slot_offset(pair.index, slot) + n as u64;
                    if let Err(e) = scan::read_full(&self.file, &mut buf[n..], at) {
                        failed.get_or_insert(e);
                        continue;
                    }
                }
                if format::decode_record(buf, blocks[i], outs[i].as_mut()).is_some() {
                    pair.current
                        .store(Current::Slot(slot).code(), Ordering::Relaxed);
                    found[i] = true;
                } else {
                    b.slow.push((i, Some(slot)));
                }
            }
        }
        if let Some(e) = failed {
            return Err(e.into());
        }
        for s in 0..b.slow.len() {
            let (i, tried) = b.slow[s];
            let pair = self.pairs.get(&blocks[i]).expect("a block read has a pair");
            let out = outs[i].as_mut();
            let current = self.find_current_skipping(blocks[i], pair, tried, out, &mut b.record)?;
            found[i] = matches!(current, Current::Slot(_));
        }
        Ok(())
    }
}
