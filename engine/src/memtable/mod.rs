//! The memtable: recent writes, in memory, ordered by internal key (user key ascending,
//! sequence number descending), until a flush turns them into an SSTable (DESIGN.md §5, §6).
//!
//! Owns the engine-facing API: inserting versions, the newest-visible lookup and the internal
//! iterator. The ordered structure is the arena-backed skiplist in `skiplist.rs` (all of this
//! module's `unsafe` code lives there and in `arena.rs`; docs/unsafe.md explains why). Leaves
//! to the engine: assigning unique sequence numbers, deciding when the memtable is full
//! ([`MemTable::approximate_size_bytes`] against the budget), and hiding tombstones from users.
//!
//! Concurrency: the engine's commit leader inserts while any number of readers run. Inserts
//! serialize on an internal writer lock that readers never touch; readers take no lock,
//! allocate nothing and copy nothing. An entry is visible to readers as soon as `insert`
//! returns (the engine decides, by sequence number, which entries a read may see).
//!
//! The skiplist's atomics and writer lock come from `crate::sync`, so `loom_models.rs` can
//! check the writer/reader protocol under loom (docs/testing.md#loom-models).
//!
//! Memory: keys (encoded as internal keys) and values live in the arena; nothing is freed
//! until the memtable is dropped. An iterator keeps its memtable alive through an `Arc`.
//!
//! Nothing here is persisted, so there is no on-disk format; the WAL is what makes memtable
//! contents durable.

mod arena;
mod skiplist;

// The ordinary tests use real threads, which loom's primitives refuse outside a model.
#[cfg(all(test, not(loom)))]
mod tests;

#[cfg(all(test, loom))]
mod loom_models;

use std::fmt;
use std::sync::Arc;

use cairn_base::error::{Error, Result};
use cairn_base::iter::InternalIterator;
use cairn_base::key::{self as ikey, MAX_SEQ, SeqNum, TRAILER_BYTES, ValueKind};

use self::skiplist::{Cursor, Node, SkipList};

/// A concurrent, arena-backed, ordered in-memory table of internal entries.
pub struct MemTable {
    list: SkipList,
}

impl fmt::Debug for MemTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemTable")
            .field("entries", &self.entries())
            .field("approximate_size_bytes", &self.approximate_size_bytes())
            .field("reserved_bytes", &self.reserved_bytes())
            .finish()
    }
}

impl Default for MemTable {
    fn default() -> Self {
        MemTable::new()
    }
}

impl MemTable {
    /// An empty memtable. Reserves only a small first arena chunk (4 KiB); chunks grow to
    /// 1 MiB as it fills.
    pub fn new() -> MemTable {
        MemTable { list: SkipList::new(arena::MAX_CHUNK_BYTES) }
    }

    /// A memtable whose arena chunks stop growing at `max_chunk_bytes`, so tests can cross
    /// chunk boundaries with small data.
    #[cfg(all(test, not(loom)))]
    fn with_max_chunk_bytes(max_chunk_bytes: usize) -> MemTable {
        MemTable { list: SkipList::new(max_chunk_bytes) }
    }

    /// Adds the entry `user_key#seq,kind -> value`. Readers see it once this returns.
    ///
    /// REQUIRES: `seq <= MAX_SEQ`, and no entry with the same user key, sequence number and
    /// kind was inserted before (the engine never reuses a sequence number); key and value
    /// are each shorter than 4 GiB. Violations panic; nothing is inserted then.
    pub fn insert(&self, user_key: &[u8], seq: SeqNum, kind: ValueKind, value: &[u8]) {
        assert!(seq <= MAX_SEQ, "REQUIRES: sequence numbers fit in 56 bits");
        self.list.insert(user_key, ikey::pack_trailer(seq, kind), value);
    }

