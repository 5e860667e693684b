//! The block store: a field file's sparse set of blocks, read with `pread` and written back
//! so that a crash at any moment leaves every block either at its old or at its new version.
//!
//! # Sparse
//! A block takes room in the file only once it is first written: it then gets a *pair* of
//! slots, appended at the end of the file (or reusing a pair that holds no valid record). The
//! index of present blocks (block id → pair) lives in memory and is rebuilt at open by reading
//! the record headers, through a read-only mapping of the file (one `mmap` for the whole
//! scan; the kernel reads only the pages the headers sit on, instead of a `pread` per slot). Open therefore costs time proportional
//! to the blocks written, whatever the field's logical size. Blocks not in the index have no
//! stored version; the field gives them their initial values.
//!
//! # Crash safety: shadow slots, sequence numbers, one sync per write-back
//! A block's versions alternate between the two slots of its pair, each record carrying the
//! block id, a sequence number (1, 2, …) and checksums of its header and payload (`format`).
//! - A write-back goes to the slot that does *not* hold the block's current version, so the
//!   current version is never overwritten; if the write is torn, that slot fails its checksum
//!   and the current version is what a reader finds.
//! - On reading, the slot with the higher sequence number wins if it checks out; otherwise
//!   the other slot; if neither does, the block has no version (it was torn on its first
//!   write) and reads as its initial values — its old content.
//! - [`BlockStore::write_back`] writes every dirty block at most once, then calls
//!   `fdatasync` once, and only then counts the new versions as current. The next write-back
//!   of a block therefore overwrites the slot whose version is older than a synced one: even
//!   after a power cut (not only a killed process) one of the two slots holds a complete
//!   version, old or new.
//!
//! The file header is written once at creation (then the file and its directory are synced)
//! and never rewritten. An exclusive `flock` keeps a second opener out.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::format::{self, FILE_HEADER_BYTES, RECORD_HEADER_BYTES};
use crate::layout::{Blocking, Encoding, Layout};

/// What is known of a present block's pair of slots.
#[derive(Clone, Copy, Debug)]
struct Pair {
    /// Index of the pair in the file's block area.
    index: u64,
    /// Sequence number in each slot's valid header (0: no valid header).
    seq: [u64; 2],
    /// The slot holding the block's current version, once a read has checked it.
    current: Current,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Current {
    /// Not read since open: the header with the higher sequence number is only a candidate.
    Unchecked,
    /// Neither slot holds a complete version.
    Neither,
    /// This slot (0 or 1) holds it.
    Slot(usize),
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

/// A field file's blocks.
pub struct BlockStore {
    file: File,
    blocking: Blocking,
    encoding: Encoding,
    block_count: u64,
    slot_bytes: usize,
    pairs: HashMap<u64, Pair>,
    /// Pairs with no valid record (left by a write torn before its first version landed).
    free_pairs: Vec<u64>,
    /// Pairs the block area spans; the next new pair is appended at this index.
    pair_count: u64,
    /// One slot's bytes, reused by reads and writes.
    scratch: Vec<u8>,
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
        file.write_all_at(&format::encode_file_header(layout), 0)?;
        file.sync_all()?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(dir)?.sync_all()?;
        Ok(BlockStore::with_file(file, layout))
    }

    fn with_file(file: File, layout: &Layout) -> BlockStore {
        let blocking = Blocking::new(layout);
        let slot_bytes = format::slot_bytes(&blocking);
        BlockStore {
            file,
            blocking,
            encoding: layout.cold_encoding,
            block_count: blocking.block_count(layout),
            slot_bytes,
            pairs: HashMap::new(),
            free_pairs: Vec::new(),
            pair_count: 0,
            scratch: vec![0; slot_bytes],
        }
    }

    /// Opens a field file: checks its header and rebuilds the index of present blocks.
    pub fn open(path: &Path) -> Result<(Layout, BlockStore)> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        lock_exclusive(&file)?;
        let mut head = vec![0u8; 64];
        let n = file.read_at(&mut head, 0)?;
        let layout = format::decode_file_header(&head[..n])?;
        let mut store = BlockStore::with_file(file, &layout);
        store.scan()?;
        Ok((layout, store))
    }

