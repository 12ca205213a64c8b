//! Deterministic inputs for the benchmarks: a small PRNG, db_bench-style keys and half
//! compressible values (docs/tools.md#keys-and-values).
//!
//! Owns the byte content of every key and value the harness writes, so that two runs with the
//! same `--seed` write the same bytes. Knows nothing about the database or timing.
//!
//! * Keys are the decimal key number, zero-padded on the left to `--key_size` bytes
//!   (`0000000000001234`), like LevelDB's `db_bench`. `readmissing` appends `.` so the key can
//!   never have been written. The YCSB benchmarks use YCSB's own keys instead: `user` and the
//!   FNV-64 hash of the record number ([`write_ycsb_key`]).
//! * Values are slices of a shared buffer built from 100-byte pieces, each made of
//!   `100 * compression_ratio` random printable bytes repeated to fill the piece, like
//!   db_bench's `RandomGenerator`: a compressor shrinks them to about `compression_ratio`.

use std::sync::Arc;

use crate::distribution::fnv_hash64;

/// Bytes in the shared value buffer (at least; grown to hold one whole value).
const VALUE_BUFFER_BYTES: usize = 1 << 20;

/// Bytes in each piece of the value buffer (db_bench's constant).
const VALUE_PIECE_BYTES: usize = 100;

/// Largest number of decimal digits a `u64` has.
const MAX_DIGITS: usize = 20;

