//! Placement of list entries by their `index`.
//!
//! Deltas address list entries by `index`, which need not be dense. Entries
//! are kept in `index` order next to a parallel list of their indexes, so a
//! fragment for index 7 arriving first neither allocates seven placeholders
//! nor lands at the wrong position. Nested lists (a text's annotations, a code
//! interpreter call's outputs) have their own `Slots` in `children`.

use crate::error::{Error, Kind};

/// Indexes above this are refused: a delta cannot make us allocate without bound.
pub const MAX_INDEX: u64 = 10_000;

#[derive(Clone, Debug, Default)]
pub(crate) struct Slots {
    indexes: Vec<u64>,
    children: Vec<Slots>,
}

impl Slots {
    /// Slots for `len` entries at indexes `0..len`, with nested slots from `child`.
    pub(crate) fn dense(len: usize, mut child: impl FnMut(usize) -> Slots) -> Slots {
        Slots {
            indexes: (0..len as u64).collect(),
            children: (0..len).map(&mut child).collect(),
        }
    }

    /// The position of the entry at `index`, if there is one.
    pub(crate) fn position(&self, index: u64) -> Option<usize> {
        match self.indexes.last() {
            Some(&last) if last == index => Some(self.indexes.len() - 1),
            _ => self.indexes.binary_search(&index).ok(),
        }
    }

    /// The position of the entry at `index` in `entries`, inserting `make()`
    /// there first if there is none. Returns the position and the entry's
    /// nested slots.
    pub(crate) fn place<T>(
        &mut self,
        entries: &mut Vec<T>,
        index: u64,
        make: impl FnOnce() -> T,
    ) -> Result<(usize, &mut Slots), Error> {
        if index > MAX_INDEX {
            return Err(Error::new(
                Kind::AbsurdIndex,
                format!(
                    "a delta addressed list index {index}; indexes above {MAX_INDEX} are refused"
                ),
            ));
        }
        if self.indexes.len() != entries.len() {
            // The entries were replaced behind our back; assume them dense.
            *self = Slots::dense(entries.len(), |_| Slots::default());
        }
        let position = match self.indexes.last() {
            Some(&last) if last == index => self.indexes.len() - 1,
            None => self.insert(entries, 0, index, make),
            Some(&last) if last < index => self.insert(entries, self.indexes.len(), index, make),
            Some(_) => match self.indexes.binary_search(&index) {
                Ok(found) => found,
                Err(at) => self.insert(entries, at, index, make),
            },
        };
        Ok((position, &mut self.children[position]))
    }

    fn insert<T>(
        &mut self,
        entries: &mut Vec<T>,
        at: usize,
        index: u64,
        make: impl FnOnce() -> T,
    ) -> usize {
        entries.insert(at, make());
        self.indexes.insert(at, index);
        self.children.insert(at, Slots::default());
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_sparse_indexes_in_order() {
        let mut slots = Slots::default();
        let mut entries: Vec<&str> = Vec::new();
        slots.place(&mut entries, 5, || "five").unwrap();
        slots.place(&mut entries, 1, || "one").unwrap();
        slots.place(&mut entries, 3, || "three").unwrap();
        let (pos, _) = slots.place(&mut entries, 3, || "again").unwrap();
        assert_eq!(entries, ["one", "three", "five"]);
        assert_eq!(pos, 1);
        assert_eq!(slots.position(5), Some(2));
        assert_eq!(slots.position(4), None);
    }

    #[test]
    fn refuses_absurd_index_without_allocating() {
        let mut slots = Slots::default();
        let mut entries: Vec<u8> = Vec::new();
        let err = slots.place(&mut entries, u64::MAX, || 0).unwrap_err();
        assert!(err.is_absurd_index());
        assert!(entries.is_empty());
        assert!(slots.place(&mut entries, MAX_INDEX, || 0).is_ok());
    }
}
