//! [`prefetch`]: a hint that starts loading a cache line before it is needed, so batched lookups
//! (`multi_get`) overlap their cache misses instead of taking them one after another.
//!
//! Owns the one architecture-specific instruction Cairn uses. A hint changes no value and can
//! never fault; where no instruction is available it does nothing.

/// Starts loading the cache line holding `bytes[offset]` into every cache level. Does nothing
/// when `offset` is out of bounds or the target has no prefetch instruction Cairn uses.
#[inline(always)]
pub fn prefetch(bytes: &[u8], offset: usize) {
    if let Some(byte) = bytes.get(offset) {
        prefetch_value(byte);
    }
}

/// Starts loading the cache line where `value` begins.
#[inline(always)]
pub fn prefetch_value<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    prefetch_x86_64(std::ptr::from_ref(value).cast());
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[expect(unsafe_code, reason = "the prefetch intrinsic is unsafe by signature; see docs/unsafe.md")]
fn prefetch_x86_64(p: *const u8) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    // SAFETY: `_mm_prefetch` needs the `sse` target feature, which every x86_64 target has (it
    // is part of the baseline ABI). The instruction is a hint: it reads nothing the program can
    // observe and never faults, whatever the address; here it is in bounds anyway.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetch_accepts_any_offset_and_changes_nothing() {
        let bytes = vec![7u8; 100];
        for offset in [0, 63, 64, 99, 100, usize::MAX] {
            prefetch(&bytes, offset);
        }
        prefetch(&[], 0);
        prefetch_value(&bytes[5]);
        prefetch_value(&[0u64; 8]);
        assert!(bytes.iter().all(|&b| b == 7));
    }
}
