//! `db_bench`-compatible flags for `cairn-bench`, parsed by hand (docs/tools.md#cairn-bench-flags).
//!
//! Owns the flag names, their defaults and their validation, producing a [`Config`]. Accepts
//! gflags spellings so one command line runs both RocksDB's `db_bench` and Cairn:
//! `--name=value`, `-name=value` and `--name value`; boolean flags also take `0`/`1`/`true`/
//! `false` or stand alone (`--histogram` means `--histogram=1`). Unknown flags are errors, never
//! ignored, so a typo cannot silently change what is measured.

use std::fmt;
use std::path::PathBuf;

use cairn::Compression;

use crate::engine::EngineKind;
use crate::generator::decimal_digits;
use crate::workloads::Benchmark;

/// The benchmarks run when `--benchmarks` is not given (db_bench's core set).
pub const DEFAULT_BENCHMARKS: &str = "fillseq,fillrandom,overwrite,readrandom,readseq,readreverse,seekrandom";

/// The text shown by `cairn-bench --help`.
pub const HELP: &str = "\
cairn-bench: Cairn's db_bench-compatible benchmark harness.

Usage: cairn-bench [--flag=value ...]

With no flags it runs --benchmarks=fillseq,fillrandom,overwrite,readrandom,readseq,readreverse,seekrandom
--num=1000000 in a temporary directory that is removed afterwards.

