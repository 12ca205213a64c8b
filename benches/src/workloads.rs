//! The benchmarks themselves: what each one does to the database, timed per operation
//! (docs/tools.md#benchmarks).
//!
//! Owns the [`Benchmark`] names, the per-thread loops, and merging per-thread counts into one
//! [`Measurement`] the way db_bench does: every thread does the full op count; ops/sec is total
//! ops over wall-clock time from the first thread's start to the last thread's finish;
//! micros/op is the sum of per-thread busy time over total ops. Leaves opening, flushing and
//! destroying the database to `main`, and printing to [`crate::report`].
//!
//! Invariant: a worker records exactly one histogram sample per call into the engine (one
//! `put`/`write_with`/`get`/`multi_get`, or one seek with its nexts, or one iterator step), so
//! percentiles describe calls, as in db_bench.

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ScopedJoinHandle;
use std::time::{Duration, Instant};

use cairn::{Db, Durability, Result};

use crate::flags::Config;
use crate::generator::{SplitMix64, ValueCursor, ValueSource, worker_seed, write_key};
use crate::histogram::Histogram;

/// One db_bench benchmark name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Benchmark {
    /// Writes keys `0..writes` in order into an empty database.
    FillSeq,
    /// Writes `writes` uniformly random keys into an empty database.
    FillRandom,
    /// Writes `writes` uniformly random keys into the current database.
    Overwrite,
    /// `reads` point lookups of uniformly random keys.
    ReadRandom,
    /// `reads` point lookups of keys that were never written.
    ReadMissing,
    /// `reads` random keys looked up `batch_size` at a time with `multi_get`.
    MultiReadRandom,
    /// Iterates `reads` entries forwards from the first key.
    ReadSeq,
    /// Iterates `reads` entries backwards from the last key.
    ReadReverse,
    /// `reads` seeks to random keys, each followed by `seek_nexts` steps.
    SeekRandom,
    /// `readrandom` on every thread while one extra thread overwrites random keys.
    ReadWhileWriting,
    /// Prints the engine's metrics; measures nothing.
    Stats,
    /// Flushes the memtable (`Db::flush`); measures nothing.
    Flush,
    /// Waits for pending flushes and compactions (`Db::wait_for_background`); measures nothing.
    WaitForCompaction,
}

const ALL: [Benchmark; 13] = [
    Benchmark::FillSeq,
    Benchmark::FillRandom,
    Benchmark::Overwrite,
    Benchmark::ReadRandom,
    Benchmark::ReadMissing,
    Benchmark::MultiReadRandom,
    Benchmark::ReadSeq,
    Benchmark::ReadReverse,
    Benchmark::SeekRandom,
    Benchmark::ReadWhileWriting,
    Benchmark::Stats,
    Benchmark::Flush,
    Benchmark::WaitForCompaction,
];

