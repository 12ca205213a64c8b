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
use cairn_sstable::{ManyPlan, Table, ValueRef};

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

    /// The values of `keys` as of one consistent point. Keys are sorted, then each table is
    /// probed once for the run of still-undecided keys its range holds, in one staged batch
    /// (`Table::get_many_borrowed`), so their filter, index and block work is shared and their
    /// cache misses overlap.
    pub fn multi_get<K: AsRef<[u8]>>(
        &self,
        keys: impl IntoIterator<Item = K>,
        seq: Option<SeqNum>,
    ) -> Result<Vec<Option<Bytes>>> {
        self.check_open()?;
        let seq = seq.unwrap_or_else(|| self.read_seq());
        let keys: Vec<K> = keys.into_iter().collect();
        let keys: Vec<&[u8]> = keys.iter().map(AsRef::as_ref).collect();
        let hashes: Vec<u64> = keys.iter().map(|k| key_hash(k)).collect();
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_unstable_by(|&a, &b| keys[a].cmp(keys[b]));
        let mut out = vec![None; keys.len()];
        self.with_super_version(|sv| MultiGet { sv, keys: &keys, hashes: &hashes, seq, out: &mut out }.run(order))?;
        Ok(out)
    }
}

/// One `multi_get` in progress: keys are decided newest source first, and each source sees
/// only the keys still undecided.
struct MultiGet<'a> {
    sv: &'a SuperVersion,
    keys: &'a [&'a [u8]],
    hashes: &'a [u64],
    seq: SeqNum,
    out: &'a mut Vec<Option<Bytes>>,
}

impl MultiGet<'_> {
    /// `pending` holds key indexes sorted by key.
    fn run(mut self, mut pending: Vec<usize>) -> Result<()> {
        pending.retain(|&i| !self.decide_in_memtables(i));
        self.sv.check_complete()?;
        let mut decided = vec![false; self.keys.len()];
        for t in &self.sv.levels[0] {
            let (lo, hi) = (t.meta.smallest.user_key(), t.meta.largest.user_key());
            let run: Vec<usize> =
                pending.iter().copied().filter(|&i| lo <= self.keys[i] && self.keys[i] <= hi).collect();
            if !run.is_empty() {
                self.probe_level(&[(&t.table, &run[..])], &mut decided)?;
            }
            pending.retain(|&i| !decided[i]);
        }
        let sv = self.sv;
        for level in &sv.levels[1..] {
            // The tables of one level hold disjoint key ranges, so every table's run is probed
            // stage by stage together: the cache misses of the whole batch overlap, not only
            // those of the keys that share a table.
            let mut runs: Vec<(&Table, &[usize])> = Vec::new();
            let mut start = 0;
            while start < pending.len() && !level.is_empty() {
                let key = self.keys[pending[start]];
                let t = level.partition_point(|t| t.meta.largest.user_key() < key);
                let Some(table) = level.get(t) else { break };
                let largest = table.meta.largest.user_key();
                let end = start + pending[start..].partition_point(|&i| self.keys[i] <= largest);
                let first =
                    start + pending[start..end].partition_point(|&i| self.keys[i] < table.meta.smallest.user_key());
                if first < end {
                    runs.push((&table.table, &pending[first..end]));
                }
                start = end.max(start + 1);
            }
            self.probe_level(&runs, &mut decided)?;
            pending.retain(|&i| !decided[i]);
        }
        Ok(())
    }

    /// Probes each `(table, run)` for its keys (sorted), deciding those it holds, running each
    /// stage of the batch lookup over every table before the next stage
    /// (`Table::get_many_borrowed`). The tables must hold disjoint key ranges (one level, or a
    /// single level-0 table).
    fn probe_level(&mut self, runs: &[(&Table, &[usize])], decided: &mut [bool]) -> Result<()> {
        let batches: Vec<Vec<(&[u8], u64)>> =
            runs.iter().map(|(_, run)| run.iter().map(|&i| (self.keys[i], self.hashes[i])).collect()).collect();
        for ((table, _), batch) in runs.iter().zip(&batches) {
            table.prefetch_filters(batch);
        }
        let plans: Vec<ManyPlan> =
            runs.iter().zip(&batches).map(|((table, _), batch)| table.plan_many(batch, self.seq)).collect();
        for (((table, _), batch), plan) in runs.iter().zip(&batches).zip(&plans) {
            table.prefetch_entries(batch, plan);
        }
        for (((table, run), batch), plan) in runs.iter().zip(&batches).zip(&plans) {
            table.search_planned(batch, self.seq, plan, |j, kind, _, value| {
                let i = run[j];
                decided[i] = true;
                self.out[i] = match kind {
                    ValueKind::Delete => None,
                    ValueKind::Set => Some(value_bytes(value)),
                };
            })?;
        }
        Ok(())
    }

    /// Decides key `i` from the memtables, if they hold it.
    fn decide_in_memtables(&mut self, i: usize) -> bool {
        let mems = std::iter::once(&self.sv.mem).chain(self.sv.imms.iter().map(|imm| &imm.mem));
        for mem in mems {
            if let Some((kind, _, v)) = mem.get(self.keys[i], self.seq) {
                self.out[i] = visible(kind, || Bytes::copy_from_slice(v));
                return true;
            }
        }
        false
    }
}

/// A table hit as shared bytes: small values copied, large ones sharing the block.
fn table_value(t: &Table, key: &[u8], hash: u64, seq: SeqNum) -> Result<Option<(ValueKind, Bytes)>> {
    t.get_borrowed(key, hash, seq, |kind, _, v| (kind, value_bytes(v)))
}

/// Copies a value of at most `COPY_VALUE_MAX_BYTES`; shares a larger one with its block.
fn value_bytes(v: ValueRef<'_>) -> Bytes {
    if v.as_slice().len() <= COPY_VALUE_MAX_BYTES { Bytes::copy_from_slice(v.as_slice()) } else { v.share() }
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
