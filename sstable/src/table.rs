//! The table reader: opens a table file, verifies its frame and metadata, and serves point
//! lookups and ordered iteration (docs/format/sstable.md#reading-informative).
//!
//! Owns where data blocks come from: straight from the memory map (raw blocks, zero-copy), or
//! decoded (compressed blocks, and every block without a map) through the optional
//! [`BlockCache`]. Leaves in-block search to `block`, separators to `index`, the filter probe to
//! `filter`, and checksum and codec handling to `cairn_base::envelope`.
//!
//! Invariants:
//! * Every length and offset read from the file is checked against the file before it is used,
//!   so `open`, `get` and iteration on arbitrary bytes return a typed error, never panic, and never
//!   allocate more than the file size (plus `MAX_BLOCK_BYTES` per decompressed block).
//! * A block's checksum is verified before any of its bytes are interpreted: once per open table
//!   on the map path (the `verified` bitmap), on every read on the positioned-read path unless the
//!   block comes from the cache, which only holds verified blocks. A bad block is never cached
//!   and is reported as `Error::Corruption` naming the file and the block's offset.
//! * A point lookup on the map path with raw blocks allocates nothing (after a thread's first
//!   lookup, which sizes its scratch buffers).

use std::cell::RefCell;
use std::cmp::Ordering;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use bytes::Bytes;
use cairn_base::envelope::{self, TRAILER_BYTES as ENVELOPE_TRAILER_BYTES};
use cairn_base::iter::InternalIterator;
use cairn_base::key::{MAX_SEQ, TRAILER_BYTES, append_internal_key, compare_internal, parse_internal_key};
use cairn_base::vfs::RandomAccessFile;
use cairn_base::{Error, FileNum, Result, SeqNum, ValueKind};

use cairn_base::prefetch::prefetch;

use crate::block::{self, BlockIter, HashIndex, Layout, Probe, seek_ge, seek_ge_from};
use crate::cache::BlockCache;
use crate::filter::Filter;
use crate::footer::{BlockHandle, FOOTER_BYTES, Footer, HEADER_BYTES, decode_header};
use crate::index::Index;
use crate::properties::TableProperties;

/// The codec byte of a raw (uncompressed, unencrypted) block.
const RAW_CODEC: u8 = 0;

/// How tables are read.
#[derive(Debug, Clone, Default)]
pub struct TableReaderOptions {
    /// Serve blocks from a memory map of the file when the file system can map it.
    pub use_mmap: bool,
    /// Cache for decoded blocks (compressed blocks, and every block read without a map).
    pub cache: Option<Arc<BlockCache>>,
}

/// An open, immutable table. Cheap to share (`Arc<Table>`); `Send + Sync`.
pub struct Table {
    file: Arc<dyn RandomAccessFile>,
    file_num: FileNum,
    size_bytes: u64,
    /// The whole file, when mapped. Its length equals `size_bytes`.
    map: Option<Bytes>,
    cache: Option<Arc<BlockCache>>,
    index: Index,
    filter: Option<Filter>,
    properties: TableProperties,
    properties_offset: u64,
    /// Whether data blocks may carry a hash index (format 2 and later).
    hash_index: HashIndex,
    /// Bit `i` is set once data block `i` passed its checksum on the map path.
    verified: Box<[AtomicU64]>,
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("path", &self.file.path())
            .field("file_num", &self.file_num)
            .field("size_bytes", &self.size_bytes)
            .field("mapped", &self.map.is_some())
            .field("data_blocks", &self.index.len())
            .field("filter", &self.filter)
            .finish()
    }
}

/// Which keys of a batch lookup the filter let through, and the data block each starts in
/// ([`Table::plan_many`]).
#[derive(Debug, Clone, Default)]
pub struct ManyPlan {
    survivors: Vec<usize>,
    blocks: Vec<usize>,
}

/// A data block's decoded bytes: borrowed from the map, or shared with the cache.
enum BlockData<'a> {
    Mapped { map: &'a Bytes, payload: &'a [u8] },
    Shared(Bytes),
}

