//! [`LogWriter`]: appends logical records to a new log file (docs/format/wal.md).
//!
//! Owns the append side: the durable file header, one `append` per record (so a record reaches
//! the OS whole or, after a crash, as one torn tail), the synced-offset stamp each record
//! carries, and the count of synced bytes. Leaves the byte layout to `format.rs` and the
//! decision of *when* to sync (group commit, manifest edits) to its callers.
//!
//! Invariants:
//! * `synced_bytes <= size_bytes`, and both are record boundaries (or the header size).
//! * Every record is stamped with the `synced_bytes` at the moment it was added, so a record's
//!   stamp never exceeds its own offset and stamps never decrease.
//! * After a failed append or sync the writer is failed for good: the file's contents and
//!   durability are unknown, so every later call returns the same error (never a retried fsync
//!   reported as success; DESIGN.md G6).

use std::fmt;
use std::path::PathBuf;

use cairn_base::vfs::WritableFile;
use cairn_base::{Error, FileNum, Result};

use crate::format::{HEADER_BYTES, LogKind, encode_header, frame_record};

/// Appends framed, stamped records to a log file. Not thread-safe; callers serialize appends.
pub struct LogWriter {
    file: Box<dyn WritableFile>,
    path: PathBuf,
    file_num: FileNum,
    kind: LogKind,
    /// Bytes handed to the OS: the file offset where the next record starts.
    size_bytes: u64,
    /// Bytes known durable: everything before this offset was fsynced.
    synced_bytes: u64,
    /// The first append or sync failure; sticky.
    failed: Option<Error>,
    /// Reused framing buffer, so steady-state appends do not allocate.
    scratch: Vec<u8>,
}

