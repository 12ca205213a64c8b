//! [`LogReader`]: reads the logical records of a whole log file back, applying the recovery
//! rule (docs/format/wal.md#recovery).
//!
//! Owns header validation policy (what is a crash during creation, what is corruption),
//! reassembly of fragments into records, stamp checks, and the final verdict on damage: a bad
//! fragment whose bytes a later verified record declares synced is [`Error::Corruption`];
//! otherwise it is a torn tail and reading stops there. Leaves the byte layout to `format.rs`
//! and the search for a witness to `recovery.rs`.
//!
//! Invariants:
//! * Records are returned in file order and always form a prefix of the log: nothing after the
//!   first bad spot is ever returned.
//! * `valid_bytes` only grows, and only past complete, verified records.
//! * A reassembled record is built from disjoint verified fragments of `data`, so it is never
//!   larger than the file (bounded memory on hostile input, DESIGN.md G9).

use std::fmt;
use std::path::PathBuf;

use bytes::Bytes;
use cairn_base::{Error, FileNum, Result};

use crate::format::{FragmentType, HEADER_BYTES, LogKind, Parsed, STAMP_BYTES, decode_header, parse_fragment};
use crate::recovery::find_synced_witness;

/// How a log ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEnd {
    /// Every byte parsed as complete records.
    Clean,
    /// A torn tail starting at `offset` was dropped (bytes never synced: a crash while writing).
    /// `offset` equals [`LogReader::valid_bytes`]: the end of the last complete record (0 when
    /// the file header itself was never completely written).
    TornTail {
        /// File offset where the dropped bytes start.
        offset: u64,
    },
}

/// Reads records from the bytes of a whole log file.
pub struct LogReader {
    data: Bytes,
    path: PathBuf,
    file_num: FileNum,
    kind: LogKind,
    /// File offset of the next fragment to parse.
    pos: usize,
    /// File offset just past the last complete record returned (or the header).
    valid_bytes: u64,
    /// The stamp of the last record returned; stamps never decrease.
    last_stamp: u64,
    state: State,
    end: LogEnd,
}

#[derive(Debug)]
enum State {
    Reading,
    Done,
    Failed(Error),
}

/// A spot where the bytes are not the next piece of a complete record.
#[derive(Debug)]
struct Damage {
    offset: usize,
    what: &'static str,
}

impl fmt::Debug for LogReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogReader")
            .field("path", &self.path)
            .field("file_num", &self.file_num)
            .field("kind", &self.kind)
            .field("size_bytes", &self.data.len())
            .field("pos", &self.pos)
            .field("valid_bytes", &self.valid_bytes)
            .field("state", &self.state)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

impl LogReader {
    /// Parses the header of `data` (the whole file). A file shorter than the header or whose
    /// header bytes are all zero is an empty log ending in a torn tail at offset 0 (a crash
    /// during creation). A bad magic, bad header checksum or file-number mismatch is
    /// `Error::Corruption`; an unknown format version is `Error::Unsupported`.
    ///
    /// NB: a zeroed header followed by a verified record is corruption too: the writer syncs the
    /// header before adding any record, and every record's stamp covers it.
    pub fn new(data: Bytes, path: PathBuf, file_num: FileNum, kind: LogKind) -> Result<LogReader> {
        let mut reader = LogReader {
            data,
            path,
            file_num,
            kind,
            pos: HEADER_BYTES,
            valid_bytes: HEADER_BYTES as u64,
            last_stamp: HEADER_BYTES as u64,
            state: State::Reading,
            end: LogEnd::Clean,
        };
        let header = reader.data.get(..HEADER_BYTES);
        match header {
            Some(h) if h.iter().any(|&b| b != 0) => reader.check_header()?,
            _ => reader.treat_header_as_torn()?,
        }
        Ok(reader)
    }

    /// The next logical record's payload, `Ok(None)` at the end. After an error, every later
    /// call returns the same error.
    pub fn next_record(&mut self) -> Result<Option<Bytes>> {
        match &self.state {
            State::Reading => {}
            State::Done => return Ok(None),
            State::Failed(e) => return Err(e.clone()),
        }
        match self.read_record() {
            Ok(Some(record)) => Ok(Some(record)),
            Ok(None) => {
                self.state = State::Done;
                Ok(None)
            }
            Err(damage) => self.judge(damage),
        }
    }

    /// After `next_record` returned `Ok(None)`: how the log ended. Before that it reads
    /// [`LogEnd::Clean`].
    pub fn end(&self) -> &LogEnd {
        &self.end
    }

    /// Offset just past the last complete record returned (the header size before any record;
    /// 0 when the header was torn).
    pub fn valid_bytes(&self) -> u64 {
        self.valid_bytes
    }