impl BlockData<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            BlockData::Mapped { payload, .. } => payload,
            BlockData::Shared(b) => b,
        }
    }

    /// `part` (a sub-slice of `bytes()`) as shared bytes, without copying.
    fn share(&self, part: &[u8]) -> Bytes {
        match self {
            BlockData::Mapped { map, .. } => map.slice_ref(part),
            BlockData::Shared(b) => b.slice_ref(part),
        }
    }

    fn into_bytes(self) -> Bytes {
        match self {
            BlockData::Mapped { map, payload } => map.slice_ref(payload),
            BlockData::Shared(b) => b,
        }
    }
}

/// A value found by a lookup, borrowed from its block: read it as a slice, or share it as
/// [`Bytes`] that keep the block (or the memory map) alive, without a second search.
#[derive(Clone, Copy)]
pub struct ValueRef<'a> {
    data: &'a BlockData<'a>,
    value: &'a [u8],
}

impl<'a> ValueRef<'a> {
    /// The value's bytes.
    pub fn as_slice(&self) -> &'a [u8] {
        self.value
    }

    /// The value as shared bytes (no copy; one reference-count update on the block).
    pub fn share(&self) -> Bytes {
        self.data.share(self.value)
    }
}

impl std::fmt::Debug for ValueRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValueRef").field("len", &self.value.len()).finish()
    }
}

/// Initial capacity of the per-thread lookup buffers: keys shorter than this never grow them.
const SCRATCH_MIN_BYTES: usize = 256;

/// Per-thread buffers for point lookups, so they allocate nothing in steady state.
struct Scratch {
    target: Vec<u8>,
    key: Vec<u8>,
}

impl Scratch {
    /// `target = user_key#seq` as a seek key. The reserve is a no-op once the buffer is large
    /// enough: growth happens at most a few times per thread.
    fn set_target(&mut self, user_key: &[u8], seq: SeqNum) {
        self.target.clear();
        self.target.reserve(SCRATCH_MIN_BYTES.max(user_key.len() + TRAILER_BYTES));
        append_internal_key(&mut self.target, user_key, seq, ValueKind::SEEK);
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch { target: Vec::new(), key: Vec::new() }) };
}

/// Reads byte ranges from the map or with positioned reads. Used while opening.
struct Source<'a> {
    file: &'a dyn RandomAccessFile,
    map: Option<&'a Bytes>,
}

impl Source<'_> {
    /// REQUIRES: `[offset, offset + len)` lies within the file (checked by the caller).
    fn read(&self, offset: u64, len: u64) -> Result<Bytes> {
        let range = to_range(offset, len).ok_or_else(|| corruption(self.file.path(), offset, "range too large"))?;
        if let Some(map) = self.map {
            return map
                .get(range.clone())
                .map(|_| map.slice(range))
                .ok_or_else(|| corruption(self.file.path(), offset, "range outside the mapped file"));
        }
        let mut buf = vec![0u8; range.len()];
        self.file.read_exact_at(&mut buf, offset)?;
        Ok(Bytes::from(buf))
    }
}

fn to_range(offset: u64, len: u64) -> Option<Range<usize>> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    Some(start..end)
}

fn corruption(path: &Path, offset: u64, what: &str) -> Error {
    Error::corruption(path, offset, what)
}

/// Checks the footer's handles against the strict layout; returns where the data region ends.
fn check_layout(footer: &Footer, footer_offset: u64) -> Option<u64> {
    let trailer = ENVELOPE_TRAILER_BYTES as u64;
    let fits = |h: &BlockHandle, end: u64| h.size_bytes >= trailer && h.end() == Some(end);
    let (properties, index) = (&footer.properties, &footer.index);
    if !fits(properties, footer_offset) || !fits(index, properties.offset) {
        return None;
    }
    let data_end = if footer.filter == BlockHandle::ABSENT {
        index.offset
    } else if fits(&footer.filter, index.offset) {
        footer.filter.offset
    } else {
        return None;
    };
    (data_end > HEADER_BYTES as u64).then_some(data_end)
}

