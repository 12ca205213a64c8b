//! Opening a database: creating it, or recovering it after a clean close or a crash
//! (docs/durability.md#recovery).
//!
//! 1. Take the `LOCK` (a second open fails with `Locked`).
//! 2. Read `CURRENT` and replay the manifest it names (no `CURRENT`: a new database, unless the
//!    directory holds data; what an interrupted creation leaves behind is not data). The manifest
//!    and the WAL its `log_number` names must exist: both were durable before anything named them
//!    (INV-FILE-2), so a missing one is damage, e.g. the manifest's last edit lost to rot or
//!    truncation, which the log reader alone cannot tell from a torn tail.
//! 3. Open every table of the recovered version.
//! 4. Replay every WAL numbered at or above `log_number`, oldest first, into memtables,
//!    flushing to level-0 tables as they fill. Only the newest WAL holding records may end in a
//!    torn tail (INV-WAL-2: older WALs were synced before the next one got any write). The WAL
//!    `log_number` names must have a valid header; a WAL above it whose header does not read and
//!    that holds no verifiable record is a memtable switch that never completed. Sequence numbers
//!    must increase from record to record (INV-KEY-1).
//! 5. Create the new WAL, then write a fresh manifest holding the whole state (with
//!    `log_number` = the new WAL) and switch `CURRENT` to it. Writes never append to an old WAL.
//! 6. Delete what no longer matters: old WALs and manifests, orphan tables, `CURRENT.tmp`.
//!
//! A crash at any step leaves a directory that this same procedure opens (G4).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use cairn_base::coding::get_u64_at;
use cairn_base::filename::{FileKind, current_path, manifest_path, parse_file_name, table_path, wal_path};
use cairn_base::vfs::Vfs;
use cairn_base::{Error, FileNum, Result, SeqNum};
use cairn_compaction::table_meta;
use cairn_manifest::{ManifestState, ManifestWriter, Version, VersionEdit, read_current, read_manifest, set_current};
use cairn_sstable::{TableOptions, TableReaderOptions};
use cairn_wal::format::HEADER_BYTES;
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
            existing_database_state(vfs, dir, &names, num)?
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

/// Replays the manifest `CURRENT` names, after checking that it and the WAL its `log_number`
/// names exist.
fn existing_database_state(vfs: &dyn Vfs, dir: &Path, names: &[String], num: FileNum) -> Result<ManifestState> {
    let listed = |path: &Path| path.file_name().and_then(|n| n.to_str()).is_some_and(|n| names.iter().any(|x| x == n));
    if !listed(&manifest_path(dir, num)) {
        return Err(Error::corruption(
            current_path(dir),
            0,
            format!("CURRENT names manifest {num}, which does not exist"),
        ));
    }
    let state = read_manifest(vfs, dir, num)?;
    // INV-FILE-2: the WAL `log_number` names was created, its header synced and its directory
    // entry made durable before any manifest record named it, and it is deleted only after a
    // later record moved `log_number` past it. Missing, it means that later record was lost (rot
    // in, or truncation of, the manifest's last record reads as a torn tail) or the WAL was.
    let wal = wal_path(dir, state.log_number);
    if !listed(&wal) {
        return Err(Error::corruption(wal, 0, "the WAL named by the manifest's log_number is missing"));
    }
    Ok(state)
}

/// The state of a database that does not exist yet (after checking that creating one is
/// allowed and that the directory does not hold a database whose `CURRENT` was lost).
fn new_database_state(opts: &Options, dir: &Path, names: &[String]) -> Result<ManifestState> {
    if !opts.create_if_missing {
        return Err(Error::invalid(format!("no database in {} and create_if_missing is off", dir.display())));
    }
    for name in names {
        if let Some(what) = database_data(&*opts.vfs, dir, name)? {
            return Err(Error::corruption(
                current_path(dir),
                0,
                format!("CURRENT is missing but the directory holds database files ({name} holds {what})"),
            ));
        }
    }
    Ok(ManifestState {
        version: Version::default(),
        log_number: FileNum(0),
        next_file_num: FileNum(1),
        last_seq: SeqNum(0),
    })
}

