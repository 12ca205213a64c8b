//! The manifest view (`MANIFEST-NNNNNN`; docs/format/manifest.md): the header, one block per
//! record (its offset and the decoded `VersionEdit`), how the log ended, then the `Version` the
//! records replay to, with the last recorded `log_number`, `next_file_num` and `last_seq`.
//!
//! Replays exactly as the engine does, with the manifest crate's own pieces: records from
//! `cairn_wal::LogReader`, `VersionEdit::decode`, `Version::apply`. Replay is sequential, so the
//! first record that does not decode or apply ends the dump; the version printed is then the one
//! before that record. Tables are printed with `TableMeta`'s and `Version`'s `Display` (the
//! canonical form) unless `--key-format hex` asks for hex user keys.

use cairn::Error;
use cairn_base::{FileNum, SeqNum};
use cairn_manifest::{NUM_LEVELS, TableMeta, Version, VersionEdit};
use cairn_wal::LogKind;

use super::{Ending, Fmt, View, ikey_json, ikey_text, in_record_payload, log};
use crate::args::{DumpArgs, KeyFormat};
use crate::commands::CliError;
use crate::output::JsonObject;

/// The state the records replay to.
#[derive(Debug, Default)]
struct Replay {
    version: Version,
    log_number: Option<FileNum>,
    next_file_num: Option<FileNum>,
    last_seq: Option<SeqNum>,
    records: u64,
}

/// Dumps the manifest `args.path`.
pub(super) fn dump(view: &mut View<'_>, args: &DumpArgs) -> Result<(), CliError> {
    let mut reader = log::open(view, args, LogKind::Manifest)?;
    let mut replay = Replay::default();
    let fmt = view.fmt;
    let failure = loop {
        let (offset, payload) = match log::next_record(&mut reader) {
            Ok(Some(record)) => record,
            Ok(None) => break None,
            Err(e) => break Some(e),
        };
        let header = format!("record offset={offset} payload_bytes={}", payload.len());
        let edit = match VersionEdit::decode(&payload) {
            Ok(edit) => edit,
            Err(e) => {
                view.emit(|| header.clone(), || record_json(offset, payload.len(), None, fmt))?;
                break Some(in_record_payload(e, &args.path, offset, "manifest record"));
            }
        };
        view.emit(|| edit_text(&header, &edit, fmt), || record_json(offset, payload.len(), Some(&edit), fmt))?;
        if let Err(e) = replay.apply(&edit) {
            break Some(at_record(e, &args.path, offset));
        }
    };
    match &failure {
        None => log::print_end(view, &reader)?,
        Some(e) => view.end(Ending::Failed(e))?,
    }
    print_version(view, &replay)?;
    failure.map_or(Ok(()), |e| Err(e.into()))
}

impl Replay {
    fn apply(&mut self, edit: &VersionEdit) -> cairn::Result<()> {
        self.version = self.version.apply(edit)?;
        self.log_number = edit.log_number.or(self.log_number);
        self.next_file_num = edit.next_file_num.or(self.next_file_num);
        self.last_seq = edit.last_seq.or(self.last_seq);
        self.records += 1;
        Ok(())
    }
}

/// Labels an error of `Version::apply` (which knows no file) with the manifest and the record.
fn at_record(e: Error, path: &std::path::Path, record_offset: u64) -> Error {
    match e {
        Error::Corruption { file, what, .. } if file.as_os_str().is_empty() => Error::Corruption {
            file: path.to_path_buf(),
            offset: record_offset,
            what: format!("manifest record: {what}"),
        },
        other => other,
    }
}

/// The record line and one indented line per field of the edit.
fn edit_text(header: &str, edit: &VersionEdit, fmt: Fmt) -> String {
    let mut lines = vec![header.to_string()];
    if let Some(n) = edit.log_number {
        lines.push(format!("  log_number: {n}"));
    }
    if let Some(n) = edit.next_file_num {
        lines.push(format!("  next_file_num: {n}"));
    }
    if let Some(s) = edit.last_seq {
        lines.push(format!("  last_seq: {s}"));
    }
    for (level, file_num) in &edit.deleted {
        lines.push(format!("  deleted: L{level} {file_num}"));
    }
    for (level, meta) in &edit.added {
        lines.push(format!("  added: L{level} {}", meta_text(meta, fmt)));
    }
    if edit.is_empty() {
        lines.push("  (no change)".to_string());
    }
    lines.join("\n")
}

