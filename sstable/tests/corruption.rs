//! Damaged and hostile files: every outcome is the right answer or a typed error, never a wrong
//! value or a panic (DESIGN G5, G9).

mod common;

use std::path::PathBuf;

use bytes::Bytes;
use cairn_base::checksum::bound_crc;
use cairn_base::hash::key_hash;
use cairn_base::iter::InternalIterator;
use cairn_base::{Error, FileNum, SeqNum};
use cairn_sstable::{BlockCache, Compression, Table, TableOptions};
use common::{Entry, build, model_get, open, sequential_entries};
use proptest::prelude::*;

const FILE_NUM: FileNum = FileNum(17);
const HEADER_BYTES: usize = 28;
const FOOTER_BYTES: usize = 72;

fn small_table(compression: Compression) -> (Vec<Entry>, Bytes) {
    let es = sequential_entries(60, 11);
    let opts = TableOptions { block_size_bytes: 512, restart_interval: 4, compression, ..TableOptions::default() };
    let built = build(&es, &opts, FILE_NUM);
    (es, built.bytes)
}

/// End of the data region, from the table's own properties.
fn data_end(bytes: &Bytes) -> usize {
    let table = open(bytes.clone(), FILE_NUM, false, None).expect("intact table opens");
    HEADER_BYTES + table.properties().data_size_bytes as usize
}

fn expect_corruption_near(e: &Error, flipped_at: usize) {
    match e {
        Error::Corruption { file, offset, .. } => {
            assert_eq!(file, &PathBuf::from("000017.sst"), "error names the file");
            let offset = *offset as usize;
            assert!(offset >= HEADER_BYTES && offset <= flipped_at, "block offset {offset} vs flip at {flipped_at}");
        }
        other => panic!("expected corruption for flip at {flipped_at}, got {other}"),
    }
}

/// Gets every key: each answer is either correct or corruption; returns how many were corruption.
fn get_all(table: &Table, es: &[Entry], flipped_at: usize) -> usize {
    let mut corrupt = 0;
    for e in es {
        match table.get(&e.user_key, key_hash(&e.user_key), SeqNum(u64::MAX)) {
            Ok(got) => {
                let got = got.map(|(k, s, v)| (k, s, v.to_vec()));
                assert_eq!(got, model_get(es, &e.user_key, u64::MAX), "wrong value after flip at {flipped_at}");
            }
            Err(e) => {
                expect_corruption_near(&e, flipped_at);
                corrupt += 1;
            }
        }
    }
    corrupt
}

fn scan_all(table: &std::sync::Arc<Table>) -> Result<usize, Error> {
    let mut it = table.iter();
    let mut n = 0;
    it.seek_to_first()?;
    while it.valid() {
        n += 1;
        it.next()?;
    }
    Ok(n)
}

#[test]
fn bit_flip_in_a_data_block_is_corruption_never_a_wrong_value() {
    for compression in [Compression::None, Compression::Lz4, Compression::Zstd] {
        let (es, bytes) = small_table(compression);
        let end = data_end(&bytes);
        for at in HEADER_BYTES..end {
            let mut bad = bytes.to_vec();
            bad[at] ^= 1 << (at % 8);
            let bad = Bytes::from(bad);
            // Read modes rotate with the flipped byte, so each mode sees every region of the file.
            let modes = [(true, None), (false, None), (false, Some(BlockCache::new(1 << 20)))];
            for (mmap, cache) in modes.into_iter().skip(at % 3).take(1) {
                let table = open(bad.clone(), FILE_NUM, mmap, cache.clone()).expect("metadata is intact");
                let corrupt_gets = get_all(&table, &es, at);
                assert!(corrupt_gets > 0, "flip at {at} ({compression:?}, mmap {mmap}) went unnoticed by get");
                // Repeated reads keep failing: a bad block is neither cached nor marked verified.
                assert_eq!(get_all(&table, &es, at), corrupt_gets);
                expect_corruption_near(&scan_all(&table).expect_err("iteration must fail"), at);
                expect_corruption_near(&table.verify().expect_err("verify must fail"), at);
                if let Some(cache) = cache {
                    let m = cache.metrics();
                    assert!(m.inserts < table.properties().data_blocks, "bad block cached: {m:?}");
                }
            }
        }
    }
}

