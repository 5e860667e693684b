//! `libsacs.so`: the C allocation API for `LD_PRELOAD=libsacs.so program`.
//!
//! Every export is a one-line forwarder to `sacs::c_api` (C semantics live in the core, where
//! unit tests reach them). C++ `operator new` / `delete` in all their forms are exported too, so
//! C++ programs reach SACS without going through `malloc`. A non-`nothrow` `operator new` that
//! cannot get memory prints a line and aborts: Rust cannot throw `std::bad_alloc`.
//!
//! At load time a constructor reads the `SACS_*` options and, with `SACS_STATS=1` or
//! `SACS_PROFILE=1`, registers the printing of the statistics table and / or the heap profile
//! at exit.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![allow(clippy::missing_safety_doc)] // the C API's contracts are the C standard's

use core::ffi::c_void;
use core::sync::atomic::{AtomicI32, AtomicPtr, Ordering::Relaxed};
use core_sacs::c_api as c;
use core_sacs::c_ext as x;
use core_sacs::options::{self, Opt};

// std brings its own panic handler when it is linked (the `tls-std` variant, a test build).
#[cfg(not(any(test, feature = "tls-std")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    c::fatal(b"sacs: internal error (panic)\n")
}

/// A naked entry `$name($args) -> $ret` that jumps through `$entry`, a function pointer chosen
/// once at load. The jump through the pointer is one instruction like a direct one (x86_64), and
/// the entry it reaches sees the caller's return address where `$name`'s caller left it (at the
/// top of the stack on x86_64, in the link register on aarch64): the Site Rules entries take
/// their call site from there ([`site_trampoline`]), the plain ones ignore it.
macro_rules! pointer_entry {
    ($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty, $entry:ident) => {
        $(#[$doc])*
        #[cfg(all(
            any(target_arch = "x86_64", target_arch = "aarch64"),
            not(feature = "no-site")
        ))]
        #[unsafe(naked)]
        #[no_mangle]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            core::arch::naked_asm!(
                "jmp qword ptr [rip + {entry}]",
                entry = sym $entry,
            );
            #[cfg(target_arch = "aarch64")]
            core::arch::naked_asm!(
                "adrp x16, {entry}",
                "ldr x16, [x16, :lo12:{entry}]",
                "br x16",
                entry = sym $entry,
            );
        }
    };
}

/// A naked trampoline `$name` that a [`pointer_entry`] may jump to: it passes its caller's
/// return address (the call site: the entry jumped, it did not call) to `$target` as one more
/// argument, in `$x86` / `$arm` (the register after the last argument), and jumps there.
/// Capturing it costs one load (x86_64) or one move (aarch64), paid only by the Site Rules
/// entries.
macro_rules! site_trampoline {
    ($name:ident, $x86:literal, $arm:literal, $target:ident) => {
        #[cfg(all(
            any(target_arch = "x86_64", target_arch = "aarch64"),
            not(feature = "no-site")
        ))]
        #[unsafe(naked)]
        unsafe extern "C" fn $name() {
            #[cfg(target_arch = "x86_64")]
            core::arch::naked_asm!(
                concat!("mov ", $x86, ", qword ptr [rsp]"),
                "jmp {target}",
                target = sym $target,
            );
            #[cfg(target_arch = "aarch64")]
            core::arch::naked_asm!(
                concat!("mov ", $arm, ", x30"),
                "b {target}",
                target = sym $target,
            );
        }
    };
}

pointer_entry!(
    /// `malloc`: jumps to [`MALLOC_AT`]: [`malloc_plain`] with Site Rules off, else a trampoline
    /// that adds the allocation site as a second argument.
    malloc(size: usize) -> *mut c_void, MALLOC_AT
);

/// `malloc` where the return address cannot be captured (or `no-site`): the site is 0.
#[cfg(any(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    feature = "no-site"
))]
#[no_mangle]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    c::malloc_at(size, 0)
}

/// Where `malloc` goes: [`malloc_plain`], or, as `SACS_SITES` and `SACS_PROFILE` ask, a
/// trampoline to one of the Site Rules entries ([`malloc_at_sites`] for `observe`,
/// [`malloc_at_placed`] for `on`, [`malloc_at_profiled`] / [`malloc_at_placed_profiled`] with
/// the heap profile). Chosen once, by the load-time constructor, before the program's own code
/// runs (the C library's start-up allocations before it take the plain entry); never changed
/// after, so with Site Rules off `malloc` executes one indirect jump and the plain entry, the
/// instructions it had as a direct jump before Site Rules existed. (An atomic holding the
/// function's address: the naked entry's `jmp` reads it as a relaxed load would.)
#[cfg_attr(feature = "no-site", allow(dead_code))]
static MALLOC_AT: AtomicPtr<()> = AtomicPtr::new(malloc_plain as *mut ());

