//! The fault matrix (DESIGN.md §8 "a fault-injecting file system"; G1–G6 in docs/durability.md):
//! a fixed workload of 200 operations is run once fault-free, numbering its N I/O calls; then,
//! for every n < N and each fault kind, it runs again from an empty directory with the n-th call
//! failing, and the outcome is checked.
//!
//! Fault kinds (`cairn_testkit::fault`): EIO once on the n-th call of any kind; EIO on every call
//! from the n-th on; ENOSPC on every write, create and fsync from the n-th of them on; a short
//! write (half the bytes land, then EIO) on the n-th append.
//!
//! What is checked, per case:
//! * every error is typed and matches the fault: `Io` (EIO) or `NoSpace` (ENOSPC), or `Poisoned`
//!   with such a cause; never `Corruption`, never a panic, never a hang (each case runs under a
//!   watchdog);
//! * once the handle is poisoned, every write, `sync`, `flush` and `compact` returns `Poisoned`;
//!   after a one-time fault, later writes work or return `Poisoned` (G6);
//! * the open handle shows exactly the acknowledged writes (reads keep working, and a failed
//!   write is never visible in this process);
//! * with the faults cleared, a `Sync` write succeeds unless the handle is poisoned (the database
//!   works again once space is freed);
//! * after a process exit and a reopen without faults, `check()` passes and the state holds every
//!   acknowledged write, no write that returned `Poisoned`, each write that failed otherwise
//!   whole or not at all, and nothing else (G1, G3; tracked by `support::expect`);
//! * after a power loss (`CrashFs::crash` in each of its three power-loss modes) right after the
//!   operation during which the first fault fired, and again at the end of the workload, the
//!   database reopens (G4) and holds the state after some prefix of the commits containing every
//!   acknowledged-durable write (G1, G2).
//!
//! Also a read-side matrix: a bit flip on, or EIO from, the n-th read while opening and reading a
//! flushed database (positioned reads, with and without the block cache) yields a typed error
//! or the right value, never a wrong one, and a later read without the fault returns the right
//! value (a bad block is never cached).
//!
//! The workload runs on `FaultFs` over the in-memory `CrashFs`; one sampled campaign runs it on
//! the real file system. `CAIRN_FAULT_STRIDE=k` runs every k-th n (default 1: every n). Run with
//! `--nocapture` to see the summary.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn::{Db, Durability, Error, Options, RealFs, Vfs};
use cairn_testkit::{CrashFs, CrashMode, Fault, FaultFs, FaultRule, Model, OpKind, Trigger};
use support::cases::{self, CaseResult};
use support::expect::{Entries, Expect};
use support::fault_workload::{FaultKind, Op, PROBE_KEY, key, options, universe, value, workload};
use support::memfs::{db_dir, write_file};
use support::state::{Observed, observe, variant};
use support::trace_fs::{TraceFs, TracedOp, first_retry_after_failure};

/// A case that takes longer than this has hung.
const CASE_LIMIT: Duration = Duration::from_secs(60);
/// The power-loss modes every crash image is taken in.
const POWER_LOSS_MODES: [CrashMode; 3] =
    [CrashMode::DropUnsynced, CrashMode::KeepUnsyncedPrefix, CrashMode::TornGarbage];

// ---------------------------------------------------------------------------------------------
// One run of the workload.

/// Where a run keeps its files.
#[derive(Debug, Clone)]
enum Backend {
    /// In memory, where crash images (power loss) can be taken too.
    Memory,
    /// The real file system, in this directory.
    Disk(PathBuf),
}

/// What one case asks for.
#[derive(Debug, Clone)]
struct CasePlan {
    fault: Option<(FaultKind, u64)>,
    backend: Backend,
}

/// What one case saw (it panics on any violation).
#[derive(Debug, Default)]
struct CaseOutcome {
    /// Errors returned by the engine, per variant.
    errors: BTreeMap<String, usize>,
    /// I/O calls made before the faults were cleared.
    io_calls: u64,
    faults_injected: u64,
    poisoned: bool,
    unknown_writes: usize,
    /// Every I/O call, in order.
    trace: Vec<TracedOp>,
}

struct Run {
    kind: Option<FaultKind>,
    fs: Arc<FaultFs>,
    /// The file system under the faults, used to verify.
    base: Arc<dyn Vfs>,
    mem: Option<Arc<CrashFs>>,
    /// What the engine opens: the trace over the faults.
    trace: Arc<TraceFs>,
    dir: PathBuf,
    db: Option<Db>,
    /// The handle is known to be poisoned.
    poisoned: bool,
    /// Faults injected before the current operation started.
    faults_before_op: u64,
    /// Crash images: right after the first fault, and at the end of the workload.
    power_losses: Vec<PowerLoss>,
    /// Seeds the crash images.
    seed: u64,
    expect: Expect,
    outcome: CaseOutcome,
}

