//! Clocks: the cycle counter that times system calls, and the monotonic clocks that purge
//! delays are measured with. All of them are read without a system call on Linux (`rdtsc`,
//! the vDSO).

/// Reads the cycle counter (or a monotonic nanosecond clock where there is none).
#[inline]
pub fn cycles() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` has no preconditions on x86_64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        now_ns()
    }
}

/// Monotonic time in nanoseconds (vDSO, no system call on Linux).
#[cfg(any(test, not(target_arch = "x86_64")))]
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-parameter; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Monotonic time in milliseconds, from the coarse clock (vDSO, a few nanoseconds, resolution
/// of one scheduler tick: ample for delays counted in milliseconds).
#[inline]
pub fn now_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-parameter; CLOCK_MONOTONIC_COARSE exists on Linux >= 2.6.32.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_move_forward() {
        let (a, b) = (now_ns(), now_ms());
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(now_ns() >= a + 20_000_000);
        assert!(
            now_ms() >= b + 10,
            "the coarse clock ticks at least every few ms"
        );
        assert!(cycles() != 0);
    }
}
