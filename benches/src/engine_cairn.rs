//! [`Engine`] for Cairn: the public `cairn` API, exactly as an application would call it
//! (docs/tools.md#peer-engines).
//!
//! Owns the mapping from the flags to `cairn::Options` and from the trait's calls to `Db`'s.
//! A one-entry buffered write goes through `Db::put`; anything else builds a `WriteBatch` and
//! commits it with `Db::write_with` at the run's durability. Values come back as `Bytes` that
//! share the table's memory map; the harness only takes their length.

use std::path::Path;

use cairn::{Bytes, Db, Durability, Options};

use crate::engine::{Direction, Engine, EngineError, EngineKind, EngineResult, Seeker, Visit, WriteOp, visit_entries};
use crate::flags::Config;

/// A Cairn database opened for benchmarking.
#[derive(Debug)]
pub struct CairnEngine {
    db: Db,
    durability: Durability,
}

impl CairnEngine {
    /// Opens (or creates) the database in `dir` with every engine option the flags set.
    pub fn open(config: &Config, dir: &Path) -> EngineResult<CairnEngine> {
        let mut options = Options::default()
            .create_if_missing(!config.use_existing_db)
            .cache_size_bytes(config.cache_size_bytes)
            .bloom_bits_per_key(config.bloom_bits)
            .compression(config.compression);
        if let Some(bytes) = config.write_buffer_size_bytes {
            options = options.memtable_size_bytes(bytes);
        }
        if let Some(n) = config.restart_interval {
            options = options.restart_interval(n);
        }
        if let Some(on) = config.data_block_hash_index {
            options = options.data_block_hash_index(on);
        }
        if let Some(bytes) = config.block_size_bytes {
            options = options.block_size_bytes(bytes);
        }
        if let Some(bytes) = config.target_file_size_bytes {
            options = options.target_file_size_bytes(bytes);
        }
        if let Some(threads) = config.background_threads {
            options = options.background_threads(threads);
        }
        if let Some(mmap) = config.mmap_read {
            options = options.use_mmap(mmap);
        }
        let durability = if config.sync { Durability::Sync } else { Durability::Buffered };
        Ok(CairnEngine { db: options.open(dir)?, durability })
    }
}

impl Engine for CairnEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Cairn
    }

    fn write(&self, batch: &[WriteOp<'_>]) -> EngineResult<()> {
        if let [WriteOp::Put { key, value }] = batch
            && self.durability == Durability::Buffered
        {
            return Ok(self.db.put(key, value)?);
        }
        let mut b = self.db.batch();
        for op in batch {
            match *op {
                WriteOp::Put { key, value } => {
                    b.put(key, value);
                }
                WriteOp::Delete { key } => {
                    b.delete(key);
                }
            }
        }
        Ok(self.db.write_with(b, self.durability)?)
    }

    fn get(&self, key: &[u8]) -> EngineResult<Option<usize>> {
        Ok(self.db.get(key)?.map(|v| v.len()))
    }

    fn multi_get(&self, keys: &[Vec<u8>], out: &mut Vec<Option<usize>>) -> EngineResult<()> {
        out.clear();
        out.extend(self.db.multi_get(keys)?.iter().map(|v| v.as_ref().map(Bytes::len)));
        Ok(())
    }

    fn scan(&self, start: Option<&[u8]>, direction: Direction, limit: u64, visit: &mut Visit<'_>) -> EngineResult<u64> {
        let iter = match (start, direction) {
            (None, _) => self.db.iter(),
            (Some(key), Direction::Forward) => self.db.range(key..),
            (Some(key), Direction::Backward) => self.db.range(..=key),
        };
        match direction {
            Direction::Forward => visit_entries(iter, limit, visit, EngineError::Cairn),
            Direction::Backward => visit_entries(iter.rev(), limit, visit, EngineError::Cairn),
        }
    }

    fn seeker(&self) -> Box<dyn Seeker + '_> {
        Box::new(CairnSeeker { iter: self.db.iter() })
    }

    fn flush(&self) -> EngineResult<()> {
        Ok(self.db.flush()?)
    }

    fn wait_for_background(&self) -> EngineResult<()> {
        Ok(self.db.wait_for_background()?)
    }

    fn compact(&self) -> EngineResult<()> {
        Ok(self.db.compact()?)
    }

    fn storage_bytes_written(&self) -> Option<u64> {
        let m = self.db.metrics();
        Some(m.wal_bytes_written + m.flush_bytes_written + m.compaction_bytes_written)
    }

    fn stats(&self) -> String {
        self.db.metrics().to_string()
    }

    fn close(&self) -> EngineResult<()> {
        Ok(self.db.close()?)
    }
}

/// One [`cairn::Iter`] over the whole database, repositioned with [`cairn::Iter::seek`] for every
/// seek (db_bench's `seekrandom` reuses one RocksDB iterator per thread the same way).
struct CairnSeeker {
    iter: cairn::Iter,
}

impl Seeker for CairnSeeker {
    fn seek_forward(&mut self, target: &[u8], limit: u64, visit: &mut Visit<'_>) -> EngineResult<u64> {
        self.iter.seek(target);
        visit_entries(&mut self.iter, limit, visit, EngineError::Cairn)
    }
}
