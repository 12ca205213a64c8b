//! The super-version: the active memtable, the sealed memtables waiting for flush, the
//! current `Version` and the open tables it names, published together as one immutable value.
//!
//! Readers pin a super-version and read everything from it, so a read never sees half of a
//! flush or compaction. A new super-version is installed (under the version set's lock, so
//! installs are serialized, INV-SV-2) on every memtable switch, flush and compaction. Tables
//! named by a pinned super-version stay open and their files stay on disk (INV-FILE-1).
//!
//! Point reads pin through [`SvSlots`]: one cache-padded slot per thread (by a thread-local
//! index), holding that thread's clone of the current super-version. A read locks only its own
//! slot — no shared cache line is written in steady state — and an install empties every slot,
//! so a slot never pins an old super-version past the next read through it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cairn_base::{Error, FileNum, Result, SeqNum};
use cairn_manifest::{NUM_LEVELS, TableMeta, Version};
use cairn_sstable::Table;
use crossbeam::utils::CachePadded;
use parking_lot::Mutex;

use crate::memtable::MemTable;

/// A sealed memtable and the WAL file holding its writes.
#[derive(Debug)]
pub(crate) struct Imm {
    pub mem: Arc<MemTable>,
    pub wal_num: FileNum,
    /// Largest sequence number written to `mem`.
    pub largest_seq: SeqNum,
}

/// Open table handles by file number.
pub(crate) type TableSet = HashMap<FileNum, Arc<Table>>;

/// A table of a level with its manifest record.
#[derive(Debug, Clone)]
pub(crate) struct LevelTable {
    pub meta: Arc<TableMeta>,
    pub table: Arc<Table>,
}

/// One consistent view of the whole tree.
#[derive(Debug)]
pub(crate) struct SuperVersion {
    /// The memtable receiving writes.
    pub mem: Arc<MemTable>,
    /// The WAL receiving writes for `mem`.
    pub mem_wal: FileNum,
    /// Sealed memtables, newest first.
    pub imms: Vec<Arc<Imm>>,
    pub version: Arc<Version>,
    /// Every table of `version`, open.
    pub tables: Arc<TableSet>,
    /// Per level, the tables of `version` in its order, resolved to their open handles, so a
    /// read never looks a table up by number.
    pub levels: Vec<Vec<LevelTable>>,
    /// A table `version` names that is not open (INV-SV-1 broken): reads report it.
    missing: Option<FileNum>,
}

impl SuperVersion {
    /// Builds a super-version, resolving every table of `version` in `tables`.
    pub fn new(
        mem: Arc<MemTable>,
        mem_wal: FileNum,
        imms: Vec<Arc<Imm>>,
        version: Arc<Version>,
        tables: Arc<TableSet>,
    ) -> SuperVersion {
        let mut missing = None;
        let levels = (0..NUM_LEVELS)
            .map(|l| {
                version
                    .level(l)
                    .iter()
                    .filter_map(|meta| match tables.get(&meta.file_num) {
                        Some(t) => Some(LevelTable { meta: meta.clone(), table: t.clone() }),
                        None => {
                            missing.get_or_insert(meta.file_num);
                            None
                        }
                    })
                    .collect()
            })
            .collect();
        SuperVersion { mem, mem_wal, imms, version, tables, levels, missing }
    }

    /// The same tree with other memtables.
    pub fn with_memtables(&self, mem: Arc<MemTable>, mem_wal: FileNum, imms: Vec<Arc<Imm>>) -> SuperVersion {
        SuperVersion {
            mem,
            mem_wal,
            imms,
            version: self.version.clone(),
            tables: self.tables.clone(),
            levels: self.levels.clone(),
            missing: self.missing,
        }
    }

    /// Fails if INV-SV-1 is broken (a bug, reported as corruption rather than a panic).
    pub fn check_complete(&self) -> Result<()> {
        match self.missing {
            None => Ok(()),
            Some(n) => Err(Error::corruption(
                format!("{n}.sst"),
                0,
                "table named by the current version is not open (INV-SV-1)",
            )),
        }
    }

    /// The open table for a file of `version`.
    pub fn table(&self, file_num: FileNum) -> Result<&Arc<Table>> {
        self.tables.get(&file_num).ok_or_else(|| {
            Error::corruption(format!("{file_num}.sst"), 0, "table named by the current version is not open (INV-SV-1)")
        })
    }

    /// Number of level-0 tables.
    pub fn l0_tables(&self) -> usize {
        self.levels[0].len()
    }

    /// The tables that may hold `user_key`, in the order a point read must probe them
    /// (INV-LSM-3): level-0 tables whose range holds the key, newest first, then at most one
    /// table per deeper level.
    #[inline]
    pub fn candidates<'a>(&'a self, user_key: &'a [u8]) -> impl Iterator<Item = &'a Arc<Table>> + 'a {
        let l0 = self.levels[0]
            .iter()
            .filter(move |t| t.meta.smallest.user_key() <= user_key && user_key <= t.meta.largest.user_key());
        let deeper = self.levels[1..].iter().filter_map(move |level| {
            let i = level.partition_point(|t| t.meta.largest.user_key() < user_key);
            level.get(i).filter(|t| t.meta.smallest.user_key() <= user_key)
        });
        l0.chain(deeper).map(|t| &t.table)
    }
}

/// Number of per-thread pinning slots. Threads beyond this share slots (correct, just
/// contended).
const SLOTS: usize = 64;

static NEXT_THREAD_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_SLOT: usize = NEXT_THREAD_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS;
}

/// One thread's pinned clone of the current super-version (`None` after an install).
type Slot = CachePadded<Mutex<Option<Arc<SuperVersion>>>>;

/// Per-thread pinned clones of the current super-version (see the module docs).
pub(crate) struct SvSlots {
    slots: Box<[Slot]>,
}

impl std::fmt::Debug for SvSlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SvSlots").field("slots", &self.slots.len()).finish()
    }
}

impl SvSlots {
    pub fn new() -> SvSlots {
        SvSlots { slots: (0..SLOTS).map(|_| CachePadded::new(Mutex::new(None))).collect() }
    }

    /// Runs `f` on this thread's pinned super-version, loading `current()` into the slot when
    /// it is empty.
    #[inline]
    pub fn with<R>(&self, current: impl FnOnce() -> Arc<SuperVersion>, f: impl FnOnce(&SuperVersion) -> R) -> R {
        let slot = &self.slots[THREAD_SLOT.with(|s| *s)];
        let mut pinned = slot.lock();
        let sv = pinned.get_or_insert_with(current);
        f(sv)
    }

    /// Empties every slot. REQUIRES: called after the new super-version was published, so a
    /// slot refilled after this sees it.
    pub fn clear(&self) {
        for slot in self.slots.iter() {
            let old = slot.lock().take();
            drop(old);
        }
    }
}
