//! Target `wal_reader`: arbitrary bytes read as a whole log file (docs/format/wal.md).
//!
//! The log kind is taken from the magic when it names one (so both WAL and manifest logs are
//! fuzzed), and the expected file number from the header bytes when present (so inputs get past
//! the file-number check). Invariants asserted, for every input:
//! * `LogReader::new` and `next_record` return `Ok` or `Corruption`/`Unsupported`, never panic;
//! * errors are sticky: after one, the next call fails too;
//! * the records returned never hold more bytes than the file, and `valid_bytes` never exceeds
//!   the file size and never decreases;
//! * a clean end or torn tail reports `TornTail { offset }` with `offset == valid_bytes`;
//! * recovery yields a prefix (G2): re-reading the file cut at `valid_bytes` returns exactly the
//!   same records and ends cleanly.

use std::path::PathBuf;

use bytes::Bytes;
use cairn_base::coding::get_u64_at;
use cairn_base::{Error, FileNum};
use cairn_wal::{LogEnd, LogKind, LogReader};

use crate::expect_decode_error;

/// How a whole read of a log went.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    records: Vec<Bytes>,
    valid_bytes: u64,
    end: Result<LogEnd, String>,
}

/// Runs the `wal_reader` target on `data`; panics if an invariant above is broken.
pub fn wal_reader(data: &[u8]) {
    let kind = data.get(..8).and_then(LogKind::from_magic).unwrap_or(LogKind::Wal);
    let file_num = FileNum(get_u64_at(data, 16).unwrap_or(7));
    let Some(outcome) = read_whole(data, kind, file_num) else { return };
    let Ok(LogEnd::Clean | LogEnd::TornTail { .. }) = &outcome.end else { return };
    if outcome.valid_bytes == 0 {
        assert!(outcome.records.is_empty(), "records returned from a log whose header was torn");
        return;
    }
    let cut = usize::try_from(outcome.valid_bytes).expect("valid_bytes is at most the input length");
    let again = read_whole(&data[..cut], kind, file_num).expect("a prefix of a readable log opens");
    assert_eq!(again.records, outcome.records, "the log cut at valid_bytes yields different records");
    assert_eq!(again.end, Ok(LogEnd::Clean), "the log cut at valid_bytes does not end cleanly");
}

/// Reads every record; `None` when the header is refused.
fn read_whole(data: &[u8], kind: LogKind, file_num: FileNum) -> Option<Outcome> {
    let path = PathBuf::from(format!("{file_num}.wal"));
    let mut reader = match LogReader::new(Bytes::copy_from_slice(data), path, file_num, kind) {
        Ok(r) => r,
        Err(e) => {
            expect_decode_error("LogReader::new", &e);
            return None;
        }
    };
    let mut records = Vec::new();
    let mut record_bytes = 0usize;
    let mut last_valid = reader.valid_bytes();
    let end = loop {
        let step = reader.next_record();
        let valid = reader.valid_bytes();
        assert!(valid >= last_valid && valid <= data.len() as u64, "valid_bytes {valid} out of order or range");
        last_valid = valid;
        match step {
            Ok(Some(record)) => {
                record_bytes += record.len();
                assert!(record_bytes <= data.len(), "records hold more bytes than the file");
                records.push(record);
            }
            Ok(None) => break Ok(reader.end().clone()),
            Err(e) => {
                expect_decode_error("LogReader::next_record", &e);
                assert_sticky(&mut reader, &e);
                break Err(e.to_string());
            }
        }
    };
    if let Ok(LogEnd::TornTail { offset }) = &end {
        assert_eq!(*offset, reader.valid_bytes(), "a torn tail starts where the valid bytes end");
    }
    Some(Outcome { records, valid_bytes: reader.valid_bytes(), end })
}

fn assert_sticky(reader: &mut LogReader, first: &Error) {
    match reader.next_record() {
        Err(again) => assert_eq!(again.to_string(), first.to_string(), "a sticky error changed"),
        Ok(r) => panic!("after {first}, the reader returned {r:?}"),
    }
}
