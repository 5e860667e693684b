//! The platform layer: every call SACS makes into the C library or the kernel goes through
//! here, and nothing above this layer names `libc` (the layering test checks it).
//!
//! | file | what it wraps |
//! | --- | --- |
//! | [`memory`] | `mmap`, `munmap`, `madvise`, `mremap`: counted, with their cycles |
//! | [`clock`] | the cycle counter and the monotonic clocks |
//! | [`thread`] | the thread-exit key, the `fork()` handlers, `sched_yield` |
//! | [`tls`] | the thread-local heap slot (initial-exec TLS in assembly) |
//! | [`env`](mod@env) | the raw `environ` |
//! | [`symbol`] | `dladdr`: the module and exported symbol of a code address |
//! | this file | `errno`, standard error and files opened for appending, the process's resident size, ID and name, `abort` |
//!
//! Every call that can change `errno` saves and restores it ([`KeepErrno`]), so that a caller
//! of `malloc` never sees an `errno` that SACS's own bookkeeping produced; failures come back as
//! `None` / `false`. Nothing here panics or allocates.

pub mod clock;
pub mod env;
pub mod memory;
pub mod symbol;
pub mod thread;
pub mod tls;

pub use clock::now_ms;
pub use memory::{
    advise_huge, commit_fixed, decommit, map, map_aligned, release_lazily, remap, remap_fixed,
    reserve_aligned, uncommit_fixed, unmap, usage, Syscall, OS_PAGE, SYSCALLS, SYSCALL_KINDS,
    SYSCALL_NAMES,
};

/// Saves `errno` on creation and restores it on drop.
pub(crate) struct KeepErrno(i32);

impl KeepErrno {
    #[inline]
    pub(crate) fn new() -> Self {
        Self(errno())
    }
}

impl Drop for KeepErrno {
    #[inline]
    fn drop(&mut self) {
        set_errno(self.0);
    }
}

/// The calling thread's `errno`.
#[inline]
pub fn errno() -> i32 {
    // SAFETY: `__errno_location` returns the calling thread's errno slot, always valid.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's `errno` (the C API's `ENOMEM` / `EINVAL`).
#[inline(always)]
pub fn set_errno(value: i32) {
    // SAFETY: as in `errno`; writing the thread's own errno slot is always allowed.
    unsafe { *libc::__errno_location() = value };
}

/// `ENOMEM`, for the C API's failures.
pub const ENOMEM: i32 = libc::ENOMEM;
/// `EINVAL`, for the C API's argument checks.
pub const EINVAL: i32 = libc::EINVAL;

/// Resident set size of the process in bytes, read from `/proc/self/statm` into a stack buffer.
/// Returns 0 when it cannot be read.
pub fn resident_bytes() -> usize {
    let mut buf = [0u8; 128];
    let n = read_file(b"/proc/self/statm\0", &mut buf);
    // statm: "size resident shared ..." in pages; take the second number.
    let mut fields = buf[..n].split(|&b| b == b' ');
    fields.next();
    let pages = fields.next().map(parse_decimal).unwrap_or(0);
    pages * OS_PAGE
}

/// Reads the file at `path` (NUL-terminated) into `buf` and returns the bytes read (0 when it
/// cannot be opened or read); a longer file is cut at `buf`'s length. For small files of
/// `/proc` and `/sys`, read in one call.
#[inline(never)]
#[link_section = ".sacs_rare"]
pub fn read_file(path: &[u8], buf: &mut [u8]) -> usize {
    // `memory::counted` keeps `errno` around the calls.
    if path.last() != Some(&0) {
        return 0;
    }
    let n = memory::counted(
        Syscall::FileRead,
        || {
            // SAFETY: `path` is NUL-terminated (checked above); the buffer is ours, its
            // length passed.
            unsafe {
                let fd = libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return -1;
                }
                let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
                libc::close(fd);
                n
            }
        },
        |&n| n >= 0,
    );
    n.max(0) as usize
}

/// The calling process's ID.
pub fn process_id() -> u32 {
    // SAFETY: getpid has no preconditions and cannot fail.
    unsafe { libc::getpid() as u32 }
}

/// Writes the process's name (`/proc/self/comm`, without its newline) into `buf` and returns
/// its length; 0 when it cannot be read.
pub fn program_name(buf: &mut [u8; 16]) -> usize {
    let mut raw = [0u8; 17];
    let n = read_file(b"/proc/self/comm\0", &mut raw);
    let text = &raw[..n];
    let len = text
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(text.len())
        .min(buf.len());
    buf[..len].copy_from_slice(&text[..len]);
    len
}

/// Opens `path` (NUL-terminated) for appending, creating it with mode 0644. Returns the
/// descriptor (close-on-exec) or -1.
pub fn open_append(path: &[u8]) -> i32 {
    open_for_writing(path, libc::O_APPEND)
}

