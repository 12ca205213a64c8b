//! [`Engine`] for fjall 2, a Rust LSM peer (cargo feature `fjall`; docs/tools.md#peer-engines).
//!
//! Owns the mapping from the flags to fjall's `Config` and `PartitionCreateOptions`: one
//! keyspace in `--db` with one partition, block cache of `--cache_size`, bloom filters of
//! `--bloom_bits`, no compression (the crate is built without lz4, so only
//! `--compression_type=none` runs). `--write_buffer_size` sets the memtable size and lets the
//! keyspace hold two of them (RocksDB's `max_write_buffer_number` default); without it fjall keeps
//! its own defaults. `--mmap_read` does not apply (fjall reads with `pread`).
//!
//! Durability: with `--sync=0` every write reaches the OS before it returns (fjall's default,
//! `PersistMode::Buffer`); with `--sync=1` every batch is committed with `PersistMode::SyncAll`.
//!
//! fjall 2 has no call that waits for compactions; [`Engine::wait_for_background`] polls its
//! active-compaction count until it has been zero for [`IDLE_POLLS`] polls in a row.

use std::path::Path;
use std::time::Duration;

use fjall::{CompressionType, Keyspace, PartitionCreateOptions, PartitionHandle, PersistMode};

use crate::engine::{Direction, Engine, EngineError, EngineKind, EngineResult, Visit, WriteOp, visit_entries};
use crate::flags::Config;

/// Consecutive idle polls that count as "no background work".
const IDLE_POLLS: u32 = 5;
/// Time between polls of the compaction count.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// fjall's own floor for the keyspace's write-buffer budget.
const MIN_WRITE_BUFFER_BYTES: u64 = 64 << 20;
/// The partition every benchmark uses.
const PARTITION: &str = "bench";

/// A fjall keyspace opened for benchmarking.
pub struct FjallEngine {
    keyspace: Keyspace,
    partition: PartitionHandle,
    sync: bool,
}

impl std::fmt::Debug for FjallEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallEngine").field("sync", &self.sync).finish_non_exhaustive()
    }
}

fn peer(e: fjall::Error) -> EngineError {
    EngineError::Peer { engine: EngineKind::Fjall, message: e.to_string() }
}

fn unsupported(what: impl Into<String>) -> EngineError {
    EngineError::Unsupported { engine: EngineKind::Fjall, what: what.into() }
}

impl FjallEngine {
    /// Opens (or, without `--use_existing_db`, creates) the keyspace in `dir`.
    pub fn open(config: &Config, dir: &Path) -> EngineResult<FjallEngine> {
        if config.compression != cairn::Compression::None {
            return Err(unsupported("compress in this build (only --compression_type=none)"));
        }
        if config.use_existing_db && !dir.join("version").exists() {
            return Err(unsupported(format!("open {}: it holds no fjall keyspace", dir.display())));
        }
        let keyspace = keyspace_config(config, dir)?.open().map_err(peer)?;
        let partition = keyspace.open_partition(PARTITION, partition_options(config)?).map_err(peer)?;
        Ok(FjallEngine { keyspace, partition, sync: config.sync })
    }
}

fn keyspace_config(config: &Config, dir: &Path) -> EngineResult<fjall::Config> {
    let mut c = fjall::Config::new(dir).cache_size(config.cache_size_bytes);
    if let Some(bytes) = config.write_buffer_size_bytes {
        c = c.max_write_buffer_size((2 * bytes as u64).max(MIN_WRITE_BUFFER_BYTES));
    }
    if let Some(threads) = config.background_threads {
        if threads < 2 {
            return Err(unsupported("run with fewer than 2 background threads (one flushes, one compacts)"));
        }
        c = c.flush_workers(1).compaction_workers(threads - 1);
    }
    Ok(c)
}

fn partition_options(config: &Config) -> EngineResult<PartitionCreateOptions> {
    let bits = u8::try_from(config.bloom_bits).map_err(|_| unsupported("use more than 255 bloom bits per key"))?;
    let mut o = PartitionCreateOptions::default()
        .bloom_filter_bits((bits > 0).then_some(bits))
        .compression(CompressionType::None);
    if let Some(bytes) = config.write_buffer_size_bytes {
        o = o.max_memtable_size(u32::try_from(bytes).map_err(|_| unsupported("use a memtable of 4 GiB or more"))?);
    }
    if let Some(bytes) = config.block_size_bytes {
        o = o.block_size(u32::try_from(bytes).map_err(|_| unsupported("use blocks of 4 GiB or more"))?);
    }
    Ok(o)
}

impl Engine for FjallEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Fjall
    }

    fn write(&self, batch: &[WriteOp<'_>]) -> EngineResult<()> {
        if let [WriteOp::Put { key, value }] = batch
            && !self.sync
        {
            return self.partition.insert(*key, *value).map_err(peer);
        }
        let mode = if self.sync { PersistMode::SyncAll } else { PersistMode::Buffer };
        let mut b = self.keyspace.batch().durability(Some(mode));
        for op in batch {
            match *op {
                WriteOp::Put { key, value } => b.insert(&self.partition, key, value),
                WriteOp::Delete { key } => b.remove(&self.partition, key),
            }
        }
        b.commit().map_err(peer)
    }

    fn get(&self, key: &[u8]) -> EngineResult<Option<usize>> {
        Ok(self.partition.get(key).map_err(peer)?.map(|v| v.len()))
    }

    fn scan(&self, start: Option<&[u8]>, direction: Direction, limit: u64, visit: &mut Visit<'_>) -> EngineResult<u64> {
        match (start, direction) {
            (None, Direction::Forward) => visit_entries(self.partition.iter(), limit, visit, peer),
            (None, Direction::Backward) => visit_entries(self.partition.iter().rev(), limit, visit, peer),
            (Some(key), Direction::Forward) => visit_entries(self.partition.range(key..), limit, visit, peer),
            (Some(key), Direction::Backward) => visit_entries(self.partition.range(..=key).rev(), limit, visit, peer),
        }
    }

    fn flush(&self) -> EngineResult<()> {
        self.partition.rotate_memtable_and_wait().map_err(peer)
    }

    fn wait_for_background(&self) -> EngineResult<()> {
        let mut idle = 0;
        while idle < IDLE_POLLS {
            idle = if self.keyspace.active_compactions() == 0 { idle + 1 } else { 0 };
            std::thread::sleep(POLL_INTERVAL);
        }
        Ok(())
    }

    fn compact(&self) -> EngineResult<()> {
        self.flush()?;
        self.partition.major_compact().map_err(peer)
    }

    fn storage_bytes_written(&self) -> Option<u64> {
        None
    }

    fn stats(&self) -> String {
        format!(
            "fjall: {} segments, {} bytes on disk ({} in journals), {} journals, {} bytes in write buffers, \
             {} flushes, {} compactions",
            self.partition.segment_count(),
            self.keyspace.disk_space(),
            self.keyspace.journal_disk_space(),
            self.keyspace.journal_count(),
            self.keyspace.write_buffer_size(),
            self.keyspace.flushes_completed(),
            self.keyspace.compactions_completed()
        )
    }

    fn close(&self) -> EngineResult<()> {
        self.keyspace.persist(PersistMode::SyncAll).map_err(peer)
    }
}
