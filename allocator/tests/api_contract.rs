//! The contract of every public allocation function of `sacs`, at every size-class boundary and
//! every power-of-two alignment. SACS is also this test binary's global allocator.

mod common;

use common::*;
use sacs::Sacs;
use std::alloc::{GlobalAlloc, Layout};
use std::ptr;

#[global_allocator]
static GLOBAL: Sacs = Sacs;

/// Allocates `size` at `align` through `sacs::alloc` and checks the basic promises.
fn alloc_checked(size: usize, align: usize) -> *mut u8 {
    let p = sacs::alloc(size, align);
    assert!(!p.is_null(), "alloc({size}, {align}) returned null");
    assert_eq!(
        p as usize % align,
        0,
        "alloc({size}, {align}) = {p:p} is not aligned"
    );
    assert!(
        sacs::owns(p),
        "owns({p:p}) is false for alloc({size}, {align})"
    );
    // SAFETY: `p` came from sacs::alloc.
    let usable = unsafe { sacs::usable_size(p) };
    assert!(
        usable >= size,
        "usable_size({p:p}) = {usable} < requested {size} (align {align})"
    );
    p
}

/// Allocates every size, keeps them all live, fills each over its whole usable size, checks that
/// no two usable ranges overlap and that every fill survived, then frees them.
fn allocate_fill_verify(sizes: &[usize], align: usize) {
    let mut live: Vec<(*mut u8, usize, u64)> = Vec::with_capacity(sizes.len());
    for (i, &size) in sizes.iter().enumerate() {
        let p = alloc_checked(size, align);
        // SAFETY: p is live and ours.
        let usable = unsafe { sacs::usable_size(p) };
        let tag = (align as u64) << 20 | i as u64;
        // SAFETY: the whole usable size is writable by contract.
        unsafe { fill(p, usable, tag) };
        live.push((p, usable, tag));
    }
    assert_disjoint(
        live.iter()
            .map(|&(p, u, _)| (p as usize, u.max(1)))
            .collect(),
        "usable ranges",
    );
    for &(p, usable, tag) in &live {
        // SAFETY: the block is live with `usable` bytes.
        unsafe { check(p, usable, tag, &format!("align {align}")) };
        // SAFETY: p came from sacs::alloc and is freed once.
        unsafe { sacs::free(p) };
    }
}

#[test]
fn every_class_boundary_up_to_8_mib() {
    let sizes = boundary_sizes(8 * MIB);
    assert!(
        sizes.len() > 300,
        "boundary list too short: {}",
        sizes.len()
    );
    for align in [1, 8, 16] {
        allocate_fill_verify(&sizes, align);
    }
}

#[test]
fn every_alignment_up_to_4_mib() {
    // All sizes up to 64 KiB at every alignment, and the boundaries of the big and whale tiers.
    let mut sizes = boundary_sizes(64 * KIB);
    for s in [
        128 * KIB,
        512 * KIB,
        MIB,
        2 * MIB,
        3 * MIB,
        4 * MIB,
        8 * MIB,
    ] {
        sizes.extend([s - 1, s, s + 1]);
    }
    for align in alignments(4 * MIB) {
        allocate_fill_verify(&sizes, align);
    }
}

#[test]
fn alignment_larger_than_size() {
    for align in alignments(4 * MIB) {
        let mut ptrs = Vec::new();
        for size in [0, 1, 7, 8, 15, 16, 17, 100] {
            let p = alloc_checked(size, align);
            // SAFETY: writable over usable size (>= size).
            unsafe { ptr::write_bytes(p, 0x5A, size) };
            ptrs.push((p as usize, size.max(1)));
        }
        assert_disjoint(ptrs.clone(), "small blocks at large alignment");
        for (p, _) in ptrs {
            // SAFETY: from sacs::alloc.
            unsafe { sacs::free(p as *mut u8) };
        }
    }
}

fn all_zero(p: *const u8, len: usize) -> bool {
    static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
    let mut off = 0;
    while off < len {
        let n = (len - off).min(ZEROS.len());
        // SAFETY: caller guarantees `len` readable bytes.
        if unsafe { std::slice::from_raw_parts(p.add(off), n) } != &ZEROS[..n] {
            return false;
        }
        off += n;
    }
    true
}

