//! The `cairn` commands: each opens the database, does one thing through the public `cairn` API,
//! prints its result, and closes the database so that close errors are reported, not dropped
//! (docs/tools.md#commands). `dump` is the exception: it never opens a database and is handed to
//! [`crate::dump`], which reads one file directly.
//!
//! Owns what each command prints (text and JSON shapes). Leaves parsing to [`crate::args`], the
//! byte-to-text rules to [`crate::output`], and exit codes to `main`.
//!
//! Invariants:
//! * Only `put` and `delete` may create a database directory; reading commands open with
//!   `create_if_missing(false)`, so a mistyped `--db` is an error rather than a new empty database.
//! * `put` and `delete` are durable when the command exits (`Durability::Sync`).

use std::io::{self, Write};
use std::ops::Bound;

use cairn::{Db, Durability, Metrics, Options};

use crate::args::{Command, Invocation, ScanArgs};
use crate::output::{JsonObject, show_key, show_value};

/// How a command ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done; exit 0.
    Done,
    /// `get` found no value; exit 1.
    NotFound,
}

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// The database reported an error.
    Db(cairn::Error),
    /// Writing to stdout failed.
    Output(io::Error),
}

impl From<cairn::Error> for CliError {
    fn from(e: cairn::Error) -> Self {
        CliError::Db(e)
    }
}

impl From<io::Error> for CliError {
    fn from(e: io::Error) -> Self {
        CliError::Output(e)
    }
}

/// Opens the database named by `inv`, runs its command writing to `out`, and closes the database.
/// A command's own error wins over a close error.
pub fn run(inv: &Invocation, out: &mut impl Write) -> Result<Outcome, CliError> {
    if let Command::Dump(args) = &inv.command {
        return crate::dump::run(args, inv, out);
    }
    let creates = matches!(inv.command, Command::Put { .. } | Command::Delete { .. });
    // `compact` rewrites files but never creates a database.
    let db = Options::default().create_if_missing(creates).open(&inv.db_dir)?;
    let result = dispatch(&db, inv, out);
    let closed = db.close();
    let outcome = result?;
    closed?;
    Ok(outcome)
}

fn dispatch(db: &Db, inv: &Invocation, out: &mut impl Write) -> Result<Outcome, CliError> {
    match &inv.command {
        Command::Get { key } => get(db, inv, key, out),
        Command::Put { key, value } => {
            let mut batch = db.batch();
            batch.put(key, value);
            db.write_with(batch, Durability::Sync)?;
            Ok(Outcome::Done)
        }
        Command::Delete { key } => {
            let mut batch = db.batch();
            batch.delete(key);
            db.write_with(batch, Durability::Sync)?;
            Ok(Outcome::Done)
        }
        Command::Scan(args) => scan(db, inv, args, out),
        Command::Stats => stats(db, inv.json, out),
        Command::Check => check(db, inv.json, out),
        Command::Compact => {
            db.compact()?;
            stats(db, inv.json, out)
        }
        Command::Dump(args) => crate::dump::run(args, inv, out),
    }
}

/// `get`: text prints the value alone; JSON prints `{"key", "found", "value"|"value_hex"}`.
fn get(db: &Db, inv: &Invocation, key: &[u8], out: &mut impl Write) -> Result<Outcome, CliError> {
    let value = db.get(key)?;
    if inv.json {
        let mut obj = JsonObject::new().shown("key", &show_key(key, inv.key_format)).boolean("found", value.is_some());
        if let Some(v) = &value {
            obj = obj.shown("value", &show_value(v, inv.value_format));
        }
        writeln!(out, "{}", obj.finish())?;
    } else if let Some(v) = &value {
        writeln!(out, "{}", show_value(v, inv.value_format).as_str())?;
    }
    Ok(if value.is_some() { Outcome::Done } else { Outcome::NotFound })
}

/// `scan`: one entry per line, `KEY<TAB>VALUE` or a JSON object.
fn scan(db: &Db, inv: &Invocation, args: &ScanArgs, out: &mut impl Write) -> Result<Outcome, CliError> {
    let Some(bounds) = scan_bounds(args) else {
        return Ok(Outcome::Done);
    };
    let limit = args.limit.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let iter = db.range(bounds);
    if args.reverse {
        print_entries(iter.rev().take(limit), inv, out)
    } else {
        print_entries(iter.take(limit), inv, out)
    }
}

fn print_entries<K, V>(
    entries: impl Iterator<Item = cairn::Result<(K, V)>>,
    inv: &Invocation,
    out: &mut impl Write,
) -> Result<Outcome, CliError>
where
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    for entry in entries {
        let (k, v) = entry?;
        let key = show_key(k.as_ref(), inv.key_format);
        let value = show_value(v.as_ref(), inv.value_format);
        if inv.json {
            writeln!(out, "{}", JsonObject::new().shown("key", &key).shown("value", &value).finish())?;
        } else {
            writeln!(out, "{}\t{}", key.as_str(), value.as_str())?;
        }
    }
    Ok(Outcome::Done)
}

/// A key range as `(lower, upper)` bounds, the form `Db::range` takes.
pub type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// The key range a scan covers: `[max(from, prefix), min(to, end of prefix))`. `None` when the
/// range is empty, so the engine is never asked for an inverted range.
pub fn scan_bounds(args: &ScanArgs) -> Option<KeyRange> {
    let lower = match (&args.from, &args.prefix) {
        (Some(f), Some(p)) => Some(f.max(p).clone()),
        (f, p) => f.clone().or_else(|| p.clone()),
    };
    let prefix_end = args.prefix.as_deref().and_then(prefix_successor);
    let upper = match (&args.to, prefix_end) {
        (Some(t), Some(e)) => Some(t.clone().min(e)),
        (t, e) => t.clone().or(e),
    };
    if let (Some(lo), Some(hi)) = (&lower, &upper)
        && lo >= hi
    {
        return None;
    }
    Some((lower.map_or(Bound::Unbounded, Bound::Included), upper.map_or(Bound::Unbounded, Bound::Excluded)))
}

