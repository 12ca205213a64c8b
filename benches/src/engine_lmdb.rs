//! [`Engine`] for LMDB through heed, the B-tree peer (cargo feature `lmdb`;
//! docs/tools.md#peer-engines).
//!
//! Owns the LMDB environment in `--db`: one unnamed database of raw bytes, a map size large
//! enough for the run's data (see [`map_size_bytes`]), and LMDB's idiomatic transactions: one
//! write transaction per write batch, one read transaction per lookup, per `multi_get` batch and
//! per scan. Durability: `--sync=0` opens the environment with `NO_SYNC` (a commit reaches the OS
//! page cache, like Cairn's `Durability::Buffered`); `--sync=1` keeps LMDB's default fsync per
//! commit. LMDB has no block cache, bloom filter, compression, memtable or compaction: those flags
//! do not apply, `flush`/`wait_for_background`/`compact` return at once, and reads go through
//! the OS page cache by design.
//!
//! This is the one module of `cairn-bench` with `unsafe`: heed marks opening an environment and
//! setting `NO_SYNC` as unsafe (a memory map must not be modified behind LMDB's back). The
//! harness is the only process using `--db` while it runs, and LMDB's lock file guards the rest.

use std::ops::Bound;
use std::path::Path;

use heed::types::Bytes;
use heed::{Database, Env, EnvFlags, EnvOpenOptions};

use crate::engine::{Direction, Engine, EngineError, EngineKind, EngineResult, Visit, WriteOp, visit_entries};
use crate::flags::Config;

/// Smallest map LMDB gets, so tiny runs have room for the B-tree's free pages.
const MIN_MAP_BYTES: u64 = 1 << 30;
/// Map bytes reserved per entry: key + value + LMDB's node and page overhead, times a margin
/// for copy-on-write free pages.
const MAP_OVERHEAD_BYTES_PER_ENTRY: u64 = 64;
/// Margin over the live data for copy-on-write pages not yet reused.
const MAP_MARGIN: u64 = 8;
/// Map sizes are rounded up to this (a multiple of every OS page size).
const MAP_ALIGN_BYTES: u64 = 1 << 20;

/// An LMDB environment opened for benchmarking.
pub struct LmdbEngine {
    env: Env,
    db: Database<Bytes, Bytes>,
}

impl std::fmt::Debug for LmdbEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LmdbEngine").field("path", &self.env.path()).finish_non_exhaustive()
    }
}

fn peer(e: heed::Error) -> EngineError {
    EngineError::Peer { engine: EngineKind::Lmdb, message: e.to_string() }
}

fn unsupported(what: impl Into<String>) -> EngineError {
    EngineError::Unsupported { engine: EngineKind::Lmdb, what: what.into() }
}

/// The map size for a run: room for every key the run can write, with margin, at least 1 GiB.
pub fn map_size_bytes(config: &Config) -> u64 {
    let inserts = config.reads.saturating_mul(config.threads as u64);
    let entries = config.num.max(config.writes).saturating_add(inserts);
    let entry_bytes = (config.key_size_bytes + config.value_size_bytes) as u64 + MAP_OVERHEAD_BYTES_PER_ENTRY;
    let bytes = entries.saturating_mul(entry_bytes).saturating_mul(MAP_MARGIN).max(MIN_MAP_BYTES);
    bytes.div_ceil(MAP_ALIGN_BYTES).saturating_mul(MAP_ALIGN_BYTES)
}

impl LmdbEngine {
    /// Opens (or, without `--use_existing_db`, creates) the environment in `dir`.
    pub fn open(config: &Config, dir: &Path) -> EngineResult<LmdbEngine> {
        if config.compression != cairn::Compression::None {
            return Err(unsupported("compress (only --compression_type=none)"));
        }
        if config.use_existing_db && !dir.join("data.mdb").exists() {
            return Err(unsupported(format!("open {}: it holds no LMDB environment", dir.display())));
        }
        std::fs::create_dir_all(dir).map_err(|e| peer(heed::Error::Io(e)))?;
        let map_bytes = usize::try_from(map_size_bytes(config))
            .map_err(|_| unsupported("map this much data into a 32-bit address space"))?;
        let env = open_env(dir, map_bytes, config.sync)?;
        let mut wtxn = env.write_txn().map_err(peer)?;
        let db = env.create_database(&mut wtxn, None).map_err(peer)?;
        wtxn.commit().map_err(peer)?;
        Ok(LmdbEngine { env, db })
    }
}

