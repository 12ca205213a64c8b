//! The merge that carries out a [`crate::MergePlan`] (docs/format/manifest.md#compaction-plans):
//! reads every input version in internal-key order, drops what no reader can see, and writes
//! the rest into size-split outputs.
//!
//! Owns the garbage-collection rules (MERGE-1..4; MERGE-1 and MERGE-2 are INV-LSM-4 of
//! docs/invariants.md), over a generic [`MergeOutput`] so they can be tested against an
//! in-memory sink; [`crate::run_merge`] binds them to `TableBuilder`. Building the input
//! iterator, allocating output file numbers and installing the result are the engine's
//! business.
//!
//! Snapshots split the sequence-number space into *stripes*: stripe `i` holds the sequence
//! numbers `snapshots[i-1] < seq <= snapshots[i]` (stripe 0 everything `<= snapshots[0]`, the
//! last stripe everything newer than every snapshot, seen only by the latest view). A reader
//! at snapshot `s` sees the newest version with `seq <= s`, which is the newest version of the
//! highest non-empty stripe at or below its own, so:
//! * MERGE-1: per user key, the newest version in each stripe is kept; older versions in the
//!   same stripe are dropped (`dropped_shadowed`). The newest version overall is always kept
//!   (except under MERGE-2).
//! * MERGE-2: when `bottommost`, a tombstone in stripe 0 (visible to every snapshot) is dropped
//!   with every older version of its key (`dropped_tombstones`): nothing below can reappear.
//!   Elsewhere tombstones are kept, since they hide versions in lower levels.
//! * MERGE-3: an output is finished once its estimated size reaches `target_file_size_bytes`,
//!   but only between different user keys: one user key's versions never span two outputs
//!   (INV-LSM-1 needs disjoint user-key ranges).
//! * MERGE-4: no empty output is ever started; `entries_read == entries_written +
//!   dropped_shadowed + dropped_tombstones`.

use cairn_base::iter::InternalIterator;
use cairn_base::key::parse_internal_key;
use cairn_base::{Result, SeqNum, ValueKind};

/// What a merge needs to decide what to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeSettings {
    /// Sequence numbers of live snapshots, ascending. Every view other than the latest that
    /// may still read the inputs must be listed.
    pub snapshots: Vec<SeqNum>,
    /// No level below the output level holds data in the inputs' key range (see
    /// [`crate::MergePlan::bottommost`]).
    pub bottommost: bool,
    /// Outputs are split once they reach this size (MERGE-3).
    pub target_file_size_bytes: u64,
}

/// Counters of one merge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeStats {
    /// Entries read from the input.
    pub entries_read: u64,
    /// Entries written to outputs.
    pub entries_written: u64,
    /// Versions dropped because a newer version in the same snapshot stripe hides them.
    pub dropped_shadowed: u64,
    /// Tombstones dropped at the bottom (MERGE-2).
    pub dropped_tombstones: u64,
    /// Total size of the finished outputs.
    pub bytes_written: u64,
}

/// Where a merge writes: one output table being built.
pub trait MergeOutput {
    /// What a finished output reports.
    type Finished;
    /// Appends one entry. Entries arrive in internal-key order.
    fn add(&mut self, ikey: &[u8], value: &[u8]) -> Result<()>;
    /// The size the output would have if finished now.
    fn estimated_size_bytes(&self) -> u64;
    /// Seals the output.
    fn finish(self) -> Result<Self::Finished>;
    /// The size of a finished output.
    fn finished_size_bytes(finished: &Self::Finished) -> u64;
}

