//! [`Plan`]: what the picker chose, as a value the engine carries out (docs/format/manifest.md
//! describes the edits it turns into).
//!
//! Owns the plan shapes (`DoNothing | Move | Merge`), their canonical text form (used by the
//! data-driven tests and tools), and the [`VersionEdit`] each becomes once carried out. Choosing
//! a plan is `picker`'s job; running a merge is `merge`'s.

use std::fmt;
use std::sync::Arc;

use cairn_base::FileNum;
use cairn_manifest::{TableMeta, VersionEdit};

/// A compaction choice. The picker decides; the engine carries it out.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Nothing needs compacting, or everything that does is blocked by running compactions
    /// (their busy files or output ranges).
    DoNothing,
    /// Trivial move: re-link one table from `level` to `level + 1` without rewriting it (no
    /// overlap below).
    Move {
        /// The level the table leaves.
        level: usize,
        /// The table.
        table: Arc<TableMeta>,
    },
    /// Rewrite `inputs` and `next_inputs` into new tables in `output_level`.
    Merge(MergePlan),
}

/// A merge: every input table is read, and the result replaces them in `output_level`.
#[derive(Debug, Clone)]
pub struct MergePlan {
    /// The level the inputs come from.
    pub level: usize,
    /// The tables of `level` to merge (L0: newest first).
    pub inputs: Vec<Arc<TableMeta>>,
    /// The tables of `output_level` overlapping the inputs (empty when `output_level == level`).
    pub next_inputs: Vec<Arc<TableMeta>>,
    /// The level the outputs go to: `level + 1`, or `level` for an in-place rewrite of the
    /// last level.
    pub output_level: usize,
    /// No level below `output_level` holds data overlapping the inputs' key range, so
    /// tombstones visible to every snapshot can be dropped.
    pub bottommost: bool,
    /// The score of `level` when the plan was picked (>= 1 for automatic plans).
    pub score: f64,
}

impl MergePlan {
    /// File numbers of every input table.
    pub fn files(&self) -> impl Iterator<Item = FileNum> + '_ {
        self.inputs.iter().chain(&self.next_inputs).map(|t| t.file_num)
    }

    /// Total `size_bytes` of every input table.
    pub fn input_size_bytes(&self) -> u64 {
        self.inputs.iter().chain(&self.next_inputs).map(|t| t.size_bytes).sum()
    }

    /// The smallest and largest user key over every input table.
    pub fn user_key_range(&self) -> (&[u8], &[u8]) {
        user_key_range(self.inputs.iter().chain(&self.next_inputs))
            .expect("a merge plan always has at least one input table")
    }

    /// The edit that installs `outputs` in place of the inputs.
    pub fn edit(&self, outputs: Vec<TableMeta>) -> VersionEdit {
        let deleted = self
            .inputs
            .iter()
            .map(|t| (self.level, t.file_num))
            .chain(self.next_inputs.iter().map(|t| (self.output_level, t.file_num)))
            .collect();
        let added = outputs.into_iter().map(|t| (self.output_level, t)).collect();
        VersionEdit { deleted, added, ..VersionEdit::default() }
    }
}

impl Plan {
    /// File numbers of every table the plan reads or moves (the engine marks them busy).
    pub fn files(&self) -> Vec<FileNum> {
        match self {
            Plan::DoNothing => Vec::new(),
            Plan::Move { table, .. } => vec![table.file_num],
            Plan::Merge(m) => m.files().collect(),
        }
    }

    /// The level the plan writes and the user-key range it may write there (inclusive):
    /// a move writes its table's range one level down; a merge writes at most the range of all
    /// its inputs into `output_level`. `None` for `DoNothing`.
    pub fn output_range(&self) -> Option<(usize, &[u8], &[u8])> {
        match self {
            Plan::DoNothing => None,
            Plan::Move { level, table } => Some((level + 1, table.smallest_user_key(), table.largest_user_key())),
            Plan::Merge(m) => {
                let (lo, hi) = m.user_key_range();
                Some((m.output_level, lo, hi))
            }
        }
    }

    /// The edit that carries the plan out: empty for `DoNothing`, delete-and-re-add one level
    /// down for `Move`, and [`MergePlan::edit`] with `outputs` for `Merge`. REQUIRES: `outputs`
    /// is empty unless the plan is a merge.
    pub fn edit(&self, outputs: Vec<TableMeta>) -> VersionEdit {
        match self {
            Plan::DoNothing => {
                assert!(outputs.is_empty(), "only a merge has output tables");
                VersionEdit::default()
            }
            Plan::Move { level, table } => {
                assert!(outputs.is_empty(), "only a merge has output tables");
                VersionEdit {
                    deleted: vec![(*level, table.file_num)],
                    added: vec![(level + 1, TableMeta::clone(table))],
                    ..VersionEdit::default()
                }
            }
            Plan::Merge(m) => m.edit(outputs),
        }
    }
}

/// The smallest and largest user key over `tables`, or `None` when there are none.
pub(crate) fn user_key_range<'a>(tables: impl Iterator<Item = &'a Arc<TableMeta>>) -> Option<(&'a [u8], &'a [u8])> {
    tables.fold(None, |range, t| {
        let (lo, hi) = (t.smallest_user_key(), t.largest_user_key());
        Some(match range {
            None => (lo, hi),
            Some((a, b)) => (a.min(lo), b.max(hi)),
        })
    })
}

fn fmt_files(f: &mut fmt::Formatter<'_>, tables: &[Arc<TableMeta>]) -> fmt::Result {
    f.write_str("[")?;
    for (i, t) in tables.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{}", t.file_num)?;
    }
    f.write_str("]")
}

impl fmt::Display for Plan {
    /// `do-nothing`, `move L1 000005 -> L2`, or
    /// `merge L0 -> L1 inputs=[000007,000006] next=[000003] bottommost=false score=1.25`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Plan::DoNothing => f.write_str("do-nothing"),
            Plan::Move { level, table } => write!(f, "move L{level} {} -> L{}", table.file_num, level + 1),
            Plan::Merge(m) => {
                write!(f, "merge L{} -> L{} inputs=", m.level, m.output_level)?;
                fmt_files(f, &m.inputs)?;
                f.write_str(" next=")?;
                fmt_files(f, &m.next_inputs)?;
                write!(f, " bottommost={} score={:.2}", m.bottommost, m.score)
            }
        }
    }
}
