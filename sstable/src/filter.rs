//! The table filter: one cache-line-blocked Bloom filter over the `key_hash` of every distinct
//! user key in a table (docs/format/sstable.md#filter-block).
//!
//! Owns the filter block's bytes and the probe. Does not hash keys (the caller computes
//! `cairn_base::hash::key_hash` once per lookup and reuses it for every table) and does not seal
//! or locate the block (the table writer and reader do).
//!
//! Invariants: all probes for one hash touch one 64-byte line, and the decoded lines are held in
//! 64-byte-aligned memory, so an absent key costs at most one cache miss; a filter never answers
//! "absent" for a hash that was added.

use std::fmt;

use cairn_base::coding::{Decoder, put_u32};
use cairn_base::{Error, Result};

/// `filter_kind` of the blocked Bloom filter. On-disk value; never renumber.
pub(crate) const FILTER_KIND_BLOCKED_BLOOM: u8 = 1;

/// Most probes a filter block may ask for.
pub(crate) const MAX_PROBES: u8 = 30;

const LINE_BYTES: usize = 64;
const LINE_BITS: u64 = 512;
const WORDS_PER_LINE: usize = LINE_BYTES / 8;
/// `filter_kind:u8 num_probes:u8 num_lines:u32le`.
const HEADER_BYTES: usize = 6;
/// Multiplier stepping from one probe to the next (the 32-bit golden ratio).
const PROBE_STEP: u32 = 0x9E37_79B9;

const _: () = assert!(LINE_BITS == 1 << 9, "probe bits are the top 9 bits of a u32");

/// One 64-byte line of the filter, aligned so it occupies exactly one cache line.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C, align(64))]
struct CacheLine([u64; WORDS_PER_LINE]);

/// A decoded filter, ready to probe.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Filter {
    lines: Vec<CacheLine>,
    num_probes: u32,
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter").field("num_lines", &self.lines.len()).field("num_probes", &self.num_probes).finish()
    }
}

/// Probes per key for a given budget: about `0.6 · bits_per_key`, which is near optimal for a
/// blocked filter (6 probes at 10 bits per key).
pub(crate) fn num_probes_for(bits_per_key: u32) -> u8 {
    let probes = (u64::from(bits_per_key) * 3 / 5).clamp(1, u64::from(MAX_PROBES));
    u8::try_from(probes).expect("clamped to MAX_PROBES")
}

/// The line a hash maps to: multiply-shift range reduction of its upper half.
#[inline]
fn line_index(hash: u64, num_lines: usize) -> usize {
    (((hash >> 32) * num_lines as u64) >> 32) as usize
}

impl Filter {
    /// Builds a filter holding `hashes` at about `bits_per_key` bits each. REQUIRES: `bits_per_key > 0`.
    pub(crate) fn build(hashes: &[u64], bits_per_key: u32) -> Filter {
        debug_assert!(bits_per_key > 0);
        let total_bits = (hashes.len() as u64).saturating_mul(u64::from(bits_per_key));
        let num_lines = total_bits.div_ceil(LINE_BITS).clamp(1, u64::from(u32::MAX));
        let num_lines = usize::try_from(num_lines).expect("a filter for keys held in memory fits in memory");
        let mut filter = Filter {
            lines: vec![CacheLine([0; WORDS_PER_LINE]); num_lines],
            num_probes: num_probes_for(bits_per_key).into(),
        };
        for &h in hashes {
            filter.add(h);
        }
        filter
    }

    fn add(&mut self, hash: u64) {
        let i = line_index(hash, self.lines.len());
        let line = &mut self.lines[i];
        let mut x = hash as u32;
        for _ in 0..self.num_probes {
            let bit = x >> 23;
            line.0[(bit >> 6) as usize] |= 1 << (bit & 63);
            x = x.wrapping_mul(PROBE_STEP);
        }
    }

    /// Starts loading the cache line `may_contain(hash)` will read, without waiting for it: a
    /// batch of lookups touches every line first so their memory latencies overlap.
    #[inline]
    pub(crate) fn touch(&self, hash: u64) {
        cairn_base::prefetch::prefetch_value(&self.lines[line_index(hash, self.lines.len())]);
    }

    /// False only if no key with this hash was added.
    #[inline]
    pub(crate) fn may_contain(&self, hash: u64) -> bool {
        // In bounds: (x · n) >> 32 < n for every x < 2³², and decoding guarantees n ≥ 1.
        let line = &self.lines[line_index(hash, self.lines.len())];
        let mut x = hash as u32;
        for _ in 0..self.num_probes {
            let bit = x >> 23;
            if (line.0[(bit >> 6) as usize] >> (bit & 63)) & 1 == 0 {
                return false;
            }
            x = x.wrapping_mul(PROBE_STEP);
        }
        true
    }