/// Runs a merge over `input` (positioned here with `seek_to_first`) into outputs started by
/// `new_output`, applying MERGE-1..4. Returns the finished outputs in key order and the stats.
/// REQUIRES: `settings.snapshots` ascending.
pub fn merge_into<O: MergeOutput>(
    input: &mut dyn InternalIterator,
    settings: &MergeSettings,
    new_output: &mut dyn FnMut() -> Result<O>,
) -> Result<(Vec<O::Finished>, MergeStats)> {
    assert!(settings.snapshots.windows(2).all(|w| w[0] <= w[1]), "snapshots must be ascending");
    let mut sink = Sink { current: None, finished: Vec::new(), target_size_bytes: settings.target_file_size_bytes };
    let mut stats = MergeStats::default();
    let mut key = KeyState::default();
    input.seek_to_first()?;
    while input.valid() {
        stats.entries_read += 1;
        let parsed = parse_internal_key(input.key())?;
        key.enter(parsed.user_key);
        let stripe = settings.snapshots.partition_point(|&s| s < parsed.seq);
        match key.decide(stripe, parsed.kind, settings.bottommost) {
            Verdict::Keep => {
                sink.add(input.key(), input.value(), !key.written, new_output)?;
                key.written = true;
                stats.entries_written += 1;
            }
            Verdict::Shadowed => stats.dropped_shadowed += 1,
            Verdict::BottomTombstone => stats.dropped_tombstones += 1,
        }
        input.next()?;
    }
    let finished = sink.finish()?;
    stats.bytes_written = finished.iter().map(O::finished_size_bytes).sum();
    Ok((finished, stats))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Keep,
    Shadowed,
    BottomTombstone,
}

/// What the merge knows about the user key being processed.
#[derive(Debug, Default)]
struct KeyState {
    user_key: Vec<u8>,
    /// False until the first entry.
    started: bool,
    /// The stripe of the newest version seen so far of this key (stripes only decrease, as
    /// versions arrive newest first).
    last_stripe: Option<usize>,
    /// True once any version of this key was written.
    written: bool,
}

impl KeyState {
    /// Moves to `user_key`; returns true when it differs from the previous entry's.
    fn enter(&mut self, user_key: &[u8]) -> bool {
        if self.started && self.user_key == user_key {
            return false;
        }
        debug_assert!(!self.started || self.user_key.as_slice() < user_key, "ITER-2: input out of order");
        self.user_key.clear();
        self.user_key.extend_from_slice(user_key);
        self.started = true;
        self.last_stripe = None;
        self.written = false;
        true
    }

    /// MERGE-1 and MERGE-2 for the next (older) version of the key.
    fn decide(&mut self, stripe: usize, kind: ValueKind, bottommost: bool) -> Verdict {
        if self.last_stripe == Some(stripe) {
            return Verdict::Shadowed;
        }
        self.last_stripe = Some(stripe);
        if bottommost && stripe == 0 && kind == ValueKind::Delete {
            // Every older version is in stripe 0 too, so each is dropped as shadowed.
            return Verdict::BottomTombstone;
        }
        Verdict::Keep
    }
}

/// The output being filled, and those already finished.
struct Sink<O: MergeOutput> {
    current: Option<O>,
    finished: Vec<O::Finished>,
    target_size_bytes: u64,
}

impl<O: MergeOutput> Sink<O> {
    /// MERGE-3: `at_key_boundary` is true for the first written version of a user key.
    fn add(
        &mut self,
        ikey: &[u8],
        value: &[u8],
        at_key_boundary: bool,
        new_output: &mut dyn FnMut() -> Result<O>,
    ) -> Result<()> {
        let target_size_bytes = self.target_size_bytes;
        if at_key_boundary && let Some(full) = self.current.take_if(|o| o.estimated_size_bytes() >= target_size_bytes) {
            self.finished.push(full.finish()?);
        }
        let output = match &mut self.current {
            Some(o) => o,
            None => self.current.insert(new_output()?),
        };
        output.add(ikey, value)
    }

    fn finish(mut self) -> Result<Vec<O::Finished>> {
        if let Some(last) = self.current.take() {
            self.finished.push(last.finish()?);
        }
        Ok(self.finished)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripes_keep_newest_per_snapshot() {
        let mut k = KeyState::default();
        assert!(k.enter(b"a"));
        // snapshots [5, 10]: stripe 2 = seq > 10, stripe 1 = 6..=10, stripe 0 = <= 5.
        assert_eq!(k.decide(2, ValueKind::Set, true), Verdict::Keep);
        assert_eq!(k.decide(2, ValueKind::Set, true), Verdict::Shadowed);
        assert_eq!(k.decide(1, ValueKind::Delete, true), Verdict::Keep);
        assert_eq!(k.decide(0, ValueKind::Delete, false), Verdict::Keep);
        assert_eq!(k.decide(0, ValueKind::Set, false), Verdict::Shadowed);
        assert!(!k.enter(b"a"));
        assert!(k.enter(b"b"));
        assert_eq!(k.decide(0, ValueKind::Delete, true), Verdict::BottomTombstone);
        assert_eq!(k.decide(0, ValueKind::Set, true), Verdict::Shadowed);
    }
}
