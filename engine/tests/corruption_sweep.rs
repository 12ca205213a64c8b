//! The corruption sweep (DESIGN.md §8; G5 "no silent corruption"): every byte of every file of a
//! committed fixture database (`tests/fixtures/sweep-v2/`, see `support::sweep_fixture`) is
//! damaged in turn, and the damaged copy is opened, checked and read in full.
//!
//! Mutations: each byte XORed with 0xFF (default), or each of its 8 single-bit flips
//! (`CAIRN_SWEEP_LONG=1`); each file truncated at every log record boundary (WAL, manifest), at 64
//! evenly spaced offsets (tables), at every length (`CURRENT`); each 4 KiB page zeroed.
//!
//! For each damaged copy (in memory): `open`, `check()`, `get` of every key, a full scan both
//! ways. The outcome is classified:
//! * **detected**: some call returned `Error::Corruption`, or `Error::Unsupported` for damage in
//!   a version, flags or reserved field (which the formats check before the checksum so that a
//!   newer file is refused rather than called corrupt), and every value that was read is right;
//! * **benign**: every read succeeds and shows a state the format documents as a legitimate
//!   outcome of damage to those bytes (each class is justified where it is defined, citing the
//!   spec);
//! * **undetectable by design**: the two documented limits of a log that has no later record to
//!   vouch for its tail (both need the damage to remove or wipe everything after some record of
//!   the newest WAL); the state must then be exactly the one after a prefix of the commits;
//! * **wrong error**: an error of another variant (e.g. `Io` for a damaged `CURRENT`);
//! * **silent**: any wrong value, missing or extra key, or a success the spec does not explain.
//!
//! Wrong errors and silent outcomes must be zero. Run with `--nocapture` to see the table.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn::Error;
use cairn_base::FileNum;
use cairn_base::filename::{FileKind, parse_file_name};
use cairn_testkit::Model;
use cairn_wal::{LogKind, LogReader};
use support::cases;
use support::memfs::{DbFile, db_dir, fs_with, read_real_dir, write_real_dir};
use support::state::observe;
use support::sweep_fixture::{self, BUFFERED_RECORDS, Fixture, SYNC_RECORDS, fixture_dir};

/// The page size zeroed by the page campaign.
const PAGE_BYTES: usize = 4096;
/// Offsets at which each table is truncated.
const TABLE_TRUNCATIONS: usize = 64;
/// The fixture must stay small.
const MAX_FIXTURE_BYTES: usize = 200 << 10;
/// A case taking longer than this has hung.
const CASE_LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Wal,
    Table,
    Manifest,
    Current,
}

impl Kind {
    fn of(name: &str) -> Kind {
        match parse_file_name(name) {
            Some(FileKind::Wal(_)) => Kind::Wal,
            Some(FileKind::Table(_)) => Kind::Table,
            Some(FileKind::Manifest(_)) => Kind::Manifest,
            Some(FileKind::Current) => Kind::Current,
            other => panic!("unexpected fixture file {name} ({other:?})"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Wal => "WAL",
            Kind::Table => "SSTable",
            Kind::Manifest => "MANIFEST",
            Kind::Current => "CURRENT",
        }
    }
}

/// One way of damaging a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mutation {
    /// XOR the byte at `offset` with `mask`.
    Xor { offset: usize, mask: u8 },
    /// Keep only the first `len` bytes.
    Truncate { len: usize },
    /// Zero the bytes `[start, end)`.
    Zero { start: usize, end: usize },
}

impl Mutation {
    fn apply(self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        match self {
            Mutation::Xor { offset, mask } => out[offset] ^= mask,
            Mutation::Truncate { len } => out.truncate(len),
            Mutation::Zero { start, end } => out[start..end].fill(0),
        }
        out
    }

    /// The bytes of the original file that the mutation changes or removes.
    fn range(self, file_len: usize) -> (usize, usize) {
        match self {
            Mutation::Xor { offset, .. } => (offset, offset + 1),
            Mutation::Truncate { len } => (len, file_len),
            Mutation::Zero { start, end } => (start, end),
        }
    }

