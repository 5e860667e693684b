//! Pages: a span of segment slices serving blocks of one size class, and their free lists.
//!
//! A small page (tiny: one 64 KiB slice; mid: eight slices) hands out blocks from `free`, a
//! singly linked list threaded through the free blocks themselves (no header per block). Blocks
//! freed by the owning thread go straight back onto `free`; blocks freed by any other thread are
//! pushed onto `thread_free`, an atomic list, with one compare-and-swap and no lock; the owner
//! takes that whole list in one swap when its `free` runs dry ([`Page::collect_remote`]). The
//! list's word carries its length beside the head pointer ([`remote`]), so taking it needs no
//! walk over blocks another thread just wrote (a cache miss each). Blocks
//! that were never handed out are carved lazily, a few KiB at a time ([`Page::extend`]), so a page
//! touches only the memory it uses.
//!
//! A big page is a span holding one block (BigCache); it uses the same metadata.
//!
//! [`Page::used`] counts blocks out of the page (handed out and not yet back on `free`); while a
//! page is its heap's current page for its class it carries one extra count (the pin) so that
//! the free path's "emptied" test never fires for it. The field behind it, `held`, is that
//! count minus one (and biased negative on the full list), so that the HOT free needs one
//! decrement and one sign test.

use core::ptr;
use core::sync::atomic::{
    AtomicU32, AtomicUsize,
    Ordering::{Acquire, Relaxed, Release},
};

use crate::size_class;

/// A free block: its first word links to the next free block.
#[repr(C)]
pub struct Block {
    pub next: *mut Block,
}

/// What a page's span is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PageKind {
    /// Not a span head (free slices, interior slices, the segment header).
    None = 0,
    /// Tiny or mid blocks of one class, owned by a thread heap.
    Small = 1,
    /// One BigCache block, owned by a big arena.
    Big = 2,
    /// Tiny or mid blocks of one class that were sampled by Site Rules (`site`): owned by no
    /// heap, so that every free of one misses the HOT path and reaches `site::free_sampled`.
    Sampled = 3,
}

/// `flags`: the page is on its heap's full list. Set and cleared only by [`Page::enter_full`]
/// and [`Page::leave_full`], which also move `used` by [`FULL_BIAS`].
pub const IN_FULL: u8 = 1;

/// Added to `held` while a page is on the full list, so that `held` is negative there: the HOT
/// free's one test after its decrement, `held < 0`, then catches both a page that emptied and a
/// page that must leave the full list. Half of `i32::MIN`, so that no count a page can reach
/// takes it across zero or overflows it.
pub const FULL_BIAS: i32 = i32::MIN / 2;
/// `flags`: the page is in a warm pool (empty, kept committed).
pub const IN_WARM_POOL: u8 = 2;
/// `flags` (big): the block is cached and was released with MADV_FREE (warm).
pub const WARM: u8 = 4;
/// `flags` (big): the block's memory is known to be zero (fresh or decommitted).
pub const ZERO: u8 = 8;
/// `flags` (big): the block is freed and kept in a thread's own cache.
pub const LOCAL: u8 = 16;
/// `flags` (small): the page belongs to its class's long-lived page set (Site Rules' placement,
/// `small::long_slot`); cleared when the page empties.
pub const LONG_LIVED: u8 = 32;
/// `flags` (big): the block was allocated through a Site Rules entry and `site` holds its call
/// site: its free is recorded (`site::big`). Every `malloc` of a process with Site Rules on
/// sets or clears it; a block reused by any other entry has it cleared.
pub const SITED: u8 = 64;
/// `flags` (big): the block's site reuses its blocks only after they would have gone cold: its
/// free decommits it at once instead of caching it (`site::big`).
pub const ONE_SHOT: u8 = 128;
/// `flags` (big): the block's site reuses its blocks before they would go cold: cached, it skips
/// the warm step (its `MADV_FREE` would be undone by the reuse). The bit is `LONG_LIVED`'s,
/// which only small pages carry.
pub const KEEP: u8 = 32;
/// The flags Site Rules set on a big block.
pub const SITE_FLAGS: u8 = SITED | ONE_SHOT | KEEP;

/// Bytes carved into the free list at a time.
const EXTEND_BYTES: usize = 4096;

