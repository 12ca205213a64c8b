//! Flush: writing a sealed memtable to a level-0 table (docs/durability.md#flush).
//!
//! Order of durable steps: the table is written and fsynced (by `TableBuilder::finish`), the
//! directory is fsynced, then one manifest edit adds the table and advances `log_number` past
//! the memtable's WAL; only after that edit is durable is the WAL deleted. A crash at any point
//! leaves either the old state (WAL still replayed; the orphan table is deleted at open) or the
//! new one.

use std::sync::Arc;

use cairn_base::filename::{table_path, wal_path};
use cairn_base::iter::InternalIterator;
use cairn_base::{FileNum, Result};
use cairn_compaction::table_meta;
use cairn_manifest::VersionEdit;
use std::path::Path;

use cairn_base::vfs::Vfs;
use cairn_sstable::{TableBuilder, TableOptions, TableSummary};

use crate::inner::{Inner, Stats};
use crate::memtable::MemTable;
use crate::super_version::SuperVersion;

impl Inner {
    /// Table options for new tables.
    pub fn table_options(&self) -> TableOptions {
        crate::recovery::table_options(&self.opts)
    }

    /// Starts a new table file with a fresh number.
    pub fn new_table_builder(&self) -> Result<(TableBuilder, FileNum)> {
        let num = self.versions.lock().alloc_file_num();
        let path = table_path(&self.dir, num);
        let file = self.vfs.create(&path)?;
        Ok((TableBuilder::new(file, path, num, &self.table_options())?, num))
    }

    /// Flushes the oldest sealed memtable, if any. Returns whether one was flushed.
    pub fn flush_oldest(&self) -> Result<bool> {
        let sv = self.super_version();
        let Some(imm) = sv.imms.last().cloned() else { return Ok(false) };
        let written = write_memtable(self, &imm.mem)?;
        let opened = match &written {
            Some(s) => vec![self.versions.lock().open_table(s.file_num)?],
            None => Vec::new(),
        };
        let mut versions = self.versions.lock();
        let current = self.super_version();
        // The WAL of the next-oldest memtable (or of the active one) is now the oldest needed.
        let position = current.imms.iter().position(|i| Arc::ptr_eq(i, &imm)).expect("only the flusher removes imms");
        let log_number = match position.checked_sub(1) {
            Some(newer) => current.imms[newer].wal_num,
            None => current.mem_wal,
        };
        let mut edit =
            VersionEdit { log_number: Some(log_number), last_seq: Some(imm.largest_seq), ..Default::default() };
        if let Some(s) = &written {
            edit.added.push((0, table_meta(s)));
        }
        if let Err(e) = versions.log_and_apply(edit, opened) {
            drop(versions);
            self.poison(&e);
            return Err(e);
        }
        let (version, tables) = (versions.version.clone(), versions.tables.clone());
        self.install(|cur| {
            let imms = cur.imms.iter().filter(|i| !Arc::ptr_eq(i, &imm)).cloned().collect();
            SuperVersion::new(cur.mem.clone(), cur.mem_wal, imms, version, tables)
        });
        drop(versions);
        Stats::add(&self.stats.flushes, 1);
        Stats::add(&self.stats.flush_bytes_written, written.as_ref().map_or(0, |s| s.size_bytes));
        self.delete_wals_below(log_number)?;
        Ok(true)
    }

    /// Deletes every WAL numbered below `log_number` (all flushed).
    pub fn delete_wals_below(&self, log_number: FileNum) -> Result<()> {
        let mut removed = false;
        for name in self.vfs.list_dir(&self.dir)? {
            if let Some(cairn_base::filename::FileKind::Wal(n)) = cairn_base::filename::parse_file_name(&name)
                && n < log_number
            {
                self.vfs.remove_file(&wal_path(&self.dir, n))?;
                removed = true;
            }
        }
        if removed {
            self.vfs.sync_dir(&self.dir)?;
        }
        Ok(())
    }
}

/// Writes every entry of `mem` to a new table; `None` when the memtable is empty.
pub(crate) fn write_memtable(inner: &Inner, mem: &Arc<MemTable>) -> Result<Option<TableSummary>> {
    if mem.is_empty() {
        return Ok(None);
    }
    let num = inner.versions.lock().alloc_file_num();
    write_memtable_to(&*inner.vfs, &inner.dir, num, &inner.table_options(), mem).map(Some)
}

/// Writes every entry of `mem` to table `num` of `dir` and fsyncs the directory. On failure
/// the partial file is removed (best effort: an orphan is also removed at the next open).
pub(crate) fn write_memtable_to(
    vfs: &dyn Vfs,
    dir: &Path,
    num: FileNum,
    opts: &TableOptions,
    mem: &Arc<MemTable>,
) -> Result<TableSummary> {
    let path = table_path(dir, num);
    let result = (|| {
        let mut builder = TableBuilder::new(vfs.create(&path)?, path.clone(), num, opts)?;
        let mut it = mem.iter();
        it.seek_to_first()?;
        while it.valid() {
            builder.add(it.key(), it.value())?;
            it.next()?;
        }
        let summary = builder.finish()?;
        vfs.sync_dir(dir)?;
        Ok(summary)
    })();
    if result.is_err() {
        // The file is not referenced by any version; leaving it behind only wastes space.
        let _ = vfs.remove_file(&path);
    }
    result
}
