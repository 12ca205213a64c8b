//! Round trips: whatever sequence of records and syncs a writer produced, the reader returns
//! exactly those records and a clean end.

mod common;

use std::path::PathBuf;

use bytes::Bytes;
use cairn_base::FileNum;
use cairn_base::vfs::{RealFs, Vfs};
use cairn_wal::format::{BLOCK_SIZE_BYTES, HEADER_BYTES};
use cairn_wal::{LogEnd, LogKind, LogReader, LogWriter};
use common::*;
use proptest::prelude::*;

fn check_round_trip(kind: LogKind, spec: &[(usize, bool)]) -> Result<(), TestCaseError> {
    let built = build(kind, FILE_NUM, &steps(spec));
    prop_assert_eq!(built.appends, spec.len() + 1, "one append for the header, one per record");
    let out = read(&built.data, FILE_NUM, kind).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(out.records.len(), spec.len());
    for (got, want) in out.records.iter().zip(&built.payloads) {
        prop_assert_eq!(&got[..], &want[..]);
    }
    prop_assert!(matches!(out.result, Ok(LogEnd::Clean)), "{:?}", out.result);
    prop_assert_eq!(out.valid_bytes, built.data.len() as u64);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn arbitrary_record_sequences_round_trip(
        spec in proptest::collection::vec((0usize..100 * 1024, any::<bool>()), 0..12),
        manifest: bool,
    ) {
        let kind = if manifest { LogKind::Manifest } else { LogKind::Wal };
        check_round_trip(kind, &spec)?;
    }

    #[test]
    fn small_records_packed_across_block_ends_round_trip(
        spec in proptest::collection::vec((0usize..64, any::<bool>()), 0..1500),
    ) {
        check_round_trip(LogKind::Wal, &spec)?;
    }
}

#[test]
fn records_ending_at_every_distance_from_a_block_end_round_trip() {
    // Place a record's end at each of the last 20 bytes before the end of block 0, then add a
    // record after it: covers zero padding of every width and the empty FIRST fragment.
    for gap in 0..20usize {
        let first_len = BLOCK_SIZE_BYTES - HEADER_BYTES - 7 - 8 - gap;
        let spec = [(first_len, false), (5, true), (0, false)];
        let built = build(LogKind::Wal, FILE_NUM, &steps(&spec));
        assert_eq!(built.placed[0].end as usize, BLOCK_SIZE_BYTES - gap, "gap {gap}");
        let out = read_wal(&built.data);
        assert_eq!(out.records.len(), 3, "gap {gap}");
        assert_prefix(&out.records, &built.payloads, "gap");
        assert!(matches!(out.result, Ok(LogEnd::Clean)), "gap {gap}: {:?}", out.result);
    }
}

#[test]
fn real_file_round_trip() {
    let dir = std::env::temp_dir().join(format!("cairn-wal-rt-{}", std::process::id()));
    RealFs.create_dir_all(&dir).expect("mkdir");
    let path = cairn_base::filename::wal_path(&dir, FileNum(12));
    let file = RealFs.create(&path).expect("create");
    let mut w = LogWriter::create(file, path.clone(), FileNum(12), LogKind::Wal).expect("writer");
    let payloads: Vec<Vec<u8>> = (0..50).map(|i| pattern(i * 997, i as u8)).collect();
    for (i, p) in payloads.iter().enumerate() {
        w.add_record(p).expect("add");
        if i % 7 == 0 {
            w.sync().expect("sync");
        }
    }
    w.sync().expect("sync");
    assert_eq!(w.synced_bytes(), w.size_bytes());
    assert_eq!(w.file_num(), FileNum(12));
    w.close().expect("close");
    let data = RealFs.read_all(&path).expect("read");
    let mut r = LogReader::new(Bytes::from(data), path, FileNum(12), LogKind::Wal).expect("reader");
    for want in &payloads {
        assert_eq!(r.next_record().expect("record").as_deref(), Some(&want[..]));
    }
    assert_eq!(r.next_record().expect("end"), None);
    assert_eq!(r.end(), &LogEnd::Clean);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn writer_debug_names_the_file_without_dumping_buffers() {
    let w = LogWriter::create(Box::new(MemFile::default()), PathBuf::from("000009.wal"), FileNum(9), LogKind::Wal)
        .expect("create");
    let s = format!("{w:?}");
    assert!(s.contains("000009.wal") && s.contains("synced_bytes"), "{s}");
}