impl Run {
    fn new(plan: CasePlan) -> Run {
        let (base, mem, dir): (Arc<dyn Vfs>, _, _) = match &plan.backend {
            Backend::Memory => {
                let mem = CrashFs::new();
                (mem.clone(), Some(mem), db_dir())
            }
            Backend::Disk(dir) => (Arc::new(RealFs), None, dir.clone()),
        };
        let fs = FaultFs::new(base.clone());
        let kind = plan.fault.map(|(k, _)| k);
        if let Some((k, n)) = plan.fault {
            fs.add_rule(k.rule(n));
        }
        // The engine's calls go through the trace, then the faults.
        let trace = TraceFs::new(fs.clone());
        Run {
            kind,
            fs,
            base,
            mem,
            trace,
            dir,
            db: None,
            poisoned: false,
            faults_before_op: 0,
            power_losses: Vec::new(),
            seed: plan.fault.map_or(0, |(_, n)| n),
            expect: Expect::default(),
            outcome: CaseOutcome::default(),
        }
    }

    fn fail(&self, at: &str, what: impl std::fmt::Display) -> ! {
        panic!("{at}: {what}")
    }

    /// Records an error, checking it is one the fault may cause.
    fn note_error(&mut self, at: &str, e: &Error) {
        *self.outcome.errors.entry(variant(e)).or_default() += 1;
        let allowed = self.kind.is_some_and(|k| k.allows(e));
        if !allowed {
            self.fail(at, format_args!("error not allowed for this fault: {e:?}"));
        }
    }

    fn refresh_poisoned(&mut self) {
        if let Some(db) = &self.db {
            self.poisoned |= db.metrics().poisoned;
        }
        self.outcome.poisoned |= self.poisoned;
    }

    fn run_workload(&mut self) {
        self.open("open");
        for (i, op) in workload().into_iter().enumerate() {
            if self.db.is_none() {
                break;
            }
            let at = format!("op {i} ({})", op.name());
            self.faults_before_op = self.fs.faults_injected();
            self.step(&at, op);
            self.refresh_poisoned();
            if self.faults_before_op == 0 && self.fs.faults_injected() > 0 {
                self.take_power_loss(format!("power loss after {at}, the first faulted operation"));
            }
        }
        self.take_power_loss("power loss at the end of the workload".to_string());
    }

    /// Crash images of the file system now, in every power-loss mode (in memory only).
    fn take_power_loss(&mut self, when: String) {
        let Some(mem) = &self.mem else { return };
        let images = POWER_LOSS_MODES.map(|mode| (mode, mem.crash(mode, self.seed)));
        self.power_losses.push(PowerLoss { when, images: images.to_vec(), expect: self.expect.clone() });
    }

    fn step(&mut self, at: &str, op: Op) {
        match op {
            Op::Put { key, value, durability } => {
                let entries = [(key.clone(), Some(value.clone()))];
                let result = if durability == Durability::Buffered {
                    self.db().put(&key, &value)
                } else {
                    let mut b = self.db().batch();
                    b.put(&key, &value);
                    self.db().write_with(b, durability)
                };
                self.after_write(at, &entries, durability, result);
            }
            Op::Delete { key, durability } => {
                let entries = [(key.clone(), None)];
                let result = if durability == Durability::Buffered {
                    self.db().delete(&key)
                } else {
                    let mut b = self.db().batch();
                    b.delete(&key);
                    self.db().write_with(b, durability)
                };
                self.after_write(at, &entries, durability, result);
            }
            Op::Batch { entries, durability } => {
                let mut b = self.db().batch();
                for (k, v) in &entries {
                    match v {
                        Some(v) => {
                            b.put(k, v);
                        }
                        None => {
                            b.delete(k);
                        }
                    }
                }
                let result = self.db().write_with(b, durability);
                self.after_write(at, &entries, durability, result);
            }
            Op::Sync => {
                let r = self.db().sync();
                self.after_durable_call(at, r);
            }
            Op::Flush => {
                let r = self.db().flush();
                self.after_durable_call(at, r);
            }
            Op::Compact => {
                let r = self.db().compact();
                self.after_durable_call(at, r);
            }
            Op::Reopen => self.reopen(at),
        }
    }

