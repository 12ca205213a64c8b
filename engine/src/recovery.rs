//! Opening a database: creating it, or recovering it after a clean close or a crash
//! (docs/durability.md#recovery).
//!
//! 1. Take the `LOCK` (a second open fails with `Locked`).
//! 2. Read `CURRENT` and replay the manifest it names (no `CURRENT`: a new database).
//! 3. Open every table of the recovered version.
//! 4. Replay every WAL numbered at or above `log_number`, oldest first, into memtables,
//!    flushing to level-0 tables as they fill. Only the newest WAL holding records may end in a
//!    torn tail (INV-WAL-2: older WALs were synced before the next one got any write).
//! 5. Create the new WAL, then write a fresh manifest holding the whole state (with
//!    `log_number` = the new WAL) and switch `CURRENT` to it. Writes never append to an old WAL.
//! 6. Delete what no longer matters: old WALs and manifests, orphan tables, `CURRENT.tmp`.
//!
//! A crash at any step leaves a directory that this same procedure opens (G4).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use cairn_base::filename::{FileKind, parse_file_name, table_path, wal_path};
use cairn_base::vfs::Vfs;
use cairn_base::{Error, FileNum, Result, SeqNum};
use cairn_compaction::table_meta;
use cairn_manifest::{ManifestState, ManifestWriter, Version, VersionEdit, read_current, read_manifest, set_current};
use cairn_sstable::{TableOptions, TableReaderOptions};
use cairn_wal::{LogEnd, LogKind, LogReader, LogWriter};

use crate::batch;
use crate::flush::write_memtable_to;
use crate::memtable::MemTable;
use crate::options::Options;
use crate::super_version::TableSet;

/// Everything `open` recovered, ready to become an `Inner`.
pub(crate) struct Recovered {
    pub version: Version,
    pub tables: TableSet,
    pub manifest: ManifestWriter,
    pub wal: LogWriter,
    pub next_file_num: u64,
    pub log_number: FileNum,
    pub last_seq: SeqNum,
}

/// Recovers (or creates) the database in `dir`. REQUIRES: the caller holds the lock.
pub(crate) fn recover(opts: &Options, dir: &Path, reader_opts: &TableReaderOptions) -> Result<Recovered> {
    let vfs = &*opts.vfs;
    let names = vfs.list_dir(dir)?;
    let state = match read_current(vfs, dir)? {
        Some(num) => {
            if opts.error_if_exists {
                return Err(Error::invalid(format!("a database already exists in {}", dir.display())));
            }
            read_manifest(vfs, dir, num)?
        }
        None => new_database_state(opts, dir, &names)?,
    };
    let mut next_file_num = state.next_file_num.0.max(1);
    for name in &names {
        if let Some(FileKind::Wal(n) | FileKind::Table(n) | FileKind::Manifest(n)) = parse_file_name(name) {
            next_file_num = next_file_num.max(n.0 + 1);
        }
    }
    let mut alloc = || {
        let n = FileNum(next_file_num);
        next_file_num += 1;
        n
    };
    let mut tables = open_tables(vfs, dir, &state.version, reader_opts)?;
    let table_opts = table_options(opts);
    let replay = replay_wals(opts, dir, &names, &state, &table_opts, &mut alloc)?;
    let mut edit = VersionEdit::default();
    for summary in &replay.flushed {
        edit.added.push((0, table_meta(summary)));
        tables.insert(summary.file_num, crate::version_set::open_table(vfs, dir, summary.file_num, reader_opts)?);
    }
    let version = state.version.apply(&edit)?;
    version.check_invariants()?;

    let wal_num = alloc();
    let wal_file_path = wal_path(dir, wal_num);
    let wal = LogWriter::create(vfs.create(&wal_file_path)?, wal_file_path, wal_num, LogKind::Wal)?;
    vfs.sync_dir(dir)?;
    let manifest_num = alloc();
    let last_seq = replay.last_seq.max(state.last_seq);
    let mut initial = version.snapshot_edit();
    initial.log_number = Some(wal_num);
    initial.next_file_num = Some(FileNum(next_file_num));
    initial.last_seq = Some(last_seq);
    let manifest = ManifestWriter::create(vfs, dir, manifest_num, &initial)?;
    set_current(vfs, dir, manifest_num)?;

    remove_obsolete(vfs, dir, &version, wal_num, manifest_num)?;
    Ok(Recovered { version, tables, manifest, wal, next_file_num, log_number: wal_num, last_seq })
}

