//! `cairn-bench`: Cairn's `db_bench`-compatible benchmark harness (docs/tools.md#cairn-bench).
//!
//! This file owns the run: it prepares the database directory, opens the engine under test
//! (`--engine`, see [`engine`]), runs each benchmark in order, settles the engine before reads,
//! loads YCSB records when a YCSB workload finds none, prints db_bench's lines, and removes a
//! temporary directory at the end. Flags live in [`flags`], inputs in [`generator`] and
//! [`distribution`], the timed loops in [`workloads`] and [`ycsb`], latencies in [`histogram`],
//! cost figures in [`resources`] and every output format in [`report`].
//!
//! Rules kept here (db_bench's, so results compare):
//! * `fillseq` and `fillrandom` start from an empty database (skipped under
//!   `--use_existing_db=1`); every other benchmark uses what earlier ones left.
//! * Before a reading benchmark that follows writes, the memtable is flushed and background
//!   work drained (`Engine::flush` then `Engine::wait_for_background`), and a line says so:
//!   reads then measure the tables, not a half-finished compaction. Explicit
//!   `flush,waitforcompaction` steps (db_bench's spelling) count as settling.
//! * A YCSB workload that finds no YCSB record (no key starting with `user`) runs `ycsbload`
//!   first, with its own result line.
//! * A directory is deleted only when it is the harness's own temporary one or holds a database
//!   of a supported engine (Cairn's `CURRENT` or `LOCK`, fjall's `version`, LMDB's `data.mdb`):
//!   a mistyped `--db` never loses unrelated files.
//!
//! Exit codes: 0 success, 2 usage error, 3 database or I/O error.
// The LMDB peer calls heed's unsafe open; every other build forbids unsafe code outright.
#![cfg_attr(not(feature = "lmdb"), forbid(unsafe_code))]
#![cfg_attr(feature = "lmdb", deny(unsafe_code))]

mod distribution;
mod engine;
mod engine_cairn;
#[cfg(feature = "fjall")]
mod engine_fjall;
#[cfg(feature = "lmdb")]
mod engine_lmdb;
mod flags;
mod generator;
mod histogram;
mod report;
mod resources;
mod workloads;
mod ycsb;

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use engine::{Direction, Engine, EngineError, EngineKind};
use flags::{Config, Parsed};
use generator::{ValueSource, YCSB_KEY_PREFIX};
use resources::{Resources, Tracker};
use workloads::{Benchmark, Measurement, Shared};
use ycsb::YcsbState;

/// Exit status for a usage error.
const EXIT_USAGE: u8 = 2;
/// Exit status for a database or I/O error.
const EXIT_FAILURE: u8 = 3;

/// Why a run failed.
#[derive(Debug)]
enum BenchError {
    /// The flags ask for something impossible.
    Usage(String),
    /// The engine reported an error.
    Engine(EngineError),
    /// A file outside the database (results file, directory cleanup) failed.
    Io { what: String, source: io::Error },
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Usage(msg) => write!(f, "usage error: {msg}"),
            BenchError::Engine(e) => write!(f, "{e}"),
            BenchError::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl From<EngineError> for BenchError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Unsupported { .. } => BenchError::Usage(e.to_string()),
            other => BenchError::Engine(other),
        }
    }
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> BenchError {
    let what = what.into();
    move |source| BenchError::Io { what, source }
}

fn main() -> ExitCode {
    let args: Result<Vec<String>, _> = std::env::args_os().skip(1).map(std::ffi::OsString::into_string).collect();
    let Ok(args) = args else {
        eprintln!("cairn-bench: usage error: arguments must be valid UTF-8");
        return ExitCode::from(EXIT_USAGE);
    };
    let command_line = report::shell_quote(&[&["cairn-bench".to_string()], args.as_slice()].concat());
    let config = match flags::parse(args) {
        Ok(Parsed::Run(config)) => config,
        Ok(Parsed::Help) => {
            return if emit(flags::HELP).is_ok() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FAILURE) };
        }
        Err(e) => {
            eprintln!("cairn-bench: {e}");
            eprintln!("Try 'cairn-bench --help' for the list of flags.");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(&config, &command_line) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cairn-bench: {e}");
            ExitCode::from(if matches!(e, BenchError::Usage(_)) { EXIT_USAGE } else { EXIT_FAILURE })
        }
    }
}

/// Runs every benchmark, then removes the directory if it was a temporary one (even after a
/// failure; the run's own error is reported first).
fn run(config: &Config, command_line: &str) -> Result<(), BenchError> {
    let (dir, temporary) = match &config.db {
        Some(dir) => (dir.clone(), false),
        None => (temporary_dir(), true),
    };
    let outcome = run_in(config, &dir, command_line);
    if temporary {
        let removed =
            fs::remove_dir_all(&dir).or_else(|e| if e.kind() == io::ErrorKind::NotFound { Ok(()) } else { Err(e) });
        if let Err(e) = removed {
            eprintln!("cairn-bench: could not remove temporary directory {}: {e}", dir.display());
        }
    }
    outcome
}

