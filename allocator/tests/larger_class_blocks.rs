//! A class whose current page would carve never-used blocks takes a spare free block of a
//! slightly larger class first (`SACS_LARGER_CLASS_SPAN`, architecture.md "Blocks of a larger
//! class"): only from a class at most half again as large, whose blocks are aligned at least as
//! well, whose page keeps 4 KiB of free blocks; the block is freed back to its own page; span 0
//! turns it off.
//!
//! One test, on threads of its own (so that each starts with no page of the classes used), since
//! it changes a process-wide option.

use sacs::options::{self, Opt};

/// Allocates `n` blocks of `size` and frees all but `keep` of them: the class's current page is
/// left with many carved blocks free (spare to lend).
fn leave_spare(size: usize, n: usize, keep: usize) -> Vec<*mut u8> {
    let blocks: Vec<*mut u8> = (0..n).map(|_| sacs::alloc(size, 8)).collect();
    assert!(blocks.iter().all(|p| !p.is_null()));
    for &p in &blocks[keep..] {
        // SAFETY: live blocks of `sacs::alloc`, freed once.
        unsafe { sacs::free(p) };
    }
    blocks[..keep].to_vec()
}

/// Allocates blocks of `size` (aligned to `align`) until one is served with another usable size
/// than `class`, at most `limit` of them; returns them all, the odd one last if there was one.
fn until_another_size(size: usize, align: usize, class: usize, limit: usize) -> Vec<*mut u8> {
    let mut out = Vec::new();
    for _ in 0..limit {
        let p = sacs::alloc(size, align);
        assert!(!p.is_null());
        assert_eq!(p as usize % align, 0, "{size} B aligned to {align}: {p:p}");
        out.push(p);
        // SAFETY: a live block of `sacs::alloc`.
        if unsafe { sacs::usable_size(p) } != class {
            break;
        }
    }
    out
}

fn free_all(blocks: &[*mut u8]) {
    for &p in blocks {
        // SAFETY: live blocks of `sacs::alloc`, freed once.
        unsafe { sacs::free(p) };
    }
}

fn on_a_new_thread(f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(f).join().unwrap();
}

#[test]
fn a_class_about_to_carve_takes_a_larger_class_spare_block() {
    assert_eq!(options::get(Opt::LargerClassSpan), 4, "the default span");

    // 288 B blocks (a multiple of 32) may come from the 320 B class (a multiple of 64), whose
    // page has 36 of its 40 blocks free.
    on_a_new_thread(|| {
        let kept = leave_spare(320, 40, 4);
        let before = sacs::stats().larger_class_blocks;
        let small = until_another_size(288, 8, 288, 200);
        let odd = *small.last().unwrap();
        // SAFETY: a live block.
        let odd_size = unsafe { sacs::usable_size(odd) };
        assert_eq!(
            odd_size,
            320,
            "after {} blocks of 288 B, none came from the 320 B class",
            small.len()
        );
        assert!(
            small.len() <= 4096 / 288 + 1,
            "the first carve's {} blocks are used first, then the larger class lends, before \
             the page carves again ({} allocations)",
            4096 / 288,
            small.len()
        );
        assert!(sacs::stats().larger_class_blocks > before);
        // Written whole, and freed to its own page: the 320 B class hands it out next.
        // SAFETY: `odd` is a live block of `odd_size` bytes.
        unsafe { odd.write_bytes(0xa5, odd_size) };
        free_all(&[odd]);
        let again = sacs::alloc(320, 8);
        assert_eq!(again, odd, "a lent block goes back to its own page");
        free_all(&small[..small.len() - 1]);
        free_all(&[again]);
        free_all(&kept);
    });

    // 256 B blocks (a multiple of 256) never come from 288 – 384 B (multiples of at most 128),
    // whatever those pages have free: blocks aligned to 256 stay aligned.
    on_a_new_thread(|| {
        let mut kept = Vec::new();
        for larger in [288, 320, 352, 384] {
            kept.extend(leave_spare(larger, 40, 2));
        }
        let before = sacs::stats().larger_class_blocks;
        for align in [8, 256] {
            let blocks = until_another_size(256, align, 256, 60);
            // SAFETY: a live block.
            let last = unsafe { sacs::usable_size(*blocks.last().unwrap()) };
            assert_eq!(last, 256, "a 256 B request got a block of {last} B");
            free_all(&blocks);
        }
        assert_eq!(sacs::stats().larger_class_blocks, before);
        free_all(&kept);
    });

    // Not from a class more than half again as large: 160 B blocks (multiples of 32) do not
    // come from 256 B ones, four classes up but 1.6 times the size.
    on_a_new_thread(|| {
        let kept = leave_spare(256, 40, 2);
        let blocks = until_another_size(160, 8, 160, 60);
        // SAFETY: a live block.
        let last = unsafe { sacs::usable_size(*blocks.last().unwrap()) };
        assert_eq!(last, 160);
        free_all(&blocks);
        free_all(&kept);
    });

    // Span 0: every block is its own class's.
    options::set(Opt::LargerClassSpan, 0);
    on_a_new_thread(|| {
        let kept = leave_spare(320, 40, 4);
        let blocks = until_another_size(288, 8, 288, 60);
        // SAFETY: a live block.
        let last = unsafe { sacs::usable_size(*blocks.last().unwrap()) };
        assert_eq!(
            last, 288,
            "with SACS_LARGER_CLASS_SPAN=0 a 288 B request got {last} B"
        );
        free_all(&blocks);
        free_all(&kept);
    });
    options::set(Opt::LargerClassSpan, 4);
    #[cfg(feature = "validate")]
    sacs::validate();
}
