//! End-to-end tests of the `cairn-bench` binary: every benchmark on a small data set, checking
//! that db_bench's output lines parse and that found counts are what the data implies
//! (docs/tools.md#cairn-bench).

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/json.rs"]
mod json;

use json::Json;

/// What one run of the binary produced.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn bench(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn-bench")).args(args).output().expect("run cairn-bench");
    Run {
        code: out.status.code().expect("exited normally"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

fn bench_ok(args: &[&str]) -> String {
    let r = bench(args);
    assert_eq!(r.code, 0, "cairn-bench {args:?} failed:\n{}\n{}", r.stdout, r.stderr);
    r.stdout
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("cairn-bench-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn join(&self, name: &str) -> String {
        self.0.join(name).to_str().expect("UTF-8 temp path").to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One parsed db_bench result line.
#[derive(Debug, PartialEq)]
struct ResultLine {
    name: String,
    micros_per_op: f64,
    ops_per_sec: u64,
    seconds: f64,
    ops: u64,
    mb_per_sec: Option<f64>,
    found: Option<(u64, u64)>,
}

/// Parses `NAME : X micros/op N ops/sec S seconds N operations;[ R MB/s][ (F of N found)]`,
/// or returns `None` for any other line. Panics on a line that starts like a result but is
/// malformed.
fn parse_result(line: &str) -> Option<ResultLine> {
    let (name, rest) = line.split_once(" : ")?;
    if !rest.contains(" micros/op ") {
        return None;
    }
    assert!(name.len() >= 12 && !name.starts_with(' '), "name column is %-12s: {line:?}");
    let (stats, extra) = rest.split_once(';').unwrap_or_else(|| panic!("no ';' in {line:?}"));
    let words: Vec<&str> = stats.split_whitespace().collect();
    assert_eq!(words.len(), 8, "{line:?}");
    assert_eq!([words[1], words[3], words[5], words[7]], ["micros/op", "ops/sec", "seconds", "operations"], "{line:?}");
    let num = |s: &str| s.parse::<f64>().unwrap_or_else(|_| panic!("bad number {s:?} in {line:?}"));
    let int = |s: &str| s.parse::<u64>().unwrap_or_else(|_| panic!("bad integer {s:?} in {line:?}"));
    let mb_per_sec = extra.split_once(" MB/s").map(|(before, _)| num(before.trim()));
    let found = extra.split_once('(').map(|(_, f)| {
        let f = f.strip_suffix(" found)").unwrap_or_else(|| panic!("bad found message in {line:?}"));
        let (a, b) = f.split_once(" of ").unwrap_or_else(|| panic!("bad found message in {line:?}"));
        (int(a), int(b))
    });
    Some(ResultLine {
        name: name.trim_end().to_string(),
        micros_per_op: num(words[0]),
        ops_per_sec: int(words[2]),
        seconds: num(words[4]),
        ops: int(words[6]),
        mb_per_sec,
        found,
    })
}

fn results(stdout: &str) -> Vec<ResultLine> {
    stdout.lines().filter_map(parse_result).collect()
}

fn find<'a>(results: &'a [ResultLine], name: &str) -> &'a ResultLine {
    results.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no result line for {name}"))
}

const ALL_BENCHMARKS: &str = "fillseq,readrandom,readmissing,multireadrandom,readseq,readreverse,seekrandom,\
                              fillrandom,overwrite,flush,waitforcompaction,readwhilewriting,stats";

#[test]
fn every_benchmark_reports_parseable_lines_and_right_found_counts() {
    let dir = TempDir::new("all");
    let db = dir.join("db");
    let json = dir.join("results.json");
    std::fs::create_dir_all(dir.path()).expect("create temp dir");
    let out = bench_ok(&[
        &format!("--benchmarks={ALL_BENCHMARKS}"),
        "--num=2000",
        "--batch_size=7",
        "--histogram=1",
        "--seed=42",
        &format!("--db={db}"),
        &format!("--json={json}"),
    ]);
    let lines = results(&out);
    let names: Vec<&str> = lines.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "fillseq",
            "readrandom",
            "readmissing",
            "multireadrandom",
            "readseq",
            "readreverse",
            "seekrandom",
            "fillrandom",
            "overwrite",
            "readwhilewriting"
        ],
        "{out}"
    );
    for r in &lines {
        assert_eq!(r.ops, 2000, "{r:?}");
        assert!(r.micros_per_op > 0.0 && r.ops_per_sec > 0 && r.seconds >= 0.0, "{r:?}");
    }
    assert_eq!(find(&lines, "fillseq").found, None);
    assert!(find(&lines, "fillseq").mb_per_sec.is_some_and(|mb| mb > 0.0));
    assert_eq!(find(&lines, "readrandom").found, Some((2000, 2000)), "readrandom after fillseq finds every key");
    assert_eq!(find(&lines, "readmissing").found, Some((0, 2000)));
    assert_eq!(find(&lines, "readmissing").mb_per_sec, None, "nothing read, no rate");
    assert_eq!(find(&lines, "multireadrandom").found, Some((2000, 2000)));
    assert_eq!(find(&lines, "seekrandom").found, Some((2000, 2000)));
    assert_eq!(find(&lines, "readseq").found, None);
    let (found, of) = find(&lines, "readwhilewriting").found.expect("found message");
    // After fillrandom + overwrite of 2000 draws each from 2000 keys, about 1 - 1/e^2 exist.
    assert_eq!(of, 2000);
    assert!(found > 1000 && found <= 2000, "readwhilewriting found {found}");

    assert_eq!(out.matches("\nPercentiles: P50: ").count(), 10, "{out}");
    assert!(out.contains("\nflush memtable: ") && out.contains("\nwaitforcompaction: "), "{out}");
    // After fillseq the harness settles by itself; before readwhilewriting the explicit
    // flush,waitforcompaction steps already did.
    assert_eq!(out.matches("flush + wait_for_background before ").count(), 1, "{out}");
    assert!(out.contains("flush + wait_for_background before readrandom: "), "{out}");
    for header in ["Cairn:      version ", "Keys:       16 bytes each", "Entries:    2000", "Compression: none"] {
        assert!(out.contains(header), "missing {header:?}");
    }
    assert_summary_table(&out, &names);
    assert_json_file(Path::new(&json), &names);
    assert!(Path::new(&db).exists(), "a --db directory is kept");
}

