//! What `cairn-bench` prints and writes: db_bench's header and result lines, the YCSB latency
//! line, the closing results table, and one JSON object per benchmark
//! (docs/tools.md#result-lines, docs/tools.md#json-results).
//!
//! Owns every output format, as pure functions returning strings so tests pin them exactly.
//! The result line is byte-for-byte db_bench's
//! `"%-12s : %11.3f micros/op %ld ops/sec %.3f seconds %lu operations;%s%s"` with the
//! `"%6.1f MB/s"` rate and the `"(F of N found)"` message, so scripts written for db_bench
//! output read ours unchanged.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use cairn_base::json::push_json_string;

use crate::flags::Config;
use crate::histogram::Histogram;
use crate::resources::Resources;
use crate::workloads::{Benchmark, Measurement};

/// The separator db_bench prints under its header.
pub const RULE: &str = "------------------------------------------------";

/// The run header: engine version, date, machine, and the data shape of this run.
pub fn header(config: &Config, db_dir: &Path, now: SystemTime, cpu: &CpuInfo) -> String {
    let mut out = String::new();
    let entry_bytes = (config.key_size_bytes + config.value_size_bytes) as f64;
    let compressed_value_bytes = (config.value_size_bytes as f64 * config.compression_ratio + 0.5) as u64;
    let file_bytes = config.key_size_bytes as f64 + config.value_size_bytes as f64 * config.compression_ratio;
    let lines = [
        format!("Cairn:      version {}", env!("CARGO_PKG_VERSION")),
        format!("Engine:     {}", config.engine.version()),
        format!("Date:       {}", ctime_utc(now)),
        format!("CPU:        {} * {}", cpu.count, cpu.model),
        format!("CPUCache:   {}", cpu.cache),
        format!("Keys:       {} bytes each", config.key_size_bytes),
        format!(
            "Values:     {} bytes each ({compressed_value_bytes} bytes after compression)",
            config.value_size_bytes
        ),
        format!("Entries:    {}", config.num),
        format!("RawSize:    {:.1} MB (estimated)", entry_bytes * config.num as f64 / 1_048_576.0),
        format!("FileSize:   {:.1} MB (estimated)", file_bytes * config.num as f64 / 1_048_576.0),
        format!("Compression: {}", config.compression.name()),
        format!("Threads:    {}", config.threads),
    ];
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    if config.benchmarks.iter().any(|b| matches!(b, Benchmark::Ycsb(_) | Benchmark::YcsbLoad)) {
        out.push_str(YCSB_NOTE);
    }
    if cfg!(debug_assertions) {
        out.push_str("WARNING: Optimization is disabled: benchmarks unnecessarily slow\n");
    }
    out.push_str(RULE);
    out.push('\n');
    // Writing to a String cannot fail.
    let _ = writeln!(out, "DB path: [{}]", db_dir.display());
    out
}

/// The header's statement of how Cairn's YCSB differs from YCSB's defaults.
pub const YCSB_NOTE: &str = "YCSB:       core workloads A-F, scrambled zipfian / latest theta=0.99; deviation: one \
value of --value_size bytes per record (YCSB: 10 fields of 100 bytes); keys user<FNV-64 of record>\n";

/// What the header says about the processor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuInfo {
    /// Logical processors.
    pub count: usize,
    /// Model name.
    pub model: String,
    /// Cache size, as the OS reports it.
    pub cache: String,
}

impl CpuInfo {
    /// Reads `/proc/cpuinfo` where there is one; elsewhere reports the thread count only.
    pub fn detect() -> CpuInfo {
        let fallback = std::thread::available_parallelism().map_or(1, usize::from);
        match std::fs::read_to_string("/proc/cpuinfo") {
            Ok(text) => CpuInfo::parse(&text, fallback),
            Err(_) => CpuInfo { count: fallback, model: "unknown".into(), cache: "unknown".into() },
        }
    }

