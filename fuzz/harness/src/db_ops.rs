//! Target `db_ops`: an operation sequence decoded from the input, run against `cairn::Db` on an
//! in-memory crash-emulating file system, and compared with `cairn_testkit::Model`.
//!
//! Input:
//! ```text
//! input := options:u8 fault_kind:u8 fault_ops:u8 countdown:u16le op*
//! op    := code:u8 operands...        (decoded by `Run::step`; short input reads as zeros)
//! ```
//! Operations: put and delete (buffered or synced), batches, get, contains_key, multi_get,
//! ranges and prefixes forward, backward and interleaved, full scans, flush, compact, sync,
//! clean reopen, drop without close (a process crash), power loss (`CrashFs::crash` in any
//! `CrashMode`, taken while the database is running), snapshots read later, `check`.
//!
//! `fault_kind` 1..=3 wraps the file system in a `FaultFs` that fails the `countdown`-th
//! operation of the kinds `fault_ops` selects with EIO, ENOSPC or a short write, once. The
//! countdown starts once the database exists, unless bit 7 of `options` is set: then it starts
//! before the first open, so the fault may hit the creation of the database (see
//! `fuzz/regressions/db_ops/` for what that finds).
//!
//! Invariants asserted:
//! * while no fault has fired, every call succeeds and every read equals the model; a snapshot
//!   reads what the model held when it was taken (G7);
//! * a read may fail only after a fault fired, and never returns a wrong value;
//! * after a fault: the faults are cleared, the database is dropped and reopened (which must
//!   succeed), and it holds exactly the acknowledged writes, plus possibly, whole, the one write
//!   that failed (G1, G3, G6);
//! * after a process crash the database reopens with every acknowledged write; after a power
//!   loss it reopens (G4) with the state after some prefix of the acknowledged writes that
//!   contains every write made durable by `Durability::Sync`, `sync` or `close` (G1, G2).

use std::ops::Bound;
use std::sync::Arc;

use cairn::{Compression, Db, Durability, Options, Snapshot, Vfs, WriteBatch};
use cairn_testkit::fault::{Fault, FaultFs, FaultRule, OpKind, Trigger};
use cairn_testkit::{CrashFs, CrashMode, Model};

use crate::input::Input;
use crate::{Pairs, collect_all};

/// The database directory inside the in-memory file system.
const DIR: &str = "db";

/// Operations per input at most, so one input cannot run for long.
const MAX_OPS: usize = 200;

/// Distinct generated keys: few, so operations keep hitting the same keys.
const KEY_SPACE: u8 = 24;

/// Runs the `db_ops` target on `data`; panics if an invariant above is broken.
pub fn db_ops(data: &[u8]) {
    let mut input = Input::new(data);
    let mut run = Run::start(&mut input);
    let mut ops = 0;
    while !input.is_empty() && ops < MAX_OPS {
        run.step(&mut input);
        ops += 1;
    }
    run.finish();
}

/// The database under test, the model, and what a crash may legitimately roll back to.
struct Run {
    options: u8,
    crash_fs: Arc<CrashFs>,
    /// Present while an injected fault may still fire.
    faults: Option<Arc<FaultFs>>,
    vfs: Arc<dyn Vfs>,
    db: Option<Db>,
    model: Model,
    /// The states a power loss may recover: `history[0]` is durable, each later entry is the
    /// state after one more acknowledged write; the last one equals `model`.
    history: Vec<Model>,
    snapshot: Option<(Snapshot, Model)>,
    /// Counts writes, so every value written is distinct.
    writes: u64,
}

impl Run {
    fn start(input: &mut Input<'_>) -> Run {
        let options = input.u8();
        let crash_fs = CrashFs::new();
        let faults = FaultFs::new(crash_fs.clone());
        let rule = fault_rule(input);
        let creation_faults = options & 0x80 == 0x80;
        if creation_faults && let Some(r) = &rule {
            faults.add_rule(r.clone());
        }
        let vfs: Arc<dyn Vfs> = faults.clone();
        let mut run = Run {
            options,
            crash_fs,
            faults: Some(faults.clone()),
            vfs,
            db: None,
            model: Model::new(),
            history: vec![Model::new()],
            snapshot: None,
            writes: 0,
        };
        run.db = run.ok(run.options().open(DIR), "the first open");
        if run.fault_fired() {
            run.reopen_after(None, "a fault during the first open");
        } else if let Some(r) = rule.filter(|_| !creation_faults) {
            faults.add_rule(r);
        }
        run
    }

