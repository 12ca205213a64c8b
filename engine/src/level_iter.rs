//! `LevelIter`: one internal iterator over a whole level >= 1, whose tables are sorted and
//! disjoint (INV-LSM-1). Opens a table iterator only for the table it is positioned in, so a
//! scan over a level of a thousand tables costs one child in the merging iterator, not a
//! thousand.

use std::cmp::Ordering;
use std::sync::Arc;

use cairn_base::Result;
use cairn_base::iter::InternalIterator;
use cairn_base::key::compare_internal;
use cairn_manifest::TableMeta;
use cairn_sstable::{Table, TableIter};

/// Iterator over the tables of one sorted level.
pub(crate) struct LevelIter {
    tables: Vec<(Arc<TableMeta>, Arc<Table>)>,
    index: usize,
    cur: Option<TableIter>,
}

impl LevelIter {
    /// REQUIRES: `tables` sorted by smallest key and disjoint.
    pub fn new(tables: Vec<(Arc<TableMeta>, Arc<Table>)>) -> Self {
        LevelIter { tables, index: 0, cur: None }
    }

    fn open(&mut self, index: usize) -> Option<&mut TableIter> {
        if index >= self.tables.len() {
            self.cur = None;
            return None;
        }
        self.index = index;
        self.cur = Some(self.tables[index].1.iter());
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
        let last = self.tables.len().wrapping_sub(1);
        if let Some(c) = self.open(last) {
            c.seek_to_last()?;
        }
        self.skip_backward()
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        // First table whose largest key is >= target.
        let i = self.tables.partition_point(|(m, _)| compare_internal(m.largest.encoded(), target) == Ordering::Less);
        if let Some(c) = self.open(i) {
            c.seek(target)?;
        }
        self.skip_forward()
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        // Last table whose smallest key is <= target.
        let i =
            self.tables.partition_point(|(m, _)| compare_internal(m.smallest.encoded(), target) != Ordering::Greater);
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