/// Metadata of one page; lives in the segment header, indexed by the span's first slice. Three
/// cache lines (192 bytes), one per kind of writer, so that a thread freeing another thread's
/// block neither reads nor writes the line the owner writes on every allocation and free, and
/// the owner's HOT paths never touch the line other threads write:
///
/// | line | fields | written by | read by |
/// | --- | --- | --- | --- |
/// | 0 | `free`, `held`, `capacity`, `extended`, links, `since`, `site`, `idle_at`, `idle_used` | the owner, every HOT call | the owner |
/// | 1 | `flags`, `class`, `slices`, `kind`, `block_size`, `carved`, `inverse`, `shift`, `bias`, `owner`, `start`, `holes` | set-up, refills, list changes, punching | every thread that frees |
/// | 2 | `thread_free` | other threads' frees, the owner's collection | the same |
///
/// Who writes and who reads what:
/// - `free`, `used`, `flags`, `extended`, `capacity`, the links, `since`, `holes` and the idle
///   mark of a small page are its owner thread's alone (an adopter becomes the owner by taking
///   the segment off the abandoned list under its lock); a big page's are written under its
///   arena's lock or by the thread that holds the block.
/// - `class`, `kind`, `block_size`, `inverse`, `shift`, `bias`, `start` are written when the
///   span is set up for a class, before any of its blocks is handed out: a thread that frees or
///   asks about a block got the block through the program's own synchronisation after that, so
///   its plain reads are ordered after those writes.
/// - `carved` changes while blocks are out (the owner carves more) and other threads read
///   it to check block starts when they free: an atomic, relaxed (only its own value matters).
/// - `owner` and `thread_free` are atomics: any thread reads the owner, pushes remote frees.
#[repr(C, align(64))]
pub struct Page {
    // Line 0: the owner's.
    /// Free blocks the owner may pop (owner thread only).
    pub free: *mut Block,
    /// Blocks out of the page minus one, plus one while the page is current (the pin), plus
    /// [`FULL_BIAS`] while it is on the full list (owner thread only). Read it as a count with
    /// [`Page::used`]; the HOT paths add and subtract 1, and the HOT free's decrement turns it
    /// negative exactly when a non-current page empties or is on the full list.
    pub held: i32,
    /// Blocks that fit in the span.
    pub capacity: u32,
    /// Blocks carved so far (the rest of the span was never touched by this page).
    pub extended: u32,
    /// Links in the list the page is on (a heap's partial / full / warm list, an arena's cache).
    pub next: *mut Page,
    pub prev: *mut Page,
    /// Milliseconds when the page entered its present state: a warm pool or a cache (empty
    /// pages and big blocks), or, for a small page in use, when it was last made current (Site
    /// Rules' re-labelling reads it).
    pub since: u64,
    /// A big block allocated through a Site Rules entry: its call site (with [`SITED`]),
    /// written by the thread that got the block and read by the one that frees it.
    pub site: usize,
    /// Idle mark for holes (`small::retire::punch_idle`; owner only): ms (low 32 bits) and `used`.
    pub idle_at: u32,
    pub idle_used: u32,
    // Line 1: read by every thread that frees a block of the page.
    /// `IN_FULL`, `IN_WARM_POOL`, `LONG_LIVED` (small); `WARM`, `ZERO`, `LOCAL`, `SITED`,
    /// `ONE_SHOT`, `KEEP` (big).
    pub flags: u8,
    /// Size class of the blocks.
    pub class: u8,
    /// Span length in slices; 0 when this entry is not a span head.
    pub slices: u8,
    /// [`PageKind`] as a byte.
    pub kind: u8,
    /// Size of each block in bytes.
    pub block_size: u32,
    /// `extended`, for the block-start check of the HOT free and of other threads' frees (see
    /// above).
    pub carved: AtomicU32,
    /// The block size is `odd << shift`; `inverse` is the inverse of `odd` modulo 2^32, and
    /// `bias` is `start * inverse` (low 32 bits). All three are for the division-free
    /// block-start check ([`Page::is_block_start`]).
    pub inverse: u32,
    pub shift: u32,
    pub bias: u32,
    /// Address of the owning heap (small pages); 0 when abandoned or not in use.
    pub owner: AtomicUsize,
    /// First byte of the span.
    pub start: *mut u8,
    /// System pages decommitted while blocks are out: the [`holes`] bitmap (owner only).
    pub holes: [u64; 2],
    _line1: [u8; 4],
    // Line 2: other threads' frees.
    /// Blocks freed by other threads, waiting for the owner: a [`remote`] word (head and count).
    pub thread_free: AtomicUsize,
    _line2: [u8; 56],
}