impl Benchmark {
    /// The db_bench name.
    pub fn name(self) -> &'static str {
        match self {
            Benchmark::FillSeq => "fillseq",
            Benchmark::FillRandom => "fillrandom",
            Benchmark::Overwrite => "overwrite",
            Benchmark::ReadRandom => "readrandom",
            Benchmark::ReadMissing => "readmissing",
            Benchmark::MultiReadRandom => "multireadrandom",
            Benchmark::ReadSeq => "readseq",
            Benchmark::ReadReverse => "readreverse",
            Benchmark::SeekRandom => "seekrandom",
            Benchmark::ReadWhileWriting => "readwhilewriting",
            Benchmark::Stats => "stats",
            Benchmark::Flush => "flush",
            Benchmark::WaitForCompaction => "waitforcompaction",
        }
    }

    /// Parses a db_bench name.
    pub fn from_name(name: &str) -> Option<Benchmark> {
        ALL.into_iter().find(|b| b.name() == name)
    }

    /// False for the actions (`stats`, `flush`, `waitforcompaction`) that print no result line.
    pub fn is_measured(self) -> bool {
        !matches!(self, Benchmark::Stats | Benchmark::Flush | Benchmark::WaitForCompaction)
    }

    /// True for benchmarks that start from an empty database (db_bench's `fresh_db`).
    pub fn needs_fresh_db(self) -> bool {
        matches!(self, Benchmark::FillSeq | Benchmark::FillRandom)
    }

    /// True for benchmarks that read, and so should find flushes and compactions settled.
    pub fn reads(self) -> bool {
        self.is_measured() && !matches!(self, Benchmark::FillSeq | Benchmark::FillRandom | Benchmark::Overwrite)
    }

    /// True for benchmarks that leave unflushed writes behind.
    pub fn writes(self) -> bool {
        matches!(self, Benchmark::FillSeq | Benchmark::FillRandom | Benchmark::Overwrite | Benchmark::ReadWhileWriting)
    }

    /// True when the report says how many lookups found a value.
    pub fn counts_found(self) -> bool {
        matches!(
            self,
            Benchmark::ReadRandom
                | Benchmark::ReadMissing
                | Benchmark::MultiReadRandom
                | Benchmark::SeekRandom
                | Benchmark::ReadWhileWriting
        )
    }

    /// The operation named in the histogram heading (`Microseconds per read:`).
    pub fn op_kind(self) -> &'static str {
        match self {
            Benchmark::FillSeq | Benchmark::FillRandom | Benchmark::Overwrite => "write",
            Benchmark::SeekRandom => "seek",
            _ => "read",
        }
    }
}

/// The merged result of one benchmark over all its threads.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Which benchmark.
    pub benchmark: Benchmark,
    /// Worker threads (the background writer of `readwhilewriting` not counted).
    pub threads: usize,
    /// Operations done by all workers (entries for writes, keys for reads, seeks for seeks).
    pub ops: u64,
    /// Key and value bytes written or read.
    pub bytes: u64,
    /// Lookups that found a value, for benchmarks that count them.
    pub found: Option<u64>,
    /// First worker start to last worker finish.
    pub elapsed: Duration,
    /// Sum of every worker's own start-to-finish time.
    pub thread_time: Duration,
    /// Latency of every call.
    pub histogram: Histogram,
}

impl Measurement {
    /// Mean microseconds per op per thread, as db_bench computes it.
    pub fn micros_per_op(&self) -> f64 {
        if self.ops == 0 { 0.0 } else { self.thread_time.as_secs_f64() * 1e6 / self.ops as f64 }
    }

    /// Ops per wall-clock second over all threads.
    pub fn ops_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.ops as f64 / secs } else { 0.0 }
    }

    /// Mebibytes of keys and values per wall-clock second.
    pub fn mb_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.bytes as f64 / 1_048_576.0 / secs } else { 0.0 }
    }
}

/// One thread's counts.
#[derive(Debug)]
struct ThreadResult {
    ops: u64,
    bytes: u64,
    found: u64,
    start: Instant,
    finish: Instant,
    histogram: Histogram,
}

/// One benchmark thread: its random stream, its key buffer, its counters.
struct Worker<'a> {
    db: &'a Db,
    config: &'a Config,
    durability: Durability,
    rng: SplitMix64,
    values: ValueCursor,
    key: Vec<u8>,
    result: ThreadResult,
    last: Instant,
}

impl<'a> Worker<'a> {
    fn new(db: &'a Db, config: &'a Config, values: &ValueSource, run_index: usize, index: usize) -> Self {
        let now = Instant::now();
        Worker {
            db,
            config,
            durability: if config.sync { Durability::Sync } else { Durability::Buffered },
            rng: SplitMix64::new(worker_seed(config.seed, run_index, index)),
            values: values.cursor(),
            key: Vec::with_capacity(config.key_size_bytes + 1),
            result: ThreadResult { ops: 0, bytes: 0, found: 0, start: now, finish: now, histogram: Histogram::new() },
            last: now,
        }
    }