    fn options(&self) -> Options {
        let o = self.options;
        let trigger = if o & 2 == 2 { (2, 8, 12) } else { (1000, 1000, 1000) };
        let compression = match (o >> 2) & 3 {
            1 => Compression::Lz4,
            2 => Compression::Zstd,
            _ => Compression::None,
        };
        Options::default()
            .memtable_size_bytes(if o & 1 == 1 { 4 << 10 } else { 64 << 10 })
            .target_file_size_bytes(4 << 10)
            .level1_target_bytes(16 << 10)
            .level_multiplier(4)
            .l0_compaction_trigger(trigger.0)
            .l0_files_slowdown(trigger.1)
            .l0_files_stop(trigger.2)
            .block_size_bytes(256)
            .restart_interval(4)
            .compression(compression)
            .use_mmap(o & 16 == 0)
            .bloom_bits_per_key(if o & 32 == 0 { 10 } else { 0 })
            .cache_size_bytes(if o & 64 == 0 { 64 << 10 } else { 0 })
            .vfs(self.vfs.clone())
    }

    fn db(&self) -> &Db {
        self.db.as_ref().expect("the database is open between operations")
    }

    fn fault_fired(&self) -> bool {
        self.faults.as_ref().is_some_and(|f| f.faults_injected() > 0)
    }

