//! End-to-end tests of the YCSB benchmarks of `cairn-bench`: every workload on 2000 records,
//! the automatic load phase, threads, and the per-operation latency report
//! (docs/tools.md#ycsb).

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/json.rs"]
mod json;

use json::Json;

fn bench_ok(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn-bench")).args(args).output().expect("run cairn-bench");
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cairn-bench {args:?} failed:\n{stdout}\n{stderr}");
    stdout
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("cairn-bench-ycsb-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
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

/// `(name, ops, (found, lookups))` of one db_bench result line.
type ResultLine = (String, u64, Option<(u64, u64)>);

/// The [`ResultLine`] of `line`, or `None` for other lines.
fn result(line: &str) -> Option<ResultLine> {
    let (name, rest) = line.split_once(" : ")?;
    let (stats, extra) = rest.split_once(" operations;")?;
    let ops = stats.split_whitespace().last()?.parse().ok()?;
    let found = extra.split_once('(').map(|(_, f)| {
        let (a, b) = f.trim_end_matches(" found)").split_once(" of ").expect("found message");
        (a.parse().expect("found count"), b.parse().expect("lookup count"))
    });
    Some((name.trim_end().to_string(), ops, found))
}

fn results(out: &str) -> Vec<ResultLine> {
    out.lines().filter_map(result).collect()
}

fn number(obj: &Json, path: &[&str]) -> f64 {
    let mut v = obj;
    for name in path {
        v = v.get(name).unwrap_or_else(|| panic!("no {path:?} in {obj:?}"));
    }
    v.as_f64().unwrap_or_else(|| panic!("{path:?} is not a number in {obj:?}"))
}

fn json_lines(path: &str) -> Vec<Json> {
    let text = std::fs::read_to_string(Path::new(path)).expect("read JSON results");
    text.lines().map(|l| json::parse(l).unwrap_or_else(|e| panic!("invalid JSON ({e}): {l}"))).collect()
}

/// Operations of `op` in a YCSB JSON line's `by_op` (0 when the type did not run).
fn op_count(obj: &Json, op: &str) -> u64 {
    obj.get("by_op").and_then(|b| b.get(op)).map_or(0, |o| number(o, &["ops"]) as u64)
}

#[test]
fn every_ycsb_workload_runs_and_reports_sane_counts() {
    let dir = TempDir::new("all");
    let json = dir.join("ycsb.json");
    let out = bench_ok(&[
        "--benchmarks=ycsbload,ycsba,ycsbb,ycsbc,ycsbd,ycsbe,ycsb_f",
        "--num=2000",
        "--seed=7",
        &format!("--db={}", dir.join("db")),
        &format!("--json={json}"),
    ]);
    assert!(out.contains("\nYCSB:       ") && out.contains("one value of --value_size bytes per record"), "{out}");
    let lines = results(&out);
    let names: Vec<&str> = lines.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["ycsbload", "ycsba", "ycsbb", "ycsbc", "ycsbd", "ycsbe", "ycsbf"], "{out}");
    for (name, ops, found) in &lines {
        assert_eq!(*ops, 2000, "{name}");
        if name == "ycsbload" {
            assert_eq!(*found, None);
            continue;
        }
        // Every record a workload reads was loaded or acknowledged first, and every scan starts
        // at an existing record: one thread finds everything it looks for.
        let (found, lookups) = found.unwrap_or_else(|| panic!("{name} has no found message"));
        assert_eq!(found, lookups, "{name}");
        let latency = out
            .lines()
            .find(|l| l.starts_with(&format!("{name:<12}   latency us: all p50 ")))
            .unwrap_or_else(|| panic!("no latency line for {name}:\n{out}"));
        assert!(latency.contains(" p99 ") && latency.contains(" p99.9 "), "{latency}");
    }
    // Every workload after writes settles first; D follows C, which wrote nothing.
    assert_eq!(out.matches("flush + wait_for_background before ycsb").count(), 5, "{out}");
    assert!(!out.contains("before ycsbd"), "{out}");

    let objects = json_lines(&json);
    assert_eq!(objects.len(), 7);
    let by_name = |name: &str| {
        objects.iter().find(|o| o.get("benchmark").and_then(Json::as_str) == Some(name)).expect("a line per workload")
    };
    for obj in &objects[1..] {
        let total: u64 =
            ["read", "update", "insert", "scan", "read_modify_write"].iter().map(|op| op_count(obj, op)).sum();
        assert_eq!(total, 2000, "by_op counts every operation: {obj:?}");
    }
    let near = |count: u64, expected: f64| (count as f64 - expected).abs() < 0.1 * expected + 30.0;
    let a = by_name("ycsba");
    assert!(near(op_count(a, "read"), 1000.0) && near(op_count(a, "update"), 1000.0), "{a:?}");
    assert_eq!(number(a, &["lookups"]) as u64, op_count(a, "read"));
    let b = by_name("ycsbb");
    assert!(near(op_count(b, "update"), 100.0), "{b:?}");
    let c = by_name("ycsbc");
    assert_eq!((op_count(c, "read"), number(c, &["found"]) as u64), (2000, 2000));
    assert_eq!(
        number(c, &["user_bytes_written"]) as u64,
        number(b, &["user_bytes_written"]) as u64,
        "C writes nothing"
    );
    let d = by_name("ycsbd");
    let inserts = op_count(d, "insert");
    assert!(near(inserts, 100.0), "{d:?}");
    // Inserted records are new keys: the live data grows by about one record per insert.
    let grown = number(d, &["live_user_bytes"]) - number(c, &["live_user_bytes"]);
    assert!(grown >= inserts as f64 * 100.0 && grown <= inserts as f64 * 130.0, "grew {grown} for {inserts}");
    let e = by_name("ycsbe");
    assert!(near(op_count(e, "scan"), 1900.0) && near(op_count(e, "insert"), 100.0), "{e:?}");
    // Scans of 1..=100 entries (50.5 on average) of 4 + 19 + 100 bytes: about 6 KB each.
    let scanned_bytes = number(e, &["mb_per_sec"]) * 1_048_576.0 * number(e, &["elapsed_s"]);
    let per_scan = scanned_bytes / op_count(e, "scan") as f64;
    assert!(per_scan > 4000.0 && per_scan < 8000.0, "{per_scan} bytes per scan");
    let f = by_name("ycsbf");
    assert!(near(op_count(f, "read_modify_write"), 1000.0), "{f:?}");
    assert_eq!(number(f, &["lookups"]) as u64, 2000, "a read-modify-write reads too");
}

#[test]
fn a_workload_loads_the_records_itself_when_there_are_none() {
    let out = bench_ok(&["--benchmarks=ycsbc", "--num=2000", "--reads=500"]);
    assert!(out.contains("no YCSB records in the database: running ycsbload (2000 records) before ycsbc"), "{out}");
    let lines = results(&out);
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], ("ycsbload".to_string(), 2000, None));
    assert_eq!(lines[1], ("ycsbc".to_string(), 500, Some((500, 500))));
}

#[test]
fn threads_share_the_load_and_each_run_the_operation_count() {
    let out = bench_ok(&["--benchmarks=ycsbload,ycsbd,ycsba", "--num=1000", "--reads=600", "--threads=2"]);
    let lines = results(&out);
    assert_eq!(lines[0], ("ycsbload".to_string(), 1000, None), "the records are loaded once, split by thread");
    for (name, ops, found) in &lines[1..] {
        assert_eq!(*ops, 1200, "{name}");
        let (found, lookups) = found.expect("found message");
        // With two threads an acknowledged insert may overtake an older one, so a read of
        // the newest records ("latest" distribution) can miss a record the other thread is still
        // inserting; misses stay a small fraction of the lookups.
        assert!(found * 20 >= lookups * 19 && found <= lookups, "{name}: {found} of {lookups}");
    }
}
