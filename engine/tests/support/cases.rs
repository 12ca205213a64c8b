//! Running many independent cases on a few worker threads, each case under a watchdog.
//!
//! A case that panics, or that does not finish within its time limit (a hang: G6 says a fault
//! must never hang the database), becomes a failure message naming the case; the other cases
//! still run. A hung case's thread cannot be killed: it is left behind, and the test fails at the
//! end with every failure listed. Results come back in case order, so summaries are deterministic.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use parking_lot::Mutex;

/// The outcome of one case: its result, or why it failed (panic message or hang).
pub type CaseResult<R> = Result<R, String>;

/// Runs `run` on every case, on up to `workers` threads, each case in its own thread watched for
/// `limit`. `label` names a case in failure messages.
pub fn run_all<C, R>(
    cases: Vec<C>,
    workers: usize,
    limit: Duration,
    label: impl Fn(&C) -> String + Send + Sync + 'static,
    run: impl Fn(C) -> R + Send + Sync + 'static,
) -> Vec<CaseResult<R>>
where
    C: Send + 'static,
    R: Send + 'static,
{
    let count = cases.len();
    let queue: Arc<Mutex<Vec<Option<C>>>> = Arc::new(Mutex::new(cases.into_iter().map(Some).collect()));
    let results: Arc<Mutex<Vec<Option<CaseResult<R>>>>> = Arc::new(Mutex::new((0..count).map(|_| None).collect()));
    let next = Arc::new(AtomicUsize::new(0));
    let run = Arc::new(run);
    let label = Arc::new(label);
    let handles: Vec<_> = (0..workers.max(1))
        .map(|_| {
            let (queue, results, next, run, label) =
                (queue.clone(), results.clone(), next.clone(), run.clone(), label.clone());
            std::thread::spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    if index >= count {
                        return;
                    }
                    let case = queue.lock()[index].take().expect("each case is taken once");
                    let name = label(&case);
                    let outcome = watch(limit, &name, {
                        let run = run.clone();
                        move || run(case)
                    });
                    results.lock()[index] = Some(outcome);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("worker threads do not panic: cases run in their own threads");
    }
    let mut results = results.lock();
    results.iter_mut().map(|r| r.take().expect("every case ran")).collect()
}

/// Runs `f` in a new thread and waits at most `limit` for it.
pub fn watch<R: Send + 'static>(limit: Duration, name: &str, f: impl FnOnce() -> R + Send + 'static) -> CaseResult<R> {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name(format!("case {name}"))
        .spawn(move || {
            // The receiver may be gone after a timeout; then nobody wants the result.
            let _ = tx.send(f());
        })
        .map_err(|e| format!("{name}: cannot spawn the case thread: {e}"))?;
    match rx.recv_timeout(limit) {
        Ok(r) => {
            // The thread sent its result and is about to exit; a join error cannot happen after
            // a successful send, but report it rather than assume.
            handle.join().map_err(|_| format!("{name}: case thread panicked after finishing"))?;
            Ok(r)
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let msg = match handle.join() {
                Err(payload) => panic_message(payload.as_ref()),
                Ok(()) => "case thread exited without a result".to_string(),
            };
            Err(format!("{name}: {msg}"))
        }
        Err(mpsc::RecvTimeoutError::Timeout) => Err(format!("{name}: no result after {limit:?} (hang)")),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Worker threads for a campaign: the machine's parallelism, at most 4.
pub fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().min(4))
}

/// Panics listing the failures (at most 20 in full), if there are any.
pub fn assert_no_failures<R>(campaign: &str, results: &[CaseResult<R>]) {
    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    if failures.is_empty() {
        return;
    }
    let shown: Vec<&str> = failures.iter().take(20).map(|s| s.as_str()).collect();
    panic!("{campaign}: {} of {} cases failed:\n  {}", failures.len(), results.len(), shown.join("\n  "));
}
