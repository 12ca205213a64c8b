//! Hostile input (DESIGN.md G9): the reader never panics on any bytes, never returns a record
//! that was not written, and never returns anything after damage.

mod common;

use cairn_base::Error;
use cairn_wal::LogKind;
use cairn_wal::format::{HEADER_BYTES, encode_header};
use common::*;
use proptest::prelude::*;

/// Reads `data` to the end; only the absence of panics is checked by the caller, plus that
/// errors are corruption or unsupported and records fit in the file.
fn read_anything(data: &[u8]) -> Result<(), TestCaseError> {
    match read(data, FILE_NUM, LogKind::Wal) {
        Err(Error::Corruption { .. } | Error::Unsupported { .. }) => {}
        Err(e) => return Err(TestCaseError::fail(format!("unexpected header error {e}"))),
        Ok(out) => {
            let total: usize = out.records.iter().map(|r| r.len()).sum();
            prop_assert!(total <= data.len());
            prop_assert!(out.valid_bytes <= data.len() as u64);
            if let Err(e) = out.result {
                prop_assert!(e.is_corruption(), "{e}");
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..70_000)) {
        read_anything(&data)?;
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..70_000),
        small_values: bool,
    ) {
        let mut data = encode_header(LogKind::Wal, FILE_NUM).to_vec();
        // Small values make plausible fragment types and lengths common.
        data.extend(body.iter().map(|b| if small_values { b % 5 } else { *b }));
        read_anything(&data)?;
    }

    #[test]
    fn mutated_logs_yield_a_prefix_or_corruption(
        spec in proptest::collection::vec((0usize..40_000, any::<bool>()), 1..6),
        edits in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 1..6),
        cut_fraction in 0.5f64..=1.0,
    ) {
        let built = build(LogKind::Wal, FILE_NUM, &steps(&spec));
        let mut data = built.data.clone();
        for (at, byte) in edits {
            let i = HEADER_BYTES + ((data.len() - HEADER_BYTES) as f64 * at) as usize;
            if let Some(b) = data.get_mut(i) {
                *b = byte;
            }
        }
        data.truncate(((data.len() as f64) * cut_fraction) as usize);
        let out = read(&data, FILE_NUM, LogKind::Wal).map_err(|e| TestCaseError::fail(e.to_string()))?;
        assert_prefix(&out.records, &built.payloads, "mutated log");
        if let Err(e) = &out.result {
            prop_assert!(e.is_corruption(), "{e}");
        }
    }
}

#[test]
fn implausible_fragment_headers_without_witness_are_a_torn_tail() {
    // A FIRST fragment followed by thousands of MIDDLE-looking headers that fail their checksums:
    // the reader must stop at the first, not accumulate.
    let mut data = encode_header(LogKind::Wal, FILE_NUM).to_vec();
    for _ in 0..5000 {
        data.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0xff, 0x7f, 3]);
    }
    let out = read(&data, FILE_NUM, LogKind::Wal).expect("header");
    assert!(out.records.is_empty());
    assert!(out.result.is_ok(), "unverifiable bytes with no witness are a torn tail: {:?}", out.result);
}

#[test]
fn adversarial_block_for_the_exhaustive_scan_is_handled() {
    // Every other position of block 0 looks like a fragment header with a long length, the
    // costliest input for the exhaustive scan of a damaged block (about BLOCK_SIZE_BYTES^2 / 8
    // checksummed bytes). Nothing verifies, so it must end as a torn tail.
    let mut data = encode_header(LogKind::Wal, FILE_NUM).to_vec();
    let block = cairn_wal::format::BLOCK_SIZE_BYTES;
    data.extend((HEADER_BYTES..block).map(|i| if i % 2 == 1 { 0x40 } else { 1 }));
    let out = read(&data, FILE_NUM, LogKind::Wal).expect("header");
    assert!(out.records.is_empty());
    assert_eq!(out.result.as_ref().ok(), Some(&cairn_wal::LogEnd::TornTail { offset: HEADER_BYTES as u64 }));
}
