//! The block store: a field file's sparse set of blocks, read with `pread` (from any number of
//! threads) and written back so that a crash at any moment leaves every block either at its
//! old or at its new version.
//!
//! # Sparse
//! A block takes room in the file only once it is first written: it then gets a *pair* of
//! slots, appended after the last pair (or reusing a pair that holds no valid record). The
//! map of present blocks (block id → pair, with each slot's sequence number) lives in memory.
//! Open costs time proportional to the blocks written, whatever the field's logical size.
//! Blocks not in the map have no stored version; the field gives them their initial values.
//!
//! # Open: the index, or the scan
//! A clean close ([`BlockStore::write_index`], called on drop) writes the map to the tail of
//! the file with a checksummed footer in its last 4 KiB (`index`). An open that finds a
//! footer it accepts reads only the header, the footer and the index (40 bytes per block, read
//! in 1 MiB pieces): a few MiB and milliseconds for a 1 GiB field. Otherwise — no footer (a
//! crash, a write-back since the last close, a file written by an older version), or a footer
//! or index that fails a check — it falls back to the **scan** (`scan`): every slot's record
//! header, read with `pread` in windows of at most 4 MiB that are dropped from the page cache
//! once parsed. [`BlockStore::stats`] says which path the open took and why.
//!
//! Resident memory of an open: the map (a hash table of 41-byte buckets, 8/7 to 16/7 buckets
//! per block; the scan sizes it once for every pair the file can hold), plus one buffer of
//! [`SCAN_WINDOW`] (4 MiB, scan) or 1 MiB (index): bounded by the map plus 4 MiB, whatever
//! the file's size. Measured figures are in `docs/field-store.md`.
//!
//! # Crash safety: shadow slots, sequence numbers, one sync per write-back
//! A block's versions alternate between the two slots of its pair, each record carrying the
//! block id, a sequence number (1, 2, …) and checksums of its header and payload (`format`).
//! - A write-back goes to the slot that does *not* hold the block's current version, so the
//!   current version is never overwritten; if the write is torn, that slot fails its checksum
//!   and the current version is what a reader finds.
//! - On reading, the slot with the higher sequence number wins if it checks out; otherwise
//!   the other slot; if neither does, the block has no version (it was torn on its first
//!   write) and reads as its initial values — its old content. Once a read has found the
//!   current slot, later reads try it first.
//! - [`BlockStore::write_back`] writes every dirty block at most once, then calls
//!   `fdatasync` once, and only then counts the new versions as current. The next write-back
//!   of a block therefore overwrites the slot whose version is older than a synced one: even
//!   after a power cut (not only a killed process) one of the two slots holds a complete
//!   version, old or new.
//!
//! # Why an accepted index is never stale
//! The index is only a faster way to learn what the scan would learn, and the open accepts it
//! only when no slot can have been written since it was written:
//! 1. The index and footer are written after every slot write of the session has been synced
//!    (each write-back syncs before it returns), then synced themselves; the footer carries a
//!    checksum of the index, so a footer that reached the disk without all of its index is
//!    refused.
//! 2. Before the first slot write after an open (or after a `write_index`), the store
//!    overwrites any footer it found at the end of the file with zeros and syncs that, and
//!    only then writes a slot. So a footer that survives has had no slot written after it.
//! 3. The file never shrinks, and the open accepts a footer only in the file's last 4 KiB and
//!    only if it names the file's current length. A footer that stopped being last (the file
//!    grew past it) can never be last again, so rule 2 covers every footer an open can see.
//! 4. A write-back that fails part-way (an I/O error) leaves the in-memory map at the old
//!    versions while some new ones may be on disk; the store then writes no index at close,
//!    so the next open scans.
//!
//! A killed process or a power cut therefore leaves either a valid index describing exactly
//! the synced state, or a zeroed (or absent, or unchecksummed) footer and a scan: every block
//! old or new, as before the index existed. The file header is written once at creation (then
//! the file and its directory are synced) and never rewritten. An exclusive `flock` keeps a
//! second opener out.
//!
//! # Concurrent reads
//! [`BlockStore::read`] takes `&self`: it `pread`s into a per-thread buffer, and the store is
//! `Sync`, so threads may read blocks at once. [`BlockStore::read_many`] reads a batch with
//! up to [`READ_MANY_IN_FLIGHT`] reads in flight, so that a batch of cold blocks costs about
//! one disk latency per that many blocks instead of one per block: by default through one
//! io_uring the store creates on first use (`uring`), filled from the calling thread; with
//! [`ReadEngine::Threads`], or where io_uring is unavailable, or while another thread holds
//! the ring, through that many scoped threads, each `pread`ing its share. A thread that reads
//! batches all the time (the field's background reader) takes a ring of its own instead
//! ([`BlockStore::ring_reader`], [`BlockStore::read_with_ring`]): it never waits for the
//! store's ring, and its buffers are made once.

