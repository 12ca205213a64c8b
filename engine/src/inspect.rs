//! Tooling view of the WAL record payload (docs/format/batch.md): a small, owned decoding of
//! one commit group for tools such as `cairn dump`, so that they never re-implement the batch
//! format.
//!
//! Owns nothing on disk: it wraps the engine's own decoder (`batch::decode_record`, the one
//! recovery uses), so a tool and recovery can never disagree about what a record holds. Leaves
//! the framing (offsets, checksums, torn tails) to `cairn_wal::LogReader` and the labelling of
//! errors with a file and offset to the caller.
//!
//! Invariants: entry `i` of a [`WalRecord`] has sequence number `first_seq + i`; an empty
//! payload is a sync marker (`Ok(None)`), never a batch; decoding never panics on any bytes.

use bytes::Bytes;
use cairn_base::Result;
use cairn_base::coding::get_u64_at;
use cairn_base::key::ValueKind;

use crate::batch;

/// One decoded WAL record: the entries of one commit group, in commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalRecord {
    /// Sequence number of the first entry (never 0).
    pub first_seq: u64,
    /// The entries; entry `i` has sequence number `first_seq + i`.
    pub entries: Vec<WalEntry>,
}

/// One write of a WAL record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalEntry {
    /// The entry's sequence number.
    pub seq: u64,
    /// What the entry does to its key.
    pub kind: EntryKind,
    /// The user key.
    pub key: Bytes,
    /// The value; empty for a deletion.
    pub value: Bytes,
}

/// What a WAL entry does to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// Sets the key to the entry's value.
    Set,
    /// Deletes the key (a tombstone).
    Delete,
}

impl EntryKind {
    /// The canonical text name used in keys such as `a#2,SET`: `SET` or `DEL`.
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::Set => "SET",
            EntryKind::Delete => "DEL",
        }
    }
}

/// Decodes one WAL record payload (the bytes `cairn_wal::LogReader::next_record` returns), for
/// tools such as `cairn dump`. Returns `Ok(None)` for an empty payload, which is a sync marker
/// written by `Db::close`, not a batch.
///
/// Errors are `Error::Corruption` at an offset relative to the payload's first byte, with an
/// empty file name: the caller relabels them with the WAL file and the record's offset (for
/// instance with `Error::at_file`). The payload passed its framing checksum, so a record that
/// does not decode was written that way or altered afterwards; it is not a torn tail.
pub fn decode_wal_record(payload: &[u8]) -> Result<Option<WalRecord>> {
    if payload.is_empty() {
        return Ok(None);
    }
    let mut entries = Vec::new();
    batch::decode_record(payload, |e| {
        entries.push(WalEntry {
            seq: e.seq.0,
            kind: match e.kind {
                ValueKind::Set => EntryKind::Set,
                ValueKind::Delete => EntryKind::Delete,
            },
            key: Bytes::copy_from_slice(e.key),
            value: Bytes::copy_from_slice(e.value),
        });
    })?;
    // The header holds first_seq even when count is 0.
    let first_seq = get_u64_at(payload, 0).expect("decode_record read the 8-byte first_seq");
    Ok(Some(WalRecord { first_seq, entries }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{WriteBatch, encode_header};
    use cairn_base::SeqNum;
    use proptest::prelude::*;

    fn record(first_seq: u64, batch: &WriteBatch) -> Vec<u8> {
        let mut rec = Vec::new();
        encode_header(&mut rec, SeqNum(first_seq), batch.count);
        rec.extend_from_slice(&batch.entries);
        rec
    }

    #[test]
    fn decodes_sets_and_deletes_with_their_sequence_numbers() {
        let mut b = WriteBatch::new();
        b.put(b"apple", b"red").delete(b"pear").put(b"", b"");
        let got = decode_wal_record(&record(41, &b)).expect("valid record").expect("not a sync marker");
        assert_eq!(got.first_seq, 41);
        let want = [
            (41, EntryKind::Set, &b"apple"[..], &b"red"[..]),
            (42, EntryKind::Delete, b"pear", b""),
            (43, EntryKind::Set, b"", b""),
        ];
        assert_eq!(got.entries.len(), want.len());
        for (e, (seq, kind, key, value)) in got.entries.iter().zip(want) {
            assert_eq!((e.seq, e.kind, &e.key[..], &e.value[..]), (seq, kind, key, value));
        }
        assert_eq!(EntryKind::Delete.name(), "DEL");
        assert_eq!(EntryKind::Set.name(), "SET");
    }

    #[test]
    fn empty_payload_is_a_sync_marker() {
        assert_eq!(decode_wal_record(&[]).expect("sync marker"), None);
    }

    #[test]
    fn empty_group_keeps_its_first_seq() {
        let got = decode_wal_record(&record(9, &WriteBatch::new())).expect("valid").expect("a record");
        assert_eq!(got, WalRecord { first_seq: 9, entries: Vec::new() });
    }

    #[test]
    fn damaged_payload_is_corruption_relative_to_the_payload() {
        let mut b = WriteBatch::new();
        b.put(b"k", b"v");
        let mut rec = record(1, &b);
        rec.push(0);
        let err = decode_wal_record(&rec).expect_err("trailing byte");
        match err {
            cairn_base::Error::Corruption { file, offset, .. } => {
                assert!(file.as_os_str().is_empty(), "the caller names the file");
                assert_eq!(offset, rec.len() as u64 - 1);
            }
            other => panic!("expected corruption, got {other:?}"),
        }
        assert!(decode_wal_record(&[0u8; 12]).is_err_and(|e| e.is_corruption()), "first_seq 0 is invalid");
    }

    proptest! {
        #[test]
        fn records_round_trip(
            ops in prop::collection::vec((any::<bool>(), prop::collection::vec(any::<u8>(), 0..16), prop::collection::vec(any::<u8>(), 0..32)), 0..20),
            first in 1u64..1_000_000,
        ) {
            let mut b = WriteBatch::new();
            for (del, k, v) in &ops {
                if *del { b.delete(k); } else { b.put(k, v); }
            }
            let got = decode_wal_record(&record(first, &b)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let got = got.ok_or_else(|| TestCaseError::fail("a batch read as a sync marker"))?;
            prop_assert_eq!(got.first_seq, first);
            prop_assert_eq!(got.entries.len(), ops.len());
            for (i, (e, (del, k, v))) in got.entries.iter().zip(&ops).enumerate() {
                prop_assert_eq!(e.seq, first + i as u64);
                prop_assert_eq!(e.kind == EntryKind::Delete, *del);
                prop_assert_eq!(&e.key[..], &k[..]);
                let want_value: &[u8] = if *del { &[] } else { v };
                prop_assert_eq!(&e.value[..], want_value);
            }
        }

        #[test]
        fn decode_never_panics(bytes: Vec<u8>) {
            let _ = decode_wal_record(&bytes);
        }
    }
}
