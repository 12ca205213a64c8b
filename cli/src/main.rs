//! The `cairn` command-line tool: `get`, `put`, `delete`, `scan`, `stats`, `check` and `compact` on a Cairn
//! database directory, and `dump` of one database file (docs/tools.md#cairn).
//!
//! This file owns the process boundary only: it hands the arguments to [`args`], runs the parsed
//! command with [`commands`], and maps the outcome to an exit code. Parsing, byte formats and the
//! commands themselves live in their own modules; the database is `cairn`'s business.
//!
//! Exit codes (a contract scripts rely on; documented in docs/tools.md#exit-codes):
//! * 0 — success,
//! * 1 — `get` found no value for the key,
//! * 2 — usage error (bad flag, missing operand, malformed hex),
//! * 3 — database error (the message on stderr is the error's `Display`), a corrupt or unreadable
//!   file given to `dump`, or output failure.
//!
//! A closed stdout (`cairn scan | head`) is not an error: the tool stops writing and exits 0.
#![forbid(unsafe_code)]

mod args;
mod commands;
mod dump;
mod output;

use std::io::{self, Write};
use std::process::ExitCode;

use args::Parsed;
use commands::{CliError, Outcome};

/// Exit status when `get` finds nothing.
const EXIT_NOT_FOUND: u8 = 1;
/// Exit status for a usage error.
const EXIT_USAGE: u8 = 2;
/// Exit status for a database or output error.
const EXIT_DB_ERROR: u8 = 3;

fn main() -> ExitCode {
    let parsed = match args::parse(std::env::args_os().skip(1), std::env::var_os("CAIRN_DB")) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cairn: {e}");
            eprintln!("Try 'cairn --help' for more information.");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let invocation = match parsed {
        Parsed::Help => return print_text(args::HELP),
        Parsed::Version => return print_text(&format!("cairn {}\n", env!("CARGO_PKG_VERSION"))),
        Parsed::Run(invocation) => invocation,
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = commands::run(&invocation, &mut out);
    // Flush before any error message, so that what a failed dump printed comes first.
    let flushed = out.flush().map_err(CliError::Output);
    let result = result.and_then(|o| flushed.map(|()| o));
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::NotFound) => {
            eprintln!("cairn: key not found");
            ExitCode::from(EXIT_NOT_FOUND)
        }
        Err(CliError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(CliError::Output(e)) => {
            eprintln!("cairn: cannot write output: {e}");
            ExitCode::from(EXIT_DB_ERROR)
        }
        Err(CliError::Db(e)) => {
            eprintln!("cairn: {e}");
            ExitCode::from(EXIT_DB_ERROR)
        }
    }
}

/// Prints `text` to stdout; a closed stdout still counts as success.
fn print_text(text: &str) -> ExitCode {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cairn: cannot write output: {e}");
            ExitCode::from(EXIT_DB_ERROR)
        }
    }
}
