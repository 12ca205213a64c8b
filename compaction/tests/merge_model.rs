//! `merge_into` against a model: for random histories, snapshots and targets, every reader
//! (each snapshot and the latest view) sees the same value for every key before and after the
//! merge; tombstones go only at the bottom; outputs split only between user keys and only once
//! full; the stats add up.

mod common;

use std::collections::BTreeSet;

use bytes::Bytes;
use cairn_base::iter::VecIter;
use cairn_base::key::{MAX_SEQ, compare_internal, parse_internal_key};
use cairn_base::{Error, InternalKey, SeqNum, ValueKind};
use cairn_compaction::{MergeSettings, MergeStats, merge_into};
use common::VecOutput;
use proptest::prelude::*;

/// What a reader at some sequence number finds for a key in these entries.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Value(Vec<u8>),
    Deleted,
    /// No version here: the reader goes on to lower levels.
    FallThrough,
}

fn seen(entries: &[(Vec<u8>, Vec<u8>)], user_key: &[u8], read_seq: SeqNum) -> Seen {
    let newest = entries
        .iter()
        .map(|(k, v)| (parse_internal_key(k).expect("valid key"), v))
        .find(|(p, _)| p.user_key == user_key && p.seq <= read_seq);
    match newest {
        Some((p, v)) if p.kind == ValueKind::Set => Seen::Value(v.clone()),
        Some(_) => Seen::Deleted,
        None => Seen::FallThrough,
    }
}

fn arb_history() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
    prop::collection::btree_set((0u8..6, 1u64..60), 0..40).prop_flat_map(|keys| {
        let n = keys.len();
        (Just(keys), prop::collection::vec((any::<bool>(), 0usize..6), n)).prop_map(|(keys, kinds)| {
            let mut entries: Vec<(Vec<u8>, Vec<u8>)> = keys
                .into_iter()
                .zip(kinds)
                .map(|((k, seq), (del, value_len))| {
                    let kind = if del { ValueKind::Delete } else { ValueKind::Set };
                    let key = InternalKey::new(&[b'a' + k], SeqNum(seq), kind).encoded().to_vec();
                    let value = if del { Vec::new() } else { vec![b'0' + (seq % 10) as u8; value_len] };
                    (key, value)
                })
                .collect();
            entries.sort_by(|a, b| compare_internal(&a.0, &b.0));
            entries
        })
    })
}

fn run(
    history: &[(Vec<u8>, Vec<u8>)],
    settings: &MergeSettings,
) -> Result<(Vec<VecOutput>, MergeStats), TestCaseError> {
    let input = history.iter().map(|(k, v)| (k.clone(), Bytes::copy_from_slice(v))).collect();
    merge_into(&mut VecIter::new(input), settings, &mut || Ok(VecOutput::default()))
        .map_err(|e| TestCaseError::fail(e.to_string()))
}

fn check_visibility(
    history: &[(Vec<u8>, Vec<u8>)],
    merged: &[(Vec<u8>, Vec<u8>)],
    settings: &MergeSettings,
) -> Result<(), TestCaseError> {
    let readers = settings.snapshots.iter().copied().chain([MAX_SEQ]);
    for read_seq in readers {
        for k in 0u8..6 {
            let uk = [b'a' + k];
            let (mut before, mut after) = (seen(history, &uk, read_seq), seen(merged, &uk, read_seq));
            if settings.bottommost {
                // Nothing below: a deletion and an absence read the same.
                for s in [&mut before, &mut after] {
                    if *s == Seen::Deleted {
                        *s = Seen::FallThrough;
                    }
                }
            }
            prop_assert_eq!(before, after, "key {} at seq {}", k, read_seq);
        }
    }
    Ok(())
}

