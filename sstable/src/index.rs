//! The index: one entry per data block mapping a separator key to the block's handle
//! (docs/format/sstable.md#index-block). Written as a block with restart interval 1, held decoded
//! in memory by readers.
//!
//! Owns separator shortening, the index block's encoding and the in-memory search. Does not read
//! blocks (the table does) and does not decide where blocks end (the table writer does).
//!
//! Invariants: separators are strictly increasing, and separator `i` is `>= ` every key of block
//! `i` and `<` every key of block `i + 1`; in a decoded index the handles tile the data region in
//! order (checked by [`Index::check_tiling`]).

use std::cmp::Ordering;

use cairn_base::key::{MAX_SEQ, ValueKind, compare_internal, pack_trailer, user_key};
use cairn_base::prefetch::prefetch_value;
use cairn_base::{Error, Result};

use crate::block::{self, BlockBuilder, HashIndex, common_prefix_len};
use crate::footer::BlockHandle;

/// Writes `dst = s` with `last <= s < next` (internal keys), as short as cheaply possible: the
/// user key of `last` cut after the first byte where it differs from `next`'s, that byte
/// incremented, when this still sorts below `next`; otherwise `last` itself.
pub(crate) fn shortest_separator(last: &[u8], next: &[u8], dst: &mut Vec<u8>) {
    debug_assert!(compare_internal(last, next) == Ordering::Less);
    dst.clear();
    let (last_user, next_user) = (user_key(last), user_key(next));
    let n = common_prefix_len(last_user, next_user);
    if let (Some(&a), Some(&b)) = (last_user.get(n), next_user.get(n))
        && a < 0xff
        && a + 1 < b
        && n + 1 < last_user.len()
    {
        dst.extend_from_slice(&last_user[..=n]);
        dst[n] = a + 1;
        // The smallest internal key with this user key; still > last because its user key is.
        dst.extend_from_slice(&pack_trailer(MAX_SEQ, ValueKind::Set).to_le_bytes());
        debug_assert!(compare_internal(last, dst) == Ordering::Less);
        debug_assert!(compare_internal(dst, next) == Ordering::Less);
        return;
    }
    dst.extend_from_slice(last);
}

/// Builds the index block.
#[derive(Debug)]
pub(crate) struct IndexBuilder {
    block: BlockBuilder,
    separator: Vec<u8>,
    value: Vec<u8>,
}

impl IndexBuilder {
    /// An empty index.
    pub(crate) fn new() -> Self {
        IndexBuilder { block: BlockBuilder::new(1), separator: Vec::new(), value: Vec::new() }
    }

    /// Records a finished data block whose last key is `last_key`; `next_key` is the first key
    /// of the following block, or `None` for the table's last block.
    pub(crate) fn add(&mut self, last_key: &[u8], next_key: Option<&[u8]>, handle: BlockHandle) {
        match next_key {
            Some(next) => shortest_separator(last_key, next, &mut self.separator),
            None => {
                self.separator.clear();
                self.separator.extend_from_slice(last_key);
            }
        }
        self.value.clear();
        handle.encode_varint(&mut self.value);
        self.block.add(&self.separator, &self.value);
    }

    /// The finished index block. REQUIRES: at least one `add`.
    pub(crate) fn finish(&mut self) -> &[u8] {
        self.block.finish()
    }
}

/// One data block as the index search sees it. A probe of the binary search reads one slot,
/// which holds what the probe compares first (a word of the separator's user key) and the
/// block's handle, so a search touches one cache line per probe and the found block's handle is
/// already in cache; the whole separator is read only when the words tie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(32))]
struct Slot {
    /// Bytes `skip .. skip + 8` of the separator's user key, zero-padded, as a big-endian word
    /// ([`Index::word`]).
    word: u64,
    /// The block's offset.
    offset: u64,
    /// The block's size (a handle whose size does not fit 32 bits is corruption).
    size_bytes: u32,
    /// The separator is `keys[key_start..key_end]`.
    key_start: u32,
    key_end: u32,
}

/// A decoded index: one [`Slot`] per data block, separators stored back to back.
///
/// The words order like the separators they come from: every separator's user key starts with
/// the same `skip` bytes (the common prefix of the first and last), and for keys sharing a
/// prefix, cutting both after eight more bytes and padding with zeros keeps `a <= b` (zero is the
/// smallest byte), so a word strictly below another belongs to a strictly smaller separator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Index {
    slots: Vec<Slot>,
    keys: Vec<u8>,
    /// Length of the user-key prefix every separator shares.
    skip: usize,
}

