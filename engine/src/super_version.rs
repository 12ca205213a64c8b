//! The super-version: the active memtable, the sealed memtables waiting for flush, the
//! current `Version` and the open tables it names, published together as one immutable value.
//!
//! Readers pin a super-version and read everything from it, so a read never sees half of a
//! flush or compaction. A new super-version is installed (under the version set's lock, so
//! installs are serialized, INV-SV-2) on every memtable switch, flush and compaction. Tables
//! named by a pinned super-version stay open and their files stay on disk (INV-FILE-1).
//!
//! Point reads pin through [`SvSlots`]: one cache-padded slot per thread (by a thread-local
//! index), holding that thread's clone of the current super-version. A read takes its slot's
//! clone with one compare-exchange and puts it back with a store, without a lock and without
//! writing a cache line another core uses; an install bumps an epoch and empties every slot
//! (waiting for the reads in flight), and a read that still finds a clone pinned before the last
//! install reloads, so no slot pins an old super-version past the install's sweep.
//!
//! `SvSlots` takes its atomics (and, under loom, its thread-local slot index) from
//! `crate::sync`; the loom model at the bottom checks that a reader pinning through a slot,
//! an installer publishing and clearing, and a deleter applying the deferred-deletion rule of
//! `VersionSet::delete_unreferenced` never let a reader see a deleted table, and that no slot
//! keeps an old table alive (docs/testing.md#loom-models). The slots hold `std::sync::Arc`s, not
//! the shim's: they share `Inner::current`'s `Arc`, and the deletion rule needs
//! `Weak::strong_count`, which loom's `Arc` lacks.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use cairn_base::{Error, FileNum, Result, SeqNum};
use cairn_manifest::{NUM_LEVELS, TableMeta, Version};
use cairn_sstable::Table;
use crossbeam::utils::CachePadded;

use crate::memtable::MemTable;
use crate::sync::{AtomicPtr, AtomicUsize, Ordering, fence, seqcst_after_rmw, spin_wait, thread_local};

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

/// This thread's slot and the number of reads it has started (for [`SvSlots::with`]'s tags).
struct ThreadSlot {
    index: usize,
    reads: std::cell::Cell<usize>,
}

thread_local! {
    static THREAD_SLOT: ThreadSlot = ThreadSlot {
        index: NEXT_THREAD_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS,
        reads: std::cell::Cell::new(0),
    };
}

/// True if a slot word is a read's tag (odd), not null or a pointer from `Arc::into_raw` (the
/// value follows the two reference counts in an allocation aligned for them, so its address is a
/// multiple of `usize`'s alignment, hence even).
fn is_tag<T>(word: *mut T) -> bool {
    word.addr() & 1 == 1
}

/// One thread's pinned clone of the current super-version.
struct Slot<T> {
    /// Null (nothing pinned), a pointer from `Arc::into_raw` whose strong count the slot owns, or,
    /// while a read through the slot runs, that read's tag: an odd number unique to the read
    /// among recent ones (the thread's read count, shifted), so [`SvSlots::clear`] can tell the
    /// read it waits for from a later one.
    sv: AtomicPtr<T>,
    /// The install epoch the pinned super-version was loaded at. Read and written only by the
    /// read holding the slot (the one whose tag is in `sv`), so `Relaxed` suffices: the slot
    /// word's compare-exchange and store hand ownership from one read to the next.
    epoch: AtomicUsize,
}

/// Per-thread pinned clones of the current super-version (see the module docs). Generic only
/// so the loom model can pin a stand-in; the engine uses `SvSlots<SuperVersion>`.
pub(crate) struct SvSlots<T = SuperVersion> {
    slots: Box<[CachePadded<Slot<T>>]>,
    /// Bumped by every [`SvSlots::clear`]; a slot pinned at an older epoch is stale.
    epoch: AtomicUsize,
    /// The slots own `Arc<T>`s: be `Send`/`Sync` only when those are.
    _owns: PhantomData<Arc<T>>,
}

impl<T> std::fmt::Debug for SvSlots<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SvSlots").field("slots", &self.slots.len()).finish()
    }
}

/// Puts a read's super-version back into its slot when the read ends, panicking or not.
struct Restore<'a, T> {
    slot: &'a Slot<T>,
    sv: Option<Arc<T>>,
}

impl<T> Drop for Restore<'_, T> {
    fn drop(&mut self) {
        let sv = self.sv.take().map_or(std::ptr::null_mut(), |sv| Arc::into_raw(sv).cast_mut());
        // Release: the next owner of the slot (this thread's next read, or `clear`) sees the
        // super-version and the epoch as this read left them.
        self.slot.sv.store(sv, Ordering::Release);
    }
}

