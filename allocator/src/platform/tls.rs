//! The thread-local heap slot, without `std`.
//!
//! `#![no_std]` code on stable Rust cannot declare `#[thread_local]` statics, and `std`'s
//! `thread_local!` is not available (nor wanted: with a destructor it registers through the Rust
//! runtime, which allocates). So the slot is one word of `.tbss` declared in assembly and read
//! with the initial-exec TLS model: one load from the GOT and one `fs`-relative load on x86_64,
//! `tpidr_el0` plus a load on aarch64. In an executable the linker relaxes it to a constant
//! offset. Initial-exec is what the C library itself uses; a library using it must be loaded at
//! start-up (LD_PRELOAD, a link dependency) or fit into the static TLS surplus when dlopen'ed.
//! Other architectures fall back to a `pthread_getspecific` key.
//!
//! The slot is one word whose meaning, and starting value, are the heap's business: the heap
//! defines it with [`define_slot`], starting as the address of its "no heap yet" sentinel, so
//! that the HOT path reads a usable heap address with no decoding and no branch. (Where the
//! slot starts as zero, `tls-std` and the key fallback, the heap stores its address XOR the
//! sentinel's instead: [`STARTS_AT_INITIAL`].)
//!
//! The TLS object is three words: the heap slot, then two used only by validation builds: the
//! re-entry guard ([`Reentry`]) and the number of SACS spin locks the thread holds
//! (`locks_held`, checked by `platform::memory` before every memory system call).

/// Defines the slot, starting in every thread as the address of the static `$initial` (the
/// layer that gives the slot its meaning names it: `heap` passes its `UNINIT` sentinel, so a
/// thread's first read needs no decoding and no branch). The word lives in `.tdata`: the dynamic
/// linker relocates the TLS image before it copies it into the first thread's block, and every
/// thread's block is a copy of it. The two words after the slot start as zero.
///
/// Where the slot is not an assembly-defined word (`tls-std`, other architectures) this defines
/// nothing, the slot starts as zero, and [`STARTS_AT_INITIAL`] is `false`. (The assembly
/// spells `%progbits` and `%object`, which both the x86_64 and the aarch64 assembler accept.)
#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    not(feature = "tls-std")
))]
macro_rules! define_slot {
    ($initial:path) => {
        core::arch::global_asm!(
            ".pushsection .tdata,\"awT\",%progbits",
            ".p2align 3",
            ".globl __sacs_tls_heap",
            ".hidden __sacs_tls_heap",
            ".type __sacs_tls_heap, %object",
            ".size __sacs_tls_heap, 24",
            "__sacs_tls_heap:",
            ".quad {initial}",
            ".zero 16",
            ".popsection",
            initial = sym $initial,
        );
    };
}

#[cfg(not(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    not(feature = "tls-std")
)))]
macro_rules! define_slot {
    ($initial:path) => {};
}

pub(crate) use define_slot;

/// Whether the slot starts as the address given to [`define_slot`] (`true`) or as zero.
pub const STARTS_AT_INITIAL: bool = cfg!(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    not(feature = "tls-std")
));

/// The raw value of the calling thread's slot.
#[cfg(all(target_arch = "x86_64", not(feature = "tls-std")))]
#[inline(always)]
fn read_slot() -> usize {
    let value: usize;
    // SAFETY: loads the slot's offset from the thread pointer out of the GOT, then the slot
    // itself relative to `fs`; the slot belongs to the calling thread.
    unsafe {
        core::arch::asm!(
            "mov {v}, qword ptr [rip + __sacs_tls_heap@GOTTPOFF]",
            "mov {v}, qword ptr fs:[{v}]",
            v = out(reg) value,
            options(nostack, readonly, preserves_flags),
        );
    }
    value
}

/// The calling thread's re-entry guard: the word after the heap slot (validation builds).
#[cfg(all(target_arch = "x86_64", not(feature = "tls-std"), feature = "validate"))]
fn read_guard() -> usize {
    let value: usize;
    // SAFETY: as in `read_slot`, eight bytes further into the same 24-byte TLS object.
    unsafe {
        core::arch::asm!(
            "mov {v}, qword ptr [rip + __sacs_tls_heap@GOTTPOFF]",
            "mov {v}, qword ptr fs:[{v} + 8]",
            v = out(reg) value,
            options(nostack, readonly, preserves_flags),
        );
    }
    value
}

