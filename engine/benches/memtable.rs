//! Memtable micro-benchmarks: inserting 100k entries, and point lookups that hit or miss in a
//! memtable of 100k entries.
//!
//! Expectation, written before measuring: 16-byte random keys and 100-byte values make a
//! memtable of about 13 MiB, larger than L2, so a lookup costs roughly one cache miss per level
//! visited (log4(100k) ≈ 8 levels, 1–3 nodes each): 200–600 ns for a hit or a miss, no
//! allocation. An insert does the same search plus a 150-byte copy into the arena and an
//! uncontended lock: 300–800 ns. A miss costs about what a hit costs (the search is the same).
//!
//! The memtable module is compiled into this benchmark from its source file, so the benchmark
//! does not depend on what the `cairn` crate chooses to export.

use std::hint::black_box;

use cairn_base::key::{MAX_SEQ, SeqNum, ValueKind};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

// In `--all-targets` builds this target gets `cfg(test)` without the test harness: the
// module's tests compile minus their `#[test]` functions, leaving helpers and imports unused.
#[allow(dead_code, unused_imports, reason = "the benchmark uses only part of the module it includes")]
#[path = "../src/memtable/mod.rs"]
mod memtable;

// The synchronization shim the memtable imports as `crate::sync`, included the same way.
#[allow(dead_code, unused_imports, reason = "the benchmark uses only part of the module it includes")]
#[path = "../src/sync.rs"]
mod sync;

use memtable::MemTable;

const ENTRIES: usize = 100_000;
const VALUE_BYTES: usize = 100;

/// Deterministic, well-spread 16-byte keys: `ENTRIES` present ones (even `i`), or absent ones
/// from the same distribution (odd `i`).
fn key(i: u64) -> [u8; 16] {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&x.to_be_bytes());
    k[8..].copy_from_slice(&i.to_be_bytes());
    k
}

fn present_keys() -> Vec<[u8; 16]> {
    (0..ENTRIES as u64).map(|i| key(2 * i)).collect()
}

fn filled(keys: &[[u8; 16]]) -> MemTable {
    let mem = MemTable::new();
    let value = [0x5a; VALUE_BYTES];
    for (seq, k) in keys.iter().enumerate() {
        mem.insert(k, SeqNum(seq as u64 + 1), ValueKind::Set, &value);
    }
    mem
}

fn insert(c: &mut Criterion) {
    let keys = present_keys();
    let mut group = c.benchmark_group("memtable");
    group.throughput(Throughput::Elements(ENTRIES as u64));
    group.sample_size(10);
    group.bench_function("insert_100k", |b| {
        b.iter_batched(|| (), |()| filled(black_box(&keys)), BatchSize::PerIteration);
    });
    group.finish();
}

fn get(c: &mut Criterion) {
    let keys = present_keys();
    let mem = filled(&keys);
    let mut group = c.benchmark_group("memtable");
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    group.bench_function("get_hit", |b| {
        b.iter(|| {
            i = (i + 7919) % ENTRIES;
            let found = mem.get(black_box(&keys[i]), MAX_SEQ);
            assert!(found.is_some());
            black_box(found);
        });
    });
    let absent: Vec<[u8; 16]> = (0..ENTRIES as u64).map(|i| key(2 * i + 1)).collect();
    group.bench_function("get_miss", |b| {
        b.iter(|| {
            i = (i + 7919) % ENTRIES;
            let found = mem.get(black_box(&absent[i]), MAX_SEQ);
            assert!(found.is_none());
            black_box(found);
        });
    });
    group.finish();
}

criterion_group!(benches, insert, get);
criterion_main!(benches);