    /// Starts the clock (after the start barrier).
    fn begin(&mut self) {
        self.last = Instant::now();
        self.result.start = self.last;
    }

    /// Counts `ops` operations and records the latency of the call that did them.
    fn finished(&mut self, ops: u64) {
        let now = Instant::now();
        self.result.histogram.record(now - self.last);
        self.last = now;
        self.result.ops += ops;
    }

    fn end(mut self) -> ThreadResult {
        self.result.finish = Instant::now();
        self.result
    }

    /// Sets the key buffer to key number `n`.
    fn set_key(&mut self, n: u64) {
        write_key(&mut self.key, n, self.config.key_size_bytes);
    }

    /// Sets the key buffer to a uniformly random key in `[0, num)`.
    fn set_random_key(&mut self) {
        let n = self.rng.uniform(self.config.num);
        self.set_key(n);
    }

    /// The current key and the next value.
    fn entry(&mut self) -> (&[u8], &[u8]) {
        (&self.key, self.values.next_value(self.config.value_size_bytes))
    }
}

/// Runs `benchmark` (a measured one: see [`Benchmark::is_measured`]), the `run_index`-th of the run, on `config.threads` threads and
/// merges their counts.
pub fn run(
    db: &Db,
    config: &Config,
    values: &ValueSource,
    benchmark: Benchmark,
    run_index: usize,
) -> Result<Measurement> {
    let barrier = Barrier::new(config.threads);
    let stop_writer = AtomicBool::new(false);
    let results = std::thread::scope(|s| {
        let writer = (benchmark == Benchmark::ReadWhileWriting)
            .then(|| s.spawn(|| background_writer(db, config, values, run_index, &stop_writer)));
        let workers: Vec<_> = (0..config.threads)
            .map(|index| {
                let barrier = &barrier;
                s.spawn(move || {
                    let mut worker = Worker::new(db, config, values, run_index, index);
                    barrier.wait();
                    worker.begin();
                    run_worker(&mut worker, benchmark).map(|()| worker.end())
                })
            })
            .collect();
        let results: Vec<Result<ThreadResult>> = workers.into_iter().map(join).collect();
        stop_writer.store(true, Ordering::Relaxed);
        let written = writer.map(join).transpose();
        written.map(|_| results)
    })?;
    let results = results.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(merge(benchmark, config.threads, results))
}

/// Joins a scoped thread, re-raising its panic on this thread.
fn join<T>(handle: ScopedJoinHandle<'_, T>) -> T {
    handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn merge(benchmark: Benchmark, threads: usize, results: Vec<ThreadResult>) -> Measurement {
    let mut histogram = Histogram::new();
    let (mut ops, mut bytes, mut found, mut thread_time) = (0, 0, 0, Duration::ZERO);
    let first_start = results.iter().map(|r| r.start).min();
    let last_finish = results.iter().map(|r| r.finish).max();
    for r in &results {
        ops += r.ops;
        bytes += r.bytes;
        found += r.found;
        thread_time += r.finish - r.start;
        histogram.merge(&r.histogram);
    }
    let elapsed = match (first_start, last_finish) {
        (Some(start), Some(finish)) => finish - start,
        _ => Duration::ZERO,
    };
    let found = benchmark.counts_found().then_some(found);
    Measurement { benchmark, threads, ops, bytes, found, elapsed, thread_time, histogram }
}

fn run_worker(w: &mut Worker<'_>, benchmark: Benchmark) -> Result<()> {
    match benchmark {
        Benchmark::FillSeq => write_keys(w, KeyOrder::Sequential),
        Benchmark::FillRandom | Benchmark::Overwrite => write_keys(w, KeyOrder::Random),
        Benchmark::ReadRandom | Benchmark::ReadWhileWriting => read_random(w, false),
        Benchmark::ReadMissing => read_random(w, true),
        Benchmark::MultiReadRandom => multi_read_random(w),
        Benchmark::ReadSeq => {
            let iter = w.db.iter();
            read_entries(w, iter)
        }
        Benchmark::ReadReverse => {
            let iter = w.db.iter().rev();
            read_entries(w, iter)
        }
        Benchmark::SeekRandom => seek_random(w),
        Benchmark::Stats | Benchmark::Flush | Benchmark::WaitForCompaction => Ok(()),
    }
}

/// Which key a write benchmark writes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyOrder {
    /// Key number = entry index.
    Sequential,
    /// Uniform in `[0, num)`.
    Random,
}

