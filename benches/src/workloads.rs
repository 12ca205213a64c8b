//! The benchmarks themselves: what each one does to the engine, timed per operation
//! (docs/tools.md#benchmarks).
//!
//! Owns the [`Benchmark`] names, the per-thread [`Worker`] and the db_bench loops, and merging
//! per-thread counts into one [`Measurement`] the way db_bench does: every thread does the full op
//! count; ops/sec is total ops over wall-clock time from the first thread's start to the last
//! thread's finish; micros/op is the sum of per-thread busy time over total ops. The YCSB loops
//! are in [`crate::ycsb`]; opening, settling and destroying the database are `main`'s, printing
//! is [`crate::report`]'s.
//!
//! Invariant: a worker records exactly one histogram sample per operation it counts in one call
//! (one write batch, one `get`, one `multi_get`, one seek with its nexts, one iterator step, one
//! YCSB operation), so percentiles describe calls, as in db_bench.

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ScopedJoinHandle;
use std::time::{Duration, Instant};

use crate::engine::{Direction, Engine, EngineResult, WriteOp};
use crate::flags::Config;
use crate::generator::{SplitMix64, ValueCursor, ValueSource, worker_seed, write_key, write_ycsb_key};
use crate::histogram::Histogram;
use crate::ycsb::{self, YcsbOp, YcsbState, YcsbWorkload};

/// One benchmark name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Benchmark {
    /// Writes keys `0..writes` in order into an empty database.
    FillSeq,
    /// Writes `writes` uniformly random keys into an empty database.
    FillRandom,
    /// Writes `writes` uniformly random keys into the current database.
    Overwrite,
    /// Deletes `deletes` uniformly random keys.
    DeleteRandom,
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
    /// Full manual compaction, timed as one operation.
    Compact,
    /// YCSB's load phase: `num` records into an empty database.
    YcsbLoad,
    /// A YCSB core workload.
    Ycsb(YcsbWorkload),
    /// Prints the engine's statistics; measures nothing.
    Stats,
    /// Flushes the memtable; measures nothing.
    Flush,
    /// Waits for pending flushes and compactions; measures nothing.
    WaitForCompaction,
}

/// Every benchmark and action, in the order `--help` lists them.
pub const ALL: [Benchmark; 22] = [
    Benchmark::FillSeq,
    Benchmark::FillRandom,
    Benchmark::Overwrite,
    Benchmark::DeleteRandom,
    Benchmark::ReadRandom,
    Benchmark::ReadMissing,
    Benchmark::MultiReadRandom,
    Benchmark::ReadSeq,
    Benchmark::ReadReverse,
    Benchmark::SeekRandom,
    Benchmark::ReadWhileWriting,
    Benchmark::Compact,
    Benchmark::YcsbLoad,
    Benchmark::Ycsb(YcsbWorkload::A),
    Benchmark::Ycsb(YcsbWorkload::B),
    Benchmark::Ycsb(YcsbWorkload::C),
    Benchmark::Ycsb(YcsbWorkload::D),
    Benchmark::Ycsb(YcsbWorkload::E),
    Benchmark::Ycsb(YcsbWorkload::F),
    Benchmark::Stats,
    Benchmark::Flush,
    Benchmark::WaitForCompaction,
];

