//! The storage engines `cairn-bench` drives, behind one small trait (docs/tools.md#peer-engines).
//!
//! Owns the [`Engine`] trait, the engine names (`--engine=cairn|fjall|lmdb`), the error type the
//! engines share, and opening an engine from the flags. Each implementation lives in its own file
//! (`engine_cairn.rs`, `engine_fjall.rs`, `engine_lmdb.rs`); the peers compile only with the
//! cargo features of the same name, so the default build holds Cairn alone.
//!
//! Contract every implementation keeps, so the same benchmark loop measures each engine fairly:
//! * A write of one batch is atomic and has the run's durability: `--sync=0` means the data has
//!   reached the OS when the call returns (survives a process crash), `--sync=1` means it was
//!   fsynced.
//! * `get` looks up one key and reports the value's length; the value itself is not copied out
//!   when the engine can avoid it.
//! * `scan` visits entries in key order (or reverse order) from a start key, at most `limit` of
//!   them, and returns how many it visited.
//! * `flush`, `wait_for_background` and `compact` settle the engine as far as it has such work; an
//!   engine without it (LMDB) returns at once.

use std::fmt;
use std::path::Path;

use crate::flags::Config;

/// One engine name of `--engine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// Cairn, this workspace's engine.
    Cairn,
    /// fjall 2, a Rust LSM (cargo feature `fjall`).
    Fjall,
    /// LMDB through heed, a copy-on-write B-tree (cargo feature `lmdb`).
    Lmdb,
}

impl EngineKind {
    /// The `--engine` name.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Cairn => "cairn",
            EngineKind::Fjall => "fjall",
            EngineKind::Lmdb => "lmdb",
        }
    }

    /// Parses an `--engine` name.
    pub fn from_name(name: &str) -> Option<EngineKind> {
        [EngineKind::Cairn, EngineKind::Fjall, EngineKind::Lmdb].into_iter().find(|k| k.name() == name)
    }

    /// The library and version the header names (the peers' versions are the pinned ones in
    /// benches/Cargo.toml).
    pub fn version(self) -> &'static str {
        match self {
            EngineKind::Cairn => concat!("cairn ", env!("CARGO_PKG_VERSION")),
            EngineKind::Fjall => "fjall 2.11.2",
            EngineKind::Lmdb => "LMDB (heed 0.22.1)",
        }
    }

    /// True when this binary was built with the engine (its cargo feature).
    pub fn is_compiled(self) -> bool {
        match self {
            EngineKind::Cairn => true,
            EngineKind::Fjall => cfg!(feature = "fjall"),
            EngineKind::Lmdb => cfg!(feature = "lmdb"),
        }
    }

    /// Files whose presence marks a directory as this engine's database, so the harness may
    /// delete it before a fresh-database benchmark.
    pub fn marker_files(self) -> &'static [&'static str] {
        match self {
            EngineKind::Cairn => &["CURRENT", "LOCK"],
            EngineKind::Fjall => &["version"],
            EngineKind::Lmdb => &["data.mdb"],
        }
    }

    /// Every engine, for checks that accept any engine's database.
    pub const ALL: [EngineKind; 3] = [EngineKind::Cairn, EngineKind::Fjall, EngineKind::Lmdb];
}

/// An error from an engine.
#[derive(Debug)]
pub enum EngineError {
    /// Cairn reported an error.
    Cairn(cairn::Error),
    /// A peer engine reported an error (its own message).
    #[cfg_attr(
        not(any(feature = "fjall", feature = "lmdb")),
        expect(dead_code, reason = "only the peers, behind their features, report these")
    )]
    Peer {
        /// Which engine.
        engine: EngineKind,
        /// The engine's message.
        message: String,
    },
    /// The flags ask an engine for something it cannot do (a usage error).
    Unsupported {
        /// Which engine.
        engine: EngineKind,
        /// What it cannot do.
        what: String,
    },
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Cairn(e) => write!(f, "{e}"),
            EngineError::Peer { engine, message } => write!(f, "{}: {message}", engine.name()),
            EngineError::Unsupported { engine, what } => write!(f, "{} cannot {what}", engine.name()),
        }
    }
}

