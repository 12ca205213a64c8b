//! The block envelope shared by every block-structured file kind (docs/format/sstable.md#block-envelope).
//!
//! ```text
//! sealed block := payload codec:u8 crc:u32le
//! codec        := compression (bits 0-3: 0 none, 1 lz4, 2 zstd) | encrypted (bit 7, reserved:
//!                 must be 0 in format v1) ; bits 4-6 reserved, must be 0
//! payload      := raw bytes                                  when compression = none
//!               | raw_len:varint compressed bytes            otherwise
//! crc          := CRC-32 seeded with file number and block offset, over payload and codec
//! ```
//! A compressor that does not save at least 1/8 of the bytes is skipped and the block is stored
//! raw, so readers of raw blocks can serve them straight from the memory map. A block that would
//! expand more than [`MAX_EXPANSION`]-fold when decoded is also stored raw: readers refuse larger
//! expansions to bound what a hostile block can make them allocate.

use std::borrow::Cow;

use crate::checksum::bound_crc;
use crate::coding::{get_u32_at, get_varint, put_u32, put_varint};
use crate::error::{Error, Result};
use crate::key::FileNum;

/// Bytes the envelope adds after the payload.
pub const TRAILER_BYTES: usize = 5;

/// The largest block (decompressed) any reader accepts: bounds allocation on hostile input.
pub const MAX_BLOCK_BYTES: usize = 64 << 20;

/// The most a compressed payload may expand when decoded. Readers refuse more (bounding the
/// allocation a hostile block can cause), so `seal` stores a block that compresses better than
/// this raw rather than writing what no reader would accept.
pub const MAX_EXPANSION: usize = 255;

/// True if a payload of `payload_len` bytes may decode to `raw_len` bytes.
fn within_expansion_bound(raw_len: usize, payload_len: usize) -> bool {
    raw_len <= payload_len.saturating_mul(MAX_EXPANSION).max(64)
}

const ENCRYPTED_BIT: u8 = 0x80;
const RESERVED_BITS: u8 = 0x70;

/// A block compression codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Compression {
    // On-disk values; never renumber.
    /// Stored raw.
    #[default]
    None = 0,
    /// LZ4 block format.
    Lz4 = 1,
    /// Zstandard, level 3.
    Zstd = 2,
}

