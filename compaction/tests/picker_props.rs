//! Property tests of the picker (PICK-1..6 in `src/picker.rs`): on random versions, busy sets,
//! options and cursors, a plan never touches a busy file, moves only without overlap below,
//! takes exactly the overlapping next-level tables, flags `bottommost` exactly, and keeps L1+
//! disjoint once carried out. A scheduler simulation runs several plans concurrently (automatic
//! and manual ones), with flushes in between, and completes them in random order: no two
//! running plans write overlapping ranges of a level, and every edit must still apply.

use std::collections::HashSet;
use std::sync::Arc;

use cairn_base::{FileNum, InternalKey, SeqNum, ValueKind};
use cairn_compaction::{Cursors, MergePlan, PickerOptions, Plan, Running, pick_manual, pick_with_cursors, scores};
use cairn_manifest::{NUM_LEVELS, TableMeta, Version, VersionEdit};
use proptest::prelude::*;

fn key(n: u8) -> Vec<u8> {
    format!("{n:02}").into_bytes()
}

fn table(file_num: u64, lo: &[u8], hi: &[u8], seqs: (u64, u64), size_bytes: u64) -> TableMeta {
    TableMeta {
        file_num: FileNum(file_num),
        size_bytes,
        smallest: InternalKey::new(lo, SeqNum(seqs.1), ValueKind::Set),
        largest: InternalKey::new(hi, SeqNum(seqs.0), ValueKind::Set),
        smallest_seq: SeqNum(seqs.0),
        largest_seq: SeqNum(seqs.1),
        entries: 1,
        tombstones: 0,
    }
}

#[derive(Debug, Clone)]
struct Setup {
    version: Version,
    busy: HashSet<FileNum>,
    opts: PickerOptions,
    cursors: Cursors,
}

fn arb_setup() -> impl Strategy<Value = Setup> {
    let l0 = prop::collection::vec((0u8..40, 0u8..40, 1u64..60), 0..6);
    let deeper = prop::collection::vec(prop::collection::btree_set(0u8..60, 0..12), NUM_LEVELS - 1);
    let sizes = prop::collection::vec(1u64..200, 64);
    let busy = prop::collection::vec(prop::bool::weighted(0.2), 64);
    let opts = (1usize..4, 50u64..400, 2u64..6, 50u64..2000);
    let cursors = prop::collection::vec(prop::option::of(0u8..60), NUM_LEVELS);
    (l0, deeper, sizes, busy, opts, cursors).prop_map(|(l0, deeper, sizes, busy, opts, cursor_keys)| {
        let mut added = Vec::new();
        for (i, (a, b, size)) in l0.into_iter().enumerate() {
            let seq = 1000 + 10 * i as u64;
            added.push((0, table(added.len() as u64 + 1, &key(a.min(b)), &key(a.max(b)), (seq, seq + 5), size)));
        }
        for (level, points) in deeper.into_iter().enumerate() {
            let points: Vec<u8> = points.into_iter().collect();
            for pair in points.chunks_exact(2) {
                let n = added.len() as u64 + 1;
                let size = sizes[added.len() % sizes.len()];
                added.push((level + 1, table(n, &key(pair[0]), &key(pair[1]), (n, n), size)));
            }
        }
        let busy = added.iter().zip(busy.iter().cycle()).filter(|(_, b)| **b).map(|((_, t), _)| t.file_num).collect();
        let version = Version::default().apply(&VersionEdit { added, ..VersionEdit::default() }).expect("valid setup");
        let (l0_compaction_trigger, level1_target_bytes, level_multiplier, max_compaction_bytes) = opts;
        let opts = PickerOptions {
            l0_compaction_trigger,
            level1_target_bytes,
            level_multiplier,
            target_file_size_bytes: 50,
            max_compaction_bytes,
        };
        let mut cursors = Cursors::default();
        for (level, c) in cursor_keys.into_iter().enumerate() {
            if let Some(c) = c {
                cursors.set(level, &key(c));
            }
        }
        Setup { version, busy, opts, cursors }
    })
}

fn range_of(tables: &[Arc<TableMeta>]) -> KeyRange {
    let lo = tables.iter().map(|t| t.smallest_user_key().to_vec()).min().expect("non-empty");
    let hi = tables.iter().map(|t| t.largest_user_key().to_vec()).max().expect("non-empty");
    (lo, hi)
}

