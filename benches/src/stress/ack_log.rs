//! [`AckLog`]: what the power-loss campaign's writers handed to the engine and what the engine
//! acknowledged, recorded so that the bounds a crash allows can be derived exactly.
//!
//! Owns the derivation of, per writer, the batches that must survive (`durable`), that could
//! exist at all (`started`), and the cross-writer order a recovered state must respect. It leaves
//! taking the crash (under the log's lock) to [`powerloss`](super::powerloss).
//!
//! The rules, each an instance of G1/G2 under group commit:
//! * A batch acknowledged with `Sync` is durable, and so is every batch of any writer that was
//!   acknowledged before it was handed to the engine (those were appended to the WAL before it,
//!   and the fsync covering it covers them; older WALs were synced at the memtable switch).
//! * A successful `Db::sync()` makes every batch acknowledged before the call durable, and a
//!   successful `Db::close()` every batch acknowledged at all.
//! * A recovered state is a prefix of the commit order, so if a writer's batch is present, every
//!   batch acknowledged before that batch was handed to the engine is present too.

use super::report::{Kind, Violation};
use super::verify::{Bounds, Prefixes};
use super::workload::MAX_WRITERS;

/// The acknowledgement log of one power-loss cycle. Every method is called under one lock, in
/// the order the events happened.
#[derive(Debug, Clone)]
pub struct AckLog {
    /// Per writer, its first batch this cycle.
    start: Prefixes,
    /// Per writer, one past the last batch handed to `write_with`.
    started: Prefixes,
    /// Per writer, one past the last acknowledged batch.
    acked: Prefixes,
    /// Per writer, one past the last batch that must survive power loss.
    durable: Prefixes,
    /// Per writer and batch started this cycle (index `id - start`), every writer's `acked` at the
    /// moment the batch was handed to the engine.
    acked_before: [Vec<Prefixes>; MAX_WRITERS],
    /// The database finished opening (a crash before this cut power during recovery).
    pub opened: bool,
    /// `Db::close()` returned success (all writers had stopped).
    pub closed: bool,
    pub sync_acks: u64,
    pub buffered_acks: u64,
    pub db_syncs: u64,
}

impl AckLog {
    /// A log for a cycle whose writers continue from `start` (all of it durable).
    pub fn new(start: Prefixes) -> AckLog {
        AckLog {
            start,
            started: start,
            acked: start,
            durable: start,
            acked_before: Default::default(),
            opened: false,
            closed: false,
            sync_acks: 0,
            buffered_acks: 0,
            db_syncs: 0,
        }
    }

    /// Writer `w` hands batch `id` to the engine. Returns what was acknowledged at that moment,
    /// to pass to [`AckLog::acknowledge`].
    pub fn start(&mut self, w: usize, id: u64) -> Prefixes {
        debug_assert_eq!(self.started[w], id, "a writer starts its batches in order");
        self.started[w] = id + 1;
        self.acked_before[w].push(self.acked);
        self.acked
    }

    /// Writer `w`'s batch `id` was acknowledged; `acked_before` is what [`AckLog::start`] returned.
    pub fn acknowledge(&mut self, w: usize, id: u64, sync: bool, acked_before: &Prefixes) {
        debug_assert_eq!(self.acked[w], id, "a writer's batches are acknowledged in order");
        self.acked[w] = id + 1;
        if sync {
            self.covered(acked_before);
            self.durable[w] = self.durable[w].max(id + 1);
            self.sync_acks += 1;
        } else {
            self.buffered_acks += 1;
        }
    }

    /// What is acknowledged now (before a `Db::sync()` call).
    pub fn acked(&self) -> Prefixes {
        self.acked
    }

    /// A `Db::sync()` called when `acked` was acknowledged succeeded.
    pub fn synced(&mut self, acked: &Prefixes) {
        self.covered(acked);
        self.db_syncs += 1;
    }

    /// `Db::close()` succeeded after every writer stopped: it synced the WAL.
    pub fn closed_cleanly(&mut self) {
        let acked = self.acked;
        self.covered(&acked);
        self.closed = true;
    }

    fn covered(&mut self, acked: &Prefixes) {
        for (durable, &a) in self.durable.iter_mut().zip(acked) {
            *durable = (*durable).max(a);
        }
    }

    /// Acknowledged batches, all writers.
    pub fn acked_total(&self) -> u64 {
        self.acked.iter().zip(&self.start).map(|(a, s)| a - s).sum()
    }

