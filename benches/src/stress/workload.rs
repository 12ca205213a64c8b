//! The batches both campaigns commit, and the exact database state after any prefix of them.
//!
//! Up to [`MAX_WRITERS`] writers commit concurrently, each its own sequence of batches over its
//! own keys (`w{w}-...`), so group commit sees real groups while every writer's history stays
//! checkable on its own. Batch `i` of writer `w` puts [`KEYS_PER_BATCH`] keys `w{w}-b{i}-{j}`
//! whose values encode `w`, `i` and `j` (plus padding whose length depends on all three, so
//! memtables fill at uneven points), deletes every key of the writer's batch
//! `i - WINDOW_BATCHES`, and overwrites the writer's hot key `w{w}-h{i % HOT_KEYS}` with a value
//! naming `i` (hot keys are rewritten in every memtable, so compactions merge and drop shadowed
//! versions instead of only moving disjoint tables). About one value in 128 is 40–80 KiB, so
//! some WAL records span several log blocks. Hence, per writer:
//! * the live state after its first `p` batches is exactly the keys of batches
//!   `p - WINDOW_BATCHES .. p`, so it stays small however long a campaign runs;
//! * every batch leaves a mark that never goes away (its keys while in the window, the absence of
//!   an older batch's keys forever after), so a hole anywhere in the history stays visible;
//! * a partly applied batch shows as a batch with some but not all of its keys, as keys that
//!   outlived the batch that deletes them, or as a hot key naming an older batch than it should.
//!
//! Owns the key and value formats and [`expected_live`]; judging a database is in
//! [`verify`](super::verify).

use std::ops::Range;

use cairn::WriteBatch;
use cairn_testkit::Rng;

/// Most writers a cycle runs; writer numbers are `0..MAX_WRITERS`.
pub const MAX_WRITERS: usize = 4;
/// Keys each batch puts (and later deletes).
pub const KEYS_PER_BATCH: u64 = 4;
/// How many batches later a batch's keys are deleted.
pub const WINDOW_BATCHES: u64 = 32;
/// Hot keys per writer, overwritten round-robin (batch `i` writes hot key `i % HOT_KEYS`).
pub const HOT_KEYS: u64 = 16;
/// Longest value padding, in bytes.
const PADDING_BYTES_MAX: u64 = 160;
/// One value in this many is large: 40–80 KiB, so its WAL record spans more than one 32 KiB
/// log block (first, middle and last fragments; docs/format/wal.md) and tears across them.
/// NB: large values are random bytes, not a run of one byte: zstd shrinks a 64 KiB run more than
/// 255-fold, and `cairn_base::envelope::decode_payload` refuses such a block as "implausible
/// decompressed length" although `seal` wrote it (a defect reported to the lead engineer; the
/// campaigns would fail on it in the first cycles with zstd).
const LARGE_VALUE_ONE_IN: u64 = 128;
const LARGE_PADDING_BYTES_MIN: u64 = 40 << 10;

const _: () = assert!(HOT_KEYS <= WINDOW_BATCHES, "the batch a hot key names is always in the live window");

/// A key of one writer's workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// The `j`-th key of batch `batch`.
    Batch { batch: u64, j: u64 },
    /// Hot key `slot`.
    Hot { slot: u64 },
}

/// The `j`-th key of writer `w`'s batch `batch`: `w{w}-b{batch:010}-{j}`, so a writer's keys
/// sort by batch.
pub fn key(w: usize, batch: u64, j: u64) -> Vec<u8> {
    format!("w{w}-b{batch:010}-{j}").into_bytes()
}

/// The value writer `w`'s batch `batch` stores under its `j`-th key: `{w}:{batch}:{j}:` and
/// padding.
pub fn value(w: usize, batch: u64, j: u64) -> Vec<u8> {
    padded(format!("{w}:{batch}:{j}:"), w, batch, j)
}

/// Writer `w`'s hot key `slot`: `w{w}-h{slot:02}` (sorts after the writer's batch keys).
pub fn hot_key(w: usize, slot: u64) -> Vec<u8> {
    format!("w{w}-h{slot:02}").into_bytes()
}

/// The value writer `w`'s batch `batch` stores under its hot key: `h{w}:{batch}:` and padding.
pub fn hot_value(w: usize, batch: u64) -> Vec<u8> {
    padded(format!("h{w}:{batch}:"), w, batch, KEYS_PER_BATCH)
}

fn padded(head: String, w: usize, batch: u64, salt: u64) -> Vec<u8> {
    let mut v = head.into_bytes();
    let mixed = batch.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ salt ^ ((w as u64) << 8);
    let start = v.len();
    if mixed.is_multiple_of(LARGE_VALUE_ONE_IN) {
        // Pseudo-random bytes: a large run of one byte would compress more than the block
        // envelope's reader accepts (see the note on `LARGE_VALUE_ONE_IN`).
        v.resize(start + (LARGE_PADDING_BYTES_MIN + mixed % LARGE_PADDING_BYTES_MIN) as usize, 0);
        Rng::new(mixed).fill(&mut v[start..]);
    } else {
        v.resize(start + (mixed % (PADDING_BYTES_MAX + 1)) as usize, b'a' + (batch % 26) as u8);
    }
    v
}

