//! Command-line flags of `cairn-stress`: the campaign flags users type, and the `child`
//! subcommand the kill campaign spawns itself with.
//!
//! Owns parsing and the replay command line; it leaves every default that shapes a cycle to
//! [`knobs`](super::knobs). Flags are `--name=value` or `--name value`; an unknown flag, a
//! repeated flag or a malformed number is a usage error, never silently ignored (a typo must not
//! run a different campaign than the one asked for).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use super::knobs::Knobs;
use super::workload::MAX_WRITERS;

/// The help text.
pub const USAGE: &str = "\
usage: cairn-stress --mode=kill|whitebox|powerloss [--cycles=N] [--seed=S] [--dir D] [--json]

  --mode=kill        a child process commits batches and is SIGKILLed at a random moment;
                     the parent reopens the database on the real file system and verifies it
  --mode=whitebox    as kill, but the child freezes at a randomly numbered boundary of a
                     create, append, sync, close, rename, remove or directory sync, reports
                     which, and is SIGKILLed there (needs a build with --features whitebox)
  --mode=powerloss   in-process: a writer thread commits batches on a crash-emulating file
                     system that is power-cut at a random moment (unsynced data dropped, kept
                     in part, or torn); the crashed image is reopened and verified
  --cycles=N         crash cycles to run (default 100)
  --seed=S           seed, decimal or 0x-hex (default: from the clock; always printed)
  --dir D            kill: the database directory (must be empty or absent; kept afterwards);
                     powerloss: where the crashed image is written if a cycle fails
  --json             also print the summary as one JSON line

exit status: 0 all cycles verified, 1 a guarantee was violated, 2 usage error, 3 harness error";

/// Cycles run when `--cycles` is not given.
const DEFAULT_CYCLES: u64 = 100;

/// Which crash a campaign emulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// SIGKILL of a child process on the real file system (G1 for `Buffered` and `Sync`).
    Kill,
    /// SIGKILL at a chosen I/O boundary (whitebox kill points; feature `whitebox`).
    Whitebox,
    /// Power loss on `CrashFs` (G1 for `Sync` and `Db::sync`).
    PowerLoss,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Kill => "kill",
            Mode::Whitebox => "whitebox",
            Mode::PowerLoss => "powerloss",
        })
    }
}

/// A campaign: what the user asked for.
#[derive(Debug, Clone)]
pub struct Campaign {
    pub mode: Mode,
    pub cycles: u64,
    pub seed: u64,
    pub dir: Option<PathBuf>,
    pub json: bool,
}

impl Campaign {
    /// The command line that runs this campaign again with the same seed.
    pub fn replay_command(&self) -> String {
        let mut cmd = format!("cairn-stress --mode={} --cycles={} --seed={}", self.mode, self.cycles, self.seed);
        if let Some(dir) = &self.dir {
            cmd.push_str(&format!(" --dir {}", dir.display()));
        }
        cmd
    }
}

/// The kill campaign's child: open `dir` with `knobs` and run `writers` writer threads, writer
/// `w` committing its batches from `starts[w]` on.
#[derive(Debug, Clone)]
pub struct ChildArgs {
    pub dir: PathBuf,
    pub starts: [u64; MAX_WRITERS],
    pub writers: usize,
    pub seed: u64,
    pub knobs: Knobs,
    /// Whitebox mode: the I/O boundary (numbered from 0) to freeze at.
    pub kill_at: Option<u64>,
}

impl ChildArgs {
    /// The arguments that make `parse` return this child.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "child".to_string(),
            format!("--dir={}", self.dir.display()),
            format!("--starts={}", self.starts.map(|s| s.to_string()).join(",")),
            format!("--writers={}", self.writers),
            format!("--seed={}", self.seed),
        ];
        args.extend(self.knobs.to_flags());
        args.extend(self.kill_at.map(|n| format!("--kill-at={n}")));
        args
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    Help,
    Campaign(Campaign),
    Child(ChildArgs),
}

/// Parses the arguments after the program name.
pub fn parse(argv: &[String]) -> Result<Command, String> {
    match argv.first().map(String::as_str) {
        Some("child") => parse_child(flag_map(&argv[1..])?).map(Command::Child),
        Some("-h" | "--help" | "help") => Ok(Command::Help),
        _ => parse_campaign(flag_map(argv)?).map(Command::Campaign),
    }
}

fn parse_campaign(mut flags: BTreeMap<String, String>) -> Result<Campaign, String> {
    let mode = match flags.remove("mode").as_deref() {
        Some("kill") => Mode::Kill,
        Some("whitebox") if cfg!(feature = "whitebox") => Mode::Whitebox,
        Some("whitebox") => {
            return Err("--mode=whitebox needs a build with the kill points: \
                        cargo build --release -p cairn-bench --features whitebox"
                .to_string());
        }
        Some("powerloss") => Mode::PowerLoss,
        Some(other) => return Err(format!("--mode must be kill, whitebox or powerloss, not {other:?}")),
        None => return Err("--mode is required".to_string()),
    };
    let cycles = take_number(&mut flags, "cycles")?.unwrap_or(DEFAULT_CYCLES);
    let seed = take_number(&mut flags, "seed")?.unwrap_or_else(clock_seed);
    let dir = flags.remove("dir").map(PathBuf::from);
    let json = take_bool(&mut flags, "json")?;
    reject_leftovers(&flags)?;
    Ok(Campaign { mode, cycles, seed, dir, json })
}

