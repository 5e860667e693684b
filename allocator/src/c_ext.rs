//! The C API beyond `malloc`: the `sacs_*` functions of `include/sacs.h` (statistics as a struct
//! and as JSON, printing, purging, options, large pages, version) and glibc's statistics and
//! tuning calls (`mallinfo`, `mallinfo2`, `mallopt`, `malloc_info`), with SACS's figures. The
//! preload library exports each as a one-line forwarder; `docs/c-api.md` documents them.
//!
//! Nothing here allocates: text goes through fixed buffers on the stack.

use core::ffi::{c_char, c_void};

use crate::options::{self, Opt, OPTIONS};
use crate::platform;
use crate::stats::{Stats, Tier};

/// The version, NUL-terminated for C (`sacs_version()`).
pub static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// `struct sacs_stats` of `include/sacs.h`: a summary of [`Stats`] for C programs. The caller
/// sets `size` to `sizeof(struct sacs_stats)`; fields past it are not written, so a program
/// built against an older, shorter struct keeps working. Fields are only ever added at the end.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CStats {
    pub size: u64,
    pub pid: u64,
    pub elapsed_ms: u64,
    pub allocs: u64,
    pub frees: u64,
    /// Bytes of blocks the program holds (block sizes), in all and per tier.
    pub in_use_bytes: u64,
    pub in_use_tiny: u64,
    pub in_use_mid: u64,
    pub in_use_big: u64,
    pub in_use_whale: u64,
    pub committed_bytes: u64,
    pub peak_committed_bytes: u64,
    pub mapped_bytes: u64,
    pub resident_bytes: u64,
    pub purged_bytes: u64,
    pub syscalls: u64,
    pub threads_live: u64,
    pub invalid_frees: u64,
}

impl CStats {
    fn from(s: &Stats) -> Self {
        let tier = |t: Tier| s.tiers[t as usize].in_use_bytes;
        Self {
            size: core::mem::size_of::<Self>() as u64,
            pid: s.pid as u64,
            elapsed_ms: s.elapsed_ms,
            allocs: s.allocs(),
            frees: s.frees(),
            in_use_bytes: s.in_use_bytes(),
            in_use_tiny: tier(Tier::Tiny),
            in_use_mid: tier(Tier::Mid),
            in_use_big: tier(Tier::Big),
            in_use_whale: tier(Tier::Whale),
            committed_bytes: s.committed_bytes as u64,
            peak_committed_bytes: s.peak_committed_bytes as u64,
            mapped_bytes: s.mapped_bytes as u64,
            resident_bytes: s.resident_bytes as u64,
            purged_bytes: s.purged_bytes,
            syscalls: s.syscall_calls(),
            threads_live: s.heaps_created.saturating_sub(s.heaps_retired),
            invalid_frees: s.invalid_frees,
        }
    }
}

/// `sacs_stats_get`: fills the first `out->size` bytes of `*out` (at most the whole struct).
/// Returns 0, or -1 with `errno` `EINVAL` if `out` is null or `size` is below 8.
///
/// # Safety
/// - `out` is null or points to at least `out->size` writable bytes.
pub unsafe fn stats_get(out: *mut CStats) -> i32 {
    if out.is_null() {
        platform::set_errno(platform::EINVAL);
        return -1;
    }
    // SAFETY: `out` is non-null and points to at least its first field (the contract).
    let size = unsafe { (*out).size } as usize;
    if size < 8 {
        platform::set_errno(platform::EINVAL);
        return -1;
    }
    let mut full = CStats::from(&crate::stats());
    full.size = size.min(core::mem::size_of::<CStats>()) as u64;
    // SAFETY: `full` is a plain struct; the caller provides `size` writable bytes at `out`,
    // and no more than the struct's own length is copied.
    unsafe {
        core::ptr::copy_nonoverlapping(
            &full as *const CStats as *const u8,
            out as *mut u8,
            full.size as usize,
        );
    }
    0
}

/// `sacs_stats_json`: writes the statistics as JSON (one line, [`Stats::write_json`]) into
/// `buf` of `len` bytes, NUL-terminated when `len > 0`, like `snprintf`: returns the length of
/// the whole text (without the NUL), which was cut if it is `len` or more.
///
/// # Safety
/// - `buf` points to `len` writable bytes (or `len` is 0).
pub unsafe fn stats_json(buf: *mut c_char, len: usize) -> usize {
    let mut text = [0u8; crate::stats::JSON_MAX];
    let n = crate::stats().write_json(&mut text);
    if len > 0 && !buf.is_null() {
        let copied = n.min(len - 1);
        // SAFETY: the caller's buffer holds `len` bytes; `copied + 1 <= len`.
        unsafe {
            core::ptr::copy_nonoverlapping(text.as_ptr(), buf as *mut u8, copied);
            *buf.add(copied) = 0;
        }
    }
    n
}