    fn check_header(&mut self) -> Result<()> {
        let header = decode_header(&self.data).map_err(|e| e.at_file(&self.path, 0))?;
        if header.kind != self.kind {
            let what = format!("log is a {} log, expected a {} log", header.kind.name(), self.kind.name());
            return Err(Error::corruption(&self.path, 0, what));
        }
        if header.file_num != self.file_num {
            let what = format!("header names file number {}, expected {}", header.file_num, self.file_num);
            return Err(Error::corruption(&self.path, 16, what));
        }
        Ok(())
    }

    /// A short or zeroed header: a crash during creation, unless a verified record proves the
    /// header had been synced.
    fn treat_header_as_torn(&mut self) -> Result<()> {
        self.valid_bytes = 0;
        self.pos = self.data.len();
        if let Some(w) = find_synced_witness(&self.data, self.file_num, 0, 0) {
            let what = format!(
                "zeroed log header, but the record at offset {} shows bytes up to {} were synced",
                w.offset, w.synced_upto
            );
            return Err(Error::corruption(&self.path, 0, what));
        }
        self.end = LogEnd::TornTail { offset: 0 };
        self.state = State::Done;
        Ok(())
    }

    /// Reads fragments until one record is complete. `Ok(None)` at a clean end.
    fn read_record(&mut self) -> Result<Option<Bytes>, Damage> {
        // (offset of the FIRST fragment, bytes so far) of a record spanning fragments.
        let mut partial: Option<(usize, Vec<u8>)> = None;
        loop {
            let f = match parse_fragment(&self.data, self.file_num, self.pos) {
                Parsed::Fragment(f) => f,
                Parsed::Padding { next } => {
                    self.pos = next;
                    continue;
                }
                Parsed::End if partial.is_none() => return Ok(None),
                Parsed::End => return Err(Damage { offset: self.pos, what: "log ends inside a record" }),
                Parsed::Bad { what } => return Err(Damage { offset: self.pos, what }),
            };
            self.pos = f.end;
            let payload = f.payload(&self.data);
            match (f.ftype, partial.as_mut()) {
                (FragmentType::Full, None) => {
                    let record = self.data.slice(f.payload_start..f.end);
                    return self.finish_record(f.offset, record).map(Some);
                }
                (FragmentType::First, None) => partial = Some((f.offset, payload.to_vec())),
                (FragmentType::Middle, Some((_, buf))) => buf.extend_from_slice(payload),
                (FragmentType::Last, Some((start, buf))) => {
                    buf.extend_from_slice(payload);
                    let (start, record) = (*start, Bytes::from(std::mem::take(buf)));
                    return self.finish_record(start, record).map(Some);
                }
                (FragmentType::Middle | FragmentType::Last, None) => {
                    return Err(Damage { offset: f.offset, what: "continuation fragment without a first fragment" });
                }
                (FragmentType::Full | FragmentType::First, Some(_)) => {
                    return Err(Damage { offset: f.offset, what: "record interrupted by the start of another" });
                }
            }
        }
    }

    /// Checks the stamp of a complete record starting at `start` and strips it.
    fn finish_record(&mut self, start: usize, record: Bytes) -> Result<Bytes, Damage> {
        let Some(stamp) = record.get(..STAMP_BYTES) else {
            return Err(Damage { offset: start, what: "record shorter than its synced-offset stamp" });
        };
        let mut le = [0u8; STAMP_BYTES];
        le.copy_from_slice(stamp);
        let stamp = u64::from_le_bytes(le);
        // The writer stamps its synced_bytes, which never decreases and never passes the offset
        // where the record starts (docs/format/wal.md#the-synced-offset-stamp).
        if stamp < self.last_stamp || stamp > start as u64 {
            return Err(Damage { offset: start, what: "synced-offset stamp out of order" });
        }
        self.last_stamp = stamp;
        self.valid_bytes = self.pos as u64;
        Ok(record.slice(STAMP_BYTES..))
    }