    /// Extracts processor count, `model name` and `cache size` from `/proc/cpuinfo` text.
    pub fn parse(text: &str, fallback_count: usize) -> CpuInfo {
        let field = |name: &str| {
            text.lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim() == name)
                .map(|(_, v)| v.trim().to_string())
        };
        let count = text.lines().filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor")).count();
        CpuInfo {
            count: if count == 0 { fallback_count } else { count },
            model: field("model name").unwrap_or_else(|| "unknown".into()),
            cache: field("cache size").unwrap_or_else(|| "unknown".into()),
        }
    }
}

/// `time` as C's `ctime` prints it, in UTC: `Sat Nov 22 01:46:00 2025`.
pub fn ctime_utc(time: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let (year, month, day) = civil_from_days(days);
    let weekday = DAYS[(days % 7) as usize];
    let month_name = MONTHS[(month - 1) as usize];
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    format!("{weekday} {month_name} {day:>2} {h:02}:{m:02}:{s:02} {year}")
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), Howard Hinnant's algorithm.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// db_bench's result line for one benchmark.
pub fn result_line(m: &Measurement) -> String {
    let mut extra = String::new();
    if m.bytes > 0 {
        extra = format!("{:6.1} MB/s", m.mb_per_sec());
    }
    if let Some(found) = m.found {
        if !extra.is_empty() {
            extra.push(' ');
        }
        // Writing to a String cannot fail.
        let _ = write!(extra, "({found} of {} found)", m.lookups);
    }
    format!(
        "{:<12} : {:>11.3} micros/op {} ops/sec {:.3} seconds {} operations;{}{}",
        m.benchmark.name(),
        m.micros_per_op(),
        m.ops_per_sec() as i64,
        m.elapsed.as_secs_f64(),
        m.ops,
        if extra.is_empty() { "" } else { " " },
        extra
    )
}

/// db_bench's histogram block, printed after the result line with `--histogram=1`.
pub fn histogram_block(m: &Measurement) -> String {
    format!("Microseconds per {}:\n{}", m.benchmark.op_kind(), m.histogram)
}

/// The line db_bench prints for a fresh-database benchmark under `--use_existing_db=1`.
pub fn skipped_line(name: &str) -> String {
    format!("{name:<12} : skipped (--use_existing_db is true)")
}

/// The latency line printed under a YCSB result line: every operation, then each type.
pub fn ycsb_latency_line(m: &Measurement) -> String {
    let mut out = format!("{:<12}   latency us: all {}", m.benchmark.name(), percentiles(&m.histogram));
    for (op, h) in &m.by_op {
        // Writing to a String cannot fail.
        let _ = write!(out, "; {} ({} ops) {}", op.name(), h.count(), percentiles(h));
    }
    out
}

fn percentiles(h: &Histogram) -> String {
    format!(
        "p50 {:.3} p99 {:.3} p99.9 {:.3}",
        h.percentile_micros(50.0),
        h.percentile_micros(99.0),
        h.percentile_micros(99.9)
    )
}

/// The closing table: one row per measured benchmark.
pub fn summary_table(results: &[Measurement]) -> String {
    let mut out = String::new();
    out.push_str(RULE);
    out.push('\n');
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "{:<18} {:>12} {:>12} {:>10} {:>10} {:>10}",
        "benchmark", "ops/sec", "micros/op", "p50 us", "p99 us", "p99.9 us"
    );
    for m in results {
        let _ = writeln!(
            out,
            "{:<18} {:>12} {:>12.3} {:>10.3} {:>10.3} {:>10.3}",
            m.benchmark.name(),
            m.ops_per_sec() as i64,
            m.micros_per_op(),
            m.histogram.percentile_micros(50.0),
            m.histogram.percentile_micros(99.0),
            m.histogram.percentile_micros(99.9)
        );
    }
    out
}

/// What a JSON line says besides the measurement itself.
#[derive(Debug, Clone, Copy)]
pub struct JsonContext<'a> {
    /// The engine's `--engine` name.
    pub engine: &'a str,
    /// Cost figures after the benchmark.
    pub resources: &'a Resources,
    /// The command line that ran, shell-quoted.
    pub command_line: &'a str,
}

