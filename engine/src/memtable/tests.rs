//! Memtable tests: examples of the lookup rules, a proptest against a `BTreeMap` model, and a
//! concurrent writer/readers test. Paths go through `super::` so they work both in `cairn` and
//! in a scratch crate that includes this module.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};

use cairn_base::iter::InternalIterator;
use cairn_base::key::{InternalKey, MAX_SEQ, SeqNum, ValueKind, compare_internal, parse_internal_key};
use proptest::prelude::*;

use super::MemTable;

fn ik(user_key: &[u8], seq: u64, kind: ValueKind) -> Vec<u8> {
    InternalKey::new(user_key, SeqNum(seq), kind).encoded().to_vec()
}

fn seek_key(user_key: &[u8], seq: u64) -> Vec<u8> {
    InternalKey::seek_key(user_key, SeqNum(seq)).encoded().to_vec()
}

/// Scans stop with a failure past this many entries, so a `next`/`prev` that fails to move
/// fails the test instead of hanging it.
const SCAN_ENTRIES_MAX: usize = 1_000_000;

/// Every entry, front to back, as `(internal key, value)`.
fn scan_forward(it: &mut dyn InternalIterator) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    it.seek_to_first().expect("memtable iterators do not fail");
    while it.valid() {
        assert!(out.len() < SCAN_ENTRIES_MAX, "iterator does not advance");
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.next().expect("memtable iterators do not fail");
    }
    out
}

fn scan_backward(it: &mut dyn InternalIterator) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    it.seek_to_last().expect("memtable iterators do not fail");
    while it.valid() {
        assert!(out.len() < SCAN_ENTRIES_MAX, "iterator does not advance");
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.prev().expect("memtable iterators do not fail");
    }
    out
}

#[test]
fn memtable_and_iterator_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<MemTable>();
    send::<super::MemTableIter>();
}

#[test]
fn get_returns_newest_version_at_or_below_seq() {
    let mem = MemTable::new();
    mem.insert(b"k", SeqNum(5), ValueKind::Set, b"five");
    mem.insert(b"k", SeqNum(9), ValueKind::Delete, b"");
    mem.insert(b"k", SeqNum(7), ValueKind::Set, b"seven");
    mem.insert(b"j", SeqNum(8), ValueKind::Set, b"jay");
    mem.insert(b"k\0", SeqNum(3), ValueKind::Set, b"other key");
    assert_eq!(mem.get(b"k", SeqNum(4)), None);
    assert_eq!(mem.get(b"k", SeqNum(5)), Some((ValueKind::Set, SeqNum(5), &b"five"[..])));
    assert_eq!(mem.get(b"k", SeqNum(8)), Some((ValueKind::Set, SeqNum(7), &b"seven"[..])));
    assert_eq!(mem.get(b"k", SeqNum(9)), Some((ValueKind::Delete, SeqNum(9), &b""[..])));
    assert_eq!(mem.get(b"k", MAX_SEQ), Some((ValueKind::Delete, SeqNum(9), &b""[..])));
    assert_eq!(mem.get(b"k", SeqNum(u64::MAX)), Some((ValueKind::Delete, SeqNum(9), &b""[..])));
    assert_eq!(mem.get(b"", MAX_SEQ), None);
    assert_eq!(mem.get(b"i", MAX_SEQ), None);
    assert_eq!(mem.get(b"l", MAX_SEQ), None);
    assert_eq!(mem.entries(), 5);
}

#[test]
fn set_and_delete_at_the_same_seq_order_delete_last() {
    let mem = Arc::new(MemTable::new());
    mem.insert(b"k", SeqNum(4), ValueKind::Delete, b"");
    mem.insert(b"k", SeqNum(4), ValueKind::Set, b"v");
    let keys: Vec<Vec<u8>> = scan_forward(&mut mem.iter()).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, vec![ik(b"k", 4, ValueKind::Set), ik(b"k", 4, ValueKind::Delete)]);
    assert_eq!(mem.get(b"k", SeqNum(4)), Some((ValueKind::Set, SeqNum(4), &b"v"[..])));
}

