//! The manifest log on a real directory: write/replay round trips, the torn-tail rule (a
//! manifest cut anywhere inside its last record replays to the state before it), damage to
//! any earlier byte is a loud error naming the file, and the checks replay makes on the state.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cairn_base::filename::manifest_path;
use cairn_base::vfs::{FileLock, RandomAccessFile, RealFs, Vfs, WritableFile};
use cairn_base::{Error, FileNum, Result, SeqNum};
use cairn_manifest::{ManifestState, ManifestWriter, Version, VersionEdit, read_manifest};
use cairn_wal::{LogKind, LogWriter};
use common::{TempDir, sample_edits, table};
use proptest::prelude::*;

const MANIFEST: FileNum = FileNum(1);

/// The state after each prefix of `edits` (index i: after edits[..=i]).
fn states_after(edits: &[VersionEdit]) -> Vec<ManifestState> {
    let mut states: Vec<ManifestState> = Vec::new();
    for edit in edits {
        let (version, mut log, mut next, mut last) = match states.last() {
            Some(s) => (s.version.clone(), s.log_number, s.next_file_num, s.last_seq),
            None => (Version::default(), FileNum(0), FileNum(0), SeqNum(0)),
        };
        log = edit.log_number.unwrap_or(log);
        next = edit.next_file_num.unwrap_or(next);
        last = edit.last_seq.unwrap_or(last);
        let version = version.apply(edit).expect("sample edits apply");
        states.push(ManifestState { version, log_number: log, next_file_num: next, last_seq: last });
    }
    states
}

/// Writes `edits` as a manifest; returns the file size after each record.
fn write_manifest(dir: &Path, edits: &[VersionEdit]) -> Vec<u64> {
    let mut writer = ManifestWriter::create(&RealFs, dir, MANIFEST, &edits[0]).expect("create");
    let mut ends = vec![writer.size_bytes()];
    for edit in &edits[1..] {
        writer.append(edit).expect("append");
        ends.push(writer.size_bytes());
    }
    assert_eq!(writer.file_num(), MANIFEST);
    writer.close().expect("close");
    ends
}

fn corruption_file(e: &Error) -> Option<&Path> {
    match e {
        Error::Corruption { file, .. } => Some(file),
        _ => None,
    }
}

#[test]
fn round_trip_rebuilds_every_table_and_counter() {
    let dir = TempDir::new("round-trip");
    let edits = sample_edits();
    write_manifest(dir.path(), &edits);
    let state = read_manifest(&RealFs, dir.path(), MANIFEST).expect("read");
    let expected = states_after(&edits).pop().expect("non-empty");
    assert_eq!(state, expected);
    assert_eq!(state.log_number, FileNum(9));
    assert_eq!(state.next_file_num, FileNum(13));
    assert_eq!(state.last_seq, SeqNum(75));
    assert_eq!(state.version.level(3).len(), 1);
    state.version.check_invariants().expect("invariants");
}

#[test]
fn cut_inside_last_record_replays_previous_state() {
    let dir = TempDir::new("torn");
    let edits = sample_edits();
    let ends = write_manifest(dir.path(), &edits);
    let states = states_after(&edits);
    let path = manifest_path(dir.path(), MANIFEST);
    let full = std::fs::read(&path).expect("read manifest");
    let (last_start, last_end) = (ends[ends.len() - 2], ends[ends.len() - 1]);
    assert_eq!(last_end, full.len() as u64);
    for cut in last_start..last_end {
        std::fs::write(&path, &full[..cut as usize]).expect("truncate");
        let state = read_manifest(&RealFs, dir.path(), MANIFEST).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(state, states[states.len() - 2], "cut at {cut}");
    }
}

#[test]
fn damage_before_last_record_is_loud_and_names_the_manifest() {
    let dir = TempDir::new("flip");
    let edits = sample_edits();
    let ends = write_manifest(dir.path(), &edits);
    let states = states_after(&edits);
    let path = manifest_path(dir.path(), MANIFEST);
    let full = std::fs::read(&path).expect("read manifest");
    let last_start = ends[ends.len() - 2] as usize;
    for at in 0..full.len() {
        let mut bad = full.clone();
        bad[at] ^= 0x10;
        std::fs::write(&path, &bad).expect("write damaged manifest");
        match read_manifest(&RealFs, dir.path(), MANIFEST) {
            Err(e @ Error::Corruption { .. }) => assert_eq!(corruption_file(&e), Some(path.as_path()), "{e}"),
            // A flipped format-version byte in the header reads as a newer format.
            Err(Error::Unsupported { .. }) => assert!((8..12).contains(&at), "byte {at}"),
            // The last record was never acknowledged unless it was synced; damage there reads as
            // a torn tail, never as a different state.
            Ok(state) if at >= last_start => assert_eq!(state, states[states.len() - 2], "byte {at}"),
            other => panic!("flip at byte {at}: {other:?}"),
        }
    }
}

