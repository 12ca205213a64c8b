//! Helpers shared by the integration tests: in-memory files (mappable or not), a reference model
//! of table contents, and table construction.
#![allow(dead_code, reason = "each test binary uses a different subset of these helpers")]

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use cairn_base::key::compare_internal;
use cairn_base::vfs::{RandomAccessFile, WritableFile};
use cairn_base::{Error, FileNum, InternalKey, Result, SeqNum, ValueKind};
use cairn_sstable::{BlockCache, Table, TableBuilder, TableOptions, TableReaderOptions, TableSummary};

/// A writable file that keeps its bytes in memory and records the size of every append.
#[derive(Debug, Clone, Default)]
pub struct MemWritable {
    pub data: Arc<Mutex<Vec<u8>>>,
    pub appends: Arc<Mutex<Vec<usize>>>,
    pub synced: Arc<Mutex<bool>>,
}

impl WritableFile for MemWritable {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        self.data.lock().expect("lock").extend_from_slice(data);
        self.appends.lock().expect("lock").push(data.len());
        Ok(())
    }
    fn sync(&mut self) -> Result<()> {
        *self.synced.lock().expect("lock") = true;
        Ok(())
    }
    fn size_bytes(&self) -> u64 {
        self.data.lock().expect("lock").len() as u64
    }
    fn close(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// A readable in-memory file; `mappable` decides whether `map()` offers a map.
#[derive(Debug, Clone)]
pub struct MemReadable {
    pub data: Bytes,
    pub mappable: bool,
    pub path: PathBuf,
}

impl RandomAccessFile for MemReadable {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let start = usize::try_from(offset).map_err(|_| Error::invalid("offset"))?;
        let src = start.checked_add(buf.len()).and_then(|end| self.data.get(start..end));
        let src =
            src.ok_or_else(|| Error::io(&self.path, "read", std::io::Error::from(std::io::ErrorKind::UnexpectedEof)))?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn size_bytes(&self) -> u64 {
        self.data.len() as u64
    }
    fn map(&self) -> Result<Option<Bytes>> {
        Ok(self.mappable.then(|| self.data.clone()))
    }
    fn path(&self) -> &Path {
        &self.path
    }
}

/// The encoded internal key `user_key#seq,kind`.
pub fn ik(user_key: &[u8], seq: u64, kind: ValueKind) -> Vec<u8> {
    InternalKey::new(user_key, SeqNum(seq), kind).encoded().to_vec()
}

/// One model entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub user_key: Vec<u8>,
    pub seq: u64,
    pub kind: ValueKind,
    pub value: Vec<u8>,
}

impl Entry {
    pub fn ikey(&self) -> Vec<u8> {
        ik(&self.user_key, self.seq, self.kind)
    }
}

/// Sorts entries into internal-key order (the order a table holds them).
pub fn sort_entries(entries: &mut [Entry]) {
    entries.sort_by(|a, b| compare_internal(&a.ikey(), &b.ikey()));
}

/// What `Table::get(user_key, seq)` must return according to the model.
pub fn model_get(entries: &[Entry], user_key: &[u8], seq: u64) -> Option<(ValueKind, SeqNum, Vec<u8>)> {
    entries
        .iter()
        .filter(|e| e.user_key == user_key && e.seq <= seq)
        .max_by_key(|e| e.seq)
        .map(|e| (e.kind, SeqNum(e.seq), e.value.clone()))
}

/// Index of the first model entry `>= target`.
pub fn model_seek(entries: &[Entry], target: &[u8]) -> Option<usize> {
    entries.iter().position(|e| compare_internal(&e.ikey(), target) != Ordering::Less)
}

/// Index of the last model entry `<= target`.
pub fn model_seek_for_prev(entries: &[Entry], target: &[u8]) -> Option<usize> {
    entries.iter().rposition(|e| compare_internal(&e.ikey(), target) != Ordering::Greater)
}

/// A finished table in memory.
#[derive(Debug, Clone)]
pub struct Built {
    pub bytes: Bytes,
    pub summary: TableSummary,
    pub appends: Vec<usize>,
}

pub fn table_path(file_num: FileNum) -> PathBuf {
    PathBuf::from(format!("{file_num}.sst"))
}

/// Writes `entries` (sorted) as table `file_num`.
pub fn build(entries: &[Entry], opts: &TableOptions, file_num: FileNum) -> Built {
    let file = MemWritable::default();
    let mut b = TableBuilder::new(Box::new(file.clone()), table_path(file_num), file_num, opts).expect("builder");
    for e in entries {
        b.add(&e.ikey(), &e.value).expect("add");
    }
    let summary = b.finish().expect("finish");
    assert!(*file.synced.lock().expect("lock"), "finish syncs");
    let bytes = Bytes::from(file.data.lock().expect("lock").clone());
    let appends = file.appends.lock().expect("lock").clone();
    Built { bytes, summary, appends }
}

/// Opens in-memory table bytes.
pub fn open(bytes: Bytes, file_num: FileNum, mmap: bool, cache: Option<Arc<BlockCache>>) -> Result<Arc<Table>> {
    let file = MemReadable { data: bytes, mappable: mmap, path: table_path(file_num) };
    Table::open(Arc::new(file), file_num, &TableReaderOptions { use_mmap: mmap, cache })
}

/// A small deterministic xorshift generator for non-proptest loops.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// `n` entries with distinct user keys `key000000..`, values of varied sizes, every 5th a tombstone.
pub fn sequential_entries(n: usize, seed: u64) -> Vec<Entry> {
    let mut rng = Rng(seed | 1);
    let mut es: Vec<Entry> = (0..n)
        .map(|i| {
            let kind = if i % 5 == 4 { ValueKind::Delete } else { ValueKind::Set };
            let len = if kind == ValueKind::Delete { 0 } else { rng.below(200) as usize };
            let value = (0..len).map(|j| (i + j) as u8 % 7 + b'a').collect();
            Entry { user_key: format!("key{i:06}").into_bytes(), seq: 1 + rng.below(1000), kind, value }
        })
        .collect();
    sort_entries(&mut es);
    es
}
