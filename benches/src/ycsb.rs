//! YCSB core workloads A–F and their load phase (docs/tools.md#ycsb).
//!
//! Owns what YCSB's `workloads/workloada` … `workloadf` property files define — the operation
//! mix, the request distribution, the scan lengths — and the per-thread loop that carries them
//! out against an [`Engine`](crate::engine::Engine) through a [`Worker`]. The distributions are in
//! [`crate::distribution`], key bytes in [`crate::generator::write_ycsb_key`].
//!
//! | workload | mix | request distribution |
//! | --- | --- | --- |
//! | A | 50% read, 50% update | zipfian |
//! | B | 95% read, 5% update | zipfian |
//! | C | 100% read | zipfian |
//! | D | 95% read, 5% insert | latest |
//! | E | 95% scan, 5% insert | zipfian start key, length uniform in 1..=100 |
//! | F | 50% read, 50% read-modify-write | zipfian |
//!
//! "zipfian" is YCSB's scrambled zipfian (θ = 0.99) over the records plus twice the expected
//! inserts, redrawn while it names a record not yet inserted (YCSB's `nextKeynum`). Labelled
//! deviation: a record is one value of `--value_size` bytes, not YCSB's 10 fields of 100 bytes;
//! an update and a read-modify-write rewrite the whole value.
//!
//! Invariant: every record below [`YcsbState::acknowledged`] has been written (with one thread;
//! with several, an insert may be acknowledged before an older one finishes, so a read can
//! rarely miss).

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::distribution::{ScrambledZipfian, SkewedLatest, ZIPFIAN_CONSTANT, unit_f64, zeta};
use crate::engine::{Direction, EngineResult};
use crate::generator::SplitMix64;
use crate::workloads::Worker;

/// Longest scan of workload E (`maxscanlength=100`).
pub const MAX_SCAN_LENGTH: u64 = 100;

/// One YCSB core workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YcsbWorkload {
    /// Update heavy: 50% read, 50% update, zipfian.
    A,
    /// Read mostly: 95% read, 5% update, zipfian.
    B,
    /// Read only: 100% read, zipfian.
    C,
    /// Read latest: 95% read, 5% insert, latest.
    D,
    /// Short ranges: 95% scan, 5% insert, zipfian start, uniform length 1..=100.
    E,
    /// Read-modify-write: 50% read, 50% read-modify-write, zipfian.
    F,
}

/// Proportions of each operation (they sum to 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mix {
    /// `readproportion`.
    pub read: f64,
    /// `updateproportion`.
    pub update: f64,
    /// `insertproportion`.
    pub insert: f64,
    /// `scanproportion`.
    pub scan: f64,
    /// `readmodifywriteproportion`.
    pub read_modify_write: f64,
}

impl Mix {
    const NONE: Mix = Mix { read: 0.0, update: 0.0, insert: 0.0, scan: 0.0, read_modify_write: 0.0 };

    /// The operation a uniform draw `u` in `[0, 1)` picks (YCSB's `DiscreteGenerator`).
    pub fn choose(&self, u: f64) -> YcsbOp {
        let mut below = 0.0;
        for op in YcsbOp::ALL {
            below += self.proportion(op);
            if u < below {
                return op;
            }
        }
        // Rounding can leave the sum a hair under 1: the last operation with weight takes it.
        YcsbOp::ALL.into_iter().rev().find(|&op| self.proportion(op) > 0.0).unwrap_or(YcsbOp::Read)
    }

    /// The proportion of `op`.
    pub fn proportion(&self, op: YcsbOp) -> f64 {
        match op {
            YcsbOp::Read => self.read,
            YcsbOp::Update => self.update,
            YcsbOp::Insert => self.insert,
            YcsbOp::Scan => self.scan,
            YcsbOp::ReadModifyWrite => self.read_modify_write,
        }
    }
}

