//! Database directories held in memory: a `CrashFs` filled with given files, and the files of a
//! directory read back. Keeps thousands of cases off the disk (and its fsync latency).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn::Vfs;
use cairn_base::filename::{FileKind, parse_file_name};
use cairn_testkit::CrashFs;

/// The directory every in-memory database lives in.
pub fn db_dir() -> PathBuf {
    PathBuf::from("db")
}

/// One file of a database directory: its name and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbFile {
    /// The file name (`000004.sst`, `MANIFEST-000009`, `CURRENT`, ...).
    pub name: String,
    /// Its content.
    pub bytes: Vec<u8>,
}

/// A fresh in-memory file system whose `db_dir()` holds exactly `files`, all synced.
pub fn fs_with(files: &[DbFile]) -> Arc<CrashFs> {
    let fs = CrashFs::new();
    let dir = db_dir();
    fs.create_dir_all(&dir).expect("mkdir in memory");
    for f in files {
        let mut w = fs.create(&dir.join(&f.name)).expect("create in memory");
        w.append(&f.bytes).expect("append in memory");
        w.sync().expect("sync in memory");
        w.close().expect("close in memory");
    }
    fs.sync_dir(&dir).expect("sync dir in memory");
    fs
}

/// The database files of `dir` (WALs, tables, manifests, `CURRENT`), sorted by name. `LOCK` and
/// anything that is not Cairn's are left out: nothing reads them.
pub fn read_db_files(fs: &dyn Vfs, dir: &Path) -> Vec<DbFile> {
    let mut out = Vec::new();
    for name in fs.list_dir(dir).expect("list") {
        if let Some(FileKind::Wal(_) | FileKind::Table(_) | FileKind::Manifest(_) | FileKind::Current) =
            parse_file_name(&name)
        {
            let bytes = fs.read_all(&dir.join(&name)).expect("read back");
            out.push(DbFile { name, bytes });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The files of a real directory (a committed fixture), sorted by name.
pub fn read_real_dir(dir: &Path) -> Vec<DbFile> {
    let mut out: Vec<DbFile> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read fixture dir {}: {e}", dir.display()))
        .map(|e| {
            let path = e.expect("dir entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).expect("utf-8 fixture name").to_string();
            DbFile { name, bytes: std::fs::read(&path).expect("read fixture file") }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Replaces the content of the real directory `dir` with `files`.
pub fn write_real_dir(dir: &Path, files: &[DbFile]) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("create fixture dir");
    for f in files {
        std::fs::write(dir.join(&f.name), &f.bytes).expect("write fixture file");
    }
}

/// Replaces (or creates) `name` in the database directory of `fs`, synced.
pub fn write_file(fs: &dyn Vfs, name: &str, bytes: &[u8]) {
    let mut f = fs.create(&db_dir().join(name)).expect("create");
    f.append(bytes).expect("append");
    f.sync().expect("sync");
    f.close().expect("close");
    fs.sync_dir(&db_dir()).expect("sync dir");
}
