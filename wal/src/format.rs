//! The log file format shared by the WAL and the manifest log (docs/format/wal.md): the file
//! header, the 32 KiB block / fragment framing, and the synced-offset stamp that begins every
//! logical record.
//!
//! Owns the byte layout and the pure functions that encode and parse it. Does no I/O and makes
//! no recovery decision: the writer ([`crate::LogWriter`]) decides what to append, the reader
//! ([`crate::LogReader`]) and the witness scan (`recovery.rs`) decide what a bad fragment means.
//!
//! Invariants kept here:
//! * A fragment never crosses a block boundary; every block therefore begins with a fragment
//!   header (or, in block 0, with the file header), which is what lets recovery resynchronise
//!   at the next block after damage.
//! * A block tail shorter than a fragment header is zero padding.
//! * Every fragment's checksum is bound to the file number and the fragment's own offset
//!   (`bound_crc`), so a fragment copied to another file or another offset fails its check.
//! * Parsing never panics and never reads out of bounds, whatever the bytes.

use cairn_base::checksum::{bound_crc, crc};
use cairn_base::coding::{get_u32_at, get_u64_at};
use cairn_base::{Error, FileNum, Result};

/// The format version this build writes and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;

/// Bytes of the file header at offset 0 (docs/format/wal.md#file-header).
pub const HEADER_BYTES: usize = 28;

/// Size of a framing block. Blocks are aligned to file offsets: block `k` spans
/// `[k * BLOCK_SIZE_BYTES, (k + 1) * BLOCK_SIZE_BYTES)`, and block 0 begins with the file header.
pub const BLOCK_SIZE_BYTES: usize = 32 * 1024;

/// Bytes of a fragment header: `crc:u32 | len:u16 | type:u8`.
pub const FRAGMENT_HEADER_BYTES: usize = 7;

/// Bytes of the synced-offset stamp (`synced_upto:u64le`) that begins every logical record.
pub const STAMP_BYTES: usize = 8;

/// The most payload one fragment can carry (a whole block minus its fragment header).
pub const MAX_FRAGMENT_PAYLOAD_BYTES: usize = BLOCK_SIZE_BYTES - FRAGMENT_HEADER_BYTES;

const _: () = assert!(MAX_FRAGMENT_PAYLOAD_BYTES <= u16::MAX as usize);
const _: () = assert!(HEADER_BYTES + FRAGMENT_HEADER_BYTES <= BLOCK_SIZE_BYTES);

/// Which log this is; each kind has its own 8-byte magic in the file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum LogKind {
    // On-disk value; never renumber.
    /// The write-ahead log (`NNNNNN.wal`).
    Wal = 1,
    /// The manifest log (`MANIFEST-NNNNNN`).
    Manifest = 2,
}

impl LogKind {
    /// The 8-byte magic that opens a file of this kind.
    pub fn magic(self) -> [u8; 8] {
        match self {
            LogKind::Wal => *b"CAIRNWAL",
            LogKind::Manifest => *b"CAIRNMAN",
        }
    }

    /// The kind whose magic is `magic`, if any.
    pub fn from_magic(magic: &[u8]) -> Option<LogKind> {
        [LogKind::Wal, LogKind::Manifest].into_iter().find(|k| k.magic() == magic)
    }

    /// Decodes the on-disk kind byte.
    pub fn from_u8(b: u8) -> Option<LogKind> {
        match b {
            1 => Some(LogKind::Wal),
            2 => Some(LogKind::Manifest),
            _ => None,
        }
    }

    /// The name used in messages and tools: `WAL`, `manifest`.
    pub fn name(self) -> &'static str {
        match self {
            LogKind::Wal => "WAL",
            LogKind::Manifest => "manifest",
        }
    }
}

/// The role of a fragment in its logical record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FragmentType {
    // On-disk value; never renumber. 0 is never written: a zeroed header is not a fragment.
    /// The whole record.
    Full = 1,
    /// The first piece of a record continued in later fragments.
    First = 2,
    /// A piece that is neither first nor last.
    Middle = 3,
    /// The last piece.
    Last = 4,
}

impl FragmentType {
    /// Decodes the on-disk type byte.
    pub fn from_u8(b: u8) -> Option<FragmentType> {
        match b {
            1 => Some(FragmentType::Full),
            2 => Some(FragmentType::First),
            3 => Some(FragmentType::Middle),
            4 => Some(FragmentType::Last),
            _ => None,
        }
    }

    /// True for the types that begin a record (`FULL`, `FIRST`).
    pub fn begins_record(self) -> bool {
        matches!(self, FragmentType::Full | FragmentType::First)
    }

    /// True for the types that end a record (`FULL`, `LAST`).
    pub fn ends_record(self) -> bool {
        matches!(self, FragmentType::Full | FragmentType::Last)
    }
}