/// What in file `name` shows that the directory held a database, if anything.
///
/// NB: creating a database writes its first WAL and manifest before `CURRENT` names them
/// (docs/durability.md, "Open (new database)"), so a crash or an I/O failure in between leaves
/// them behind. They hold no data: the WAL no record (nothing is written before `open` returns)
/// and the manifest an empty version. The next open creates the database afresh and deletes
/// them (G4). A table, a WAL record or a manifest naming a table means `CURRENT` was lost.
fn database_data(vfs: &dyn Vfs, dir: &Path, name: &str) -> Result<Option<&'static str>> {
    let path = dir.join(name);
    match parse_file_name(name) {
        Some(FileKind::Table(_)) => Ok(Some("a table")),
        Some(FileKind::Wal(n)) => {
            let mut reader = read_log_leniently(Bytes::from(vfs.read_all(&path)?), &path, n, LogKind::Wal)?;
            Ok(reader.next_record()?.map(|_| "a WAL record"))
        }
        Some(FileKind::Manifest(n)) => {
            let mut reader = read_log_leniently(Bytes::from(vfs.read_all(&path)?), &path, n, LogKind::Manifest)?;
            while let Some(record) = reader.next_record()? {
                if VersionEdit::decode(&record).map_or(true, |edit| !edit.added.is_empty()) {
                    return Ok(Some("a manifest record naming tables"));
                }
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// Reads a log that may have been left by a creation that never completed: a header that fails
/// its checks, in a file where no record verifies, reads as an empty log torn at offset 0.
///
/// NB: the header is written and fsynced before any record, but until that fsync a power loss
/// may leave it in any state (docs/format/wal.md#why-this-is-sound: unsynced bytes may be
/// missing, zero or stale content of other files). Only a verified record proves it was synced;
/// then the original error stands. Record checksums are bound to the file number from the name
/// and to offsets, not to the header, so they can be checked without it.
fn read_log_leniently(data: Bytes, path: &Path, num: FileNum, kind: LogKind) -> Result<LogReader> {
    let strict = LogReader::new(data.clone(), path.to_path_buf(), num, kind);
    let Err(e) = strict else { return strict };
    let mut headless = data.to_vec();
    let header_len = headless.len().min(HEADER_BYTES);
    headless[..header_len].fill(0);
    // With the header zeroed, the reader itself looks for a verified record and finds none, or
    // reports the log as corrupt.
    match LogReader::new(Bytes::from(headless), path.to_path_buf(), num, kind) {
        Ok(reader) if matches!(reader.end(), LogEnd::TornTail { offset: 0 }) => Ok(reader),
        _ => Err(e),
    }
}

/// Opens WAL `num` for replay. The WAL `log_number` names must have a valid header (INV-FILE-2,
/// see `existing_database_state`); a WAL above it may be a memtable switch that crashed or
/// failed before its header was durable, and holds no record then.
fn open_wal(data: Bytes, path: &Path, num: FileNum, log_number: FileNum) -> Result<LogReader> {
    if num != log_number {
        return read_log_leniently(data, path, num, LogKind::Wal);
    }
    let reader = LogReader::new(data, path.to_path_buf(), num, LogKind::Wal)?;
    if matches!(reader.end(), LogEnd::TornTail { offset: 0 }) {
        return Err(Error::corruption(path, 0, "the WAL named by the manifest's log_number has no valid header"));
    }
    Ok(reader)
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
        data_block_hash_index: opts.data_block_hash_index,
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
    // The last sequence number of the previous record: INV-KEY-1, sequence numbers increase from
    // record to record (the memtable refuses a key inserted twice with one sequence number).
    let mut previous_seq = SeqNum(0);
    // A torn tail seen in an earlier WAL: damage if any later WAL holds a record.
    let mut torn: Option<(PathBuf, u64)> = None;
    for num in wals {
        let path = wal_path(dir, num);
        let data = Bytes::from(vfs.read_all(&path)?);
        let mut reader = open_wal(data, &path, num, state.log_number)?;
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
            if get_u64_at(&record, 0).is_some_and(|first| first <= previous_seq.0) {
                let what = "WAL record sequence numbers overlap an earlier record's";
                return Err(Error::corruption(&path, record_offset, what));
            }
            let m = mem.clone();
            let seq = batch::decode_record(&record, |e| {
                if e.seq > state.last_seq {
                    m.insert(e.key, e.seq, e.kind, e.value);
                }
            })
            .map_err(|e| e.at_file(&path, record_offset))?;
            previous_seq = seq;
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