    fn db(&self) -> &Db {
        self.db.as_ref().expect("steps run only while a handle is open")
    }

    fn after_write(&mut self, at: &str, entries: &Entries, durability: Durability, result: cairn::Result<()>) {
        let fired_before = self.faults_before_op > 0;
        match result {
            Ok(()) if self.poisoned => self.fail(at, "write acknowledged by a poisoned handle"),
            Ok(()) => self.expect.acknowledged(entries, durability == Durability::Sync),
            Err(e) => {
                self.note_error(at, &e);
                if matches!(e, Error::Poisoned { .. }) {
                    return; // Refused before it was logged: absent.
                }
                if self.poisoned {
                    self.fail(at, format_args!("a poisoned handle returned {e:?} instead of Poisoned"));
                }
                let once = self.kind.is_some_and(|k| !k.persistent());
                if once && fired_before {
                    self.fail(at, format_args!("a write failed with {e:?} after a one-time fault, not Poisoned"));
                }
                self.expect.unknown(entries);
            }
        }
    }

    /// `sync`, `flush`, `compact`: `Ok` makes every acknowledged write durable.
    fn after_durable_call(&mut self, at: &str, result: cairn::Result<()>) {
        match result {
            Ok(()) if self.poisoned => self.fail(at, "a poisoned handle reported success"),
            Ok(()) => self.expect.durable(),
            Err(e) => {
                self.note_error(at, &e);
                if self.poisoned && !matches!(e, Error::Poisoned { .. }) {
                    self.fail(at, format_args!("a poisoned handle returned {e:?} instead of Poisoned"));
                }
            }
        }
    }

    fn reopen(&mut self, at: &str) {
        if let Some(db) = self.db.take() {
            match db.close() {
                // A poisoned handle skips the WAL sync at close.
                Ok(()) if !self.poisoned => self.expect.durable(),
                Ok(()) => {}
                Err(e) => self.note_error(at, &e),
            }
        }
        self.poisoned = false;
        self.open(at);
    }

    /// Opens (retrying once: a one-time fault must not prevent the next open) and learns which
    /// possible state the database recovered.
    fn open(&mut self, at: &str) {
        for _attempt in 0..2 {
            match options(self.trace.clone()).open(&self.dir) {
                Ok(db) => {
                    let o = observe(&db, &universe());
                    let state = match o.complete_state() {
                        Some(Ok(s)) => Some(s),
                        Some(Err(e)) => self.fail(at, e),
                        None => {
                            self.check_read_errors(at, &o);
                            None
                        }
                    };
                    if let Err(e) = self.expect.reopened(state) {
                        self.fail(at, e);
                    }
                    self.db = Some(db);
                    return;
                }
                Err(e) => self.note_error(&format!("{at}: open"), &e),
            }
        }
        if self.kind.is_some_and(|k| !k.persistent()) {
            self.fail(at, "a one-time fault made two opens in a row fail (G4: the database always reopens)");
        }
    }

    fn check_read_errors(&mut self, at: &str, o: &Observed) {
        for e in &o.errors {
            self.note_error(&format!("{at}: read"), e);
        }
    }

    /// The open handle shows exactly the acknowledged writes; reads keep working after a fault.
    fn check_live(&mut self) {
        let (Some(db), Some(live)) = (&self.db, self.expect.live()) else { return };
        let o = observe(db, &universe());
        if let Some(d) = o.first_difference(live) {
            self.fail("live reads after the workload", d);
        }
        self.check_read_errors("live reads after the workload", &o);
    }

    /// With the faults cleared, a `Sync` write works unless the handle is poisoned.
    fn probe(&mut self) {
        self.outcome.io_calls = self.fs.op_count();
        self.outcome.faults_injected = self.fs.faults_injected();
        self.fs.clear();
        let Some(db) = &self.db else { return };
        let mut b = db.batch();
        b.put(PROBE_KEY, b"after");
        let entries = [(PROBE_KEY.to_vec(), Some(b"after".to_vec()))];
        match (db.write_with(b, Durability::Sync), self.poisoned) {
            (Ok(()), false) => self.expect.acknowledged(&entries, true),
            (Err(Error::Poisoned { .. }), true) => {}
            (r, poisoned) => self.fail("probe write with faults cleared", format_args!("{r:?} (poisoned: {poisoned})")),
        }
    }

    /// Closes the handle as a process would on exit (the result only has to be typed).
    fn exit(&mut self) {
        if let Some(db) = self.db.take()
            && let Err(e) = db.close()
        {
            self.note_error("close at exit", &e);
        }
    }

