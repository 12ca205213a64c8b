//! Target `sstable_structured`: a valid table built from arbitrary entries, then damaged, then
//! read back against the entries it was built from (G5: a mismatch is an error, never a wrong
//! value).
//!
//! Input:
//! ```text
//! input    := block:u16 restart:u8 bloom:u8 codec:u8 mode:u8 damage entry*
//! damage   := kind:u8 offset:u32 arg:u8 xor:[u8; 4]
//! entry    := key_len:u8 key seq:u16 flags:u8 value_len:u8 [value_bytes]
//! ```
//! Damage is one of: none; XOR of up to 4 consecutive bytes (a burst CRC-32 always detects, so
//! the fuzzer cannot forge a checksum-valid change); zeroing up to 255 bytes (a lost sector);
//! truncation. Bit 0 of `mode` lets the file be memory-mapped, bit 1 gives the reader a cache.
//!
//! Invariants asserted: the builder accepts the entries; an undamaged table opens, verifies,
//! scans both ways to exactly the entries, and answers every `get` as the entries say; a
//! damaged one may fail any call with `Corruption`/`Unsupported`, but every entry a scan yields
//! before failing, and every `get` that succeeds, is the right one.

use std::cmp::Ordering;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use cairn_base::hash::key_hash;
use cairn_base::iter::InternalIterator;
use cairn_base::key::{InternalKey, MAX_SEQ, compare_internal};
use cairn_base::vfs::Vfs;
use cairn_base::{FileNum, Result, SeqNum, ValueKind};
use cairn_sstable::{BlockCache, Compression, Table, TableBuilder, TableOptions, TableReaderOptions};
use cairn_testkit::CrashFs;

use crate::expect_decode_error;
use crate::input::Input;
use crate::mem_file::MemFile;

/// The file number of the built table.
const FILE_NUM: FileNum = FileNum(9);

/// Entries per table at most: enough for several blocks, small enough for fast runs.
const MAX_ENTRIES: usize = 256;

/// One entry of the table being built: `(internal key, value)`.
type Entry = (InternalKey, Bytes);

/// How the built file is damaged before it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Damage {
    None,
    /// XOR `mask[..len]` into the bytes at `offset`.
    Burst {
        offset: usize,
        len: usize,
        mask: [u8; 4],
    },
    /// Zero `len` bytes from `offset`.
    Zero {
        offset: usize,
        len: usize,
    },
    /// Keep the first `len` bytes.
    Truncate {
        len: usize,
    },
}

/// Runs the `sstable_structured` target on `data`; panics if an invariant above is broken.
pub fn sstable_structured(data: &[u8]) {
    let mut input = Input::new(data);
    let opts = table_options(&mut input);
    let mode = input.u8();
    let damage = decode_damage(&mut input);
    let entries = decode_entries(&mut input);
    if entries.is_empty() {
        return;
    }
    let built = build(&entries, &opts);
    let (file, changed) = apply(built, damage);
    let cache = (mode & 2 == 2).then(|| BlockCache::new(64 << 10));
    let f = Arc::new(MemFile::new(file, format!("{FILE_NUM}.sst"), mode & 1 == 1));
    let table = match Table::open(f, FILE_NUM, &TableReaderOptions { use_mmap: true, cache }) {
        Ok(t) => t,
        Err(e) => {
            assert!(changed, "an undamaged table failed to open: {e}");
            return expect_decode_error("Table::open", &e);
        }
    };
    check_scans(&table, &entries, changed);
    check_gets(&table, &entries, changed);
    match table.verify() {
        Ok(n) => assert_eq!(n, entries.len() as u64, "verify counted a different number of entries"),
        Err(e) => {
            assert!(changed, "verify refused an undamaged table: {e}");
            expect_decode_error("Table::verify", &e);
        }
    }
}

fn table_options(input: &mut Input<'_>) -> TableOptions {
    TableOptions {
        block_size_bytes: 1 + usize::from(input.u16()) % 4096,
        restart_interval: 1 + input.below(16),
        bloom_bits_per_key: input.below(21) as u32,
        compression: Compression::from_u8(input.u8() % 3).expect("0..3 are codecs"),
        data_block_hash_index: !input.u8().is_multiple_of(4),
    }
}

fn decode_damage(input: &mut Input<'_>) -> Damage {
    let kind = input.u8() % 4;
    let offset = input.u64() as u32 as usize;
    let arg = usize::from(input.u8());
    let mut mask = [0u8; 4];
    mask.iter_mut().for_each(|m| *m = input.u8());
    match kind {
        0 => Damage::None,
        1 => Damage::Burst { offset, len: 1 + arg % 4, mask },
        2 => Damage::Zero { offset, len: arg },
        _ => Damage::Truncate { len: offset },
    }
}

/// Entries sorted by internal key, without duplicate internal keys.
fn decode_entries(input: &mut Input<'_>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    while !input.is_empty() && entries.len() < MAX_ENTRIES {
        let key_len = input.below(12);
        let key = input.take(key_len).to_vec();
        let seq = SeqNum(u64::from(input.u16()));
        let flags = input.u8();
        let kind = if flags & 1 == 1 { ValueKind::Delete } else { ValueKind::Set };
        let value_len = usize::from(input.u8()) * if flags & 2 == 2 { 64 } else { 1 };
        let value = if flags & 4 == 4 {
            Bytes::copy_from_slice(input.take(value_len))
        } else {
            // Compressible filler, so lz4 and zstd blocks get built.
            Bytes::from((0..value_len).map(|i| (i / 7) as u8 ^ flags).collect::<Vec<u8>>())
        };
        entries.push((InternalKey::new(&key, seq, kind), value));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.dedup_by(|b, a| a.0 == b.0);
    entries
}