impl Compression {
    /// Decodes the low 4 bits of a codec byte.
    pub fn from_u8(b: u8) -> Option<Compression> {
        match b {
            0 => Some(Compression::None),
            1 => Some(Compression::Lz4),
            2 => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The name used by tools and flags: `none`, `lz4`, `zstd`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Parses a name as given to `--compression_type`.
    pub fn from_name(s: &str) -> Option<Compression> {
        match s {
            "none" | "no" => Some(Compression::None),
            "lz4" => Some(Compression::Lz4),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// Appends `raw`, sealed for position `offset` of file `file_num`, to `dst`.
/// Returns the compression actually used.
pub fn seal(dst: &mut Vec<u8>, raw: &[u8], compression: Compression, file_num: FileNum, offset: u64) -> Compression {
    let start = dst.len();
    let used = match compression {
        Compression::None => Compression::None,
        c => {
            put_varint(dst, raw.len() as u64);
            let ok = match c {
                Compression::Lz4 => {
                    dst.extend_from_slice(&lz4_flex::block::compress(raw));
                    true
                }
                Compression::Zstd => match zstd::bulk::compress(raw, 3) {
                    Ok(z) => {
                        dst.extend_from_slice(&z);
                        true
                    }
                    Err(_) => false,
                },
                Compression::None => false,
            };
            let payload_len = dst.len() - start;
            if ok && payload_len < raw.len() - raw.len() / 8 && within_expansion_bound(raw.len(), payload_len) {
                c
            } else {
                dst.truncate(start);
                Compression::None
            }
        }
    };
    if used == Compression::None {
        dst.extend_from_slice(raw);
    }
    let codec = used as u8;
    dst.push(codec);
    let crc = bound_crc(file_num, offset, &[&dst[start..]]);
    put_u32(dst, crc);
    used
}

/// A verified block: borrowed when stored raw, owned when it had to be decompressed.
pub type Opened<'a> = Cow<'a, [u8]>;

/// Verifies and decodes a sealed block read from `offset` of file `file_num`.
/// Errors are corruption at offset 0 relative to the block (callers relabel with
/// [`Error::at_file`] and the block's offset).
pub fn open(sealed: &[u8], file_num: FileNum, offset: u64) -> Result<Opened<'_>> {
    let (payload, codec) = verify(sealed, file_num, offset)?;
    decode_payload(payload, codec)
}

/// Verifies the checksum only; returns the payload and codec byte.
pub fn verify(sealed: &[u8], file_num: FileNum, offset: u64) -> Result<(&[u8], u8)> {
    if sealed.len() < TRAILER_BYTES {
        return Err(Error::corruption("", 0, "block shorter than its trailer"));
    }
    let body_len = sealed.len() - 4;
    let stored = get_u32_at(sealed, body_len).unwrap_or(0);
    let actual = bound_crc(file_num, offset, &[&sealed[..body_len]]);
    if stored != actual {
        return Err(Error::corruption("", 0, "block checksum mismatch"));
    }
    Ok((&sealed[..body_len - 1], sealed[body_len - 1]))
}

/// Decodes a verified payload according to its codec byte.
pub fn decode_payload(payload: &[u8], codec: u8) -> Result<Opened<'_>> {
    if codec & ENCRYPTED_BIT != 0 {
        return Err(Error::Unsupported { what: "encrypted block (format v1 reader)", version: 1 });
    }
    if codec & RESERVED_BITS != 0 {
        return Err(Error::corruption("", 0, format!("reserved codec bits set: {codec:#04x}")));
    }
    let compression = Compression::from_u8(codec & 0x0f)
        .ok_or_else(|| Error::corruption("", 0, format!("unknown compression codec {}", codec & 0x0f)))?;
    if compression == Compression::None {
        return Ok(Cow::Borrowed(payload));
    }
    let (raw_len, n) = get_varint(payload).ok_or_else(|| Error::corruption("", 0, "bad decompressed length"))?;
    let raw_len = usize::try_from(raw_len).unwrap_or(usize::MAX);
    // Bound the allocation by the input: writers never store a block that expands more than
    // MAX_EXPANSION-fold (`seal` stores such a block raw) and blocks are never larger than
    // MAX_BLOCK_BYTES.
    if raw_len > MAX_BLOCK_BYTES || !within_expansion_bound(raw_len, payload.len()) {
        return Err(Error::corruption("", 0, "implausible decompressed length"));
    }
    let body = &payload[n..];
    let out = match compression {
        Compression::Lz4 => lz4_flex::block::decompress(body, raw_len)
            .map_err(|e| Error::corruption("", 0, format!("lz4 block does not decode: {e}")))?,
        Compression::Zstd => zstd::bulk::decompress(body, raw_len)
            .map_err(|e| Error::corruption("", 0, format!("zstd block does not decode: {e}")))?,
        Compression::None => unreachable!("handled above"),
    };
    if out.len() != raw_len {
        return Err(Error::corruption("", 0, "decompressed length differs from the recorded length"));
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all() -> [Compression; 3] {
        [Compression::None, Compression::Lz4, Compression::Zstd]
    }

    #[test]
    fn compressible_block_is_compressed_and_round_trips() {
        let raw = b"abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc".repeat(20);
        for c in all() {
            let mut sealed = Vec::new();
            let used = seal(&mut sealed, &raw, c, FileNum(3), 4096);
            assert_eq!(used, c);
            assert_eq!(open(&sealed, FileNum(3), 4096).expect("open").as_ref(), &raw[..]);
        }
    }

    #[test]
    fn block_compressing_beyond_the_reader_bound_is_stored_raw_and_reads_back() {
        // 64 KiB of zeros: zstd shrinks it far more than MAX_EXPANSION-fold.
        let raw = vec![0u8; 64 << 10];
        for c in all() {
            let mut sealed = Vec::new();
            let used = seal(&mut sealed, &raw, c, FileNum(4), 28);
            let back = open(&sealed, FileNum(4), 28).expect("a sealed block always reads back");
            assert_eq!(back.as_ref(), &raw[..], "{c:?} stored as {used:?}");
        }
    }

    #[test]
    fn incompressible_block_is_stored_raw() {
        let raw: Vec<u8> = (0..64u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let mut sealed = Vec::new();
        assert_eq!(seal(&mut sealed, &raw, Compression::Lz4, FileNum(1), 0), Compression::None);
        assert!(matches!(open(&sealed, FileNum(1), 0), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn misplaced_block_is_detected() {
        let mut sealed = Vec::new();
        seal(&mut sealed, b"payload", Compression::None, FileNum(1), 100);
        assert!(open(&sealed, FileNum(1), 200).is_err());
        assert!(open(&sealed, FileNum(2), 100).is_err());
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        for c in all() {
            let mut sealed = Vec::new();
            seal(&mut sealed, &b"hello hello hello hello hello".repeat(4), c, FileNum(9), 0);
            for i in 0..sealed.len() * 8 {
                let mut bad = sealed.clone();
                bad[i / 8] ^= 1 << (i % 8);
                assert!(open(&bad, FileNum(9), 0).is_err(), "flip {i} undetected ({c:?})");
            }
        }
    }

    proptest! {
        #[test]
        fn seal_open_round_trips(raw: Vec<u8>, c in 0u8..3, off: u64) {
            let c = Compression::from_u8(c).expect("valid");
            let mut sealed = Vec::new();
            seal(&mut sealed, &raw, c, FileNum(5), off);
            let back = open(&sealed, FileNum(5), off).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back.as_ref(), &raw[..]);
        }

        #[test]
        fn decode_payload_never_panics(payload: Vec<u8>, codec: u8) {
            let _ = decode_payload(&payload, codec);
        }
    }
}