const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<Page>() == 192);
    assert!(offset_of!(Page, since) < 64);
    assert!(offset_of!(Page, flags) == 64 && offset_of!(Page, start) < 128);
    assert!(offset_of!(Page, thread_free) == 128);
};

/// A page that never has free blocks: the initial current page of every class, so that the
/// HOT path needs no null test on the heap or the page.
pub static EMPTY: EmptyPage = EmptyPage(Page::zeroed());

/// Wrapper that lets the read-only [`EMPTY`] page live in a `static`.
pub struct EmptyPage(pub Page);
// SAFETY: nothing ever writes to EMPTY: its `free` is null, so the HOT path never pops it, and the
// refill path recognises it by address before touching any field.
unsafe impl Sync for EmptyPage {}

impl EmptyPage {
    /// The empty page's address, as stored in heaps' current-page tables.
    #[inline(always)]
    pub fn ptr(&'static self) -> *mut Page {
        &self.0 as *const Page as *mut Page
    }
}

impl Page {
    /// An unused page entry.
    pub const fn zeroed() -> Self {
        Self {
            free: ptr::null_mut(),
            // All-zero, like a fresh segment header's entries (`used` reads 1 until `init`).
            held: 0,
            flags: 0,
            class: 0,
            slices: 0,
            kind: PageKind::None as u8,
            block_size: 0,
            capacity: 0,
            extended: 0,
            carved: AtomicU32::new(0),
            inverse: 0,
            shift: 0,
            bias: 0,
            owner: AtomicUsize::new(0),
            thread_free: AtomicUsize::new(remote::EMPTY),
            start: ptr::null_mut(),
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
            since: 0,
            site: 0,
            idle_at: 0,
            idle_used: 0,
            holes: [0; 2],
            _line1: [0; 4],
            _line2: [0; 56],
        }
    }

    /// Prepares a span of `slices` slices at `start` to serve `class`.
    pub fn init(
        &mut self,
        kind: PageKind,
        class: usize,
        start: *mut u8,
        span_bytes: usize,
        owner: usize,
    ) {
        let block_size = size_class::class_size(class);
        self.free = ptr::null_mut();
        self.set_used(0);
        self.flags &= ZERO;
        self.class = class as u8;
        self.kind = kind as u8;
        self.block_size = block_size as u32;
        self.capacity = (span_bytes / block_size) as u32;
        self.extended = 0;
        self.carved.store(0, Relaxed);
        debug_assert!(!self.has_holes(), "a page set up afresh with holes left");
        self.holes = [0, 0];
        (self.inverse, self.shift) = divisor_parts(block_size as u32);
        self.bias = (start as usize as u32).wrapping_mul(self.inverse);
        self.owner.store(owner, Relaxed);
        self.thread_free.store(remote::EMPTY, Relaxed);
        self.start = start;
        self.next = ptr::null_mut();
        self.prev = ptr::null_mut();
        debug_assert!(self.capacity >= 1);
    }

    /// Makes a big block's entry serve `class`, a class whose block fits in its span: what
    /// [`Page::init`] sets from the class, and nothing else (the block stays in use).
    pub fn relabel(&mut self, class: usize) {
        let block_size = size_class::class_size(class);
        debug_assert!(block_size <= self.slices as usize * size_class::PAGE_ALIGN);
        self.class = class as u8;
        self.block_size = block_size as u32;
        self.capacity = (self.slices as usize * size_class::PAGE_ALIGN / block_size) as u32;
        (self.inverse, self.shift) = divisor_parts(block_size as u32);
        self.bias = (self.start as usize as u32).wrapping_mul(self.inverse);
    }

    /// Blocks out of the page, plus one while it is current (the pin), on whatever list it is.
    #[inline]
    pub fn used(&self) -> u32 {
        let bias = if self.flags & IN_FULL != 0 {
            FULL_BIAS
        } else {
            0
        };
        self.held.wrapping_sub(bias).wrapping_add(1) as u32
    }

