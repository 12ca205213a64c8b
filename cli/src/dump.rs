//! `cairn dump FILE`: a view of one database file of any kind (docs/tools.md#cairn-dump), the
//! tool STYLE.md asks for ("a structure that appears on disk gets a `cairn dump` view").
//!
//! This file owns what every view shares: the printing context ([`View`]: text lines or one JSON
//! object per line), the canonical key form (`key#seq,KIND`), entries, and how a file ended. The
//! views themselves live in `dump/`: `log.rs` (header and records of the log format the WAL and
//! the manifest share), `wal.rs`, `manifest.rs`, `table.rs`, `current.rs`. Decoding is never done
//! here: every byte goes through the crate that owns its format (`cairn_wal`, `cairn_sstable`,
//! `cairn_manifest`, and `cairn::decode_wal_record` for batch payloads), so the dump sees exactly
//! what the engine would.
//!
//! Invariants:
//! * A dump never opens a database: it reads one file, takes no lock and writes nothing, so it is
//!   safe on a live database and on a copy.
//! * Everything that could be read is printed before a failure; the failure itself is the last
//!   line (`end:` or `verify:`) and the returned error, which `main` prints to stderr with exit
//!   status 3.

mod current;
mod log;
mod manifest;
mod table;
mod wal;

use std::io::{self, Write};
use std::path::Path;

use cairn::Error;
use cairn_base::InternalKey;
use cairn_base::key::fmt_user_key;

use crate::args::{DumpArgs, DumpKind, Invocation, KeyFormat, ValueFormat};
use crate::commands::{CliError, Outcome};
use crate::output::{JsonObject, hex_encode, show_key, show_value};

/// Prints `FILE` as `args` asks. A corrupt or unreadable file is an error after everything that
/// could be read was printed.
pub fn run(args: &DumpArgs, inv: &Invocation, out: &mut impl Write) -> Result<Outcome, CliError> {
    let fmt = Fmt { key_format: inv.key_format, value_format: inv.value_format, values: args.values };
    let mut view = View { out, json: inv.json, fmt, entries: args.entries };
    match args.kind {
        DumpKind::Wal => wal::dump(&mut view, args)?,
        DumpKind::Table => table::dump(&mut view, args)?,
        DumpKind::Manifest => manifest::dump(&mut view, args)?,
        DumpKind::Current => current::dump(&mut view, args)?,
    }
    Ok(Outcome::Done)
}

/// How keys and values are written. `Copy`, so item builders can capture it.
#[derive(Debug, Clone, Copy)]
struct Fmt {
    key_format: KeyFormat,
    value_format: ValueFormat,
    /// Print values, not only their sizes.
    values: bool,
}

/// Where a dump prints, and how.
struct View<'o> {
    out: &'o mut dyn Write,
    /// One JSON object per line instead of text.
    json: bool,
    fmt: Fmt,
    /// Print every entry of a WAL or SSTable.
    entries: bool,
}

impl View<'_> {
    /// Prints one item: the text `text()` builds (one or more lines), or with `--json` the object
    /// `json()` builds, on one line.
    fn emit(&mut self, text: impl FnOnce() -> String, json: impl FnOnce() -> JsonObject) -> io::Result<()> {
        if self.json { writeln!(self.out, "{}", json().finish()) } else { writeln!(self.out, "{}", text()) }
    }

    /// Prints a text-only line (a section heading); nothing with `--json`.
    fn heading(&mut self, text: &str) -> io::Result<()> {
        if self.json { Ok(()) } else { writeln!(self.out, "{text}") }
    }

    /// The first item of every dump: the file, the view used, and its size.
    fn file(&mut self, path: &Path, kind: DumpKind, size_bytes: u64) -> io::Result<()> {
        let shown = path.display().to_string();
        self.emit(
            || format!("file: {shown}\nkind: {}\nsize_bytes: {size_bytes}", kind.name()),
            || {
                let obj = JsonObject::new().string("type", "file").string("path", &shown);
                obj.string("kind", kind.name()).number("size_bytes", size_bytes)
            },
        )
    }

    /// The last item of a log dump: how the log ended, or the error that stopped it.
    fn end(&mut self, ending: Ending<'_>) -> io::Result<()> {
        self.emit(
            || format!("end: {}", ending.text()),
            || match ending {
                Ending::Clean => JsonObject::new().string("type", "end").string("end", "clean"),
                Ending::TornTail { offset } => {
                    JsonObject::new().string("type", "end").string("end", "torn_tail").number("offset", offset)
                }
                Ending::Failed(e) => {
                    failure_json(JsonObject::new().string("type", "end").string("end", error_class(e)), e)
                }
            },
        )
    }
}