/// Parses a key written by [`key`] or [`hot_key`]: the writer and its key.
pub fn parse_key(key: &[u8]) -> Option<(usize, Key)> {
    let text = std::str::from_utf8(key).ok()?.strip_prefix('w')?;
    let (w, rest) = text.split_once('-')?;
    let w: usize = w.parse().ok()?;
    let parsed = if let Some(slot) = rest.strip_prefix('h') {
        Key::Hot { slot: slot.parse().ok()? }
    } else {
        let (batch, j) = rest.strip_prefix('b')?.split_once('-')?;
        Key::Batch { batch: batch.parse().ok()?, j: j.parse().ok()? }
    };
    let canonical = w < MAX_WRITERS
        && match parsed {
            Key::Batch { batch, j } => j < KEYS_PER_BATCH && key == self::key(w, batch, j).as_slice(),
            Key::Hot { slot } => slot < HOT_KEYS && key == hot_key(w, slot).as_slice(),
        };
    canonical.then_some((w, parsed))
}

/// The batch a hot value of writer `w` written by [`hot_value`] names.
pub fn parse_hot_value(w: usize, v: &[u8]) -> Option<u64> {
    let head = format!("h{w}:");
    let text = v.strip_prefix(head.as_bytes())?;
    let end = text.iter().position(|&c| c == b':')?;
    let batch: u64 = std::str::from_utf8(&text[..end]).ok()?.parse().ok()?;
    (v == hot_value(w, batch).as_slice()).then_some(batch)
}

/// The batch hot key `slot` names after a writer's first `prefix` batches (`None`: never
/// written).
pub fn expected_hot(prefix: u64, slot: u64) -> Option<u64> {
    let newest = prefix.checked_sub(1)?.checked_sub(slot)?;
    Some(slot + newest / HOT_KEYS * HOT_KEYS)
}

/// Batch `id` of writer `w`.
pub fn batch(w: usize, id: u64) -> WriteBatch {
    let mut b = WriteBatch::new();
    for j in 0..KEYS_PER_BATCH {
        b.put(key(w, id, j), value(w, id, j));
    }
    if let Some(old) = id.checked_sub(WINDOW_BATCHES) {
        for j in 0..KEYS_PER_BATCH {
            b.delete(key(w, old, j));
        }
    }
    b.put(hot_key(w, id % HOT_KEYS), hot_value(w, id));
    b
}

/// The batches whose keys are live after a writer's first `prefix` batches were applied.
pub fn expected_live(prefix: u64) -> Range<u64> {
    prefix.saturating_sub(WINDOW_BATCHES)..prefix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_back_and_sort_by_writer_then_batch() {
        for (w, batch, j) in [(0, 0, 0), (1, 7, 3), (2, 123_456_789, 1), (3, 9_999_999_999, 2)] {
            assert_eq!(parse_key(&key(w, batch, j)), Some((w, Key::Batch { batch, j })));
        }
        for (w, slot) in [(0, 0), (3, 9), (1, HOT_KEYS - 1)] {
            assert_eq!(parse_key(&hot_key(w, slot)), Some((w, Key::Hot { slot })));
        }
        assert!(key(0, 9, 3) < key(0, 10, 0));
        assert!(key(0, u64::MAX / 2, 3) < hot_key(0, 0));
        assert!(hot_key(0, HOT_KEYS - 1) < key(1, 0, 0));
        let bad: [&[u8]; 11] = [
            b"w0-b0000000001-4",
            b"w0-b1-0",
            b"w0-b0000000001-00",
            b"w4-b0000000001-0",
            b"w0-c0000000001-0",
            b"w0-b0000000001-",
            b"b0000000001-0",
            b"\xff",
            b"w0-h16",
            b"w0-h1",
            b"w00-h01",
        ];
        for bad in bad {
            assert_eq!(parse_key(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hot_values_parse_back_and_track_the_newest_writer() {
        assert_eq!(parse_hot_value(2, &hot_value(2, 1234)), Some(1234));
        assert_eq!(parse_hot_value(1, &hot_value(2, 1234)), None, "another writer's value");
        assert_eq!(parse_hot_value(2, b"h2:1234:"), None, "padding must match too");
        assert_eq!(parse_hot_value(0, &value(0, 5, 0)), None);
        assert_eq!(expected_hot(0, 0), None);
        assert_eq!(expected_hot(3, 2), Some(2));
        assert_eq!(expected_hot(3, 3), None);
        assert_eq!(expected_hot(100, 3), Some(99));
        assert_eq!(expected_hot(100, 4), Some(84));
        for prefix in 1..200 {
            for slot in 0..HOT_KEYS {
                let brute = (0..prefix).filter(|b| b % HOT_KEYS == slot).max();
                assert_eq!(expected_hot(prefix, slot), brute, "prefix {prefix} slot {slot}");
            }
        }
    }

    #[test]
    fn values_encode_writer_batch_and_key_and_vary_in_length() {
        assert!(value(1, 42, 3).starts_with(b"1:42:3:"));
        assert_ne!(value(0, 42, 3), value(1, 42, 3));
        let lengths: std::collections::BTreeSet<usize> = (0..64).map(|b| value(0, b, 0).len()).collect();
        assert!(lengths.len() > 10, "padding lengths barely vary: {lengths:?}");
        let large = (0..4096).filter(|&b| value(1, b, 2).len() > 40 << 10).count();
        assert!((8..=80).contains(&large), "{large} of 4096 values are large");
        assert!((0..4096).all(|b| value(1, b, 2).len() <= 81 << 10 && hot_value(3, b).len() <= 81 << 10));
    }

    #[test]
    fn batches_put_their_keys_and_delete_the_window_tail() {
        assert_eq!(batch(0, 0).len(), KEYS_PER_BATCH as usize + 1);
        assert_eq!(batch(1, WINDOW_BATCHES).len(), 2 * KEYS_PER_BATCH as usize + 1);
        assert_eq!(expected_live(3), 0..3);
        assert_eq!(expected_live(WINDOW_BATCHES + 5), 5..WINDOW_BATCHES + 5);
    }
}
