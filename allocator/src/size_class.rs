//! Size classes: which block size serves a request, by table lookup (tiny and mid) or by a few
//! bit operations (big), never by a loop.
//!
//! Classes are 8, 16, …, 128 bytes (8-byte steps), then eight per doubling (144, 160, …, 256,
//! 288, …), so above 64 B a request never gets more than 12.5 % more than it asked for.
//! Class `c` has size [`class_size`]`(c)`:
//!
//! | classes | sizes | tier |
//! | --- | --- | --- |
//! | 0 – 39 | 8 B – 1 KiB | tiny (TinySlab) |
//! | 40 – 79 | 1152 B – 32 KiB | mid (MidPool) |
//! | 80 – 127 | 36 KiB – 2 MiB | big (BigCache); sizes >= 2 MiB are whales |
//!
//! A block of class size `s` placed at an offset `i * s` from a 64 KiB-aligned page start is
//! aligned to the largest power of two dividing `s`: every request whose size is a multiple of
//! 16 gets 16-byte alignment, and [`class_for_aligned`] relies on the same fact.

/// Largest tiny request.
pub const TINY_MAX: usize = 1024;
/// Largest mid request.
pub const MID_MAX: usize = 32 * 1024;
/// Requests of this size or more are whales.
pub const WHALE_MIN: usize = 2 * 1024 * 1024;

/// Number of tiny classes (0 – 39).
pub const TINY_CLASSES: usize = 40;
/// Number of tiny and mid classes: the classes served from thread-local pages.
pub const SMALL_CLASSES: usize = 80;
/// Number of classes (tiny, mid and big).
pub const CLASSES: usize = 128;
/// First big class.
pub const BIG_FIRST: usize = SMALL_CLASSES;

/// The class serving `size` when 128 < size <= 2 MiB: eight per doubling.
#[inline(always)]
const fn class_above_128(size: usize) -> usize {
    // 2^k < size <= 2^(k+1); step 2^(k-3); j = ceil((size - 2^k) / step) in 1..=8.
    let k = (usize::BITS - 1 - (size - 1).leading_zeros()) as usize;
    let step_shift = k - 3;
    let j = (size - (1 << k) + (1 << step_shift) - 1) >> step_shift;
    16 + (k - 7) * 8 + (j - 1)
}

const fn build_tiny_table() -> [u8; TINY_MAX / 8 + 1] {
    let mut t = [0u8; TINY_MAX / 8 + 1];
    let mut i = 0;
    while i < t.len() {
        let size = if i == 0 { 1 } else { i * 8 };
        t[i] = if size <= 128 {
            (size.div_ceil(8) - 1) as u8
        } else {
            class_above_128(size) as u8
        };
        i += 1;
    }
    t
}

/// A table of the classes of sizes above `above`, indexed by the size rounded up to
/// `1 << shift`, over `1 << shift` (the entries at or below `above`, never looked up, hold its
/// next class).
const fn build_granule_table<const N: usize>(shift: u32, above: usize) -> [u8; N] {
    let mut t = [0u8; N];
    let mut i = 0;
    while i < N {
        let size = i << shift;
        t[i] = class_above_128(if size > above { size } else { above + 1 }) as u8;
        i += 1;
    }
    t
}

/// Class of `size` for size <= 1 KiB, indexed by `(size + 7) / 8`.
static TINY_TABLE: [u8; TINY_MAX / 8 + 1] = build_tiny_table();
/// The size the C API asks for so that the block is 16-byte aligned, as glibc's blocks of
/// more than 8 bytes are (a class whose size is a multiple of 16 gives 16-aligned blocks; see
/// `c_api`): 1 – 8 bytes as they are, larger sizes up to a multiple of 16, saturating.
#[inline(always)]
pub const fn c_size(size: usize) -> usize {
    if size <= 8 {
        size
    } else {
        size.saturating_add(15) & !15
    }
}

/// The C API's tiny table: the class of [`c_size`]`(size)`, indexed by `(size + 7) / 8` like
/// [`TINY_TABLE`], so that `malloc` does no rounding at run time. Every size of an index's
/// bucket (`8i - 7 ..= 8i`) rounds to the class of the bucket's largest size.
static C_TINY_TABLE: [u8; TINY_MAX / 8 + 1] = build_c_tiny_table();

const fn build_c_tiny_table() -> [u8; TINY_MAX / 8 + 1] {
    let plain = build_tiny_table();
    let mut t = [0u8; TINY_MAX / 8 + 1];
    let mut i = 0;
    while i < t.len() {
        t[i] = plain[(c_size(i * 8) + 7) >> 3];
        i += 1;
    }
    t
}

