//! End-to-end tests of the `cairn` binary: each runs the built executable against its own
//! temporary database directory and checks stdout, stderr and the exit code
//! (docs/tools.md#cairn).

use std::path::{Path, PathBuf};
use std::process::Command;

/// What one run of the binary produced.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// A temporary database directory, removed when dropped.
struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> TempDb {
        let dir = std::env::temp_dir().join(format!("cairn-cli-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDb(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// Runs `cairn --db DIR ARGS...`.
    fn run(&self, args: &[&str]) -> Run {
        let mut full = vec!["--db", self.0.to_str().expect("temp dir is UTF-8")];
        full.extend_from_slice(args);
        cairn(&full)
    }

    /// Runs a command that must succeed and returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(r.code, 0, "cairn {args:?} failed: {r:?}");
        r.stdout
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cairn(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .env_remove("CAIRN_DB")
        .output()
        .expect("run the cairn binary");
    Run {
        code: out.status.code().expect("exited normally"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

/// Extracts the unsigned integer value of `"field":N` from a JSON object line.
fn json_number(obj: &str, field: &str) -> u64 {
    let pat = format!("\"{field}\":");
    let start = obj.find(&pat).unwrap_or_else(|| panic!("no field {field} in {obj}")) + pat.len();
    let digits: String = obj[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("field {field} is not a number in {obj}"))
}

fn fill(db: &TempDb, keys: &[&str]) {
    for k in keys {
        db.ok(&["put", k, &format!("v-{k}")]);
    }
}

#[test]
fn put_get_delete_round_trip() {
    let db = TempDb::new("roundtrip");
    assert_eq!(db.ok(&["put", "greeting", "hello world"]), "");
    assert_eq!(db.ok(&["get", "greeting"]), "hello world\n");
    db.ok(&["put", "greeting", "bonjour"]);
    assert_eq!(db.ok(&["get", "greeting"]), "bonjour\n");
    assert_eq!(db.ok(&["delete", "greeting"]), "");
    let missing = db.run(&["get", "greeting"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert_eq!(missing.stdout, "");
    assert!(missing.stderr.contains("not found"), "{missing:?}");
}

#[test]
fn scan_honours_ranges_prefix_limit_and_reverse() {
    let db = TempDb::new("scan");
    fill(&db, &["a", "b", "c", "d", "u:1", "u:2", "u:3", "v"]);
    let all = db.ok(&["scan"]);
    assert_eq!(
        lines(&all),
        ["a\tv-a", "b\tv-b", "c\tv-c", "d\tv-d", "u:1\tv-u:1", "u:2\tv-u:2", "u:3\tv-u:3", "v\tv-v"]
    );
    assert_eq!(lines(&db.ok(&["scan", "--from", "b", "--to", "d"])), ["b\tv-b", "c\tv-c"]);
    assert_eq!(lines(&db.ok(&["scan", "--from", "u:", "--reverse", "--limit", "2"])), ["v\tv-v", "u:3\tv-u:3"]);
    assert_eq!(lines(&db.ok(&["scan", "--prefix", "u:"])), ["u:1\tv-u:1", "u:2\tv-u:2", "u:3\tv-u:3"]);
    assert_eq!(lines(&db.ok(&["scan", "--prefix", "u:", "--reverse"])), ["u:3\tv-u:3", "u:2\tv-u:2", "u:1\tv-u:1"]);
    assert_eq!(lines(&db.ok(&["scan", "--prefix", "u:", "--from", "u:2"])), ["u:2\tv-u:2", "u:3\tv-u:3"]);
    assert_eq!(lines(&db.ok(&["scan", "--limit", "3"])), ["a\tv-a", "b\tv-b", "c\tv-c"]);
    assert_eq!(db.ok(&["scan", "--limit", "0"]), "");
    assert_eq!(db.ok(&["scan", "--from", "d", "--to", "b"]), "");
    assert_eq!(db.ok(&["scan", "--prefix", "zzz"]), "");
}

#[test]
fn hex_keys_and_values_round_trip() {
    let db = TempDb::new("hex");
    db.ok(&["--key-format", "hex", "--value-format", "hex", "put", "00ff10", "deadBEEF"]);
    db.ok(&["--key-format", "hex", "put", "6b", "text value"]);
    assert_eq!(db.ok(&["--key-format", "hex", "get", "00FF10"]), "deadbeef\n");
    // Not valid UTF-8: shown as hex even in the default formats.
    assert_eq!(db.ok(&["--key-format", "hex", "get", "00ff10"]), "deadbeef\n");
    assert_eq!(db.ok(&["get", "k"]), "text value\n");
    assert_eq!(db.ok(&["--value-format", "hex", "get", "k"]), "746578742076616c7565\n");
    assert_eq!(lines(&db.ok(&["--key-format", "hex", "scan"])), ["00ff10\tdeadbeef", "6b\ttext value"]);
    assert_eq!(lines(&db.ok(&["scan"])), ["00ff10\tdeadbeef", "k\ttext value"]);
    assert_eq!(lines(&db.ok(&["--key-format", "hex", "scan", "--prefix", "00"])), ["00ff10\tdeadbeef"]);
}

#[test]
fn json_output_has_the_documented_shapes() {
    let db = TempDb::new("json");
    db.ok(&["put", "k1", "plain"]);
    db.ok(&["put", "k2", "say \"hi\"\n\ttab"]);
    db.ok(&["--value-format", "hex", "put", "k3", "ff00"]);

    assert_eq!(db.ok(&["--json", "get", "k1"]), "{\"key\":\"k1\",\"found\":true,\"value\":\"plain\"}\n");
    assert_eq!(
        db.ok(&["get", "k2", "--json"]),
        "{\"key\":\"k2\",\"found\":true,\"value\":\"say \\\"hi\\\"\\n\\ttab\"}\n"
    );
    assert_eq!(db.ok(&["get", "k3", "--json"]), "{\"key\":\"k3\",\"found\":true,\"value_hex\":\"ff00\"}\n");
    let missing = db.run(&["--json", "get", "nope"]);
    assert_eq!(missing.code, 1);
    assert_eq!(missing.stdout, "{\"key\":\"nope\",\"found\":false}\n");

    let scan = db.ok(&["--json", "--key-format", "hex", "scan"]);
    assert_eq!(
        lines(&scan),
        [
            "{\"key_hex\":\"6b31\",\"value\":\"plain\"}",
            "{\"key_hex\":\"6b32\",\"value\":\"say \\\"hi\\\"\\n\\ttab\"}",
            "{\"key_hex\":\"6b33\",\"value_hex\":\"ff00\"}",
        ]
    );

    let check = db.ok(&["--json", "check"]);
    assert_eq!(lines(&check).len(), 1, "{check}");
    assert!(check.starts_with("{\"ok\":true,\"tables\":"), "{check}");
    // How many entries sit in tables (rather than the WAL) is the engine's choice; the shape is ours.
    json_number(&check, "tables");
    json_number(&check, "entries");
    json_number(&check, "bytes");

    let stats = db.ok(&["--json", "stats"]);
    assert_eq!(lines(&stats).len(), 1, "{stats}");
    assert!(stats.starts_with("{\"levels\":[") && stats.ends_with("}\n"), "{stats}");
    for field in [
        "memtable_size_bytes",
        "immutable_memtables",
        "last_seq",
        "writes",
        "commit_groups",
        "wal_bytes_written",
        "wal_syncs",
        "flushes",
        "flush_bytes_written",
        "compactions",
        "trivial_moves",
        "compaction_bytes_read",
        "compaction_bytes_written",
        "stall_micros",
        "background_errors",
        "capacity_bytes",
        "usage_bytes",
        "hits",
        "misses",
        "evictions",
        "inserts",
        "live_snapshots",
    ] {
        json_number(&stats, field);
    }
    assert!(stats.contains("\"cache\":{\"capacity_bytes\":"), "{stats}");
    assert!(stats.contains("\"poisoned\":false"), "{stats}");
    assert_eq!(stats.matches('{').count(), stats.matches('}').count(), "{stats}");
    assert_eq!(stats.matches('[').count(), stats.matches(']').count(), "{stats}");
}

#[test]
fn text_stats_and_check_print_reports() {
    let db = TempDb::new("text-reports");
    db.ok(&["put", "k", "v"]);
    assert!(!db.ok(&["stats"]).trim().is_empty());
    assert!(!db.ok(&["check"]).trim().is_empty());
}

#[test]
fn usage_errors_exit_2() {
    let db = TempDb::new("usage");
    for args in [
        &[][..],
        &["frobnicate"],
        &["get"],
        &["put", "k"],
        &["--bogus", "stats"],
        &["--key-format", "hex", "get", "xyz"],
        &["--key-format", "base64", "get", "k"],
        &["scan", "--limit", "many"],
        &["get", "k", "--reverse"],
    ] {
        let r = db.run(args);
        assert_eq!(r.code, 2, "cairn {args:?}: {r:?}");
        assert!(r.stderr.contains("usage error"), "cairn {args:?}: {r:?}");
        assert_eq!(r.stdout, "", "cairn {args:?}: {r:?}");
    }
    assert!(!db.path().exists(), "a usage error must not create the database");
}

#[test]
fn help_lists_every_command_and_exits_0() {
    let r = cairn(&["--help"]);
    assert_eq!(r.code, 0);
    for word in
        ["get", "put", "delete", "scan", "stats", "check", "dump", "--key-format", "--value-format", "--json", "--db"]
    {
        assert!(r.stdout.contains(word), "help lacks {word}");
    }
    assert_eq!(cairn(&["help"]).stdout, r.stdout);
    let v = cairn(&["--version"]);
    assert_eq!(v.code, 0);
    assert!(v.stdout.starts_with("cairn "), "{v:?}");
}

#[test]
fn reading_commands_never_create_a_database() {
    let db = TempDb::new("no-create");
    for args in [&["get", "k"][..], &["scan"], &["stats"], &["check"]] {
        let r = db.run(args);
        assert_eq!(r.code, 3, "cairn {args:?}: {r:?}");
        assert!(r.stderr.starts_with("cairn: "), "{r:?}");
        assert!(!db.path().exists(), "cairn {args:?} created the database");
    }
}

#[test]
fn locked_database_is_a_database_error() {
    let db = TempDb::new("locked");
    db.ok(&["put", "k", "v"]);
    let holder = cairn::Db::open(db.path()).expect("open the database in the test");
    let r = db.run(&["get", "k"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("locked"), "{r:?}");
    holder.close().expect("close");
    drop(holder);
    assert_eq!(db.ok(&["get", "k"]), "v\n");
}

#[test]
fn compact_merges_everything_into_one_level() {
    let dir = std::env::temp_dir().join(format!("cairn-cli-compact-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    {
        let db = cairn::Options::default().memtable_size_bytes(4 << 10).open(&dir).expect("open");
        for i in 0..2000u32 {
            db.put(format!("k{i:05}"), "v".repeat(40)).expect("put");
        }
        db.close().expect("close");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["--db", dir.to_str().expect("utf8"), "--json", "compact"])
        .output()
        .expect("run cairn compact");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let db = cairn::Db::open(&dir).expect("reopen");
    let m = db.metrics();
    let nonempty: Vec<usize> = m.levels.iter().filter(|l| l.tables > 0).map(|l| l.level).collect();
    assert_eq!(nonempty.len(), 1, "after compact, one level holds every table: {nonempty:?}");
    assert_eq!(db.iter().count(), 2000);
    db.close().expect("close");
    let _ = std::fs::remove_dir_all(&dir);
}
