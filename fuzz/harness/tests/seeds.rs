//! The seed inputs the fuzz corpora started from: the golden fixtures of the format crates, and
//! structured inputs built here with the real writers (fuzz/README.md#seeds).
//!
//! `seeds_pass_their_targets` runs every seed through its target, so a seed that stops
//! exercising what it was built for (its target panics on it) is noticed. With
//! `CAIRN_WRITE_SEEDS=1`, `write_seeds` also writes them to `fuzz/corpus/<target>/seed-<name>`;
//! a later `cargo fuzz cmin` keeps those that still add coverage.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use cairn_base::coding::{put_bytes, put_u32, put_u64};
use cairn_base::vfs::Vfs;
use cairn_base::{FileNum, InternalKey, SeqNum, ValueKind};
use cairn_manifest::{TableMeta, VersionEdit};
use cairn_sstable::{Compression, TableBuilder, TableOptions};
use cairn_testkit::CrashFs;
use cairn_wal::{LogKind, LogReader, LogWriter};

type Seed = (String, Vec<u8>);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(repo().join(path)).unwrap_or_else(|e| panic!("read fixture {path}: {e}"))
}

/// The records of a log file, read with the real reader.
fn records(data: &[u8], num: u64, kind: LogKind) -> Vec<Bytes> {
    let mut r = LogReader::new(Bytes::copy_from_slice(data), PathBuf::from("fixture"), FileNum(num), kind)
        .expect("fixture log header");
    let mut out = Vec::new();
    while let Some(rec) = r.next_record().expect("fixture log record") {
        out.push(rec);
    }
    out
}

/// A log written by `LogWriter`: `(payload, sync after it)` per record.
fn write_log(kind: LogKind, num: u64, recs: &[(Vec<u8>, bool)]) -> Vec<u8> {
    let fs = CrashFs::new();
    let path = PathBuf::from("log");
    let mut w = LogWriter::create(fs.create(&path).expect("create"), path.clone(), FileNum(num), kind).expect("log");
    for (payload, sync) in recs {
        w.add_record(payload).expect("add");
        if *sync {
            w.sync().expect("sync");
        }
    }
    w.close().expect("close");
    fs.read_all(&path).expect("read back")
}

fn wal_reader_seeds() -> Vec<Seed> {
    let wal = fixture("wal/tests/fixtures/v1/000007.wal");
    let mut seeds = vec![
        ("fixture-wal-MANIFEST-000008".to_string(), fixture("wal/tests/fixtures/v1/MANIFEST-000008")),
        ("fixture-manifest-MANIFEST-000001".to_string(), fixture("manifest/tests/fixtures/v1/MANIFEST-000001")),
        // The fixture is larger than a corpus file may be; its first 60 KiB end in a torn tail.
        ("fixture-000007-wal-prefix".to_string(), wal[..wal.len().min(60 << 10)].to_vec()),
    ];
    let recs =
        vec![(b"one".to_vec(), false), (vec![7u8; 40 << 10], true), (b"three".to_vec(), true), (Vec::new(), true)];
    let log = write_log(LogKind::Wal, 7, &recs);
    let mut rotten = log.clone();
    rotten[28 + 7 + 9] ^= 1; // inside the first record, which later stamps show was synced
    seeds.push(("generated-wal-spanning-blocks".to_string(), log.clone()));
    seeds.push(("generated-wal-rot-below-synced".to_string(), rotten));
    seeds.push(("generated-wal-torn".to_string(), log[..log.len() - 3].to_vec()));
    seeds.push(("generated-wal-header-only".to_string(), log[..28].to_vec()));
    seeds.push(("generated-manifest-log".to_string(), write_log(LogKind::Manifest, 8, &[(vec![1, 2, 3], true)])));
    seeds
}