/// `malloc` with Site Rules off: the call site is not read.
#[cfg_attr(feature = "no-site", allow(dead_code))]
extern "C" fn malloc_plain(size: usize) -> *mut c_void {
    c::malloc_at(size, 0)
}

/// The `extern "C"` entries the `malloc` trampolines jump to, one per `c_api` function of the
/// same name (`malloc(size)` with the call site as a second argument), each with its trampoline.
macro_rules! malloc_entries {
    ($($name:ident => $trampoline:ident),*) => {$(
        #[cfg_attr(feature = "no-site", allow(dead_code))]
        #[link_section = ".sacs_rare"]
        extern "C" fn $name(size: usize, site: usize) -> *mut c_void {
            c::$name(size, site)
        }
        site_trampoline!($trampoline, "rsi", "x1", $name);
    )*};
}

malloc_entries!(
    malloc_at_sites => malloc_at_sites_from_caller,
    malloc_at_placed => malloc_at_placed_from_caller,
    malloc_at_profiled => malloc_at_profiled_from_caller,
    malloc_at_placed_profiled => malloc_at_placed_profiled_from_caller
);

#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: the C contract of free.
    unsafe { c::free(p) }
}

#[no_mangle]
pub unsafe extern "C" fn cfree(p: *mut c_void) {
    // SAFETY: the C contract of free.
    unsafe { c::free(p) }
}

pointer_entry!(
    /// `calloc`: jumps to [`CALLOC_AT`]: [`calloc_plain`] with Site Rules off, else a trampoline
    /// that adds the allocation site as a third argument.
    calloc(n: usize, size: usize) -> *mut c_void, CALLOC_AT
);

/// `calloc` where the return address cannot be captured (or `no-site`).
#[cfg(any(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    feature = "no-site"
))]
#[no_mangle]
pub extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    c::calloc(n, size)
}

/// Where `calloc` goes: [`calloc_plain`], or a trampoline to the Site Rules entry of the same
/// options as `malloc`'s ([`MALLOC_AT`]); chosen once by the load-time constructor.
#[cfg_attr(feature = "no-site", allow(dead_code))]
static CALLOC_AT: AtomicPtr<()> = AtomicPtr::new(calloc_plain as *mut ());

/// `calloc` with Site Rules off: the call site is not read.
#[cfg_attr(feature = "no-site", allow(dead_code))]
extern "C" fn calloc_plain(n: usize, size: usize) -> *mut c_void {
    c::calloc(n, size)
}

/// The `extern "C"` entries the `calloc` trampolines jump to, one per `c_api` function of the
/// same name (`calloc(n, size)` with the call site as a third argument), each with its trampoline.
macro_rules! calloc_entries {
    ($($name:ident => $trampoline:ident),*) => {$(
        #[cfg_attr(feature = "no-site", allow(dead_code))]
        #[link_section = ".sacs_rare"]
        extern "C" fn $name(n: usize, size: usize, site: usize) -> *mut c_void {
            c::$name(n, size, site)
        }
        site_trampoline!($trampoline, "rdx", "x2", $name);
    )*};
}

calloc_entries!(
    calloc_at_sites => calloc_at_sites_from_caller,
    calloc_at_placed => calloc_at_placed_from_caller,
    calloc_at_profiled => calloc_at_profiled_from_caller,
    calloc_at_placed_profiled => calloc_at_placed_profiled_from_caller
);

pointer_entry!(
    /// `realloc`: jumps to [`REALLOC_AT`]: [`realloc_plain`] with Site Rules off, else a
    /// trampoline that adds the call site as a third argument (the site of a block that must
    /// move). `realloc` is not a HOT path (a block that stays costs a size lookup, one that
    /// moves a copy).
    realloc(p: *mut c_void, size: usize) -> *mut c_void, REALLOC_AT
);

/// `realloc` where the return address cannot be captured (or `no-site`): the site is 0.
#[cfg(any(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    feature = "no-site"
))]
#[no_mangle]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: the C contract of realloc.
    unsafe { c::realloc(p, size) }
}

