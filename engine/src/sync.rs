//! Synchronization shim: the primitives of the structures that have loom models, taken from
//! `std`/`parking_lot` in every normal build and from `loom` when built with `--cfg loom`
//! (docs/testing.md#loom-models).
//!
//! Owns only the switch, a parking_lot-shaped wrapper around loom's `Mutex`/`Condvar` (so call
//! sites read the same either way: `lock()` returns the guard, `wait(&mut guard)`), the
//! [`InitMark`] that lets loom check node publication, and the model runner. Leaves the
//! protocols to the structures that use it: the memtable skiplist, `SvSlots` and the
//! group-commit queue. Everything else in the engine keeps using `std`/`parking_lot`
//! directly; under loom it still compiles, but only the modelled structures are checked.
//!
//! Invariant: a normal build gets exactly the `std`/`parking_lot` items, with no wrapper in
//! between, so the shim costs nothing outside loom.

#[cfg(not(loom))]
pub(crate) use parking_lot::{Condvar, Mutex};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering, fence};
#[cfg(not(loom))]
pub(crate) use std::thread_local;

#[cfg(loom)]
pub(crate) use self::loom_shim::{Condvar, Mutex};
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicUsize, Ordering, fence};
#[cfg(loom)]
pub(crate) use loom::thread_local;

/// Orders a `SeqCst` read-modify-write before the `SeqCst` load that follows it, for loom.
///
/// The C++20 memory model already puts the two in one total order with every other `SeqCst`
/// operation, and on x86-64 and AArch64 the pair costs just the RMW (a plain load follows it).
/// loom treats `SeqCst` accesses as `AcqRel` (it would report executions no real machine can
/// produce), but models `fence(SeqCst)`, so under loom this is that fence, and nothing
/// otherwise.
#[inline(always)]
pub(crate) fn seqcst_after_rmw() {
    #[cfg(loom)]
    fence(Ordering::SeqCst);
}

/// One step of waiting for another thread to finish a short critical section.
#[inline]
pub(crate) fn spin_wait() {
    #[cfg(not(loom))]
    std::thread::yield_now();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// Marks memory that one thread initializes with plain writes and other threads later read
/// after following an atomic pointer to it (a skiplist node). Zero-sized and free in a normal
/// build. Under loom it is a tracked cell whose creation counts as a write, so
/// [`InitMark::check_read`] fails the model ("causality violation") in any execution where
/// the reading thread does not happen-after the initialization, which is exactly a node that
/// could be observed torn.
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub(crate) struct InitMark;

#[cfg(not(loom))]
impl InitMark {
    /// A mark for memory this thread is initializing now.
    #[inline]
    pub(crate) fn new() -> InitMark {
        InitMark
    }

    /// Asserts (under loom) that this thread may read the marked memory.
    #[inline]
    pub(crate) fn check_read(&self) {}
}

/// Marks memory that one thread initializes and others read (see the non-loom definition).
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct InitMark(loom::cell::UnsafeCell<()>);

#[cfg(loom)]
impl InitMark {
    /// A mark for memory this thread is initializing now (loom records the creation as a write).
    pub(crate) fn new() -> InitMark {
        InitMark(loom::cell::UnsafeCell::new(()))
    }

    /// Fails the model unless this thread happens-after the mark's creation.
    pub(crate) fn check_read(&self) {
        self.0.with(|_| ());
    }
}

/// loom's `Mutex` and `Condvar` behind parking_lot's API.
#[cfg(loom)]
mod loom_shim {
    use std::fmt;
    use std::ops::{Deref, DerefMut};

    /// A loom mutex whose `lock` returns the guard directly (loom mutexes are never poisoned
    /// in a passing model: a panicking thread fails the whole model).
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Mutex<T> {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().expect("a poisoned loom mutex has already failed the model")))
        }
    }

    impl<T: fmt::Debug> fmt::Debug for Mutex<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_tuple("Mutex").field(&self.0).finish()
        }
    }

    /// The guard; `None` only inside [`Condvar::wait`], which hands it to loom and back.
    pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_deref().expect("a guard is only empty inside Condvar::wait")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_deref_mut().expect("a guard is only empty inside Condvar::wait")
        }
    }

    /// A loom condition variable taking the guard by `&mut`, as parking_lot's does.
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    /// Whether a timed wait timed out (loom's never do; a wait nobody notifies is a deadlock it reports).
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct WaitTimeoutResult(bool);

    impl WaitTimeoutResult {
        #[expect(dead_code, reason = "parking_lot's API, kept for call sites that switch to the shim")]
        pub(crate) fn timed_out(self) -> bool {
            self.0
        }
    }

    impl Condvar {
        pub(crate) fn new() -> Condvar {
            Condvar(loom::sync::Condvar::new())
        }

        /// Releases the lock, waits for a notification, and locks again.
        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let inner = guard.0.take().expect("a guard is only empty inside Condvar::wait");
            let inner = self.0.wait(inner).expect("a poisoned loom mutex has already failed the model");
            guard.0 = Some(inner);
        }

        /// As [`Condvar::wait`]; loom ignores the timeout.
        #[expect(dead_code, reason = "parking_lot's API, kept for call sites that switch to the shim")]
        pub(crate) fn wait_for<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            timeout: std::time::Duration,
        ) -> WaitTimeoutResult {
            let inner = guard.0.take().expect("a guard is only empty inside Condvar::wait");
            let (inner, result) =
                self.0.wait_timeout(inner, timeout).expect("a poisoned loom mutex has already failed the model");
            guard.0 = Some(inner);
            WaitTimeoutResult(result.timed_out())
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

/// Runs a loom model under `LOOM_MAX_PREEMPTIONS` (and loom's other environment knobs) and
/// prints how many executions it explored and how long that took, for docs/testing.md.
#[cfg(all(test, loom))]
pub(crate) fn check_model(name: &str, model: impl Fn() + Send + Sync + 'static) {
    use std::sync::atomic::AtomicU64;

    let executions = std::sync::Arc::new(AtomicU64::new(0));
    let counter = executions.clone();
    let started = std::time::Instant::now();
    loom::model::Builder::new().check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        model();
    });
    let elapsed = started.elapsed();
    let executions = executions.load(std::sync::atomic::Ordering::Relaxed);
    println!("loom model {name}: {executions} executions in {:.2} s", elapsed.as_secs_f64());
}
