//! `Db`: the handle users hold. Thin: every method delegates to `Inner` (write path in
//! `commit`, reads in `read` and `iter`, background work in `background`, opening in
//! `recovery`).

use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use bytes::Bytes;
use cairn_base::filename::lock_path;
use cairn_base::{Error, Result};
use cairn_sstable::{BlockCache, TableReaderOptions};
use parking_lot::{Condvar, Mutex, RwLock};

use crate::batch::WriteBatch;
use crate::check::CheckReport;
use crate::commit::{CommitPipeline, Durability, WriterState};
use crate::inner::{BgState, Inner, Stats};
use crate::iter::{Iter, prefix_successor};
use crate::memtable::MemTable;
use crate::metrics::Metrics;
use crate::options::Options;
use crate::snapshot::Snapshot;
use crate::super_version::{SuperVersion, SvSlots};
use crate::version_set::VersionSet;

/// An open database. Cheap to clone; every clone is the same database; `Send + Sync`.
///
/// ```no_run
/// let db = cairn::Db::open("data")?;
/// db.put(b"k", b"v")?;
/// assert_eq!(db.get(b"k")?.as_deref(), Some(&b"v"[..]));
/// for kv in db.range(b"a".as_slice()..b"m".as_slice()) {
///     let (k, v) = kv?;
///     println!("{k:?} = {v:?}");
/// }
/// db.close()?;
/// # Ok::<(), cairn::Error>(())
/// ```
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
    _owner: Arc<Owner>,
}

/// Stops the background threads when the last `Db` handle goes away.
struct Owner {
    inner: Arc<Inner>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        // Signals and joins threads; no I/O (use `close` to learn about errors).
        self.inner.stop_background();
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("dir", &self.inner.dir).finish()
    }
}

impl Db {
    /// Opens the database in `path` with default options, creating it if needed.
    pub fn open(path: impl AsRef<Path>) -> Result<Db> {
        Options::default().open(path)
    }

