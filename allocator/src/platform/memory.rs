//! Memory from the system: the only place that calls `mmap`, `munmap`, `madvise` and `mremap`.
//!
//! Every call is counted per kind together with the cycles it took (read from the time-stamp
//! counter where there is one), and every call saves and restores `errno`, so that a caller of
//! `malloc` never sees an `errno` that SACS's own bookkeeping produced. Failures are reported as
//! `None` / `false`; nothing here panics or allocates. Validation builds check that no memory
//! system call is made while the calling thread holds a SACS spin lock (see `counted`).
//!
//! The rest of the allocator asks for memory in three shapes: [`map`] (fresh, zeroed, readable and
//! writable), [`map_aligned`] (the same, with its start aligned to a power of two), and the
//! advice calls [`decommit`] (give the physical pages back; the range reads as zero afterwards)
//! and [`release_lazily`] (MADV_FREE: the kernel may take the pages when it needs them).

use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::clock::cycles;
use super::KeepErrno;

/// The system page size SACS assumes for rounding (checked against `sysconf` in debug builds).
pub const OS_PAGE: usize = 4096;

/// Kinds of system call: indexes into `SYSCALLS` here and into `Stats::syscalls`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Syscall {
    Mmap = 0,
    Munmap = 1,
    MadviseFree = 2,
    MadviseDontneed = 3,
    MadviseHuge = 4,
    Mremap = 5,
    /// `futex` wait and wake, for the sleeping lock of the backstop heap.
    Futex = 6,
    /// `sched_yield`, the spin lock's back-off: how often a thread waited for a shared lock.
    Yield = 7,
    /// `getrusage`, the learner's page-fault count, once per window.
    Getrusage = 8,
    /// `membarrier`, the shared look's barrier before it takes blocks out of idle threads'
    /// caches of big blocks (`platform::thread::heavy_barrier`), and its registration.
    Membarrier = 9,
    /// A small file read whole (`open`, `read`, `close`, counted as one): the memory pressure
    /// check's cgroup and pressure stall files, `/proc/self/cgroup`, and for the statistics
    /// the process's resident set and name.
    FileRead = 10,
}

/// Number of [`Syscall`] kinds.
pub const SYSCALL_KINDS: usize = 11;

/// Names in [`Syscall`] order, for the statistics table.
pub const SYSCALL_NAMES: [&str; SYSCALL_KINDS] = [
    "mmap",
    "munmap",
    "madvise(FREE)",
    "madvise(DONTNEED)",
    "madvise(HUGEPAGE)",
    "mremap",
    "futex",
    "sched_yield",
    "getrusage",
    "membarrier",
    "read file",
];

/// Count and cycles of one kind of system call.
pub struct SyscallCounter {
    pub calls: AtomicU64,
    pub cycles: AtomicU64,
    pub failures: AtomicU64,
}

impl SyscallCounter {
    const fn new() -> Self {
        Self {
            calls: AtomicU64::new(0),
            cycles: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }
}

/// Per-kind system call counters, read by `stats`.
pub static SYSCALLS: [SyscallCounter; SYSCALL_KINDS] = [
    SyscallCounter::new(),
    SyscallCounter::new(),
    SyscallCounter::new(),
    SyscallCounter::new(),
    SyscallCounter::new(),
    SyscallCounter::new(),
    SyscallCounter::new(),
    SyscallCounter::new(),
    SyscallCounter::new(),
    SyscallCounter::new(),
    SyscallCounter::new(),
];

/// What the process has used so far, from one `getrusage(RUSAGE_SELF)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Page faults, minor and major.
    pub faults: u64,
    /// CPU time of all its threads, user and system, in microseconds.
    pub cpu_us: u64,
}

/// The process's page faults and CPU time so far (`getrusage(RUSAGE_SELF)`), counted as a
/// system call; zeros if the call fails.
pub fn usage() -> Usage {
    let mut usage = core::mem::MaybeUninit::<libc::rusage>::zeroed();
    let rc = counted(
        Syscall::Getrusage,
        || {
            // SAFETY: `usage` is a valid out-parameter for one `rusage`.
            unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) }
        },
        |&rc| rc == 0,
    );
    if rc != 0 {
        return Usage::default();
    }
    // SAFETY: zeroed above and filled by a successful call.
    let usage = unsafe { usage.assume_init() };
    let micros = |t: libc::timeval| (t.tv_sec as u64) * 1_000_000 + t.tv_usec as u64;
    Usage {
        faults: (usage.ru_minflt as u64).saturating_add(usage.ru_majflt as u64),
        cpu_us: micros(usage.ru_utime).saturating_add(micros(usage.ru_stime)),
    }
}

