//! Checksums: CRC-32 (IEEE, via `crc32fast`), bound to the file number and the byte offset of
//! what they cover. A block copied to another file or another offset — a misdirected write or
//! read — therefore fails its check even though its bytes are intact.

use crate::key::FileNum;

/// CRC-32 of `parts`, seeded with `file_num` and `offset` (docs/format/sstable.md#checksums).
pub fn bound_crc(file_num: FileNum, offset: u64, parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&file_num.0.to_le_bytes());
    h.update(&offset.to_le_bytes());
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

/// Plain CRC-32 of `data`.
pub fn crc(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_changes_the_checksum() {
        let a = bound_crc(FileNum(1), 0, &[b"block"]);
        assert_ne!(a, bound_crc(FileNum(2), 0, &[b"block"]));
        assert_ne!(a, bound_crc(FileNum(1), 4096, &[b"block"]));
        assert_eq!(a, bound_crc(FileNum(1), 0, &[b"blo", b"ck"]));
    }
}
