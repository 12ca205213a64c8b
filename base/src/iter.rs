//! The internal iterator contract (ITER-1..3 in the crate docs) and the iterators every layer
//! shares: [`VecIter`] over sorted owned entries and [`MergingIterator`] over children.
//!
//! Internal iterators yield *internal keys* (`user_key ++ trailer`) in internal-key order,
//! every version of every key, tombstones included. Turning that into what users see (newest
//! visible version, tombstones hidden) is the engine's job.

use std::cmp::Ordering;

use bytes::Bytes;

use crate::error::Result;
use crate::key::compare_internal;

/// A positioned cursor over internal entries. See the crate docs for ITER-1..3.
pub trait InternalIterator: Send {
    /// True when positioned on an entry.
    fn valid(&self) -> bool;
    /// Positions on the first entry.
    fn seek_to_first(&mut self) -> Result<()>;
    /// Positions on the last entry.
    fn seek_to_last(&mut self) -> Result<()>;
    /// Positions on the first entry whose key is `>= target` (an internal key).
    fn seek(&mut self, target: &[u8]) -> Result<()>;
    /// Positions on the last entry whose key is `<= target` (an internal key).
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()>;
    /// Moves to the next entry. REQUIRES: `valid()`.
    fn next(&mut self) -> Result<()>;
    /// Moves to the previous entry. REQUIRES: `valid()`.
    fn prev(&mut self) -> Result<()>;
    /// The current internal key. REQUIRES: `valid()`.
    fn key(&self) -> &[u8];
    /// The current value. REQUIRES: `valid()`.
    fn value(&self) -> &[u8];
    /// The current value as shared bytes; sources backed by shared buffers return a slice of
    /// them without copying.
    fn value_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.value())
    }
}

impl<I: InternalIterator + ?Sized> InternalIterator for Box<I> {
    fn valid(&self) -> bool {
        (**self).valid()
    }
    fn seek_to_first(&mut self) -> Result<()> {
        (**self).seek_to_first()
    }
    fn seek_to_last(&mut self) -> Result<()> {
        (**self).seek_to_last()
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        (**self).seek(target)
    }
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        (**self).seek_for_prev(target)
    }
    fn next(&mut self) -> Result<()> {
        (**self).next()
    }
    fn prev(&mut self) -> Result<()> {
        (**self).prev()
    }
    fn key(&self) -> &[u8] {
        (**self).key()
    }
    fn value(&self) -> &[u8] {
        (**self).value()
    }
    fn value_bytes(&self) -> Bytes {
        (**self).value_bytes()
    }
}

/// An iterator over owned entries sorted by internal key. Used by tests and small in-memory
/// sources.
#[derive(Debug, Clone, Default)]
pub struct VecIter {
    entries: Vec<(Vec<u8>, Bytes)>,
    pos: Option<usize>,
}

impl VecIter {
    /// REQUIRES: `entries` sorted by [`compare_internal`] with no duplicates.
    pub fn new(entries: Vec<(Vec<u8>, Bytes)>) -> Self {
        debug_assert!(entries.windows(2).all(|w| compare_internal(&w[0].0, &w[1].0) == Ordering::Less));
        VecIter { entries, pos: None }
    }
}

impl InternalIterator for VecIter {
    fn valid(&self) -> bool {
        self.pos.is_some()
    }
    fn seek_to_first(&mut self) -> Result<()> {
        self.pos = if self.entries.is_empty() { None } else { Some(0) };
        Ok(())
    }
    fn seek_to_last(&mut self) -> Result<()> {
        self.pos = self.entries.len().checked_sub(1);
        Ok(())
    }
    fn seek(&mut self, target: &[u8]) -> Result<()> {
        let i = self.entries.partition_point(|(k, _)| compare_internal(k, target) == Ordering::Less);
        self.pos = (i < self.entries.len()).then_some(i);
        Ok(())
    }
    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        let i = self.entries.partition_point(|(k, _)| compare_internal(k, target) != Ordering::Greater);
        self.pos = i.checked_sub(1);
        Ok(())
    }
    fn next(&mut self) -> Result<()> {
        self.pos = self.pos.map(|p| p + 1).filter(|&p| p < self.entries.len());
        Ok(())
    }
    fn prev(&mut self) -> Result<()> {
        self.pos = self.pos.and_then(|p| p.checked_sub(1));
        Ok(())
    }
    fn key(&self) -> &[u8] {
        &self.entries[self.pos.expect("ITER-1: key() requires valid()")].0
    }
    fn value(&self) -> &[u8] {
        &self.entries[self.pos.expect("ITER-1: value() requires valid()")].1
    }
    fn value_bytes(&self) -> Bytes {
        self.entries[self.pos.expect("ITER-1: value() requires valid()")].1.clone()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Forward,
    Reverse,
}

/// Merges children into one ordered stream, in both directions. Internal keys are unique
/// across the children of one version (sequence numbers differ), so no tie-breaking is
/// needed; equal keys are still handled (the lower child index wins going forward).
pub struct MergingIterator {
    children: Vec<Box<dyn InternalIterator>>,
    current: Option<usize>,
    direction: Direction,
}

impl std::fmt::Debug for MergingIterator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MergingIterator")
            .field("children", &self.children.len())
            .field("current", &self.current)
            .finish()
    }
}

impl MergingIterator {
    /// Merges `children` (newest source first, by convention).
    pub fn new(children: Vec<Box<dyn InternalIterator>>) -> Self {
        MergingIterator { children, current: None, direction: Direction::Forward }
    }

