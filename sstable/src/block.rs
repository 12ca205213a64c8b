//! Data-block layout: the builder that packs sorted entries with prefix compression and restart
//! points, and the readers that search and walk one decoded block
//! (docs/format/sstable.md#data-block). The index block uses the same layout.
//!
//! Owns the in-block bytes only. Does not compress, checksum or locate blocks: the table writer
//! seals blocks and the table reader fetches and verifies them before any function here sees them.
//!
//! Format 2 data blocks may carry a hash index (docs/format/sstable.md#data-block-hash-index): one
//! byte per bucket naming the restart interval where a user key first appears, so a point lookup
//! jumps to that interval instead of binary-searching the restart keys.
//!
//! Invariants: every read is bounds-checked against the restart array, so hostile bytes yield
//! `Error::Corruption` (offset 0, relative to the block; callers relabel with the block's file
//! offset) and never a panic; every key handed out is at least [`TRAILER_BYTES`] long with a known
//! kind, so it can be compared with `compare_internal`. Point lookups ([`seek_ge`]) allocate
//! nothing beyond the caller's key buffer.

use std::cmp::Ordering;
use std::ops::Range;

use bytes::Bytes;
use cairn_base::coding::{get_u32_at, get_varint, put_u32, put_varint};
use cairn_base::hash::key_hash;
use cairn_base::key::{TRAILER_BYTES, ValueKind, compare_internal, user_key};
use cairn_base::prefetch::prefetch;
use cairn_base::{Error, Result};

/// Bytes of the `num_restarts` field at the end of a block.
const NUM_RESTARTS_BYTES: usize = 4;
/// Bit 31 of the `num_restarts` field: a hash index sits between the restart array and it.
const HASH_INDEX_FLAG: u32 = 1 << 31;
/// Bytes of the `num_buckets` field of a hash index.
const NUM_BUCKETS_BYTES: usize = 2;
/// A bucket no user key of the block hashes to.
const BUCKET_EMPTY: u8 = 0xFF;
/// A bucket two user keys with different first restart intervals hash to.
const BUCKET_COLLISION: u8 = 0xFE;
/// Blocks with more restart points than this carry no hash index (a bucket names `0..=252`).
pub(crate) const MAX_HASHED_RESTARTS: usize = 0xFD;

/// The little-endian `u16` at `at`, if it fits.
fn get_u16_at(data: &[u8], at: usize) -> Option<usize> {
    data.get(at..at.checked_add(2)?).map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
}

/// The bucket of a user key's hash among `num_buckets` (bits 16..48 of the hash, so it does not
/// reuse the filter's line or probe bits). Always `< num_buckets`.
#[inline]
fn bucket_of(hash: u64, num_buckets: usize) -> usize {
    ((u64::from((hash >> 16) as u32) * num_buckets as u64) >> 32) as usize
}

/// Buckets the writer gives a block with `distinct_keys` user keys: two per key, at least one.
/// (Tables written before the change had 4 per 3 keys; readers take the count from the block.)
/// Two per key measured +3.0 % readrandom and +5.9 % multireadrandom over 4 per 3 (fewer
/// collisions falling back to binary search) for +0.5 % space (docs/benchmarks.md).
fn writer_bucket_count(distinct_keys: usize) -> usize {
    (distinct_keys * 2).max(1)
}

/// Appends `num_buckets` buckets for `keys` = (user-key hash, first restart interval).
/// REQUIRES: `num_buckets >= 1`.
fn build_buckets(keys: &[(u64, u8)], num_buckets: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + num_buckets, BUCKET_EMPTY);
    let buckets = &mut out[start..];
    for &(hash, restart) in keys {
        let b = &mut buckets[bucket_of(hash, num_buckets)];
        *b = match *b {
            BUCKET_EMPTY => restart,
            same if same == restart => same,
            _ => BUCKET_COLLISION,
        };
    }
}

/// Packs sorted entries into one block.
#[derive(Debug)]
pub(crate) struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    restart_interval: usize,
    /// Entries added since the last `reset`.
    entries: usize,
    last_key: Vec<u8>,
    /// With a hash index: (user-key hash, restart interval) of each user key's first entry.
    hashed_keys: Option<Vec<(u64, u8)>>,
}

impl BlockBuilder {
    /// A builder placing a restart point every `restart_interval` entries. REQUIRES: `restart_interval >= 1`.
    pub(crate) fn new(restart_interval: usize) -> Self {
        debug_assert!(restart_interval >= 1);
        BlockBuilder {
            buf: Vec::new(),
            restarts: Vec::new(),
            restart_interval,
            entries: 0,
            last_key: Vec::new(),
            hashed_keys: None,
        }
    }

