//! The fixed frame of a table file: the header at offset 0, the footer in the last 72 bytes, and
//! the block handles that point from the footer and the index into the file
//! (docs/format/sstable.md#file-layout).
//!
//! Owns magic numbers, the format version, header flags and the handle encodings. Does not check
//! that handles fit the file's strict layout (the table reader does, knowing the file size).
//!
//! Invariants: magic and version are checked before the checksum, so an unknown version is
//! reported as `Error::Unsupported` even if a later version changes what the checksum covers;
//! both checksums are bound to the file number stored beside them and to their own offset.

use cairn_base::checksum::bound_crc;
use cairn_base::coding::{Decoder, get_u32_at, get_u64_at, put_u32, put_u64, put_varint};
use cairn_base::{Error, FileNum, Result};

/// The magic number in header and footer: the bytes `CAIRNSST`.
pub const TABLE_MAGIC: u64 = u64::from_le_bytes(*b"CAIRNSST");

/// The table format version this build writes: 2 (data blocks may carry a hash index).
pub const FORMAT_VERSION: u32 = 2;

/// The oldest table format version this build reads: 1 (no hash indexes).
pub const OLDEST_READABLE_VERSION: u32 = 1;

/// Bytes of the header.
pub(crate) const HEADER_BYTES: usize = 28;

/// Bytes of the footer.
pub(crate) const FOOTER_BYTES: usize = 72;

/// Where one sealed block lies in the file: `size_bytes` includes the envelope trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct BlockHandle {
    /// Offset of the block's first byte; the checksum is bound to it.
    pub(crate) offset: u64,
    /// Bytes of the sealed block.
    pub(crate) size_bytes: u64,
}

impl BlockHandle {
    /// The handle of an absent block (a table without a filter).
    pub(crate) const ABSENT: BlockHandle = BlockHandle { offset: 0, size_bytes: 0 };

    /// One past the block's last byte, or `None` on overflow (hostile handles).
    pub(crate) fn end(&self) -> Option<u64> {
        self.offset.checked_add(self.size_bytes)
    }

    /// Appends the varint form used as index values.
    pub(crate) fn encode_varint(&self, dst: &mut Vec<u8>) {
        put_varint(dst, self.offset);
        put_varint(dst, self.size_bytes);
    }

    /// Decodes the varint form; it must fill `src` exactly.
    pub(crate) fn decode_varint(src: &[u8]) -> Result<BlockHandle> {
        let mut d = Decoder::new(src);
        let handle = BlockHandle { offset: d.varint("block offset")?, size_bytes: d.varint("block size")? };
        if !d.is_empty() {
            return Err(Error::corruption("", d.position() as u64, "trailing bytes after a block handle"));
        }
        Ok(handle)
    }

    fn put_fixed(&self, dst: &mut Vec<u8>) {
        put_u64(dst, self.offset);
        put_u64(dst, self.size_bytes);
    }

    fn get_fixed(d: &mut Decoder<'_>) -> Result<BlockHandle> {
        Ok(BlockHandle { offset: d.u64("handle offset")?, size_bytes: d.u64("handle size")? })
    }
}

/// Checks magic and version, shared by header and footer; returns the version.
/// `magic_at`/`version_at` index `bytes`.
fn check_magic_and_version(bytes: &[u8], magic_at: usize, version_at: usize, what: &str) -> Result<u32> {
    if get_u64_at(bytes, magic_at) != Some(TABLE_MAGIC) {
        return Err(Error::corruption("", magic_at as u64, format!("bad {what} magic: not an sstable")));
    }
    match get_u32_at(bytes, version_at) {
        Some(v @ OLDEST_READABLE_VERSION..=FORMAT_VERSION) => Ok(v),
        Some(version) => Err(Error::Unsupported { what: "sstable format", version }),
        None => Err(Error::corruption("", version_at as u64, format!("truncated {what}"))),
    }
}

/// The header bytes for table `file_num`.
pub(crate) fn encode_header(file_num: FileNum) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER_BYTES);
    put_u64(&mut h, TABLE_MAGIC);
    put_u32(&mut h, FORMAT_VERSION);
    put_u32(&mut h, 0); // flags: none in formats 1 and 2
    put_u64(&mut h, file_num.0);
    let crc = bound_crc(file_num, 0, &[&h]);
    put_u32(&mut h, crc);
    debug_assert_eq!(h.len(), HEADER_BYTES);
    h
}

/// Decodes the header; returns the file number and format version it names. Errors are relative
/// to offset 0.
pub(crate) fn decode_header(bytes: &[u8]) -> Result<(FileNum, u32)> {
    if bytes.len() != HEADER_BYTES {
        return Err(Error::corruption("", 0, "truncated header"));
    }
    let version = check_magic_and_version(bytes, 0, 8, "header")?;
    let mut d = Decoder::new(&bytes[12..]);
    let flags = d.u32("header flags")?;
    let file_num = FileNum(d.u64("header file number")?);
    let stored = d.u32("header checksum")?;
    if stored != bound_crc(file_num, 0, &[&bytes[..24]]) {
        return Err(Error::corruption("", 24, "header checksum mismatch"));
    }
    if flags != 0 {
        return Err(Error::Unsupported { what: "sstable header flags", version: flags });
    }
    Ok((file_num, version))
}

/// The decoded footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Footer {
    /// The filter block, or [`BlockHandle::ABSENT`].
    pub(crate) filter: BlockHandle,
    /// The index block.
    pub(crate) index: BlockHandle,
    /// The properties block.
    pub(crate) properties: BlockHandle,
    /// The table's file number.
    pub(crate) file_num: FileNum,
    /// The format version (the reader checks the header names the same).
    pub(crate) version: u32,
}

