//! The `cairn-stress` harness: runs one campaign of crash cycles and reports what it verified
//! (docs/testing.md#cairn-stress).
//!
//! Owns the dispatch from flags to a campaign and the mapping from outcomes to exit codes. The
//! campaigns ([`kill`], [`powerloss`]) own their crash mechanics; both commit the same batches
//! ([`workload`]) and judge the recovered database with the same checker ([`verify`]), so a
//! guarantee means the same thing in both modes.
//!
//! Invariant: a run exits 0 only if every cycle reopened the database, found every batch it had
//! to find, found the batches all-or-nothing and as a prefix of the commit order, and `check()`
//! passed. Anything else prints the seed and cycle and exits 1.

mod ack_log;
mod args;
mod kill;
mod knobs;
mod powerloss;
mod report;
mod verify;
mod workload;

use std::process::ExitCode;
use std::time::Instant;

use args::{Campaign, Command, Mode};
use report::{Failure, Summary};

/// Exit status when a guarantee was violated.
const EXIT_VIOLATION: u8 = 1;
/// Exit status for a usage error.
const EXIT_USAGE: u8 = 2;
/// Exit status when the harness itself failed.
const EXIT_HARNESS: u8 = 3;

/// Parses the command line and runs what it asks for.
pub fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match args::parse(&argv) {
        Err(msg) => {
            eprintln!("cairn-stress: {msg}\n\n{}", args::USAGE);
            ExitCode::from(EXIT_USAGE)
        }
        Ok(Command::Help) => {
            println!("{}", args::USAGE);
            ExitCode::SUCCESS
        }
        Ok(Command::Child(child)) => kill::child_main(&child),
        Ok(Command::Campaign(campaign)) => run_campaign(&campaign),
    }
}

/// Runs one campaign and prints its summary (and the violation, if any).
fn run_campaign(campaign: &Campaign) -> ExitCode {
    eprintln!("cairn-stress: {} (replay: {})", campaign.mode, campaign.replay_command());
    let started = Instant::now();
    let outcome = match campaign.mode {
        Mode::Kill | Mode::Whitebox => kill::run(campaign),
        Mode::PowerLoss => powerloss::run(campaign),
    };
    let finish = |summary: &mut Summary| {
        summary.elapsed_ms = started.elapsed().as_millis() as u64;
        println!("{}", summary.line());
        if campaign.json {
            println!("{}", summary.json());
        }
    };
    match outcome {
        Ok(mut summary) => {
            finish(&mut summary);
            ExitCode::SUCCESS
        }
        Err(Failure::Violation { mut summary, cycle, violation }) => {
            eprintln!(
                "cairn-stress: VIOLATION in cycle {cycle} (seed {}): {violation}\nreplay: {}",
                campaign.seed,
                campaign.replay_command()
            );
            finish(&mut summary);
            ExitCode::from(EXIT_VIOLATION)
        }
        Err(Failure::Harness(msg)) => {
            eprintln!("cairn-stress: harness error (seed {}): {msg}", campaign.seed);
            ExitCode::from(EXIT_HARNESS)
        }
    }
}