/// `sacs_stats_print` and `malloc_stats`: writes the statistics table (`json == 0`) or the JSON
/// object to `fd`, without allocating (both fit 8 KiB).
#[inline(never)]
#[link_section = ".sacs_rare"]
pub fn stats_print(fd: i32, json: bool) {
    let s = crate::stats();
    let mut buf = [0u8; 8192];
    let n = if json {
        s.write_json(&mut buf)
    } else {
        s.write_table(&mut buf)
    };
    platform::write_fd(fd, &buf[..n]);
}

/// The statistics at exit, as `SACS_STATS` asks (nothing when it is 0): the table or JSON,
/// appended to `SACS_STATS_FILE` (its `%p` replaced by the process ID) or else written to `fd`.
pub fn stats_at_exit(fd: i32) {
    let mode = options::get(Opt::Stats);
    if mode == 0 {
        return;
    }
    write_stats_at_exit(fd, mode == 2);
}

/// [`stats_at_exit`]'s work, once `SACS_STATS` asked for it.
#[inline(never)]
#[link_section = ".sacs_rare"]
fn write_stats_at_exit(fd: i32, json: bool) {
    let mut pattern = [0u8; options::STATS_FILE_MAX];
    let Some(pattern_len) = options::stats_file(&mut pattern) else {
        return stats_print(fd, json);
    };
    let mut path = [0u8; 600];
    let Some(len) = expand_pid(&pattern[..pattern_len], platform::process_id(), &mut path) else {
        platform::write_stderr(
            b"sacs: SACS_STATS_FILE is too long; statistics on standard error\n",
        );
        return stats_print(fd, json);
    };
    let file = platform::open_append(&path[..len + 1]);
    if file < 0 {
        let mut m = [0u8; 700];
        let mut w = crate::stats::Writer::new(&mut m);
        w.s("sacs: cannot open SACS_STATS_FILE ");
        w.raw(&path[..len]);
        w.s("; statistics on standard error\n");
        let n = w.len;
        platform::write_stderr(&m[..n]);
        return stats_print(fd, json);
    }
    stats_print(file, json);
    platform::close(file);
}

/// Copies `pattern` into `out` with every `%p` replaced by `pid` and a NUL after it; returns the
/// length without the NUL, or `None` if it does not fit.
fn expand_pid(pattern: &[u8], pid: u32, out: &mut [u8]) -> Option<usize> {
    let mut digits = [0u8; 20];
    let pid_text = crate::stats::format_decimal(pid as u64, &mut digits).as_bytes();
    let mut n = 0;
    let mut i = 0;
    while i < pattern.len() {
        let piece: &[u8] = if pattern[i] == b'%' && pattern.get(i + 1) == Some(&b'p') {
            i += 2;
            pid_text
        } else {
            i += 1;
            &pattern[i - 1..i]
        };
        if n + piece.len() >= out.len() {
            return None;
        }
        out[n..n + piece.len()].copy_from_slice(piece);
        n += piece.len();
    }
    out[n] = 0;
    Some(n)
}

/// The option named `name` (a NUL-terminated C string), if SACS has one.
///
/// # Safety
/// - `name` is null or a NUL-terminated string.
unsafe fn option_named(name: *const c_char) -> Option<Opt> {
    if name.is_null() {
        return None;
    }
    // SAFETY: per the contract.
    let name = unsafe { core::ffi::CStr::from_ptr(name) }.to_bytes();
    let i = OPTIONS.iter().position(|o| o.name.as_bytes() == name)?;
    Some(Opt::ALL[i])
}

/// `sacs_option_get`: stores the value of option `name` in `*value`. Returns 0, or -1 with
/// `errno` `EINVAL` if there is no such option or `value` is null.
///
/// # Safety
/// - `name` is null or a NUL-terminated string; `value` is null or writable.
pub unsafe fn option_get(name: *const c_char, value: *mut usize) -> i32 {
    // SAFETY: per the contract.
    match unsafe { option_named(name) } {
        Some(opt) if !value.is_null() => {
            // SAFETY: `value` is non-null and writable (the contract).
            unsafe { *value = options::get(opt) };
            0
        }
        _ => {
            platform::set_errno(platform::EINVAL);
            -1
        }
    }
}