    /// Like [`BlockBuilder::new`], for data blocks of format 2 with a hash index (blocks with
    /// more than [`MAX_HASHED_RESTARTS`] restart points are written without one). Keys must be
    /// internal keys.
    pub(crate) fn with_hash_index(restart_interval: usize) -> Self {
        BlockBuilder { hashed_keys: Some(Vec::new()), ..BlockBuilder::new(restart_interval) }
    }

    /// Appends an entry. REQUIRES: `key` sorts after every key added since the last reset.
    pub(crate) fn add(&mut self, key: &[u8], value: &[u8]) {
        debug_assert!(self.entries == 0 || compare_internal(&self.last_key, key) == Ordering::Less);
        if let Some(keys) = &mut self.hashed_keys {
            let user = user_key(key);
            if self.entries == 0 || user_key(&self.last_key) != user {
                let interval = (self.entries / self.restart_interval).min(MAX_HASHED_RESTARTS) as u8;
                keys.push((key_hash(user), interval));
            }
        }
        let shared = if self.entries.is_multiple_of(self.restart_interval) {
            let offset = u32::try_from(self.buf.len()).expect("blocks stay far below 4 GiB (MAX_BLOCK_BYTES)");
            self.restarts.push(offset);
            0
        } else {
            common_prefix_len(&self.last_key, key)
        };
        put_varint(&mut self.buf, shared as u64);
        put_varint(&mut self.buf, (key.len() - shared) as u64);
        put_varint(&mut self.buf, value.len() as u64);
        self.buf.extend_from_slice(&key[shared..]);
        self.buf.extend_from_slice(value);
        self.last_key.truncate(shared);
        self.last_key.extend_from_slice(&key[shared..]);
        self.entries += 1;
    }

    /// Size of the block if it were finished now.
    pub(crate) fn estimated_size_bytes(&self) -> usize {
        let index = self.num_buckets().map_or(0, |n| n + NUM_BUCKETS_BYTES);
        self.buf.len() + 4 * self.restarts.len() + index + NUM_RESTARTS_BYTES
    }

    /// Buckets of the hash index `finish` would write now; `None` for no hash index.
    fn num_buckets(&self) -> Option<usize> {
        let keys = self.hashed_keys.as_ref()?;
        let n = writer_bucket_count(keys.len());
        (self.restarts.len() <= MAX_HASHED_RESTARTS && n <= usize::from(u16::MAX)).then_some(n)
    }

    /// True when no entry was added since the last reset.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Appends the restart array and returns the finished block. Call [`BlockBuilder::reset`]
    /// before adding again.
    pub(crate) fn finish(&mut self) -> &[u8] {
        debug_assert!(!self.is_empty());
        for &r in &self.restarts {
            put_u32(&mut self.buf, r);
        }
        let mut count = u32::try_from(self.restarts.len()).expect("restart count bounded by block size");
        if let (Some(n), Some(keys)) = (self.num_buckets(), &self.hashed_keys) {
            build_buckets(keys, n, &mut self.buf);
            let n = u16::try_from(n).expect("num_buckets checks the bound");
            self.buf.extend_from_slice(&n.to_le_bytes());
            count |= HASH_INDEX_FLAG;
        }
        put_u32(&mut self.buf, count);
        &self.buf
    }

    /// Empties the builder, keeping its allocations.
    pub(crate) fn reset(&mut self) {
        self.buf.clear();
        self.restarts.clear();
        self.entries = 0;
        self.last_key.clear();
        if let Some(keys) = &mut self.hashed_keys {
            keys.clear();
        }
    }
}

/// Length of the longest common prefix of `a` and `b`.
pub(crate) fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// A corruption inside a block; the table relabels it with the file and the block's offset.
pub(crate) fn corrupt(what: &str, at: usize) -> Error {
    Error::corruption("", 0, format!("{what} (at byte {at} of the block)"))
}

/// Whether a block may carry a hash index: only data blocks of format 2 and later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashIndex {
    /// Format 1 blocks and index blocks: the flag bit is corruption.
    Forbidden,
    /// Format 2 data blocks: the flag bit says whether this block has one.
    Allowed,
}

/// Where a point lookup for one user key starts in a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// The block has no entry for the user key.
    Absent,
    /// The user key's first entry in the block is in restart interval `r`.
    Interval(usize),
    /// No hash index, or a collision: binary-search the restart keys.
    Search,
}

/// The validated geometry of a block: where the entries end, how many restart points follow, and
/// where its hash index lies, if it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Offset of the restart array; entries occupy `[0, restarts_offset)`.
    restarts_offset: usize,
    num_restarts: usize,
    /// Offset of the bucket array (it ends where `num_buckets` starts).
    buckets_offset: usize,
    /// 0 when the block has no hash index.
    num_buckets: usize,
}

