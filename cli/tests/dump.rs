//! End-to-end tests of `cairn dump` (docs/tools.md#cairn-dump): every file kind of a database
//! the engine wrote, text and JSON, corrupted and torn files, and the committed golden fixtures
//! of the format crates, whose full dumps are pinned in `tests/testdata/dump/` (regenerate with
//! `CAIRN_REWRITE_FIXTURES=1 cargo test -p cairn-cli --test dump` after a deliberate change).

use std::path::{Path, PathBuf};
use std::process::Command;

use cairn::{Durability, Options};

/// What one run of the binary produced.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts exit status 0 and returns stdout.
    fn ok(self) -> String {
        assert_eq!(self.code, 0, "{self:?}");
        assert_eq!(self.stderr, "", "{self:?}");
        self.stdout
    }

    /// Asserts exit status 3 (the file is corrupt) and a one-line `cairn: ` message naming `offset`.
    fn corrupt_at(self, offset: u64) -> Run {
        assert_eq!(self.code, 3, "{self:?}");
        assert!(self.stderr.starts_with("cairn: corruption in "), "{self:?}");
        assert!(self.stderr.contains(&format!(" at offset {offset}: ")), "{self:?}");
        assert_eq!(self.stderr.lines().count(), 1, "{self:?}");
        self
    }
}