/// Builds the table on an in-memory file system and returns its bytes.
fn build(entries: &[Entry], opts: &TableOptions) -> Vec<u8> {
    let fs = CrashFs::new();
    let path = PathBuf::from(format!("{FILE_NUM}.sst"));
    let file = fs.create(&path).expect("create on CrashFs");
    let mut builder = TableBuilder::new(file, path.clone(), FILE_NUM, opts).expect("valid table options");
    for (k, v) in entries {
        builder.add(k.encoded(), v).expect("sorted entries are accepted");
    }
    let summary = builder.finish().expect("finish a non-empty table");
    assert_eq!(summary.entries, entries.len() as u64, "summary counts different entries");
    fs.read_all(&path).expect("read back the table")
}

/// Applies the damage; returns the bytes and whether any byte changed.
fn apply(mut file: Vec<u8>, damage: Damage) -> (Bytes, bool) {
    let before = file.clone();
    let len = file.len();
    match damage {
        Damage::None => {}
        Damage::Burst { offset, len: n, mask } => {
            let at = offset % len;
            for (b, m) in file[at..].iter_mut().zip(&mask[..n]) {
                *b ^= m;
            }
        }
        Damage::Zero { offset, len: n } => {
            let at = offset % len;
            let end = at.saturating_add(n).min(len);
            file[at..end].fill(0);
        }
        Damage::Truncate { len: keep } => file.truncate(keep % len),
    }
    let changed = file != before;
    (Bytes::from(file), changed)
}

/// Both full scans: every entry yielded is the expected one in its place; an error is allowed
/// only when the file was damaged.
fn check_scans(table: &Arc<Table>, entries: &[Entry], changed: bool) {
    for forward in [true, false] {
        let (seen, end) = scan(table, forward);
        let expected: Vec<&Entry> = if forward { entries.iter().collect() } else { entries.iter().rev().collect() };
        assert!(seen.len() <= expected.len(), "a scan yielded more entries than the table holds");
        for (i, ((k, v), (ek, ev))) in seen.iter().zip(expected).enumerate() {
            assert!(k.as_slice() == ek.encoded() && v == ev, "scan (forward: {forward}) entry {i} is wrong");
        }
        match end {
            Ok(()) => assert_eq!(seen.len(), entries.len(), "a scan ended early without an error"),
            Err(e) => {
                assert!(changed, "scanning an undamaged table failed: {e}");
                expect_decode_error("TableIter", &e);
            }
        }
    }
}

/// Scans one way; returns what it saw and how it ended.
fn scan(table: &Arc<Table>, forward: bool) -> (Vec<(Vec<u8>, Bytes)>, Result<()>) {
    let mut it = table.iter();
    let mut seen = Vec::new();
    let first = if forward { it.seek_to_first() } else { it.seek_to_last() };
    if let Err(e) = first {
        return (seen, Err(e));
    }
    while it.valid() && seen.len() <= MAX_ENTRIES {
        seen.push((it.key().to_vec(), it.value_bytes()));
        let step = if forward { it.next() } else { it.prev() };
        if let Err(e) = step {
            return (seen, Err(e));
        }
    }
    (seen, Ok(()))
}

/// Point lookups at interesting sequence numbers of every key, and of absent keys.
fn check_gets(table: &Table, entries: &[Entry], changed: bool) {
    let mut probes: Vec<(Vec<u8>, SeqNum)> = Vec::new();
    for (k, _) in entries.iter().take(64) {
        let (uk, seq) = (k.user_key().to_vec(), k.seq());
        probes.push((uk.clone(), MAX_SEQ));
        probes.push((uk.clone(), seq));
        probes.push((uk.clone(), SeqNum(seq.0.saturating_sub(1))));
        let mut absent = uk;
        absent.push(0);
        probes.push((absent, MAX_SEQ));
    }
    probes.push((Vec::new(), MAX_SEQ));
    for (uk, seq) in probes {
        let expected = expected_get(entries, &uk, seq);
        match table.get(&uk, key_hash(&uk), seq) {
            Ok(got) => {
                assert!(got == expected, "get at seq {seq} returned a wrong answer ({got:?} != {expected:?})");
            }
            Err(e) => {
                assert!(changed, "get on an undamaged table failed: {e}");
                expect_decode_error("Table::get", &e);
            }
        }
    }
}

/// The newest entry of `uk` at or below `seq`, as `Table::get` must return it.
fn expected_get(entries: &[Entry], uk: &[u8], seq: SeqNum) -> Option<(ValueKind, SeqNum, Bytes)> {
    let target = InternalKey::seek_key(uk, seq);
    let i = entries.partition_point(|(k, _)| compare_internal(k.encoded(), target.encoded()) == Ordering::Less);
    let (k, v) = entries.get(i)?;
    let p = k.parsed();
    (p.user_key == uk).then(|| (p.kind, p.seq, v.clone()))
}