fn entries(n: u64, value_bytes: usize) -> Vec<(InternalKey, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..n {
        let key = format!("key{:04}", i / 2);
        let kind = if i % 5 == 4 { ValueKind::Delete } else { ValueKind::Set };
        let value = if kind == ValueKind::Set { vec![b'a' + (i % 26) as u8; value_bytes] } else { Vec::new() };
        out.push((InternalKey::new(key.as_bytes(), SeqNum(1000 - i), kind), value));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn table(file_num: u64, opts: &TableOptions, n: u64, value_bytes: usize) -> Vec<u8> {
    let fs = CrashFs::new();
    let path = PathBuf::from("t.sst");
    let mut b = TableBuilder::new(fs.create(&path).expect("create"), path.clone(), FileNum(file_num), opts).expect("b");
    for (k, v) in entries(n, value_bytes) {
        b.add(k.encoded(), &v).expect("add");
    }
    b.finish().expect("finish");
    fs.read_all(&path).expect("read back")
}

fn sstable_block_seeds() -> Vec<Seed> {
    let sst = fixture("sstable/tests/fixtures/v1/000007.sst");
    let mut seeds: Vec<Seed> =
        (0u8..4).map(|mode| (format!("fixture-000007-sst-mode{mode}"), [&[mode][..], &sst].concat())).collect();
    let variants = [
        ("lz4", TableOptions { compression: Compression::Lz4, block_size_bytes: 512, ..TableOptions::default() }),
        ("zstd", TableOptions { compression: Compression::Zstd, block_size_bytes: 512, ..TableOptions::default() }),
        ("nofilter-restart1", TableOptions { bloom_bits_per_key: 0, restart_interval: 1, ..TableOptions::default() }),
    ];
    for (i, (name, opts)) in variants.iter().enumerate() {
        seeds.push((format!("generated-{name}"), [&[i as u8 & 3][..], &table(7, opts, 60, 40)].concat()));
    }
    seeds
}

/// An `sstable_structured` input (see that target's grammar).
fn structured(block: u16, codec: u8, mode: u8, damage: (u8, u64, u8), n: u8) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&block.to_le_bytes());
    v.extend_from_slice(&[3, 10, codec, mode, damage.0]);
    v.extend_from_slice(&damage.1.to_le_bytes());
    v.extend_from_slice(&[damage.2, 0xff, 0, 0, 0]);
    for i in 0..n {
        v.extend_from_slice(&[4, b'k', b'0' + i % 10, b'x', i / 10]);
        v.extend_from_slice(&u16::from(i % 7).to_le_bytes());
        v.extend_from_slice(&[i % 8, 20 + i]);
        if i % 8 >= 4 {
            v.extend((0..20 + i).map(|j| j.wrapping_mul(31)));
        }
    }
    v
}

fn sstable_structured_seeds() -> Vec<Seed> {
    vec![
        ("generated-plain".to_string(), structured(256, 0, 1, (0, 0, 0), 40)),
        ("generated-lz4-burst".to_string(), structured(128, 1, 0, (1, 300, 0), 40)),
        ("generated-zstd-zero".to_string(), structured(512, 2, 3, (2, 100, 64), 40)),
        ("generated-truncate".to_string(), structured(64, 0, 2, (3, 400, 0), 30)),
    ]
}

fn meta(num: u64, lo: &[u8], hi: &[u8]) -> TableMeta {
    TableMeta {
        file_num: FileNum(num),
        size_bytes: 4096,
        smallest: InternalKey::new(lo, SeqNum(9), ValueKind::Set),
        largest: InternalKey::new(hi, SeqNum(3), ValueKind::Delete),
        smallest_seq: SeqNum(3),
        largest_seq: SeqNum(9),
        entries: 10,
        tombstones: 2,
    }
}

fn manifest_edit_seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let logs = [
        ("fixture-manifest", fixture("manifest/tests/fixtures/v1/MANIFEST-000001"), 1),
        ("fixture-wal-manifest", fixture("wal/tests/fixtures/v1/MANIFEST-000008"), 8),
    ];
    for (name, data, num) in logs {
        for (i, rec) in records(&data, num, LogKind::Manifest).into_iter().enumerate() {
            seeds.push((format!("{name}-record{i}"), rec.to_vec()));
        }
    }
    let edit = VersionEdit {
        log_number: Some(FileNum(4)),
        next_file_num: Some(FileNum(12)),
        last_seq: Some(SeqNum(99)),
        added: vec![(0, meta(10, b"a", b"m")), (3, meta(11, b"n", b"z"))],
        deleted: vec![(1, FileNum(5)), (6, FileNum(6))],
    };
    let mut encoded = Vec::new();
    edit.encode(&mut encoded);
    seeds.push(("generated-full-edit".to_string(), encoded));
    seeds
}

/// A WAL record payload (docs/format/batch.md): `(key, Some(value))` puts, `(key, None)` deletes.
fn batch(first_seq: u64, entries: &[(&[u8], Option<&[u8]>)]) -> Vec<u8> {
    let mut v = Vec::new();
    put_u64(&mut v, first_seq);
    put_u32(&mut v, entries.len() as u32);
    for (k, val) in entries {
        v.push(if val.is_some() { ValueKind::Set as u8 } else { ValueKind::Delete as u8 });
        put_bytes(&mut v, k);
        if let Some(val) = val {
            put_bytes(&mut v, val);
        }
    }
    v
}

/// A `batch_replay` input: options byte, then `(payload, sync)` records.
fn replay_input(options: u8, recs: &[(Vec<u8>, bool)]) -> Vec<u8> {
    let mut v = vec![options];
    for (payload, sync) in recs {
        v.push(u8::from(*sync));
        v.extend_from_slice(&(payload.len() as u16).to_le_bytes());
        v.extend_from_slice(payload);
    }
    v
}

