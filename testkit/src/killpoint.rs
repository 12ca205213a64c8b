//! [`KillPointFs`]: whitebox crash points at every boundary of a state-changing I/O call
//! (feature `kill-points`; docs/testing.md#cairn-stress).
//!
//! Owns the numbering of boundaries and the freeze at the chosen one. It leaves killing the
//! process to whoever receives the report (the `cairn-stress` parent sends SIGKILL), and the I/O
//! itself to the wrapped file system.
//!
//! Model:
//! * Every state-changing call — create, append, sync, close, rename, remove, sync_dir — has two
//!   boundaries, *before* (nothing of the call happened) and *after* (all of it did). Reads,
//!   maps, listings and locks change nothing on disk and have none.
//! * Boundaries are numbered from 0 in the order threads reach them, over all files. At the
//!   boundary numbered `target` the gate *fires*: it calls the report callback with the
//!   [`KillPoint`] (which call, which phase, which kind of file), then parks the calling thread
//!   for good. From then on every thread that reaches any boundary parks too, so the files stop
//!   changing: what is on disk when the process is killed is what it was at that boundary (plus
//!   any call another thread had already started, as on a real multi-core crash).
//! * The feature gate exists because a fired gate never returns: this module must never be
//!   linked into anything but a crash harness.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cairn_base::Result;
use cairn_base::filename::{FileKind, parse_file_name};
use cairn_base::vfs::{FileLock, RandomAccessFile, Vfs, WritableFile};

/// Which side of the call a boundary is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Before the call: none of it reached the file system.
    Before,
    /// After the call returned: all of it did.
    After,
}

/// A state-changing call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Call {
    Create,
    Append,
    Sync,
    Close,
    Rename,
    Remove,
    SyncDir,
}

/// What the call touches, from its file name (the target name for a rename).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Wal,
    Table,
    Manifest,
    Current,
    CurrentTemp,
    /// The database directory (`sync_dir`).
    Dir,
    /// Anything else (a name Cairn does not own).
    Other,
}

impl Target {
    fn of(path: &Path) -> Target {
        match path.file_name().and_then(|n| n.to_str()).and_then(parse_file_name) {
            Some(FileKind::Wal(_)) => Target::Wal,
            Some(FileKind::Table(_)) => Target::Table,
            Some(FileKind::Manifest(_)) => Target::Manifest,
            Some(FileKind::Current) => Target::Current,
            Some(FileKind::CurrentTemp) => Target::CurrentTemp,
            Some(FileKind::Lock) | None => Target::Other,
        }
    }
}

/// One kind of boundary, e.g. `after-sync-manifest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KillPoint {
    pub phase: Phase,
    pub call: Call,
    pub target: Target,
}

impl fmt::Display for KillPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match self.phase {
            Phase::Before => "before",
            Phase::After => "after",
        };
        let call = match self.call {
            Call::Create => "create",
            Call::Append => "append",
            Call::Sync => "sync",
            Call::Close => "close",
            Call::Rename => "rename",
            Call::Remove => "remove",
            Call::SyncDir => "syncdir",
        };
        let target = match self.target {
            Target::Wal => "wal",
            Target::Table => "sst",
            Target::Manifest => "manifest",
            Target::Current => "current",
            Target::CurrentTemp => "current-tmp",
            Target::Dir => "dir",
            Target::Other => "other",
        };
        write!(f, "{phase}-{call}-{target}")
    }
}

/// The callback that learns which boundary fired (it runs once, on the firing thread).
pub type Report = Box<dyn Fn(KillPoint) + Send + Sync>;

/// The shared counter and the freeze.
struct Gate {
    target: u64,
    passed: AtomicU64,
    fired: AtomicBool,
    report: Report,
}

impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("target", &self.target)
            .field("passed", &self.passed.load(Ordering::Relaxed))
            .field("fired", &self.fired.load(Ordering::Relaxed))
            .finish()
    }
}

impl Gate {
    /// Passes one boundary; never returns if this is the chosen one or the gate already fired.
    fn boundary(&self, phase: Phase, call: Call, path: &Path) {
        let target = if call == Call::SyncDir { Target::Dir } else { Target::of(path) };
        self.cross(KillPoint { phase, call, target });
    }

