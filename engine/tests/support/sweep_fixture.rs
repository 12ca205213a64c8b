//! The corruption sweep's fixture database (`engine/tests/fixtures/sweep-v2/`): how it is built
//! and what it holds.
//!
//! Three sessions on an in-memory file system, every step deterministic (fixed keys and values,
//! explicit flushes, waits for background work), so the files come out byte-identical each time:
//! 1. 200 keys, flushed, then compacted twice: one table in L2.
//! 2. overwrites, new keys and deletions, flushed with `l0_compaction_trigger = 1`: a background
//!    compaction moves the table to L1.
//! 3. more overwrites and deletions, flushed (L0; the manifest's last record is this flush's edit);
//!    then [`SYNC_RECORDS`] batches written with `Durability::Sync` and [`BUFFERED_RECORDS`]
//!    with `Buffered`, and the handle dropped without `close` (a process crash): the WAL holds
//!    synced records followed by an unsynced tail, and no sync marker.
//!
//! Why this WAL: every synced record is witnessed (docs/format/wal.md#recovery) by the stamp of
//! the first buffered record, which says every byte before it was synced, so damage to any synced
//! byte must be reported. Without the buffered tail the last synced record would be the blind
//! spot of docs/format/wal.md#the-one-undetectable-case, which only `close`'s sync marker
//! (docs/format/batch.md#sync-marker) covers; with `close`, the WAL would hold no unsynced bytes
//! at all. The buffered records are the unsynced region: losing them to damage is a torn tail.

use std::path::PathBuf;
use std::sync::Arc;

use cairn::{Db, Durability, Options, Vfs};
use cairn_testkit::{CrashFs, Model};

use super::memfs::{DbFile, db_dir, read_db_files};

/// Where the committed fixture lives.
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sweep-v2")
}

/// Keys `k000`..`k249` are written by the sessions.
pub const KEY_COUNT: u64 = 250;
/// WAL records written with `Durability::Sync` in session 3 (one batch per record).
pub const SYNC_RECORDS: usize = 8;
/// WAL records written after them with `Durability::Buffered` (the unsynced tail).
pub const BUFFERED_RECORDS: usize = 2;

/// The fixture's files and the states a reader may legitimately see.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The database files, sorted by name.
    pub files: Vec<DbFile>,
    /// Everything written (what a process crash must preserve).
    pub full: Model,
    /// `prefixes[i]`: the state with only the first `i` records of the WAL replayed (`i` from 0
    /// to `SYNC_RECORDS + BUFFERED_RECORDS`); `prefixes[SYNC_RECORDS]` is the synced state.
    pub prefixes: Vec<Model>,
    /// Every key ever written (for `get`), plus one never written.
    pub universe: Vec<Vec<u8>>,
}

pub fn key(i: u64) -> Vec<u8> {
    format!("k{i:03}").into_bytes()
}

/// Options of every session (and of every open in the sweep): small blocks so tables have
/// several, no automatic compaction unless `l0_trigger` is 1. Every option that shapes the bytes
/// of a table is pinned, so changing a default does not change the committed fixture.
pub fn options(vfs: Arc<dyn Vfs>, l0_trigger: usize) -> Options {
    Options::default()
        .vfs(vfs)
        .block_size_bytes(1024)
        .restart_interval(16)
        .bloom_bits_per_key(10)
        .compression(cairn::Compression::None)
        .memtable_size_bytes(1 << 20)
        .l0_compaction_trigger(l0_trigger)
        .l0_files_slowdown(16)
        .l0_files_stop(24)
}

struct Builder {
    db: Db,
    model: Model,
}

impl Builder {
    fn put(&mut self, i: u64, value: String) {
        self.db.put(key(i), &value).expect("put");
        self.model.put(key(i), value);
    }

    fn delete(&mut self, i: u64) {
        self.db.delete(key(i)).expect("delete");
        self.model.delete(key(i));
    }
}

/// Builds the fixture in memory.
pub fn build() -> Fixture {
    let mem = CrashFs::new();
    let dir = db_dir();
    let mut model = Model::new();

    let mut b = Builder { db: options(mem.clone(), 8).open(&dir).expect("open session 1"), model };
    for i in 0..200 {
        b.put(i, format!("one-{i}-{}", "a".repeat((i % 17) as usize)));
    }
    b.db.flush().expect("flush");
    b.db.compact().expect("compact to L1");
    b.db.compact().expect("compact to L2");
    b.db.close().expect("close session 1");
    model = b.model;

    let mut b = Builder { db: options(mem.clone(), 1).open(&dir).expect("open session 2"), model };
    for i in (100..KEY_COUNT).step_by(2) {
        b.put(i, format!("two-{i}-{}", "b".repeat((i % 13) as usize)));
    }
    for i in (3..100).step_by(11) {
        b.delete(i);
    }
    b.db.flush().expect("flush");
    b.db.wait_for_background().expect("background move to L1");
    b.db.close().expect("close session 2");
    model = b.model;

    let mut b = Builder { db: options(mem.clone(), 8).open(&dir).expect("open session 3"), model };
    for i in (0..KEY_COUNT).step_by(7) {
        b.put(i, format!("three-{i}"));
    }
    for i in (5..KEY_COUNT).step_by(23) {
        b.delete(i);
    }
    b.db.flush().expect("flush to L0");
    let mut prefixes = vec![b.model.clone()];
    for r in 0..(SYNC_RECORDS + BUFFERED_RECORDS) as u64 {
        let durability = if (r as usize) < SYNC_RECORDS { Durability::Sync } else { Durability::Buffered };
        let mut batch = b.db.batch();
        for j in 0..3 {
            let i = (r * 31 + j * 7 + 1) % KEY_COUNT;
            if j == 2 && r % 3 == 0 {
                batch.delete(key(i));
                b.model.delete(key(i));
            } else {
                let v = format!("wal-{r}-{j}");
                batch.put(key(i), &v);
                b.model.put(key(i), v);
            }
        }
        b.db.write_with(batch, durability).expect("write to the WAL");
        prefixes.push(b.model.clone());
    }
    let full = b.model.clone();
    // A process crash: no close, so no sync marker and no flush of the WAL.
    drop(b);

    let files = read_db_files(&*mem, &dir);
    let mut universe: Vec<Vec<u8>> = (0..KEY_COUNT).map(key).collect();
    universe.push(b"never-written".to_vec());
    Fixture { files, full, prefixes, universe }
}