impl From<cairn::Error> for EngineError {
    fn from(e: cairn::Error) -> Self {
        EngineError::Cairn(e)
    }
}

/// Shorthand for engine results.
pub type EngineResult<T> = Result<T, EngineError>;

/// One write of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOp<'a> {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
    },
    /// Remove `key` (absent keys are fine).
    Delete {
        /// The key.
        key: &'a [u8],
    },
}

impl WriteOp<'_> {
    /// Key plus value bytes: what the user asked to store.
    pub fn user_bytes(&self) -> u64 {
        match self {
            WriteOp::Put { key, value } => (key.len() + value.len()) as u64,
            WriteOp::Delete { key } => key.len() as u64,
        }
    }
}

/// Which way a scan goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Ascending keys, from the start key (inclusive).
    Forward,
    /// Descending keys, from the start key (inclusive).
    Backward,
}

/// The visitor a scan calls with each key and value.
pub type Visit<'a> = dyn FnMut(&[u8], &[u8]) + 'a;

/// Repeated forward seeks from one thread (`seekrandom`). `db_bench` creates one iterator per
/// thread and seeks it again for every operation; engines that can reuse a cursor the same way
/// return one from [`Engine::seeker`].
pub trait Seeker {
    /// Seeks to the first key `>= target` and visits up to `limit` entries forward. Returns the
    /// entries visited.
    fn seek_forward(&mut self, target: &[u8], limit: u64, visit: &mut Visit<'_>) -> EngineResult<u64>;
}

/// The default [`Seeker`]: a new forward [`Engine::scan`] per seek.
struct ScanSeeker<'a, E: ?Sized>(&'a E);

impl<E: Engine + ?Sized> Seeker for ScanSeeker<'_, E> {
    fn seek_forward(&mut self, target: &[u8], limit: u64, visit: &mut Visit<'_>) -> EngineResult<u64> {
        self.0.scan(Some(target), Direction::Forward, limit, visit)
    }
}

/// What a benchmark needs from a storage engine. Implementations are `Send + Sync`: every
/// benchmark thread calls the same instance.
pub trait Engine: Send + Sync {
    /// Which engine this is.
    fn kind(&self) -> EngineKind;