    /// The newest entry for `user_key` with sequence number `<= seq` (tombstones included):
    /// its kind, sequence number and value. Takes no lock, allocates and copies nothing.
    pub fn get(&self, user_key: &[u8], seq: SeqNum) -> Option<(ValueKind, SeqNum, &[u8])> {
        // No entry is newer than MAX_SEQ, so a larger snapshot sees the same as MAX_SEQ.
        let seq = seq.min(MAX_SEQ);
        let node = self.list.seek_ge(user_key, ikey::pack_trailer(seq, ValueKind::SEEK))?;
        let key = node.key();
        if ikey::user_key(key) != user_key {
            return None;
        }
        let trailer = ikey::trailer(key);
        Some((kind_of(trailer), SeqNum(trailer >> 8), node.value()))
    }

    /// Arena bytes in use, including per-entry overhead (the node header and tower, 16–104
    /// bytes) and alignment: what the engine compares against the memtable budget. Grows
    /// with every insert.
    pub fn approximate_size_bytes(&self) -> usize {
        self.list.in_use_bytes()
    }

    /// Heap bytes the arena holds: [`MemTable::approximate_size_bytes`] plus the unused tail
    /// of the current chunk. For memory metrics.
    pub fn reserved_bytes(&self) -> usize {
        self.list.reserved_bytes()
    }

    /// Entries inserted (every version and tombstone counts).
    pub fn entries(&self) -> usize {
        self.list.len()
    }

    /// True when nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.entries() == 0
    }

    /// An internal iterator over every entry, in internal-key order. It keeps this memtable
    /// alive, and sees entries inserted after its creation when it moves onto them.
    pub fn iter(self: &Arc<Self>) -> MemTableIter {
        MemTableIter { mem: Arc::clone(self), current: None }
    }
}

/// The kind byte of a trailer this memtable wrote.
fn kind_of(trailer: u64) -> ValueKind {
    ValueKind::from_u8((trailer & 0xff) as u8).expect("the memtable stores only kinds it was given")
}

/// An [`InternalIterator`] over a memtable that owns an `Arc` of it.
///
/// Positioning never fails except `seek`/`seek_for_prev` with a target shorter than a trailer
/// (`InvalidArgument`). `prev` costs a search from the head (O(log n)), `next` one link.
pub struct MemTableIter {
    mem: Arc<MemTable>,
    /// `None` when not positioned (ITER-1).
    current: Option<Cursor>,
}

impl fmt::Debug for MemTableIter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never prints keys or values (user data).
        f.debug_struct("MemTableIter").field("memtable", &self.mem).field("valid", &self.valid()).finish()
    }
}

impl MemTableIter {
    fn node(&self) -> Node<'_> {
        let cursor = self.current.expect("ITER-1: requires valid()");
        self.mem.list.resolve(cursor)
    }
}

/// Splits an encoded internal key used as a seek target.
fn split_target(target: &[u8]) -> Result<(&[u8], u64)> {
    if target.len() < TRAILER_BYTES {
        return Err(Error::invalid("memtable seek target is shorter than an internal key trailer"));
    }
    Ok((ikey::user_key(target), ikey::trailer(target)))
}

impl InternalIterator for MemTableIter {
    fn valid(&self) -> bool {
        self.current.is_some()
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.current = self.mem.list.first().map(Node::cursor);
        Ok(())
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.current = self.mem.list.last().map(Node::cursor);
        Ok(())
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.current = None;
        let (user_key, trailer) = split_target(target)?;
        self.current = self.mem.list.seek_ge(user_key, trailer).map(Node::cursor);
        Ok(())
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        self.current = None;
        let (user_key, trailer) = split_target(target)?;
        self.current = self.mem.list.seek_before(user_key, trailer, true).map(Node::cursor);
        Ok(())
    }

    fn next(&mut self) -> Result<()> {
        self.current = self.node().next().map(Node::cursor);
        Ok(())
    }

    fn prev(&mut self) -> Result<()> {
        self.current = self.mem.list.prev(self.node()).map(Node::cursor);
        Ok(())
    }

    fn key(&self) -> &[u8] {
        self.node().key()
    }

    fn value(&self) -> &[u8] {
        self.node().value()
    }
}
