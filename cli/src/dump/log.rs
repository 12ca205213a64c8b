//! The part of a dump shared by the two logs, WAL and manifest (docs/format/wal.md): reading the
//! file, printing its header, and walking its records with the offset each one starts at.
//!
//! Owns only presentation. The header is decoded by `cairn_wal::format::decode_header` and the
//! records by `cairn_wal::LogReader`, which also decides between a torn tail and corruption;
//! what a record's payload means is the caller's business (`wal.rs`, `manifest.rs`).
//!
//! Invariant: a record's offset is that of its first fragment header. The reader reports the end
//! of the previous record; when fewer than a fragment header's bytes were left in that block, the
//! writer padded to the next block, so the record starts there.

use bytes::Bytes;
use cairn::{Error, RealFs, Result, Vfs};
use cairn_wal::format::{
    FORMAT_VERSION, FRAGMENT_HEADER_BYTES, HEADER_BYTES, LogHeader, block_left_bytes, decode_header,
};
use cairn_wal::{LogEnd, LogKind, LogReader};

use super::{Ending, View};
use crate::args::DumpArgs;
use crate::commands::CliError;
use crate::output::JsonObject;

/// Reads the log `args.path`, prints the file and its header, and returns a reader positioned at
/// the first record. A header that fails its checks ends the dump (printed, then returned).
pub(super) fn open(view: &mut View<'_>, args: &DumpArgs, kind: LogKind) -> Result<LogReader, CliError> {
    let data = RealFs.read_all(&args.path)?;
    view.file(&args.path, args.kind, data.len() as u64)?;
    let header = match header_of(&data).map_err(|e| e.at_file(&args.path, 0)) {
        Ok(h) => h,
        Err(e) => return fail(view, e),
    };
    print_header(view, header)?;
    // A torn header records no number; any number will do, as such a log holds no record.
    let file_num = args.name_file_num.or(header.map(|h| h.file_num)).unwrap_or_default();
    match LogReader::new(Bytes::from(data), args.path.clone(), file_num, kind) {
        Ok(reader) => Ok(reader),
        Err(e) => fail(view, e),
    }
}

/// The next record and the file offset it starts at; `None` at the end of the log.
pub(super) fn next_record(reader: &mut LogReader) -> Result<Option<(u64, Bytes)>> {
    let start = record_start(reader.valid_bytes());
    Ok(reader.next_record()?.map(|payload| (start, payload)))
}

/// Prints how the log ended (after `next_record` returned `None`).
pub(super) fn print_end(view: &mut View<'_>, reader: &LogReader) -> std::io::Result<()> {
    match *reader.end() {
        LogEnd::Clean => view.end(Ending::Clean),
        LogEnd::TornTail { offset } => view.end(Ending::TornTail { offset }),
    }
}

/// Prints `e` as the way the log ended and returns it.
pub(super) fn fail<T>(view: &mut View<'_>, e: Error) -> Result<T, CliError> {
    view.end(Ending::Failed(&e))?;
    Err(e.into())
}

/// The first fragment of a record that follows a record ending at `prev_end`.
fn record_start(prev_end: u64) -> u64 {
    let left_bytes = block_left_bytes(prev_end) as u64;
    if left_bytes < FRAGMENT_HEADER_BYTES as u64 { prev_end + left_bytes } else { prev_end }
}

/// The decoded header, or `None` when it is torn: shorter than the header, or all zero (a crash
/// while the log was created; the reader decides whether that is really a torn tail).
fn header_of(data: &[u8]) -> Result<Option<LogHeader>> {
    match data.get(..HEADER_BYTES) {
        Some(h) if h.iter().any(|&b| b != 0) => decode_header(h).map(Some),
        _ => Ok(None),
    }
}

fn print_header(view: &mut View<'_>, header: Option<LogHeader>) -> std::io::Result<()> {
    let Some(h) = header else {
        return view.emit(
            || "header: torn (shorter than 28 bytes or all zero: the log's creation was interrupted)".to_string(),
            || JsonObject::new().string("type", "header").boolean("torn", true),
        );
    };
    let magic = String::from_utf8_lossy(&h.kind.magic()).into_owned();
    view.emit(
        || {
            let kind = h.kind.name();
            format!("header: magic={magic} format_version={FORMAT_VERSION} kind={kind} file_num={}", h.file_num)
        },
        || {
            let obj = JsonObject::new().string("type", "header").boolean("torn", false).string("magic", &magic);
            obj.number("format_version", FORMAT_VERSION)
                .string("log_kind", log_kind_name(h.kind))
                .number("file_num", h.file_num.0)
        },
    )
}

/// The `--kind` name of a log kind: `wal`, `manifest`.
fn log_kind_name(kind: LogKind) -> &'static str {
    match kind {
        LogKind::Wal => "wal",
        LogKind::Manifest => "manifest",
    }
}

#[cfg(test)]
mod tests {
    use cairn_base::FileNum;
    use cairn_wal::format::{BLOCK_SIZE_BYTES, encode_header};

    use super::*;

    #[test]
    fn records_start_after_block_padding() {
        let block = BLOCK_SIZE_BYTES as u64;
        assert_eq!(record_start(28), 28);
        assert_eq!(record_start(block - FRAGMENT_HEADER_BYTES as u64), block - FRAGMENT_HEADER_BYTES as u64);
        assert_eq!(record_start(block - 6), block);
        assert_eq!(record_start(block - 1), block);
        assert_eq!(record_start(block), block);
    }

    #[test]
    fn short_or_zero_headers_are_torn_and_others_are_checked() {
        assert_eq!(header_of(&[]).expect("torn"), None);
        assert_eq!(header_of(&[0u8; 40]).expect("torn"), None);
        assert_eq!(header_of(b"CAIRNWAL").expect("short is torn"), None);
        let good = encode_header(LogKind::Manifest, FileNum(4));
        let h = header_of(&good).expect("valid").expect("present");
        assert_eq!((h.kind, h.file_num), (LogKind::Manifest, FileNum(4)));
        let mut bad = good;
        bad[20] ^= 1;
        assert!(header_of(&bad).is_err_and(|e| e.is_corruption()));
    }
}