    /// Sets the count [`Page::used`] reads (the page is not on the full list).
    #[inline]
    pub fn set_used(&mut self, used: u32) {
        debug_assert!(self.flags & IN_FULL == 0);
        self.held = (used as i32).wrapping_sub(1);
    }

    /// Puts the page's state on the full list: `IN_FULL`, and `held` biased negative.
    #[inline]
    pub fn enter_full(&mut self) {
        debug_assert!(self.flags & IN_FULL == 0 && self.held >= 0);
        self.flags |= IN_FULL;
        self.held = self.held.wrapping_add(FULL_BIAS);
    }

    /// Takes the page's state off the full list (the inverse of [`Page::enter_full`]).
    #[inline]
    pub fn leave_full(&mut self) {
        debug_assert!(self.flags & IN_FULL != 0);
        self.flags &= !IN_FULL;
        self.held = self.held.wrapping_sub(FULL_BIAS);
    }

    /// Whether blocks not yet carved remain.
    #[inline]
    pub fn can_extend(&self) -> bool {
        self.extended < self.capacity
    }

    /// Carves up to [`EXTEND_BYTES`] worth of never-used blocks onto the (empty) free list.
    /// Returns false when the page has no uncarved blocks left.
    pub fn extend(&mut self) -> bool {
        debug_assert!(self.free.is_null());
        let left = self.capacity - self.extended;
        if left == 0 {
            return false;
        }
        let size = self.block_size as usize;
        let count = ((EXTEND_BYTES / size).max(1) as u32).min(left) as usize;
        // SAFETY: blocks `extended .. extended + count` lie inside the span (count <= left), are
        // not handed out, and are writable memory of this page.
        unsafe {
            let first = self.start.add(self.extended as usize * size);
            let mut block = first;
            for _ in 1..count {
                let next = block.add(size);
                (*(block as *mut Block)).next = next as *mut Block;
                block = next;
            }
            (*(block as *mut Block)).next = ptr::null_mut();
            self.free = first as *mut Block;
        }
        self.extended += count as u32;
        self.carved.store(self.extended, Relaxed);
        true
    }

    /// Whether other threads freed blocks that the owner has not collected yet.
    #[inline]
    pub fn has_remote(&self) -> bool {
        self.thread_free.load(Relaxed) != remote::EMPTY
    }

    /// Moves the blocks other threads freed onto `free`; returns how many there were.
    /// Owner thread only.
    ///
    /// The count comes from the list's word, so when `free` is empty (the refill case) the list
    /// simply becomes `free` without touching a block. Otherwise the shorter of the two lists is
    /// walked to its tail (both walks run side by side, so their misses overlap). A list whose
    /// word carries no count (see [`remote`]) is walked as a whole.
    pub fn collect_remote(&mut self) -> u32 {
        if !self.has_remote() {
            return 0;
        }
        // Acquire pairs with the Release of `push_remote`: the blocks' links are visible.
        let word = self.thread_free.swap(remote::EMPTY, Acquire);
        if word == remote::EMPTY {
            return 0;
        }
        let head = remote::head(word);
        debug_assert!(!head.is_null());
        let count = match remote::count(word) {
            // SAFETY: every block on the list was a block of this page, pushed by `push_remote`,
            // and now belongs to the owner alone; `free` holds the owner's free blocks.
            Some(count) => unsafe { self.splice_counted(head, count) },
            // SAFETY: as above.
            None => unsafe { self.splice_walked(head) },
        };
        debug_assert!(self.used() >= count);
        self.held = self.held.wrapping_sub(count as i32);
        count
    }

