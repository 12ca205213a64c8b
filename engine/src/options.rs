//! `Options`: the consuming builder users configure Cairn with, validated once at open.
//!
//! Grouped by concern rather than one flat bag: memory budgets, table layout, compaction
//! shape, write stalls, and the file system. Every setter names its unit.

use std::path::Path;
use std::sync::Arc;

use cairn_base::envelope::Compression;
use cairn_base::vfs::{RealFs, Vfs};
use cairn_base::{Error, Result};

use crate::db::Db;

/// How to open a database. A consuming builder: `Options::default().cache_size_bytes(..).open(path)`.
///
/// ```no_run
/// let db = cairn::Options::default()
///     .cache_size_bytes(512 << 20)
///     .memtable_size_bytes(64 << 20)
///     .open("data")?;
/// # Ok::<(), cairn::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Options {
    pub(crate) create_if_missing: bool,
    pub(crate) error_if_exists: bool,
    pub(crate) memtable_size_bytes: usize,
    pub(crate) max_immutable_memtables: usize,
    pub(crate) cache_size_bytes: u64,
    pub(crate) block_size_bytes: usize,
    pub(crate) restart_interval: usize,
    pub(crate) data_block_hash_index: bool,
    pub(crate) bloom_bits_per_key: u32,
    pub(crate) compression: Compression,
    pub(crate) use_mmap: bool,
    pub(crate) target_file_size_bytes: u64,
    pub(crate) level1_target_bytes: u64,
    pub(crate) level_multiplier: u64,
    pub(crate) l0_compaction_trigger: usize,
    pub(crate) l0_files_slowdown: usize,
    pub(crate) l0_files_stop: usize,
    pub(crate) background_threads: usize,
    pub(crate) manifest_rollover_bytes: u64,
    pub(crate) vfs: Arc<dyn Vfs>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            create_if_missing: true,
            error_if_exists: false,
            memtable_size_bytes: 64 << 20,
            max_immutable_memtables: 2,
            cache_size_bytes: 64 << 20,
            block_size_bytes: 4096,
            restart_interval: 4,
            data_block_hash_index: true,
            bloom_bits_per_key: 10,
            compression: Compression::None,
            use_mmap: true,
            target_file_size_bytes: 64 << 20,
            level1_target_bytes: 256 << 20,
            level_multiplier: 10,
            l0_compaction_trigger: 4,
            l0_files_slowdown: 20,
            l0_files_stop: 36,
            background_threads: 2,
            manifest_rollover_bytes: 4 << 20,
            vfs: Arc::new(RealFs),
        }
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        #[must_use]
        pub fn $name(mut self, value: $ty) -> Self {
            self.$name = value;
            self
        }
    };
}

impl Options {
    /// The defaults: create the directory if missing, 64 MiB memtable, 64 MiB block cache,
    /// 4 KiB blocks, 10 bloom bits per key, no compression, memory-mapped reads.
    pub fn new() -> Self {
        Self::default()
    }