impl YcsbWorkload {
    /// Every workload, A first.
    pub const ALL: [YcsbWorkload; 6] =
        [YcsbWorkload::A, YcsbWorkload::B, YcsbWorkload::C, YcsbWorkload::D, YcsbWorkload::E, YcsbWorkload::F];

    /// The benchmark name: `ycsba` … `ycsbf`.
    pub fn name(self) -> &'static str {
        match self {
            YcsbWorkload::A => "ycsba",
            YcsbWorkload::B => "ycsbb",
            YcsbWorkload::C => "ycsbc",
            YcsbWorkload::D => "ycsbd",
            YcsbWorkload::E => "ycsbe",
            YcsbWorkload::F => "ycsbf",
        }
    }

    /// Parses `ycsba` or `ycsb_a` (any letter a–f).
    pub fn from_name(name: &str) -> Option<YcsbWorkload> {
        let letter = name.strip_prefix("ycsb_").or_else(|| name.strip_prefix("ycsb"))?;
        YcsbWorkload::ALL.into_iter().find(|w| w.name().strip_prefix("ycsb") == Some(letter))
    }

    /// The operation mix of YCSB's property file.
    pub fn mix(self) -> Mix {
        match self {
            YcsbWorkload::A => Mix { read: 0.5, update: 0.5, ..Mix::NONE },
            YcsbWorkload::B => Mix { read: 0.95, update: 0.05, ..Mix::NONE },
            YcsbWorkload::C => Mix { read: 1.0, ..Mix::NONE },
            YcsbWorkload::D => Mix { read: 0.95, insert: 0.05, ..Mix::NONE },
            YcsbWorkload::E => Mix { scan: 0.95, insert: 0.05, ..Mix::NONE },
            YcsbWorkload::F => Mix { read: 0.5, read_modify_write: 0.5, ..Mix::NONE },
        }
    }

    /// True when the workload updates or inserts.
    pub fn writes(self) -> bool {
        let m = self.mix();
        m.update + m.insert + m.read_modify_write > 0.0
    }

    fn uses_latest(self) -> bool {
        self == YcsbWorkload::D
    }
}

/// One YCSB operation type; each gets its own latency histogram, as in YCSB's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YcsbOp {
    /// Read one record.
    Read,
    /// Overwrite one existing record.
    Update,
    /// Write one new record.
    Insert,
    /// Read a short range of records.
    Scan,
    /// Read one record, then overwrite it; timed as one operation.
    ReadModifyWrite,
}

impl YcsbOp {
    /// Every operation, in report order.
    pub const ALL: [YcsbOp; 5] = [YcsbOp::Read, YcsbOp::Update, YcsbOp::Insert, YcsbOp::Scan, YcsbOp::ReadModifyWrite];

    /// The name in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            YcsbOp::Read => "read",
            YcsbOp::Update => "update",
            YcsbOp::Insert => "insert",
            YcsbOp::Scan => "scan",
            YcsbOp::ReadModifyWrite => "read_modify_write",
        }
    }

    /// Position in [`YcsbOp::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What YCSB benchmarks share across threads and across the benchmarks of one run: the record
/// count, the insert sequence, and ζ of the latest distribution (costly to compute).
#[derive(Debug)]
pub struct YcsbState {
    record_count: u64,
    /// The next record number an insert takes.
    next_insert: AtomicU64,
    /// One past the newest acknowledged record.
    acknowledged: AtomicU64,
    /// ζ(n, θ) for the last `n` asked, shared so threads compute it once.
    zeta_cache: Mutex<Option<(u64, f64)>>,
}

impl YcsbState {
    /// State for `record_count` loaded records (`--num`).
    pub fn new(record_count: u64) -> YcsbState {
        YcsbState {
            record_count,
            next_insert: AtomicU64::new(record_count),
            acknowledged: AtomicU64::new(record_count),
            zeta_cache: Mutex::new(None),
        }
    }

    /// Records the load phase writes.
    pub fn record_count(&self) -> u64 {
        self.record_count
    }

    /// The newest record reads may ask for.
    pub fn last_acknowledged(&self) -> u64 {
        self.acknowledged.load(Ordering::Acquire).saturating_sub(1)
    }