    fn into_outcome(mut self) -> CaseOutcome {
        self.outcome.unknown_writes = self.expect.unknown_writes;
        self.outcome.trace = self.trace.ops();
        if let Some((i, op)) = first_retry_after_failure(&self.outcome.trace) {
            panic!("I/O call {i}: {} of {} after a write or fsync of it failed (G6: never retried)", op.op, op.file);
        }
        self.outcome
    }
}

/// The file system as a power loss would leave it, and what it may then hold.
struct PowerLoss {
    when: String,
    images: Vec<(CrashMode, Arc<CrashFs>)>,
    expect: Expect,
}

impl PowerLoss {
    /// Each image reopens (G4) to a prefix of the commits holding every durable write (G1, G2).
    fn verify(&self, dir: &Path) {
        for (mode, image) in &self.images {
            let when = format!("{} ({mode:?})", self.when);
            let state = recovered_state(image.clone(), dir, &when);
            if let Err(e) = self.expect.check_after_power_loss(&state) {
                panic!("{when}: {e}");
            }
        }
    }
}

/// Opens `dir` on `vfs` without faults, checks it and reads its whole state.
fn recovered_state(vfs: Arc<dyn Vfs>, dir: &Path, when: &str) -> Model {
    let db = options(vfs).open(dir).unwrap_or_else(|e| panic!("{when}: reopen failed: {e:?}"));
    db.check().unwrap_or_else(|e| panic!("{when}: check failed: {e:?}"));
    let o = observe(&db, &universe());
    let state = match o.complete_state() {
        Some(Ok(s)) => s,
        Some(Err(e)) => panic!("{when}: {e}"),
        None => panic!("{when}: reads failed: {:?}", o.errors),
    };
    db.close().unwrap_or_else(|e| panic!("{when}: close failed: {e:?}"));
    state
}

/// Runs one case end to end; panics on any violation.
fn run_case(plan: CasePlan) -> CaseOutcome {
    if let Backend::Disk(dir) = &plan.backend {
        let _ = std::fs::remove_dir_all(dir);
    }
    let mut run = Run::new(plan.clone());
    run.run_workload();
    run.check_live();
    run.probe();
    run.exit();
    let after_exit = recovered_state(run.base.clone(), &run.dir, "after exit");
    if let Err(e) = run.expect.check_after_exit(&after_exit) {
        panic!("{e}");
    }
    for p in &run.power_losses {
        p.verify(&run.dir);
    }
    if let Backend::Disk(dir) = &plan.backend {
        let _ = std::fs::remove_dir_all(dir);
    }
    run.into_outcome()
}

// ---------------------------------------------------------------------------------------------
// Campaigns and their summary.

fn stride() -> u64 {
    std::env::var("CAIRN_FAULT_STRIDE").ok().and_then(|s| s.parse().ok()).filter(|&s| s > 0).unwrap_or(1)
}

/// The fault-free run: its I/O calls, in order.
fn baseline(backend: Backend) -> Vec<TracedOp> {
    let outcome = run_case(CasePlan { fault: None, backend });
    assert!(outcome.errors.is_empty(), "the fault-free run saw errors: {:?}", outcome.errors);
    let calls = usize::try_from(outcome.io_calls).expect("call count fits");
    outcome.trace[..calls].to_vec()
}

/// The calls of `trace` a fault kind counts, in order: its `n`-th fault hits the `n`-th of these
/// (as long as the run has not diverged from the fault-free one before).
fn counted(kind: FaultKind, trace: &[TracedOp]) -> Vec<TracedOp> {
    trace.iter().filter(|op| kind.counts(op)).cloned().collect()
}

/// Runs every case of one fault kind and prints its summary.
fn campaign(kind: FaultKind, backend: impl Fn(u64) -> Backend + Send + Sync + 'static, stride: u64) {
    let started = Instant::now();
    let trace = baseline(backend(u64::MAX));
    let targets = counted(kind, &trace);
    if std::env::var_os("CAIRN_FAULT_TRACE").is_some() {
        for (n, t) in targets.iter().enumerate() {
            println!("  n={n}: {} {}", t.op, t.file);
        }
    }
    let plans: Vec<(u64, CasePlan)> = (0..targets.len() as u64)
        .step_by(stride as usize)
        .map(|n| (n, CasePlan { fault: Some((kind, n)), backend: backend(n) }))
        .collect();
    let labels: Vec<String> = plans
        .iter()
        .map(|(n, _)| {
            let t = &targets[*n as usize];
            format!("{} n={n} ({} {})", kind.name(), t.op, t.file)
        })
        .collect();
    let labels = Arc::new(labels);
    let indexed: Vec<(usize, CasePlan)> = plans.into_iter().enumerate().map(|(i, (_, p))| (i, p)).collect();
    let results = cases::run_all(
        indexed,
        cases::workers(),
        CASE_LIMIT,
        {
            let labels = labels.clone();
            move |(i, _)| labels[*i].clone()
        },
        |(_, plan)| run_case(plan),
    );
    print_summary(kind, &trace, &targets, stride, &results, started.elapsed());
    cases::assert_no_failures(kind.name(), &results);
}

