//! The manifest log `MANIFEST-NNNNNN`: one [`VersionEdit`] per record, in WAL framing with
//! `LogKind::Manifest` (docs/format/manifest.md#manifest-log).
//!
//! Owns what a manifest's records mean: the first record holds the full state (every table,
//! plus `log_number`, `next_file_num` and `last_seq`), each later one a change, and replaying
//! them in order rebuilds the state. Record framing, checksums and the torn-tail rule are
//! `cairn-wal`'s: a torn final record was never acknowledged (every append is synced before it
//! returns) and is ignored; any other damage is corruption naming the file and offset. Which
//! manifest is live is `CURRENT`'s business ([`crate::set_current`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use cairn_base::filename::manifest_path;
use cairn_base::vfs::Vfs;
use cairn_base::{Error, FileNum, Result, SeqNum};
use cairn_wal::{LogKind, LogReader, LogWriter};

use crate::edit::VersionEdit;
use crate::version::Version;

/// Appends edits to a manifest. Every append is synced before it returns. After a failed
/// append the writer refuses every later one with [`Error::Poisoned`]: the file's durable
/// content is unknown, so the engine must start a new manifest after reopening.
#[derive(Debug)]
pub struct ManifestWriter {
    log: LogWriter,
    file_num: FileNum,
    /// The first append or sync failure; set once, never cleared.
    failed: Option<Arc<Error>>,
}

impl ManifestWriter {
    /// Creates `dir/MANIFEST-file_num`, writes `initial` (the full state) as its first record,
    /// syncs it, and syncs the directory. `initial` must set `log_number`, `next_file_num`
    /// and `last_seq` (else [`Error::InvalidArgument`]). Does not touch `CURRENT`.
    pub fn create(vfs: &dyn Vfs, dir: &Path, file_num: FileNum, initial: &VersionEdit) -> Result<ManifestWriter> {
        if initial.log_number.is_none() || initial.next_file_num.is_none() || initial.last_seq.is_none() {
            return Err(Error::invalid("a manifest's first record must set log_number, next_file_num and last_seq"));
        }
        let path = manifest_path(dir, file_num);
        let file = vfs.create(&path)?;
        let log = LogWriter::create(file, path, file_num, LogKind::Manifest)?;
        let mut writer = ManifestWriter { log, file_num, failed: None };
        writer.append(initial)?;
        vfs.sync_dir(dir)?;
        Ok(writer)
    }

    /// Appends one edit and syncs it. On error the caller poisons the database (never retry);
    /// this writer refuses later appends.
    pub fn append(&mut self, edit: &VersionEdit) -> Result<()> {
        if let Some(cause) = &self.failed {
            return Err(Error::Poisoned { cause: cause.clone() });
        }
        let mut record = Vec::new();
        edit.encode(&mut record);
        let written = self.log.add_record(&record).and_then(|()| self.log.sync());
        if let Err(e) = &written {
            self.failed = Some(Arc::new(e.clone()));
        }
        written
    }

    /// The manifest's file number.
    pub fn file_num(&self) -> FileNum {
        self.file_num
    }

    /// Bytes written to the file so far (framing included).
    pub fn size_bytes(&self) -> u64 {
        self.log.size_bytes()
    }

    /// Closes the file, reporting what the OS reports. Every append was already synced.
    pub fn close(self) -> Result<()> {
        self.log.close()
    }
}

/// The state a manifest describes: the version and the last recorded counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestState {
    /// The LSM shape.
    pub version: Version,
    /// WALs numbered below this are fully flushed.
    pub log_number: FileNum,
    /// The next file number to allocate.
    pub next_file_num: FileNum,
    /// The largest sequence number recorded.
    pub last_seq: SeqNum,
}

/// Replays `dir/MANIFEST-file_num`: the version and the last values of `log_number`,
/// `next_file_num` and `last_seq`. A torn final record (never acknowledged) is ignored; any
/// other damage — a bad record, an edit that does not decode or does not apply, a manifest
/// without records, counters never set, a table numbered at or above `next_file_num` — is
/// corruption naming the manifest file (and the record's offset where there is one).
pub fn read_manifest(vfs: &dyn Vfs, dir: &Path, file_num: FileNum) -> Result<ManifestState> {
    let path = manifest_path(dir, file_num);
    let data = Bytes::from(vfs.read_all(&path)?);
    let mut reader = LogReader::new(data, path.clone(), file_num, LogKind::Manifest)?;
    let mut replay = Replay::default();
    loop {
        // The record starts at the end of the previous one (or just after padding).
        let record_offset = reader.valid_bytes();
        let Some(record) = reader.next_record()? else { break };
        let applied = VersionEdit::decode(&record).and_then(|edit| replay.apply(&edit));
        applied.map_err(|e| at_record(e, &path, record_offset))?;
    }
    replay.finish(path)
}

/// Labels a corruption found inside a record's payload with the manifest file and the record's
/// offset; the position inside the payload goes into the message (it is not a file offset:
/// framing sits in between).
fn at_record(e: Error, path: &Path, record_offset: u64) -> Error {
    match e {
        Error::Corruption { file, offset, what } if file.as_os_str().is_empty() => {
            let what = format!("manifest record: {what} (byte {offset} of the record)");
            Error::Corruption { file: path.to_path_buf(), offset: record_offset, what }
        }
        other => other,
    }
}

/// The state rebuilt so far.
#[derive(Debug, Default)]
struct Replay {
    version: Version,
    log_number: Option<FileNum>,
    next_file_num: Option<FileNum>,
    last_seq: Option<SeqNum>,
    records: u64,
}

impl Replay {
    fn apply(&mut self, edit: &VersionEdit) -> Result<()> {
        self.version = self.version.apply(edit)?;
        self.log_number = edit.log_number.or(self.log_number);
        self.next_file_num = edit.next_file_num.or(self.next_file_num);
        self.last_seq = edit.last_seq.or(self.last_seq);
        self.records += 1;
        Ok(())
    }

    fn finish(self, path: PathBuf) -> Result<ManifestState> {
        let corrupt = |what: String| Error::corruption(path.clone(), 0, what);
        if self.records == 0 {
            return Err(corrupt("manifest holds no complete record".to_string()));
        }
        let (Some(log_number), Some(next_file_num), Some(last_seq)) =
            (self.log_number, self.next_file_num, self.last_seq)
        else {
            return Err(corrupt("manifest never records log_number, next_file_num and last_seq".to_string()));
        };
        if let Some(f) = self.version.live_files().find(|&f| f >= next_file_num) {
            return Err(corrupt(format!("table {f} is not below next_file_num {next_file_num}")));
        }
        if log_number > next_file_num {
            return Err(corrupt(format!("log_number {log_number} exceeds next_file_num {next_file_num}")));
        }
        Ok(ManifestState { version: self.version, log_number, next_file_num, last_seq })
    }
}
