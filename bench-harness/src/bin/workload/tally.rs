//! The single-threaded workloads' bookkeeping: a [`Tally`] owns the calls to `malloc`,
//! `realloc` and `free`. It fills each block it hands out with the pattern of a fresh tag,
//! checks the pattern before the block is freed or resized, folds the check into the checksum
//! and counts the operations. A [`Block`] is the handle it hands out; freeing one consumes it,
//! so no workload can free a block twice.

use crate::common::{check, fill, free, malloc, realloc, Outcome};

/// A live block: its address and the length and tag its pattern was written with.
///
/// Not `Copy` or `Clone`: [`Tally::free`] takes it by value, so each block is given back exactly
/// once ([`Tally::grow`] replaces it with the block realloc returned).
pub struct Block {
    ptr: *mut u8,
    /// Its length in bytes, as asked of the allocator.
    pub len: usize,
    tag: u64,
}

impl Block {
    /// The block's first byte, as an address (for diagnostics such as
    /// [`os_pages_touched_kib`]).
    pub fn addr(&self) -> usize {
        self.ptr as usize
    }
}

/// The KiB of the 4 KiB system pages that `blocks` (address, length) touch: the resident set an
/// allocator would need for them if it could give back every system page holding no live byte.
pub fn os_pages_touched_kib(blocks: impl Iterator<Item = (usize, usize)>) -> u64 {
    let mut pages: Vec<usize> = Vec::new();
    for (addr, len) in blocks {
        pages.extend(addr / 4096..=(addr + len.max(1) - 1) / 4096);
    }
    pages.sort_unstable();
    pages.dedup();
    pages.len() as u64 * 4
}

/// One workload's running totals, and the only place its blocks are allocated and freed.
pub struct Tally {
    /// The workload's name, for the message of a failed check.
    workload: &'static str,
    /// Calls to malloc, realloc and free so far.
    ops: u64,
    /// The sum of every check's word.
    checksum: u64,
}

impl Tally {
    pub fn new(workload: &'static str) -> Tally {
        Tally {
            workload,
            ops: 0,
            checksum: 0,
        }
    }

    /// `malloc(len)`, filled with a fresh tag (the operation count, so no two blocks share one).
    ///
    /// Inlined, so each place that calls it is a call site of `malloc` of its own, as it would
    /// be in a real program (an allocator that tells call sites apart sees them apart).
    #[inline(always)]
    pub fn alloc(&mut self, len: usize) -> Block {
        assert!(len > 0);
        let ptr = malloc(len);
        let tag = self.ops;
        // SAFETY: `ptr` is a live block of `len >= 1` bytes, just returned by malloc.
        unsafe { fill(ptr, len, tag) };
        self.ops += 1;
        Block { ptr, len, tag }
    }

    /// Checks `block`'s pattern and frees it.
    pub fn free(&mut self, block: Block) {
        self.check(&block);
        // SAFETY: `block` is live (a `Block` is given back once, and this consumes it) and came
        // from this allocator's malloc or realloc.
        unsafe { free(block.ptr) };
        self.ops += 1;
    }

    /// Checks `block`'s pattern, reallocates it to `len` bytes, checks that the old contents
    /// survived the move, and fills the whole new length with a fresh tag; `block` then names
    /// the new block.
    pub fn grow(&mut self, block: &mut Block, len: usize) {
        assert!(len > 0);
        self.check(block);
        // SAFETY: `block` is live and from this allocator; it is overwritten below, so its old
        // address is not used again.
        let ptr = unsafe { realloc(block.ptr, len) };
        self.ops += 1;
        // realloc keeps the first `min(old, new)` bytes: the old pattern must still be there.
        *block = Block {
            ptr,
            len: block.len.min(len),
            tag: block.tag,
        };
        self.check(block);
        let tag = self.ops;
        // SAFETY: `ptr` is a live block of `len >= 1` bytes, just returned by realloc.
        unsafe { fill(ptr, len, tag) };
        *block = Block { ptr, len, tag };
    }

    /// Calls to malloc, realloc and free so far.
    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// Checks `block`'s pattern (exiting the process if it changed) and folds it into the checksum.
    pub fn check(&mut self, block: &Block) {
        // SAFETY: every `Block` is live for `len >= 1` bytes and was filled with (`len`, `tag`)
        // when it was made ([`Tally::alloc`], [`Tally::grow`]).
        let word = unsafe { check(block.ptr, block.len, block.tag, self.workload) };
        self.checksum = self.checksum.wrapping_add(word);
    }

    /// The outcome of a single-threaded workload.
    pub fn outcome(self, final_rss_kib: Option<u64>) -> Outcome {
        Outcome {
            ops: self.ops,
            threads: 1,
            checksum: self.checksum,
            final_rss_kib,
            rss: None,
        }
    }
}