mod batch;
mod index;
mod scan;
#[cfg(test)]
mod tests;
mod uring;
mod write;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::format::{self, FILE_HEADER_BYTES};
use crate::layout::{Blocking, Encoding, Layout};

pub use batch::ReadEngine;
use batch::RingState;
pub use scan::SCAN_WINDOW;
pub use uring::RingReader;
pub(crate) use write::{SlotWriter, WritePlan};

/// The most reads [`BlockStore::read_many`] keeps in flight.
pub const READ_MANY_IN_FLIGHT: usize = 8;

/// Which slot of a pair holds the block's current version, as far as the store knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Current {
    /// Not read since open: the header with the higher sequence number is only a candidate.
    Unchecked,
    /// Neither slot holds a complete version.
    Neither,
    /// This slot (0 or 1) holds it.
    Slot(usize),
}

impl Current {
    /// The code kept in memory and in the index.
    fn code(self) -> u8 {
        match self {
            Current::Unchecked => 0,
            Current::Neither => 1,
            Current::Slot(s) => 2 + s as u8,
        }
    }

    fn from_code(code: u8) -> Option<Current> {
        match code {
            0 => Some(Current::Unchecked),
            1 => Some(Current::Neither),
            2 | 3 => Some(Current::Slot((code - 2) as usize)),
            _ => None,
        }
    }
}

/// What is known of a present block's pair of slots.
#[derive(Debug)]
struct Pair {
    /// Index of the pair in the file's block area.
    index: u64,
    /// Sequence number in each slot's valid header (0: no valid header).
    seq: [u64; 2],
    /// `Current::code`: readers (`&self`, any thread) record what they found.
    current: AtomicU8,
}

impl Pair {
    fn new(index: u64, seq: [u64; 2], current: Current) -> Pair {
        Pair {
            index,
            seq,
            current: AtomicU8::new(current.code()),
        }
    }

    fn current(&self) -> Current {
        Current::from_code(self.current.load(Ordering::Relaxed))
            .expect("only valid codes are stored")
    }

    /// The slots to try, most likely current first.
    fn order(&self) -> [usize; 2] {
        match self.current() {
            Current::Slot(s) => [s, 1 - s],
            _ if self.seq[1] > self.seq[0] => [1, 0],
            _ => [0, 1],
        }
    }
}

/// The sizes the store's submodules need.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    /// Byte offset of pair 0.
    first_pair: u64,
    pair_bytes: u64,
    block_count: u64,
    floats: usize,
}

/// What a check of every stored block found (`Field::check_file`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Blocks present in the file.
    pub blocks: u64,
    /// Blocks whose current version checks out (header and payload).
    pub readable: u64,
    /// Slots with a valid header whose record fails its checks (torn writes).
    pub torn_slots: u64,
    /// Pairs holding no valid record, kept for reuse.
    pub free_pairs: u64,
}

