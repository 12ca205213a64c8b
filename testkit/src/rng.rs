//! A small deterministic pseudo-random generator for tests and harnesses, and seed plumbing.
//!
//! Owns [`Rng`] (SplitMix64, Vigna's reference algorithm) and [`seed_from_env`]. It leaves
//! distribution shaping (key skew, value sizes) to the harnesses that use it.
//!
//! Invariants: the output stream for a seed never changes between builds or platforms (a failing
//! seed recorded in a regression test must replay the same run forever); the stream is pinned by
//! `tests/golden.rs` against `tests/fixtures/v1/rng_streams.txt`. Not cryptographic.

/// The SplitMix64 increment (the golden ratio in 64-bit fixed point).
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// A deterministic SplitMix64 generator: the same seed yields the same stream everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose stream is fixed by `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN_GAMMA);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n`, by multiply-and-shift (bias below 2^-64 · n, irrelevant for tests).
    ///
    /// REQUIRES: `n > 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0) has no value to return");
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A value in `lo..=hi`.
    ///
    /// REQUIRES: `lo <= hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "Rng::between: empty range {lo}..={hi}");
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.below(span),
            None => self.next_u64(),
        }
    }

    /// True with probability `p_percent` / 100 (0 is never, 100 or more is always).
    pub fn chance(&mut self, p_percent: u32) -> bool {
        self.below(100) < u64::from(p_percent)
    }

    /// Fills `buf` with random bytes (little-endian words of the stream).
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// The seed for a randomized test: the environment variable `name` (decimal, or hex with `0x`)
/// if set, else `default`. Prints `seed = N` to stderr so a failing run can be replayed with
/// `name=N`.
///
/// Panics if the variable is set but is not a number: a typo must not silently run another seed.
pub fn seed_from_env(name: &str, default: u64) -> u64 {
    let seed = match std::env::var(name) {
        Ok(text) => parse_seed(&text).unwrap_or_else(|| panic!("{name}={text:?} is not a u64 seed")),
        Err(_) => default,
    };
    eprintln!("seed = {seed} (replay with {name}={seed})");
    seed
}

/// Parses a decimal or `0x`-prefixed hexadecimal seed.
fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_splitmix64_reference_vectors() {
        // From Vigna's splitmix64.c, seeded with 1234567.
        let mut rng = Rng::new(1_234_567);
        let expected: [u64; 5] = [
            6_457_827_717_110_365_317,
            3_203_168_211_198_807_973,
            9_817_491_932_198_370_423,
            4_593_380_528_125_082_431,
            16_408_922_859_458_223_821,
        ];
        for want in expected {
            assert_eq!(rng.next_u64(), want);
        }
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = Rng::new(7);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let v = rng.below(10);
            assert!(v < 10);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|&s| s), "every value of 0..10 appears in 1000 draws: {seen:?}");
        assert_eq!(Rng::new(1).below(1), 0);
    }

    #[test]
    fn between_is_inclusive_and_handles_full_range() {
        let mut rng = Rng::new(3);
        let mut hit_hi = false;
        for _ in 0..200 {
            let v = rng.between(5, 7);
            assert!((5..=7).contains(&v));
            hit_hi |= v == 7;
        }
        assert!(hit_hi);
        assert_eq!(rng.clone().between(0, u64::MAX), rng.next_u64());
    }

    #[test]
    #[should_panic(expected = "below(0)")]
    fn below_zero_is_a_programmer_error() {
        Rng::new(0).below(0);
    }

    #[test]
    fn chance_extremes_are_never_and_always() {
        let mut rng = Rng::new(11);
        assert!((0..500).all(|_| !rng.chance(0)));
        assert!((0..500).all(|_| rng.chance(100)));
        let hits = (0..1000).filter(|_| rng.chance(50)).count();
        assert!((350..650).contains(&hits), "50% chance hit {hits} of 1000");
    }

    #[test]
    fn fill_is_the_little_endian_stream() {
        let mut a = Rng::new(99);
        let mut buf = [0u8; 11];
        a.fill(&mut buf);
        let mut b = Rng::new(99);
        let w0 = b.next_u64().to_le_bytes();
        let w1 = b.next_u64().to_le_bytes();
        assert_eq!(&buf[..8], &w0);
        assert_eq!(&buf[8..], &w1[..3]);
    }

    #[test]
    fn parses_decimal_and_hex_seeds() {
        assert_eq!(parse_seed("42"), Some(42));
        assert_eq!(parse_seed(" 0x2a "), Some(42));
        assert_eq!(parse_seed("0XFF"), Some(255));
        assert_eq!(parse_seed("forty-two"), None);
        assert_eq!(parse_seed(""), None);
    }

    #[test]
    fn seed_from_env_falls_back_to_default() {
        assert_eq!(seed_from_env("CAIRN_TESTKIT_SEED_THAT_IS_NEVER_SET", 17), 17);
    }
}
