//! Point reads: `get`, `contains_key`, `multi_get` (docs/architecture.md#read-path).
//!
//! A read pins one super-version and one sequence number and probes, newest data first: the
//! active memtable, the sealed memtables, every level-0 table whose range holds the key
//! (newest first), then at most one table per deeper level. The first entry found with a
//! sequence number at or below the read's decides: a value, or a tombstone (absent).
//! INV-LSM-3: for one user key, every version in level `n` is newer than every version in
//! level `n + 1`, and level-0 tables hold disjoint sequence ranges ordered newest first.

use bytes::Bytes;
use cairn_base::hash::key_hash;
use cairn_base::{Result, SeqNum, ValueKind};

use crate::inner::Inner;
use crate::super_version::SuperVersion;

impl Inner {
    /// The value of `key` as of `seq` (or now).
    pub fn get(&self, key: &[u8], seq: Option<SeqNum>) -> Result<Option<Bytes>> {
        self.check_open()?;
        let seq = seq.unwrap_or_else(|| self.read_seq());
        let sv = self.super_version();
        lookup(&sv, key, key_hash(key), seq)
    }

    /// The values of `keys` as of one consistent point.
    pub fn multi_get<K: AsRef<[u8]>>(
        &self,
        keys: impl IntoIterator<Item = K>,
        seq: Option<SeqNum>,
    ) -> Result<Vec<Option<Bytes>>> {
        self.check_open()?;
        let seq = seq.unwrap_or_else(|| self.read_seq());
        let sv = self.super_version();
        keys.into_iter()
            .map(|k| {
                let k = k.as_ref();
                lookup(&sv, k, key_hash(k), seq)
            })
            .collect()
    }
}

/// Probes `sv` for the newest version of `key` visible at `seq`.
pub(crate) fn lookup(sv: &SuperVersion, key: &[u8], hash: u64, seq: SeqNum) -> Result<Option<Bytes>> {
    if let Some((kind, _, v)) = sv.mem.get(key, seq) {
        return Ok(visible(kind, || Bytes::copy_from_slice(v)));
    }
    for imm in &sv.imms {
        if let Some((kind, _, v)) = imm.mem.get(key, seq) {
            return Ok(visible(kind, || Bytes::copy_from_slice(v)));
        }
    }
    for (_level, meta) in sv.version.tables_for_key(key) {
        let table = sv.table(meta.file_num)?;
        if let Some((kind, _, v)) = table.get(key, hash, seq)? {
            return Ok(visible(kind, || v));
        }
    }
    Ok(None)
}

fn visible(kind: ValueKind, value: impl FnOnce() -> Bytes) -> Option<Bytes> {
    match kind {
        ValueKind::Set => Some(value()),
        ValueKind::Delete => None,
    }
}
