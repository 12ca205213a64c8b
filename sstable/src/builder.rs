//! The table writer: turns a sorted stream of internal entries into a sealed, synced table file
//! (docs/format/sstable.md#file-layout).
//!
//! Owns block boundaries, the order in which regions are written, statistics, and output
//! buffering. Leaves the in-block layout to `block`, separators to `index`, the filter to
//! `filter`, encodings of the frame and properties to `footer` and `properties`, and sealing
//! (compression + checksum bound to file number and offset) to `cairn_base::envelope`.
//!
//! Invariants: keys are strictly increasing internal keys (checked on every `add`); every block
//! is sealed for the offset it is written at; output reaches the file in appends of exactly
//! [`WRITE_CHUNK_BYTES`] (except the last), so every append starts at a multiple of it, never one
//! per block; a table is durable once [`TableBuilder::finish`] returns. A builder dropped before
//! `finish` leaves a partial file that no reader accepts (it has no footer); the caller deletes it.

use std::cmp::Ordering;
use std::fmt;
use std::path::PathBuf;

use cairn_base::envelope::{self, Compression, MAX_BLOCK_BYTES};
use cairn_base::hash::key_hash;
use cairn_base::key::{compare_internal, parse_internal_key, user_key};
use cairn_base::vfs::WritableFile;
use cairn_base::{Error, FileNum, InternalKey, Result, SeqNum, ValueKind};

use crate::block::BlockBuilder;
use crate::filter::Filter;
use crate::footer::{BlockHandle, FORMAT_VERSION, Footer, HEADER_BYTES, encode_header};
use crate::index::IndexBuilder;
use crate::properties::TableProperties;

/// Largest `key ++ value` one entry may have, so that a block (target size plus one entry) stays
/// within what readers accept ([`MAX_BLOCK_BYTES`]).
pub const MAX_ENTRY_BYTES: usize = MAX_BLOCK_BYTES / 4;

/// Largest `block_size_bytes` accepted.
pub const MAX_BLOCK_SIZE_BYTES: usize = MAX_BLOCK_BYTES / 4;

/// Largest `bloom_bits_per_key` accepted.
pub const MAX_BLOOM_BITS_PER_KEY: u32 = 64;

/// Sealed output reaches the file in appends of this size, each starting at a multiple of it
/// (the last append of a table excepted). One aligned 2 MiB write lets a file system with large
/// folios (ext4 since Linux 6.16, XFS) cache the range as one huge page, which the kernel then
/// maps with a single TLB entry when the table is memory-mapped: readrandom on 1M keys measured
/// 5.5 % faster with tables written this way (docs/benchmarks.md#read-path-changes).
pub const WRITE_CHUNK_BYTES: usize = 2 << 20;

const _: () = assert!(MAX_BLOCK_SIZE_BYTES + MAX_ENTRY_BYTES + 64 < MAX_BLOCK_BYTES);

/// How tables are written.
#[derive(Debug, Clone)]
pub struct TableOptions {
    /// Target size of an uncompressed data block; a block is closed once it reaches it.
    pub block_size_bytes: usize,
    /// Entries between restart points in data blocks.
    pub restart_interval: usize,
    /// Bloom filter bits per distinct user key; 0 writes no filter.
    pub bloom_bits_per_key: u32,
    /// Compression of data blocks.
    pub compression: Compression,
    /// Give each data block a hash index (format 2, docs/format/sstable.md#data-block-hash-index):
    /// point lookups jump to the key's restart interval instead of binary-searching, for about
    /// 2 bytes per distinct user key.
    pub data_block_hash_index: bool,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            block_size_bytes: 4096,
            restart_interval: 16,
            bloom_bits_per_key: 10,
            compression: Compression::None,
            data_block_hash_index: true,
        }
    }
}