    /// `Some(value)` on success; `None` for an error after an injected fault; a panic for an
    /// error without one.
    fn ok<T>(&self, r: cairn::Result<T>, call: &str) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) if self.fault_fired() => {
                trace(format_args!("  {call} failed after the injected fault: {e}"));
                None
            }
            Err(e) => panic!("{call} failed without an injected fault: {e}"),
        }
    }

    /// Decodes and runs one operation, then deals with a fault that fired during it.
    fn step(&mut self, input: &mut Input<'_>) {
        let code = input.u8() % 20;
        trace(format_args!(
            "op {code} ({} keys, {} states since the last durable point)",
            self.model.len(),
            self.history.len()
        ));
        let uncertain = match code {
            0..=2 => self.put(input),
            3 => self.delete(input),
            4 => self.batch(input),
            5 => self.get(input),
            6 => self.multi_get(input),
            7 => self.range(input),
            8 => self.prefix(input),
            9 => self.scan_all(),
            10 => self.maintain(input),
            11 => self.sync(),
            12 => self.clean_reopen(),
            13 => self.process_crash(),
            14 => self.power_loss(input),
            15 => self.take_snapshot(),
            16 => self.read_snapshot(input),
            17 => self.check(),
            _ => self.put(input),
        };
        if self.fault_fired() {
            trace(format_args!(
                "  the injected fault fired; the failed write is {}",
                if uncertain.is_some() { "uncertain" } else { "none" }
            ));
            self.reopen_after(uncertain, "a cleared fault");
        }
    }

    /// Runs a write; on success the model takes it. When the write failed (after a fault),
    /// returns the model *with* the write: it may or may not have reached the disk.
    fn write(&mut self, batch: WriteBatch, apply: impl Fn(&mut Model), durability: Durability) -> Option<Model> {
        let mut after = self.model.clone();
        apply(&mut after);
        let r = self.db().write_with(batch, durability);
        if self.ok(r, "write").is_none() {
            return Some(after);
        }
        self.model = after;
        if durability == Durability::Sync {
            self.history = vec![self.model.clone()];
        } else {
            self.history.push(self.model.clone());
        }
        None
    }

    fn put(&mut self, input: &mut Input<'_>) -> Option<Model> {
        let (key, value, durability) = (key(input), self.value(input), durability(input));
        let mut b = WriteBatch::new();
        b.put(&key, &value);
        self.write(b, |m| m.put(&key, &value), durability)
    }

    fn delete(&mut self, input: &mut Input<'_>) -> Option<Model> {
        let (key, durability) = (key(input), durability(input));
        let mut b = WriteBatch::new();
        b.delete(&key);
        self.write(b, |m| m.delete(&key), durability)
    }

    fn batch(&mut self, input: &mut Input<'_>) -> Option<Model> {
        let n = 1 + input.below(8);
        let mut b = WriteBatch::new();
        let mut writes: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        for _ in 0..n {
            let k = key(input);
            let v = input.bool().then(|| self.value(input));
            match &v {
                Some(v) => b.put(&k, v),
                None => b.delete(&k),
            };
            writes.push((k, v));
        }
        let apply = |m: &mut Model| {
            for (k, v) in &writes {
                match v {
                    Some(v) => m.put(k, v),
                    None => m.delete(k),
                }
            }
        };
        let durability = durability(input);
        self.write(b, apply, durability)
    }

    fn value(&mut self, input: &mut Input<'_>) -> Vec<u8> {
        self.writes += 1;
        let size = input.u8();
        let len = if size & 0x80 == 0x80 { usize::from(size & 0x7f) * 128 } else { usize::from(size) };
        let mut v = format!("v{}:", self.writes).into_bytes();
        v.extend((0..len).map(|i| (i as u8) ^ size));
        v
    }

    fn get(&mut self, input: &mut Input<'_>) -> Option<Model> {
        let k = key(input);
        let expected = self.model.get(&k).map(<[u8]>::to_vec);
        if input.bool() {
            if let Some(present) = self.ok(self.db().contains_key(&k), "contains_key") {
                assert_eq!(present, expected.is_some(), "contains_key disagrees with the model");
            }
        } else if let Some(got) = self.ok(self.db().get(&k), "get") {
            assert_eq!(got.map(|b| b.to_vec()), expected, "get disagrees with the model");
        }
        None
    }

    fn multi_get(&mut self, input: &mut Input<'_>) -> Option<Model> {
        let keys: Vec<Vec<u8>> = (0..1 + input.below(6)).map(|_| key(input)).collect();
        if let Some(got) = self.ok(self.db().multi_get(&keys), "multi_get") {
            let got: Vec<Option<Vec<u8>>> = got.into_iter().map(|v| v.map(|b| b.to_vec())).collect();
            let expected: Vec<Option<Vec<u8>>> = keys.iter().map(|k| self.model.get(k).map(<[u8]>::to_vec)).collect();
            assert_eq!(got, expected, "multi_get disagrees with the model");
        }
        None
    }

    fn range(&mut self, input: &mut Input<'_>) -> Option<Model> {
        let (lo, hi) = (bound(input), bound(input));
        let pattern = input.u8();
        let expected = self.model.range((lo.clone(), hi.clone()));
        let it = self.db().range::<Vec<u8>, _>((lo, hi));
        self.compare_scan(it, expected, pattern, "range")
    }

    fn prefix(&mut self, input: &mut Input<'_>) -> Option<Model> {
        let len = input.below(3);
        let p = key(input);
        let p = p[..len.min(p.len())].to_vec();
        let pattern = input.u8();
        let expected = self.model.prefix(&p);
        let it = self.db().prefix(&p);
        self.compare_scan(it, expected, pattern, "prefix")
    }

    fn scan_all(&mut self) -> Option<Model> {
        let expected = self.model.entries();
        let it = self.db().iter();
        self.compare_scan(it, expected, 0, "iter")
    }

    /// Drains `it`, taking from the front or the back as the bits of `pattern` say, and checks
    /// the pairs are `expected`. A failed scan is fine after a fault, if what it yielded is right.
    fn compare_scan(&self, mut it: cairn::Iter, expected: Pairs, pattern: u8, call: &str) -> Option<Model> {
        let (mut front, mut back) = (Vec::new(), Vec::new());
        for i in 0.. {
            let from_back = pattern >> (i % 8) & 1 == 1;
            let next = if from_back { it.next_back() } else { it.next() };
            let Some(item) = next else { break };
            let Some((k, v)) = self.ok(item, call) else { break };
            let side = if from_back { &mut back } else { &mut front };
            side.push((k.to_vec(), v.to_vec()));
            assert!(front.len() + back.len() <= expected.len(), "{call} yields more pairs than the model holds");
        }
        assert!(expected.starts_with(&front), "{call} (front) disagrees with the model");
        assert!(expected.iter().rev().zip(&back).all(|(e, b)| e == b), "{call} (back) disagrees with the model");
        if !self.fault_fired() {
            assert_eq!(front.len() + back.len(), expected.len(), "{call} missed pairs of the model");
        }
        None
    }

    /// Flush, compact, or wait for background work.
    fn maintain(&mut self, input: &mut Input<'_>) -> Option<Model> {
        let db = self.db();
        let (r, call) = match input.u8() % 3 {
            0 => (db.flush(), "flush"),
            1 => (db.compact(), "compact"),
            _ => (db.wait_for_background(), "wait_for_background"),
        };
        self.ok(r, call);
        None
    }

    fn sync(&mut self) -> Option<Model> {
        if self.ok(self.db().sync(), "sync").is_some() {
            self.history = vec![self.model.clone()];
        }
        None
    }

    fn check(&mut self) -> Option<Model> {
        self.ok(self.db().check(), "check");
        None
    }

    fn take_snapshot(&mut self) -> Option<Model> {
        self.snapshot = Some((self.db().snapshot(), self.model.clone()));
        None
    }

    fn read_snapshot(&mut self, input: &mut Input<'_>) -> Option<Model> {
        let Some((snap, model)) = &self.snapshot else { return None };
        let k = key(input);
        if let Some(got) = self.ok(snap.get(&k), "snapshot get") {
            assert_eq!(got.map(|b| b.to_vec()), model.get(&k).map(<[u8]>::to_vec), "snapshot get changed");
        }
        let pattern = input.u8();
        self.compare_scan(snap.iter(), model.entries(), pattern, "snapshot iter")
    }

    /// Closes and reopens; a successful close makes everything durable.
    fn clean_reopen(&mut self) -> Option<Model> {
        self.snapshot = None;
        self.ok(self.db().close(), "close")?;
        self.history = vec![self.model.clone()];
        self.db = None;
        self.db = self.ok(self.options().open(DIR), "open after close");
        if self.db.is_some() {
            // A read fault may still be armed and fire in this scan: a typed error is then fine
            // (`step` reopens with faults cleared and checks the contents); wrong pairs never are.
            let model = self.model.entries();
            if let Some(pairs) = self.ok(collect_all(self.db().iter()), "scan after a clean reopen") {
                assert!(pairs == model, "after a clean reopen the database differs from the model");
            }
        }
        None
    }

    /// Drops the database without closing it: what a process crash leaves.
    fn process_crash(&mut self) -> Option<Model> {
        self.snapshot = None;
        self.db = None;
        self.db = self.ok(self.options().open(DIR), "open after drop");
        if self.db.is_some() {
            // As after a clean reopen: an armed read fault may fire in this scan (how many I/O
            // calls come first depends on background timing); a typed error is then fine, and
            // `step` reopens with faults cleared and checks the contents. Wrong pairs never are.
            let model = self.model.entries();
            if let Some(pairs) = self.ok(collect_all(self.db().iter()), "scan after a drop without close") {
                assert!(pairs == model, "after a drop without close the database differs from the model");
            }
        }
        None
    }

    /// Power loss while the database runs, then a reopen on what survived.
    fn power_loss(&mut self, input: &mut Input<'_>) -> Option<Model> {
        let modes =
            [CrashMode::DropUnsynced, CrashMode::KeepUnsyncedPrefix, CrashMode::TornGarbage, CrashMode::KeepAll];
        let mode = modes[input.below(modes.len())];
        let seed = u64::from(input.u16());
        self.snapshot = None;
        let survivor = self.crash_fs.crash(mode, seed);
        self.db = None;
        // The crash ends fault injection: the survivor is a new file system without rules.
        self.crash_fs = survivor.clone();
        self.faults = None;
        self.vfs = survivor;
        let db = self.options().open(DIR).unwrap_or_else(|e| panic!("open after a crash ({mode:?}) failed: {e}"));
        self.db = Some(db);
        let allowed = if mode == CrashMode::KeepAll { vec![self.model.clone()] } else { self.history.clone() };
        let found = self.expect_contents(&allowed, "a crash");
        let kept = allowed.len() - 1 - found;
        self.history.truncate(self.history.len() - kept);
        self.model = self.history.last().expect("history is never empty").clone();
        None
    }

    /// Drops the database, clears any fault, reopens (which must succeed) and checks the
    /// contents are the model's, or `uncertain`'s.
    fn reopen_after(&mut self, uncertain: Option<Model>, what: &str) {
        self.snapshot = None;
        self.db = None;
        if let Some(f) = self.faults.take() {
            f.clear();
        }
        let db = self.options().open(DIR).unwrap_or_else(|e| panic!("open after {what} failed: {e}"));
        self.db = Some(db);
        let mut allowed = vec![self.model.clone()];
        allowed.extend(uncertain);
        if self.expect_contents(&allowed, what) == 1 {
            self.model = allowed.pop().expect("two allowed states");
            self.history.push(self.model.clone());
        }
    }

    /// Scans the database and checks it equals one of `allowed`; returns which.
    fn expect_contents(&self, allowed: &[Model], after: &str) -> usize {
        let pairs = collect_all(self.db().iter()).unwrap_or_else(|e| panic!("scan after {after} failed: {e}"));
        let found = allowed.iter().rposition(|m| m.entries() == pairs);
        found.unwrap_or_else(|| {
            panic!(
                "after {after} the database holds {} pairs, matching none of the {} allowed states \
                 (acknowledged writes lost, or a write torn)",
                pairs.len(),
                allowed.len()
            )
        })
    }

    /// Closes the database at the end of the run.
    fn finish(mut self) {
        self.snapshot = None;
        let closed = self.db().close();
        self.ok(closed, "close at the end");
    }
}

