//! The version set: the current `Version`, the manifest log that records every change to it,
//! file-number allocation, the open table handles, and the files waiting to be deleted.
//!
//! Everything here is guarded by `Inner::versions` (one mutex); super-versions are installed
//! only while holding it, so installs are totally ordered. Lock order: commit writer state,
//! then `versions`, then `Inner::current`.
//!
//! A change is `log_and_apply`: the edit is appended to the manifest and synced *before* the
//! new version becomes current (a crash in between leaves the old version, which still names
//! only existing files). A failed manifest write poisons the database (G6).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use cairn_base::filename::{manifest_path, table_path};
use cairn_base::vfs::Vfs;
use cairn_base::{Error, FileNum, Result, SeqNum};
use cairn_compaction::Running;
use cairn_manifest::{ManifestWriter, Version, VersionEdit, set_current};
use cairn_sstable::{Table, TableReaderOptions};

use crate::super_version::TableSet;

/// State guarded by `Inner::versions`.
#[derive(Debug)]
pub(crate) struct VersionSet {
    pub dir: PathBuf,
    pub vfs: Arc<dyn Vfs>,
    pub version: Arc<Version>,
    pub manifest: ManifestWriter,
    pub next_file_num: u64,
    /// WALs numbered below this are fully flushed.
    pub log_number: FileNum,
    /// Largest sequence number recorded in the manifest.
    pub last_seq: SeqNum,
    pub tables: Arc<TableSet>,
    pub reader_opts: TableReaderOptions,
    /// The compactions in flight: their files (which the picker never chooses again) and
    /// their output ranges (which no other plan may write into).
    pub running: Running,
    /// A manual compaction owns the tree; background compactions wait.
    pub manual_compaction: bool,
    /// Tables dropped from the current version, deleted once no reader holds them.
    pub obsolete: Vec<(FileNum, Weak<Table>)>,
    pub manifest_rollover_bytes: u64,
    /// Set once a manifest write or sync failed: the manifest's durable state is unknown, so
    /// it is never written again (G6); the database is poisoned.
    pub manifest_failed: Option<Arc<Error>>,
}

impl VersionSet {
    /// Names the manifest in an error from applying an edit in memory, before it is logged:
    /// such an edit would break the tree (an engine defect, never a file's), so it is refused
    /// and the manifest is left as it was. The offset is the current manifest's end; nothing was
    /// written there or anywhere else.
    fn refused(&self, e: Error) -> Error {
        match e {
            Error::Corruption { what, .. } => Error::corruption(
                manifest_path(&self.dir, self.manifest.file_num()),
                self.manifest.size_bytes(),
                format!("edit refused before it was logged (the manifest is unchanged): {what}"),
            ),
            other => other,
        }
    }

    /// Allocates a fresh file number.
    pub fn alloc_file_num(&mut self) -> FileNum {
        let n = FileNum(self.next_file_num);
        self.next_file_num += 1;
        n
    }

    /// Opens the table `file_num` in this database's directory.
    pub fn open_table(&self, file_num: FileNum) -> Result<Arc<Table>> {
        open_table(&*self.vfs, &self.dir, file_num, &self.reader_opts)
    }

    /// Records `edit` durably, then makes the resulting version current and updates the open
    /// table set (`opened` holds the tables the edit adds, already open). The caller poisons
    /// the database if this fails.
    pub fn log_and_apply(&mut self, mut edit: VersionEdit, opened: Vec<Arc<Table>>) -> Result<()> {
        if let Some(cause) = &self.manifest_failed {
            return Err(Error::Poisoned { cause: cause.clone() });
        }
        edit.next_file_num = Some(FileNum(self.next_file_num));
        if edit.last_seq.is_none() {
            edit.last_seq = Some(self.last_seq);
        }
        let next = self.version.apply(&edit).map_err(|e| self.refused(e))?;
        #[cfg(feature = "invariants")]
        next.check_invariants().map_err(|e| self.refused(e))?;
        let logged = if self.manifest.size_bytes() >= self.manifest_rollover_bytes {
            self.roll_manifest(&next, &edit)
        } else {
            self.manifest.append(&edit)
        };
        if let Err(e) = logged {
            self.manifest_failed = Some(Arc::new(e.clone()));
            return Err(e);
        }
        if let Some(l) = edit.log_number {
            self.log_number = l;
        }
        if let Some(s) = edit.last_seq {
            self.last_seq = self.last_seq.max(s);
        }
        let mut tables: TableSet = (*self.tables).clone();
        for (_, f) in &edit.deleted {
            // A trivial move deletes and re-adds the same file: it stays open and live.
            if edit.added.iter().any(|(_, m)| m.file_num == *f) {
                continue;
            }
            if let Some(t) = tables.remove(f) {
                self.obsolete.push((*f, Arc::downgrade(&t)));
            }
        }
        for t in opened {
            tables.insert(t.file_num(), t);
        }
        self.tables = Arc::new(tables);
        self.version = Arc::new(next);
        Ok(())
    }

