//! `cairn-bench`: Cairn's `db_bench`-compatible benchmark harness (docs/tools.md#cairn-bench).
//!
//! This file owns the run: it prepares the database directory, opens the database with the
//! flags' options, runs each benchmark in order, settles the engine before reads, prints
//! db_bench's lines, and removes a temporary directory at the end. Flags live in [`flags`],
//! inputs in [`generator`], the timed loops in [`workloads`], latencies in [`histogram`] and
//! every output format in [`report`].
//!
//! Rules kept here (db_bench's, so results compare):
//! * `fillseq` and `fillrandom` start from an empty database (skipped under
//!   `--use_existing_db=1`); every other benchmark uses what earlier ones left.
//! * Before a reading benchmark that follows writes, the memtable is flushed and background
//!   work drained (`Db::flush` then `Db::wait_for_background`), and a line says so: reads then
//!   measure the tables, not a half-finished compaction. Explicit `flush,waitforcompaction`
//!   steps (db_bench's spelling) count as settling.
//! * A directory is deleted only when it is the harness's own temporary one or holds a Cairn
//!   database (`CURRENT` or `LOCK`): a mistyped `--db` never loses unrelated files.
//!
//! Exit codes: 0 success, 2 usage error, 3 database or I/O error.
#![forbid(unsafe_code)]

mod flags;
mod generator;
mod histogram;
mod report;
mod workloads;

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use cairn::{Db, Options};

use flags::{Config, Parsed};
use generator::ValueSource;
use workloads::{Benchmark, Measurement};

/// Exit status for a usage error.
const EXIT_USAGE: u8 = 2;
/// Exit status for a database or I/O error.
const EXIT_FAILURE: u8 = 3;

/// Why a run failed.
#[derive(Debug)]
enum BenchError {
    /// The flags ask for something impossible.
    Usage(String),
    /// The database reported an error.
    Db(cairn::Error),
    /// A file outside the database (results file, directory cleanup) failed.
    Io { what: String, source: io::Error },
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Usage(msg) => write!(f, "usage error: {msg}"),
            BenchError::Db(e) => write!(f, "{e}"),
            BenchError::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl From<cairn::Error> for BenchError {
    fn from(e: cairn::Error) -> Self {
        BenchError::Db(e)
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
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cairn-bench: {e}");
            ExitCode::from(if matches!(e, BenchError::Usage(_)) { EXIT_USAGE } else { EXIT_FAILURE })
        }
    }
}

/// Runs every benchmark, then removes the directory if it was a temporary one (even after a
/// failure; the run's own error is reported first).
fn run(config: &Config) -> Result<(), BenchError> {
    let (dir, temporary) = match &config.db {
        Some(dir) => (dir.clone(), false),
        None => (temporary_dir(), true),
    };
    let outcome = run_in(config, &dir);
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

fn run_in(config: &Config, dir: &Path) -> Result<(), BenchError> {
    emit(&report::header(config, dir, SystemTime::now(), &report::CpuInfo::detect()))?;
    let mut json = config
        .json
        .as_deref()
        .map(|path| File::create(path).map_err(io_error(format!("create {}", path.display()))))
        .transpose()?;
    if !config.use_existing_db {
        destroy_db(dir)?;
    }
    let mut db = open_db(config, dir)?;
    let values = ValueSource::new(config.seed, config.compression_ratio, config.value_size_bytes);
    // An existing database may have recovery work pending; a fresh one has nothing to settle.
    let mut state = if config.use_existing_db { EngineState::Dirty } else { EngineState::Settled };
    let mut results = Vec::new();
    for (run_index, &benchmark) in config.benchmarks.iter().enumerate() {
        if !benchmark.is_measured() {
            run_action(&db, benchmark)?;
            state = state.after(benchmark);
            continue;
        }
        if benchmark.needs_fresh_db() {
            if config.use_existing_db {
                emit_line(&report::skipped_line(benchmark.name()))?;
                continue;
            }
            db.close()?;
            destroy_db(dir)?;
            db = open_db(config, dir)?;
            state = EngineState::Settled;
        }
        if benchmark.reads() && state != EngineState::Settled {
            settle(&db, benchmark)?;
            state = EngineState::Settled;
        }
        let measurement = workloads::run(&db, config, &values, benchmark, run_index)?;
        state = state.after(benchmark);
        print_measurement(config, &measurement, json.as_mut())?;
        results.push(measurement);
    }
    db.close()?;
    emit(&report::summary_table(&results))?;
    Ok(())
}

fn print_measurement(config: &Config, m: &Measurement, json: Option<&mut File>) -> Result<(), BenchError> {
    emit_line(&report::result_line(m))?;
    if config.histogram {
        emit_line(&report::histogram_block(m))?;
    }
    if let (Some(file), Some(path)) = (json, config.json.as_deref()) {
        writeln!(file, "{}", report::json_line(m)).map_err(io_error(format!("write {}", path.display())))?;
    }
    Ok(())
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
            (_, state) => state,
        }
    }
}

/// Runs one of db_bench's unmeasured actions and prints what it did.
fn run_action(db: &Db, action: Benchmark) -> Result<(), BenchError> {
    let start = Instant::now();
    match action {
        Benchmark::Stats => emit_line(&db.metrics().to_string())?,
        Benchmark::Flush => {
            db.flush()?;
            emit_line(&format!("flush memtable: {:.3} seconds", start.elapsed().as_secs_f64()))?;
        }
        Benchmark::WaitForCompaction => {
            db.wait_for_background()?;
            emit_line(&format!("waitforcompaction: {:.3} seconds", start.elapsed().as_secs_f64()))?;
        }
        measured => unreachable!("{} is measured, not an action", measured.name()),
    }
    Ok(())
}

/// Flushes the memtable and waits for background work, and says how long that took.
fn settle(db: &Db, next: Benchmark) -> Result<(), BenchError> {
    let start = Instant::now();
    db.flush()?;
    db.wait_for_background()?;
    emit_line(&format!(
        "flush + wait_for_background before {}: {:.3} seconds",
        next.name(),
        start.elapsed().as_secs_f64()
    ))?;
    Ok(())
}

/// Opens the database with every engine option the flags set.
fn open_db(config: &Config, dir: &Path) -> Result<Db, BenchError> {
    let mut options = Options::default()
        .create_if_missing(!config.use_existing_db)
        .cache_size_bytes(config.cache_size_bytes)
        .bloom_bits_per_key(config.bloom_bits)
        .compression(config.compression);
    if let Some(bytes) = config.write_buffer_size_bytes {
        options = options.memtable_size_bytes(bytes);
    }
    if let Some(bytes) = config.block_size_bytes {
        options = options.block_size_bytes(bytes);
    }
    if let Some(bytes) = config.target_file_size_bytes {
        options = options.target_file_size_bytes(bytes);
    }
    if let Some(threads) = config.background_threads {
        options = options.background_threads(threads);
    }
    if let Some(mmap) = config.mmap_read {
        options = options.use_mmap(mmap);
    }
    Ok(options.open(dir)?)
}

/// Empties `dir` for a fresh database: a missing or empty directory is fine, a Cairn database
/// (it has `CURRENT` or `LOCK`) is removed, anything else is refused.
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
    if !names.iter().any(|n| n == "CURRENT" || n == "LOCK") {
        return Err(BenchError::Usage(format!(
            "refusing to delete {}: it is not empty and holds no Cairn database (pass an empty or new --db)",
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
    }
}
