//! Tables checked against a sorted-vector model: point lookups at random sequence numbers,
//! absent keys, full iteration in both directions, seeks and random walks, across block sizes,
//! restart intervals, filters, compressions, memory-mapped and positioned reads, with and
//! without a block cache.

mod common;

use std::sync::Arc;

use cairn_base::hash::key_hash;
use cairn_base::iter::InternalIterator;
use cairn_base::{FileNum, SeqNum, ValueKind};
use cairn_sstable::{BlockCache, Compression, Table, TableOptions};
use common::{Entry, build, ik, model_get, model_seek, model_seek_for_prev, open, sort_entries};
use proptest::prelude::*;

fn entries_strategy() -> impl Strategy<Value = Vec<Entry>> {
    let user_key = prop::collection::vec(prop::sample::select(b"abcz\x00\xff".to_vec()), 0..7);
    let value = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..40),
        1 => prop::collection::vec(any::<u8>(), 0..3000),
    ];
    prop::collection::btree_map((user_key, 0u64..60), (any::<bool>(), value), 1..250).prop_map(|m| {
        let mut es: Vec<Entry> = m
            .into_iter()
            .map(|((user_key, seq), (del, value))| {
                let kind = if del { ValueKind::Delete } else { ValueKind::Set };
                Entry { user_key, seq, kind, value }
            })
            .collect();
        sort_entries(&mut es);
        es
    })
}

fn options_strategy() -> impl Strategy<Value = TableOptions> {
    (32usize..4096, 1usize..20, prop_oneof![Just(0u32), 1u32..16], 0u8..3, any::<bool>()).prop_map(
        |(bs, ri, bits, c, hashed)| TableOptions {
            block_size_bytes: bs,
            restart_interval: ri,
            bloom_bits_per_key: bits,
            compression: Compression::from_u8(c).expect("valid codec"),
            data_block_hash_index: hashed,
        },
    )
}

fn fail(e: cairn_base::Error) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

fn check_gets(table: &Table, es: &[Entry], seqs: &[u64], absent: &[Vec<u8>]) -> Result<(), TestCaseError> {
    for e in es {
        for &s in seqs.iter().chain([e.seq, u64::MAX].iter()) {
            let got = table.get(&e.user_key, key_hash(&e.user_key), SeqNum(s)).map_err(fail)?;
            let got = got.map(|(k, seq, v)| (k, seq, v.to_vec()));
            prop_assert_eq!(got, model_get(es, &e.user_key, s), "key {:?} at seq {}", e.user_key, s);
        }
        prop_assert!(table.may_contain(key_hash(&e.user_key)), "filter must not lose keys");
    }
    for k in absent {
        prop_assert_eq!(table.get(k, key_hash(k), SeqNum(u64::MAX)).map_err(fail)?, None);
    }
    Ok(())
}

fn check_full_scans(table: &Arc<Table>, es: &[Entry]) -> Result<(), TestCaseError> {
    let mut it = table.iter();
    it.seek_to_first().map_err(fail)?;
    for e in es {
        prop_assert!(it.valid());
        prop_assert_eq!(it.key(), &e.ikey()[..]);
        prop_assert_eq!(it.value(), &e.value[..]);
        prop_assert_eq!(&it.value_bytes()[..], &e.value[..]);
        it.next().map_err(fail)?;
    }
    prop_assert!(!it.valid());
    it.seek_to_last().map_err(fail)?;
    for e in es.iter().rev() {
        prop_assert!(it.valid());
        prop_assert_eq!(it.key(), &e.ikey()[..]);
        it.prev().map_err(fail)?;
    }
    prop_assert!(!it.valid());
    Ok(())
}