/// Where `realloc` goes: [`realloc_plain`], or with Site Rules a trampoline to
/// [`realloc_at_sites`] / [`realloc_at_placed`]; chosen once by the load-time constructor, as
/// [`MALLOC_AT`] is.
#[cfg_attr(feature = "no-site", allow(dead_code))]
static REALLOC_AT: AtomicPtr<()> = AtomicPtr::new(realloc_plain as *mut ());

/// `realloc` with Site Rules off: the call site is not read.
#[cfg_attr(feature = "no-site", allow(dead_code))]
unsafe extern "C" fn realloc_plain(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: the C contract of realloc.
    unsafe { c::realloc(p, size) }
}

/// The `extern "C"` entries the `realloc` trampolines jump to, one per `c_api` function of the
/// same name, each with its trampoline.
macro_rules! realloc_entries {
    ($($name:ident => $trampoline:ident),*) => {$(
        #[cfg_attr(feature = "no-site", allow(dead_code))]
        #[link_section = ".sacs_rare"]
        unsafe extern "C" fn $name(p: *mut c_void, size: usize, site: usize) -> *mut c_void {
            // SAFETY: the C contract of realloc.
            unsafe { c::$name(p, size, site) }
        }
        site_trampoline!($trampoline, "rdx", "x2", $name);
    )*};
}

realloc_entries!(
    realloc_at_sites => realloc_at_sites_from_caller,
    realloc_at_placed => realloc_at_placed_from_caller
);

#[no_mangle]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    // SAFETY: the C contract of reallocarray.
    unsafe { c::reallocarray(p, n, size) }
}

#[no_mangle]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32 {
    // SAFETY: the C contract of posix_memalign.
    unsafe { c::posix_memalign(out, align, size) }
}

#[no_mangle]
pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    c::aligned_alloc(align, size)
}

#[no_mangle]
pub extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    c::memalign(align, size)
}

#[no_mangle]
pub extern "C" fn valloc(size: usize) -> *mut c_void {
    c::valloc(size)
}

#[no_mangle]
pub extern "C" fn pvalloc(size: usize) -> *mut c_void {
    c::pvalloc(size)
}

#[no_mangle]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    // SAFETY: the contract of malloc_usable_size.
    unsafe { c::malloc_usable_size(p) }
}

/// `malloc_trim`: gives back everything SACS holds free, now. Returns 1 (memory was released
/// or could have been), as glibc does when it released any.
#[no_mangle]
pub extern "C" fn malloc_trim(_pad: usize) -> i32 {
    core_sacs::purge();
    1
}

/// `malloc_stats`: prints SACS's statistics table on standard error, and the heap profile when
/// `SACS_PROFILE` is on.
#[link_section = ".sacs_rare"]
#[no_mangle]
pub extern "C" fn malloc_stats() {
    x::stats_print(2, false);
    core_sacs::print_profile(2);
}

/// Where the table goes at exit: a copy of standard error made at load time, because many
/// programs (coreutils, mawk) close descriptor 2 in exit handlers that run before this one.
static STATS_FD: AtomicI32 = AtomicI32::new(2);

extern "C" fn print_stats_at_exit(_: *mut c_void) {
    let fd = STATS_FD.load(Relaxed);
    x::stats_at_exit(fd);
    core_sacs::print_profile(fd);
}

/// Points `malloc`, `calloc`, `operator new` and `realloc` at their entries for the options (see
/// [`MALLOC_AT`]).
#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    not(feature = "no-site")
))]
fn choose_entries() {
    let entry = match c::malloc_entry() {
        c::MallocEntry::Plain => malloc_plain as *mut (),
        c::MallocEntry::Sites => malloc_at_sites_from_caller as *mut (),
        c::MallocEntry::Placed => malloc_at_placed_from_caller as *mut (),
        c::MallocEntry::Profiled => malloc_at_profiled_from_caller as *mut (),
        c::MallocEntry::PlacedProfiled => malloc_at_placed_profiled_from_caller as *mut (),
    };
    MALLOC_AT.store(entry, Relaxed);
    let entry = match c::malloc_entry() {
        c::MallocEntry::Plain => calloc_plain as *mut (),
        c::MallocEntry::Sites => calloc_at_sites_from_caller as *mut (),
        c::MallocEntry::Placed => calloc_at_placed_from_caller as *mut (),
        c::MallocEntry::Profiled => calloc_at_profiled_from_caller as *mut (),
        c::MallocEntry::PlacedProfiled => calloc_at_placed_profiled_from_caller as *mut (),
    };
    CALLOC_AT.store(entry, Relaxed);
    let entry = match c::malloc_entry() {
        c::MallocEntry::Plain => new_plain as *mut (),
        c::MallocEntry::Sites => new_at_sites_from_caller as *mut (),
        c::MallocEntry::Placed => new_at_placed_from_caller as *mut (),
        c::MallocEntry::Profiled => new_at_profiled_from_caller as *mut (),
        c::MallocEntry::PlacedProfiled => new_at_placed_profiled_from_caller as *mut (),
    };
    NEW_AT.store(entry, Relaxed);
    let entry = match c::realloc_entry() {
        c::ReallocEntry::Plain => realloc_plain as *mut (),
        c::ReallocEntry::Sites => realloc_at_sites_from_caller as *mut (),
        c::ReallocEntry::Placed => realloc_at_placed_from_caller as *mut (),
    };
    REALLOC_AT.store(entry, Relaxed);
}