/// The C tiny words of each tiny class, `(first, end)`: [`C_TINY_TABLE`] is non-decreasing, so
/// a class's words are one run of it, empty (`first == end`) for a class no C request gets.
/// A refill that changes a tiny class's current page writes each of them (`Pages::set_current`).
static C_TINY_WORDS_OF: [(u8, u8); TINY_CLASSES] = {
    let table = build_c_tiny_table();
    let mut runs = [(0u8, 0u8); TINY_CLASSES];
    let mut class = 0;
    while class < TINY_CLASSES {
        let mut first = 0;
        while first < table.len() && (table[first] as usize) < class {
            first += 1;
        }
        let mut end = first;
        while end < table.len() && table[end] as usize == class {
            end += 1;
        }
        runs[class] = (first as u8, end as u8);
        class += 1;
    }
    runs
};

/// Class of `size` for 1 KiB < size <= 32 KiB, indexed by `(size + 127) / 128`
/// (every mid class size is a multiple of 128).
static MID_TABLE: [u8; MID_MAX / 128 + 1] = build_granule_table(7, TINY_MAX);

/// Granule of [`BIG_TABLE`]: every big class size is a multiple of it (the smallest step
/// between big classes is 32 KiB / 8).
const BIG_GRANULE_SHIFT: u32 = 12;

/// Class of `size` for 32 KiB < size < 2 MiB, indexed by `size` rounded up to 4 KiB, over
/// 4 KiB: a load where [`class_above_128`] takes a dozen instructions on every big request.
static BIG_TABLE: [u8; (WHALE_MIN >> BIG_GRANULE_SHIFT) + 1] =
    build_granule_table(BIG_GRANULE_SHIFT, MID_MAX);

const fn build_sizes() -> [u32; CLASSES] {
    let mut s = [0u32; CLASSES];
    let mut c = 0;
    while c < CLASSES {
        s[c] = if c < 16 {
            ((c + 1) * 8) as u32
        } else {
            let k = 7 + (c - 16) / 8;
            let j = (c - 16) % 8 + 1;
            ((1usize << k) + j * (1usize << (k - 3))) as u32
        };
        c += 1;
    }
    s
}

/// Block size of each class.
pub static CLASS_SIZES: [u32; CLASSES] = build_sizes();

/// The class of a tiny request (`size <= TINY_MAX`; 0 is served as 1).
#[inline(always)]
pub fn tiny_class(size: usize) -> usize {
    debug_assert!(size <= TINY_MAX);
    TINY_TABLE[(size + 7) >> 3] as usize
}

/// The class of a C request of `size <= TINY_MAX` bytes: the class of `size` rounded up to a
/// multiple of 16 when above 8 (see `c_api`), with no rounding done at run time.
#[inline(always)]
pub fn c_tiny_class(size: usize) -> usize {
    debug_assert!(size <= TINY_MAX);
    C_TINY_TABLE[(size + 7) >> 3] as usize
}

/// Number of C tiny words: a C request of `size <= TINY_MAX` bytes has the word
/// `(size + 7) / 8`, which the C entry's HOT path indexes its heap's pages by directly
/// (`small::Pages::c_tiny`).
pub const C_TINY_WORDS: usize = TINY_MAX / 8 + 1;

/// The class of C tiny word `word` ([`C_TINY_WORDS`]).
#[inline]
pub fn c_tiny_class_of_word(word: usize) -> usize {
    C_TINY_TABLE[word] as usize
}

/// The C tiny words whose class is `class` (a tiny class): a range, empty for a class no C
/// request gets (the table is non-decreasing).
#[inline]
pub fn c_tiny_words_of(class: usize) -> core::ops::Range<usize> {
    let (first, end) = C_TINY_WORDS_OF[class];
    first as usize..end as usize
}

/// The class of a request of `TINY_MAX < size <= MID_MAX` bytes. Every mid class size is a
/// multiple of 128, so a C request rounded up to 16 first gets the same class.
#[inline(always)]
pub fn mid_class(size: usize) -> usize {
    debug_assert!(size > TINY_MAX && size <= MID_MAX);
    MID_TABLE[(size + 127) >> 7] as usize
}

/// The class of a request of `size` < [`WHALE_MIN`] bytes.
#[inline(always)]
pub fn class_of(size: usize) -> usize {
    debug_assert!(size < WHALE_MIN);
    if size <= TINY_MAX {
        tiny_class(size)
    } else if size <= MID_MAX {
        mid_class(size)
    } else {
        big_class(size)
    }
}

/// The class of a request of `MID_MAX < size <` [`WHALE_MIN`] bytes.
#[inline(always)]
pub fn big_class(size: usize) -> usize {
    debug_assert!(size > MID_MAX && size < WHALE_MIN);
    BIG_TABLE[(size + (1 << BIG_GRANULE_SHIFT) - 1) >> BIG_GRANULE_SHIFT] as usize
}

/// Block size of class `class`.
#[inline(always)]
pub fn class_size(class: usize) -> usize {
    CLASS_SIZES[class] as usize
}

