//! The group-commit queue: how concurrent writers elect one leader at a time, which items form
//! its group, and how the group's one result reaches every member (DESIGN.md §6,
//! docs/durability.md#write-path).
//!
//! Owns the protocol only. Leaves the leader's work (sequence numbers, the WAL append, the
//! fsync, the memtable insert, publishing the visible sequence number) to `commit.rs`, which
//! does it between [`GroupQueue::join`] returning [`Turn::Lead`] and [`Group::finish`].
//!
//! Invariants (checked under loom by the models at the bottom, docs/testing.md#loom-models):
//! * At most one group is led at a time: a new leader is chosen only after the previous one
//!   called `finish`, so the leader's work is serialized and sees the previous group's effects.
//! * A group is a prefix of the waiting items in join order (each join draws the next ticket
//!   under the lock), taken whole: every item belongs to exactly one group, groups follow join
//!   order, and a group's total weight stays within the maximum unless it is a single item.
//! * A member's `join` returns only after its leader called `finish`, and returns exactly the
//!   result the leader passed; members of one group all get the same result.
//!
//! REQUIRES of callers: a leader always calls [`Group::finish`]. A group dropped unfinished
//! (a panicking leader) leaves the queue led forever: later writers block, as they would behind
//! any wedged write path.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use crate::sync::{Condvar, Mutex};

/// A queue of items committed in groups by one leader at a time; `R` is the group's result.
pub(crate) struct GroupQueue<T, R> {
    state: Mutex<QueueState<T, R>>,
    /// Signalled when a group finishes: its members can return and the next leader can start.
    turn: Condvar,
    /// Largest total weight of a group of more than one item.
    max_group_weight: usize,
    /// An item's weight (the engine: its batch's encoded bytes).
    weight: fn(&T) -> usize,
}

/// Guarded by `GroupQueue::state`.
struct QueueState<T, R> {
    /// Items not yet taken by a leader, in join order (ascending tickets).
    waiting: VecDeque<(u64, T)>,
    /// Results of finished groups, by ticket, until their member collects them.
    finished: HashMap<u64, R>,
    /// True from a leader's `join` returning `Lead` until its `finish`.
    leading: bool,
    /// The ticket of the next `join`: join order.
    next_ticket: u64,
}

/// What [`GroupQueue::join`] hands back.
#[must_use = "a leader must do the group's work and call Group::finish"]
pub(crate) enum Turn<'q, T, R> {
    /// A leader committed this item in its group; the group's result.
    Done(R),
    /// This item heads the queue: the caller leads the returned group, its own item first.
    Lead(Group<'q, T, R>),
}

/// The items one leader commits together, in join order; the leader's own item is first.
#[must_use = "a leader must call Group::finish, or its members wait forever"]
pub(crate) struct Group<'q, T, R> {
    queue: &'q GroupQueue<T, R>,
    tickets: Vec<u64>,
    items: Vec<T>,
}

impl<T, R: Clone> GroupQueue<T, R> {
    /// An empty queue whose groups weigh at most `max_group_weight` by `weight`, except that a
    /// single heavier item still forms a group alone.
    pub(crate) fn new(max_group_weight: usize, weight: fn(&T) -> usize) -> GroupQueue<T, R> {
        let state = QueueState { waiting: VecDeque::new(), finished: HashMap::new(), leading: false, next_ticket: 0 };
        GroupQueue { state: Mutex::new(state), turn: Condvar::new(), max_group_weight, weight }
    }

    /// Queues `item` and blocks until either a leader committed it ([`Turn::Done`]) or it
    /// heads the queue while no group is led ([`Turn::Lead`]): then the caller leads the
    /// group of the items waiting from the front, which leave the queue now.
    pub(crate) fn join(&self, item: T) -> Turn<'_, T, R> {
        let mut state = self.state.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.waiting.push_back((ticket, item));
        loop {
            if let Some(result) = state.finished.remove(&ticket) {
                return Turn::Done(result);
            }
            if !state.leading && state.waiting.front().is_some_and(|(front, _)| *front == ticket) {
                break;
            }
            self.turn.wait(&mut state);
        }
        state.leading = true;
        let len = group_len(state.waiting.iter().map(|(_, item)| item), self.max_group_weight, self.weight);
        let (tickets, items) = state.waiting.drain(..len).unzip();
        Turn::Lead(Group { queue: self, tickets, items })
    }
}