/// Where the return address cannot be captured (or `no-site`), `malloc` and `realloc` call the
/// plain entries directly: nothing to choose.
#[cfg(any(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    feature = "no-site"
))]
fn choose_entries() {}

#[ctor::ctor]
fn load() {
    options::load();
    choose_entries();
    if options::get(Opt::Stats) != 0 || options::get(Opt::Profile) != 0 {
        let fd = c::stderr_copy();
        if fd >= 0 {
            STATS_FD.store(fd, Relaxed);
        }
    }
    // Always: `sacs_option_set("SACS_STATS", ...)` may ask for the statistics later.
    c::at_exit(print_stats_at_exit);
}

// ---------------------------------------------------------------------------------------------
// glibc's own names for its allocator (`__libc_malloc` and the rest), which some programs and
// libraries call to reach "the real malloc" (a debugging shim, a leak checker): they must reach
// SACS too, or a block from one is freed by the other (`free(__libc_malloc(n))` would be
// reported as an invalid pointer and abort).

#[no_mangle]
pub extern "C" fn __libc_malloc(size: usize) -> *mut c_void {
    c::malloc(size)
}

#[no_mangle]
pub unsafe extern "C" fn __libc_free(p: *mut c_void) {
    // SAFETY: the C contract of free.
    unsafe { c::free(p) }
}

#[no_mangle]
pub extern "C" fn __libc_calloc(n: usize, size: usize) -> *mut c_void {
    c::calloc(n, size)
}

#[no_mangle]
pub unsafe extern "C" fn __libc_realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: the C contract of realloc.
    unsafe { c::realloc(p, size) }
}

#[no_mangle]
pub extern "C" fn __libc_memalign(align: usize, size: usize) -> *mut c_void {
    c::memalign(align, size)
}

#[no_mangle]
pub extern "C" fn __libc_valloc(size: usize) -> *mut c_void {
    c::valloc(size)
}

#[no_mangle]
pub extern "C" fn __libc_pvalloc(size: usize) -> *mut c_void {
    c::pvalloc(size)
}

#[no_mangle]
pub unsafe extern "C" fn __posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32 {
    // SAFETY: the C contract of posix_memalign.
    unsafe { c::posix_memalign(out, align, size) }
}

// ---------------------------------------------------------------------------------------------
// C++ operators (Itanium ABI names, 64-bit size_t).

#[cold]
fn new_failed() -> ! {
    c::fatal(b"sacs: operator new: out of memory\n")
}

#[inline(always)]
fn new_or_abort(p: *mut c_void) -> *mut c_void {
    if p.is_null() {
        new_failed();
    }
    p
}

pointer_entry!(
    /// `operator new(size_t)`: jumps to [`NEW_AT`], as `malloc` jumps to [`MALLOC_AT`], so that
    /// a C++ program's `new` expressions are call sites of their own for Site Rules.
    _Znwm(size: usize) -> *mut c_void, NEW_AT
);

pointer_entry!(
    /// `operator new[](size_t)`: jumps to [`NEW_AT`].
    _Znam(size: usize) -> *mut c_void, NEW_AT
);

pointer_entry!(
    /// `operator new(size_t, const std::nothrow_t&)`: `malloc` (it returns null on failure),
    /// through [`MALLOC_AT`]; a Site Rules trampoline puts the site where the unused
    /// `nothrow_t` argument was.
    _ZnwmRKSt9nothrow_t(size: usize, nothrow: *const c_void) -> *mut c_void, MALLOC_AT
);

pointer_entry!(
    /// `operator new[](size_t, const std::nothrow_t&)`: as the one above.
    _ZnamRKSt9nothrow_t(size: usize, nothrow: *const c_void) -> *mut c_void, MALLOC_AT
);