/// The alignment of every page start: pages are spans of 64 KiB segment slices (`segment`
/// checks that its slice is this size).
pub const PAGE_ALIGN: usize = 64 * 1024;

/// The class whose blocks, placed on 64 KiB-aligned pages, are all aligned to `align`, for a
/// request of `size`; `None` when the request must be a whale (too large, or `align` above the
/// 64 KiB slice). `align` is a power of two.
#[inline]
pub fn class_for_aligned(size: usize, align: usize) -> Option<usize> {
    if align > PAGE_ALIGN {
        return None;
    }
    // A class size that is a multiple of `align` exists at or above any multiple of `align`
    // (see the module doc); rounding the request up to `align` picks exactly such a class.
    let rounded = size.checked_add(align - 1)? & !(align - 1);
    let rounded = rounded.max(align);
    if rounded >= WHALE_MIN {
        return None;
    }
    let class = class_of(rounded);
    debug_assert!(class_size(class).is_multiple_of(align));
    Some(class)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_big_table_gives_every_big_size_its_class() {
        for size in MID_MAX + 1..WHALE_MIN {
            assert_eq!(big_class(size), class_above_128(size), "size {size}");
        }
        assert_eq!(class_size(big_class(MID_MAX + 1)), MID_MAX + 4096);
        assert_eq!(big_class(WHALE_MIN - 1), CLASSES - 1);
    }

    #[test]
    fn boundaries() {
        assert_eq!(class_size(0), 8);
        assert_eq!(class_size(7), 64);
        assert_eq!(class_size(15), 128);
        assert_eq!(class_size(16), 144);
        assert_eq!(class_size(TINY_CLASSES - 1), 1024);
        assert_eq!(class_size(SMALL_CLASSES - 1), 32 * 1024);
        assert_eq!(class_size(BIG_FIRST), 36 * 1024);
        assert_eq!(class_size(CLASSES - 1), 2 * 1024 * 1024);
        assert_eq!(class_of(0), 0);
        assert_eq!(class_of(1), 0);
        assert_eq!(class_of(1024), TINY_CLASSES - 1);
        assert_eq!(class_of(1025), TINY_CLASSES);
        assert_eq!(class_of(32768), SMALL_CLASSES - 1);
        assert_eq!(class_of(32769), BIG_FIRST);
        assert_eq!(class_of(WHALE_MIN - 1), CLASSES - 1);
    }

    #[test]
    fn every_size_gets_the_smallest_fitting_class() {
        let mut size = 1;
        while size < WHALE_MIN {
            let c = class_of(size);
            assert!(class_size(c) >= size, "size {size} class {c}");
            if c > 0 {
                assert!(
                    class_size(c - 1) < size,
                    "size {size} could use class {}",
                    c - 1
                );
            }
            size += if size < 70000 { 1 } else { 997 };
        }
    }

    #[test]
    fn waste_is_bounded() {
        // Above 64 B no request gets more than 12.5 % more than it asked for.
        let mut size = 65;
        while size < WHALE_MIN {
            let waste = (class_size(class_of(size)) - size) as f64 / size as f64;
            assert!(waste <= 0.125, "size {size}: waste {waste}");
            size += 1;
        }
    }

    #[test]
    fn each_tiny_class_names_exactly_its_c_words() {
        // Every C tiny word lies in the run of its own class and in no other class's run.
        for word in 0..C_TINY_WORDS {
            let class = c_tiny_class_of_word(word);
            for other in 0..TINY_CLASSES {
                let run = c_tiny_words_of(other);
                assert_eq!(
                    run.contains(&word),
                    other == class,
                    "word {word}, class {other}"
                );
            }
        }
        // A class's run holds only words of that class, and every C request's class has one.
        for class in 0..TINY_CLASSES {
            for word in c_tiny_words_of(class) {
                assert_eq!(c_tiny_class_of_word(word), class);
            }
        }
        for size in 0..=TINY_MAX {
            assert!(c_tiny_words_of(c_tiny_class(size)).contains(&((size + 7) >> 3)));
        }
    }

    #[test]
    fn multiples_of_16_get_16_byte_alignment() {
        for size in (16..WHALE_MIN).step_by(16) {
            assert_eq!(class_size(class_of(size)) % 16, 0, "size {size}");
        }
    }

    #[test]
    fn aligned_classes_are_aligned() {
        let mut align = 1;
        while align <= PAGE_ALIGN {
            for size in [
                0usize,
                1,
                7,
                8,
                9,
                24,
                40,
                100,
                1000,
                5000,
                40000,
                300000,
                1 << 20,
            ] {
                if let Some(c) = class_for_aligned(size, align) {
                    let s = class_size(c);
                    assert!(s >= size);
                    assert_eq!(s % align, 0, "size {size} align {align} class size {s}");
                }
            }
            align *= 2;
        }
    }
}
