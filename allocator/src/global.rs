//! `#[global_allocator]` support: [`Sacs`] implements `GlobalAlloc` over the entry points of
//! [`crate::fast_path`].
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: sacs::Sacs = sacs::Sacs;
//! ```

use core::alloc::{GlobalAlloc, Layout};

use crate::fast_path;
use crate::platform::tls::Reentry;

/// The SACS allocator, for `#[global_allocator]`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sacs;

// SAFETY: every method returns blocks that satisfy the layout's size and alignment, or null;
// blocks stay valid until deallocated; `realloc` keeps contents up to the smaller size.
unsafe impl GlobalAlloc for Sacs {
    #[inline(always)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _guard = Reentry::enter("alloc");
        fast_path::alloc(layout.size(), layout.align())
    }

    #[inline(always)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _guard = Reentry::enter("dealloc");
        // The layout says where the block lies: a small one needs no segment-map look-up.
        // SAFETY: the caller passes a block this allocator returned for `layout` (or for a
        // layout `realloc` changed to it), so `lies_in_segment` speaks for it.
        unsafe {
            if fast_path::lies_in_segment(layout.size(), layout.align()) {
                fast_path::free_in_segment(ptr)
            } else {
                fast_path::free(ptr)
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let _guard = Reentry::enter("alloc_zeroed");
        fast_path::alloc_zeroed(layout.size(), layout.align())
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _guard = Reentry::enter("realloc");
        // SAFETY: the caller passes a live block of `layout`.
        unsafe { fast_path::realloc(ptr, new_size, layout.align()) }
    }
}
