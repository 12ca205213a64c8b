//! Tables on the real file system: the memory-map path serves values without copying and point
//! lookups on it allocate nothing (counted by a per-thread counting allocator in this test binary).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;

use cairn_base::filename::table_path;
use cairn_base::hash::key_hash;
use cairn_base::iter::InternalIterator;
use cairn_base::vfs::{RealFs, Vfs};
use cairn_base::{FileNum, SeqNum};
use cairn_sstable::{Table, TableBuilder, TableOptions, TableReaderOptions};
use common::{Entry, sequential_entries};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Counts allocations made by the current thread; otherwise the system allocator.
struct CountingAlloc;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract holds exactly as it does for `System`; counting touches only a
// const-initialized thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through `alloc` above) with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cairn-sstable-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn write_table(dir: &std::path::Path, es: &[Entry], file_num: FileNum) -> PathBuf {
    let path = table_path(dir, file_num);
    let file = RealFs.create(&path).expect("create");
    let mut b = TableBuilder::new(file, path.clone(), file_num, &TableOptions::default()).expect("builder");
    for e in es {
        b.add(&e.ikey(), &e.value).expect("add");
    }
    let summary = b.finish().expect("finish");
    assert_eq!(summary.size_bytes, std::fs::metadata(&path).expect("stat").len());
    path
}

fn open_table(path: &std::path::Path, file_num: FileNum, use_mmap: bool) -> std::sync::Arc<Table> {
    let file = RealFs.open(path).expect("open");
    Table::open(file, file_num, &TableReaderOptions { use_mmap, cache: None }).expect("open table")
}

#[test]
fn point_get_on_mmap_raw_table_allocates_nothing() {
    let dir = temp_dir("alloc");
    let es = sequential_entries(10_000, 13);
    let path = write_table(&dir, &es, FileNum(5));
    let probes: Vec<(Vec<u8>, u64)> =
        es.iter().step_by(3).map(|e| (e.user_key.clone(), key_hash(&e.user_key))).collect();
    let absent: Vec<(Vec<u8>, u64)> =
        (0..1000).map(|i| format!("absent{i:05}").into_bytes()).map(|k| (k.clone(), key_hash(&k))).collect();

    for (use_mmap, expect_none) in [(true, true), (false, false)] {
        let table = open_table(&path, FileNum(5), use_mmap);
        let warm = table.get(&probes[0].0, probes[0].1, SeqNum(u64::MAX)).expect("get");
        assert!(warm.is_some());
        drop(warm);
        let before = allocations();
        let mut found = 0;
        for (k, h) in probes.iter().chain(&absent) {
            found += usize::from(table.get(k, *h, SeqNum(u64::MAX)).expect("get").is_some());
        }
        let allocated = allocations() - before;
        assert_eq!(found, probes.len());
        if expect_none {
            assert_eq!(allocated, 0, "mmap point lookups must not allocate");
        } else {
            assert!(allocated >= probes.len() as u64, "positioned reads allocate a buffer per block read");
        }
    }
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn mmap_values_are_slices_of_the_map() {
    let dir = temp_dir("zerocopy");
    let es = sequential_entries(2_000, 17);
    let path = write_table(&dir, &es, FileNum(6));
    let table = open_table(&path, FileNum(6), true);
    let e = es.iter().find(|e| !e.value.is_empty()).expect("a non-empty value");
    let (_, _, got) = table.get(&e.user_key, key_hash(&e.user_key), SeqNum(u64::MAX)).expect("get").expect("present");
    let mut it = table.iter();
    it.seek(&e.ikey()).expect("seek");
    assert_eq!(it.key(), &e.ikey()[..]);
    assert_eq!(got.as_ptr(), it.value().as_ptr(), "both views point into the one memory map");
    assert_eq!(it.value_bytes().as_ptr(), got.as_ptr());
    drop(table);
    assert_eq!(&got[..], &e.value[..], "a returned value keeps the map alive after the table is gone");
    assert_eq!(it.value(), &e.value[..], "an iterator keeps its table alive");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn tables_are_send_and_sync_and_shareable_across_threads() {
    fn check<T: Send + Sync>() {}
    check::<Table>();
    fn check_send<T: Send>() {}
    check_send::<cairn_sstable::TableIter>();
    let dir = temp_dir("threads");
    let es = sequential_entries(3_000, 19);
    let path = write_table(&dir, &es, FileNum(8));
    let table = open_table(&path, FileNum(8), true);
    std::thread::scope(|s| {
        for t in 0..2 {
            let (table, es) = (&table, &es);
            s.spawn(move || {
                for e in es.iter().skip(t).step_by(2) {
                    let got = table.get(&e.user_key, key_hash(&e.user_key), SeqNum(u64::MAX)).expect("get");
                    assert_eq!(got.map(|(_, _, v)| v.to_vec()), Some(e.value.clone()));
                }
            });
        }
    });
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
