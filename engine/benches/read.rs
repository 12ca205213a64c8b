//! Read-path micro-benchmarks on a compacted database of 200k keys (16-byte keys, 100-byte
//! values), memory-mapped and uncompressed: point get (hit and miss), `contains_key`, and
//! `multi_get` of 32 keys. Expectation written before measuring: a hit costs one filter
//! probe per level holding the key plus one index and one block search (~3–6 cache misses);
//! a miss costs only filter probes.
//!
//! `cargo bench -p cairn --bench read`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const KEYS: u64 = 200_000;

fn key(i: u64) -> [u8; 16] {
    let mut k = [b'0'; 16];
    let s = format!("{i:016}");
    k.copy_from_slice(s.as_bytes());
    k
}

fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn setup() -> (cairn::Db, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("cairn-bench-read-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = cairn::Options::default().open(&dir).expect("open");
    let value = [7u8; 100];
    for i in 0..KEYS {
        db.put(key(i * 2), value).expect("put");
    }
    db.compact().expect("compact");
    (db, dir)
}

fn bench(c: &mut Criterion) {
    let (db, dir) = setup();
    let mut g = c.benchmark_group("read");
    g.throughput(Throughput::Elements(1));
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    g.bench_function("get_hit", |b| b.iter(|| black_box(db.get(key((next(&mut x) % KEYS) * 2)).expect("get"))));
    g.bench_function("get_miss", |b| b.iter(|| black_box(db.get(key((next(&mut x) % KEYS) * 2 + 1)).expect("get"))));
    g.bench_function("contains_key_hit", |b| {
        b.iter(|| black_box(db.contains_key(key((next(&mut x) % KEYS) * 2)).expect("contains")))
    });
    g.throughput(Throughput::Elements(32));
    g.bench_function("multi_get_32", |b| {
        b.iter(|| {
            let keys: Vec<[u8; 16]> = (0..32).map(|_| key((next(&mut x) % KEYS) * 2)).collect();
            black_box(db.multi_get(&keys).expect("multi_get"))
        })
    });
    g.finish();
    db.close().expect("close");
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
