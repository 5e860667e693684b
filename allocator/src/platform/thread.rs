//! Threads: the thread-specific key whose destructor retires a thread's heap, the `fork()`
//! handlers, futexes (the sleeping lock's wait and wake), yielding the processor (the spin
//! lock's back-off) and the process-wide memory barrier (`membarrier`).

use core::ptr;
use core::sync::atomic::{AtomicU32, AtomicU8, Ordering::Relaxed};

/// A `pthread` thread-specific key.
pub type Key = libc::pthread_key_t;

/// Creates a key whose `destructor` runs at thread exit for every thread with a non-null value.
/// Returns `None` when the system has no keys left.
pub fn key_create(destructor: unsafe extern "C" fn(*mut libc::c_void)) -> Option<Key> {
    let mut key: Key = 0;
    // SAFETY: `key` is a valid out-parameter; the destructor has the required signature.
    (unsafe { libc::pthread_key_create(&mut key, Some(destructor)) } == 0).then_some(key)
}

/// The calling thread's value of `key` (null when unset).
#[inline]
pub fn key_get(key: Key) -> *mut libc::c_void {
    // SAFETY: `key` came from `key_create`; reading a value has no other precondition.
    unsafe { libc::pthread_getspecific(key) }
}

/// Sets the calling thread's value of `key`. May allocate inside the C library for high key
/// numbers: callers make sure such an allocation finds a usable heap.
pub fn key_set(key: Key, value: *mut libc::c_void) {
    // SAFETY: `key` came from `key_create`.
    unsafe { libc::pthread_setspecific(key, value) };
}

/// Registers `fork()` handlers: `prepare` runs before the fork, `parent` and `child` after it.
pub fn at_fork(prepare: extern "C" fn(), parent: extern "C" fn(), child: extern "C" fn()) {
    // SAFETY: the handlers are `extern "C" fn()` with static lifetime.
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
}

/// Sleeps while `*addr == expected` (`FUTEX_WAIT_PRIVATE`), until a [`futex_wake`] on `addr`,
/// a signal or a spurious wake-up: the caller re-checks its condition either way. Returns at
/// once when the value already differs.
pub fn futex_wait(addr: &AtomicU32, expected: u32) {
    super::memory::counted(
        super::Syscall::Futex,
        // SAFETY: `addr` is a valid, aligned 32-bit atomic for the duration of the call; a null
        // timeout waits without limit.
        || unsafe {
            libc::syscall(
                libc::SYS_futex,
                addr.as_ptr(),
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                expected,
                ptr::null::<libc::timespec>(),
            )
        },
        // A changed value (EAGAIN) or a signal (EINTR) is a normal outcome of a wait.
        |r| {
            // SAFETY: reading the calling thread's errno slot, set by the call just made.
            *r == 0
                || matches!(
                    unsafe { *libc::__errno_location() },
                    libc::EAGAIN | libc::EINTR
                )
        },
    );
}

/// Wakes up to `n` threads sleeping in [`futex_wait`] on `addr` (`FUTEX_WAKE_PRIVATE`).
pub fn futex_wake(addr: &AtomicU32, n: u32) {
    super::memory::counted(
        super::Syscall::Futex,
        // SAFETY: `addr` is a valid, aligned 32-bit atomic; waking touches no memory.
        || unsafe {
            libc::syscall(
                libc::SYS_futex,
                addr.as_ptr(),
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                n.min(i32::MAX as u32),
            )
        },
        |r| *r >= 0,
    );
}

/// A word that tells the calling thread from every other live thread: its thread pointer (the
/// TCB address in `fs` on x86_64, `tpidr_el0` on aarch64), one instruction. 0 where it is not
/// known (other targets): callers must then treat every thread as possibly the caller.
#[inline(always)]
pub fn token() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let t: usize;
        // SAFETY: on x86_64 Linux `fs:0` holds the thread pointer itself (the TCB's self
        // pointer, as the ABI requires); reading it has no side effect.
        unsafe {
            core::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) t, options(nostack, readonly, preserves_flags))
        };
        t
    }
    #[cfg(target_arch = "aarch64")]
    {
        let t: usize;
        // SAFETY: reading the thread pointer register has no side effect.
        unsafe {
            core::arch::asm!("mrs {}, tpidr_el0", out(reg) t, options(nostack, nomem, preserves_flags))
        };
        t
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        0
    }
}