/// Options chosen once at load, which [`option_set`] refuses: which `malloc` entry runs.
const FIXED_AT_LOAD: [Opt; 4] = [
    Opt::Sites,
    Opt::SitesSampleEvery,
    Opt::Profile,
    Opt::ProfileSampleEvery,
];

/// `sacs_option_set`: sets option `name` to `value` for the rest of the process; it takes
/// effect where SACS next reads it. Returns 0, or -1 with `errno` `EINVAL` if there is no such
/// option or it is one chosen at load (`FIXED_AT_LOAD`).
///
/// # Safety
/// - `name` is null or a NUL-terminated string.
pub unsafe fn option_set(name: *const c_char, value: usize) -> i32 {
    // SAFETY: per the contract.
    match unsafe { option_named(name) } {
        Some(opt) if !FIXED_AT_LOAD.contains(&opt) => {
            crate::process::init();
            options::set(opt, value);
            0
        }
        _ => {
            platform::set_errno(platform::EINVAL);
            -1
        }
    }
}

/// `sacs_large_obtain`: a region of `len` bytes (rounded up to 2 MiB), 2 MiB-aligned, from the
/// whale tier; null with `errno` `ENOMEM` on failure.
pub fn large_obtain(len: usize) -> *mut c_void {
    let p = crate::large_pages::obtain(len);
    if p.is_null() {
        platform::set_errno(platform::ENOMEM);
    }
    p.cast()
}

/// `sacs_large_release`: gives back a region of [`large_obtain`]. Null is ignored.
///
/// # Safety
/// - `p` is null or was returned by `large_obtain(len)` with this `len` and is not used after.
pub unsafe fn large_release(p: *mut c_void, len: usize) {
    if !p.is_null() {
        // SAFETY: per the contract.
        unsafe { crate::large_pages::release(p.cast(), len) };
    }
}

/// glibc's `struct mallinfo2` (all `size_t`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MallInfo2 {
    pub arena: usize,
    pub ordblks: usize,
    pub smblks: usize,
    pub hblks: usize,
    pub hblkhd: usize,
    pub usmblks: usize,
    pub fsmblks: usize,
    pub uordblks: usize,
    pub fordblks: usize,
    pub keepcost: usize,
}

/// glibc's `struct mallinfo` (all `int`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MallInfo {
    pub arena: i32,
    pub ordblks: i32,
    pub smblks: i32,
    pub hblks: i32,
    pub hblkhd: i32,
    pub usmblks: i32,
    pub fsmblks: i32,
    pub uordblks: i32,
    pub fordblks: i32,
    pub keepcost: i32,
}

/// `mallinfo2` with SACS's figures: `arena` the bytes committed outside whales (segments),
/// `uordblks` the bytes of live blocks in them, `fordblks` the rest of `arena`; `hblks` and
/// `hblkhd` the live whales (SACS's mmapped blocks) and their bytes; `usmblks` the peak of
/// committed bytes. The free-chunk counts (`ordblks`, `smblks`, `fsmblks`) and `keepcost` have
/// no meaning in SACS and are 0.
pub fn mallinfo2() -> MallInfo2 {
    let s = crate::stats();
    let whale = &s.tiers[Tier::Whale as usize];
    let whale_bytes = whale.in_use_bytes as usize;
    let arena = s.committed_bytes.saturating_sub(whale_bytes);
    let used = (s.in_use_bytes() as usize).saturating_sub(whale_bytes);
    MallInfo2 {
        arena,
        hblks: whale.allocs.saturating_sub(whale.frees) as usize,
        hblkhd: whale_bytes,
        usmblks: s.peak_committed_bytes,
        uordblks: used.min(arena),
        fordblks: arena.saturating_sub(used),
        ..MallInfo2::default()
    }
}

/// `mallinfo`: [`mallinfo2`] with each figure capped at `INT_MAX` (glibc's wraps).
pub fn mallinfo() -> MallInfo {
    let m = mallinfo2();
    let c = |v: usize| v.min(i32::MAX as usize) as i32;
    MallInfo {
        arena: c(m.arena),
        ordblks: c(m.ordblks),
        smblks: c(m.smblks),
        hblks: c(m.hblks),
        hblkhd: c(m.hblkhd),
        usmblks: c(m.usmblks),
        fsmblks: c(m.fsmblks),
        uordblks: c(m.uordblks),
        fordblks: c(m.fordblks),
        keepcost: c(m.keepcost),
    }
}

