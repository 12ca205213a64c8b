//! The leveled compaction picker: a pure function of a [`Version`] and the compactions already
//! [`Running`] (no I/O, no clock), so it can be simulated and tested from text
//! (`testdata/picker.txt`).
//!
//! Owns the policy. Scores: L0 = non-busy files / `l0_compaction_trigger`; Ln (1 <= n < last) =
//! non-busy bytes / `level_target_bytes(n)`, where the target of L1 is `level1_target_bytes`
//! and each level below is `level_multiplier` times larger. The last level is never a source.
//! Levels with score >= 1 are tried highest score first; the first one not blocked by running
//! compactions wins.
//!
//! Invariants of every plan (the engine relies on them to run plans concurrently):
//! * PICK-1: no plan reads or moves a busy file.
//! * PICK-2: L0 goes down one compaction at a time: while any L0 file is busy, L0 is not picked
//!   (a second L0 merge would write L1 outputs overlapping the first's, or push newer versions
//!   below older ones still in L0). An L0 plan takes every L0 file.
//! * PICK-3: an Ln plan (n >= 1) takes one file plus every overlapping file of Ln+1; since none
//!   of those is busy, its output range is disjoint from every running plan's output range in
//!   the same level (proof sketch in docs/format/manifest.md#compaction-plans).
//! * PICK-4: `Move` only when nothing in the next level overlaps the table.
//! * PICK-5: `bottommost` only when no level below the output level overlaps the plan's range.
//! * PICK-6: no plan writes a range of a level that meets a running plan's output range in that
//!   level. PICK-2/3 already give this among automatic plans; a manual plan takes a whole level
//!   and writes over its whole span, gaps included, so a table later moved into such a gap
//!   must wait until the manual plan is done (else both edits apply and break INV-LSM-1).
//!
//! Carrying a plan out, and deciding when to call the picker, is the engine's business.

use std::sync::Arc;

use cairn_manifest::{NUM_LEVELS, TableMeta, Version};

use crate::plan::{MergePlan, Plan, user_key_range};
use crate::running::Running;

/// The last level: data there has nowhere further to go.
const LAST_LEVEL: usize = NUM_LEVELS - 1;

/// Tuning of the leveled picker.
#[derive(Debug, Clone, PartialEq)]
pub struct PickerOptions {
    /// L0 file count at which L0 scores 1.
    pub l0_compaction_trigger: usize,
    /// Target size of L1; L1 scores 1 at this size.
    pub level1_target_bytes: u64,
    /// Each level's target is this many times the level above's.
    pub level_multiplier: u64,
    /// Size at which merge outputs are split.
    pub target_file_size_bytes: u64,
    /// An Ln candidate whose merge would read more than this is passed over for the next
    /// candidate; when every candidate is over, the first is taken anyway (a level must drain).
    pub max_compaction_bytes: u64,
}

impl Default for PickerOptions {
    fn default() -> Self {
        let target_file_size_bytes = 8 << 20;
        PickerOptions {
            l0_compaction_trigger: 4,
            level1_target_bytes: 64 << 20,
            level_multiplier: 10,
            target_file_size_bytes,
            max_compaction_bytes: 25 * target_file_size_bytes,
        }
    }
}

impl PickerOptions {
    /// The target size of `level` (1 <= level < NUM_LEVELS); saturates instead of overflowing.
    pub fn level_target_bytes(&self, level: usize) -> u64 {
        assert!((1..NUM_LEVELS).contains(&level), "L{level} has no size target");
        let mut target = self.level1_target_bytes.max(1);
        for _ in 1..level {
            target = target.saturating_mul(self.level_multiplier.max(1));
        }
        target
    }
}

/// Where each level's round-robin pick resumes: the next Ln pick starts at the first table
/// whose smallest user key sorts after the level's cursor, wrapping around. The engine keeps
/// one `Cursors` and calls [`Cursors::advance`] with every plan it starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursors {
    keys: [Option<Vec<u8>>; NUM_LEVELS],
}

impl Cursors {
    /// The cursor of `level`: the largest user key of the last table picked there.
    pub fn get(&self, level: usize) -> Option<&[u8]> {
        self.keys[level].as_deref()
    }

