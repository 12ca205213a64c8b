//! Golden fixtures (docs/format/wal.md#version-history): logs written by the v1 writer and
//! committed under `tests/fixtures/v1/`. Every build must read them to exactly these records,
//! and the writer must still produce them byte for byte. Regenerate only for a deliberate
//! format change, with `CAIRN_REWRITE_FIXTURES=1 cargo test -p cairn-wal --test golden`.

mod common;

use std::path::PathBuf;

use cairn_base::FileNum;
use cairn_wal::format::{FragmentType, HEADER_BYTES};
use cairn_wal::{LogEnd, LogKind};
use common::*;

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1").join(name)
}

/// Writes the fixture when asked to, then returns the committed bytes.
fn committed(name: &str, built: &Built) -> Vec<u8> {
    let path = fixture_path(name);
    if std::env::var("CAIRN_REWRITE_FIXTURES").as_deref() == Ok("1") {
        std::fs::write(&path, &built.data).expect("write fixture");
    }
    std::fs::read(&path).unwrap_or_else(|e| panic!("read fixture {}: {e}", path.display()))
}

fn u64_at(data: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"))
}

fn wal_steps() -> Vec<Step> {
    vec![
        Step { payload: Vec::new(), sync_after: false },
        Step { payload: b"first record".to_vec(), sync_after: true },
        Step { payload: pattern(70_000, 3), sync_after: true },
        Step { payload: b"unsynced tail".to_vec(), sync_after: false },
    ]
}

#[test]
fn wal_fixture_v1_reads_exactly_and_is_reproduced() {
    let built = build(LogKind::Wal, FILE_NUM, &wal_steps());
    let data = committed("000007.wal", &built);
    assert_eq!(data, built.data, "the v1 writer no longer produces the committed fixture");

    assert_eq!(&data[..12], b"CAIRNWAL\x01\x00\x00\x00");
    assert_eq!(data[12], LogKind::Wal as u8);
    assert_eq!(u64_at(&data, 16), FILE_NUM.0);
    let types: Vec<u8> = spans(&data).iter().map(|&(s, _)| data[s + 6]).collect();
    let t = |f: FragmentType| f as u8;
    let want = [FragmentType::Full, FragmentType::Full, FragmentType::First, FragmentType::Middle, FragmentType::Last];
    assert_eq!(types[..5], want.map(t));
    assert_eq!(types[5], t(FragmentType::Full));
    // Stamps: records 0-1 were added before any record was synced; record 2 after record 1's
    // sync; record 3 after record 2's.
    let stamps: Vec<u64> = built.placed.iter().map(|p| u64_at(&data, p.start as usize + 7)).collect();
    let ends: Vec<u64> = built.placed.iter().map(|p| p.end).collect();
    assert_eq!(stamps, [HEADER_BYTES as u64, HEADER_BYTES as u64, ends[1], ends[2]]);

    let out = read_wal(&data);
    assert_eq!(out.result.as_ref().ok(), Some(&LogEnd::Clean));
    let got: Vec<&[u8]> = out.records.iter().map(|r| &r[..]).collect();
    let want: Vec<&[u8]> = built.payloads.iter().map(|p| &p[..]).collect();
    assert_eq!(got.len(), 4);
    assert_eq!(got, want);
    assert_eq!(got[1], b"first record");
    assert_eq!(out.valid_bytes, data.len() as u64);
}

#[test]
fn manifest_fixture_v1_reads_exactly_and_is_reproduced() {
    let steps = vec![
        Step { payload: b"edit-1".to_vec(), sync_after: true },
        Step { payload: b"edit-2".to_vec(), sync_after: true },
    ];
    let built = build(LogKind::Manifest, FileNum(8), &steps);
    let data = committed("MANIFEST-000008", &built);
    assert_eq!(data, built.data, "the v1 writer no longer produces the committed fixture");
    assert_eq!(&data[..8], b"CAIRNMAN");
    let out = read(&data, FileNum(8), LogKind::Manifest).expect("header");
    let got: Vec<&[u8]> = out.records.iter().map(|r| &r[..]).collect();
    assert_eq!(got, [&b"edit-1"[..], &b"edit-2"[..]]);
    assert_eq!(out.result.as_ref().ok(), Some(&LogEnd::Clean));
}
