//! Typed table properties and their tagged encoding (docs/format/sstable.md#properties-block).
//!
//! Owns the properties block's bytes. Does not compute the statistics (the table writer counts
//! them) and does not check them against the data (the table reader checks the block counts,
//! `Table::verify` the rest).
//!
//! Invariants: tags are written in increasing order and each exactly once; a reader skips
//! unknown tags, so properties can be added without a format version change, and rejects a
//! missing, repeated or out-of-order known tag.

use cairn_base::coding::{Decoder, get_varint, put_bytes, put_varint};
use cairn_base::envelope::Compression;
use cairn_base::{Error, InternalKey, Result, SeqNum};

/// Property tags. On-disk values; never renumber.
mod tag {
    pub(super) const ENTRIES: u64 = 1;
    pub(super) const TOMBSTONES: u64 = 2;
    pub(super) const DATA_BLOCKS: u64 = 3;
    pub(super) const RAW_KEY_BYTES: u64 = 4;
    pub(super) const RAW_VALUE_BYTES: u64 = 5;
    pub(super) const DATA_SIZE_BYTES: u64 = 6;
    pub(super) const INDEX_SIZE_BYTES: u64 = 7;
    pub(super) const FILTER_SIZE_BYTES: u64 = 8;
    pub(super) const SMALLEST_SEQ: u64 = 9;
    pub(super) const LARGEST_SEQ: u64 = 10;
    pub(super) const COMPRESSION: u64 = 11;
    pub(super) const COMPRESSED_DATA_BLOCKS: u64 = 12;
    pub(super) const FILTER_BITS_PER_KEY: u64 = 13;
    pub(super) const RESTART_INTERVAL: u64 = 14;
    pub(super) const BLOCK_SIZE_BYTES: u64 = 15;
    pub(super) const SMALLEST_KEY: u64 = 16;
    pub(super) const LARGEST_KEY: u64 = 17;
    /// Integer tags are `1..=LAST_INTEGER`.
    pub(super) const LAST_INTEGER: u64 = BLOCK_SIZE_BYTES;
}

/// What a table holds and how it was written, as recorded in its properties block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableProperties {
    /// Entries in the table, tombstones included.
    pub entries: u64,
    /// Entries of kind `Delete`.
    pub tombstones: u64,
    /// Number of data blocks.
    pub data_blocks: u64,
    /// Data blocks actually stored compressed (a block that does not shrink is stored raw).
    pub compressed_data_blocks: u64,
    /// Sum of internal-key lengths before prefix compression.
    pub raw_key_bytes: u64,
    /// Sum of value lengths.
    pub raw_value_bytes: u64,
    /// Bytes of all sealed data blocks.
    pub data_size_bytes: u64,
    /// Bytes of the sealed index block.
    pub index_size_bytes: u64,
    /// Bytes of the sealed filter block; 0 without a filter.
    pub filter_size_bytes: u64,
    /// Smallest sequence number of any entry.
    pub smallest_seq: SeqNum,
    /// Largest sequence number of any entry.
    pub largest_seq: SeqNum,
    /// The first internal key.
    pub smallest_key: InternalKey,
    /// The last internal key.
    pub largest_key: InternalKey,
    /// Compression the writer was configured with.
    pub compression: Compression,
    /// Filter bits per key the writer was configured with; 0 means no filter.
    pub filter_bits_per_key: u32,
    /// Restart interval of the data blocks.
    pub restart_interval: u32,
    /// Target data-block size the writer was configured with.
    pub block_size_bytes: u64,
    /// The table's format version (from its footer; not stored in the properties block).
    pub format_version: u32,
}