#[test]
fn manifest_without_records_is_corruption() {
    let dir = TempDir::new("empty");
    let path = manifest_path(dir.path(), MANIFEST);
    let file = RealFs.create(&path).expect("create");
    LogWriter::create(file, path.clone(), MANIFEST, LogKind::Manifest).expect("header").close().expect("close");
    let err = read_manifest(&RealFs, dir.path(), MANIFEST).expect_err("no records");
    assert_eq!(corruption_file(&err), Some(path.as_path()), "{err}");
}

/// Writes raw payloads as manifest records (no encoding checks).
fn write_raw(dir: &Path, records: &[Vec<u8>]) -> Vec<u64> {
    let path = manifest_path(dir, MANIFEST);
    let mut log =
        LogWriter::create(RealFs.create(&path).expect("create"), path, MANIFEST, LogKind::Manifest).expect("log");
    let mut starts = Vec::new();
    for r in records {
        starts.push(log.size_bytes());
        log.add_record(r).expect("add");
    }
    log.sync().expect("sync");
    log.close().expect("close");
    starts
}

fn encoded(edit: &VersionEdit) -> Vec<u8> {
    let mut buf = Vec::new();
    edit.encode(&mut buf);
    buf
}

#[test]
fn edit_that_does_not_apply_is_corruption_at_its_record() {
    let dir = TempDir::new("bad-apply");
    let edits = sample_edits();
    let bad = VersionEdit { deleted: vec![(4, FileNum(99))], ..VersionEdit::default() };
    let starts = write_raw(dir.path(), &[encoded(&edits[0]), encoded(&bad), encoded(&edits[1])]);
    match read_manifest(&RealFs, dir.path(), MANIFEST) {
        Err(Error::Corruption { file, offset, what }) => {
            assert_eq!(file, manifest_path(dir.path(), MANIFEST));
            assert_eq!(offset, starts[1]);
            assert!(what.contains("000099"), "{what}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn undecodable_record_is_corruption_and_unknown_version_unsupported() {
    let dir = TempDir::new("bad-decode");
    let first = encoded(&sample_edits()[0]);
    write_raw(dir.path(), &[first.clone(), vec![1, 0x7f]]);
    let err = read_manifest(&RealFs, dir.path(), MANIFEST).expect_err("unknown tag");
    assert!(err.is_corruption(), "{err}");
    let dir = TempDir::new("bad-version");
    write_raw(dir.path(), &[first, vec![9]]);
    let err = read_manifest(&RealFs, dir.path(), MANIFEST).expect_err("unknown version");
    assert!(matches!(err, Error::Unsupported { version: 9, .. }), "{err}");
}

#[test]
fn replay_checks_counters() {
    let dir = TempDir::new("no-counters");
    let no_counters = VersionEdit { added: vec![(1, table(3, "a", "b", 1))], ..VersionEdit::default() };
    write_raw(dir.path(), &[encoded(&no_counters)]);
    assert!(read_manifest(&RealFs, dir.path(), MANIFEST).is_err_and(|e| e.is_corruption()));

    let dir = TempDir::new("table-beyond-next");
    let beyond = VersionEdit {
        log_number: Some(FileNum(1)),
        next_file_num: Some(FileNum(3)),
        last_seq: Some(SeqNum(5)),
        added: vec![(1, table(3, "a", "b", 1))],
        ..VersionEdit::default()
    };
    write_raw(dir.path(), &[encoded(&beyond)]);
    let err = read_manifest(&RealFs, dir.path(), MANIFEST).expect_err("table 3 >= next 3");
    assert!(err.to_string().contains("next_file_num"), "{err}");
}

#[test]
fn create_requires_a_full_initial_state() {
    let dir = TempDir::new("partial-initial");
    let err = ManifestWriter::create(&RealFs, dir.path(), MANIFEST, &VersionEdit::default()).expect_err("partial");
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
}

/// A file system whose syncs fail once `fail` is set.
#[derive(Debug)]
struct FailingSync {
    fail: Arc<AtomicBool>,
}

#[derive(Debug)]
struct FailingFile {
    inner: Box<dyn WritableFile>,
    fail: Arc<AtomicBool>,
}

impl WritableFile for FailingFile {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        self.inner.append(data)
    }
    fn sync(&mut self) -> Result<()> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::io("manifest", "fsync", std::io::Error::other("injected")));
        }
        self.inner.sync()
    }
    fn size_bytes(&self) -> u64 {
        self.inner.size_bytes()
    }
    fn close(self: Box<Self>) -> Result<()> {
        self.inner.close()
    }
}