#[test]
fn alloc_zeroed_is_zero_even_after_dirty_reuse() {
    let mut reused = 0;
    for &size in &boundary_sizes(8 * MIB) {
        for align in [16, 4096] {
            let p = alloc_checked(size, align);
            // SAFETY: usable bytes are writable.
            let usable = unsafe { sacs::usable_size(p) };
            // SAFETY: as above.
            unsafe { ptr::write_bytes(p, 0xAA, usable) };
            // SAFETY: from sacs::alloc.
            unsafe { sacs::free(p) };
            let z = sacs::alloc_zeroed(size, align);
            assert!(!z.is_null(), "alloc_zeroed({size}, {align}) returned null");
            assert_eq!(z as usize % align, 0);
            // SAFETY: z holds at least `size` bytes.
            assert!(unsafe { sacs::usable_size(z) } >= size);
            assert!(
                all_zero(z, size),
                "alloc_zeroed({size}, {align}) = {z:p} (reused: {}) is not zero",
                z == p
            );
            if z == p {
                reused += 1;
            }
            // SAFETY: from sacs::alloc_zeroed.
            unsafe { sacs::free(z) };
        }
    }
    // The point of the test is dirty reuse; a thread-local free list hands the block straight back.
    assert!(
        reused > 100,
        "alloc_zeroed reused the just-freed block only {reused} times"
    );

    // The same through GlobalAlloc.
    for &size in &boundary_sizes(4 * MIB) {
        let size = size.max(1);
        let layout = Layout::from_size_align(size, 64).unwrap();
        // SAFETY: non-zero size layout.
        unsafe {
            let p = GLOBAL.alloc(layout);
            assert!(!p.is_null());
            ptr::write_bytes(p, 0xAA, size);
            GLOBAL.dealloc(p, layout);
            let z = GLOBAL.alloc_zeroed(layout);
            assert!(!z.is_null());
            assert_eq!(z as usize % 64, 0);
            assert!(
                all_zero(z, size),
                "GlobalAlloc::alloc_zeroed({size}) is not zero"
            );
            GLOBAL.dealloc(z, layout);
        }
    }
}

const REALLOC_CHAIN: &[usize] = &[
    1,
    24,
    100,
    1000,
    1024,
    1025,
    5000,
    32 * KIB,
    32 * KIB + 1,
    100_000,
    2 * MIB - 1,
    2 * MIB,
    3 * MIB,
    9 * MIB,
    2 * MIB + 1,
    MIB,
    40_000,
    30_000,
    1024,
    1000,
    17,
    1,
    6 * MIB,
    64,
];

#[test]
fn realloc_across_tiers_preserves_contents() {
    for align in [1, 16, 64, 4096, 64 * KIB, 2 * MIB] {
        let tag = 77 + align as u64;
        let mut size = REALLOC_CHAIN[0];
        let mut p = alloc_checked(size, align);
        // SAFETY: p holds size bytes.
        unsafe { fill(p, size, tag) };
        for &new in &REALLOC_CHAIN[1..] {
            // SAFETY: p is a live sacs block.
            let q = unsafe { sacs::realloc(p, new, align) };
            assert!(
                !q.is_null(),
                "realloc({size} -> {new}, align {align}) returned null"
            );
            assert_eq!(
                q as usize % align,
                0,
                "realloc({size} -> {new}) lost alignment {align}"
            );
            // SAFETY: q is live.
            assert!(unsafe { sacs::usable_size(q) } >= new);
            // SAFETY: q holds min(size, new) preserved bytes; the pattern is prefix-consistent.
            unsafe {
                check(
                    q,
                    size.min(new),
                    tag,
                    &format!("realloc {size} -> {new} align {align}"),
                )
            };
            // SAFETY: q holds `new` bytes.
            unsafe { fill(q, new, tag) };
            p = q;
            size = new;
        }
        // SAFETY: live block.
        unsafe { sacs::free(p) };
    }
}