/// Runs `call`, counting it under `kind`; `ok` says whether the result is a success.
///
/// In validation builds, checks first that the calling thread holds no SACS spin lock
/// ([`crate::lock::Lock`]): a system call under a spin lock makes every waiter spin for the
/// whole call. The locks' own calls are exempt: the futex calls are how a
/// [`crate::lock::SleepLock`] waits and wakes (the one sleeping lock, the heap's backstop,
/// comes first in the lock order, so a thread waiting on it holds no spin lock anyway; not
/// checked here, not relied upon), and `sched_yield` is a spin lock's back-off, which the fork
/// handler makes while it holds the locks before the one it waits for.
#[inline]
pub(super) fn counted<T>(
    kind: Syscall,
    call: impl FnOnce() -> T,
    ok: impl FnOnce(&T) -> bool,
) -> T {
    #[cfg(all(
        feature = "validate",
        any(target_arch = "x86_64", target_arch = "aarch64", feature = "tls-std")
    ))]
    if !matches!(kind, Syscall::Futex | Syscall::Yield) && super::tls::locks_held() != 0 {
        spin_lock_held(kind);
    }
    let _errno = KeepErrno::new();
    let start = cycles();
    let result = call();
    let spent = cycles().wrapping_sub(start);
    let counter = &SYSCALLS[kind as usize];
    counter.calls.fetch_add(1, Relaxed);
    counter.cycles.fetch_add(spent, Relaxed);
    if !ok(&result) {
        counter.failures.fetch_add(1, Relaxed);
    }
    result
}

/// Reports a system call made while holding a SACS spin lock, without allocating: a panic in
/// the crate's own unit tests (they check it with `#[should_panic]`), else a message and abort
/// (a panic would allocate, and with SACS as the allocator re-enter it under the lock).
#[cfg(all(
    feature = "validate",
    any(target_arch = "x86_64", target_arch = "aarch64", feature = "tls-std")
))]
#[cold]
#[inline(never)]
fn spin_lock_held(kind: Syscall) -> ! {
    let name = SYSCALL_NAMES[kind as usize];
    #[cfg(test)]
    panic!("sacs: {name} called while holding a SACS spin lock");
    #[cfg(not(test))]
    {
        super::write_stderr(b"sacs: ");
        super::write_stderr(name.as_bytes());
        super::write_stderr(b" called while holding a SACS spin lock\n");
        super::abort()
    }
}

/// Maps `len` bytes of fresh zeroed read-write memory anywhere.
///
/// `len` must be a multiple of [`OS_PAGE`]. With `reserve_only`, the range is mapped with
/// `MAP_NORESERVE` (used for large sparse tables that are touched lazily).
pub fn map(len: usize, reserve_only: bool) -> Option<NonNull<u8>> {
    debug_assert!(len.is_multiple_of(OS_PAGE) && len > 0);
    let flags = libc::MAP_PRIVATE
        | libc::MAP_ANONYMOUS
        | if reserve_only { libc::MAP_NORESERVE } else { 0 };
    let p = counted(
        Syscall::Mmap,
        // SAFETY: an anonymous private mapping at a kernel-chosen address has no preconditions.
        || unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                -1,
                0,
            )
        },
        |p| *p != libc::MAP_FAILED,
    );
    if p == libc::MAP_FAILED {
        None
    } else {
        NonNull::new(p.cast())
    }
}

/// `mmap` of an anonymous private range: at `addr` exactly (`MAP_FIXED`, replacing what was
/// mapped there) when it is not null, else where the kernel chooses. Counted; null on failure.
///
/// # Safety
/// - a non-null `addr` names a range of a mapping of this module that nothing uses.
unsafe fn map_anonymous(addr: *mut u8, len: usize, prot: i32, flags: i32) -> *mut u8 {
    let fixed = if addr.is_null() { 0 } else { libc::MAP_FIXED };
    let p = counted(
        Syscall::Mmap,
        // SAFETY: an anonymous private mapping; with MAP_FIXED the caller guarantees that the
        // range it replaces is ours and unused.
        || unsafe {
            libc::mmap(
                addr.cast(),
                len,
                prot,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | fixed | flags,
                -1,
                0,
            )
        },
        |p| *p != libc::MAP_FAILED,
    );
    if p == libc::MAP_FAILED {
        ptr::null_mut()
    } else {
        p.cast()
    }
}

/// Reserves `len` bytes of address space whose start is a multiple of `align`: no access and
/// nothing committed (`PROT_NONE`, `MAP_NORESERVE`), so that it costs no memory and counts
/// against no commit limit until parts of it are [`commit_fixed`]. `len` and `align` are
/// multiples of [`OS_PAGE`], `align` a power of two.
pub fn reserve_aligned(len: usize, align: usize) -> Option<NonNull<u8>> {
    debug_assert!(align.is_power_of_two() && align >= OS_PAGE && len.is_multiple_of(OS_PAGE));
    let over = len.checked_add(align)?;
    // SAFETY: no address given: a new mapping the kernel places.
    let raw = unsafe { map_anonymous(ptr::null_mut(), over, libc::PROT_NONE, libc::MAP_NORESERVE) }
        as usize;
    if raw == 0 {
        return None;
    }
    // SAFETY: the reservation was just made and nothing uses it.
    unsafe { trim_to_aligned(raw, over, len, align) }
}

