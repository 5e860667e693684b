//! Write-back in three steps, so that its slow part runs while the store serves reads:
//!
//! 1. [`BlockStore::plan_write_back`] (`&mut`, quick): invalidates an index the file may hold
//!    (rule 2 of the module's index notes), and chooses each block's pair and target slot —
//!    the one that does not hold its current version — and its new sequence number. New
//!    blocks take a free pair or a new one at the end. Nothing of the map changes yet.
//! 2. [`SlotWriter::write`] (no borrow of the store; its own descriptor of the file): encodes
//!    and writes every planned slot, then `fdatasync`s once.
//! 3. [`BlockStore::commit_write_back`] (`&mut`, quick): only now do the new versions count as
//!    current. Until then readers find the old versions, which step 2 never overwrites.
//!
//! One write-back at a time: a plan must be committed (or aborted) before the next is made,
//! else two plans could choose the same target slot for a block. The field's background
//! writer (`writer`) is the only caller besides [`BlockStore::write_back`], which runs the
//! three steps at once.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::{BlockStore, Current, Pair};
use crate::error::Result;
use crate::format;
use crate::layout::Encoding;

/// One block's place in a planned write-back.
#[derive(Clone, Copy, Debug)]
struct Planned {
    block: u64,
    pair: u64,
    /// The pair's sequence numbers before this write-back.
    seq: [u64; 2],
    target: usize,
    new_seq: u64,
    offset: u64,
}

/// A write-back planned by [`BlockStore::plan_write_back`], in block-id order.
#[derive(Debug)]
pub(crate) struct WritePlan {
    planned: Vec<Planned>,
}

/// Writes the slots of planned write-backs through its own descriptor of the file (a
/// duplicate, so it shares the file's lock), without borrowing the store.
pub(crate) struct SlotWriter {
    file: File,
    encoding: Encoding,
    floats: usize,
    scratch: Vec<u8>,
}

impl SlotWriter {
    /// Encodes and writes each planned block's new version (`values[i]` for the plan's `i`-th
    /// block, `floats_per_block` floats), then syncs the file's data once.
    pub(crate) fn write(&mut self, plan: &WritePlan, values: &[&[f32]]) -> Result<()> {
        assert_eq!(
            plan.planned.len(),
            values.len(),
            "one value slice per block"
        );
        assert!(values.iter().all(|v| v.len() == self.floats));
        write_slots(&self.file, self.encoding, &mut self.scratch, plan, values)
    }
}

impl BlockStore {
    /// A writer of planned slots with its own descriptor of the file.
    pub(crate) fn slot_writer(&self) -> Result<SlotWriter> {
        Ok(SlotWriter {
            file: self.file.try_clone()?,
            encoding: self.encoding,
            floats: self.geometry.floats,
            scratch: vec![0; self.slot_bytes],
        })
    }

    /// Plans a write-back of `blocks` (sorted, distinct ids): step 1 of the module's three.
    /// Invalidates the file's index first if it has one (one sync). Pairs for new blocks are
    /// taken now; if the write-back then fails they stay taken (a pair holding no valid record
    /// is found free again by the next open's scan).
    ///
    /// # Panics
    /// If `blocks` is not sorted and distinct, or names a block beyond the layout.
    pub(crate) fn plan_write_back(&mut self, blocks: &[u64]) -> Result<WritePlan> {
        assert!(
            blocks.windows(2).all(|w| w[0] < w[1]),
            "plan_write_back: blocks must be sorted and distinct"
        );
        if let Some(&last) = blocks.last() {
            assert!(
                last < self.geometry.block_count,
                "block {last} out of range"
            );
        }
        let mut planned = Vec::with_capacity(blocks.len());
        if blocks.is_empty() {
            return Ok(WritePlan { planned });
        }
        self.invalidate_index()?;
        self.stats.write_backs += 1;
        let (mut tmp, mut buf) = (Vec::new(), Vec::new());
        for &block in blocks {
            let (pair, seq, current) = match self.pairs.get(&block) {
                Some(p) => {
                    let mut current = p.current();
                    if current == Current::Unchecked {
                        // Which slot holds the current version decides which one to write.
                        tmp.resize(self.geometry.floats, 0f32);
                        buf.resize(self.slot_bytes, 0u8);
                        current = self.find_current(block, p, &mut tmp, &mut buf)?;
                    }
                    (p.index, p.seq, current)
                }
                None => {
                    let index = self.free_pairs.pop().unwrap_or_else(|| {
                        self.pair_count += 1;
                        self.pair_count - 1
                    });
                    (index, [0, 0], Current::Neither)
                }
            };
            let target = match current {
                Current::Slot(s) => 1 - s,
                _ => 0,
            };
            planned.push(Planned {
                block,
                pair,
                seq,
                target,
                new_seq: seq[0].max(seq[1]) + 1,
                offset: self.slot_offset(pair, target),
            });
        }
        Ok(WritePlan { planned })
    }

    /// Step 3: the plan's slots were written and synced; their versions become current.
    pub(crate) fn commit_write_back(&mut self, plan: WritePlan) {
        for p in plan.planned {
            let mut seq = p.seq;
            seq[p.target] = p.new_seq;
            self.pairs
                .insert(p.block, Pair::new(p.pair, seq, Current::Slot(p.target)));
        }
    }

    /// A planned write-back failed part-way: the map keeps the old versions while some new
    /// ones may be on disk, so no index may be written from it (the next open scans).
    pub(crate) fn abort_write_back(&mut self) {
        self.index_allowed = false;
    }

    /// Writes new versions of blocks, `(id, floats_per_block floats)` each, every id at most
    /// once, then syncs the file's data: the three steps of the module at once, on the
    /// calling thread. Only after the sync do the new versions count as current (see the
    /// module's crash-safety notes). The first write-back after an open or an index write
    /// first invalidates the index (one more sync).
    ///
    /// # Panics
    /// If a block appears twice, is beyond the layout, or has the wrong number of floats.
    pub fn write_back(&mut self, blocks: &[(u64, &[f32])]) -> Result<()> {
        let mut sorted: Vec<(u64, &[f32])> = blocks.to_vec();
        sorted.sort_unstable_by_key(|&(b, _)| b);
        if sorted.windows(2).any(|w| w[0].0 == w[1].0) {
            panic!("write_back: a block appears twice in one write-back");
        }
        for &(_, values) in &sorted {
            assert_eq!(values.len(), self.geometry.floats);
        }
        let ids: Vec<u64> = sorted.iter().map(|&(b, _)| b).collect();
        let values: Vec<&[f32]> = sorted.iter().map(|&(_, v)| v).collect();
        let plan = self.plan_write_back(&ids)?;
        let result = write_slots(&self.file, self.encoding, &mut self.scratch, &plan, &values);
        match result {
            Ok(()) => {
                self.commit_write_back(plan);
                Ok(())
            }
            Err(e) => {
                self.abort_write_back();
                Err(e)
            }
        }
    }
}

/// [`SlotWriter::write`] with a borrowed file and scratch buffer.
fn write_slots(
    file: &File,
    encoding: Encoding,
    scratch: &mut [u8],
    plan: &WritePlan,
    values: &[&[f32]],
) -> Result<()> {
    for (p, v) in plan.planned.iter().zip(values) {
        format::encode_record(p.block, p.new_seq, encoding, v, scratch);
        file.write_all_at(scratch, p.offset)?;
    }
    if !plan.planned.is_empty() {
        file.sync_data()?;
    }
    Ok(())
}