#[cfg(all(target_arch = "x86_64", not(feature = "tls-std"), feature = "validate"))]
fn write_guard(value: usize) {
    // SAFETY: as in `write_slot`, eight bytes further into the same 24-byte TLS object.
    unsafe {
        core::arch::asm!(
            "mov {t}, qword ptr [rip + __sacs_tls_heap@GOTTPOFF]",
            "mov qword ptr fs:[{t} + 8], {v}",
            t = out(reg) _,
            v = in(reg) value,
            options(nostack, preserves_flags),
        );
    }
}

/// The calling thread's count of SACS spin locks held: the third word (validation builds).
#[cfg(all(target_arch = "x86_64", not(feature = "tls-std"), feature = "validate"))]
#[inline]
fn read_locks() -> usize {
    let value: usize;
    // SAFETY: as in `read_slot`, sixteen bytes further into the same 24-byte TLS object.
    unsafe {
        core::arch::asm!(
            "mov {v}, qword ptr [rip + __sacs_tls_heap@GOTTPOFF]",
            "mov {v}, qword ptr fs:[{v} + 16]",
            v = out(reg) value,
            options(nostack, readonly, preserves_flags),
        );
    }
    value
}

#[cfg(all(target_arch = "x86_64", not(feature = "tls-std"), feature = "validate"))]
#[inline]
fn write_locks(value: usize) {
    // SAFETY: as in `write_slot`, sixteen bytes further into the same 24-byte TLS object.
    unsafe {
        core::arch::asm!(
            "mov {t}, qword ptr [rip + __sacs_tls_heap@GOTTPOFF]",
            "mov qword ptr fs:[{t} + 16], {v}",
            t = out(reg) _,
            v = in(reg) value,
            options(nostack, preserves_flags),
        );
    }
}

/// Writes the calling thread's slot.
#[cfg(all(target_arch = "x86_64", not(feature = "tls-std")))]
#[inline(always)]
fn write_slot(value: usize) {
    // SAFETY: as in `read_slot`; writing the calling thread's own slot.
    unsafe {
        core::arch::asm!(
            "mov {t}, qword ptr [rip + __sacs_tls_heap@GOTTPOFF]",
            "mov qword ptr fs:[{t}], {v}",
            t = out(reg) _,
            v = in(reg) value,
            options(nostack, preserves_flags),
        );
    }
}

/// Address of the calling thread's slot.
#[cfg(all(target_arch = "aarch64", not(feature = "tls-std")))]
#[inline(always)]
fn slot() -> *mut usize {
    let tp: usize;
    let offset: usize;
    // SAFETY: reads the thread pointer and the GOT entry holding the slot's offset from it.
    unsafe {
        core::arch::asm!(
            "mrs {tp}, tpidr_el0",
            "adrp {off}, :gottprel:__sacs_tls_heap",
            "ldr {off}, [{off}, :gottprel_lo12:__sacs_tls_heap]",
            tp = out(reg) tp,
            off = out(reg) offset,
            options(nostack, readonly, preserves_flags, pure),
        );
    }
    tp.wrapping_add(offset) as *mut usize
}

#[cfg(all(target_arch = "aarch64", not(feature = "tls-std")))]
#[inline(always)]
fn read_slot() -> usize {
    // SAFETY: the slot is this thread's own TLS word.
    unsafe { *slot() }
}

#[cfg(all(target_arch = "aarch64", not(feature = "tls-std")))]
#[inline(always)]
fn write_slot(value: usize) {
    // SAFETY: the slot is this thread's own TLS word.
    unsafe { *slot() = value }
}

#[cfg(all(
    target_arch = "aarch64",
    not(feature = "tls-std"),
    feature = "validate"
))]
fn read_guard() -> usize {
    // SAFETY: the word after the slot, in the same 24-byte TLS object.
    unsafe { *slot().add(1) }
}