#[test]
fn empty_memtable_is_empty() {
    let mem = Arc::new(MemTable::default());
    assert!(mem.is_empty());
    assert_eq!(mem.entries(), 0);
    assert_eq!(mem.get(b"", MAX_SEQ), None);
    let mut it = mem.iter();
    it.seek_to_first().expect("seek");
    assert!(!it.valid());
    it.seek_to_last().expect("seek");
    assert!(!it.valid());
    it.seek(&seek_key(b"a", 1)).expect("seek");
    assert!(!it.valid());
}

#[test]
fn seek_with_a_target_shorter_than_a_trailer_is_an_invalid_argument() {
    let mem = Arc::new(MemTable::new());
    mem.insert(b"a", SeqNum(1), ValueKind::Set, b"v");
    let mut it = mem.iter();
    it.seek_to_first().expect("seek");
    assert!(matches!(it.seek(b"short"), Err(cairn_base::Error::InvalidArgument { .. })));
    assert!(!it.valid(), "ITER-3: invalid after an error");
    it.seek_to_first().expect("seek");
    assert!(matches!(it.seek_for_prev(b""), Err(cairn_base::Error::InvalidArgument { .. })));
    assert!(!it.valid(), "ITER-3: invalid after an error");
}

#[test]
fn iterator_keeps_the_memtable_alive() {
    let mem = Arc::new(MemTable::new());
    mem.insert(b"a", SeqNum(1), ValueKind::Set, b"v1");
    mem.insert(b"b", SeqNum(2), ValueKind::Set, b"v2");
    let mut it = mem.iter();
    drop(mem);
    let all = scan_forward(&mut it);
    assert_eq!(all, vec![(ik(b"a", 1, ValueKind::Set), b"v1".to_vec()), (ik(b"b", 2, ValueKind::Set), b"v2".to_vec())]);
}

#[test]
fn iterator_sees_entries_inserted_after_it_was_positioned() {
    let mem = Arc::new(MemTable::new());
    mem.insert(b"a", SeqNum(1), ValueKind::Set, b"");
    mem.insert(b"c", SeqNum(2), ValueKind::Set, b"");
    let mut it = mem.iter();
    it.seek_to_first().expect("seek");
    mem.insert(b"b", SeqNum(3), ValueKind::Set, b"");
    it.next().expect("next");
    assert_eq!(it.key(), &ik(b"b", 3, ValueKind::Set)[..]);
}

#[test]
fn size_grows_with_every_insert_and_counts_the_bytes() {
    let mem = MemTable::new();
    let empty_bytes = mem.approximate_size_bytes();
    let mut last = empty_bytes;
    let mut payload_bytes = 0;
    for i in 0u32..5000 {
        let key = i.to_be_bytes();
        let value = vec![7u8; (i % 300) as usize];
        mem.insert(&key, SeqNum(u64::from(i) + 1), ValueKind::Set, &value);
        let now = mem.approximate_size_bytes();
        assert!(now > last, "insert {i}: size went from {last} to {now}");
        assert!(mem.reserved_bytes() >= now);
        payload_bytes += key.len() + 8 + value.len();
        last = now;
    }
    assert!(last - empty_bytes >= payload_bytes);
    // Overhead per entry is a 16-byte header and tower (mostly) plus padding and chunk tails.
    assert!(last - empty_bytes < payload_bytes + 5000 * 64, "overhead too large: {last} for {payload_bytes}");
}