/// Reads and checks footer and header (magic, version, checksum, file number) and the footer's
/// handles; returns the footer and where the data region ends.
fn read_frame(src: &Source<'_>, size_bytes: u64, file_num: FileNum) -> Result<(Footer, u64)> {
    let path = src.file.path();
    if size_bytes < (HEADER_BYTES + FOOTER_BYTES) as u64 {
        return Err(corruption(path, 0, "file shorter than an sstable header and footer"));
    }
    let footer_offset = size_bytes - FOOTER_BYTES as u64;
    let footer_bytes = src.read(footer_offset, FOOTER_BYTES as u64)?;
    let footer = Footer::decode(&footer_bytes, footer_offset).map_err(|e| e.at_file(path, footer_offset))?;
    let (header_file_num, header_version) =
        decode_header(&src.read(0, HEADER_BYTES as u64)?).map_err(|e| e.at_file(path, 0))?;
    if header_version != footer.version {
        let what = format!("header says format {header_version}, footer says {}", footer.version);
        return Err(Error::corruption(path, footer_offset, what));
    }
    for (recorded, offset) in [(footer.file_num, footer_offset), (header_file_num, 0)] {
        if recorded != file_num {
            let what = format!("table records file number {recorded}, expected {file_num}");
            return Err(Error::corruption(path, offset, what));
        }
    }
    let data_end = check_layout(&footer, footer_offset)
        .ok_or_else(|| corruption(path, footer_offset, "footer handles do not match the file layout"))?;
    Ok((footer, data_end))
}

impl Table {
    /// Reads and verifies footer, header, properties, index and filter (all checksummed); checks
    /// the file number recorded in the file against `file_num`. With `use_mmap` and a mappable
    /// file, data blocks are served from the map.
    pub fn open(file: Arc<dyn RandomAccessFile>, file_num: FileNum, opts: &TableReaderOptions) -> Result<Arc<Table>> {
        let size_bytes = file.size_bytes();
        let path = file.path().to_path_buf();
        let map = if opts.use_mmap { file.map()?.filter(|m| m.len() as u64 == size_bytes) } else { None };
        let src = Source { file: &*file, map: map.as_ref() };
        let (footer, data_end) = read_frame(&src, size_bytes, file_num)?;
        let meta = |h: BlockHandle| -> Result<Bytes> {
            let sealed = src.read(h.offset, h.size_bytes)?;
            let payload = envelope::open(&sealed, file_num, h.offset).map_err(|e| e.at_file(&path, h.offset))?;
            Ok(Bytes::copy_from_slice(&payload))
        };
        let path_ref = &path;
        let at = |h: BlockHandle| move |e: Error| e.at_file(path_ref, h.offset);
        let properties =
            TableProperties::decode(&meta(footer.properties)?, footer.version).map_err(at(footer.properties))?;
        let index = Index::decode(&meta(footer.index)?).map_err(at(footer.index))?;
        index.check_tiling(HEADER_BYTES as u64, data_end).map_err(at(footer.index))?;
        if properties.data_blocks != index.len() as u64 || properties.data_size_bytes != data_end - HEADER_BYTES as u64
        {
            return Err(corruption(&path, footer.properties.offset, "properties disagree with the index"));
        }
        let filter = match footer.filter {
            BlockHandle::ABSENT => None,
            h => Some(Filter::decode(&meta(h)?).map_err(at(h))?),
        };
        let verified = (0..index.len().div_ceil(64)).map(|_| AtomicU64::new(0)).collect();
        Ok(Arc::new(Table {
            file,
            file_num,
            size_bytes,
            map,
            cache: opts.cache.clone(),
            index,
            filter,
            properties,
            properties_offset: footer.properties.offset,
            hash_index: if footer.version >= 2 { HashIndex::Allowed } else { HashIndex::Forbidden },
            verified,
        }))
    }

    /// The table's file number.
    pub fn file_num(&self) -> FileNum {
        self.file_num
    }

    /// Size of the file.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// What the table holds, from its properties block.
    pub fn properties(&self) -> &TableProperties {
        &self.properties
    }

    /// Filter probe only (no I/O). `key_hash` = `cairn_base::hash::key_hash(user_key)`. False
    /// only if the table holds no entry for that user key.
    #[inline]
    pub fn may_contain(&self, key_hash: u64) -> bool {
        self.filter.as_ref().is_none_or(|f| f.may_contain(key_hash))
    }

    /// The newest entry for `user_key` with sequence number `<= seq`, if any (tombstones
    /// included: the caller interprets `ValueKind::Delete`). Consults the filter first. The
    /// value shares the block's bytes (the memory map, or the cached block): no copy.
    pub fn get(&self, user_key: &[u8], key_hash: u64, seq: SeqNum) -> Result<Option<(ValueKind, SeqNum, Bytes)>> {
        self.get_with(user_key, key_hash, seq, |kind, seq, data, value| (kind, seq, data.share(value)))
    }

