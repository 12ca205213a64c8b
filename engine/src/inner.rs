//! `Inner`: the state one open database shares between its handles, snapshots, iterators and
//! background threads, and the small helpers every module uses (pinning the super-version,
//! poisoning, signalling background work).
//!
//! Lock order (never take an earlier lock while holding a later one):
//! `commit::WriterState` → `versions` → `current` → `snapshots` / `bg_state`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use cairn_base::vfs::{FileLock, Vfs};
use cairn_base::{Error, Result, SeqNum};
use cairn_sstable::BlockCache;
use parking_lot::{Condvar, Mutex, RwLock};

use crate::commit::CommitPipeline;
use crate::options::Options;
use crate::super_version::{SuperVersion, SvSlots};
use crate::version_set::VersionSet;

/// Counters behind `Metrics`. Relaxed atomics: they are statistics, not synchronization.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub writes: AtomicU64,
    pub commit_groups: AtomicU64,
    pub wal_bytes_written: AtomicU64,
    pub wal_syncs: AtomicU64,
    pub flushes: AtomicU64,
    pub flush_bytes_written: AtomicU64,
    pub compactions: AtomicU64,
    pub trivial_moves: AtomicU64,
    pub compaction_bytes_read: AtomicU64,
    pub compaction_bytes_written: AtomicU64,
    pub stall_micros: AtomicU64,
    pub background_errors: AtomicU64,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// What the background threads are doing; guarded by `Inner::bg_state`.
#[derive(Debug, Default)]
pub(crate) struct BgState {
    pub shutdown: bool,
    pub flush_running: bool,
    pub compactions_running: usize,
    /// The last flush failure not yet overcome (e.g. ENOSPC); writers stalled on background
    /// work report it instead of waiting forever. Cleared by the next successful flush.
    pub flush_error: Option<Error>,
    /// Likewise for compactions.
    pub compaction_error: Option<Error>,
    /// Bumped whenever background work completes, so waiters can tell progress happened.
    pub progress: u64,
}

/// Shared state of one open database.
pub(crate) struct Inner {
    pub dir: PathBuf,
    pub opts: Options,
    pub vfs: Arc<dyn Vfs>,
    pub lock: Mutex<Option<Box<dyn FileLock>>>,
    /// Largest sequence number whose write is complete and visible to readers.
    pub visible_seq: AtomicU64,
    /// The published super-version. Readers clone the `Arc` and release the lock at once.
    pub current: RwLock<Arc<SuperVersion>>,
    /// Per-thread pins of `current` for point reads (emptied on every install).
    pub sv_slots: SvSlots,
    pub versions: Mutex<VersionSet>,
    /// Held for the whole of a manual compaction: two at once would share `manual_compaction`
    /// (the first to finish would let background plans run beside the other) and interleave their
    /// whole-level plans (docs/testing.md; the picker's PICK-6 is the second guard).
    pub manual: Mutex<()>,
    pub commit: CommitPipeline,
    /// Live snapshots: sequence number -> handle count.
    pub snapshots: Mutex<BTreeMap<SeqNum, usize>>,
    /// The failure that poisoned the database, if any.
    pub poison: Mutex<Option<Arc<Error>>>,
    pub poisoned: AtomicBool,
    pub closed: AtomicBool,
    pub bg_state: Mutex<BgState>,
    /// Signals background threads that there may be work (or shutdown).
    pub bg_work: Condvar,
    /// Signals writers and waiters that background work made progress.
    pub bg_done: Condvar,
    pub cache: Option<Arc<BlockCache>>,
    pub stats: Stats,
    /// Background thread handles, joined by `stop_background`.
    pub threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Inner {
    /// Pins the current super-version.
    pub fn super_version(&self) -> Arc<SuperVersion> {
        self.current.read().clone()
    }

    /// The read sequence number for "now": every write acknowledged before this call.
    pub fn read_seq(&self) -> SeqNum {
        SeqNum(self.visible_seq.load(Ordering::Acquire))
    }

    /// Fails with `Closed` after `close()`.
    pub fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) { Err(Error::Closed) } else { Ok(()) }
    }

    /// Fails with `Poisoned` once a write-path failure poisoned the database.
    pub fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        if self.poisoned.load(Ordering::Acquire) {
            let cause = self.poison.lock().clone();
            if let Some(cause) = cause {
                return Err(Error::Poisoned { cause });
            }
        }
        Ok(())
    }

    /// Poisons the database with `cause` (the first cause wins) and wakes every waiter.
    pub fn poison(&self, cause: &Error) {
        {
            let mut p = self.poison.lock();
            if p.is_none() {
                *p = Some(Arc::new(cause.clone()));
            }
        }
        self.poisoned.store(true, Ordering::Release);
        let _g = self.bg_state.lock();
        self.bg_done.notify_all();
        self.bg_work.notify_all();
    }

    /// Wakes the background threads.
    pub fn signal_background(&self) {
        let _g = self.bg_state.lock();
        self.bg_work.notify_all();
    }

    /// Installs a new super-version built from the current one by `f`. REQUIRES: the caller
    /// holds `versions` (installs are serialized by it).
    pub fn install(&self, f: impl FnOnce(&SuperVersion) -> SuperVersion) {
        let next = {
            let cur = self.current.read();
            Arc::new(f(&cur))
        };
        *self.current.write() = next;
        self.sv_slots.clear();
    }

    /// Runs `f` on a pinned super-version without writing any shared cache line in steady
    /// state (see `SvSlots`).
    #[inline]
    pub fn with_super_version<R>(&self, f: impl FnOnce(&SuperVersion) -> R) -> R {
        self.sv_slots.with(|| self.super_version(), f)
    }

    /// Records the outcome of a background job and wakes waiters.
    pub fn background_outcome(&self, flush: bool, result: &Result<()>) {
        let mut st = self.bg_state.lock();
        let slot = if flush { &mut st.flush_error } else { &mut st.compaction_error };
        match result {
            Ok(()) => *slot = None,
            Err(e) => {
                Stats::add(&self.stats.background_errors, 1);
                *slot = Some(e.clone());
            }
        }
        st.progress += 1;
        self.bg_done.notify_all();
    }

    /// Waits up to `timeout` for a background job to finish after the one numbered `*seen`.
    /// Returns true (and advances `*seen`) when one did.
    pub fn wait_for_progress(&self, seen: &mut u64, timeout: Duration) -> bool {
        let mut st = self.bg_state.lock();
        if st.progress == *seen && !st.shutdown {
            self.bg_done.wait_for(&mut st, timeout);
        }
        let moved = st.progress != *seen;
        *seen = st.progress;
        moved
    }

    /// The current background progress count (see `wait_for_progress`).
    pub fn progress(&self) -> u64 {
        self.bg_state.lock().progress
    }

    /// The last failure of the flush job (or of any job), if not yet overcome.
    pub fn background_error(&self, flush_only: bool) -> Option<Error> {
        let st = self.bg_state.lock();
        if flush_only { st.flush_error.clone() } else { st.flush_error.clone().or_else(|| st.compaction_error.clone()) }
    }

    /// The sequence number of the oldest live snapshot, ascending list of all.
    pub fn snapshot_seqs(&self) -> Vec<SeqNum> {
        self.snapshots.lock().keys().copied().collect()
    }
}