impl<T, R: Clone> Group<'_, T, R> {
    /// The group's items in join order; the first is the leader's.
    pub(crate) fn items(&self) -> &[T] {
        &self.items
    }

    /// The members' join tickets, ascending (join order), for the models' checks.
    #[cfg(test)]
    pub(crate) fn tickets(&self) -> &[u64] {
        &self.tickets
    }

    /// Ends the group: every other member's `join` returns `outcome`, the next leader may
    /// start, and the leader gets `outcome` back.
    pub(crate) fn finish(self, outcome: R) -> R {
        let mut state = self.queue.state.lock();
        debug_assert!(state.leading, "only the leader finishes a group");
        for ticket in &self.tickets[1..] {
            state.finished.insert(*ticket, outcome.clone());
        }
        state.leading = false;
        self.queue.turn.notify_all();
        outcome
    }
}

/// How many items from the front form the next group: as many as fit in `max_weight`
/// together, and always at least the first.
fn group_len<'a, T: 'a>(waiting: impl Iterator<Item = &'a T>, max_weight: usize, weight: fn(&T) -> usize) -> usize {
    let mut len = 0;
    let mut total_weight = 0;
    for item in waiting {
        let item_weight = weight(item);
        if len > 0 && total_weight + item_weight > max_weight {
            break;
        }
        total_weight += item_weight;
        len += 1;
    }
    len
}

impl<T, R> fmt::Debug for GroupQueue<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupQueue").field("max_group_weight", &self.max_group_weight).finish_non_exhaustive()
    }
}

impl<T, R> fmt::Debug for Group<'_, T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group").field("tickets", &self.tickets).finish_non_exhaustive()
    }
}

impl<T, R: fmt::Debug> fmt::Debug for Turn<'_, T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Turn::Done(result) => f.debug_tuple("Done").field(result).finish(),
            Turn::Lead(group) => f.debug_tuple("Lead").field(group).finish(),
        }
    }
}

// Real threads: not under `--cfg loom`, whose primitives only work inside a model.
#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;

    fn unit_weight(_: &u32) -> usize {
        1
    }

    fn own_weight(item: &u32) -> usize {
        *item as usize
    }

    /// Waits until `count` items wait in `queue` (joined, not yet taken by a leader).
    fn wait_for_waiting(queue: &GroupQueue<u32, String>, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while queue.state.lock().waiting.len() != count {
            assert!(Instant::now() < deadline, "{count} items never queued up");
            std::thread::yield_now();
        }
    }

    fn lead(turn: Turn<'_, u32, String>) -> Group<'_, u32, String> {
        match turn {
            Turn::Lead(group) => group,
            Turn::Done(result) => panic!("expected to lead, got the result {result:?}"),
        }
    }

    #[test]
    fn group_len_fills_up_to_the_maximum_and_always_takes_the_first() {
        assert_eq!(group_len([3u32, 4, 1].iter(), 8, own_weight), 3);
        assert_eq!(group_len([3u32, 4, 2].iter(), 8, own_weight), 2, "3 + 4 + 2 exceeds 8");
        assert_eq!(group_len([9u32, 1].iter(), 8, own_weight), 1, "a heavy first item goes alone");
        assert_eq!(group_len([2u32, 9, 1].iter(), 8, own_weight), 1, "the group stops at the first misfit");
        assert_eq!(group_len(std::iter::empty::<&u32>(), 8, own_weight), 0);
    }

    #[test]
    fn a_lone_writer_leads_its_own_group_and_gets_its_outcome_back() {
        let queue: GroupQueue<u32, String> = GroupQueue::new(10, unit_weight);
        let group = lead(queue.join(7));
        assert_eq!(group.items(), &[7]);
        assert_eq!(group.finish("ok".to_string()), "ok");
        let group = lead(queue.join(8));
        assert_eq!((group.items(), group.tickets()), (&[8][..], &[1][..]));
        assert_eq!(group.finish("again".to_string()), "again");
    }

    /// While one group is led, later writers queue up; the next of them leads all of them
    /// (within the weight limit), and the others get that leader's outcome.
    #[test]
    fn writers_queued_behind_a_leader_form_the_next_group() {
        let queue: Arc<GroupQueue<u32, String>> = Arc::new(GroupQueue::new(2, unit_weight));
        let first = lead(queue.join(0));
        let joiners: Vec<_> = (1..=3)
            .map(|item| {
                let queue = queue.clone();
                wait_for_waiting(&queue, item as usize - 1);
                std::thread::spawn(move || match queue.join(item) {
                    Turn::Done(result) => (item, None, result),
                    Turn::Lead(group) => {
                        let items = group.items().to_vec();
                        let outcome = format!("led by {item}");
                        (item, Some(items), group.finish(outcome))
                    }
                })
            })
            .collect();
        wait_for_waiting(&queue, 3);
        assert_eq!(first.finish("first".to_string()), "first");
        let mut outcomes: Vec<_> = joiners.into_iter().map(|j| j.join().expect("joiner does not panic")).collect();
        outcomes.sort();
        assert_eq!(
            outcomes,
            vec![
                (1, Some(vec![1, 2]), "led by 1".to_string()),
                (2, None, "led by 1".to_string()),
                (3, Some(vec![3]), "led by 3".to_string()),
            ],
            "the weight limit of 2 splits the three waiters into [1, 2] and [3]"
        );
        assert!(queue.state.lock().finished.is_empty(), "every result was collected");
    }
}