    fn cross(&self, point: KillPoint) {
        if !self.fired.load(Ordering::SeqCst) {
            if self.passed.fetch_add(1, Ordering::SeqCst) != self.target {
                return;
            }
            self.fired.store(true, Ordering::SeqCst);
            (self.report)(point);
        }
        loop {
            std::thread::park();
        }
    }
}

/// A file system that freezes the process at one numbered boundary. See the module
/// documentation.
#[derive(Debug)]
pub struct KillPointFs {
    inner: Arc<dyn Vfs>,
    gate: Arc<Gate>,
}

impl KillPointFs {
    /// Wraps `inner`; the gate fires at boundary number `target` (from 0) and hands the kill
    /// point to `report` before freezing.
    pub fn new(inner: Arc<dyn Vfs>, target: u64, report: Report) -> Arc<KillPointFs> {
        let gate = Gate { target, passed: AtomicU64::new(0), fired: AtomicBool::new(false), report };
        Arc::new(KillPointFs { inner, gate: Arc::new(gate) })
    }

    /// Boundaries passed so far (including the one that fired).
    pub fn boundaries_passed(&self) -> u64 {
        self.gate.passed.load(Ordering::SeqCst)
    }

    /// Runs `call` on `path` between its two boundaries.
    fn around<T>(&self, call: Call, path: &Path, run: impl FnOnce() -> T) -> T {
        self.gate.boundary(Phase::Before, call, path);
        let out = run();
        self.gate.boundary(Phase::After, call, path);
        out
    }
}

impl Vfs for KillPointFs {
    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        let inner = self.around(Call::Create, path, || self.inner.create(path))?;
        Ok(Box::new(KillPointWritable { inner, path: path.into(), gate: Arc::clone(&self.gate) }))
    }

    fn open(&self, path: &Path) -> Result<Arc<dyn RandomAccessFile>> {
        self.inner.open(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.around(Call::Rename, to, || self.inner.rename(from, to))
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        self.around(Call::Remove, path, || self.inner.remove_file(path))
    }

    fn list_dir(&self, dir: &Path) -> Result<Vec<String>> {
        self.inner.list_dir(dir)
    }

    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        self.inner.create_dir_all(dir)
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        self.around(Call::SyncDir, dir, || self.inner.sync_dir(dir))
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        self.inner.exists(path)
    }

    fn lock(&self, path: &Path) -> Result<Box<dyn FileLock>> {
        self.inner.lock(path)
    }
}

/// A writable handle whose appends, syncs and close have boundaries.
#[derive(Debug)]
struct KillPointWritable {
    inner: Box<dyn WritableFile>,
    path: PathBuf,
    gate: Arc<Gate>,
}

impl KillPointWritable {
    fn around<T>(&mut self, call: Call, run: impl FnOnce(&mut Box<dyn WritableFile>) -> T) -> T {
        self.gate.boundary(Phase::Before, call, &self.path);
        let out = run(&mut self.inner);
        self.gate.boundary(Phase::After, call, &self.path);
        out
    }
}

