//! The public large-page API: 2 MiB-aligned regions from the whale tier, for the paged neural
//! field (and any program that manages big buffers itself).
//!
//! A region is a whale mapping that is not a `malloc` block: the caller keeps its length and
//! passes it back to [`release`], which puts the mapping into the whale ring, so a region
//! released and obtained again costs no system call. Regions come with transparent huge pages
//! advised unless `SACS_WHALE_HUGE_PAGES=0`. Fresh regions read as zero; a reused one holds
//! whatever its previous user wrote.

/// Alignment and size granularity of regions (2 MiB).
pub const LARGE_PAGE: usize = crate::whale::LARGE_PAGE;

/// Obtains a region of `len` bytes rounded up to [`LARGE_PAGE`], aligned to [`LARGE_PAGE`].
/// Returns null if `len` is 0, too large, or the system has no memory.
pub fn obtain(len: usize) -> *mut u8 {
    crate::process::init();
    crate::heap::tick::global_tick(crate::platform::now_ms(), false);
    crate::whale::obtain_region(len)
}

/// Releases a region.
///
/// # Safety
/// - `ptr` was returned by [`obtain`]`(len)` with this same `len`, and is not used afterwards.
pub unsafe fn release(ptr: *mut u8, len: usize) {
    // SAFETY: the caller's contract is the whale tier's.
    unsafe { crate::whale::release_region(ptr, len) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_aligned_and_reused() {
        let a = obtain(3 << 20);
        assert!(!a.is_null());
        assert_eq!(a as usize % LARGE_PAGE, 0);
        // SAFETY: the region is 4 MiB long (rounded) and ours.
        unsafe {
            assert_eq!(*a.add(5 << 19), 0);
            *a.add((4 << 20) - 1) = 1;
            release(a, 3 << 20);
        }
        let b = obtain(4 << 20);
        assert_eq!(a, b, "the released region comes back from the ring");
        // SAFETY: ours, released once.
        unsafe { release(b, 4 << 20) };
        assert!(obtain(0).is_null());
        assert!(obtain(usize::MAX).is_null());
    }
}