/// SplitMix64: a tiny, fast, well-mixed 64-bit generator; plenty for choosing keys.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform draw from `[0, n)`. REQUIRES: `n > 0`.
    pub fn uniform(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0, "uniform over an empty range");
        // Lemire's multiply-shift: unbiased enough for key choice (bias below 2^-64 * n).
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// The seed of worker `worker_index` in the `run_index`-th benchmark of a run seeded with `seed`.
/// Every (benchmark, worker) pair gets its own stream: if `readrandom` drew the keys `fillrandom`
/// wrote, it would find every one of them.
pub fn worker_seed(seed: u64, run_index: usize, worker_index: usize) -> u64 {
    let mut mix = SplitMix64::new(seed ^ (run_index as u64).wrapping_mul(0xA076_1D64_78BD_642F));
    let run_seed = mix.next_u64();
    let mut mix = SplitMix64::new(run_seed ^ (worker_index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
    mix.next_u64()
}

/// Number of decimal digits of `n`.
pub fn decimal_digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// Writes key number `n` into `dst` (cleared first): decimal, zero-padded to `key_size_bytes`.
/// REQUIRES: `decimal_digits(n) <= key_size_bytes` (checked once by flag validation).
pub fn write_key(dst: &mut Vec<u8>, n: u64, key_size_bytes: usize) {
    let len = decimal_digits(n);
    debug_assert!(len <= key_size_bytes, "key {n} does not fit in {key_size_bytes} bytes");
    dst.clear();
    dst.resize(key_size_bytes.saturating_sub(len), b'0');
    push_decimal(dst, n);
}

/// Writes YCSB record number `record` into `dst` (cleared first) the way YCSB's core workload
/// names keys with its default `insertorder=hashed`: `user` followed by the decimal FNV-64 hash
/// of the record number (`user6284781860667377211` for record 0). Keys vary in length (5 to 24
/// bytes); `--key_size` does not apply.
pub fn write_ycsb_key(dst: &mut Vec<u8>, record: u64) {
    dst.clear();
    dst.extend_from_slice(YCSB_KEY_PREFIX);
    let hash = fnv_hash64(record as i64);
    if hash < 0 {
        dst.push(b'-');
    }
    push_decimal(dst, hash.unsigned_abs());
}

/// The prefix of every YCSB key.
pub const YCSB_KEY_PREFIX: &[u8] = b"user";

/// Appends the decimal digits of `n`.
fn push_decimal(dst: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; MAX_DIGITS];
    let mut rest = n;
    let mut len = 0;
    loop {
        digits[MAX_DIGITS - 1 - len] = b'0' + (rest % 10) as u8;
        len += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    dst.extend_from_slice(&digits[MAX_DIGITS - len..]);
}

/// The shared, read-only buffer values are cut from.
#[derive(Debug, Clone)]
pub struct ValueSource {
    data: Arc<[u8]>,
}

impl ValueSource {
    /// Builds the buffer: pieces of random printable bytes compressible to `compression_ratio`,
    /// enough to hold at least one value of `value_size_bytes`.
    pub fn new(seed: u64, compression_ratio: f64, value_size_bytes: usize) -> Self {
        let mut rng = SplitMix64::new(seed);
        let target_bytes = VALUE_BUFFER_BYTES.max(value_size_bytes);
        let mut data = Vec::with_capacity(target_bytes + VALUE_PIECE_BYTES);
        while data.len() < target_bytes {
            push_compressible_piece(&mut data, &mut rng, compression_ratio);
        }
        ValueSource { data: data.into() }
    }

    /// A cursor over the buffer for one worker.
    pub fn cursor(&self) -> ValueCursor {
        ValueCursor { data: Arc::clone(&self.data), pos: 0 }
    }
}

/// Appends one piece: `max(1, 100 * ratio)` random bytes from `' '..='~'`, repeated to 100 bytes.
fn push_compressible_piece(dst: &mut Vec<u8>, rng: &mut SplitMix64, compression_ratio: f64) {
    let raw_bytes = ((VALUE_PIECE_BYTES as f64 * compression_ratio) as usize).clamp(1, VALUE_PIECE_BYTES);
    let raw: Vec<u8> = (0..raw_bytes).map(|_| b' ' + rng.uniform(95) as u8).collect();
    dst.extend(raw.iter().cycle().take(VALUE_PIECE_BYTES));
}

/// Hands out consecutive values from a [`ValueSource`], wrapping at the end.
#[derive(Debug, Clone)]
pub struct ValueCursor {
    data: Arc<[u8]>,
    pos: usize,
}

impl ValueCursor {
    /// The next value of `len` bytes. REQUIRES: `len` is at most the source's value size.
    pub fn next_value(&mut self, len: usize) -> &[u8] {
        let start = self.next_start(len);
        self.value_at(start, len)
    }

    /// Claims the next value of `len` bytes and returns where it starts, for callers that hold
    /// several values at once (read them with [`ValueCursor::value_at`]).
    pub fn next_start(&mut self, len: usize) -> usize {
        if self.pos + len > self.data.len() {
            self.pos = 0;
        }
        let start = self.pos;
        self.pos += len;
        start
    }

    /// The `len` bytes at `start`. REQUIRES: `start` came from `next_start(len)`.
    pub fn value_at(&self, start: usize, len: usize) -> &[u8] {
        &self.data[start..start + len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_zero_padded_decimal() {
        let mut k = Vec::new();
        write_key(&mut k, 1234, 16);
        assert_eq!(k, b"0000000000001234");
        write_key(&mut k, 0, 4);
        assert_eq!(k, b"0000");
        write_key(&mut k, 99, 2);
        assert_eq!(k, b"99");
        write_key(&mut k, u64::MAX, 20);
        assert_eq!(k, u64::MAX.to_string().as_bytes());
    }

    proptest::proptest! {
        #[test]
        fn keys_match_zero_padded_formatting(n: u64, extra_width in 0usize..8) {
            let width = decimal_digits(n) + extra_width;
            let mut k = Vec::new();
            write_key(&mut k, n, width);
            proptest::prop_assert_eq!(k, format!("{n:0width$}").into_bytes());
        }
    }

    #[test]
    fn ycsb_keys_are_user_and_the_hashed_record_number() {
        let mut k = Vec::new();
        write_ycsb_key(&mut k, 0);
        assert_eq!(k, b"user6284781860667377211");
        write_ycsb_key(&mut k, 1);
        assert_eq!(k, format!("user{}", fnv_hash64(1)).into_bytes());
        let mut seen = std::collections::HashSet::new();
        for record in 0..10_000 {
            write_ycsb_key(&mut k, record);
            assert!(k.starts_with(YCSB_KEY_PREFIX));
            assert!(seen.insert(k.clone()), "record {record} collides");
        }
    }

    #[test]
    fn keys_sort_like_their_numbers() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for n in [0u64, 9, 10, 99, 100, 12345] {
            write_key(&mut a, n, 8);
            write_key(&mut b, n + 1, 8);
            assert!(a < b, "{n}");
        }
    }

    #[test]
    fn decimal_digits_counts() {
        assert_eq!(decimal_digits(0), 1);
        assert_eq!(decimal_digits(9), 1);
        assert_eq!(decimal_digits(10), 2);
        assert_eq!(decimal_digits(999_999), 6);
        assert_eq!(decimal_digits(u64::MAX), 20);
    }

    #[test]
    fn uniform_stays_in_range_and_covers_it() {
        let mut rng = SplitMix64::new(7);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let v = rng.uniform(10);
            assert!(v < 10);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn same_seed_same_stream_and_benchmarks_and_workers_differ() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = SplitMix64::new(worker_seed(1, 2, 0));
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = SplitMix64::new(worker_seed(1, 2, 0));
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(worker_seed(1, 0, 0), worker_seed(1, 0, 1));
        assert_ne!(worker_seed(1, 0, 0), worker_seed(1, 1, 0));
        assert_ne!(worker_seed(1, 0, 0), worker_seed(2, 0, 0));
    }

    #[test]
    fn values_are_printable_and_half_repeated() {
        let source = ValueSource::new(301, 0.5, 100);
        let mut cursor = source.cursor();
        for _ in 0..3 {
            let v = cursor.next_value(100).to_vec();
            assert_eq!(v.len(), 100);
            assert!(v.iter().all(|b| (b' '..=b'~').contains(b)));
            // Each 100-byte piece is 50 random bytes written twice: compressible to one half.
            assert_eq!(v[..50], v[50..]);
        }
    }

    #[test]
    fn value_cursor_wraps_and_serves_large_values() {
        let source = ValueSource::new(1, 0.5, 3 << 20);
        let mut cursor = source.cursor();
        assert_eq!(cursor.next_value(3 << 20).len(), 3 << 20);
        assert_eq!(cursor.next_value(3 << 20).len(), 3 << 20);
        let small = ValueSource::new(1, 0.5, 10);
        let mut c = small.cursor();
        let first = c.next_value(10).to_vec();
        for _ in 0..small.data.len() / 10 - 1 {
            c.next_value(10);
        }
        assert_eq!(c.next_value(10), &first[..], "wraps to the start");
    }
}