/// Loom models: writers commit through a `GroupQueue` whose leader appends to a fake log (a
/// `Vec`) and runs a fake fsync that can fail, as `commit.rs` does with the WAL.
#[cfg(all(test, loom))]
mod loom_models {
    use std::sync::Arc;

    use super::*;
    use crate::sync::check_model;

    /// One write: who made it, its index among that writer's writes, whether it asked for Sync.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Write {
        writer: usize,
        op: usize,
        sync: bool,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum FakeError {
        /// The fsync failed; the group's outcome is unknown, the log is poisoned.
        FsyncFailed,
        /// An earlier fsync failed: nothing is logged any more (G6).
        Poisoned,
    }

    type Outcome = Result<(), FakeError>;

    /// A logged write and the sequence number its group assigned it.
    #[derive(Debug, Clone, Copy)]
    struct Logged {
        write: Write,
        ticket: u64,
        seq: u64,
    }

    /// The leader's state (the engine's `WriterState`): a log, how much of it is synced, and
    /// what every group did.
    #[derive(Debug, Clone, Default)]
    struct FakeLog {
        entries: Vec<Logged>,
        /// Entries known durable: a prefix of `entries`.
        synced_len: usize,
        last_seq: u64,
        /// The fsync number (1-based) that fails, if any.
        failing_sync: Option<usize>,
        syncs: usize,
        poisoned: bool,
        /// Every group, in the order its leader worked: members and outcome.
        groups: Vec<(Vec<(u64, Write)>, Outcome)>,
    }

    type Queue = GroupQueue<Write, Outcome>;

    /// The leader's work for one group, as `commit.rs` does it: fail if poisoned; assign
    /// contiguous sequence numbers; log the group once; fsync once if any member asked.
    fn lead(log: &Mutex<FakeLog>, group: &Group<'_, Write, Outcome>) -> Outcome {
        let mut log = log.lock();
        let members: Vec<(u64, Write)> = group.tickets().iter().copied().zip(group.items().iter().copied()).collect();
        let outcome = if log.poisoned { Err(FakeError::Poisoned) } else { log_group(&mut log, &members) };
        log.groups.push((members, outcome));
        outcome
    }

    fn log_group(log: &mut FakeLog, members: &[(u64, Write)]) -> Outcome {
        for (ticket, write) in members {
            log.last_seq += 1;
            let seq = log.last_seq;
            log.entries.push(Logged { write: *write, ticket: *ticket, seq });
        }
        if members.iter().any(|(_, w)| w.sync) {
            log.syncs += 1;
            if log.failing_sync == Some(log.syncs) {
                log.poisoned = true;
                return Err(FakeError::FsyncFailed);
            }
            log.synced_len = log.entries.len();
        }
        Ok(())
    }

    /// One write through the queue, as `Inner::write` does it; checks what an acknowledgement
    /// promises at the moment it is received.
    fn write(queue: &Queue, log: &Mutex<FakeLog>, write: Write) -> Outcome {
        let outcome = match queue.join(write) {
            Turn::Done(outcome) => outcome,
            Turn::Lead(group) => {
                let outcome = lead(log, &group);
                group.finish(outcome)
            }
        };
        if outcome.is_ok() {
            let log = log.lock();
            let index = log.entries.iter().position(|l| l.write == write);
            let index = index.expect("an acknowledged write is in the log");
            assert!(!write.sync || index < log.synced_len, "a Sync write was acknowledged before its fsync");
        }
        outcome
    }

    /// The writers' outcomes, by writer and op.
    type Outcomes = Vec<Vec<Outcome>>;

    /// Runs `writes[w]` on writer thread `w` (sequentially within a thread) and returns every
    /// outcome and the final log.
    fn run_writers(writes: &[Vec<bool>], failing_sync: Option<usize>) -> (Outcomes, FakeLog) {
        let queue: Arc<Queue> = Arc::new(GroupQueue::new(2, |_| 1));
        let log = Arc::new(Mutex::new(FakeLog { failing_sync, ..FakeLog::default() }));
        let threads: Vec<_> = writes
            .iter()
            .enumerate()
            .map(|(writer, syncs)| {
                let (queue, log, syncs) = (queue.clone(), log.clone(), syncs.clone());
                loom::thread::spawn(move || {
                    let ops = syncs.iter().enumerate();
                    ops.map(|(op, &sync)| write(&queue, &log, Write { writer, op, sync })).collect::<Vec<_>>()
                })
            })
            .collect();
        let outcomes = threads.into_iter().map(|t| t.join().expect("writers do not panic")).collect();
        let log = log.lock().clone();
        (outcomes, log)
    }