/// Opens `path` (NUL-terminated) write-only, created if need be, with `flags` added; returns
/// the descriptor, or -1.
fn open_for_writing(path: &[u8], flags: i32) -> i32 {
    let _errno = KeepErrno::new();
    if path.last() != Some(&0) {
        return -1;
    }
    // SAFETY: `path` is NUL-terminated (checked above).
    unsafe {
        libc::open(
            path.as_ptr().cast(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC | flags,
            0o644,
        )
    }
}

/// Opens `path` (NUL-terminated) for writing, created or emptied; returns the descriptor, or -1.
pub fn open_truncate(path: &[u8]) -> i32 {
    open_for_writing(path, libc::O_TRUNC)
}

/// Renames `from` to `to` (both NUL-terminated), replacing `to` at once; returns whether it did.
pub fn rename(from: &[u8], to: &[u8]) -> bool {
    let _errno = KeepErrno::new();
    if from.last() != Some(&0) || to.last() != Some(&0) {
        return false;
    }
    // SAFETY: both paths are NUL-terminated (checked above).
    unsafe { libc::rename(from.as_ptr().cast(), to.as_ptr().cast()) == 0 }
}

/// Writes `bytes` to the C stream `stream` (a `FILE *`, for `malloc_info`); false on failure.
///
/// # Safety
/// - `stream` is an open `FILE *`.
pub unsafe fn write_stream(stream: *mut core::ffi::c_void, bytes: &[u8]) -> bool {
    // SAFETY: per the contract; `bytes` is a readable buffer of its length.
    unsafe { libc::fwrite(bytes.as_ptr().cast(), 1, bytes.len(), stream.cast()) == bytes.len() }
}

/// Closes `fd`, ignoring failures.
pub fn close(fd: i32) {
    let _errno = KeepErrno::new();
    // SAFETY: closing a descriptor number has no memory-safety preconditions.
    unsafe { libc::close(fd) };
}

/// Parses leading ASCII digits; stops at the first non-digit; saturates.
pub fn parse_decimal(s: &[u8]) -> usize {
    let mut v: usize = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            break;
        }
        v = v.saturating_mul(10).saturating_add((b - b'0') as usize);
    }
    v
}

/// Writes `bytes` to standard error, ignoring failures (used for messages and the stats table).
#[cold]
#[inline(never)]
#[link_section = ".sacs_rare"]
pub fn write_stderr(bytes: &[u8]) {
    write_fd(2, bytes);
}

/// A private copy of standard error (close-on-exec, numbered 100 or above), for output at
/// exit: many programs close descriptor 2 in their own exit handlers. Returns -1 on failure.
pub fn dup_stderr() -> i32 {
    let _errno = KeepErrno::new();
    // SAFETY: fcntl on a descriptor number has no memory-safety preconditions.
    unsafe { libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 100) }
}

/// Writes `bytes` to descriptor `fd`, ignoring failures.
pub fn write_fd(fd: i32, bytes: &[u8]) {
    let _errno = KeepErrno::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: `rest` is a valid readable buffer of the given length.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            break;
        }
        rest = &rest[n as usize..];
    }
}

extern "C" {
    /// glibc's registration of exit handlers (what `atexit` calls), exported by `libc.so.6`.
    fn __cxa_atexit(
        f: extern "C" fn(*mut core::ffi::c_void),
        arg: *mut core::ffi::c_void,
        dso: *mut core::ffi::c_void,
    ) -> i32;
}

/// Registers `f` to run when the process calls `exit` (with a null argument), as `atexit` does.
/// Returns false if the C library could not register it.
///
/// Not `atexit` itself: glibc defines that one in `libc_nonshared.a`, which a link of the
/// preload library can leave out (it did when cargo built the whole workspace at once), and the
/// symbol then fails to resolve at run time. `__cxa_atexit` is exported by `libc.so.6`; with no
/// DSO handle the handler runs at exit and is never dropped by a `dlclose`, which suits a
/// library that is preloaded and never unloaded.
pub fn at_exit(f: extern "C" fn(*mut core::ffi::c_void)) -> bool {
    // SAFETY: `f` is a plain function that lives as long as the process (a static item).
    unsafe { __cxa_atexit(f, core::ptr::null_mut(), core::ptr::null_mut()) == 0 }
}

/// Aborts the process without unwinding and without allocating.
pub fn abort() -> ! {
    // SAFETY: abort has no preconditions and does not return.
    unsafe { libc::abort() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_is_plausible() {
        let r = resident_bytes();
        assert!(r > 0 && r < (64usize << 30));
    }

    #[test]
    fn decimals_saturate_and_stop_at_the_first_non_digit() {
        assert_eq!(parse_decimal(b"123 456"), 123);
        assert_eq!(parse_decimal(b"x"), 0);
        assert_eq!(parse_decimal(b"99999999999999999999999"), usize::MAX);
    }

    #[test]
    fn errno_round_trips() {
        set_errno(1234);
        {
            let _keep = KeepErrno::new();
            set_errno(5);
        }
        assert_eq!(errno(), 1234);
    }
}