/// A fresh directory name under the system temp directory.
fn temporary_dir() -> PathBuf {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!("cairn-bench-{}-{nanos}", std::process::id()))
}

fn run_in(config: &Config, dir: &Path, command_line: &str) -> Result<(), BenchError> {
    emit(&report::header(config, dir, SystemTime::now(), &report::CpuInfo::detect()))?;
    let json = config
        .json
        .as_deref()
        .map(|path| File::create(path).map_err(io_error(format!("create {}", path.display()))))
        .transpose()?;
    if !config.use_existing_db {
        destroy_db(dir)?;
    }
    let mut runner = Runner {
        config,
        dir,
        command_line,
        engine: Some(engine::open(config, dir)?),
        values: ValueSource::new(config.seed, config.compression_ratio, config.value_size_bytes),
        ycsb: YcsbState::new(config.num),
        tracker: Tracker::start(),
        // An existing database may have recovery work pending; a fresh one has nothing to settle.
        state: if config.use_existing_db { EngineState::Dirty } else { EngineState::Settled },
        json,
        results: Vec::new(),
    };
    for (run_index, &benchmark) in config.benchmarks.iter().enumerate() {
        runner.step(benchmark, run_index)?;
    }
    runner.engine().close()?;
    emit(&report::summary_table(&runner.results))?;
    Ok(())
}

/// One run's engine and everything that follows it from benchmark to benchmark.
struct Runner<'a> {
    config: &'a Config,
    dir: &'a Path,
    command_line: &'a str,
    /// The open engine; `None` only while [`Runner::reopen_empty`] swaps databases.
    engine: Option<Box<dyn Engine>>,
    values: ValueSource,
    ycsb: YcsbState,
    tracker: Tracker,
    state: EngineState,
    json: Option<File>,
    results: Vec<Measurement>,
}

impl Runner<'_> {
    fn engine(&self) -> &dyn Engine {
        self.engine.as_deref().expect("an engine is open between benchmarks")
    }

    /// Runs one benchmark or action, with the preparation it needs.
    fn step(&mut self, benchmark: Benchmark, run_index: usize) -> Result<(), BenchError> {
        if !benchmark.is_measured() {
            run_action(self.engine(), benchmark)?;
            self.state = self.state.after(benchmark);
            return Ok(());
        }
        if benchmark.needs_fresh_db() {
            if self.config.use_existing_db {
                return emit_line(&report::skipped_line(benchmark.name()));
            }
            self.reopen_empty()?;
        }
        if matches!(benchmark, Benchmark::Ycsb(_)) && !has_ycsb_records(self.engine())? {
            emit_line(&format!(
                "no YCSB records in the database: running ycsbload ({} records) before {}",
                self.config.num,
                benchmark.name()
            ))?;
            self.measure(Benchmark::YcsbLoad, run_index)?;
        }
        if benchmark.reads() && self.state != EngineState::Settled {
            settle(self.engine(), benchmark)?;
            self.state = EngineState::Settled;
        }
        self.measure(benchmark, run_index)
    }

    /// Closes the engine, deletes its database and opens an empty one.
    fn reopen_empty(&mut self) -> Result<(), BenchError> {
        self.engine().close()?;
        // Drop the old engine (its files and locks) before deleting its directory.
        self.engine = None;
        destroy_db(self.dir)?;
        self.engine = Some(engine::open(self.config, self.dir)?);
        self.tracker = Tracker::start();
        self.state = EngineState::Settled;
        Ok(())
    }

    /// Times `benchmark`, then reports it.
    fn measure(&mut self, benchmark: Benchmark, run_index: usize) -> Result<(), BenchError> {
        let engine = self.engine.as_deref().expect("an engine is open between benchmarks");
        let shared = Shared { engine, config: self.config, values: &self.values, ycsb: &self.ycsb };
        let m = workloads::run(shared, benchmark, run_index)?;
        let resources = self.tracker.measure(engine, self.dir, &m)?;
        self.state = self.state.after(benchmark);
        self.print(&m, &resources)?;
        self.results.push(m);
        Ok(())
    }

    fn print(&mut self, m: &Measurement, resources: &Resources) -> Result<(), BenchError> {
        emit_line(&report::result_line(m))?;
        if matches!(m.benchmark, Benchmark::Ycsb(_)) {
            emit_line(&report::ycsb_latency_line(m))?;
        }
        if self.config.histogram {
            emit_line(&report::histogram_block(m))?;
        }
        if let (Some(file), Some(path)) = (self.json.as_mut(), self.config.json.as_deref()) {
            let ctx =
                report::JsonContext { engine: self.config.engine.name(), resources, command_line: self.command_line };
            writeln!(file, "{}", report::json_line(m, &ctx)).map_err(io_error(format!("write {}", path.display())))?;
        }
        Ok(())
    }
}

