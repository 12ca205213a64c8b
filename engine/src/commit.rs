//! The write path: group commit (docs/durability.md#write-path).
//!
//! Writers join a queue. The writer at the front becomes the leader: it takes every batch
//! queued behind it (up to `MAX_GROUP_BYTES`), makes room (stalls, memtable switch), assigns
//! contiguous sequence numbers, writes ONE WAL record for the group, fsyncs once if any member
//! asked for `Durability::Sync`, inserts into the memtable, publishes the new visible sequence
//! number, and hands the one result to every member. A failed append or fsync fails the whole
//! group and poisons the database (G6): nothing of the group reaches the memtable, so readers
//! never see a write that was reported failed... in this process; after a reopen, a group whose
//! fsync failed may or may not be present (its outcome was unknown), but always whole (G3).
//!
//! The queue protocol itself (leader election, group selection, result delivery) lives in
//! `commit_queue.rs`, where loom models check it; this file is the leader's work.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cairn_base::filename::wal_path;
use cairn_base::{Error, FileNum, Result, SeqNum};
use cairn_wal::{LogKind, LogWriter};
use parking_lot::Mutex;

use crate::batch::{self, WriteBatch};
use crate::commit_queue::{GroupQueue, Turn};
use crate::inner::{Inner, Stats};
use crate::memtable::MemTable;
use crate::super_version::Imm;

/// Largest group a leader assembles, in encoded bytes (a single larger batch still goes alone).
const MAX_GROUP_BYTES: usize = 1 << 20;

/// How long a writer sleeps once when level 0 reaches the slowdown threshold.
const SLOWDOWN: Duration = Duration::from_millis(1);

/// How a write is made durable before it is acknowledged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Durability {
    /// The write reached the operating system before the call returns: it survives a
    /// process crash (kill -9) but not power loss until a later `Db::sync()`.
    #[default]
    Buffered,
    /// The write was fsynced (with its group) before the call returns: it survives power loss.
    Sync,
}

/// A queued write.
#[derive(Debug)]
struct Pending {
    batch: WriteBatch,
    sync: bool,
}

impl Pending {
    /// A write's weight in a group: its encoded bytes (groups stop at `MAX_GROUP_BYTES`).
    fn size_bytes(&self) -> usize {
        self.batch.size_bytes()
    }
}

/// State only the current leader touches.
#[derive(Debug)]
pub(crate) struct WriterState {
    pub wal: LogWriter,
    pub wal_num: FileNum,
    pub mem: Arc<MemTable>,
    /// Largest sequence number assigned.
    pub last_seq: SeqNum,
    /// Reused buffer for the group's WAL record.
    record: Vec<u8>,
}

impl WriterState {
    pub fn new(wal: LogWriter, mem: Arc<MemTable>, last_seq: SeqNum) -> Self {
        let wal_num = wal.file_num();
        WriterState { wal, wal_num, mem, last_seq, record: Vec::new() }
    }
}

/// The queue and the leader's state.
#[derive(Debug)]
pub(crate) struct CommitPipeline {
    /// Elects the leader and delivers its group's result (`commit_queue.rs`).
    queue: GroupQueue<Pending, Result<()>>,
    pub writer: Mutex<WriterState>,
}

impl CommitPipeline {
    pub fn new(writer: WriterState) -> Self {
        CommitPipeline { queue: GroupQueue::new(MAX_GROUP_BYTES, Pending::size_bytes), writer: Mutex::new(writer) }
    }
}

impl Inner {
    /// Commits `batch` with `durability`, as part of a group.
    pub fn write(&self, batch: WriteBatch, durability: Durability) -> Result<()> {
        self.check_writable()?;
        if let Some(what) = &batch.invalid {
            return Err(Error::invalid(what.clone()));
        }
        if batch.is_empty() {
            return Ok(());
        }
        let me = Pending { batch, sync: durability == Durability::Sync };
        match self.commit.queue.join(me) {
            Turn::Done(outcome) => outcome,
            Turn::Lead(group) => {
                let outcome = self.commit_group(group.items());
                group.finish(outcome)
            }
        }
    }

