//! `read_many` through io_uring: one thread keeps up to `in_flight` slot reads queued in one
//! ring (created on first use, kept by the store), instead of starting a thread per read in
//! flight. Each block's most likely current slot is read first; a block whose read does not
//! check out (a torn newest version) is finished by the ordinary `pread` path afterwards.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;

use io_uring::{opcode, types, IoUring};

use super::{scan, BlockStore, Current, Pair};
use crate::error::Result;
use crate::format;

/// Entries of the ring's submission queue: the most reads one call keeps in flight.
pub(super) const RING_ENTRIES: u32 = 64;

/// A block to read: its position in the caller's arrays, its id, its pair and its output.
pub(super) type Job<'a> = (usize, u64, &'a Pair, &'a mut [f32]);

/// Creates a ring; fails where io_uring is unavailable (old kernel, seccomp, sysctl).
pub(super) fn new_ring() -> io::Result<IoUring> {
    IoUring::new(RING_ENTRIES)
}

impl BlockStore {
    /// Reads `jobs` through `ring` with up to `in_flight` reads queued; returns, per job,
    /// its position and whether the block has a complete version.
    pub(super) fn read_jobs_uring(
        &self,
        ring: &mut IoUring,
        jobs: &mut [Job<'_>],
        in_flight: usize,
    ) -> Result<Vec<(usize, bool)>> {
        let depth = in_flight.clamp(1, RING_ENTRIES as usize);
        // Each buffer holds one record of the file's encoding (not the whole slot: an int8
        // record is a quarter of it).
        let rb = self.record_bytes;
        let fd = types::Fd(self.file.as_raw_fd());
        let mut bufs = vec![0u8; depth * rb];
        let mut free: Vec<usize> = (0..depth).rev().collect();
        // Per buffer: the job and the slot its read is for.
        let mut owner = vec![(0usize, 0usize); depth];
        let mut done = Vec::with_capacity(jobs.len());
        // Jobs the ordinary path finishes, with the slot already tried, if any.
        let mut slow: Vec<(usize, Option<usize>)> = Vec::new();
        let mut failed: Option<io::Error> = None;
        let (mut next, mut queued) = (0usize, 0usize);
        loop {
            while failed.is_none() && next < jobs.len() && !free.is_empty() {
                let pair = jobs[next].2;
                let slot = pair.order()[0];
                if pair.seq[slot] == 0 {
                    slow.push((next, None)); // no slot has a valid header: no version
                    next += 1;
                    continue;
                }
                let b = free.pop().expect("not empty");
                let buf = bufs[b * rb..(b + 1) * rb].as_mut_ptr();
                let read = opcode::Read::new(fd, buf, rb as u32)
                    .offset(self.slot_offset(pair.index, slot))
                    .build()
                    .user_data(b as u64);
                // SAFETY: the read writes `rb` bytes into buffer `b` of `bufs`, which is not
                // touched, moved or dropped until the read's completion is taken below (every
                // queued read is waited for before this function returns, or `bufs` is leaked);
                // the descriptor belongs to `self.file`, borrowed for the whole call.
                let pushed = unsafe { ring.submission().push(&read) };
                pushed.expect("the queue has room: at most RING_ENTRIES reads are queued");
                owner[b] = (next, slot);
                self.slot_reads.fetch_add(1, Ordering::Relaxed);
                self.ring_reads.fetch_add(1, Ordering::Relaxed);
                queued += 1;
                next += 1;
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
                    std::mem::forget(bufs);
                    return Err(e.into());
                }
            }
            let completions: Vec<(u64, i32)> = ring
                .completion()
                .map(|c| (c.user_data(), c.result()))
                .collect();
            for (b, res) in completions {
                let b = b as usize;
                queued -= 1;
                free.push(b);
                let (j, slot) = owner[b];
                if res < 0 {
                    failed.get_or_insert(io::Error::from_raw_os_error(-res));
                    continue;
                }
                let buf = &mut bufs[b * rb..(b + 1) * rb];
                let n = res as usize;
                if n < rb {
                    // Short: the end of the file (the rest reads as zeros) or an interrupted
                    // read; `read_full` finishes it either way.
                    let at = self.slot_offset(jobs[j].2.index, slot) + n as u64;
                    if let Err(e) = scan::read_full(&self.file, &mut buf[n..], at) {
                        failed.get_or_insert(e);
                        continue;
                    }
                }
                let (i, block, pair, out) = &mut jobs[j];
                if format::decode_record(buf, *block, out).is_some() {
                    pair.current
                        .store(Current::Slot(slot).code(), Ordering::Relaxed);
                    done.push((*i, true));
                } else {
                    slow.push((j, Some(slot)));
                }
            }
        }
        if let Some(e) = failed {
            return Err(e.into());
        }
        let mut buf = vec![0u8; self.record_bytes];
        for (j, tried) in slow {
            let (i, block, pair, out) = &mut jobs[j];
            let current = self.find_current_skipping(*block, pair, tried, out, &mut buf)?;
            done.push((*i, matches!(current, Current::Slot(_))));
        }
        Ok(done)
    }
}