/// Writes `writes` entries, `batch_size` per call. A single-entry buffered write uses `put`, the
/// path an application would use; anything else goes through a batch with the chosen durability.
fn write_keys(w: &mut Worker<'_>, order: KeyOrder) -> Result<()> {
    let total = w.config.writes;
    let entry_bytes = (w.config.key_size_bytes + w.config.value_size_bytes) as u64;
    let (db, durability) = (w.db, w.durability);
    let mut written = 0;
    while written < total {
        let entries = (w.config.batch_size as u64).min(total - written);
        if entries == 1 && durability == Durability::Buffered {
            next_write_key(w, order, written);
            let (key, value) = w.entry();
            db.put(key, value)?;
        } else {
            let mut batch = db.batch();
            for i in 0..entries {
                next_write_key(w, order, written + i);
                let (key, value) = w.entry();
                batch.put(key, value);
            }
            db.write_with(batch, durability)?;
        }
        written += entries;
        w.result.bytes += entries * entry_bytes;
        w.finished(entries);
    }
    Ok(())
}

fn next_write_key(w: &mut Worker<'_>, order: KeyOrder, index: u64) {
    match order {
        KeyOrder::Sequential => w.set_key(index),
        KeyOrder::Random => w.set_random_key(),
    }
}

/// `reads` lookups of random keys; with `missing`, keys get a `.` suffix so none can exist.
fn read_random(w: &mut Worker<'_>, missing: bool) -> Result<()> {
    for _ in 0..w.config.reads {
        w.set_random_key();
        if missing {
            w.key.push(b'.');
        }
        if let Some(value) = w.db.get(&w.key)? {
            w.result.found += 1;
            w.result.bytes += (w.key.len() + value.len()) as u64;
        }
        w.finished(1);
    }
    Ok(())
}

/// `reads` random keys, looked up `batch_size` per `multi_get` call.
fn multi_read_random(w: &mut Worker<'_>) -> Result<()> {
    let total = w.config.reads;
    let mut keys: Vec<Vec<u8>> = Vec::with_capacity(w.config.batch_size);
    let mut done = 0;
    while done < total {
        let count = (w.config.batch_size as u64).min(total - done);
        keys.clear();
        for _ in 0..count {
            w.set_random_key();
            keys.push(w.key.clone());
        }
        let values = w.db.multi_get(&keys)?;
        for (key, value) in keys.iter().zip(&values) {
            if let Some(v) = value {
                w.result.found += 1;
                w.result.bytes += (key.len() + v.len()) as u64;
            }
        }
        done += count;
        w.finished(count);
    }
    Ok(())
}

/// Steps `iter` up to `reads` times, one op per entry.
fn read_entries<K, V>(w: &mut Worker<'_>, iter: impl Iterator<Item = Result<(K, V)>>) -> Result<()>
where
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let reads = usize::try_from(w.config.reads).unwrap_or(usize::MAX);
    for entry in iter.take(reads) {
        let (key, value) = entry?;
        w.result.bytes += (key.as_ref().len() + value.as_ref().len()) as u64;
        w.finished(1);
    }
    Ok(())
}

