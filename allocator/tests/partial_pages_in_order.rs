//! Pages that come off the full list are made current in the order they came off it: a page
//! that got one block back a moment ago waits behind one that has had longer to gather freed
//! blocks (architecture.md, "Pages that come off the full list wait their turn"). With the
//! newest first, a program whose frees are scattered over many pages switched pages every block
//! or two (`workload server`: twice the refills, 3.6 times the purges).
//!
//! A thread of its own, so that its heap starts with no page of the class.

use std::collections::HashMap;

/// A tiny class's size: pages of one 64 KiB slice.
const SIZE: usize = 1024;

/// The 64 KiB slice a block lies in: a tiny page is one slice.
fn slice_of(p: *mut u8) -> usize {
    p as usize >> 16
}

#[test]
fn pages_leave_the_full_list_in_turn() {
    std::thread::spawn(|| {
        // Blocks by page, in the order the pages were first seen: allocate until a third page
        // is current, so that the first two are carved to their ends and on the full list.
        let mut pages: Vec<usize> = Vec::new();
        let mut blocks: HashMap<usize, Vec<*mut u8>> = HashMap::new();
        while pages.len() < 3 {
            let p = sacs::alloc(SIZE, 8);
            assert!(!p.is_null());
            let page = slice_of(p);
            if !blocks.contains_key(&page) {
                pages.push(page);
            }
            blocks.entry(page).or_default().push(p);
        }
        let (first, second) = (pages[0], pages[1]);
        assert!(
            blocks[&first].len() >= 32 && blocks[&second].len() >= 32,
            "a tiny page of {SIZE} B blocks holds at least 32"
        );
        // One block of the first page freed, then three of the second: both leave the full
        // list, the first one first.
        let mut freed: HashMap<usize, usize> = HashMap::new();
        for (page, count) in [(first, 1), (second, 3)] {
            for _ in 0..count {
                let p = blocks.get_mut(&page).unwrap().pop().unwrap();
                // SAFETY: a live block of `sacs::alloc`, freed once.
                unsafe { sacs::free(p) };
                freed.insert(p as usize, page);
            }
        }
        // The current page hands out what it carved, then a freed block must come, and from
        // the page that came off the full list first.
        let mut again = Vec::new();
        let reused_from = loop {
            let p = sacs::alloc(SIZE, 8);
            assert!(!p.is_null());
            again.push(p);
            if let Some(&page) = freed.get(&(p as usize)) {
                break page;
            }
            assert!(
                again.len() <= 64,
                "no freed block came back in 64 allocations"
            );
        };
        assert_eq!(
            reused_from, first,
            "the page that got 3 blocks back a moment ago was made current before the one \
             that came off the full list before it"
        );
        for p in blocks.into_values().flatten().chain(again) {
            // SAFETY: live blocks, freed once.
            unsafe { sacs::free(p) };
        }
    })
    .join()
    .unwrap();
}