/// The smallest key greater than every key starting with `prefix`; `None` when no such key
/// exists (the prefix is empty or all `0xff`).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&b| b != 0xff)?;
    let mut end = prefix[..=last].to_vec();
    end[last] += 1;
    Some(end)
}

/// `stats`: the engine's metrics table, or every field as JSON.
fn stats(db: &Db, json: bool, out: &mut impl Write) -> Result<Outcome, CliError> {
    let metrics = db.metrics();
    if json {
        writeln!(out, "{}", metrics_json(&metrics))?;
    } else {
        write_display(out, &metrics)?;
    }
    Ok(Outcome::Done)
}

/// Every field of [`Metrics`], in declaration order.
pub fn metrics_json(m: &Metrics) -> String {
    let levels: Vec<String> = m
        .levels
        .iter()
        .map(|l| {
            JsonObject::new().number("level", l.level).number("tables", l.tables).number("size_bytes", l.size_bytes)
        })
        .map(JsonObject::finish)
        .collect();
    let c = &m.cache;
    let cache = JsonObject::new()
        .number("capacity_bytes", c.capacity_bytes)
        .number("usage_bytes", c.usage_bytes)
        .number("hits", c.hits)
        .number("misses", c.misses)
        .number("evictions", c.evictions)
        .number("inserts", c.inserts)
        .finish();
    JsonObject::new()
        .raw("levels", &format!("[{}]", levels.join(",")))
        .number("memtable_size_bytes", m.memtable_size_bytes)
        .number("immutable_memtables", m.immutable_memtables)
        .number("last_seq", m.last_seq)
        .number("writes", m.writes)
        .number("commit_groups", m.commit_groups)
        .number("wal_bytes_written", m.wal_bytes_written)
        .number("wal_syncs", m.wal_syncs)
        .number("flushes", m.flushes)
        .number("flush_bytes_written", m.flush_bytes_written)
        .number("compactions", m.compactions)
        .number("trivial_moves", m.trivial_moves)
        .number("compaction_bytes_read", m.compaction_bytes_read)
        .number("compaction_bytes_written", m.compaction_bytes_written)
        .number("stall_micros", m.stall_micros)
        .number("background_errors", m.background_errors)
        .raw("cache", &cache)
        .number("live_snapshots", m.live_snapshots)
        .boolean("poisoned", m.poisoned)
        .finish()
}

/// `check`: verifies the database; a failure is a database error (exit 3).
fn check(db: &Db, json: bool, out: &mut impl Write) -> Result<Outcome, CliError> {
    let report = db.check()?;
    if json {
        let obj = JsonObject::new()
            .boolean("ok", true)
            .number("tables", report.tables)
            .number("entries", report.entries)
            .number("bytes", report.bytes)
            .finish();
        writeln!(out, "{obj}")?;
    } else {
        write_display(out, &report)?;
    }
    Ok(Outcome::Done)
}

/// Writes a `Display` value, ending with exactly one newline.
fn write_display(out: &mut impl Write, value: &impl std::fmt::Display) -> io::Result<()> {
    let text = value.to_string();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(from: Option<&[u8]>, to: Option<&[u8]>, prefix: Option<&[u8]>) -> Option<KeyRange> {
        let args = ScanArgs {
            from: from.map(<[u8]>::to_vec),
            to: to.map(<[u8]>::to_vec),
            prefix: prefix.map(<[u8]>::to_vec),
            ..ScanArgs::default()
        };
        scan_bounds(&args)
    }

    #[test]
    fn prefix_successor_skips_trailing_ff() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[1, 0xff, 0xff]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xff]), None);
        assert_eq!(prefix_successor(b""), None);
    }

    #[test]
    fn scan_bounds_intersect_prefix_with_from_and_to() {
        use Bound::{Excluded, Included, Unbounded};
        assert_eq!(bounds(None, None, None), Some((Unbounded, Unbounded)));
        assert_eq!(bounds(Some(b"b"), Some(b"d"), None), Some((Included(b"b".to_vec()), Excluded(b"d".to_vec()))));
        assert_eq!(bounds(None, None, Some(b"u:")), Some((Included(b"u:".to_vec()), Excluded(b"u;".to_vec()))));
        assert_eq!(
            bounds(Some(b"u:5"), Some(b"z"), Some(b"u:")),
            Some((Included(b"u:5".to_vec()), Excluded(b"u;".to_vec())))
        );
        assert_eq!(
            bounds(Some(b"a"), Some(b"u:7"), Some(b"u:")),
            Some((Included(b"u:".to_vec()), Excluded(b"u:7".to_vec())))
        );
        assert_eq!(bounds(None, None, Some(&[0xff])), Some((Included(vec![0xff]), Unbounded)));
    }

    #[test]
    fn empty_or_inverted_ranges_are_skipped() {
        assert_eq!(bounds(Some(b"d"), Some(b"b"), None), None);
        assert_eq!(bounds(Some(b"b"), Some(b"b"), None), None);
        assert_eq!(bounds(Some(b"v"), None, Some(b"u:")), None);
    }
}