    fn describe(self) -> String {
        match self {
            Mutation::Xor { offset, mask } => format!("xor 0x{mask:02x} at {offset}"),
            Mutation::Truncate { len } => format!("truncate to {len}"),
            Mutation::Zero { start, end } => format!("zero [{start}, {end})"),
        }
    }
}

/// What the classification needs to know about one fixture file.
#[derive(Debug, Clone)]
struct FileFacts {
    kind: Kind,
    len: usize,
    /// For logs: offsets just past the header and past each record.
    record_ends: Vec<usize>,
    /// Byte ranges whose damage may legitimately read as `Unsupported`: the version, flags and
    /// reserved fields, which the readers check before the checksum (docs/format/wal.md#file-
    /// header, docs/format/sstable.md#file-layout).
    unsupported: Vec<(usize, usize)>,
}

impl FileFacts {
    fn of(file: &DbFile) -> FileFacts {
        let kind = Kind::of(&file.name);
        let len = file.bytes.len();
        let (record_ends, unsupported) = match kind {
            Kind::Wal | Kind::Manifest => (log_record_ends(file, kind), vec![(8, 12), (13, 16)]),
            Kind::Table => (Vec::new(), vec![(8, 16), (len - 12, len - 8)]),
            Kind::Current => (Vec::new(), Vec::new()),
        };
        FileFacts { kind, len, record_ends, unsupported }
    }
}

/// Offsets just past the header and past each record of an intact log file.
fn log_record_ends(file: &DbFile, kind: Kind) -> Vec<usize> {
    let (num, log_kind) = match parse_file_name(&file.name) {
        Some(FileKind::Wal(n)) => (n, LogKind::Wal),
        Some(FileKind::Manifest(n)) => (n, LogKind::Manifest),
        _ => unreachable!("{kind:?} is a log"),
    };
    let mut reader = LogReader::new(file.bytes.clone().into(), file.name.clone().into(), FileNum(num.0), log_kind)
        .expect("the intact fixture log has a good header");
    let mut ends = vec![reader.valid_bytes() as usize];
    while reader.next_record().expect("the intact fixture log reads").is_some() {
        ends.push(reader.valid_bytes() as usize);
    }
    ends
}

/// The fixture, its facts, and the states a reader may see.
struct Sweep {
    files: Vec<DbFile>,
    facts: Vec<FileFacts>,
    fixture: Fixture,
    /// Offset just past the last record written with `Durability::Sync` in the (only) WAL.
    synced_end: usize,
}

impl Sweep {
    fn load() -> Sweep {
        let dir = fixture_dir();
        assert!(
            dir.join("CURRENT").exists(),
            "no fixture in {}: run with CAIRN_REWRITE_FIXTURES=1 to generate it",
            dir.display()
        );
        let files = read_real_dir(&dir);
        let facts: Vec<FileFacts> = files.iter().map(FileFacts::of).collect();
        let fixture = sweep_fixture::build();
        let wals: Vec<&FileFacts> = facts.iter().filter(|f| f.kind == Kind::Wal).collect();
        assert_eq!(wals.len(), 1, "the fixture holds one WAL");
        let ends = &wals[0].record_ends;
        assert_eq!(ends.len(), 1 + SYNC_RECORDS + BUFFERED_RECORDS, "WAL records: {ends:?}");
        let synced_end = ends[SYNC_RECORDS];
        Sweep { files, facts, fixture, synced_end }
    }
}

/// How one damaged copy behaved.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Class {
    Detected,
    Benign(&'static str),
    Undetectable(&'static str),
    WrongError(String),
    Silent(String),
}

impl Class {
    fn column(&self) -> &'static str {
        match self {
            Class::Detected => "detected",
            Class::Benign(_) => "benign",
            Class::Undetectable(_) => "undetectable",
            Class::WrongError(_) => "wrong-error",
            Class::Silent(_) => "silent",
        }
    }
}

/// A WAL record stored after the last synced one was never promised to survive a power loss
/// (`Durability::Buffered`), and damage to it cannot be told from a write torn by one: no later
/// record's synced-offset stamp covers it (docs/format/wal.md#recovery: "No witness ⇒ a torn
/// tail", and #why-this-is-sound). Dropping it, and everything after it, is what recovery does
/// after a real power loss; the state must then be exactly the synced one plus a prefix of the
/// unsynced records.
const TORN_UNSYNCED_TAIL: &str = "WAL damage at or above the last synced offset, dropped as a torn tail";

