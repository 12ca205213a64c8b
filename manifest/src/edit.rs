//! [`VersionEdit`]: one change to the LSM shape, and its encoding as one manifest record
//! (docs/format/manifest.md#version-edit).
//!
//! Owns the record layout: a format-version byte, then tagged fields with explicit on-disk tag
//! numbers. Decoding is strict: an unknown tag, a repeated singleton field, a level outside
//! `0..NUM_LEVELS` or a malformed table description is corruption at the offset of the field
//! inside the record (the manifest reader relabels it with the file and the record's offset).
//! Applying an edit to a version is [`crate::Version::apply`]'s job.

use cairn_base::coding::{Decoder, put_varint};
use cairn_base::key::MAX_SEQ;
use cairn_base::{Error, FileNum, Result, SeqNum};

use crate::table_meta::{NUM_LEVELS, TableMeta};

/// Format version of an encoded edit (its first byte).
pub const EDIT_FORMAT_VERSION: u8 = 1;

/// Field tags of an encoded edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
enum Tag {
    // On-disk value; never renumber.
    LogNumber = 1,
    // On-disk value; never renumber.
    NextFileNum = 2,
    // On-disk value; never renumber.
    LastSeq = 3,
    // On-disk value; never renumber.
    DeletedTable = 4,
    // On-disk value; never renumber.
    AddedTable = 5,
}

impl Tag {
    fn from_u64(v: u64) -> Option<Tag> {
        match v {
            1 => Some(Tag::LogNumber),
            2 => Some(Tag::NextFileNum),
            3 => Some(Tag::LastSeq),
            4 => Some(Tag::DeletedTable),
            5 => Some(Tag::AddedTable),
            _ => None,
        }
    }
}

/// A change to the LSM shape: tables added and deleted per level, and the counters that move
/// with it. An edit is applied atomically (deletions first, then additions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionEdit {
    /// WALs with a smaller number are fully flushed and may be deleted.
    pub log_number: Option<FileNum>,
    /// The next file number to allocate; exceeds every file number in use.
    pub next_file_num: Option<FileNum>,
    /// The largest sequence number whose data is in the tables or in WALs `>= log_number`.
    pub last_seq: Option<SeqNum>,
    /// `(level, table)` pairs to add.
    pub added: Vec<(usize, TableMeta)>,
    /// `(level, file number)` pairs to delete.
    pub deleted: Vec<(usize, FileNum)>,
}

impl VersionEdit {
    /// True when the edit changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &VersionEdit::default()
    }

    /// Appends the encoding of the edit to `dst`. REQUIRES: every level `< NUM_LEVELS`.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        dst.push(EDIT_FORMAT_VERSION);
        if let Some(n) = self.log_number {
            put_varint(dst, Tag::LogNumber as u64);
            put_varint(dst, n.0);
        }
        if let Some(n) = self.next_file_num {
            put_varint(dst, Tag::NextFileNum as u64);
            put_varint(dst, n.0);
        }
        if let Some(s) = self.last_seq {
            put_varint(dst, Tag::LastSeq as u64);
            put_varint(dst, s.0);
        }
        for &(level, file_num) in &self.deleted {
            assert!(level < NUM_LEVELS, "deleted table {file_num} at level {level} beyond the tree");
            put_varint(dst, Tag::DeletedTable as u64);
            put_varint(dst, level as u64);
            put_varint(dst, file_num.0);
        }
        for (level, meta) in &self.added {
            assert!(*level < NUM_LEVELS, "added table {} at level {level} beyond the tree", meta.file_num);
            put_varint(dst, Tag::AddedTable as u64);
            put_varint(dst, *level as u64);
            meta.encode(dst);
        }
    }

    /// Decodes one edit. Errors are corruption at the offset inside `src` (file left empty,
    /// for [`Error::at_file`]), or [`Error::Unsupported`] for an unknown format version.
    pub fn decode(src: &[u8]) -> Result<VersionEdit> {
        let mut d = Decoder::new(src);
        let version = d.u8("edit format version")?;
        if version != EDIT_FORMAT_VERSION {
            return Err(Error::Unsupported { what: "manifest record", version: version.into() });
        }
        let mut edit = VersionEdit::default();
        while !d.is_empty() {
            let at = d.position() as u64;
            let raw = d.varint("field tag")?;
            let tag =
                Tag::from_u64(raw).ok_or_else(|| Error::corruption("", at, format!("unknown field tag {raw}")))?;
            decode_field(&mut d, tag, at, &mut edit)?;
        }
        Ok(edit)
    }
}

