//! The segment space: one range of address space, reserved with no access and nothing committed
//! when the first segment is needed (`SACS_SEGMENT_SPACE_GIB`, 64 GiB at most), out of which
//! segments are mapped, and a table with one entry per 64 KiB slice of it naming the slice's
//! page entry. The HOT free finds the page of a block in it with one subtraction, a shift, one
//! compare and one load, where a segment outside it takes the segment map's test and the
//! segment header's offset table (`segment`):
//!
//! ```text
//!   index = (addr - BASE) >> SLICE_SHIFT          a pointer below BASE wraps to a huge index
//!   index < USED ?  page = TABLE[index]           else: not in the space (segment map, whales)
//! ```
//!
//! `USED` counts the slices of every segment slot ever taken (slots are taken lowest first, so
//! they are a prefix of the space). Every entry below it names a page entry that is valid to
//! read: a span's page while a segment holds the slice, the segment header's never-used entry
//! for a slice in no span (as `Segment::span_page` does), and [`NO_SEGMENT`] for a slot whose
//! segment was given back. A pointer SACS never handed out thus finds a page it does not own
//! and goes to the slow free, which reports it.
//!
//! Segments taken here are also recorded in the segment map, which the other entry points
//! (`realloc`, `malloc_usable_size`) and the frees of segments mapped outside the space ask.
//! When the space is full, was refused by the system (a `ulimit -v`, say) or is switched off,
//! segments are mapped one by one as before, and their frees pay the map's test.
//!
//! A slot is committed with one `mmap(MAP_FIXED)` and given back with another (`PROT_NONE`):
//! one system call each way, where a segment mapped on its own takes three to map aligned.

use core::sync::atomic::{
    AtomicU8, AtomicUsize,
    Ordering::{Acquire, Relaxed, Release},
};

use crate::lock::{Lock, SleepLock};
use crate::options::{self, Opt};
use crate::page::{EmptyPage, Page};
use crate::platform::{self, thread};
use crate::segment_map::{self, SEGMENT_SHIFT};
use crate::stats::GLOBAL;

/// log2 of the slice size (64 KiB): the table's granularity, and `segment`'s.
pub const SLICE_SHIFT: usize = 16;
/// The largest space reserved: 64 GiB, 16,384 segments.
pub const SPACE_MAX: usize = 64 << 30;
/// The smallest space worth reserving; a refused reservation is retried at half the size down
/// to this.
const SPACE_MIN: usize = 1 << 30;
const SEGMENT: usize = 1 << SEGMENT_SHIFT;
const SLOTS_MAX: usize = SPACE_MAX >> SEGMENT_SHIFT;
const SLICES_PER_SEGMENT: usize = 1 << (SEGMENT_SHIFT - SLICE_SHIFT);
const TABLE_LEN: usize = SPACE_MAX >> SLICE_SHIFT;

/// Start of the space; 0 until it is reserved.
static BASE: AtomicUsize = AtomicUsize::new(0);
/// Bytes reserved; 0 until the space is reserved.
static SIZE: AtomicUsize = AtomicUsize::new(0);
/// Table entries in use: [`SLICES_PER_SEGMENT`] per slot ever taken. Stored (Release) after
/// the entries it uncovers are written.
static USED: AtomicUsize = AtomicUsize::new(0);

/// One entry per slice of the space: the address of the slice's page entry. A zeroed static
/// (8 MiB of `.bss` on 64-bit targets): the kernel backs the pages written, 512 bytes of
/// entries per segment slot.
struct Table([AtomicUsize; TABLE_LEN]);
#[allow(clippy::declare_interior_mutable_const)]
const NO_ENTRY: AtomicUsize = AtomicUsize::new(0);
static TABLE: Table = Table([NO_ENTRY; TABLE_LEN]);

/// The page entry of the slices of a slot whose segment was given back (and of a slot just
/// taken, until its segment is set up): owned by no heap, of no kind, never written.
static NO_SEGMENT: EmptyPage = EmptyPage(Page::zeroed());

