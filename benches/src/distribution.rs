//! YCSB's key-choice distributions, ported from YCSB's core generators (docs/tools.md#ycsb).
//!
//! Owns the math only: [`Zipfian`] (YCSB's `ZipfianGenerator`, the method of Gray et al.,
//! "Quickly Generating Billion-Record Synthetic Databases", SIGMOD 1994), [`ScrambledZipfian`]
//! (`ScrambledZipfianGenerator`: a zipfian over 10^10 items, hashed with FNV-64 and taken modulo
//! the item count, so the popular keys are spread over the key space), [`SkewedLatest`]
//! (`SkewedLatestGenerator`: a zipfian offset back from the newest record), and YCSB's
//! [`fnv_hash64`]. Every draw comes from a caller's [`SplitMix64`], so a seed fixes the sequence.
//! Knows nothing about keys' bytes, the database or timing.
//!
//! Invariants: `Zipfian::next_below(n)` returns a value in `[base, base + n)`;
//! `ScrambledZipfian::next` returns a value in `[min, max]`; `SkewedLatest::next(last)` returns a
//! value in `[0, last]`.

use crate::generator::SplitMix64;

/// The zipfian constant θ of every YCSB workload (`zipfian_constant` 0.99).
pub const ZIPFIAN_CONSTANT: f64 = 0.99;

/// Items of the scrambled zipfian's underlying zipfian (YCSB's `ITEM_COUNT`).
pub const SCRAMBLED_ITEM_COUNT: u64 = 10_000_000_000;

/// ζ(10^10, 0.99), precomputed by YCSB (`ScrambledZipfianGenerator.ZETAN`): summing 10^10
/// terms at start-up would take minutes.
pub const SCRAMBLED_ZETAN: f64 = 26.469_028_201_783_02;

/// FNV-1 64-bit offset basis, as YCSB's `Utils.FNV_OFFSET_BASIS_64`.
const FNV_OFFSET_BASIS_64: u64 = 0xCBF2_9CE4_8422_2325;
/// FNV-1 64-bit prime, as YCSB's `Utils.FNV_PRIME_64`.
const FNV_PRIME_64: u64 = 1_099_511_628_211;

/// YCSB's `Utils.fnvhash64`: FNV-1a over the 8 little-endian bytes of `value`, then the absolute
/// value as a Java `long` (so `i64::MIN` stays negative, as in Java).
pub fn fnv_hash64(value: i64) -> i64 {
    let mut hash = FNV_OFFSET_BASIS_64;
    for byte in value.to_le_bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME_64);
    }
    (hash as i64).wrapping_abs()
}

/// ζ(n, θ) = Σ_{i=1..n} 1/i^θ.
pub fn zeta(n: u64, theta: f64) -> f64 {
    zeta_extend(0, n, theta, 0.0)
}

/// ζ(n, θ) given `sum` = ζ(from, θ): adds the terms `from+1..=n` (YCSB's incremental `zeta`).
fn zeta_extend(from: u64, n: u64, theta: f64, sum: f64) -> f64 {
    (from + 1..=n).fold(sum, |acc, i| acc + 1.0 / (i as f64).powf(theta))
}

/// A uniform double in `[0, 1)` with 53 random bits.
pub fn unit_f64(rng: &mut SplitMix64) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// YCSB's `ZipfianGenerator`: item `base + i` has probability proportional to `1/(i+1)^θ`, so
/// `base` is the most popular.
#[derive(Debug, Clone)]
pub struct Zipfian {
    base: u64,
    items: u64,
    theta: f64,
    zeta2theta: f64,
    alpha: f64,
    /// ζ(`count_for_zeta`, θ).
    zetan: f64,
    eta: f64,
    count_for_zeta: u64,
}

impl Zipfian {
    /// A zipfian over `[min, max]` whose ζ(max - min + 1) the caller already knows (`zetan`).
    pub fn with_zetan(min: u64, max: u64, zetan: f64) -> Zipfian {
        let items = max - min + 1;
        let theta = ZIPFIAN_CONSTANT;
        let zeta2theta = zeta(2, theta);
        let mut z = Zipfian {
            base: min,
            items,
            theta,
            zeta2theta,
            alpha: 1.0 / (1.0 - theta),
            zetan,
            eta: 0.0,
            count_for_zeta: items,
        };
        z.eta = z.eta_for(items);
        z
    }

    fn eta_for(&self, items: u64) -> f64 {
        (1.0 - (2.0 / items as f64).powf(1.0 - self.theta)) / (1.0 - self.zeta2theta / self.zetan)
    }

    /// The next value over all `items`.
    pub fn next(&mut self, rng: &mut SplitMix64) -> u64 {
        self.next_below(self.items, rng)
    }