/// `reads` seeks to random keys; a seek is found when it lands on the key itself. Each seek is
/// followed by up to `seek_nexts` steps, all in one op.
fn seek_random(w: &mut Worker<'_>) -> Result<()> {
    let steps = usize::try_from(w.config.seek_nexts).unwrap_or(usize::MAX).saturating_add(1);
    for _ in 0..w.config.reads {
        w.set_random_key();
        let iter = w.db.range(w.key.as_slice()..);
        for (i, entry) in iter.take(steps).enumerate() {
            let (key, value) = entry?;
            if i == 0 && key.as_ref() == w.key.as_slice() {
                w.result.found += 1;
            }
            w.result.bytes += (key.len() + value.len()) as u64;
        }
        w.finished(1);
    }
    Ok(())
}

/// The extra writer of `readwhilewriting`: overwrites random keys until `stop` is set.
/// Returns the entries it wrote; its latencies are not part of the measurement (db_bench
/// excludes the writer's stats too).
fn background_writer(
    db: &Db,
    config: &Config,
    values: &ValueSource,
    run_index: usize,
    stop: &AtomicBool,
) -> Result<u64> {
    let mut w = Worker::new(db, config, values, run_index, config.threads);
    let mut written = 0;
    while !stop.load(Ordering::Relaxed) {
        w.set_random_key();
        let durability = w.durability;
        let (key, value) = w.entry();
        let mut batch = db.batch();
        batch.put(key, value);
        db.write_with(batch, durability)?;
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for b in ALL {
            assert_eq!(Benchmark::from_name(b.name()), Some(b));
        }
        assert_eq!(Benchmark::from_name("fillsequential"), None);
    }

    #[test]
    fn only_fills_start_fresh_and_reads_settle_first() {
        let fresh: Vec<_> = ALL.into_iter().filter(|b| b.needs_fresh_db()).collect();
        assert_eq!(fresh, [Benchmark::FillSeq, Benchmark::FillRandom]);
        assert!(Benchmark::ReadWhileWriting.reads() && Benchmark::ReadWhileWriting.writes());
        assert!(!Benchmark::Overwrite.reads() && Benchmark::Overwrite.writes());
        for action in [Benchmark::Stats, Benchmark::Flush, Benchmark::WaitForCompaction] {
            assert!(!action.is_measured() && !action.reads() && !action.writes() && !action.needs_fresh_db());
        }
        assert!(ALL.into_iter().filter(|b| b.is_measured()).count() == 10);
        assert!(Benchmark::ReadSeq.reads() && !Benchmark::ReadSeq.counts_found());
    }

    fn thread(start: Instant, busy_ms: u64, ops: u64) -> ThreadResult {
        let mut histogram = Histogram::new();
        histogram.record(Duration::from_millis(busy_ms));
        let finish = start + Duration::from_millis(busy_ms);
        ThreadResult { ops, bytes: ops * 10, found: ops / 2, start, finish, histogram }
    }

    #[test]
    fn merge_follows_db_bench_arithmetic() {
        let t0 = Instant::now();
        let results = vec![thread(t0, 100, 1000), thread(t0 + Duration::from_millis(50), 100, 1000)];
        let m = merge(Benchmark::ReadRandom, 2, results);
        assert_eq!(m.ops, 2000);
        assert_eq!(m.found, Some(1000));
        assert_eq!(m.elapsed, Duration::from_millis(150));
        assert_eq!(m.thread_time, Duration::from_millis(200));
        assert!((m.micros_per_op() - 100.0).abs() < 1e-9, "{}", m.micros_per_op());
        assert!((m.ops_per_sec() - 2000.0 / 0.15).abs() < 1e-6);
        assert!((m.mb_per_sec() - 20_000.0 / 1_048_576.0 / 0.15).abs() < 1e-9);
        assert_eq!(m.histogram.count(), 2);
        assert_eq!(merge(Benchmark::ReadSeq, 1, vec![thread(t0, 1, 1)]).found, None);
    }

    #[test]
    fn empty_measurement_has_zero_rates() {
        let m = merge(Benchmark::FillSeq, 1, Vec::new());
        assert_eq!((m.micros_per_op(), m.ops_per_sec(), m.mb_per_sec()), (0.0, 0.0, 0.0));
    }
}