#[cfg(all(
    target_arch = "aarch64",
    not(feature = "tls-std"),
    feature = "validate"
))]
fn write_guard(value: usize) {
    // SAFETY: the word after the slot, in the same 24-byte TLS object.
    unsafe { *slot().add(1) = value }
}

#[cfg(all(
    target_arch = "aarch64",
    not(feature = "tls-std"),
    feature = "validate"
))]
#[inline]
fn read_locks() -> usize {
    // SAFETY: the third word of the same 24-byte TLS object.
    unsafe { *slot().add(2) }
}

#[cfg(all(
    target_arch = "aarch64",
    not(feature = "tls-std"),
    feature = "validate"
))]
#[inline]
fn write_locks(value: usize) {
    // SAFETY: the third word of the same 24-byte TLS object.
    unsafe { *slot().add(2) = value }
}

// The measured alternative (feature `tls-std`): std's `thread_local!`, which in a shared
// library compiles to a `__tls_get_addr` call per access (docs/benchmarks.md has the numbers).
#[cfg(feature = "tls-std")]
std::thread_local! {
    static SLOT: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

#[cfg(all(feature = "tls-std", feature = "validate"))]
std::thread_local! {
    static GUARD: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

#[cfg(all(feature = "tls-std", feature = "validate"))]
fn read_guard() -> usize {
    GUARD.with(|s| s.get())
}

#[cfg(all(feature = "tls-std", feature = "validate"))]
fn write_guard(value: usize) {
    GUARD.with(|s| s.set(value))
}

#[cfg(all(feature = "tls-std", feature = "validate"))]
std::thread_local! {
    static LOCKS: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

#[cfg(all(feature = "tls-std", feature = "validate"))]
fn read_locks() -> usize {
    LOCKS.with(|s| s.get())
}

#[cfg(all(feature = "tls-std", feature = "validate"))]
fn write_locks(value: usize) {
    LOCKS.with(|s| s.set(value))
}

#[cfg(feature = "tls-std")]
#[inline(always)]
fn read_slot() -> usize {
    SLOT.with(|s| s.get())
}

#[cfg(feature = "tls-std")]
#[inline(always)]
fn write_slot(value: usize) {
    SLOT.with(|s| s.set(value))
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", feature = "tls-std")))]
mod fallback {
    use core::sync::atomic::{
        AtomicUsize,
        Ordering::{AcqRel, Acquire},
    };
    static KEY: AtomicUsize = AtomicUsize::new(usize::MAX);

    /// The key, created by the first caller; when two threads race, the loser deletes its own
    /// key and uses the winner's. (Not `lock::Once`: the platform layer comes before it.)
    pub fn key() -> libc::pthread_key_t {
        let key = KEY.load(Acquire);
        if key != usize::MAX {
            return key as libc::pthread_key_t;
        }
        let mut k: libc::pthread_key_t = 0;
        // SAFETY: `k` is a valid out-parameter; no destructor.
        unsafe { libc::pthread_key_create(&mut k, None) };
        match KEY.compare_exchange(usize::MAX, k as usize, AcqRel, Acquire) {
            Ok(_) => k,
            Err(won) => {
                // SAFETY: `k` was created above and never used.
                unsafe { libc::pthread_key_delete(k) };
                won as libc::pthread_key_t
            }
        }
    }
}

/// The calling thread's slot: zero until [`set`] stores something else.
#[inline(always)]
pub fn get() -> usize {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", feature = "tls-std"))]
    {
        read_slot()
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", feature = "tls-std")))]
    {
        super::thread::key_get(fallback::key()) as usize
    }
}

/// Sets the calling thread's slot.
#[inline]
pub fn set(value: usize) {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64", feature = "tls-std"))]
    {
        write_slot(value);
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", feature = "tls-std")))]
    {
        super::thread::key_set(fallback::key(), value as *mut libc::c_void);
    }
}

/// Marks the calling thread as inside a SACS entry point (validation builds) and checks it was
/// not already: SACS never allocates, so an entry point reached from inside another means the
/// allocator called itself (through a libc function that allocates, say). The guard is dropped
/// at the end of the entry point.
#[cfg(all(
    feature = "validate",
    any(target_arch = "x86_64", target_arch = "aarch64", feature = "tls-std")
))]
pub struct Reentry(());

#[cfg(all(
    feature = "validate",
    any(target_arch = "x86_64", target_arch = "aarch64", feature = "tls-std")
))]
impl Reentry {
    /// Enters `what`; reports and aborts if the thread is already inside SACS.
    #[inline]
    pub fn enter(what: &str) -> Self {
        if read_guard() != 0 {
            super::write_stderr(b"sacs: re-entered: ");
            super::write_stderr(what.as_bytes());
            super::write_stderr(b" called from inside the allocator\n");
            super::abort();
        }
        write_guard(1);
        Reentry(())
    }