/// Which slots hold a segment.
struct Slots {
    taken: [u64; SLOTS_MAX / 64],
    /// Slots whose segment header is set up and which are not being given back: the ones
    /// [`for_each_live`] visits.
    live: [u64; SLOTS_MAX / 64],
    /// Slots in the reserved space.
    len: usize,
    /// Slots ever taken: `USED / SLICES_PER_SEGMENT`.
    high: usize,
}

impl Slots {
    /// The lowest free slot.
    fn first_free(&self) -> Option<usize> {
        let words = self.len.div_ceil(64);
        let (w, bits) = self.taken[..words]
            .iter()
            .enumerate()
            .find(|(_, &bits)| bits != u64::MAX)?;
        let slot = w * 64 + bits.trailing_ones() as usize;
        (slot < self.len).then_some(slot)
    }
}

static SLOTS: Lock<Slots> = Lock::new(Slots {
    taken: [0; SLOTS_MAX / 64],
    live: [0; SLOTS_MAX / 64],
    len: 0,
    high: 0,
});

const NOT_YET: u8 = 0;
const RESERVING: u8 = 1;
const RESERVED: u8 = 2;
/// Switched off, or the system refused every size.
const NONE: u8 = 3;
static STATE: AtomicU8 = AtomicU8::new(NOT_YET);
/// Held by the thread that reserves the space, across the system calls: a thread that needs a
/// segment meanwhile sleeps on it until the space is there ([`reserve`]).
static RESERVE_LOCK: SleepLock<()> = SleepLock::new(());
/// The thread reserving the space ([`thread::token`]) while [`STATE`] is `RESERVING`.
static RESERVER: AtomicUsize = AtomicUsize::new(0);

/// A thread's copy of where the space is and how much of it segments have used: plain fields
/// that the HOT free compares against without an atomic load (a thread heap keeps one,
/// refreshed on its slow paths by [`view`]). A copy may be behind the space (smaller `used`):
/// an address in the part it does not cover is then looked up the slow way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    base: usize,
    used: usize,
}

impl View {
    /// Covers nothing: every lookup answers `None`.
    pub const NONE: View = View { base: 0, used: 0 };

    /// The page entry of the slice containing `addr` when the view covers it: a live span's
    /// page, a segment header's unused entry, or [`no_segment`]. `None` for every other
    /// address (null included).
    #[inline(always)]
    pub fn page_of(&self, addr: usize) -> Option<*mut Page> {
        let index = addr.wrapping_sub(self.base) >> SLICE_SHIFT;
        if index >= self.used {
            return None;
        }
        // SAFETY: `used` was read from `USED` (or is 0), which never exceeds `TABLE_LEN`.
        let entry = unsafe { TABLE.0.get_unchecked(index) };
        Some(entry.load(Relaxed) as *mut Page)
    }
}

/// The space as it is now.
#[inline]
pub fn view() -> View {
    View {
        base: BASE.load(Relaxed),
        // Acquire pairs with the Release in `take`: the entries below `USED` are written, and
        // stay valid page entries from then on.
        used: USED.load(Acquire),
    }
}

/// The page entry of the space's slices that no segment holds.
#[inline]
pub fn no_segment() -> *mut Page {
    NO_SEGMENT.ptr()
}

/// Whether the segment at `seg` was taken from the space.
#[inline]
pub fn holds(seg: usize) -> bool {
    seg.wrapping_sub(BASE.load(Relaxed)) < SIZE.load(Relaxed)
}