/// Makes `[p, p + len)`, inside a reservation of [`reserve_aligned`], fresh zeroed read-write
/// memory (one `mmap` with `MAP_FIXED`). Returns false when the kernel refused (out of memory
/// or over a limit); the range is then as it was.
///
/// # Safety
/// - the range lies inside a reservation of this module and nothing uses it.
pub unsafe fn commit_fixed(p: *mut u8, len: usize) -> bool {
    debug_assert!((p as usize).is_multiple_of(OS_PAGE) && len.is_multiple_of(OS_PAGE));
    // SAFETY: per the contract the range is ours and unused.
    !unsafe { map_anonymous(p, len, libc::PROT_READ | libc::PROT_WRITE, 0) }.is_null()
}

/// Turns `[p, p + len)` back into reserved address space: its pages are dropped, nothing is
/// committed, any access faults (one `mmap` with `MAP_FIXED`, `PROT_NONE`). Returns false when
/// the kernel refused; the range then stays as it was.
///
/// # Safety
/// - the range lies inside a reservation of this module and its contents are no longer needed.
pub unsafe fn uncommit_fixed(p: *mut u8, len: usize) -> bool {
    debug_assert!((p as usize).is_multiple_of(OS_PAGE) && len.is_multiple_of(OS_PAGE));
    // SAFETY: per the contract the range is ours and dead.
    !unsafe { map_anonymous(p, len, libc::PROT_NONE, libc::MAP_NORESERVE) }.is_null()
}

/// Maps `len` bytes of fresh zeroed memory whose start is a multiple of `align`.
///
/// Maps `len + align` bytes and unmaps the unaligned head and the tail, so the result is an
/// ordinary mapping of exactly `len` bytes. `align` is a power of two >= [`OS_PAGE`].
pub fn map_aligned(len: usize, align: usize) -> Option<NonNull<u8>> {
    debug_assert!(align.is_power_of_two() && align >= OS_PAGE && len.is_multiple_of(OS_PAGE));
    let over = len.checked_add(align)?;
    let raw = map(over, false)?.as_ptr() as usize;
    // SAFETY: the mapping was just made and nothing uses it.
    unsafe { trim_to_aligned(raw, over, len, align) }
}

/// Unmaps the head and the tail of the mapping `[raw, raw + over)` around its first `len` bytes
/// that start at a multiple of `align`, and returns their start.
///
/// # Safety
/// - `[raw, raw + over)` is a mapping of this module that nothing uses, and `over >= len +
///   align - 1`.
unsafe fn trim_to_aligned(
    raw: usize,
    over: usize,
    len: usize,
    align: usize,
) -> Option<NonNull<u8>> {
    let start = (raw + align - 1) & !(align - 1);
    let (head, tail) = (start - raw, over - (start - raw) - len);
    // SAFETY: both ranges lie inside the mapping (the contract) and are not used by anyone.
    unsafe {
        if head > 0 {
            unmap(raw as *mut u8, head);
        }
        if tail > 0 {
            unmap((start + len) as *mut u8, tail);
        }
    }
    NonNull::new(start as *mut u8)
}

/// Unmaps `len` bytes at `p`.
///
/// # Safety
/// - `[p, p + len)` was mapped by this module and nothing uses it any more.
pub unsafe fn unmap(p: *mut u8, len: usize) {
    debug_assert!((p as usize).is_multiple_of(OS_PAGE) && len.is_multiple_of(OS_PAGE));
    counted(
        Syscall::Munmap,
        // SAFETY: the caller guarantees the range is ours and unused.
        || unsafe { libc::munmap(p.cast(), len) },
        |r| *r == 0,
    );
}

/// Gives the physical pages of `[p, p + len)` back to the system now; the range stays mapped and
/// reads as zero afterwards. Returns false if the kernel refused.
///
/// # Safety
/// - the range lies inside a mapping of this module and its contents are no longer needed.
pub unsafe fn decommit(p: *mut u8, len: usize) -> bool {
    debug_assert!((p as usize).is_multiple_of(OS_PAGE) && len.is_multiple_of(OS_PAGE));
    counted(
        Syscall::MadviseDontneed,
        // SAFETY: the caller guarantees the range is ours and its contents are dead.
        || unsafe { libc::madvise(p.cast(), len, libc::MADV_DONTNEED) },
        |r| *r == 0,
    ) == 0
}