impl<T> SvSlots<T> {
    pub fn new() -> SvSlots<T> {
        let slot = || CachePadded::new(Slot { sv: AtomicPtr::new(std::ptr::null_mut()), epoch: AtomicUsize::new(0) });
        SvSlots { slots: (0..SLOTS).map(|_| slot()).collect(), epoch: AtomicUsize::new(0), _owns: PhantomData }
    }

    /// Runs `f` on this thread's pinned super-version, loading `current()` into the slot when
    /// it is empty or was pinned before the last [`SvSlots::clear`].
    ///
    /// Steady state costs one compare-exchange and one store on this thread's own cache line,
    /// and no lock: the compare-exchange takes the slot's super-version out (leaving the read's
    /// tag), the store puts it back. A thread whose slot is held by another thread's read (more
    /// threads than slots), or was emptied by an install at this instant, reads through a fresh
    /// clone instead.
    #[inline]
    #[expect(unsafe_code, reason = "slots hold raw Arc pointers; see docs/unsafe.md")]
    pub fn with<R>(&self, current: impl FnOnce() -> Arc<T>, f: impl FnOnce(&T) -> R) -> R {
        let (index, reads) = THREAD_SLOT.with(|t| {
            let reads = t.reads.get().wrapping_add(1);
            t.reads.set(reads);
            (t.index, reads)
        });
        let slot = &self.slots[index];
        let tag: *mut T = std::ptr::without_provenance_mut(reads << 1 | 1);
        let taken = slot.sv.load(Ordering::Relaxed);
        // SeqCst (with the load of `epoch` below): see `clear` for why a read that starts after
        // an install's sweep looked at this slot must see that install's epoch.
        if is_tag(taken) || slot.sv.compare_exchange(taken, tag, Ordering::SeqCst, Ordering::Relaxed).is_err() {
            return f(&current());
        }
        seqcst_after_rmw();
        let epoch = self.epoch.load(Ordering::SeqCst);
        // SAFETY: a slot holds null, a tag, or a pointer from `Arc::into_raw` whose strong count
        // the slot owns (`Restore::drop`); the compare-exchange above replaced that pointer by
        // this read's tag, making this thread the only owner of its count.
        let pinned = (!taken.is_null()).then(|| unsafe { Arc::from_raw(taken) });
        // From here on the slot is put back whatever happens, `current()` panicking included.
        let mut restore = Restore { slot, sv: None };
        let sv = match pinned {
            Some(sv) if slot.epoch.load(Ordering::Relaxed) == epoch => sv,
            // Empty, or pinned before the last install. The epoch was read before `current()`,
            // so an install racing with this line makes the next read reload again: never stale.
            _ => {
                drop(pinned);
                slot.epoch.store(epoch, Ordering::Relaxed);
                current()
            }
        };
        f(restore.sv.insert(sv))
    }

    /// Empties every slot, so that no slot pins a super-version older than the one just
    /// published. REQUIRES: called after the new super-version was published, so a slot refilled
    /// after this sees it.
    ///
    /// A slot held by a read is waited for until its word changes: the read put its
    /// super-version back (emptied here), or a later read took the slot. That later read sees
    /// the new epoch and reloads by itself: this sweep's load of the slot read a value older
    /// than the later read's compare-exchange, so in the single total order of `SeqCst`
    /// operations the epoch bump (and the fence after it) come before that compare-exchange, and
    /// the read's `SeqCst` load of the epoch after it. (With fences on both sides, as in the
    /// loom build: had the read's fence come first, this sweep's load would have seen its tag.)
    /// The wait is at most as long as the longest read in flight: tags change with every read.
    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        // Empty the idle slots first, then wait for the busy ones all together, so a sweep waits
        // for the longest read in flight rather than for the sum of them.
        let mut busy = Vec::new();
        for slot in self.slots.iter() {
            let cur = slot.sv.load(Ordering::SeqCst);
            if is_tag(cur) {
                busy.push((slot, cur));
            } else {
                Self::empty(slot, cur);
            }
        }
        while !busy.is_empty() {
            spin_wait();
            busy.retain(|&(slot, tag)| {
                let cur = slot.sv.load(Ordering::SeqCst);
                if cur == tag {
                    return true;
                }
                if !is_tag(cur) {
                    Self::empty(slot, cur);
                }
                false
            });
        }
    }

    /// Takes `cur` (null or a pinned pointer, just loaded from `slot`) out of `slot`, unless the
    /// slot changed since: then a read took it, and that read sees the new epoch (see `clear`).
    #[expect(unsafe_code, reason = "slots hold raw Arc pointers; see docs/unsafe.md")]
    fn empty(slot: &Slot<T>, cur: *mut T) {
        if !cur.is_null()
            && slot.sv.compare_exchange(cur, std::ptr::null_mut(), Ordering::SeqCst, Ordering::SeqCst).is_ok()
        {
            // SAFETY: the compare-exchange moved the slot's strong count to this thread (see
            // `with`).
            drop(unsafe { Arc::from_raw(cur) });
        }
    }
}