#[test]
fn values_bigger_than_a_chunk_round_trip() {
    let mem = Arc::new(MemTable::new());
    let mut big = vec![0xa7; (3 << 20) + 17];
    let last = big.len() - 1;
    (big[0], big[1 << 20], big[last]) = (1, 2, 3);
    mem.insert(b"big", SeqNum(1), ValueKind::Set, &big);
    mem.insert(b"small", SeqNum(2), ValueKind::Set, b"s");
    mem.insert(b"big2", SeqNum(3), ValueKind::Set, &big[..(1 << 20) + 1]);
    assert_eq!(mem.get(b"big", MAX_SEQ), Some((ValueKind::Set, SeqNum(1), &big[..])));
    assert_eq!(mem.get(b"big2", MAX_SEQ).map(|(_, _, v)| v.len()), Some((1 << 20) + 1));
    assert_eq!(mem.get(b"small", MAX_SEQ), Some((ValueKind::Set, SeqNum(2), &b"s"[..])));
    assert!(mem.approximate_size_bytes() > big.len() + (1 << 20));
    assert_eq!(scan_forward(&mut mem.iter()).len(), 3);
}

#[test]
fn iterator_reverse_walk_and_seek_for_prev_across_versions() {
    let mem = Arc::new(MemTable::new());
    for (k, s) in [(&b"a"[..], 3u64), (b"a", 1), (b"b", 2), (b"c", 5), (b"c", 4)] {
        mem.insert(k, SeqNum(s), ValueKind::Set, &s.to_le_bytes());
    }
    let mut it = mem.iter();
    it.seek_for_prev(&seek_key(b"c", 4)).expect("seek");
    assert_eq!(it.key(), &ik(b"c", 4, ValueKind::Set)[..]);
    it.seek_for_prev(&seek_key(b"c", 3)).expect("seek");
    assert_eq!(it.key(), &ik(b"c", 4, ValueKind::Set)[..], "c#3 sorts after c#4");
    it.seek_for_prev(&seek_key(b"bz", 9)).expect("seek");
    assert_eq!(it.key(), &ik(b"b", 2, ValueKind::Set)[..]);
    it.prev().expect("prev");
    assert_eq!(it.key(), &ik(b"a", 1, ValueKind::Set)[..]);
    it.prev().expect("prev");
    assert_eq!(it.key(), &ik(b"a", 3, ValueKind::Set)[..]);
    it.prev().expect("prev");
    assert!(!it.valid());
    let forward = scan_forward(&mut it);
    let mut backward = scan_backward(&mut it);
    backward.reverse();
    assert_eq!(forward, backward);
}

/// One insert of the model test.
#[derive(Debug, Clone)]
struct Put {
    user_key: Vec<u8>,
    seq: u64,
    kind: ValueKind,
    value: Vec<u8>,
}

/// Maximum regular chunk of the model test's memtables: small, so the test crosses many
/// chunk boundaries and some values need dedicated chunks.
const MODEL_CHUNK_BYTES: usize = 4 << 10;

fn arb_user_key() -> impl Strategy<Value = Vec<u8>> {
    // A small alphabet so versions of the same user key pile up; includes the empty key and
    // keys that are prefixes of others.
    prop::collection::vec(prop::sample::select(vec![b'a', b'b', 0u8, 0xff]), 0..3)
}

fn arb_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        20 => prop::collection::vec(any::<u8>(), 0..300),
        1 => (MODEL_CHUNK_BYTES + 1..3 * MODEL_CHUNK_BYTES).prop_map(|n| vec![0xa5; n]),
    ]
}

fn arb_puts() -> impl Strategy<Value = Vec<Put>> {
    let put = (arb_user_key(), 1u64..400, any::<bool>(), arb_value());
    prop::collection::vec(put, 0..120).prop_map(|raw| {
        // Sequence numbers are unique, as the engine guarantees; insertion order is random.
        let mut seen = HashSet::new();
        raw.into_iter()
            .filter(|(_, seq, _, _)| seen.insert(*seq))
            .map(|(user_key, seq, del, value)| {
                let kind = if del { ValueKind::Delete } else { ValueKind::Set };
                Put { user_key, seq, kind, value }
            })
            .collect()
    })
}

