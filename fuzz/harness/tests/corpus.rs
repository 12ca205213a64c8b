//! Replays every committed fuzz input through its target under stable Rust, so `cargo test
//! --workspace` covers the fuzzers (fuzz/README.md#corpus-replay).
//!
//! For target `T`, every file of `fuzz/corpus/T/` and of `fuzz/regressions/T/` runs through the
//! harness function `T`, which panics when an invariant breaks; a panic here names the file.
//! Reproducers of bugs not fixed yet are listed in [`KNOWN_FAILURES`] and skipped, so CI stays
//! green until the owning crate is fixed; remove the entry with the fix.
//!
//! For the decoder targets, the bytes allocated at once on the replaying thread are measured with
//! a counting global allocator and held to `alloc_bound_bytes` (G9: no allocation beyond the
//! input's size).
#![deny(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};

use cairn_fuzz_harness::alloc_bound_bytes;

/// Corpus files larger than this are refused: the corpora are committed and must stay small.
const MAX_INPUT_BYTES: usize = 64 << 10;

/// Reproducers of open bugs in other crates: `(target, file name, what breaks)`. Their files stay
/// under `fuzz/regressions/<target>/`; each entry goes away with its fix.
const KNOWN_FAILURES: &[(&str, &str, &str)] = &[];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The files of `dir`, sorted; empty when `dir` does not exist.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> =
        entries.map(|e| e.expect("read a corpus directory entry").path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

fn known_failure(target: &str, file: &Path) -> Option<&'static str> {
    let name = file.file_name()?.to_str()?;
    KNOWN_FAILURES.iter().find(|(t, f, _)| *t == target && *f == name).map(|(_, _, why)| *why)
}

/// Replays the corpus and the regressions of `target`.
fn replay(target: &str, run: fn(&[u8])) {
    let corpus = files_in(&fuzz_dir().join("corpus").join(target));
    assert!(!corpus.is_empty(), "fuzz/corpus/{target}/ holds no input");
    let regressions = files_in(&fuzz_dir().join("regressions").join(target));
    for file in corpus.iter().chain(&regressions) {
        if let Some(why) = known_failure(target, file) {
            eprintln!("skipping known failure {} ({why})", file.display());
            continue;
        }
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        assert!(data.len() <= MAX_INPUT_BYTES, "{} is larger than {MAX_INPUT_BYTES} bytes", file.display());
        let peak_bytes = run_counting(file, run, &data);
        if let Some(bound) = alloc_bound_bytes(target, data.len()) {
            assert!(
                peak_bytes <= bound,
                "{} made {target} allocate {peak_bytes} bytes at once (bound {bound} for {} input bytes)",
                file.display(),
                data.len()
            );
        }
    }
}

/// Runs one input; returns the most bytes this thread held allocated at once during the run, on
/// top of what it held before. A panic is re-raised naming the file.
fn run_counting(file: &Path, run: fn(&[u8]), data: &[u8]) -> usize {
    let base = LIVE_BYTES.with(Cell::get);
    PEAK_BYTES.with(|p| p.set(base));
    if let Err(panic) = std::panic::catch_unwind(|| run(data)) {
        let msg = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(non-string panic)");
        panic!("{} breaks its target: {msg}", file.display());
    }
    PEAK_BYTES.with(Cell::get).saturating_sub(base)
}

#[test]
fn wal_reader_corpus() {
    replay("wal_reader", cairn_fuzz_harness::wal_reader);
}

#[test]
fn sstable_block_corpus() {
    replay("sstable_block", cairn_fuzz_harness::sstable_block);
}

#[test]
fn sstable_structured_corpus() {
    replay("sstable_structured", cairn_fuzz_harness::sstable_structured);
}

#[test]
fn manifest_edit_corpus() {
    replay("manifest_edit", cairn_fuzz_harness::manifest_edit);
}

#[test]
fn batch_replay_corpus() {
    replay("batch_replay", cairn_fuzz_harness::batch_replay);
}

#[test]
fn db_ops_corpus() {
    replay("db_ops", cairn_fuzz_harness::db_ops);
}

/// Reproducers whose failure depended on background timing (how many I/O calls a flush or
/// compaction made before an armed fault): each failed about one run in six before its fix, so
/// they replay many times here (the chance that 20 runs all miss is under 3 %).
#[test]
fn timing_dependent_db_ops_regressions_replay_many_times() {
    let dir = fuzz_dir().join("regressions").join("db_ops");
    let files: Vec<PathBuf> = files_in(&dir)
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n.to_string_lossy().starts_with("read-fault-armed-across-a-drop")))
        .collect();
    assert_eq!(files.len(), 2, "the drop-without-close reproducers are in {}", dir.display());
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for _ in 0..20 {
            cairn_fuzz_harness::db_ops(&data);
        }
    }
}

#[test]
fn every_target_has_a_corpus_and_a_fuzz_target() {
    for (target, _) in cairn_fuzz_harness::TARGETS {
        assert!(fuzz_dir().join("corpus").join(target).is_dir(), "no corpus for {target}");
        let wrapper = fuzz_dir().join("fuzz_targets").join(format!("{target}.rs"));
        let text = std::fs::read_to_string(&wrapper).unwrap_or_else(|e| panic!("{}: {e}", wrapper.display()));
        assert!(
            text.contains(&format!("cairn_fuzz_harness::{target}(")),
            "{} does not call its harness",
            wrapper.display()
        );
    }
}

#[test]
fn counting_allocator_sees_this_threads_allocations() {
    let peak =
        run_counting(Path::new("self-test"), |d| drop(std::hint::black_box(vec![0u8; d.len() * 1000])), &[0; 64]);
    assert!(peak >= 64_000, "the counting allocator missed a 64 kB allocation (saw {peak})");
}

// Per-thread allocation accounting. `const` thread-locals without destructors never allocate, so
// they are safe to touch from inside the allocator.
thread_local! {
    static LIVE_BYTES: Cell<usize> = const { Cell::new(0) };
    static PEAK_BYTES: Cell<usize> = const { Cell::new(0) };
}

fn count_alloc(size_bytes: usize) {
    let _ = LIVE_BYTES.try_with(|live| {
        let now = live.get().saturating_add(size_bytes);
        live.set(now);
        let _ = PEAK_BYTES.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn count_free(size_bytes: usize) {
    let _ = LIVE_BYTES.try_with(|live| live.set(live.get().saturating_sub(size_bytes)));
}

/// The system allocator, counting bytes per thread.
struct Counting;

#[expect(unsafe_code, reason = "a global allocator is unsafe by signature; it only forwards to System")]
// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the counting beside it touches only `const` thread-locals.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_alloc(layout.size());
        // SAFETY: the caller's `layout` obligations are passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_alloc(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count_free(layout.size());
        // SAFETY: `ptr` was allocated by `System` with `layout` (every allocation goes through
        // this allocator, which forwards to `System`).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_alloc(new_size);
        count_free(layout.size());
        // SAFETY: as for `dealloc`; `new_size` obligations are the caller's, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;
