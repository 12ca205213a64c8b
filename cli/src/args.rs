//! Command-line parsing for `cairn` (docs/tools.md#cairn), by hand: no argument-parsing crate.
//!
//! Owns the grammar `cairn [FLAGS] COMMAND [OPERANDS] [FLAGS]` and turns it into an
//! [`Invocation`], decoding keys and values from their text form ([`KeyFormat`], [`ValueFormat`]).
//! Does not open the database or print anything; [`crate::commands`] does.
//!
//! Rules, so that scripts get the same answer every time:
//! * Flags may appear before or after the command. `--name=value` and `--name value` are the same;
//!   a flag given twice is a usage error. `--` ends flags: every later argument is an operand
//!   (for keys that start with `--`).
//! * Scan flags (`--from`, `--to`, `--prefix`, `--limit`, `--reverse`) are a usage error on any
//!   other command; so are dump flags (`--kind`, `--entries`, `--values`) on any command but `dump`.
//! * The database directory is `--db DIR`, else `$CAIRN_DB`, else the current directory. `dump`
//!   reads the one file it is given and refuses `--db`.
//! * `dump` knows the file's kind from its name (the strict patterns of
//!   `cairn_base::filename::parse_file_name`) unless `--kind` says otherwise; a name that names no
//!   kind is a usage error, found before any file is opened.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use cairn_base::FileNum;
use cairn_base::filename::{FileKind, parse_file_name};

use crate::output::hex_decode;

/// The text shown by `cairn --help`.
pub const HELP: &str = "\
cairn: inspect and edit a Cairn database from the command line.

Usage:
  cairn [--db DIR] [FLAGS] <COMMAND> [OPERANDS]

Commands:
  get KEY            print the value of KEY (exit status 1 when absent)
  put KEY VALUE      set KEY to VALUE (durable when the command returns)
  delete KEY         delete KEY (durable when the command returns)
  scan               print entries in key order, one per line: KEY<TAB>VALUE
  stats              print the engine's metrics (levels, memtables, cache, counters)
  check              verify every checksum and invariant, print a summary
  compact            flush the memtable and compact every level, then print stats
  dump FILE          print what one database file holds: a WAL (NNNNNN.wal), an SSTable
                     (NNNNNN.sst), a manifest (MANIFEST-NNNNNN) or CURRENT; reads FILE
                     directly, so it works on a copy and while the database is open
  help               print this text

Flags:
  --db DIR                    database directory (default: $CAIRN_DB, else the current directory);
                              put and delete create it when missing, other commands never create
                              it; dump takes a FILE instead
  --key-format utf8|hex       how keys are given and printed (default utf8)
  --value-format utf8|hex     how values are given to put and printed: utf8 prints valid UTF-8 as
                              text and anything else as hex; hex always uses hex (default utf8)
  --json                      machine output: one JSON object for get, stats and check, one per
                              line for scan and dump
  -h, --help                  print this text
  --version                   print the version

Scan flags:
  --from KEY                  first key (inclusive)
  --to KEY                    end key (exclusive)
  --prefix P                  only keys that start with P (combines with --from/--to)
  --limit N                   print at most N entries
  --reverse                   descending key order

Dump flags:
  --kind wal|sst|manifest|current
                              read FILE as this kind whatever its name
  --entries                   WAL and SSTable: also print every entry (key#seq,KIND and value size)
  --values                    print each entry's value too (implies --entries)

Exit status:
  0  success
  1  get: the key has no value
  2  usage error
  3  database error (the message on stderr says what failed); dump: the file is corrupt or
     unreadable, after printing everything that could be read

Examples:
  cairn --db ./data put user:1 alice
  cairn --db ./data get user:1
  cairn --db ./data scan --prefix user: --limit 10 --json
  cairn --db ./data --key-format hex get 00ff10
  cairn dump ./data/000005.wal --entries
  cairn dump ./data/MANIFEST-000001 --json
";

/// How keys are given on the command line and printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// Keys are UTF-8 text; printed as text when valid UTF-8, else as hex.
    Utf8,
    /// Keys are hexadecimal, two digits per byte.
    Hex,
}

/// How values are given to `put` and printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueFormat {
    /// Given as UTF-8 text; printed as text when valid UTF-8, else as hex.
    Utf8,
    /// Given and printed as hexadecimal.
    Hex,
}