    /// Splices a remote list of `count` blocks onto `free`; returns `count`.
    ///
    /// # Safety
    /// - `head` starts a null-terminated list of `count` blocks of this page that the owner
    ///   alone holds, disjoint from `free`.
    #[inline]
    unsafe fn splice_counted(&mut self, head: *mut Block, count: u32) -> u32 {
        #[cfg(feature = "validate")]
        {
            // SAFETY: per the contract the list is ours and null-terminated.
            let walked = unsafe { list_len(head, remote::MAX_COUNT) };
            assert_eq!(
                walked, count,
                "sacs: remote list count disagrees with its blocks"
            );
        }
        if self.free.is_null() {
            self.free = head;
            return count;
        }
        // Walk both lists side by side until one ends; link that one's tail to the other.
        let (mut r, mut l) = (head, self.free);
        // SAFETY: per the contract both lists are ours, null-terminated and disjoint; a walk
        // only reads links, and the one write goes to the tail of a list that ends there.
        unsafe {
            loop {
                let (rn, ln) = ((*r).next, (*l).next);
                if rn.is_null() {
                    (*r).next = self.free;
                    self.free = head;
                    break;
                }
                if ln.is_null() {
                    (*l).next = head;
                    break;
                }
                r = rn;
                l = ln;
            }
        }
        count
    }

    /// Walks a remote list with no count to its tail, splices it in front of `free` and returns
    /// its length.
    ///
    /// # Safety
    /// - as for [`Page::splice_counted`], with any length.
    #[cold]
    unsafe fn splice_walked(&mut self, head: *mut Block) -> u32 {
        let mut count = 1;
        let mut tail = head;
        // SAFETY: per the contract the list is ours and null-terminated.
        unsafe {
            while !(*tail).next.is_null() {
                tail = (*tail).next;
                count += 1;
            }
            (*tail).next = self.free;
        }
        self.free = head;
        count
    }

    /// Pushes `block` onto the page's remote-free list (any thread, lock-free). The head and the
    /// count change in the one compare-and-swap, so no reader sees one without the other, and the
    /// owner only ever takes the whole list, so a recycled head (ABA) cannot mislink it.
    ///
    /// # Safety
    /// - `block` is a block of this page that the caller owns and no longer uses.
    #[inline]
    pub unsafe fn push_remote(&self, block: *mut Block) {
        let mut word = self.thread_free.load(Relaxed);
        loop {
            // SAFETY: the caller owns `block`; writing its link is ours to do.
            unsafe { (*block).next = remote::head(word) };
            match self.thread_free.compare_exchange_weak(
                word,
                remote::push(word, block),
                Release,
                Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => word = now,
            }
        }
    }
}

mod block_start;
use block_start::divisor_parts;
pub mod holes;
pub use holes::PUNCHED;
pub mod remote;
mod trim;
pub use trim::Tail;

/// Counts the blocks of a null-terminated list, failing past `limit` (validation only).
///
/// # Safety
/// - `b` starts a null-terminated list of valid blocks.
#[cfg(feature = "validate")]
pub unsafe fn list_len(mut b: *mut Block, limit: u32) -> u32 {
    let mut n = 0;
    while !b.is_null() {
        n += 1;
        assert!(n <= limit, "sacs: free list longer than the page (cycle?)");
        // SAFETY: per the contract.
        b = unsafe { (*b).next };
    }
    n
}

crate::list::linked_by_fields!(Page);