    /// Batches that had to survive and were acknowledged this cycle, all writers.
    pub fn durable_total(&self) -> u64 {
        self.durable.iter().zip(&self.start).map(|(d, s)| d - s).sum()
    }

    /// Acknowledged batches a recovered state with `prefixes` lacks (allowed for buffered ones).
    pub fn lost_total(&self, prefixes: &Prefixes) -> u64 {
        self.acked.iter().zip(prefixes).map(|(a, p)| a.saturating_sub(*p)).sum()
    }

    /// Per writer: at least the durable batches, at most the started ones.
    pub fn bounds(&self) -> [Bounds; MAX_WRITERS] {
        std::array::from_fn(|w| Bounds { floor: self.durable[w], ceiling: self.started[w] })
    }

    /// Checks G2 across writers: the newest present batch of each writer brings with it every
    /// batch acknowledged before it was handed to the engine. REQUIRES: `prefixes` within
    /// [`AckLog::bounds`].
    pub fn check_order(&self, prefixes: &Prefixes) -> Result<(), Violation> {
        for (w, &prefix) in prefixes.iter().enumerate() {
            let Some(index) = prefix.checked_sub(self.start[w] + 1) else { continue };
            let before = self.acked_before[w].get(index as usize).expect("prefix <= started, so the batch was logged");
            for (v, (&needed, &present)) in before.iter().zip(prefixes).enumerate() {
                if present < needed {
                    return Err(Violation::new(
                        Kind::Hole,
                        needed - present,
                        format!(
                            "writer {w} batch {} is present, but writer {v} batch {}, acknowledged before it was \
                             written, is missing (writer {v} prefix {present})",
                            prefix - 1,
                            needed - 1
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_acks_make_earlier_acks_of_every_writer_durable() {
        let mut log = AckLog::new([10, 0, 0, 0]);
        let before = log.start(1, 0);
        log.acknowledge(1, 0, false, &before);
        let before = log.start(0, 10);
        let concurrent = log.start(1, 1);
        log.acknowledge(1, 1, false, &concurrent);
        log.acknowledge(0, 10, true, &before);
        let bounds = log.bounds();
        assert_eq!(bounds[0], Bounds { floor: 11, ceiling: 11 });
        assert_eq!(bounds[1], Bounds { floor: 1, ceiling: 2 }, "batch 1 was acknowledged after batch 10 started");
        assert_eq!(bounds[2], Bounds::exactly(0));
        assert_eq!((log.acked_total(), log.durable_total(), log.lost_total(&[11, 1, 0, 0])), (3, 2, 1));
    }

    #[test]
    fn db_sync_covers_what_was_acknowledged_before_it() {
        let mut log = AckLog::new([0; MAX_WRITERS]);
        let before = log.start(3, 0);
        log.acknowledge(3, 0, false, &before);
        let acked = log.acked();
        log.synced(&acked);
        assert_eq!(log.bounds()[3], Bounds { floor: 1, ceiling: 1 });
    }

    #[test]
    fn a_clean_close_makes_every_ack_durable() {
        let mut log = AckLog::new([0, 5, 0, 0]);
        let before = log.start(1, 5);
        log.acknowledge(1, 5, false, &before);
        assert_eq!(log.bounds()[1], Bounds { floor: 5, ceiling: 6 });
        log.closed_cleanly();
        assert_eq!(log.bounds()[1], Bounds { floor: 6, ceiling: 6 });
        assert!(log.closed);
    }

    #[test]
    fn a_batch_present_without_what_preceded_it_is_a_hole() {
        let mut log = AckLog::new([0; MAX_WRITERS]);
        let before = log.start(0, 0);
        log.acknowledge(0, 0, false, &before);
        let before = log.start(1, 0);
        log.acknowledge(1, 0, false, &before);
        assert_eq!(log.check_order(&[1, 1, 0, 0]), Ok(()));
        assert_eq!(log.check_order(&[1, 0, 0, 0]), Ok(()), "a suffix may be lost");
        assert_eq!(log.check_order(&[0, 0, 0, 0]), Ok(()));
        let v = log.check_order(&[0, 1, 0, 0]).expect_err("writer 0's batch 0 preceded writer 1's batch 0");
        assert_eq!(v.kind, Kind::Hole);
    }
}
