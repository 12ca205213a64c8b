//! Target `batch_replay`: arbitrary WAL record payloads replayed by `Db` recovery
//! (docs/format/batch.md, docs/durability.md#recovery).
//!
//! Input:
//! ```text
//! input  := options:u8 record*
//! record := flags:u8 len:u16le payload:[u8; len]     (the last record takes what is left)
//! ```
//! The records are framed with `LogWriter` (so they pass the log's checksums and reach the batch
//! decoder) into a new WAL of an otherwise fresh, cleanly closed database on `CrashFs`; bit 0 of a
//! record's `flags` syncs the WAL after it (which moves later records' synced-offset stamps).
//! Bit 0 of `options` picks a 4 KiB memtable, so recovery flushes mid-replay; bit 1 turns the
//! memory map off.
//!
//! Invariants asserted: `open` returns `Ok` or `Corruption`/`Unsupported`, never panics; a
//! database that opens scans without error, passes `check`, closes, and reopens to exactly the
//! same contents (recovery is idempotent, G4).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use cairn::{Db, Options};
use cairn_base::FileNum;
use cairn_base::filename::{FileKind, parse_file_name, wal_path};
use cairn_base::vfs::Vfs;
use cairn_testkit::{CrashFs, CrashMode};
use cairn_wal::{LogKind, LogWriter};

use crate::input::Input;
use crate::{Pairs, collect_all, expect_decode_error};

/// The database directory inside the in-memory file system.
const DIR: &str = "db";

/// Runs the `batch_replay` target on `data`; panics if an invariant above is broken.
pub fn batch_replay(data: &[u8]) {
    let mut input = Input::new(data);
    let options = input.u8();
    let fs = template().crash(CrashMode::KeepAll, 0);
    write_wal(&fs, &mut input);
    let db = match open(&fs, options) {
        Ok(db) => db,
        Err(e) => return expect_decode_error("Db::open over replayed records", &e),
    };
    let first = read_back(&db, "after replay");
    drop(db);
    let db = open(&fs, options).unwrap_or_else(|e| panic!("a recovered database does not reopen: {e}"));
    let second = read_back(&db, "after reopen");
    drop(db);
    assert!(first == second, "reopening a recovered database changed its contents");
}

/// Scans everything, runs `check` and closes; every step must succeed.
fn read_back(db: &Db, when: &str) -> Pairs {
    let pairs = collect_all(db.iter()).unwrap_or_else(|e| panic!("scan {when} failed: {e}"));
    db.check().unwrap_or_else(|e| panic!("check {when} failed: {e}"));
    db.close().unwrap_or_else(|e| panic!("close {when} failed: {e}"));
    pairs
}

fn open(fs: &Arc<CrashFs>, options: u8) -> cairn::Result<Db> {
    let memtable_size_bytes = if options & 1 == 1 { 4 << 10 } else { 1 << 20 };
    Options::default()
        .memtable_size_bytes(memtable_size_bytes)
        .use_mmap(options & 2 == 0)
        .cache_size_bytes(64 << 10)
        .vfs(fs.clone())
        .open(DIR)
}

/// Writes the input's records into a new WAL numbered above every file of the database.
fn write_wal(fs: &CrashFs, input: &mut Input<'_>) {
    let dir = Path::new(DIR);
    let num = next_file_num(fs, dir);
    let path = wal_path(dir, num);
    let file = fs.create(&path).expect("create a WAL on CrashFs");
    let mut wal = LogWriter::create(file, path, num, LogKind::Wal).expect("start a WAL");
    while !input.is_empty() {
        let flags = input.u8();
        let len = usize::from(input.u16());
        wal.add_record(input.take(len)).expect("append to CrashFs");
        if flags & 1 == 1 {
            wal.sync().expect("sync on CrashFs");
        }
    }
    wal.close().expect("close a WAL on CrashFs");
}

fn next_file_num(fs: &CrashFs, dir: &Path) -> FileNum {
    let names = fs.file_names(dir);
    let max = names.iter().filter_map(|n| match parse_file_name(n) {
        Some(FileKind::Wal(n) | FileKind::Table(n) | FileKind::Manifest(n)) => Some(n.0),
        _ => None,
    });
    FileNum(max.max().unwrap_or(0) + 1)
}

/// A fresh database, created and cleanly closed once per process; each run crashes a copy of it
/// with `CrashMode::KeepAll`, which keeps every file as it is.
fn template() -> &'static CrashFs {
    static TEMPLATE: OnceLock<Arc<CrashFs>> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let fs = CrashFs::new();
        let db = Options::default().vfs(fs.clone()).open(PathBuf::from(DIR)).expect("create the template database");
        db.close().expect("close the template database");
        drop(db);
        fs
    })
}