impl Benchmark {
    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Benchmark::FillSeq => "fillseq",
            Benchmark::FillRandom => "fillrandom",
            Benchmark::Overwrite => "overwrite",
            Benchmark::DeleteRandom => "deleterandom",
            Benchmark::ReadRandom => "readrandom",
            Benchmark::ReadMissing => "readmissing",
            Benchmark::MultiReadRandom => "multireadrandom",
            Benchmark::ReadSeq => "readseq",
            Benchmark::ReadReverse => "readreverse",
            Benchmark::SeekRandom => "seekrandom",
            Benchmark::ReadWhileWriting => "readwhilewriting",
            Benchmark::Compact => "compact",
            Benchmark::YcsbLoad => "ycsbload",
            Benchmark::Ycsb(w) => w.name(),
            Benchmark::Stats => "stats",
            Benchmark::Flush => "flush",
            Benchmark::WaitForCompaction => "waitforcompaction",
        }
    }

    /// Parses a name; YCSB names also take an underscore (`ycsb_a`, `ycsb_load`).
    pub fn from_name(name: &str) -> Option<Benchmark> {
        if name == "ycsb_load" {
            return Some(Benchmark::YcsbLoad);
        }
        if let Some(w) = YcsbWorkload::from_name(name) {
            return Some(Benchmark::Ycsb(w));
        }
        ALL.into_iter().find(|b| b.name() == name)
    }

    /// False for the actions (`stats`, `flush`, `waitforcompaction`) that print no result line.
    pub fn is_measured(self) -> bool {
        !matches!(self, Benchmark::Stats | Benchmark::Flush | Benchmark::WaitForCompaction)
    }

    /// True for benchmarks that start from an empty database (db_bench's `fresh_db`).
    pub fn needs_fresh_db(self) -> bool {
        matches!(self, Benchmark::FillSeq | Benchmark::FillRandom | Benchmark::YcsbLoad)
    }

    /// True for benchmarks that read, and so should find flushes and compactions settled.
    pub fn reads(self) -> bool {
        self.is_measured()
            && !matches!(
                self,
                Benchmark::FillSeq
                    | Benchmark::FillRandom
                    | Benchmark::Overwrite
                    | Benchmark::DeleteRandom
                    | Benchmark::Compact
                    | Benchmark::YcsbLoad
            )
    }

    /// True for benchmarks that leave unflushed writes behind.
    pub fn writes(self) -> bool {
        match self {
            Benchmark::FillSeq
            | Benchmark::FillRandom
            | Benchmark::Overwrite
            | Benchmark::DeleteRandom
            | Benchmark::ReadWhileWriting
            | Benchmark::YcsbLoad => true,
            Benchmark::Ycsb(w) => w.writes(),
            _ => false,
        }
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
                | Benchmark::Ycsb(_)
        )
    }

    /// The operation named in the histogram heading (`Microseconds per read:`).
    pub fn op_kind(self) -> &'static str {
        match self {
            Benchmark::FillSeq | Benchmark::FillRandom | Benchmark::Overwrite | Benchmark::YcsbLoad => "write",
            Benchmark::DeleteRandom => "delete",
            Benchmark::SeekRandom => "seek",
            Benchmark::Compact => "compact",
            Benchmark::Ycsb(_) => "op",
            _ => "read",
        }
    }

    /// Worker threads the benchmark runs on: `compact` runs once, everything else on `--threads`.
    fn threads(self, config: &Config) -> usize {
        if self == Benchmark::Compact { 1 } else { config.threads }
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
    /// Key and value bytes written (the background writer's included): the user bytes that
    /// write amplification divides by.
    pub user_bytes_written: u64,
    /// Lookups that found a value, for benchmarks that count them.
    pub found: Option<u64>,
    /// Lookups made (the `N` of `(F of N found)`): `ops` except for YCSB, whose writes are not
    /// lookups.
    pub lookups: u64,
    /// First worker start to last worker finish.
    pub elapsed: Duration,
    /// Sum of every worker's own start-to-finish time.
    pub thread_time: Duration,
    /// Latency of every call.
    pub histogram: Histogram,
    /// YCSB only: latency per operation type, for the types that ran.
    pub by_op: Vec<(YcsbOp, Histogram)>,
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
    user_bytes_written: u64,
    found: u64,
    lookups: u64,
    start: Instant,
    finish: Instant,
    histogram: Histogram,
    /// Per YCSB operation type, indexed by [`YcsbOp::index`]; empty outside YCSB.
    by_op: Vec<Histogram>,
}

