//! The WAL view (`NNNNNN.wal`; framing in docs/format/wal.md, payload in docs/format/batch.md):
//! the header, one item per record (offset, payload size, and for a batch its `first_seq` and
//! entry count, or `sync marker` for an empty payload), each entry with `--entries`, and how the
//! log ended.
//!
//! Payloads are decoded by `cairn::decode_wal_record`, the engine's own decoder. A record whose
//! payload does not decode is printed with the reason and the dump goes on with the next record
//! (the framing is intact, so later records are still meaningful); the first such error is
//! returned at the end, so the exit status still says the file is corrupt.

use cairn::{Error, WalRecord, decode_wal_record};
use cairn_wal::LogKind;

use super::{Entry, View, error_class, in_record_payload, log};
use crate::args::DumpArgs;
use crate::commands::CliError;
use crate::output::JsonObject;

/// Dumps the WAL `args.path`.
pub(super) fn dump(view: &mut View<'_>, args: &DumpArgs) -> Result<(), CliError> {
    let mut reader = log::open(view, args, LogKind::Wal)?;
    let mut first_bad_payload = None;
    loop {
        match log::next_record(&mut reader) {
            Ok(Some((offset, payload))) => {
                let decoded =
                    decode_wal_record(&payload).map_err(|e| in_record_payload(e, &args.path, offset, "WAL record"));
                let header = RecordHeader { offset, payload_bytes: payload.len() as u64 };
                print_record(view, header, &decoded)?;
                if let Err(e) = decoded {
                    first_bad_payload.get_or_insert(e);
                }
            }
            Ok(None) => break,
            Err(e) => return log::fail(view, e),
        }
    }
    log::print_end(view, &reader)?;
    first_bad_payload.map_or(Ok(()), |e| Err(e.into()))
}

/// Where a record lies.
#[derive(Debug, Clone, Copy)]
struct RecordHeader {
    /// File offset of the record's first fragment.
    offset: u64,
    /// Bytes of the payload (without the synced-offset stamp).
    payload_bytes: u64,
}

impl RecordHeader {
    fn text(self) -> String {
        format!("record offset={} payload_bytes={}", self.offset, self.payload_bytes)
    }

    fn json(self) -> JsonObject {
        let obj = JsonObject::new().string("type", "record").number("offset", self.offset);
        obj.number("payload_bytes", self.payload_bytes)
    }
}

fn print_record(
    view: &mut View<'_>,
    header: RecordHeader,
    decoded: &Result<Option<WalRecord>, Error>,
) -> std::io::Result<()> {
    match decoded {
        Ok(None) => {
            view.emit(|| format!("{} sync marker", header.text()), || header.json().boolean("sync_marker", true))
        }
        Ok(Some(record)) => {
            let count = record.entries.len();
            view.emit(
                || format!("{} first_seq={} count={count}", header.text(), record.first_seq),
                || {
                    header
                        .json()
                        .boolean("sync_marker", false)
                        .number("first_seq", record.first_seq)
                        .number("count", count)
                },
            )?;
            if view.entries {
                print_entries(view, header.offset, record)?;
            }
            Ok(())
        }
        Err(e) => {
            let what = match e {
                Error::Corruption { what, .. } => what.clone(),
                other => other.to_string(),
            };
            view.emit(
                || format!("{} undecodable: {what}", header.text()),
                || header.json().boolean("sync_marker", false).string("error", error_class(e)).string("what", &what),
            )
        }
    }
}

fn print_entries(view: &mut View<'_>, record_offset: u64, record: &WalRecord) -> std::io::Result<()> {
    let fmt = view.fmt;
    for e in &record.entries {
        let entry = Entry { user_key: &e.key, seq: e.seq, kind: e.kind.name(), value: &e.value };
        view.emit(
            || format!("  {}", entry.text(fmt)),
            || entry.json(JsonObject::new().string("type", "entry").number("record_offset", record_offset), fmt),
        )?;
    }
    Ok(())
}
