//! Torn tails: a log cut at any byte yields a prefix of its records, ending `Clean` exactly at
//! record boundaries and `TornTail` at the end of the last complete record everywhere else.

mod common;

use cairn_wal::LogEnd;
use cairn_wal::format::{BLOCK_SIZE_BYTES, HEADER_BYTES};
use common::*;
use proptest::prelude::*;

/// Checks the log cut at `cut` against the oracle.
fn check_cut(built: &Built, cut: usize) {
    let out = read_wal(&built.data[..cut]);
    let context = format!("cut at {cut}");
    if cut < HEADER_BYTES {
        assert!(out.records.is_empty(), "{context}");
        assert_eq!(out.result.as_ref().ok(), Some(&LogEnd::TornTail { offset: 0 }), "{context}");
        assert_eq!(out.valid_bytes, 0, "{context}");
        return;
    }
    let complete = built.placed.iter().take_while(|p| p.end as usize <= cut).count();
    let valid_bytes = built.placed[..complete].last().map_or(HEADER_BYTES as u64, |p| p.end);
    assert_eq!(out.records.len(), complete, "{context}");
    assert_prefix(&out.records, &built.payloads, &context);
    let want = if valid_bytes == cut as u64 { LogEnd::Clean } else { LogEnd::TornTail { offset: valid_bytes } };
    assert_eq!(out.result.as_ref().ok(), Some(&want), "{context}: {:?}", out.result);
    assert_eq!(out.valid_bytes, valid_bytes, "{context}");
}

#[test]
fn every_truncation_of_a_small_log_yields_a_prefix() {
    let spec: Vec<(usize, bool)> = (0..60).map(|i| ((i * 13) % 50, i % 9 == 4)).collect();
    let built = build(cairn_wal::LogKind::Wal, FILE_NUM, &steps(&spec));
    for cut in 0..=built.data.len() {
        check_cut(&built, cut);
    }
}

#[test]
fn every_truncation_near_fragment_and_block_boundaries_yields_a_prefix() {
    // Records that cross blocks (FIRST/MIDDLE/LAST), with syncs in between: syncs must not
    // change what a torn tail is.
    let spec = [(100, false), (40_000, true), (0, false), (70_000, false), (10, true), (32_000, false), (3, false)];
    let built = build(cairn_wal::LogKind::Wal, FILE_NUM, &steps(&spec));
    let mut cuts: Vec<usize> = Vec::new();
    let mut marks: Vec<usize> = spans(&built.data).iter().flat_map(|&(s, e)| [s, e]).collect();
    marks.extend((1..=built.data.len() / BLOCK_SIZE_BYTES).map(|k| k * BLOCK_SIZE_BYTES));
    for m in marks {
        cuts.extend(m.saturating_sub(10)..=(m + 10).min(built.data.len()));
    }
    cuts.extend((0..built.data.len()).step_by(4099));
    cuts.sort_unstable();
    cuts.dedup();
    for cut in cuts {
        check_cut(&built, cut);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_truncation_of_random_logs_yields_a_prefix(
        spec in proptest::collection::vec((0usize..50_000, any::<bool>()), 1..8),
        cut_fraction in 0.0f64..=1.0,
    ) {
        let built = build(cairn_wal::LogKind::Wal, FILE_NUM, &steps(&spec));
        let cut = ((built.data.len() as f64) * cut_fraction) as usize;
        check_cut(&built, cut.min(built.data.len()));
    }
}
