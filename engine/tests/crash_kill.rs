//! Kill -9 recovery (G1–G4 for process crashes): a child process commits batches, mostly
//! `Sync`, some `Buffered`, with tiny memtables so flushes and compactions run, and reports
//! every acknowledgement to the parent over a pipe. The parent SIGKILLs it at a random moment,
//! reopens the database and checks: every acknowledged batch is fully present (a buffered
//! write reached the OS, so it survives a process crash); every batch is all or nothing; the
//! present batches form a prefix of the commit order; `check()` passes. Then the next child
//! continues from the recovered state.
//!
//! Batch `i` puts `b{i}-1..3 = "i"` and `b{i}-0 = "i"`, and deletes `b{i-10}-0`.
//! `CAIRN_CRASH_CYCLES` sets the cycle count (default 50); `CAIRN_SEED` the seed.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use cairn::{Db, Durability};
use cairn_testkit::rng::{Rng, seed_from_env};

const CHILD_ENV: &str = "CAIRN_CRASH_CHILD_DIR";
const START_ENV: &str = "CAIRN_CRASH_CHILD_START";

fn key(batch: u64, j: u64) -> String {
    format!("b{batch:08}-{j}")
}

fn options() -> cairn::Options {
    common::tiny_options().memtable_size_bytes(16 << 10)
}

/// The child: writes batches forever from `start`, printing `ack <id>` after each commit.
#[test]
#[ignore = "entry point of the child process spawned by crash_kill_cycles"]
fn crash_child_process() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let start: u64 = std::env::var(START_ENV).expect("start id").parse().expect("start id is a number");
    let db = options().open(&dir).expect("child open");
    let mut rng = Rng::new(start.wrapping_mul(0x9E37_79B9));
    let stdout = std::io::stdout();
    for i in start.. {
        let mut b = db.batch();
        for j in 0..4 {
            b.put(key(i, j), i.to_string());
        }
        if i >= 10 {
            b.delete(key(i - 10, 0));
        }
        let durability = if rng.chance(70) { Durability::Sync } else { Durability::Buffered };
        db.write_with(b, durability).expect("child write");
        use std::io::Write;
        let mut out = stdout.lock();
        writeln!(out, "ack {i}").expect("report ack");
        out.flush().expect("flush ack");
    }
}

/// Checks the recovered database; returns the number of batches present.
fn verify(db: &Db, acked: u64) -> u64 {
    let mut present = 0;
    while db.get(key(present, 1)).expect("get").is_some() {
        present += 1;
    }
    assert!(present >= acked, "lost acknowledged batches: {acked} acknowledged, {present} present");
    // Nothing after the prefix (no holes), checked a few batches beyond.
    for i in present..present + 20 {
        for j in 0..4 {
            assert!(db.get(key(i, j)).expect("get").is_none(), "batch {i} partially present after prefix {present}");
        }
    }
    for i in 0..present {
        for j in 1..4 {
            let v = db.get(key(i, j)).expect("get");
            assert_eq!(v.as_deref(), Some(i.to_string().as_bytes()), "batch {i} key {j} incomplete");
        }
        let deleted = i + 10 < present;
        let v0 = db.get(key(i, 0)).expect("get");
        assert_eq!(v0.is_none(), deleted, "batch {i}: key 0 deletion state wrong (prefix {present})");
    }
    present
}

#[test]
fn crash_kill_cycles() {
    let seed = seed_from_env("CAIRN_SEED", 7);
    let cycles: u64 = std::env::var("CAIRN_CRASH_CYCLES").ok().and_then(|s| s.parse().ok()).unwrap_or(50);
    let mut rng = Rng::new(seed);
    let dir = common::temp_dir("crash-kill");
    let exe = std::env::current_exe().expect("test binary path");
    let mut present = 0;
    let mut total_acked = 0;
    for cycle in 0..cycles {
        let mut child = Command::new(&exe)
            .args(["--ignored", "--exact", "crash_child_process", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &dir)
            .env(START_ENV, present.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(id) = line.strip_prefix("ack ").and_then(|s| s.parse::<u64>().ok()) {
                    let _ = tx.send(id);
                }
            }
        });
        std::thread::sleep(Duration::from_millis(rng.between(30, 250)));
        child.kill().expect("SIGKILL child");
        let status = child.wait().expect("wait child");
        reader.join().expect("reader thread");
        let acked = rx.try_iter().max().map(|m| m + 1).unwrap_or(present);
        assert!(!status.success(), "cycle {cycle}: child exited by itself");
        let db = match options().open(&dir) {
            Ok(db) => db,
            Err(e) => panic!("cycle {cycle} (seed {seed}): reopen failed: {e}"),
        };
        let now = verify(&db, acked);
        db.check().unwrap_or_else(|e| panic!("cycle {cycle} (seed {seed}): check failed: {e}"));
        db.close().expect("close");
        total_acked += acked.saturating_sub(present);
        present = now;
    }
    eprintln!(
        "crash-kill: {cycles} cycles, {total_acked} acknowledged batches verified, {present} batches present (seed {seed})"
    );
    assert!(present > 0, "no batch was ever committed: the child never ran");
    let _ = std::fs::remove_dir_all(&dir);
}
