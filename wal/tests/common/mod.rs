//! Shared helpers for the `cairn-wal` scenario tests: an in-memory file that counts appends and
//! syncs, a log builder that remembers where every record lies and what it was stamped with,
//! an independent walk of the fragment layout, and the recovery oracle the tests compare with.
#![allow(dead_code, reason = "each test binary uses a different subset of these helpers")]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use cairn_base::vfs::WritableFile;
use cairn_base::{Error, FileNum, Result};
use cairn_wal::format::{BLOCK_SIZE_BYTES, FRAGMENT_HEADER_BYTES, HEADER_BYTES};
use cairn_wal::{LogEnd, LogKind, LogReader, LogWriter};

/// The file number most tests use.
pub const FILE_NUM: FileNum = FileNum(7);

/// An in-memory writable file; clones share the same bytes.
#[derive(Debug, Default, Clone)]
pub struct MemFile {
    inner: Arc<Mutex<MemState>>,
}

/// What a [`MemFile`] saw.
#[derive(Debug, Default, Clone)]
pub struct MemState {
    /// Bytes appended so far.
    pub data: Vec<u8>,
    /// Number of `append` calls.
    pub appends: usize,
    /// Length of `data` at the last `sync`.
    pub synced_len: usize,
}

impl MemFile {
    /// A copy of the state.
    pub fn state(&self) -> MemState {
        self.inner.lock().expect("test mutex poisoned").clone()
    }
}

impl WritableFile for MemFile {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        let mut s = self.inner.lock().expect("test mutex poisoned");
        s.appends += 1;
        s.data.extend_from_slice(data);
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        let mut s = self.inner.lock().expect("test mutex poisoned");
        s.synced_len = s.data.len();
        Ok(())
    }

    fn size_bytes(&self) -> u64 {
        self.inner.lock().expect("test mutex poisoned").data.len() as u64
    }

    fn close(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// One record to write, and whether to sync right after adding it.
#[derive(Debug, Clone)]
pub struct Step {
    pub payload: Vec<u8>,
    pub sync_after: bool,
}

/// Where a written record lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// The log size before the record was added (its padding, if any, starts here).
    pub start: u64,
    /// The log size after.
    pub end: u64,
    /// `synced_bytes()` when it was added: the stamp it carries.
    pub stamp: u64,
}

/// A written log and the facts the oracle needs.
#[derive(Debug, Clone)]
pub struct Built {
    pub data: Vec<u8>,
    pub placed: Vec<Placed>,
    pub payloads: Vec<Vec<u8>>,
    pub appends: usize,
}

/// A deterministic payload of `len` bytes.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8).collect()
}

/// Writes `steps` with a [`LogWriter`] into memory.
pub fn build(kind: LogKind, file_num: FileNum, steps: &[Step]) -> Built {
    let file = MemFile::default();
    let path = PathBuf::from("mem.log");
    let mut w = LogWriter::create(Box::new(file.clone()), path, file_num, kind).expect("create");
    let mut placed = Vec::new();
    for step in steps {
        let (start, stamp) = (w.size_bytes(), w.synced_bytes());
        w.add_record(&step.payload).expect("add_record");
        placed.push(Placed { start, end: w.size_bytes(), stamp });
        if step.sync_after {
            w.sync().expect("sync");
            assert_eq!(w.synced_bytes(), w.size_bytes());
        }
    }
    let state = file.state();
    assert_eq!(state.data.len() as u64, w.size_bytes());
    assert_eq!(state.synced_len as u64, w.synced_bytes());
    w.close().expect("close");
    Built {
        data: state.data,
        placed,
        payloads: steps.iter().map(|s| s.payload.clone()).collect(),
        appends: state.appends,
    }
}

/// Steps from `(len, sync_after)` pairs with pattern payloads.
pub fn steps(spec: &[(usize, bool)]) -> Vec<Step> {
    spec.iter().enumerate().map(|(i, &(len, sync_after))| Step { payload: pattern(len, i as u8), sync_after }).collect()
}

