//! [`Version`]: one immutable shape of the LSM tree, and how an edit turns it into the next
//! (docs/format/manifest.md#versions-and-invariants).
//!
//! Owns the level layout and its invariants (docs/invariants.md):
//! * INV-LSM-1: in L1 and below, tables are sorted by smallest key and their user-key ranges
//!   are disjoint (`a.largest_user_key < b.smallest_user_key` for neighbours), so a point lookup
//!   probes at most one table per level.
//! * INV-LSM-2: no file number appears twice in a version, and every table keeps
//!   `smallest <= largest` (see [`TableMeta::check`]).
//! * INV-LSM-3 (the part metadata can show): L0 is ordered newest first (by `largest_seq`,
//!   then file number, descending), the order in which its overlapping tables must be probed.
//!
//! [`Version::apply`] refuses an edit that would break any of them. Which version is current,
//! and who still reads an old one, is the engine's business.

use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use cairn_base::key::compare_internal;
use cairn_base::{Error, FileNum, Result};

use crate::edit::VersionEdit;
use crate::table_meta::{NUM_LEVELS, TableMeta};

/// An immutable shape of the LSM tree. Cheap to clone: each level is one shared `Arc`, and
/// [`Version::apply`] copies only the levels an edit touches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Version {
    levels: [Arc<Vec<Arc<TableMeta>>>; NUM_LEVELS],
    /// Sum of `size_bytes` per level, kept in step with `levels`.
    level_size_bytes: [u64; NUM_LEVELS],
}

impl Version {
    /// Applies `edit` (deletions first, then additions) and returns the new version. Deleting
    /// a table absent from its level, adding a file number already present, a level outside
    /// the tree, or additions that break INV-LSM-1 are corruption (at offset 0 of an unnamed
    /// file: the manifest reader relabels it).
    pub fn apply(&self, edit: &VersionEdit) -> Result<Version> {
        let mut touched: [Option<Vec<Arc<TableMeta>>>; NUM_LEVELS] = Default::default();
        for &(level, file_num) in &edit.deleted {
            let tables = self.touch(&mut touched, level)?;
            let index = tables.iter().position(|t| t.file_num == file_num).ok_or_else(|| {
                Error::corruption("", 0, format!("edit deletes table {file_num}, which is not in L{level}"))
            })?;
            tables.remove(index);
        }
        if !edit.added.is_empty() {
            let mut live: HashSet<FileNum> = HashSet::new();
            for (level, tables) in self.levels.iter().enumerate() {
                let tables = touched[level].as_deref().unwrap_or(tables);
                live.extend(tables.iter().map(|t| t.file_num));
            }
            for (level, meta) in &edit.added {
                meta.check()?;
                if !live.insert(meta.file_num) {
                    return Err(Error::corruption("", 0, format!("edit adds table {} twice", meta.file_num)));
                }
                self.touch(&mut touched, *level)?.push(Arc::new(meta.clone()));
            }
        }
        self.with_levels(touched)
    }