    fn take_insert(&self) -> u64 {
        self.next_insert.fetch_add(1, Ordering::Relaxed)
    }

    fn acknowledge(&self, record: u64) {
        self.acknowledged.fetch_max(record + 1, Ordering::AcqRel);
    }

    /// ζ(n, 0.99), computed once per distinct `n`.
    fn zeta_of(&self, n: u64) -> f64 {
        let mut cache = self.zeta_cache.lock();
        match *cache {
            Some((cached_n, value)) if cached_n == n => value,
            _ => {
                let value = zeta(n, ZIPFIAN_CONSTANT);
                *cache = Some((n, value));
                value
            }
        }
    }
}

/// How one worker picks the record an operation targets.
#[derive(Debug)]
enum KeyChooser {
    Zipfian(ScrambledZipfian),
    Latest(SkewedLatest),
}

impl KeyChooser {
    /// YCSB's choice for `workload`; `ops_total` sizes the zipfian's room for inserts.
    fn new(workload: YcsbWorkload, state: &YcsbState, ops_total: u64) -> KeyChooser {
        if workload.uses_latest() {
            let last = state.last_acknowledged();
            return KeyChooser::Latest(SkewedLatest::new(last, state.zeta_of(last)));
        }
        // YCSB: expectednewkeys = operationcount * insertproportion * 2 (a fudge factor).
        let expected_new = (ops_total as f64 * workload.mix().insert * 2.0) as u64;
        KeyChooser::Zipfian(ScrambledZipfian::new(0, state.record_count() + expected_new))
    }

    /// The record number of the next operation (YCSB's `nextKeynum`).
    fn next(&mut self, state: &YcsbState, rng: &mut SplitMix64) -> u64 {
        let last = state.last_acknowledged();
        match self {
            KeyChooser::Latest(latest) => latest.next(last, rng),
            KeyChooser::Zipfian(zipfian) => loop {
                let record = zipfian.next(rng);
                if record <= last {
                    return record;
                }
            },
        }
    }
}

/// The load phase (`ycsbload`): this worker's share of records `0..record_count`, one insert
/// each, split into contiguous ranges per thread as YCSB's client does.
pub fn load(w: &mut Worker<'_>) -> EngineResult<()> {
    let (start, end) = share_of(w.shared.ycsb.record_count(), w.threads, w.index);
    for record in start..end {
        w.set_ycsb_key(record);
        w.put_current_key()?;
        w.finished(1);
    }
    Ok(())
}

/// Thread `index` of `threads` takes records `[start, end)`.
fn share_of(records: u64, threads: usize, index: usize) -> (u64, u64) {
    let (threads, index) = (threads as u64, index as u64);
    (records * index / threads, records * (index + 1) / threads)
}

