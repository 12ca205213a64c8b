//! Point lookups on a 100k-entry table served from a memory map (raw blocks, no cache).
//!
//! Expectation, written before measuring: a present key costs one filter probe (one cache
//! line), one binary search over the in-memory index (~17 comparisons), one binary search over
//! the block's restart points (~3) and a scan of at most 16 entries, with no allocation; an
//! absent key is answered by the filter alone about 99% of the time.

use std::hint::black_box;
use std::path::PathBuf;

use cairn_base::filename::table_path;
use cairn_base::hash::key_hash;
use cairn_base::vfs::{RealFs, Vfs};
use cairn_base::{FileNum, InternalKey, SeqNum, ValueKind};
use cairn_sstable::{Table, TableBuilder, TableOptions, TableReaderOptions};
use criterion::{Criterion, criterion_group, criterion_main};

const ENTRIES: u64 = 100_000;

fn user_key(i: u64) -> Vec<u8> {
    format!("user{:012}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 1_000_000_000_000).into_bytes()
}

fn build_table(dir: &std::path::Path) -> PathBuf {
    let mut keys: Vec<Vec<u8>> = (0..ENTRIES).map(user_key).collect();
    keys.sort();
    keys.dedup();
    let path = table_path(dir, FileNum(1));
    let file = RealFs.create(&path).expect("create table");
    let mut builder = TableBuilder::new(file, path.clone(), FileNum(1), &TableOptions::default()).expect("builder");
    let value = [b'v'; 100];
    for k in &keys {
        builder.add(InternalKey::new(k, SeqNum(1), ValueKind::Set).encoded(), &value).expect("add");
    }
    builder.finish().expect("finish");
    path
}

fn table_get(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("cairn-sstable-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let path = build_table(&dir);
    let file = RealFs.open(&path).expect("open");
    let table = Table::open(file, FileNum(1), &TableReaderOptions { use_mmap: true, cache: None }).expect("open table");
    let present: Vec<(Vec<u8>, u64)> =
        (0..4096).map(|i| user_key(i * 24 % ENTRIES)).map(|k| (k.clone(), key_hash(&k))).collect();
    let absent: Vec<(Vec<u8>, u64)> =
        (0..4096).map(|i| format!("absent{i:08}").into_bytes()).map(|k| (k.clone(), key_hash(&k))).collect();

    let mut i = 0;
    c.bench_function("table_get/mmap/present", |b| {
        b.iter(|| {
            let (k, h) = &present[i % present.len()];
            i += 1;
            black_box(table.get(k, *h, SeqNum(u64::MAX)).expect("get"))
        })
    });
    c.bench_function("table_get/mmap/absent", |b| {
        b.iter(|| {
            let (k, h) = &absent[i % absent.len()];
            i += 1;
            black_box(table.get(k, *h, SeqNum(u64::MAX)).expect("get"))
        })
    });
    drop(table);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, table_get);
criterion_main!(benches);