/// One JSON object (one line) describing `m`; see docs/tools.md#json-results for the fields.
pub fn json_line(m: &Measurement, ctx: &JsonContext<'_>) -> String {
    let r = ctx.resources;
    let mut out = String::from("{\"engine\":");
    push_json_string(&mut out, ctx.engine);
    out.push_str(",\"benchmark\":");
    push_json_string(&mut out, m.benchmark.name());
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        ",\"threads\":{},\"ops\":{},\"ops_per_sec\":{:.3},\"micros_per_op\":{:.3},\"mb_per_sec\":{:.3},{},\
         \"found\":{},\"lookups\":{},\"elapsed_s\":{:.6}",
        m.threads,
        m.ops,
        m.ops_per_sec(),
        m.micros_per_op(),
        m.mb_per_sec(),
        json_percentiles(&m.histogram),
        json_opt(m.found),
        if m.found.is_some() { m.lookups.to_string() } else { "null".to_string() },
        m.elapsed.as_secs_f64()
    );
    let _ = write!(
        out,
        ",\"write_amplification\":{},\"write_amplification_os\":{},\"space_amplification\":{},\
         \"user_bytes_written\":{},\"storage_bytes_written\":{},\"os_bytes_written\":{},\
         \"dir_size_bytes\":{},\"live_user_bytes\":{},\"peak_rss_bytes\":{},\"by_op\":{},\"command_line\":",
        json_ratio(r.write_amplification()),
        json_ratio(r.write_amplification_os()),
        json_ratio(r.space_amplification()),
        r.user_bytes_written,
        json_opt(r.storage_bytes_written),
        json_opt(r.os_bytes_written),
        json_opt(r.dir_size_bytes),
        json_opt(r.live_user_bytes),
        json_opt(r.peak_rss_bytes),
        json_by_op(m)
    );
    push_json_string(&mut out, ctx.command_line);
    out.push('}');
    out
}

fn json_percentiles(h: &Histogram) -> String {
    format!(
        "\"p50_us\":{:.3},\"p99_us\":{:.3},\"p999_us\":{:.3}",
        h.percentile_micros(50.0),
        h.percentile_micros(99.0),
        h.percentile_micros(99.9)
    )
}

fn json_opt(v: Option<u64>) -> String {
    v.map_or_else(|| "null".to_string(), |v| v.to_string())
}

fn json_ratio(v: Option<f64>) -> String {
    v.filter(|r| r.is_finite()).map_or_else(|| "null".to_string(), |r| format!("{r:.4}"))
}