    /// The level's tables, copied out for modification on first touch.
    fn touch<'t>(
        &self,
        touched: &'t mut [Option<Vec<Arc<TableMeta>>>; NUM_LEVELS],
        level: usize,
    ) -> Result<&'t mut Vec<Arc<TableMeta>>> {
        let slot = touched
            .get_mut(level)
            .ok_or_else(|| Error::corruption("", 0, format!("edit names level {level}, beyond the tree")))?;
        Ok(slot.get_or_insert_with(|| self.levels[level].to_vec()))
    }

    /// The version with `touched` levels replaced (sorted and checked), the rest shared.
    fn with_levels(&self, touched: [Option<Vec<Arc<TableMeta>>>; NUM_LEVELS]) -> Result<Version> {
        let mut next = self.clone();
        for (level, tables) in touched.into_iter().enumerate() {
            let Some(mut tables) = tables else { continue };
            if level == 0 {
                tables.sort_by(|a, b| l0_order(a, b));
            } else {
                tables.sort_by(|a, b| compare_internal(a.smallest.encoded(), b.smallest.encoded()));
                check_disjoint(level, &tables)?;
            }
            next.level_size_bytes[level] = tables.iter().map(|t| t.size_bytes).sum();
            next.levels[level] = Arc::new(tables);
        }
        Ok(next)
    }

    /// The tables of `level`: L0 newest first, L1+ sorted by smallest key.
    /// REQUIRES: `level < NUM_LEVELS`.
    pub fn level(&self, level: usize) -> &[Arc<TableMeta>] {
        &self.levels[level]
    }

    /// Total `size_bytes` of the tables of `level`. REQUIRES: `level < NUM_LEVELS`.
    pub fn level_size_bytes(&self, level: usize) -> u64 {
        self.level_size_bytes[level]
    }

    /// Number of tables in every level together.
    pub fn num_tables(&self) -> usize {
        self.levels.iter().map(|l| l.len()).sum()
    }

    /// Tables of `level` whose user-key range intersects `[smallest, largest]` (inclusive user
    /// keys), in the level's order. REQUIRES: `level < NUM_LEVELS`.
    pub fn overlapping(&self, level: usize, smallest: &[u8], largest: &[u8]) -> Vec<Arc<TableMeta>> {
        let tables = &self.levels[level];
        if level == 0 {
            return tables.iter().filter(|t| t.overlaps_user_range(smallest, largest)).cloned().collect();
        }
        // INV-LSM-1 makes the overlapping tables one contiguous run.
        let start = tables.partition_point(|t| t.largest_user_key() < smallest);
        tables[start..].iter().take_while(|t| t.smallest_user_key() <= largest).cloned().collect()
    }

    /// Candidates for a point lookup of `user_key`, in the order they must be probed (newest
    /// data first): every L0 table whose range holds the key (newest first), then at most one
    /// table per level >= 1 (binary search). Allocates nothing.
    pub fn tables_for_key<'a>(&'a self, user_key: &'a [u8]) -> impl Iterator<Item = (usize, &'a Arc<TableMeta>)> + 'a {
        let l0 = self.levels[0].iter().filter(move |t| t.contains_user_key(user_key)).map(|t| (0, t));
        let deeper = (1..NUM_LEVELS).filter_map(move |level| self.table_holding(level, user_key).map(|t| (level, t)));
        l0.chain(deeper)
    }

    /// The one table of `level >= 1` whose range holds `user_key`, if any.
    fn table_holding(&self, level: usize, user_key: &[u8]) -> Option<&Arc<TableMeta>> {
        let tables = &self.levels[level];
        let index = tables.partition_point(|t| t.largest_user_key() < user_key);
        tables.get(index).filter(|t| t.smallest_user_key() <= user_key)
    }

    /// The file numbers of every table in the version.
    pub fn live_files(&self) -> impl Iterator<Item = FileNum> + '_ {
        self.levels.iter().flat_map(|l| l.iter().map(|t| t.file_num))
    }

    /// Verifies INV-LSM-1 (L1+ sorted and disjoint by user key), INV-LSM-2 (no file number
    /// twice; every table's own relations) and INV-LSM-3 (L0 newest first). O(tables).
    pub fn check_invariants(&self) -> Result<()> {
        let mut seen = HashSet::new();
        for (level, tables) in self.levels.iter().enumerate() {
            for t in tables.iter() {
                t.check()?;
                if !seen.insert(t.file_num) {
                    return Err(Error::corruption("", 0, format!("INV-LSM-2: table {} appears twice", t.file_num)));
                }
            }
            if level == 0 {
                if let Some(w) = tables.windows(2).find(|w| l0_order(&w[0], &w[1]) != Ordering::Less) {
                    let what = format!("INV-LSM-3: L0 table {} is not newer than {}", w[0].file_num, w[1].file_num);
                    return Err(Error::corruption("", 0, what));
                }
            } else {
                check_disjoint(level, tables)?;
            }
            let size_bytes: u64 = tables.iter().map(|t| t.size_bytes).sum();
            debug_assert_eq!(size_bytes, self.level_size_bytes[level], "cached size of L{level}");
        }
        Ok(())
    }

    /// The full state as one edit, for the first record of a new manifest: `added` holds every
    /// table (level by level, in level order); the caller fills `log_number`, `next_file_num`
    /// and `last_seq`.
    pub fn snapshot_edit(&self) -> VersionEdit {
        let added = self
            .levels
            .iter()
            .enumerate()
            .flat_map(|(level, tables)| tables.iter().map(move |t| (level, TableMeta::clone(t))))
            .collect();
        VersionEdit { added, ..VersionEdit::default() }
    }
}

/// INV-LSM-3: newest first, by largest sequence number, then file number.
fn l0_order(a: &TableMeta, b: &TableMeta) -> Ordering {
    b.largest_seq.cmp(&a.largest_seq).then(b.file_num.cmp(&a.file_num))
}

/// INV-LSM-1 for one level: neighbours strictly ordered and disjoint by user key.
fn check_disjoint(level: usize, tables: &[Arc<TableMeta>]) -> Result<()> {
    match tables.windows(2).find(|w| w[0].largest_user_key() >= w[1].smallest_user_key()) {
        Some(w) => {
            let what = format!(
                "INV-LSM-1: L{level} tables {} and {} overlap or are out of order",
                w[0].file_num, w[1].file_num
            );
            Err(Error::corruption("", 0, what))
        }
        None => Ok(()),
    }
}