/// `membarrier` commands (`linux/membarrier.h`, Linux 4.14).
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 8;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 16;

/// [`heavy_barrier`]'s registration: not tried yet, registered, or refused by the system.
const BARRIER_UNKNOWN: u8 = 0;
const BARRIER_REGISTERED: u8 = 1;
const BARRIER_REFUSED: u8 = 2;
static BARRIER: AtomicU8 = AtomicU8::new(BARRIER_UNKNOWN);

fn membarrier(cmd: libc::c_long) -> bool {
    super::memory::counted(
        super::Syscall::Membarrier,
        // SAFETY: `membarrier` with a command and no flags reads and writes no memory of ours.
        || unsafe {
            libc::syscall(
                libc::SYS_membarrier,
                cmd,
                0 as libc::c_long,
                0 as libc::c_long,
            )
        },
        |r| *r == 0,
    ) == 0
}

/// Registers the process for [`heavy_barrier`] if it has not tried yet; returns whether the
/// barrier is to be had. The registration waits for the kernel's grace period when other
/// threads run (10 ms measured here with one other thread busy, 7 µs with none), so callers
/// make it before whatever their barrier protects keeps other threads waiting.
pub fn heavy_barrier_ready() -> bool {
    match BARRIER.load(Relaxed) {
        BARRIER_REGISTERED => true,
        BARRIER_REFUSED => false,
        _ => register_barrier(),
    }
}

fn register_barrier() -> bool {
    let ok = membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED);
    BARRIER.store(
        if ok {
            BARRIER_REGISTERED
        } else {
            BARRIER_REFUSED
        },
        Relaxed,
    );
    ok
}

/// A full memory barrier on every thread of the process that is running now
/// (`membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, about 2 µs; a thread not running passes a
/// barrier when it is scheduled again): the heavy side of an asymmetric fence, whose light
/// side is a compiler fence in the code of the other threads. Of a thread's stores and its
/// later loads around its light side, either the stores are visible to the caller when this
/// returns, or the loads see what the caller stored before calling. Returns false where the
/// system has no such barrier (a kernel before 4.14, a sandbox that forbids the call): the
/// caller must then do without what it protects. Call [`heavy_barrier_ready`] first.
///
/// A child of `fork` inherits the registration on the kernels seen here; where it does not,
/// the refused barrier is registered for again, once.
pub fn heavy_barrier() -> bool {
    if !heavy_barrier_ready() {
        return false;
    }
    membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)
        || (register_barrier() && membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED))
}

/// Yields the processor to another thread (used by the lock's back-off).
pub fn yield_now() {
    super::memory::counted(
        super::Syscall::Yield,
        // SAFETY: sched_yield has no preconditions.
        || unsafe { libc::sched_yield() },
        |r| *r == 0,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    static DESTROYED: AtomicUsize = AtomicUsize::new(0);

    unsafe extern "C" fn count(value: *mut libc::c_void) {
        DESTROYED.fetch_add(value as usize, Relaxed);
    }

    #[test]
    fn key_values_are_per_thread_and_destroyed_at_exit() {
        let key = key_create(count).expect("a key");
        key_set(key, 5 as *mut libc::c_void);
        std::thread::spawn(move || {
            assert!(key_get(key).is_null());
            key_set(key, 7 as *mut libc::c_void);
            assert_eq!(key_get(key) as usize, 7);
        })
        .join()
        .unwrap();
        assert_eq!(key_get(key) as usize, 5);
        assert_eq!(
            DESTROYED.load(Relaxed),
            7,
            "the exiting thread's value was destroyed"
        );
    }
}