impl fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogWriter")
            .field("path", &self.path)
            .field("file_num", &self.file_num)
            .field("kind", &self.kind)
            .field("size_bytes", &self.size_bytes)
            .field("synced_bytes", &self.synced_bytes)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl LogWriter {
    /// Writes the file header (magic, format version, kind, file number, header checksum) and
    /// SYNCS it, so a header that exists is a durable one.
    ///
    /// REQUIRES: `file` is newly created and empty (fragment checksums are bound to offsets, so
    /// the writer must know where it starts); a non-empty file is `InvalidArgument`.
    pub fn create(
        mut file: Box<dyn WritableFile>,
        path: PathBuf,
        file_num: FileNum,
        kind: LogKind,
    ) -> Result<LogWriter> {
        if file.size_bytes() != 0 {
            return Err(Error::invalid(format!("log file {} is not empty", path.display())));
        }
        file.append(&encode_header(kind, file_num))?;
        file.sync()?;
        let header_bytes = HEADER_BYTES as u64;
        Ok(LogWriter {
            file,
            path,
            file_num,
            kind,
            size_bytes: header_bytes,
            synced_bytes: header_bytes,
            failed: None,
            scratch: Vec::new(),
        })
    }

    /// Frames one logical record and hands all its bytes to the OS in ONE
    /// `WritableFile::append` call. The record is durable only after a later [`sync`](Self::sync).
    pub fn add_record(&mut self, payload: &[u8]) -> Result<()> {
        self.check_healthy()?;
        self.scratch.clear();
        let end = frame_record(&mut self.scratch, self.file_num, self.size_bytes, self.synced_bytes, payload);
        debug_assert_eq!(end - self.size_bytes, self.scratch.len() as u64);
        if let Err(e) = self.file.append(&self.scratch) {
            return Err(self.fail(e));
        }
        self.size_bytes = end;
        self.shrink_scratch();
        Ok(())
    }

    /// fsyncs; afterwards `synced_bytes() == size_bytes()`. A no-op when nothing was added since
    /// the last sync.
    pub fn sync(&mut self) -> Result<()> {
        self.check_healthy()?;
        if self.synced_bytes == self.size_bytes {
            return Ok(());
        }
        if let Err(e) = self.file.sync() {
            return Err(self.fail(e));
        }
        self.synced_bytes = self.size_bytes;
        Ok(())
    }

    /// Bytes handed to the OS so far, header included.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Bytes known to be durable, header included.
    pub fn synced_bytes(&self) -> u64 {
        self.synced_bytes
    }

    /// The file number the log was created with.
    pub fn file_num(&self) -> FileNum {
        self.file_num
    }

    /// Closes without syncing. Records added since the last [`sync`](Self::sync) have reached the
    /// OS (they survive a process crash) but are not durable.
    pub fn close(self) -> Result<()> {
        self.file.close()
    }

    fn check_healthy(&self) -> Result<()> {
        match &self.failed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn fail(&mut self, e: Error) -> Error {
        self.failed = Some(e.clone());
        e
    }

    /// Lets a one-off huge record's buffer go instead of pinning it for the file's lifetime.
    fn shrink_scratch(&mut self) {
        const KEEP_BYTES: usize = 1 << 20;
        if self.scratch.capacity() > KEEP_BYTES {
            self.scratch = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// An in-memory file that can be told to fail its next append or sync.
    #[derive(Debug, Default, Clone)]
    struct MemFile {
        state: Arc<Mutex<MemState>>,
    }

    #[derive(Debug, Default)]
    struct MemState {
        data: Vec<u8>,
        appends: usize,
        syncs: usize,
        fail_next: bool,
    }

    impl MemFile {
        fn with<T>(&self, f: impl FnOnce(&mut MemState) -> T) -> T {
            f(&mut self.state.lock().expect("test mutex poisoned"))
        }
    }

    impl WritableFile for MemFile {
        fn append(&mut self, data: &[u8]) -> Result<()> {
            self.with(|s| {
                if std::mem::take(&mut s.fail_next) {
                    return Err(Error::io("mem", "write", std::io::Error::other("injected")));
                }
                s.appends += 1;
                s.data.extend_from_slice(data);
                Ok(())
            })
        }
        fn sync(&mut self) -> Result<()> {
            self.with(|s| {
                if std::mem::take(&mut s.fail_next) {
                    return Err(Error::io("mem", "fsync", std::io::Error::other("injected")));
                }
                s.syncs += 1;
                Ok(())
            })
        }
        fn size_bytes(&self) -> u64 {
            self.with(|s| s.data.len() as u64)
        }
        fn close(self: Box<Self>) -> Result<()> {
            Ok(())
        }
    }

    fn new_writer(file: &MemFile) -> LogWriter {
        LogWriter::create(Box::new(file.clone()), PathBuf::from("000004.wal"), FileNum(4), LogKind::Wal)
            .expect("create")
    }

    #[test]
    fn create_syncs_the_header() {
        let file = MemFile::default();
        let w = new_writer(&file);
        assert_eq!(file.with(|s| (s.appends, s.syncs, s.data.len())), (1, 1, HEADER_BYTES));
        assert_eq!((w.size_bytes(), w.synced_bytes()), (HEADER_BYTES as u64, HEADER_BYTES as u64));
    }

    #[test]
    fn each_record_is_one_append_and_stamped_with_synced_bytes() {
        let file = MemFile::default();
        let mut w = new_writer(&file);
        w.add_record(&vec![7u8; 100_000]).expect("add");
        assert_eq!(file.with(|s| s.appends), 2);
        assert_eq!(w.size_bytes(), file.size_bytes());
        assert_eq!(w.synced_bytes(), HEADER_BYTES as u64);
        w.sync().expect("sync");
        assert_eq!(w.synced_bytes(), w.size_bytes());
        let second_at = w.size_bytes() as usize;
        w.add_record(b"x").expect("add");
        let stamp_at = second_at + crate::format::FRAGMENT_HEADER_BYTES;
        let stamp = file.with(|s| s.data[stamp_at..stamp_at + 8].to_vec());
        assert_eq!(stamp, (second_at as u64).to_le_bytes());
    }

    #[test]
    fn sync_without_new_records_does_not_fsync() {
        let file = MemFile::default();
        let mut w = new_writer(&file);
        w.sync().expect("sync");
        assert_eq!(file.with(|s| s.syncs), 1);
        w.add_record(b"a").expect("add");
        w.sync().expect("sync");
        w.sync().expect("sync");
        assert_eq!(file.with(|s| s.syncs), 2);
    }

    #[test]
    fn failed_sync_is_sticky_and_never_reported_as_success() {
        let file = MemFile::default();
        let mut w = new_writer(&file);
        w.add_record(b"a").expect("add");
        file.with(|s| s.fail_next = true);
        assert!(w.sync().is_err());
        assert!(w.sync().is_err(), "a retried fsync must not report success");
        assert!(w.add_record(b"b").is_err());
        assert_eq!(w.synced_bytes(), HEADER_BYTES as u64);
    }

    #[test]
    fn failed_append_is_sticky() {
        let file = MemFile::default();
        let mut w = new_writer(&file);
        file.with(|s| s.fail_next = true);
        assert!(w.add_record(b"a").is_err());
        assert!(w.add_record(b"b").is_err());
        assert_eq!(w.size_bytes(), HEADER_BYTES as u64);
    }

    #[test]
    fn create_refuses_a_non_empty_file() {
        let file = MemFile::default();
        file.with(|s| s.data.push(1));
        let r = LogWriter::create(Box::new(file), PathBuf::from("x"), FileNum(1), LogKind::Wal);
        assert!(matches!(r, Err(Error::InvalidArgument { .. })));
    }
}
