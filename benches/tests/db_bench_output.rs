//! End-to-end tests of the `cairn-bench` binary: every benchmark on a small data set, checking
//! that db_bench's output lines parse and that found counts are what the data implies
//! (docs/tools.md#cairn-bench).

use std::path::{Path, PathBuf};
use std::process::Command;

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
        assert_eq!(row.len(), 5, "{row:?}");
        assert_eq!(row[0], *name);
        for cell in &row[1..] {
            cell.parse::<f64>().unwrap_or_else(|_| panic!("bad cell {cell:?} in {row:?}"));
        }
    }
}

/// One JSON object per benchmark, with every documented field.
fn assert_json_file(path: &Path, names: &[&str]) {
    let text = std::fs::read_to_string(path).expect("read the JSON results");
    let objects: Vec<&str> = text.lines().collect();
    assert_eq!(objects.len(), names.len(), "{text}");
    for (obj, name) in objects.iter().zip(names) {
        assert!(obj.starts_with(&format!("{{\"name\":\"{name}\",\"threads\":1,\"ops\":2000,")), "{obj}");
        assert!(obj.ends_with('}'), "{obj}");
        for field in [
            "ops_per_sec",
            "micros_per_op",
            "mb_per_sec",
            "p50_micros",
            "p99_micros",
            "p999_micros",
            "found",
            "elapsed_seconds",
        ] {
            assert!(obj.contains(&format!(",\"{field}\":")), "no {field} in {obj}");
        }
    }
    assert!(objects[1].contains("\"found\":2000,"), "{}", objects[1]);
    assert!(objects[0].contains("\"found\":null,"), "{}", objects[0]);
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