/// The `operator new` forms where the return address cannot be captured (or `no-site`).
#[cfg(any(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    feature = "no-site"
))]
mod new_without_site {
    use super::{c, c_void, new_or_abort};

    /// `operator new(size_t)`
    #[no_mangle]
    pub extern "C" fn _Znwm(size: usize) -> *mut c_void {
        new_or_abort(c::malloc(size))
    }

    /// `operator new[](size_t)`
    #[no_mangle]
    pub extern "C" fn _Znam(size: usize) -> *mut c_void {
        new_or_abort(c::malloc(size))
    }

    /// `operator new(size_t, const std::nothrow_t&)`
    #[no_mangle]
    pub extern "C" fn _ZnwmRKSt9nothrow_t(size: usize, _: *const c_void) -> *mut c_void {
        c::malloc(size)
    }

    /// `operator new[](size_t, const std::nothrow_t&)`
    #[no_mangle]
    pub extern "C" fn _ZnamRKSt9nothrow_t(size: usize, _: *const c_void) -> *mut c_void {
        c::malloc(size)
    }
}

/// Where `operator new` and `operator new[]` go: [`new_plain`], or a trampoline to the Site
/// Rules entry of the same options as `malloc`'s; chosen once by the load-time constructor.
#[cfg_attr(feature = "no-site", allow(dead_code))]
static NEW_AT: AtomicPtr<()> = AtomicPtr::new(new_plain as *mut ());

/// `operator new` with Site Rules off: the call site is not read.
#[cfg_attr(feature = "no-site", allow(dead_code))]
extern "C" fn new_plain(size: usize) -> *mut c_void {
    new_or_abort(c::malloc(size))
}

/// The `extern "C"` entries the `operator new` trampolines jump to: the `c_api` `malloc` entry
/// `$malloc` with the call site as a second argument, aborting when it has no memory.
macro_rules! new_entries {
    ($($name:ident = $malloc:ident => $trampoline:ident),*) => {$(
        #[cfg_attr(feature = "no-site", allow(dead_code))]
        #[link_section = ".sacs_rare"]
        extern "C" fn $name(size: usize, site: usize) -> *mut c_void {
            new_or_abort(c::$malloc(size, site))
        }
        site_trampoline!($trampoline, "rsi", "x1", $name);
    )*};
}

new_entries!(
    new_at_sites = malloc_at_sites => new_at_sites_from_caller,
    new_at_placed = malloc_at_placed => new_at_placed_from_caller,
    new_at_profiled = malloc_at_profiled => new_at_profiled_from_caller,
    new_at_placed_profiled = malloc_at_placed_profiled => new_at_placed_profiled_from_caller
);

/// `operator new(size_t, std::align_val_t)`
#[no_mangle]
pub extern "C" fn _ZnwmSt11align_val_t(size: usize, align: usize) -> *mut c_void {
    new_or_abort(c::aligned_alloc(align, size))
}

/// `operator new[](size_t, std::align_val_t)`
#[no_mangle]
pub extern "C" fn _ZnamSt11align_val_t(size: usize, align: usize) -> *mut c_void {
    new_or_abort(c::aligned_alloc(align, size))
}

/// `operator new(size_t, std::align_val_t, const std::nothrow_t&)`
#[no_mangle]
pub extern "C" fn _ZnwmSt11align_val_tRKSt9nothrow_t(
    size: usize,
    align: usize,
    _: *const c_void,
) -> *mut c_void {
    c::aligned_alloc(align, size)
}

/// `operator new[](size_t, std::align_val_t, const std::nothrow_t&)`
#[no_mangle]
pub extern "C" fn _ZnamSt11align_val_tRKSt9nothrow_t(
    size: usize,
    align: usize,
    _: *const c_void,
) -> *mut c_void {
    c::aligned_alloc(align, size)
}

macro_rules! deletes {
    ($($name:ident ( $($arg:ident : $ty:ty),* ) ;)*) => {
        $(
            #[no_mangle]
            pub unsafe extern "C" fn $name(p: *mut c_void $(, $arg: $ty)*) {
                $( let _ = $arg; )*
                // SAFETY: the C++ contract of operator delete: `p` is null or from operator new.
                unsafe { c::free(p) }
            }
        )*
    };
}