    /// Like [`Table::get`], but hands the entry to `visit` as a [`ValueRef`] instead of building
    /// shared bytes: `contains_key` learns the kind without touching the value, and a caller that
    /// copies small values and shares large ones decides in one search.
    pub fn get_borrowed<R>(
        &self,
        user_key: &[u8],
        key_hash: u64,
        seq: SeqNum,
        visit: impl FnOnce(ValueKind, SeqNum, ValueRef<'_>) -> R,
    ) -> Result<Option<R>> {
        self.get_with(user_key, key_hash, seq, |kind, seq, data, value| visit(kind, seq, ValueRef { data, value }))
    }

    fn get_with<R>(
        &self,
        user_key: &[u8],
        key_hash: u64,
        seq: SeqNum,
        on_hit: impl FnOnce(ValueKind, SeqNum, &BlockData<'_>, &[u8]) -> R,
    ) -> Result<Option<R>> {
        if !self.may_contain(key_hash) {
            return Ok(None);
        }
        SCRATCH.with_borrow_mut(|s| self.search(user_key, key_hash, seq.min(MAX_SEQ), s, on_hit))
    }

    fn search<R>(
        &self,
        user_key: &[u8],
        key_hash: u64,
        seq: SeqNum,
        s: &mut Scratch,
        on_hit: impl FnOnce(ValueKind, SeqNum, &BlockData<'_>, &[u8]) -> R,
    ) -> Result<Option<R>> {
        s.set_target(user_key, seq);
        let first = self.index.find(&s.target);
        // The block's first touch reads its codec byte, then the restart array and hash index
        // before it: fetch both tail lines at once. (A batch lookup did this in `plan_many`.)
        self.touch_block(first);
        self.search_from(user_key, key_hash, first, s, on_hit)
    }

    /// Searches from data block `first` (the first whose separator is >= the target) onwards.
    /// REQUIRES: `s.target` holds the target (`Scratch::set_target(user_key, seq)`).
    ///
    /// In block `first`, a hash index (format 2) names the restart interval to scan from, or
    /// says the user key is absent. Absent from block `first` means absent from the table at or
    /// after the target: the separator of block `first` is >= the target, and a separator is
    /// either the block's last key or has a user key strictly between the block's last user key
    /// and the next block's first, so the next block cannot start with this user key.
    fn search_from<R>(
        &self,
        user_key: &[u8],
        key_hash: u64,
        first: usize,
        s: &mut Scratch,
        on_hit: impl FnOnce(ValueKind, SeqNum, &BlockData<'_>, &[u8]) -> R,
    ) -> Result<Option<R>> {
        debug_assert!(s.target.len() == user_key.len() + TRAILER_BYTES && s.target.starts_with(user_key));
        s.key.clear();
        s.key.reserve(SCRATCH_MIN_BYTES);
        // The first separator >= target names the block; if target is past that block's last
        // key, the answer is the next block's first entry.
        for i in first..self.index.len() {
            let data = self.block(i)?;
            let bytes = data.bytes();
            let offset = self.index.handle(i).offset;
            let layout = Layout::parse(bytes, self.hash_index).map_err(|e| self.at_block(e, offset))?;
            let probe = if i == first { layout.probe(bytes, key_hash) } else { Ok(Probe::Search) };
            let found = match probe.map_err(|e| self.at_block(e, offset))? {
                Probe::Absent => return Ok(None),
                Probe::Interval(r) => seek_ge_from(bytes, layout, r, &s.target, &mut s.key),
                Probe::Search => seek_ge(bytes, layout, &s.target, &mut s.key),
            };
            let Some(pos) = found.map_err(|e| self.at_block(e, offset))? else {
                continue;
            };
            let found = parse_internal_key(&s.key).map_err(|e| self.at_block(e, offset))?;
            if found.user_key != user_key {
                return Ok(None);
            }
            return Ok(Some(on_hit(found.kind, found.seq, &data, &bytes[pos.value])));
        }
        Ok(None)
    }

    /// Looks up many keys at once. `keys` holds `(user_key, key_hash)` pairs sorted by user key;
    /// `visit(i, kind, seq, value)` is called for every key `keys[i]` that has an entry with
    /// sequence number `<= seq` (tombstones included). The work is staged so the cache misses of
    /// the batch overlap (each stage only prefetches what the next one reads): every key's filter
    /// line ([`Table::prefetch_filters`]); then every surviving key's block is located and its
    /// tail (restart array and hash index) prefetched ([`Table::plan_many`]); then, in blocks with
    /// a hash index, the entry each key's bucket names ([`Table::prefetch_entries`]); then the
    /// blocks are searched ([`Table::search_planned`]). A caller with several tables to probe
    /// (one level of an LSM) runs each stage over all of them before the next.
    pub fn get_many_borrowed(
        &self,
        keys: &[(&[u8], u64)],
        seq: SeqNum,
        visit: impl FnMut(usize, ValueKind, SeqNum, ValueRef<'_>),
    ) -> Result<()> {
        self.prefetch_filters(keys);
        let plan = self.plan_many(keys, seq);
        self.prefetch_entries(keys, &plan);
        self.search_planned(keys, seq, &plan, visit)
    }

    /// Stage 1 of [`Table::get_many_borrowed`]: prefetches the filter line of every key.
    pub fn prefetch_filters(&self, keys: &[(&[u8], u64)]) {
        if let Some(f) = &self.filter {
            for &(_, hash) in keys {
                f.touch(hash);
            }
        }
    }

    /// Stage 2 of [`Table::get_many_borrowed`]: the keys the filter lets through and the data
    /// block each must start in, with those blocks' tails prefetched.
    pub fn plan_many(&self, keys: &[(&[u8], u64)], seq: SeqNum) -> ManyPlan {
        let seq = seq.min(MAX_SEQ);
        let survivors: Vec<usize> = (0..keys.len()).filter(|&i| self.may_contain(keys[i].1)).collect();
        // Every seek target back to back in one buffer: one allocation per batch, not per key.
        let mut buf = Vec::with_capacity(survivors.iter().map(|&i| keys[i].0.len() + TRAILER_BYTES).sum());
        let mut ends = Vec::with_capacity(survivors.len());
        for &i in &survivors {
            append_internal_key(&mut buf, keys[i].0, seq, ValueKind::SEEK);
            ends.push(buf.len());
        }
        let starts = std::iter::once(0).chain(ends.iter().copied());
        let targets: Vec<&[u8]> = starts.zip(&ends).map(|(a, &b)| &buf[a..b]).collect();
        let mut blocks = Vec::new();
        self.index.find_many(&targets, &mut blocks);
        let mut last_block = usize::MAX;
        for &b in &blocks {
            if b != last_block {
                self.touch_block(b);
                last_block = b;
            }
        }
        ManyPlan { survivors, blocks }
    }

    /// Stage 3 of [`Table::get_many_borrowed`]: prefetches, in blocks with a hash index, the
    /// entry each planned key's bucket names.
    pub fn prefetch_entries(&self, keys: &[(&[u8], u64)], plan: &ManyPlan) {
        for (&i, &b) in plan.survivors.iter().zip(&plan.blocks) {
            self.touch_entry(b, keys[i].1);
        }
    }

    /// Stage 4 of [`Table::get_many_borrowed`]: searches the planned blocks. `keys` and `seq`
    /// must be those `plan` was made with.
    pub fn search_planned(
        &self,
        keys: &[(&[u8], u64)],
        seq: SeqNum,
        plan: &ManyPlan,
        mut visit: impl FnMut(usize, ValueKind, SeqNum, ValueRef<'_>),
    ) -> Result<()> {
        let seq = seq.min(MAX_SEQ);
        SCRATCH.with_borrow_mut(|s| {
            for (&i, &b) in plan.survivors.iter().zip(&plan.blocks) {
                s.set_target(keys[i].0, seq);
                self.search_from(keys[i].0, keys[i].1, b, s, |kind, seq, data, value| {
                    visit(i, kind, seq, ValueRef { data, value })
                })?;
            }
            Ok(())
        })
    }

    /// The sealed bytes of data block `i` in the map, if mapped and in bounds (unverified: only
    /// for prefetch hints).
    fn mapped_sealed(&self, i: usize) -> Option<&[u8]> {
        let h = (i < self.index.len()).then(|| self.index.handle(i))?;
        self.map.as_ref().and_then(|map| self.sealed_in_map(map, h).ok())
    }

    /// Prefetches the tail of data block `i` (its restart array and hash index), if it is mapped.
    fn touch_block(&self, i: usize) {
        if let Some(sealed) = self.mapped_sealed(i) {
            let end = sealed.len() - ENVELOPE_TRAILER_BYTES;
            prefetch(sealed, end.saturating_sub(1));
            prefetch(sealed, end.saturating_sub(65));
        }
    }

    /// Prefetches the entry where a point lookup of the key hashing to `hash` will start in data
    /// block `i` (or, without a hash index or on a collision, the block's restart keys), when the
    /// block is mapped and raw. Reads only the block's tail
    /// (prefetched by [`Table::touch_block`]); a damaged block is left for the search to report.
    fn touch_entry(&self, i: usize, hash: u64) {
        let Some(sealed) = self.mapped_sealed(i) else { return };
        let payload_len = sealed.len() - ENVELOPE_TRAILER_BYTES;
        if sealed[payload_len] != RAW_CODEC {
            return;
        }
        let payload = &sealed[..payload_len];
        let Ok(layout) = Layout::parse(payload, self.hash_index) else { return };
        match layout.probe(payload, hash) {
            Ok(Probe::Interval(r)) => {
                if let Ok(offset) = layout.restart_offset(payload, r) {
                    prefetch(payload, offset);
                    layout.prefetch_interval(payload, r, offset);
                }
            }
            // A collision (or no hash index): the search will binary-search the restart keys.
            Ok(Probe::Search) => layout.prefetch_restart_keys(payload),
            Ok(Probe::Absent) | Err(_) => {}
        }
    }

    /// An internal iterator owning an `Arc<Table>`, so the table outlives it.
    pub fn iter(self: &Arc<Self>) -> TableIter {
        TableIter { table: Arc::clone(self), block_index: 0, block: None }
    }

    /// Reads every block, verifies every checksum (ignoring the cache and the verified bitmap)
    /// and that keys are strictly increasing and consistent with the index and properties;
    /// returns the number of entries.
    pub fn verify(&self) -> Result<u64> {
        let mut tally = Tally::default();
        for i in 0..self.index.len() {
            let h = self.index.handle(i);
            let data = self.read_fresh(i, h)?;
            let (lower, upper) = (i.checked_sub(1).map(|p| self.index.key(p)), self.index.key(i));
            block::for_each_entry(&data, self.hash_index, |key, _, at| tally.add(key, lower, upper, at))
                .map_err(|e| self.at_block(e, h.offset))?;
        }
        let p = &self.properties;
        let consistent = tally.entries == p.entries
            && tally.tombstones == p.tombstones
            && tally.first_key.as_deref() == Some(p.smallest_key.encoded())
            && tally.last_key == p.largest_key.encoded();
        if !consistent {
            return Err(corruption(self.path(), self.properties_offset, "properties disagree with the data blocks"));
        }
        Ok(tally.entries)
    }

    /// Block `i` read from the file or map and verified now, bypassing cache and bitmap.
    fn read_fresh(&self, i: usize, h: BlockHandle) -> Result<Bytes> {
        let Some(map) = &self.map else {
            return self.read_and_open(h);
        };
        let sealed = self.sealed_in_map(map, h)?;
        let payload = envelope::open(sealed, self.file_num, h.offset).map_err(|e| self.at_block(e, h.offset))?;
        self.mark_verified(i);
        Ok(match payload {
            std::borrow::Cow::Borrowed(p) => map.slice_ref(p),
            std::borrow::Cow::Owned(v) => Bytes::from(v),
        })
    }

    fn at_block(&self, e: Error, block_offset: u64) -> Error {
        e.at_file(self.file.path(), block_offset)
    }

    /// Data block `i`, decoded and verified.
    #[inline]
    fn block(&self, i: usize) -> Result<BlockData<'_>> {
        let h = self.index.handle(i);
        match &self.map {
            Some(map) => self.mapped_block(map, i, h),
            None => self.read_block(h).map(BlockData::Shared),
        }
    }

    fn sealed_in_map<'a>(&self, map: &'a Bytes, h: BlockHandle) -> Result<&'a [u8]> {
        to_range(h.offset, h.size_bytes)
            .and_then(|r| map.get(r))
            .filter(|s| s.len() >= ENVELOPE_TRAILER_BYTES)
            .ok_or_else(|| corruption(self.path(), h.offset, "block outside the mapped file"))
    }

    #[inline]
    fn mapped_block<'a>(&'a self, map: &'a Bytes, i: usize, h: BlockHandle) -> Result<BlockData<'a>> {
        let sealed = self.sealed_in_map(map, h)?;
        let payload_len = sealed.len() - ENVELOPE_TRAILER_BYTES;
        let codec = sealed[payload_len];
        if codec == RAW_CODEC {
            self.ensure_verified(i, sealed, h.offset)?;
            return Ok(BlockData::Mapped { map, payload: &sealed[..payload_len] });
        }
        if let Some(b) = self.cache.as_ref().and_then(|c| c.get(self.file_num, h.offset)) {
            return Ok(BlockData::Shared(b));
        }
        self.ensure_verified(i, sealed, h.offset)?;
        let decoded =
            envelope::decode_payload(&sealed[..payload_len], codec).map_err(|e| self.at_block(e, h.offset))?;
        let block = Bytes::from(decoded.into_owned());
        if let Some(c) = &self.cache {
            c.insert(self.file_num, h.offset, block.clone());
        }
        Ok(BlockData::Shared(block))
    }

    fn ensure_verified(&self, i: usize, sealed: &[u8], offset: u64) -> Result<()> {
        let bit = 1u64 << (i % 64);
        // Relaxed suffices: the bit only records that these immutable bytes passed their check.
        if self.verified[i / 64].load(AtomicOrdering::Relaxed) & bit != 0 {
            return Ok(());
        }
        envelope::verify(sealed, self.file_num, offset).map_err(|e| self.at_block(e, offset))?;
        self.mark_verified(i);
        Ok(())
    }

    fn mark_verified(&self, i: usize) {
        self.verified[i / 64].fetch_or(1u64 << (i % 64), AtomicOrdering::Relaxed);
    }

    /// A block read with a positioned read, through the cache when there is one.
    fn read_block(&self, h: BlockHandle) -> Result<Bytes> {
        if let Some(b) = self.cache.as_ref().and_then(|c| c.get(self.file_num, h.offset)) {
            return Ok(b);
        }
        let block = self.read_and_open(h)?;
        if let Some(c) = &self.cache {
            c.insert(self.file_num, h.offset, block.clone());
        }
        Ok(block)
    }

    /// Reads, verifies and decodes one block from the file.
    fn read_and_open(&self, h: BlockHandle) -> Result<Bytes> {
        let len = to_range(h.offset, h.size_bytes).map(|r| r.len());
        let len = len.ok_or_else(|| corruption(self.path(), h.offset, "block too large"))?;
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, h.offset)?;
        let payload_len = match envelope::open(&buf, self.file_num, h.offset).map_err(|e| self.at_block(e, h.offset))? {
            std::borrow::Cow::Borrowed(p) => p.len(),
            std::borrow::Cow::Owned(v) => return Ok(Bytes::from(v)),
        };
        buf.truncate(payload_len);
        Ok(Bytes::from(buf))
    }
}

/// What `verify` counts while walking the data blocks.
#[derive(Debug, Default)]
struct Tally {
    entries: u64,
    tombstones: u64,
    first_key: Option<Vec<u8>>,
    last_key: Vec<u8>,
}

impl Tally {
    /// Checks `key` against its predecessor and its block's bounds `(lower, upper]`.
    fn add(&mut self, key: &[u8], lower: Option<&[u8]>, upper: &[u8], at: usize) -> Result<()> {
        if self.first_key.is_some() && compare_internal(&self.last_key, key) != Ordering::Less {
            return Err(block::corrupt("keys not strictly increasing", at));
        }
        let above_lower = lower.is_none_or(|l| compare_internal(l, key) == Ordering::Less);
        if !above_lower || compare_internal(key, upper) == Ordering::Greater {
            return Err(block::corrupt("key outside its block's index separators", at));
        }
        let kind = parse_internal_key(key)?.kind;
        self.entries += 1;
        self.tombstones += u64::from(kind == ValueKind::Delete);
        if self.first_key.is_none() {
            self.first_key = Some(key.to_vec());
        }
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        Ok(())
    }
}

/// A bidirectional internal iterator over one table; owns an `Arc<Table>`.
pub struct TableIter {
    table: Arc<Table>,
    /// The data block `block` iterates, when `block` is `Some`.
    block_index: usize,
    block: Option<BlockIter>,
}

impl fmt::Debug for TableIter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableIter")
            .field("file_num", &self.table.file_num)
            .field("block_index", &self.block_index)
            .field("valid", &self.valid())
            .finish()
    }
}