fn batch_replay_seeds() -> Vec<Seed> {
    let big = vec![b'v'; 3000];
    let recs = vec![
        (batch(1, &[(b"a", Some(b"1")), (b"b", Some(b"2"))]), false),
        (batch(3, &[(b"a", None), (b"c", Some(&big))]), true),
        (Vec::new(), true),
        (batch(5, &[(b"d", Some(&big)), (b"e", Some(&big)), (b"b", None)]), false),
    ];
    let wal = fixture("wal/tests/fixtures/v1/000007.wal");
    let fixture_recs: Vec<(Vec<u8>, bool)> =
        records(&wal, 7, LogKind::Wal).into_iter().take(8).map(|r| (r[..r.len().min(2048)].to_vec(), true)).collect();
    vec![
        ("generated-batches".to_string(), replay_input(0, &recs)),
        ("generated-batches-small-memtable".to_string(), replay_input(3, &recs)),
        (
            "generated-bad-kind".to_string(),
            replay_input(0, &[(vec![1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 1, b'k'], true)]),
        ),
        ("fixture-000007-wal-records".to_string(), replay_input(0, &fixture_recs)),
    ]
}

/// `db_ops` inputs: a header, then operations (see that target's op codes).
fn db_ops_seeds() -> Vec<Seed> {
    let puts: Vec<u8> = (0u8..40).flat_map(|i| [0, i, 20 + i, i % 5]).collect();
    let mixed = [
        &puts[..],
        &[3, 4, 1],                      // delete k04, synced
        &[4, 3, 1, 1, 9, 1, 2, 0, 7, 1], // batch
        &[5, 1, 0, 5, 2, 6],             // get, contains_key
        &[6, 3, 1, 2, 3],                // multi_get
        &[7, 1, 2, 2, 20, 0x5a],         // range [k02, k20) interleaved
        &[8, 1, 1, 0],                   // prefix
        &[9, 10, 0, 9, 10, 1, 9],        // scan, flush, scan, compact, scan
        &[15, 0, 7, 0],                  // snapshot, then writes
        &[16, 7, 0x33],                  // snapshot reads
        &[11, 12, 9, 13, 9, 17],         // sync, reopen, scan, drop, scan, check
        &[0, 30, 40, 1, 14, 0, 5, 0, 9], // power loss (drop unsynced)
        &[0, 31, 40, 1, 14, 2, 7, 0, 9], // power loss (torn garbage)
    ]
    .concat();
    let header = |options: u8, fault: [u8; 4]| [&[options][..], &fault].concat();
    vec![
        ("generated-mixed".to_string(), [header(0, [0; 4]), mixed.clone()].concat()),
        ("generated-mixed-tiny".to_string(), [header(0x03, [0; 4]), mixed.clone()].concat()),
        ("generated-mixed-lz4-pread".to_string(), [header(0x14 | 0x40, [0; 4]), mixed.clone()].concat()),
        ("generated-eio-append".to_string(), [header(0x01, [1, 0, 30, 0]), mixed.clone()].concat()),
        ("generated-enospc-any".to_string(), [header(0x03, [2, 3, 90, 0]), mixed.clone()].concat()),
        ("generated-short-write".to_string(), [header(0x01, [3, 0, 45, 0]), mixed.clone()].concat()),
        ("generated-eio-rename".to_string(), [header(0x01, [1, 1, 4, 0]), mixed].concat()),
    ]
}

fn all_seeds() -> Vec<(&'static str, Vec<Seed>)> {
    vec![
        ("wal_reader", wal_reader_seeds()),
        ("sstable_block", sstable_block_seeds()),
        ("sstable_structured", sstable_structured_seeds()),
        ("manifest_edit", manifest_edit_seeds()),
        ("batch_replay", batch_replay_seeds()),
        ("db_ops", db_ops_seeds()),
    ]
}

fn target_fn(name: &str) -> fn(&[u8]) {
    cairn_fuzz_harness::TARGETS.iter().find(|(t, _)| *t == name).map(|(_, f)| *f).expect("known target")
}

#[test]
fn seeds_pass_their_targets() {
    for (target, seeds) in all_seeds() {
        assert!(!seeds.is_empty(), "no seeds for {target}");
        for (name, data) in seeds {
            assert!(data.len() < 64 << 10, "seed {target}/{name} is {} bytes", data.len());
            eprintln!("{target}/{name}");
            target_fn(target)(&data);
        }
    }
}

#[test]
fn write_seeds() {
    if std::env::var_os("CAIRN_WRITE_SEEDS").is_none() {
        return;
    }
    for (target, seeds) in all_seeds() {
        let dir = repo().join("fuzz/corpus").join(target);
        std::fs::create_dir_all(&dir).expect("create corpus dir");
        for (name, data) in seeds {
            std::fs::write(dir.join(format!("seed-{name}")), data).expect("write seed");
        }
    }
}