/// What `cairn scan` selects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanArgs {
    /// Inclusive lower bound.
    pub from: Option<Vec<u8>>,
    /// Exclusive upper bound.
    pub to: Option<Vec<u8>>,
    /// Keys must start with this.
    pub prefix: Option<Vec<u8>>,
    /// Most entries to print.
    pub limit: Option<u64>,
    /// Descending order.
    pub reverse: bool,
}

/// The file kinds `cairn dump` has a view for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpKind {
    /// A write-ahead log, `NNNNNN.wal`.
    Wal,
    /// An SSTable, `NNNNNN.sst`.
    Table,
    /// A manifest log, `MANIFEST-NNNNNN`.
    Manifest,
    /// `CURRENT` (or `CURRENT.tmp`).
    Current,
}

impl DumpKind {
    /// The name used by `--kind` and printed in the dump: `wal`, `sst`, `manifest`, `current`.
    pub fn name(self) -> &'static str {
        match self {
            DumpKind::Wal => "wal",
            DumpKind::Table => "sst",
            DumpKind::Manifest => "manifest",
            DumpKind::Current => "current",
        }
    }

    fn from_name(name: &str) -> Option<DumpKind> {
        [DumpKind::Wal, DumpKind::Table, DumpKind::Manifest, DumpKind::Current].into_iter().find(|k| k.name() == name)
    }
}

/// What `cairn dump` reads and prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpArgs {
    /// The file to read.
    pub path: PathBuf,
    /// Which view: from `--kind`, else from the file name.
    pub kind: DumpKind,
    /// The file number in the file's name, if it has one; otherwise the dump takes the number
    /// its header records.
    pub name_file_num: Option<FileNum>,
    /// Print every entry of a WAL or SSTable.
    pub entries: bool,
    /// Print each entry's value (implies `entries`).
    pub values: bool,
}

/// One command with its decoded operands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `get KEY`
    Get { key: Vec<u8> },
    /// `put KEY VALUE`
    Put { key: Vec<u8>, value: Vec<u8> },
    /// `delete KEY`
    Delete { key: Vec<u8> },
    /// `scan [scan flags]`
    Scan(ScanArgs),
    /// `stats`
    Stats,
    /// `check`
    Check,
    /// `compact`
    Compact,
    /// `dump FILE [dump flags]`
    Dump(DumpArgs),
}

/// A fully parsed command line that runs a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The database directory.
    pub db_dir: PathBuf,
    /// Key text format.
    pub key_format: KeyFormat,
    /// Value text format.
    pub value_format: ValueFormat,
    /// Machine (JSON) output.
    pub json: bool,
    /// What to do.
    pub command: Command,
}

/// The result of parsing: run something, or print help or the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// `--help`, `-h` or `help`.
    Help,
    /// `--version`.
    Version,
    /// A command to run.
    Run(Invocation),
}

/// A usage error; `Display` is the message for stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "usage error: {}", self.0)
    }
}

fn usage(msg: impl Into<String>) -> UsageError {
    UsageError(msg.into())
}

/// Flags as given, before keys are decoded (decoding needs `--key-format`, which may come later).
#[derive(Debug, Default)]
struct RawFlags {
    db: Option<OsString>,
    key_format: Option<String>,
    value_format: Option<String>,
    from: Option<String>,
    to: Option<String>,
    prefix: Option<String>,
    limit: Option<String>,
    kind: Option<String>,
    json: bool,
    reverse: bool,
    entries: bool,
    values: bool,
    help: bool,
    version: bool,
}

/// Parses the arguments after the program name. `env_db` is `$CAIRN_DB`.
pub fn parse(args: impl IntoIterator<Item = OsString>, env_db: Option<OsString>) -> Result<Parsed, UsageError> {
    let (flags, operands) = split_flags(args)?;
    if flags.help || operands.first().is_some_and(|c| c == "help") {
        return Ok(Parsed::Help);
    }
    if flags.version {
        return Ok(Parsed::Version);
    }
    let key_format = match flags.key_format.as_deref() {
        None | Some("utf8") => KeyFormat::Utf8,
        Some("hex") => KeyFormat::Hex,
        Some(other) => return Err(usage(format!("--key-format must be utf8 or hex, not '{other}'"))),
    };
    let value_format = match flags.value_format.as_deref() {
        None | Some("utf8") => ValueFormat::Utf8,
        Some("hex") => ValueFormat::Hex,
        Some(other) => return Err(usage(format!("--value-format must be utf8 or hex, not '{other}'"))),
    };
    let command = parse_command(&flags, operands, key_format, value_format)?;
    let db_dir = PathBuf::from(flags.db.clone().or(env_db).unwrap_or_else(|| OsString::from(".")));
    Ok(Parsed::Run(Invocation { db_dir, key_format, value_format, json: flags.json, command }))
}

