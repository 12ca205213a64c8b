//! `run_merge` on real tables: input tables written with `TableBuilder` and read back through
//! `Table` iterators merge into output tables holding exactly what the in-memory merge keeps,
//! split at the target size into tables whose metadata forms a valid, disjoint level.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use cairn_base::filename::table_path;
use cairn_base::iter::{InternalIterator, MergingIterator, VecIter};
use cairn_base::key::compare_internal;
use cairn_base::vfs::{RealFs, Vfs};
use cairn_base::{FileNum, InternalKey, SeqNum, ValueKind};
use cairn_compaction::{MergeSettings, merge_into, run_merge, table_meta};
use cairn_manifest::{Version, VersionEdit};
use cairn_sstable::{Table, TableBuilder, TableOptions, TableReaderOptions};
use common::{TempDir, VecOutput};
use proptest::prelude::*;

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

fn builder(dir: &std::path::Path, file_num: FileNum) -> cairn_base::Result<TableBuilder> {
    let path = table_path(dir, file_num);
    TableBuilder::new(RealFs.create(&path)?, path, file_num, &TableOptions::default())
}

fn write_table(dir: &std::path::Path, file_num: FileNum, entries: &Entries) -> Arc<Table> {
    let mut b = builder(dir, file_num).expect("builder");
    for (k, v) in entries {
        b.add(k, v).expect("add");
    }
    b.finish().expect("finish");
    Table::open(RealFs.open(&table_path(dir, file_num)).expect("open"), file_num, &TableReaderOptions::default())
        .expect("table")
}

fn read_table(table: &Arc<Table>) -> Entries {
    let mut it = table.iter();
    let mut out = Vec::new();
    it.seek_to_first().expect("seek");
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.next().expect("next");
    }
    out
}

/// Two overlapping input tables: `newer` holds even sequence numbers above every seq in `older`.
fn arb_inputs() -> impl Strategy<Value = (Entries, Entries)> {
    let side = || prop::collection::btree_map((0u16..300, 1u64..40), (any::<bool>(), 0usize..120), 1..200);
    (side(), side()).prop_map(|(a, b)| {
        let build = |m: std::collections::BTreeMap<(u16, u64), (bool, usize)>, base: u64| {
            let mut e: Entries = m
                .into_iter()
                .map(|((k, s), (del, len))| {
                    let kind = if del { ValueKind::Delete } else { ValueKind::Set };
                    let key = InternalKey::new(format!("key{k:05}").as_bytes(), SeqNum(base + s), kind);
                    (key.encoded().to_vec(), if del { Vec::new() } else { vec![b'v'; len] })
                })
                .collect();
            e.sort_by(|x, y| compare_internal(&x.0, &y.0));
            e
        };
        (build(a, 100), build(b, 0))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn real_tables_hold_what_the_merge_keeps(
        (newer, older) in arb_inputs(),
        snapshots in prop::collection::btree_set(0u64..150, 0..3),
        bottommost: bool,
    ) {
        let dir = TempDir::new("run-merge");
        let tables = [write_table(dir.path(), FileNum(1), &newer), write_table(dir.path(), FileNum(2), &older)];
        let settings = MergeSettings {
            snapshots: snapshots.into_iter().map(SeqNum).collect(),
            bottommost,
            target_file_size_bytes: 4096,
        };

        let children: Vec<Box<dyn InternalIterator>> = tables.iter().map(|t| Box::new(t.iter()) as Box<dyn InternalIterator>).collect();
        let mut next_file = 10u64;
        let (summaries, stats) = run_merge(&mut MergingIterator::new(children), &settings, &mut || {
            next_file += 1;
            builder(dir.path(), FileNum(next_file))
        }).map_err(|e| TestCaseError::fail(e.to_string()))?;

        // The same merge over the same entries in memory.
        let mut all: Vec<(Vec<u8>, Bytes)> = newer.iter().chain(&older).map(|(k, v)| (k.clone(), Bytes::copy_from_slice(v))).collect();
        all.sort_by(|x, y| compare_internal(&x.0, &y.0));
        let (expected, expected_stats) = merge_into(&mut VecIter::new(all), &settings, &mut || Ok(VecOutput::default()))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expected: Entries = expected.into_iter().flat_map(|o| o.entries).collect();

        let mut written = Entries::new();
        for s in &summaries {
            let t = Table::open(RealFs.open(&table_path(dir.path(), s.file_num)).map_err(|e| TestCaseError::fail(e.to_string()))?, s.file_num, &TableReaderOptions::default())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let entries = read_table(&t);
            prop_assert_eq!(entries.len() as u64, s.entries);
            prop_assert_eq!(RealFs.open(&table_path(dir.path(), s.file_num)).map_err(|e| TestCaseError::fail(e.to_string()))?.size_bytes(), s.size_bytes);
            written.extend(entries);
        }
        prop_assert_eq!(written, expected);
        if let Some((_, full)) = summaries.split_last() {
            prop_assert!(full.iter().all(|s| s.size_bytes >= settings.target_file_size_bytes), "MERGE-3: split before the target");
        }
        prop_assert_eq!(stats.entries_written, expected_stats.entries_written);
        prop_assert_eq!(stats.bytes_written, summaries.iter().map(|s| s.size_bytes).sum::<u64>());

        // The outputs form a valid level: disjoint user-key ranges, sound metadata.
        let added = summaries.iter().map(|s| (1, table_meta(s))).collect();
        let level = Version::default().apply(&VersionEdit { added, ..VersionEdit::default() });
        let level = level.map_err(|e| TestCaseError::fail(e.to_string()))?;
        level.check_invariants().map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}

#[test]
fn table_meta_copies_every_field() {
    let dir = TempDir::new("table-meta");
    let entries: Entries = vec![
        (InternalKey::new(b"a", SeqNum(7), ValueKind::Set).encoded().to_vec(), b"x".to_vec()),
        (InternalKey::new(b"b", SeqNum(3), ValueKind::Delete).encoded().to_vec(), Vec::new()),
    ];
    let mut b = builder(dir.path(), FileNum(4)).expect("builder");
    for (k, v) in &entries {
        b.add(k, v).expect("add");
    }
    let s = b.finish().expect("finish");
    let m = table_meta(&s);
    assert_eq!(m.file_num, FileNum(4));
    assert_eq!(m.size_bytes, s.size_bytes);
    assert_eq!(m.smallest.encoded(), &entries[0].0[..]);
    assert_eq!(m.largest.encoded(), &entries[1].0[..]);
    assert_eq!((m.smallest_seq, m.largest_seq), (SeqNum(3), SeqNum(7)));
    assert_eq!((m.entries, m.tombstones), (2, 1));
    m.check().expect("sound meta");
}