fn files_of(tables: &[Arc<TableMeta>]) -> Vec<FileNum> {
    tables.iter().map(|t| t.file_num).collect()
}

/// An inclusive user-key range.
type KeyRange = (Vec<u8>, Vec<u8>);

/// The output level and user-key range a plan writes to, if any.
fn output_range(plan: &Plan) -> Option<(usize, KeyRange)> {
    match plan {
        Plan::DoNothing => None,
        Plan::Move { level, table } => Some((level + 1, range_of(std::slice::from_ref(table)))),
        Plan::Merge(m) => {
            let all: Vec<_> = m.inputs.iter().chain(&m.next_inputs).cloned().collect();
            Some((m.output_level, range_of(&all)))
        }
    }
}

fn check_merge_shape(v: &Version, m: &MergePlan) -> Result<(), TestCaseError> {
    let level_files = files_of(v.level(m.level));
    prop_assert!(m.inputs.iter().all(|t| level_files.contains(&t.file_num)), "inputs come from L{}", m.level);
    let (lo, hi) = range_of(&m.inputs);
    if m.output_level == m.level + 1 {
        prop_assert_eq!(files_of(&m.next_inputs), files_of(&v.overlapping(m.output_level, &lo, &hi)));
    } else {
        prop_assert_eq!(m.output_level, m.level);
        prop_assert!(m.next_inputs.is_empty());
    }
    let all: Vec<_> = m.inputs.iter().chain(&m.next_inputs).cloned().collect();
    let (lo, hi) = range_of(&all);
    let below_empty = (m.output_level + 1..NUM_LEVELS).all(|l| v.overlapping(l, &lo, &hi).is_empty());
    prop_assert_eq!(m.bottommost, below_empty, "PICK-5");
    Ok(())
}

/// PICK-1, PICK-4, PICK-5 and the shape of each plan kind.
fn check_plan(s: &Setup, plan: &Plan, manual: Option<usize>) -> Result<(), TestCaseError> {
    prop_assert!(plan.files().iter().all(|f| !s.busy.contains(f)), "PICK-1: {} touches a busy file", plan);
    match plan {
        Plan::DoNothing => {}
        Plan::Move { level, table } => {
            prop_assert!(manual.is_none(), "manual compaction never moves");
            prop_assert!(files_of(s.version.level(*level)).contains(&table.file_num));
            let below = s.version.overlapping(level + 1, table.smallest_user_key(), table.largest_user_key());
            prop_assert!(below.is_empty(), "PICK-4: move over overlapping tables");
        }
        Plan::Merge(m) => {
            check_merge_shape(&s.version, m)?;
            match manual {
                Some(level) => prop_assert_eq!(files_of(&m.inputs), files_of(s.version.level(level))),
                None if m.level == 0 => prop_assert_eq!(files_of(&m.inputs), files_of(s.version.level(0)), "PICK-2"),
                None => prop_assert_eq!(m.inputs.len(), 1, "PICK-3"),
            }
        }
    }
    Ok(())
}

/// Carries a plan out on `version` with one synthetic output spanning its range.
fn carry_out(version: &Version, plan: &Plan, next_file: &mut u64) -> cairn_base::Result<Version> {
    let outputs = match plan {
        Plan::Merge(m) => {
            let (lo, hi) = m.user_key_range();
            let all = m.inputs.iter().chain(&m.next_inputs);
            let seq_lo = all.clone().map(|t| t.smallest_seq.0).min().unwrap_or(0);
            let seq_hi = all.map(|t| t.largest_seq.0).max().unwrap_or(0);
            *next_file += 1;
            vec![table(*next_file, lo, hi, (seq_lo, seq_hi), m.input_size_bytes())]
        }
        _ => Vec::new(),
    };
    let next = version.apply(&plan.edit(outputs))?;
    next.check_invariants()?;
    Ok(next)
}