/// A decoded, checksum-verified file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogHeader {
    /// The kind named by the magic (and confirmed by the kind byte).
    pub kind: LogKind,
    /// The file number the header was written for.
    pub file_num: FileNum,
}

/// Encodes the file header of a new log.
pub fn encode_header(kind: LogKind, file_num: FileNum) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    h[0..8].copy_from_slice(&kind.magic());
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12] = kind as u8;
    // h[13] (flags) and h[14..16] (reserved) stay zero in format v1.
    h[16..24].copy_from_slice(&file_num.0.to_le_bytes());
    let checksum = crc(&h[..HEADER_BYTES - 4]);
    h[HEADER_BYTES - 4..].copy_from_slice(&checksum.to_le_bytes());
    h
}

/// Decodes and verifies a file header. `header` must hold at least [`HEADER_BYTES`] bytes
/// (shorter input is reported as a truncated header). Errors are relative to offset 0 of an
/// unnamed file; callers relabel with [`Error::at_file`].
///
/// Checks in order: magic (corruption), format version (unsupported; it sits in the first 12
/// bytes in every version so it can be read before knowing the layout), checksum
/// (corruption), kind byte (corruption), flags and reserved bytes (unsupported: a later
/// format's feature such as encryption).
pub fn decode_header(header: &[u8]) -> Result<LogHeader> {
    let h = header.get(..HEADER_BYTES).ok_or_else(|| Error::corruption("", 0, "truncated log header"))?;
    let kind = LogKind::from_magic(&h[0..8]).ok_or_else(|| Error::corruption("", 0, "bad log magic"))?;
    let version = get_u32_at(h, 8).ok_or_else(|| Error::corruption("", 8, "truncated format version"))?;
    if version != FORMAT_VERSION {
        return Err(Error::Unsupported { what: "log format", version });
    }
    let stored = get_u32_at(h, HEADER_BYTES - 4).ok_or_else(|| Error::corruption("", 24, "truncated checksum"))?;
    if stored != crc(&h[..HEADER_BYTES - 4]) {
        return Err(Error::corruption("", 0, "log header checksum mismatch"));
    }
    if LogKind::from_u8(h[12]) != Some(kind) {
        return Err(Error::corruption("", 12, format!("log kind byte {} disagrees with the magic", h[12])));
    }
    if h[13] != 0 {
        return Err(Error::Unsupported { what: "log header flags", version: u32::from(h[13]) });
    }
    if h[14] != 0 || h[15] != 0 {
        return Err(Error::Unsupported { what: "log header reserved field", version: u32::from(h[14]) });
    }
    let file_num = get_u64_at(h, 16).ok_or_else(|| Error::corruption("", 16, "truncated file number"))?;
    Ok(LogHeader { kind, file_num: FileNum(file_num) })
}

/// Bytes left in the block that contains `offset`.
#[inline]
pub fn block_left_bytes(offset: u64) -> usize {
    // The remainder is < BLOCK_SIZE_BYTES, which fits in usize on every target.
    BLOCK_SIZE_BYTES - (offset % BLOCK_SIZE_BYTES as u64) as usize
}

/// Appends the fragments of one logical record (`stamp.to_le_bytes() ++ payload`) that starts at
/// file offset `offset` (the current end of the log) to `dst`, with any zero padding it needs
/// first. Returns the file offset just past the record.
pub fn frame_record(dst: &mut Vec<u8>, file_num: FileNum, mut offset: u64, stamp: u64, payload: &[u8]) -> u64 {
    let stamp = stamp.to_le_bytes();
    let total_bytes = STAMP_BYTES + payload.len();
    let mut done_bytes = 0;
    // NB: not `done_bytes == 0`: a FIRST fragment may carry no bytes when exactly a fragment
    // header fits at the end of a block.
    let mut first = true;
    loop {
        let left = block_left_bytes(offset);
        if left < FRAGMENT_HEADER_BYTES {
            dst.resize(dst.len() + left, 0);
            offset += left as u64;
            continue;
        }
        let n = (total_bytes - done_bytes).min(left - FRAGMENT_HEADER_BYTES);
        let last = done_bytes + n == total_bytes;
        let ftype = match (first, last) {
            (true, true) => FragmentType::Full,
            (true, false) => FragmentType::First,
            (false, false) => FragmentType::Middle,
            (false, true) => FragmentType::Last,
        };
        let (a, b) = concat_range(&stamp, payload, done_bytes, n);
        let checksum = bound_crc(file_num, offset, &[&[ftype as u8], a, b]);
        dst.extend_from_slice(&checksum.to_le_bytes());
        dst.extend_from_slice(&(n as u16).to_le_bytes());
        dst.push(ftype as u8);
        dst.extend_from_slice(a);
        dst.extend_from_slice(b);
        offset += (FRAGMENT_HEADER_BYTES + n) as u64;
        done_bytes += n;
        first = false;
        if last {
            return offset;
        }
    }
}

