//! What the benchmark reads from `/proc` and the system about its own process: resident
//! memory, I/O counters, major faults; and dropping the page cache.

use std::fs;

/// A `kB` line of `/proc/self/status` (`VmHWM`, `VmRSS`), 0 if absent.
pub fn status_kib(key: &str) -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    proc_value(&status, key)
}

/// A counter of `/proc/self/io` (`read_bytes`, `rchar`), 0 if absent.
pub fn io_counter(key: &str) -> u64 {
    let io = fs::read_to_string("/proc/self/io").unwrap_or_default();
    proc_value(&io, key)
}

fn proc_value(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|line| {
            let rest = line.strip_prefix(key)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0)
}

/// Writes back dirty pages and drops the page cache; false if not allowed (not root).
pub(super) fn drop_page_cache() -> bool {
    // SAFETY: `sync` takes no arguments and only schedules dirty pages for writing.
    unsafe { libc::sync() };
    fs::write("/proc/sys/vm/drop_caches", "1").is_ok()
}

/// Major page faults of this process so far (`getrusage`), 0 if the call fails.
pub(super) fn major_faults() -> u64 {
    // SAFETY: `rusage` is plain data, valid when zeroed; `getrusage` writes it whole.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable `rusage`.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0;
    }
    usage.ru_majflt as u64
}