fn print_summary(
    kind: FaultKind,
    trace: &[TracedOp],
    targets: &[TracedOp],
    stride: u64,
    results: &[CaseResult<CaseOutcome>],
    elapsed: Duration,
) {
    let passed: Vec<&CaseOutcome> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    let mut hit: BTreeMap<String, usize> = BTreeMap::new();
    for o in &passed {
        for (v, c) in &o.errors {
            *errors.entry(v.clone()).or_default() += c;
        }
    }
    for (i, _) in results.iter().enumerate() {
        let t = &targets[i * stride as usize];
        *hit.entry(format!("{} {}", t.op, t.file_kind())).or_default() += 1;
    }
    let fired = passed.iter().filter(|o| o.faults_injected > 0).count();
    let poisoned = passed.iter().filter(|o| o.poisoned).count();
    let unknown: usize = passed.iter().map(|o| o.unknown_writes).sum();
    println!(
        "fault matrix: {}: {} I/O calls fault-free, {} counted by this fault, stride {stride}: {} cases, {} passed, \
         {} failed, in {:.1?}",
        kind.name(),
        trace.len(),
        targets.len(),
        results.len(),
        passed.len(),
        results.len() - passed.len(),
        elapsed
    );
    println!(
        "  faults injected in {fired} cases; handle poisoned in {poisoned}; writes with unknown outcome: {unknown}"
    );
    println!("  errors returned, per variant: {errors:?}");
    println!("  cases per call hit: {hit:?}");
}

#[test]
fn fault_free_run_is_deterministic() {
    let a = baseline(Backend::Memory);
    // NB: `Db::flush` polls for the flush thread every 50 ms, so on a starved machine it can
    // return while that thread still deletes the old WAL, interleaving their calls; a third run
    // tells such a rare race from a systematic difference.
    let b = Some(baseline(Backend::Memory)).filter(|b| *b == a).unwrap_or_else(|| baseline(Backend::Memory));
    assert!(a.len() > 300, "the workload makes {} I/O calls", a.len());
    assert_eq!(a, b, "fault-free runs made different I/O calls: the matrix would not cover every call");
    let kinds: std::collections::BTreeSet<&str> = a.iter().map(|op| op.op).collect();
    for needed in ["create", "write", "fsync", "fsync directory", "rename", "remove", "list", "lock", "close"] {
        assert!(kinds.contains(needed), "the workload never calls {needed}: {kinds:?}");
    }
    let manifests = a.iter().filter(|op| op.op == "create" && op.file.starts_with("MANIFEST")).count();
    assert!(manifests >= 3, "the workload should roll the manifest over at least once (saw {manifests} creates)");
}

#[test]
fn eio_once_on_every_call() {
    campaign(FaultKind::EioOnce, |_| Backend::Memory, stride());
}

#[test]
fn eio_persistent_from_every_call() {
    campaign(FaultKind::EioFrom, |_| Backend::Memory, stride());
}

#[test]
fn enospc_persistent_from_every_write_create_and_fsync() {
    campaign(FaultKind::NoSpaceFrom, |_| Backend::Memory, stride());
}

#[test]
fn short_write_once_on_every_append() {
    campaign(FaultKind::ShortWriteOnce, |_| Backend::Memory, stride());
}

#[test]
fn eio_once_over_the_real_file_system_sampled() {
    let root = std::env::temp_dir().join(format!("cairn-fault-matrix-{}", std::process::id()));
    let dir_root = root.clone();
    campaign(FaultKind::EioOnce, move |n| Backend::Disk(dir_root.join(format!("n{n}"))), stride() * 23);
    let _ = std::fs::remove_dir_all(&root);
}

// ---------------------------------------------------------------------------------------------
// The read-side matrix.

/// Keys of the read fixture.
const READ_KEYS: u64 = 160;

fn read_key(i: u64) -> Vec<u8> {
    format!("r{i:04}").into_bytes()
}

