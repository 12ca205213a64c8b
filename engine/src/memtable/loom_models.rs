//! Loom models of the memtable: one writer inserting while a reader gets and iterates, under
//! every interleaving loom explores (docs/testing.md#loom-models).
//!
//! What fails a model: a reader reaching a node that is not fully written (the node's
//! `InitMark` reports a causality violation, SKIP-1/SKIP-2), an entry whose value does not
//! belong to its key (a torn or mixed-up node), an entry that `insert` had returned for but the
//! reader cannot find, an iteration that is not strictly ordered (SKIP-5), or a key that
//! appears that was never inserted.
//!
//! The writer inserts `b`, `a`, `c`: with the list's fixed height sequence the first node has
//! height 3 (so readers race the list's growth from 1 to 3 levels), the second goes before it
//! and the third after it, at level 0 only. A third model splits the inserts over two writers,
//! which serialize on the writer lock (SKIP-5) while a reader scans.

use std::cmp::Ordering;
use std::sync::Arc;

use cairn_base::iter::InternalIterator;
use cairn_base::key::{MAX_SEQ, SeqNum, ValueKind, compare_internal, parse_internal_key};
use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::{Acquire, Release};

use super::MemTable;
use crate::sync::check_model;

/// `(user key, sequence number)` in insertion order.
const ENTRIES: [(&[u8], u64); 3] = [(b"b", 1), (b"a", 2), (b"c", 3)];

/// The value stored for an entry: names its key and sequence number, so a value seen under
/// another key (a torn or mixed-up node) fails the check.
fn value_of(user_key: &[u8], seq: u64) -> Vec<u8> {
    let mut value = b"value-of-".to_vec();
    value.extend_from_slice(user_key);
    value.extend_from_slice(&seq.to_le_bytes());
    value
}

/// Spawns the writer: inserts [`ENTRIES`] in order, publishing after each insert returned how
/// many have (Release, so a reader that sees the count also sees what `insert` did).
fn spawn_writer(mem: &Arc<MemTable>, inserted: &Arc<AtomicUsize>) -> loom::thread::JoinHandle<()> {
    let (mem, inserted) = (mem.clone(), inserted.clone());
    loom::thread::spawn(move || {
        for (i, (user_key, seq)) in ENTRIES.iter().enumerate() {
            mem.insert(user_key, SeqNum(*seq), ValueKind::Set, &value_of(user_key, *seq));
            inserted.store(i + 1, Release);
        }
    })
}

/// Point reads: the first `inserted` entries must be found whole; later ones are either not
/// found or found whole.
fn check_gets(mem: &MemTable, inserted: usize) {
    for (i, (user_key, seq)) in ENTRIES.iter().enumerate() {
        match mem.get(user_key, MAX_SEQ) {
            Some((kind, found_seq, value)) => {
                assert_eq!((kind, found_seq), (ValueKind::Set, SeqNum(*seq)), "wrong version found");
                assert_eq!(value, value_of(user_key, *seq), "torn or mixed-up value");
            }
            None => assert!(i >= inserted, "entry {i} was inserted before the read but is missing"),
        }
    }
}

/// A forward scan: strictly ordered, every entry whole and one of [`ENTRIES`], and at least
/// the first `inserted` of them present.
fn check_scan(mem: &Arc<MemTable>, inserted: usize) {
    check_scan_contains(mem, &ENTRIES[..inserted]);
}

/// A forward scan: strictly ordered, every entry whole and one of [`ENTRIES`], and every
/// entry of `required` present.
fn check_scan_contains(mem: &Arc<MemTable>, required: &[(&[u8], u64)]) {
    let mut it = mem.iter();
    it.seek_to_first().expect("memtable iterators do not fail");
    let mut seen: Vec<Vec<u8>> = Vec::new();
    while it.valid() {
        assert!(seen.len() < ENTRIES.len(), "more entries than were inserted: a cycle or a duplicate");
        let key = it.key().to_vec();
        if let Some(last) = seen.last() {
            assert_eq!(compare_internal(last, &key), Ordering::Less, "iteration is not strictly ordered");
        }
        let parsed = parse_internal_key(&key).expect("the memtable stores whole internal keys");
        assert!(ENTRIES.contains(&(parsed.user_key, parsed.seq.0)), "an entry that was never inserted");
        assert_eq!(it.value(), value_of(parsed.user_key, parsed.seq.0), "torn or mixed-up value");
        seen.push(key);
        it.next().expect("memtable iterators do not fail");
    }
    for (user_key, seq) in required {
        let found =
            seen.iter().any(|k| parse_internal_key(k).is_ok_and(|p| p.user_key == *user_key && p.seq.0 == *seq));
        assert!(found, "an entry inserted before the scan began is missing from it");
    }
}