    /// Applies `batch` atomically with the run's durability. REQUIRES: `batch` is not empty.
    fn write(&self, batch: &[WriteOp<'_>]) -> EngineResult<()>;

    /// The length of `key`'s value, or `None` when the key is absent.
    fn get(&self, key: &[u8]) -> EngineResult<Option<usize>>;

    /// The value lengths of `keys`, in order, into `out` (cleared first). Engines with a batched
    /// lookup use it; the default looks the keys up one by one.
    fn multi_get(&self, keys: &[Vec<u8>], out: &mut Vec<Option<usize>>) -> EngineResult<()> {
        out.clear();
        for key in keys {
            out.push(self.get(key)?);
        }
        Ok(())
    }

    /// Visits up to `limit` entries in `direction`, starting at `start` (inclusive) or at the
    /// first (last, when going backward) key when `start` is `None`. Returns the entries visited.
    fn scan(&self, start: Option<&[u8]>, direction: Direction, limit: u64, visit: &mut Visit<'_>) -> EngineResult<u64>;

    /// A cursor for one thread's repeated seeks. The default opens a new scan per seek; an
    /// engine whose iterator can be repositioned returns one iterator reused for every seek, as
    /// `db_bench` does (its view is the database when the cursor was created).
    fn seeker(&self) -> Box<dyn Seeker + '_> {
        Box::new(ScanSeeker(self))
    }

    /// Moves buffered writes (the memtable) into the engine's files and waits for that.
    fn flush(&self) -> EngineResult<()>;

    /// Blocks until no flush or compaction is pending or running.
    fn wait_for_background(&self) -> EngineResult<()>;

    /// Full manual compaction; returns when it is done.
    fn compact(&self) -> EngineResult<()>;

    /// Bytes the engine wrote to storage since it was opened (log, flushes, compactions), when
    /// the engine counts them.
    fn storage_bytes_written(&self) -> Option<u64>;

    /// The engine's own statistics, for the `stats` action.
    fn stats(&self) -> String;

    /// Makes every write durable and releases the database, reporting any error.
    fn close(&self) -> EngineResult<()>;
}

/// Visits up to `limit` entries of `iter` (an engine's iterator), converting its errors with
/// `error`. Never pulls an entry past the limit, so a bounded scan costs what it visits.
pub fn visit_entries<K, V, E>(
    mut iter: impl Iterator<Item = Result<(K, V), E>>,
    limit: u64,
    visit: &mut Visit<'_>,
    error: impl Fn(E) -> EngineError,
) -> EngineResult<u64>
where
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let mut visited = 0;
    while visited < limit {
        let Some(entry) = iter.next() else { break };
        let (key, value) = entry.map_err(&error)?;
        visit(key.as_ref(), value.as_ref());
        visited += 1;
    }
    Ok(visited)
}

/// Opens `config.engine` on `dir`, creating the database unless `--use_existing_db` is set.
pub fn open(config: &Config, dir: &Path) -> EngineResult<Box<dyn Engine>> {
    match config.engine {
        EngineKind::Cairn => Ok(Box::new(crate::engine_cairn::CairnEngine::open(config, dir)?)),
        #[cfg(feature = "fjall")]
        EngineKind::Fjall => Ok(Box::new(crate::engine_fjall::FjallEngine::open(config, dir)?)),
        #[cfg(feature = "lmdb")]
        EngineKind::Lmdb => Ok(Box::new(crate::engine_lmdb::LmdbEngine::open(config, dir)?)),
        #[allow(unreachable_patterns, reason = "reachable only when a peer's feature is off")]
        other => Err(EngineError::Unsupported {
            engine: other,
            what: format!("run: this cairn-bench was built without it (rebuild with `--features {}`)", other.name()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_markers_are_distinct() {
        for kind in EngineKind::ALL {
            assert_eq!(EngineKind::from_name(kind.name()), Some(kind));
            assert!(!kind.marker_files().is_empty());
        }
        assert_eq!(EngineKind::from_name("rocksdb"), None);
        assert!(EngineKind::Cairn.is_compiled());
        assert_eq!(EngineKind::Fjall.is_compiled(), cfg!(feature = "fjall"));
    }

    #[test]
    fn visit_entries_stops_at_the_limit_without_pulling_more() {
        let mut pulled = 0;
        let entries = (0u8..10).map(|i| {
            pulled += 1;
            Ok::<_, String>((vec![i], vec![i; 3]))
        });
        let mut seen = Vec::new();
        let visited = visit_entries(entries, 4, &mut |k, v| seen.push((k[0], v.len())), |e| EngineError::Unsupported {
            engine: EngineKind::Cairn,
            what: e,
        });
        assert_eq!(visited.ok(), Some(4));
        assert_eq!(seen, [(0, 3), (1, 3), (2, 3), (3, 3)]);
        assert_eq!(pulled, 4, "the fifth entry is never read");

        let failing = [Ok((vec![1u8], vec![1u8])), Err("bad block".to_string())].into_iter();
        let err = visit_entries(failing, 10, &mut |_, _| {}, |e| EngineError::Unsupported {
            engine: EngineKind::Lmdb,
            what: e,
        });
        assert!(matches!(err, Err(EngineError::Unsupported { what, .. }) if what == "bad block"));
        let empty = std::iter::empty::<Result<(Vec<u8>, Vec<u8>), String>>();
        assert_eq!(visit_entries(empty, 0, &mut |_, _| {}, |_| unreachable!()).ok(), Some(0));
    }

    #[test]
    fn write_ops_count_user_bytes() {
        assert_eq!(WriteOp::Put { key: b"abc", value: b"12345" }.user_bytes(), 8);
        assert_eq!(WriteOp::Delete { key: b"abc" }.user_bytes(), 3);
    }
}
