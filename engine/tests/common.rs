//! Helpers shared by the engine's scenario tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::PathBuf;

/// A fresh, empty directory under the system temp dir, unique per test and process.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cairn-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}

/// Options that make flush and compaction run constantly on tiny data.
pub fn tiny_options() -> cairn::Options {
    cairn::Options::default()
        .memtable_size_bytes(4 << 10)
        .target_file_size_bytes(4 << 10)
        .level1_target_bytes(16 << 10)
        .level_multiplier(4)
        .l0_compaction_trigger(2)
        .l0_files_slowdown(8)
        .l0_files_stop(12)
        .block_size_bytes(256)
        .restart_interval(4)
        .cache_size_bytes(64 << 10)
}

/// Collects an iterator of results, panicking on the first error.
pub fn collect(it: impl Iterator<Item = cairn::Result<(bytes::Bytes, bytes::Bytes)>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    it.map(|r| {
        let (k, v) = r.expect("iteration error");
        (k.to_vec(), v.to_vec())
    })
    .collect()
}
