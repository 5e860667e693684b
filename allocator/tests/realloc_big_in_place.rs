//! `realloc` grows a big block where it is when the slices after it are free
//! (`big::grow_in_place`), keeps its contents either way, and moves it when a neighbour is in
//! the way.
//!
//! One test in this file: the process's big arenas hold only what it allocates, so that the
//! slices after a fresh block are free.

mod common;

use common::*;

/// Grows a block from 40 KiB by an eighth a step, as a string or a list grows by appending,
/// until it would be a whale.
#[test]
fn realloc_grows_big_blocks_in_place_and_moves_them_past_a_neighbour() {
    let mut size = 40 * KIB;
    let mut p = sacs::alloc(size, 16);
    assert!(!p.is_null());
    // SAFETY: `p` is a live block of `size` bytes throughout; each realloc's result replaces
    // it, checked for its whole old contents; freed once at the end.
    unsafe {
        fill(p, size, 1);
        let (mut steps, mut moved) = (0, 0);
        while size + size / 8 < 2 * MIB - 64 * KIB {
            let grown = size + size / 8;
            let q = sacs::realloc(p, grown, 16);
            assert!(!q.is_null(), "realloc to {grown} failed");
            check(q, size, 1, "a grown block's old contents");
            assert!(sacs::usable_size(q) >= grown);
            moved += usize::from(q != p);
            steps += 1;
            (p, size) = (q, grown);
            fill(p, size, 1);
        }
        assert!(steps > 20, "only {steps} steps");
        assert_eq!(
            moved, 0,
            "{moved} of {steps} steps moved a block with free slices after it"
        );

        // A block placed right after it: the next growth must move, keeping the contents, and
        // leave the neighbour alone.
        let span = sacs::usable_size(p).next_multiple_of(64 * KIB);
        let mut neighbours = Vec::new();
        let neighbour = loop {
            let n = sacs::alloc(40 * KIB, 16);
            assert!(!n.is_null());
            fill(n, 40 * KIB, 2);
            neighbours.push(n);
            if n as usize == p as usize + span {
                break n;
            }
            assert!(
                neighbours.len() < 200,
                "no block was placed after the grown one"
            );
        };
        let grown = span + 64 * KIB;
        let q = sacs::realloc(p, grown, 16);
        assert!(!q.is_null());
        assert_ne!(q, p, "grown over its neighbour");
        check(q, size, 1, "a moved block's contents");
        check(neighbour, 40 * KIB, 2, "the neighbour");
        sacs::free(q);
        for n in neighbours {
            check(n, 40 * KIB, 2, "a neighbour");
            sacs::free(n);
        }
    }
}