/// The bytes `[from, from + n)` of `head ++ tail`, as a piece of each.
/// REQUIRES: `from + n <= head.len() + tail.len()`.
fn concat_range<'a>(head: &'a [u8], tail: &'a [u8], from: usize, n: usize) -> (&'a [u8], &'a [u8]) {
    let end = from + n;
    let a = &head[from.min(head.len())..end.min(head.len())];
    let b = &tail[from.saturating_sub(head.len())..end.saturating_sub(head.len())];
    (a, b)
}

/// A checksum-verified fragment found by [`parse_fragment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fragment {
    /// File offset of the fragment header.
    pub offset: usize,
    /// Its role in the record.
    pub ftype: FragmentType,
    /// File offset of the first payload byte.
    pub payload_start: usize,
    /// File offset just past the payload (and so of whatever follows).
    pub end: usize,
}

impl Fragment {
    /// The payload bytes. REQUIRES: `data` is the buffer the fragment was parsed from.
    pub fn payload<'a>(&self, data: &'a [u8]) -> &'a [u8] {
        data.get(self.payload_start..self.end).unwrap_or_default()
    }
}

/// What lies at one position of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// A verified fragment.
    Fragment(Fragment),
    /// Complete zero padding up to the block end at `next`, with more bytes after it.
    Padding { next: usize },
    /// The position is the end of the data.
    End,
    /// Bytes that are not a verified fragment (torn or corrupt; the caller decides which).
    Bad { what: &'static str },
}