/// First pass: separates flags from operands and checks flag names and arity.
fn split_flags(args: impl IntoIterator<Item = OsString>) -> Result<(RawFlags, Vec<OsString>), UsageError> {
    let mut flags = RawFlags::default();
    let mut operands = Vec::new();
    let mut args = args.into_iter();
    let mut flags_ended = false;
    while let Some(arg) = args.next() {
        if flags_ended {
            operands.push(arg);
            continue;
        }
        match arg.to_str() {
            Some("--") => flags_ended = true,
            Some("-h") => flags.help = true,
            Some(s) if s.starts_with("--") => {
                let body = &s[2..];
                let (name, inline) = match body.split_once('=') {
                    Some((n, v)) => (n, Some(OsString::from(v))),
                    None => (body, None),
                };
                apply_flag(&mut flags, name, inline, &mut args)?;
            }
            Some(s) if s.starts_with('-') && s.len() > 1 && !s[1..].starts_with(|c: char| c.is_ascii_digit()) => {
                return Err(usage(format!("unknown flag '{s}'")));
            }
            _ => operands.push(arg),
        }
    }
    Ok((flags, operands))
}

/// Records one flag; takes its value from `inline` (`--name=value`) or the next argument.
fn apply_flag(
    flags: &mut RawFlags,
    name: &str,
    inline: Option<OsString>,
    rest: &mut impl Iterator<Item = OsString>,
) -> Result<(), UsageError> {
    let boolean = match name {
        "json" => Some(&mut flags.json),
        "reverse" => Some(&mut flags.reverse),
        "entries" => Some(&mut flags.entries),
        "values" => Some(&mut flags.values),
        "help" => Some(&mut flags.help),
        "version" => Some(&mut flags.version),
        _ => None,
    };
    if let Some(slot) = boolean {
        if inline.is_some() {
            return Err(usage(format!("--{name} takes no value")));
        }
        if *slot && name != "help" {
            return Err(usage(format!("--{name} given twice")));
        }
        *slot = true;
        return Ok(());
    }
    let value = inline.or_else(|| rest.next()).ok_or_else(|| usage(format!("--{name} needs a value")))?;
    if name == "db" {
        return set_once(&mut flags.db, name, value);
    }
    let text = value.into_string().map_err(|_| usage(format!("the value of --{name} is not valid UTF-8")))?;
    let slot = match name {
        "key-format" => &mut flags.key_format,
        "value-format" => &mut flags.value_format,
        "from" => &mut flags.from,
        "to" => &mut flags.to,
        "prefix" => &mut flags.prefix,
        "limit" => &mut flags.limit,
        "kind" => &mut flags.kind,
        _ => return Err(usage(format!("unknown flag '--{name}'"))),
    };
    set_once(slot, name, text)
}

fn set_once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), UsageError> {
    if slot.is_some() {
        return Err(usage(format!("--{name} given twice")));
    }
    *slot = Some(value);
    Ok(())
}

/// Second pass: the command word, its operands, and the flags that only `scan` or `dump` accept.
fn parse_command(
    flags: &RawFlags,
    operands: Vec<OsString>,
    key_format: KeyFormat,
    value_format: ValueFormat,
) -> Result<Command, UsageError> {
    // A dump operand is a path, which need not be UTF-8.
    if let Some((name, files)) = operands.split_first()
        && name == "dump"
    {
        return parse_dump(flags, files).map(Command::Dump);
    }
    let mut words = Vec::with_capacity(operands.len());
    for op in operands {
        words.push(op.into_string().map_err(|_| usage("operands must be valid UTF-8; use --key-format hex"))?);
    }
    let Some((name, operands)) = words.split_first() else {
        return Err(usage("missing command (get, put, delete, scan, stats, check, compact, dump)"));
    };
    if name != "scan" {
        reject_scan_flags(flags, name)?;
    }
    reject_dump_flags(flags, name)?;
    let command = match (name.as_str(), operands) {
        ("get", [key]) => Command::Get { key: decode_key(key, key_format)? },
        ("put", [key, value]) => {
            Command::Put { key: decode_key(key, key_format)?, value: decode_value(value, value_format)? }
        }
        ("delete", [key]) => Command::Delete { key: decode_key(key, key_format)? },
        ("scan", []) => Command::Scan(scan_args(flags, key_format)?),
        ("stats", []) => Command::Stats,
        ("check", []) => Command::Check,
        ("compact", []) => Command::Compact,
        ("get" | "delete", _) => return Err(usage(format!("{name} takes exactly one KEY"))),
        ("put", _) => return Err(usage("put takes exactly KEY and VALUE")),
        ("scan" | "stats" | "check" | "compact", _) => return Err(usage(format!("{name} takes no operands"))),
        (other, _) => return Err(usage(format!("unknown command '{other}'"))),
    };
    Ok(command)
}

