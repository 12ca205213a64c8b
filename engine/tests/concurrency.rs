//! Concurrency: writer threads commit batches that keep an invariant, reader threads check it
//! through snapshots and iterators in both directions, and a thread forces flush and
//! compaction; a watchdog turns a deadlock into a failure.
//!
//! Writer `t` writes batches setting `t:a` and `t:b` to the same counter `n` (1, 2, 3, ...).
//! Readers must always see `a == b` (no torn batch) and, per writer, never a counter going
//! backwards between two later views (no lost update); at the end each writer's last value is
//! present.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cairn::{Db, Durability};

const WRITERS: usize = 4;
const BATCHES: u64 = 1500;

fn counter(v: Option<bytes::Bytes>) -> u64 {
    v.map(|b| std::str::from_utf8(&b).expect("utf8").parse().expect("number")).unwrap_or(0)
}

fn read_pairs(db: &Db, snap: &cairn::Snapshot, rev: bool) -> Vec<(u64, u64)> {
    let _ = db;
    let items = common::collect(if rev {
        Box::new(snap.iter().rev()) as Box<dyn Iterator<Item = _>>
    } else {
        Box::new(snap.iter())
    });
    let mut pairs = vec![(0, 0); WRITERS];
    for (k, v) in items {
        let k = String::from_utf8(k).expect("utf8 key");
        let (t, which) = k.split_once(':').expect("key shape");
        let t: usize = t.parse().expect("writer id");
        let n: u64 = std::str::from_utf8(&v).expect("utf8").parse().expect("number");
        if which == "a" { pairs[t].0 = n } else { pairs[t].1 = n }
    }
    pairs
}

#[test]
fn writers_readers_and_compaction_keep_batches_atomic() {
    let dir = common::temp_dir("concurrency");
    let db = common::tiny_options().memtable_size_bytes(32 << 10).open(&dir).expect("open");
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for t in 0..WRITERS {
        let db = db.clone();
        handles.push(std::thread::spawn(move || {
            for n in 1..=BATCHES {
                let mut b = db.batch();
                b.put(format!("{t}:a"), n.to_string());
                b.put(format!("{t}:b"), n.to_string());
                let d = if n % 10 == 0 { Durability::Sync } else { Durability::Buffered };
                db.write_with(b, d).expect("write");
            }
        }));
    }
    let mut readers = Vec::new();
    for r in 0..3 {
        let (db, stop) = (db.clone(), stop.clone());
        readers.push(std::thread::spawn(move || {
            let mut last = [0u64; WRITERS];
            let mut views = 0u64;
            while !stop.load(Ordering::Acquire) {
                let snap = db.snapshot();
                let pairs = read_pairs(&db, &snap, views % 2 == r % 2);
                for (t, (a, b)) in pairs.into_iter().enumerate() {
                    assert_eq!(a, b, "torn batch for writer {t}");
                    assert!(a >= last[t], "writer {t} went back from {} to {a}", last[t]);
                    last[t] = a;
                    // Point reads through the same snapshot agree with its scan.
                    assert_eq!(counter(snap.get(format!("{t}:a")).expect("get")), a);
                }
                views += 1;
            }
            views
        }));
    }
    let maint = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(Ordering::Acquire) {
                db.flush().expect("flush");
                if rounds % 3 == 0 {
                    db.compact().expect("compact");
                }
                rounds += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(240);
    for h in handles {
        while !h.is_finished() {
            assert!(Instant::now() < deadline, "watchdog: writers did not finish (deadlock?)");
            std::thread::sleep(Duration::from_millis(10));
        }
        h.join().expect("writer");
    }
    stop.store(true, Ordering::Release);
    let views: u64 = readers.into_iter().map(|r| r.join().expect("reader")).sum();
    maint.join().expect("maintenance");
    for t in 0..WRITERS {
        assert_eq!(counter(db.get(format!("{t}:a")).expect("get")), BATCHES, "lost update for writer {t}");
    }
    db.check().expect("check");
    eprintln!("concurrency: {} writes, {views} snapshot views checked", WRITERS as u64 * BATCHES * 2);
    db.close().expect("close");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn iterator_pins_its_view_across_flush_and_compaction() {
    let dir = common::temp_dir("iter-pin");
    let db = common::tiny_options().open(&dir).expect("open");
    for i in 0..500u32 {
        db.put(format!("k{i:04}"), format!("v{i}")).expect("put");
    }
    let mut it = db.iter();
    let first = it.next().expect("first").expect("ok");
    for i in 0..500u32 {
        db.delete(format!("k{i:04}")).expect("delete");
    }
    db.flush().expect("flush");
    db.compact().expect("compact");
    assert_eq!(db.iter().count(), 0, "everything deleted");
    let rest = common::collect(it);
    assert_eq!(rest.len() + 1, 500, "iterator saw a changing view");
    assert_eq!(&first.0[..], b"k0000");
    db.close().expect("close");
    let _ = std::fs::remove_dir_all(&dir);
}
