//! Cairn's shared vocabulary: the words every other crate speaks.
//!
//! Internal crate, released in lockstep with `cairn`; only `cairn` is a public promise.
//!
//! * [`SeqNum`], [`ValueKind`], [`FileNum`] and the internal key encoding ([`key`]):
//!   `user_key ++ trailer`, ordered by user key ascending, then sequence number descending.
//!   The canonical text form of an internal key is `a#2,SET` (see [`key::fmt_internal_key`]).
//! * [`Error`]: the one error type, with structured variants.
//! * [`coding`]: little-endian fixed-width integers and varints, and a bounds-checked reader.
//! * [`checksum`]: CRC-32 bound to a file number and an offset, so a block read from the wrong
//!   place fails its check (misdirected reads and writes are detected).
//! * [`vfs`]: the file-system trait every I/O goes through, and the real implementation.
//! * [`envelope`]: the per-block trailer (codec byte + checksum) shared by every file kind.
//! * [`iter`]: the internal iterator contract and the merging iterator.
//! * [`filename`]: the strict file-name patterns of a database directory.
//! * [`prefetch`]: the cache-line prefetch hint batched lookups use.
//! * [`json`]: JSON string literals for the tools' machine-readable output.
//!
//! The iterator contract (numbered so code can cite it):
//! 1. ITER-1: an iterator is either positioned on an entry (`valid()`) or not; `key()` and
//!    `value()` may only be called when valid.
//! 2. ITER-2: entries are yielded in internal-key order (user key ascending, seq descending).
//! 3. ITER-3: any positioning method may return an error; after an error the iterator is
//!    invalid and the error is never swallowed.
#![deny(unsafe_code)]

pub mod checksum;
pub mod coding;
pub mod envelope;
pub mod error;
pub mod filename;
pub mod hash;
pub mod iter;
pub mod json;
pub mod key;
pub mod prefetch;
pub mod vfs;

pub use error::{Error, Result};
pub use key::{FileNum, InternalKey, SeqNum, ValueKind};