/// A new segment: fresh zeroed memory, [`SEGMENT`] bytes at a slot of the space, or `None`
/// when the space is off, refused or full, or the system has no memory. Its table entries name
/// [`no_segment`] until the caller sets them ([`set_pages`]).
pub fn take() -> Option<*mut u8> {
    if STATE.load(Acquire) != RESERVED && !reserve() {
        return None;
    }
    let slot = {
        let mut slots = SLOTS.lock();
        let slot = slots.first_free()?;
        slots.taken[slot / 64] |= 1 << (slot % 64);
        if slot == slots.high {
            // A slot never used: its entries name no segment before anyone can look them up.
            fill(slot * SLICES_PER_SEGMENT, SLICES_PER_SEGMENT, no_segment());
            slots.high += 1;
            USED.store(slots.high * SLICES_PER_SEGMENT, Release);
        }
        debug_assert!(slot < slots.high);
        slot
    };
    let seg = (BASE.load(Relaxed) + (slot << SEGMENT_SHIFT)) as *mut u8;
    // SAFETY: the slot is ours (taken above) and lies in the reservation.
    if unsafe { platform::commit_fixed(seg, SEGMENT) } {
        GLOBAL.segments_in_space.add(1);
        return Some(seg);
    }
    free_slot(slot);
    None
}

/// Gives back a segment of the space: its table entries name [`no_segment`], its memory is
/// dropped and the slot becomes free.
///
/// # Safety
/// - `seg` was returned by [`take`], nothing refers to its memory any more, and it is not
///   given back twice.
pub unsafe fn give(seg: *mut u8) {
    debug_assert!(holds(seg as usize));
    let slot = (seg as usize - BASE.load(Relaxed)) >> SEGMENT_SHIFT;
    fill(slot * SLICES_PER_SEGMENT, SLICES_PER_SEGMENT, no_segment());
    // SAFETY: per the contract the segment's memory is ours and dead.
    unsafe {
        if !platform::uncommit_fixed(seg, SEGMENT) {
            // Kept mapped: its pages at least go back, and the next `take` of the slot maps
            // it afresh.
            platform::decommit(seg, SEGMENT);
        }
    }
    free_slot(slot);
}

/// Names `page` as the page entry of slices `first .. first + n` of the segment at `seg`, when
/// the segment is one of the space's (nothing to do otherwise).
pub fn set_pages(seg: usize, first: usize, n: usize, page: *mut Page) {
    if holds(seg) {
        let slot = (seg - BASE.load(Relaxed)) >> SEGMENT_SHIFT;
        fill(slot * SLICES_PER_SEGMENT + first, n, page);
    }
}

fn fill(first: usize, n: usize, page: *mut Page) {
    for entry in &TABLE.0[first..first + n] {
        entry.store(page as usize, Relaxed);
    }
}

fn free_slot(slot: usize) {
    let mut slots = SLOTS.lock();
    debug_assert!(slots.taken[slot / 64] & (1 << (slot % 64)) != 0);
    slots.taken[slot / 64] &= !(1 << (slot % 64));
}

/// Reserves the space, once per process: `SACS_SEGMENT_SPACE_GIB`, halved while the system
/// refuses, down to 1 GiB. Returns whether the space is there.
///
/// A thread that comes while another reserves it waits for that (asleep on [`RESERVE_LOCK`]):
/// when it was told no instead, its segment was mapped on its own, outside the space, where
/// the HOT free takes the segment map's test and the shared look for idle heaps
/// (`segment::idle`) never finds it. Threads that all start allocating at once, as a pool's
/// workers do, mapped several of their first segments so (`rss_falls_idle_small_threads`
/// failed one run in about twenty, its idle workers' memory out of the look's reach;
/// `tests/segment_space.rs`, mode `race`, shows it). The one caller told no is the reserving thread
/// itself, come back through a signal handler's `malloc` in the middle: waiting would be for
/// itself.
#[cold]
#[inline(never)]
fn reserve() -> bool {
    let me = thread::token();
    match STATE.load(Acquire) {
        RESERVED => return true,
        NONE => return false,
        RESERVING if me != 0 && RESERVER.load(Relaxed) == me => return false,
        _ => {}
    }
    let _reserving = RESERVE_LOCK.lock();
    match STATE.load(Acquire) {
        RESERVED => return true,
        NONE => return false,
        _ => {}
    }
    RESERVER.store(me, Relaxed);
    STATE.store(RESERVING, Relaxed);
    let reserved = reserve_largest();
    STATE.store(if reserved { RESERVED } else { NONE }, Release);
    RESERVER.store(0, Relaxed);
    reserved
}

