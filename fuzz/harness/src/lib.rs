//! The bodies of Cairn's cargo-fuzz targets, one plain function per target, so the same code runs
//! under libFuzzer (`fuzz/fuzz_targets/*.rs`, nightly features) and under stable `cargo test`
//! (`tests/corpus.rs` replays every committed corpus file). See `fuzz/README.md`.
//!
//! Each function takes the fuzzer's bytes, drives one part of Cairn with them and *asserts* the
//! part's contract, panicking when it is broken (libFuzzer reports a panic as a crash):
//! * decoders ([`wal_reader`], [`sstable_block`], [`manifest_edit`]) return `Ok` or a typed
//!   `Error::Corruption`/`Error::Unsupported`, never panic, and keep their own consistency
//!   rules (G9);
//! * [`sstable_structured`] and [`batch_replay`] feed structured but damaged or hostile content
//!   through the real writers and readers: a wrong value is a failure (G5);
//! * [`db_ops`] runs an operation sequence against `cairn::Db` and the reference model, with
//!   crashes and injected I/O faults (G1–G4, G6, G7).
//!
//! Allocation bounds are checked by the corpus replay test ([`alloc_bound_bytes`]) and by
//! libFuzzer's `-rss_limit_mb`/`-malloc_limit_mb` during fuzzing. `tests/seeds.rs` builds the
//! structured seed inputs the corpora started from.
#![forbid(unsafe_code)]

mod batch_replay;
mod db_ops;
mod input;
mod manifest_edit;
mod mem_file;
mod sstable_block;
mod sstable_structured;
mod wal_reader;

pub use batch_replay::batch_replay;
pub use db_ops::db_ops;
pub use input::Input;
pub use manifest_edit::manifest_edit;
pub use mem_file::MemFile;
pub use sstable_block::sstable_block;
pub use sstable_structured::sstable_structured;
pub use wal_reader::wal_reader;

use cairn_base::Error;

/// A target's body: takes the fuzzer's bytes, panics when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target, by the name of its fuzz target and corpus directory.
pub const TARGETS: [(&str, Target); 6] = [
    ("wal_reader", wal_reader),
    ("sstable_block", sstable_block),
    ("sstable_structured", sstable_structured),
    ("manifest_edit", manifest_edit),
    ("batch_replay", batch_replay),
    ("db_ops", db_ops),
];

/// The most bytes a decoder target may have allocated at once on the calling thread while
/// reading an input of `input_len` bytes; `None` for targets without a bound (those that run a
/// whole database, whose memory is set by its options, not by the input).
///
/// The factors follow each reader's documented promise: a log reader holds the file and at most
/// one reassembled record (never larger than the file); a table reader holds the file and at
/// most one decompressed block, which the envelope caps at 255 times its compressed size
/// (`cairn_base::envelope`); an edit is never larger than its encoding, times the in-memory
/// overhead of its keys.
pub fn alloc_bound_bytes(target: &str, input_len: usize) -> Option<usize> {
    const SLACK_BYTES: usize = 1 << 20;
    let factor = match target {
        "wal_reader" => 8,
        "manifest_edit" => 32,
        "sstable_block" => 600,
        _ => return None,
    };
    Some(input_len.saturating_mul(factor).saturating_add(SLACK_BYTES))
}

/// Key-value pairs as read back from a database, in key order.
pub(crate) type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Collects a scan, stopping at the first error.
pub(crate) fn collect_all(
    it: impl Iterator<Item = cairn::Result<(bytes::Bytes, bytes::Bytes)>>,
) -> cairn::Result<Pairs> {
    it.map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec()))).collect()
}

/// Panics unless `e` is what a decoder may return for bad bytes: `Corruption` or `Unsupported`.
pub(crate) fn expect_decode_error(call: &str, e: &Error) {
    match e {
        Error::Corruption { .. } | Error::Unsupported { .. } => {}
        other => panic!("{call} returned an error that is neither corruption nor unsupported: {other:?}"),
    }
}

/// A call that failed with an error [`expect_decode_error`] accepted. Messages are dropped on
/// purpose: two read paths may word the same refusal differently, but must agree on whether
/// they refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused;

/// A result with its error checked by [`expect_decode_error`], so results of different read
/// paths compare with `==`.
pub(crate) fn outcome<T>(call: &str, r: cairn_base::Result<T>) -> Result<T, Refused> {
    r.map_err(|e| {
        expect_decode_error(call, &e);
        Refused
    })
}