/// The closing table has one row per benchmark, with parseable numbers.
fn assert_summary_table(out: &str, names: &[&str]) {
    let table_start = out.rfind("\nbenchmark ").expect("summary table");
    let rows: Vec<Vec<&str>> = out[table_start..].lines().skip(2).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), names.len(), "{out}");
    for (row, name) in rows.iter().zip(names) {
        assert_eq!(row.len(), 6, "{row:?}");
        assert_eq!(row[0], *name);
        for cell in &row[1..] {
            cell.parse::<f64>().unwrap_or_else(|_| panic!("bad cell {cell:?} in {row:?}"));
        }
    }
}

/// Every field of a JSON line, and whether it may be `null`.
const JSON_FIELDS: [(&str, bool); 24] = [
    ("engine", false),
    ("benchmark", false),
    ("threads", false),
    ("ops", false),
    ("ops_per_sec", false),
    ("micros_per_op", false),
    ("mb_per_sec", false),
    ("p50_us", false),
    ("p99_us", false),
    ("p999_us", false),
    ("found", true),
    ("lookups", true),
    ("elapsed_s", false),
    ("write_amplification", true),
    ("write_amplification_os", true),
    ("space_amplification", true),
    ("user_bytes_written", false),
    ("storage_bytes_written", true),
    ("os_bytes_written", true),
    ("dir_size_bytes", true),
    ("live_user_bytes", true),
    ("peak_rss_bytes", true),
    ("by_op", true),
    ("command_line", false),
];

/// Parses every line of a `--json` file, checking each is one valid JSON object with exactly
/// the documented fields.
fn read_json_lines(path: &Path) -> Vec<Json> {
    let text = std::fs::read_to_string(path).expect("read the JSON results");
    text.lines()
        .map(|line| {
            let obj = json::parse(line).unwrap_or_else(|e| panic!("invalid JSON ({e}): {line}"));
            let Json::Object(fields) = &obj else { panic!("not an object: {line}") };
            let names: Vec<&str> = fields.keys().map(String::as_str).collect();
            let mut expected: Vec<&str> = JSON_FIELDS.iter().map(|(n, _)| *n).collect();
            expected.sort_unstable();
            assert_eq!(names, expected, "{line}");
            for (name, nullable) in JSON_FIELDS {
                assert!(nullable || fields[name] != Json::Null, "{name} is null in {line}");
            }
            obj
        })
        .collect()
}