impl TableIter {
    fn cur(&self) -> &BlockIter {
        self.block.as_ref().filter(|b| b.valid()).expect("ITER-1: requires valid()")
    }

    /// Runs a positioning step; on error the iterator is left invalid (ITER-3) and the error
    /// names the current block.
    fn guard(&mut self, step: impl FnOnce(&mut Self) -> Result<()>) -> Result<()> {
        let r = step(self);
        if let Err(e) = r {
            let offset = self.table.index.handle(self.block_index).offset;
            self.block = None;
            return Err(self.table.at_block(e, offset));
        }
        Ok(())
    }

    fn load(&mut self, i: usize) -> Result<()> {
        self.block = None;
        self.block_index = i;
        let data = self.table.block(i)?.into_bytes();
        self.block = Some(BlockIter::new(data, self.table.hash_index)?);
        Ok(())
    }

    fn block_mut(&mut self) -> &mut BlockIter {
        self.block.as_mut().expect("a block is loaded while positioning")
    }

    /// While the current block is exhausted, moves to the first entry of the next one.
    fn skip_forward(&mut self) -> Result<()> {
        while self.block.as_ref().is_some_and(|b| !b.valid()) {
            if self.block_index + 1 >= self.table.index.len() {
                self.block = None;
                break;
            }
            self.load(self.block_index + 1)?;
            self.block_mut().seek_to_first()?;
        }
        Ok(())
    }

