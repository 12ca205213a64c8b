//! Data-block layout: the builder that packs sorted entries with prefix compression and restart
//! points, and the readers that search and walk one decoded block
//! (docs/format/sstable.md#data-block). The index block uses the same layout.
//!
//! Owns the in-block bytes only. Does not compress, checksum or locate blocks: the table writer
//! seals blocks and the table reader fetches and verifies them before any function here sees them.
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
use cairn_base::key::{TRAILER_BYTES, ValueKind, compare_internal};
use cairn_base::{Error, Result};

/// Bytes of the `num_restarts` field at the end of a block.
const NUM_RESTARTS_BYTES: usize = 4;

/// Packs sorted entries into one block.
#[derive(Debug)]
pub(crate) struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    restart_interval: usize,
    /// Entries added since the last `reset`.
    entries: usize,
    last_key: Vec<u8>,
}

impl BlockBuilder {
    /// A builder placing a restart point every `restart_interval` entries. REQUIRES: `restart_interval >= 1`.
    pub(crate) fn new(restart_interval: usize) -> Self {
        debug_assert!(restart_interval >= 1);
        BlockBuilder { buf: Vec::new(), restarts: Vec::new(), restart_interval, entries: 0, last_key: Vec::new() }
    }

    /// Appends an entry. REQUIRES: `key` sorts after every key added since the last reset.
    pub(crate) fn add(&mut self, key: &[u8], value: &[u8]) {
        debug_assert!(self.entries == 0 || compare_internal(&self.last_key, key) == Ordering::Less);
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
        self.buf.len() + 4 * self.restarts.len() + NUM_RESTARTS_BYTES
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
        let count = u32::try_from(self.restarts.len()).expect("restart count bounded by block size");
        put_u32(&mut self.buf, count);
        &self.buf
    }

    /// Empties the builder, keeping its allocations.
    pub(crate) fn reset(&mut self) {
        self.buf.clear();
        self.restarts.clear();
        self.entries = 0;
        self.last_key.clear();
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

/// The validated geometry of a block: where the entries end and how many restart points follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Offset of the restart array; entries occupy `[0, restarts_offset)`.
    restarts_offset: usize,
    num_restarts: usize,
}

impl Layout {
    /// Reads the trailer of `data`. Rejects blocks too short for their restart array and blocks
    /// without entries.
    #[inline]
    pub(crate) fn parse(data: &[u8]) -> Result<Layout> {
        let len = data.len();
        let count_at = len.checked_sub(NUM_RESTARTS_BYTES).ok_or_else(|| corrupt("block shorter than 4 bytes", 0))?;
        let num_restarts = get_u32_at(data, count_at).unwrap_or(0) as usize;
        let array_bytes = num_restarts.checked_mul(4).filter(|&b| b <= count_at);
        let array_bytes = array_bytes.ok_or_else(|| corrupt("restart count does not fit the block", count_at))?;
        let restarts_offset = count_at - array_bytes;
        if num_restarts == 0 || restarts_offset == 0 {
            return Err(corrupt("block has no entries or no restart points", count_at));
        }
        Ok(Layout { restarts_offset, num_restarts })
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

/// Finds the first entry whose key is `>= target` (an internal key of at least 8 bytes): binary
/// search over the restart keys, then a forward scan. Leaves that entry's key in `key`. `None`
/// when every key in the block is smaller.
#[inline]
pub(crate) fn seek_ge(data: &[u8], layout: Layout, target: &[u8], key: &mut Vec<u8>) -> Result<Option<Pos>> {
    debug_assert!(target.len() >= TRAILER_BYTES);
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
    let mut offset = layout.restart(data, lo)?;
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
/// order, and every restart entry stores its key whole. Used by verification and index decoding.
pub(crate) fn for_each_entry(data: &[u8], mut f: impl FnMut(&[u8], &[u8], usize) -> Result<()>) -> Result<()> {
    let layout = Layout::parse(data)?;
    let mut key = Vec::new();
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
        f(&key, &data[entry.value.clone()], offset)?;
        offset = entry.value.end;
    }
    if next_restart != layout.num_restarts {
        return Err(corrupt("restart array names offsets that are not entry starts, in order", layout.restarts_offset));
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
    pub(crate) fn new(data: Bytes) -> Result<BlockIter> {
        let layout = Layout::parse(&data)?;
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
        let mut b = BlockBuilder::new(interval);
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
            let outcome = BlockIter::new(Bytes::copy_from_slice(bad)).and_then(|mut it| it.seek_to_first());
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
        let mut it = BlockIter::new(Bytes::from(data)).expect("layout");
        assert!(it.seek(&ik(b"b", 1)).is_err());
        assert!(!it.valid());
    }

    #[test]
    fn full_walk_checks_the_restart_array() {
        let es = vec![(ik(b"a", 1), vec![]), (ik(b"b", 1), vec![]), (ik(b"c", 1), vec![])];
        let good = build(&es, 2).to_vec();
        for_each_entry(&good, |_, _, _| Ok(())).expect("intact block");
        // Restart array is [0, offset of "c"]; point the second restart at "b" instead.
        let n = good.len();
        let mut misaligned = good.clone();
        misaligned[n - 8] = 11;
        assert!(for_each_entry(&misaligned, |_, _, _| Ok(())).is_err_and(|e| e.is_corruption()));
        let mut not_at_zero = good.clone();
        not_at_zero[n - 12] = 11;
        assert!(for_each_entry(&not_at_zero, |_, _, _| Ok(())).is_err_and(|e| e.is_corruption()));
    }

    proptest! {
        #[test]
        fn block_round_trips(
            raw in prop::collection::btree_set((prop::collection::vec(0u8..4, 0..6), 0u16..4), 1..80),
            interval in 1usize..6,
            probes in prop::collection::vec((prop::collection::vec(0u8..4, 0..6), 0u16..5), 0..20),
        ) {
            let es = sorted_entries(raw);
            let data = build(&es, interval);
            let mut it = BlockIter::new(data.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
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
            for (pk, ps) in probes {
                let target = ik(&pk, u64::from(ps));
                let expect = es.iter().find(|(k, _)| compare_internal(k, &target) != Ordering::Less);
                it.seek(&target).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(it.valid(), expect.is_some());
                if let Some((k, _)) = expect {
                    prop_assert_eq!(it.key(), &k[..]);
                }
            }
            // Verification walk sees every entry.
            let mut n = 0;
            for_each_entry(&data, |k, _, _| { n += usize::from(k == &es[n].0[..]); Ok(()) })
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(n, es.len());
        }

        #[test]
        fn arbitrary_block_bytes_never_panic(data: Vec<u8>, target in prop::collection::vec(any::<u8>(), 8..20)) {
            let data = Bytes::from(data);
            if let Ok(mut it) = BlockIter::new(data.clone()) {
                let _ = it.seek(&target);
                let mut steps = 0;
                if it.seek_to_first().is_ok() {
                    while it.valid() && steps < 1000 && it.next().is_ok() { steps += 1; }
                }
                if it.seek_to_last().is_ok() {
                    while it.valid() && steps < 2000 && it.prev().is_ok() { steps += 1; }
                }
            }
            let _ = for_each_entry(&data, |_, _, _| Ok(()));
        }
    }
}