/// A list of pages (see [`crate::list`]).
pub type PageList = crate::list::List<Page>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    /// A page entry over `buf`, of `class` (for this module's and its submodules' tests).
    pub(super) fn page_over(buf: &mut [u8], class: usize) -> Page {
        let mut p = Page::zeroed();
        let len = buf.len();
        p.init(PageKind::Small, class, buf.as_mut_ptr(), len, 1);
        p
    }

    #[test]
    fn extend_carves_lazily_and_in_order() {
        let mut buf = vec![0u8; 65536];
        let mut p = page_over(&mut buf, 3); // 32-byte blocks
        assert_eq!(p.capacity, 2048);
        assert!(p.extend());
        assert_eq!(p.extended, 128);
        let mut n = 0;
        let mut b = p.free;
        let mut last = ptr::null_mut::<Block>();
        while !b.is_null() {
            assert!(b > last);
            last = b;
            // SAFETY: b is a carved block.
            b = unsafe { (*b).next };
            n += 1;
        }
        assert_eq!(n, 128);
    }

    #[test]
    fn remote_frees_are_collected() {
        let mut buf = vec![0u8; 65536];
        let mut p = page_over(&mut buf, 1);
        p.extend();
        let a = p.free;
        // SAFETY: a is a carved block.
        p.free = unsafe { (*a).next };
        p.set_used(1);
        let (pr, a_addr) = (&p as *const Page as usize, a as usize);
        std::thread::scope(|s| {
            // SAFETY: the block is handed to the other thread, which frees it; the page
            // outlives the scope and `push_remote` only touches its atomic list.
            s.spawn(move || unsafe { (*(pr as *const Page)).push_remote(a_addr as *mut Block) });
        });
        assert_eq!(p.collect_remote(), 1);
        assert_eq!(p.used(), 0);
        assert_eq!(p.free, a);
    }

    #[test]
    fn remote_word_carries_head_and_count() {
        let mut w = remote::EMPTY;
        assert!(remote::head(w).is_null());
        for i in 1..=5usize {
            let b = (0x7f00_0000_0000usize + i * 64) as *mut Block;
            w = remote::push(w, b);
            assert_eq!(remote::head(w), b);
            assert_eq!(remote::count(w), Some(i as u32));
        }
        // A word with no count (a plain address) stays uncounted until taken.
        let plain = 0x1000usize;
        assert_eq!(remote::count(plain), None);
        assert_eq!(remote::head(plain), plain as *mut Block);
        let b = 0x2000 as *mut Block;
        let w = remote::push(plain, b);
        assert_eq!((remote::head(w), remote::count(w)), (b, None));
        // Past the largest count the word falls back to a plain address.
        let mut w = remote::EMPTY;
        for _ in 0..remote::MAX_COUNT {
            w = remote::push(w, b);
        }
        assert_eq!(remote::count(w), Some(remote::MAX_COUNT));
        let w = remote::push(w, b);
        assert_eq!((remote::head(w), remote::count(w)), (b, None));
    }

    /// Takes `n` blocks off a fresh page's free list, then pushes `remote` of them back as remote
    /// frees (optionally as an uncounted word) and collects; checks counts and list contents.
    fn collect_case(local_left: usize, remote_n: usize, counted: bool) {
        let mut buf = vec![0u8; 65536];
        let mut p = page_over(&mut buf, 3); // 32-byte blocks, 128 carved
        p.extend();
        let take = 128 - local_left;
        let mut out = vec::Vec::new();
        for _ in 0..take {
            let b = p.free;
            // SAFETY: b is a carved free block.
            p.free = unsafe { (*b).next };
            out.push(b);
        }
        p.set_used(take as u32);
        for &b in &out[..remote_n] {
            // SAFETY: b is a block of p, out of the page.
            unsafe { p.push_remote(b) };
        }
        if !counted {
            let w = p.thread_free.load(Relaxed);
            p.thread_free.store(remote::head(w) as usize, Relaxed);
        }
        assert_eq!(p.collect_remote(), remote_n as u32);
        assert!(!p.has_remote());
        assert_eq!(p.used() as usize, take - remote_n);
        let mut seen = std::collections::BTreeSet::new();
        let mut b = p.free;
        while !b.is_null() {
            assert!(seen.insert(b as usize), "block twice on the free list");
            assert!(p.is_block_start(b as *const u8));
            // SAFETY: b is on the free list.
            b = unsafe { (*b).next };
        }
        assert_eq!(seen.len(), local_left + remote_n);
        for &b in &out[..remote_n] {
            assert!(seen.contains(&(b as usize)));
        }
    }

    #[test]
    fn collect_splices_either_list_onto_the_other() {
        for counted in [true, false] {
            for (local, remote_n) in [
                (0, 1),
                (0, 50),
                (1, 1),
                (1, 60),
                (60, 1),
                (30, 30),
                (20, 40),
            ] {
                collect_case(local, remote_n, counted);
            }
        }
    }

    #[test]
    fn list_operations() {
        let mut pages = [Page::zeroed(), Page::zeroed(), Page::zeroed()];
        let [a, b, c] = pages.each_mut().map(|p| p as *mut Page);
        let mut l = PageList::new();
        // SAFETY: the pages are valid and on no list.
        unsafe {
            l.push_front(a);
            l.push_front(b);
            l.push_back(c);
        }
        assert_eq!(l.len, 3);
        assert_eq!(l.head, b);
        // SAFETY: a is on the list.
        unsafe { l.remove(a) };
        assert_eq!(l.pop_back(), Some(c));
        assert_eq!(l.pop_front(), Some(b));
        assert!(l.is_empty());
        assert_eq!(l.pop_front(), None);
    }
}