    /// Sets the cursor of `level`.
    pub fn set(&mut self, level: usize, user_key: &[u8]) {
        self.keys[level] = Some(user_key.to_vec());
    }

    /// Moves the cursor of the plan's source level past the table it picked (L1+ only: L0
    /// plans take every L0 table).
    pub fn advance(&mut self, plan: &Plan) {
        let (level, tables) = match plan {
            Plan::DoNothing => return,
            Plan::Move { level, table } => (*level, std::slice::from_ref(table)),
            Plan::Merge(m) => (m.level, &m.inputs[..]),
        };
        if level == 0 {
            return;
        }
        if let Some((_, largest)) = user_key_range(tables.iter()) {
            self.set(level, largest);
        }
    }
}

/// Picks the most urgent compaction, starting each level's search at its first table.
/// See the module docs for the policy and PICK-1..6.
pub fn pick(version: &Version, running: &Running, opts: &PickerOptions) -> Plan {
    pick_with_cursors(version, running, opts, &Cursors::default())
}

/// [`pick`], with each level's search resuming after its cursor (round robin over the keys).
pub fn pick_with_cursors(version: &Version, running: &Running, opts: &PickerOptions, cursors: &Cursors) -> Plan {
    let mut candidates: Vec<(usize, f64)> =
        scores(version, running, opts).into_iter().filter(|&(_, s)| s >= 1.0).collect();
    // Highest score first; ties go to the upper level, which feeds the others.
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    for (level, score) in candidates {
        let plan = if level == 0 {
            pick_l0(version, running, score)
        } else {
            pick_ln(version, level, running, opts, cursors.get(level), score)
        };
        if let Some(plan) = plan {
            return plan;
        }
    }
    Plan::DoNothing
}

/// The score of every source level (L0..L5), busy files not counted.
pub fn scores(version: &Version, running: &Running, opts: &PickerOptions) -> Vec<(usize, f64)> {
    (0..LAST_LEVEL).map(|level| (level, level_score(version, level, running, opts))).collect()
}

fn level_score(version: &Version, level: usize, running: &Running, opts: &PickerOptions) -> f64 {
    let idle = version.level(level).iter().filter(|t| !running.is_busy(t.file_num));
    if level == 0 {
        idle.count() as f64 / opts.l0_compaction_trigger.max(1) as f64
    } else {
        let bytes: u64 = idle.map(|t| t.size_bytes).sum();
        bytes as f64 / opts.level_target_bytes(level) as f64
    }
}

/// PICK-2: every L0 table plus the overlapping L1 tables, if none of them is busy.
fn pick_l0(version: &Version, running: &Running, score: f64) -> Option<Plan> {
    let inputs = version.level(0).to_vec();
    let (lo, hi) = user_key_range(inputs.iter())?;
    let next_inputs = version.overlapping(1, lo, hi);
    if !free(running, 1, &inputs, &next_inputs) {
        return None;
    }
    Some(move_or_merge(version, 0, inputs, next_inputs, score))
}

/// PICK-1 and PICK-6 for a plan reading `inputs` and `next_inputs` and writing `output_level`:
/// none of the tables is busy and the range they span meets no running plan's output there.
fn free(running: &Running, output_level: usize, inputs: &[Arc<TableMeta>], next_inputs: &[Arc<TableMeta>]) -> bool {
    let tables = || inputs.iter().chain(next_inputs);
    if tables().any(|t| running.is_busy(t.file_num)) {
        return false;
    }
    match user_key_range(tables()) {
        Some((lo, hi)) => !running.output_meets(output_level, lo, hi),
        None => true,
    }
}