fn reject_scan_flags(flags: &RawFlags, command: &str) -> Result<(), UsageError> {
    let given = [
        ("--from", flags.from.is_some()),
        ("--to", flags.to.is_some()),
        ("--prefix", flags.prefix.is_some()),
        ("--limit", flags.limit.is_some()),
        ("--reverse", flags.reverse),
    ];
    match given.iter().find(|(_, present)| *present) {
        Some((flag, _)) => Err(usage(format!("{flag} only applies to scan, not {command}"))),
        None => Ok(()),
    }
}

fn reject_dump_flags(flags: &RawFlags, command: &str) -> Result<(), UsageError> {
    let given = [("--kind", flags.kind.is_some()), ("--entries", flags.entries), ("--values", flags.values)];
    match given.iter().find(|(_, present)| *present) {
        Some((flag, _)) => Err(usage(format!("{flag} only applies to dump, not {command}"))),
        None => Ok(()),
    }
}

/// `dump FILE`: the file, its kind (from `--kind`, else its name) and what to print.
fn parse_dump(flags: &RawFlags, files: &[OsString]) -> Result<DumpArgs, UsageError> {
    reject_scan_flags(flags, "dump")?;
    if flags.db.is_some() {
        return Err(usage("--db does not apply to dump: FILE names the file to read"));
    }
    let [file] = files else {
        return Err(usage("dump takes exactly one FILE"));
    };
    let path = PathBuf::from(file);
    let named = path.file_name().and_then(|n| n.to_str()).and_then(parse_file_name);
    let kind = match flags.kind.as_deref() {
        Some(k) => DumpKind::from_name(k)
            .ok_or_else(|| usage(format!("--kind must be wal, sst, manifest or current, not '{k}'")))?,
        None => kind_from_name(named, &path)?,
    };
    let name_file_num = match named {
        Some(FileKind::Wal(n) | FileKind::Table(n) | FileKind::Manifest(n)) => Some(n),
        _ => None,
    };
    let entries = flags.entries || flags.values;
    if entries && matches!(kind, DumpKind::Manifest | DumpKind::Current) {
        let flag = if flags.entries { "--entries" } else { "--values" };
        return Err(usage(format!("{flag} applies to WAL and SSTable dumps, not {}", kind.name())));
    }
    Ok(DumpArgs { path, kind, name_file_num, entries, values: flags.values })
}

/// The view a strict file name calls for.
fn kind_from_name(named: Option<FileKind>, path: &std::path::Path) -> Result<DumpKind, UsageError> {
    match named {
        Some(FileKind::Wal(_)) => Ok(DumpKind::Wal),
        Some(FileKind::Table(_)) => Ok(DumpKind::Table),
        Some(FileKind::Manifest(_)) => Ok(DumpKind::Manifest),
        Some(FileKind::Current | FileKind::CurrentTemp) => Ok(DumpKind::Current),
        Some(FileKind::Lock) => Err(usage("LOCK holds no data to dump")),
        None => Err(usage(format!(
            "cannot tell what '{}' is from its name (NNNNNN.wal, NNNNNN.sst, MANIFEST-NNNNNN, CURRENT); \
             pass --kind",
            path.display()
        ))),
    }
}

fn scan_args(flags: &RawFlags, key_format: KeyFormat) -> Result<ScanArgs, UsageError> {
    let key = |s: &Option<String>| s.as_deref().map(|s| decode_key(s, key_format)).transpose();
    let limit = match flags.limit.as_deref() {
        None => None,
        Some(s) => Some(s.parse::<u64>().map_err(|_| usage(format!("--limit must be a whole number, not '{s}'")))?),
    };
    Ok(ScanArgs {
        from: key(&flags.from)?,
        to: key(&flags.to)?,
        prefix: key(&flags.prefix)?,
        limit,
        reverse: flags.reverse,
    })
}

/// Decodes a key given on the command line.
pub fn decode_key(text: &str, format: KeyFormat) -> Result<Vec<u8>, UsageError> {
    match format {
        KeyFormat::Utf8 => Ok(text.as_bytes().to_vec()),
        KeyFormat::Hex => hex_decode(text).map_err(|why| usage(format!("key '{text}' is not hex: {why}"))),
    }
}