impl Vfs for FailingSync {
    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        Ok(Box::new(FailingFile { inner: RealFs.create(path)?, fail: self.fail.clone() }))
    }
    fn open(&self, path: &Path) -> Result<Arc<dyn RandomAccessFile>> {
        RealFs.open(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        RealFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> Result<()> {
        RealFs.remove_file(path)
    }
    fn list_dir(&self, dir: &Path) -> Result<Vec<String>> {
        RealFs.list_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        RealFs.create_dir_all(dir)
    }
    fn sync_dir(&self, dir: &Path) -> Result<()> {
        RealFs.sync_dir(dir)
    }
    fn exists(&self, path: &Path) -> Result<bool> {
        RealFs.exists(path)
    }
    fn lock(&self, path: &Path) -> Result<Box<dyn FileLock>> {
        RealFs.lock(path)
    }
}

#[test]
fn failed_sync_refuses_every_later_append() {
    let dir = TempDir::new("poison");
    let fail = Arc::new(AtomicBool::new(false));
    let vfs = FailingSync { fail: fail.clone() };
    let edits = sample_edits();
    let mut writer = ManifestWriter::create(&vfs, dir.path(), MANIFEST, &edits[0]).expect("create");
    fail.store(true, Ordering::SeqCst);
    assert!(matches!(writer.append(&edits[1]), Err(Error::Io { .. })));
    fail.store(false, Ordering::SeqCst);
    // Never retried, even once the device recovers.
    assert!(matches!(writer.append(&edits[2]), Err(Error::Poisoned { .. })));
}

/// Random valid histories: flushes into L0 and compactions of L0 into L1.
fn arb_history() -> impl Strategy<Value = Vec<VersionEdit>> {
    prop::collection::vec((any::<bool>(), 0u8..20, 0u8..20), 1..12).prop_map(|ops| {
        let mut version = Version::default();
        let mut next_file = 2u64;
        let mut seq = 1u64;
        let mut edits = vec![VersionEdit {
            log_number: Some(FileNum(1)),
            next_file_num: Some(FileNum(next_file)),
            last_seq: Some(SeqNum(0)),
            ..VersionEdit::default()
        }];
        for (flush, a, b) in ops {
            let (lo, hi) = (char::from(b'a' + a.min(b)).to_string(), char::from(b'a' + a.max(b)).to_string());
            let mut edit = VersionEdit::default();
            if !flush {
                edit.deleted = version.level(0).iter().map(|t| (0, t.file_num)).collect();
                edit.deleted
                    .extend(version.overlapping(1, lo.as_bytes(), hi.as_bytes()).iter().map(|t| (1, t.file_num)));
            }
            edit.added = vec![(usize::from(!flush), table(next_file, &lo, &hi, seq))];
            next_file += 1;
            seq += 10;
            edit.next_file_num = Some(FileNum(next_file));
            edit.last_seq = Some(SeqNum(seq));
            edit.log_number = flush.then_some(FileNum(next_file - 1));
            if let Ok(v) = version.apply(&edit) {
                version = v;
                edits.push(edit);
            }
        }
        edits
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn random_histories_round_trip(edits in arb_history()) {
        let dir = TempDir::new("prop");
        write_manifest(dir.path(), &edits);
        let state = read_manifest(&RealFs, dir.path(), MANIFEST).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expected = states_after(&edits).pop().expect("non-empty");
        prop_assert_eq!(&state, &expected);
        // A new manifest started from the snapshot of that state replays to the same state.
        let mut snapshot = state.version.snapshot_edit();
        snapshot.log_number = Some(state.log_number);
        snapshot.next_file_num = Some(state.next_file_num);
        snapshot.last_seq = Some(state.last_seq);
        let dir2 = TempDir::new("prop-snapshot");
        write_manifest(dir2.path(), &[snapshot]);
        let again = read_manifest(&RealFs, dir2.path(), MANIFEST).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(again, state);
    }
}