#[test]
fn bit_flip_outside_data_blocks_fails_open() {
    let (_, bytes) = small_table(Compression::None);
    let end = data_end(&bytes);
    for at in (0..HEADER_BYTES).chain(end..bytes.len()) {
        for bit in [0, 3, 7] {
            let mut bad = bytes.to_vec();
            bad[at] ^= 1 << bit;
            for mmap in [true, false] {
                match open(Bytes::from(bad.clone()), FILE_NUM, mmap, None) {
                    Err(Error::Corruption { .. } | Error::Unsupported { .. }) => {}
                    Err(other) => panic!("flip at {at}: unexpected error kind {other}"),
                    Ok(_) => panic!("flip at {at} bit {bit} went unnoticed by open"),
                }
            }
        }
    }
}

#[test]
fn truncation_at_every_97th_byte_fails_open() {
    let es = sequential_entries(400, 5);
    let built = build(&es, &TableOptions { block_size_bytes: 256, ..TableOptions::default() }, FILE_NUM);
    assert!(built.bytes.len() > 97 * 20);
    for len in (0..built.bytes.len()).step_by(97) {
        for mmap in [true, false] {
            match open(built.bytes.slice(..len), FILE_NUM, mmap, None) {
                Err(e) => assert!(e.is_corruption(), "truncated to {len}: {e}"),
                Ok(_) => panic!("table truncated to {len} bytes opened"),
            }
        }
    }
}

#[test]
fn wrong_file_number_is_corruption() {
    let (_, bytes) = small_table(Compression::None);
    let e = open(bytes, FileNum(18), true, None).expect_err("renamed table");
    assert!(e.is_corruption(), "{e}");
}

#[test]
fn bad_magic_is_corruption() {
    let (_, bytes) = small_table(Compression::None);
    let mut bad = bytes.to_vec();
    let n = bad.len();
    bad[n - 1] ^= 0x40;
    assert!(open(Bytes::from(bad), FILE_NUM, true, None).expect_err("bad magic").is_corruption());
    let mut bad = bytes.to_vec();
    bad[0] = b'X';
    assert!(open(Bytes::from(bad), FILE_NUM, true, None).expect_err("bad header magic").is_corruption());
}

#[test]
fn unknown_version_is_unsupported() {
    let (_, bytes) = small_table(Compression::None);
    for version in [0, 3, 200] {
        let mut bad = bytes.to_vec();
        let version_at = bad.len() - 12;
        bad[version_at] = version;
        match open(Bytes::from(bad), FILE_NUM, true, None) {
            Err(Error::Unsupported { version: v, .. }) if v == u32::from(version) => {}
            other => panic!("expected Unsupported for {version}, got {other:?}"),
        }
    }
}

/// Rewrites the format version in the header and/or footer, with valid checksums.
fn relabel(bytes: &[u8], header: Option<u32>, footer: Option<u32>) -> Bytes {
    let mut out = bytes.to_vec();
    if let Some(v) = header {
        out[8..12].copy_from_slice(&v.to_le_bytes());
        let crc = bound_crc(FILE_NUM, 0, &[&out[..24]]);
        out[24..28].copy_from_slice(&crc.to_le_bytes());
    }
    if let Some(v) = footer {
        let at = out.len() - 72;
        out[at + 60..at + 64].copy_from_slice(&v.to_le_bytes());
        let crc = bound_crc(FILE_NUM, at as u64, &[&out[at..at + 56], &out[at + 60..]]);
        out[at + 56..at + 60].copy_from_slice(&crc.to_le_bytes());
    }
    Bytes::from(out)
}

