//! [`TraceFs`]: a pass-through [`Vfs`] that records every I/O call in order, with whether it
//! succeeded. It names and counts calls as `FaultFs` does (same operations, same order), so a
//! fault matrix can say which call its `n`-th fault hit (`write 000004.wal`, `fsync
//! MANIFEST-000009`, ...) and check what the engine did after a failure
//! ([`first_retry_after_failure`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use cairn::{FileLock, RandomAccessFile, Result, Vfs, WritableFile};
use parking_lot::Mutex;

/// One recorded call: the operation (named as `FaultFs` names it) and the file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracedOp {
    /// `create`, `write`, `fsync`, `read`, `rename`, ...
    pub op: &'static str,
    /// The last component of the path (the source, for a rename).
    pub file: String,
    /// Whether the call succeeded.
    pub ok: bool,
}

impl TracedOp {
    /// The file's kind for summaries: `wal`, `sst`, `MANIFEST`, `CURRENT`, `LOCK`, `dir`.
    pub fn file_kind(&self) -> &'static str {
        let f = self.file.as_str();
        if f.ends_with(".wal") {
            "wal"
        } else if f.ends_with(".sst") {
            "sst"
        } else if f.starts_with("MANIFEST") {
            "MANIFEST"
        } else if f.starts_with("CURRENT") {
            "CURRENT"
        } else if f == "LOCK" {
            "LOCK"
        } else {
            "dir"
        }
    }
}

type Log = Arc<Mutex<Vec<TracedOp>>>;

/// The tracing file system; see the module documentation.
#[derive(Debug)]
pub struct TraceFs {
    inner: Arc<dyn Vfs>,
    log: Log,
}

impl TraceFs {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Vfs>) -> Arc<TraceFs> {
        Arc::new(TraceFs { inner, log: Arc::default() })
    }

    /// Every call so far, in order.
    pub fn ops(&self) -> Vec<TracedOp> {
        self.log.lock().clone()
    }
}

/// Records a call before it is made (so calls keep their order), then whether it succeeded.
fn record<T>(log: &Log, op: &'static str, path: &Path, call: impl FnOnce() -> Result<T>) -> Result<T> {
    let file = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let index = {
        let mut log = log.lock();
        log.push(TracedOp { op, file, ok: true });
        log.len() - 1
    };
    let result = call();
    if result.is_err() {
        log.lock()[index].ok = false;
    }
    result
}

/// The first write or fsync of a file made after a write or fsync of that same file failed (and
/// before it was created anew), if any. G6: a failed fsync is never retried (the retry could
/// succeed although the failed one lost data), and a log whose append failed is never appended
/// to again.
pub fn first_retry_after_failure(ops: &[TracedOp]) -> Option<(usize, &TracedOp)> {
    let mut failed: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (i, op) in ops.iter().enumerate() {
        match op.op {
            "create" => {
                failed.remove(op.file.as_str());
            }
            "write" | "fsync" if failed.contains(op.file.as_str()) => return Some((i, op)),
            "write" | "fsync" if !op.ok => {
                failed.insert(op.file.as_str());
            }
            _ => {}
        }
    }
    None
}

impl Vfs for TraceFs {
    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        let inner = record(&self.log, "create", path, || self.inner.create(path))?;
        Ok(Box::new(TraceWritable { inner, path: path.to_path_buf(), log: self.log.clone() }))
    }

    fn open(&self, path: &Path) -> Result<Arc<dyn RandomAccessFile>> {
        let inner = record(&self.log, "open", path, || self.inner.open(path))?;
        Ok(Arc::new(TraceReadable { inner, log: self.log.clone() }))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        record(&self.log, "rename", from, || self.inner.rename(from, to))
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        record(&self.log, "remove", path, || self.inner.remove_file(path))
    }

    fn list_dir(&self, dir: &Path) -> Result<Vec<String>> {
        record(&self.log, "list", dir, || self.inner.list_dir(dir))
    }

    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        record(&self.log, "mkdir", dir, || self.inner.create_dir_all(dir))
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        record(&self.log, "fsync directory", dir, || self.inner.sync_dir(dir))
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        record(&self.log, "stat", path, || self.inner.exists(path))
    }

    fn lock(&self, path: &Path) -> Result<Box<dyn FileLock>> {
        record(&self.log, "lock", path, || self.inner.lock(path))
    }
}

#[derive(Debug)]
struct TraceWritable {
    inner: Box<dyn WritableFile>,
    path: PathBuf,
    log: Log,
}

impl WritableFile for TraceWritable {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        record(&self.log, "write", &self.path, || self.inner.append(data))
    }

    fn sync(&mut self) -> Result<()> {
        record(&self.log, "fsync", &self.path, || self.inner.sync())
    }

    fn size_bytes(&self) -> u64 {
        self.inner.size_bytes()
    }

    fn close(self: Box<Self>) -> Result<()> {
        let TraceWritable { inner, path, log } = *self;
        record(&log, "close", &path, || inner.close())
    }
}

#[derive(Debug)]
struct TraceReadable {
    inner: Arc<dyn RandomAccessFile>,
    log: Log,
}

impl RandomAccessFile for TraceReadable {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        record(&self.log, "read", self.inner.path(), || self.inner.read_exact_at(buf, offset))
    }

    fn size_bytes(&self) -> u64 {
        self.inner.size_bytes()
    }

    fn map(&self) -> Result<Option<Bytes>> {
        record(&self.log, "mmap", self.inner.path(), || self.inner.map())
    }

    fn path(&self) -> &Path {
        self.inner.path()
    }
}