/// What every worker of a run shares.
#[derive(Clone, Copy)]
pub struct Shared<'a> {
    /// The engine under test.
    pub engine: &'a dyn Engine,
    /// The flags.
    pub config: &'a Config,
    /// Where values come from.
    pub values: &'a ValueSource,
    /// YCSB's insert sequence and cached ζ.
    pub ycsb: &'a YcsbState,
}

impl std::fmt::Debug for Shared<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("engine", &self.engine.kind()).finish_non_exhaustive()
    }
}

/// One benchmark thread: its random stream, its key buffer, its counters.
#[derive(Debug)]
pub struct Worker<'a> {
    /// What all workers share.
    pub shared: Shared<'a>,
    /// This worker's random stream.
    pub rng: SplitMix64,
    /// This worker's position among the benchmark's threads.
    pub index: usize,
    /// The benchmark's thread count.
    pub threads: usize,
    values: ValueCursor,
    key: Vec<u8>,
    result: ThreadResult,
    last: Instant,
}

impl<'a> Worker<'a> {
    fn new(shared: Shared<'a>, run_index: usize, index: usize, threads: usize) -> Self {
        let now = Instant::now();
        let result = ThreadResult {
            ops: 0,
            bytes: 0,
            user_bytes_written: 0,
            found: 0,
            lookups: 0,
            start: now,
            finish: now,
            histogram: Histogram::new(),
            by_op: Vec::new(),
        };
        Worker {
            shared,
            rng: SplitMix64::new(worker_seed(shared.config.seed, run_index, index)),
            index,
            threads,
            values: shared.values.cursor(),
            key: Vec::with_capacity(shared.config.key_size_bytes + 1),
            result,
            last: now,
        }
    }

    /// Starts the clock (after the start barrier).
    fn begin(&mut self) {
        self.last = Instant::now();
        self.result.start = self.last;
    }

    /// Counts `ops` operations and records the latency of the call that did them.
    pub fn finished(&mut self, ops: u64) {
        self.record(ops, None);
    }

    /// [`Worker::finished`] for a YCSB operation, also recorded under its type.
    pub fn finished_op(&mut self, op: YcsbOp, ops: u64) {
        self.record(ops, Some(op));
    }

    fn record(&mut self, ops: u64, op: Option<YcsbOp>) {
        let now = Instant::now();
        let latency = now - self.last;
        self.result.histogram.record(latency);
        if let Some(op) = op {
            if self.result.by_op.is_empty() {
                self.result.by_op = YcsbOp::ALL.iter().map(|_| Histogram::new()).collect();
            }
            self.result.by_op[op.index()].record(latency);
        }
        self.last = now;
        self.result.ops += ops;
    }

    fn end(mut self) -> ThreadResult {
        self.result.finish = Instant::now();
        self.result
    }

    /// Sets the key buffer to db_bench key number `n`.
    fn set_key(&mut self, n: u64) {
        write_key(&mut self.key, n, self.shared.config.key_size_bytes);
    }

    /// Sets the key buffer to a uniformly random db_bench key in `[0, num)`.
    fn set_random_key(&mut self) {
        let n = self.rng.uniform(self.shared.config.num);
        self.set_key(n);
    }

    /// Sets the key buffer to YCSB record `record`'s key.
    pub fn set_ycsb_key(&mut self, record: u64) {
        write_ycsb_key(&mut self.key, record);
    }

    /// Writes the key buffer with the next value, alone in its batch.
    pub fn put_current_key(&mut self) -> EngineResult<()> {
        let value = self.values.next_value(self.shared.config.value_size_bytes);
        let op = WriteOp::Put { key: &self.key, value };
        self.shared.engine.write(&[op])?;
        let bytes = op.user_bytes();
        self.result.bytes += bytes;
        self.result.user_bytes_written += bytes;
        Ok(())
    }