    /// Appends the filter block's bytes to `dst`.
    pub(crate) fn encode(&self, dst: &mut Vec<u8>) {
        dst.reserve(self.encoded_size_bytes());
        dst.push(FILTER_KIND_BLOCKED_BLOOM);
        dst.push(u8::try_from(self.num_probes).expect("at most MAX_PROBES"));
        put_u32(dst, u32::try_from(self.lines.len()).expect("num_lines clamped to u32"));
        for line in &self.lines {
            for w in line.0 {
                dst.extend_from_slice(&w.to_le_bytes());
            }
        }
    }

    /// Decodes a filter block's payload. Errors are relative to the payload's start.
    pub(crate) fn decode(payload: &[u8]) -> Result<Filter> {
        let mut d = Decoder::new(payload);
        let kind = d.u8("filter kind")?;
        if kind != FILTER_KIND_BLOCKED_BLOOM {
            return Err(Error::Unsupported { what: "sstable filter kind", version: kind.into() });
        }
        let num_probes = d.u8("filter probe count")?;
        if num_probes == 0 || num_probes > MAX_PROBES {
            return Err(Error::corruption("", 1, format!("filter probe count {num_probes} out of range")));
        }
        let num_lines = d.u32("filter line count")? as usize;
        if num_lines == 0 || num_lines.checked_mul(LINE_BYTES) != Some(d.remaining()) {
            return Err(Error::corruption("", 2, "filter line count does not match the block size"));
        }
        let mut lines = Vec::with_capacity(num_lines);
        for _ in 0..num_lines {
            let mut line = CacheLine([0; WORDS_PER_LINE]);
            for w in &mut line.0 {
                *w = d.u64("filter line")?;
            }
            lines.push(line);
        }
        Ok(Filter { lines, num_probes: num_probes.into() })
    }

    /// Bytes of the encoded block payload.
    pub(crate) fn encoded_size_bytes(&self) -> usize {
        HEADER_BYTES + self.lines.len() * LINE_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_base::hash::key_hash;
    use proptest::prelude::*;

    #[test]
    fn false_positive_rate_at_ten_bits_per_key_is_under_two_percent() {
        const KEYS: u32 = 100_000;
        let hashes: Vec<u64> = (0..KEYS).map(|i| key_hash(format!("key{i:08}").as_bytes())).collect();
        let filter = Filter::build(&hashes, 10);
        assert!(hashes.iter().all(|&h| filter.may_contain(h)), "no false negatives");
        let false_positives =
            (0..KEYS).filter(|i| filter.may_contain(key_hash(format!("absent{i:08}").as_bytes()))).count();
        let rate = false_positives as f64 / f64::from(KEYS);
        assert!(rate < 0.02, "false-positive rate {rate}");
        assert!(rate > 0.0001, "implausibly low rate {rate}: is the filter probing at all?");
    }

    #[test]
    fn probe_count_follows_bits_per_key() {
        assert_eq!(num_probes_for(1), 1);
        assert_eq!(num_probes_for(10), 6);
        assert_eq!(num_probes_for(20), 12);
        assert_eq!(num_probes_for(1000), MAX_PROBES);
    }

    #[test]
    fn lines_are_cache_line_aligned() {
        let f = Filter::build(&[1, 2, 3], 10);
        assert_eq!(std::mem::align_of_val(&f.lines[0]), 64);
        assert_eq!(f.encoded_size_bytes(), 6 + 64);
    }

    #[test]
    fn hostile_filter_blocks_are_rejected() {
        let mut good = Vec::new();
        Filter::build(&[7, 8, 9], 10).encode(&mut good);
        let mut unknown_kind = good.clone();
        unknown_kind[0] = 2;
        assert!(matches!(Filter::decode(&unknown_kind), Err(Error::Unsupported { .. })));
        let mut zero_probes = good.clone();
        zero_probes[1] = 0;
        assert!(Filter::decode(&zero_probes).is_err_and(|e| e.is_corruption()));
        let mut too_many_lines = good.clone();
        too_many_lines[2] = 2;
        assert!(Filter::decode(&too_many_lines).is_err_and(|e| e.is_corruption()));
        assert!(Filter::decode(&good[..good.len() - 1]).is_err_and(|e| e.is_corruption()));
    }

    proptest! {
        #[test]
        fn filter_round_trips(hashes: Vec<u64>, bits in 1u32..40) {
            let f = Filter::build(&hashes, bits);
            let mut enc = Vec::new();
            f.encode(&mut enc);
            prop_assert_eq!(enc.len(), f.encoded_size_bytes());
            let back = Filter::decode(&enc).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&back, &f);
            for h in hashes {
                prop_assert!(back.may_contain(h));
            }
        }

        #[test]
        fn arbitrary_filter_bytes_never_panic(bytes: Vec<u8>, probe: u64) {
            if let Ok(f) = Filter::decode(&bytes) {
                let _ = f.may_contain(probe);
            }
        }
    }
}