/// A log cut exactly at a record boundary ends "Clean" (docs/format/wal.md#edge-cases), and no
/// record is left to vouch for what was cut: the limit of docs/format/wal.md#the-one-
/// undetectable-case, where the damage took the witness with it. Synced bytes vanishing is also
/// outside the medium model (docs/format/wal.md#why-this-is-sound: power loss does not alter
/// synced bytes, bit rot alters bytes but does not shorten files). The state must still be a
/// prefix of the commits (G2).
const CUT_AT_RECORD_BOUNDARY: &str = "newest WAL truncated at a record boundary below the synced offset";

/// Damage that reaches the end of the newest WAL wipes every record that could witness it
/// (docs/format/wal.md#why-this-is-sound, point 2: rot is reported "as long as its first
/// fragment is itself intact and reachable").
const WIPED_THROUGH_END: &str = "newest WAL wiped from a record through its end";

/// The states (besides the full one) a case may show, and what each means.
fn allowed_states(sweep: &Sweep, file: usize, m: Mutation) -> Vec<(&Model, Class)> {
    let facts = &sweep.facts[file];
    if facts.kind != Kind::Wal {
        return Vec::new();
    }
    let (start, end) = m.range(facts.len);
    let prefixes = &sweep.fixture.prefixes;
    if start >= sweep.synced_end {
        return prefixes[SYNC_RECORDS..].iter().map(|p| (p, Class::Benign(TORN_UNSYNCED_TAIL))).collect();
    }
    let cut_at_boundary = matches!(m, Mutation::Truncate { len } if facts.record_ends.contains(&len));
    if cut_at_boundary {
        return prefixes.iter().map(|p| (p, Class::Undetectable(CUT_AT_RECORD_BOUNDARY))).collect();
    }
    let wiped_to_end = matches!(m, Mutation::Zero { .. }) && end == facts.len && start >= facts.record_ends[0];
    if wiped_to_end {
        return prefixes.iter().map(|p| (p, Class::Undetectable(WIPED_THROUGH_END))).collect();
    }
    Vec::new()
}

/// `None` when `e` is an error this damage may cause; otherwise why not.
fn judge_error(sweep: &Sweep, file: usize, m: Mutation, e: &Error) -> Option<Class> {
    let facts = &sweep.facts[file];
    let (start, end) = m.range(facts.len);
    match e {
        Error::Corruption { .. } => None,
        Error::Unsupported { .. } if facts.unsupported.iter().any(|&(s, t)| start < t && s < end) => None,
        other => Some(Class::WrongError(format!("{other:?}"))),
    }
}

fn run_case(sweep: &Sweep, file: usize, m: Mutation) -> Class {
    let mut files = sweep.files.clone();
    files[file].bytes = m.apply(&files[file].bytes);
    let fs = fs_with(&files);
    let db = match sweep_fixture::options(fs, 8).open(db_dir()) {
        Ok(db) => db,
        Err(e) => return judge_error(sweep, file, m, &e).unwrap_or(Class::Detected),
    };
    let checked = db.check();
    let o = observe(&db, &sweep.fixture.universe);
    // The result of close does not matter here: the copy is thrown away.
    let _ = db.close();
    let errors = checked.err().into_iter().chain(o.errors.iter().cloned());
    let mut any_error = false;
    for e in errors {
        if let Some(wrong) = judge_error(sweep, file, m, &e) {
            return wrong;
        }
        any_error = true;
    }
    let full = &sweep.fixture.full;
    let allowed = allowed_states(sweep, file, m);
    if any_error {
        // Values read around the errors must still be right.
        let mut consistent = std::iter::once(full).chain(allowed.iter().map(|(s, _)| *s));
        if consistent.any(|s| o.first_difference(s).is_none()) {
            return Class::Detected;
        }
        let diff = o.first_difference(full).unwrap_or_default();
        return Class::Silent(format!("wrong value beside an error: {diff}"));
    }
    let state = match o.complete_state() {
        Some(Ok(s)) => s,
        Some(Err(e)) => return Class::Silent(e),
        None => unreachable!("no errors, so every read completed"),
    };
    if let Some((_, class)) = allowed.iter().find(|(s, _)| **s == state) {
        return class.clone();
    }
    if state == *full {
        return Class::Silent("unexplained success: nothing changed, but the spec lists no unused bytes here".into());
    }
    Class::Silent(o.first_difference(full).unwrap_or_else(|| "state differs".into()))
}

