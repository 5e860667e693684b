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
//!
//! The steps allocate nothing when the plan has room for the write-back's blocks (since
//! session 24: the writer's thread reuses one plan, made and grown on the field's thread, and
//! passes ids and values as iterators), save for a block whose current slot has not been
//! read since the open (planning reads it, into buffers made then).

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

/// A write-back planned by [`BlockStore::plan_write_back`], in block-id order; reused from
/// one write-back to the next (committing or aborting empties it, keeping its room).
#[derive(Debug, Default)]
pub(crate) struct WritePlan {
    planned: Vec<Planned>,
}

impl WritePlan {
    /// An empty plan with room for `blocks` blocks.
    pub(crate) fn with_capacity(blocks: usize) -> WritePlan {
        WritePlan {
            planned: Vec::with_capacity(blocks),
        }
    }

    /// The blocks the plan holds without growing.
    pub(crate) fn capacity(&self) -> usize {
        self.planned.capacity()
    }
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
    /// Encodes and writes each planned block's new version (the `i`-th of `values` for the
    /// plan's `i`-th block, `floats_per_block` floats), then syncs the file's data once.
    ///
    /// # Panics
    /// If `values` does not give one slice of `floats_per_block` floats per planned block.
    pub(crate) fn write<'v>(
        &mut self,
        plan: &WritePlan,
        values: impl IntoIterator<Item = &'v [f32]>,
    ) -> Result<()> {
        let floats = self.floats;
        let values = values.into_iter().inspect(|v| assert_eq!(v.len(), floats));
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

    /// Plans a write-back of `blocks` (sorted, distinct ids) into `plan` (emptied first):
    /// step 1 of the module's three. Invalidates the file's index first if it has one (one
    /// sync). Pairs for new blocks are taken now; if the write-back then fails they stay taken
    /// (a pair holding no valid record is found free again by the next open's scan).
    ///
    /// # Panics
    /// If `blocks` is not sorted and distinct, or names a block beyond the layout.
    pub(crate) fn plan_write_back(
        &mut self,
        blocks: impl IntoIterator<Item = u64>,
        plan: &mut WritePlan,
    ) -> Result<()> {
        plan.planned.clear();
        let mut blocks = blocks.into_iter().peekable();
        if blocks.peek().is_none() {
            return Ok(());
        }
        self.invalidate_index()?;
        self.stats.write_backs += 1;
        let planned = &mut plan.planned;
        let (mut tmp, mut buf) = (Vec::new(), Vec::new());
        for block in blocks {
            if let Some(last) = planned.last() {
                assert!(
                    last.block < block,
                    "plan_write_back: blocks must be sorted and distinct"
                );
            }
            assert!(
                block < self.geometry.block_count,
                "block {block} out of range"
            );
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
        Ok(())
    }

    /// Step 3: the plan's slots were written and synced; their versions become current. The
    /// plan is emptied.
    pub(crate) fn commit_write_back(&mut self, plan: &mut WritePlan) {
        for p in plan.planned.drain(..) {
            let mut seq = p.seq;
            seq[p.target] = p.new_seq;
            self.pairs
                .insert(p.block, Pair::new(p.pair, seq, Current::Slot(p.target)));
        }
    }

    /// A planned write-back failed part-way: the map keeps the old versions while some new
    /// ones may be on disk, so no index may be written from it (the next open scans). The
    /// plan is emptied.
    pub(crate) fn abort_write_back(&mut self, plan: &mut WritePlan) {
        plan.planned.clear();
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
        let mut plan = WritePlan::with_capacity(sorted.len());
        self.plan_write_back(sorted.iter().map(|&(b, _)| b), &mut plan)?;
        let values = sorted.iter().map(|&(_, v)| v);
        let result = write_slots(&self.file, self.encoding, &mut self.scratch, &plan, values);
        match result {
            Ok(()) => {
                self.commit_write_back(&mut plan);
                Ok(())
            }
            Err(e) => {
                self.abort_write_back(&mut plan);
                Err(e)
            }
        }
    }
}

/// [`SlotWriter::write`] with a borrowed file and scratch buffer.
fn write_slots<'v>(
    file: &File,
    encoding: Encoding,
    scratch: &mut [u8],
    plan: &WritePlan,
    values: impl IntoIterator<Item = &'v [f32]>,
) -> Result<()> {
    let mut values = values.into_iter();
    for p in &plan.planned {
        let v = values.next().expect("one value slice per planned block");
        format::encode_record(p.block, p.new_seq, encoding, v, scratch);
        file.write_all_at(scratch, p.offset)?;
    }
    assert!(values.next().is_none(), "one value slice per planned block");
    if !plan.planned.is_empty() {
        file.sync_data()?;
    }
    Ok(())
}