impl Index {
    /// Decodes an index block's payload, checking that separators strictly increase. Errors are
    /// relative to the block.
    pub(crate) fn decode(payload: &[u8]) -> Result<Index> {
        let mut index = Index { slots: Vec::new(), keys: Vec::new(), skip: 0 };
        block::for_each_entry(payload, HashIndex::Forbidden, |key, value, at| {
            if let Some(prev) = index.len().checked_sub(1).map(|i| index.key(i))
                && compare_internal(prev, key) != Ordering::Less
            {
                return Err(block::corrupt("index separators not increasing", at));
            }
            let bad_handle = || block::corrupt("bad index block handle", at);
            let handle = BlockHandle::decode_varint(value).map_err(|_| bad_handle())?;
            let size_bytes = u32::try_from(handle.size_bytes).map_err(|_| bad_handle())?;
            // The payload is a block, so offsets into a copy of its keys fit 32 bits.
            let key_start = u32::try_from(index.keys.len()).map_err(|_| bad_handle())?;
            index.keys.extend_from_slice(key);
            let key_end = u32::try_from(index.keys.len()).map_err(|_| bad_handle())?;
            index.slots.push(Slot { word: 0, offset: handle.offset, size_bytes, key_start, key_end });
            Ok(())
        })?;
        if let (Some(first), Some(last)) = (index.slots.first(), index.slots.last()) {
            let (first, last) = (index.key_at(first), index.key_at(last));
            index.skip = common_prefix_len(user_key(first), user_key(last));
        }
        for i in 0..index.slots.len() {
            index.slots[i].word = Self::word(user_key(index.key_at(&index.slots[i])), index.skip);
        }
        Ok(index)
    }

    /// Bytes `skip .. skip + 8` of `user_key`, zero-padded, as a big-endian word.
    #[inline]
    fn word(user_key: &[u8], skip: usize) -> u64 {
        let mut w = [0u8; 8];
        let rest = user_key.get(skip..).unwrap_or_default();
        let n = rest.len().min(8);
        w[..n].copy_from_slice(&rest[..n]);
        u64::from_be_bytes(w)
    }