/// Every case of a campaign: (file index, mutation).
fn flips(sweep: &Sweep) -> Vec<(usize, Mutation)> {
    let long = std::env::var_os("CAIRN_SWEEP_LONG").is_some_and(|v| v == "1");
    let masks: Vec<u8> = if long { (0..8).map(|b| 1u8 << b).collect() } else { vec![0xff] };
    let mut cases = Vec::new();
    for (i, f) in sweep.facts.iter().enumerate() {
        for offset in 0..f.len {
            cases.extend(masks.iter().map(|&mask| (i, Mutation::Xor { offset, mask })));
        }
    }
    cases
}

fn truncations_and_pages(sweep: &Sweep) -> Vec<(usize, Mutation)> {
    let mut cases = Vec::new();
    for (i, f) in sweep.facts.iter().enumerate() {
        let mut lens: Vec<usize> = match f.kind {
            Kind::Wal | Kind::Manifest => std::iter::once(0).chain(f.record_ends.iter().copied()).collect(),
            Kind::Table => (0..TABLE_TRUNCATIONS).map(|k| f.len * k / TABLE_TRUNCATIONS).collect(),
            Kind::Current => (0..f.len).collect(),
        };
        lens.retain(|&l| l < f.len);
        lens.dedup();
        cases.extend(lens.into_iter().map(|len| (i, Mutation::Truncate { len })));
        for start in (0..f.len).step_by(PAGE_BYTES) {
            cases.push((i, Mutation::Zero { start, end: (start + PAGE_BYTES).min(f.len) }));
        }
    }
    cases
}

/// Runs a campaign, prints its table, and asserts no wrong error and no silent outcome.
fn sweep(campaign: &str, make: fn(&Sweep) -> Vec<(usize, Mutation)>) {
    let started = Instant::now();
    let sweep = Arc::new(Sweep::load());
    let cases = make(&sweep);
    let results = cases::run_all(
        cases.clone(),
        cases::workers(),
        CASE_LIMIT,
        {
            let sweep = sweep.clone();
            move |(file, m)| format!("{} {}", sweep.files[*file].name, m.describe())
        },
        {
            let sweep = sweep.clone();
            move |(file, m)| run_case(&sweep, file, m)
        },
    );
    cases::assert_no_failures(campaign, &results);
    let mut table: BTreeMap<Kind, BTreeMap<&'static str, usize>> = BTreeMap::new();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut bad = Vec::new();
    for ((file, m), r) in cases.iter().zip(&results) {
        let class = r.as_ref().expect("failures were reported above");
        *table.entry(sweep.facts[*file].kind).or_default().entry(class.column()).or_default() += 1;
        match class {
            Class::Benign(why) | Class::Undetectable(why) => {
                *reasons.entry(format!("{}: {why}", class.column())).or_default() += 1
            }
            Class::WrongError(why) | Class::Silent(why) => {
                bad.push(format!("{} {} -> {}: {why}", sweep.files[*file].name, m.describe(), class.column()))
            }
            Class::Detected => {}
        }
    }
    print_table(campaign, &sweep, cases.len(), &table, &reasons, started.elapsed());
    assert!(
        bad.is_empty(),
        "{campaign}: {} wrong errors or silent outcomes:\n  {}",
        bad.len(),
        bad.iter().take(30).cloned().collect::<Vec<_>>().join("\n  ")
    );
}

