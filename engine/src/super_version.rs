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
//!
//! `SvSlots` takes its locks (and, under loom, its thread-local slot index) from
//! `crate::sync`; the loom model at the bottom checks that a reader pinning through a slot,
//! an installer publishing and clearing, and a deleter applying the deferred-deletion rule of
//! `VersionSet::delete_unreferenced` never let a reader see a deleted table, and that no slot
//! keeps an old table alive (docs/testing.md#loom-models). The slots hold `std::sync::Arc`s, not
//! the shim's: they share `Inner::current`'s `Arc`, and the deletion rule needs
//! `Weak::strong_count`, which loom's `Arc` lacks.

use std::collections::HashMap;
use std::sync::Arc;

use cairn_base::{Error, FileNum, Result, SeqNum};
use cairn_manifest::{NUM_LEVELS, TableMeta, Version};
use cairn_sstable::Table;
use crossbeam::utils::CachePadded;

use crate::memtable::MemTable;
use crate::sync::{AtomicUsize, Mutex, Ordering, thread_local};

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
#[cfg(not(loom))]
const SLOTS: usize = 64;
/// Under loom: few slots, so clearing them all stays a small model.
#[cfg(loom)]
const SLOTS: usize = 2;

#[cfg(not(loom))]
static NEXT_THREAD_SLOT: AtomicUsize = AtomicUsize::new(0);

#[cfg(loom)]
loom::lazy_static! {
    // One counter per loom execution, so every execution hands out the same slots.
    static ref NEXT_THREAD_SLOT: AtomicUsize = AtomicUsize::new(0);
}

thread_local! {
    static THREAD_SLOT: usize = NEXT_THREAD_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS;
}

/// One thread's pinned clone of the current super-version (`None` after an install).
type Slot<T> = CachePadded<Mutex<Option<Arc<T>>>>;

/// Per-thread pinned clones of the current super-version (see the module docs). Generic only
/// so the loom model can pin a stand-in; the engine uses `SvSlots<SuperVersion>`.
pub(crate) struct SvSlots<T = SuperVersion> {
    slots: Box<[Slot<T>]>,
}

impl<T> std::fmt::Debug for SvSlots<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SvSlots").field("slots", &self.slots.len()).finish()
    }
}

impl<T> SvSlots<T> {
    pub fn new() -> SvSlots<T> {
        SvSlots { slots: (0..SLOTS).map(|_| CachePadded::new(Mutex::new(None))).collect() }
    }

