//! [`Input`]: a cursor that turns fuzzer bytes into structured choices.
//!
//! Owns only the decoding of choices (numbers, bounded lengths, byte strings); what the choices
//! mean is each target's business. Never fails and never panics: once the bytes run out every
//! read returns zero (or an empty slice), so every input, however short, decodes to *some*
//! operation sequence and the fuzzer can grow inputs one byte at a time.

/// A reading cursor over the fuzzer's input; see the module docs.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    /// A cursor at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data, pos: 0 }
    }

    /// True once every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// Bytes not consumed yet.
    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// The next byte, or 0 past the end.
    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos = self.pos.saturating_add(1);
        b
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next eight bytes, little-endian.
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        u64::from_le_bytes(b)
    }

    /// A number in `0..n` (`n > 0`) from one byte when `n <= 256`, two bytes otherwise.
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0, "below(0) has no answer");
        let raw = if n <= 256 { usize::from(self.u8()) } else { usize::from(self.u16()) };
        raw % n.max(1)
    }

    /// True with the low bit of the next byte.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = start.saturating_add(n).min(self.data.len());
        self.pos = self.pos.saturating_add(n);
        &self.data[start..end]
    }

    /// Every byte not consumed yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        self.pos = self.data.len();
        &self.data[start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_little_endian_and_zero_past_the_end() {
        let mut i = Input::new(&[1, 2, 3]);
        assert_eq!(i.u16(), 0x0201);
        assert_eq!(i.u16(), 3);
        assert_eq!(i.u8(), 0);
        assert!(i.is_empty());
        assert_eq!(i.take(4), &[] as &[u8]);
    }

    #[test]
    fn take_stops_at_the_end() {
        let mut i = Input::new(&[9, 8, 7]);
        assert_eq!(i.take(2), &[9, 8]);
        assert_eq!(i.take(5), &[7]);
        assert_eq!(i.remaining(), 0);
    }

    #[test]
    fn below_stays_in_range() {
        let data: Vec<u8> = (0..=255).collect();
        let mut i = Input::new(&data);
        for _ in 0..128 {
            assert!(i.below(7) < 7);
        }
        assert!(i.below(1000) < 1000);
    }
}