impl TableOptions {
    /// Checks every option against its documented range.
    pub fn validate(&self) -> Result<()> {
        if self.block_size_bytes == 0 || self.block_size_bytes > MAX_BLOCK_SIZE_BYTES {
            return Err(Error::invalid(format!("block_size_bytes must be in 1..={MAX_BLOCK_SIZE_BYTES}")));
        }
        if self.restart_interval == 0 || u32::try_from(self.restart_interval).is_err() {
            return Err(Error::invalid("restart_interval must be in 1..=u32::MAX"));
        }
        if self.bloom_bits_per_key > MAX_BLOOM_BITS_PER_KEY {
            return Err(Error::invalid(format!("bloom_bits_per_key must be at most {MAX_BLOOM_BITS_PER_KEY}")));
        }
        Ok(())
    }
}

/// What a finished table holds; the engine turns it into manifest metadata.
#[derive(Debug, Clone)]
pub struct TableSummary {
    /// The table's file number.
    pub file_num: FileNum,
    /// Size of the file.
    pub size_bytes: u64,
    /// First internal key.
    pub smallest: InternalKey,
    /// Last internal key.
    pub largest: InternalKey,
    /// Smallest sequence number of any entry.
    pub smallest_seq: SeqNum,
    /// Largest sequence number of any entry.
    pub largest_seq: SeqNum,
    /// Entries, tombstones included.
    pub entries: u64,
    /// Entries of kind `Delete`.
    pub tombstones: u64,
}

/// Running statistics, written into the properties block.
#[derive(Debug, Default)]
struct Stats {
    entries: u64,
    tombstones: u64,
    raw_key_bytes: u64,
    raw_value_bytes: u64,
    data_blocks: u64,
    compressed_data_blocks: u64,
    smallest_seq: u64,
    largest_seq: u64,
}

/// Writes one table. See the module docs for the contract.
pub struct TableBuilder {
    file: Box<dyn WritableFile>,
    path: PathBuf,
    file_num: FileNum,
    opts: TableOptions,
    /// Sealed bytes not yet appended to the file.
    out: Vec<u8>,
    /// File offset of the next sealed byte (appended + buffered).
    offset_bytes: u64,
    block: BlockBuilder,
    index: IndexBuilder,
    /// The last flushed data block, waiting for the next key to choose its separator.
    pending_handle: Option<BlockHandle>,
    last_key: Vec<u8>,
    smallest_key: Vec<u8>,
    filter_hashes: Vec<u64>,
    stats: Stats,
}

impl fmt::Debug for TableBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableBuilder")
            .field("path", &self.path)
            .field("file_num", &self.file_num)
            .field("entries", &self.stats.entries)
            .field("offset_bytes", &self.offset_bytes)
            .finish()
    }
}

/// Seals `raw` at `*offset_bytes` into `out` and advances the offset.
fn seal_block(
    out: &mut Vec<u8>,
    offset_bytes: &mut u64,
    raw: &[u8],
    compression: Compression,
    file_num: FileNum,
) -> (BlockHandle, Compression) {
    let start = out.len();
    let used = envelope::seal(out, raw, compression, file_num, *offset_bytes);
    let handle = BlockHandle { offset: *offset_bytes, size_bytes: (out.len() - start) as u64 };
    *offset_bytes += handle.size_bytes;
    (handle, used)
}

impl TableBuilder {
    /// Starts table `file_num` in the freshly created `file` (at `path`, for messages).
    pub fn new(
        file: Box<dyn WritableFile>,
        path: PathBuf,
        file_num: FileNum,
        opts: &TableOptions,
    ) -> Result<TableBuilder> {
        opts.validate()?;
        if file.size_bytes() != 0 {
            return Err(Error::invalid("a table must be written to an empty file"));
        }
        let mut out = Vec::with_capacity(WRITE_CHUNK_BYTES + opts.block_size_bytes + 1024);
        out.extend_from_slice(&encode_header(file_num));
        Ok(TableBuilder {
            file,
            path,
            file_num,
            opts: opts.clone(),
            out,
            offset_bytes: HEADER_BYTES as u64,
            block: match opts.data_block_hash_index {
                true => BlockBuilder::with_hash_index(opts.restart_interval),
                false => BlockBuilder::new(opts.restart_interval),
            },
            index: IndexBuilder::new(),
            pending_handle: None,
            last_key: Vec::new(),
            smallest_key: Vec::new(),
            filter_hashes: Vec::new(),
            stats: Stats { smallest_seq: u64::MAX, ..Stats::default() },
        })
    }