    /// Looks the key buffer up, counting the lookup and whether it found a value.
    pub fn read_current_key(&mut self) -> EngineResult<()> {
        self.result.lookups += 1;
        if let Some(value_len) = self.shared.engine.get(&self.key)? {
            self.result.found += 1;
            self.result.bytes += (self.key.len() + value_len) as u64;
        }
        Ok(())
    }

    /// Scans up to `limit` entries from the key buffer; a lookup that finds when it visits any.
    pub fn scan_from_current_key(&mut self, direction: Direction, limit: u64) -> EngineResult<()> {
        let mut bytes = 0u64;
        let visited = self
            .shared
            .engine
            .scan(Some(&self.key), direction, limit, &mut |k, v| bytes += (k.len() + v.len()) as u64)?;
        self.result.lookups += 1;
        self.result.found += u64::from(visited > 0);
        self.result.bytes += bytes;
        Ok(())
    }
}

/// Runs `benchmark` (a measured one: see [`Benchmark::is_measured`]), the `run_index`-th of the
/// run, on its threads and merges their counts.
pub fn run(shared: Shared<'_>, benchmark: Benchmark, run_index: usize) -> EngineResult<Measurement> {
    let threads = benchmark.threads(shared.config);
    let barrier = Barrier::new(threads);
    let stop_writer = AtomicBool::new(false);
    let (results, written_bytes) = std::thread::scope(|s| {
        let writer = (benchmark == Benchmark::ReadWhileWriting)
            .then(|| s.spawn(|| background_writer(shared, run_index, &stop_writer)));
        let workers: Vec<_> = (0..threads)
            .map(|index| {
                let barrier = &barrier;
                s.spawn(move || {
                    let mut worker = Worker::new(shared, run_index, index, threads);
                    barrier.wait();
                    worker.begin();
                    run_worker(&mut worker, benchmark).map(|()| worker.end())
                })
            })
            .collect();
        let results: Vec<EngineResult<ThreadResult>> = workers.into_iter().map(join).collect();
        stop_writer.store(true, Ordering::Relaxed);
        writer.map(join).transpose().map(|bytes| (results, bytes.unwrap_or(0)))
    })?;
    let results = results.into_iter().collect::<EngineResult<Vec<_>>>()?;
    let mut m = merge(benchmark, threads, results);
    m.user_bytes_written += written_bytes;
    Ok(m)
}

