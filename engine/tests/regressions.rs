//! Defects found by the campaigns, frozen as named tests (the failing input, minimised).

mod common;

/// Found by cairn-stress (power-loss mode, seed 9, cycle 1): zstd shrank a block of one repeated
/// byte more than 255-fold, the writer kept it, and every reader refused it as "implausible
/// decompressed length". The writer now stores such blocks raw (envelope::MAX_EXPANSION).
#[test]
fn zstd_block_compressing_more_than_255_fold_reads_back() {
    let dir = common::temp_dir("regress-zstd-255");
    let db = cairn::Options::default().compression(cairn::Compression::Zstd).open(&dir).expect("open");
    db.put(b"k", vec![0u8; 64 << 10]).expect("put");
    db.flush().expect("flush");
    assert_eq!(db.get(b"k").expect("get").map(|v| v.len()), Some(64 << 10));
    db.check().expect("check reads every block");
    db.compact().expect("compaction reads every block");
    db.close().expect("close");
    let _ = std::fs::remove_dir_all(&dir);
}