fn number(obj: &Json, name: &str) -> f64 {
    obj.get(name).and_then(Json::as_f64).unwrap_or_else(|| panic!("{name} is not a number in {obj:?}"))
}

/// One JSON object per benchmark, with every documented field and the right values.
fn assert_json_file(path: &Path, names: &[&str]) {
    let objects = read_json_lines(path);
    assert_eq!(objects.len(), names.len(), "{objects:?}");
    for (obj, name) in objects.iter().zip(names) {
        assert_eq!(obj.get("engine").and_then(Json::as_str), Some("cairn"));
        assert_eq!(obj.get("benchmark").and_then(Json::as_str), Some(*name));
        assert_eq!((number(obj, "threads"), number(obj, "ops")), (1.0, 2000.0), "{obj:?}");
        assert!(number(obj, "p50_us") <= number(obj, "p99_us") && number(obj, "p99_us") <= number(obj, "p999_us"));
        assert!(number(obj, "peak_rss_bytes") > 0.0, "Linux reports VmHWM");
        assert!(number(obj, "dir_size_bytes") > 0.0);
        let command = obj.get("command_line").and_then(Json::as_str).expect("command line");
        assert!(command.starts_with("cairn-bench --benchmarks=") && command.contains("--num=2000"), "{command}");
    }
    // fillseq: 2000 entries of 16 + 100 bytes written, nothing looked up.
    let fillseq = &objects[0];
    assert_eq!(number(fillseq, "user_bytes_written"), 232_000.0);
    assert_eq!((fillseq.get("found"), fillseq.get("lookups")), (Some(&Json::Null), Some(&Json::Null)));
    let wamp = number(fillseq, "write_amplification");
    assert!(wamp >= 1.0, "the WAL alone writes every user byte: {wamp}");
    assert_eq!(number(fillseq, "live_user_bytes"), 232_000.0);
    assert!(number(fillseq, "space_amplification") > 0.0);
    let readrandom = &objects[1];
    assert_eq!((number(readrandom, "found"), number(readrandom, "lookups")), (2000.0, 2000.0));
    assert_eq!(readrandom.get("by_op"), Some(&Json::Null));
}

#[test]
fn threads_each_do_the_full_op_count() {
    let out = bench_ok(&["--benchmarks=fillseq,readrandom,readseq", "--num=1000", "--threads=2"]);
    let lines = results(&out);
    assert_eq!(find(&lines, "fillseq").ops, 2000);
    assert_eq!(find(&lines, "readrandom").found, Some((2000, 2000)));
    assert_eq!(find(&lines, "readseq").ops, 2000);
    assert!(out.contains("Threads:    2"), "{out}");
}

#[test]
fn deleterandom_removes_keys_and_compact_is_one_timed_operation() {
    let out = bench_ok(&["--benchmarks=fillseq,deleterandom,compact,readrandom", "--num=2000", "--deletes=500"]);
    let lines = results(&out);
    let names: Vec<&str> = lines.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["fillseq", "deleterandom", "compact", "readrandom"], "{out}");
    assert_eq!(find(&lines, "deleterandom").ops, 500);
    assert_eq!(find(&lines, "compact").ops, 1);
    // 500 uniform draws from 2000 keys delete about 2000 * (1 - e^-0.25) = 442 distinct keys.
    let (found, of) = find(&lines, "readrandom").found.expect("found message");
    assert_eq!(of, 2000);
    assert!(found > 1400 && found < 1700, "found {found}");
    assert!(out.contains("flush + wait_for_background before readrandom: "), "compact leaves work to settle: {out}");
}