    fn pair_bytes(&self) -> u64 {
        2 * self.slot_bytes as u64
    }

    fn slot_offset(&self, pair: u64, slot: usize) -> u64 {
        FILE_HEADER_BYTES + pair * self.pair_bytes() + (slot * self.slot_bytes) as u64
    }

    /// Reads every slot's record header and builds the index.
    fn scan(&mut self) -> Result<()> {
        let len = self.file.metadata()?.len();
        let area = len.saturating_sub(FILE_HEADER_BYTES);
        self.pair_count = area.div_ceil(self.pair_bytes());
        if self.pair_count == 0 {
            return Ok(());
        }
        // SAFETY: the map is read-only and dropped before this function returns; we hold an
        // exclusive flock, so no cooperating process writes or truncates the file meanwhile,
        // and this store does not write while the map lives.
        let map = unsafe { memmap2::Mmap::map(&self.file)? };
        let floats = self.blocking.floats_per_block();
        for index in 0..self.pair_count {
            let mut seq = [0u64; 2];
            let mut owner: Option<u64> = None;
            for (slot, s) in seq.iter_mut().enumerate() {
                let at = self.slot_offset(index, slot) as usize;
                let Some(bytes) = map.get(at..at + RECORD_HEADER_BYTES) else {
                    continue;
                };
                let Some(h) = format::decode_record_header(bytes) else {
                    continue;
                };
                if h.payload_len as usize != h.encoding.payload_bytes(floats)
                    || h.block >= self.block_count
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
                None => self.free_pairs.push(index),
                Some(block) => {
                    let pair = Pair {
                        index,
                        seq,
                        current: Current::Unchecked,
                    };
                    if self.pairs.insert(block, pair).is_some() {
                        return Err(Error::Corrupt(format!("block {block} has two pairs")));
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads `slot` of `pair` into the scratch buffer; bytes past the end of the file read as 0.
    fn read_slot(&mut self, pair: u64, slot: usize) -> Result<()> {
        let at = self.slot_offset(pair, slot);
        let mut done = 0;
        while done < self.slot_bytes {
            let n = self
                .file
                .read_at(&mut self.scratch[done..], at + done as u64)?;
            if n == 0 {
                break;
            }
            done += n;
        }
        self.scratch[done..].fill(0);
        Ok(())
    }

    /// Finds the block's newest complete version, decodes it into `out` (if any) and notes
    /// which slot holds it.
    fn find_current(&mut self, block: u64, pair: Pair, out: &mut [f32]) -> Result<Current> {
        let order = if pair.seq[1] > pair.seq[0] {
            [1, 0]
        } else {
            [0, 1]
        };
        for slot in order {
            if pair.seq[slot] == 0 {
                continue;
            }
            self.read_slot(pair.index, slot)?;
            if format::decode_record(&self.scratch, block, out).is_some() {
                return Ok(Current::Slot(slot));
            }
        }
        Ok(Current::Neither)
    }

    /// Reads a block's current version into `out` (`floats_per_block` floats). Returns false,
    /// leaving `out` unspecified, if the block has no stored version.
    pub fn read(&mut self, block: u64, out: &mut [f32]) -> Result<bool> {
        assert_eq!(out.len(), self.blocking.floats_per_block());
        let Some(&pair) = self.pairs.get(&block) else {
            return Ok(false);
        };
        let current = self.find_current(block, pair, out)?;
        self.pairs.get_mut(&block).expect("present").current = current;
        Ok(matches!(current, Current::Slot(_)))
    }

    /// Writes new versions of blocks, `(id, floats_per_block floats)` each, every id at most
    /// once, then syncs the file's data. Only after the sync do the new versions count as
    /// current (see the module's crash-safety notes).
    pub fn write_back(&mut self, blocks: &[(u64, &[f32])]) -> Result<()> {
        let mut planned: Vec<(u64, Pair, usize, u64)> = Vec::with_capacity(blocks.len());
        let mut order: Vec<usize> = (0..blocks.len()).collect();
        order.sort_unstable_by_key(|&i| blocks[i].0);
        if order.windows(2).any(|w| blocks[w[0]].0 == blocks[w[1]].0) {
            panic!("write_back: a block appears twice in one write-back");
        }
        for &i in &order {
            let (block, values) = blocks[i];
            assert!(block < self.block_count, "block {block} out of range");
            assert_eq!(values.len(), self.blocking.floats_per_block());
            let mut pair = match self.pairs.get(&block) {
                Some(&p) => p,
                None => {
                    let index = self.free_pairs.pop().unwrap_or_else(|| {
                        self.pair_count += 1;
                        self.pair_count - 1
                    });
                    Pair {
                        index,
                        seq: [0, 0],
                        current: Current::Neither,
                    }
                }
            };
            if pair.current == Current::Unchecked {
                let mut tmp = vec![0f32; values.len()];
                pair.current = self.find_current(block, pair, &mut tmp)?;
            }
            let target = match pair.current {
                Current::Slot(s) => 1 - s,
                _ => 0,
            };
            let seq = pair.seq[0].max(pair.seq[1]) + 1;
            format::encode_record(block, seq, self.encoding, values, &mut self.scratch);
            self.file
                .write_all_at(&self.scratch, self.slot_offset(pair.index, target))?;
            planned.push((block, pair, target, seq));
        }
        self.file.sync_data()?;
        for (block, mut pair, target, seq) in planned {
            pair.seq[target] = seq;
            pair.current = Current::Slot(target);
            self.pairs.insert(block, pair);
        }
        Ok(())
    }

    /// Ids of the blocks present in the file, sorted.
    pub fn present_blocks(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.pairs.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Number of blocks present in the file.
    pub fn present_count(&self) -> usize {
        self.pairs.len()
    }

    /// Reads every present block's slots and counts what checks out.
    pub fn check(&mut self) -> Result<CheckReport> {
        let mut report = CheckReport {
            blocks: self.pairs.len() as u64,
            free_pairs: self.free_pairs.len() as u64,
            ..CheckReport::default()
        };
        let mut tmp = vec![0f32; self.blocking.floats_per_block()];
        for block in self.present_blocks() {
            let pair = self.pairs[&block];
            let mut readable = false;
            for slot in 0..2 {
                if pair.seq[slot] == 0 {
                    continue;
                }
                self.read_slot(pair.index, slot)?;
                if format::decode_record(&self.scratch, block, &mut tmp).is_some() {
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

    /// Byte offset of a slot, for tests that damage the file on purpose.
    #[cfg(test)]
    fn slot_of(&self, block: u64, slot: usize) -> u64 {
        self.slot_offset(self.pairs[&block].index, slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_layout() -> Layout {
        Layout {
            dim: 2,
            levels: 2,
            log2_table: 14,
            features: 2,
            base_resolution: 4,
            finest_resolution: 64,
            log2_block_bytes: 12,
            ..Layout::default()
        }
    }

    #[test]
    fn versions_alternate_slots_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let layout = small_layout();
        let n = Blocking::new(&layout).floats_per_block();
        let mut store = BlockStore::create(&path, &layout).unwrap();
        let v1 = vec![1.0f32; n];
        let v2 = vec![2.0f32; n];
        let mut out = vec![0f32; n];
        assert!(!store.read(5, &mut out).unwrap(), "never written");
        store.write_back(&[(5, &v1), (9, &v1)]).unwrap();
        store.write_back(&[(5, &v2)]).unwrap();
        assert_eq!(store.pairs[&5].seq, [1, 2]);
        drop(store);
        let (l, mut store) = BlockStore::open(&path).unwrap();
        assert_eq!(l, layout);
        assert_eq!(store.present_blocks(), vec![5, 9]);
        assert!(store.read(5, &mut out).unwrap());
        assert_eq!(out, v2);
        assert!(store.read(9, &mut out).unwrap());
        assert_eq!(out, v1);
        // The third version overwrites slot 0 (version 1), not the current one.
        store.write_back(&[(5, &v1)]).unwrap();
        assert_eq!(store.pairs[&5].seq, [3, 2]);
    }

    #[test]
    fn a_torn_newest_version_falls_back_to_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let layout = small_layout();
        let n = Blocking::new(&layout).floats_per_block();
        let mut store = BlockStore::create(&path, &layout).unwrap();
        let old = vec![1.5f32; n];
        let new = vec![-2.5f32; n];
        store.write_back(&[(3, &old), (4, &old)]).unwrap();
        store.write_back(&[(3, &new)]).unwrap();
        let torn_at = store.slot_of(3, 1) + 2048; // inside version 2's payload
        let torn_first = store.slot_of(4, 0) + 100; // block 4's only version
        drop(store);
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(&[0x5a; 1000], torn_at).unwrap();
        file.write_all_at(&[0x5a; 10], torn_first).unwrap();
        drop(file);
        let (_, mut store) = BlockStore::open(&path).unwrap();
        let report = store.check().unwrap();
        assert_eq!(
            report,
            CheckReport {
                blocks: 2,
                readable: 1,
                torn_slots: 2,
                free_pairs: 0
            }
        );
        let mut out = vec![0f32; n];
        assert!(store.read(3, &mut out).unwrap());
        assert_eq!(out, old, "the old version, not a torn mix");
        assert!(
            !store.read(4, &mut out).unwrap(),
            "a torn first write leaves no version"
        );
        // Rewriting goes to the torn slot, and then reads back.
        store.write_back(&[(3, &new)]).unwrap();
        assert_eq!(store.pairs[&3].seq, [1, 3]);
        drop(store);
        let (_, mut store) = BlockStore::open(&path).unwrap();
        assert!(store.read(3, &mut out).unwrap());
        assert_eq!(out, new);
    }

    #[test]
    fn a_pair_left_without_a_valid_record_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let layout = small_layout();
        let n = Blocking::new(&layout).floats_per_block();
        let mut store = BlockStore::create(&path, &layout).unwrap();
        store
            .write_back(&[(1, &vec![1.0; n]), (2, &vec![2.0; n])])
            .unwrap();
        // Block 2's first write torn inside its record header: the pair names no block.
        let header = store.slot_of(2, 0) + 10;
        drop(store);
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(&[0xff; 8], header).unwrap();
        let length = file.metadata().unwrap().len();
        drop(file);
        let (_, mut store) = BlockStore::open(&path).unwrap();
        assert_eq!(store.present_blocks(), vec![1]);
        assert_eq!(store.check().unwrap().free_pairs, 1);
        store.write_back(&[(3, &vec![3.0; n])]).unwrap();
        drop(store);
        let (_, mut store) = BlockStore::open(&path).unwrap();
        assert_eq!(store.present_blocks(), vec![1, 3]);
        assert_eq!(store.pairs[&3].index, 1, "block 3 took the free pair");
        assert_eq!(
            store.disk_usage().unwrap().0,
            length,
            "the file did not grow"
        );
        let mut out = vec![0f32; n];
        assert!(store.read(3, &mut out).unwrap());
        assert!(out.iter().all(|&v| v == 3.0));
    }

    #[test]
    fn a_second_opener_is_refused_and_a_damaged_header_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let store = BlockStore::create(&path, &small_layout()).unwrap();
        assert!(matches!(BlockStore::open(&path), Err(Error::Locked)));
        drop(store);
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(&[9], 20).unwrap();
        drop(file);
        assert!(matches!(BlockStore::open(&path), Err(Error::BadHeader(_))));
        assert!(
            BlockStore::create(&path, &small_layout()).is_err(),
            "create never overwrites"
        );
    }
}