/// How a log dump ended.
#[derive(Debug, Clone, Copy)]
enum Ending<'e> {
    /// Every byte parsed as complete records.
    Clean,
    /// A torn tail (bytes never synced) starts at `offset`.
    TornTail { offset: u64 },
    /// Reading stopped at an error.
    Failed(&'e Error),
}

impl Ending<'_> {
    fn text(self) -> String {
        match self {
            Ending::Clean => "clean".to_string(),
            Ending::TornTail { offset } => format!("torn tail at offset {offset}"),
            Ending::Failed(e) => failure_text(e),
        }
    }
}

/// A one-word class of an error for machine output: `corruption`, `unsupported`, `io` or `error`.
fn error_class(e: &Error) -> &'static str {
    match e {
        Error::Corruption { .. } => "corruption",
        Error::Unsupported { .. } => "unsupported",
        Error::Io { .. } | Error::NoSpace { .. } => "io",
        _ => "error",
    }
}

/// `corruption at offset N`, or the error's class (the full message goes to stderr).
fn failure_text(e: &Error) -> String {
    match e {
        Error::Corruption { offset, .. } => format!("corruption at offset {offset}"),
        Error::Unsupported { what, version } => format!("unsupported {what} version {version}"),
        other => error_class(other).to_string(),
    }
}

/// Adds the offset of a corruption to `obj`.
fn failure_json(obj: JsonObject, e: &Error) -> JsonObject {
    match e {
        Error::Corruption { offset, .. } => obj.number("offset", offset),
        _ => obj,
    }
}

/// Relabels an error found while decoding a record payload with the file and the record's
/// offset; the position inside the payload goes into the message (framing sits in between, so
/// it is no file offset). The manifest reader labels its errors the same way.
fn in_record_payload(e: Error, path: &Path, record_offset: u64, label: &str) -> Error {
    match e {
        Error::Corruption { file, offset, what } if file.as_os_str().is_empty() => Error::Corruption {
            file: path.to_path_buf(),
            offset: record_offset,
            what: format!("{label}: {what} (byte {offset} of the record payload)"),
        },
        other => other,
    }
}

/// A user key in the canonical key form: `--key-format utf8` prints printable ASCII as is and
/// every other byte as `\xNN` (the form errors and tests use), `hex` prints lowercase hex.
fn user_key_text(fmt: Fmt, user_key: &[u8]) -> String {
    match fmt.key_format {
        KeyFormat::Utf8 => fmt_user_key(user_key),
        KeyFormat::Hex => hex_encode(user_key),
    }
}

/// `user_key#seq,KIND`.
fn key_text(fmt: Fmt, user_key: &[u8], seq: u64, kind: &str) -> String {
    format!("{}#{seq},{kind}", user_key_text(fmt, user_key))
}

/// An internal key in the canonical form.
fn ikey_text(fmt: Fmt, key: &InternalKey) -> String {
    let p = key.parsed();
    key_text(fmt, p.user_key, p.seq.0, p.kind.name())
}

/// Adds `key`/`key_hex`, `seq` and `kind` to `obj`.
fn key_fields(obj: JsonObject, fmt: Fmt, user_key: &[u8], seq: u64, kind: &str) -> JsonObject {
    obj.shown("key", &show_key(user_key, fmt.key_format)).number("seq", seq).string("kind", kind)
}

/// An internal key as a JSON object `{"key":…,"seq":…,"kind":…}`.
fn ikey_json(fmt: Fmt, key: &InternalKey) -> String {
    let p = key.parsed();
    key_fields(JsonObject::new(), fmt, p.user_key, p.seq.0, p.kind.name()).finish()
}

/// One entry of a WAL record or an SSTable.
#[derive(Debug, Clone, Copy)]
struct Entry<'a> {
    user_key: &'a [u8],
    seq: u64,
    /// `SET` or `DEL`.
    kind: &'static str,
    /// Empty for a deletion.
    value: &'a [u8],
}