impl TableProperties {
    /// The integer properties, in tag order.
    fn integers(&self) -> [(u64, u64); tag::LAST_INTEGER as usize] {
        [
            (tag::ENTRIES, self.entries),
            (tag::TOMBSTONES, self.tombstones),
            (tag::DATA_BLOCKS, self.data_blocks),
            (tag::RAW_KEY_BYTES, self.raw_key_bytes),
            (tag::RAW_VALUE_BYTES, self.raw_value_bytes),
            (tag::DATA_SIZE_BYTES, self.data_size_bytes),
            (tag::INDEX_SIZE_BYTES, self.index_size_bytes),
            (tag::FILTER_SIZE_BYTES, self.filter_size_bytes),
            (tag::SMALLEST_SEQ, self.smallest_seq.0),
            (tag::LARGEST_SEQ, self.largest_seq.0),
            (tag::COMPRESSION, self.compression as u64),
            (tag::COMPRESSED_DATA_BLOCKS, self.compressed_data_blocks),
            (tag::FILTER_BITS_PER_KEY, self.filter_bits_per_key.into()),
            (tag::RESTART_INTERVAL, self.restart_interval.into()),
            (tag::BLOCK_SIZE_BYTES, self.block_size_bytes),
        ]
    }

    /// Appends the properties block's payload to `dst`.
    pub(crate) fn encode(&self, dst: &mut Vec<u8>) {
        let mut value = Vec::with_capacity(10);
        for (t, v) in self.integers() {
            value.clear();
            put_varint(&mut value, v);
            put_varint(dst, t);
            put_bytes(dst, &value);
        }
        for (t, key) in [(tag::SMALLEST_KEY, &self.smallest_key), (tag::LARGEST_KEY, &self.largest_key)] {
            put_varint(dst, t);
            put_bytes(dst, key.encoded());
        }
    }

    /// Decodes a properties payload of a table whose footer says `format_version`. Errors are
    /// relative to the payload's start.
    pub(crate) fn decode(payload: &[u8], format_version: u32) -> Result<TableProperties> {
        let mut ints = [None; tag::LAST_INTEGER as usize];
        let (mut smallest_key, mut largest_key) = (None, None);
        let mut d = Decoder::new(payload);
        let mut last_tag = 0;
        while !d.is_empty() {
            let at = d.position() as u64;
            let t = d.varint("property tag")?;
            let value = d.length_prefixed("property value")?;
            if t <= last_tag {
                return Err(Error::corruption("", at, "property tags out of order or repeated"));
            }
            last_tag = t;
            match t {
                tag::ENTRIES..=tag::LAST_INTEGER => ints[(t - 1) as usize] = Some(decode_integer(value, at)?),
                tag::SMALLEST_KEY => smallest_key = Some(decode_key(value, at)?),
                tag::LARGEST_KEY => largest_key = Some(decode_key(value, at)?),
                _ => {} // A later writer's property: skipped by design.
            }
        }
        let int = |t: u64| ints[(t - 1) as usize].ok_or_else(|| missing(t));
        let int_u32 =
            |t: u64| u32::try_from(int(t)?).map_err(|_| Error::corruption("", 0, format!("property {t} out of range")));
        let compression = u8::try_from(int(tag::COMPRESSION)?).ok().and_then(Compression::from_u8);
        Ok(TableProperties {
            entries: int(tag::ENTRIES)?,
            tombstones: int(tag::TOMBSTONES)?,
            data_blocks: int(tag::DATA_BLOCKS)?,
            compressed_data_blocks: int(tag::COMPRESSED_DATA_BLOCKS)?,
            raw_key_bytes: int(tag::RAW_KEY_BYTES)?,
            raw_value_bytes: int(tag::RAW_VALUE_BYTES)?,
            data_size_bytes: int(tag::DATA_SIZE_BYTES)?,
            index_size_bytes: int(tag::INDEX_SIZE_BYTES)?,
            filter_size_bytes: int(tag::FILTER_SIZE_BYTES)?,
            smallest_seq: SeqNum(int(tag::SMALLEST_SEQ)?),
            largest_seq: SeqNum(int(tag::LARGEST_SEQ)?),
            smallest_key: smallest_key.ok_or_else(|| missing(tag::SMALLEST_KEY))?,
            largest_key: largest_key.ok_or_else(|| missing(tag::LARGEST_KEY))?,
            compression: compression.ok_or_else(|| Error::corruption("", 0, "unknown compression property"))?,
            filter_bits_per_key: int_u32(tag::FILTER_BITS_PER_KEY)?,
            restart_interval: int_u32(tag::RESTART_INTERVAL)?,
            block_size_bytes: int(tag::BLOCK_SIZE_BYTES)?,
            format_version,
        })
    }
}