    /// Starts a new manifest holding the full state of `next`, then points CURRENT at it.
    fn roll_manifest(&mut self, next: &Version, edit: &VersionEdit) -> Result<()> {
        let num = self.alloc_file_num();
        let mut initial = next.snapshot_edit();
        initial.log_number = Some(edit.log_number.unwrap_or(self.log_number));
        initial.next_file_num = Some(FileNum(self.next_file_num));
        initial.last_seq = Some(edit.last_seq.unwrap_or(self.last_seq).max(self.last_seq));
        let writer = ManifestWriter::create(&*self.vfs, &self.dir, num, &initial)?;
        set_current(&*self.vfs, &self.dir, num)?;
        let old = std::mem::replace(&mut self.manifest, writer);
        // The old manifest is no longer named by CURRENT; failing to remove it only wastes space.
        let _ = self.vfs.remove_file(&manifest_path(&self.dir, old.file_num()));
        Ok(())
    }

    /// Deletes obsolete tables no reader holds any more. Returns how many were deleted.
    pub fn delete_unreferenced(&mut self) -> Result<usize> {
        let mut deleted = 0;
        let mut first_err = None;
        let vfs = self.vfs.clone();
        let dir = self.dir.clone();
        self.obsolete.retain(|(num, weak)| {
            if weak.strong_count() > 0 {
                return true;
            }
            match vfs.remove_file(&table_path(&dir, *num)) {
                Ok(()) => {
                    deleted += 1;
                    false
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                    true
                }
            }
        });
        if deleted > 0 {
            self.vfs.sync_dir(&self.dir)?;
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(deleted),
        }
    }
}

/// Opens table `file_num` of `dir`.
pub(crate) fn open_table(
    vfs: &dyn Vfs,
    dir: &Path,
    file_num: FileNum,
    opts: &TableReaderOptions,
) -> Result<Arc<Table>> {
    let file = vfs.open(&table_path(dir, file_num))?;
    Table::open(file, file_num, opts)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use cairn_base::vfs::Vfs;
    use cairn_base::{Error, FileNum, InternalKey, SeqNum, ValueKind};
    use cairn_manifest::{TableMeta, VersionEdit};
    use cairn_testkit::CrashFs;

    use crate::Options;

    fn table(file: u64, lo: &[u8], hi: &[u8]) -> TableMeta {
        TableMeta {
            file_num: FileNum(file),
            size_bytes: 1,
            smallest: InternalKey::new(lo, SeqNum(1), ValueKind::Set),
            largest: InternalKey::new(hi, SeqNum(1), ValueKind::Set),
            smallest_seq: SeqNum(1),
            largest_seq: SeqNum(1),
            entries: 1,
            tombstones: 0,
        }
    }

    #[test]
    fn an_edit_that_would_break_the_tree_is_refused_naming_the_manifest() {
        let fs = CrashFs::new();
        let dir = Path::new("/db");
        let db = Options::default().vfs(fs.clone()).open(dir).expect("open");
        db.put(b"k", b"v").expect("put");
        db.flush().expect("flush");
        let mut versions = db.inner().versions.lock();
        let manifest = cairn_base::filename::manifest_path(dir, versions.manifest.file_num());
        let before = (versions.manifest.size_bytes(), fs.read_all(&manifest).expect("read manifest"));
        let bogus = VersionEdit { deleted: vec![(3, FileNum(999_999))], ..VersionEdit::default() };
        match versions.log_and_apply(bogus, Vec::new()) {
            Err(Error::Corruption { file, offset, what }) => {
                assert_eq!(file, manifest);
                assert_eq!(offset, before.0, "where the edit would have gone");
                assert!(what.contains("refused before it was logged") && what.contains("999999"), "{what}");
            }
            other => panic!("expected a refused edit, got {other:?}"),
        }
        // The kind of edit the whitebox soak caught: additions that overlap within L1+.
        let overlapping = VersionEdit {
            added: vec![(3, table(999_990, b"a", b"m")), (3, table(999_991, b"k", b"z"))],
            ..VersionEdit::default()
        };
        match versions.log_and_apply(overlapping, Vec::new()) {
            Err(Error::Corruption { file, what, .. }) => {
                assert_eq!(file, manifest);
                assert!(what.contains("INV-LSM-1") && what.contains("unchanged"), "{what}");
            }
            other => panic!("expected a refused edit, got {other:?}"),
        }
        assert_eq!(versions.manifest.size_bytes(), before.0);
        assert_eq!(fs.read_all(&manifest).expect("read manifest"), before.1, "nothing was logged");
        assert!(versions.manifest_failed.is_none(), "the manifest itself is fine");
    }
}
