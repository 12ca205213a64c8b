//! The 64-bit key hash used by filters: computed once per lookup and reused across every
//! table probed. Stable across platforms and releases because filters store its bits on disk
//! (docs/format/sstable.md#filter). Changing it is a format change.

/// Hashes a user key. A 64-bit multiply-xorshift hash over 8-byte little-endian words;
/// independent of host endianness and word size.
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    const M: u64 = 0x9E37_79B9_7F4A_7C15;
    const K: u64 = 0xC2B2_AE3D_27D4_EB4F;
    let mut h: u64 = 0x243F_6A88_85A3_08D3 ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = mix(h ^ u64::from_le_bytes(w).wrapping_mul(K));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = mix(h ^ u64::from_le_bytes(w).wrapping_mul(K));
    }
    fmix(h)
}

#[inline]
fn mix(h: u64) -> u64 {
    (h ^ (h >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9).rotate_left(27)
}

#[inline]
fn fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable() {
        // Pinned values: filters on disk depend on them.
        assert_eq!(key_hash(b""), key_hash(b""));
        assert_ne!(key_hash(b"a"), key_hash(b"b"));
        assert_ne!(key_hash(b"a"), key_hash(b"a\0"));
        let golden = [key_hash(b""), key_hash(b"key000001"), key_hash(b"0123456789abcdef")];
        assert_eq!(golden, GOLDEN);
    }

    const GOLDEN: [u64; 3] = [8848935107335307795, 1946966164362100319, 14335040601320159543];
}
