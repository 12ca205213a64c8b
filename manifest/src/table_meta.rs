//! [`TableMeta`]: what the manifest records about one sorted table, and its encoding inside a
//! `VersionEdit` (docs/format/manifest.md#table-meta).
//!
//! Owns the byte layout of one table description and the checks a decoded one must pass
//! (both bounds parse as internal keys, `smallest <= largest`, `smallest_seq <= largest_seq`,
//! `tombstones <= entries`). It does not know which level a table lives in; the edit records
//! that beside it. The table file itself is `cairn-sstable`'s business.

use std::cmp::Ordering;
use std::fmt;

use cairn_base::coding::{Decoder, put_bytes, put_varint};
use cairn_base::key::{MAX_SEQ, compare_internal, fmt_internal_key};
use cairn_base::{Error, FileNum, InternalKey, Result, SeqNum};

/// Number of levels in the LSM tree: L0 (overlapping tables, newest first) and L1..L6 (each
/// sorted and disjoint by user key).
pub const NUM_LEVELS: usize = 7;

/// The manifest's description of one table file `NNNNNN.sst`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMeta {
    /// The table's file number.
    pub file_num: FileNum,
    /// The file's size in bytes.
    pub size_bytes: u64,
    /// The first internal key in the table.
    pub smallest: InternalKey,
    /// The last internal key in the table.
    pub largest: InternalKey,
    /// The smallest sequence number of any entry.
    pub smallest_seq: SeqNum,
    /// The largest sequence number of any entry.
    pub largest_seq: SeqNum,
    /// Number of entries (every version, tombstones included).
    pub entries: u64,
    /// Number of tombstones among `entries`.
    pub tombstones: u64,
}

impl TableMeta {
    /// The first user key in the table.
    pub fn smallest_user_key(&self) -> &[u8] {
        self.smallest.user_key()
    }

    /// The last user key in the table.
    pub fn largest_user_key(&self) -> &[u8] {
        self.largest.user_key()
    }

    /// True when the table's user-key range intersects `[smallest, largest]` (inclusive).
    pub fn overlaps_user_range(&self, smallest: &[u8], largest: &[u8]) -> bool {
        self.smallest_user_key() <= largest && smallest <= self.largest_user_key()
    }

    /// True when the table's user-key range holds `user_key`.
    pub fn contains_user_key(&self, user_key: &[u8]) -> bool {
        self.smallest_user_key() <= user_key && user_key <= self.largest_user_key()
    }

    /// Checks the relations every table description keeps. Errors are corruption at offset 0
    /// (callers relabel).
    pub fn check(&self) -> Result<()> {
        if compare_internal(self.smallest.encoded(), self.largest.encoded()) == Ordering::Greater {
            return Err(self.invalid("smallest key sorts after largest key"));
        }
        if self.smallest_seq > self.largest_seq {
            return Err(self.invalid("smallest sequence number exceeds largest"));
        }
        if self.largest_seq > MAX_SEQ {
            return Err(self.invalid("sequence number beyond 56 bits"));
        }
        if self.tombstones > self.entries {
            return Err(self.invalid("more tombstones than entries"));
        }
        Ok(())
    }

    fn invalid(&self, what: &str) -> Error {
        Error::corruption("", 0, format!("table {}: {what}", self.file_num))
    }

    /// Appends the encoding (docs/format/manifest.md#table-meta).
    pub(crate) fn encode(&self, dst: &mut Vec<u8>) {
        put_varint(dst, self.file_num.0);
        put_varint(dst, self.size_bytes);
        put_bytes(dst, self.smallest.encoded());
        put_bytes(dst, self.largest.encoded());
        put_varint(dst, self.smallest_seq.0);
        put_varint(dst, self.largest_seq.0);
        put_varint(dst, self.entries);
        put_varint(dst, self.tombstones);
    }

