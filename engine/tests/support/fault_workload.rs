//! The fault matrix's workload (`fault_matrix.rs`): a fixed sequence of 200 operations, the
//! options every open uses, and the fault kinds injected into it.
//!
//! The workload is deterministic in its I/O: memtables are large enough that only explicit
//! flushes switch them and automatic compaction never triggers, so a fault-free run makes the
//! same I/O calls in the same order every time, and "the n-th call" names one call.

use std::sync::Arc;

use cairn::{Durability, Error, Options, Vfs};
use cairn_testkit::{Fault, FaultRule, OpKind, Trigger};

use super::trace_fs::TracedOp;

/// Distinct user keys of the workload.
pub const KEY_COUNT: u64 = 64;
/// Operations in the workload.
pub const OPS: usize = 200;

/// One operation of the workload.
#[derive(Debug, Clone)]
pub enum Op {
    /// `put` (or a one-entry batch, for `Sync`).
    Put { key: Vec<u8>, value: Vec<u8>, durability: Durability },
    /// `delete` (or a one-entry batch, for `Sync`).
    Delete { key: Vec<u8>, durability: Durability },
    /// A batch of puts and deletes.
    Batch { entries: Vec<(Vec<u8>, Option<Vec<u8>>)>, durability: Durability },
    /// `Db::sync`.
    Sync,
    /// `Db::flush`.
    Flush,
    /// `Db::compact`.
    Compact,
    /// `close`, drop the handle, open again (the faults stay armed).
    Reopen,
}

/// The `n`-th key (modulo [`KEY_COUNT`]).
pub fn key(n: u64) -> Vec<u8> {
    format!("key{:03}", n % KEY_COUNT).into_bytes()
}

/// The value of entry `j` of operation `i`.
pub fn value(i: usize, j: usize) -> Vec<u8> {
    let mut v = format!("v{i:03}.{j}-").into_bytes();
    v.resize(v.len() + (i * 7 + j) % 40, b'a' + (i % 26) as u8);
    v
}

/// The fixed workload: puts, deletes and batches (every 9th `Sync`), with a `sync`, flushes, a
/// full compaction and a close/reopen in between. Memtables are large enough that only the
/// explicit flushes switch them, so the I/O calls are numbered the same way in every run.
pub fn workload() -> Vec<Op> {
    (0..OPS)
        .map(|i| match i {
            40 => Op::Flush,
            70 => Op::Sync,
            100 => Op::Reopen,
            130 => Op::Flush,
            150 => Op::Compact,
            175 => Op::Flush,
            _ => write_op(i),
        })
        .collect()
}

fn write_op(i: usize) -> Op {
    let durability = if i % 9 == 4 { Durability::Sync } else { Durability::Buffered };
    let k = i as u64 * 37 + 11;
    match i % 10 {
        0..=5 => Op::Put { key: key(k), value: value(i, 0), durability },
        6 | 7 => Op::Delete { key: key(k * 3), durability },
        _ => {
            let entries = (0..2 + i % 4)
                .map(|j| {
                    let kk = key(k + j as u64 * 13);
                    if j % 3 == 2 { (kk, None) } else { (kk, Some(value(i, j))) }
                })
                .collect();
            Op::Batch { entries, durability }
        }
    }
}

impl Op {
    /// The operation's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Put { .. } => "put",
            Op::Delete { .. } => "delete",
            Op::Batch { .. } => "batch",
            Op::Sync => "sync",
            Op::Flush => "flush",
            Op::Compact => "compact",
            Op::Reopen => "reopen",
        }
    }
}

/// Every key the workload (and the final probe) writes.
pub fn universe() -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = (0..KEY_COUNT).map(key).collect();
    keys.push(PROBE_KEY.to_vec());
    keys
}

/// The key of the write made after the faults are cleared.
pub const PROBE_KEY: &[u8] = b"probe";

/// Options of every open: big memtables (no automatic switch), no automatic compaction, small
/// blocks, and a tiny manifest rollover size so manifests are rolled over during the workload.
pub fn options(vfs: Arc<dyn Vfs>) -> Options {
    Options::default()
        .vfs(vfs)
        .memtable_size_bytes(1 << 20)
        .l0_compaction_trigger(8)
        .l0_files_slowdown(16)
        .l0_files_stop(24)
        .block_size_bytes(512)
        .cache_size_bytes(64 << 10)
        .manifest_rollover_bytes(256)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// EIO on the n-th I/O call of any kind, once.
    EioOnce,
    /// EIO on every I/O call from the n-th on.
    EioFrom,
    /// ENOSPC on every append, create and fsync from the n-th of them on.
    NoSpaceFrom,
    /// A short write (half the bytes land, then EIO) on the n-th append, once.
    ShortWriteOnce,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::EioOnce => "EIO once (n-th call of any kind)",
            FaultKind::EioFrom => "EIO persistent (every call from the n-th)",
            FaultKind::NoSpaceFrom => "ENOSPC persistent (writes, creates, fsyncs from the n-th)",
            FaultKind::ShortWriteOnce => "short write once (n-th append)",
        }
    }

    pub fn rule(self, n: u64) -> FaultRule {
        match self {
            FaultKind::EioOnce => FaultRule::new(Fault::Eio, Trigger::Nth(n)),
            FaultKind::EioFrom => FaultRule::new(Fault::Eio, Trigger::FromNth(n)),
            FaultKind::NoSpaceFrom => {
                FaultRule::new(Fault::NoSpace, Trigger::FromNth(n)).only([OpKind::Append, OpKind::Create, OpKind::Sync])
            }
            FaultKind::ShortWriteOnce => FaultRule::new(Fault::ShortWrite, Trigger::Nth(n)).only([OpKind::Append]),
        }
    }

    pub fn persistent(self) -> bool {
        matches!(self, FaultKind::EioFrom | FaultKind::NoSpaceFrom)
    }

    /// Whether the rule's count includes this call of the fault-free trace.
    pub fn counts(self, op: &TracedOp) -> bool {
        match self {
            FaultKind::EioOnce | FaultKind::EioFrom => true,
            FaultKind::NoSpaceFrom => matches!(op.op, "write" | "create" | "fsync"),
            FaultKind::ShortWriteOnce => op.op == "write",
        }
    }

    /// Whether `e` is an error this fault may cause: EIO as `Io`, ENOSPC as `NoSpace` (never
    /// the other way round), or `Poisoned` by one of those. Never `Corruption`.
    pub fn allows(self, e: &Error) -> bool {
        match e {
            Error::Io { source, .. } => self != FaultKind::NoSpaceFrom && source.raw_os_error() == Some(5),
            Error::NoSpace { .. } => self == FaultKind::NoSpaceFrom,
            Error::Poisoned { cause } => self.allows(cause),
            _ => false,
        }
    }
}