#[test]
fn realloc_of_null_allocates_and_global_realloc_preserves() {
    // SAFETY: null is allowed and means allocate.
    let p = unsafe { sacs::realloc(ptr::null_mut(), 300, 16) };
    assert!(!p.is_null() && (p as usize).is_multiple_of(16));
    // SAFETY: p has >= 300 bytes.
    assert!(unsafe { sacs::usable_size(p) } >= 300);
    // SAFETY: live block.
    unsafe { sacs::free(p) };

    for align in [8, 32, 256, 8192] {
        let tag = 900 + align as u64;
        let mut layout = Layout::from_size_align(3, align).unwrap();
        // SAFETY: non-zero layout.
        let mut p = unsafe { GLOBAL.alloc(layout) };
        assert!(!p.is_null());
        // SAFETY: 3 bytes.
        unsafe { fill(p, 3, tag) };
        for &new in &REALLOC_CHAIN[1..] {
            // SAFETY: p was allocated with `layout`; new size is non-zero.
            let q = unsafe { GLOBAL.realloc(p, layout, new) };
            assert!(!q.is_null(), "GlobalAlloc::realloc to {new} failed");
            assert_eq!(q as usize % align, 0);
            // SAFETY: q holds min(old, new) preserved bytes.
            unsafe {
                check(
                    q,
                    layout.size().min(new),
                    tag,
                    &format!("GlobalAlloc realloc to {new}"),
                )
            };
            // SAFETY: q holds new bytes.
            unsafe { fill(q, new, tag) };
            layout = Layout::from_size_align(new, align).unwrap();
            p = q;
        }
        // SAFETY: matching layout.
        unsafe { GLOBAL.dealloc(p, layout) };
    }
}

#[test]
fn foreign_pointers_are_not_ours() {
    static STATIC_BYTES: [u8; 64] = [1; 64];
    let stack = [0u8; 64];
    // SAFETY: plain libc allocation, freed below with libc::free.
    let libc_small = unsafe { libc::malloc(100) } as *const u8;
    // SAFETY: as above; large enough to be a separate glibc mapping.
    let libc_large = unsafe { libc::malloc(8 << 20) } as *const u8;
    let mapped = foreign_mapping(1 << 20) as *mut libc::c_void;
    let libc_text = libc::malloc as *const u8;
    let candidates: Vec<(&str, *const u8)> = vec![
        ("null", ptr::null()),
        ("stack", stack.as_ptr()),
        ("static", STATIC_BYTES.as_ptr()),
        ("libc malloc small", libc_small),
        ("libc malloc large", libc_large),
        ("own mmap", mapped as *const u8),
        (
            "own mmap + 512 KiB",
            (mapped as *const u8).wrapping_add(512 << 10),
        ),
        ("libc text", libc_text),
        ("address 1", std::ptr::dangling::<u8>()),
        ("address 4096", 4096 as *const u8),
        ("top of user space", ((1usize << 47) - 16) as *const u8),
        ("non-canonical", (1usize << 47) as *const u8),
        ("high", (1usize << 56) as *const u8),
        ("max", (usize::MAX & !15) as *const u8),
    ];
    for (what, p) in candidates {
        assert!(!sacs::owns(p), "owns({what} {p:p}) is true");
        // SAFETY: usable_size must accept any address and answer 0 for foreign ones.
        assert_eq!(
            unsafe { sacs::usable_size(p) },
            0,
            "usable_size({what} {p:p}) is not 0"
        );
    }
    // And ours are ours, including memory the Rust runtime got through the global allocator.
    let boxed = Box::new([0u64; 4]);
    assert!(sacs::owns(boxed.as_ptr().cast()));
    let v: Vec<u8> = vec![1; 5 * MIB];
    assert!(sacs::owns(v.as_ptr()));
    // SAFETY: matching frees.
    unsafe {
        libc::free(libc_small as *mut _);
        libc::free(libc_large as *mut _);
        libc::munmap(mapped, 1 << 20);
    }
    std::hint::black_box(&stack);
}