/// A record as one JSON object; the edit's fields are present when it decoded and set.
fn record_json(offset: u64, payload_bytes: usize, edit: Option<&VersionEdit>, fmt: Fmt) -> JsonObject {
    let obj =
        JsonObject::new().string("type", "record").number("offset", offset).number("payload_bytes", payload_bytes);
    let Some(edit) = edit else { return obj };
    let mut obj = obj;
    if let Some(n) = edit.log_number {
        obj = obj.number("log_number", n.0);
    }
    if let Some(n) = edit.next_file_num {
        obj = obj.number("next_file_num", n.0);
    }
    if let Some(s) = edit.last_seq {
        obj = obj.number("last_seq", s.0);
    }
    let deleted: Vec<String> = edit
        .deleted
        .iter()
        .map(|(level, f)| JsonObject::new().number("level", level).number("file_num", f.0).finish())
        .collect();
    let added: Vec<String> =
        edit.added.iter().map(|(level, m)| meta_json(JsonObject::new().number("level", level), m, fmt)).collect();
    obj.raw("deleted", &format!("[{}]", deleted.join(","))).raw("added", &format!("[{}]", added.join(",")))
}

/// `000005:[a#12,SET-c#10,SET] 4096B seqs=10-12 entries=7 tombstones=1`: `TableMeta`'s `Display`,
/// or the same shape with hex user keys.
fn meta_text(meta: &TableMeta, fmt: Fmt) -> String {
    match fmt.key_format {
        KeyFormat::Utf8 => meta.to_string(),
        KeyFormat::Hex => format!(
            "{}:[{}-{}] {}B seqs={}-{} entries={} tombstones={}",
            meta.file_num,
            ikey_text(fmt, &meta.smallest),
            ikey_text(fmt, &meta.largest),
            meta.size_bytes,
            meta.smallest_seq,
            meta.largest_seq,
            meta.entries,
            meta.tombstones
        ),
    }
}

/// Adds every `TableMeta` field to `obj` and finishes it.
fn meta_json(obj: JsonObject, meta: &TableMeta, fmt: Fmt) -> String {
    obj.number("file_num", meta.file_num.0)
        .number("size_bytes", meta.size_bytes)
        .raw("smallest", &ikey_json(fmt, &meta.smallest))
        .raw("largest", &ikey_json(fmt, &meta.largest))
        .number("smallest_seq", meta.smallest_seq.0)
        .number("largest_seq", meta.largest_seq.0)
        .number("entries", meta.entries)
        .number("tombstones", meta.tombstones)
        .finish()
}

/// The replayed version: a summary line, then `Version`'s `Display` (or its hex-key twin).
fn print_version(view: &mut View<'_>, replay: &Replay) -> std::io::Result<()> {
    let fmt = view.fmt;
    view.emit(
        || {
            let summary = format!(
                "version: records={} log_number={} next_file_num={} last_seq={}",
                replay.records,
                or_unset(replay.log_number),
                or_unset(replay.next_file_num),
                or_unset(replay.last_seq),
            );
            format!("{summary}\n{}", version_text(&replay.version, fmt).trim_end())
        },
        || version_json(replay, fmt),
    )
}

/// The value, or `unset` when no record set it.
fn or_unset(value: Option<impl std::fmt::Display>) -> String {
    value.map_or_else(|| "unset".to_string(), |v| v.to_string())
}

fn version_text(version: &Version, fmt: Fmt) -> String {
    if fmt.key_format == KeyFormat::Utf8 {
        return version.to_string();
    }
    if version.num_tables() == 0 {
        return "(empty)".to_string();
    }
    let mut lines = Vec::new();
    for level in (0..NUM_LEVELS).filter(|&l| !version.level(l).is_empty()) {
        lines.push(format!("L{level}:"));
        lines.extend(version.level(level).iter().map(|t| format!("  {}", meta_text(t, fmt))));
    }
    lines.join("\n")
}

fn version_json(replay: &Replay, fmt: Fmt) -> JsonObject {
    let number = |obj: JsonObject, name: &str, n: Option<u64>| match n {
        Some(n) => obj.number(name, n),
        None => obj.raw(name, "null"),
    };
    let levels: Vec<String> = (0..NUM_LEVELS)
        .filter(|&l| !replay.version.level(l).is_empty())
        .map(|l| {
            let tables: Vec<String> =
                replay.version.level(l).iter().map(|t| meta_json(JsonObject::new(), t, fmt)).collect();
            JsonObject::new().number("level", l).raw("tables", &format!("[{}]", tables.join(","))).finish()
        })
        .collect();
    let obj = JsonObject::new().string("type", "version").number("records", replay.records);
    let obj = number(obj, "log_number", replay.log_number.map(|n| n.0));
    let obj = number(obj, "next_file_num", replay.next_file_num.map(|n| n.0));
    let obj = number(obj, "last_seq", replay.last_seq.map(|s| s.0));
    obj.raw("levels", &format!("[{}]", levels.join(",")))
}