fn print_table(
    campaign: &str,
    sweep: &Sweep,
    cases: usize,
    table: &BTreeMap<Kind, BTreeMap<&'static str, usize>>,
    reasons: &BTreeMap<String, usize>,
    elapsed: Duration,
) {
    println!("corruption sweep: {campaign}: {cases} cases in {elapsed:.1?}");
    let columns = ["detected", "benign", "undetectable", "wrong-error", "silent"];
    println!("  {:<9} {:>5} {:>7} {}", "file kind", "files", "bytes", columns.map(|c| format!("{c:>12}")).join(""));
    for (kind, counts) in table {
        let files: Vec<&FileFacts> = sweep.facts.iter().filter(|f| f.kind == *kind).collect();
        let bytes: usize = files.iter().map(|f| f.len).sum();
        let cells = columns.map(|c| format!("{:>12}", counts.get(c).copied().unwrap_or(0))).join("");
        println!("  {:<9} {:>5} {:>7} {cells}", kind.name(), files.len(), bytes);
    }
    for (why, n) in reasons {
        println!("  {n:>6} {why}");
    }
}

#[test]
fn sweep_fixture_is_reproduced_byte_for_byte() {
    let built = sweep_fixture::build();
    let dir = fixture_dir();
    if std::env::var_os("CAIRN_REWRITE_FIXTURES").is_some_and(|v| v == "1") {
        write_real_dir(&dir, &built.files);
    }
    let committed = read_real_dir(&dir);
    let names = |fs: &[DbFile]| fs.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&committed), names(&built.files), "fixture files (CAIRN_REWRITE_FIXTURES=1 regenerates)");
    for (c, b) in committed.iter().zip(&built.files) {
        assert!(c.bytes == b.bytes, "{} differs from what the writer produces now", c.name);
    }
    let total: usize = committed.iter().map(|f| f.bytes.len()).sum();
    assert!(total < MAX_FIXTURE_BYTES, "fixture is {total} bytes");
    // The shape the sweep relies on: one table in each of L0, L1, L2, one WAL, one manifest.
    let mut kinds: Vec<Kind> = committed.iter().map(|f| Kind::of(&f.name)).collect();
    kinds.sort();
    assert_eq!(kinds, [Kind::Wal, Kind::Table, Kind::Table, Kind::Table, Kind::Manifest, Kind::Current]);
    let db = sweep_fixture::options(fs_with(&committed), 8).open(db_dir()).expect("open the fixture");
    let tables_per_level: Vec<usize> = db.metrics().levels.iter().map(|l| l.tables).collect();
    // Opening replayed the WAL into a second L0 table.
    assert_eq!(&tables_per_level[..3], &[2, 1, 1], "tables per level after open");
    db.check().expect("check");
    let o = observe(&db, &built.universe);
    match o.complete_state() {
        Some(Ok(state)) => assert!(state == built.full, "fixture content: {:?}", o.first_difference(&built.full)),
        other => panic!("reading the fixture: {other:?} {:?}", o.errors),
    }
    db.close().expect("close");
}

#[test]
fn every_byte_flipped_is_detected_never_silent() {
    sweep("every byte flipped", flips);
}

#[test]
fn truncations_and_zeroed_pages_are_detected_never_silent() {
    sweep("truncations and zeroed 4 KiB pages", truncations_and_pages);
}

// ---------------------------------------------------------------------------------------------
// Regressions: silent outcomes and wrong errors the sweep found, frozen as named tests.

/// The committed fixture with `f` applied to the file whose name satisfies `which`; opened.
fn open_damaged(which: fn(&str) -> bool, f: impl FnOnce(&mut Vec<u8>)) -> cairn::Result<cairn::Db> {
    let mut files = read_real_dir(&fixture_dir());
    let file = files.iter_mut().find(|d| which(&d.name)).expect("the fixture holds such a file");
    f(&mut file.bytes);
    sweep_fixture::options(fs_with(&files), 8).open(db_dir())
}

fn expect_corruption_in(r: cairn::Result<cairn::Db>, file_suffix: &str) {
    match r {
        Err(Error::Corruption { file, .. }) => {
            assert!(file.to_string_lossy().ends_with(file_suffix), "corruption names {}", file.display())
        }
        Err(e) => panic!("expected Corruption naming *{file_suffix}, got {e:?}"),
        Ok(_) => panic!("expected Corruption naming *{file_suffix}, but the damaged copy opened"),
    }
}