    /// Applies the recovery rule to damage: corruption if a later record witnesses that the
    /// bytes after `valid_bytes` were synced, a torn tail otherwise.
    fn judge(&mut self, damage: Damage) -> Result<Option<Bytes>> {
        match find_synced_witness(&self.data, self.file_num, damage.offset, self.valid_bytes) {
            Some(w) => {
                let what = format!(
                    "{}; the record at offset {} shows bytes up to {} were synced",
                    damage.what, w.offset, w.synced_upto
                );
                let e = Error::corruption(&self.path, damage.offset as u64, what);
                self.state = State::Failed(e.clone());
                Err(e)
            }
            None => {
                self.end = LogEnd::TornTail { offset: self.valid_bytes };
                self.state = State::Done;
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{BLOCK_SIZE_BYTES, encode_header, frame_record};

    const F: FileNum = FileNum(3);

    /// A log of records `(stamp, payload)` framed by hand, and each record's end offset.
    fn log(records: &[(u64, &[u8])]) -> (Vec<u8>, Vec<u64>) {
        let mut data = encode_header(LogKind::Wal, F).to_vec();
        let mut ends = Vec::new();
        for &(stamp, payload) in records {
            let at = data.len() as u64;
            ends.push(frame_record(&mut data, F, at, stamp, payload));
        }
        (data, ends)
    }

    fn reader(data: &[u8]) -> LogReader {
        LogReader::new(Bytes::copy_from_slice(data), PathBuf::from("000003.wal"), F, LogKind::Wal).expect("header")
    }

    fn read_all(r: &mut LogReader) -> Result<Vec<Bytes>> {
        let mut out = Vec::new();
        while let Some(rec) = r.next_record()? {
            out.push(rec);
        }
        Ok(out)
    }

    #[test]
    fn full_fragment_records_are_zero_copy_slices() {
        let (data, ends) = log(&[(28, b"hello"), (28, b"")]);
        let mut r = reader(&data);
        assert_eq!(read_all(&mut r).expect("read"), [Bytes::from_static(b"hello"), Bytes::new()]);
        assert_eq!(r.end(), &LogEnd::Clean);
        assert_eq!(r.valid_bytes(), ends[1]);
    }

    #[test]
    fn stamp_beyond_own_offset_is_damage_and_no_witness() {
        let (data, ends) = log(&[(28, b"a"), (10_000, b"b"), (28, b"c")]);
        let mut r = reader(&data);
        assert_eq!(read_all(&mut r).expect("read").len(), 1);
        assert_eq!(r.end(), &LogEnd::TornTail { offset: ends[0] });
    }

    #[test]
    fn damage_before_a_witness_is_sticky_corruption() {
        let (mut data, ends) = log(&[(28, b"a"), (28, b"b"), (ends_of_two(), b"c")]);
        assert_eq!(ends[1], ends_of_two());
        data[ends[0] as usize + 9] ^= 1;
        let mut r = reader(&data);
        assert_eq!(r.next_record().expect("first").as_deref(), Some(&b"a"[..]));
        assert!(matches!(r.next_record(), Err(Error::Corruption { offset, .. }) if offset == ends[0]));
        assert!(r.next_record().is_err(), "errors are sticky");
    }

    /// The end of a log holding two one-byte records.
    fn ends_of_two() -> u64 {
        (HEADER_BYTES + 2 * (crate::format::FRAGMENT_HEADER_BYTES + STAMP_BYTES + 1)) as u64
    }

    #[test]
    fn decreasing_stamp_at_the_tail_is_a_torn_tail() {
        let (data, ends) = log(&[(28, b"a"), (29, b"b"), (28, b"c")]);
        let mut r = reader(&data);
        assert_eq!(read_all(&mut r).expect("read").len(), 2);
        assert_eq!(r.end(), &LogEnd::TornTail { offset: ends[1] });
    }

    #[test]
    fn record_interrupted_by_a_new_record_is_detected() {
        // A FIRST fragment that fills block 0, followed by a FULL at the start of block 1.
        let mut data = encode_header(LogKind::Wal, F).to_vec();
        let big = vec![1u8; BLOCK_SIZE_BYTES];
        frame_record(&mut data, F, HEADER_BYTES as u64, 28, &big);
        data.truncate(BLOCK_SIZE_BYTES);
        frame_record(&mut data, F, BLOCK_SIZE_BYTES as u64, 28, b"x");
        let mut r = reader(&data);
        assert_eq!(read_all(&mut r).expect("read").len(), 0);
        assert_eq!(r.end(), &LogEnd::TornTail { offset: HEADER_BYTES as u64 });
    }

    #[test]
    fn zeroed_header_with_a_synced_record_after_it_is_corruption() {
        let (mut data, _) = log(&[(28, b"a")]);
        data[..HEADER_BYTES].fill(0);
        let r = LogReader::new(Bytes::from(data), PathBuf::from("x"), F, LogKind::Wal);
        assert!(matches!(r, Err(Error::Corruption { offset: 0, .. })));
    }

    #[test]
    fn end_is_clean_before_reading_and_valid_bytes_starts_at_header() {
        let (data, _) = log(&[]);
        let mut r = reader(&data);
        assert_eq!(r.valid_bytes(), HEADER_BYTES as u64);
        assert_eq!(r.next_record().expect("read"), None);
        assert_eq!(r.end(), &LogEnd::Clean);
    }
}