    /// Whether the calling thread is inside a SACS entry point.
    pub fn inside() -> bool {
        read_guard() != 0
    }
}

#[cfg(all(
    feature = "validate",
    any(target_arch = "x86_64", target_arch = "aarch64", feature = "tls-std")
))]
impl Drop for Reentry {
    fn drop(&mut self) {
        write_guard(0);
    }
}

/// Counts a SACS spin lock taken by the calling thread (validation builds; see
/// [`locks_held`]).
#[cfg(all(
    feature = "validate",
    any(target_arch = "x86_64", target_arch = "aarch64", feature = "tls-std")
))]
#[inline]
pub fn lock_taken() {
    write_locks(read_locks().wrapping_add(1));
}

/// Counts a SACS spin lock released by the calling thread (validation builds).
#[cfg(all(
    feature = "validate",
    any(target_arch = "x86_64", target_arch = "aarch64", feature = "tls-std")
))]
#[inline]
pub fn lock_released() {
    write_locks(read_locks().wrapping_sub(1));
}

/// How many SACS spin locks the calling thread holds (validation builds; always 0 elsewhere).
/// No memory system call may be made while it is not 0 (checked in `os`).
#[cfg(all(
    feature = "validate",
    any(target_arch = "x86_64", target_arch = "aarch64", feature = "tls-std")
))]
#[inline]
pub fn locks_held() -> usize {
    read_locks()
}

/// Without validation (or a TLS word for it) the count is not kept.
#[cfg(not(all(
    feature = "validate",
    any(target_arch = "x86_64", target_arch = "aarch64", feature = "tls-std")
)))]
#[inline(always)]
pub fn lock_taken() {}

/// Without validation (or a TLS word for it) the count is not kept.
#[cfg(not(all(
    feature = "validate",
    any(target_arch = "x86_64", target_arch = "aarch64", feature = "tls-std")
)))]
#[inline(always)]
pub fn lock_released() {}

/// Without validation (or a TLS word for it) the guard is nothing.
#[cfg(not(all(
    feature = "validate",
    any(target_arch = "x86_64", target_arch = "aarch64", feature = "tls-std")
)))]
pub struct Reentry(());

#[cfg(not(all(
    feature = "validate",
    any(target_arch = "x86_64", target_arch = "aarch64", feature = "tls-std")
)))]
impl Reentry {
    #[inline(always)]
    pub fn enter(_what: &str) -> Self {
        Reentry(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_threads_start_at_the_initial_value_and_slots_are_per_thread() {
        let here = get();
        // (What the initial value is, the layer that defines the slot says: `heap`'s tests.)
        let initial = std::thread::spawn(get).join().unwrap();
        assert_eq!(initial != 0, STARTS_AT_INITIAL);
        std::thread::spawn(move || {
            assert_eq!(get(), initial);
            set(0x1000);
            assert_eq!(get(), 0x1000);
            set(initial);
        })
        .join()
        .unwrap();
        assert_eq!(get(), here);
    }

    #[cfg(feature = "validate")]
    #[test]
    fn the_guard_is_per_thread_and_released() {
        assert!(!Reentry::inside());
        {
            let _g = Reentry::enter("test");
            assert!(Reentry::inside());
            std::thread::spawn(|| assert!(!Reentry::inside()))
                .join()
                .unwrap();
        }
        assert!(!Reentry::inside());
    }
}