impl fmt::Display for Version {
    /// One line per non-empty level (`L1:`) followed by one indented line per table.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.num_tables() == 0 {
            return writeln!(f, "(empty)");
        }
        for (level, tables) in self.levels.iter().enumerate().filter(|(_, t)| !t.is_empty()) {
            writeln!(f, "L{level}:")?;
            for t in tables.iter() {
                writeln!(f, "  {t}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_base::{InternalKey, SeqNum, ValueKind};

    fn table(file_num: u64, smallest: &str, largest: &str, seq: u64) -> TableMeta {
        TableMeta {
            file_num: FileNum(file_num),
            size_bytes: 100 * file_num,
            smallest: InternalKey::new(smallest.as_bytes(), SeqNum(seq), ValueKind::Set),
            largest: InternalKey::new(largest.as_bytes(), SeqNum(seq), ValueKind::Set),
            smallest_seq: SeqNum(seq),
            largest_seq: SeqNum(seq),
            entries: 2,
            tombstones: 0,
        }
    }

    fn add(tables: Vec<(usize, TableMeta)>) -> VersionEdit {
        VersionEdit { added: tables, ..VersionEdit::default() }
    }

    fn files(tables: &[Arc<TableMeta>]) -> Vec<u64> {
        tables.iter().map(|t| t.file_num.0).collect()
    }

    fn sample() -> Version {
        let edit = add(vec![
            (0, table(10, "c", "k", 30)),
            (0, table(11, "a", "d", 40)),
            (0, table(12, "x", "z", 35)),
            (1, table(5, "m", "p", 5)),
            (1, table(4, "a", "e", 4)),
            (2, table(3, "b", "n", 3)),
            (3, table(2, "c", "c", 2)),
        ]);
        Version::default().apply(&edit).expect("valid edit")
    }

    #[test]
    fn l0_is_newest_first_and_l1_sorted() {
        let v = sample();
        assert_eq!(files(v.level(0)), [11, 12, 10]);
        assert_eq!(files(v.level(1)), [4, 5]);
        assert_eq!(v.level_size_bytes(1), 900);
        assert_eq!(v.num_tables(), 7);
        v.check_invariants().expect("invariants");
    }

    #[test]
    fn tables_for_key_probes_l0_newest_first_then_one_per_level() {
        let v = sample();
        let probe = |k: &str| v.tables_for_key(k.as_bytes()).map(|(l, t)| (l, t.file_num.0)).collect::<Vec<_>>();
        assert_eq!(probe("c"), [(0, 11), (0, 10), (1, 4), (2, 3), (3, 2)]);
        assert_eq!(probe("f"), [(0, 10), (2, 3)]);
        assert_eq!(probe("o"), [(1, 5)]);
        assert_eq!(probe("q"), []);
        assert_eq!(probe("y"), [(0, 12)]);
    }

    #[test]
    fn overlapping_is_inclusive_and_contiguous() {
        let v = sample();
        assert_eq!(files(&v.overlapping(1, b"e", b"m")), [4, 5]);
        assert_eq!(files(&v.overlapping(1, b"f", b"l")), Vec::<u64>::new());
        assert_eq!(files(&v.overlapping(0, b"l", b"w")), Vec::<u64>::new());
        assert_eq!(files(&v.overlapping(0, b"d", b"d")), [11, 10]);
    }

    #[test]
    fn apply_rejects_absent_delete_duplicate_add_and_overlap() {
        let v = sample();
        let del = VersionEdit { deleted: vec![(1, FileNum(3))], ..VersionEdit::default() };
        assert!(v.apply(&del).is_err_and(|e| e.is_corruption()));
        assert!(v.apply(&add(vec![(4, table(5, "q", "r", 1))])).is_err_and(|e| e.is_corruption()));
        assert!(v.apply(&add(vec![(1, table(20, "e", "f", 1))])).is_err_and(|e| e.is_corruption()));
        assert!(v.apply(&add(vec![(7, table(20, "e", "f", 1))])).is_err_and(|e| e.is_corruption()));
        let ok = v.apply(&add(vec![(1, table(20, "f", "l", 1))])).expect("fits in the gap");
        assert_eq!(files(ok.level(1)), [4, 20, 5]);
    }

    #[test]
    fn move_deletes_then_adds_same_file_number() {
        let v = sample();
        let t = TableMeta::clone(&v.level(3)[0]);
        let edit = VersionEdit { deleted: vec![(3, t.file_num)], added: vec![(4, t)], ..VersionEdit::default() };
        let moved = v.apply(&edit).expect("move");
        assert!(moved.level(3).is_empty());
        assert_eq!(files(moved.level(4)), [2]);
        assert_eq!(moved.level_size_bytes(3), 0);
        assert_eq!(moved.level_size_bytes(4), 200);
        // Untouched levels are shared, not copied.
        assert!(Arc::ptr_eq(&v.levels[1], &moved.levels[1]));
    }

    #[test]
    fn snapshot_edit_rebuilds_the_same_version() {
        let v = sample();
        let rebuilt = Version::default().apply(&v.snapshot_edit()).expect("snapshot applies");
        assert_eq!(rebuilt, v);
        assert_eq!(v.live_files().count(), 7);
    }

    #[test]
    fn display_lists_levels() {
        let v = Version::default().apply(&add(vec![(2, table(3, "b", "n", 3))])).expect("apply");
        assert_eq!(v.to_string(), "L2:\n  000003:[b#3,SET-n#3,SET] 300B seqs=3-3 entries=2 tombstones=0\n");
        assert_eq!(Version::default().to_string(), "(empty)\n");
    }
}