    /// The next value over the first `item_count` items (YCSB's `nextLong(itemcount)`): when the
    /// count grew since the last call, ζ is extended by the new terms only. REQUIRES:
    /// `item_count > 0`.
    pub fn next_below(&mut self, item_count: u64, rng: &mut SplitMix64) -> u64 {
        debug_assert!(item_count > 0, "zipfian over no items");
        if item_count != self.count_for_zeta {
            self.zetan = if item_count > self.count_for_zeta {
                zeta_extend(self.count_for_zeta, item_count, self.theta, self.zetan)
            } else {
                zeta(item_count, self.theta)
            };
            self.count_for_zeta = item_count;
            self.eta = self.eta_for(item_count);
        }
        let u = unit_f64(rng);
        let uz = u * self.zetan;
        if uz < 1.0 {
            return self.base;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return self.base + 1.min(item_count - 1);
        }
        let offset = (item_count as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        self.base + offset.min(item_count - 1)
    }
}

/// YCSB's `ScrambledZipfianGenerator` over `[min, max]`: zipfian popularity, hashed so that the
/// popular items are scattered instead of clustered at `min`.
#[derive(Debug, Clone)]
pub struct ScrambledZipfian {
    min: u64,
    item_count: u64,
    inner: Zipfian,
}

impl ScrambledZipfian {
    /// A scrambled zipfian over `[min, max]`.
    pub fn new(min: u64, max: u64) -> ScrambledZipfian {
        ScrambledZipfian {
            min,
            item_count: max - min + 1,
            inner: Zipfian::with_zetan(0, SCRAMBLED_ITEM_COUNT, SCRAMBLED_ZETAN),
        }
    }

    /// The next value in `[min, max]`.
    pub fn next(&mut self, rng: &mut SplitMix64) -> u64 {
        let drawn = self.inner.next(rng) as i64;
        // NB: rem_euclid, not Java's %, so the one negative hash (i64::MIN) still lands in range.
        let scattered = fnv_hash64(drawn).rem_euclid(self.item_count as i64) as u64;
        self.min + scattered
    }
}

/// YCSB's `SkewedLatestGenerator`: the newest record is the most popular, and popularity falls
/// off zipfian-fashion with age.
#[derive(Debug, Clone)]
pub struct SkewedLatest {
    zipfian: Zipfian,
}

impl SkewedLatest {
    /// A generator whose first draws are over `[0, last]`; `zeta_last` is ζ(last, θ) (callers
    /// share one computation across threads).
    pub fn new(last: u64, zeta_last: f64) -> SkewedLatest {
        SkewedLatest { zipfian: Zipfian::with_zetan(0, last.max(1) - 1, zeta_last) }
    }