/// The state of a database that does not exist yet (after checking that creating one is
/// allowed and that the directory does not hold a database whose `CURRENT` was lost).
fn new_database_state(opts: &Options, dir: &Path, names: &[String]) -> Result<ManifestState> {
    if !opts.create_if_missing {
        return Err(Error::invalid(format!("no database in {} and create_if_missing is off", dir.display())));
    }
    let orphan = names
        .iter()
        .find(|n| matches!(parse_file_name(n), Some(FileKind::Table(_) | FileKind::Manifest(_) | FileKind::Wal(_))));
    if let Some(name) = orphan {
        return Err(Error::corruption(
            dir.join("CURRENT"),
            0,
            format!("CURRENT is missing but the directory holds database files (e.g. {name})"),
        ));
    }
    Ok(ManifestState {
        version: Version::default(),
        log_number: FileNum(0),
        next_file_num: FileNum(1),
        last_seq: SeqNum(0),
    })
}

fn open_tables(vfs: &dyn Vfs, dir: &Path, version: &Version, reader_opts: &TableReaderOptions) -> Result<TableSet> {
    let mut tables = TableSet::new();
    for num in version.live_files() {
        let path = table_path(dir, num);
        if !vfs.exists(&path)? {
            return Err(Error::corruption(path, 0, "table named by the manifest is missing"));
        }
        tables.insert(num, crate::version_set::open_table(vfs, dir, num, reader_opts)?);
    }
    Ok(tables)
}

pub(crate) fn table_options(opts: &Options) -> TableOptions {
    TableOptions {
        block_size_bytes: opts.block_size_bytes,
        restart_interval: opts.restart_interval,
        bloom_bits_per_key: opts.bloom_bits_per_key,
        compression: opts.compression,
    }
}

struct Replay {
    flushed: Vec<cairn_sstable::TableSummary>,
    last_seq: SeqNum,
}

/// Replays the WALs at or above `state.log_number` into level-0 tables.
fn replay_wals(
    opts: &Options,
    dir: &Path,
    names: &[String],
    state: &ManifestState,
    table_opts: &TableOptions,
    alloc: &mut dyn FnMut() -> FileNum,
) -> Result<Replay> {
    let vfs = &*opts.vfs;
    let mut wals: Vec<FileNum> = names
        .iter()
        .filter_map(|n| match parse_file_name(n) {
            Some(FileKind::Wal(num)) if num >= state.log_number => Some(num),
            _ => None,
        })
        .collect();
    wals.sort();
    let mut mem = Arc::new(MemTable::new());
    let mut flushed = Vec::new();
    let mut last_seq = state.last_seq;
    // A torn tail seen in an earlier WAL: damage if any later WAL holds a record.
    let mut torn: Option<(PathBuf, u64)> = None;
    for num in wals {
        let path = wal_path(dir, num);
        let data = Bytes::from(vfs.read_all(&path)?);
        let mut reader = LogReader::new(data, path.clone(), num, LogKind::Wal)?;
        let mut record_offset = reader.valid_bytes();
        while let Some(record) = reader.next_record()? {
            if let Some((torn_path, offset)) = torn.take() {
                return Err(Error::corruption(torn_path, offset, "damaged WAL record followed by newer WAL records"));
            }
            // An empty record is the sync marker written by `Db::close` (no entries).
            if record.is_empty() {
                record_offset = reader.valid_bytes();
                continue;
            }
            let m = mem.clone();
            let seq = batch::decode_record(&record, |e| {
                if e.seq > state.last_seq {
                    m.insert(e.key, e.seq, e.kind, e.value);
                }
            })
            .map_err(|e| e.at_file(&path, record_offset))?;
            last_seq = last_seq.max(seq);
            record_offset = reader.valid_bytes();
            if mem.approximate_size_bytes() >= opts.memtable_size_bytes {
                flushed.push(write_memtable_to(vfs, dir, alloc(), table_opts, &mem)?);
                mem = Arc::new(MemTable::new());
            }
        }
        // A WAL torn inside its header never held a record (its creation was interrupted).
        if let LogEnd::TornTail { offset } = reader.end()
            && *offset > 0
        {
            torn = Some((path, *offset));
        }
    }
    if !mem.is_empty() {
        flushed.push(write_memtable_to(vfs, dir, alloc(), table_opts, &mem)?);
    }
    Ok(Replay { flushed, last_seq })
}

/// Removes files the recovered state no longer needs.
fn remove_obsolete(
    vfs: &dyn Vfs,
    dir: &Path,
    version: &Version,
    wal_num: FileNum,
    manifest_num: FileNum,
) -> Result<()> {
    let live: std::collections::HashSet<FileNum> = version.live_files().collect();
    let mut removed = false;
    for name in vfs.list_dir(dir)? {
        let obsolete = match parse_file_name(&name) {
            Some(FileKind::Wal(n)) => n < wal_num,
            Some(FileKind::Table(n)) => !live.contains(&n),
            Some(FileKind::Manifest(n)) => n != manifest_num,
            Some(FileKind::CurrentTemp) => true,
            _ => false,
        };
        if obsolete {
            vfs.remove_file(&dir.join(&name))?;
            removed = true;
        }
    }
    if removed {
        vfs.sync_dir(dir)?;
    }
    Ok(())
}
