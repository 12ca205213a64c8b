//! Damage versus torn tails (DESIGN.md G5): a bad byte that a later record declares synced is
//! `Corruption` at the damaged fragment; a bad byte in the unsynced tail is a `TornTail`; a
//! fragment copied from another offset or another log never verifies.

mod common;

use cairn_base::{Error, FileNum};
use cairn_wal::format::HEADER_BYTES;
use cairn_wal::{LogEnd, LogKind};
use common::*;
use proptest::prelude::*;

/// Block-crossing records; synced through record 4, then an unsynced tail of three records.
const MIXED: [(usize, bool); 8] =
    [(10, false), (40_000, false), (0, true), (300, false), (70_000, true), (20, false), (33_000, false), (5, false)];

fn mixed() -> Built {
    build(LogKind::Wal, FILE_NUM, &steps(&MIXED))
}

fn flip_and_check(built: &Built, at: usize, bit: u8) {
    let mut data = built.data.clone();
    data[at] ^= 1 << bit;
    let out = read_wal(&data);
    let (span_start, _) = span_of(&built.data, at);
    let k = record_of(built, at as u64);
    assert_damage_outcome(built, &out, k, span_start, &format!("flip of bit {bit} at {at}"));
}

#[test]
fn flip_in_synced_record_is_corruption_at_its_fragment() {
    let built = mixed();
    // Record 1 spans blocks 0-2 and was synced (record 2 synced after it; 3 carries the stamp).
    let p = built.placed[1];
    for at in [p.start as usize + 3, p.start as usize + 20_000, 40_000, p.end as usize - 1] {
        let mut data = built.data.clone();
        data[at] ^= 0x10;
        let out = read_wal(&data);
        assert_eq!(out.records.len(), 1, "flip at {at}");
        match out.result {
            Err(Error::Corruption { offset, .. }) => assert_eq!(offset as usize, span_of(&built.data, at).0),
            other => panic!("flip at {at}: expected corruption, got {other:?}"),
        }
    }
}

#[test]
fn flip_in_last_witnessed_synced_record_is_corruption() {
    let built = mixed();
    // Record 4 was synced right after it was added; record 5 carries a stamp covering it.
    assert!(built.placed[5].stamp >= built.placed[4].end);
    let at = built.placed[4].end as usize - 2;
    let mut data = built.data.clone();
    data[at] ^= 1;
    let out = read_wal(&data);
    assert!(matches!(out.result, Err(Error::Corruption { .. })), "{:?}", out.result);
    assert_eq!(out.records.len(), 4);
}

#[test]
fn flip_in_unsynced_tail_is_torn_tail() {
    let built = mixed();
    for k in 5..MIXED.len() {
        let at = (built.placed[k].start + built.placed[k].end) as usize / 2;
        let mut data = built.data.clone();
        data[at] ^= 0x80;
        let out = read_wal(&data);
        assert_eq!(out.result.as_ref().ok(), Some(&LogEnd::TornTail { offset: built.placed[k].start }), "k={k}");
        assert_eq!(out.records.len(), k, "records after a torn spot are never returned");
    }
}

#[test]
fn every_byte_flip_of_a_small_log_matches_the_recovery_rule() {
    let spec: Vec<(usize, bool)> = (0..40).map(|i| ((i * 7) % 30, i % 11 == 5)).collect();
    let built = build(LogKind::Wal, FILE_NUM, &steps(&spec));
    for at in HEADER_BYTES..built.data.len() {
        flip_and_check(&built, at, (at % 8) as u8);
    }
}

#[test]
fn flip_in_block_padding_is_detected() {
    // Record 0 ends 3 bytes before the end of block 0; record 1 follows after padding.
    let first_len = cairn_wal::format::BLOCK_SIZE_BYTES - HEADER_BYTES - 7 - 8 - 3;
    let built = build(LogKind::Wal, FILE_NUM, &steps(&[(first_len, true), (10, true), (1, false)]));
    let pad = built.placed[0].end as usize;
    flip_and_check(&built, pad + 1, 0);
    let mut data = built.data.clone();
    data[pad + 1] = 0xff;
    assert!(matches!(read_wal(&data).result, Err(Error::Corruption { offset, .. }) if offset as usize == pad));
}