/// Runs `cairn ARGS...` in `cwd`.
fn cairn_in(cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .current_dir(cwd)
        .env_remove("CAIRN_DB")
        .output()
        .expect("run the cairn binary");
    Run {
        code: out.status.code().expect("exited normally"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// Runs `cairn dump PATH ARGS...`.
fn dump(path: &Path, args: &[&str]) -> Run {
    let mut full = vec!["dump", path.to_str().expect("test paths are UTF-8")];
    full.extend_from_slice(args);
    cairn_in(Path::new("."), &full)
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("cairn-dump-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The database every test dumps, with its files found by name.
struct Database {
    dir: TempDir,
    wal: PathBuf,
    sst: PathBuf,
    manifest: PathBuf,
}

/// Writes seqs 1-4 (`a`, `b`, `c` set, `b` deleted), flushes them into one SSTable, then
/// commits seqs 5-8 with `Durability::Sync` (`d` set, `a` deleted, a batch setting `e` and `f`)
/// and drops the database without closing it, so the WAL holds three batch records and no
/// sync marker.
fn database(name: &str) -> Database {
    let dir = TempDir::new(name);
    let db = Options::default().open(&dir.0).expect("open");
    db.put(b"a", b"v-a").expect("put");
    db.put(b"b", b"v-b").expect("put");
    db.put(b"c", b"v-c").expect("put");
    db.delete(b"b").expect("delete");
    db.flush().expect("flush");
    let mut one = db.batch();
    one.put(b"d", b"value-d");
    db.write_with(one, Durability::Sync).expect("write d");
    let mut two = db.batch();
    two.delete(b"a");
    db.write_with(two, Durability::Sync).expect("delete a");
    let mut three = db.batch();
    three.put(b"e", b"\xff\x00").put(b"f", b"v-f");
    db.write_with(three, Durability::Sync).expect("write e, f");
    drop(db);
    let find = |suffix: &str| {
        let mut names: Vec<String> = std::fs::read_dir(&dir.0)
            .expect("list")
            .map(|e| e.expect("entry").file_name().into_string().expect("UTF-8 name"))
            .filter(|n| n.ends_with(suffix) || n.starts_with(suffix))
            .collect();
        names.sort();
        dir.0.join(names.last().unwrap_or_else(|| panic!("no {suffix} file")))
    };
    let (wal, sst, manifest) = (find(".wal"), find(".sst"), find("MANIFEST-"));
    Database { dir, wal, sst, manifest }
}

/// Opens a database this test has just dropped. `LOCK` is an `flock`, which belongs to the open
/// file description: a `cairn` child that another test thread spawns at that moment holds a copy
/// of the descriptor until it execs, so the lock can outlive the drop by that long (seen once
/// in CI on a loaded machine). Retries `Locked` for up to 5 s.
fn reopen(dir: &Path) -> cairn::Db {
    for _ in 0..250 {
        match Options::default().create_if_missing(false).open(dir) {
            Err(cairn::Error::Locked { .. }) => std::thread::sleep(std::time::Duration::from_millis(20)),
            r => return r.expect("reopen"),
        }
    }
    panic!("{} still locked 5 s after its handle was dropped", dir.display())
}

fn file_num_of(path: &Path) -> String {
    let name = path.file_name().and_then(|n| n.to_str()).expect("name");
    name.trim_start_matches("MANIFEST-").split('.').next().expect("number").to_string()
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

/// Every line is one JSON object with a `type`.
fn assert_json_lines(out: &str) {
    for line in out.lines() {
        assert!(line.starts_with("{\"type\":\"") && line.ends_with('}'), "not a JSON object line: {line}");
        assert_eq!(line.matches('{').count(), line.matches('}').count(), "{line}");
    }
}

#[test]
fn wal_dump_shows_header_records_entries_and_end() {
    let db = database("wal");
    let num = file_num_of(&db.wal);
    let out = dump(&db.wal, &["--entries"]).ok();
    let l = lines(&out);
    assert_eq!(l[0], format!("file: {}", db.wal.display()));
    assert_eq!(l[1..3], ["kind: wal", &format!("size_bytes: {}", std::fs::metadata(&db.wal).expect("stat").len())]);
    assert_eq!(l[3], format!("header: magic=CAIRNWAL format_version=1 kind=WAL file_num={num}"));
    let records: Vec<&str> = l.iter().copied().filter(|s| s.starts_with("record ")).collect();
    assert_eq!(records.len(), 3, "{out}");
    assert!(records[0].starts_with("record offset=28 payload_bytes="), "{out}");
    assert!(records[0].ends_with(" first_seq=5 count=1"), "{out}");
    assert!(records[1].ends_with(" first_seq=6 count=1"), "{out}");
    assert!(records[2].ends_with(" first_seq=7 count=2"), "{out}");
    let entries: Vec<&str> = l.iter().copied().filter(|s| s.starts_with("  ")).collect();
    assert_eq!(entries, ["  d#5,SET value_bytes=7", "  a#6,DEL", "  e#7,SET value_bytes=2", "  f#8,SET value_bytes=3"]);
    assert_eq!(l.last(), Some(&"end: clean"));

    let with_values = dump(&db.wal, &["--values"]).ok();
    assert!(with_values.contains("\n  d#5,SET value_bytes=7 value=value-d\n"), "{with_values}");
    assert!(with_values.contains("\n  e#7,SET value_bytes=2 value_hex=ff00\n"), "{with_values}");
    let without = dump(&db.wal, &[]).ok();
    assert!(!without.contains("d#5"), "entries only with --entries: {without}");
}

#[test]
fn wal_dump_as_json() {
    let db = database("wal-json");
    let out = dump(&db.wal, &["--json", "--entries", "--key-format", "hex"]).ok();
    assert_json_lines(&out);
    let l = lines(&out);
    assert!(l[0].starts_with("{\"type\":\"file\",\"path\":"), "{out}");
    assert!(
        l[0].ends_with(&format!(
            ",\"kind\":\"wal\",\"size_bytes\":{}}}",
            std::fs::metadata(&db.wal).expect("stat").len()
        ))
    );
    let num: u64 = file_num_of(&db.wal).parse().expect("number");
    assert_eq!(
        l[1],
        format!(
            "{{\"type\":\"header\",\"torn\":false,\"magic\":\"CAIRNWAL\",\"format_version\":1,\"log_kind\":\"wal\",\"file_num\":{num}}}"
        )
    );
    assert!(l[2].starts_with("{\"type\":\"record\",\"offset\":28,\"payload_bytes\":"), "{out}");
    assert!(l[2].ends_with(",\"sync_marker\":false,\"first_seq\":5,\"count\":1}"), "{out}");
    assert_eq!(
        l[3],
        "{\"type\":\"entry\",\"record_offset\":28,\"key_hex\":\"64\",\"seq\":5,\"kind\":\"SET\",\"value_bytes\":7}"
    );
    assert!(l[5].ends_with(",\"key_hex\":\"61\",\"seq\":6,\"kind\":\"DEL\"}"), "{out}");
    assert_eq!(l.last(), Some(&"{\"type\":\"end\",\"end\":\"clean\"}"));
}

#[test]
fn sst_dump_shows_properties_entries_and_verify() {
    let db = database("sst");
    let num = file_num_of(&db.sst);
    let out = dump(&db.sst, &["--entries"]).ok();
    let l = lines(&out);
    assert_eq!(l[1], "kind: sst");
    assert_eq!(l[2], format!("size_bytes: {}", std::fs::metadata(&db.sst).expect("stat").len()));
    assert_eq!(l[3], "properties:");
    for want in [
        format!("  file_num: {num}"),
        "  format_version: 2".to_string(),
        "  entries: 4".to_string(),
        "  tombstones: 1".to_string(),
        "  smallest_seq: 1".to_string(),
        "  largest_seq: 4".to_string(),
        "  smallest_key: a#1,SET".to_string(),
        "  largest_key: c#3,SET".to_string(),
        "  compression: none".to_string(),
    ] {
        assert!(l.contains(&want.as_str()), "missing {want:?} in {out}");
    }
    for field in ["data_blocks", "raw_key_bytes", "filter_bits_per_key", "restart_interval", "block_size_bytes"] {
        assert!(l.iter().any(|s| s.starts_with(&format!("  {field}: "))), "missing {field} in {out}");
    }
    let data = l.iter().position(|s| *s == "data:").expect("data heading");
    assert_eq!(
        l[data + 1..],
        [
            "  a#1,SET value_bytes=3",
            "  b#4,DEL",
            "  b#2,SET value_bytes=3",
            "  c#3,SET value_bytes=3",
            "verify: ok entries=4"
        ]
    );
    let values = dump(&db.sst, &["--values", "--value-format", "hex"]).ok();
    assert!(values.contains("\n  a#1,SET value_bytes=3 value_hex=762d61\n"), "{values}");
    let plain = dump(&db.sst, &[]).ok();
    assert!(!plain.contains("data:"), "{plain}");
    assert!(plain.ends_with("verify: ok entries=4\n"), "{plain}");
}

#[test]
fn sst_dump_as_json() {
    let db = database("sst-json");
    let out = dump(&db.sst, &["--json", "--values"]).ok();
    assert_json_lines(&out);
    let l = lines(&out);
    assert_eq!(l.len(), 7, "{out}");
    assert!(l[1].starts_with("{\"type\":\"properties\",\"file_num\":"), "{out}");
    for part in [
        "\"entries\":4,\"tombstones\":1,",
        "\"smallest_seq\":1,\"largest_seq\":4,",
        "\"smallest_key\":{\"key\":\"a\",\"seq\":1,\"kind\":\"SET\"},\"largest_key\":{\"key\":\"c\",\"seq\":3,\"kind\":\"SET\"}",
        "\"compression\":\"none\"",
    ] {
        assert!(l[1].contains(part), "missing {part} in {}", l[1]);
    }
    assert_eq!(
        l[2],
        "{\"type\":\"entry\",\"key\":\"a\",\"seq\":1,\"kind\":\"SET\",\"value_bytes\":3,\"value\":\"v-a\"}"
    );
    assert_eq!(l[3], "{\"type\":\"entry\",\"key\":\"b\",\"seq\":4,\"kind\":\"DEL\"}");
    assert_eq!(l[6], "{\"type\":\"verify\",\"ok\":true,\"entries\":4}");
}

#[test]
fn manifest_dump_shows_edits_and_final_version() {
    let db = database("manifest");
    let sst = file_num_of(&db.sst);
    let out = dump(&db.manifest, &[]).ok();
    let l = lines(&out);
    assert_eq!(l[1], "kind: manifest");
    assert_eq!(
        l[3],
        format!("header: magic=CAIRNMAN format_version=1 kind=manifest file_num={}", file_num_of(&db.manifest))
    );
    assert!(l[4].starts_with("record offset=28 payload_bytes="), "{out}");
    let added = format!("  added: L0 {sst}:[a#1,SET-c#3,SET] ");
    assert!(l.iter().any(|s| s.starts_with(&added) && s.ends_with(" seqs=1-4 entries=4 tombstones=1")), "{out}");
    let end = l.iter().position(|s| *s == "end: clean").expect("clean end");
    assert!(l[end + 1].starts_with("version: records="), "{out}");
    assert!(l[end + 1].contains(" last_seq=4"), "{out}");
    assert_eq!(l[end + 2], "L0:");
    assert!(l[end + 3].starts_with(&format!("  {sst}:[a#1,SET-c#3,SET] ")), "{out}");
    assert_eq!(l.len(), end + 4, "{out}");

    let hex = dump(&db.manifest, &["--key-format", "hex"]).ok();
    assert!(hex.contains(&format!("  {sst}:[61#1,SET-63#3,SET] ")), "{hex}");

    let json = dump(&db.manifest, &["--json"]).ok();
    assert_json_lines(&json);
    let jl = lines(&json);
    let version = jl.last().expect("version line");
    assert!(version.starts_with("{\"type\":\"version\",\"records\":"), "{json}");
    let sst_num: u64 = sst.parse().expect("number");
    assert!(version.contains(&format!("\"levels\":[{{\"level\":0,\"tables\":[{{\"file_num\":{sst_num},")), "{json}");
    assert!(version.contains("\"smallest\":{\"key\":\"a\",\"seq\":1,\"kind\":\"SET\"}"), "{json}");
    assert_eq!(jl[jl.len() - 2], "{\"type\":\"end\",\"end\":\"clean\"}");
}

#[test]
fn current_dump_names_the_manifest() {
    let db = database("current");
    let manifest_name = db.manifest.file_name().and_then(|n| n.to_str()).expect("name").to_string();
    let current = db.dir.0.join("CURRENT");
    let out = dump(&current, &[]).ok();
    assert_eq!(
        lines(&out)[1..],
        [
            "kind: current",
            &format!("size_bytes: {}", manifest_name.len() + 1),
            &format!("content: \"{manifest_name}\\n\""),
            &format!("manifest: {manifest_name} (exists: {})", db.manifest.display()),
        ]
    );
    let json = dump(&current, &["--json"]).ok();
    assert_json_lines(&json);
    let num: u64 = file_num_of(&db.manifest).parse().expect("number");
    assert_eq!(
        lines(&json)[1],
        format!(
            "{{\"type\":\"current\",\"content\":\"{manifest_name}\\n\",\"valid\":true,\"manifest\":\"{manifest_name}\",\"manifest_file_num\":{num},\"manifest_exists\":true}}"
        )
    );

    std::fs::write(&current, b"MANIFEST-1\n").expect("overwrite CURRENT");
    let bad = dump(&current, &[]).corrupt_at(0);
    assert!(bad.stdout.ends_with("content: \"MANIFEST-1\\n\"\n"), "{bad:?}");
    assert!(bad.stderr.contains("MANIFEST-NNNNNN"), "{bad:?}");
}

#[test]
fn corrupted_sst_exits_3_after_printing_its_properties() {
    let db = database("sst-corrupt");
    let mut bytes = std::fs::read(&db.sst).expect("read");
    // The first data block starts right after the 28-byte header.
    bytes[28 + 3] ^= 0x40;
    std::fs::write(&db.sst, &bytes).expect("write");
    let run = dump(&db.sst, &[]).corrupt_at(28);
    assert!(run.stdout.contains("\n  entries: 4\n"), "properties still print: {run:?}");
    assert!(run.stdout.ends_with("verify: corruption at offset 28\n"), "{run:?}");
    let json = dump(&db.sst, &["--json", "--entries"]).corrupt_at(28);
    assert!(
        json.stdout.ends_with("{\"type\":\"verify\",\"ok\":false,\"error\":\"corruption\",\"offset\":28}\n"),
        "{json:?}"
    );

    // A damaged footer fails at open: nothing but the file line can be printed.
    let end = bytes.len() - 1;
    bytes[end] ^= 0x01;
    std::fs::write(&db.sst, &bytes).expect("write");
    let footer = dump(&db.sst, &[]);
    assert_eq!(footer.code, 3, "{footer:?}");
    assert!(footer.stderr.contains("corruption"), "{footer:?}");
    assert!(!footer.stdout.contains("properties:"), "{footer:?}");
}

#[test]
fn corrupted_wal_exits_3_with_the_offset_of_the_bad_record() {
    let db = database("wal-corrupt");
    let mut bytes = std::fs::read(&db.wal).expect("read");
    // Inside the first record's payload. Later records were written after it was synced, so
    // their stamps prove it durable: bit rot, not a torn tail.
    bytes[28 + 7 + 8 + 2] ^= 0x01;
    std::fs::write(&db.wal, &bytes).expect("write");
    let run = dump(&db.wal, &["--entries"]).corrupt_at(28);
    assert!(run.stdout.contains("\nheader: magic=CAIRNWAL "), "{run:?}");
    assert!(run.stdout.ends_with("end: corruption at offset 28\n"), "{run:?}");
    assert!(!run.stdout.contains("record offset="), "nothing after the damage is shown: {run:?}");
    let json = dump(&db.wal, &["--json"]).corrupt_at(28);
    assert!(json.stdout.ends_with("{\"type\":\"end\",\"end\":\"corruption\",\"offset\":28}\n"), "{json:?}");
}

#[test]
fn torn_wal_tail_is_reported_and_is_not_an_error() {
    let db = database("wal-torn");
    let whole = dump(&db.wal, &[]).ok();
    let last_offset: u64 = whole
        .lines()
        .filter_map(|l| l.strip_prefix("record offset="))
        .next_back()
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a last record");
    let bytes = std::fs::read(&db.wal).expect("read");
    std::fs::write(&db.wal, &bytes[..bytes.len() - 2]).expect("truncate");
    let out = dump(&db.wal, &[]).ok();
    assert_eq!(out.lines().filter(|l| l.starts_with("record ")).count(), 2, "{out}");
    assert!(out.ends_with(&format!("end: torn tail at offset {last_offset}\n")), "{out}");
}

#[test]
fn kind_flag_reads_a_renamed_copy_and_rejects_the_wrong_kind() {
    let db = database("kind");
    let copy = db.dir.0.join("table.copy");
    std::fs::copy(&db.sst, &copy).expect("copy");
    let out = dump(&copy, &["--kind", "sst"]).ok();
    assert!(out.contains(&format!("\n  file_num: {}\n", file_num_of(&db.sst))), "number from the header: {out}");
    assert!(out.ends_with("verify: ok entries=4\n"), "{out}");

    let unnamed = dump(&copy, &[]);
    assert_eq!(unnamed.code, 2, "{unnamed:?}");
    assert!(unnamed.stderr.contains("--kind"), "{unnamed:?}");
    assert_eq!(unnamed.stdout, "");

    let wrong = dump(&db.manifest, &["--kind", "wal"]).corrupt_at(0);
    assert!(wrong.stderr.contains("expected a WAL log"), "{wrong:?}");
    assert!(wrong.stdout.contains("header: magic=CAIRNMAN "), "{wrong:?}");
}

#[test]
fn dump_reads_files_of_an_open_database_and_never_creates_any() {
    let db = database("live");
    let live = reopen(&db.dir.0);
    let sst_name = db.sst.file_name().and_then(|n| n.to_str()).expect("name").to_string();
    let out = cairn_in(&db.dir.0, &["dump", &sst_name]).ok();
    assert!(out.starts_with(&format!("file: {sst_name}\n")), "{out}");
    live.close().expect("close");

    let missing = db.dir.0.join("999999.wal");
    let run = dump(&missing, &[]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.starts_with("cairn: I/O error during open of "), "{run:?}");
    assert!(!missing.exists());
}

/// The repository root, so that golden fixtures are named by stable relative paths.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Compares `actual` with `tests/testdata/dump/NAME`, rewriting it when asked to.
fn expect_testdata(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/dump").join(name);
    if std::env::var("CAIRN_REWRITE_FIXTURES").as_deref() == Ok("1") {
        std::fs::write(&path, actual).expect("write testdata");
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert_eq!(actual, expected, "the dump of {name} changed; see {}", path.display());
}

#[test]
fn golden_sstable_fixture_dumps_exactly() {
    let text = cairn_in(&repo_root(), &["dump", "sstable/tests/fixtures/v1/000007.sst", "--values"]).ok();
    expect_testdata("sstable-000007.txt", &text);
    let json = cairn_in(&repo_root(), &["dump", "sstable/tests/fixtures/v1/000007.sst", "--json", "--entries"]).ok();
    assert_json_lines(&json);
    expect_testdata("sstable-000007.jsonl", &json);
}

#[test]
fn golden_manifest_fixture_dumps_exactly() {
    let text = cairn_in(&repo_root(), &["dump", "manifest/tests/fixtures/v1/MANIFEST-000001"]).ok();
    expect_testdata("manifest-000001.txt", &text);
    let json = cairn_in(&repo_root(), &["dump", "manifest/tests/fixtures/v1/MANIFEST-000001", "--json"]).ok();
    assert_json_lines(&json);
    expect_testdata("manifest-000001.jsonl", &json);
    let current = cairn_in(&repo_root(), &["dump", "manifest/tests/fixtures/v1/CURRENT"]).ok();
    expect_testdata("manifest-current.txt", &current);
}

/// The WAL fixture tests the framing only: its payloads are not batches, so as a WAL it is
/// corrupt. The dump still shows every record and a clean end before reporting that.
#[test]
fn golden_wal_fixture_dumps_its_framing_and_rejects_its_payloads() {
    let run = cairn_in(&repo_root(), &["dump", "wal/tests/fixtures/v1/000007.wal", "--entries"]).corrupt_at(43);
    assert!(run.stderr.contains("WAL record: "), "{run:?}");
    expect_testdata("wal-000007.txt", &run.stdout);
    let json = cairn_in(&repo_root(), &["dump", "wal/tests/fixtures/v1/000007.wal", "--json"]).corrupt_at(43);
    assert_json_lines(&json.stdout);
    expect_testdata("wal-000007.jsonl", &json.stdout);
}

#[test]
fn damaged_manifest_shows_the_version_before_the_damage() {
    let db = database("manifest-damage");
    let bytes = std::fs::read(&db.manifest).expect("read");
    let whole = dump(&db.manifest, &[]).ok();
    let offsets: Vec<usize> = whole
        .lines()
        .filter_map(|l| l.strip_prefix("record offset="))
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .collect();
    assert_eq!(offsets.len(), 2, "{whole}");

    // The last record is never witnessed as synced: damage there is a torn tail.
    let mut torn = bytes.clone();
    torn[offsets[1] + 7 + 8] ^= 0x01;
    std::fs::write(&db.manifest, &torn).expect("write");
    let out = dump(&db.manifest, &[]).ok();
    assert!(out.contains(&format!("\nend: torn tail at offset {}\n", offsets[1])), "{out}");
    assert!(out.ends_with("version: records=1 log_number=000001 next_file_num=000003 last_seq=0\n(empty)\n"), "{out}");

    // The first record is witnessed by the second one's stamp: damage there is corruption.
    let mut rotten = bytes;
    rotten[offsets[0] + 7 + 8] ^= 0x01;
    std::fs::write(&db.manifest, &rotten).expect("write");
    let run = dump(&db.manifest, &[]).corrupt_at(offsets[0] as u64);
    assert!(
        run.stdout.ends_with(&format!(
            "end: corruption at offset {}\nversion: records=0 log_number=unset next_file_num=unset last_seq=unset\n(empty)\n",
            offsets[0]
        )),
        "{run:?}"
    );
}

#[test]
fn unknown_log_version_is_unsupported() {
    let db = database("wal-version");
    let mut bytes = std::fs::read(&db.wal).expect("read");
    // format_version:u32le at offset 8; checked before the header checksum.
    bytes[8] = 2;
    std::fs::write(&db.wal, &bytes).expect("write");
    let run = dump(&db.wal, &[]);
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(run.stderr, "cairn: unsupported log format version 2\n");
    assert!(run.stdout.ends_with("\nend: unsupported log format version 2\n"), "{run:?}");
    assert!(!run.stdout.contains("header:"), "{run:?}");
}