fn check_outputs(outputs: &[VecOutput], target: u64) -> Result<(), TestCaseError> {
    for (i, o) in outputs.iter().enumerate() {
        prop_assert!(!o.entries.is_empty(), "MERGE-4: output {} is empty", i);
        let mut size = 0u64;
        for (j, (k, v)) in o.entries.iter().enumerate() {
            let new_user_key = j > 0
                && parse_internal_key(&o.entries[j - 1].0).ok().map(|p| p.user_key)
                    != parse_internal_key(k).ok().map(|p| p.user_key);
            prop_assert!(!new_user_key || size < target, "MERGE-3: output {} should have split before entry {}", i, j);
            size += (k.len() + v.len()) as u64;
        }
        if let Some(next) = outputs.get(i + 1) {
            prop_assert!(size >= target, "MERGE-3: output {} split before reaching the target", i);
            let last = parse_internal_key(&o.entries[o.entries.len() - 1].0).expect("key");
            let first = parse_internal_key(&next.entries[0].0).expect("key");
            prop_assert_ne!(last.user_key, first.user_key, "MERGE-3: a user key spans outputs {} and {}", i, i + 1);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn merge_preserves_every_readers_view(
        history in arb_history(),
        snapshots in prop::collection::btree_set(0u64..65, 0..4),
        bottommost: bool,
        target in 1u64..80,
    ) {
        let snapshots: Vec<SeqNum> = snapshots.into_iter().map(SeqNum).collect();
        let settings = MergeSettings { snapshots: snapshots.clone(), bottommost, target_file_size_bytes: target };
        let (outputs, stats) = run(&history, &settings)?;
        let merged: Vec<(Vec<u8>, Vec<u8>)> = outputs.iter().flat_map(|o| o.entries.iter().cloned()).collect();

        check_visibility(&history, &merged, &settings)?;
        check_outputs(&outputs, target)?;

        // The merged entries are a sorted subsequence of the input, at most one per key and stripe.
        prop_assert!(merged.windows(2).all(|w| compare_internal(&w[0].0, &w[1].0).is_lt()));
        prop_assert!(merged.iter().all(|e| history.contains(e)));
        let mut stripes = BTreeSet::new();
        for (k, _) in &merged {
            let p = parse_internal_key(k).expect("key");
            let stripe = snapshots.partition_point(|&s| s < p.seq);
            prop_assert!(stripes.insert((p.user_key.to_vec(), stripe)), "MERGE-1: two versions in one stripe");
        }

        // Tombstones go only at the bottom; the stats add up.
        if !bottommost {
            prop_assert_eq!(stats.dropped_tombstones, 0);
        }
        prop_assert_eq!(stats.entries_read, history.len() as u64);
        prop_assert_eq!(stats.entries_written, merged.len() as u64);
        prop_assert_eq!(stats.entries_read, stats.entries_written + stats.dropped_shadowed + stats.dropped_tombstones);
        prop_assert_eq!(stats.bytes_written, outputs.iter().map(|o| o.size_bytes).sum::<u64>());
    }
}

#[test]
fn newest_version_survives_without_snapshots() {
    let history: Vec<(Vec<u8>, Vec<u8>)> = (1..=5u64)
        .rev()
        .map(|s| (InternalKey::new(b"k", SeqNum(s), ValueKind::Set).encoded().to_vec(), vec![s as u8]))
        .collect();
    let settings = MergeSettings { snapshots: Vec::new(), bottommost: true, target_file_size_bytes: 1 };
    let input = history.iter().map(|(k, v)| (k.clone(), Bytes::copy_from_slice(v))).collect();
    let (outputs, stats) =
        merge_into(&mut VecIter::new(input), &settings, &mut || Ok(VecOutput::default())).expect("merge");
    assert_eq!(outputs.len(), 1);
    assert_eq!(outputs[0].entries, vec![history[0].clone()]);
    assert_eq!(stats.dropped_shadowed, 4);
}

#[test]
fn unknown_value_kind_in_input_is_corruption() {
    let mut key = InternalKey::new(b"k", SeqNum(1), ValueKind::Set).encoded().to_vec();
    let kind_at = key.len() - 8;
    key[kind_at] = 9;
    let settings = MergeSettings { snapshots: Vec::new(), bottommost: false, target_file_size_bytes: 100 };
    let result = merge_into(&mut VecIter::new(vec![(key, Bytes::new())]), &settings, &mut || Ok(VecOutput::default()));
    assert!(matches!(result, Err(Error::Corruption { .. })), "{result:?}");
}

#[test]
fn failure_to_start_an_output_is_returned() {
    let input: Vec<(Vec<u8>, Bytes)> = (0..4u8)
        .map(|k| {
            (InternalKey::new(&[b'a' + k], SeqNum(1), ValueKind::Set).encoded().to_vec(), Bytes::from_static(b"v"))
        })
        .collect();
    let settings = MergeSettings { snapshots: Vec::new(), bottommost: false, target_file_size_bytes: 1 };
    let mut started = 0;
    let result = merge_into(&mut VecIter::new(input), &settings, &mut || {
        started += 1;
        if started > 2 { Err(Error::invalid("no more file numbers")) } else { Ok(VecOutput::default()) }
    });
    assert!(matches!(result, Err(Error::InvalidArgument { .. })), "{result:?}");
    assert_eq!(started, 3);
}