#[test]
fn fragment_moved_to_another_offset_is_detected() {
    // Eight equal records, all synced: swapping two of them keeps every length plausible.
    let spec = [(50, true); 8];
    let built = build(LogKind::Wal, FILE_NUM, &steps(&spec));
    let (a, b) = (built.placed[2], built.placed[5]);
    let mut data = built.data.clone();
    let len = (a.end - a.start) as usize;
    let (a0, b0) = (a.start as usize, b.start as usize);
    let copy = data[b0..b0 + len].to_vec();
    data[a0..a0 + len].copy_from_slice(&copy);
    let out = read_wal(&data);
    assert_damage_outcome(&built, &out, 2, a0, "record 5 copied over record 2");
    assert!(matches!(out.result, Err(Error::Corruption { .. })));
}

#[test]
fn fragment_from_another_log_is_detected() {
    let built = build(LogKind::Wal, FILE_NUM, &steps(&MIXED));
    let other = build(LogKind::Wal, FileNum(FILE_NUM.0 + 1), &steps(&MIXED));
    assert_eq!(built.data.len(), other.data.len(), "same layout");
    for k in [0, 3, 6] {
        let p = built.placed[k];
        let mut data = built.data.clone();
        data[p.start as usize..p.end as usize].copy_from_slice(&other.data[p.start as usize..p.end as usize]);
        let out = read_wal(&data);
        assert_damage_outcome(&built, &out, k, p.start as usize, &format!("record {k} from another file"));
    }
}

#[test]
fn manifest_fragment_in_a_wal_with_the_same_number_is_still_framed_by_the_header() {
    let wal = build(LogKind::Wal, FILE_NUM, &steps(&MIXED));
    let manifest = build(LogKind::Manifest, FILE_NUM, &steps(&MIXED));
    // Same file number and layout: record bytes are identical, the header tells them apart.
    assert_eq!(wal.data[HEADER_BYTES..], manifest.data[HEADER_BYTES..]);
    assert!(matches!(read(&manifest.data, FILE_NUM, LogKind::Wal), Err(Error::Corruption { offset: 0, .. })));
}

#[test]
fn zeroed_or_stale_tail_after_the_last_record_is_torn() {
    let built = mixed();
    let end = built.data.len() as u64;
    let mut zeroed = built.data.clone();
    zeroed.resize(built.data.len() + 5000, 0);
    let mut stale = built.data.clone();
    stale.extend_from_slice(&built.data[HEADER_BYTES..HEADER_BYTES + 5000]);
    for (name, data) in [("zeroed", zeroed), ("stale", stale)] {
        let out = read_wal(&data);
        assert_eq!(out.records.len(), MIXED.len(), "{name}");
        assert_eq!(out.result.as_ref().ok(), Some(&LogEnd::TornTail { offset: end }), "{name}");
    }
}

#[test]
fn unwitnessed_last_synced_record_reads_as_torn_tail() {
    // The documented blind spot (docs/format/wal.md#the-one-undetectable-case): rot in the
    // last record, with no later record to witness its sync, cannot be told from a torn write.
    let built = build(LogKind::Wal, FILE_NUM, &steps(&[(10, true), (10, true)]));
    let mut data = built.data.clone();
    let last = data.len() - 1;
    data[last] ^= 1;
    let out = read_wal(&data);
    assert_eq!(out.result.as_ref().ok(), Some(&LogEnd::TornTail { offset: built.placed[1].start }));
    // An empty record added after the final sync witnesses it.
    let witnessed = build(LogKind::Wal, FILE_NUM, &steps(&[(10, true), (10, true), (0, false)]));
    let mut data = witnessed.data.clone();
    data[witnessed.placed[1].end as usize - 1] ^= 1;
    assert!(matches!(read_wal(&data).result, Err(Error::Corruption { .. })));
}

#[test]
fn corruption_is_sticky_and_names_the_file() {
    let built = mixed();
    let mut data = built.data.clone();
    data[HEADER_BYTES + 9] ^= 4;
    let mut r = cairn_wal::LogReader::new(
        bytes::Bytes::from(data),
        std::path::PathBuf::from("000007.wal"),
        FILE_NUM,
        LogKind::Wal,
    )
    .expect("header");
    let e = r.next_record().expect_err("corruption");
    assert!(matches!(&e, Error::Corruption { file, offset: 28, .. } if file.ends_with("000007.wal")), "{e}");
    assert!(r.next_record().is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_bit_flip_matches_the_recovery_rule(at_fraction in 0.0f64..1.0, bit in 0u8..8) {
        let built = mixed();
        let at = HEADER_BYTES + ((built.data.len() - HEADER_BYTES) as f64 * at_fraction) as usize;
        flip_and_check(&built, at.min(built.data.len() - 1), bit);
    }
}