/// True when the database holds a key starting with YCSB's `user` prefix.
fn has_ycsb_records(engine: &dyn Engine) -> Result<bool, BenchError> {
    let mut found = false;
    engine.scan(Some(YCSB_KEY_PREFIX), Direction::Forward, 1, &mut |key, _| {
        found = key.starts_with(YCSB_KEY_PREFIX);
    })?;
    Ok(found)
}

/// Writes `text` to stdout and flushes, so progress shows as it happens. A closed stdout
/// (`cairn-bench | head`) is an error that ends the run; the temporary directory is still removed.
fn emit(text: &str) -> Result<(), BenchError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(io_error("write stdout"))
}

/// [`emit`] plus a newline.
fn emit_line(text: &str) -> Result<(), BenchError> {
    emit(&format!("{text}\n"))
}

/// What the harness knows about the engine's pending work, so it settles before a read only
/// when something is pending (and not again after explicit `flush,waitforcompaction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EngineState {
    /// No unflushed writes and no background work known to be pending.
    Settled,
    /// Flushed since the last write; background work may still run.
    Flushed,
    /// Writes may sit in the memtable.
    Dirty,
}

impl EngineState {
    /// The state after `benchmark` (or action) ran.
    fn after(self, benchmark: Benchmark) -> EngineState {
        match (benchmark, self) {
            (b, _) if b.writes() => EngineState::Dirty,
            (Benchmark::Flush, EngineState::Dirty) => EngineState::Flushed,
            (Benchmark::WaitForCompaction, EngineState::Flushed) => EngineState::Settled,
            // Compaction flushes first; it may leave background work behind.
            (Benchmark::Compact, _) => EngineState::Flushed,
            (_, state) => state,
        }
    }
}

/// Runs one of db_bench's unmeasured actions and prints what it did.
fn run_action(engine: &dyn Engine, action: Benchmark) -> Result<(), BenchError> {
    let start = Instant::now();
    match action {
        Benchmark::Stats => emit_line(&engine.stats())?,
        Benchmark::Flush => {
            engine.flush()?;
            emit_line(&format!("flush memtable: {:.3} seconds", start.elapsed().as_secs_f64()))?;
        }
        Benchmark::WaitForCompaction => {
            engine.wait_for_background()?;
            emit_line(&format!("waitforcompaction: {:.3} seconds", start.elapsed().as_secs_f64()))?;
        }
        measured => unreachable!("{} is measured, not an action", measured.name()),
    }
    Ok(())
}

/// Flushes the memtable and waits for background work, and says how long that took.
fn settle(engine: &dyn Engine, next: Benchmark) -> Result<(), BenchError> {
    let start = Instant::now();
    engine.flush()?;
    engine.wait_for_background()?;
    emit_line(&format!(
        "flush + wait_for_background before {}: {:.3} seconds",
        next.name(),
        start.elapsed().as_secs_f64()
    ))?;
    Ok(())
}

/// Empties `dir` for a fresh database: a missing or empty directory is fine, a database of any
/// supported engine (it has one of [`EngineKind::marker_files`]) is removed, anything else is
/// refused.
fn destroy_db(dir: &Path) -> Result<(), BenchError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error(format!("list {}", dir.display()))(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        names.push(entry.map_err(io_error(format!("list {}", dir.display())))?.file_name());
    }
    if names.is_empty() {
        return Ok(());
    }
    let markers = || EngineKind::ALL.into_iter().flat_map(EngineKind::marker_files);
    if !names.iter().any(|n| markers().any(|m| n == *m)) {
        return Err(BenchError::Usage(format!(
            "refusing to delete {}: it is not empty and holds no Cairn, fjall or LMDB database \
             (pass an empty or new --db)",
            dir.display()
        )));
    }
    fs::remove_dir_all(dir).map_err(io_error(format!("remove {}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_flush_then_wait_settles_after_writes() {
        use EngineState::{Dirty, Flushed, Settled};
        assert_eq!(Settled.after(Benchmark::FillRandom), Dirty);
        assert_eq!(Settled.after(Benchmark::ReadWhileWriting), Dirty);
        assert_eq!(Dirty.after(Benchmark::Flush), Flushed);
        assert_eq!(Flushed.after(Benchmark::WaitForCompaction), Settled);
        assert_eq!(Dirty.after(Benchmark::WaitForCompaction), Dirty, "unflushed writes remain");
        assert_eq!(Flushed.after(Benchmark::Overwrite), Dirty);
        assert_eq!(Settled.after(Benchmark::ReadRandom), Settled);
        assert_eq!(Dirty.after(Benchmark::Stats), Dirty);
        assert_eq!(Dirty.after(Benchmark::Compact), Flushed);
        assert_eq!(Settled.after(Benchmark::YcsbLoad), Dirty);
        assert_eq!(Settled.after(Benchmark::Ycsb(ycsb::YcsbWorkload::C)), Settled, "workload C only reads");
        assert_eq!(Settled.after(Benchmark::Ycsb(ycsb::YcsbWorkload::A)), Dirty);
    }
}
