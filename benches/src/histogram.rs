//! Latency histogram with log-linear buckets (docs/tools.md#latency-histogram).
//!
//! Owns recording, merging and percentile estimation. Samples are nanoseconds; reports are
//! microseconds. Buckets: values below 32 ns have one bucket each; above, every power of two
//! is split into 32 equal sub-buckets, so any reported percentile is within 1/32 (about 3%) of
//! a recorded value. The printed form follows RocksDB's `HistogramStat::ToString` so tools that
//! parse `db_bench --histogram=1` output parse ours.
//!
//! Invariant: `count` equals the sum of `buckets`; `min_nanos <= max_nanos` once `count > 0`.

use std::fmt::{self, Write as _};
use std::time::Duration;

/// Sub-buckets per power of two, as a power of two.
const SUB_BITS: u32 = 5;
/// Sub-buckets per power of two.
const SUB_BUCKETS: u64 = 1 << SUB_BITS;
/// Buckets needed to cover every `u64`.
const BUCKET_COUNT: usize = (SUB_BUCKETS + (64 - SUB_BITS as u64) * SUB_BUCKETS) as usize;
/// Sub-buckets merged into one line of the printed bucket table (4 lines per power of two).
const PRINT_GROUP: usize = 8;

const _: () = assert!(BUCKET_COUNT == 1920);

/// A latency histogram.
#[derive(Clone)]
pub struct Histogram {
    buckets: Box<[u64; BUCKET_COUNT]>,
    count: u64,
    sum_nanos: f64,
    sum_squares_nanos: f64,
    min_nanos: u64,
    max_nanos: u64,
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count)
            .field("min_nanos", &self.min_nanos)
            .field("max_nanos", &self.max_nanos)
            .finish_non_exhaustive()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: Box::new([0; BUCKET_COUNT]),
            count: 0,
            sum_nanos: 0.0,
            sum_squares_nanos: 0.0,
            min_nanos: u64::MAX,
            max_nanos: 0,
        }
    }
}

/// The bucket holding `v` nanoseconds.
fn bucket_index(v: u64) -> usize {
    if v < SUB_BUCKETS {
        return v as usize;
    }
    let exponent = 63 - v.leading_zeros();
    let sub = (v >> (exponent - SUB_BITS)) & (SUB_BUCKETS - 1);
    (SUB_BUCKETS + u64::from(exponent - SUB_BITS) * SUB_BUCKETS + sub) as usize
}

/// The smallest value in bucket `index`.
fn bucket_lower(index: usize) -> u64 {
    let i = index as u64;
    if i < SUB_BUCKETS {
        return i;
    }
    let exponent = (i - SUB_BUCKETS) / SUB_BUCKETS + u64::from(SUB_BITS);
    let sub = (i - SUB_BUCKETS) % SUB_BUCKETS;
    (1 << exponent) + (sub << (exponent - u64::from(SUB_BITS)))
}

/// One past the largest value in bucket `index` (saturating at the top).
fn bucket_upper(index: usize) -> u64 {
    if index + 1 >= BUCKET_COUNT { u64::MAX } else { bucket_lower(index + 1) }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one sample.
    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket_index(nanos)] += 1;
        self.count += 1;
        let v = nanos as f64;
        self.sum_nanos += v;
        self.sum_squares_nanos += v * v;
        self.min_nanos = self.min_nanos.min(nanos);
        self.max_nanos = self.max_nanos.max(nanos);
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum_nanos += other.sum_nanos;
        self.sum_squares_nanos += other.sum_squares_nanos;
        self.min_nanos = self.min_nanos.min(other.min_nanos);
        self.max_nanos = self.max_nanos.max(other.max_nanos);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Mean in microseconds (0 when empty).
    pub fn mean_micros(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.sum_nanos / self.count as f64 / 1e3 }
    }

    /// Standard deviation in microseconds (0 when empty).
    pub fn stddev_micros(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let n = self.count as f64;
        let variance = (self.sum_squares_nanos * n - self.sum_nanos * self.sum_nanos) / (n * n);
        variance.max(0.0).sqrt() / 1e3
    }

    /// Smallest sample in microseconds (0 when empty).
    pub fn min_micros(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.min_nanos as f64 / 1e3 }
    }

    /// Largest sample in microseconds.
    pub fn max_micros(&self) -> f64 {
        self.max_nanos as f64 / 1e3
    }

    /// The `p`-th percentile (0..=100) in microseconds, interpolated linearly inside its bucket
    /// and clamped to the observed minimum and maximum, as RocksDB does. 0 when empty.
    pub fn percentile_micros(&self, p: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let threshold = self.count as f64 * (p / 100.0);
        let mut cumulative = 0u64;
        for (index, &n) in self.buckets.iter().enumerate() {
            if n == 0 {
                continue;
            }
            cumulative += n;
            if cumulative as f64 >= threshold {
                let before = (cumulative - n) as f64;
                let fraction = ((threshold - before) / n as f64).clamp(0.0, 1.0);
                let (lower, upper) = (bucket_lower(index) as f64, bucket_upper(index) as f64);
                let nanos = (lower + (upper - lower) * fraction).clamp(self.min_nanos as f64, self.max_nanos as f64);
                return nanos / 1e3;
            }
        }
        self.max_micros()
    }
}

/// RocksDB's layout: summary lines, the `Percentiles:` line, then the non-empty buckets.
impl fmt::Display for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Count: {} Average: {:.4}  StdDev: {:.2}", self.count(), self.mean_micros(), self.stddev_micros())?;
        writeln!(
            f,
            "Min: {:.0}  Median: {:.4}  Max: {:.0}",
            self.min_micros(),
            self.percentile_micros(50.0),
            self.max_micros()
        )?;
        writeln!(
            f,
            "Percentiles: P50: {:.2} P75: {:.2} P99: {:.2} P99.9: {:.2} P99.99: {:.2}",
            self.percentile_micros(50.0),
            self.percentile_micros(75.0),
            self.percentile_micros(99.0),
            self.percentile_micros(99.9),
            self.percentile_micros(99.99)
        )?;
        writeln!(f, "------------------------------------------------------")?;
        f.write_str(&self.bucket_table())
    }
}