/// How the store learnt which blocks the file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenedBy {
    /// The file was created empty.
    Created,
    /// From the index a clean close left (no slot header was read).
    Index,
    /// By reading every slot's record header.
    Scan,
}

/// What the store did since it was created or opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreStats {
    /// How the open found the blocks.
    pub opened_by: OpenedBy,
    /// Why the open did not use an index (`None` if it did, or the file was created).
    pub scan_reason: Option<&'static str>,
    /// Scans of the record headers (0 or 1).
    pub scans: u64,
    /// Bytes the open read from the file (its header, the footer, and the index or the
    /// scanned block area; holes included).
    pub open_bytes_read: u64,
    /// Slot reads since the open (each `pread` or io_uring read of one slot).
    pub slot_reads: u64,
    /// Of those, reads through the store's io_uring.
    pub ring_reads: u64,
    /// Write-backs since the open.
    pub write_backs: u64,
    /// Indexes written.
    pub index_writes: u64,
    /// Footers zeroed before a write-back (an index invalidated).
    pub index_invalidations: u64,
}

/// Bytes of the block map's table when its capacity (`HashMap::capacity`) is `capacity`: its
/// buckets (a power of two, of which 7/8 may be full, or `capacity + 1` below 8), each a key,
/// a pair record and a control byte, plus a group of control bytes.
pub fn map_table_bytes(capacity: usize) -> usize {
    let buckets = if capacity == 0 {
        return 0;
    } else if capacity < 7 {
        capacity + 1
    } else {
        (capacity.saturating_mul(8) / 7)
            .checked_next_power_of_two()
            .unwrap_or(usize::MAX)
    };
    buckets
        .saturating_mul(8 + std::mem::size_of::<Pair>() + 1)
        .saturating_add(16)
}

/// The largest capacity a `capacity` of [`map_table_bytes`] can have within `bytes`.
pub fn map_capacity_within(bytes: usize) -> usize {
    let per_bucket = 8 + std::mem::size_of::<Pair>() + 1;
    let buckets = bytes.saturating_sub(16) / per_bucket;
    if buckets < 8 {
        return buckets.saturating_sub(1);
    }
    // The largest power of two that fits, 7/8 of it usable.
    let pow = 1usize << (usize::BITS - 1 - buckets.leading_zeros());
    pow / 8 * 7
}

/// A field file's blocks.
pub struct BlockStore {
    file: File,
    blocking: Blocking,
    encoding: Encoding,
    geometry: Geometry,
    slot_bytes: usize,
    /// Bytes of a record in the file's encoding (`format::record_bytes`): what a block read
    /// reads of its slot.
    record_bytes: usize,
    header_crc: u32,
    pairs: HashMap<u64, Pair>,
    /// Pairs with no valid record (left by a write torn before its first version landed).
    free_pairs: Vec<u64>,
    /// Pairs the block area spans; the next new pair is appended at this index.
    pair_count: u64,
    /// One slot's bytes, for writes.
    scratch: Vec<u8>,
    /// A footer the file may hold at its end, which must be zeroed before any slot write.
    footer_at: Option<u64>,
    /// Whether the file's index describes the current state (nothing to write at close).
    index_current: bool,
    /// False once a write-back failed part-way: the index would not match the disk.
    index_allowed: bool,
    stats: StoreStats,
    slot_reads: AtomicU64,
    ring_reads: AtomicU64,
    engine: ReadEngine,
    ring: Mutex<RingState>,
}

fn lock_exclusive(file: &File) -> Result<()> {
    // SAFETY: flock on a descriptor we own; no memory is passed.
    let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        return Err(if e.kind() == std::io::ErrorKind::WouldBlock {
            Error::Locked
        } else {
            e.into()
        });
    }
    Ok(())
}