/// A backward walk (`seek_to_last`, then `prev`, which searches from the head each step):
/// strictly descending and whole.
fn check_reverse_walk(mem: &Arc<MemTable>, inserted: usize) {
    let mut it = mem.iter();
    it.seek_to_last().expect("memtable iterators do not fail");
    let mut count = 0;
    let mut last: Option<Vec<u8>> = None;
    while it.valid() {
        assert!(count < ENTRIES.len(), "more entries than were inserted: a cycle or a duplicate");
        let key = it.key().to_vec();
        if let Some(last) = &last {
            assert_eq!(compare_internal(&key, last), Ordering::Less, "reverse walk is not strictly ordered");
        }
        let parsed = parse_internal_key(&key).expect("the memtable stores whole internal keys");
        assert_eq!(it.value(), value_of(parsed.user_key, parsed.seq.0), "torn or mixed-up value");
        last = Some(key);
        count += 1;
        it.prev().expect("memtable iterators do not fail");
    }
    assert!(count >= inserted, "a reverse walk missed an entry inserted before it began");
}

#[test]
fn loom_memtable_reader_gets_and_scans_while_writer_inserts() {
    check_model("memtable: get + forward scan vs 3 inserts", || {
        let mem = Arc::new(MemTable::new());
        let inserted = Arc::new(AtomicUsize::new(0));
        let writer = spawn_writer(&mem, &inserted);
        check_gets(&mem, inserted.load(Acquire));
        check_scan(&mem, inserted.load(Acquire));
        writer.join().expect("the writer does not panic");
        check_scan(&mem, ENTRIES.len());
    });
}

#[test]
fn loom_memtable_reverse_walk_while_writer_inserts() {
    check_model("memtable: reverse walk vs 3 inserts", || {
        let mem = Arc::new(MemTable::new());
        let inserted = Arc::new(AtomicUsize::new(0));
        let writer = spawn_writer(&mem, &inserted);
        check_reverse_walk(&mem, inserted.load(Acquire));
        writer.join().expect("the writer does not panic");
        check_reverse_walk(&mem, ENTRIES.len());
    });
}

#[test]
fn loom_memtable_two_writers_serialize_while_a_reader_scans() {
    check_model("memtable: forward scan vs 2 writers (2 + 1 inserts)", || {
        let mem = Arc::new(MemTable::new());
        let inserted = Arc::new(AtomicUsize::new(0));
        let second = {
            let mem = mem.clone();
            loom::thread::spawn(move || {
                let (user_key, seq) = ENTRIES[1];
                mem.insert(user_key, SeqNum(seq), ValueKind::Set, &value_of(user_key, seq));
            })
        };
        let first = {
            let (mem, inserted) = (mem.clone(), inserted.clone());
            loom::thread::spawn(move || {
                for (user_key, seq) in [ENTRIES[0], ENTRIES[2]] {
                    mem.insert(user_key, SeqNum(seq), ValueKind::Set, &value_of(user_key, seq));
                }
                inserted.store(1, Release);
            })
        };
        // Once `inserted` reads 1 the first writer's entries must be there; the scan checks
        // order and wholeness of whatever else it meets, whichever writer went first.
        let first_done = inserted.load(Acquire) == 1;
        let required: &[(&[u8], u64)] = if first_done { &[ENTRIES[0], ENTRIES[2]] } else { &[] };
        check_scan_contains(&mem, required);
        first.join().expect("writers do not panic");
        second.join().expect("writers do not panic");
        check_scan(&mem, ENTRIES.len());
    });
}