    /// A record number in `[0, last]`, where `last` is the newest acknowledged record:
    /// `last - zipfian(last)`.
    pub fn next(&mut self, last: u64, rng: &mut SplitMix64) -> u64 {
        if last == 0 {
            return 0;
        }
        last - self.zipfian.next_below(last, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DRAWS: u64 = 200_000;

    /// A zipfian over `[min, max]` with ζ computed here.
    fn zipfian(min: u64, max: u64) -> Zipfian {
        Zipfian::with_zetan(min, max, zeta(max - min + 1, ZIPFIAN_CONSTANT))
    }

    fn counts(n: u64, mut draw: impl FnMut(&mut SplitMix64) -> u64) -> Vec<u64> {
        let mut rng = SplitMix64::new(42);
        let mut counts = vec![0u64; n as usize];
        for _ in 0..DRAWS {
            let v = draw(&mut rng);
            assert!(v < n, "draw {v} out of [0, {n})");
            counts[v as usize] += 1;
        }
        counts
    }

    fn share(count: u64) -> f64 {
        count as f64 / DRAWS as f64
    }

    #[test]
    fn fnv_hash_matches_ycsb() {
        // FNV-1a of the eight little-endian bytes of 0 and of 1, made non-negative as a Java long.
        assert_eq!(fnv_hash64(0), 6_284_781_860_667_377_211);
        assert_eq!(fnv_hash64(1), 8_517_097_267_634_966_620);
        let manual = |v: i64| {
            let mut h = 0xCBF2_9CE4_8422_2325_u64;
            for i in 0..8 {
                h ^= ((v >> (8 * i)) & 0xff) as u64;
                h = h.wrapping_mul(0x100_0000_01B3);
            }
            (h as i64).wrapping_abs()
        };
        for v in [0, 1, 2, 255, 256, 1_000_000, i64::MAX] {
            assert_eq!(fnv_hash64(v), manual(v), "{v}");
            assert!(fnv_hash64(v) >= 0);
        }
        assert_ne!(fnv_hash64(1), fnv_hash64(2));
    }

    #[test]
    fn zeta_sums_the_series_and_extends_incrementally() {
        assert!((zeta(1, 0.99) - 1.0).abs() < 1e-12);
        assert!((zeta(2, 0.99) - (1.0 + 2f64.powf(-0.99))).abs() < 1e-12);
        let direct = zeta(1000, 0.99);
        let extended = zeta_extend(400, 1000, 0.99, zeta(400, 0.99));
        assert!((direct - extended).abs() < 1e-9);
    }

    #[test]
    fn zipfian_most_popular_item_gets_its_expected_share() {
        let n = 1000;
        let mut z = zipfian(0, n - 1);
        let c = counts(n, |rng| z.next(rng));
        let zetan = zeta(n, ZIPFIAN_CONSTANT);
        // Gray's method draws the two most popular items exactly; deeper ranks follow a
        // continuous approximation, so only these two are held to their exact share.
        for rank in 0..2u64 {
            let expected = 1.0 / ((rank + 1) as f64).powf(ZIPFIAN_CONSTANT) / zetan;
            let got = share(c[rank as usize]);
            assert!((got - expected).abs() < 0.1 * expected, "rank {rank}: share {got}, expected {expected}");
        }
        assert!(c[0] > c[1] && c[1] > c[2] && c[2] > c[500], "{:?}", &c[..4]);
        // The top 10% of items take zeta(100)/zeta(1000) of the draws.
        let top: u64 = c[..100].iter().sum();
        let expected_top = zeta(100, ZIPFIAN_CONSTANT) / zetan;
        assert!((share(top) - expected_top).abs() < 0.02, "top 10%: {} vs {expected_top}", share(top));
    }

    #[test]
    fn zipfian_respects_its_base_and_a_growing_item_count() {
        let mut z = zipfian(100, 199);
        let mut rng = SplitMix64::new(1);
        for _ in 0..10_000 {
            let v = z.next(&mut rng);
            assert!((100..200).contains(&v), "{v}");
        }
        for count in [100, 150, 1000, 5000] {
            for _ in 0..1000 {
                let v = z.next_below(count, &mut rng);
                assert!((100..100 + count).contains(&v), "{v} with {count} items");
            }
        }
        assert!((z.zetan - zeta(5000, ZIPFIAN_CONSTANT)).abs() < 1e-9, "zeta extended to the new count");
    }

    #[test]
    fn scrambled_zipfian_is_skewed_but_spreads_hot_keys() {
        let n = 10_000;
        let mut z = ScrambledZipfian::new(0, n - 1);
        let c = counts(n, |rng| z.next(rng));
        let mut ranked: Vec<(u64, u64)> = c.iter().enumerate().map(|(k, &n)| (n, k as u64)).collect();
        ranked.sort_unstable_by(|a, b| b.cmp(a));
        // Item 0 of the 10^10-item zipfian has probability 1/ZETAN (3.8%); it hashes to one key.
        let hottest = share(ranked[0].0);
        let expected = 1.0 / SCRAMBLED_ZETAN;
        assert!(hottest > expected * 0.9 && hottest < expected * 1.3, "hottest share {hottest}, expected {expected}");
        assert_eq!(ranked[0].1, fnv_hash64(0) as u64 % n, "the hottest key is hash(0) mod n");
        // Skewed: the hottest key is far above uniform (1/n).
        assert!(hottest > 100.0 / n as f64);
        // Spread: the ten hottest keys are scattered over the key space, not clustered at 0.
        let hot: Vec<u64> = ranked[..10].iter().map(|&(_, k)| k).collect();
        let (lowest, highest) = (*hot.iter().min().expect("ten keys"), *hot.iter().max().expect("ten keys"));
        assert!(highest - lowest > n / 2, "hot keys {hot:?} are clustered");
        assert!(hot.iter().filter(|&&k| k < n / 10).count() < 6, "hot keys {hot:?} crowd the first 10%");
    }

    #[test]
    fn latest_favours_the_newest_records() {
        let last = 9_999;
        let mut z = SkewedLatest::new(last, zeta(last, ZIPFIAN_CONSTANT));
        let c = counts(last + 1, |rng| z.next(last, rng));
        let argmax = (0..=last).max_by_key(|&k| c[k as usize]).expect("non-empty");
        assert_eq!(argmax, last, "the newest record is the most popular");
        // The newest 10% take about zeta(1000)/zeta(9999) of the draws.
        let newest: u64 = c[(last - 999) as usize..].iter().sum();
        let expected = zeta(1000, ZIPFIAN_CONSTANT) / zeta(last, ZIPFIAN_CONSTANT);
        assert!((share(newest) - expected).abs() < 0.02, "newest 10%: {} vs {expected}", share(newest));
        let oldest: u64 = c[..1000].iter().sum();
        assert!(share(oldest) < 0.05, "oldest 10% got {}", share(oldest));
    }

    #[test]
    fn latest_follows_new_inserts() {
        let mut z = SkewedLatest::new(99, zeta(99, ZIPFIAN_CONSTANT));
        let mut rng = SplitMix64::new(3);
        let mut at_newest = 0;
        for _ in 0..10_000 {
            let v = z.next(500, &mut rng);
            assert!(v <= 500);
            at_newest += u64::from(v == 500);
        }
        assert!(at_newest > 1000, "record 500 drawn {at_newest} times");
        assert_eq!(z.next(0, &mut rng), 0);
    }

    #[test]
    fn unit_doubles_stay_in_range() {
        let mut rng = SplitMix64::new(9);
        let mut sum = 0.0;
        for _ in 0..10_000 {
            let u = unit_f64(&mut rng);
            assert!((0.0..1.0).contains(&u));
            sum += u;
        }
        assert!((sum / 10_000.0 - 0.5).abs() < 0.02);
    }
}
