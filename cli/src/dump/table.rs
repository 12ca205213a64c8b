//! The SSTable view (`NNNNNN.sst`; docs/format/sstable.md): the file size, every
//! `TableProperties` field, every entry with `--entries` (in table order, through
//! `Table::iter`), and finally the result of `Table::verify`, which reads every block afresh and
//! checks every checksum, the key order and the properties against the data.
//!
//! The table is opened with `cairn_sstable::Table::open` over `RealFs` with positioned reads and
//! no cache, so every block the dump touches is read from the file and verified. Opening checks
//! the header, footer, properties, index and filter; a failure there ends the dump.

use std::sync::Arc;

use cairn::{Error, RealFs, Vfs};
use cairn_base::FileNum;
use cairn_base::coding::get_u64_at;
use cairn_base::iter::InternalIterator;
use cairn_base::key::parse_internal_key;
use cairn_base::vfs::RandomAccessFile;
use cairn_sstable::{Table, TableProperties, TableReaderOptions};

use super::{Entry, Fmt, View, error_class, failure_json, failure_text, ikey_json, ikey_text};
use crate::args::DumpArgs;
use crate::commands::CliError;
use crate::output::JsonObject;

/// Offset of `file_num:u64le` in the table header (docs/format/sstable.md#file-layout).
const HEADER_FILE_NUM_OFFSET: usize = 16;

/// Dumps the table `args.path`.
pub(super) fn dump(view: &mut View<'_>, args: &DumpArgs) -> Result<(), CliError> {
    let file = RealFs.open(&args.path)?;
    view.file(&args.path, args.kind, file.size_bytes())?;
    let file_num = args.name_file_num.unwrap_or_else(|| header_file_num(&*file));
    let table = match Table::open(file, file_num, &TableReaderOptions::default()) {
        Ok(table) => table,
        Err(e) => return fail(view, e),
    };
    print_properties(view, &table)?;
    if view.entries {
        match print_entries(view, &table) {
            Ok(()) => {}
            Err(CliError::Db(e)) => return fail(view, e),
            Err(output) => return Err(output),
        }
    }
    match table.verify() {
        Ok(entries) => Ok(view.emit(
            || format!("verify: ok entries={entries}"),
            || JsonObject::new().string("type", "verify").boolean("ok", true).number("entries", entries),
        )?),
        Err(e) => fail(view, e),
    }
}

/// The file number the header records, for a file whose name has none (`--kind sst`). Only a
/// hint: `Table::open` checks it against the header's checksum. 0 when the file is too short.
fn header_file_num(file: &dyn RandomAccessFile) -> FileNum {
    let mut header = [0u8; HEADER_FILE_NUM_OFFSET + 8];
    match file.read_exact_at(&mut header, 0) {
        Ok(()) => FileNum(get_u64_at(&header, HEADER_FILE_NUM_OFFSET).unwrap_or_default()),
        Err(_) => FileNum::default(),
    }
}

/// Prints the failed `verify:` line and returns `e`.
fn fail(view: &mut View<'_>, e: Error) -> Result<(), CliError> {
    view.emit(
        || format!("verify: {}", failure_text(&e)),
        || {
            let obj = JsonObject::new().string("type", "verify").boolean("ok", false);
            failure_json(obj.string("error", error_class(&e)), &e)
        },
    )?;
    Err(e.into())
}

fn print_properties(view: &mut View<'_>, table: &Table) -> std::io::Result<()> {
    let (p, fmt, file_num) = (table.properties(), view.fmt, table.file_num());
    view.emit(
        || {
            let lines: Vec<String> =
                properties_fields(p, fmt, file_num).iter().map(|(name, value)| format!("  {name}: {value}")).collect();
            format!("properties:\n{}", lines.join("\n"))
        },
        || properties_json(p, fmt, file_num),
    )
}

/// The properties as `(name, text)` in declaration order, with the file number first.
fn properties_fields(p: &TableProperties, fmt: Fmt, file_num: FileNum) -> Vec<(&'static str, String)> {
    vec![
        ("file_num", file_num.to_string()),
        ("format_version", p.format_version.to_string()),
        ("entries", p.entries.to_string()),
        ("tombstones", p.tombstones.to_string()),
        ("data_blocks", p.data_blocks.to_string()),
        ("compressed_data_blocks", p.compressed_data_blocks.to_string()),
        ("raw_key_bytes", p.raw_key_bytes.to_string()),
        ("raw_value_bytes", p.raw_value_bytes.to_string()),
        ("data_size_bytes", p.data_size_bytes.to_string()),
        ("index_size_bytes", p.index_size_bytes.to_string()),
        ("filter_size_bytes", p.filter_size_bytes.to_string()),
        ("smallest_seq", p.smallest_seq.to_string()),
        ("largest_seq", p.largest_seq.to_string()),
        ("smallest_key", ikey_text(fmt, &p.smallest_key)),
        ("largest_key", ikey_text(fmt, &p.largest_key)),
        ("compression", p.compression.name().to_string()),
        ("filter_bits_per_key", p.filter_bits_per_key.to_string()),
        ("restart_interval", p.restart_interval.to_string()),
        ("block_size_bytes", p.block_size_bytes.to_string()),
    ]
}

fn properties_json(p: &TableProperties, fmt: Fmt, file_num: FileNum) -> JsonObject {
    JsonObject::new()
        .string("type", "properties")
        .number("file_num", file_num.0)
        .number("format_version", p.format_version)
        .number("entries", p.entries)
        .number("tombstones", p.tombstones)
        .number("data_blocks", p.data_blocks)
        .number("compressed_data_blocks", p.compressed_data_blocks)
        .number("raw_key_bytes", p.raw_key_bytes)
        .number("raw_value_bytes", p.raw_value_bytes)
        .number("data_size_bytes", p.data_size_bytes)
        .number("index_size_bytes", p.index_size_bytes)
        .number("filter_size_bytes", p.filter_size_bytes)
        .number("smallest_seq", p.smallest_seq.0)
        .number("largest_seq", p.largest_seq.0)
        .raw("smallest_key", &ikey_json(fmt, &p.smallest_key))
        .raw("largest_key", &ikey_json(fmt, &p.largest_key))
        .string("compression", p.compression.name())
        .number("filter_bits_per_key", p.filter_bits_per_key)
        .number("restart_interval", p.restart_interval)
        .number("block_size_bytes", p.block_size_bytes)
}

/// Prints every entry in table order under a `data:` heading.
fn print_entries(view: &mut View<'_>, table: &Arc<Table>) -> Result<(), CliError> {
    let fmt = view.fmt;
    view.heading("data:")?;
    let mut iter = table.iter();
    iter.seek_to_first()?;
    while iter.valid() {
        // Offset 0: the iterator does not say which block the key came from; its block passed
        // its checksum, so a malformed key here means the writer wrote it so.
        let key = parse_internal_key(iter.key()).map_err(|e| e.at_file(table.path(), 0))?;
        let entry = Entry { user_key: key.user_key, seq: key.seq.0, kind: key.kind.name(), value: iter.value() };
        view.emit(|| format!("  {}", entry.text(fmt)), || entry.json(JsonObject::new().string("type", "entry"), fmt))?;
        iter.next()?;
    }
    Ok(())
}
