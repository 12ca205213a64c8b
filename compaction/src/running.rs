//! [`Running`]: what the compactions in flight hold, as the picker must see it.
//!
//! Owns two facts per running plan: the files it reads or moves (no other plan may take them,
//! PICK-1) and the key range it will write into its output level (no other plan may write an
//! overlapping range of that level, PICK-6). The engine records a plan when it starts and
//! forgets it when it ends, both under the lock it picks under.

use std::collections::HashSet;

use cairn_base::FileNum;

use crate::plan::Plan;

/// The compactions in flight: their busy files and their output ranges.
///
/// ```
/// use cairn_compaction::Running;
///
/// let running = Running::default();
/// assert!(running.is_empty());
/// assert!(!running.output_meets(3, b"a", b"z"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Running {
    files: HashSet<FileNum>,
    outputs: Vec<Output>,
}

/// One running plan's output: the level it writes and the inclusive user-key range.
#[derive(Debug, Clone)]
struct Output {
    /// The plan's first file, which identifies it: running plans share no file (PICK-1).
    owner: FileNum,
    level: usize,
    lo: Vec<u8>,
    hi: Vec<u8>,
}

impl Running {
    /// Records `plan` as running: its files become busy and its output range taken. Nothing
    /// for `DoNothing`. REQUIRES: none of the plan's files is busy (the picker's plans never
    /// are).
    pub fn start(&mut self, plan: &Plan) {
        let files = plan.files();
        debug_assert!(files.iter().all(|f| !self.files.contains(f)), "{plan} takes a busy file");
        if let (Some(&owner), Some((level, lo, hi))) = (files.first(), plan.output_range()) {
            self.outputs.push(Output { owner, level, lo: lo.to_vec(), hi: hi.to_vec() });
        }
        self.files.extend(files);
    }

    /// Forgets `plan`, which [`start`](Running::start) recorded: its files and output range
    /// are free again.
    pub fn finish(&mut self, plan: &Plan) {
        let files = plan.files();
        if let Some(owner) = files.first() {
            self.outputs.retain(|o| o.owner != *owner);
        }
        for f in &files {
            self.files.remove(f);
        }
    }

    /// Marks `files` busy without an output range: for tools and tests that describe a state
    /// by its busy files alone.
    pub fn hold_files(&mut self, files: impl IntoIterator<Item = FileNum>) {
        self.files.extend(files);
    }

    /// Whether a running plan reads or moves `file`.
    pub fn is_busy(&self, file: FileNum) -> bool {
        self.files.contains(&file)
    }

    /// Whether nothing is running (no busy file, no output range).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.outputs.is_empty()
    }

    /// Whether a running plan writes into `level` a range meeting `[lo, hi]` (inclusive user
    /// keys).
    pub fn output_meets(&self, level: usize, lo: &[u8], hi: &[u8]) -> bool {
        self.outputs.iter().any(|o| o.level == level && o.lo.as_slice() <= hi && lo <= o.hi.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cairn_base::{InternalKey, SeqNum, ValueKind};
    use cairn_manifest::TableMeta;

    use super::*;

    fn meta(file: u64, lo: &str, hi: &str) -> Arc<TableMeta> {
        Arc::new(TableMeta {
            file_num: FileNum(file),
            size_bytes: 10,
            smallest: InternalKey::new(lo.as_bytes(), SeqNum(file), ValueKind::Set),
            largest: InternalKey::new(hi.as_bytes(), SeqNum(file), ValueKind::Set),
            smallest_seq: SeqNum(file),
            largest_seq: SeqNum(file),
            entries: 1,
            tombstones: 0,
        })
    }

    #[test]
    fn start_and_finish_track_files_and_output_ranges() {
        let mut running = Running::default();
        let moving = Plan::Move { level: 2, table: meta(7, "c", "d") };
        running.start(&moving);
        assert!(running.is_busy(FileNum(7)));
        assert!(running.output_meets(3, b"a", b"c"), "the ranges share c");
        assert!(running.output_meets(3, b"c1", b"c2"), "inside");
        assert!(!running.output_meets(3, b"d1", b"z"), "after");
        assert!(!running.output_meets(2, b"a", b"z"), "another level");
        running.hold_files([FileNum(9)]);
        running.finish(&moving);
        assert!(!running.is_busy(FileNum(7)));
        assert!(!running.output_meets(3, b"a", b"z"));
        assert!(running.is_busy(FileNum(9)) && !running.is_empty());
    }
}