impl Entry<'_> {
    fn is_delete(&self) -> bool {
        self.kind == "DEL"
    }

    /// `key#seq,SET value_bytes=N [value=…|value_hex=…]`, or `key#seq,DEL`.
    fn text(&self, fmt: Fmt) -> String {
        let mut line = key_text(fmt, self.user_key, self.seq, self.kind);
        if !self.is_delete() {
            line.push_str(&format!(" value_bytes={}", self.value.len()));
            if fmt.values {
                let shown = show_value(self.value, fmt.value_format);
                line.push_str(&format!(" {}={}", shown.json_field("value"), shown.as_str()));
            }
        }
        line
    }

    /// Adds the entry's fields to `obj`.
    fn json(&self, obj: JsonObject, fmt: Fmt) -> JsonObject {
        let obj = key_fields(obj, fmt, self.user_key, self.seq, self.kind);
        if self.is_delete() {
            return obj;
        }
        let obj = obj.number("value_bytes", self.value.len());
        if fmt.values { obj.shown("value", &show_value(self.value, fmt.value_format)) } else { obj }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use cairn_base::{SeqNum, ValueKind};

    use super::*;

    const UTF8: Fmt = Fmt { key_format: KeyFormat::Utf8, value_format: ValueFormat::Utf8, values: false };

    #[test]
    fn canonical_keys_escape_or_hex_the_user_key() {
        let k = InternalKey::new(b"a\xffb", SeqNum(7), ValueKind::Delete);
        assert_eq!(ikey_text(UTF8, &k), "a\\xffb#7,DEL");
        let hex = Fmt { key_format: KeyFormat::Hex, ..UTF8 };
        assert_eq!(ikey_text(hex, &k), "61ff62#7,DEL");
        assert_eq!(ikey_json(UTF8, &k), r#"{"key_hex":"61ff62","seq":7,"kind":"DEL"}"#);
        assert_eq!(
            ikey_json(UTF8, &InternalKey::new(b"k", SeqNum(1), ValueKind::Set)),
            r#"{"key":"k","seq":1,"kind":"SET"}"#
        );
    }

    #[test]
    fn entries_show_value_size_and_optionally_the_value() {
        let set = Entry { user_key: b"k", seq: 3, kind: "SET", value: b"hello" };
        assert_eq!(set.text(UTF8), "k#3,SET value_bytes=5");
        let values = Fmt { values: true, ..UTF8 };
        assert_eq!(set.text(values), "k#3,SET value_bytes=5 value=hello");
        let hex = Fmt { value_format: ValueFormat::Hex, ..values };
        assert_eq!(set.text(hex), "k#3,SET value_bytes=5 value_hex=68656c6c6f");
        assert_eq!(
            set.json(JsonObject::new(), values).finish(),
            r#"{"key":"k","seq":3,"kind":"SET","value_bytes":5,"value":"hello"}"#
        );
        let del = Entry { user_key: b"k", seq: 4, kind: "DEL", value: b"" };
        assert_eq!(del.text(values), "k#4,DEL");
        assert_eq!(del.json(JsonObject::new(), values).finish(), r#"{"key":"k","seq":4,"kind":"DEL"}"#);
    }

    #[test]
    fn payload_errors_name_the_file_and_the_record() {
        let e = Error::corruption("", 5, "unknown entry kind in batch");
        match in_record_payload(e, Path::new("000003.wal"), 100, "WAL record") {
            Error::Corruption { file, offset, what } => {
                assert_eq!((file, offset), (PathBuf::from("000003.wal"), 100));
                assert_eq!(what, "WAL record: unknown entry kind in batch (byte 5 of the record payload)");
            }
            other => panic!("expected corruption, got {other:?}"),
        }
        let named = Error::corruption("other", 5, "x");
        assert!(matches!(in_record_payload(named, Path::new("f"), 1, "l"), Error::Corruption { offset: 5, .. }));
    }

    #[test]
    fn failures_print_their_offset() {
        let e = Error::corruption("f", 42, "bad");
        assert_eq!(Ending::Failed(&e).text(), "corruption at offset 42");
        assert_eq!(Ending::TornTail { offset: 9 }.text(), "torn tail at offset 9");
        let u = Error::Unsupported { what: "log format", version: 2 };
        assert_eq!(Ending::Failed(&u).text(), "unsupported log format version 2");
        assert_eq!(error_class(&u), "unsupported");
    }
}