/// The peers run the same benchmarks with the same found counts when this build has them, and
/// are a usage error naming the feature to build with when it does not.
#[test]
fn peer_engines_run_the_same_benchmarks_or_say_how_to_build_them() {
    for (engine, compiled) in [("fjall", cfg!(feature = "fjall")), ("lmdb", cfg!(feature = "lmdb"))] {
        let dir = TempDir::new(engine);
        let db = format!("--db={}", dir.path().display());
        let args = [
            &format!("--engine={engine}"),
            "--benchmarks=fillseq,readrandom,readmissing,multireadrandom,seekrandom,readseq,readreverse,ycsbc",
            "--num=2000",
            "--batch_size=7",
            &db,
        ];
        if !compiled {
            let r = bench(&args);
            assert_eq!(r.code, 2, "{r:?}");
            assert!(r.stderr.contains(&format!("--features {engine}")), "{r:?}");
            continue;
        }
        let out = bench_ok(&args);
        assert!(
            out.contains(&format!("\nEngine:     {}", if engine == "fjall" { "fjall 2" } else { "LMDB" })),
            "{out}"
        );
        let lines = results(&out);
        assert_eq!(find(&lines, "readrandom").found, Some((2000, 2000)), "{engine}");
        assert_eq!(find(&lines, "readmissing").found, Some((0, 2000)), "{engine}");
        assert_eq!(find(&lines, "multireadrandom").found, Some((2000, 2000)), "{engine}");
        assert_eq!(find(&lines, "seekrandom").found, Some((2000, 2000)), "{engine}");
        assert_eq!((find(&lines, "readseq").ops, find(&lines, "readreverse").ops), (2000, 2000), "{engine}");
        assert_eq!(find(&lines, "ycsbc").found, Some((2000, 2000)), "{engine}");
        // The directory now holds this engine's database: a fresh run may delete it.
        bench_ok(&[&format!("--engine={engine}"), "--benchmarks=fillseq", "--num=10", &db]);
    }
}

#[test]
fn fillrandom_starts_from_an_empty_database() {
    // fillseq writes every key; fillrandom must discard them, so readrandom cannot find all.
    let out = bench_ok(&["--benchmarks=fillseq,fillrandom,readrandom", "--num=2000"]);
    let (found, of) = find(&results(&out), "readrandom").found.expect("found message");
    assert_eq!(of, 2000);
    assert!(found < 2000 && found > 1000, "found {found}");
}

#[test]
fn temporary_database_is_removed() {
    let out = bench_ok(&["--benchmarks=fillseq", "--num=100"]);
    let line = out.lines().find(|l| l.starts_with("DB path: [")).expect("DB path line");
    let path = line.trim_start_matches("DB path: [").trim_end_matches(']');
    assert!(path.contains("cairn-bench-"), "{path}");
    assert!(!Path::new(path).exists(), "{path} left behind");
}

#[test]
fn existing_database_is_reused_and_fills_are_skipped() {
    let dir = TempDir::new("existing");
    let db = format!("--db={}", dir.path().display());
    bench_ok(&["--benchmarks=fillseq", "--num=500", &db]);
    let out = bench_ok(&["--benchmarks=fillseq,readrandom", "--num=500", "--use_existing_db=1", &db]);
    assert!(out.contains("\nfillseq      : skipped (--use_existing_db is true)\n"), "{out}");
    let lines = results(&out);
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0].found, Some((500, 500)));
}

#[test]
fn unrelated_directory_is_never_deleted() {
    let dir = TempDir::new("unrelated");
    std::fs::create_dir_all(dir.path()).expect("create dir");
    let precious = dir.path().join("notes.txt");
    std::fs::write(&precious, b"keep me").expect("write file");
    let r = bench(&["--benchmarks=fillseq", "--num=10", &format!("--db={}", dir.path().display())]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("refusing to delete"), "{r:?}");
    assert_eq!(std::fs::read(&precious).expect("file still there"), b"keep me");
}

#[test]
fn usage_errors_exit_2() {
    for args in [&["--bogus=1"][..], &["--benchmarks=teleport"], &["--num=abc"], &["positional"]] {
        let r = bench(args);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.contains("usage error"), "{args:?}: {r:?}");
        assert_eq!(r.stdout, "", "{args:?}");
    }
    let help = bench(&["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("--benchmarks=") && help.stdout.contains("--seek_nexts"), "{help:?}");
}

#[test]
fn result_line_parser_rejects_other_lines() {
    assert_eq!(parse_result("Keys:       16 bytes each"), None);
    assert_eq!(parse_result("fillseq      : skipped (--use_existing_db is true)"), None);
    let r = parse_result("readrandom   :       2.345 micros/op 426439 ops/sec 2.345 seconds 1000000 operations;   47.2 MB/s (632121 of 1000000 found)")
        .expect("parses");
    assert_eq!(r.found, Some((632_121, 1_000_000)));
    assert_eq!(r.mb_per_sec, Some(47.2));
}