impl Layout {
    /// Reads the trailer of `data`. Rejects blocks too short for their restart array (and hash
    /// index) and blocks without entries.
    #[inline]
    pub(crate) fn parse(data: &[u8], hash_index: HashIndex) -> Result<Layout> {
        let len = data.len();
        let count_at = len.checked_sub(NUM_RESTARTS_BYTES).ok_or_else(|| corrupt("block shorter than 4 bytes", 0))?;
        let field = get_u32_at(data, count_at).unwrap_or(0);
        if field & HASH_INDEX_FLAG == 0 || hash_index == HashIndex::Forbidden {
            return Layout::with_restarts(field as usize, count_at, 0, 0);
        }
        let num_restarts = (field & !HASH_INDEX_FLAG) as usize;
        let size_at = count_at.checked_sub(NUM_BUCKETS_BYTES);
        let num_buckets = size_at.and_then(|at| get_u16_at(data, at)).unwrap_or(0);
        match size_at.and_then(|at| at.checked_sub(num_buckets)) {
            Some(start) if num_buckets > 0 && num_restarts <= MAX_HASHED_RESTARTS => {
                Layout::with_restarts(num_restarts, start, start, num_buckets)
            }
            _ => Err(corrupt("hash index does not fit the block", count_at)),
        }
    }

    /// The layout of `num_restarts` restart points ending at `array_end`.
    fn with_restarts(
        num_restarts: usize,
        array_end: usize,
        buckets_offset: usize,
        num_buckets: usize,
    ) -> Result<Layout> {
        let array_bytes = num_restarts.checked_mul(4).filter(|&b| b <= array_end);
        let array_bytes = array_bytes.ok_or_else(|| corrupt("restart count does not fit the block", array_end))?;
        let restarts_offset = array_end - array_bytes;
        if num_restarts == 0 || restarts_offset == 0 {
            return Err(corrupt("block has no entries or no restart points", array_end));
        }
        Ok(Layout { restarts_offset, num_restarts, buckets_offset, num_buckets })
    }

    /// True when the block carries a hash index.
    pub(crate) fn has_hash_index(&self) -> bool {
        self.num_buckets > 0
    }

    /// Where to look for the user key whose [`key_hash`] is `hash`.
    #[inline]
    pub(crate) fn probe(&self, data: &[u8], hash: u64) -> Result<Probe> {
        if self.num_buckets == 0 {
            return Ok(Probe::Search);
        }
        let at = self.buckets_offset + bucket_of(hash, self.num_buckets);
        match data.get(at).copied() {
            Some(BUCKET_EMPTY) => Ok(Probe::Absent),
            Some(BUCKET_COLLISION) => Ok(Probe::Search),
            Some(r) if usize::from(r) < self.num_restarts => Ok(Probe::Interval(usize::from(r))),
            _ => Err(corrupt("hash bucket names a restart interval the block does not have", at)),
        }
    }

    /// Offset of restart point `i`, checked to lie among the entries; corruption if `i` is not
    /// a restart point of the block.
    #[inline]
    pub(crate) fn restart_offset(&self, data: &[u8], i: usize) -> Result<usize> {
        if i >= self.num_restarts {
            return Err(corrupt("no such restart point", self.restarts_offset));
        }
        self.restart(data, i)
    }

    /// Prefetches the key of every restart point of a block with at most
    /// [`PREFETCH_RESTARTS_MAX`] of them. A binary search over the restart keys reads them one
    /// after another, each a likely miss on a block's first touch; asked for at once, the misses
    /// overlap.
    #[inline]
    pub(crate) fn prefetch_restart_keys(&self, data: &[u8]) {
        if self.num_restarts <= PREFETCH_RESTARTS_MAX {
            for r in 0..self.num_restarts {
                if let Ok(offset) = self.restart(data, r) {
                    prefetch(data, offset);
                }
            }
        }
    }

    /// Prefetches the lines of restart interval `i`, which starts at `offset`, after the first
    /// (at most 8). A scan reads the interval's entries in order, each line a likely cache miss
    /// on first touch; asked for at once, the misses overlap. The next restart point sits beside
    /// this one in the block's tail. REQUIRES: `i < num_restarts`, `offset` its restart point.
    #[inline]
    pub(crate) fn prefetch_interval(&self, data: &[u8], i: usize, offset: usize) {
        let end = match i + 1 < self.num_restarts {
            true => self.restart(data, i + 1).unwrap_or(offset),
            false => self.restarts_offset,
        };
        let next_line = offset + 64 - (data.as_ptr() as usize + offset) % 64;
        for line in (next_line..end.min(offset + 512)).step_by(64) {
            prefetch(data, line);
        }
    }

    /// Offset of restart point `i`, checked to lie among the entries. REQUIRES: `i < num_restarts`.
    #[inline]
    fn restart(&self, data: &[u8], i: usize) -> Result<usize> {
        let at = self.restarts_offset + 4 * i;
        let offset = get_u32_at(data, at).unwrap_or(u32::MAX) as usize;
        if offset >= self.restarts_offset {
            return Err(corrupt("restart point outside the entries", at));
        }
        Ok(offset)
    }
}

