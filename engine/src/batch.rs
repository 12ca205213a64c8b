//! `WriteBatch` and its encoding, which is also the payload of a WAL record
//! (docs/format/batch.md).
//!
//! ```text
//! wal record payload := first_seq:u64le count:u32le entry{count}
//! entry              := kind:u8 key:bytes [value:bytes]       (value only for SET)
//! bytes              := len:varint byte{len}
//! ```
//! A group commit concatenates the entries of every batch in the group under one header;
//! entry `i` gets sequence number `first_seq + i`.

use cairn_base::coding::{Decoder, put_bytes, put_u32, put_u64};
use cairn_base::key::{MAX_SEQ, SeqNum, ValueKind};
use cairn_base::{Error, Result};

/// Largest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 64 << 10;
/// Largest value accepted, in bytes.
pub const MAX_VALUE_BYTES: usize = 32 << 20;

const _: () = assert!(MAX_KEY_BYTES + MAX_VALUE_BYTES + 64 < cairn_base::envelope::MAX_BLOCK_BYTES);

/// An atomic group of writes: applied entirely or not at all (G3).
///
/// ```no_run
/// let db = cairn::Db::open("data")?;
/// let mut batch = db.batch();
/// batch.put(b"a", b"1");
/// batch.delete(b"b");
/// db.write(batch)?;
/// # Ok::<(), cairn::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// Encoded entries, without the header.
    pub(crate) entries: Vec<u8>,
    pub(crate) count: u32,
    /// The first argument error met while building; reported by `Db::write`.
    pub(crate) invalid: Option<String>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a write of `value` under `key`.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> &mut Self {
        let (key, value) = (key.as_ref(), value.as_ref());
        if self.accept(key, Some(value)) {
            self.entries.push(ValueKind::Set as u8);
            put_bytes(&mut self.entries, key);
            put_bytes(&mut self.entries, value);
            self.count += 1;
        }
        self
    }

    /// Adds a deletion of `key`.
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> &mut Self {
        let key = key.as_ref();
        if self.accept(key, None) {
            self.entries.push(ValueKind::Delete as u8);
            put_bytes(&mut self.entries, key);
            self.count += 1;
        }
        self
    }

    fn accept(&mut self, key: &[u8], value: Option<&[u8]>) -> bool {
        let problem = if key.len() > MAX_KEY_BYTES {
            Some(format!("key of {} bytes exceeds the {MAX_KEY_BYTES}-byte limit", key.len()))
        } else if value.is_some_and(|v| v.len() > MAX_VALUE_BYTES) {
            Some(format!("value exceeds the {MAX_VALUE_BYTES}-byte limit"))
        } else if self.count == u32::MAX {
            Some("batch holds too many entries".to_string())
        } else {
            None
        };
        match problem {
            Some(p) => {
                self.invalid.get_or_insert(p);
                false
            }
            None => true,
        }
    }

    /// Number of writes in the batch.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when the batch holds no writes.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Encoded size of the batch's entries.
    pub fn size_bytes(&self) -> usize {
        self.entries.len()
    }

    /// Removes every write.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.count = 0;
        self.invalid = None;
    }
}

/// Encodes the WAL record header for a group starting at `first_seq` with `count` entries.
pub(crate) fn encode_header(dst: &mut Vec<u8>, first_seq: SeqNum, count: u32) {
    put_u64(dst, first_seq.0);
    put_u32(dst, count);
}

/// One decoded entry of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry<'a> {
    pub seq: SeqNum,
    pub kind: ValueKind,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

/// Decodes a whole WAL record payload, calling `f` for each entry in order. Returns the
/// sequence number of the last entry (or `first_seq - 1` for an empty record). Errors are
/// corruption relative to the payload (callers relabel with the file and record offset).
pub(crate) fn decode_record(payload: &[u8], mut f: impl FnMut(Entry<'_>)) -> Result<SeqNum> {
    let mut d = Decoder::new(payload);
    let first_seq = d.u64("record first sequence number")?;
    let count = d.u32("record entry count")?;
    if first_seq == 0 || first_seq.saturating_add(u64::from(count)) > MAX_SEQ.0 {
        return Err(Error::corruption("", 0, "record sequence numbers out of range"));
    }
    for i in 0..u64::from(count) {
        let at = d.position() as u64;
        let kind = ValueKind::from_u8(d.u8("entry kind")?)
            .ok_or_else(|| Error::corruption("", at, "unknown entry kind in batch"))?;
        let key = d.length_prefixed("entry key")?;
        let value = match kind {
            ValueKind::Set => d.length_prefixed("entry value")?,
            ValueKind::Delete => &[],
        };
        f(Entry { seq: SeqNum(first_seq + i), kind, key, value });
    }
    if !d.is_empty() {
        return Err(Error::corruption("", d.position() as u64, "trailing bytes after the last batch entry"));
    }
    Ok(SeqNum(first_seq + u64::from(count) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(first: u64, b: &WriteBatch) -> Vec<u8> {
        let mut rec = Vec::new();
        encode_header(&mut rec, SeqNum(first), b.count);
        rec.extend_from_slice(&b.entries);
        rec
    }

    proptest! {
        #[test]
        fn batch_round_trips(ops in prop::collection::vec((any::<bool>(), prop::collection::vec(any::<u8>(), 0..20), prop::collection::vec(any::<u8>(), 0..50)), 0..30), first in 1u64..1_000_000) {
            let mut b = WriteBatch::new();
            for (del, k, v) in &ops {
                if *del { b.delete(k); } else { b.put(k, v); }
            }
            let rec = encode(first, &b);
            let mut seen = Vec::new();
            let last = decode_record(&rec, |e| seen.push((e.seq, e.kind, e.key.to_vec(), e.value.to_vec())))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(seen.len(), ops.len());
            prop_assert_eq!(last, SeqNum(first + ops.len() as u64 - 1));
            for (i, ((del, k, v), (seq, kind, key, value))) in ops.iter().zip(seen).enumerate() {
                prop_assert_eq!(seq, SeqNum(first + i as u64));
                prop_assert_eq!(kind == ValueKind::Delete, *del);
                prop_assert_eq!(&key, k);
                if !*del { prop_assert_eq!(&value, v); }
            }
        }

        #[test]
        fn decode_never_panics(bytes: Vec<u8>) {
            let _ = decode_record(&bytes, |_| {});
        }
    }

    #[test]
    fn oversized_key_marks_batch_invalid() {
        let mut b = WriteBatch::new();
        b.put(vec![0u8; MAX_KEY_BYTES + 1], b"v");
        assert!(b.is_empty());
        assert!(b.invalid.is_some());
    }

    #[test]
    fn truncated_record_is_corruption() {
        let mut b = WriteBatch::new();
        b.put(b"key", b"value");
        let rec = encode(5, &b);
        for cut in 0..rec.len() {
            assert!(decode_record(&rec[..cut], |_| {}).is_err(), "cut {cut}");
        }
    }
}