impl<T> Drop for SvSlots<T> {
    #[expect(unsafe_code, reason = "slots hold raw Arc pointers; see docs/unsafe.md")]
    fn drop(&mut self) {
        for slot in self.slots.iter() {
            let cur = slot.sv.swap(std::ptr::null_mut(), Ordering::Acquire);
            if !cur.is_null() && !is_tag(cur) {
                // SAFETY: `&mut self`: no read is running, so the slot owns this strong count.
                drop(unsafe { Arc::from_raw(cur) });
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod slot_tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::{SLOTS, SvSlots};

    #[test]
    fn a_slot_pins_one_clone_until_cleared() {
        let slots = SvSlots::<u32>::new();
        let current = Arc::new(7);
        let loads = AtomicUsize::new(0);
        let load = || {
            loads.fetch_add(1, Ordering::Relaxed);
            current.clone()
        };
        for _ in 0..3 {
            assert_eq!(slots.with(load, |v| *v), 7);
        }
        assert_eq!(loads.load(Ordering::Relaxed), 1, "steady-state reads reuse the pinned clone");
        assert_eq!(Arc::strong_count(&current), 2, "the slot holds one clone");
        slots.clear();
        assert_eq!(Arc::strong_count(&current), 1, "clear releases it");
        slots.with(load, |_| ());
        assert_eq!(loads.load(Ordering::Relaxed), 2, "the read after an install reloads");
        drop(slots);
        assert_eq!(Arc::strong_count(&current), 1, "dropping the slots releases what they pin");
    }

    #[test]
    fn a_panicking_read_puts_its_super_version_back() {
        let slots = SvSlots::<u32>::new();
        let current = Arc::new(1);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            slots.with(|| current.clone(), |_| panic!("a read fails"));
        }));
        assert!(r.is_err());
        assert_eq!(Arc::strong_count(&current), 2, "the slot holds its clone again, not in use");
        slots.clear(); // would wait forever on a slot left in use
        assert_eq!(Arc::strong_count(&current), 1);
        // The same when loading the super-version itself panics.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            slots.with(|| panic!("loading fails"), |_: &u32| ());
        }));
        assert!(r.is_err());
        slots.clear();
        assert_eq!(slots.with(|| current.clone(), |v| *v), 1, "the slot works again");
    }

    #[test]
    fn more_threads_than_slots_read_the_latest_install() {
        let slots = Arc::new(SvSlots::<u64>::new());
        let current = Arc::new(parking_lot::Mutex::new(Arc::new(0u64)));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // More threads than slots, so some share one; each yields between reads, as a thread
        // with anything else to do would (the test machine may have two cores).
        let readers: Vec<_> = (0..SLOTS + 8)
            .map(|_| {
                let (slots, current, stop) = (slots.clone(), current.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut last = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let seen = slots.with(|| current.lock().clone(), |v| *v);
                        assert!(seen >= last, "a read went back from {last} to {seen}");
                        last = seen;
                        std::thread::yield_now();
                    }
                })
            })
            .collect();
        let mut installed = Vec::new();
        let installs: u64 = if cfg!(miri) { 3 } else { 20 };
        for v in 1..=installs {
            let sv = Arc::new(v);
            installed.push(Arc::downgrade(&sv));
            *current.lock() = sv;
            slots.clear();
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().expect("readers do not panic");
        }
        assert_eq!(slots.with(|| current.lock().clone(), |v| *v), installs);
        slots.clear();
        let pinned: Vec<usize> = installed.iter().map(std::sync::Weak::strong_count).collect();
        let (last, replaced) = pinned.split_last().expect("at least one install");
        assert!(replaced.iter().all(|&n| n == 0), "a slot still pins a replaced install: {pinned:?}");
        assert_eq!(*last, 1, "only `current` holds the last one");
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
