//! `Metrics`: a typed picture of the database's shape and activity. `Display` prints a
//! per-level table followed by the counters.

use std::fmt;
use std::sync::atomic::Ordering;

use cairn_manifest::NUM_LEVELS;
pub use cairn_sstable::CacheMetrics;

use crate::inner::Inner;

/// One level of the tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LevelMetrics {
    /// Level number (0 = newest).
    pub level: usize,
    /// Tables in the level.
    pub tables: usize,
    /// Bytes of those tables on disk.
    pub size_bytes: u64,
}

/// A snapshot of the database's counters and shape, from [`crate::Db::metrics`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Metrics {
    /// Every level, 0 first.
    pub levels: Vec<LevelMetrics>,
    /// Bytes in the active memtable.
    pub memtable_size_bytes: u64,
    /// Sealed memtables waiting for flush.
    pub immutable_memtables: usize,
    /// Sequence number of the newest visible write.
    pub last_seq: u64,
    /// Individual writes (puts and deletes) committed since open.
    pub writes: u64,
    /// Commit groups (one WAL record each) since open.
    pub commit_groups: u64,
    /// Bytes of WAL records written since open.
    pub wal_bytes_written: u64,
    /// WAL fsyncs since open.
    pub wal_syncs: u64,
    /// Memtable flushes since open.
    pub flushes: u64,
    /// Bytes of tables written by flushes.
    pub flush_bytes_written: u64,
    /// Merging compactions since open.
    pub compactions: u64,
    /// Trivial moves since open.
    pub trivial_moves: u64,
    /// Bytes of input tables read by compactions.
    pub compaction_bytes_read: u64,
    /// Bytes of tables written by compactions.
    pub compaction_bytes_written: u64,
    /// Time writers spent stalled (slowdown and stop), in microseconds.
    pub stall_micros: u64,
    /// Failed background jobs since open (each retried).
    pub background_errors: u64,
    /// Block cache counters.
    pub cache: CacheMetrics,
    /// Snapshots currently held.
    pub live_snapshots: usize,
    /// True once a write-path failure poisoned the database.
    pub poisoned: bool,
}

impl Metrics {
    /// Total bytes of all tables.
    pub fn tables_size_bytes(&self) -> u64 {
        self.levels.iter().map(|l| l.size_bytes).sum()
    }

    /// Bytes written to tables and WAL per byte of WAL record (a write amplification estimate).
    pub fn write_amplification(&self) -> f64 {
        if self.wal_bytes_written == 0 {
            return 0.0;
        }
        (self.wal_bytes_written + self.flush_bytes_written + self.compaction_bytes_written) as f64
            / self.wal_bytes_written as f64
    }
}

impl Inner {
    pub(crate) fn metrics(&self) -> Metrics {
        let sv = self.super_version();
        let levels = (0..NUM_LEVELS)
            .map(|l| LevelMetrics {
                level: l,
                tables: sv.version.level(l).len(),
                size_bytes: sv.version.level_size_bytes(l),
            })
            .collect();
        let s = &self.stats;
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        Metrics {
            levels,
            memtable_size_bytes: sv.mem.approximate_size_bytes() as u64,
            immutable_memtables: sv.imms.len(),
            last_seq: self.read_seq().0,
            writes: get(&s.writes),
            commit_groups: get(&s.commit_groups),
            wal_bytes_written: get(&s.wal_bytes_written),
            wal_syncs: get(&s.wal_syncs),
            flushes: get(&s.flushes),
            flush_bytes_written: get(&s.flush_bytes_written),
            compactions: get(&s.compactions),
            trivial_moves: get(&s.trivial_moves),
            compaction_bytes_read: get(&s.compaction_bytes_read),
            compaction_bytes_written: get(&s.compaction_bytes_written),
            stall_micros: get(&s.stall_micros),
            background_errors: get(&s.background_errors),
            cache: self.cache.as_ref().map(|c| c.metrics()).unwrap_or_default(),
            live_snapshots: self.snapshots.lock().values().sum(),
            poisoned: self.poisoned.load(Ordering::Acquire),
        }
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

impl fmt::Display for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "level  tables   size (MiB)")?;
        for l in &self.levels {
            writeln!(f, "L{:<5} {:>6} {:>12.2}", l.level, l.tables, mib(l.size_bytes))?;
        }
        let total: usize = self.levels.iter().map(|l| l.tables).sum();
        writeln!(f, "total  {:>6} {:>12.2}", total, mib(self.tables_size_bytes()))?;
        writeln!(f)?;
        writeln!(
            f,
            "memtable            {:.2} MiB (+{} sealed)",
            mib(self.memtable_size_bytes),
            self.immutable_memtables
        )?;
        writeln!(f, "last sequence       {}", self.last_seq)?;
        writeln!(
            f,
            "writes              {} in {} groups, {} WAL syncs",
            self.writes, self.commit_groups, self.wal_syncs
        )?;
        writeln!(f, "WAL written         {:.2} MiB", mib(self.wal_bytes_written))?;
        writeln!(f, "flushes             {} ({:.2} MiB)", self.flushes, mib(self.flush_bytes_written))?;
        writeln!(
            f,
            "compactions         {} merges, {} moves, {:.2} MiB read, {:.2} MiB written",
            self.compactions,
            self.trivial_moves,
            mib(self.compaction_bytes_read),
            mib(self.compaction_bytes_written)
        )?;
        writeln!(f, "write amplification {:.2}", self.write_amplification())?;
        writeln!(f, "stalled             {:.3} s", self.stall_micros as f64 / 1e6)?;
        writeln!(
            f,
            "block cache         {:.2}/{:.2} MiB, {} hits, {} misses, {} evictions",
            mib(self.cache.usage_bytes),
            mib(self.cache.capacity_bytes),
            self.cache.hits,
            self.cache.misses,
            self.cache.evictions
        )?;
        writeln!(f, "snapshots           {}", self.live_snapshots)?;
        writeln!(f, "background errors   {}", self.background_errors)?;
        write!(f, "poisoned            {}", self.poisoned)
    }
}
