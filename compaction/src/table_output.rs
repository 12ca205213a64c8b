//! Binds the merge to real tables: [`run_merge`] writes through `cairn_sstable::TableBuilder`,
//! and [`table_meta`] turns a finished table's summary into the manifest's description.
//!
//! Owns only the glue; the merge rules are `merge`'s, the table format `cairn-sstable`'s, and
//! the manifest record `cairn-manifest`'s.

use cairn_base::Result;
use cairn_base::iter::InternalIterator;
use cairn_manifest::TableMeta;
use cairn_sstable::{TableBuilder, TableSummary};

use crate::merge::{MergeOutput, MergeSettings, MergeStats, merge_into};

/// The manifest's description of a finished table.
pub fn table_meta(s: &TableSummary) -> TableMeta {
    TableMeta {
        file_num: s.file_num,
        size_bytes: s.size_bytes,
        smallest: s.smallest.clone(),
        largest: s.largest.clone(),
        smallest_seq: s.smallest_seq,
        largest_seq: s.largest_seq,
        entries: s.entries,
        tombstones: s.tombstones,
    }
}

impl MergeOutput for TableBuilder {
    type Finished = TableSummary;

    fn add(&mut self, ikey: &[u8], value: &[u8]) -> Result<()> {
        TableBuilder::add(self, ikey, value)
    }

    fn estimated_size_bytes(&self) -> u64 {
        TableBuilder::estimated_size_bytes(self)
    }

    fn finish(self) -> Result<TableSummary> {
        TableBuilder::finish(self)
    }

    fn finished_size_bytes(finished: &TableSummary) -> u64 {
        finished.size_bytes
    }
}

/// Runs a merge: reads `input` (a merging iterator over all input tables, positioned here with
/// `seek_to_first`) and writes outputs through `new_output` (called whenever a new output table
/// must start; the engine allocates the file number). Drops every version no snapshot can see
/// and, when `bottommost`, tombstones visible to every snapshot (MERGE-1..4 in `merge.rs`);
/// splits outputs at `target_file_size_bytes`, only between user keys. Returns the finished
/// tables in key order. On error, tables already finished stay on disk unreferenced (the
/// engine's cleanup removes files no version names).
pub fn run_merge(
    input: &mut dyn InternalIterator,
    settings: &MergeSettings,
    new_output: &mut dyn FnMut() -> Result<TableBuilder>,
) -> Result<(Vec<TableSummary>, MergeStats)> {
    merge_into(input, settings, new_output)
}