#[expect(unsafe_code, reason = "heed marks opening an LMDB environment and NO_SYNC as unsafe")]
fn open_env(dir: &Path, map_bytes: usize, sync: bool) -> EngineResult<Env> {
    let mut options = EnvOpenOptions::new();
    options.map_size(map_bytes).max_dbs(1);
    if !sync {
        // SAFETY: NO_SYNC skips the fsync at commit; LMDB documents that this can lose the last
        // commits on an OS crash but keeps the database consistent, which is the durability
        // `--sync=0` asks for in every engine (acknowledged writes survive a process crash).
        unsafe {
            options.flags(EnvFlags::NO_SYNC);
        }
    }
    // SAFETY: the map is undefined behaviour only if data.mdb is modified outside LMDB while it is
    // mapped. The harness is the only user of `dir` while it runs (it created the directory or was
    // pointed at it with --db), it never writes data.mdb itself, and LMDB's lock.mdb coordinates
    // any other LMDB process.
    unsafe { options.open(dir) }.map_err(peer)
}

impl Engine for LmdbEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Lmdb
    }

    fn write(&self, batch: &[WriteOp<'_>]) -> EngineResult<()> {
        let mut wtxn = self.env.write_txn().map_err(peer)?;
        for op in batch {
            match *op {
                WriteOp::Put { key, value } => self.db.put(&mut wtxn, key, value).map_err(peer)?,
                WriteOp::Delete { key } => {
                    self.db.delete(&mut wtxn, key).map_err(peer)?;
                }
            }
        }
        wtxn.commit().map_err(peer)
    }

    fn get(&self, key: &[u8]) -> EngineResult<Option<usize>> {
        let rtxn = self.env.read_txn().map_err(peer)?;
        Ok(self.db.get(&rtxn, key).map_err(peer)?.map(<[u8]>::len))
    }

    fn multi_get(&self, keys: &[Vec<u8>], out: &mut Vec<Option<usize>>) -> EngineResult<()> {
        out.clear();
        let rtxn = self.env.read_txn().map_err(peer)?;
        for key in keys {
            out.push(self.db.get(&rtxn, key).map_err(peer)?.map(<[u8]>::len));
        }
        Ok(())
    }

    fn scan(&self, start: Option<&[u8]>, direction: Direction, limit: u64, visit: &mut Visit<'_>) -> EngineResult<u64> {
        let rtxn = self.env.read_txn().map_err(peer)?;
        let from = start.map_or(Bound::Unbounded, Bound::Included);
        match direction {
            Direction::Forward => {
                let range = (from, Bound::Unbounded);
                visit_entries(self.db.range(&rtxn, &range).map_err(peer)?, limit, visit, peer)
            }
            Direction::Backward => {
                let range = (Bound::Unbounded, from);
                visit_entries(self.db.rev_range(&rtxn, &range).map_err(peer)?, limit, visit, peer)
            }
        }
    }

    fn flush(&self) -> EngineResult<()> {
        Ok(())
    }

    fn wait_for_background(&self) -> EngineResult<()> {
        Ok(())
    }

    fn compact(&self) -> EngineResult<()> {
        Ok(())
    }

    fn storage_bytes_written(&self) -> Option<u64> {
        None
    }

    fn stats(&self) -> String {
        let info = self.env.info();
        let stat = self.env.read_txn().map_err(peer).and_then(|rtxn| self.db.stat(&rtxn).map_err(peer));
        match stat {
            Ok(s) => format!(
                "lmdb: {} entries, depth {}, {} branch / {} leaf / {} overflow pages of {} bytes, map {} bytes, \
                 last page {}",
                s.entries,
                s.depth,
                s.branch_pages,
                s.leaf_pages,
                s.overflow_pages,
                s.page_size,
                info.map_size,
                info.last_page_number
            ),
            Err(e) => format!("lmdb: statistics unavailable: {e}"),
        }
    }

    fn close(&self) -> EngineResult<()> {
        self.env.force_sync().map_err(peer)
    }
}