/// glibc's `M_CHECK_ACTION`, the one `mallopt` parameter SACS applies.
pub const M_CHECK_ACTION: i32 = -5;

/// `mallopt`: returns 1 where SACS applies the parameter, 0 where it has no meaning for SACS.
/// `M_CHECK_ACTION` (-5) sets what a bad pointer does after its message: a value with bit 2
/// set aborts (`SACS_ON_ERROR=abort`), any other continues (`SACS_ON_ERROR=continue`). The
/// others (`M_MXFAST`, `M_TRIM_THRESHOLD`, `M_TOP_PAD`, `M_MMAP_THRESHOLD`, `M_MMAP_MAX`,
/// `M_PERTURB`, `M_ARENA_TEST`, `M_ARENA_MAX`) tune structures SACS does not have (fast bins,
/// a heap top, a movable mmap threshold, arenas shared by threads) and return 0.
#[cold]
#[link_section = ".sacs_rare"]
pub fn mallopt(param: i32, value: i32) -> i32 {
    if param == M_CHECK_ACTION {
        crate::process::init();
        let abort = value & 2 != 0;
        options::set(Opt::OnError, usize::from(!abort));
        return 1;
    }
    0
}

/// `malloc_info`: writes SACS's figures in the shape of glibc's XML to `write` (which gets the
/// text in pieces). `options` must be 0; otherwise -1 with `errno` `EINVAL`, as glibc does.
#[link_section = ".sacs_rare"]
pub fn malloc_info(options: i32, mut write: impl FnMut(&[u8]) -> bool) -> i32 {
    if options != 0 {
        platform::set_errno(platform::EINVAL);
        return -1;
    }
    let s = crate::stats();
    let m = mallinfo2();
    let mut buf = [0u8; 2048];
    let mut w = crate::stats::Writer::new(&mut buf);
    let total = |w: &mut crate::stats::Writer, kind: &str, count: u64, size: u64| {
        w.s("<total type=\"");
        w.s(kind);
        w.s("\" count=\"");
        w.num(count);
        w.s("\" size=\"");
        w.num(size);
        w.s("\"/>\n");
    };
    let system = |w: &mut crate::stats::Writer, kind: &str, tag: &str, size: u64| {
        w.s("<");
        w.s(tag);
        w.s(" type=\"");
        w.s(kind);
        w.s("\" size=\"");
        w.num(size);
        w.s("\"/>\n");
    };
    w.s("<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n</sizes>\n");
    total(&mut w, "fast", 0, 0);
    total(&mut w, "rest", 0, m.fordblks as u64);
    system(&mut w, "current", "system", m.arena as u64);
    system(&mut w, "max", "system", s.peak_committed_bytes as u64);
    system(&mut w, "total", "aspace", s.mapped_bytes as u64);
    system(&mut w, "mprotect", "aspace", s.mapped_bytes as u64);
    w.s("</heap>\n");
    total(&mut w, "fast", 0, 0);
    total(&mut w, "rest", 0, m.fordblks as u64);
    total(&mut w, "mmap", m.hblks as u64, m.hblkhd as u64);
    system(&mut w, "current", "system", s.committed_bytes as u64);
    system(&mut w, "max", "system", s.peak_committed_bytes as u64);
    system(&mut w, "total", "aspace", s.mapped_bytes as u64);
    system(&mut w, "mprotect", "aspace", s.mapped_bytes as u64);
    w.s("</malloc>\n");
    let n = w.len;
    if write(&buf[..n]) {
        0
    } else {
        -1
    }
}