fn missing(t: u64) -> Error {
    Error::corruption("", 0, format!("required property {t} missing"))
}

fn decode_integer(value: &[u8], at: u64) -> Result<u64> {
    match get_varint(value) {
        Some((v, n)) if n == value.len() => Ok(v),
        _ => Err(Error::corruption("", at, "integer property is not exactly one varint")),
    }
}

fn decode_key(value: &[u8], at: u64) -> Result<InternalKey> {
    InternalKey::from_encoded(value.to_vec()).map_err(|_| Error::corruption("", at, "malformed key property"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_base::ValueKind;
    use proptest::prelude::*;

    fn sample() -> TableProperties {
        TableProperties {
            entries: 10,
            tombstones: 2,
            data_blocks: 3,
            compressed_data_blocks: 1,
            raw_key_bytes: 200,
            raw_value_bytes: 300,
            data_size_bytes: 450,
            index_size_bytes: 60,
            filter_size_bytes: 75,
            smallest_seq: SeqNum(1),
            largest_seq: SeqNum(10),
            smallest_key: InternalKey::new(b"a", SeqNum(4), ValueKind::Set),
            largest_key: InternalKey::new(b"z", SeqNum(1), ValueKind::Delete),
            compression: Compression::Lz4,
            filter_bits_per_key: 10,
            restart_interval: 16,
            block_size_bytes: 4096,
            format_version: 1,
        }
    }

    #[test]
    fn unknown_tags_are_skipped_and_disorder_rejected() {
        let mut enc = Vec::new();
        sample().encode(&mut enc);
        let mut extended = enc.clone();
        put_varint(&mut extended, 99);
        put_bytes(&mut extended, b"from the future");
        assert_eq!(TableProperties::decode(&extended, 1).expect("decode"), sample());
        let mut repeated = enc.clone();
        put_varint(&mut repeated, tag::LARGEST_KEY);
        put_bytes(&mut repeated, sample().largest_key.encoded());
        assert!(TableProperties::decode(&repeated, 1).is_err_and(|e| e.is_corruption()));
    }

    #[test]
    fn missing_property_is_corruption() {
        let mut enc = Vec::new();
        sample().encode(&mut enc);
        // Drop the first property (entries: tag 1, len 1, value 10).
        assert_eq!(&enc[..3], &[1, 1, 10]);
        assert!(TableProperties::decode(&enc[3..], 1).is_err_and(|e| e.is_corruption()));
    }

    proptest! {
        #[test]
        fn properties_round_trip(ints: [u64; 12], small: [u32; 2], c in 0u8..3, keys: (Vec<u8>, Vec<u8>), seqs: (u32, u32)) {
            let p = TableProperties {
                entries: ints[0], tombstones: ints[1], data_blocks: ints[2], compressed_data_blocks: ints[3],
                raw_key_bytes: ints[4], raw_value_bytes: ints[5], data_size_bytes: ints[6],
                index_size_bytes: ints[7], filter_size_bytes: ints[8], smallest_seq: SeqNum(ints[9]),
                largest_seq: SeqNum(ints[10]),
                smallest_key: InternalKey::new(&keys.0, SeqNum(seqs.0.into()), ValueKind::Set),
                largest_key: InternalKey::new(&keys.1, SeqNum(seqs.1.into()), ValueKind::Delete),
                compression: Compression::from_u8(c).expect("valid"), filter_bits_per_key: small[0],
                restart_interval: small[1], block_size_bytes: ints[11], format_version: 1,
            };
            let mut enc = Vec::new();
            p.encode(&mut enc);
            prop_assert_eq!(TableProperties::decode(&enc, 1).map_err(|e| TestCaseError::fail(e.to_string()))?, p);
        }

        #[test]
        fn arbitrary_properties_never_panic(bytes: Vec<u8>) {
            let _ = TableProperties::decode(&bytes, 1);
        }
    }
}
