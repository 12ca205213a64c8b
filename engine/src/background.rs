//! Background threads: one flushes sealed memtables, the others run compactions.
//!
//! Failures are not retried in a tight loop: a failed flush or compaction is recorded in
//! `BgState::error` (writers stalled on it see it; the next success clears it) and retried
//! after a back-off, so the database works again once, say, disk space is freed (G6). A manifest
//! failure poisons the database and the threads stop taking work.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use cairn_base::{Error, Result};

use crate::inner::Inner;

/// Back-off after a failed background job, doubled up to `MAX_BACKOFF`.
const MIN_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Idle threads re-check for work this often even without a signal.
const IDLE_WAIT: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    Flush,
    Compact,
}

/// Starts the background threads.
pub(crate) fn start(inner: &Arc<Inner>) -> Result<Vec<JoinHandle<()>>> {
    let mut handles = Vec::new();
    for i in 0..inner.opts.background_threads {
        let job = if i == 0 { Job::Flush } else { Job::Compact };
        let dir = inner.dir.clone();
        let inner = inner.clone();
        let name = format!("cairn-{}-{i}", if job == Job::Flush { "flush" } else { "compact" });
        let h = std::thread::Builder::new()
            .name(name)
            .spawn(move || run(&inner, job))
            .map_err(|e| Error::io(dir, "spawn background thread", e))?;
        handles.push(h);
    }
    Ok(handles)
}

fn run(inner: &Inner, job: Job) {
    let mut backoff = MIN_BACKOFF;
    loop {
        if !wait_for_work(inner, job) {
            return;
        }
        set_running(inner, job, true);
        let outcome = match job {
            Job::Flush => inner.flush_oldest(),
            Job::Compact => inner.compact_once(),
        };
        set_running(inner, job, false);
        match outcome {
            Ok(did) => {
                backoff = MIN_BACKOFF;
                if did {
                    inner.background_outcome(job == Job::Flush, &Ok(()));
                    // A flush may make a compaction due, and a compaction may unblock writers.
                    inner.signal_background();
                } else if job == Job::Compact {
                    idle(inner);
                }
            }
            Err(e) => {
                inner.background_outcome(job == Job::Flush, &Err(e));
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Blocks until there may be work for `job`; false on shutdown.
fn wait_for_work(inner: &Inner, job: Job) -> bool {
    let mut st = inner.bg_state.lock();
    loop {
        if st.shutdown {
            return false;
        }
        if inner.poisoned.load(Ordering::Acquire) {
            inner.bg_work.wait_for(&mut st, IDLE_WAIT);
            continue;
        }
        let ready = match job {
            Job::Flush => !inner.super_version().imms.is_empty(),
            Job::Compact => true,
        };
        if ready {
            return true;
        }
        inner.bg_work.wait_for(&mut st, IDLE_WAIT);
    }
}

/// Waits for a signal (or the idle period) after finding no compaction to do.
fn idle(inner: &Inner) {
    let mut st = inner.bg_state.lock();
    if !st.shutdown {
        inner.bg_work.wait_for(&mut st, IDLE_WAIT);
    }
}

fn set_running(inner: &Inner, job: Job, on: bool) {
    let mut st = inner.bg_state.lock();
    match (job, on) {
        (Job::Flush, on) => st.flush_running = on,
        (Job::Compact, true) => st.compactions_running += 1,
        (Job::Compact, false) => st.compactions_running -= 1,
    }
    if !on {
        inner.bg_done.notify_all();
    }
}

impl Inner {
    /// Stops and joins the background threads. Idempotent.
    pub fn stop_background(&self) {
        {
            let mut st = self.bg_state.lock();
            st.shutdown = true;
            self.bg_work.notify_all();
            self.bg_done.notify_all();
        }
        let handles = std::mem::take(&mut *self.threads.lock());
        for h in handles {
            // A background thread that panicked has nothing more to report than the panic
            // message it already printed.
            let _ = h.join();
        }
    }

    /// Seals the active memtable (if it holds anything) and waits until every sealed memtable
    /// is flushed. Reports a flush failure that happens while waiting (the flush is retried in
    /// the background regardless).
    pub fn flush_all(&self) -> Result<()> {
        self.check_writable()?;
        let mut seen = self.progress();
        {
            let mut ws = self.commit.writer.lock();
            self.switch_memtable(&mut ws)?;
        }
        self.signal_background();
        loop {
            self.check_writable()?;
            if self.super_version().imms.is_empty() {
                return Ok(());
            }
            if self.bg_state.lock().shutdown {
                return Err(Error::Closed);
            }
            if self.wait_for_progress(&mut seen, Duration::from_millis(50))
                && let Some(e) = self.background_error(true)
                && !self.super_version().imms.is_empty()
            {
                return Err(e);
            }
        }
    }

    /// Waits until no flush or compaction is pending or running; reports a background failure
    /// that happens while waiting.
    pub fn wait_idle(&self) -> Result<()> {
        let mut seen = self.progress();
        loop {
            self.check_writable()?;
            let busy = {
                let st = self.bg_state.lock();
                if st.shutdown {
                    return Err(Error::Closed);
                }
                st.flush_running || st.compactions_running > 0
            };
            let pending = {
                let v = self.versions.lock();
                !matches!(
                    cairn_compaction::pick(&v.version, &v.running, &self.picker_options()),
                    cairn_compaction::Plan::DoNothing
                ) || !v.running.is_empty()
            };
            if !busy && !pending && self.super_version().imms.is_empty() {
                return Ok(());
            }
            self.signal_background();
            if self.wait_for_progress(&mut seen, Duration::from_millis(20))
                && let Some(e) = self.background_error(false)
            {
                return Err(e);
            }
        }
    }
}
