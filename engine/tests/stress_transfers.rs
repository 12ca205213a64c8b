//! Concurrency stress with an invariant: writer threads transfer amounts between accounts in
//! atomic batches (the sum of all balances never changes); reader threads check the sum through
//! snapshots, forward and reverse scans and point reads; a maintenance thread forces flushes
//! and compactions while another holds long-lived iterators open across them. A watchdog turns a
//! deadlock into a failure. Peak RSS is reported beside the configured memory budget.
//!
//! `CAIRN_STRESS_SECS` sets the run time (default 6 s); `CAIRN_SEED` the seed.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cairn::Durability;
use cairn_testkit::rng::{Rng, seed_from_env};
use parking_lot::Mutex;

const ACCOUNTS: u64 = 200;
const INITIAL: i64 = 1_000;
const MEMTABLE_BYTES: usize = 64 << 10;
const CACHE_BYTES: u64 = 1 << 20;

fn account(i: u64) -> String {
    format!("acct{i:04}")
}

fn balance(v: &[u8]) -> i64 {
    std::str::from_utf8(v).expect("utf8").parse().expect("balance")
}

fn sum_scan(items: impl Iterator<Item = cairn::Result<(bytes::Bytes, bytes::Bytes)>>) -> (i64, u64) {
    let mut sum = 0;
    let mut n = 0;
    for r in items {
        let (_, v) = r.expect("scan");
        sum += balance(&v);
        n += 1;
    }
    (sum, n)
}

fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn transfers_keep_the_sum_under_snapshots_scans_and_compaction() {
    let seed = seed_from_env("CAIRN_SEED", 11);
    let secs: u64 = std::env::var("CAIRN_STRESS_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(6);
    let dir = common::temp_dir("stress-transfers");
    let db = common::tiny_options()
        .memtable_size_bytes(MEMTABLE_BYTES)
        .cache_size_bytes(CACHE_BYTES)
        .use_mmap(false)
        .open(&dir)
        .expect("open");
    let mut init = db.batch();
    for i in 0..ACCOUNTS {
        init.put(account(i), INITIAL.to_string());
    }
    db.write_with(init, Durability::Sync).expect("initial balances");
    let total = INITIAL * ACCOUNTS as i64;

    let stop = Arc::new(AtomicBool::new(false));
    let transfers = Arc::new(AtomicU64::new(0));
    let checks = Arc::new(AtomicU64::new(0));
    // Transfers read then write balances: the application serializes its read-modify-write;
    // Cairn's part is that each transfer's two writes land atomically.
    let rmw = Arc::new(Mutex::new(()));
    let mut threads = Vec::new();
    for w in 0..3u64 {
        let (db, stop, transfers, rmw) = (db.clone(), stop.clone(), transfers.clone(), rmw.clone());
        threads.push(std::thread::spawn(move || {
            let mut rng = Rng::new(seed ^ (w + 1));
            while !stop.load(Ordering::Acquire) {
                let (a, b) = (rng.below(ACCOUNTS), rng.below(ACCOUNTS));
                if a == b {
                    continue;
                }
                let amount = rng.between(1, 50) as i64;
                let _g = rmw.lock();
                let va = balance(&db.get(account(a)).expect("get").expect("account exists"));
                let vb = balance(&db.get(account(b)).expect("get").expect("account exists"));
                let mut batch = db.batch();
                batch.put(account(a), (va - amount).to_string());
                batch.put(account(b), (vb + amount).to_string());
                let d = if rng.chance(5) { Durability::Sync } else { Durability::Buffered };
                db.write_with(batch, d).expect("transfer");
                transfers.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for r in 0..2u64 {
        let (db, stop, checks) = (db.clone(), stop.clone(), checks.clone());
        threads.push(std::thread::spawn(move || {
            let mut rng = Rng::new(seed ^ (100 + r));
            while !stop.load(Ordering::Acquire) {
                let snap = db.snapshot();
                let (sum, n) = match rng.below(3) {
                    0 => sum_scan(snap.iter()),
                    1 => sum_scan(snap.iter().rev()),
                    _ => {
                        let keys: Vec<String> = (0..ACCOUNTS).map(account).collect();
                        let vals = snap.multi_get(&keys).expect("multi_get");
                        (vals.iter().map(|v| balance(v.as_ref().expect("account exists"))).sum(), ACCOUNTS)
                    }
                };
                assert_eq!(n, ACCOUNTS, "an account went missing");
                assert_eq!(sum, total, "sum broken: a transfer was seen half applied");
                // The same snapshot read again later gives the same answer (repeatable view).
                assert_eq!(sum_scan(snap.iter()).0, sum, "snapshot not repeatable");
                checks.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    {
        // Long-lived iterators held across flushes and compactions: one iterator, consumed from
        // both ends alternately and slowly; its pinned view must still sum to the total.
        let (db, stop, checks) = (db.clone(), stop.clone(), checks.clone());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                let mut it = db.iter();
                let (mut sum, mut n) = (0i64, 0u64);
                loop {
                    let step = if n.is_multiple_of(2) { it.next() } else { it.next_back() };
                    let Some(r) = step else { break };
                    sum += balance(&r.expect("long-lived iteration").1);
                    n += 1;
                    if n.is_multiple_of(50) {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
                assert_eq!(n, ACCOUNTS, "a long-lived iterator lost or repeated an account");
                assert_eq!(sum, total, "a long-lived iterator saw a transfer half applied");
                checks.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    {
        let (db, stop) = (db.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut round = 0u64;
            while !stop.load(Ordering::Acquire) {
                db.flush().expect("flush");
                if round.is_multiple_of(4) {
                    db.compact().expect("compact");
                }
                round += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
        }));
    }
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Release);
    let deadline = Instant::now() + Duration::from_secs(120);
    for t in threads {
        while !t.is_finished() {
            assert!(Instant::now() < deadline, "watchdog: a thread did not stop (deadlock?)");
            std::thread::sleep(Duration::from_millis(10));
        }
        t.join().expect("thread");
    }
    let final_sum = sum_scan(db.iter()).0;
    assert_eq!(final_sum, total);
    db.check().expect("check");
    let budget_bytes = MEMTABLE_BYTES as u64 * 3 + CACHE_BYTES;
    eprintln!(
        "stress-transfers: {} transfers, {} invariant checks in {secs} s; peak RSS {} MiB against an engine \
         budget of {:.1} MiB (memtables {} KiB x 3 + cache {} KiB; the rest is the test process, its \
         threads and mapped tables)",
        transfers.load(Ordering::Relaxed),
        checks.load(Ordering::Relaxed),
        peak_rss_bytes().map_or("n/a".to_string(), |b| format!("{:.1}", b as f64 / 1048576.0)),
        budget_bytes as f64 / 1048576.0,
        MEMTABLE_BYTES >> 10,
        CACHE_BYTES >> 10,
    );
    assert!(transfers.load(Ordering::Relaxed) > 0 && checks.load(Ordering::Relaxed) > 0, "no work was done");
    db.close().expect("close");
    let _ = std::fs::remove_dir_all(&dir);
}
