//! Cairn's sorted tables (docs/format/sstable.md): immutable files of internal entries with
//! prefix-compressed blocks, one blocked Bloom filter, an in-memory index, typed properties and a
//! checksummed frame; a writer ([`TableBuilder`]), a reader over a memory map or positioned reads
//! ([`Table`], [`TableIter`]) and a sharded block cache ([`BlockCache`]).
//!
//! Internal crate, released in lockstep with `cairn`; only `cairn` is a public promise.
//!
//! Reading order: `footer` (the file frame) → `block` (entries and restart points) → `index` →
//! `filter` → `properties` → `builder` (how a table is written) → `table` (how it is read) →
//! `cache`.
#![forbid(unsafe_code)]

mod block;
mod builder;
mod cache;
mod filter;
mod footer;
mod index;
mod properties;
mod table;

pub use builder::{
    MAX_BLOCK_SIZE_BYTES, MAX_BLOOM_BITS_PER_KEY, MAX_ENTRY_BYTES, TableBuilder, TableOptions, TableSummary,
    WRITE_CHUNK_BYTES,
};
pub use cache::{BlockCache, CacheMetrics};
pub use cairn_base::envelope::Compression;
pub use footer::{FORMAT_VERSION, TABLE_MAGIC};
pub use properties::TableProperties;
pub use table::{ManyPlan, Table, TableIter, TableReaderOptions, ValueRef};