    /// Appends an entry. REQUIRES: `ikey` (an encoded internal key) is strictly greater than the
    /// previous one (debug-asserted; an `InvalidArgument` error in release builds). Buffers output
    /// and appends to the file in aligned chunks of [`WRITE_CHUNK_BYTES`], not per block.
    pub fn add(&mut self, ikey: &[u8], value: &[u8]) -> Result<()> {
        let parsed = parse_internal_key(ikey).map_err(|_| Error::invalid("table key is not an internal key"))?;
        if ikey.len() + value.len() > MAX_ENTRY_BYTES {
            return Err(Error::invalid(format!("table entry larger than {MAX_ENTRY_BYTES} bytes")));
        }
        let ordered = self.stats.entries == 0 || compare_internal(&self.last_key, ikey) == Ordering::Less;
        debug_assert!(ordered, "table keys must be added in strictly increasing order");
        if !ordered {
            return Err(Error::invalid("table keys must be added in strictly increasing order"));
        }
        if let Some(handle) = self.pending_handle.take() {
            self.index.add(&self.last_key, Some(ikey), handle);
        }
        let new_user_key = self.stats.entries == 0 || user_key(&self.last_key) != parsed.user_key;
        if self.opts.bloom_bits_per_key > 0 && new_user_key {
            self.filter_hashes.push(key_hash(parsed.user_key));
        }
        if self.stats.entries == 0 {
            self.smallest_key.extend_from_slice(ikey);
        }
        self.count(ikey, value, parsed.seq, parsed.kind);
        self.block.add(ikey, value);
        self.last_key.clear();
        self.last_key.extend_from_slice(ikey);
        if self.block.estimated_size_bytes() >= self.opts.block_size_bytes {
            self.flush_block()?;
        }
        Ok(())
    }

    fn count(&mut self, ikey: &[u8], value: &[u8], seq: SeqNum, kind: ValueKind) {
        let s = &mut self.stats;
        s.entries += 1;
        s.tombstones += u64::from(kind == ValueKind::Delete);
        s.raw_key_bytes += ikey.len() as u64;
        s.raw_value_bytes += value.len() as u64;
        s.smallest_seq = s.smallest_seq.min(seq.0);
        s.largest_seq = s.largest_seq.max(seq.0);
    }

    /// Entries added so far.
    pub fn entries(&self) -> u64 {
        self.stats.entries
    }

    /// Bytes written so far plus the current block: used to split compaction outputs.
    pub fn estimated_size_bytes(&self) -> u64 {
        let open_block = if self.block.is_empty() { 0 } else { self.block.estimated_size_bytes() };
        self.offset_bytes + open_block as u64
    }

