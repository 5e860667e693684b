//! Blocks freed on a page that is not current are handed out again before the current page
//! carves blocks it never used: a program whose live set stays the same size does not spread
//! over more memory. (Before this held, the current page carved on until it was exhausted while
//! other pages of its class had room, so a class's pages were each carved to the end: `ring`, a
//! thread keeping 1024 blocks of 16 B – 1 KiB live while it replaces them, held 1.35 MiB
//! more than at its start; with reuse first, 1.19 MiB.)
//!
//! A thread of its own, so that its heap starts with no page of the class.

use std::collections::HashSet;

/// A tiny class's size: pages of one 64 KiB slice, 4 blocks carved at a time.
const SIZE: usize = 1024;
/// Blocks a page carves at a time (4 KiB worth).
const CARVED_AT_ONCE: usize = 4096 / SIZE;

/// The 64 KiB slice a block lies in: a tiny page is one slice.
fn slice_of(p: *mut u8) -> usize {
    p as usize >> 16
}

#[test]
fn blocks_freed_on_another_page_come_before_never_used_ones() {
    std::thread::spawn(|| {
        // Allocate until a block lands on a second page: the first one is then carved to its
        // end, and the second (now current) has only its first few blocks carved.
        let mut first_page = vec![sacs::alloc(SIZE, 8)];
        let second = loop {
            let p = sacs::alloc(SIZE, 8);
            assert!(!p.is_null());
            if slice_of(p) != slice_of(first_page[0]) {
                break p;
            }
            first_page.push(p);
        };
        assert!(
            first_page.len() >= 32,
            "a tiny page of {SIZE} B blocks holds at least 32"
        );
        // Free every other block of the first page: it has room again, while the current page
        // still has never-used blocks to carve.
        let freed: HashSet<usize> = first_page.iter().step_by(2).map(|&p| p as usize).collect();
        for &p in &freed {
            // SAFETY: live blocks of `sacs::alloc`, freed once.
            unsafe { sacs::free(p as *mut u8) };
        }
        // The current page hands out what it already carved; then the freed blocks must come
        // back before it carves more.
        let again: Vec<*mut u8> = (0..first_page.len())
            .map(|_| sacs::alloc(SIZE, 8))
            .collect();
        assert!(again.iter().all(|p| !p.is_null()));
        let reused = again
            .iter()
            .filter(|&&p| freed.contains(&(p as usize)))
            .count();
        let new_blocks = again.len() - reused;
        assert_eq!(
            reused,
            freed.len(),
            "{new_blocks} of {} allocations were blocks never used before, although {} freed \
             blocks were free",
            again.len(),
            freed.len()
        );
        assert!(new_blocks <= CARVED_AT_ONCE + (again.len() - freed.len()));
        let kept = first_page.iter().skip(1).step_by(2);
        for &p in kept.chain(&again).chain([&second]) {
            // SAFETY: live blocks, freed once.
            unsafe { sacs::free(p) };
        }
    })
    .join()
    .unwrap();
}