/// [`reserve`]'s system calls: the largest space the system grants, recorded.
fn reserve_largest() -> bool {
    let mut len = options::get(Opt::SegmentSpaceGib)
        .saturating_mul(1 << 30)
        .min(SPACE_MAX);
    while len >= SPACE_MIN {
        if let Some(base) = platform::reserve_aligned(len, SEGMENT) {
            let base = base.as_ptr() as usize;
            if !segment_map::covers(base + len - SEGMENT) {
                // Above what the segment map covers: not usable.
                // SAFETY: the reservation was just made and nothing refers to it.
                unsafe { platform::unmap(base as *mut u8, len) };
                return false;
            }
            SLOTS.lock().len = len >> SEGMENT_SHIFT;
            GLOBAL
                .segment_space_slots
                .add((len >> SEGMENT_SHIFT) as u64);
            BASE.store(base, Relaxed);
            SIZE.store(len, Relaxed);
            return true;
        }
        len /= 2;
    }
    false
}

/// Marks the segment at `seg` as one [`for_each_live`] visits (`live`: its header is set up) or
/// not (before it is given back). Nothing for a segment outside the space. Waits for a walk in
/// progress.
pub fn set_live(seg: usize, live: bool) {
    if !holds(seg) {
        return;
    }
    let slot = (seg - BASE.load(Relaxed)) >> SEGMENT_SHIFT;
    let mut slots = SLOTS.lock();
    if live {
        slots.live[slot / 64] |= 1 << (slot % 64);
    } else {
        slots.live[slot / 64] &= !(1 << (slot % 64));
    }
}

/// Calls `f` with each segment of the space whose header is set up, under the slot lock: no
/// segment is given back meanwhile, so `f` may read the headers. `f` must not take the slot
/// lock, wait for a lock, or make a system call.
pub fn for_each_live(mut f: impl FnMut(*mut u8)) {
    if STATE.load(Acquire) != RESERVED {
        return;
    }
    let base = BASE.load(Relaxed);
    let slots = SLOTS.lock();
    let words = slots.high.div_ceil(64);
    for (w, &bits) in slots.live[..words].iter().enumerate() {
        let mut bits = bits;
        while bits != 0 {
            let slot = w * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            f((base + (slot << SEGMENT_SHIFT)) as *mut u8);
        }
    }
}

/// Runs `f` with the slot lock held, so that no walk ([`for_each_live`]) and no fork (whose
/// handlers take the slot lock) comes in the middle. `f` must not take the slot lock, wait
/// for a lock, or make a system call.
pub fn with_slots_held<R>(f: impl FnOnce() -> R) -> R {
    let _slots = SLOTS.lock();
    f()
}

/// The slot lock, for the fork handlers.
pub fn lock_for_fork() -> &'static Lock<impl Sized> {
    &SLOTS
}

/// The lock held while the space is reserved, for the fork handlers: a child never starts
/// with the space half reserved by a thread it does not have.
pub fn reserve_lock_for_fork() -> &'static SleepLock<impl Sized> {
    &RESERVE_LOCK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_taken_lowest_first() {
        let mut slots = Slots {
            taken: [0; SLOTS_MAX / 64],
            live: [0; SLOTS_MAX / 64],
            len: 130,
            high: 0,
        };
        assert_eq!(slots.first_free(), Some(0));
        slots.taken[0] = u64::MAX;
        slots.taken[1] = 0b1011;
        assert_eq!(slots.first_free(), Some(66));
        slots.taken[1] = u64::MAX;
        slots.taken[2] = 0b11;
        assert_eq!(slots.first_free(), None, "slot 130 is beyond the space");
        slots.taken[2] = 0b01;
        assert_eq!(slots.first_free(), Some(129));
    }

    #[test]
    fn addresses_outside_the_used_space_have_no_page() {
        let x = 5u64;
        for view in [View::NONE, view()] {
            assert_eq!(view.page_of(0), None);
            assert_eq!(view.page_of(usize::MAX), None);
            assert_eq!(view.page_of(&x as *const u64 as usize), None);
        }
    }
}