/// The setup's busy files as the picker takes them.
fn held(busy: &HashSet<FileNum>) -> Running {
    let mut running = Running::default();
    running.hold_files(busy.iter().copied());
    running
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn plans_respect_busy_files_and_level_shape(s in arb_setup()) {
        let plan = pick_with_cursors(&s.version, &held(&s.busy), &s.opts, &s.cursors);
        check_plan(&s, &plan, None)?;
        let best = scores(&s.version, &held(&s.busy), &s.opts).into_iter().map(|(_, x)| x).fold(0.0, f64::max);
        if let Plan::Merge(m) = &plan {
            prop_assert!(m.score >= 1.0);
        }
        if s.busy.is_empty() && best >= 1.0 {
            prop_assert!(!matches!(plan, Plan::DoNothing), "a level over target with nothing busy is picked");
        }
        let mut next_file = 10_000;
        carry_out(&s.version, &plan, &mut next_file).map_err(|e| TestCaseError::fail(format!("{plan}: {e}")))?;
    }

    #[test]
    fn manual_plans_take_the_whole_level(s in arb_setup(), level in 0..NUM_LEVELS) {
        let plan = pick_manual(&s.version, level, &held(&s.busy), &s.opts);
        check_plan(&s, &plan, Some(level))?;
        let blocked = s.version.level(level).iter().any(|t| s.busy.contains(&t.file_num));
        if s.version.level(level).is_empty() || blocked {
            prop_assert!(matches!(plan, Plan::DoNothing));
        }
        let mut next_file = 10_000;
        carry_out(&s.version, &plan, &mut next_file).map_err(|e| TestCaseError::fail(format!("{plan}: {e}")))?;
    }

    /// Plans picked while others run (automatic ones, and now and then a manual one of a
    /// random level), with flushes and arrivals in between, completed in random order. An
    /// arrival is a large table appearing in a gap of L1..L5, as another plan's output would
    /// (never inside a running plan's output range there, which that plan could not write).
    #[test]
    fn concurrent_plans_never_collide(s in arb_setup(), steps in prop::collection::vec((0u8..5, any::<prop::sample::Index>(), 0u8..40, 0u8..40), 1..40)) {
        let mut version = s.version.clone();
        let mut busy: HashSet<FileNum> = HashSet::new();
        let mut in_flight = Running::default();
        let mut running: Vec<Plan> = Vec::new();
        let mut cursors = s.cursors.clone();
        let mut next_file = 10_000u64;
        let mut next_seq = 5_000u64;
        for (op, pick_index, a, b) in steps {
            match op {
                0 => {
                    next_file += 1;
                    next_seq += 10;
                    let flushed = table(next_file, &key(a.min(b)), &key(a.max(b)), (next_seq, next_seq + 5), 30);
                    let edit = VersionEdit { added: vec![(0, flushed)], ..VersionEdit::default() };
                    version = version.apply(&edit).map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
                1 | 2 => {
                    let manual = (op == 2).then_some(usize::from(a) % NUM_LEVELS);
                    let plan = match manual {
                        Some(level) => pick_manual(&version, level, &in_flight, &s.opts),
                        None => pick_with_cursors(&version, &in_flight, &s.opts, &cursors),
                    };
                    let now = Setup { version: version.clone(), busy: busy.clone(), ..s.clone() };
                    check_plan(&now, &plan, manual)?;
                    if let Some((level, (lo, hi))) = output_range(&plan) {
                        for other in &running {
                            if let Some((other_level, (olo, ohi))) = output_range(other) {
                                let disjoint = hi < olo || ohi < lo;
                                prop_assert!(other_level != level || disjoint, "PICK-6: {} and {} write overlapping ranges of L{}", plan, other, level);
                            }
                        }
                        busy.extend(plan.files());
                        in_flight.start(&plan);
                        if manual.is_none() {
                            cursors.advance(&plan);
                        }
                        running.push(plan);
                    }
                }
                3 => {
                    let level = 1 + usize::from(a) % (NUM_LEVELS - 2);
                    let (lo, hi) = (key(a.min(b)), key(a.max(b)));
                    let taken = running.iter().filter_map(output_range).any(|(l, (olo, ohi))| l == level && olo <= hi && lo <= ohi);
                    if !taken && version.overlapping(level, &lo, &hi).is_empty() {
                        next_file += 1;
                        next_seq += 10;
                        let arrived = table(next_file, &lo, &hi, (next_seq, next_seq + 5), 1500);
                        let edit = VersionEdit { added: vec![(level, arrived)], ..VersionEdit::default() };
                        version = version.apply(&edit).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    }
                }
                _ if !running.is_empty() => {
                    let plan = running.remove(pick_index.index(running.len()));
                    version = carry_out(&version, &plan, &mut next_file).map_err(|e| TestCaseError::fail(format!("{plan}: {e}")))?;
                    for f in plan.files() {
                        busy.remove(&f);
                    }
                    in_flight.finish(&plan);
                }
                _ => {}
            }
        }
    }
}