/// Decodes a value given on the command line.
pub fn decode_value(text: &str, format: ValueFormat) -> Result<Vec<u8>, UsageError> {
    match format {
        ValueFormat::Utf8 => Ok(text.as_bytes().to_vec()),
        ValueFormat::Hex => hex_decode(text).map_err(|why| usage(format!("value is not hex: {why}"))),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn parse_str(args: &[&str]) -> Result<Parsed, UsageError> {
        parse(args.iter().map(OsString::from), None)
    }

    fn run(args: &[&str]) -> Invocation {
        match parse_str(args) {
            Ok(Parsed::Run(inv)) => inv,
            other => panic!("expected a command for {args:?}, got {other:?}"),
        }
    }

    fn err(args: &[&str]) -> String {
        match parse_str(args) {
            Err(e) => e.0,
            other => panic!("expected a usage error for {args:?}, got {other:?}"),
        }
    }

    #[test]
    fn flags_may_come_before_or_after_the_command() {
        let a = run(&["--db", "d", "--json", "get", "k"]);
        let b = run(&["get", "k", "--db=d", "--json"]);
        assert_eq!(a, b);
        assert_eq!(a.db_dir, PathBuf::from("d"));
        assert!(a.json);
        assert_eq!(a.command, Command::Get { key: b"k".to_vec() });
    }

    #[test]
    fn db_defaults_to_env_then_current_directory() {
        let from_env = parse(["stats"].map(OsString::from), Some(OsString::from("/e")));
        assert!(matches!(from_env, Ok(Parsed::Run(ref i)) if i.db_dir == Path::new("/e")));
        assert_eq!(run(&["stats"]).db_dir, PathBuf::from("."));
        let flag_wins = parse(["--db", "/f", "stats"].map(OsString::from), Some(OsString::from("/e")));
        assert!(matches!(flag_wins, Ok(Parsed::Run(ref i)) if i.db_dir == Path::new("/f")));
    }

    #[test]
    fn hex_keys_decode_after_the_format_flag_is_known() {
        let inv = run(&["scan", "--from", "00ff", "--key-format", "hex", "--prefix=0A"]);
        let expect = ScanArgs { from: Some(vec![0, 0xff]), prefix: Some(vec![0x0a]), ..ScanArgs::default() };
        assert_eq!(inv.command, Command::Scan(expect));
        let put = run(&["--value-format", "hex", "put", "k", "beef"]);
        assert_eq!(put.command, Command::Put { key: b"k".to_vec(), value: vec![0xbe, 0xef] });
    }

    #[test]
    fn scan_flags_parse_limit_and_reverse() {
        let inv = run(&["scan", "--limit", "7", "--reverse", "--to", "m"]);
        let expect = ScanArgs { to: Some(b"m".to_vec()), limit: Some(7), reverse: true, ..ScanArgs::default() };
        assert_eq!(inv.command, Command::Scan(expect));
    }

    #[test]
    fn double_dash_ends_flags() {
        let inv = run(&["put", "--", "--weird", "-v"]);
        assert_eq!(inv.command, Command::Put { key: b"--weird".to_vec(), value: b"-v".to_vec() });
    }

    #[test]
    fn negative_looking_numbers_are_operands() {
        let inv = run(&["put", "k", "-5"]);
        assert_eq!(inv.command, Command::Put { key: b"k".to_vec(), value: b"-5".to_vec() });
    }

    #[test]
    fn help_and_version_win() {
        assert_eq!(parse_str(&["--help"]), Ok(Parsed::Help));
        assert_eq!(parse_str(&["get", "-h"]), Ok(Parsed::Help));
        assert_eq!(parse_str(&["help"]), Ok(Parsed::Help));
        assert_eq!(parse_str(&["--version"]), Ok(Parsed::Version));
    }

    #[test]
    fn usage_errors_name_the_problem() {
        assert!(err(&[]).contains("missing command"));
        assert!(err(&["frobnicate"]).contains("unknown command"));
        assert!(err(&["get"]).contains("exactly one KEY"));
        assert!(err(&["get", "a", "b"]).contains("exactly one KEY"));
        assert!(err(&["put", "a"]).contains("KEY and VALUE"));
        assert!(err(&["stats", "x"]).contains("no operands"));
        assert!(err(&["--bogus", "stats"]).contains("unknown flag"));
        assert!(err(&["-x", "stats"]).contains("unknown flag"));
        assert!(err(&["get", "k", "--limit", "3"]).contains("only applies to scan"));
        assert!(err(&["get", "k", "--reverse"]).contains("only applies to scan"));
        assert!(err(&["scan", "--limit", "-1"]).contains("whole number"));
        assert!(err(&["--key-format", "base64", "get", "k"]).contains("utf8 or hex"));
        assert!(err(&["--value-format", "raw", "get", "k"]).contains("utf8 or hex"));
        assert!(err(&["--key-format", "hex", "get", "abc"]).contains("not hex"));
        assert!(err(&["--json=1", "stats"]).contains("takes no value"));
        assert!(err(&["--db"]).contains("needs a value"));
        assert!(err(&["--db", "a", "--db", "b", "stats"]).contains("given twice"));
        assert!(err(&["--json", "--json", "stats"]).contains("given twice"));
    }

    fn dump(args: &[&str]) -> DumpArgs {
        match run(args).command {
            Command::Dump(d) => d,
            other => panic!("expected dump for {args:?}, got {other:?}"),
        }
    }

    #[test]
    fn dump_kind_comes_from_the_strict_file_name() {
        let wal = dump(&["dump", "dir/000012.wal"]);
        assert_eq!((wal.kind, wal.name_file_num), (DumpKind::Wal, Some(FileNum(12))));
        assert_eq!(wal.path, PathBuf::from("dir/000012.wal"));
        assert!(!wal.entries && !wal.values);
        assert_eq!(dump(&["dump", "000007.sst"]).kind, DumpKind::Table);
        assert_eq!(dump(&["dump", "MANIFEST-000003"]).name_file_num, Some(FileNum(3)));
        assert_eq!(dump(&["dump", "/x/CURRENT"]).kind, DumpKind::Current);
        assert_eq!(dump(&["dump", "CURRENT.tmp"]).kind, DumpKind::Current);
    }

    #[test]
    fn dump_kind_flag_overrides_the_name() {
        let d = dump(&["dump", "copy.bin", "--kind", "sst", "--entries"]);
        assert_eq!((d.kind, d.name_file_num, d.entries), (DumpKind::Table, None, true));
        let d = dump(&["dump", "000009.wal", "--kind=manifest"]);
        assert_eq!((d.kind, d.name_file_num), (DumpKind::Manifest, Some(FileNum(9))));
        let d = dump(&["--values", "dump", "000001.wal"]);
        assert!(d.entries && d.values, "--values implies --entries");
    }

    #[test]
    fn dump_usage_errors_name_the_problem() {
        assert!(err(&["dump"]).contains("exactly one FILE"));
        assert!(err(&["dump", "a", "b"]).contains("exactly one FILE"));
        assert!(err(&["dump", "42.wal"]).contains("pass --kind"));
        assert!(err(&["dump", "LOCK"]).contains("no data"));
        assert!(err(&["dump", "000001.wal", "--kind", "log"]).contains("wal, sst, manifest or current"));
        assert!(err(&["dump", "MANIFEST-000001", "--entries"]).contains("WAL and SSTable"));
        assert!(err(&["dump", "CURRENT", "--values"]).contains("WAL and SSTable"));
        assert!(err(&["--db", "d", "dump", "000001.wal"]).contains("--db does not apply"));
        assert!(err(&["dump", "000001.wal", "--limit", "3"]).contains("only applies to scan"));
        assert!(err(&["scan", "--entries"]).contains("only applies to dump"));
        assert!(err(&["get", "k", "--kind", "wal"]).contains("only applies to dump"));
        assert!(err(&["dump", "000001.wal", "--entries", "--entries"]).contains("given twice"));
    }

    #[cfg(unix)]
    #[test]
    fn dump_accepts_a_non_utf8_path() {
        use std::os::unix::ffi::OsStringExt;
        let args = ["dump", "--kind", "wal"].map(OsString::from).into_iter().chain([OsString::from_vec(vec![0xff])]);
        match parse(args, None) {
            Ok(Parsed::Run(inv)) => assert!(matches!(inv.command, Command::Dump(d) if d.kind == DumpKind::Wal)),
            other => panic!("expected dump, got {other:?}"),
        }
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_operands_are_usage_errors() {
        use std::os::unix::ffi::OsStringExt;
        let args = vec![OsString::from("get"), OsString::from_vec(vec![0xff])];
        assert!(matches!(parse(args, None), Err(UsageError(m)) if m.contains("valid UTF-8")));
    }
}