    /// While the current block is exhausted, moves to the last entry of the previous one.
    fn skip_backward(&mut self) -> Result<()> {
        while self.block.as_ref().is_some_and(|b| !b.valid()) {
            if self.block_index == 0 {
                self.block = None;
                break;
            }
            self.load(self.block_index - 1)?;
            self.block_mut().seek_to_last()?;
        }
        Ok(())
    }
}

impl InternalIterator for TableIter {
    fn valid(&self) -> bool {
        self.block.as_ref().is_some_and(|b| b.valid())
    }

    fn seek_to_first(&mut self) -> Result<()> {
        self.guard(|it| {
            it.load(0)?;
            it.block_mut().seek_to_first()?;
            it.skip_forward()
        })
    }

    fn seek_to_last(&mut self) -> Result<()> {
        self.guard(|it| {
            it.load(it.table.index.len() - 1)?;
            it.block_mut().seek_to_last()?;
            it.skip_backward()
        })
    }

    fn seek(&mut self, target: &[u8]) -> Result<()> {
        if target.len() < TRAILER_BYTES {
            self.block = None;
            return Err(Error::invalid("seek target is not an internal key"));
        }
        self.guard(|it| {
            let i = it.table.index.find(target);
            if i == it.table.index.len() {
                it.block = None;
                return Ok(());
            }
            // As in point lookups, fetch both tail lines of the block at once. Not on the block
            // changes of a scan: there the hardware's sequential prefetching does better alone.
            it.table.touch_block(i);
            it.load(i)?;
            it.block_mut().seek(target)?;
            it.skip_forward()
        })
    }

    fn seek_for_prev(&mut self, target: &[u8]) -> Result<()> {
        self.seek(target)?;
        if !self.valid() {
            return self.seek_to_last();
        }
        if compare_internal(self.key(), target) == Ordering::Greater {
            return self.prev();
        }
        Ok(())
    }

    fn next(&mut self) -> Result<()> {
        self.guard(|it| {
            it.block_mut().next()?;
            it.skip_forward()
        })
    }

    fn prev(&mut self) -> Result<()> {
        self.guard(|it| {
            it.block_mut().prev()?;
            it.skip_backward()
        })
    }

    fn key(&self) -> &[u8] {
        self.cur().key()
    }

    fn value(&self) -> &[u8] {
        self.cur().value()
    }

    fn value_bytes(&self) -> Bytes {
        self.cur().value_bytes()
    }
}