/// Parses what lies at file offset `pos` of `data` (the whole log file). Never panics.
///
/// Padding that reaches the end of the file is `Bad`: the writer emits padding in the same
/// append as the fragment that follows it, so padding with nothing after it is a torn append.
pub(crate) fn parse_fragment(data: &[u8], file_num: FileNum, pos: usize) -> Parsed {
    if pos >= data.len() {
        return Parsed::End;
    }
    let left = block_left_bytes(pos as u64);
    if left < FRAGMENT_HEADER_BYTES {
        return match data.get(pos..pos + left) {
            None => Parsed::Bad { what: "log ends inside block padding" },
            Some(_) if pos + left == data.len() => Parsed::Bad { what: "log ends after block padding" },
            Some(pad) if pad.iter().any(|&b| b != 0) => Parsed::Bad { what: "nonzero block padding" },
            Some(_) => Parsed::Padding { next: pos + left },
        };
    }
    let Some(header) = data.get(pos..pos + FRAGMENT_HEADER_BYTES) else {
        return Parsed::Bad { what: "truncated fragment header" };
    };
    let stored = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let len = usize::from(u16::from_le_bytes([header[4], header[5]]));
    let Some(ftype) = FragmentType::from_u8(header[6]) else {
        if header.iter().all(|&b| b == 0) {
            return Parsed::Bad { what: "zeroed fragment header" };
        }
        return Parsed::Bad { what: "unknown fragment type" };
    };
    if FRAGMENT_HEADER_BYTES + len > left {
        return Parsed::Bad { what: "fragment length crosses the block boundary" };
    }
    let payload_start = pos + FRAGMENT_HEADER_BYTES;
    let Some(payload) = data.get(payload_start..payload_start + len) else {
        return Parsed::Bad { what: "truncated fragment" };
    };
    if stored != bound_crc(file_num, pos as u64, &[&[ftype as u8], payload]) {
        return Parsed::Bad { what: "fragment checksum mismatch" };
    }
    Parsed::Fragment(Fragment { offset: pos, ftype, payload_start, end: payload_start + len })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fragments(data: &[u8], file_num: FileNum, mut pos: usize) -> Vec<Fragment> {
        let mut out = Vec::new();
        loop {
            match parse_fragment(data, file_num, pos) {
                Parsed::Fragment(f) => {
                    pos = f.end;
                    out.push(f);
                }
                Parsed::Padding { next } => pos = next,
                Parsed::End => return out,
                Parsed::Bad { what } => panic!("bad fragment at {pos}: {what}"),
            }
        }
    }

    #[test]
    fn header_round_trips_and_pins_layout() {
        let h = encode_header(LogKind::Manifest, FileNum(0x0102_0304));
        assert_eq!(&h[0..8], b"CAIRNMAN");
        assert_eq!(&h[8..16], &[1, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(&h[16..24], &[4, 3, 2, 1, 0, 0, 0, 0]);
        let decoded = decode_header(&h).expect("valid header");
        assert_eq!(decoded, LogHeader { kind: LogKind::Manifest, file_num: FileNum(0x0102_0304) });
    }

    #[test]
    fn header_flags_and_reserved_are_unsupported_when_set() {
        for at in [13, 14, 15] {
            let mut h = encode_header(LogKind::Wal, FileNum(1));
            h[at] = 1;
            let checksum = crc(&h[..HEADER_BYTES - 4]);
            h[HEADER_BYTES - 4..].copy_from_slice(&checksum.to_le_bytes());
            assert!(matches!(decode_header(&h), Err(Error::Unsupported { .. })), "byte {at}");
        }
    }

    #[test]
    fn kind_byte_must_agree_with_magic() {
        let mut h = encode_header(LogKind::Wal, FileNum(1));
        h[12] = LogKind::Manifest as u8;
        let checksum = crc(&h[..HEADER_BYTES - 4]);
        h[HEADER_BYTES - 4..].copy_from_slice(&checksum.to_le_bytes());
        assert!(matches!(decode_header(&h), Err(Error::Corruption { offset: 12, .. })));
    }

    #[test]
    fn seven_bytes_left_gets_an_empty_first_fragment() {
        // Start a record exactly FRAGMENT_HEADER_BYTES before the end of block 0.
        let start = BLOCK_SIZE_BYTES - FRAGMENT_HEADER_BYTES;
        let mut data = vec![0u8; start];
        let end = frame_record(&mut data, FileNum(9), start as u64, 28, b"abc");
        assert_eq!(end as usize, data.len());
        let frags = fragments(&data, FileNum(9), start);
        let types: Vec<_> = frags.iter().map(|f| f.ftype).collect();
        assert_eq!(types, [FragmentType::First, FragmentType::Last]);
        assert!(frags[0].payload(&data).is_empty());
        assert_eq!(frags[1].offset, BLOCK_SIZE_BYTES);
    }

    #[test]
    fn short_block_tail_is_zero_padded() {
        let start = BLOCK_SIZE_BYTES - 3;
        let mut data = vec![0xaau8; start];
        frame_record(&mut data, FileNum(9), start as u64, 28, b"x");
        assert_eq!(&data[start..BLOCK_SIZE_BYTES], &[0, 0, 0]);
        assert_eq!(parse_fragment(&data, FileNum(9), start), Parsed::Padding { next: BLOCK_SIZE_BYTES });
        data[start + 1] = 1;
        assert_eq!(parse_fragment(&data, FileNum(9), start), Parsed::Bad { what: "nonzero block padding" });
        assert_eq!(
            parse_fragment(&data[..BLOCK_SIZE_BYTES], FileNum(9), start),
            Parsed::Bad { what: "log ends after block padding" }
        );
    }

    #[test]
    fn fragment_bound_to_file_and_offset() {
        let mut data = vec![0u8; HEADER_BYTES];
        frame_record(&mut data, FileNum(5), HEADER_BYTES as u64, 28, b"payload");
        assert!(matches!(parse_fragment(&data, FileNum(5), HEADER_BYTES), Parsed::Fragment(_)));
        assert_eq!(parse_fragment(&data, FileNum(6), HEADER_BYTES), Parsed::Bad { what: "fragment checksum mismatch" });
        let mut moved = vec![0u8; HEADER_BYTES + 1];
        moved.extend_from_slice(&data[HEADER_BYTES..]);
        assert_eq!(
            parse_fragment(&moved, FileNum(5), HEADER_BYTES + 1),
            Parsed::Bad { what: "fragment checksum mismatch" }
        );
    }

    proptest! {
        #[test]
        fn framing_round_trips(
            anywhere in HEADER_BYTES..3 * BLOCK_SIZE_BYTES,
            (block, back) in (1usize..3, 0usize..2 * FRAGMENT_HEADER_BYTES),
            near_block_end: bool,
            stamp: u64,
            len in 0usize..80_000,
        ) {
            let start = if near_block_end { block * BLOCK_SIZE_BYTES - back } else { anywhere };
            let payload: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let mut data = vec![0u8; start];
            let end = frame_record(&mut data, FileNum(3), start as u64, stamp, &payload);
            prop_assert_eq!(end as usize, data.len());
            let frags = fragments(&data, FileNum(3), start);
            let mut record = Vec::new();
            for (i, f) in frags.iter().enumerate() {
                prop_assert_eq!(f.ftype.begins_record(), i == 0);
                prop_assert_eq!(f.ftype.ends_record(), i + 1 == frags.len());
                prop_assert!(f.offset / BLOCK_SIZE_BYTES == (f.end - 1).max(f.offset) / BLOCK_SIZE_BYTES);
                record.extend_from_slice(f.payload(&data));
            }
            prop_assert_eq!(&record[..STAMP_BYTES], &stamp.to_le_bytes());
            prop_assert_eq!(&record[STAMP_BYTES..], &payload[..]);
        }

        #[test]
        fn parse_never_panics(data: Vec<u8>, pos in 0usize..2048) {
            let _ = parse_fragment(&data, FileNum(1), pos);
        }
    }
}
