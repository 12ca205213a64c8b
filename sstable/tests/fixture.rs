//! The golden tables: small files written by this crate and committed under `tests/fixtures/`.
//! Reading each back pins the reader's compatibility with every format it still reads (v1: no
//! hash indexes; v2: data-block hash indexes, as first written with 4 buckets per 3 keys;
//! v2-buckets2: the same format as written now, 2 buckets per key); comparing the writer's
//! fixture with a fresh build pins the writer's output. Regenerate that one (only for a
//! deliberate change of the writer's output, which also gets a new directory so the previous
//! output stays as a read fixture) with `CAIRN_REWRITE_FIXTURES=1 cargo test -p cairn-sstable`.
//! Older fixtures are never rewritten.

mod common;

use std::path::PathBuf;

use cairn_base::hash::key_hash;
use cairn_base::iter::InternalIterator;
use cairn_base::vfs::{RealFs, Vfs};
use cairn_base::{FileNum, SeqNum, ValueKind};
use cairn_sstable::{Compression, Table, TableOptions, TableReaderOptions};
use common::{Entry, build, sort_entries};

const FILE_NUM: FileNum = FileNum(7);

/// The fixtures this build reads: directory, format version, size in bytes and data blocks (the
/// hash index counts toward the 128-byte block target, so format 2 closes blocks sooner, and
/// sooner still with more buckets).
const FIXTURES: [(&str, u32, u64, u64); 3] =
    [("v1", 1, 1485, 7), ("v2", 2, 1617, 8), (WRITER_FIXTURE, 2, WRITER_FIXTURE_BYTES, WRITER_FIXTURE_BLOCKS)];

/// The fixture the current writer reproduces byte for byte.
const WRITER_FIXTURE: &str = "v2-buckets2";
const WRITER_FIXTURE_BYTES: u64 = 1660;
const WRITER_FIXTURE_BLOCKS: u64 = 8;

fn fixture_path(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{dir}/000007.sst"))
}

fn fixture_options() -> TableOptions {
    TableOptions {
        block_size_bytes: 128,
        restart_interval: 4,
        bloom_bits_per_key: 10,
        compression: Compression::None,
        data_block_hash_index: true,
    }
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
fn golden_table_of_the_newest_format_is_reproduced_by_the_writer() {
    let built = build(&fixture_entries(), &fixture_options(), FILE_NUM);
    assert_eq!(FIXTURES.last().map(|f| (f.0, f.1)), Some((WRITER_FIXTURE, cairn_sstable::FORMAT_VERSION)));
    let path = fixture_path(WRITER_FIXTURE);
    if std::env::var("CAIRN_REWRITE_FIXTURES").as_deref() == Ok("1") {
        // Write beside and rename, so a concurrently running reader sees the old or the new file.
        let tmp = path.with_extension("sst.tmp");
        std::fs::create_dir_all(path.parent().expect("fixture dir")).expect("mkdir");
        std::fs::write(&tmp, &built.bytes).expect("rewrite fixture");
        std::fs::rename(&tmp, &path).expect("rename fixture");
    }
    let on_disk = std::fs::read(&path).expect("fixture present (regenerate with CAIRN_REWRITE_FIXTURES=1)");
    assert_eq!(on_disk, &built.bytes[..], "writer output changed: it needs a new fixture directory");
}

#[test]
fn golden_tables_of_every_readable_format_read_back_exactly() {
    for (dir, version, size_bytes, data_blocks) in FIXTURES {
        read_back(dir, version, size_bytes, data_blocks);
    }
}

fn read_back(dir: &str, version: u32, size_bytes: u64, data_blocks: u64) {
    let es = fixture_entries();
    for use_mmap in [true, false] {
        let file = RealFs.open(&fixture_path(dir)).expect("open fixture");
        let table = Table::open(file, FILE_NUM, &TableReaderOptions { use_mmap, cache: None }).expect("open table");
        assert_eq!(table.size_bytes(), size_bytes, "{dir}");
        let p = table.properties();
        assert_eq!((p.entries, p.tombstones, p.data_blocks, p.format_version), (40, 7, data_blocks, version));
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
        for e in &es {
            let got = table.get(&e.user_key, key_hash(&e.user_key), SeqNum(e.seq)).expect("get");
            assert_eq!(got, Some((e.kind, SeqNum(e.seq), bytes::Bytes::from(e.value.clone()))), "{dir}");
        }
        for absent in [&b"fixture-key-0035"[..], b"fixture-key-020", b"a", b"z"] {
            assert_eq!(table.get(absent, key_hash(absent), SeqNum(500)).expect("get"), None, "{dir}");
        }
        assert_eq!(table.verify().expect("verify"), 40);
    }
}

#[test]
fn golden_tables_start_and_end_with_magic_and_their_version() {
    for (dir, version, _, _) in FIXTURES {
        let bytes = std::fs::read(fixture_path(dir)).expect("fixture present");
        assert_eq!(&bytes[..8], b"CAIRNSST");
        assert_eq!(&bytes[8..12], &version.to_le_bytes(), "header format version");
        assert_eq!(&bytes[bytes.len() - 8..], b"CAIRNSST");
        assert_eq!(&bytes[bytes.len() - 12..bytes.len() - 8], &version.to_le_bytes(), "footer format version");
    }
}