deletes! {
    _ZdlPv();
    _ZdaPv();
    _ZdlPvm(size: usize);
    _ZdaPvm(size: usize);
    _ZdlPvRKSt9nothrow_t(nothrow: *const c_void);
    _ZdaPvRKSt9nothrow_t(nothrow: *const c_void);
    _ZdlPvSt11align_val_t(align: usize);
    _ZdaPvSt11align_val_t(align: usize);
    _ZdlPvmSt11align_val_t(size: usize, align: usize);
    _ZdaPvmSt11align_val_t(size: usize, align: usize);
    _ZdlPvSt11align_val_tRKSt9nothrow_t(align: usize, nothrow: *const c_void);
    _ZdaPvSt11align_val_tRKSt9nothrow_t(align: usize, nothrow: *const c_void);
}

// ---------------------------------------------------------------------------------------------
// The C API of include/sacs.h (documented there and in docs/c-api.md).

/// `const char *sacs_version(void)`
#[no_mangle]
pub extern "C" fn sacs_version() -> *const core::ffi::c_char {
    x::VERSION.as_ptr().cast()
}

/// `int sacs_stats_get(struct sacs_stats *out)`
#[link_section = ".sacs_rare"]
#[no_mangle]
pub unsafe extern "C" fn sacs_stats_get(out: *mut x::CStats) -> i32 {
    // SAFETY: the header's contract: `out` holds `out->size` writable bytes.
    unsafe { x::stats_get(out) }
}

/// `size_t sacs_stats_json(char *buf, size_t len)`
#[link_section = ".sacs_rare"]
#[no_mangle]
pub unsafe extern "C" fn sacs_stats_json(buf: *mut core::ffi::c_char, len: usize) -> usize {
    // SAFETY: the header's contract: `buf` holds `len` writable bytes.
    unsafe { x::stats_json(buf, len) }
}

/// `int sacs_stats_print(int fd, int json)`
#[link_section = ".sacs_rare"]
#[no_mangle]
pub extern "C" fn sacs_stats_print(fd: i32, json: i32) -> i32 {
    x::stats_print(fd, json != 0);
    0
}

/// `void sacs_purge(void)`
#[no_mangle]
pub extern "C" fn sacs_purge() {
    core_sacs::purge();
}

/// `int sacs_option_get(const char *name, size_t *value)`
#[link_section = ".sacs_rare"]
#[no_mangle]
pub unsafe extern "C" fn sacs_option_get(name: *const core::ffi::c_char, value: *mut usize) -> i32 {
    // SAFETY: the header's contract: a C string and a writable `size_t`.
    unsafe { x::option_get(name, value) }
}

/// `int sacs_option_set(const char *name, size_t value)`
#[link_section = ".sacs_rare"]
#[no_mangle]
pub unsafe extern "C" fn sacs_option_set(name: *const core::ffi::c_char, value: usize) -> i32 {
    // SAFETY: the header's contract: a C string.
    unsafe { x::option_set(name, value) }
}

/// `void *sacs_large_obtain(size_t len)`
#[no_mangle]
#[link_section = ".sacs_rare"]
pub extern "C" fn sacs_large_obtain(len: usize) -> *mut c_void {
    x::large_obtain(len)
}

/// `void sacs_large_release(void *p, size_t len)`
#[no_mangle]
pub unsafe extern "C" fn sacs_large_release(p: *mut c_void, len: usize) {
    // SAFETY: the header's contract: `p` came from `sacs_large_obtain(len)`.
    unsafe { x::large_release(p, len) }
}

// ---------------------------------------------------------------------------------------------
// glibc's statistics and tuning calls, with SACS's figures (docs/c-api.md).

/// `struct mallinfo2 mallinfo2(void)`
#[link_section = ".sacs_rare"]
#[no_mangle]
pub extern "C" fn mallinfo2() -> x::MallInfo2 {
    x::mallinfo2()
}

/// `struct mallinfo mallinfo(void)`
#[link_section = ".sacs_rare"]
#[no_mangle]
pub extern "C" fn mallinfo() -> x::MallInfo {
    x::mallinfo()
}

/// `int mallopt(int param, int value)`
#[no_mangle]
pub extern "C" fn mallopt(param: i32, value: i32) -> i32 {
    x::mallopt(param, value)
}

/// `int malloc_info(int options, FILE *stream)`
#[link_section = ".sacs_rare"]
#[no_mangle]
pub unsafe extern "C" fn malloc_info(options: i32, stream: *mut c_void) -> i32 {
    // SAFETY: the C contract of malloc_info: `stream` is an open FILE.
    unsafe { x::malloc_info_to(options, stream) }
}
