//! The golden v1 table: a small file written by this crate and committed under
//! `tests/fixtures/v1/`. Reading it back pins the reader's compatibility; comparing it with a
//! fresh build pins the writer's output. Regenerate (only for a deliberate format change, which
//! also needs a new version directory) with `CAIRN_REWRITE_FIXTURES=1 cargo test -p cairn-sstable`.

mod common;

use std::path::PathBuf;

use cairn_base::hash::key_hash;
use cairn_base::iter::InternalIterator;
use cairn_base::vfs::{RealFs, Vfs};
use cairn_base::{FileNum, SeqNum, ValueKind};
use cairn_sstable::{Compression, Table, TableOptions, TableReaderOptions};
use common::{Entry, build, sort_entries};

const FILE_NUM: FileNum = FileNum(7);

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1/000007.sst")
}

fn fixture_options() -> TableOptions {
    TableOptions { block_size_bytes: 128, restart_interval: 4, bloom_bits_per_key: 10, compression: Compression::None }
}

/// 20 user keys with two versions each: a value at seq `100 + i`, and below it a tombstone
/// (every third key) or an older value.
fn fixture_entries() -> Vec<Entry> {
    let mut es = Vec::new();
    for i in 0..20u64 {
        let user_key = format!("fixture-key-{i:03}").into_bytes();
        es.push(Entry {
            user_key: user_key.clone(),
            seq: 100 + i,
            kind: ValueKind::Set,
            value: format!("v{i}-new").into_bytes(),
        });
        let old = if i % 3 == 0 {
            Entry { user_key, seq: 1 + i, kind: ValueKind::Delete, value: Vec::new() }
        } else {
            Entry { user_key, seq: 1 + i, kind: ValueKind::Set, value: format!("v{i}-old").into_bytes() }
        };
        es.push(old);
    }
    sort_entries(&mut es);
    es
}

#[test]
fn golden_v1_table_is_reproduced_by_the_writer() {
    let built = build(&fixture_entries(), &fixture_options(), FILE_NUM);
    if std::env::var("CAIRN_REWRITE_FIXTURES").as_deref() == Ok("1") {
        // Write beside and rename, so a concurrently running reader sees the old or the new file.
        let tmp = fixture_path().with_extension("sst.tmp");
        std::fs::write(&tmp, &built.bytes).expect("rewrite fixture");
        std::fs::rename(&tmp, fixture_path()).expect("rename fixture");
    }
    let on_disk = std::fs::read(fixture_path()).expect("fixture present (regenerate with CAIRN_REWRITE_FIXTURES=1)");
    assert_eq!(on_disk, &built.bytes[..], "writer output changed: a format change needs a new fixture version");
}

#[test]
fn golden_v1_table_reads_back_exactly() {
    let es = fixture_entries();
    for use_mmap in [true, false] {
        let file = RealFs.open(&fixture_path()).expect("open fixture");
        let table = Table::open(file, FILE_NUM, &TableReaderOptions { use_mmap, cache: None }).expect("open table");
        assert_eq!(table.size_bytes(), 1485);
        let p = table.properties();
        assert_eq!((p.entries, p.tombstones, p.data_blocks, p.format_version), (40, 7, 7, 1));
        assert_eq!((p.smallest_seq, p.largest_seq), (SeqNum(1), SeqNum(119)));
        assert_eq!(format!("{:?}", p.smallest_key), "fixture-key-000#100,SET");
        assert_eq!(format!("{:?}", p.largest_key), "fixture-key-019#20,SET");
        assert_eq!(
            (p.compression, p.filter_bits_per_key, p.restart_interval, p.block_size_bytes),
            (Compression::None, 10, 4, 128)
        );

        let mut it = table.iter();
        it.seek_to_first().expect("seek");
        for e in &es {
            assert!(it.valid());
            assert_eq!((it.key(), it.value()), (&e.ikey()[..], &e.value[..]));
            it.next().expect("next");
        }
        assert!(!it.valid(), "no entry beyond the fixture's");

        let got = table.get(b"fixture-key-003", key_hash(b"fixture-key-003"), SeqNum(50)).expect("get");
        assert_eq!(got, Some((ValueKind::Delete, SeqNum(4), bytes::Bytes::new())));
        let got = table.get(b"fixture-key-004", key_hash(b"fixture-key-004"), SeqNum(104)).expect("get");
        assert_eq!(got, Some((ValueKind::Set, SeqNum(104), bytes::Bytes::from_static(b"v4-new"))));
        assert_eq!(table.get(b"fixture-key-004", key_hash(b"fixture-key-004"), SeqNum(4)).expect("get"), None);
        assert_eq!(table.verify().expect("verify"), 40);
    }
}

#[test]
fn golden_v1_table_starts_and_ends_with_magic() {
    let bytes = std::fs::read(fixture_path()).expect("fixture present");
    assert_eq!(&bytes[..8], b"CAIRNSST");
    assert_eq!(&bytes[bytes.len() - 8..], b"CAIRNSST");
    assert_eq!(&bytes[bytes.len() - 12..bytes.len() - 8], &1u32.to_le_bytes(), "footer format version");
}
