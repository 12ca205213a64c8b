//! File names in a database directory (docs/format/manifest.md#files). Names read from disk
//! must match one of these patterns exactly; anything else is ignored by cleanup and reported
//! by `check`, never parsed loosely.
//!
//! * `NNNNNN.wal` — write-ahead log, `NNNNNN.sst` — table, `MANIFEST-NNNNNN` — manifest log:
//!   `NNNNNN` is a decimal file number of at least six digits, no sign, no leading `+`.
//! * `CURRENT` — names the live manifest; `CURRENT.tmp` — its replacement being written.
//! * `LOCK` — the exclusive lock.

use std::path::{Path, PathBuf};

use crate::key::FileNum;

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    /// `NNNNNN.wal`
    Wal(FileNum),
    /// `NNNNNN.sst`
    Table(FileNum),
    /// `MANIFEST-NNNNNN`
    Manifest(FileNum),
    /// `CURRENT`
    Current,
    /// `CURRENT.tmp`
    CurrentTemp,
    /// `LOCK`
    Lock,
}

/// `dir/NNNNNN.wal`
pub fn wal_path(dir: &Path, n: FileNum) -> PathBuf {
    dir.join(format!("{n}.wal"))
}

/// `dir/NNNNNN.sst`
pub fn table_path(dir: &Path, n: FileNum) -> PathBuf {
    dir.join(format!("{n}.sst"))
}

/// `dir/MANIFEST-NNNNNN`
pub fn manifest_path(dir: &Path, n: FileNum) -> PathBuf {
    dir.join(format!("MANIFEST-{n}"))
}

/// `dir/CURRENT`
pub fn current_path(dir: &Path) -> PathBuf {
    dir.join("CURRENT")
}

/// `dir/CURRENT.tmp`
pub fn current_temp_path(dir: &Path) -> PathBuf {
    dir.join("CURRENT.tmp")
}

/// `dir/LOCK`
pub fn lock_path(dir: &Path) -> PathBuf {
    dir.join("LOCK")
}

fn parse_num(s: &str) -> Option<FileNum> {
    if s.len() < 6 || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().map(FileNum)
}

/// Classifies a directory entry name; `None` for anything that is not Cairn's.
pub fn parse_file_name(name: &str) -> Option<FileKind> {
    match name {
        "CURRENT" => return Some(FileKind::Current),
        "CURRENT.tmp" => return Some(FileKind::CurrentTemp),
        "LOCK" => return Some(FileKind::Lock),
        _ => {}
    }
    if let Some(n) = name.strip_prefix("MANIFEST-") {
        return parse_num(n).map(FileKind::Manifest);
    }
    if let Some(n) = name.strip_suffix(".wal") {
        return parse_num(n).map(FileKind::Wal);
    }
    if let Some(n) = name.strip_suffix(".sst") {
        return parse_num(n).map(FileKind::Table);
    }
    None
}

/// Parses the content of `CURRENT`: one manifest file name followed by a newline.
pub fn parse_current(content: &[u8]) -> Option<FileNum> {
    let s = std::str::from_utf8(content).ok()?;
    let name = s.strip_suffix('\n')?;
    match parse_file_name(name)? {
        FileKind::Manifest(n) => Some(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let d = Path::new("db");
        let n = FileNum(42);
        for (p, k) in [
            (wal_path(d, n), FileKind::Wal(n)),
            (table_path(d, n), FileKind::Table(n)),
            (manifest_path(d, n), FileKind::Manifest(n)),
        ] {
            let name = p.file_name().and_then(|s| s.to_str()).expect("utf8");
            assert_eq!(parse_file_name(name), Some(k));
        }
        assert_eq!(wal_path(d, n), PathBuf::from("db/000042.wal"));
    }

    #[test]
    fn strict_patterns_reject_near_misses() {
        for bad in
            ["42.sst", "+00042.sst", "000042.sst.bak", "MANIFEST-", "MANIFEST-00001x", "current", "0000a2.wal", ""]
        {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn current_requires_manifest_name_and_newline() {
        assert_eq!(parse_current(b"MANIFEST-000007\n"), Some(FileNum(7)));
        assert_eq!(parse_current(b"MANIFEST-000007"), None);
        assert_eq!(parse_current(b"000007.sst\n"), None);
        assert_eq!(parse_current(b"\xff\xfe"), None);
    }
}