#[test]
fn impossible_sizes_return_null() {
    let huge = [
        isize::MAX as usize,
        isize::MAX as usize + 1,
        usize::MAX - 4096,
        usize::MAX - 15,
        usize::MAX,
        (isize::MAX as usize) - 4096,
    ];
    for &size in &huge {
        for align in [1, 16, 4096, 2 * MIB] {
            let p = sacs::alloc(size, align);
            assert!(p.is_null(), "alloc({size:#x}, {align}) = {p:p}, want null");
            let z = sacs::alloc_zeroed(size, align);
            assert!(
                z.is_null(),
                "alloc_zeroed({size:#x}, {align}) = {z:p}, want null"
            );
        }
    }
    // A failed realloc leaves the block as it was.
    for start in [100, 20_000, 300_000, 3 * MIB] {
        let p = alloc_checked(start, 16);
        // SAFETY: start bytes.
        unsafe { fill(p, start, 4242) };
        for &size in &huge {
            // SAFETY: p is live.
            let q = unsafe { sacs::realloc(p, size, 16) };
            assert!(
                q.is_null(),
                "realloc({start} -> {size:#x}) = {q:p}, want null"
            );
            // SAFETY: p is still live after a failed realloc.
            unsafe { check(p, start, 4242, "block after failed realloc") };
        }
        // SAFETY: live block.
        unsafe { sacs::free(p) };
    }
    // Through GlobalAlloc, with valid but impossible layouts.
    for align in [1usize, 16, 4096, 1 << 20] {
        let layout = Layout::from_size_align(isize::MAX as usize - (align - 1), align).unwrap();
        // SAFETY: non-zero layout.
        let p = unsafe { GLOBAL.alloc(layout) };
        assert!(
            p.is_null(),
            "GlobalAlloc::alloc({layout:?}) = {p:p}, want null"
        );
        // SAFETY: as above.
        let p = unsafe { GLOBAL.alloc_zeroed(layout) };
        assert!(p.is_null());
    }
    // Merely very large: 1 TiB either fails cleanly or works at both ends.
    let p = sacs::alloc(1 << 40, 16);
    if !p.is_null() {
        // SAFETY: if it succeeded, all of it is writable.
        unsafe {
            *p = 1;
            *p.add((1 << 40) - 1) = 2;
            sacs::free(p);
        }
    }
    // The allocator is fine afterwards.
    let p = alloc_checked(48, 16);
    // SAFETY: live block.
    unsafe { sacs::free(p) };
}

#[test]
fn size_zero_gives_unique_pointers() {
    for align in [1, 16, 4096] {
        let ptrs: Vec<*mut u8> = (0..2000).map(|_| alloc_checked(0, align)).collect();
        let mut addrs: Vec<usize> = ptrs.iter().map(|&p| p as usize).collect();
        addrs.sort_unstable();
        addrs.dedup();
        assert_eq!(
            addrs.len(),
            ptrs.len(),
            "size-0 allocations at align {align} are not unique"
        );
        for p in ptrs {
            // SAFETY: from sacs::alloc.
            unsafe { sacs::free(p) };
        }
    }
    // Freeing null is a no-op.
    // SAFETY: null is allowed.
    unsafe { sacs::free(ptr::null_mut()) };
}

#[test]
fn large_pages_api() {
    use sacs::large_pages::{obtain, release, LARGE_PAGE};
    assert_eq!(LARGE_PAGE, 2 * MIB);
    let mut regions = Vec::new();
    for pages in [1, 2, 3, 5] {
        let len = pages * LARGE_PAGE;
        let p = obtain(len);
        assert!(!p.is_null(), "obtain({len}) failed");
        assert_eq!(
            p as usize % LARGE_PAGE,
            0,
            "obtain({len}) = {p:p} not 2 MiB aligned"
        );
        // SAFETY: the region is ours for len bytes.
        unsafe { fill(p, len, pages as u64) };
        regions.push((p, len));
    }
    assert_disjoint(
        regions.iter().map(|&(p, l)| (p as usize, l)).collect(),
        "large pages",
    );
    for &(p, len) in &regions {
        // SAFETY: obtained above with this length.
        unsafe {
            check(p, len, (len / LARGE_PAGE) as u64, "large page region");
            release(p, len);
        }
    }
    let p = obtain((isize::MAX as usize) & !(LARGE_PAGE - 1));
    assert!(p.is_null(), "obtain(isize::MAX) = {p:p}, want null");
}

#[test]
fn many_small_blocks_of_one_class_are_disjoint() {
    // Thousands of blocks of each of a few classes: pages fill, new pages are taken.
    for size in [8, 16, 48, 100, 1024, 1025, 4000, 32768] {
        let n = (4 * MIB / size).min(20_000);
        let ptrs: Vec<*mut u8> = (0..n).map(|_| alloc_checked(size, 1)).collect();
        for (i, &p) in ptrs.iter().enumerate() {
            // SAFETY: size bytes.
            unsafe { fill(p, size, i as u64) };
        }
        assert_disjoint(
            ptrs.iter().map(|&p| (p as usize, size)).collect(),
            "same-class blocks",
        );
        for (i, &p) in ptrs.iter().enumerate() {
            // SAFETY: live block.
            unsafe {
                check(p, size, i as u64, "same-class block");
                sacs::free(p);
            }
        }
    }
}