fn decode_field(d: &mut Decoder<'_>, tag: Tag, at: u64, edit: &mut VersionEdit) -> Result<()> {
    match tag {
        Tag::LogNumber => set_once(&mut edit.log_number, FileNum(d.varint("log number")?), at, "log number"),
        Tag::NextFileNum => {
            set_once(&mut edit.next_file_num, FileNum(d.varint("next file number")?), at, "next file number")
        }
        Tag::LastSeq => {
            let seq = SeqNum(d.varint("last sequence number")?);
            if seq > MAX_SEQ {
                return Err(Error::corruption("", at, "last sequence number beyond 56 bits"));
            }
            set_once(&mut edit.last_seq, seq, at, "last sequence number")
        }
        Tag::DeletedTable => {
            let level = decode_level(d)?;
            edit.deleted.push((level, FileNum(d.varint("deleted file number")?)));
            Ok(())
        }
        Tag::AddedTable => {
            let level = decode_level(d)?;
            edit.added.push((level, TableMeta::decode(d)?));
            Ok(())
        }
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, at: u64, what: &str) -> Result<()> {
    if slot.is_some() {
        return Err(Error::corruption("", at, format!("{what} appears twice in one record")));
    }
    *slot = Some(value);
    Ok(())
}

fn decode_level(d: &mut Decoder<'_>) -> Result<usize> {
    let at = d.position() as u64;
    let level = d.varint("level")?;
    if level >= NUM_LEVELS as u64 {
        return Err(Error::corruption("", at, format!("level {level} beyond the tree")));
    }
    Ok(level as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_base::coding::{put_bytes, put_varint};
    use cairn_base::{InternalKey, ValueKind};
    use proptest::prelude::*;

    fn arb_meta() -> impl Strategy<Value = TableMeta> {
        (
            any::<u64>(),
            any::<u64>(),
            prop::collection::vec(any::<u8>(), 0..12),
            prop::collection::vec(any::<u8>(), 0..12),
            (0u64..=MAX_SEQ.0, 0u64..=MAX_SEQ.0, any::<bool>()),
            (any::<u64>(), any::<u64>()),
        )
            .prop_map(|(file_num, size_bytes, a, b, (s1, s2, del), (e1, e2))| {
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                let (seq_lo, seq_hi) = (s1.min(s2), s1.max(s2));
                let kind = if del { ValueKind::Delete } else { ValueKind::Set };
                let (smallest, largest) = if lo == hi {
                    (InternalKey::new(&lo, SeqNum(seq_hi), kind), InternalKey::new(&hi, SeqNum(seq_lo), kind))
                } else {
                    (InternalKey::new(&lo, SeqNum(seq_lo), kind), InternalKey::new(&hi, SeqNum(seq_hi), kind))
                };
                TableMeta {
                    file_num: FileNum(file_num),
                    size_bytes,
                    smallest,
                    largest,
                    smallest_seq: SeqNum(seq_lo),
                    largest_seq: SeqNum(seq_hi),
                    entries: e1.max(e2),
                    tombstones: e1.min(e2),
                }
            })
    }

    fn arb_edit() -> impl Strategy<Value = VersionEdit> {
        (
            prop::option::of(any::<u64>()),
            prop::option::of(any::<u64>()),
            prop::option::of(0u64..=MAX_SEQ.0),
            prop::collection::vec((0..NUM_LEVELS, arb_meta()), 0..6),
            prop::collection::vec((0..NUM_LEVELS, any::<u64>()), 0..6),
        )
            .prop_map(|(log, next, last, added, deleted)| VersionEdit {
                log_number: log.map(FileNum),
                next_file_num: next.map(FileNum),
                last_seq: last.map(SeqNum),
                added,
                deleted: deleted.into_iter().map(|(l, f)| (l, FileNum(f))).collect(),
            })
    }

    proptest! {
        #[test]
        fn edit_round_trips(edit in arb_edit()) {
            let mut buf = Vec::new();
            edit.encode(&mut buf);
            let back = VersionEdit::decode(&buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, edit);
        }

        #[test]
        fn decode_never_panics(bytes: Vec<u8>) {
            let mut src = vec![EDIT_FORMAT_VERSION];
            src.extend_from_slice(&bytes);
            let _ = VersionEdit::decode(&src);
            let _ = VersionEdit::decode(&bytes);
        }

        #[test]
        fn truncated_edit_never_decodes_to_the_original(edit in arb_edit(), cut: prop::sample::Index) {
            let mut buf = Vec::new();
            edit.encode(&mut buf);
            prop_assume!(buf.len() > 1);
            // A strict prefix is either an error or an edit with fewer fields, never the original.
            let cut = 1 + cut.index(buf.len() - 1);
            if let Ok(back) = VersionEdit::decode(&buf[..cut]) {
                prop_assert_ne!(back, edit);
            }
        }
    }

    #[test]
    fn empty_edit_is_one_version_byte() {
        let mut buf = Vec::new();
        VersionEdit::default().encode(&mut buf);
        assert_eq!(buf, [EDIT_FORMAT_VERSION]);
        assert!(VersionEdit::decode(&buf).expect("decode").is_empty());
    }

    #[test]
    fn encoding_matches_the_documented_example() {
        // docs/format/manifest.md#version-edit
        let edit = VersionEdit {
            log_number: Some(FileNum(2)),
            next_file_num: Some(FileNum(5)),
            last_seq: Some(SeqNum(40)),
            deleted: vec![(0, FileNum(7))],
            ..VersionEdit::default()
        };
        let mut buf = Vec::new();
        edit.encode(&mut buf);
        assert_eq!(buf, [0x01, 0x01, 0x02, 0x02, 0x05, 0x03, 0x28, 0x04, 0x00, 0x07]);
    }

    #[test]
    fn unknown_version_is_unsupported() {
        assert!(matches!(VersionEdit::decode(&[2]), Err(Error::Unsupported { version: 2, .. })));
        assert!(VersionEdit::decode(&[]).is_err_and(|e| e.is_corruption()));
    }

    #[test]
    fn unknown_tag_is_corruption_at_its_offset() {
        let mut buf = vec![EDIT_FORMAT_VERSION];
        put_varint(&mut buf, Tag::LogNumber as u64);
        put_varint(&mut buf, 3);
        put_varint(&mut buf, 99);
        match VersionEdit::decode(&buf) {
            Err(Error::Corruption { offset, what, .. }) => {
                assert_eq!(offset, 3);
                assert!(what.contains("99"), "{what}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn level_beyond_tree_is_corruption() {
        let mut buf = vec![EDIT_FORMAT_VERSION];
        put_varint(&mut buf, Tag::DeletedTable as u64);
        put_varint(&mut buf, NUM_LEVELS as u64);
        put_varint(&mut buf, 4);
        match VersionEdit::decode(&buf) {
            Err(Error::Corruption { offset, .. }) => assert_eq!(offset, 2),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn repeated_singleton_is_corruption() {
        let mut buf = vec![EDIT_FORMAT_VERSION];
        for _ in 0..2 {
            put_varint(&mut buf, Tag::NextFileNum as u64);
            put_varint(&mut buf, 7);
        }
        assert!(VersionEdit::decode(&buf).is_err_and(|e| e.is_corruption()));
    }

    #[test]
    fn table_with_inverted_bounds_is_corruption() {
        let mut buf = vec![EDIT_FORMAT_VERSION];
        put_varint(&mut buf, Tag::AddedTable as u64);
        put_varint(&mut buf, 1);
        put_varint(&mut buf, 9);
        put_varint(&mut buf, 100);
        put_bytes(&mut buf, InternalKey::new(b"z", SeqNum(1), ValueKind::Set).encoded());
        put_bytes(&mut buf, InternalKey::new(b"a", SeqNum(1), ValueKind::Set).encoded());
        for v in [1, 1, 1, 0] {
            put_varint(&mut buf, v);
        }
        assert!(VersionEdit::decode(&buf).is_err_and(|e| e.is_corruption()));
    }

    #[test]
    fn tag_numbers_are_pinned() {
        // On-disk values; this test fails if anyone renumbers them.
        let pinned = [
            (Tag::LogNumber, 1),
            (Tag::NextFileNum, 2),
            (Tag::LastSeq, 3),
            (Tag::DeletedTable, 4),
            (Tag::AddedTable, 5),
        ];
        for (tag, v) in pinned {
            assert_eq!(tag as u64, v);
            assert_eq!(Tag::from_u64(v), Some(tag));
        }
        assert_eq!(Tag::from_u64(0), None);
        assert_eq!(Tag::from_u64(6), None);
    }
}