    /// Every write is in exactly one group, groups are taken in join order (tickets
    /// `0, 1, 2, ..` across groups), each writer's writes in its program order, and every
    /// member got its group's outcome.
    fn check_groups(writes: &[Vec<bool>], outcomes: &Outcomes, log: &FakeLog) {
        let members: Vec<(u64, Write)> = log.groups.iter().flat_map(|(m, _)| m.iter().copied()).collect();
        let tickets: Vec<u64> = members.iter().map(|(t, _)| *t).collect();
        let total: usize = writes.iter().map(Vec::len).sum();
        assert_eq!(tickets, (0..total as u64).collect::<Vec<_>>(), "groups must cover the queue in join order");
        for (writer, syncs) in writes.iter().enumerate() {
            let mine: Vec<Write> = members.iter().map(|(_, w)| *w).filter(|w| w.writer == writer).collect();
            let expected: Vec<Write> = (0..syncs.len()).map(|op| Write { writer, op, sync: syncs[op] }).collect();
            assert_eq!(mine, expected, "each write is in exactly one group, in its writer's order");
        }
        for (group, outcome) in &log.groups {
            assert!(group.len() <= 2, "the weight limit (2) was exceeded");
            for (_, w) in group {
                assert_eq!(&outcomes[w.writer][w.op], outcome, "a member got another result than its group's");
            }
        }
    }

    /// The log holds each logged write exactly once, with sequence numbers 1, 2, .. in join
    /// (ticket) order; nothing is logged after the poisoning fsync.
    fn check_log(log: &FakeLog) {
        let seqs: Vec<u64> = log.entries.iter().map(|l| l.seq).collect();
        assert_eq!(seqs, (1..=log.entries.len() as u64).collect::<Vec<_>>(), "sequence numbers must be contiguous");
        assert!(log.entries.windows(2).all(|p| p[0].ticket < p[1].ticket), "log order must be join order");
        let logged_groups = log.groups.iter().filter(|(_, o)| *o != Err(FakeError::Poisoned));
        let logged: Vec<u64> = logged_groups.flat_map(|(m, _)| m.iter().map(|(t, _)| *t)).collect();
        let tickets: Vec<u64> = log.entries.iter().map(|l| l.ticket).collect();
        assert_eq!(tickets, logged, "exactly the groups that were not refused are logged, each once");
    }

    /// After a failed fsync, its group and every later group fail; earlier ones succeeded.
    fn check_fail_stop(log: &FakeLog) {
        let failed_at = log.groups.iter().position(|(_, o)| *o == Err(FakeError::FsyncFailed));
        for (i, (_, outcome)) in log.groups.iter().enumerate() {
            let expected = match failed_at {
                Some(f) if i > f => Err(FakeError::Poisoned),
                Some(f) if i == f => Err(FakeError::FsyncFailed),
                _ => Ok(()),
            };
            assert_eq!(*outcome, expected, "group {i} of {:?}", log.groups);
        }
    }

    fn check_all(writes: &[Vec<bool>], failing_sync: Option<usize>) {
        let (outcomes, log) = run_writers(writes, failing_sync);
        check_groups(writes, &outcomes, &log);
        check_log(&log);
        check_fail_stop(&log);
    }

    #[test]
    fn loom_group_commit_logs_each_batch_once_in_queue_order() {
        check_model("group commit: 2 writers x 2 writes, fsyncs succeed", || {
            check_all(&[vec![true, false], vec![false, true]], None);
        });
    }

    #[test]
    fn loom_group_commit_three_writers_form_groups_in_queue_order() {
        check_model("group commit: 3 writers x 1-2 writes, fsyncs succeed", || {
            check_all(&[vec![true, false], vec![false], vec![true]], None);
        });
    }

    #[test]
    fn loom_group_commit_fsync_error_reaches_every_member() {
        check_model("group commit: 2 writers x 2 writes, first fsync fails", || {
            check_all(&[vec![true, true], vec![false, true]], Some(1));
        });
    }

    #[test]
    fn loom_group_commit_later_fsync_error_fails_its_group_and_all_after() {
        check_model("group commit: 3 writers x 1-2 writes, second fsync fails", || {
            check_all(&[vec![true, true], vec![true], vec![false]], Some(2));
        });
    }
}