impl Histogram {
    /// One line per non-empty group of buckets: `[ low, high ) count percent cumulative% ###`.
    fn bucket_table(&self) -> String {
        let mut out = String::new();
        let mut cumulative = 0u64;
        let total = self.count.max(1) as f64;
        for (group, counts) in self.buckets.chunks(PRINT_GROUP).enumerate() {
            let n: u64 = counts.iter().sum();
            if n == 0 {
                continue;
            }
            cumulative += n;
            let first = group * PRINT_GROUP;
            let (low, high) = (bucket_lower(first), bucket_upper(first + counts.len() - 1));
            let percent = n as f64 * 100.0 / total;
            let marks = "#".repeat((percent / 5.0).round() as usize);
            // Writing to a String cannot fail.
            let _ = writeln!(
                out,
                "[ {:>10.3}, {:>10.3} ) {:>8} {:>7.3}% {:>7.3}% {}",
                low as f64 / 1e3,
                high as f64 / 1e3,
                n,
                percent,
                cumulative as f64 * 100.0 / total,
                marks
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn micros(us: u64) -> Duration {
        Duration::from_micros(us)
    }

    #[test]
    fn buckets_tile_the_number_line() {
        assert_eq!(bucket_lower(0), 0);
        for i in 0..BUCKET_COUNT - 1 {
            assert!(bucket_lower(i) < bucket_lower(i + 1), "bucket {i}");
            assert_eq!(bucket_index(bucket_lower(i)), i);
            assert_eq!(bucket_index(bucket_upper(i) - 1), i);
        }
        assert_eq!(bucket_index(u64::MAX), BUCKET_COUNT - 1);
    }

    #[test]
    fn percentiles_of_a_uniform_spread_are_close() {
        let mut h = Histogram::new();
        for us in 1..=1000 {
            h.record(micros(us));
        }
        for (p, expect) in [(50.0, 500.0), (99.0, 990.0), (99.9, 999.0)] {
            let got = h.percentile_micros(p);
            assert!((got - expect).abs() <= expect / 32.0 + 1.0, "p{p}: {got} vs {expect}");
        }
        assert_eq!(h.percentile_micros(100.0), 1000.0);
        assert_eq!(h.min_micros(), 1.0);
        assert!((h.mean_micros() - 500.5).abs() < 1e-9);
    }

    #[test]
    fn single_value_reports_itself() {
        let mut h = Histogram::new();
        for _ in 0..10 {
            h.record(Duration::from_nanos(1234));
        }
        assert_eq!(h.percentile_micros(50.0), 1.234);
        assert_eq!(h.percentile_micros(99.9), 1.234);
        assert_eq!(h.stddev_micros(), 0.0);
    }

    #[test]
    fn empty_histogram_reports_zero() {
        let h = Histogram::new();
        assert_eq!(h.percentile_micros(99.0), 0.0);
        assert_eq!(h.mean_micros(), 0.0);
        assert_eq!(h.min_micros(), 0.0);
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (Histogram::new(), Histogram::new(), Histogram::new());
        for us in 0..100 {
            let target = if us % 3 == 0 { &mut a } else { &mut b };
            target.record(micros(us * 7));
            all.record(micros(us * 7));
        }
        a.merge(&b);
        assert_eq!(a.count(), all.count());
        assert_eq!(a.percentile_micros(50.0), all.percentile_micros(50.0));
        assert_eq!(a.percentile_micros(99.0), all.percentile_micros(99.0));
        assert_eq!(a.max_micros(), all.max_micros());
        assert_eq!(a.to_string(), all.to_string());
    }

    #[test]
    fn display_has_rocksdb_lines() {
        let mut h = Histogram::new();
        for us in [1, 2, 3, 4, 100] {
            h.record(micros(us));
        }
        let text = h.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("Count: 5 Average: 22.0000  StdDev: "), "{text}");
        assert!(lines[1].starts_with("Min: 1  Median: "), "{text}");
        assert!(lines[2].starts_with("Percentiles: P50: "), "{text}");
        assert!(lines[2].contains(" P99.9: ") && lines[2].contains(" P99.99: "), "{text}");
        let counted: u64 = lines[4..]
            .iter()
            .map(|l| l.split_whitespace().nth(4).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0))
            .sum();
        assert_eq!(counted, 5, "{text}");
    }

    proptest! {
        #[test]
        fn percentile_is_within_one_bucket_of_the_true_value(mut samples in prop::collection::vec(0u64..10_000_000, 1..200), p in 0.0f64..=100.0) {
            let mut h = Histogram::new();
            for &s in &samples {
                h.record(Duration::from_nanos(s));
            }
            samples.sort_unstable();
            let got_nanos = h.percentile_micros(p) * 1e3;
            prop_assert!(got_nanos >= samples[0] as f64 - 1e-6);
            prop_assert!(got_nanos <= samples[samples.len() - 1] as f64 + 1e-6);
            let rank = ((p / 100.0) * samples.len() as f64).ceil().max(1.0) as usize - 1;
            let truth = samples[rank] as f64;
            // The estimate lies in the true value's bucket, or a neighbour when interpolating.
            prop_assert!((got_nanos - truth).abs() <= truth / 16.0 + 32.0, "p{} got {} truth {}", p, got_nanos, truth);
        }
    }
}
