//! Unit tests of segments: spans, dirty slices and their purge deadlines.

use super::*;

#[test]
fn runs_are_found() {
    assert_eq!(first_run(ALL_FREE, 1), Some(1));
    assert_eq!(first_run(ALL_FREE, 63), Some(1));
    assert_eq!(first_run(ALL_FREE, 64), None);
    assert_eq!(first_run(0b1011_0110, 2), Some(1));
    assert_eq!(first_run(0b1011_0110, 3), None);
    assert_eq!(first_run(0b1111_0110, 4), Some(4));
    assert_eq!(first_run(0xFF00_0000_0000_0000, 8), Some(56));
    assert_eq!(first_run(0, 1), None);
    for n in 1..40 {
        let bits = run_mask(10, n);
        assert_eq!(first_run(bits, n), Some(10));
        assert_eq!(first_run(bits, n + 1), None);
    }
}

#[test]
fn a_reserved_purge_keeps_its_runs_from_carving_and_gives_them_back_clean() {
    let seg = map_new(SegmentKind::Arena).unwrap();
    // SAFETY: the segment is fresh and ours.
    unsafe {
        let s = &mut *seg;
        let a = s.take_span(4).unwrap();
        let b = s.take_span(4).unwrap();
        s.give_span(a, true, 1);
        s.give_span(b, true, 1);
        assert!(s.is_empty());
        let runs = s.reserve_purge(u64::MAX / 2, true);
        assert_eq!(runs, run_mask(1, 8));
        assert!(
            !s.is_empty(),
            "reserved runs keep the segment from looking empty"
        );
        assert_eq!(s.free_slices & runs, 0, "reserved runs cannot be carved");
        let done = decommit_runs(seg, runs);
        assert_eq!(done, runs);
        assert_eq!(s.finish_purge(runs, done), 8 * SLICE);
        assert!(s.is_empty());
        assert_eq!(s.dirty_slices, 0);
        assert_eq!(s.purge_at, 0);
        assert!(s.dirty_at[1] > 1, "decommitted slices remember when");
        unmap(seg);
    }
}

#[test]
fn spans_map_back_to_their_page() {
    let seg = map_new(SegmentKind::Arena).unwrap();
    // SAFETY: the segment is fresh and ours.
    unsafe {
        let s = &mut *seg;
        let a = s.take_span(1).unwrap();
        let b = s.take_span(8).unwrap();
        assert_ne!((*a).flags & crate::page::ZERO, 0, "fresh memory is zero");
        assert_eq!(s.page_index(a), 1);
        assert_eq!(s.page_index(b), 2);
        let inside_b = (*b).start.add(5 * SLICE + 100);
        assert_eq!(Segment::page_of(inside_b), b);
        assert_eq!(Segment::page_of((*a).start.add(SLICE - 1)), a);
        assert!(segment_map::contains(inside_b as usize));
        s.give_span(a, true, 0);
        s.give_span(b, true, 0);
        assert!(s.is_empty());
        assert!(Segment::purge(seg) >= 9 * SLICE);
        let c = s.take_span(9).unwrap();
        assert_ne!(
            (*c).flags & crate::page::ZERO,
            0,
            "decommitted memory is zero"
        );
        s.give_span(c, false, 0);
        unmap(seg);
    }
    assert!(!segment_map::contains(seg as usize));
}