/// One decoded entry header: where its key suffix and value lie in the block.
#[derive(Debug, Clone)]
struct Entry {
    shared: usize,
    key_delta: Range<usize>,
    value: Range<usize>,
}

/// Decodes the entry at `offset`; everything must end at or before `limit`.
#[inline]
fn decode_entry(data: &[u8], offset: usize, limit: usize) -> Result<Entry> {
    let src = data.get(offset..limit).ok_or_else(|| corrupt("entry outside the block", offset))?;
    let (shared, unshared, value_len, header_len) = match src {
        // Fast path: all three lengths fit one varint byte.
        [a, b, c, ..] if (a | b | c) < 0x80 => (*a as usize, *b as usize, *c as usize, 3),
        _ => decode_entry_header_slow(src).ok_or_else(|| corrupt("bad entry header", offset))?,
    };
    let key_start = offset + header_len;
    let value_start = key_start.checked_add(unshared);
    let end = value_start.and_then(|v| v.checked_add(value_len)).filter(|&e| e <= limit);
    let end = end.ok_or_else(|| corrupt("entry runs past the restart array", offset))?;
    let value_start = end - value_len;
    Ok(Entry { shared, key_delta: key_start..value_start, value: value_start..end })
}

fn decode_entry_header_slow(src: &[u8]) -> Option<(usize, usize, usize, usize)> {
    let (shared, a) = get_varint(src)?;
    let (unshared, b) = get_varint(src.get(a..)?)?;
    let (value_len, c) = get_varint(src.get(a + b..)?)?;
    let to_usize = |v: u64| usize::try_from(v).ok();
    Some((to_usize(shared)?, to_usize(unshared)?, to_usize(value_len)?, a + b + c))
}

/// Checks that a key decoded from disk can be compared and parsed.
#[inline]
pub(crate) fn check_key(key: &[u8], at: usize) -> Result<()> {
    match key.len().checked_sub(TRAILER_BYTES) {
        Some(kind_at) if ValueKind::from_u8(key[kind_at]).is_some() => Ok(()),
        Some(_) => Err(corrupt("unknown value kind in key", at)),
        None => Err(corrupt("key shorter than its trailer", at)),
    }
}

/// Rebuilds the key of `entry` into `key`, which holds the previous key.
#[inline]
fn apply_key(data: &[u8], entry: &Entry, key: &mut Vec<u8>, at: usize) -> Result<()> {
    if entry.shared > key.len() {
        return Err(corrupt("entry shares more bytes than the previous key has", at));
    }
    key.truncate(entry.shared);
    key.extend_from_slice(&data[entry.key_delta.clone()]);
    check_key(key, at)
}

/// Where a positioned reader stands in a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pos {
    /// Offset of the current entry.
    pub(crate) current: usize,
    /// Offset of the entry after it (`== restarts_offset` at the last entry).
    pub(crate) next: usize,
    /// The current value.
    pub(crate) value: Range<usize>,
}

/// The key stored whole at restart point `i`.
#[inline]
fn restart_key(data: &[u8], layout: Layout, i: usize) -> Result<&[u8]> {
    let offset = layout.restart(data, i)?;
    let entry = decode_entry(data, offset, layout.restarts_offset)?;
    if entry.shared != 0 {
        return Err(corrupt("restart point shares key bytes", offset));
    }
    let key = &data[entry.key_delta];
    check_key(key, offset)?;
    Ok(key)
}

/// Blocks with at most this many restart points have all their restart keys prefetched before a
/// binary search ([`seek_ge`]); a 4 KiB block at restart interval 4 has about 8.
const PREFETCH_RESTARTS_MAX: usize = 16;