    /// The leader's work for one group.
    fn commit_group(&self, group: &[Pending]) -> Result<()> {
        let mut ws = self.commit.writer.lock();
        self.check_writable()?;
        self.make_room(&mut ws)?;
        let count: u32 = group.iter().map(|p| p.batch.count).sum();
        let first_seq = SeqNum(ws.last_seq.0 + 1);
        let mut record = std::mem::take(&mut ws.record);
        record.clear();
        batch::encode_header(&mut record, first_seq, count);
        for p in group {
            record.extend_from_slice(&p.batch.entries);
        }
        let logged = self.log_group(&mut ws, &record, group.iter().any(|p| p.sync));
        if let Err(e) = logged {
            ws.record = record;
            self.poison(&e);
            return Err(e);
        }
        let mem = ws.mem.clone();
        let last = batch::decode_record(&record, |e| mem.insert(e.key, e.seq, e.kind, e.value))
            .expect("INV-WAL-1: a record this leader just encoded decodes");
        ws.record = record;
        ws.last_seq = last;
        self.visible_seq.store(last.0, Ordering::Release);
        Stats::add(&self.stats.writes, u64::from(count));
        Stats::add(&self.stats.commit_groups, 1);
        Ok(())
    }

    fn log_group(&self, ws: &mut WriterState, record: &[u8], sync: bool) -> Result<()> {
        ws.wal.add_record(record)?;
        Stats::add(&self.stats.wal_bytes_written, record.len() as u64);
        if sync {
            ws.wal.sync()?;
            Stats::add(&self.stats.wal_syncs, 1);
        }
        Ok(())
    }

    /// Waits out write stalls and switches the memtable when it is full.
    fn make_room(&self, ws: &mut WriterState) -> Result<()> {
        let mut slowed = false;
        let started = Instant::now();
        let mut seen = self.progress();
        let outcome = loop {
            self.check_writable()?;
            let sv = self.super_version();
            let l0 = sv.l0_tables();
            if sv.imms.len() >= self.opts.max_immutable_memtables
                && ws.mem.approximate_size_bytes() >= self.opts.memtable_size_bytes
                || l0 >= self.opts.l0_files_stop
            {
                self.signal_background();
                if self.wait_for_progress(&mut seen, Duration::from_millis(10))
                    && let Some(e) = self.background_error(false)
                {
                    break Err(e);
                }
            } else if l0 >= self.opts.l0_files_slowdown && !slowed {
                slowed = true;
                std::thread::sleep(SLOWDOWN);
            } else if ws.mem.approximate_size_bytes() >= self.opts.memtable_size_bytes {
                self.switch_memtable(ws)?;
            } else {
                break Ok(());
            }
        };
        if slowed || started.elapsed() > Duration::from_millis(1) {
            Stats::add(&self.stats.stall_micros, started.elapsed().as_micros() as u64);
        }
        outcome
    }

    /// Seals the active memtable and starts a new WAL. REQUIRES: the caller holds the
    /// writer state (it is `ws`). The old WAL is synced first, so every WAL but the newest is
    /// complete on disk (INV-WAL-2) and recovery can call damage in it corruption.
    pub fn switch_memtable(&self, ws: &mut WriterState) -> Result<()> {
        if ws.mem.is_empty() {
            return Ok(());
        }
        if let Err(e) = ws.wal.sync() {
            self.poison(&e);
            return Err(e);
        }
        Stats::add(&self.stats.wal_syncs, 1);
        let mut versions = self.versions.lock();
        let wal_num = versions.alloc_file_num();
        let path = wal_path(&self.dir, wal_num);
        let wal = self.vfs.create(&path).and_then(|f| LogWriter::create(f, path.clone(), wal_num, LogKind::Wal));
        let wal = match wal.and_then(|w| self.vfs.sync_dir(&self.dir).map(|()| w)) {
            Ok(w) => w,
            Err(e) => {
                // Nothing was written to the new WAL; the old one stays active. Removing the
                // stray file is best effort (recovery ignores a WAL torn inside its header).
                let _ = self.vfs.remove_file(&path);
                return Err(e);
            }
        };
        let old_wal = std::mem::replace(&mut ws.wal, wal);
        let old_wal_num = std::mem::replace(&mut ws.wal_num, wal_num);
        let sealed = std::mem::replace(&mut ws.mem, Arc::new(MemTable::new()));
        let imm = Arc::new(Imm { mem: sealed, wal_num: old_wal_num, largest_seq: ws.last_seq });
        let mem = ws.mem.clone();
        self.install(|cur| {
            let imms = std::iter::once(imm).chain(cur.imms.iter().cloned()).collect();
            cur.with_memtables(mem, wal_num, imms)
        });
        drop(versions);
        // The old WAL was synced above; closing it only releases the descriptor.
        old_wal.close()?;
        self.signal_background();
        Ok(())
    }

    /// Makes every acknowledged write durable.
    pub fn sync_wal(&self) -> Result<()> {
        self.check_writable()?;
        let mut ws = self.commit.writer.lock();
        self.check_writable()?;
        if let Err(e) = ws.wal.sync() {
            self.poison(&e);
            return Err(e);
        }
        Stats::add(&self.stats.wal_syncs, 1);
        Ok(())
    }
}
