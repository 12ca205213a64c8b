//! Data-driven picker tests: `testdata/picker.txt` describes versions in text and the plan the
//! picker must return. `CAIRN_REWRITE=1 cargo test -p cairn-compaction --test picker` rewrites
//! the expected outputs.
//!
//! Commands:
//! * `options l0_trigger=N l1_target=N multiplier=N target_file=N max_compaction=N` — sets
//!   options for later cases (unnamed ones keep their values).
//! * `define` + table lines (`L<level> <file_num> <lo>-<hi> [size=N] [seqs=A-B]`) — the version.
//! * `scores [busy=a,b]`, `pick [busy=a,b] [cursor=L<n>:<key>]...`, `pick-manual level=N [busy=a,b]`.
//!   Busy files are added to the plans already started.
//! * `start` — records the last plan as running (its files busy, its output range taken); later
//!   picks see it. `finish` ends the most recently started plan and makes it the last plan again
//!   (so `apply` carries it out).
//! * `add` + table lines — tables arriving while plans run (a flush, or another plan's move),
//!   added to the version as one edit.
//! * `apply` — carries out the last plan (a merge writes one output spanning its key range,
//!   numbered after the largest file) and prints the new version.

mod common;

use cairn_base::{FileNum, InternalKey, SeqNum, ValueKind};
use cairn_compaction::{Cursors, PickerOptions, Plan, Running, pick_manual, pick_with_cursors, scores};
use cairn_manifest::{TableMeta, Version, VersionEdit};
use common::{Case, parse_files, parse_table, parse_version, run_file};

struct State {
    opts: PickerOptions,
    version: Version,
    last_plan: Plan,
    running: Running,
    started: Vec<Plan>,
}

/// The started plans plus the case's `busy=` files.
fn busy(state: &State, case: &Case) -> Running {
    let mut running = state.running.clone();
    running.hold_files(case.arg("busy").map(parse_files).unwrap_or_default());
    running
}

fn set_options(opts: &mut PickerOptions, case: &Case) {
    for (k, v) in &case.args {
        let n: u64 = v.parse().unwrap_or_else(|_| panic!("line {}: {k}={v} is not a number", case.line));
        match k.as_str() {
            "l0_trigger" => opts.l0_compaction_trigger = n as usize,
            "l1_target" => opts.level1_target_bytes = n,
            "multiplier" => opts.level_multiplier = n,
            "target_file" => opts.target_file_size_bytes = n,
            "max_compaction" => opts.max_compaction_bytes = n,
            other => panic!("line {}: unknown option {other}", case.line),
        }
    }
}

fn cursors(case: &Case) -> Cursors {
    let mut cursors = Cursors::default();
    for c in case.args_named("cursor") {
        let (level, key) = c.split_once(':').expect("cursor=L<n>:<key>");
        cursors.set(level.trim_start_matches('L').parse().expect("level"), key.as_bytes());
    }
    cursors
}

/// Carries out the last plan with a synthetic single output.
fn apply(state: &mut State) -> String {
    let outputs = match &state.last_plan {
        Plan::Merge(m) => {
            let (lo, hi) = m.user_key_range();
            let tables = m.inputs.iter().chain(&m.next_inputs);
            let seq_lo = tables.clone().map(|t| t.smallest_seq).min().unwrap_or_default();
            let seq_hi = tables.map(|t| t.largest_seq).max().unwrap_or_default();
            let next_file = state.version.live_files().max().map_or(1, |f| f.0 + 1);
            vec![TableMeta {
                file_num: FileNum(next_file),
                size_bytes: m.input_size_bytes(),
                smallest: InternalKey::new(lo, seq_hi, ValueKind::Set),
                largest: InternalKey::new(hi, SeqNum(seq_lo.0), ValueKind::Set),
                smallest_seq: seq_lo,
                largest_seq: seq_hi,
                entries: 1,
                tombstones: 0,
            }]
        }
        _ => Vec::new(),
    };
    match state.version.apply(&state.last_plan.edit(outputs)) {
        Ok(v) => {
            state.version = v;
            state.version.to_string()
        }
        Err(e) => format!("error: {e}"),
    }
}

fn run(state: &mut State, case: &Case) -> String {
    match case.command.as_str() {
        "options" => {
            set_options(&mut state.opts, case);
            "ok".to_string()
        }
        "define" => {
            state.version = parse_version(&case.input);
            state.running = Running::default();
            state.started.clear();
            state.version.to_string()
        }
        "add" => {
            let added = case.input.iter().filter(|l| !l.trim().is_empty()).map(|l| parse_table(l)).collect();
            match state.version.apply(&VersionEdit { added, ..VersionEdit::default() }) {
                Ok(v) => {
                    state.version = v;
                    state.version.to_string()
                }
                Err(e) => format!("error: {e}"),
            }
        }
        "start" => {
            state.running.start(&state.last_plan);
            state.started.push(state.last_plan.clone());
            format!("running: {}", state.last_plan)
        }
        "finish" => {
            let plan = state.started.pop().unwrap_or_else(|| panic!("line {}: no plan was started", case.line));
            state.running.finish(&plan);
            state.last_plan = plan;
            format!("finished: {}", state.last_plan)
        }
        "scores" => scores(&state.version, &busy(state, case), &state.opts)
            .iter()
            .map(|(level, score)| format!("L{level}: {score:.2}"))
            .collect::<Vec<_>>()
            .join("\n"),
        "pick" => {
            state.last_plan = pick_with_cursors(&state.version, &busy(state, case), &state.opts, &cursors(case));
            state.last_plan.to_string()
        }
        "pick-manual" => {
            let level = case.arg("level").expect("level=N").parse().expect("level");
            state.last_plan = pick_manual(&state.version, level, &busy(state, case), &state.opts);
            state.last_plan.to_string()
        }
        "apply" => apply(state),
        other => panic!("line {}: unknown command {other}", case.line),
    }
}

#[test]
fn picker_testdata() {
    let mut state = State {
        opts: PickerOptions::default(),
        version: Version::default(),
        last_plan: Plan::DoNothing,
        running: Running::default(),
        started: Vec::new(),
    };
    run_file("testdata/picker.txt", |case| run(&mut state, case));
}