    /// Runs `f` on this thread's pinned super-version, loading `current()` into the slot when
    /// it is empty.
    #[inline]
    pub fn with<R>(&self, current: impl FnOnce() -> Arc<T>, f: impl FnOnce(&T) -> R) -> R {
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

/// Loom model of pinning vs installing vs deleting: stand-ins for tables and super-versions,
/// the real `SvSlots`, and the deferred-deletion rule of `VersionSet::delete_unreferenced`.
#[cfg(all(test, loom))]
mod loom_models {
    use std::collections::BTreeSet;
    use std::sync::{Arc, Weak};

    use super::SvSlots;
    use crate::sync::{Mutex, check_model};

    /// Stand-in for an open `Table`: its file number.
    #[derive(Debug)]
    struct FakeTable {
        file: u64,
    }

    /// Stand-in for a `SuperVersion`: the tables it keeps open.
    #[derive(Debug)]
    struct FakeSv {
        tables: Vec<Arc<FakeTable>>,
    }

    /// One database's worth of shared state, named after the engine's fields.
    struct World {
        slots: SvSlots<FakeSv>,
        /// `Inner::current`.
        current: Mutex<Arc<FakeSv>>,
        /// `VersionSet::obsolete`, guarded like the version set (installs and deletions
        /// hold it).
        obsolete: Mutex<Vec<(u64, Weak<FakeTable>)>>,
        /// The table files on disk.
        files: Mutex<BTreeSet<u64>>,
    }

    impl World {
        /// Table 1 is current; tables `2..=last_file` are written, to be installed in turn.
        fn new(last_file: u64) -> World {
            let current = Arc::new(FakeSv { tables: vec![Arc::new(FakeTable { file: 1 })] });
            World {
                slots: SvSlots::new(),
                current: Mutex::new(current),
                obsolete: Mutex::new(Vec::new()),
                files: Mutex::new((1..=last_file).collect()),
            }
        }

        /// A point read (`Inner::with_super_version`): every table the pinned super-version
        /// names must still have its file. Returns the files it saw.
        fn read(&self) -> Vec<u64> {
            self.slots.with(
                || self.current.lock().clone(),
                |sv| {
                    let files: Vec<u64> = sv.tables.iter().map(|t| t.file).collect();
                    for file in &files {
                        assert!(self.files.lock().contains(file), "a reader observed deleted table {file}");
                    }
                    files
                },
            )
        }

        /// A compaction replacing the current table by table `file`: records the old one as
        /// obsolete and publishes the new super-version (`VersionSet::log_and_apply`), then
        /// empties the slots (`Inner::install`), all under the version set's lock.
        fn install(&self, file: u64) {
            let mut obsolete = self.obsolete.lock();
            let next = Arc::new(FakeSv { tables: vec![Arc::new(FakeTable { file })] });
            let old = std::mem::replace(&mut *self.current.lock(), next);
            obsolete.extend(old.tables.iter().map(|t| (t.file, Arc::downgrade(t))));
            drop(old);
            self.slots.clear();
        }

        /// `VersionSet::delete_unreferenced`'s rule: delete an obsolete table's file only once
        /// no strong reference to its table is left.
        fn delete_unreferenced(&self) {
            let mut obsolete = self.obsolete.lock();
            obsolete.retain(|(file, weak)| {
                if weak.strong_count() > 0 {
                    return true;
                }
                self.files.lock().remove(file);
                false
            });
        }
    }

    /// Spawns a reader doing `reads` point reads; it returns what each saw.
    fn spawn_reader(world: &Arc<World>, reads: usize) -> loom::thread::JoinHandle<Vec<Vec<u64>>> {
        let world = world.clone();
        loom::thread::spawn(move || (0..reads).map(|_| world.read()).collect())
    }

    /// Reads through one slot never go back to an older super-version (file numbers only
    /// grow from one install to the next).
    fn check_monotonic(reads: &[Vec<u64>]) {
        assert!(
            reads.windows(2).all(|r| r[0] <= r[1]),
            "a later read through a slot saw an older super-version: {reads:?}"
        );
    }

    /// After every thread finished: a read sees the last install, and once the deleter runs
    /// again only the last table's file is left (no slot kept a replaced table alive).
    fn check_settled(world: &World, last_file: u64) {
        assert_eq!(world.read(), vec![last_file], "a read after the installs must see the last one");
        world.delete_unreferenced();
        assert!(world.obsolete.lock().is_empty(), "a slot kept a replaced table alive");
        assert_eq!(*world.files.lock(), BTreeSet::from([last_file]));
    }

    #[test]
    fn loom_pinned_super_version_keeps_its_tables_until_unpinned() {
        check_model("super-version: 1 reader x 2 reads vs 1 install vs delete", || {
            let world = Arc::new(World::new(2));
            let reader = spawn_reader(&world, 2);
            let installer = {
                let world = world.clone();
                loom::thread::spawn(move || world.install(2))
            };
            world.delete_unreferenced();
            check_monotonic(&reader.join().expect("the reader does not panic"));
            installer.join().expect("the installer does not panic");
            check_settled(&world, 2);
        });
    }

    #[test]
    fn loom_two_readers_pin_through_their_slots_across_two_installs() {
        check_model("super-version: 2 readers x 2 reads vs 2 installs vs delete", || {
            let world = Arc::new(World::new(3));
            let readers = [spawn_reader(&world, 2), spawn_reader(&world, 2)];
            let installer = {
                let world = world.clone();
                loom::thread::spawn(move || {
                    world.install(2);
                    world.install(3);
                })
            };
            world.delete_unreferenced();
            for reader in readers {
                check_monotonic(&reader.join().expect("readers do not panic"));
            }
            installer.join().expect("the installer does not panic");
            check_settled(&world, 3);
        });
    }
}