impl Footer {
    /// Appends the footer, which will start at `footer_offset`, to `dst`.
    pub(crate) fn encode(&self, footer_offset: u64, dst: &mut Vec<u8>) {
        let start = dst.len();
        self.filter.put_fixed(dst);
        self.index.put_fixed(dst);
        self.properties.put_fixed(dst);
        put_u64(dst, self.file_num.0);
        let mut tail = Vec::with_capacity(12);
        put_u32(&mut tail, self.version);
        put_u64(&mut tail, TABLE_MAGIC);
        let crc = bound_crc(self.file_num, footer_offset, &[&dst[start..], &tail]);
        put_u32(dst, crc);
        dst.extend_from_slice(&tail);
        debug_assert_eq!(dst.len() - start, FOOTER_BYTES);
    }

    /// Decodes the footer read from `footer_offset`. Errors are relative to `footer_offset`.
    pub(crate) fn decode(bytes: &[u8], footer_offset: u64) -> Result<Footer> {
        if bytes.len() != FOOTER_BYTES {
            return Err(Error::corruption("", 0, "truncated footer"));
        }
        let version = check_magic_and_version(bytes, 64, 60, "footer")?;
        let mut d = Decoder::new(bytes);
        let filter = BlockHandle::get_fixed(&mut d)?;
        let index = BlockHandle::get_fixed(&mut d)?;
        let properties = BlockHandle::get_fixed(&mut d)?;
        let file_num = FileNum(d.u64("footer file number")?);
        let stored = d.u32("footer checksum")?;
        if stored != bound_crc(file_num, footer_offset, &[&bytes[..56], &bytes[60..]]) {
            return Err(Error::corruption("", 56, "footer checksum mismatch"));
        }
        Ok(Footer { filter, index, properties, file_num, version })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn magic_spells_cairnsst_on_disk() {
        assert_eq!(&encode_header(FileNum(1))[..8], b"CAIRNSST");
    }

    #[test]
    fn header_rejects_bad_magic_version_flags_and_crc() {
        let good = encode_header(FileNum(7));
        assert_eq!(decode_header(&good).expect("good header"), (FileNum(7), FORMAT_VERSION));
        let mut bad_magic = good.clone();
        bad_magic[0] ^= 1;
        assert!(decode_header(&bad_magic).is_err_and(|e| e.is_corruption()));
        let mut v3 = good.clone();
        v3[8] = 3;
        assert!(matches!(decode_header(&v3), Err(Error::Unsupported { version: 3, .. })));
        let mut v0 = good.clone();
        v0[8] = 0;
        assert!(matches!(decode_header(&v0), Err(Error::Unsupported { version: 0, .. })));
        let mut flagged = good.clone();
        flagged[12] = 1;
        let crc = bound_crc(FileNum(7), 0, &[&flagged[..24]]);
        flagged[24..].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(decode_header(&flagged), Err(Error::Unsupported { what: "sstable header flags", .. })));
        let mut bad_crc = good.clone();
        bad_crc[20] ^= 1;
        assert!(decode_header(&bad_crc).is_err_and(|e| e.is_corruption()));
        assert!(decode_header(&good[..27]).is_err_and(|e| e.is_corruption()));
    }

    #[test]
    fn footer_is_bound_to_its_offset() {
        let f = Footer {
            filter: BlockHandle::ABSENT,
            index: BlockHandle { offset: 28, size_bytes: 9 },
            properties: BlockHandle { offset: 37, size_bytes: 50 },
            file_num: FileNum(3),
            version: FORMAT_VERSION,
        };
        let mut enc = Vec::new();
        f.encode(87, &mut enc);
        assert_eq!(Footer::decode(&enc, 87).expect("decode"), f);
        assert!(Footer::decode(&enc, 88).is_err_and(|e| e.is_corruption()));
        let v1 = Footer { version: 1, ..f };
        let mut enc1 = Vec::new();
        v1.encode(87, &mut enc1);
        assert_eq!(Footer::decode(&enc1, 87).expect("format 1 still reads"), v1);
        let mut v9 = enc.clone();
        v9[60] = 9;
        assert!(matches!(Footer::decode(&v9, 87), Err(Error::Unsupported { version: 9, .. })));
    }

    proptest! {
        #[test]
        fn footer_round_trips(h: [(u64, u64); 3], file_num: u64, footer_offset: u64, version in 1u32..=2) {
            let handle = |(offset, size_bytes)| BlockHandle { offset, size_bytes };
            let f = Footer { filter: handle(h[0]), index: handle(h[1]), properties: handle(h[2]), file_num: FileNum(file_num), version };
            let mut enc = Vec::new();
            f.encode(footer_offset, &mut enc);
            prop_assert_eq!(Footer::decode(&enc, footer_offset).map_err(|e| TestCaseError::fail(e.to_string()))?, f);
        }

        #[test]
        fn header_round_trips(file_num: u64) {
            let enc = encode_header(FileNum(file_num));
            prop_assert_eq!(decode_header(&enc).map_err(|e| TestCaseError::fail(e.to_string()))?, (FileNum(file_num), FORMAT_VERSION));
        }

        #[test]
        fn handle_varint_round_trips(offset: u64, size_bytes: u64) {
            let h = BlockHandle { offset, size_bytes };
            let mut enc = Vec::new();
            h.encode_varint(&mut enc);
            prop_assert_eq!(BlockHandle::decode_varint(&enc).map_err(|e| TestCaseError::fail(e.to_string()))?, h);
            enc.push(0);
            prop_assert!(BlockHandle::decode_varint(&enc).is_err());
        }

        #[test]
        fn arbitrary_frames_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..100), off: u64) {
            let _ = decode_header(&bytes);
            let _ = Footer::decode(&bytes, off);
            let _ = BlockHandle::decode_varint(&bytes);
        }
    }
}
