//! Cairn's log: checksummed record framing shared by the write-ahead log and the manifest log,
//! its writer, its reader, and the recovery rule that tells a torn tail from corruption.
//!
//! Internal crate, released in lockstep with `cairn`; only `cairn` is a public promise.
//! The format is specified in `docs/format/wal.md`.
//!
//! * [`LogWriter`] appends logical records, one `append` per record, each stamped with the
//!   number of bytes already synced (`synced_upto`).
//! * [`LogReader`] returns the records of a whole file in order. A bad fragment whose bytes a
//!   later record declares synced is `Error::Corruption`; otherwise it is a torn tail, reported
//!   as [`LogEnd::TornTail`], and nothing after it is returned (recovery yields a prefix).
//! * [`format`](mod@format) holds the byte layout (header, blocks, fragments) for tools that dump logs.
//!
//! Modules: `format.rs` (layout), `writer.rs`, `reader.rs`, `recovery.rs` (the witness scan).
#![forbid(unsafe_code)]

pub mod format;
mod reader;
mod recovery;
mod writer;

pub use format::LogKind;
pub use reader::{LogEnd, LogReader};
pub use writer::LogWriter;
