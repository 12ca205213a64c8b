//! Cairn: an embedded, ordered, durable key-value store on its own log-structured merge engine.
//!
//! ```no_run
//! let db = cairn::Db::open("data")?;
//! db.put(b"k", b"v")?;
//! assert_eq!(db.get(b"k")?.as_deref(), Some(&b"v"[..]));
//!
//! let mut batch = db.batch();                 // atomic, all-or-nothing
//! batch.put(b"a", b"1");
//! batch.delete(b"b");
//! db.write_with(batch, cairn::Durability::Sync)?;
//!
//! for kv in db.prefix(b"user:") {
//!     let (key, value) = kv?;
//! }
//! db.close()?;
//! # Ok::<(), cairn::Error>(())
//! ```
//!
//! Guarantees (docs/durability.md): a write acknowledged with `Durability::Sync` (or followed
//! by a successful `Db::sync`) survives power loss; a `Buffered` write survives a process crash;
//! recovery yields a prefix of the commit order; batches are atomic; every persisted byte is
//! checksummed, and a mismatch is `Error::Corruption`, never a wrong value.
//!
//! Reading order for the source: `db` (the handle) → `commit` (write path) → `read` and
//! `iter` (read path) → `super_version` and `version_set` (what readers pin, how the tree
//! changes) → `flush`, `compact`, `background` → `recovery`.
#![deny(unsafe_code)]

mod background;
mod batch;
mod check;
mod commit;
mod commit_queue;
mod compact;
mod db;
mod flush;
mod inner;
mod inspect;
mod iter;
mod level_iter;
mod memtable;
mod metrics;
mod options;
mod read;
mod recovery;
mod snapshot;
mod super_version;
mod sync;
mod version_set;

pub use batch::{MAX_KEY_BYTES, MAX_VALUE_BYTES, WriteBatch};
pub use bytes::Bytes;
pub use cairn_base::envelope::Compression;
pub use cairn_base::vfs::{FileLock, RandomAccessFile, RealFs, Vfs, WritableFile};
pub use cairn_base::{Error, Result};
pub use check::CheckReport;
pub use commit::Durability;
pub use db::Db;
pub use inspect::{EntryKind, WalEntry, WalRecord, decode_wal_record};
pub use iter::Iter;
pub use metrics::{CacheMetrics, LevelMetrics, Metrics};
pub use options::Options;
pub use snapshot::Snapshot;