/// Gives the kernel advice about a range of the file; advice only, so a refusal is ignored.
fn advise(file: &File, offset: u64, len: u64, advice: libc::c_int) {
    let (Ok(offset), Ok(len)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
        return;
    };
    // SAFETY: posix_fadvise takes a descriptor we own and plain integers; no memory is passed.
    let _ = unsafe { libc::posix_fadvise(file.as_raw_fd(), offset, len, advice) };
}

thread_local! {
    /// One slot's bytes per reading thread, so that `read` needs no `&mut` scratch.
    static READ_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl BlockStore {
    /// Creates a new field file (failing if `path` exists) holding only the header of `layout`.
    pub fn create(path: &Path, layout: &Layout) -> Result<BlockStore> {
        layout.validate()?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        lock_exclusive(&file)?;
        let header = format::encode_file_header(layout);
        file.write_all_at(&header, 0)?;
        file.sync_all()?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(dir)?.sync_all()?;
        Ok(BlockStore::with_file(
            file,
            layout,
            crc32fast::hash(&header[..64]),
            OpenedBy::Created,
        ))
    }

    fn with_file(file: File, layout: &Layout, header_crc: u32, opened_by: OpenedBy) -> BlockStore {
        let blocking = Blocking::new(layout);
        let slot_bytes = format::slot_bytes(&blocking);
        BlockStore {
            file,
            blocking,
            encoding: layout.cold_encoding,
            geometry: Geometry {
                first_pair: FILE_HEADER_BYTES,
                pair_bytes: 2 * slot_bytes as u64,
                block_count: blocking.block_count(layout),
                floats: blocking.floats_per_block(),
            },
            slot_bytes,
            record_bytes: format::record_bytes(&blocking, layout.cold_encoding),
            header_crc,
            pairs: HashMap::new(),
            free_pairs: Vec::new(),
            pair_count: 0,
            scratch: vec![0; slot_bytes],
            footer_at: None,
            index_current: false,
            index_allowed: true,
            stats: StoreStats {
                opened_by,
                scan_reason: None,
                scans: 0,
                open_bytes_read: 0,
                slot_reads: 0,
                ring_reads: 0,
                write_backs: 0,
                index_writes: 0,
                index_invalidations: 0,
            },
            slot_reads: AtomicU64::new(0),
            ring_reads: AtomicU64::new(0),
            engine: ReadEngine::Uring,
            ring: Mutex::new(RingState::Untried),
        }
    }

    /// Opens a field file: checks its header and loads the map of present blocks from its
    /// index, or, if it has none that checks out, by scanning the record headers.
    pub fn open(path: &Path) -> Result<(Layout, BlockStore)> {
        BlockStore::open_with(path, true)
    }

    /// [`BlockStore::open`], choosing whether an index may be used (`false` always scans: to
    /// measure the scan, or to rebuild an index).
    pub fn open_with(path: &Path, use_index: bool) -> Result<(Layout, BlockStore)> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        lock_exclusive(&file)?;
        let mut head = vec![0u8; 64];
        let n = scan::read_full(&file, &mut head, 0)?;
        let layout = format::decode_file_header(&head[..n])?;
        let header_crc = crc32fast::hash(&head);
        let mut store = BlockStore::with_file(file, &layout, header_crc, OpenedBy::Scan);
        let g = store.geometry;
        let len = store.file.metadata()?.len();
        let (footer, footer_bytes) = index::read_footer(&store.file, len, g.first_pair)?;
        store.stats.open_bytes_read = n as u64 + footer_bytes;
        store.footer_at = footer.map(|f| f.pos);
        let reason = match footer {
            None => "no index at the end of the file",
            Some(_) if !use_index => "the caller asked for a scan",
            Some(f) => match index::load(&store.file, &f, len, header_crc, &g) {
                Ok(loaded) => {
                    store.pairs = loaded.pairs;
                    store.free_pairs = loaded.free_pairs;
                    store.pair_count = loaded.pair_count;
                    store.stats.open_bytes_read += loaded.bytes_read;
                    store.stats.opened_by = OpenedBy::Index;
                    store.index_current = true;
                    return Ok((layout, store));
                }
                Err(reason) => reason,
            },
        };
        let scanned = scan::scan(&store.file, len, &g)?;
        store.pairs = scanned.pairs;
        store.free_pairs = scanned.free_pairs;
        store.pair_count = scanned.pair_count;
        store.stats.open_bytes_read += scanned.bytes_read;
        store.stats.scans = 1;
        store.stats.scan_reason = Some(reason);
        Ok((layout, store))
    }

    fn slot_offset(&self, pair: u64, slot: usize) -> u64 {
        self.geometry.first_pair + pair * self.geometry.pair_bytes + (slot * self.slot_bytes) as u64
    }

    /// Reads the record in `slot` of `pair` into the front of `buf` (at least one record of
    /// the file's encoding long: every record this store writes is in that encoding) and
    /// returns those bytes; bytes past the end of the file read as 0. The rest of the slot (room
    /// for an f32 record, unused by an int8 one) is not read.
    fn read_slot<'b>(&self, pair: u64, slot: usize, buf: &'b mut [u8]) -> Result<&'b [u8]> {
        self.slot_reads.fetch_add(1, Ordering::Relaxed);
        let record = &mut buf[..self.record_bytes];
        scan::read_full(&self.file, record, self.slot_offset(pair, slot))?;
        Ok(record)
    }

    /// Finds the block's newest complete version, decodes it into `out` (if any) and notes
    /// which slot holds it.
    fn find_current(
        &self,
        block: u64,
        pair: &Pair,
        out: &mut [f32],
        buf: &mut [u8],
    ) -> Result<Current> {
        self.find_current_skipping(block, pair, None, out, buf)
    }

    /// [`BlockStore::find_current`], not trying slot `skip` (already read and found wanting).
    fn find_current_skipping(
        &self,
        block: u64,
        pair: &Pair,
        skip: Option<usize>,
        out: &mut [f32],
        buf: &mut [u8],
    ) -> Result<Current> {
        let mut current = Current::Neither;
        for slot in pair.order() {
            if pair.seq[slot] == 0 || skip == Some(slot) {
                continue;
            }
            let record = self.read_slot(pair.index, slot, buf)?;
            if format::decode_record(record, block, out).is_some() {
                current = Current::Slot(slot);
                break;
            }
        }
        pair.current.store(current.code(), Ordering::Relaxed);
        Ok(current)
    }

    /// Reads a block's current version into `out` (`floats_per_block` floats). Returns false,
    /// leaving `out` unspecified, if the block has no stored version. Safe to call from
    /// several threads at once.
    pub fn read(&self, block: u64, out: &mut [f32]) -> Result<bool> {
        assert_eq!(out.len(), self.geometry.floats);
        let Some(pair) = self.pairs.get(&block) else {
            return Ok(false);
        };
        READ_BUFFER.with(|buf| {
            let mut buf = buf.borrow_mut();
            buf.resize(self.slot_bytes, 0);
            let current = self.find_current(block, pair, out, &mut buf)?;
            Ok(matches!(current, Current::Slot(_)))
        })
    }

    /// Zeroes the footer found at open or left by `write_index`, if any, and syncs: no slot may
    /// be written while an index that does not describe it could be accepted.
    fn invalidate_index(&mut self) -> Result<()> {
        self.index_current = false;
        if let Some(pos) = self.footer_at {
            index::invalidate(&self.file, pos)?;
            self.footer_at = None;
            self.stats.index_invalidations += 1;
        }
        Ok(())
    }

    /// Writes the index of present blocks to the end of the file and syncs it, so that the
    /// next open reads the index instead of scanning (see the module documentation). Called
    /// on drop; does nothing if the file's index is already current. Fails (and writes
    /// nothing) after a write-back that failed part-way: the next open then scans.
    pub fn write_index(&mut self) -> Result<()> {
        if self.index_current {
            return Ok(());
        }
        if !self.index_allowed {
            return Err(Error::Corrupt(
                "a write-back failed part-way; the next open must scan".into(),
            ));
        }
        let len = self.file.metadata()?.len();
        let place = index::Placement::new(
            self.pairs.len() as u64,
            self.free_pairs.len() as u64,
            self.pair_count,
            len,
            &self.geometry,
        );
        // Noted before anything is written: if the footer reaches the disk and an error
        // follows, the next write-back still zeroes it first.
        self.footer_at = Some(place.footer_pos);
        index::write(
            &self.file,
            &self.pairs,
            &self.free_pairs,
            &place,
            self.header_crc,
        )?;
        self.index_current = true;
        self.stats.index_writes += 1;
        Ok(())
    }

    /// Writes the index (as on drop) and closes the file, reporting an error that a drop
    /// would lose.
    pub fn close(mut self) -> Result<()> {
        self.write_index()
    }

    /// What the store did since it was created or opened.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            slot_reads: self.slot_reads.load(Ordering::Relaxed),
            ring_reads: self.ring_reads.load(Ordering::Relaxed),
            ..self.stats
        }
    }

    /// Ids of the blocks present in the file, sorted.
    pub fn present_blocks(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.pairs.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Bytes of the map of present blocks and the list of free pairs, as allocated (their
    /// buckets, each a key, a pair record and a control byte).
    pub fn map_bytes(&self) -> usize {
        map_table_bytes(self.pairs.capacity()) + self.free_pairs.capacity() * 8
    }

    /// Blocks the map of present blocks holds before it must grow.
    pub fn map_capacity(&self) -> usize {
        self.pairs.capacity()
    }

    /// Grows the map of present blocks now, if needed, so that it holds `blocks` blocks
    /// without growing again (the field reserves it ahead, so that the background writer's
    /// commits do not grow it behind the resident budget's back).
    pub fn reserve_blocks(&mut self, blocks: usize) {
        self.pairs.reserve(blocks.saturating_sub(self.pairs.len()));
    }

    /// Whether `block` has a version in the file.
    pub fn is_present(&self, block: u64) -> bool {
        self.pairs.contains_key(&block)
    }

    /// Number of blocks present in the file.
    pub fn present_count(&self) -> usize {
        self.pairs.len()
    }

    /// Reads every present block's slots and counts what checks out.
    pub fn check(&self) -> Result<CheckReport> {
        let mut report = CheckReport {
            blocks: self.pairs.len() as u64,
            free_pairs: self.free_pairs.len() as u64,
            ..CheckReport::default()
        };
        let mut tmp = vec![0f32; self.geometry.floats];
        let mut buf = vec![0u8; self.slot_bytes];
        for block in self.present_blocks() {
            let pair = &self.pairs[&block];
            let mut readable = false;
            for slot in 0..2 {
                if pair.seq[slot] == 0 {
                    continue;
                }
                let record = self.read_slot(pair.index, slot, &mut buf)?;
                if format::decode_record(record, block, &mut tmp).is_some() {
                    readable = true;
                } else {
                    report.torn_slots += 1;
                }
            }
            report.readable += readable as u64;
        }
        Ok(report)
    }

    /// The file's length and its allocated size on disk in bytes (`st_blocks × 512`).
    pub fn disk_usage(&self) -> Result<(u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        let meta = self.file.metadata()?;
        Ok((meta.len(), meta.blocks() * 512))
    }

    /// The blocking of the file's layout.
    pub fn blocking(&self) -> &Blocking {
        &self.blocking
    }
}

impl Drop for BlockStore {
    /// Writes the index if it is not current; an error here is lost (call
    /// [`BlockStore::close`] to see it) and leaves the next open to scan.
    fn drop(&mut self) {
        let _ = self.write_index();
    }
}