    /// Decodes one table description and checks it. Errors carry the decoder's offset.
    pub(crate) fn decode(d: &mut Decoder<'_>) -> Result<TableMeta> {
        let start = d.position() as u64;
        let file_num = FileNum(d.varint("table file number")?);
        let size_bytes = d.varint("table size")?;
        let smallest = decode_key(d, "smallest key")?;
        let largest = decode_key(d, "largest key")?;
        let meta = TableMeta {
            file_num,
            size_bytes,
            smallest,
            largest,
            smallest_seq: SeqNum(d.varint("smallest sequence number")?),
            largest_seq: SeqNum(d.varint("largest sequence number")?),
            entries: d.varint("entry count")?,
            tombstones: d.varint("tombstone count")?,
        };
        meta.check().map_err(|e| relocate(e, start))?;
        Ok(meta)
    }
}

fn decode_key(d: &mut Decoder<'_>, what: &str) -> Result<InternalKey> {
    let at = d.position() as u64;
    let bytes = d.length_prefixed(what)?;
    InternalKey::from_encoded(bytes.to_vec()).map_err(|e| relocate(e, at))
}

/// Moves an offset-0 corruption to `offset` (still relative to the record).
fn relocate(e: Error, offset: u64) -> Error {
    match e {
        Error::Corruption { file, offset: inner, what } if file.as_os_str().is_empty() => {
            Error::Corruption { file, offset: offset + inner, what }
        }
        other => other,
    }
}

impl fmt::Display for TableMeta {
    /// `000005:[a#12,SET-c#10,SET] 4096B seqs=10-12 entries=7 tombstones=1`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:[{}-{}] {}B seqs={}-{} entries={} tombstones={}",
            self.file_num,
            fmt_internal_key(self.smallest.encoded()),
            fmt_internal_key(self.largest.encoded()),
            self.size_bytes,
            self.smallest_seq,
            self.largest_seq,
            self.entries,
            self.tombstones
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_base::ValueKind;

    fn meta() -> TableMeta {
        TableMeta {
            file_num: FileNum(5),
            size_bytes: 4096,
            smallest: InternalKey::new(b"a", SeqNum(12), ValueKind::Set),
            largest: InternalKey::new(b"c", SeqNum(10), ValueKind::Delete),
            smallest_seq: SeqNum(10),
            largest_seq: SeqNum(12),
            entries: 7,
            tombstones: 1,
        }
    }

    #[test]
    fn display_is_canonical() {
        assert_eq!(meta().to_string(), "000005:[a#12,SET-c#10,DEL] 4096B seqs=10-12 entries=7 tombstones=1");
    }

    #[test]
    fn check_rejects_each_broken_relation() {
        meta().check().expect("valid meta");
        let mut m = meta();
        m.largest = InternalKey::new(b"A", SeqNum(1), ValueKind::Set);
        assert!(m.check().is_err());
        let mut m = meta();
        m.smallest_seq = SeqNum(13);
        assert!(m.check().is_err());
        let mut m = meta();
        m.tombstones = 8;
        assert!(m.check().is_err());
        let mut m = meta();
        m.smallest_seq = SeqNum(1 << 56);
        m.largest_seq = SeqNum(1 << 56);
        assert!(m.check().is_err());
    }

    #[test]
    fn decode_reports_offset_of_a_bad_key() {
        let mut buf = Vec::new();
        put_varint(&mut buf, 5);
        put_varint(&mut buf, 10);
        put_bytes(&mut buf, b"short");
        match TableMeta::decode(&mut Decoder::new(&buf)) {
            Err(Error::Corruption { offset, .. }) => assert_eq!(offset, 2),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn overlap_is_inclusive_on_user_keys() {
        let m = meta();
        assert!(m.overlaps_user_range(b"c", b"d"));
        assert!(m.overlaps_user_range(b"0", b"a"));
        assert!(!m.overlaps_user_range(b"c\x00", b"z"));
        assert!(m.contains_user_key(b"b"));
        assert!(!m.contains_user_key(b"d"));
    }
}
