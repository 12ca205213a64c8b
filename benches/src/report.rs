//! What `cairn-bench` prints and writes: db_bench's header and result lines, the closing
//! results table, and one JSON object per benchmark (docs/tools.md#result-lines).
//!
//! Owns every output format, as pure functions returning strings so tests pin them exactly.
//! The result line is byte-for-byte db_bench's
//! `"%-12s : %11.3f micros/op %ld ops/sec %.3f seconds %lu operations;%s%s"` with the
//! `"%6.1f MB/s"` rate and the `"(F of N found)"` message, so scripts written for db_bench
//! output read ours unchanged.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::flags::Config;
use crate::workloads::Measurement;

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
    if cfg!(debug_assertions) {
        out.push_str("WARNING: Optimization is disabled: benchmarks unnecessarily slow\n");
    }
    out.push_str(RULE);
    out.push('\n');
    // Writing to a String cannot fail.
    let _ = writeln!(out, "DB path: [{}]", db_dir.display());
    out
}

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
        let _ = write!(extra, "({found} of {} found)", m.ops);
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

/// The closing table: one row per measured benchmark.
pub fn summary_table(results: &[Measurement]) -> String {
    let mut out = String::new();
    out.push_str(RULE);
    out.push('\n');
    // Writing to a String cannot fail.
    let _ =
        writeln!(out, "{:<18} {:>12} {:>12} {:>10} {:>10}", "benchmark", "ops/sec", "micros/op", "p50 us", "p99 us");
    for m in results {
        let _ = writeln!(
            out,
            "{:<18} {:>12} {:>12.3} {:>10.3} {:>10.3}",
            m.benchmark.name(),
            m.ops_per_sec() as i64,
            m.micros_per_op(),
            m.histogram.percentile_micros(50.0),
            m.histogram.percentile_micros(99.0)
        );
    }
    out
}

/// One JSON object (one line) describing `m`; see docs/tools.md#json-results for the fields.
pub fn json_line(m: &Measurement) -> String {
    let mut out = String::from("{\"name\":");
    push_json_string(&mut out, m.benchmark.name());
    let found = m.found.map_or_else(|| "null".to_string(), |f| f.to_string());
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        ",\"threads\":{},\"ops\":{},\"ops_per_sec\":{:.3},\"micros_per_op\":{:.3},\"mb_per_sec\":{:.3},\
         \"p50_micros\":{:.3},\"p99_micros\":{:.3},\"p999_micros\":{:.3},\"found\":{found},\"elapsed_seconds\":{:.6}}}",
        m.threads,
        m.ops,
        m.ops_per_sec(),
        m.micros_per_op(),
        m.mb_per_sec(),
        m.histogram.percentile_micros(50.0),
        m.histogram.percentile_micros(99.0),
        m.histogram.percentile_micros(99.9),
        m.elapsed.as_secs_f64()
    );
    out
}

/// Appends `s` as a JSON string literal (RFC 8259 escaping).
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::histogram::Histogram;
    use crate::workloads::Benchmark;

    fn measurement(benchmark: Benchmark, ops: u64, secs: f64, bytes: u64, found: Option<u64>) -> Measurement {
        let mut histogram = Histogram::new();
        histogram.record(Duration::from_nanos(1500));
        histogram.record(Duration::from_nanos(2500));
        Measurement {
            benchmark,
            threads: 1,
            ops,
            bytes,
            found,
            elapsed: Duration::from_secs_f64(secs),
            thread_time: Duration::from_secs_f64(secs),
            histogram,
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

    #[test]
    fn json_line_has_every_field() {
        let m = measurement(Benchmark::ReadRandom, 4, 2.0, 1_048_576, Some(3));
        assert_eq!(
            json_line(&m),
            "{\"name\":\"readrandom\",\"threads\":1,\"ops\":4,\"ops_per_sec\":2.000,\"micros_per_op\":500000.000,\
             \"mb_per_sec\":0.500,\"p50_micros\":1.504,\"p99_micros\":2.500,\"p999_micros\":2.500,\"found\":3,\
             \"elapsed_seconds\":2.000000}"
        );
        let seq = measurement(Benchmark::ReadSeq, 4, 2.0, 0, None);
        assert!(json_line(&seq).contains("\"found\":null,"));
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut s = String::new();
        push_json_string(&mut s, "a\"\\\n\u{2}");
        assert_eq!(s, "\"a\\\"\\\\\\n\\u0002\"");
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
        assert!(lines[1].starts_with("benchmark") && lines[1].contains("p99 us"), "{table}");
        let row: Vec<&str> = lines[3].split_whitespace().collect();
        assert_eq!(row, ["readrandom", "2000", "500.000", "1.504", "2.500"]);
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
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn cpuinfo_parses_proc_format() {
        let text = "processor\t: 0\nmodel name\t: Fancy CPU @ 3GHz\ncache size\t: 32768 KB\n\nprocessor\t: 1\nmodel name\t: Fancy CPU @ 3GHz\n";
        let cpu = CpuInfo::parse(text, 9);
        assert_eq!(cpu, CpuInfo { count: 2, model: "Fancy CPU @ 3GHz".into(), cache: "32768 KB".into() });
        assert_eq!(CpuInfo::parse("", 9).count, 9);
    }
}