Flags (db_bench names and meanings):
  --benchmarks=LIST         comma-separated: fillseq, fillrandom, overwrite, deleterandom, readrandom,
                            readmissing, multireadrandom, readseq, readreverse, seekrandom,
                            readwhilewriting, compact; YCSB: ycsbload, ycsba, ycsbb, ycsbc, ycsbd,
                            ycsbe, ycsbf (also ycsb_a ...); actions: stats, flush, waitforcompaction
  --engine=NAME             cairn | fjall | lmdb (default cairn; fjall and lmdb need the cargo
                            features of the same name)
  --num=N                   keys in the key space, and writes per thread; YCSB record count
                            (default 1000000)
  --reads=N                 reads per thread for read benchmarks; YCSB operations per thread
                            (default: --num; -1 means --num)
  --writes=N                writes per thread for write benchmarks (default: --num; -1 means --num)
  --deletes=N               deletes per thread for deleterandom (default: --num; -1 means --num)
  --value_size=N            value bytes (default 100)
  --key_size=N              key bytes: the decimal key number zero-padded (default 16)
  --compression_ratio=F     fraction values compress to (default 0.5)
  --threads=N               threads, each doing the full op count (default 1)
  --batch_size=N            entries per write batch and keys per multireadrandom call (default 1)
  --seek_nexts=N            next() calls after each seek in seekrandom (default 10)
  --cache_size=BYTES        block cache capacity (default 8388608)
  --bloom_bits=N            bloom filter bits per key (default 10)
  --compression_type=NAME   none | lz4 | zstd (default none)
  --write_buffer_size=BYTES memtable size (default: the engine's)
  --block_size=BYTES        table block size (default: the engine's)
  --block_restart_interval=N  entries between restart points in a block (default: the engine's)
  --data_block_index_type=N   Cairn: 0 binary search only, 1 binary search + hash index
                              (default: the engine's, 1)
  --target_file_size_base=BYTES  table file size target (default: the engine's)
  --max_background_jobs=N   background flush/compaction threads (default: the engine's)
  --mmap_read=0|1           read tables through a memory map (default: the engine's)
  --sync=0|1                fsync every write batch (default 0)
  --db=DIR                  database directory (default: a fresh directory under the system temp
                            directory, removed at the end)
  --use_existing_db=0|1     reuse the database in --db instead of starting empty (default 0)
  --seed=N                  seed for keys and values (default 0; same seed, same bytes)
  --histogram=0|1           print latency histograms (default 0)
  --json=PATH               also write one JSON object per benchmark to PATH (one per line)
  --help                    print this text

Exit status: 0 success, 2 usage error, 3 database or I/O error.
";

/// Everything one run needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Benchmarks to run, in order.
    pub benchmarks: Vec<Benchmark>,
    /// The engine under test.
    pub engine: EngineKind,
    /// Size of the key space, `[0, num)`.
    pub num: u64,
    /// Reads per thread.
    pub reads: u64,
    /// Writes per thread.
    pub writes: u64,
    /// Deletes per thread.
    pub deletes: u64,
    /// Value bytes.
    pub value_size_bytes: usize,
    /// Key bytes.
    pub key_size_bytes: usize,
    /// Fraction a compressor shrinks values to.
    pub compression_ratio: f64,
    /// Worker threads.
    pub threads: usize,
    /// Entries per write batch and keys per `multi_get`.
    pub batch_size: usize,
    /// Nexts after each seek.
    pub seek_nexts: u64,
    /// Block cache capacity.
    pub cache_size_bytes: u64,
    /// Bloom filter bits per key.
    pub bloom_bits: u32,
    /// Block compression.
    pub compression: Compression,
    /// Memtable budget, when given.
    pub write_buffer_size_bytes: Option<usize>,
    /// Table block size, when given.
    pub block_size_bytes: Option<usize>,
    /// `--block_restart_interval`: entries between restart points.
    pub restart_interval: Option<usize>,
    /// `--data_block_index_type`: 1 gives data blocks a hash index, 0 does not.
    pub data_block_hash_index: Option<bool>,
    /// Table file size target, when given.
    pub target_file_size_bytes: Option<u64>,
    /// Background threads, when given.
    pub background_threads: Option<usize>,
    /// Memory-mapped reads, when given.
    pub mmap_read: Option<bool>,
    /// Write durability: fsync each batch.
    pub sync: bool,
    /// Database directory; `None` means a temporary one, removed at the end.
    pub db: Option<PathBuf>,
    /// Reuse the existing database.
    pub use_existing_db: bool,
    /// Seed for keys and values.
    pub seed: u64,
    /// Print histograms.
    pub histogram: bool,
    /// JSON results file.
    pub json: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            benchmarks: Vec::new(),
            engine: EngineKind::Cairn,
            num: 1_000_000,
            reads: 1_000_000,
            writes: 1_000_000,
            deletes: 1_000_000,
            value_size_bytes: 100,
            key_size_bytes: 16,
            compression_ratio: 0.5,
            threads: 1,
            batch_size: 1,
            seek_nexts: 10,
            cache_size_bytes: 8 << 20,
            bloom_bits: 10,
            compression: Compression::None,
            write_buffer_size_bytes: None,
            block_size_bytes: None,
            restart_interval: None,
            data_block_hash_index: None,
            target_file_size_bytes: None,
            background_threads: None,
            mmap_read: None,
            sync: false,
            db: None,
            use_existing_db: false,
            seed: 0,
            histogram: false,
            json: None,
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// `--help`.
    Help,
    /// Run with this configuration (boxed: it dwarfs the other variant).
    Run(Box<Config>),
}

/// A usage error; `Display` is the message for stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "usage error: {}", self.0)
    }
}

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError(msg.into())
}

/// Counts given as -1 (db_bench's "same as --num") or not at all.
#[derive(Debug, Default)]
struct Pending {
    benchmarks: Option<String>,
    reads: Option<i64>,
    writes: Option<i64>,
    deletes: Option<i64>,
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Parsed, UsageError> {
    let mut config = Config::default();
    let mut pending = Pending::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let body = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-'))
            .ok_or_else(|| usage(format!("unexpected argument '{arg}' (flags look like --name=value)")))?;
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        if name == "help" {
            return Ok(Parsed::Help);
        }
        let value = if is_boolean(name) {
            inline.unwrap_or_else(|| "1".to_string())
        } else {
            inline.or_else(|| args.next()).ok_or_else(|| usage(format!("--{name} needs a value")))?
        };
        apply(&mut config, &mut pending, name, &value)?;
    }
    finish(config, pending).map(|c| Parsed::Run(Box::new(c)))
}

fn is_boolean(name: &str) -> bool {
    matches!(name, "sync" | "use_existing_db" | "histogram" | "mmap_read")
}

/// Sets one flag.
fn apply(c: &mut Config, pending: &mut Pending, name: &str, value: &str) -> Result<(), UsageError> {
    match name {
        "benchmarks" => pending.benchmarks = Some(value.to_string()),
        "num" => c.num = number(name, value)?,
        "reads" => pending.reads = Some(number(name, value)?),
        "writes" => pending.writes = Some(number(name, value)?),
        "deletes" => pending.deletes = Some(number(name, value)?),
        "engine" => c.engine = engine(value)?,
        "value_size" => c.value_size_bytes = number(name, value)?,
        "key_size" => c.key_size_bytes = number(name, value)?,
        "compression_ratio" => c.compression_ratio = fraction(name, value)?,
        "threads" => c.threads = number(name, value)?,
        "batch_size" => c.batch_size = number(name, value)?,
        "seek_nexts" => c.seek_nexts = number(name, value)?,
        "cache_size" => c.cache_size_bytes = number(name, value)?,
        "bloom_bits" => c.bloom_bits = number(name, value)?,
        "compression_type" => c.compression = compression(value)?,
        "write_buffer_size" => c.write_buffer_size_bytes = Some(number(name, value)?),
        "block_size" => c.block_size_bytes = Some(number(name, value)?),
        "block_restart_interval" => c.restart_interval = Some(number(name, value)?),
        "data_block_index_type" => c.data_block_hash_index = Some(boolean(name, value)?),
        "target_file_size_base" => c.target_file_size_bytes = Some(number(name, value)?),
        "max_background_jobs" => c.background_threads = Some(number(name, value)?),
        "mmap_read" => c.mmap_read = Some(boolean(name, value)?),
        "sync" => c.sync = boolean(name, value)?,
        "db" => c.db = Some(PathBuf::from(value)),
        "use_existing_db" => c.use_existing_db = boolean(name, value)?,
        "seed" => c.seed = number(name, value)?,
        "histogram" => c.histogram = boolean(name, value)?,
        "json" => c.json = Some(PathBuf::from(value)),
        _ => return Err(usage(format!("unknown flag '--{name}'"))),
    }
    Ok(())
}

/// Resolves defaults that depend on other flags and checks relations between flags.
fn finish(mut c: Config, pending: Pending) -> Result<Config, UsageError> {
    c.benchmarks = benchmark_list(pending.benchmarks.as_deref().unwrap_or(DEFAULT_BENCHMARKS))?;
    c.reads = count_or_num("reads", pending.reads, c.num)?;
    c.writes = count_or_num("writes", pending.writes, c.num)?;
    c.deletes = count_or_num("deletes", pending.deletes, c.num)?;
    if c.num == 0 {
        return Err(usage("--num must be at least 1"));
    }
    if c.threads == 0 || c.batch_size == 0 {
        return Err(usage("--threads and --batch_size must be at least 1"));
    }
    // fillseq writes keys 0..writes; every other benchmark draws from 0..num.
    let largest_key = c.num.max(c.writes).saturating_sub(1);
    let widest_key = decimal_digits(largest_key);
    if c.key_size_bytes < widest_key {
        return Err(usage(format!(
            "--key_size={} cannot hold key {largest_key} ({widest_key} digits); raise --key_size or lower --num",
            c.key_size_bytes
        )));
    }
    if c.use_existing_db && c.db.is_none() {
        return Err(usage("--use_existing_db=1 needs --db=DIR"));
    }
    Ok(c)
}

fn benchmark_list(list: &str) -> Result<Vec<Benchmark>, UsageError> {
    list.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| Benchmark::from_name(name).ok_or_else(|| usage(format!("unknown benchmark '{name}'"))))
        .collect()
}

fn count_or_num(name: &str, given: Option<i64>, num: u64) -> Result<u64, UsageError> {
    match given {
        None | Some(-1) => Ok(num),
        Some(n) => u64::try_from(n).map_err(|_| usage(format!("--{name} must be -1 or a count, not {n}"))),
    }
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, UsageError> {
    value.parse().map_err(|_| usage(format!("--{name} needs a whole number in range, not '{value}'")))
}

fn fraction(name: &str, value: &str) -> Result<f64, UsageError> {
    match value.parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
        _ => Err(usage(format!("--{name} must be a number in (0, 1], not '{value}'"))),
    }
}

fn boolean(name: &str, value: &str) -> Result<bool, UsageError> {
    match value {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(usage(format!("--{name} must be 0 or 1, not '{value}'"))),
    }
}

fn engine(value: &str) -> Result<EngineKind, UsageError> {
    let kind = EngineKind::from_name(value)
        .ok_or_else(|| usage(format!("--engine must be cairn, fjall or lmdb, not '{value}'")))?;
    if !kind.is_compiled() {
        return Err(usage(format!(
            "--engine={value} needs a cairn-bench built with it: cargo build --release -p cairn-bench --features {value}"
        )));
    }
    Ok(kind)
}

fn compression(value: &str) -> Result<Compression, UsageError> {
    Compression::from_name(&value.to_ascii_lowercase())
        .ok_or_else(|| usage(format!("--compression_type must be none, lz4 or zstd, not '{value}'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Result<Parsed, UsageError> {
        parse(args.iter().map(|s| s.to_string()))
    }

    fn config(args: &[&str]) -> Config {
        match parse_str(args) {
            Ok(Parsed::Run(c)) => *c,
            other => panic!("expected a config for {args:?}, got {other:?}"),
        }
    }

    fn err(args: &[&str]) -> String {
        match parse_str(args) {
            Err(e) => e.0,
            other => panic!("expected a usage error for {args:?}, got {other:?}"),
        }
    }

    #[test]
    fn no_flags_is_the_default_dataset() {
        let c = config(&[]);
        assert_eq!(c.num, 1_000_000);
        assert_eq!(c.reads, 1_000_000);
        assert_eq!(c.value_size_bytes, 100);
        assert_eq!(c.key_size_bytes, 16);
        assert_eq!(c.cache_size_bytes, 8 << 20);
        assert_eq!(c.bloom_bits, 10);
        assert_eq!(c.compression, Compression::None);
        let names: Vec<&str> = c.benchmarks.iter().map(|b| b.name()).collect();
        assert_eq!(names.join(","), DEFAULT_BENCHMARKS);
        assert_eq!(c.db, None);
        assert_eq!(c.engine, EngineKind::Cairn);
    }

    #[test]
    fn gflags_spellings_are_accepted() {
        let c = config(&["--num=5000", "-reads=10", "--threads", "4", "--sync", "--histogram=0", "--db=/tmp/x"]);
        assert_eq!((c.num, c.reads, c.writes, c.threads), (5000, 10, 5000, 4));
        assert!(c.sync);
        assert!(!c.histogram);
        assert_eq!(c.db, Some(PathBuf::from("/tmp/x")));
        let c = config(&["--num=100", "--reads=-1", "--compression_type=LZ4", "--use_existing_db=true", "--db=d"]);
        assert_eq!(c.reads, 100);
        assert_eq!(c.compression, Compression::Lz4);
        assert!(c.use_existing_db);
    }

    #[test]
    fn benchmark_list_skips_empty_names() {
        let c = config(&["--benchmarks=fillseq,,readrandom,", "--batch_size=8"]);
        assert_eq!(c.benchmarks, vec![Benchmark::FillSeq, Benchmark::ReadRandom]);
        assert_eq!(c.batch_size, 8);
    }

    #[test]
    fn optional_engine_knobs_stay_unset_unless_given() {
        let c = config(&[]);
        assert_eq!((c.write_buffer_size_bytes, c.block_size_bytes, c.mmap_read), (None, None, None));
        let c = config(&["--write_buffer_size=1048576", "--block_size=8192", "--mmap_read=0"]);
        assert_eq!(
            (c.write_buffer_size_bytes, c.block_size_bytes, c.mmap_read),
            (Some(1 << 20), Some(8192), Some(false))
        );
    }

    #[test]
    fn engines_and_ycsb_names_parse() {
        let c = config(&["--engine=cairn", "--benchmarks=ycsbload,ycsb_a,ycsbf,compact", "--deletes=7"]);
        assert_eq!(c.engine, EngineKind::Cairn);
        let names: Vec<&str> = c.benchmarks.iter().map(|b| b.name()).collect();
        assert_eq!(names, ["ycsbload", "ycsba", "ycsbf", "compact"]);
        assert_eq!(c.deletes, 7);
        for peer in ["fjall", "lmdb"] {
            let compiled = EngineKind::from_name(peer).is_some_and(EngineKind::is_compiled);
            match parse_str(&[&format!("--engine={peer}")]) {
                Ok(Parsed::Run(c)) => assert!(compiled && c.engine.name() == peer),
                Err(e) => assert!(!compiled && e.0.contains("--features"), "{e}"),
                Ok(Parsed::Help) => panic!("no help asked"),
            }
        }
    }

    #[test]
    fn help_is_recognised() {
        assert_eq!(parse_str(&["--num=1", "--help"]), Ok(Parsed::Help));
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        assert!(err(&["--frobs=1"]).contains("unknown flag"));
        assert!(err(&["num=1"]).contains("unexpected argument"));
        assert!(err(&["--benchmarks=fillseq,teleport"]).contains("unknown benchmark 'teleport'"));
        assert!(err(&["--num=ten"]).contains("whole number"));
        assert!(err(&["--num=0"]).contains("at least 1"));
        assert!(err(&["--threads=0"]).contains("at least 1"));
        assert!(err(&["--reads=-2"]).contains("-1 or a count"));
        assert!(err(&["--sync=yes"]).contains("0 or 1"));
        assert!(err(&["--compression_type=snappy"]).contains("none, lz4 or zstd"));
        assert!(err(&["--compression_ratio=0"]).contains("(0, 1]"));
        assert!(err(&["--num=100000", "--key_size=4"]).contains("cannot hold key 99999"));
        assert!(err(&["--use_existing_db=1"]).contains("needs --db"));
        assert!(err(&["--value_size"]).contains("needs a value"));
        assert!(err(&["--engine=rocksdb"]).contains("cairn, fjall or lmdb"));
        assert!(err(&["--deletes=-3"]).contains("-1 or a count"));
    }
}