/// Prints a line of the run when `CAIRN_FUZZ_TRACE` is set (for triaging a reproducer).
fn trace(line: std::fmt::Arguments<'_>) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("CAIRN_FUZZ_TRACE").is_some()) {
        eprintln!("{line}");
    }
}

/// The fault the input asks for, if any.
fn fault_rule(input: &mut Input<'_>) -> Option<FaultRule> {
    let fault = match input.u8() % 8 {
        1 => Fault::Eio,
        2 => Fault::NoSpace,
        3 => Fault::ShortWrite,
        _ => {
            let _ = (input.u8(), input.u16());
            return None;
        }
    };
    let kinds: &[OpKind] = match input.u8() % 4 {
        0 => &[OpKind::Append, OpKind::Sync],
        1 => &[OpKind::Create, OpKind::Rename, OpKind::Remove, OpKind::SyncDir, OpKind::Close],
        2 => &[OpKind::Read, OpKind::Open, OpKind::Map, OpKind::List, OpKind::Exists],
        _ => &[],
    };
    let rule = FaultRule::new(fault, Trigger::Nth(u64::from(input.u16() % 512)));
    Some(if kinds.is_empty() { rule } else { rule.only(kinds.iter().copied()) })
}

/// A key: usually one of a few short generated ones, sometimes raw bytes (the empty key too).
fn key(input: &mut Input<'_>) -> Vec<u8> {
    let b = input.u8();
    if b < 240 { format!("k{:02}", b % KEY_SPACE).into_bytes() } else { input.take(usize::from(b - 240)).to_vec() }
}

fn bound(input: &mut Input<'_>) -> Bound<Vec<u8>> {
    match input.u8() % 3 {
        0 => Bound::Unbounded,
        1 => Bound::Included(key(input)),
        _ => Bound::Excluded(key(input)),
    }
}

fn durability(input: &mut Input<'_>) -> Durability {
    if input.u8().is_multiple_of(4) { Durability::Sync } else { Durability::Buffered }
}
