//! The super-version: the active memtable, the sealed memtables waiting for flush, the
//! current `Version` and the open tables it names, published together as one immutable value.
//!
//! Readers pin a super-version (an `Arc` clone) and read everything from it, so a read never
//! sees half of a flush or compaction. A new super-version is installed (under the version
//! set's lock, so installs are serialized) on every memtable switch, flush and compaction.
//! Tables named by a pinned super-version stay open and their files stay on disk (INV-FILE-1).

use std::collections::HashMap;
use std::sync::Arc;

use cairn_base::{FileNum, SeqNum};
use cairn_manifest::Version;
use cairn_sstable::Table;

use crate::memtable::MemTable;

/// A sealed memtable and the WAL file holding its writes.
#[derive(Debug)]
pub(crate) struct Imm {
    pub mem: Arc<MemTable>,
    pub wal_num: FileNum,
    /// Largest sequence number written to `mem`.
    pub largest_seq: SeqNum,
}

/// Open table handles by file number.
pub(crate) type TableSet = HashMap<FileNum, Arc<Table>>;

/// One consistent view of the whole tree.
#[derive(Debug)]
pub(crate) struct SuperVersion {
    /// The memtable receiving writes.
    pub mem: Arc<MemTable>,
    /// The WAL receiving writes for `mem`.
    pub mem_wal: FileNum,
    /// Sealed memtables, newest first.
    pub imms: Vec<Arc<Imm>>,
    pub version: Arc<Version>,
    /// Every table of `version`, open.
    pub tables: Arc<TableSet>,
}

impl SuperVersion {
    /// The open table for a file of `version`. INV-SV-1: every table of `version` is in
    /// `tables`, so a miss is a bug, reported as corruption rather than a panic.
    pub fn table(&self, file_num: FileNum) -> cairn_base::Result<&Arc<Table>> {
        self.tables.get(&file_num).ok_or_else(|| {
            cairn_base::Error::corruption(
                format!("{file_num}.sst"),
                0,
                "table named by the current version is not open (INV-SV-1)",
            )
        })
    }

    /// Number of level-0 tables.
    pub fn l0_tables(&self) -> usize {
        self.version.level(0).len()
    }
}
