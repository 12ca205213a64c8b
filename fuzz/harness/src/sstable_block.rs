//! Target `sstable_block`: arbitrary bytes read as a whole table file (docs/format/sstable.md).
//!
//! Input: `mode:u8 file_bytes*`. Bit 0 of `mode` says whether the in-memory file can be mapped
//! (the reader's zero-copy path) or must be read with positioned reads; bit 1 whether the reader
//! gets a block cache. The file number expected is 7, the number of the golden fixture
//! `sstable/tests/fixtures/v1/000007.sst`, so the fixture (behind a mode byte) is a seed.
//!
//! Invariants asserted, for every input (G9):
//! * `Table::open`, `get`, both full scans and `verify` return `Ok` or `Corruption`/
//!   `Unsupported`, never panic, and terminate;
//! * the same calls through the other read path (map ⇄ positioned reads, without a cache) give
//!   the same answers: the two paths may not disagree about what a file holds;
//! * when `verify` accepts the file, both scans succeed, hold exactly the entries it counted,
//!   in strictly increasing internal-key order, one the reverse of the other.

use std::cmp::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use cairn_base::hash::key_hash;
use cairn_base::iter::InternalIterator;
use cairn_base::key::{MAX_SEQ, TRAILER_BYTES, compare_internal};
use cairn_base::{FileNum, Result};
use cairn_sstable::{BlockCache, Table, TableReaderOptions};

use crate::mem_file::MemFile;
use crate::{Refused, expect_decode_error, outcome};

/// The file number the target's tables must record.
pub const FILE_NUM: FileNum = FileNum(7);

/// Entries a scan collects at most, so a hostile file cannot make a scan allocate without bound
/// (each entry is at least a few bytes of the file, so real tables stay far below it).
const MAX_SCANNED_ENTRIES: usize = 1 << 20;

/// One key-value pair from a scan.
pub(crate) type Pair = (Vec<u8>, Bytes);

/// What a point lookup returned: `(kind byte, sequence number, value)`.
pub(crate) type Found = Option<(u8, u64, Bytes)>;

/// What one read path saw of a table.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct View {
    pub forward: std::result::Result<Vec<Pair>, Refused>,
    pub backward: std::result::Result<Vec<Pair>, Refused>,
    pub gets: Vec<std::result::Result<Found, Refused>>,
    pub verified: std::result::Result<u64, Refused>,
}

/// Runs the `sstable_block` target on `data`; panics if an invariant above is broken.
pub fn sstable_block(data: &[u8]) {
    let Some((&mode, file)) = data.split_first() else { return };
    let file = Bytes::copy_from_slice(file);
    let mappable = mode & 1 == 1;
    let cache = (mode & 2 == 2).then(|| BlockCache::new(64 << 10));
    let primary = open_and_read(file.clone(), mappable, cache, &probe_keys(&file));
    let other = open_and_read(file.clone(), !mappable, None, &probe_keys(&file));
    assert_eq!(primary.is_some(), other.is_some(), "map and pread paths disagree about opening the table");
    let (Some(primary), Some(other)) = (primary, other) else { return };
    assert_eq!(primary, other, "map and pread paths read different contents");
    if let Ok(n) = primary.verified {
        check_verified_view(&primary, n);
    }
}

/// User keys to look up besides those a forward scan finds: a few fixed ones and the first
/// 8-byte-aligned windows of the file.
fn probe_keys(file: &[u8]) -> Vec<Vec<u8>> {
    let mut keys = vec![Vec::new(), b"a".to_vec(), b"key".to_vec(), vec![0xff; 4]];
    keys.extend(file.chunks(8).take(64).map(<[u8]>::to_vec));
    keys
}

/// Opens the table and reads it every way; `None` when `open` refused it.
pub(crate) fn open_and_read(
    file: Bytes,
    mappable: bool,
    cache: Option<Arc<BlockCache>>,
    keys: &[Vec<u8>],
) -> Option<View> {
    let f = Arc::new(MemFile::new(file, format!("{FILE_NUM}.sst"), mappable));
    let opts = TableReaderOptions { use_mmap: true, cache };
    let table = match Table::open(f, FILE_NUM, &opts) {
        Ok(t) => t,
        Err(e) => {
            expect_decode_error("Table::open", &e);
            return None;
        }
    };
    let forward = outcome("TableIter forward", scan(&table, Direction::Forward));
    let scanned_keys =
        forward.iter().flatten().take(64).map(|(k, _)| k[..k.len().saturating_sub(TRAILER_BYTES)].to_vec());
    let gets =
        keys.iter().cloned().chain(scanned_keys).map(|k| outcome("Table::get", get_newest(&table, &k))).collect();
    let backward = outcome("TableIter backward", scan(&table, Direction::Backward));
    let verified = outcome("Table::verify", table.verify());
    Some(View { forward, backward, gets, verified })
}

/// The newest entry of `user_key`, with its kind as the on-disk byte.
pub(crate) fn get_newest(table: &Table, user_key: &[u8]) -> Result<Found> {
    Ok(table.get(user_key, key_hash(user_key), MAX_SEQ)?.map(|(kind, seq, v)| (kind as u8, seq.0, v)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Forward,
    Backward,
}

/// Every entry, in iteration order.
pub(crate) fn scan(table: &Arc<Table>, direction: Direction) -> Result<Vec<Pair>> {
    let mut it = table.iter();
    match direction {
        Direction::Forward => it.seek_to_first()?,
        Direction::Backward => it.seek_to_last()?,
    }
    let mut out = Vec::new();
    while it.valid() && out.len() < MAX_SCANNED_ENTRIES {
        out.push((it.key().to_vec(), it.value_bytes()));
        match direction {
            Direction::Forward => it.next()?,
            Direction::Backward => it.prev()?,
        }
    }
    Ok(out)
}

/// A table that `verify` accepted reads back consistently.
fn check_verified_view(view: &View, entries: u64) {
    let forward = view.forward.as_ref().expect("a verified table scans forward");
    let backward = view.backward.as_ref().expect("a verified table scans backward");
    assert_eq!(forward.len() as u64, entries, "forward scan and verify count different entries");
    let ordered = forward.windows(2).all(|w| compare_internal(&w[0].0, &w[1].0) == Ordering::Less);
    assert!(ordered, "a verified table scans out of order");
    assert!(forward.iter().eq(backward.iter().rev()), "backward scan is not the reverse of the forward scan");
}