/// What reading a log produced.
#[derive(Debug)]
pub struct Outcome {
    pub records: Vec<Bytes>,
    /// `Ok(end)` after `Ok(None)`, or the error that stopped reading.
    pub result: Result<LogEnd>,
    pub valid_bytes: u64,
}

/// Reads every record of `data`.
pub fn read(data: &[u8], file_num: FileNum, kind: LogKind) -> Result<Outcome> {
    let mut r = LogReader::new(Bytes::copy_from_slice(data), PathBuf::from("mem.log"), file_num, kind)?;
    let mut records = Vec::new();
    let result = loop {
        match r.next_record() {
            Ok(Some(rec)) => records.push(rec),
            Ok(None) => break Ok(r.end().clone()),
            Err(e) => break Err(e),
        }
    };
    Ok(Outcome { records, result, valid_bytes: r.valid_bytes() })
}

/// Reads a WAL written with [`FILE_NUM`].
pub fn read_wal(data: &[u8]) -> Outcome {
    read(data, FILE_NUM, LogKind::Wal).expect("header")
}

/// The physical spans of a pristine log after its header: each fragment and each block-tail
/// padding, as `(start, end)`. Walks the lengths directly, independently of the crate's parser.
pub fn spans(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = HEADER_BYTES;
    while pos < data.len() {
        let left = BLOCK_SIZE_BYTES - pos % BLOCK_SIZE_BYTES;
        let end = if left < FRAGMENT_HEADER_BYTES {
            pos + left
        } else {
            pos + FRAGMENT_HEADER_BYTES + usize::from(u16::from_le_bytes([data[pos + 4], data[pos + 5]]))
        };
        out.push((pos, end));
        pos = end;
    }
    out
}

/// The span containing byte `at`.
pub fn span_of(data: &[u8], at: usize) -> (usize, usize) {
    *spans(data).iter().find(|&&(s, e)| s <= at && at < e).expect("byte inside a span")
}

/// What recovery must report when the bytes of record `k` are damaged (and nothing else is):
/// corruption at `bad_offset` if a later record's stamp covers record `k`, otherwise records
/// `0..k` and a torn tail at the end of record `k - 1`.
pub fn expected_after_damage(built: &Built, k: usize, bad_offset: usize) -> (usize, std::result::Result<u64, u64>) {
    let covered = built.placed[k + 1..].iter().any(|p| p.stamp > built.placed[k].start);
    if covered { (k, Err(bad_offset as u64)) } else { (k, Ok(built.placed[k].start)) }
}

/// The index of the record whose bytes (padding included) contain `at`.
pub fn record_of(built: &Built, at: u64) -> usize {
    built.placed.iter().position(|p| p.start <= at && at < p.end).expect("byte inside a record")
}

/// Asserts that `out` matches [`expected_after_damage`].
pub fn assert_damage_outcome(built: &Built, out: &Outcome, k: usize, bad_offset: usize, context: &str) {
    let (n, expect) = expected_after_damage(built, k, bad_offset);
    assert_eq!(out.records.len(), n, "{context}: records returned");
    for (got, want) in out.records.iter().zip(&built.payloads) {
        assert_eq!(&got[..], &want[..], "{context}: record content");
    }
    match (&out.result, expect) {
        (Err(Error::Corruption { offset, .. }), Err(want)) => assert_eq!(*offset, want, "{context}: corruption offset"),
        (Ok(LogEnd::TornTail { offset }), Ok(want)) => {
            assert_eq!(*offset, want, "{context}: torn tail offset");
            assert_eq!(out.valid_bytes, want, "{context}: valid_bytes");
        }
        (got, want) => panic!("{context}: got {got:?}, want {want:?} (Err = corruption at, Ok = torn tail at)"),
    }
}

/// Asserts that `records` is a prefix of `payloads`.
pub fn assert_prefix(records: &[Bytes], payloads: &[Vec<u8>], context: &str) {
    assert!(records.len() <= payloads.len(), "{context}: more records than written");
    for (i, (got, want)) in records.iter().zip(payloads).enumerate() {
        assert_eq!(&got[..], &want[..], "{context}: record {i} differs");
    }
}