/// `--reads` operations of `workload` on this worker.
pub fn run(w: &mut Worker<'_>, workload: YcsbWorkload) -> EngineResult<()> {
    let mix = workload.mix();
    let state = w.shared.ycsb;
    let ops_total = w.shared.config.reads.saturating_mul(w.threads as u64);
    let mut chooser = KeyChooser::new(workload, state, ops_total);
    for _ in 0..w.shared.config.reads {
        let op = mix.choose(unit_f64(&mut w.rng));
        match op {
            YcsbOp::Insert => {
                let record = state.take_insert();
                w.set_ycsb_key(record);
                w.put_current_key()?;
                state.acknowledge(record);
            }
            YcsbOp::Read => {
                let record = chooser.next(state, &mut w.rng);
                w.set_ycsb_key(record);
                w.read_current_key()?;
            }
            YcsbOp::Update => {
                let record = chooser.next(state, &mut w.rng);
                w.set_ycsb_key(record);
                w.put_current_key()?;
            }
            YcsbOp::ReadModifyWrite => {
                let record = chooser.next(state, &mut w.rng);
                w.set_ycsb_key(record);
                w.read_current_key()?;
                w.put_current_key()?;
            }
            YcsbOp::Scan => {
                let record = chooser.next(state, &mut w.rng);
                w.set_ycsb_key(record);
                let length = 1 + w.rng.uniform(MAX_SCAN_LENGTH);
                w.scan_from_current_key(Direction::Forward, length)?;
            }
        }
        w.finished_op(op, 1);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_both_spellings() {
        for w in YcsbWorkload::ALL {
            assert_eq!(YcsbWorkload::from_name(w.name()), Some(w));
            let underscored = w.name().replacen("ycsb", "ycsb_", 1);
            assert_eq!(YcsbWorkload::from_name(&underscored), Some(w));
        }
        for bad in ["ycsbg", "ycsb", "ycsb_", "ycsbload", "ycsbaa"] {
            assert_eq!(YcsbWorkload::from_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn mixes_match_ycsb_property_files() {
        for w in YcsbWorkload::ALL {
            let m = w.mix();
            let sum: f64 = YcsbOp::ALL.iter().map(|&op| m.proportion(op)).sum();
            assert!((sum - 1.0).abs() < 1e-12, "{} sums to {sum}", w.name());
        }
        assert_eq!(YcsbWorkload::A.mix(), Mix { read: 0.5, update: 0.5, ..Mix::NONE });
        assert_eq!(YcsbWorkload::E.mix().scan, 0.95);
        assert!(!YcsbWorkload::C.writes());
        assert!(YcsbWorkload::D.uses_latest() && !YcsbWorkload::E.uses_latest());
    }

    #[test]
    fn mix_choice_follows_the_proportions() {
        let mix = YcsbWorkload::B.mix();
        let mut rng = SplitMix64::new(5);
        let mut counts = [0u64; 5];
        for _ in 0..100_000 {
            counts[mix.choose(unit_f64(&mut rng)).index()] += 1;
        }
        assert!((counts[YcsbOp::Update.index()] as f64 / 100_000.0 - 0.05).abs() < 0.005, "{counts:?}");
        assert_eq!(counts[YcsbOp::Insert.index()] + counts[YcsbOp::Scan.index()], 0);
        assert_eq!(mix.choose(0.999_999_999_999), YcsbOp::Update);
        assert_eq!(YcsbWorkload::F.mix().choose(0.75), YcsbOp::ReadModifyWrite);
    }

    #[test]
    fn load_shares_cover_every_record_once() {
        for threads in 1..=5 {
            let mut next = 0;
            for index in 0..threads {
                let (start, end) = share_of(1003, threads, index);
                assert_eq!(start, next);
                next = end;
            }
            assert_eq!(next, 1003);
        }
    }

    #[test]
    fn zipfian_chooser_only_names_acknowledged_records() {
        let state = YcsbState::new(100);
        let mut chooser = KeyChooser::new(YcsbWorkload::E, &state, 10_000);
        let mut rng = SplitMix64::new(11);
        for _ in 0..10_000 {
            assert!(chooser.next(&state, &mut rng) < 100);
        }
        let record = state.take_insert();
        assert_eq!(record, 100);
        state.acknowledge(record);
        assert_eq!(state.last_acknowledged(), 100);
        let seen_new = (0..100_000).any(|_| chooser.next(&state, &mut rng) == 100);
        assert!(seen_new, "an acknowledged insert becomes readable");
    }

    #[test]
    fn latest_chooser_tracks_inserts_and_caches_zeta() {
        let state = YcsbState::new(1000);
        let mut chooser = KeyChooser::new(YcsbWorkload::D, &state, 1000);
        assert!(state.zeta_cache.lock().is_some_and(|(n, _)| n == 999));
        let mut rng = SplitMix64::new(2);
        for _ in 0..50 {
            let record = state.take_insert();
            state.acknowledge(record);
        }
        let newest = (0..1000).filter(|_| chooser.next(&state, &mut rng) == 1049).count();
        assert!(newest > 50, "the newest record drawn {newest} times in 1000");
    }
}
