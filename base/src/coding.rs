//! Little-endian fixed-width integers and LEB128 varints, and [`Decoder`], a bounds-checked
//! cursor over bytes read from disk. Decoding never panics: running out of bytes or an
//! over-long varint is an [`Error::Corruption`] at the cursor's offset (file left empty, to be
//! filled in by [`Error::at_file`]).

use crate::error::{Error, Result};

/// Appends `v` as 4 little-endian bytes.
pub fn put_u32(dst: &mut Vec<u8>, v: u32) {
    dst.extend_from_slice(&v.to_le_bytes());
}

/// Appends `v` as 8 little-endian bytes.
pub fn put_u64(dst: &mut Vec<u8>, v: u64) {
    dst.extend_from_slice(&v.to_le_bytes());
}

/// Appends `v` as a LEB128 varint (1–10 bytes).
pub fn put_varint(dst: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        dst.push((v as u8) | 0x80);
        v >>= 7;
    }
    dst.push(v as u8);
}

/// Appends a varint length followed by the bytes.
pub fn put_bytes(dst: &mut Vec<u8>, b: &[u8]) {
    put_varint(dst, b.len() as u64);
    dst.extend_from_slice(b);
}

/// Number of bytes `put_varint(v)` appends.
pub fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Reads 4 little-endian bytes at `at`, if present.
pub fn get_u32_at(src: &[u8], at: usize) -> Option<u32> {
    let b = src.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads 8 little-endian bytes at `at`, if present.
pub fn get_u64_at(src: &[u8], at: usize) -> Option<u64> {
    let b = src.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

/// Decodes a varint at the start of `src`: `(value, bytes used)`, or `None` when truncated or
/// longer than 10 bytes / overflowing 64 bits.
#[inline]
pub fn get_varint(src: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, &b) in src.iter().enumerate().take(10) {
        let part = u64::from(b & 0x7f);
        if i == 9 && b > 1 {
            return None;
        }
        v |= part << (7 * i);
        if b < 0x80 {
            return Some((v, i + 1));
        }
    }
    None
}

/// A bounds-checked reading cursor. Every failure is a corruption at the cursor's position.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    src: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    /// A cursor at the start of `src`.
    pub fn new(src: &'a [u8]) -> Self {
        Decoder { src, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.src.len() - self.pos
    }

    /// True when every byte was consumed.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes.
    pub fn rest(&self) -> &'a [u8] {
        &self.src[self.pos..]
    }

    fn err(&self, what: &str) -> Error {
        Error::corruption("", self.pos as u64, what.to_string())
    }

    /// Reads one byte.
    pub fn u8(&mut self, what: &str) -> Result<u8> {
        let b = *self.src.get(self.pos).ok_or_else(|| self.err(&format!("truncated {what}")))?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads a little-endian u32.
    pub fn u32(&mut self, what: &str) -> Result<u32> {
        let v = get_u32_at(self.src, self.pos).ok_or_else(|| self.err(&format!("truncated {what}")))?;
        self.pos += 4;
        Ok(v)
    }

    /// Reads a little-endian u64.
    pub fn u64(&mut self, what: &str) -> Result<u64> {
        let v = get_u64_at(self.src, self.pos).ok_or_else(|| self.err(&format!("truncated {what}")))?;
        self.pos += 8;
        Ok(v)
    }

    /// Reads a varint.
    pub fn varint(&mut self, what: &str) -> Result<u64> {
        let (v, n) = get_varint(self.rest()).ok_or_else(|| self.err(&format!("bad varint for {what}")))?;
        self.pos += n;
        Ok(v)
    }

    /// Reads a varint that must fit in `u32`.
    pub fn varint_u32(&mut self, what: &str) -> Result<u32> {
        let at = self.pos;
        let v = self.varint(what)?;
        u32::try_from(v).map_err(|_| Error::corruption("", at as u64, format!("{what} out of range")))
    }

    /// Reads exactly `n` bytes.
    pub fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.src.len());
        let end = end.ok_or_else(|| self.err(&format!("truncated {what}")))?;
        let b = &self.src[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    /// Reads a varint length and that many bytes.
    pub fn length_prefixed(&mut self, what: &str) -> Result<&'a [u8]> {
        let n = self.varint(what)?;
        let n = usize::try_from(n).map_err(|_| self.err(&format!("length of {what} out of range")))?;
        self.bytes(n, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varint_round_trips(v: u64) {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            prop_assert_eq!(b.len(), varint_len(v));
            prop_assert_eq!(get_varint(&b), Some((v, b.len())));
        }

        #[test]
        fn decoder_never_panics(bytes: Vec<u8>) {
            let mut d = Decoder::new(&bytes);
            while !d.is_empty() {
                if d.length_prefixed("x").is_err() { break; }
            }
        }
    }

    #[test]
    fn varint_rejects_overflow_and_truncation() {
        assert_eq!(get_varint(&[0x80]), None);
        assert_eq!(get_varint(&[0xff; 10]), None);
        assert_eq!(get_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), Some((u64::MAX, 10)));
    }

    #[test]
    fn decoder_reports_offset_of_truncation() {
        let mut d = Decoder::new(&[1, 2, 3]);
        assert_eq!(d.u8("a").ok(), Some(1));
        match d.u32("b") {
            Err(Error::Corruption { offset, .. }) => assert_eq!(offset, 1),
            other => panic!("unexpected {other:?}"),
        }
    }
}