fn parse_child(mut flags: BTreeMap<String, String>) -> Result<ChildArgs, String> {
    let dir = flags.remove("dir").map(PathBuf::from).ok_or("child: --dir is required")?;
    let starts = flags.remove("starts").ok_or("child: --starts is required")?;
    let starts: Vec<u64> = starts.split(',').map(str::parse).collect::<Result<_, _>>().map_err(|_| "bad --starts")?;
    let starts: [u64; MAX_WRITERS] = starts.try_into().map_err(|_| format!("--starts needs {MAX_WRITERS} numbers"))?;
    let writers = take_number(&mut flags, "writers")?.ok_or("child: --writers is required")?;
    let writers = usize::try_from(writers).ok().filter(|w| (1..=MAX_WRITERS).contains(w)).ok_or("bad --writers")?;
    let seed = take_number(&mut flags, "seed")?.ok_or("child: --seed is required")?;
    let knobs = Knobs::from_flags(&mut flags)?;
    let kill_at = take_number(&mut flags, "kill-at")?;
    reject_leftovers(&flags)?;
    Ok(ChildArgs { dir, starts, writers, seed, knobs, kill_at })
}

/// Splits `--name=value`, `--name value` and bare `--name` (value `"true"`) into a map.
fn flag_map(argv: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut flags = BTreeMap::new();
    let mut rest = argv.iter().peekable();
    while let Some(arg) = rest.next() {
        let body = arg.strip_prefix("--").ok_or_else(|| format!("unexpected argument {arg:?}"))?;
        let (name, value) = match body.split_once('=') {
            Some((name, value)) => (name.to_string(), value.to_string()),
            None if rest.peek().is_some_and(|next| !next.starts_with("--")) => {
                (body.to_string(), rest.next().cloned().unwrap_or_default())
            }
            None => (body.to_string(), "true".to_string()),
        };
        if flags.insert(name.clone(), value).is_some() {
            return Err(format!("--{name} given twice"));
        }
    }
    Ok(flags)
}

/// Removes `--name` and parses it as a decimal or `0x`-hex number.
pub fn take_number(flags: &mut BTreeMap<String, String>, name: &str) -> Result<Option<u64>, String> {
    let Some(text) = flags.remove(name) else { return Ok(None) };
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    };
    parsed.map(Some).ok_or_else(|| format!("--{name}={text:?} is not a number"))
}

/// Removes `--name` and parses it as a boolean (`true`/`false`/`1`/`0`); absent is false.
pub fn take_bool(flags: &mut BTreeMap<String, String>, name: &str) -> Result<bool, String> {
    match flags.remove(name).as_deref() {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(other) => Err(format!("--{name}={other:?} is not a boolean")),
    }
}

fn reject_leftovers(flags: &BTreeMap<String, String>) -> Result<(), String> {
    match flags.keys().next() {
        Some(name) => Err(format!("unknown flag --{name}")),
        None => Ok(()),
    }
}

/// A seed from the clock, for runs that give none (it is printed, so the run replays).
fn clock_seed() -> u64 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn campaign_flags_parse_in_both_spellings() {
        let cmd = parse(&strings(&["--mode=kill", "--cycles", "7", "--seed=0x10", "--dir", "/tmp/x", "--json"]));
        let Ok(Command::Campaign(c)) = cmd else { panic!("not a campaign: {cmd:?}") };
        assert_eq!((c.mode, c.cycles, c.seed, c.json), (Mode::Kill, 7, 16, true));
        assert_eq!(c.dir, Some(PathBuf::from("/tmp/x")));
        assert_eq!(c.replay_command(), "cairn-stress --mode=kill --cycles=7 --seed=16 --dir /tmp/x");
    }

    #[test]
    fn mistakes_are_usage_errors() {
        for bad in [
            &["--cycles=3"][..],
            &["--mode=reboot"],
            &["--mode=kill", "--cycles=many"],
            &["--mode=kill", "--mode=kill"],
            &["--mode=kill", "--verbose"],
            &["--mode=kill", "stray"],
        ] {
            assert!(parse(&strings(bad)).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn child_args_round_trip() {
        let child = ChildArgs {
            dir: PathBuf::from("/tmp/db"),
            starts: [42, 0, 7, 1 << 40],
            writers: 3,
            seed: 9,
            knobs: Knobs::random(&mut cairn_testkit::Rng::new(3)),
            kill_at: Some(1234),
        };
        let Ok(Command::Child(back)) = parse(&child.to_args()) else { panic!("child args did not parse") };
        assert_eq!(
            (back.dir, back.starts, back.writers, back.seed, back.knobs, back.kill_at),
            (child.dir.clone(), child.starts, child.writers, child.seed, child.knobs, child.kill_at)
        );
        let mut args = child.to_args();
        args[3] = "--writers=5".to_string();
        assert!(parse(&args).is_err(), "more writers than MAX_WRITERS");
    }
}