/// Found by the sweep (every byte of the manifest's last record, and the truncation at its
/// start): the manifest's last edit — the flush that added the L0 table and moved `log_number`
/// past the WAL it replaced — read as a torn tail, and the database opened without that table's
/// data. The WAL `log_number` then names is gone, which recovery now reports.
#[test]
fn lost_last_manifest_edit_is_corruption_not_a_silent_rollback() {
    let is_manifest = |n: &str| n.starts_with("MANIFEST");
    let manifest = read_real_dir(&fixture_dir()).into_iter().find(|f| is_manifest(&f.name)).expect("manifest");
    let ends = FileFacts::of(&manifest).record_ends;
    assert!(ends.len() >= 3, "the fixture manifest holds a full state and a flush edit: {ends:?}");
    let last_start = ends[ends.len() - 2];
    expect_corruption_in(open_damaged(is_manifest, |b| b.truncate(last_start)), ".wal");
    expect_corruption_in(open_damaged(is_manifest, |b| b[last_start + 10] ^= 0x01), ".wal");
}

/// Found by the sweep (the WAL truncated to 0 bytes, and its only page zeroed): the WAL
/// `log_number` names read as a creation torn before its header was written, and every synced
/// record in it was dropped silently. Its header was synced before the manifest named it.
#[test]
fn log_number_wal_with_a_torn_header_is_corruption() {
    let is_wal = |n: &str| n.ends_with(".wal");
    expect_corruption_in(open_damaged(is_wal, |b| b.truncate(0)), ".wal");
    expect_corruption_in(open_damaged(is_wal, |b| b.truncate(20)), ".wal");
    expect_corruption_in(open_damaged(is_wal, |b| b.fill(0)), ".wal");
}

/// A single-bit flip in one of `CURRENT`'s digits (a mutation of the long sweep) names a manifest
/// that does not exist; that was reported as `Io` (file not found), not as corruption of
/// `CURRENT` (found while writing the sweep's error classification; the long sweep now passes).
#[test]
fn current_naming_a_missing_manifest_is_corruption() {
    expect_corruption_in(open_damaged(|n| n == "CURRENT", |b| *b = b"MANIFEST-999999\n".to_vec()), "CURRENT");
}

/// Found by the fuzzer (`fuzz/regressions/batch_replay/overlapping-sequence-numbers-panic-
/// memtable`, listed there as a known failure of `engine/src/recovery.rs`): two checksum-valid
/// WAL records giving one key the same sequence number panicked the memtable during recovery
/// (G9: hostile file content is an error, never a panic).
#[test]
fn wal_records_with_overlapping_sequence_numbers_are_corruption_not_a_panic() {
    let mem = cairn_testkit::CrashFs::new();
    let db = sweep_fixture::options(mem.clone(), 8).open(db_dir()).expect("open");
    drop(db); // The WAL log_number names stays, with no record.
    let wal = mem.file_names(&db_dir()).into_iter().find(|n| n.ends_with(".wal")).expect("a WAL");
    let Some(FileKind::Wal(num)) = parse_file_name(&wal) else { unreachable!("{wal} is a WAL") };
    let path = db_dir().join(&wal);
    let mut w = cairn_wal::LogWriter::create(
        cairn::Vfs::create(&*mem, &path).expect("create"),
        path.clone(),
        num,
        LogKind::Wal,
    )
    .expect("log writer");
    // first_seq = 1, one entry: SET "a" = "v" (docs/format/batch.md); twice.
    let record = [&1u64.to_le_bytes()[..], &1u32.to_le_bytes(), &[1, 1, b'a', 1, b'v']].concat();
    w.add_record(&record).expect("first record");
    w.add_record(&record).expect("second record");
    w.sync().expect("sync");
    drop(w);
    let open = || sweep_fixture::options(mem, 8).open(db_dir()).map(drop);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(open));
    match r {
        Ok(Err(Error::Corruption { file, .. })) => assert_eq!(file, path),
        Ok(other) => panic!("expected Corruption, got {other:?}"),
        Err(_) => panic!("recovery panicked on overlapping sequence numbers"),
    }
}