/// Seeks (both kinds) to `target`, then walks `walk` steps, comparing with the model.
fn check_seek_walk(
    table: &Arc<Table>,
    es: &[Entry],
    target: &[u8],
    for_prev: bool,
    walk: &[bool],
) -> Result<(), TestCaseError> {
    let mut it = table.iter();
    let mut pos = if for_prev {
        it.seek_for_prev(target).map_err(fail)?;
        model_seek_for_prev(es, target)
    } else {
        it.seek(target).map_err(fail)?;
        model_seek(es, target)
    };
    for &forward in walk {
        prop_assert_eq!(it.valid(), pos.is_some());
        let Some(p) = pos else { break };
        prop_assert_eq!(it.key(), &es[p].ikey()[..]);
        if forward {
            it.next().map_err(fail)?;
            pos = (p + 1 < es.len()).then_some(p + 1);
        } else {
            it.prev().map_err(fail)?;
            pos = p.checked_sub(1);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn table_matches_model(
        es in entries_strategy(),
        opts in options_strategy(),
        mmap: bool,
        cache_kind in 0u8..3,
        seqs in prop::collection::vec(0u64..70, 1..4),
        seeks in prop::collection::vec(
            (prop::collection::vec(prop::sample::select(b"abcz\x00\xff".to_vec()), 0..7), 0u64..70, any::<bool>(),
             prop::collection::vec(any::<bool>(), 0..12)),
            0..12),
    ) {
        let built = build(&es, &opts, FileNum(42));
        let cache = match cache_kind {
            0 => None,
            1 => Some(BlockCache::new(8 << 10)), // tiny: constant eviction
            _ => Some(BlockCache::new(64 << 20)),
        };
        let table = open(built.bytes.clone(), FileNum(42), mmap, cache.clone()).map_err(fail)?;
        prop_assert_eq!(table.properties().entries, es.len() as u64);
        prop_assert_eq!(built.summary.entries, es.len() as u64);
        prop_assert_eq!(built.summary.smallest.encoded(), &es[0].ikey()[..]);
        prop_assert_eq!(built.summary.largest.encoded(), &es[es.len() - 1].ikey()[..]);
        prop_assert_eq!(built.summary.size_bytes, built.bytes.len() as u64);
        let absent: Vec<Vec<u8>> = vec![b"absent".to_vec(), b"b".to_vec(), b"\xff\xff\xff\xff\xff\xff\xff".to_vec()];
        let absent: Vec<Vec<u8>> = absent.into_iter().filter(|k| es.iter().all(|e| &e.user_key != k)).collect();
        check_gets(&table, &es, &seqs, &absent)?;
        check_full_scans(&table, &es)?;
        for (uk, seq, for_prev, walk) in &seeks {
            for kind in [ValueKind::Set, ValueKind::Delete] {
                check_seek_walk(&table, &es, &ik(uk, *seq, kind), *for_prev, walk)?;
            }
        }
        prop_assert_eq!(table.verify().map_err(fail)?, es.len() as u64);
        if let Some(c) = cache {
            let m = c.metrics();
            prop_assert!(m.usage_bytes <= m.capacity_bytes);
        }
    }
}

#[test]
fn appends_are_aligned_chunks_not_blocks() {
    let es = common::sequential_entries(60_000, 7);
    let opts = TableOptions { block_size_bytes: 1024, ..TableOptions::default() };
    let built = build(&es, &opts, FileNum(1));
    let (last, rest) = built.appends.split_last().expect("at least one append");
    assert!(rest.len() >= 2, "a table this size takes several appends: {:?}", built.appends);
    assert!(rest.iter().all(|&n| n == cairn_sstable::WRITE_CHUNK_BYTES), "{:?}", built.appends);
    assert!(*last > 0);
    let table = open(built.bytes, FileNum(1), true, None).expect("open");
    assert!(table.properties().data_blocks > 100);
    assert_eq!(table.verify().expect("verify"), 60_000);
}

#[test]
fn compressed_tables_compress_and_round_trip() {
    let es = common::sequential_entries(5_000, 3);
    for c in [Compression::Lz4, Compression::Zstd] {
        let opts = TableOptions { compression: c, ..TableOptions::default() };
        let built = build(&es, &opts, FileNum(9));
        let plain = build(&es, &TableOptions::default(), FileNum(9));
        assert!(built.bytes.len() < plain.bytes.len() / 2, "{c:?} should shrink repetitive values");
        for (mmap, cache) in [(true, None), (true, Some(BlockCache::new(1 << 20))), (false, None)] {
            let table = open(built.bytes.clone(), FileNum(9), mmap, cache.clone()).expect("open");
            let p = table.properties();
            assert_eq!((p.compression, p.compressed_data_blocks), (c, p.data_blocks));
            for e in es.iter().step_by(7) {
                let got = table.get(&e.user_key, key_hash(&e.user_key), SeqNum(u64::MAX)).expect("get");
                assert_eq!(got.map(|(_, _, v)| v.to_vec()), Some(e.value.clone()));
            }
            if let Some(cache) = cache {
                let m = cache.metrics();
                assert!(m.inserts > 0 && m.hits > 0, "compressed blocks go through the cache: {m:?}");
            }
        }
    }
}

#[test]
fn pread_blocks_go_through_the_cache() {
    let es = common::sequential_entries(2_000, 5);
    let built = build(&es, &TableOptions::default(), FileNum(3));
    let cache = BlockCache::new(16 << 20);
    let table = open(built.bytes, FileNum(3), false, Some(cache.clone())).expect("open");
    let e = &es[100];
    for _ in 0..3 {
        let got = table.get(&e.user_key, key_hash(&e.user_key), SeqNum(u64::MAX)).expect("get");
        assert_eq!(got.map(|(_, _, v)| v.to_vec()), Some(e.value.clone()));
    }
    let m = cache.metrics();
    assert_eq!((m.misses, m.inserts, m.hits), (1, 1, 2), "{m:?}");
}

#[test]
fn table_without_filter_answers_maybe() {
    let es = common::sequential_entries(100, 1);
    let built = build(&es, &TableOptions { bloom_bits_per_key: 0, ..TableOptions::default() }, FileNum(2));
    let table = open(built.bytes, FileNum(2), true, None).expect("open");
    assert!(table.may_contain(key_hash(b"definitely absent")));
    assert_eq!(table.properties().filter_size_bytes, 0);
    assert_eq!(table.get(b"definitely absent", key_hash(b"definitely absent"), SeqNum(9)).expect("get"), None);
}

#[test]
fn builder_rejects_misuse() {
    use cairn_sstable::TableBuilder;
    let bad = TableOptions { restart_interval: 0, ..TableOptions::default() };
    let file = common::MemWritable::default();
    assert!(TableBuilder::new(Box::new(file.clone()), "x.sst".into(), FileNum(1), &bad).is_err());
    let b = TableBuilder::new(Box::new(file), "x.sst".into(), FileNum(1), &TableOptions::default()).expect("new");
    assert!(matches!(b.finish(), Err(cairn_base::Error::InvalidArgument { .. })), "empty tables are refused");
    let mut b = TableBuilder::new(
        Box::new(common::MemWritable::default()),
        "y.sst".into(),
        FileNum(1),
        &TableOptions::default(),
    )
    .expect("new");
    assert!(b.add(b"short", b"v").is_err(), "keys must be internal keys");
    b.add(&ik(b"a", 1, ValueKind::Set), b"v").expect("add");
    assert_eq!(b.entries(), 1);
    assert!(b.estimated_size_bytes() > 28);
}