/// Lets the kernel take the physical pages of `[p, p + len)` when it is short of memory
/// (`MADV_FREE`); until then they stay resident and keep or lose their contents. Falls back to
/// [`decommit`] on kernels without `MADV_FREE`.
///
/// # Safety
/// - as for [`decommit`].
pub unsafe fn release_lazily(p: *mut u8, len: usize) {
    let ok = counted(
        Syscall::MadviseFree,
        // SAFETY: the caller guarantees the range is ours and its contents are dead.
        || unsafe { libc::madvise(p.cast(), len, libc::MADV_FREE) },
        |r| *r == 0,
    ) == 0;
    if !ok {
        // SAFETY: same contract as ours.
        unsafe { decommit(p, len) };
    }
}

/// Asks for transparent huge pages on `[p, p + len)`; a refusal is harmless.
///
/// # Safety
/// - the range lies inside a mapping of this module.
pub unsafe fn advise_huge(p: *mut u8, len: usize) {
    counted(
        Syscall::MadviseHuge,
        // SAFETY: the caller guarantees the range is ours; the advice does not change contents.
        || unsafe { libc::madvise(p.cast(), len, libc::MADV_HUGEPAGE) },
        |r| *r == 0,
    );
}

/// Resizes the mapping `[p, p + old_len)` to `new_len`, in place when `may_move` is false.
/// Returns the (possibly new) start, or `None` when the kernel could not do it.
///
/// # Safety
/// - `[p, p + old_len)` is a whole mapping made by this module, owned by the caller.
pub unsafe fn remap(
    p: *mut u8,
    old_len: usize,
    new_len: usize,
    may_move: bool,
) -> Option<NonNull<u8>> {
    let flags = if may_move { libc::MREMAP_MAYMOVE } else { 0 };
    let q = counted(
        Syscall::Mremap,
        // SAFETY: the caller owns the whole mapping.
        || unsafe { libc::mremap(p.cast(), old_len, new_len, flags) },
        |q| *q != libc::MAP_FAILED,
    );
    if q == libc::MAP_FAILED {
        None
    } else {
        NonNull::new(q.cast())
    }
}

/// Moves the mapping `[p, p + old_len)` to `dest`, resized to `new_len`, replacing whatever
/// was mapped at `[dest, dest + new_len)`. The page tables move; no data is copied.
///
/// # Safety
/// - `[p, p + old_len)` is a whole mapping of this module owned by the caller, and
///   `[dest, dest + new_len)` is a reservation of the caller's that nothing uses.
pub unsafe fn remap_fixed(
    p: *mut u8,
    old_len: usize,
    new_len: usize,
    dest: *mut u8,
) -> Option<NonNull<u8>> {
    let q = counted(
        Syscall::Mremap,
        // SAFETY: the caller owns both ranges.
        || unsafe {
            libc::mremap(
                p.cast(),
                old_len,
                new_len,
                libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                dest,
            )
        },
        |q| *q != libc::MAP_FAILED,
    );
    if q == libc::MAP_FAILED {
        None
    } else {
        NonNull::new(q.cast())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_map_is_aligned_and_zeroed() {
        let before = SYSCALLS[Syscall::Mmap as usize].calls.load(Relaxed);
        let p = map_aligned(1 << 20, 4 << 20).unwrap().as_ptr();
        assert_eq!(p as usize % (4 << 20), 0);
        // SAFETY: the mapping is 1 MiB long and ours.
        unsafe {
            assert_eq!(*p.add(12345), 0);
            *p.add(12345) = 7;
            unmap(p, 1 << 20);
        }
        assert!(SYSCALLS[Syscall::Mmap as usize].calls.load(Relaxed) > before);
    }

    #[test]
    fn errno_is_preserved() {
        // SAFETY: writing our own errno.
        unsafe { *libc::__errno_location() = 1234 };
        let p = map(OS_PAGE, false).unwrap();
        // SAFETY: the page was just mapped.
        unsafe { unmap(p.as_ptr(), OS_PAGE) };
        // Failing call: unaligned madvise gives EINVAL inside, which must not leak out.
        // SAFETY: the (unaligned) range is rejected by the kernel before touching anything.
        unsafe { libc::madvise(core::ptr::dangling_mut(), 1, libc::MADV_DONTNEED) };
        // SAFETY: reading our own errno.
        unsafe { *libc::__errno_location() = 1234 };
        assert!(remap_fails_cleanly());
        // SAFETY: reading our own errno.
        assert_eq!(unsafe { *libc::__errno_location() }, 1234);
    }

    fn remap_fails_cleanly() -> bool {
        // SAFETY: remapping address 0 fails with EINVAL without side effects.
        unsafe { remap(OS_PAGE as *mut u8, OS_PAGE, 2 * OS_PAGE, false).is_none() }
    }

    #[test]
    fn page_size_matches() {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        assert_eq!(page, OS_PAGE);
    }
}