/// Joins a scoped thread, re-raising its panic on this thread.
fn join<T>(handle: ScopedJoinHandle<'_, T>) -> T {
    handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn merge(benchmark: Benchmark, threads: usize, results: Vec<ThreadResult>) -> Measurement {
    let mut histogram = Histogram::new();
    let mut by_op: Vec<Histogram> = Vec::new();
    let (mut ops, mut bytes, mut written, mut found, mut lookups) = (0, 0, 0, 0, 0);
    let mut thread_time = Duration::ZERO;
    let first_start = results.iter().map(|r| r.start).min();
    let last_finish = results.iter().map(|r| r.finish).max();
    for r in &results {
        (ops, bytes, written) = (ops + r.ops, bytes + r.bytes, written + r.user_bytes_written);
        (found, lookups) = (found + r.found, lookups + r.lookups);
        thread_time += r.finish - r.start;
        histogram.merge(&r.histogram);
        if by_op.is_empty() {
            by_op = r.by_op.iter().map(|_| Histogram::new()).collect();
        }
        for (mine, theirs) in by_op.iter_mut().zip(&r.by_op) {
            mine.merge(theirs);
        }
    }
    let elapsed = match (first_start, last_finish) {
        (Some(start), Some(finish)) => finish - start,
        _ => Duration::ZERO,
    };
    let by_op = YcsbOp::ALL.into_iter().zip(by_op).filter(|(_, h)| h.count() > 0).collect();
    let found = benchmark.counts_found().then_some(found);
    Measurement {
        benchmark,
        threads,
        ops,
        bytes,
        user_bytes_written: written,
        found,
        lookups,
        elapsed,
        thread_time,
        histogram,
        by_op,
    }
}

fn run_worker(w: &mut Worker<'_>, benchmark: Benchmark) -> EngineResult<()> {
    match benchmark {
        Benchmark::FillSeq => write_keys(w, KeyOrder::Sequential),
        Benchmark::FillRandom | Benchmark::Overwrite => write_keys(w, KeyOrder::Random),
        Benchmark::DeleteRandom => delete_random(w),
        Benchmark::ReadRandom | Benchmark::ReadWhileWriting => read_random(w, false),
        Benchmark::ReadMissing => read_random(w, true),
        Benchmark::MultiReadRandom => multi_read_random(w),
        Benchmark::ReadSeq => read_entries(w, Direction::Forward),
        Benchmark::ReadReverse => read_entries(w, Direction::Backward),
        Benchmark::SeekRandom => seek_random(w),
        Benchmark::Compact => {
            w.shared.engine.compact()?;
            w.finished(1);
            Ok(())
        }
        Benchmark::YcsbLoad => ycsb::load(w),
        Benchmark::Ycsb(workload) => ycsb::run(w, workload),
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

/// Writes `writes` entries, `batch_size` per batch. A one-entry batch reuses the worker's key
/// buffer, so the loop allocates nothing per write.
fn write_keys(w: &mut Worker<'_>, order: KeyOrder) -> EngineResult<()> {
    let total = w.shared.config.writes;
    let batch_size = w.shared.config.batch_size as u64;
    let mut keys: Vec<Vec<u8>> = Vec::with_capacity(w.shared.config.batch_size);
    let mut written = 0;
    while written < total {
        let entries = batch_size.min(total - written);
        if entries == 1 {
            next_write_key(w, order, written);
            w.put_current_key()?;
        } else {
            keys.clear();
            for i in 0..entries {
                next_write_key(w, order, written + i);
                keys.push(w.key.clone());
            }
            write_batch(w, &keys)?;
        }
        written += entries;
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

/// Writes `keys`, each with the next value, in one batch.
fn write_batch(w: &mut Worker<'_>, keys: &[Vec<u8>]) -> EngineResult<()> {
    let value_size = w.shared.config.value_size_bytes;
    let starts: Vec<usize> = keys.iter().map(|_| w.values.next_start(value_size)).collect();
    let batch: Vec<WriteOp<'_>> = keys
        .iter()
        .zip(starts)
        .map(|(key, start)| WriteOp::Put { key, value: w.values.value_at(start, value_size) })
        .collect();
    w.shared.engine.write(&batch)?;
    let bytes: u64 = batch.iter().map(WriteOp::user_bytes).sum();
    w.result.bytes += bytes;
    w.result.user_bytes_written += bytes;
    Ok(())
}

/// Deletes `deletes` random keys, `batch_size` per batch.
fn delete_random(w: &mut Worker<'_>) -> EngineResult<()> {
    let total = w.shared.config.deletes;
    let batch_size = w.shared.config.batch_size as u64;
    let mut keys: Vec<Vec<u8>> = Vec::with_capacity(w.shared.config.batch_size);
    let mut done = 0;
    while done < total {
        let entries = batch_size.min(total - done);
        keys.clear();
        for _ in 0..entries {
            w.set_random_key();
            keys.push(w.key.clone());
        }
        let batch: Vec<WriteOp<'_>> = keys.iter().map(|key| WriteOp::Delete { key }).collect();
        w.shared.engine.write(&batch)?;
        w.result.user_bytes_written += batch.iter().map(WriteOp::user_bytes).sum::<u64>();
        done += entries;
        w.finished(entries);
    }
    Ok(())
}

/// `reads` lookups of random keys; with `missing`, keys get a `.` suffix so none can exist.
fn read_random(w: &mut Worker<'_>, missing: bool) -> EngineResult<()> {
    for _ in 0..w.shared.config.reads {
        w.set_random_key();
        if missing {
            w.key.push(b'.');
        }
        w.read_current_key()?;
        w.finished(1);
    }
    Ok(())
}

/// `reads` random keys, looked up `batch_size` per `multi_get` call.
fn multi_read_random(w: &mut Worker<'_>) -> EngineResult<()> {
    let total = w.shared.config.reads;
    let mut keys: Vec<Vec<u8>> = Vec::with_capacity(w.shared.config.batch_size);
    let mut lengths = Vec::with_capacity(w.shared.config.batch_size);
    let mut done = 0;
    while done < total {
        let count = (w.shared.config.batch_size as u64).min(total - done);
        keys.clear();
        for _ in 0..count {
            w.set_random_key();
            keys.push(w.key.clone());
        }
        w.shared.engine.multi_get(&keys, &mut lengths)?;
        for (key, value_len) in keys.iter().zip(&lengths) {
            if let Some(len) = value_len {
                w.result.found += 1;
                w.result.bytes += (key.len() + len) as u64;
            }
        }
        w.result.lookups += count;
        done += count;
        w.finished(count);
    }
    Ok(())
}

/// Steps through up to `reads` entries from one end, one op per entry.
fn read_entries(w: &mut Worker<'_>, direction: Direction) -> EngineResult<()> {
    let engine = w.shared.engine;
    let reads = w.shared.config.reads;
    engine.scan(None, direction, reads, &mut |key, value| {
        w.result.bytes += (key.len() + value.len()) as u64;
        w.finished(1);
    })?;
    Ok(())
}

/// `reads` seeks to random keys; a seek is found when it lands on the key itself. Each seek is
/// followed by up to `seek_nexts` steps, all in one op.
fn seek_random(w: &mut Worker<'_>) -> EngineResult<()> {
    let steps = w.shared.config.seek_nexts.saturating_add(1);
    let engine = w.shared.engine;
    // One cursor per thread for every seek, as db_bench does (docs/tools.md#benchmarks).
    let mut seeker = engine.seeker();
    for _ in 0..w.shared.config.reads {
        w.set_random_key();
        let (mut first, mut landed, mut bytes) = (true, false, 0u64);
        let target = w.key.as_slice();
        seeker.seek_forward(target, steps, &mut |key, value| {
            landed |= first && key == target;
            first = false;
            bytes += (key.len() + value.len()) as u64;
        })?;
        w.result.found += u64::from(landed);
        w.result.lookups += 1;
        w.result.bytes += bytes;
        w.finished(1);
    }
    Ok(())
}

/// The extra writer of `readwhilewriting`: overwrites random keys until `stop` is set. Returns
/// the user bytes it wrote; its latencies are not part of the measurement (db_bench excludes
/// the writer's stats too).
fn background_writer(shared: Shared<'_>, run_index: usize, stop: &AtomicBool) -> EngineResult<u64> {
    let mut w = Worker::new(shared, run_index, shared.config.threads, shared.config.threads);
    while !stop.load(Ordering::Relaxed) {
        w.set_random_key();
        w.put_current_key()?;
    }
    Ok(w.result.user_bytes_written)
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
        assert_eq!(Benchmark::from_name("ycsb_c"), Some(Benchmark::Ycsb(YcsbWorkload::C)));
        assert_eq!(Benchmark::from_name("ycsb_load"), Some(Benchmark::YcsbLoad));
    }

    #[test]
    fn only_fills_start_fresh_and_reads_settle_first() {
        let fresh: Vec<_> = ALL.into_iter().filter(|b| b.needs_fresh_db()).collect();
        assert_eq!(fresh, [Benchmark::FillSeq, Benchmark::FillRandom, Benchmark::YcsbLoad]);
        assert!(Benchmark::ReadWhileWriting.reads() && Benchmark::ReadWhileWriting.writes());
        assert!(!Benchmark::Overwrite.reads() && Benchmark::Overwrite.writes());
        assert!(!Benchmark::DeleteRandom.reads() && Benchmark::DeleteRandom.writes());
        for action in [Benchmark::Stats, Benchmark::Flush, Benchmark::WaitForCompaction] {
            assert!(!action.is_measured() && !action.reads() && !action.writes() && !action.needs_fresh_db());
        }
        assert!(Benchmark::Compact.is_measured() && !Benchmark::Compact.reads() && !Benchmark::Compact.writes());
        assert!(Benchmark::ReadSeq.reads() && !Benchmark::ReadSeq.counts_found());
        let c = Benchmark::Ycsb(YcsbWorkload::C);
        assert!(c.reads() && !c.writes() && c.counts_found());
        let a = Benchmark::Ycsb(YcsbWorkload::A);
        assert!(a.reads() && a.writes());
    }

    fn thread(start: Instant, busy_ms: u64, ops: u64) -> ThreadResult {
        let mut histogram = Histogram::new();
        histogram.record(Duration::from_millis(busy_ms));
        let finish = start + Duration::from_millis(busy_ms);
        ThreadResult {
            ops,
            bytes: ops * 10,
            user_bytes_written: ops,
            found: ops / 2,
            lookups: ops,
            start,
            finish,
            histogram,
            by_op: Vec::new(),
        }
    }

    #[test]
    fn merge_follows_db_bench_arithmetic() {
        let t0 = Instant::now();
        let results = vec![thread(t0, 100, 1000), thread(t0 + Duration::from_millis(50), 100, 1000)];
        let m = merge(Benchmark::ReadRandom, 2, results);
        assert_eq!(m.ops, 2000);
        assert_eq!((m.found, m.lookups, m.user_bytes_written), (Some(1000), 2000, 2000));
        assert_eq!(m.elapsed, Duration::from_millis(150));
        assert_eq!(m.thread_time, Duration::from_millis(200));
        assert!((m.micros_per_op() - 100.0).abs() < 1e-9, "{}", m.micros_per_op());
        assert!((m.ops_per_sec() - 2000.0 / 0.15).abs() < 1e-6);
        assert!((m.mb_per_sec() - 20_000.0 / 1_048_576.0 / 0.15).abs() < 1e-9);
        assert_eq!(m.histogram.count(), 2);
        assert!(m.by_op.is_empty());
        assert_eq!(merge(Benchmark::ReadSeq, 1, vec![thread(t0, 1, 1)]).found, None);
    }

    #[test]
    fn merge_keeps_ycsb_operation_types_that_ran() {
        let t0 = Instant::now();
        let mut a = thread(t0, 1, 2);
        let mut b = thread(t0, 1, 1);
        a.by_op = YcsbOp::ALL.iter().map(|_| Histogram::new()).collect();
        b.by_op = YcsbOp::ALL.iter().map(|_| Histogram::new()).collect();
        a.by_op[YcsbOp::Read.index()].record(Duration::from_micros(3));
        a.by_op[YcsbOp::Update.index()].record(Duration::from_micros(9));
        b.by_op[YcsbOp::Read.index()].record(Duration::from_micros(5));
        let m = merge(Benchmark::Ycsb(YcsbWorkload::A), 2, vec![a, b]);
        let kinds: Vec<(YcsbOp, u64)> = m.by_op.iter().map(|(op, h)| (*op, h.count())).collect();
        assert_eq!(kinds, [(YcsbOp::Read, 2), (YcsbOp::Update, 1)]);
    }

    #[test]
    fn empty_measurement_has_zero_rates() {
        let m = merge(Benchmark::FillSeq, 1, Vec::new());
        assert_eq!((m.micros_per_op(), m.ops_per_sec(), m.mb_per_sec()), (0.0, 0.0, 0.0));
    }
}