/// Every key the read fixture ever wrote, and two it never did.
fn read_universe() -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = (0..READ_KEYS).map(read_key).collect();
    keys.push(b"absent".to_vec());
    keys.push(b"r9999".to_vec());
    keys
}

/// A flushed, cleanly closed database: one table in L1 (a compaction's output) and one in L0
/// (the last flush, so the manifest's last record is a flush edit); and what it holds.
fn read_fixture() -> (Arc<CrashFs>, Model) {
    let mem = CrashFs::new();
    let db = options(mem.clone()).open(db_dir()).expect("open the read fixture");
    let mut model = Model::new();
    let mut put = |i: u64, v: String| {
        db.put(read_key(i), &v).expect("put");
        model.put(read_key(i), v);
    };
    for i in 0..READ_KEYS {
        put(i, format!("value-{i}-{}", "x".repeat((i % 30) as usize)));
    }
    db.flush().expect("flush");
    db.compact().expect("compact");
    for i in (0..READ_KEYS).step_by(3) {
        put(i, format!("newer-{i}"));
    }
    for i in (1..READ_KEYS).step_by(7) {
        db.delete(read_key(i)).expect("delete");
        model.delete(read_key(i));
    }
    db.flush().expect("flush");
    db.close().expect("close");
    (mem, model)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadFault {
    BitFlip,
    Eio,
}

impl ReadFault {
    fn name(self) -> &'static str {
        match self {
            ReadFault::BitFlip => "bit flip on the n-th read",
            ReadFault::Eio => "EIO on the n-th read",
        }
    }

    /// A flipped bit is `Corruption` (`Unsupported` when it lands in a header's version or
    /// flags field, which are checked before the checksum); EIO is `Io`.
    fn allows(self, e: &Error) -> bool {
        match self {
            ReadFault::BitFlip => matches!(e, Error::Corruption { .. } | Error::Unsupported { .. }),
            ReadFault::Eio => matches!(e, Error::Io { source, .. } if source.raw_os_error() == Some(5)),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct ReadPlan {
    fault: ReadFault,
    n: u64,
    cache_size_bytes: u64,
}

/// What one read case saw.
#[derive(Debug, Default)]
struct ReadOutcome {
    errors: BTreeMap<String, usize>,
    open_failed: bool,
    /// A fault was injected but no call reported an error (the damaged bytes were not needed,
    /// or a torn tail was dropped that carried nothing: the close's sync marker).
    injected_silently: bool,
}

fn read_options(vfs: Arc<dyn Vfs>, cache_size_bytes: u64) -> Options {
    options(vfs).use_mmap(false).cache_size_bytes(cache_size_bytes)
}

/// Reads made while opening the fixture and reading it once.
fn count_reads(fixture: &CrashFs, cache_size_bytes: u64) -> u64 {
    let trace = TraceFs::new(fixture.crash(CrashMode::KeepAll, 0));
    let db = read_options(trace.clone(), cache_size_bytes).open(db_dir()).expect("open");
    let o = observe(&db, &read_universe());
    assert!(o.errors.is_empty(), "fault-free reads failed: {:?}", o.errors);
    let reads = trace.ops().iter().filter(|op| op.op == "read").count() as u64;
    db.close().expect("close");
    reads
}

fn read_case(fixture: &CrashFs, expected: &Model, plan: ReadPlan) -> ReadOutcome {
    let fs = FaultFs::new(fixture.crash(CrashMode::KeepAll, 0));
    fs.add_rule(FaultRule::new(plan.fault_kind(), Trigger::Nth(plan.n)).only([OpKind::Read]));
    let mut outcome = ReadOutcome::default();
    let mut note = |e: &Error, at: &str| {
        assert!(plan.fault.allows(e), "{at}: error not allowed for this fault: {e:?}");
        *outcome.errors.entry(variant(e)).or_default() += 1;
    };
    let db = match read_options(fs.clone(), plan.cache_size_bytes).open(db_dir()) {
        Ok(db) => {
            let o = observe(&db, &read_universe());
            o.errors.iter().for_each(|e| note(e, "faulted read"));
            if let Some(d) = o.first_difference(expected) {
                panic!("faulted read returned a wrong result: {d}");
            }
            db
        }
        Err(e) => {
            note(&e, "faulted open");
            outcome.open_failed = true;
            fs.clear();
            read_options(fs.clone(), plan.cache_size_bytes).open(db_dir()).expect("open without the fault")
        }
    };
    outcome.injected_silently = fs.faults_injected() > 0 && outcome.errors.is_empty();
    fs.clear();
    let o = observe(&db, &read_universe());
    match o.complete_state() {
        Some(Ok(state)) if state == *expected => {}
        Some(Ok(_)) => panic!("read after the fault: {}", o.first_difference(expected).unwrap_or_default()),
        Some(Err(e)) => panic!("read after the fault: {e}"),
        None => panic!("read after the fault failed (a bad block was cached?): {:?}", o.errors),
    }
    db.check().expect("check after the fault");
    db.close().expect("close");
    outcome
}

impl ReadPlan {
    fn fault_kind(&self) -> Fault {
        match self.fault {
            ReadFault::BitFlip => Fault::BitFlip,
            ReadFault::Eio => Fault::Eio,
        }
    }
}

fn read_campaign(fault: ReadFault) {
    let started = Instant::now();
    let (fixture, expected) = read_fixture();
    let (fixture, expected) = (Arc::new(fixture), Arc::new(expected));
    for cache_size_bytes in [256 << 10, 0] {
        let reads = count_reads(&fixture, cache_size_bytes);
        let plans: Vec<ReadPlan> =
            (0..reads).step_by(stride() as usize).map(|n| ReadPlan { fault, n, cache_size_bytes }).collect();
        let results = cases::run_all(
            plans,
            cases::workers(),
            CASE_LIMIT,
            |p| format!("{} n={} cache={}", p.fault.name(), p.n, p.cache_size_bytes),
            {
                let (fixture, expected) = (fixture.clone(), expected.clone());
                move |p| read_case(&fixture, &expected, p)
            },
        );
        let passed: Vec<&ReadOutcome> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        let mut errors: BTreeMap<String, usize> = BTreeMap::new();
        for o in &passed {
            for (v, c) in &o.errors {
                *errors.entry(v.clone()).or_default() += c;
            }
        }
        println!(
            "read matrix: {} (positioned reads, block cache {} KiB): {reads} reads fault-free: {} cases, {} passed, \
             {} failed; open failed in {}; fault surfaced no error in {} (right values all the same); errors: {errors:?}; \
             {:.1?} so far",
            fault.name(),
            cache_size_bytes >> 10,
            results.len(),
            passed.len(),
            results.len() - passed.len(),
            passed.iter().filter(|o| o.open_failed).count(),
            passed.iter().filter(|o| o.injected_silently).count(),
            started.elapsed()
        );
        cases::assert_no_failures(fault.name(), &results);
    }
}

#[test]
fn bit_flip_on_every_read_is_an_error_never_a_wrong_value() {
    read_campaign(ReadFault::BitFlip);
}

#[test]
fn eio_on_every_read_is_an_error_and_never_cached() {
    read_campaign(ReadFault::Eio);
}

// ---------------------------------------------------------------------------------------------
// Regressions: failures the matrix found, frozen as named tests.

/// Found by "EIO once", n = 7..20: a failure while `open` creates a database, after its first WAL
/// exists but before `CURRENT` does, left a directory every later open refused as corrupt
/// ("CURRENT is missing but the directory holds database files"), against G4.
#[test]
fn interrupted_creation_reopens_as_a_new_database() {
    let mem = CrashFs::new();
    let fs = FaultFs::new(mem.clone());
    fs.add_rule(FaultRule::new(Fault::Eio, Trigger::Nth(0)).only([OpKind::Append]).on_path("MANIFEST"));
    let err = options(fs.clone()).open(db_dir()).expect_err("the manifest write fails");
    assert!(matches!(&err, Error::Io { op: "write", .. }), "{err:?}");
    assert!(mem.file_names(&db_dir()).iter().any(|n| n.ends_with(".wal")), "the failed creation left its WAL");
    for mode in POWER_LOSS_MODES {
        let image = mem.crash(mode, 7);
        let db = options(image).open(db_dir()).unwrap_or_else(|e| panic!("open after {mode:?}: {e:?}"));
        assert!(db.iter().next().is_none(), "a new database is empty");
        db.close().expect("close");
    }
    fs.clear();
    let db = options(fs.clone()).open(db_dir()).expect("the next open creates the database (G4)");
    db.put("k", "v").expect("put");
    db.close().expect("close");
    let state = recovered_state(mem, &db_dir(), "reopen");
    assert_eq!(state.entries(), vec![(b"k".to_vec(), b"v".to_vec())]);
}

/// Found by "EIO once", n = 298 (the directory fsync after a manifest rollover switched
/// `CURRENT`), and by the fuzzer (`fuzz/regressions/db_ops/manifest-fsync-failure-during-
/// compaction-loses-table`): a compaction whose manifest edit failed removed its output tables,
/// though the edit could be (and was) on disk; the reopen then failed with "table named by the
/// manifest is missing".
#[test]
fn failed_manifest_fsync_during_compaction_keeps_its_outputs() {
    let mem = CrashFs::new();
    let fs = FaultFs::new(mem.clone());
    // No rollover: the compaction's edit is appended to the live manifest.
    let db = options(fs.clone()).manifest_rollover_bytes(4 << 20).open(db_dir()).expect("open");
    let mut model = Model::new();
    for round in 0..3 {
        for i in 0..20 {
            let (k, v) = (key(i * 3 + round), value(round as usize, i as usize));
            db.put(&k, &v).expect("put");
            model.put(k, v);
        }
        db.flush().expect("flush");
    }
    fs.add_rule(FaultRule::new(Fault::Eio, Trigger::Nth(0)).only([OpKind::Sync]).on_path("MANIFEST"));
    let err = db.compact().expect_err("the manifest fsync fails");
    assert!(FaultKind::EioOnce.allows(&err), "{err:?}");
    assert!(db.metrics().poisoned, "a manifest failure poisons");
    drop(db);
    fs.clear();
    let state = recovered_state(mem, &db_dir(), "reopen after the failed compaction");
    assert!(state == model, "reopened state differs from what was written");
}

/// Found by "EIO persistent", n = 68 and 173, and "ENOSPC persistent", n = 137, with a
/// `TornGarbage` power loss: a memtable switch whose new WAL's header fsync failed (and whose
/// cleanup failed too) left a WAL above `log_number` with an unsynced header; after the power
/// loss that header was garbage, and every open failed with "log header checksum mismatch"
/// (G4). Such a WAL holds no record; a WAL whose records verify keeps its header error.
#[test]
fn stray_wal_with_a_garbage_header_does_not_prevent_open() {
    let mem = CrashFs::new();
    let db = options(mem.clone()).open(db_dir()).expect("open");
    db.write_with(
        {
            let mut b = db.batch();
            b.put("k", "v");
            b
        },
        Durability::Sync,
    )
    .expect("write");
    drop(db); // A crash: the record stays in the WAL.
    let mut garbage = b"CAIRNWAL\x01\x00\x00\x00".to_vec();
    garbage.extend((0..500u32).map(|i| (i * 37 % 251) as u8));
    write_file(&*mem, "000099.wal", &garbage);
    let state = recovered_state(mem.clone(), &db_dir(), "open with a stray WAL");
    assert_eq!(state.entries(), vec![(b"k".to_vec(), b"v".to_vec())]);

    // A WAL above log_number that does hold a verified record: its bad header is corruption.
    let path = db_dir().join("000199.wal");
    let mut w = cairn_wal::LogWriter::create(
        mem.create(&path).expect("create"),
        path.clone(),
        cairn_base::FileNum(199),
        cairn_wal::LogKind::Wal,
    )
    .expect("log writer");
    w.add_record(&[]).expect("record");
    w.sync().expect("sync");
    drop(w);
    let mut bytes = mem.read_all(&path).expect("read");
    bytes[20] ^= 0xff;
    write_file(&*mem, "000199.wal", &bytes);
    match options(mem).open(db_dir()) {
        Err(Error::Corruption { file, .. }) => assert_eq!(file, path),
        other => panic!("expected Corruption for a damaged header before a verified record, got {other:?}"),
    }
}

/// The retry check above must be able to fail: a second fsync of a file whose fsync failed is
/// flagged, one after the file was created anew is not.
#[test]
fn retry_check_flags_a_write_or_fsync_after_a_failed_one() {
    let op = |op: &'static str, file: &str, ok: bool| TracedOp { op, file: file.to_string(), ok };
    let retried = [op("create", "000004.wal", true), op("fsync", "000004.wal", false), op("fsync", "000004.wal", true)];
    assert_eq!(first_retry_after_failure(&retried).map(|(i, _)| i), Some(2));
    let appended =
        [op("write", "MANIFEST-000002", false), op("fsync", "000004.wal", true), op("write", "MANIFEST-000002", true)];
    assert_eq!(first_retry_after_failure(&appended).map(|(i, _)| i), Some(2));
    let recreated =
        [op("fsync", "CURRENT.tmp", false), op("create", "CURRENT.tmp", true), op("fsync", "CURRENT.tmp", true)];
    assert_eq!(first_retry_after_failure(&recreated), None);
}
