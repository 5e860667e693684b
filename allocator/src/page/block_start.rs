//! The block-start check: whether a pointer is the start of a carved block of a small page,
//! with one multiplication, one subtraction, one rotation and one compare (no division), so
//! that the HOT free can refuse an interior or foreign pointer at the cost of a few
//! instructions (architecture.md, "The block-start check").

use core::sync::atomic::Ordering::Relaxed;

use super::Page;

impl Page {
    /// Whether `p` is the start of a carved block of this small page (an interior or foreign
    /// pointer is not). Any thread. `p` must lie within 2 GiB of the page (callers pass a
    /// pointer of the page's own segment).
    #[inline(always)]
    pub fn is_block_start(&self, p: *const u8) -> bool {
        self.is_start_within(p, self.carved.load(Relaxed))
    }

    /// [`is_block_start`](Self::is_block_start) for the page's owner, the HOT free: reads
    /// `carved` plainly, which lets the compare take it straight from memory (one instruction
    /// less than an atomic load).
    ///
    /// # Safety
    /// - the calling thread owns the page: it is the only thread that writes `carved`, so this
    ///   read races with no write (other threads only read it).
    #[inline(always)]
    pub unsafe fn is_block_start_owned(&self, p: *const u8) -> bool {
        // SAFETY: per the contract, no other thread writes the word while we read it.
        let carved = unsafe { *self.carved.as_ptr() };
        self.is_start_within(p, carved)
    }

    /// Whether `p` is `start + k * block_size` with `k < carved`: one multiplication, one
    /// subtraction, one rotation and one compare, no division.
    #[inline(always)]
    fn is_start_within(&self, p: *const u8, carved: u32) -> bool {
        // `p` lies in the page's segment (its entry was found from `p`'s address), so it is
        // within 4 MiB of `start`: the 32-bit difference `offset` is exact, or, for a pointer
        // below `start`, wraps to at least 2^32 - 4 MiB. The product below is taken as
        // `p * inverse - bias`, which is `offset * inverse` modulo 2^32 without computing
        // `offset` (one instruction less).
        let product = (p as usize as u32)
            .wrapping_mul(self.inverse)
            .wrapping_sub(self.bias);
        // With block_size = odd << shift, f(o) = rotate_right(o * inverse mod 2^32, shift) is a
        // bijection of the 32-bit numbers (a product with an odd number, then a rotation). For
        // a multiple o = k * block_size, o * inverse = k << shift (no wrap: k << shift <= 2^32 /
        // odd), so f(o) = k: the multiples take exactly the values 0..=(2^32 - 1) / block_size,
        // and every other offset maps above them, hence to at least `carved` (carved *
        // block_size <= span < 2^32). So one unsigned compare checks both "on a block boundary"
        // and "among the carved blocks"; a pointer below `start` is a multiple with k far above
        // `carved`, or not a multiple.
        let k = product.rotate_right(self.shift);
        k < carved
    }
}

/// `(inverse, shift)` of a block size `d = odd << shift`: `inverse * odd = 1 (mod 2^32)`.
pub const fn divisor_parts(d: u32) -> (u32, u32) {
    debug_assert!(d != 0);
    let shift = d.trailing_zeros();
    let odd = d >> shift;
    // Newton's iteration x' = x * (2 - odd * x) doubles the number of correct low bits; an odd
    // number is its own inverse modulo 8 (3 bits), so four steps give 48 >= 32.
    let mut x = odd;
    let mut i = 0;
    while i < 4 {
        x = x.wrapping_mul(2u32.wrapping_sub(odd.wrapping_mul(x)));
        i += 1;
    }
    (x, shift)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::tests::page_over;
    use crate::page::PageKind;
    use crate::size_class;
    use core::ptr;
    use std::vec;

    #[test]
    fn block_start_check_rejects_interior_pointers() {
        let mut buf = vec![0u8; 65536 * 8];
        for class in [0usize, 5, 16, 39, 40, 60, 79] {
            let mut p = page_over(&mut buf, class);
            while p.can_extend() {
                p.free = ptr::null_mut();
                p.extend();
            }
            let size = size_class::class_size(class);
            for i in [0usize, 1, 7, (p.capacity - 1) as usize] {
                // SAFETY: in bounds of the buffer.
                let b = unsafe { p.start.add(i * size) };
                assert!(p.is_block_start(b), "class {class} block {i}");
                // SAFETY: in bounds of the buffer.
                let inside = unsafe { b.add(size.min(16) / 2) };
                assert!(!p.is_block_start(inside), "class {class} interior");
            }
            // SAFETY: one past the last block is still inside the buffer or one past it.
            assert!(!p.is_block_start(unsafe { p.start.add(p.capacity as usize * size) }));
            assert!(!p.is_block_start(buf.as_ptr().wrapping_sub(64)));
        }
    }

    #[test]
    fn block_start_check_agrees_with_division_everywhere() {
        // Every class, every byte from 64 KiB below the span to 64 KiB past it, with a third
        // of the blocks carved: the check must say exactly "start + k * size, k < carved". The
        // page is set up over a made-up address that is never dereferenced.
        let start = 0x7e00_0040_0000usize as *mut u8;
        for class in 0..size_class::SMALL_CLASSES {
            let size = size_class::class_size(class);
            let span = if class < size_class::TINY_CLASSES {
                65536
            } else {
                8 * 65536
            };
            let mut p = Page::zeroed();
            p.init(PageKind::Small, class, start, span, 1);
            assert_eq!(
                p.inverse.wrapping_mul(size as u32 >> p.shift),
                1,
                "class {class}"
            );
            let carved = (span / size / 3).max(1);
            for offset in -65536..(span + 65536) as isize {
                let q = start.wrapping_offset(offset);
                let expect = offset >= 0
                    && (offset as usize).is_multiple_of(size)
                    && (offset as usize / size) < carved;
                assert_eq!(
                    p.is_start_within(q, carved as u32),
                    expect,
                    "class {class} size {size} offset {offset}"
                );
            }
        }
    }
}
