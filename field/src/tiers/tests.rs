//! Unit tests of the tiers' slots: CLOCK eviction, f16 warm copies, dirty tracking, pins.

use super::*;

const FLOATS: usize = 1024; // 4 KiB hot, 2 KiB warm

fn fill(tiers: &mut Tiers, slot: usize, v: f32) {
    tiers.hot_values_mut(slot).fill(v);
}

#[test]
fn clock_evicts_the_block_not_touched_since_the_hand_passed() {
    let mut t = Tiers::new(
        FLOATS,
        FLOATS / 2,
        Budget {
            hot_bytes: 3 * 4096,
            warm_bytes: 2 * 2048,
        },
    );
    for b in 0..3 {
        let s = t.push_hot(b).unwrap();
        fill(&mut t, s, b as f32);
    }
    assert!(!t.hot_has_room());
    // Blocks 0 and 2 are touched again; 1 is not.
    t.touch(0);
    t.touch(2);
    let victim = t.hot_victim();
    assert_eq!(t.hot[victim].block, 1);
    t.replace_hot(victim, 7);
    fill(&mut t, victim, 7.0);
    assert_eq!(
        t.touch(1),
        Some(Place::Warm(0)),
        "the evicted block went warm"
    );
    let mut row = [0f32; 4];
    t.warm_values(0, 8, &mut row);
    assert_eq!(row, [1.0; 4]);
    assert_eq!(t.touch(7), Some(Place::Hot(victim)));
    assert_eq!(t.counts(), (3, 1));
}

#[test]
fn warm_copies_are_f16_and_the_warm_tier_is_bounded() {
    let mut t = Tiers::new(
        FLOATS,
        FLOATS / 2,
        Budget {
            hot_bytes: 4096,
            warm_bytes: 2 * 2048,
        },
    );
    let values: Vec<f32> = (0..FLOATS).map(|i| 1.0 + i as f32 / 3000.0).collect();
    t.insert_warm(10, &values);
    t.insert_warm(11, &values);
    t.insert_warm(12, &values); // evicts 10 or 11
    assert_eq!(t.counts().1, 2);
    assert_eq!(t.resident_blocks().len(), 2);
    assert!(t.resident_blocks().contains(&12));
    let Some(Place::Warm(slot)) = t.touch(12) else {
        panic!("12 is warm")
    };
    let mut row = vec![0f32; FLOATS];
    t.warm_values(slot, 0, &mut row);
    for (a, b) in values.iter().zip(&row) {
        assert!((a - b).abs() <= a.abs() / 2048.0, "{a} → {b}");
    }
    assert!(row.iter().zip(&values).any(|(a, b)| a != b), "f16 rounds");
    t.remove_warm(slot);
    assert_eq!(t.touch(12), None);
    assert_eq!(t.counts().1, 1);
    let other = t.resident_blocks()[0];
    assert!(
        matches!(t.touch(other), Some(Place::Warm(0))),
        "the moved slot is re-indexed"
    );
}

#[test]
fn dirty_blocks_are_tracked_and_must_be_clean_to_leave() {
    let mut t = Tiers::new(
        FLOATS,
        FLOATS / 2,
        Budget {
            hot_bytes: 4096,
            warm_bytes: 0,
        },
    );
    let s = t.push_hot(3).unwrap();
    t.hot_values_for_update(s)[0] = 5.0;
    t.hot_values_for_update(s)[1] = 6.0;
    assert_eq!(t.dirty_count(), 1);
    assert_eq!(t.dirty_slots(), [s]);
    assert_eq!(t.hot_block(s), 3);
    assert!(t.is_dirty(s));
    t.mark_clean(s);
    assert_eq!(t.dirty_count(), 0);
    assert!(t.dirty_slots().is_empty());
    let v = t.hot_victim();
    t.replace_hot(v, 4);
    assert_eq!(t.touch(3), None, "no warm tier: the block is dropped");
    assert!(t.hot_bytes_bound() == LARGE_PAGE && t.bytes().0 == LARGE_PAGE);
    let unlimited = Tiers::new(FLOATS, FLOATS / 2, Budget::UNLIMITED);
    assert_eq!(unlimited.hot_bytes_bound(), usize::MAX);
}

#[test]
fn victims_pass_over_pinned_blocks_while_they_can() {
    let mut t = Tiers::new(
        FLOATS,
        FLOATS / 2,
        Budget {
            hot_bytes: 3 * 4096,
            warm_bytes: 2 * 2048,
        },
    );
    for b in 0..3 {
        t.push_hot(b).unwrap();
    }
    // Block 0 is the CLOCK's first choice; pinned, block 1 goes instead.
    t.pin([0, 2]);
    assert_eq!(
        t.room_outside_pins(),
        2,
        "two free warm slots, no free hot one"
    );
    let v = t.hot_victim();
    assert_eq!(t.hot[v].block, 1);
    t.replace_hot(v, 5);
    t.settle(Place::Hot(v));
    assert_eq!(t.place(1), Some(Place::Warm(0)));
    assert_eq!(t.room_outside_pins(), 2, "block 1 is unpinned in warm");
    // An update's pins: slot-stamped, lifted by end_update.
    t.unpin_all();
    let s0 = match t.place(0) {
        Some(Place::Hot(s)) => s,
        other => panic!("block 0 is hot: {other:?}"),
    };
    t.pin_for_update(s0);
    for _ in 0..12 {
        let v = t.hot_victim();
        assert_ne!(v, s0, "the update's block stays");
    }
    t.end_update();
    let mut taken = false;
    for _ in 0..12 {
        taken |= t.hot_victim() == s0;
    }
    assert!(taken, "after the update it may leave");
    // All pinned: a victim is still found.
    t.pin([0, 2, 5]);
    let v = t.hot_victim();
    assert!(v < 3);
    t.unpin_all();
    assert_eq!(t.place(7), None);
}

#[test]
fn a_promotion_from_warm_is_approximate_until_made_exact() {
    let mut t = Tiers::new(
        FLOATS,
        FLOATS / 2,
        Budget {
            hot_bytes: 4096,
            warm_bytes: 2 * 2048,
        },
    );
    let exact: Vec<f32> = (0..FLOATS).map(|i| 0.1 + i as f32 / 7000.0).collect();
    let w = t.insert_warm(4, &exact).unwrap();
    let (used, values) = t.take_warm(w);
    assert_eq!(t.place(4), None, "taken out of warm");
    let h = t.push_hot(4).unwrap();
    t.fill_promoted(h, &values, used);
    assert!(t.is_approx(h));
    assert_eq!(t.place(4), Some(Place::Hot(h)));
    // The f16 copy's values, converted back: within f16 rounding, not all exact.
    let promoted = t.hot_values(h).to_vec();
    assert!(promoted
        .iter()
        .zip(&exact)
        .all(|(p, e)| (p - e).abs() <= e / 2048.0));
    assert!(promoted.iter().zip(&exact).any(|(p, e)| p != e));
    // Demoted, it converts back to the same f16 values; made exact, the flag clears.
    t.make_exact(h, &exact);
    assert!(!t.is_approx(h));
    assert_eq!(t.hot_values(h), &exact[..]);
    t.hot_values_for_update(h)[0] = 1.0;
    assert_eq!(t.dirty_count(), 1);
}
