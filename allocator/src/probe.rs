//! Open addressing over a fixed power-of-two array of slots: linear probing from a key's home
//! slot, and deletion by backward shift, so that no tombstones accumulate. The whale registry
//! and Site Rules' table of live samples are such tables; the caller hashes keys to home slots
//! and says which slots are empty.

/// The first slot from `home` (wrapping) that `is_match` accepts, stopping at an empty one.
pub fn find<T>(
    slots: &[T],
    home: usize,
    is_match: impl Fn(&T) -> bool,
    is_empty: impl Fn(&T) -> bool,
) -> Option<usize> {
    debug_assert!(slots.len().is_power_of_two());
    let mask = slots.len() - 1;
    let mut i = home & mask;
    loop {
        let s = &slots[i];
        if is_empty(s) {
            return None;
        }
        if is_match(s) {
            return Some(i);
        }
        i = (i + 1) & mask;
    }
}

/// The first empty slot from `home` (wrapping). The table must have one.
pub fn vacant<T>(slots: &[T], home: usize, is_empty: impl Fn(&T) -> bool) -> usize {
    debug_assert!(slots.len().is_power_of_two());
    let mask = slots.len() - 1;
    let mut i = home & mask;
    while !is_empty(&slots[i]) {
        i = (i + 1) & mask;
    }
    i
}

/// Empties slot `i` and shifts the later entries of its probe run back into the hole where
/// their home allows. `home_of` gives an entry's home slot, `None` for an empty slot; `empty`
/// is the value of an empty slot.
pub fn remove<T: Copy>(
    slots: &mut [T],
    mut i: usize,
    empty: T,
    home_of: impl Fn(&T) -> Option<usize>,
) {
    debug_assert!(slots.len().is_power_of_two());
    let mask = slots.len() - 1;
    let mut j = i;
    loop {
        slots[i] = empty;
        loop {
            j = (j + 1) & mask;
            let Some(home) = home_of(&slots[j]) else {
                return;
            };
            // The entry at `j` may move into the hole at `i` unless its home lies cyclically in
            // (i, j]: then a probe for it would stop at the hole.
            let stays = if i <= j {
                i < home && home <= j
            } else {
                i < home || home <= j
            };
            if !stays {
                slots[i] = slots[j];
                i = j;
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys are their own hash into 8 slots (0: empty).
    fn home(k: &u32) -> Option<usize> {
        (*k != 0).then_some((*k % 8) as usize)
    }

    fn put(t: &mut [u32; 8], k: u32) {
        let i = vacant(t, (k % 8) as usize, |s| *s == 0);
        t[i] = k;
    }

    fn get(t: &[u32; 8], k: u32) -> Option<usize> {
        find(t, (k % 8) as usize, |s| *s == k, |s| *s == 0)
    }

    #[test]
    fn removal_keeps_every_other_key_findable() {
        // Keys colliding at 6 wrap around the end; 9 and 17 share home 1.
        let keys = [6u32, 14, 22, 9, 17, 3];
        for gone in keys {
            let mut t = [0u32; 8];
            for k in keys {
                put(&mut t, k);
            }
            let i = get(&t, gone).unwrap();
            remove(&mut t, i, 0, home);
            assert_eq!(get(&t, gone), None, "removed {gone}");
            for k in keys.iter().filter(|&&k| k != gone) {
                assert!(
                    get(&t, *k).is_some(),
                    "lost {k} after removing {gone}: {t:?}"
                );
            }
        }
    }
}