/// PICK-3: one table of `level` (round robin from `cursor`) plus its overlap in `level + 1`.
fn pick_ln(
    version: &Version,
    level: usize,
    running: &Running,
    opts: &PickerOptions,
    cursor: Option<&[u8]>,
    score: f64,
) -> Option<Plan> {
    let tables = version.level(level);
    let start = cursor.map_or(0, |c| tables.partition_point(|t| t.smallest_user_key() <= c));
    let mut oversized: Option<(Arc<TableMeta>, Vec<Arc<TableMeta>>)> = None;
    for table in tables[start..].iter().chain(&tables[..start]) {
        let next = version.overlapping(level + 1, table.smallest_user_key(), table.largest_user_key());
        if !free(running, level + 1, std::slice::from_ref(table), &next) {
            continue;
        }
        let bytes: u64 = table.size_bytes + next.iter().map(|t| t.size_bytes).sum::<u64>();
        if bytes <= opts.max_compaction_bytes {
            return Some(move_or_merge(version, level, vec![table.clone()], next, score));
        }
        oversized.get_or_insert((table.clone(), next));
    }
    let (table, next) = oversized?;
    Some(move_or_merge(version, level, vec![table], next, score))
}

/// PICK-4: a single table with nothing below it moves; anything else merges.
fn move_or_merge(
    version: &Version,
    level: usize,
    mut inputs: Vec<Arc<TableMeta>>,
    next_inputs: Vec<Arc<TableMeta>>,
    score: f64,
) -> Plan {
    if inputs.len() == 1 && next_inputs.is_empty() {
        let table = inputs.remove(0);
        return Plan::Move { level, table };
    }
    Plan::Merge(merge_plan(version, level, level + 1, inputs, next_inputs, score))
}

/// PICK-5: computes `bottommost` for the plan's key range.
fn merge_plan(
    version: &Version,
    level: usize,
    output_level: usize,
    inputs: Vec<Arc<TableMeta>>,
    next_inputs: Vec<Arc<TableMeta>>,
    score: f64,
) -> MergePlan {
    let bottommost = match user_key_range(inputs.iter().chain(&next_inputs)) {
        Some((lo, hi)) => (output_level + 1..NUM_LEVELS).all(|l| version.overlapping(l, lo, hi).is_empty()),
        None => true,
    };
    MergePlan { level, inputs, next_inputs, output_level, bottommost, score }
}

/// For a full manual compaction: merges every table of `level` with the overlapping tables of
/// `level + 1` (a merge even when a move would do, so tombstones are dropped at the bottom).
/// The last level is rewritten in place (`output_level == level`). `DoNothing` when `level` is
/// empty, any table the plan needs is busy, or a running plan writes into the plan's output
/// range (the caller waits and asks again). REQUIRES: `level < NUM_LEVELS`.
pub fn pick_manual(version: &Version, level: usize, running: &Running, opts: &PickerOptions) -> Plan {
    assert!(level < NUM_LEVELS, "L{level} is beyond the tree");
    let inputs = version.level(level).to_vec();
    let Some((lo, hi)) = user_key_range(inputs.iter()) else { return Plan::DoNothing };
    let output_level = (level + 1).min(LAST_LEVEL);
    let next_inputs = if output_level == level { Vec::new() } else { version.overlapping(output_level, lo, hi) };
    if !free(running, output_level, &inputs, &next_inputs) {
        return Plan::DoNothing;
    }
    let score = if level == LAST_LEVEL { 0.0 } else { level_score(version, level, running, opts) };
    Plan::Merge(merge_plan(version, level, output_level, inputs, next_inputs, score))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_targets_grow_by_multiplier_and_saturate() {
        let opts = PickerOptions { level1_target_bytes: 100, level_multiplier: 10, ..PickerOptions::default() };
        assert_eq!(opts.level_target_bytes(1), 100);
        assert_eq!(opts.level_target_bytes(3), 10_000);
        let huge = PickerOptions { level1_target_bytes: u64::MAX / 2, ..opts };
        assert_eq!(huge.level_target_bytes(6), u64::MAX);
    }

    #[test]
    fn defaults_match_the_documented_values() {
        let d = PickerOptions::default();
        assert_eq!(d.l0_compaction_trigger, 4);
        assert_eq!(d.level1_target_bytes, 64 << 20);
        assert_eq!(d.max_compaction_bytes, 25 * d.target_file_size_bytes);
    }

    #[test]
    fn empty_version_needs_nothing() {
        let v = Version::default();
        assert!(matches!(pick(&v, &Running::default(), &PickerOptions::default()), Plan::DoNothing));
        assert!(matches!(pick_manual(&v, 3, &Running::default(), &PickerOptions::default()), Plan::DoNothing));
    }
}