    fn find_smallest(&mut self) {
        let mut best: Option<usize> = None;
        for (i, c) in self.children.iter().enumerate() {
            if !c.valid() {
                continue;
            }
            best = match best {
                Some(b) if compare_internal(c.key(), self.children[b].key()) != Ordering::Less => Some(b),
                _ => Some(i),
            };
        }
        self.current = best;
    }

    fn find_largest(&mut self) {
        let mut best: Option<usize> = None;
        for (i, c) in self.children.iter().enumerate() {
            if !c.valid() {
                continue;
            }
            best = match best {
                Some(b) if compare_internal(c.key(), self.children[b].key()) != Ordering::Greater => Some(b),
                _ => Some(i),
            };
        }
        self.current = best;
    }

    fn cur(&self) -> usize {
        self.current.expect("ITER-1: requires valid()")
    }
}

impl InternalIterator for MergingIterator {
    fn valid(&self) -> bool {
        self.current.is_some()
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.current = None;
        for c in &mut self.children {
            c.seek_to_first()?;
        }
        self.direction = Direction::Forward;
        self.find_smallest();
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.current = None;
        for c in &mut self.children {
            c.seek_to_last()?;
        }
        self.direction = Direction::Reverse;
        self.find_largest();
        Ok(())
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.current = None;
        for c in &mut self.children {
            c.seek(target)?;
        }
        self.direction = Direction::Forward;
        self.find_smallest();
        Ok(())
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        self.current = None;
        for c in &mut self.children {
            c.seek_for_prev(target)?;
        }
        self.direction = Direction::Reverse;
        self.find_largest();
        Ok(())
    }

    fn next(&mut self) -> Result<()> {
        let cur = self.cur();
        if self.direction != Direction::Forward {
            // Re-position every other child on the first key after the current one.
            let key = self.children[cur].key().to_vec();
            for (i, c) in self.children.iter_mut().enumerate() {
                if i == cur {
                    continue;
                }
                c.seek(&key)?;
                if c.valid() && compare_internal(c.key(), &key) == Ordering::Equal {
                    c.next()?;
                }
            }
            self.direction = Direction::Forward;
        }
        self.current = None;
        self.children[cur].next()?;
        self.find_smallest();
        Ok(())
    }

    fn prev(&mut self) -> Result<()> {
        let cur = self.cur();
        if self.direction != Direction::Reverse {
            let key = self.children[cur].key().to_vec();
            for (i, c) in self.children.iter_mut().enumerate() {
                if i == cur {
                    continue;
                }
                c.seek_for_prev(&key)?;
                if c.valid() && compare_internal(c.key(), &key) == Ordering::Equal {
                    c.prev()?;
                }
            }
            self.direction = Direction::Reverse;
        }
        self.current = None;
        self.children[cur].prev()?;
        self.find_largest();
        Ok(())
    }

    fn key(&self) -> &[u8] {
        self.children[self.cur()].key()
    }

    fn value(&self) -> &[u8] {
        self.children[self.cur()].value()
    }

    fn value_bytes(&self) -> Bytes {
        self.children[self.cur()].value_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{InternalKey, SeqNum, ValueKind};
    use proptest::prelude::*;

    fn ik(k: u8, s: u64) -> Vec<u8> {
        InternalKey::new(&[k], SeqNum(s), ValueKind::Set).encoded().to_vec()
    }

    fn collect_fwd(it: &mut dyn InternalIterator) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        it.seek_to_first().expect("seek");
        while it.valid() {
            out.push(it.key().to_vec());
            it.next().expect("next");
        }
        out
    }

    proptest! {
        #[test]
        fn merge_matches_sorted_union(
            parts in prop::collection::vec(prop::collection::btree_set((0u8..20, 0u64..50), 0..15), 1..5),
            ops in prop::collection::vec(0u8..4, 0..40),
            seek in (0u8..20, 0u64..50),
        ) {
            // Make keys unique across children by giving each child its own seq residue.
            let n = parts.len() as u64;
            let mut all: Vec<Vec<u8>> = Vec::new();
            let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
            for (ci, p) in parts.iter().enumerate() {
                let mut es: Vec<(Vec<u8>, Bytes)> = p.iter().map(|&(k, s)| (ik(k, s * n + ci as u64), Bytes::new())).collect();
                es.sort_by(|a, b| compare_internal(&a.0, &b.0));
                all.extend(es.iter().map(|e| e.0.clone()));
                children.push(Box::new(VecIter::new(es)));
            }
            all.sort_by(|a, b| compare_internal(a, b));
            let mut m = MergingIterator::new(children);
            prop_assert_eq!(collect_fwd(&mut m), all.clone());

            // Random walk in both directions checked against the sorted model.
            let target = ik(seek.0, seek.1);
            m.seek(&target).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut pos = all.iter().position(|k| compare_internal(k, &target) != Ordering::Less);
            for op in ops {
                prop_assert_eq!(m.valid(), pos.is_some());
                let Some(p) = pos else { break };
                prop_assert_eq!(m.key(), &all[p][..]);
                if op % 2 == 0 {
                    m.next().map_err(|e| TestCaseError::fail(e.to_string()))?;
                    pos = (p + 1 < all.len()).then_some(p + 1);
                } else {
                    m.prev().map_err(|e| TestCaseError::fail(e.to_string()))?;
                    pos = p.checked_sub(1);
                }
            }
        }
    }

    #[test]
    fn seek_for_prev_lands_on_last_not_greater() {
        let es = vec![(ik(1, 5), Bytes::new()), (ik(3, 5), Bytes::new())];
        let mut it = VecIter::new(es);
        it.seek_for_prev(&ik(2, 0)).expect("seek");
        assert_eq!(it.key(), &ik(1, 5)[..]);
        it.seek_for_prev(&ik(0, 0)).expect("seek");
        assert!(!it.valid());
    }
}