/// Finds the first entry whose key is `>= target` (an internal key of at least 8 bytes): binary
/// search over the restart keys, then a forward scan. Leaves that entry's key in `key`. `None`
/// when every key in the block is smaller.
#[inline]
pub(crate) fn seek_ge(data: &[u8], layout: Layout, target: &[u8], key: &mut Vec<u8>) -> Result<Option<Pos>> {
    debug_assert!(target.len() >= TRAILER_BYTES);
    layout.prefetch_restart_keys(data);
    // Invariant: restart `lo` is the first restart, or its key is < target.
    let (mut lo, mut hi) = (0, layout.num_restarts - 1);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if compare_internal(restart_key(data, layout, mid)?, target) == Ordering::Less {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    seek_ge_from(data, layout, lo, target, key)
}

/// Like [`seek_ge`], scanning forward from restart point `interval` (whose key must be `<`
/// target, or be the first); used with the interval a [`Probe`] names.
#[inline]
pub(crate) fn seek_ge_from(
    data: &[u8],
    layout: Layout,
    interval: usize,
    target: &[u8],
    key: &mut Vec<u8>,
) -> Result<Option<Pos>> {
    let mut offset = layout.restart(data, interval)?;
    layout.prefetch_interval(data, interval, offset);
    key.clear();
    while offset < layout.restarts_offset {
        let entry = decode_entry(data, offset, layout.restarts_offset)?;
        apply_key(data, &entry, key, offset)?;
        let next = entry.value.end;
        if compare_internal(key, target) != Ordering::Less {
            return Ok(Some(Pos { current: offset, next, value: entry.value }));
        }
        offset = next;
    }
    Ok(None)
}

/// Calls `f(key, value, offset)` for every entry of the block in order, checking the whole
/// restart array on the way: it starts at the first entry, names only entry starts in increasing
/// order, and every restart entry stores its key whole; a hash index must be exactly the one the
/// entries give. Used by verification and index decoding.
pub(crate) fn for_each_entry(
    data: &[u8],
    hash_index: HashIndex,
    mut f: impl FnMut(&[u8], &[u8], usize) -> Result<()>,
) -> Result<()> {
    let layout = Layout::parse(data, hash_index)?;
    let mut key = Vec::new();
    let (mut hashed_keys, mut prev_user) = (Vec::new(), Vec::new());
    let (mut offset, mut next_restart) = (0, 0);
    while offset < layout.restarts_offset {
        let entry = decode_entry(data, offset, layout.restarts_offset)?;
        let is_restart = next_restart < layout.num_restarts && layout.restart(data, next_restart)? == offset;
        if is_restart {
            if entry.shared != 0 {
                return Err(corrupt("restart point shares key bytes", offset));
            }
            next_restart += 1;
        } else if offset == 0 {
            return Err(corrupt("first entry is not a restart point", offset));
        }
        apply_key(data, &entry, &mut key, offset)?;
        if layout.has_hash_index() && (offset == 0 || user_key(&key) != &prev_user[..]) {
            // `next_restart - 1 < num_restarts <= MAX_HASHED_RESTARTS`, checked by `Layout::parse`.
            hashed_keys.push((key_hash(user_key(&key)), (next_restart - 1) as u8));
            prev_user.clear();
            prev_user.extend_from_slice(user_key(&key));
        }
        f(&key, &data[entry.value.clone()], offset)?;
        offset = entry.value.end;
    }
    if next_restart != layout.num_restarts {
        return Err(corrupt("restart array names offsets that are not entry starts, in order", layout.restarts_offset));
    }
    if layout.has_hash_index() {
        let mut expected = Vec::with_capacity(layout.num_buckets);
        build_buckets(&hashed_keys, layout.num_buckets, &mut expected);
        if expected[..] != data[layout.buckets_offset..layout.buckets_offset + layout.num_buckets] {
            return Err(corrupt("hash index does not match the entries", layout.buckets_offset));
        }
    }
    Ok(())
}

/// A bidirectional cursor over one block it co-owns.
#[derive(Debug, Clone)]
pub(crate) struct BlockIter {
    data: Bytes,
    layout: Layout,
    /// `None` when not positioned.
    pos: Option<Pos>,
    key: Vec<u8>,
}

impl BlockIter {
    /// A cursor over `data`, not yet positioned.
    pub(crate) fn new(data: Bytes, hash_index: HashIndex) -> Result<BlockIter> {
        let layout = Layout::parse(&data, hash_index)?;
        Ok(BlockIter { data, layout, pos: None, key: Vec::new() })
    }

    /// True when positioned on an entry.
    pub(crate) fn valid(&self) -> bool {
        self.pos.is_some()
    }

    /// Runs a positioning step; on error the cursor is left unpositioned (ITER-3).
    fn guard(&mut self, step: impl FnOnce(&mut Self) -> Result<()>) -> Result<()> {
        let r = step(self);
        if r.is_err() {
            self.pos = None;
        }
        r
    }

    /// Decodes the entry at `offset` on top of the current key.
    fn parse_at(&mut self, offset: usize) -> Result<()> {
        let entry = decode_entry(&self.data, offset, self.layout.restarts_offset)?;
        apply_key(&self.data, &entry, &mut self.key, offset)?;
        self.pos = Some(Pos { current: offset, next: entry.value.end, value: entry.value });
        Ok(())
    }

    /// Decodes from `offset` (a restart point) forward until the entry that ends at `until`
    /// (exclusive bound: the last entry starting before it).
    fn scan_from_restart(&mut self, offset: usize, until: usize) -> Result<()> {
        self.key.clear();
        self.parse_at(offset)?;
        while let Some(next) = self.pos.as_ref().map(|p| p.next).filter(|&n| n < until) {
            self.parse_at(next)?;
        }
        Ok(())
    }

    /// Positions on the first entry.
    pub(crate) fn seek_to_first(&mut self) -> Result<()> {
        self.guard(|it| {
            it.key.clear();
            it.parse_at(0)
        })
    }

    /// Positions on the last entry.
    pub(crate) fn seek_to_last(&mut self) -> Result<()> {
        self.guard(|it| {
            let start = it.layout.restart(&it.data, it.layout.num_restarts - 1)?;
            it.scan_from_restart(start, it.layout.restarts_offset)
        })
    }

    /// Positions on the first entry `>= target`; unpositioned when there is none.
    pub(crate) fn seek(&mut self, target: &[u8]) -> Result<()> {
        self.guard(|it| {
            it.pos = seek_ge(&it.data, it.layout, target, &mut it.key)?;
            Ok(())
        })
    }

    /// Moves to the next entry; unpositioned after the last. REQUIRES: `valid()`.
    pub(crate) fn next(&mut self) -> Result<()> {
        let next = self.pos.as_ref().expect("ITER-1: next() requires valid()").next;
        if next >= self.layout.restarts_offset {
            self.pos = None;
            return Ok(());
        }
        self.guard(|it| it.parse_at(next))
    }

    /// Moves to the previous entry; unpositioned before the first. REQUIRES: `valid()`.
    pub(crate) fn prev(&mut self) -> Result<()> {
        let original = self.pos.as_ref().expect("ITER-1: prev() requires valid()").current;
        if original == 0 {
            self.pos = None;
            return Ok(());
        }
        self.guard(|it| {
            let start = it.restart_before(original)?;
            it.scan_from_restart(start, original)?;
            match &it.pos {
                Some(p) if p.next == original => Ok(()),
                _ => Err(corrupt("entries do not chain to the current one", original)),
            }
        })
    }

    /// Offset of the last restart point before `offset` (binary search over the restart array).
    fn restart_before(&self, offset: usize) -> Result<usize> {
        let (mut lo, mut hi) = (0, self.layout.num_restarts);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.layout.restart(&self.data, mid)? < offset {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let i = lo.checked_sub(1).ok_or_else(|| corrupt("no restart point before entry", offset))?;
        self.layout.restart(&self.data, i)
    }

    /// The current key. REQUIRES: `valid()`.
    pub(crate) fn key(&self) -> &[u8] {
        debug_assert!(self.valid());
        &self.key
    }

    /// The current value. REQUIRES: `valid()`.
    pub(crate) fn value(&self) -> &[u8] {
        &self.data[self.pos.as_ref().expect("ITER-1: value() requires valid()").value.clone()]
    }

    /// The current value as a slice of the block's bytes, without copying. REQUIRES: `valid()`.
    pub(crate) fn value_bytes(&self) -> Bytes {
        self.data.slice(self.pos.as_ref().expect("ITER-1: value() requires valid()").value.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_base::key::{InternalKey, SeqNum};
    use proptest::prelude::*;

    fn ik(k: &[u8], seq: u64) -> Vec<u8> {
        InternalKey::new(k, SeqNum(seq), ValueKind::Set).encoded().to_vec()
    }

    fn build(entries: &[(Vec<u8>, Vec<u8>)], interval: usize) -> Bytes {
        build_with(BlockBuilder::new(interval), entries)
    }

    fn build_hashed(entries: &[(Vec<u8>, Vec<u8>)], interval: usize) -> Bytes {
        build_with(BlockBuilder::with_hash_index(interval), entries)
    }

    fn build_with(mut b: BlockBuilder, entries: &[(Vec<u8>, Vec<u8>)]) -> Bytes {
        for (k, v) in entries {
            b.add(k, v);
        }
        let size = b.estimated_size_bytes();
        let out = Bytes::copy_from_slice(b.finish());
        assert_eq!(out.len(), size, "size estimate is exact once finished");
        out
    }

    fn sorted_entries(raw: std::collections::BTreeSet<(Vec<u8>, u16)>) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut es: Vec<(Vec<u8>, Vec<u8>)> =
            raw.into_iter().map(|(k, s)| (ik(&k, u64::from(s)), k.iter().rev().copied().collect())).collect();
        es.sort_by(|a, b| compare_internal(&a.0, &b.0));
        es
    }

    #[test]
    fn layout_is_prefix_compressed_with_restarts() {
        let es = vec![(ik(b"apple", 1), b"x".to_vec()), (ik(b"apricot", 1), b"y".to_vec())];
        let data = build(&es, 16);
        // Second entry shares "ap" with the first: shared=2, unshared=5+8, value_len=1.
        let second = 3 + 13 + 1;
        assert_eq!(&data[second..second + 3], &[2, 13, 1]);
        assert_eq!(&data[data.len() - 8..], &[0, 0, 0, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn hostile_blocks_are_corruption() {
        let cases: [&[u8]; 6] = [
            b"",
            &[1, 0, 0],
            &[0, 0, 0, 0],
            &[0xff, 0xff, 0xff, 0x7f],
            &[9, 9, 1, 0, 0, 0],
            &[3, 5, 0, 0, 0, 0, 0, 1, 0, 0, 0],
        ];
        for bad in cases {
            let outcome =
                BlockIter::new(Bytes::copy_from_slice(bad), HashIndex::Allowed).and_then(|mut it| it.seek_to_first());
            match outcome {
                Err(e) => assert!(e.is_corruption(), "{bad:?}: {e}"),
                Ok(()) => panic!("{bad:?} accepted"),
            }
        }
    }

    #[test]
    fn restart_point_with_shared_bytes_is_corruption() {
        let es = vec![(ik(b"a", 1), vec![]), (ik(b"b", 1), vec![])];
        let mut data = build(&es, 1).to_vec();
        data[0] = 1; // first entry claims a shared prefix
        let mut it = BlockIter::new(Bytes::from(data), HashIndex::Forbidden).expect("layout");
        assert!(it.seek(&ik(b"b", 1)).is_err());
        assert!(!it.valid());
    }

    #[test]
    fn full_walk_checks_the_restart_array() {
        let es = vec![(ik(b"a", 1), vec![]), (ik(b"b", 1), vec![]), (ik(b"c", 1), vec![])];
        let good = build(&es, 2).to_vec();
        for_each_entry(&good, HashIndex::Forbidden, |_, _, _| Ok(())).expect("intact block");
        // Restart array is [0, offset of "c"]; point the second restart at "b" instead.
        let n = good.len();
        let mut misaligned = good.clone();
        misaligned[n - 8] = 11;
        assert!(for_each_entry(&misaligned, HashIndex::Forbidden, |_, _, _| Ok(())).is_err_and(|e| e.is_corruption()));
        let mut not_at_zero = good.clone();
        not_at_zero[n - 12] = 11;
        assert!(for_each_entry(&not_at_zero, HashIndex::Forbidden, |_, _, _| Ok(())).is_err_and(|e| e.is_corruption()));
    }

    /// The point lookup a table runs in the block `Index::find` names: probe, then scan.
    fn point_lookup(data: &[u8], target: &[u8]) -> Result<Option<Vec<u8>>> {
        let layout = Layout::parse(data, HashIndex::Allowed)?;
        let mut key = Vec::new();
        let found = match layout.probe(data, key_hash(user_key(target)))? {
            Probe::Absent => return Ok(None),
            Probe::Interval(r) => seek_ge_from(data, layout, r, target, &mut key)?,
            Probe::Search => seek_ge(data, layout, target, &mut key)?,
        };
        Ok(found.map(|_| key).filter(|k| user_key(k) == user_key(target)))
    }

    #[test]
    fn hash_index_sits_between_restarts_and_count() {
        let es: Vec<_> = (0u8..6).map(|i| (ik(&[b'k', i], 1), vec![i])).collect();
        let data = build_hashed(&es, 2);
        let n = data.len();
        assert_eq!(&data[n - 4..], &(3u32 | HASH_INDEX_FLAG).to_le_bytes(), "3 restarts, flag set");
        assert_eq!(&data[n - 6..n - 4], &12u16.to_le_bytes(), "2 buckets per key");
        let layout = Layout::parse(&data, HashIndex::Allowed).expect("layout");
        assert!(layout.has_hash_index());
        assert_eq!(layout.restarts_offset, n - 4 - 2 - 12 - 12);
        // Every bucket is empty or names interval key / 2 of a key hashing to it.
        for (i, (k, _)) in es.iter().enumerate() {
            match layout.probe(&data, key_hash(user_key(k))).expect("probe") {
                Probe::Interval(r) => assert_eq!(r, i / 2),
                Probe::Search => {}
                Probe::Absent => panic!("key {i} reported absent"),
            }
        }
        // The same bytes are corruption where hash indexes are not allowed.
        assert!(Layout::parse(&data, HashIndex::Forbidden).is_err_and(|e| e.is_corruption()));
    }

    #[test]
    fn hostile_hash_indexes_are_corruption() {
        let es: Vec<_> = (0u8..6).map(|i| (ik(&[b'k', i], 1), vec![i])).collect();
        let good = build_hashed(&es, 2).to_vec();
        let n = good.len();
        // More buckets than the block has room for; zero buckets.
        for buckets in [u16::MAX, 0] {
            let mut bad = good.clone();
            bad[n - 6..n - 4].copy_from_slice(&buckets.to_le_bytes());
            assert!(Layout::parse(&bad, HashIndex::Allowed).is_err_and(|e| e.is_corruption()), "{buckets}");
        }
        // More restarts than a bucket can name.
        let mut bad = good.clone();
        bad[n - 4..].copy_from_slice(&(300u32 | HASH_INDEX_FLAG).to_le_bytes());
        assert!(Layout::parse(&bad, HashIndex::Allowed).is_err_and(|e| e.is_corruption()));
        // A bucket naming a restart interval past the last, or changed to another interval.
        let layout = Layout::parse(&good, HashIndex::Allowed).expect("layout");
        let bucket = layout.buckets_offset + bucket_of(key_hash(user_key(&es[0].0)), layout.num_buckets);
        let mut bad = good.clone();
        bad[bucket] = 9;
        assert!(layout.probe(&bad, key_hash(user_key(&es[0].0))).is_err_and(|e| e.is_corruption()));
        for tampered in [9, BUCKET_EMPTY, good[bucket] ^ 1] {
            let mut bad = good.clone();
            bad[bucket] = tampered;
            let walk = for_each_entry(&bad, HashIndex::Allowed, |_, _, _| Ok(()));
            assert!(walk.is_err_and(|e| e.is_corruption()), "bucket set to {tampered}");
        }
        for_each_entry(&good, HashIndex::Allowed, |_, _, _| Ok(())).expect("intact block");
    }

    #[test]
    fn blocks_with_too_many_restarts_have_no_hash_index() {
        let es: Vec<_> = (0u16..300).map(|i| (ik(&i.to_be_bytes(), 1), vec![])).collect();
        let data = build_hashed(&es, 1);
        let layout = Layout::parse(&data, HashIndex::Allowed).expect("layout");
        assert!(!layout.has_hash_index());
        assert_eq!(layout.probe(&data, 42).expect("probe"), Probe::Search);
        let data = build_hashed(&es[..MAX_HASHED_RESTARTS], 1);
        assert!(Layout::parse(&data, HashIndex::Allowed).expect("layout").has_hash_index());
        for (k, _) in &es[..MAX_HASHED_RESTARTS] {
            assert_eq!(point_lookup(&data, k).expect("lookup").as_deref(), Some(&k[..]));
        }
    }

    proptest! {
        #[test]
        fn block_round_trips(
            raw in prop::collection::btree_set((prop::collection::vec(0u8..4, 0..6), 0u16..4), 1..80),
            interval in 1usize..6,
            probes in prop::collection::vec((prop::collection::vec(0u8..4, 0..6), 0u16..5), 0..20),
            hashed: bool,
        ) {
            let es = sorted_entries(raw);
            let data = if hashed { build_hashed(&es, interval) } else { build(&es, interval) };
            let mode = if hashed { HashIndex::Allowed } else { HashIndex::Forbidden };
            let mut it = BlockIter::new(data.clone(), mode).map_err(|e| TestCaseError::fail(e.to_string()))?;
            // Forward.
            it.seek_to_first().map_err(|e| TestCaseError::fail(e.to_string()))?;
            for (k, v) in &es {
                prop_assert!(it.valid());
                prop_assert_eq!(it.key(), &k[..]);
                prop_assert_eq!(it.value(), &v[..]);
                prop_assert_eq!(&it.value_bytes()[..], &v[..]);
                it.next().map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            prop_assert!(!it.valid());
            // Backward.
            it.seek_to_last().map_err(|e| TestCaseError::fail(e.to_string()))?;
            for (k, _) in es.iter().rev() {
                prop_assert!(it.valid());
                prop_assert_eq!(it.key(), &k[..]);
                it.prev().map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            prop_assert!(!it.valid());
            // Seeks.
            let present = es.iter().map(|(k, _)| user_key(k).to_vec());
            for (pk, ps) in probes.into_iter().chain(present.map(|k| (k, 2))) {
                let target = ik(&pk, u64::from(ps));
                let expect = es.iter().find(|(k, _)| compare_internal(k, &target) != Ordering::Less);
                it.seek(&target).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(it.valid(), expect.is_some());
                if let Some((k, _)) = expect {
                    prop_assert_eq!(it.key(), &k[..]);
                }
                // A point lookup finds the same entry when it has the target's user key.
                let same_user = expect.map(|(k, _)| k.clone()).filter(|k| user_key(k) == &pk[..]);
                prop_assert_eq!(point_lookup(&data, &target).map_err(|e| TestCaseError::fail(e.to_string()))?, same_user);
            }
            // Verification walk sees every entry (and checks the hash index).
            let mut n = 0;
            for_each_entry(&data, mode, |k, _, _| { n += usize::from(k == &es[n].0[..]); Ok(()) })
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(n, es.len());
        }

        #[test]
        fn arbitrary_block_bytes_never_panic(data: Vec<u8>, target in prop::collection::vec(any::<u8>(), 8..20)) {
            let data = Bytes::from(data);
            let _ = point_lookup(&data, &target);
            if let Ok(mut it) = BlockIter::new(data.clone(), HashIndex::Allowed) {
                let _ = it.seek(&target);
                let mut steps = 0;
                if it.seek_to_first().is_ok() {
                    while it.valid() && steps < 1000 && it.next().is_ok() { steps += 1; }
                }
                if it.seek_to_last().is_ok() {
                    while it.valid() && steps < 2000 && it.prev().is_ok() { steps += 1; }
                }
            }
            let _ = for_each_entry(&data, HashIndex::Allowed, |_, _, _| Ok(()));
        }
    }
}
