//! Point reads: `get`, `contains_key`, `multi_get` (docs/architecture.md#a-read).
//!
//! A read pins one sequence number and then one super-version (in that order, so every write
//! at or below the sequence number is reachable from the super-version: INV-COMMIT-1) and
//! probes, newest data first: the active memtable, the sealed memtables, every level-0 table
//! whose range holds the key (newest first), then at most one table per deeper level. The
//! first entry found with a sequence number at or below the read's decides: a value, or a
//! tombstone (absent). INV-LSM-3: for one user key, every version in level `n` is newer than
//! every version in level `n + 1`, and level-0 tables hold disjoint sequence ranges ordered
//! newest first. The key is hashed once; every table's filter reuses the hash.

use bytes::Bytes;
use cairn_base::hash::key_hash;
use cairn_base::{Result, SeqNum, ValueKind};
use cairn_sstable::Table;

use crate::inner::Inner;
use crate::super_version::SuperVersion;

/// Values up to this size are copied out of a table's block rather than shared with it: a
/// copy of a small value is cheaper than an update of the memory map's shared reference
/// count, which every reading core would otherwise write.
const COPY_VALUE_MAX_BYTES: usize = 512;

impl Inner {
    /// The value of `key` as of `seq` (or now).
    pub fn get(&self, key: &[u8], seq: Option<SeqNum>) -> Result<Option<Bytes>> {
        self.check_open()?;
        let seq = seq.unwrap_or_else(|| self.read_seq());
        let hash = key_hash(key);
        self.with_super_version(|sv| probe(sv, key, hash, seq, Bytes::copy_from_slice, table_value))
    }

    /// True if `key` has a value as of `seq` (or now). Never builds the value.
    pub fn contains_key(&self, key: &[u8], seq: Option<SeqNum>) -> Result<bool> {
        self.check_open()?;
        let seq = seq.unwrap_or_else(|| self.read_seq());
        let hash = key_hash(key);
        let found = self.with_super_version(|sv| {
            probe(sv, key, hash, seq, |_| (), |t, k, h, s| t.get_borrowed(k, h, s, |kind, _, _| (kind, ())))
        })?;
        Ok(found.is_some())
    }

    /// The values of `keys` as of one consistent point. Keys are probed in sorted order, so
    /// neighbouring keys share the filter, index and block cache lines they touch.
    pub fn multi_get<K: AsRef<[u8]>>(
        &self,
        keys: impl IntoIterator<Item = K>,
        seq: Option<SeqNum>,
    ) -> Result<Vec<Option<Bytes>>> {
        self.check_open()?;
        let seq = seq.unwrap_or_else(|| self.read_seq());
        let keys: Vec<K> = keys.into_iter().collect();
        let mut order: Vec<(u64, usize)> = keys.iter().enumerate().map(|(i, k)| (key_hash(k.as_ref()), i)).collect();
        order.sort_unstable_by(|a, b| keys[a.1].as_ref().cmp(keys[b.1].as_ref()));
        let mut out = vec![None; keys.len()];
        self.with_super_version(|sv| {
            for &(hash, i) in &order {
                out[i] = probe(sv, keys[i].as_ref(), hash, seq, Bytes::copy_from_slice, table_value)?;
            }
            Ok::<(), cairn_base::Error>(())
        })?;
        Ok(out)
    }
}

/// A table hit as shared bytes: small values copied, large ones sharing the block.
fn table_value(t: &Table, key: &[u8], hash: u64, seq: SeqNum) -> Result<Option<(ValueKind, Bytes)>> {
    let small = t.get_borrowed(key, hash, seq, |kind, _, v| {
        (kind, (v.len() <= COPY_VALUE_MAX_BYTES).then(|| Bytes::copy_from_slice(v)))
    })?;
    match small {
        Some((kind, Some(v))) => Ok(Some((kind, v))),
        Some((_, None)) => Ok(t.get(key, hash, seq)?.map(|(kind, _, v)| (kind, v))),
        None => Ok(None),
    }
}

/// Probes `sv` for the newest version of `key` visible at `seq`; `from_mem` turns a memtable
/// value into the result, `from_table` reads a table.
#[inline]
pub(crate) fn probe<R>(
    sv: &SuperVersion,
    key: &[u8],
    hash: u64,
    seq: SeqNum,
    from_mem: impl Fn(&[u8]) -> R,
    from_table: impl Fn(&Table, &[u8], u64, SeqNum) -> Result<Option<(ValueKind, R)>>,
) -> Result<Option<R>> {
    if let Some((kind, _, v)) = sv.mem.get(key, seq) {
        return Ok(visible(kind, || from_mem(v)));
    }
    for imm in &sv.imms {
        if let Some((kind, _, v)) = imm.mem.get(key, seq) {
            return Ok(visible(kind, || from_mem(v)));
        }
    }
    sv.check_complete()?;
    for table in sv.candidates(key) {
        if let Some((kind, r)) = from_table(table, key, hash, seq)? {
            return Ok(match kind {
                ValueKind::Set => Some(r),
                ValueKind::Delete => None,
            });
        }
    }
    Ok(None)
}

fn visible<R>(kind: ValueKind, value: impl FnOnce() -> R) -> Option<R> {
    match kind {
        ValueKind::Set => Some(value()),
        ValueKind::Delete => None,
    }
}