    /// Seals the open data block into the output buffer and appends the next aligned chunk once
    /// the buffer holds it.
    fn flush_block(&mut self) -> Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let raw = self.block.finish();
        let (handle, used) =
            seal_block(&mut self.out, &mut self.offset_bytes, raw, self.opts.compression, self.file_num);
        self.block.reset();
        self.pending_handle = Some(handle);
        self.stats.data_blocks += 1;
        self.stats.compressed_data_blocks += u64::from(used != Compression::None);
        self.write_chunk()
    }

    /// Appends every whole [`WRITE_CHUNK_BYTES`] chunk the buffer holds, one append each; the rest
    /// stays buffered. Only whole chunks are appended before `finish`, so each starts at a
    /// multiple of the chunk size in the file.
    fn write_chunk(&mut self) -> Result<()> {
        while self.out.len() >= WRITE_CHUNK_BYTES {
            debug_assert_eq!(self.file.size_bytes() % WRITE_CHUNK_BYTES as u64, 0);
            self.file.append(&self.out[..WRITE_CHUNK_BYTES])?;
            self.out.drain(..WRITE_CHUNK_BYTES);
        }
        Ok(())
    }

    fn write_out(&mut self) -> Result<()> {
        self.file.append(&self.out)?;
        self.out.clear();
        Ok(())
    }

    /// Writes filter, index, properties, footer; syncs and closes the file. REQUIRES: `entries() > 0`
    /// (an `InvalidArgument` error otherwise).
    pub fn finish(mut self) -> Result<TableSummary> {
        if self.stats.entries == 0 {
            return Err(Error::invalid("a table needs at least one entry"));
        }
        self.flush_block()?;
        let data_end = self.offset_bytes;
        if let Some(handle) = self.pending_handle.take() {
            self.index.add(&self.last_key, None, handle);
        }
        let filter = self.seal_filter();
        let (index, _) =
            seal_block(&mut self.out, &mut self.offset_bytes, self.index.finish(), Compression::None, self.file_num);
        let properties = self.properties(data_end, index, filter)?;
        let mut raw = Vec::new();
        properties.encode(&mut raw);
        let (properties_handle, _) =
            seal_block(&mut self.out, &mut self.offset_bytes, &raw, Compression::None, self.file_num);
        let footer =
            Footer { filter, index, properties: properties_handle, file_num: self.file_num, version: FORMAT_VERSION };
        footer.encode(self.offset_bytes, &mut self.out);
        self.offset_bytes += crate::footer::FOOTER_BYTES as u64;
        self.write_out()?;
        debug_assert_eq!(self.file.size_bytes(), self.offset_bytes);
        self.file.sync()?;
        self.file.close()?;
        Ok(TableSummary {
            file_num: self.file_num,
            size_bytes: self.offset_bytes,
            smallest: properties.smallest_key,
            largest: properties.largest_key,
            smallest_seq: properties.smallest_seq,
            largest_seq: properties.largest_seq,
            entries: properties.entries,
            tombstones: properties.tombstones,
        })
    }

    fn seal_filter(&mut self) -> BlockHandle {
        if self.opts.bloom_bits_per_key == 0 {
            return BlockHandle::ABSENT;
        }
        let mut raw = Vec::new();
        Filter::build(&self.filter_hashes, self.opts.bloom_bits_per_key).encode(&mut raw);
        seal_block(&mut self.out, &mut self.offset_bytes, &raw, Compression::None, self.file_num).0
    }

    fn properties(&self, data_end: u64, index: BlockHandle, filter: BlockHandle) -> Result<TableProperties> {
        let s = &self.stats;
        Ok(TableProperties {
            entries: s.entries,
            tombstones: s.tombstones,
            data_blocks: s.data_blocks,
            compressed_data_blocks: s.compressed_data_blocks,
            raw_key_bytes: s.raw_key_bytes,
            raw_value_bytes: s.raw_value_bytes,
            data_size_bytes: data_end - HEADER_BYTES as u64,
            index_size_bytes: index.size_bytes,
            filter_size_bytes: filter.size_bytes,
            smallest_seq: SeqNum(s.smallest_seq),
            largest_seq: SeqNum(s.largest_seq),
            smallest_key: InternalKey::from_encoded(self.smallest_key.clone())?,
            largest_key: InternalKey::from_encoded(self.last_key.clone())?,
            compression: self.opts.compression,
            filter_bits_per_key: self.opts.bloom_bits_per_key,
            restart_interval: u32::try_from(self.opts.restart_interval).expect("validated in TableOptions::validate"),
            block_size_bytes: self.opts.block_size_bytes as u64,
            format_version: FORMAT_VERSION,
        })
    }
}
