//! The fallback open: rebuilding the block index from the record headers, when the file has no
//! index the open can trust (after a crash, a failed write-back, or a damaged index).
//!
//! The block area is read front to back with `pread` in windows of whole pairs (at most
//! [`SCAN_WINDOW`] bytes, at least one pair), and only each slot's 64-byte record header is
//! kept. The file is advised `POSIX_FADV_SEQUENTIAL` for the scan (and back to
//! `POSIX_FADV_NORMAL` after it), and each window's pages are
//! dropped from the page cache (`POSIX_FADV_DONTNEED`) once parsed, so neither the process
//! (one window's buffer) nor the page cache grows with the file. The holes of a sparse file
//! read as zeros without touching the disk.
//!
//! Pairs past the last one holding a valid record header (dead bytes: an old index, a footer,
//! a pair whose first write was torn) are not counted: new pairs are appended over them.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

use super::{advise, Current, Geometry, Pair};
use crate::error::{Error, Result};
use crate::format::{self, RECORD_HEADER_BYTES};

/// The most bytes one window of the scan reads (and the scan's buffer holds).
pub const SCAN_WINDOW: usize = 4 << 20;

/// What the scan found.
pub(super) struct Scanned {
    pub pairs: HashMap<u64, Pair>,
    pub free_pairs: Vec<u64>,
    pub pair_count: u64,
    /// Bytes `pread` returned (holes included).
    pub bytes_read: u64,
}

/// Reads `buf.len()` bytes at `at`, zero-filling what lies past the end of the file.
pub(super) fn read_full(file: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], at + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf[done..].fill(0);
    Ok(done)
}

/// Scans the block area of a file of length `len`.
pub(super) fn scan(file: &File, len: u64, g: &Geometry) -> Result<Scanned> {
    let area = len.saturating_sub(g.first_pair);
    let pair_total = area.div_ceil(g.pair_bytes);
    // Sized once for every pair the file can hold: growing by doubling would hold the old
    // and the new table at once.
    let mut pairs = HashMap::with_capacity(pair_total as usize);
    let mut free = Vec::new();
    let mut last_used: Option<u64> = None;
    let mut bytes_read = 0u64;
    if pair_total == 0 {
        return Ok(Scanned {
            pairs,
            free_pairs: free,
            pair_count: 0,
            bytes_read,
        });
    }
    advise(file, g.first_pair, area, libc::POSIX_FADV_SEQUENTIAL);
    let window_pairs = (SCAN_WINDOW as u64 / g.pair_bytes).max(1);
    let mut buf = vec![0u8; (window_pairs * g.pair_bytes) as usize];
    let slot_bytes = (g.pair_bytes / 2) as usize;
    let mut start = 0u64;
    while start < pair_total {
        let n = window_pairs.min(pair_total - start);
        let at = g.first_pair + start * g.pair_bytes;
        let bytes = &mut buf[..(n * g.pair_bytes) as usize];
        bytes_read += read_full(file, bytes, at)? as u64;
        for (k, pair_bytes) in bytes.chunks_exact(g.pair_bytes as usize).enumerate() {
            let index = start + k as u64;
            let mut seq = [0u64; 2];
            let mut owner: Option<u64> = None;
            for (slot, s) in seq.iter_mut().enumerate() {
                let head = &pair_bytes[slot * slot_bytes..slot * slot_bytes + RECORD_HEADER_BYTES];
                let Some(h) = format::decode_record_header(head) else {
                    continue;
                };
                if h.payload_len as usize != h.encoding.payload_bytes(g.floats)
                    || h.block >= g.block_count
                    || h.seq == 0
                {
                    return Err(Error::Corrupt(format!(
                        "pair {index} slot {slot}: record for block {} does not fit the layout",
                        h.block
                    )));
                }
                if owner.is_some_and(|b| b != h.block) {
                    return Err(Error::Corrupt(format!("pair {index} holds two blocks")));
                }
                owner = Some(h.block);
                *s = h.seq;
            }
            match owner {
                None => free.push(index),
                Some(block) => {
                    last_used = Some(index);
                    if pairs
                        .insert(block, Pair::new(index, seq, Current::Unchecked))
                        .is_some()
                    {
                        return Err(Error::Corrupt(format!("block {block} has two pairs")));
                    }
                }
            }
        }
        advise(file, at, n * g.pair_bytes, libc::POSIX_FADV_DONTNEED);
        start += n;
    }
    // The advice stays with the open file: block reads after the open are random.
    advise(file, g.first_pair, area, libc::POSIX_FADV_NORMAL);
    let pair_count = last_used.map_or(0, |p| p + 1);
    free.retain(|&p| p < pair_count);
    Ok(Scanned {
        pairs,
        free_pairs: free,
        pair_count,
        bytes_read,
    })
}
