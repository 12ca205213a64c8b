//! Test support shared by the manifest test binaries: temporary directories and sample edits.
#![allow(dead_code, reason = "shared by several test binaries, each using a subset")]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use cairn_base::{FileNum, InternalKey, SeqNum, ValueKind};
use cairn_manifest::{TableMeta, VersionEdit};

/// A directory under the system temp dir, removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cairn-manifest-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A table over `[lo, hi]` whose entries carry sequence numbers `seq..=seq + 9`.
pub fn table(file_num: u64, lo: &str, hi: &str, seq: u64) -> TableMeta {
    TableMeta {
        file_num: FileNum(file_num),
        size_bytes: 1000 + file_num,
        smallest: InternalKey::new(lo.as_bytes(), SeqNum(seq + 9), ValueKind::Set),
        largest: InternalKey::new(hi.as_bytes(), SeqNum(seq), ValueKind::Delete),
        smallest_seq: SeqNum(seq),
        largest_seq: SeqNum(seq + 9),
        entries: 10,
        tombstones: 2,
    }
}

/// A deterministic history: an initial full state, two flushes, a compaction and a move.
pub fn sample_edits() -> Vec<VersionEdit> {
    vec![
        VersionEdit {
            log_number: Some(FileNum(2)),
            next_file_num: Some(FileNum(5)),
            last_seq: Some(SeqNum(40)),
            added: vec![(1, table(3, "a", "f", 10)), (2, table(4, "c", "m", 1))],
            ..VersionEdit::default()
        },
        VersionEdit {
            log_number: Some(FileNum(6)),
            next_file_num: Some(FileNum(8)),
            last_seq: Some(SeqNum(60)),
            added: vec![(0, table(7, "b", "k", 50))],
            ..VersionEdit::default()
        },
        VersionEdit {
            log_number: Some(FileNum(9)),
            next_file_num: Some(FileNum(11)),
            last_seq: Some(SeqNum(75)),
            added: vec![(0, table(10, "e", "z", 65))],
            ..VersionEdit::default()
        },
        VersionEdit {
            next_file_num: Some(FileNum(13)),
            deleted: vec![(0, FileNum(7)), (0, FileNum(10)), (1, FileNum(3))],
            added: vec![(1, table(11, "a", "h", 10)), (1, table(12, "i", "z", 50))],
            ..VersionEdit::default()
        },
        VersionEdit {
            deleted: vec![(2, FileNum(4))],
            added: vec![(3, table(4, "c", "m", 1))],
            ..VersionEdit::default()
        },
    ]
}
