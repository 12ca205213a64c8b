//! The synced-witness scan: decides whether damaged log bytes were ever synced
//! (docs/format/wal.md#recovery).
//!
//! When the reader meets a bad fragment, it asks this module for a *witness*: a later fragment
//! that verifies (its checksum is bound to this file and its own offset, so the writer put it
//! exactly there) and that carries, or begins a record that carries, a synced-offset stamp
//! greater than the reader's `valid_bytes`. A witness proves the bytes right after the last
//! good record were fsynced before the witness was written, so their damage is corruption, not
//! a torn tail. Owns only that search; the reader turns its answer into an error or an end.
//!
//! Work is bounded and never panics on any bytes:
//! * In the block holding the bad spot, fragment boundaries are unknown (a length field may be
//!   the damaged byte), so every position from the bad spot to the block end is tried: at most
//!   `BLOCK_SIZE_BYTES^2 / 2` checksummed bytes, once per log.
//! * After that block, parsing resumes at each block start (every block begins with a fragment
//!   header) and follows fragments until one fails, then jumps to the next block: each byte is
//!   checksummed at most once, so the rest is linear in the file size.

use cairn_base::FileNum;

use crate::format::{BLOCK_SIZE_BYTES, Fragment, FragmentType, Parsed, STAMP_BYTES, parse_fragment};

/// A verified record start whose stamp says bytes up to `synced_upto` were durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Witness {
    /// File offset of the `FULL` or `FIRST` fragment that begins the witnessing record.
    pub offset: usize,
    /// The stamp it carries.
    pub synced_upto: u64,
}

/// Finds a witness at or after `bad_offset` whose stamp exceeds `valid_bytes`, if any.
///
/// A stamp beyond the witness's own offset is ignored: an honest writer never stamps bytes it
/// has not yet written, so such a "witness" can only be garbage that happened to pass a
/// checksum, and trusting it would turn a torn tail into a false corruption (G4).
pub(crate) fn find_synced_witness(
    data: &[u8],
    file_num: FileNum,
    bad_offset: usize,
    valid_bytes: u64,
) -> Option<Witness> {
    let exhaustive_end = block_end(bad_offset);
    let mut stamps = StampAssembler::default();
    let mut pos = bad_offset;
    while pos < data.len() {
        match parse_fragment(data, file_num, pos) {
            Parsed::Fragment(f) => {
                if let Some(w) = stamps.feed(&f, f.payload(data))
                    && w.synced_upto > valid_bytes
                    && w.synced_upto <= w.offset as u64
                {
                    return Some(w);
                }
                pos = f.end;
            }
            Parsed::Padding { next } => pos = next,
            Parsed::End => break,
            Parsed::Bad { .. } => {
                stamps = StampAssembler::default();
                pos = if pos < exhaustive_end { pos + 1 } else { block_end(pos) };
            }
        }
    }
    None
}

/// File offset of the end of the block containing `pos` (always `> pos`).
fn block_end(pos: usize) -> usize {
    (pos / BLOCK_SIZE_BYTES + 1).saturating_mul(BLOCK_SIZE_BYTES)
}

/// Collects the first [`STAMP_BYTES`] of a record from consecutive verified fragments: a
/// `FIRST` fragment may hold fewer than 8 bytes when it fills the end of a block.
#[derive(Debug, Default)]
struct StampAssembler {
    /// Offset of the fragment that began the record being assembled, if any.
    start: Option<usize>,
    bytes: [u8; STAMP_BYTES],
    filled: usize,
}

impl StampAssembler {
    /// Feeds the next verified fragment; returns the stamp once its 8 bytes are complete.
    fn feed(&mut self, f: &Fragment, payload: &[u8]) -> Option<Witness> {
        if f.ftype.begins_record() {
            self.start = Some(f.offset);
            self.filled = 0;
        }
        let start = self.start?;
        let take = (STAMP_BYTES - self.filled).min(payload.len());
        self.bytes[self.filled..self.filled + take].copy_from_slice(&payload[..take]);
        self.filled += take;
        if self.filled == STAMP_BYTES {
            self.start = None;
            return Some(Witness { offset: start, synced_upto: u64::from_le_bytes(self.bytes) });
        }
        if f.ftype == FragmentType::Full || f.ftype == FragmentType::Last {
            self.start = None;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{HEADER_BYTES, frame_record};
    use proptest::prelude::*;

    const F: FileNum = FileNum(11);

    fn log_with(records: &[(u64, usize)]) -> (Vec<u8>, Vec<usize>) {
        let mut data = vec![0u8; HEADER_BYTES];
        let mut starts = Vec::new();
        for &(stamp, len) in records {
            starts.push(data.len());
            let at = data.len() as u64;
            frame_record(&mut data, F, at, stamp, &vec![0x5a; len]);
        }
        (data, starts)
    }

    #[test]
    fn later_stamp_beyond_valid_bytes_is_a_witness() {
        // Records of 7 + 8 + 10 bytes start at 28, 53 and 78.
        let (data, starts) = log_with(&[(28, 10), (28, 10), (78, 10)]);
        assert_eq!(starts, [28, 53, 78]);
        let w = find_synced_witness(&data, F, starts[1], starts[1] as u64).expect("witness");
        assert_eq!(w, Witness { offset: starts[2], synced_upto: 78 });
        assert_eq!(find_synced_witness(&data, F, starts[1], 78), None);
    }

    #[test]
    fn stamp_beyond_its_own_offset_is_no_witness() {
        let (data, starts) = log_with(&[(28, 10), (28, 10), (79, 10)]);
        assert_eq!(find_synced_witness(&data, F, starts[1], starts[1] as u64), None);
    }

    #[test]
    fn witness_found_after_a_damaged_length_in_the_same_block() {
        let (mut data, starts) = log_with(&[(28, 10), (28, 300), (368, 10)]);
        assert_eq!(starts[2], 368);
        // Make the damaged fragment's length point past the witness.
        data[starts[1] + 4] = 0xff;
        data[starts[1] + 5] = 0x70;
        let w = find_synced_witness(&data, F, starts[1], starts[1] as u64).expect("witness");
        assert_eq!(w.offset, starts[2]);
    }

    #[test]
    fn stamp_split_across_blocks_is_assembled() {
        // A record whose FIRST fragment holds 3 stamp bytes at the end of block 0.
        let gap = BLOCK_SIZE_BYTES - HEADER_BYTES - 2 * 7 - 3;
        let (data, starts) = log_with(&[(28, gap - 8), (BLOCK_SIZE_BYTES as u64 - 10, 50)]);
        assert_eq!(starts[1] + 7 + 3, BLOCK_SIZE_BYTES);
        let w = find_synced_witness(&data, F, HEADER_BYTES, HEADER_BYTES as u64).expect("witness");
        assert_eq!(w, Witness { offset: starts[1], synced_upto: starts[1] as u64 });
    }

    #[test]
    fn continuation_without_start_is_no_witness() {
        let (data, _) = log_with(&[(28, 2 * BLOCK_SIZE_BYTES)]);
        // Start scanning in block 1: only MIDDLE and LAST fragments remain.
        assert_eq!(find_synced_witness(&data, F, BLOCK_SIZE_BYTES, 0), None);
    }

    proptest! {
        #[test]
        fn scan_never_panics(data in proptest::collection::vec(any::<u8>(), 0..70_000), at in 0usize..70_000) {
            let _ = find_synced_witness(&data, F, at, 0);
        }
    }
}
