//! [`Knobs`]: the options that change randomly between crash cycles, and the fixed options that
//! make flush, compaction and manifest rollover run constantly on a small database.
//!
//! Owns the option space a campaign explores (memtable size, compression, memory-mapped or
//! positioned reads, block size) and its flag encoding for the kill campaign's child. It leaves
//! when to draw new knobs to the campaigns. Every combination drawn here is valid for
//! `Options::open`; a unit test holds that.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use cairn::{Compression, Options, Vfs};
use cairn_testkit::Rng;

use super::args::{take_bool, take_number};

/// Memtable budgets drawn from: small, so a few dozen batches seal a memtable.
const MEMTABLE_SIZES_BYTES: [usize; 4] = [4 << 10, 8 << 10, 16 << 10, 64 << 10];
/// Data block sizes drawn from.
const BLOCK_SIZES_BYTES: [usize; 4] = [256, 512, 1024, 4096];
/// Codecs drawn from.
const COMPRESSIONS: [Compression; 3] = [Compression::None, Compression::Lz4, Compression::Zstd];

/// The options one cycle (or one reopen) runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Knobs {
    pub memtable_size_bytes: usize,
    pub compression: Compression,
    pub use_mmap: bool,
    pub block_size_bytes: usize,
}

impl Knobs {
    /// A random combination.
    pub fn random(rng: &mut Rng) -> Knobs {
        Knobs {
            memtable_size_bytes: pick(rng, &MEMTABLE_SIZES_BYTES),
            compression: pick(rng, &COMPRESSIONS),
            use_mmap: rng.chance(50),
            block_size_bytes: pick(rng, &BLOCK_SIZES_BYTES),
        }
    }

    /// Options on the real file system: these knobs plus tiny tables, levels and manifests.
    pub fn options(&self) -> Options {
        Options::default()
            .memtable_size_bytes(self.memtable_size_bytes)
            .compression(self.compression)
            .use_mmap(self.use_mmap)
            .block_size_bytes(self.block_size_bytes)
            .restart_interval(4)
            .target_file_size_bytes(8 << 10)
            .level1_target_bytes(32 << 10)
            .level_multiplier(4)
            .l0_compaction_trigger(2)
            .l0_files_slowdown(8)
            .l0_files_stop(12)
            .cache_size_bytes(64 << 10)
            .manifest_rollover_bytes(16 << 10)
    }

    /// [`Knobs::options`] on another file system.
    pub fn options_on(&self, vfs: Arc<dyn Vfs>) -> Options {
        self.options().vfs(vfs)
    }

    /// The child-process flags that [`Knobs::from_flags`] reads back.
    pub fn to_flags(self) -> Vec<String> {
        vec![
            format!("--memtable-bytes={}", self.memtable_size_bytes),
            format!("--compression={}", compression_name(self.compression)),
            format!("--mmap={}", self.use_mmap),
            format!("--block-bytes={}", self.block_size_bytes),
        ]
    }

    /// Removes the knob flags from `flags`; all four are required.
    pub fn from_flags(flags: &mut BTreeMap<String, String>) -> Result<Knobs, String> {
        let size = |flags: &mut BTreeMap<String, String>, name: &str| -> Result<usize, String> {
            let n = take_number(flags, name)?.ok_or_else(|| format!("child: --{name} is required"))?;
            usize::try_from(n).map_err(|_| format!("--{name}={n} does not fit this machine"))
        };
        let memtable_size_bytes = size(flags, "memtable-bytes")?;
        let block_size_bytes = size(flags, "block-bytes")?;
        let compression = match flags.remove("compression").as_deref() {
            Some("none") => Compression::None,
            Some("lz4") => Compression::Lz4,
            Some("zstd") => Compression::Zstd,
            other => return Err(format!("child: --compression must be none, lz4 or zstd, not {other:?}")),
        };
        let use_mmap = take_bool(flags, "mmap")?;
        Ok(Knobs { memtable_size_bytes, compression, use_mmap, block_size_bytes })
    }
}

impl fmt::Display for Knobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memtable={}KiB compression={} mmap={} block={}B",
            self.memtable_size_bytes >> 10,
            compression_name(self.compression),
            if self.use_mmap { "on" } else { "off" },
            self.block_size_bytes
        )
    }
}

fn compression_name(c: Compression) -> &'static str {
    match c {
        Compression::None => "none",
        Compression::Lz4 => "lz4",
        Compression::Zstd => "zstd",
    }
}

fn pick<T: Copy>(rng: &mut Rng, choices: &[T]) -> T {
    choices[rng.below(choices.len() as u64) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_drawn_combination_opens() {
        let dir = std::env::temp_dir().join(format!("cairn-stress-knobs-{}", std::process::id()));
        for m in MEMTABLE_SIZES_BYTES {
            for b in BLOCK_SIZES_BYTES {
                let _ = std::fs::remove_dir_all(&dir);
                let knobs = Knobs {
                    memtable_size_bytes: m,
                    compression: Compression::Zstd,
                    use_mmap: false,
                    block_size_bytes: b,
                };
                let db = knobs.options().open(&dir).unwrap_or_else(|e| panic!("{knobs} does not open: {e}"));
                db.close().expect("close");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn random_draws_cover_the_space() {
        let mut rng = Rng::new(5);
        let draws: Vec<Knobs> = (0..200).map(|_| Knobs::random(&mut rng)).collect();
        for c in COMPRESSIONS {
            assert!(draws.iter().any(|k| k.compression == c), "{c:?} never drawn");
        }
        assert!(draws.iter().any(|k| k.use_mmap) && draws.iter().any(|k| !k.use_mmap));
        for m in MEMTABLE_SIZES_BYTES {
            assert!(draws.iter().any(|k| k.memtable_size_bytes == m), "memtable {m} never drawn");
        }
    }
}