/// Where a model walk starts: at an entry that is present, or anywhere.
#[derive(Debug, Clone)]
enum WalkTarget {
    Present(prop::sample::Index),
    Random(Vec<u8>, u64, ValueKind),
}

fn arb_target() -> impl Strategy<Value = WalkTarget> {
    let kind = prop_oneof![Just(ValueKind::Set), Just(ValueKind::Delete)];
    prop_oneof![
        any::<prop::sample::Index>().prop_map(WalkTarget::Present),
        (arb_user_key(), 0u64..420, kind).prop_map(|(k, s, kind)| WalkTarget::Random(k, s, kind)),
    ]
}

type Model = BTreeMap<InternalKey, Vec<u8>>;

/// What `get` must return according to the model.
fn model_get<'m>(model: &'m Model, user_key: &[u8], seq: u64) -> Option<(ValueKind, SeqNum, &'m [u8])> {
    let from = InternalKey::seek_key(user_key, SeqNum(seq));
    let (k, v) = model.range(from..).next()?;
    let p = k.parsed();
    (p.user_key == user_key).then_some((p.kind, p.seq, &v[..]))
}

/// Random positioning and walking, checked step by step against the sorted model.
fn check_walk(
    it: &mut dyn InternalIterator,
    sorted: &[(Vec<u8>, Vec<u8>)],
    target: &[u8],
    for_prev: bool,
    steps: &[bool],
) -> Result<(), TestCaseError> {
    let mut pos = if for_prev {
        it.seek_for_prev(target).map_err(|e| TestCaseError::fail(e.to_string()))?;
        sorted.iter().rposition(|(k, _)| compare_internal(k, target) != Ordering::Greater)
    } else {
        it.seek(target).map_err(|e| TestCaseError::fail(e.to_string()))?;
        sorted.iter().position(|(k, _)| compare_internal(k, target) != Ordering::Less)
    };
    for &forward in steps {
        prop_assert_eq!(it.valid(), pos.is_some());
        let Some(p) = pos else { break };
        prop_assert_eq!(it.key(), &sorted[p].0[..]);
        prop_assert_eq!(it.value(), &sorted[p].1[..]);
        if forward {
            it.next().map_err(|e| TestCaseError::fail(e.to_string()))?;
            pos = (p + 1 < sorted.len()).then_some(p + 1);
        } else {
            it.prev().map_err(|e| TestCaseError::fail(e.to_string()))?;
            pos = p.checked_sub(1);
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn memtable_matches_btreemap_model(
        puts in arb_puts(),
        gets in prop::collection::vec((arb_user_key(), 0u64..420), 0..60),
        walks in prop::collection::vec(
            (arb_target(), any::<bool>(), prop::collection::vec(any::<bool>(), 0..20)),
            0..8,
        ),
    ) {
        let mem = Arc::new(MemTable::with_max_chunk_bytes(MODEL_CHUNK_BYTES));
        let mut model = Model::new();
        let mut last_size_bytes = mem.approximate_size_bytes();
        for put in &puts {
            mem.insert(&put.user_key, SeqNum(put.seq), put.kind, &put.value);
            model.insert(InternalKey::new(&put.user_key, SeqNum(put.seq), put.kind), put.value.clone());
            prop_assert!(mem.approximate_size_bytes() > last_size_bytes);
            last_size_bytes = mem.approximate_size_bytes();
        }
        prop_assert_eq!(mem.entries(), model.len());
        prop_assert_eq!(mem.is_empty(), model.is_empty());

        for (user_key, seq) in &gets {
            prop_assert_eq!(mem.get(user_key, SeqNum(*seq)), model_get(&model, user_key, *seq));
        }
        for put in &puts {
            let got = mem.get(&put.user_key, SeqNum(put.seq));
            prop_assert_eq!(got, model_get(&model, &put.user_key, put.seq));
        }

        let sorted: Vec<(Vec<u8>, Vec<u8>)> = model.iter().map(|(k, v)| (k.encoded().to_vec(), v.clone())).collect();
        let mut it = mem.iter();
        prop_assert_eq!(&scan_forward(&mut it), &sorted);
        let mut backward = scan_backward(&mut it);
        backward.reverse();
        prop_assert_eq!(&backward, &sorted);

        for (target, for_prev, steps) in &walks {
            let target = match target {
                WalkTarget::Present(index) if !sorted.is_empty() => sorted[index.index(sorted.len())].0.clone(),
                WalkTarget::Present(_) => seek_key(b"", MAX_SEQ.0),
                WalkTarget::Random(user_key, seq, kind) => ik(user_key, *seq, *kind),
            };
            check_walk(&mut it, &sorted, &target, *for_prev, steps)?;
        }
    }
}

/// The concurrent test's schedule: entry `i` (0-based) has sequence number `i + 1` and belongs
/// to user key `i % CONCURRENT_KEYS`, so every user key gets `ENTRIES / KEYS` versions.
/// Smaller under Miri, which runs this code some thousand times slower.
const CONCURRENT_ENTRIES: u64 = if cfg!(miri) { 400 } else { 100_000 };
const CONCURRENT_KEYS: u64 = CONCURRENT_ENTRIES / 4;
const CONCURRENT_GETS_PER_PASS: usize = if cfg!(miri) { 20 } else { 2000 };

/// Scatters key indexes over the key space so inserts land all over the list.
fn concurrent_user_key(key_index: u64) -> [u8; 8] {
    key_index.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17).to_be_bytes()
}

fn concurrent_kind(seq: u64) -> ValueKind {
    if seq.is_multiple_of(7) { ValueKind::Delete } else { ValueKind::Set }
}

/// Value of `user_key#seq`: the seq, then the key, repeated to a seq-dependent length.
fn concurrent_value(user_key: &[u8], seq: u64) -> Vec<u8> {
    let unit: Vec<u8> = seq.to_le_bytes().iter().chain(user_key).copied().collect();
    unit.iter().copied().cycle().take((seq % 40) as usize).collect()
}

/// The sequence number of the newest version of key `key_index` at or below `seq`.
fn concurrent_newest_seq(key_index: u64, seq: u64) -> Option<u64> {
    let first = key_index + 1;
    (seq >= first).then(|| first + (seq - first) / CONCURRENT_KEYS * CONCURRENT_KEYS)
}

/// One reader pass: point lookups against the schedule, given that every entry with a
/// sequence number `<= published` is already in the memtable.
fn concurrent_gets(mem: &MemTable, published: &AtomicU64, rng: &mut u64, count: usize) {
    for _ in 0..count {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        let key_index = *rng % CONCURRENT_KEYS;
        let user_key = concurrent_user_key(key_index);
        let visible = published.load(AtomicOrdering::Acquire);
        let snapshot = visible.saturating_sub(*rng % 1000);
        let got = mem.get(&user_key, SeqNum(snapshot));
        match concurrent_newest_seq(key_index, snapshot) {
            Some(seq) => {
                let expected = (concurrent_kind(seq), SeqNum(seq), &concurrent_value(&user_key, seq)[..]);
                assert_eq!(got, Some(expected), "key {key_index} at {snapshot} (published {visible})");
            }
            None => assert_eq!(got, None, "key {key_index} at {snapshot}: nothing inserted yet"),
        }
    }
}

/// One reader pass over the whole memtable: strictly increasing keys, correct values, and at
/// least every entry published before the pass started.
fn concurrent_scan(mem: &Arc<MemTable>, published: &AtomicU64) {
    let visible = published.load(AtomicOrdering::Acquire);
    let mut it = mem.iter();
    it.seek_to_first().expect("memtable iterators do not fail");
    let mut previous: Option<Vec<u8>> = None;
    let mut at_or_below_visible = 0;
    while it.valid() {
        let key = it.key();
        if let Some(p) = &previous {
            assert_eq!(compare_internal(p, key), Ordering::Less, "iteration order must strictly increase");
        }
        let parsed = parse_internal_key(key).expect("well-formed internal key");
        assert_eq!(parsed.kind, concurrent_kind(parsed.seq.0));
        assert_eq!(it.value(), &concurrent_value(parsed.user_key, parsed.seq.0)[..]);
        at_or_below_visible += u64::from(parsed.seq.0 <= visible);
        previous = Some(key.to_vec());
        it.next().expect("memtable iterators do not fail");
    }
    assert_eq!(at_or_below_visible, visible, "every entry published before the scan must be seen");
}

/// Backward steps from a random point: `prev` must keep strictly decreasing.
fn concurrent_reverse_walk(mem: &Arc<MemTable>, rng: u64) {
    let mut it = mem.iter();
    it.seek_for_prev(&seek_key(&concurrent_user_key(rng % CONCURRENT_KEYS), 0)).expect("seek");
    let mut previous: Option<Vec<u8>> = None;
    for _ in 0..200 {
        if !it.valid() {
            break;
        }
        if let Some(p) = &previous {
            assert_eq!(compare_internal(it.key(), p), Ordering::Less, "prev must strictly decrease");
        }
        previous = Some(it.key().to_vec());
        it.prev().expect("prev");
    }
}

#[test]
fn readers_run_concurrently_with_one_writer() {
    let mem = Arc::new(MemTable::new());
    let published = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3u64)
        .map(|r| {
            let (mem, published, done) = (Arc::clone(&mem), Arc::clone(&published), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut rng = 0x2545_F491_4F6C_DD1D ^ (r + 1);
                let mut passes = 0u64;
                while !done.load(AtomicOrdering::Acquire) || passes == 0 {
                    concurrent_gets(&mem, &published, &mut rng, CONCURRENT_GETS_PER_PASS);
                    concurrent_reverse_walk(&mem, rng);
                    if passes % 8 == r {
                        concurrent_scan(&mem, &published);
                    }
                    passes += 1;
                }
                passes
            })
        })
        .collect();
    for i in 0..CONCURRENT_ENTRIES {
        let seq = i + 1;
        let user_key = concurrent_user_key(i % CONCURRENT_KEYS);
        mem.insert(&user_key, SeqNum(seq), concurrent_kind(seq), &concurrent_value(&user_key, seq));
        published.store(seq, AtomicOrdering::Release);
    }
    done.store(true, AtomicOrdering::Release);
    for reader in readers {
        assert!(reader.join().expect("reader panicked") > 0);
    }
    assert_eq!(mem.entries() as u64, CONCURRENT_ENTRIES);
    concurrent_scan(&mem, &published);
}

/// Inserts per writer in [`two_writers_may_insert_concurrently`] (fewer under Miri, which is slow).
const INSERTS_PER_WRITER: u64 = if cfg!(miri) { 300 } else { 5000 };

#[test]
fn two_writers_may_insert_concurrently() {
    let mem = Arc::new(MemTable::new());
    let writers: Vec<_> = (0..2u64)
        .map(|w| {
            let mem = Arc::clone(&mem);
            std::thread::spawn(move || {
                for i in 0..INSERTS_PER_WRITER {
                    let seq = i * 2 + w + 1;
                    mem.insert(&(i % 100).to_be_bytes(), SeqNum(seq), ValueKind::Set, &seq.to_le_bytes());
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer panicked");
    }
    let all = scan_forward(&mut mem.iter());
    assert_eq!(all.len() as u64, 2 * INSERTS_PER_WRITER);
    assert!(all.windows(2).all(|w| compare_internal(&w[0].0, &w[1].0) == Ordering::Less));
    for (key, value) in &all {
        let parsed = parse_internal_key(key).expect("well-formed");
        assert_eq!(value, &parsed.seq.0.to_le_bytes());
    }
}