    setter!(
        /// Create the database if the directory holds none (default `true`).
        create_if_missing: bool
    );
    setter!(
        /// Fail with `InvalidArgument` if a database already exists (default `false`).
        error_if_exists: bool
    );
    setter!(
        /// Size at which the active memtable is sealed and a flush is scheduled (default 64 MiB).
        memtable_size_bytes: usize
    );
    setter!(
        /// Sealed memtables allowed to wait for flush before writes stop (default 2).
        max_immutable_memtables: usize
    );
    setter!(
        /// Budget of the block cache for decoded (compressed or pread) blocks (default 64 MiB).
        /// Uncompressed blocks read through the memory map use the OS page cache instead.
        cache_size_bytes: u64
    );
    setter!(
        /// Target size of a data block before compression (default 4 KiB).
        block_size_bytes: usize
    );
    setter!(
        /// Entries between restart points in a data block (default 4: a point read scans at most
        /// 4 entries after its binary search; measured against 16 on 1M keys: readrandom +6–20 %,
        /// seekrandom +20 %, tables +3 % — docs/benchmarks.md).
        restart_interval: usize
    );
    setter!(
        /// Give each new data block a hash index (default `true`): a point read jumps to its key's
        /// restart interval instead of binary-searching the block, for about 2 bytes per key
        /// (docs/format/sstable.md#data-block-hash-index, docs/benchmarks.md). Scans do not use it.
        data_block_hash_index: bool
    );
    setter!(
        /// Bloom filter bits per key; 0 disables filters (default 10).
        bloom_bits_per_key: u32
    );
    setter!(
        /// Block compression for new tables (default none).
        compression: Compression
    );
    setter!(
        /// Serve table reads from a memory map (default `true`); `false` uses positioned reads
        /// and the block cache.
        use_mmap: bool
    );
    setter!(
        /// Size at which flush and compaction outputs are split (default 64 MiB).
        target_file_size_bytes: u64
    );
    setter!(
        /// Target size of level 1; deeper levels grow by `level_multiplier` (default 256 MiB).
        level1_target_bytes: u64
    );
    setter!(
        /// Size ratio between adjacent levels (default 10).
        level_multiplier: u64
    );
    setter!(
        /// Level-0 table count that triggers a compaction (default 4).
        l0_compaction_trigger: usize
    );
    setter!(
        /// Level-0 table count at which writes are delayed (default 20).
        l0_files_slowdown: usize
    );
    setter!(
        /// Level-0 table count at which writes wait for compaction (default 36).
        l0_files_stop: usize
    );
    setter!(
        /// Background threads: one flushes, the rest compact (default 2, minimum 2).
        background_threads: usize
    );
    setter!(
        /// Manifest size at which a new manifest is started (default 4 MiB).
        manifest_rollover_bytes: u64
    );

    /// The file system every I/O goes through (default: the real one). Tests pass fault-
    /// injecting or crash-emulating file systems here.
    #[must_use]
    pub fn vfs(mut self, vfs: Arc<dyn Vfs>) -> Self {
        self.vfs = vfs;
        self
    }

    /// Validates the options and opens (or creates) the database at `path`.
    pub fn open(self, path: impl AsRef<Path>) -> Result<Db> {
        self.validate()?;
        Db::open_with(self, path.as_ref())
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(Error::invalid(what.to_string())) };
        check(self.memtable_size_bytes >= 4 << 10, "memtable_size_bytes must be at least 4 KiB")?;
        check(self.max_immutable_memtables >= 1, "max_immutable_memtables must be at least 1")?;
        check((256..=(4 << 20)).contains(&self.block_size_bytes), "block_size_bytes must be in 256 B ..= 4 MiB")?;
        check((1..=1024).contains(&self.restart_interval), "restart_interval must be in 1..=1024")?;
        check(self.bloom_bits_per_key <= 64, "bloom_bits_per_key must be at most 64")?;
        check(self.target_file_size_bytes >= 4 << 10, "target_file_size_bytes must be at least 4 KiB")?;
        check(
            self.level1_target_bytes >= self.target_file_size_bytes,
            "level1_target_bytes must be >= target_file_size_bytes",
        )?;
        check(self.level_multiplier >= 2, "level_multiplier must be at least 2")?;
        check(self.l0_compaction_trigger >= 1, "l0_compaction_trigger must be at least 1")?;
        check(
            self.l0_compaction_trigger <= self.l0_files_slowdown && self.l0_files_slowdown <= self.l0_files_stop,
            "need l0_compaction_trigger <= l0_files_slowdown <= l0_files_stop",
        )?;
        check(self.background_threads >= 2, "background_threads must be at least 2 (one flushes, one compacts)")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Options::default().validate().expect("defaults valid");
    }

    #[test]
    fn bad_options_are_rejected_with_a_reason() {
        let e = Options::default().l0_files_slowdown(1).validate().expect_err("invalid");
        assert!(e.to_string().contains("l0_compaction_trigger"), "{e}");
        assert!(Options::default().block_size_bytes(10).validate().is_err());
        assert!(Options::default().background_threads(1).validate().is_err());
    }
}