/// `{"read":{"ops":N,"p50_us":..,"p99_us":..,"p999_us":..},...}` for YCSB, `null` otherwise.
fn json_by_op(m: &Measurement) -> String {
    if !matches!(m.benchmark, Benchmark::Ycsb(_)) {
        return "null".to_string();
    }
    let fields: Vec<String> = m
        .by_op
        .iter()
        .map(|(op, h)| format!("\"{}\":{{\"ops\":{},{}}}", op.name(), h.count(), json_percentiles(h)))
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// `args` as one shell command line: words without special characters as they are, others in
/// single quotes (`'it'\''s'`).
pub fn shell_quote(args: &[String]) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_=./,:@%+".contains(c);
    let words: Vec<String> =
        args.iter()
            .map(|a| {
                if !a.is_empty() && a.chars().all(safe) { a.clone() } else { format!("'{}'", a.replace('\'', "'\\''")) }
            })
            .collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::ycsb::{YcsbOp, YcsbWorkload};

    fn measurement(benchmark: Benchmark, ops: u64, secs: f64, bytes: u64, found: Option<u64>) -> Measurement {
        let mut histogram = Histogram::new();
        histogram.record(Duration::from_nanos(1500));
        histogram.record(Duration::from_nanos(2500));
        Measurement {
            benchmark,
            threads: 1,
            ops,
            bytes,
            user_bytes_written: 0,
            found,
            lookups: ops,
            elapsed: Duration::from_secs_f64(secs),
            thread_time: Duration::from_secs_f64(secs),
            histogram,
            by_op: Vec::new(),
        }
    }

    #[test]
    fn write_line_matches_db_bench() {
        let m = measurement(Benchmark::FillRandom, 1_000_000, 5.123, 116 * 1_000_000, None);
        assert_eq!(
            result_line(&m),
            "fillrandom   :       5.123 micros/op 195198 ops/sec 5.123 seconds 1000000 operations;   21.6 MB/s"
        );
    }

    #[test]
    fn read_line_has_found_message() {
        let m = measurement(Benchmark::ReadRandom, 1_000_000, 2.345, 51_814_000, Some(632_121));
        assert_eq!(
            result_line(&m),
            "readrandom   :       2.345 micros/op 426439 ops/sec 2.345 seconds 1000000 operations;   21.1 MB/s \
             (632121 of 1000000 found)"
        );
        let miss = measurement(Benchmark::ReadMissing, 2000, 0.5, 0, Some(0));
        assert_eq!(
            result_line(&miss),
            "readmissing  :     250.000 micros/op 4000 ops/sec 0.500 seconds 2000 operations; (0 of 2000 found)"
        );
    }

    #[test]
    fn long_names_are_not_truncated() {
        let m = measurement(Benchmark::ReadWhileWriting, 10, 0.001, 0, Some(10));
        assert!(result_line(&m).starts_with("readwhilewriting :     100.000 micros/op "), "{}", result_line(&m));
    }

    #[test]
    fn histogram_block_has_heading_and_percentiles() {
        let m = measurement(Benchmark::SeekRandom, 2, 1.0, 0, Some(2));
        let block = histogram_block(&m);
        assert!(block.starts_with("Microseconds per seek:\nCount: 2 Average: 2.0000"), "{block}");
        assert!(block.contains("\nPercentiles: P50: "), "{block}");
    }

    fn context(resources: &Resources) -> JsonContext<'_> {
        JsonContext { engine: "cairn", resources, command_line: "cairn-bench --num=4 'a b'" }
    }

    #[test]
    fn json_line_has_every_field() {
        let m = measurement(Benchmark::ReadRandom, 4, 2.0, 1_048_576, Some(3));
        let resources = Resources {
            user_bytes_written: 1000,
            storage_bytes_written: Some(2500),
            os_bytes_written: None,
            dir_size_bytes: Some(1500),
            live_user_bytes: Some(1000),
            peak_rss_bytes: Some(4096),
        };
        assert_eq!(
            json_line(&m, &context(&resources)),
            "{\"engine\":\"cairn\",\"benchmark\":\"readrandom\",\"threads\":1,\"ops\":4,\"ops_per_sec\":2.000,\
             \"micros_per_op\":500000.000,\"mb_per_sec\":0.500,\"p50_us\":1.504,\"p99_us\":2.500,\"p999_us\":2.500,\
             \"found\":3,\"lookups\":4,\"elapsed_s\":2.000000,\"write_amplification\":2.5000,\
             \"write_amplification_os\":null,\"space_amplification\":1.5000,\"user_bytes_written\":1000,\
             \"storage_bytes_written\":2500,\"os_bytes_written\":null,\"dir_size_bytes\":1500,\
             \"live_user_bytes\":1000,\"peak_rss_bytes\":4096,\"by_op\":null,\
             \"command_line\":\"cairn-bench --num=4 'a b'\"}"
        );
        let seq = measurement(Benchmark::ReadSeq, 4, 2.0, 0, None);
        let line = json_line(&seq, &context(&Resources::default()));
        assert!(line.contains("\"found\":null,\"lookups\":null,"), "{line}");
        assert!(line.contains("\"write_amplification\":null,"), "{line}");
    }

    #[test]
    fn ycsb_lines_break_latency_down_by_operation() {
        let mut m = measurement(Benchmark::Ycsb(YcsbWorkload::A), 2, 1.0, 0, Some(1));
        let (mut reads, mut updates) = (Histogram::new(), Histogram::new());
        reads.record(Duration::from_nanos(1500));
        updates.record(Duration::from_nanos(2500));
        m.by_op = vec![(YcsbOp::Read, reads), (YcsbOp::Update, updates)];
        let line = ycsb_latency_line(&m);
        assert_eq!(
            line,
            "ycsba          latency us: all p50 1.504 p99 2.500 p99.9 2.500; read (1 ops) p50 1.500 p99 1.500 \
             p99.9 1.500; update (1 ops) p50 2.500 p99 2.500 p99.9 2.500"
        );
        let json = json_line(&m, &context(&Resources::default()));
        assert!(
            json.contains(
                "\"by_op\":{\"read\":{\"ops\":1,\"p50_us\":1.500,\"p99_us\":1.500,\"p999_us\":1.500},\
                 \"update\":{\"ops\":1,\"p50_us\":2.500,\"p99_us\":2.500,\"p999_us\":2.500}},"
            ),
            "{json}"
        );
    }

    #[test]
    fn shell_quoting_keeps_plain_words_and_quotes_the_rest() {
        let args: Vec<String> =
            ["cairn-bench", "--db=/tmp/x", "--json=a b.json", "it's", ""].iter().map(|s| s.to_string()).collect();
        assert_eq!(shell_quote(&args), "cairn-bench --db=/tmp/x '--json=a b.json' 'it'\\''s' ''");
    }

    #[test]
    fn summary_table_has_a_row_per_result() {
        let rows = [
            measurement(Benchmark::FillSeq, 1000, 1.0, 1, None),
            measurement(Benchmark::ReadRandom, 1000, 0.5, 1, Some(1000)),
        ];
        let table = summary_table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[1].starts_with("benchmark") && lines[1].contains("p99.9 us"), "{table}");
        let row: Vec<&str> = lines[3].split_whitespace().collect();
        assert_eq!(row, ["readrandom", "2000", "500.000", "1.504", "2.500", "2.500"]);
    }

    #[test]
    fn ctime_matches_c() {
        assert_eq!(ctime_utc(UNIX_EPOCH), "Thu Jan  1 00:00:00 1970");
        assert_eq!(ctime_utc(UNIX_EPOCH + Duration::from_secs(1_763_775_960)), "Sat Nov 22 01:46:00 2025");
        assert_eq!(ctime_utc(UNIX_EPOCH + Duration::from_secs(951_782_400)), "Tue Feb 29 00:00:00 2000");
    }

    #[test]
    fn header_describes_the_data_shape() {
        let config = Config { num: 1_000_000, ..Config::default() };
        let cpu = CpuInfo { count: 2, model: "Test CPU".into(), cache: "512 KB".into() };
        let text = header(&config, Path::new("/tmp/db"), UNIX_EPOCH, &cpu);
        for line in [
            "Cairn:      version ",
            "CPU:        2 * Test CPU",
            "Keys:       16 bytes each",
            "Values:     100 bytes each (50 bytes after compression)",
            "Entries:    1000000",
            "RawSize:    110.6 MB (estimated)",
            "FileSize:   62.9 MB (estimated)",
            "Compression: none",
            "DB path: [/tmp/db]",
            "Engine:     cairn ",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("YCSB:"), "no YCSB note without YCSB benchmarks:\n{text}");
        let ycsb = Config { benchmarks: vec![Benchmark::Ycsb(crate::ycsb::YcsbWorkload::B)], ..config };
        let text = header(&ycsb, Path::new("/tmp/db"), UNIX_EPOCH, &cpu);
        assert!(text.contains("\nYCSB:       ") && text.contains("one value of --value_size bytes"), "{text}");
    }

    #[test]
    fn cpuinfo_parses_proc_format() {
        let text = "processor\t: 0\nmodel name\t: Fancy CPU @ 3GHz\ncache size\t: 32768 KB\n\nprocessor\t: 1\nmodel name\t: Fancy CPU @ 3GHz\n";
        let cpu = CpuInfo::parse(text, 9);
        assert_eq!(cpu, CpuInfo { count: 2, model: "Fancy CPU @ 3GHz".into(), cache: "32768 KB".into() });
        assert_eq!(CpuInfo::parse("", 9).count, 9);
    }
}