    /// The engine behind the handle, for the crate's own tests.
    #[cfg(test)]
    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub(crate) fn open_with(opts: Options, dir: &Path) -> Result<Db> {
        let vfs = opts.vfs.clone();
        if opts.create_if_missing {
            vfs.create_dir_all(dir)?;
        } else if !vfs.exists(dir)? {
            return Err(Error::invalid(format!("{} does not exist and create_if_missing is off", dir.display())));
        }
        let lock = vfs.lock(&lock_path(dir))?;
        let cache = (opts.cache_size_bytes > 0).then(|| BlockCache::new(opts.cache_size_bytes));
        let reader_opts = TableReaderOptions { use_mmap: opts.use_mmap, cache: cache.clone() };
        let r = crate::recovery::recover(&opts, dir, &reader_opts)?;
        let mem = Arc::new(MemTable::new());
        let wal_num = r.wal.file_num();
        let tables = Arc::new(r.tables);
        let version = Arc::new(r.version);
        let sv = SuperVersion::new(mem.clone(), wal_num, Vec::new(), version.clone(), tables.clone());
        let versions = VersionSet {
            dir: dir.to_path_buf(),
            vfs: vfs.clone(),
            version,
            manifest: r.manifest,
            next_file_num: r.next_file_num,
            log_number: r.log_number,
            last_seq: r.last_seq,
            tables,
            reader_opts,
            running: Default::default(),
            manual_compaction: false,
            obsolete: Vec::new(),
            manifest_rollover_bytes: opts.manifest_rollover_bytes,
            manifest_failed: None,
        };
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            vfs,
            lock: Mutex::new(Some(lock)),
            visible_seq: AtomicU64::new(r.last_seq.0),
            current: RwLock::new(Arc::new(sv)),
            sv_slots: SvSlots::new(),
            versions: Mutex::new(versions),
            manual: Mutex::new(()),
            commit: CommitPipeline::new(WriterState::new(r.wal, mem, r.last_seq)),
            snapshots: Mutex::new(Default::default()),
            poison: Mutex::new(None),
            poisoned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            bg_state: Mutex::new(BgState::default()),
            bg_work: Condvar::new(),
            bg_done: Condvar::new(),
            cache,
            stats: Stats::default(),
            threads: Mutex::new(Vec::new()),
            opts,
        });
        let handles = crate::background::start(&inner)?;
        *inner.threads.lock() = handles;
        let owner = Arc::new(Owner { inner: inner.clone() });
        Ok(Db { inner, _owner: owner })
    }

    /// Writes `value` under `key` (`Durability::Buffered`).
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put(key, value);
        self.write(b)
    }

    /// The value of `key`, if any. Uncompressed values read from tables share the memory
    /// map (no copy).
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.inner.get(key.as_ref(), None)
    }

    /// True if `key` has a value.
    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        self.inner.contains_key(key.as_ref(), None)
    }

    /// The values of several keys, read at one consistent point.
    pub fn multi_get<K: AsRef<[u8]>>(&self, keys: impl IntoIterator<Item = K>) -> Result<Vec<Option<Bytes>>> {
        self.inner.multi_get(keys, None)
    }

    /// Deletes `key` (`Durability::Buffered`).
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete(key);
        self.write(b)
    }

    /// A new, empty batch.
    pub fn batch(&self) -> WriteBatch {
        WriteBatch::new()
    }

    /// Applies `batch` atomically with `Durability::Buffered`.
    pub fn write(&self, batch: WriteBatch) -> Result<()> {
        self.inner.write(batch, Durability::Buffered)
    }

    /// Applies `batch` atomically with the given durability.
    pub fn write_with(&self, batch: WriteBatch, durability: Durability) -> Result<()> {
        self.inner.write(batch, durability)
    }

    /// Pairs with keys in `range`, in key order (`.rev()` for descending).
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter {
        let (lo, hi) = range_bounds(&range);
        Iter::new(self.inner.super_version(), self.inner.read_seq(), lo, hi)
    }

    /// Pairs whose key starts with `prefix`.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Iter {
        let (lo, hi) = prefix_bounds(prefix.as_ref());
        Iter::new(self.inner.super_version(), self.inner.read_seq(), lo, hi)
    }

    /// Every pair, in key order.
    pub fn iter(&self) -> Iter {
        self.range::<&[u8], _>(..)
    }

    /// A point-in-time view.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(self.inner.clone())
    }

    /// Makes every acknowledged write durable (fsyncs the WAL).
    pub fn sync(&self) -> Result<()> {
        self.inner.sync_wal()
    }

    /// Writes the memtable to a table and waits for it.
    pub fn flush(&self) -> Result<()> {
        self.inner.flush_all()
    }

    /// Full manual compaction; waits for it.
    pub fn compact(&self) -> Result<()> {
        self.inner.compact_all()
    }

    /// Blocks until no flush or compaction is pending or running (benchmarks call this
    /// before a read phase).
    pub fn wait_for_background(&self) -> Result<()> {
        self.inner.wait_idle()
    }

    /// Counters and shape.
    pub fn metrics(&self) -> Metrics {
        self.inner.metrics()
    }

    /// Verifies every checksum and invariant of the current version.
    pub fn check(&self) -> Result<CheckReport> {
        self.inner.check()
    }

    /// Closes the database: stops background work, syncs the WAL, deletes unreferenced files
    /// and releases the lock, reporting any error. Every handle (clones included) fails with
    /// `Closed` afterwards, snapshots too; iterators already open keep reading what they pinned.
    pub fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return Ok(());
        }
        self.inner.stop_background();
        let synced = if self.inner.poisoned.load(std::sync::atomic::Ordering::Acquire) {
            Ok(())
        } else {
            seal_wal(&mut self.inner.commit.writer.lock().wal)
        };
        let cleaned = self.inner.versions.lock().delete_unreferenced().map(|_| ());
        self.inner.lock.lock().take();
        synced.and(cleaned)
    }
}

/// Syncs the WAL, then appends and syncs an empty record: its synced-offset stamp proves every
/// earlier byte was durable, so recovery can tell rot in the last real record from a torn tail
/// (docs/format/batch.md#sync-marker).
fn seal_wal(wal: &mut cairn_wal::LogWriter) -> Result<()> {
    wal.sync()?;
    wal.add_record(&[])?;
    wal.sync()
}

/// Converts user range bounds into owned bounds.
pub(crate) fn range_bounds<K: AsRef<[u8]>, R: RangeBounds<K>>(range: &R) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let own = |b: Bound<&K>| match b {
        Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    };
    (own(range.start_bound()), own(range.end_bound()))
}

/// Bounds covering exactly the keys that start with `prefix`.
pub(crate) fn prefix_bounds(prefix: &[u8]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let hi = match prefix_successor(prefix) {
        Some(s) => Bound::Excluded(s),
        None => Bound::Unbounded,
    };
    (Bound::Included(prefix.to_vec()), hi)
}