/// [`malloc_info`] to a C stream.
///
/// # Safety
/// - `stream` is an open `FILE *` (or `options` is not 0).
pub unsafe fn malloc_info_to(options: i32, stream: *mut c_void) -> i32 {
    // SAFETY: per the contract.
    malloc_info(options, |b| unsafe { platform::write_stream(stream, b) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_is_expanded_everywhere_and_long_paths_refused() {
        let mut out = [0u8; 64];
        let n = expand_pid(b"/tmp/s.%p.json", 42, &mut out).unwrap();
        assert_eq!(&out[..n + 1], b"/tmp/s.42.json\0");
        let n = expand_pid(b"%p-%p%", 7, &mut out).unwrap();
        assert_eq!(&out[..n], b"7-7%");
        let mut short = [0u8; 8];
        assert_eq!(expand_pid(b"/tmp/%p/long", 123456, &mut short), None);
    }

    #[test]
    fn options_by_name_round_trip_and_refuse_the_unknown() {
        let mut v = 0usize;
        // SAFETY: NUL-terminated literals and a local out-parameter.
        unsafe {
            assert_eq!(option_set(c"SACS_SEGMENT_CACHE".as_ptr(), 5), 0);
            assert_eq!(option_get(c"SACS_SEGMENT_CACHE".as_ptr(), &mut v), 0);
            assert_eq!(v, 5);
            assert_eq!(option_set(c"SACS_SEGMENT_CACHE".as_ptr(), 8), 0);
            assert_eq!(option_get(c"SACS_NOPE".as_ptr(), &mut v), -1);
            assert_eq!(platform::errno(), platform::EINVAL);
            assert_eq!(option_set(c"SACS_SITES".as_ptr(), 1), -1, "chosen at load");
            assert_eq!(option_get(core::ptr::null(), &mut v), -1);
        }
    }

    #[test]
    fn a_short_struct_is_filled_only_as_far_as_its_size() {
        let mut words = [u64::MAX; 4];
        words[0] = 24; // size, pid, elapsed_ms
                       // SAFETY: `words` holds 32 writable bytes, more than the 24 asked for.
        assert_eq!(unsafe { stats_get(words.as_mut_ptr() as *mut CStats) }, 0);
        assert_eq!(words[0], 24);
        assert_eq!(words[1], platform::process_id() as u64);
        assert_eq!(words[3], u64::MAX, "past `size` nothing is written");
        let mut tiny = [4u64];
        // SAFETY: as above (8 bytes).
        assert_eq!(unsafe { stats_get(tiny.as_mut_ptr() as *mut CStats) }, -1);
    }

    #[test]
    fn json_is_cut_like_snprintf() {
        // Each call takes its own snapshot, and the other tests of this binary allocate
        // meanwhile, so two calls may give texts of different lengths: each call is checked
        // against itself.
        let mut buf = [0x55 as c_char; 16];
        // SAFETY: `buf` holds 16 bytes.
        let n = unsafe { stats_json(buf.as_mut_ptr(), buf.len()) };
        assert!(
            n > 100,
            "the whole text's length is returned, not the bytes written"
        );
        assert_eq!(buf[15], 0);
        assert_eq!(buf[0] as u8, b'{');
        // SAFETY: a null buffer of length 0 only measures.
        assert!(unsafe { stats_json(core::ptr::null_mut(), 0) } > 100);
        let mut whole = [0x55 as c_char; 8192];
        // SAFETY: `whole` holds 8 KiB, room for the whole text.
        let n = unsafe { stats_json(whole.as_mut_ptr(), whole.len()) };
        assert!(n < whole.len());
        assert_eq!(whole[n], 0, "the text ends at the length returned");
        assert!(whole[..n].iter().all(|&c| c != 0));
    }

    #[test]
    fn mallinfo_adds_up_and_mallopt_applies_only_what_it_can() {
        let p = crate::c_api::malloc(3 << 20);
        let m = mallinfo2();
        assert!(m.hblks >= 1 && m.hblkhd >= 3 << 20, "{m:?}");
        assert_eq!(m.uordblks + m.fordblks, m.arena);
        // SAFETY: `p` came from malloc.
        unsafe { crate::c_api::free(p) };
        assert_eq!(mallopt(-8, 1), 0, "M_ARENA_MAX has no meaning for SACS");
        let before = options::get(Opt::OnError);
        assert_eq!(mallopt(M_CHECK_ACTION, 3), 1);
        assert_eq!(options::get(Opt::OnError), 0, "bit 2: abort");
        options::set(Opt::OnError, before);
        let mut xml = [0u8; 2048];
        let mut n = 0;
        assert_eq!(
            malloc_info(0, |b| {
                xml[n..n + b.len()].copy_from_slice(b);
                n += b.len();
                true
            }),
            0
        );
        let text = core::str::from_utf8(&xml[..n]).unwrap();
        assert!(text.starts_with("<malloc version=\"1\">") && text.ends_with("</malloc>\n"));
        assert!(text.contains("<total type=\"mmap\""));
        assert_eq!(malloc_info(1, |_| true), -1);
    }
}
