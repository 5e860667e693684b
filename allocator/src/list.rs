//! An intrusive doubly linked list: the links live in the listed objects themselves (pages and
//! segments, which sit in memory SACS maps), so putting an object on a list never allocates.
//! One object is on at most one list at a time; who may touch a list (its owning heap, or the
//! holder of a lock) is the owner's rule, written where the list is declared.

use core::marker::PhantomData;
use core::ptr;

/// An object with a `next` and a `prev` link for [`List`].
pub trait Linked {
    /// The object's `next` link.
    ///
    /// # Safety
    /// - `this` points to a valid object.
    unsafe fn next(this: *mut Self) -> *mut *mut Self;
    /// The object's `prev` link.
    ///
    /// # Safety
    /// - `this` points to a valid object.
    unsafe fn prev(this: *mut Self) -> *mut *mut Self;
}

/// Implements [`Linked`] for a type with `next` and `prev` fields.
macro_rules! linked_by_fields {
    ($t:ty) => {
        impl $crate::list::Linked for $t {
            unsafe fn next(this: *mut Self) -> *mut *mut Self {
                // SAFETY: the caller guarantees `this` is valid.
                unsafe { ::core::ptr::addr_of_mut!((*this).next) }
            }
            unsafe fn prev(this: *mut Self) -> *mut *mut Self {
                // SAFETY: the caller guarantees `this` is valid.
                unsafe { ::core::ptr::addr_of_mut!((*this).prev) }
            }
        }
    };
}
pub(crate) use linked_by_fields;

/// A list of `T`, newest first for lists pushed at the front.
pub struct List<T: Linked> {
    pub head: *mut T,
    pub tail: *mut T,
    pub len: usize,
    _t: PhantomData<*mut T>,
}

// SAFETY: a list is only reached through a lock or by its owning thread (see the module doc).
unsafe impl<T: Linked> Send for List<T> {}

impl<T: Linked> List<T> {
    pub const fn new() -> Self {
        Self {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
            len: 0,
            _t: PhantomData,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_null()
    }

    /// Pushes `item` at the front.
    ///
    /// # Safety
    /// - `item` is valid and on no list.
    pub unsafe fn push_front(&mut self, item: *mut T) {
        // SAFETY: `item` and the current head are valid objects of this list's owner.
        unsafe {
            *T::prev(item) = ptr::null_mut();
            *T::next(item) = self.head;
            if self.head.is_null() {
                self.tail = item;
            } else {
                *T::prev(self.head) = item;
            }
        }
        self.head = item;
        self.len += 1;
    }

    /// Pushes `item` at the back.
    ///
    /// # Safety
    /// - `item` is valid and on no list.
    pub unsafe fn push_back(&mut self, item: *mut T) {
        // SAFETY: `item` and the current tail are valid objects of this list's owner.
        unsafe {
            *T::next(item) = ptr::null_mut();
            *T::prev(item) = self.tail;
            if self.tail.is_null() {
                self.head = item;
            } else {
                *T::next(self.tail) = item;
            }
        }
        self.tail = item;
        self.len += 1;
    }

    /// Unlinks `item`.
    ///
    /// # Safety
    /// - `item` is on this list.
    pub unsafe fn remove(&mut self, item: *mut T) {
        // SAFETY: `item` is on this list, so its neighbours are valid objects of the list.
        unsafe {
            let (prev, next) = (*T::prev(item), *T::next(item));
            if prev.is_null() {
                self.head = next;
            } else {
                *T::next(prev) = next;
            }
            if next.is_null() {
                self.tail = prev;
            } else {
                *T::prev(next) = prev;
            }
            *T::next(item) = ptr::null_mut();
            *T::prev(item) = ptr::null_mut();
        }
        self.len -= 1;
    }

    /// Unlinks and returns the front item.
    pub fn pop_front(&mut self) -> Option<*mut T> {
        let item = self.head;
        if item.is_null() {
            return None;
        }
        // SAFETY: `item` is the head of this list.
        unsafe { self.remove(item) };
        Some(item)
    }

    /// Unlinks and returns the back item (the oldest, for lists pushed at the front).
    pub fn pop_back(&mut self) -> Option<*mut T> {
        let item = self.tail;
        if item.is_null() {
            return None;
        }
        // SAFETY: `item` is the tail of this list.
        unsafe { self.remove(item) };
        Some(item)
    }
}

impl<T: Linked> List<T> {
    /// Unlinks and returns the back item (the oldest, for lists pushed at the front) if `due`
    /// says so: the aging loops of the caches are `while let Some(x) = l.pop_back_if(..)`.
    pub fn pop_back_if(&mut self, due: impl FnOnce(*mut T) -> bool) -> Option<*mut T> {
        let item = self.tail;
        if item.is_null() || !due(item) {
            return None;
        }
        // SAFETY: `item` is the tail of this list.
        unsafe { self.remove(item) };
        Some(item)
    }
}

impl<T: Linked> List<T> {
    /// Merges `back` into this list, both newest first by `age` (a larger `age` is newer),
    /// emptying `back`: for putting items taken off a list for a system call back where they
    /// belong.
    pub fn merge_newest_first(&mut self, back: &mut List<T>, age: impl Fn(*mut T) -> u64) {
        if back.is_empty() {
            return;
        }
        let mut merged = List::new();
        loop {
            let from_back = match (self.head.is_null(), back.head.is_null()) {
                (true, true) => break,
                (true, false) => true,
                (false, true) => false,
                (false, false) => age(back.head) > age(self.head),
            };
            let item = if from_back {
                back.pop_front()
            } else {
                self.pop_front()
            };
            if let Some(item) = item {
                // SAFETY: just taken off its list.
                unsafe { merged.push_back(item) };
            }
        }
        *self = merged;
    }
}

impl<T: Linked> Default for List<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Node {
        age: u64,
        next: *mut Node,
        prev: *mut Node,
    }
    linked_by_fields!(Node);

    #[test]
    fn pop_back_if_takes_the_oldest_while_due() {
        let mut nodes: [Node; 3] = core::array::from_fn(|i| Node {
            age: i as u64,
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
        });
        let mut l = List::new();
        for n in nodes.iter_mut() {
            // SAFETY: the nodes outlive the list and are on no other list.
            unsafe { l.push_front(n as *mut Node) };
        }
        // SAFETY: the nodes are valid.
        let due = |n: *mut Node| unsafe { (*n).age } < 2;
        assert_eq!(l.pop_back_if(due), Some(&mut nodes[0] as *mut Node));
        assert_eq!(l.pop_back_if(due), Some(&mut nodes[1] as *mut Node));
        assert_eq!(l.pop_back_if(due), None);
        assert_eq!(l.len, 1);
    }
}
