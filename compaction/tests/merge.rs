//! Data-driven merge tests: `testdata/merge.txt` lists input entries (canonical `key#seq,KIND`
//! form, then an optional value) and the outputs `merge_into` must write.
//! `CAIRN_REWRITE=1 cargo test -p cairn-compaction --test merge` rewrites expected outputs.
//!
//! Command: `merge [snapshots=a,b] [bottommost] [target=N]` (target defaults to unlimited; the
//! in-memory output's size is the sum of its key and value lengths).

mod common;

use bytes::Bytes;
use cairn_base::SeqNum;
use cairn_base::iter::VecIter;
use cairn_compaction::{MergeSettings, merge_into};
use common::{Case, VecOutput, fmt_entry, parse_ikey, run_file};

fn settings(case: &Case) -> MergeSettings {
    let snapshots = case
        .arg("snapshots")
        .map(|s| s.split(',').map(|n| SeqNum(n.parse().expect("snapshot seq"))).collect())
        .unwrap_or_default();
    let target_file_size_bytes = case.arg("target").map_or(u64::MAX, |t| t.parse().expect("target"));
    MergeSettings { snapshots, bottommost: case.arg("bottommost").is_some(), target_file_size_bytes }
}

fn run(case: &Case) -> String {
    assert_eq!(case.command, "merge", "line {}: unknown command", case.line);
    let mut entries: Vec<(Vec<u8>, Bytes)> = case
        .input
        .iter()
        .map(|l| {
            let (key, value) = l.split_once(' ').unwrap_or((l, ""));
            (parse_ikey(key).encoded().to_vec(), Bytes::copy_from_slice(value.as_bytes()))
        })
        .collect();
    entries.sort_by(|a, b| cairn_base::key::compare_internal(&a.0, &b.0));
    let mut input = VecIter::new(entries);
    let (outputs, stats) = match merge_into(&mut input, &settings(case), &mut || Ok(VecOutput::default())) {
        Ok(done) => done,
        Err(e) => return format!("error: {e}"),
    };
    let mut out = Vec::new();
    for (i, o) in outputs.iter().enumerate() {
        out.push(format!("output {i}: {}B", o.size_bytes));
        out.extend(o.entries.iter().map(|(k, v)| format!("  {}", fmt_entry(k, v))));
    }
    out.push(format!(
        "stats: read={} written={} shadowed={} tombstones={} bytes={}",
        stats.entries_read,
        stats.entries_written,
        stats.dropped_shadowed,
        stats.dropped_tombstones,
        stats.bytes_written
    ));
    out.join("\n")
}

#[test]
fn merge_testdata() {
    run_file("testdata/merge.txt", run);
}