impl WritableFile for KillPointWritable {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        self.around(Call::Append, |f| f.append(data))
    }

    fn sync(&mut self) -> Result<()> {
        self.around(Call::Sync, |f| f.sync())
    }

    fn size_bytes(&self) -> u64 {
        self.inner.size_bytes()
    }

    fn close(self: Box<Self>) -> Result<()> {
        let KillPointWritable { inner, path, gate } = *self;
        gate.boundary(Phase::Before, Call::Close, &path);
        let out = inner.close();
        gate.boundary(Phase::After, Call::Close, &path);
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use cairn_base::filename::{current_path, current_temp_path, table_path, wal_path};
    use cairn_base::key::FileNum;

    use super::*;
    use crate::crash::{CrashFs, CrashMode};

    /// Runs `work` on a thread with a gate at `target`; returns the point it froze at, if any.
    fn fire_at(target: u64, work: impl FnOnce(Arc<KillPointFs>) + Send + 'static) -> (Arc<CrashFs>, Option<KillPoint>) {
        let crash = CrashFs::new();
        let (tx, rx) = mpsc::channel();
        let report = tx.clone();
        let fs = KillPointFs::new(crash.clone(), target, Box::new(move |p| report.send(Some(p)).expect("report")));
        std::thread::spawn(move || {
            work(fs);
            let _ = tx.send(None);
        });
        let point = rx.recv_timeout(Duration::from_secs(10)).expect("the work neither fired nor finished");
        (crash, point)
    }

    fn workload(fs: Arc<KillPointFs>) {
        let dir = Path::new("/db");
        fs.create_dir_all(dir).expect("mkdir");
        let mut wal = fs.create(&wal_path(dir, FileNum(7))).expect("create");
        wal.append(b"hello").expect("append");
        wal.sync().expect("sync");
        wal.close().expect("close");
        let mut tmp = fs.create(&current_temp_path(dir)).expect("create tmp");
        tmp.append(b"MANIFEST-000001\n").expect("append tmp");
        tmp.close().expect("close tmp");
        fs.rename(&current_temp_path(dir), &current_path(dir)).expect("rename");
        fs.sync_dir(dir).expect("sync dir");
        fs.remove_file(&table_path(dir, FileNum(3))).expect_err("no such table");
    }

    #[test]
    fn every_boundary_fires_in_order_with_its_name() {
        let names: Vec<String> = (0..).map_while(|target| fire_at(target, workload).1).map(|p| p.to_string()).collect();
        assert_eq!(
            names,
            [
                "before-create-wal",
                "after-create-wal",
                "before-append-wal",
                "after-append-wal",
                "before-sync-wal",
                "after-sync-wal",
                "before-close-wal",
                "after-close-wal",
                "before-create-current-tmp",
                "after-create-current-tmp",
                "before-append-current-tmp",
                "after-append-current-tmp",
                "before-close-current-tmp",
                "after-close-current-tmp",
                "before-rename-current",
                "after-rename-current",
                "before-syncdir-dir",
                "after-syncdir-dir",
                "before-remove-sst",
                "after-remove-sst",
            ]
        );
    }

    #[test]
    fn a_before_boundary_stops_the_call_and_an_after_boundary_lets_it_finish() {
        // Boundary 2 is before the append, 3 after it.
        let (crash, point) = fire_at(2, workload);
        assert_eq!(point.map(|p| p.to_string()).as_deref(), Some("before-append-wal"));
        let image = crash.crash(CrashMode::KeepAll, 0);
        assert_eq!(image.read_all(&wal_path(Path::new("/db"), FileNum(7))).expect("read"), b"");
        let (crash, point) = fire_at(3, workload);
        assert_eq!(point.map(|p| p.to_string()).as_deref(), Some("after-append-wal"));
        let image = crash.crash(CrashMode::KeepAll, 0);
        assert_eq!(image.read_all(&wal_path(Path::new("/db"), FileNum(7))).expect("read"), b"hello");
    }

    #[test]
    fn once_fired_other_threads_freeze_at_their_next_boundary() {
        let crash = CrashFs::new();
        let (tx, rx) = mpsc::channel();
        let fs = KillPointFs::new(crash.clone(), 0, Box::new(move |p| tx.send(p).expect("report")));
        fs.create_dir_all(Path::new("/db")).expect("mkdir");
        let first = Arc::clone(&fs);
        std::thread::spawn(move || drop(first.create(Path::new("/db/000001.sst"))));
        rx.recv_timeout(Duration::from_secs(10)).expect("fired");
        let (done_tx, done_rx) = mpsc::channel();
        let second = Arc::clone(&fs);
        std::thread::spawn(move || {
            let _ = second.create(Path::new("/db/000002.sst"));
            let _ = done_tx.send(());
        });
        assert!(done_rx.recv_timeout(Duration::from_millis(200)).is_err(), "a second thread got through");
        assert!(!crash.crash(CrashMode::KeepAll, 0).exists(Path::new("/db/000002.sst")).expect("exists"));
        assert_eq!(fs.boundaries_passed(), 1);
    }

    #[test]
    fn a_target_past_the_end_never_fires_and_passes_everything_through() {
        let (crash, point) = fire_at(1_000, workload);
        assert_eq!(point, None);
        let image = crash.crash(CrashMode::KeepAll, 0);
        assert_eq!(image.read_all(&current_path(Path::new("/db"))).expect("read"), b"MANIFEST-000001\n");
    }
}