#[test]
fn header_and_footer_must_name_the_same_version() {
    let (_, bytes) = small_table(Compression::None);
    let e = open(relabel(&bytes, Some(1), None), FILE_NUM, true, None).expect_err("header 1, footer 2");
    assert!(e.is_corruption() && e.to_string().contains("header says format 1, footer says 2"), "{e}");
}

#[test]
fn a_hash_index_in_a_format_1_table_is_corruption() {
    // A format-2 table relabelled as format 1: its data blocks carry the hash-index flag, which
    // format 1 does not have. Every read of them must fail, never answer from a misparsed block.
    let (es, bytes) = small_table(Compression::None);
    let v1 = relabel(&bytes, Some(1), Some(1));
    for use_mmap in [true, false] {
        let table = open(v1.clone(), FILE_NUM, use_mmap, None).expect("the frame itself is valid");
        let key = &es[0].user_key;
        let e = table.get(key, key_hash(key), SeqNum(u64::MAX >> 8)).expect_err("flagged block");
        assert!(e.is_corruption() && e.to_string().contains("restart count does not fit"), "{e}");
        assert!(table.verify().expect_err("verify").is_corruption());
    }
}

#[test]
fn header_flags_are_unsupported_even_with_a_valid_checksum() {
    let (_, bytes) = small_table(Compression::None);
    let mut flagged = bytes.to_vec();
    flagged[12] = 1; // "encrypted", say
    let crc = bound_crc(FILE_NUM, 0, &[&flagged[..24]]);
    flagged[24..28].copy_from_slice(&crc.to_le_bytes());
    match open(Bytes::from(flagged), FILE_NUM, false, None) {
        Err(Error::Unsupported { what, .. }) => assert_eq!(what, "sstable header flags"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn tiny_and_empty_files_are_corruption() {
    for len in [0, 1, HEADER_BYTES, HEADER_BYTES + FOOTER_BYTES - 1, HEADER_BYTES + FOOTER_BYTES] {
        let e = open(Bytes::from(vec![0u8; len]), FILE_NUM, true, None).expect_err("garbage");
        assert!(e.is_corruption(), "{len}: {e}");
    }
}

/// Runs every read operation; nothing may panic, and successful reads must be right.
fn exercise(bytes: Bytes, es: &[Entry], mmap: bool) {
    let Ok(table) = open(bytes, FILE_NUM, mmap, Some(BlockCache::new(1 << 20))) else { return };
    for e in es {
        if let Ok(got) = table.get(&e.user_key, key_hash(&e.user_key), SeqNum(u64::MAX)) {
            let got = got.map(|(k, s, v)| (k, s, v.to_vec()));
            assert_eq!(got, model_get(es, &e.user_key, u64::MAX));
        }
    }
    let _ = scan_all(&table);
    let mut it = table.iter();
    if it.seek_to_last().is_ok() {
        while it.valid() && it.prev().is_ok() {}
    }
    let _ = it.seek_for_prev(&common::ik(b"key000030", 5, cairn_base::ValueKind::Set));
    let _ = table.verify();
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000), mmap: bool) {
        exercise(Bytes::from(bytes), &[], mmap);
    }

    #[test]
    fn damaged_tables_never_panic_or_lie(
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        c in 0u8..3,
        mmap: bool,
    ) {
        let (es, bytes) = small_table(Compression::from_u8(c).expect("valid codec"));
        let mut bad = bytes.to_vec();
        for (at, b) in damage {
            let i = at.index(bad.len());
            bad[i] = b;
        }
        exercise(Bytes::from(bad), &es, mmap);
    }

    #[test]
    fn truncated_and_extended_tables_never_panic(cut in 0usize..5000, extra in prop::collection::vec(any::<u8>(), 0..100)) {
        let (es, bytes) = small_table(Compression::None);
        let mut bad = bytes[..cut.min(bytes.len())].to_vec();
        bad.extend_from_slice(&extra);
        exercise(Bytes::from(bad), &es, true);
    }
}