    /// Number of data blocks.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    fn key_at(&self, slot: &Slot) -> &[u8] {
        &self.keys[slot.key_start as usize..slot.key_end as usize]
    }

    /// Separator `i`. REQUIRES: `i < len()`.
    #[inline]
    pub(crate) fn key(&self, i: usize) -> &[u8] {
        self.key_at(&self.slots[i])
    }

    /// Handle of data block `i`. REQUIRES: `i < len()`.
    #[inline]
    pub(crate) fn handle(&self, i: usize) -> BlockHandle {
        let s = &self.slots[i];
        BlockHandle { offset: s.offset, size_bytes: u64::from(s.size_bytes) }
    }

    /// The word `target` is compared by, or `None` when its user key does not start with the
    /// prefix every separator shares (then only whole keys decide).
    #[inline]
    fn target_word(&self, target: &[u8]) -> Option<u64> {
        let first = self.slots.first()?;
        let (t, shared) = (user_key(target), &user_key(self.key_at(first))[..self.skip]);
        t.starts_with(shared).then(|| Self::word(t, self.skip))
    }

    /// True if separator `i` sorts before `target`, whose word is `word` (if it has one).
    #[inline]
    fn is_before(&self, i: usize, target: &[u8], word: Option<u64>) -> bool {
        let slot = &self.slots[i];
        match word {
            Some(w) if slot.word != w => slot.word < w,
            _ => compare_internal(self.key_at(slot), target) == Ordering::Less,
        }
    }

    /// The first block whose separator is `>= target`, i.e. the only block that can hold the
    /// first entry `>= target` unless `target` is past its last key; `len()` if none.
    #[inline]
    pub(crate) fn find(&self, target: &[u8]) -> usize {
        // NB: the search must stay branchy. Searching with conditional moves (a dense array of
        // prefixes with `partition_point`, or a branch-free key compare) measured up to 10 %
        // slower on readrandom (docs/benchmarks.md#read-path-changes): each probe's load then
        // waits for the previous one instead of being speculated.
        let word = self.target_word(target);
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.is_before(mid, target, word) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// [`Index::find`] for every target at once: `out[k] = find(targets[k])`. The binary
    /// searches advance in lockstep, one probe per target per round, and each round first
    /// prefetches the slots it is about to compare, so the cache misses of all targets overlap
    /// instead of following one another (an index larger than the caches costs one miss per
    /// probe).
    pub(crate) fn find_many(&self, targets: &[&[u8]], out: &mut Vec<usize>) {
        out.clear();
        out.resize(targets.len(), 0);
        let words: Vec<Option<u64>> = targets.iter().map(|t| self.target_word(t)).collect();
        let mut hi = vec![self.len(); targets.len()];
        let mid = |lo: usize, hi: usize| lo + (hi - lo) / 2;
        loop {
            let mut active = false;
            for (k, &h) in hi.iter().enumerate() {
                if out[k] < h {
                    prefetch_value(&self.slots[mid(out[k], h)]);
                    active = true;
                }
            }
            if !active {
                return;
            }
            for (k, h) in hi.iter_mut().enumerate() {
                if out[k] < *h {
                    let m = mid(out[k], *h);
                    if self.is_before(m, targets[k], words[k]) {
                        out[k] = m + 1;
                    } else {
                        *h = m;
                    }
                }
            }
        }
    }

    /// Checks that the handles cover `[data_start, data_end)` exactly, in order, and that each
    /// block can hold an envelope trailer. Errors are relative to the index block.
    pub(crate) fn check_tiling(&self, data_start: u64, data_end: u64) -> Result<()> {
        let mut expected = data_start;
        for i in 0..self.len() {
            let h = self.handle(i);
            let fits = h.size_bytes >= cairn_base::envelope::TRAILER_BYTES as u64;
            if h.offset != expected || !fits || h.end().is_none_or(|end| end > data_end) {
                return Err(Error::corruption("", 0, format!("index handle {i} does not tile the data region")));
            }
            expected = h.offset + h.size_bytes;
        }
        if expected != data_end || self.slots.is_empty() {
            return Err(Error::corruption("", 0, "data blocks do not fill the data region"));
        }
        Ok(())
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

    #[test]
    fn separator_is_shortened_between_distant_user_keys() {
        let mut s = Vec::new();
        shortest_separator(&ik(b"apple-pie", 3), &ik(b"cherry", 9), &mut s);
        assert_eq!(user_key(&s), b"b");
        shortest_separator(&ik(b"abc", 3), &ik(b"abd", 9), &mut s);
        assert_eq!(s, ik(b"abc", 3), "adjacent bytes cannot be shortened");
        shortest_separator(&ik(b"ab", 3), &ik(b"abzzz", 9), &mut s);
        assert_eq!(s, ik(b"ab", 3), "a prefix cannot be shortened");
        shortest_separator(&ik(b"k", 5), &ik(b"k", 4), &mut s);
        assert_eq!(s, ik(b"k", 5), "same user key keeps the last key");
    }

    #[test]
    fn tiling_rejects_gaps_and_overruns() {
        let mut b = IndexBuilder::new();
        b.add(&ik(b"a", 1), Some(&ik(b"c", 1)), BlockHandle { offset: 28, size_bytes: 10 });
        b.add(&ik(b"c", 1), None, BlockHandle { offset: 38, size_bytes: 10 });
        let index = Index::decode(b.finish()).expect("decode");
        index.check_tiling(28, 48).expect("tiles");
        assert!(index.check_tiling(28, 49).is_err());
        assert!(index.check_tiling(27, 48).is_err());
        assert!(index.check_tiling(28, 47).is_err());
    }

    proptest! {
        #[test]
        fn index_round_trips_and_finds(
            shared in prop::collection::vec(0u8..4, 0..10),
            users in prop::collection::btree_set(prop::collection::vec(0u8..4, 0..12), 2..40),
            probes in prop::collection::vec((any::<bool>(), prop::collection::vec(0u8..4, 0..12), 0u64..10), 0..20),
        ) {
            // Blocks of one key each: separators must fall between neighbours. Every key starts
            // with `shared` (the words then skip it); probes may or may not.
            let with_shared = |u: &[u8]| [&shared[..], u].concat();
            let keys: Vec<Vec<u8>> = users.iter().map(|u| ik(&with_shared(u), 5)).collect();
            let mut b = IndexBuilder::new();
            for (i, k) in keys.iter().enumerate() {
                b.add(k, keys.get(i + 1).map(|n| &n[..]), BlockHandle { offset: i as u64, size_bytes: 1 });
            }
            let index = Index::decode(b.finish()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(index.len(), keys.len());
            for (i, k) in keys.iter().enumerate() {
                prop_assert_eq!(index.handle(i).offset, i as u64);
                prop_assert!(compare_internal(index.key(i), k) != Ordering::Less);
                if let Some(next) = keys.get(i + 1) {
                    prop_assert!(compare_internal(index.key(i), next) == Ordering::Less);
                }
            }
            for (prefixed, u, s) in probes {
                let t = if prefixed { ik(&with_shared(&u), s) } else { ik(&u, s) };
                let first_ge = keys.iter().position(|k| compare_internal(k, &t) != Ordering::Less).unwrap_or(keys.len());
                let found = index.find(&t);
                let mut many = Vec::new();
                index.find_many(&[&t[..], &t[..]], &mut many);
                prop_assert_eq!(&many, &vec![found, found]);
                let first_separator_ge = (0..index.len())
                    .find(|&i| compare_internal(index.key(i), &t) != Ordering::Less)
                    .unwrap_or(index.len());
                prop_assert_eq!(found, first_separator_ge);
                // The found block is the one holding the first key >= t, or the block before it
                // when t falls between that block's last key and its separator.
                prop_assert!(found == first_ge || found + 1 == first_ge, "found {} expected {}", found, first_ge);
            }
        }

        #[test]
        fn arbitrary_index_bytes_never_panic(bytes: Vec<u8>) {
            if let Ok(index) = Index::decode(&bytes) {
                let _ = index.check_tiling(28, 1000);
                let _ = index.find(&[0; 8]);
            }
        }
    }
}
