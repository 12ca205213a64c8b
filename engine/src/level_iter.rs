//! `LevelIter`: one internal iterator over a whole level >= 1, whose tables are sorted and
//! disjoint (INV-LSM-1). Opens a table iterator only for the table it is positioned in, so a
//! scan over a level of a thousand tables costs one child in the merging iterator, not a
//! thousand.

use std::cmp::Ordering;
use std::sync::Arc;

use cairn_base::Result;
use cairn_base::iter::InternalIterator;
use cairn_base::key::compare_internal;
use cairn_sstable::TableIter;

use crate::super_version::{LevelTable, SuperVersion};

/// Iterator over the tables of one sorted level of a pinned super-version.
pub(crate) struct LevelIter {
    sv: Arc<SuperVersion>,
    level: usize,
    index: usize,
    cur: Option<TableIter>,
}

impl LevelIter {
    /// Iterates level `level` (>= 1: sorted and disjoint, INV-LSM-1) of `sv`. Creating it
    /// clones one `Arc`, whatever the number of tables.
    pub fn new(sv: Arc<SuperVersion>, level: usize) -> Self {
        debug_assert!(level >= 1);
        LevelIter { sv, level, index: 0, cur: None }
    }

    fn tables(&self) -> &[LevelTable] {
        &self.sv.levels[self.level]
    }

    fn open(&mut self, index: usize) -> Option<&mut TableIter> {
        let Some(t) = self.sv.levels[self.level].get(index) else {
            self.cur = None;
            return None;
        };
        self.cur = Some(t.table.iter());
        self.index = index;
        self.cur.as_mut()
    }

    /// Moves forward past exhausted tables.
    fn skip_forward(&mut self) -> Result<()> {
        while self.cur.as_ref().is_some_and(|c| !c.valid()) {
            let next = self.index + 1;
            match self.open(next) {
                Some(c) => c.seek_to_first()?,
                None => break,
            }
        }
        Ok(())
    }

    /// Moves backward past exhausted tables.
    fn skip_backward(&mut self) -> Result<()> {
        while self.cur.as_ref().is_some_and(|c| !c.valid()) {
            if self.index == 0 {
                self.cur = None;
                break;
            }
            let prev = self.index - 1;
            if let Some(c) = self.open(prev) {
                c.seek_to_last()?;
            }
        }
        Ok(())
    }

    fn cur(&self) -> &TableIter {
        self.cur.as_ref().expect("ITER-1: requires valid()")
    }
}

impl InternalIterator for LevelIter {
    fn valid(&self) -> bool {
        self.cur.as_ref().is_some_and(|c| c.valid())
    }

    fn seek_to_first(&mut self) -> Result<()> {
        if let Some(c) = self.open(0) {
            c.seek_to_first()?;
        }
        self.skip_forward()
    }

    fn seek_to_last(&mut self) -> Result<()> {
        let last = self.tables().len().wrapping_sub(1);
        if let Some(c) = self.open(last) {
            c.seek_to_last()?;
        }
        self.skip_backward()
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        // First table whose largest key is >= target.
        let i = self.tables().partition_point(|t| compare_internal(t.meta.largest.encoded(), target) == Ordering::Less);
        if let Some(c) = self.open(i) {
            c.seek(target)?;
        }
        self.skip_forward()
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        // Last table whose smallest key is <= target.
        let i =
            self.tables().partition_point(|t| compare_internal(t.meta.smallest.encoded(), target) != Ordering::Greater);
        match i.checked_sub(1) {
            Some(i) => {
                if let Some(c) = self.open(i) {
                    c.seek_for_prev(target)?;
                }
                self.skip_backward()
            }
            None => {
                self.cur = None;
                Ok(())
            }
        }
    }

    fn next(&mut self) -> Result<()> {
        if let Some(c) = self.cur.as_mut() {
            c.next()?;
        }
        self.skip_forward()
    }

    fn prev(&mut self) -> Result<()> {
        if let Some(c) = self.cur.as_mut() {
            c.prev()?;
        }
        self.skip_backward()
    }

    fn key(&self) -> &[u8] {
        self.cur().key()
    }

    fn value(&self) -> &[u8] {
        self.cur().value()
    }

    fn value_bytes(&self) -> bytes::Bytes {
        self.cur().value_bytes()
    }
}
