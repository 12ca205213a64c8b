//! The kill campaign: a child process commits batches on the real file system and is SIGKILLed
//! at a random moment; the parent reopens the database and verifies G1–G4 (docs/testing.md,
//! DESIGN.md §8 "crash-kill loop").
//!
//! The whitebox variant (`--mode=whitebox`, feature `whitebox`) is the same cycle, except that
//! the child runs on testkit's `KillPointFs`: it freezes at a randomly numbered boundary of a
//! create, append, sync, close, rename, remove or directory sync, reports the kill point on a
//! `killpoint <name>` line, and the parent kills it there. A child that never reaches its
//! boundary is killed after [`WHITEBOX_WAIT_MS_MAX`] like a kill-mode child (`whitebox_timeouts`).
//!
//! Owns the child process (its protocol: one `ack <writer> <id> <sync|buffered>` line on stdout
//! after each acknowledged commit, from 1, 2 or 4 writer threads) and the parent's cycle: draw
//! knobs, writers and a delay, spawn, kill, reopen with other knobs, verify, continue from the
//! recovered prefixes. It leaves judging the database to [`verify`](super::verify).
//!
//! Bounds per cycle and writer, from the child's protocol: every acknowledged batch must be
//! present, buffered ones included (a kill -9 keeps what reached the OS), so `floor` = start +
//! acks; a writer commits its next batch only after its ack line was written to the pipe, so at
//! most one unacknowledged batch per writer can be in the database: `ceiling = floor + 1`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitCode, Stdio};
use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use cairn::{Db, Durability};
use cairn_testkit::Rng;

use super::args::{Campaign, ChildArgs, Mode};
use super::knobs::Knobs;
use super::report::{CycleError, Failure, Kind, Summary, Tally, Violation};
use super::verify::{Bounds, Prefixes, close, compact_and_verify, open_and_verify};
use super::workload::{MAX_WRITERS, batch};

/// Longest time a child runs before it is killed, in milliseconds.
const KILL_DELAY_MS_MAX: u64 = 200;
/// Percentage of cycles that kill the child within [`EARLY_KILL_DELAY_MS_MAX`], while it is
/// still starting or opening (recovering) the database.
const EARLY_KILL_PERCENT: u32 = 10;
const EARLY_KILL_DELAY_MS_MAX: u64 = 12;
/// Percentage of cycles whose verifying open is closed cleanly; the others drop the database, so
/// the next child starts from a database whose last session ended without `close`.
const CLEAN_CLOSE_PERCENT: u32 = 50;
/// Percentage of cycles whose verifying open also runs a full compaction and verifies again (it
/// also bounds the tombstones a long campaign leaves: the child's own compactions are often
/// killed half-way).
const COMPACT_AFTER_VERIFY_PERCENT: u32 = 10;
/// Percentage of batches committed with `Durability::Sync`.
const SYNC_PERCENT: u32 = 70;
/// Percentage of batches followed by a full manual compaction.
const COMPACT_PERCENT: u32 = 1;
/// Writer threads per child, drawn per cycle.
const WRITER_COUNTS: [usize; 4] = [1, 1, 2, 4];
/// Whitebox: longest wait for the child to report its kill point before it is killed anyway.
const WHITEBOX_WAIT_MS_MAX: u64 = 1_500;
/// Whitebox: percentage of cycles whose boundary is drawn among the first
/// [`EARLY_BOUNDARIES`] (the child's open: recovery, manifest rollover, `CURRENT` rename).
const EARLY_BOUNDARY_PERCENT: u32 = 25;
const EARLY_BOUNDARIES: u64 = 64;
/// Whitebox: the other cycles draw the boundary log-uniformly up to this number.
const LATE_BOUNDARY_MAX: u64 = 40_000;
/// Exit status of a child whose database failed (the parent reports it with the child's stderr).
const CHILD_EXIT_FAILURE: i32 = 3;

/// Runs the kill campaign (`campaign.mode` is [`Mode::Kill`] or [`Mode::Whitebox`]).
pub fn run(campaign: &Campaign) -> Result<Summary, Failure> {
    let (dir, owned) = prepare_dir(campaign).map_err(Failure::Harness)?;
    let exe = std::env::current_exe().map_err(|e| Failure::Harness(format!("cannot find own binary: {e}")))?;
    let mut summary = Summary::new(campaign.mode, campaign.seed);
    let mut rng = Rng::new(campaign.seed);
    let mut present = [0; MAX_WRITERS];
    for cycle in 0..campaign.cycles {
        let plan = Plan::draw(&mut rng, campaign.mode == Mode::Whitebox);
        match run_cycle(&exe, &dir, present, &plan, &mut summary.tally) {
            Ok(prefixes) => present = prefixes,
            Err(CycleError::Violation(v)) => {
                eprintln!("cairn-stress: cycle {cycle} ran with {plan}; database kept in {}", dir.display());
                return Err(Failure::violation(summary, cycle, v));
            }
            Err(CycleError::Harness(msg)) => return Err(Failure::Harness(format!("cycle {cycle}: {msg}"))),
        }
        summary.tally.cycles += 1;
        summary.tally.present = present.iter().sum();
    }
    if owned {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(summary)
}

/// What one cycle does, drawn from the campaign's generator.
#[derive(Debug)]
struct Plan {
    child_knobs: Knobs,
    reopen_knobs: Knobs,
    writers: usize,
    delay_ms: u64,
    child_seed: u64,
    compact_after_verify: bool,
    close_after_verify: bool,
    /// Whitebox: the boundary the child freezes at.
    kill_at: Option<u64>,
}

impl Plan {
    fn draw(rng: &mut Rng, whitebox: bool) -> Plan {
        Plan {
            child_knobs: Knobs::random(rng),
            reopen_knobs: Knobs::random(rng),
            writers: WRITER_COUNTS[rng.below(WRITER_COUNTS.len() as u64) as usize],
            delay_ms: match rng.chance(EARLY_KILL_PERCENT) {
                true => rng.between(0, EARLY_KILL_DELAY_MS_MAX),
                false => rng.between(EARLY_KILL_DELAY_MS_MAX, KILL_DELAY_MS_MAX),
            },
            child_seed: rng.next_u64(),
            compact_after_verify: rng.chance(COMPACT_AFTER_VERIFY_PERCENT),
            close_after_verify: rng.chance(CLEAN_CLOSE_PERCENT),
            kill_at: whitebox.then(|| draw_boundary(rng)),
        }
    }
}

/// A boundary number: a quarter among the child's open, the rest log-uniform up to
/// [`LATE_BOUNDARY_MAX`] so short and long runs are both common.
fn draw_boundary(rng: &mut Rng) -> u64 {
    if rng.chance(EARLY_BOUNDARY_PERCENT) {
        return rng.below(EARLY_BOUNDARIES);
    }
    let (lo, hi) = ((EARLY_BOUNDARIES as f64).ln(), (LATE_BOUNDARY_MAX as f64).ln());
    let unit = rng.below(1 << 20) as f64 / f64::from(1 << 20);
    (lo + unit * (hi - lo)).exp() as u64
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let compact = if self.compact_after_verify { "compact, " } else { "" };
        let end = if self.close_after_verify { "close" } else { "drop" };
        let kill = match self.kill_at {
            Some(n) => format!("at I/O boundary {n}"),
            None => format!("after {} ms", self.delay_ms),
        };
        write!(
            f,
            "child [{}] with {} writers, kill {kill}, reopen [{}] then {compact}{end}",
            self.child_knobs, self.writers, self.reopen_knobs
        )
    }
}

/// The directory to run in, and whether it is ours to delete afterwards.
fn prepare_dir(campaign: &Campaign) -> Result<(PathBuf, bool), String> {
    if let Some(dir) = &campaign.dir {
        let empty = match std::fs::read_dir(dir) {
            Ok(mut entries) => entries.next().is_none(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(format!("cannot read {}: {e}", dir.display())),
        };
        if !empty {
            return Err(format!("--dir {} must be empty or absent", dir.display()));
        }
        return Ok((dir.clone(), false));
    }
    let dir = std::env::temp_dir().join(format!("cairn-stress-kill-{}-{}", std::process::id(), campaign.seed));
    let _ = std::fs::remove_dir_all(&dir);
    Ok((dir, true))
}

/// One cycle: spawn, kill, reopen, verify. Returns the recovered prefixes.
fn run_cycle(exe: &Path, dir: &Path, starts: Prefixes, plan: &Plan, tally: &mut Tally) -> Result<Prefixes, CycleError> {
    let child_args = ChildArgs {
        dir: dir.to_path_buf(),
        starts,
        writers: plan.writers,
        seed: plan.child_seed,
        knobs: plan.child_knobs,
        kill_at: plan.kill_at,
    };
    let mut child = Command::new(exe)
        .args(child_args.to_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CycleError::Harness(format!("cannot spawn the child: {e}")))?;
    let stdout = child.stdout.take().expect("stdout was piped above");
    let (writers, active) = (plan.writers, active_writers(plan.writers));
    let (point_tx, point_rx) = mpsc::channel();
    let acks = std::thread::spawn(move || read_acks(stdout, starts, active, point_tx));
    let stderr = drain_stderr(&mut child);
    match plan.kill_at {
        Some(_) => match point_rx.recv_timeout(Duration::from_millis(WHITEBOX_WAIT_MS_MAX)) {
            Ok(point) => *tally.kill_points.entry(point).or_default() += 1,
            Err(_) => tally.count("whitebox_timeouts", 1),
        },
        None => std::thread::sleep(Duration::from_millis(plan.delay_ms)),
    }
    let exited = child.try_wait().map_err(|e| CycleError::Harness(format!("cannot poll the child: {e}")))?;
    // SIGKILL on Unix. It can only fail if the child already exited, which `exited` reports.
    let _ = child.kill();
    child.wait().map_err(|e| CycleError::Harness(format!("cannot reap the child: {e}")))?;
    let acks = acks.join().map_err(|_| CycleError::Harness("ack reader panicked".to_string()))?;
    let stderr = stderr.join().unwrap_or_default();
    if let Some(status) = exited {
        let msg = format!("the child exited by itself ({status}) before the kill: {}", stderr.trim());
        return Err(Violation::new(Kind::Workload, 1, msg).into());
    }
    if let Some(problem) = acks.problem {
        return Err(Violation::new(Kind::Workload, 1, format!("child protocol: {problem}")).into());
    }
    let acked: u64 = acks.sync + acks.buffered;
    tally.acked += acked;
    tally.count("sync_acks", acks.sync);
    tally.count("buffered_acks", acks.buffered);
    tally.count("kills_before_first_ack", u64::from(acked == 0));
    let mut bounds = Bounds::all_exactly(&acks.next);
    for b in &mut bounds[..writers] {
        b.ceiling += 1;
    }
    let (db, prefixes) = open_and_verify(plan.reopen_knobs.options(), dir, &bounds)?;
    if plan.compact_after_verify {
        compact_and_verify(&db, &prefixes)?;
    }
    if plan.close_after_verify {
        close(&db)?;
    }
    // Dropping the last handle joins the background threads and releases the lock.
    drop(db);
    tally.verified += acked;
    Ok(prefixes)
}

/// Writers `0..writers` are active.
fn active_writers(writers: usize) -> [bool; MAX_WRITERS] {
    std::array::from_fn(|w| w < writers)
}

/// The acknowledgements a child reported.
#[derive(Debug)]
struct Acks {
    /// Per writer, one past the last acknowledged batch (its start if none).
    next: Prefixes,
    sync: u64,
    buffered: u64,
    /// The first line that broke the protocol, if any.
    problem: Option<String>,
}

/// Reads ack lines until the child's stdout closes. A last line without its newline was cut by
/// the kill and does not count. Each writer's acks must come in order from its start. A
/// `killpoint <name>` line (whitebox) is passed to `points` at once.
fn read_acks(stdout: ChildStdout, starts: Prefixes, active: [bool; MAX_WRITERS], points: Sender<String>) -> Acks {
    let mut acks = Acks { next: starts, sync: 0, buffered: 0, problem: None };
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    while acks.problem.is_none() && matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
        let Some(complete) = line.strip_suffix('\n') else { break };
        let recorded = match complete.strip_prefix("killpoint ") {
            Some(point) => points.send(point.to_string()).map_err(|_| "kill point after the wait".to_string()),
            None => acks.record(complete, &active),
        };
        if let Err(problem) = recorded {
            acks.problem = Some(problem);
        }
        line.clear();
    }
    acks
}

impl Acks {
    /// Counts one `ack <writer> <id> <sync|buffered>` line.
    fn record(&mut self, line: &str, active: &[bool; MAX_WRITERS]) -> Result<(), String> {
        let bad = || format!("expected `ack <writer> <id> <sync|buffered>`, got {line:?}");
        let ["ack", w, id, kind] = line.split(' ').collect::<Vec<_>>()[..] else { return Err(bad()) };
        let w: usize = w.parse().ok().filter(|&w| w < MAX_WRITERS && active[w]).ok_or_else(bad)?;
        if id.parse::<u64>().ok() != Some(self.next[w]) {
            return Err(format!("writer {w}: expected the ack of batch {}, got {line:?}", self.next[w]));
        }
        match kind {
            "sync" => self.sync += 1,
            "buffered" => self.buffered += 1,
            _ => return Err(bad()),
        }
        self.next[w] += 1;
        Ok(())
    }
}

/// Collects the child's stderr on a thread (so a chatty child never blocks on a full pipe).
fn drain_stderr(child: &mut Child) -> JoinHandle<String> {
    let stderr = child.stderr.take();
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut s) = stderr {
            let _ = s.read_to_string(&mut text);
        }
        text
    })
}

/// The child: opens the database and runs its writers until it is killed, each reporting its
/// acknowledgements. Returns only on failure.
pub fn child_main(args: &ChildArgs) -> ExitCode {
    let options = match args.kill_at {
        None => args.knobs.options(),
        Some(boundary) => args.knobs.options_on(kill_point_fs(boundary)),
    };
    let db = match options.open(&args.dir) {
        Ok(db) => db,
        Err(e) => child_failed(&format!("open failed: {e}")),
    };
    std::thread::scope(|scope| {
        for w in 0..args.writers {
            let (db, seed) = (&db, args.seed ^ (w as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            scope.spawn(move || {
                if let Err(msg) = commit_forever(db, w, args.starts[w], seed) {
                    child_failed(&format!("writer {w}: {msg}"));
                }
            });
        }
    });
    ExitCode::SUCCESS
}

/// The real file system behind a gate that freezes at `boundary` after reporting the kill point
/// on stdout (one whole line, so it never interleaves with an ack).
#[cfg(feature = "whitebox")]
fn kill_point_fs(boundary: u64) -> std::sync::Arc<dyn cairn::Vfs> {
    use cairn_testkit::KillPointFs;
    KillPointFs::new(
        std::sync::Arc::new(cairn::RealFs),
        boundary,
        Box::new(|point| {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(format!("killpoint {point}\n").as_bytes()).and_then(|()| out.flush());
        }),
    )
}

#[cfg(not(feature = "whitebox"))]
fn kill_point_fs(_boundary: u64) -> std::sync::Arc<dyn cairn::Vfs> {
    child_failed("--kill-at needs a build with --features whitebox")
}

/// Reports a failure on stderr and ends the whole child (the parent reports the message).
fn child_failed(msg: &str) -> ! {
    eprintln!("cairn-stress child: {msg}");
    std::process::exit(CHILD_EXIT_FAILURE)
}

/// Writer `w`: commits its batches from `start` on, acknowledging each on stdout.
fn commit_forever(db: &Db, w: usize, start: u64, seed: u64) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    for id in start.. {
        let (durability, name) =
            if rng.chance(SYNC_PERCENT) { (Durability::Sync, "sync") } else { (Durability::Buffered, "buffered") };
        db.write_with(batch(w, id), durability).map_err(|e| format!("write of batch {id} failed: {e}"))?;
        // One write of one whole line under the stdout lock: a pipe write below PIPE_BUF is atomic.
        let line = format!("ack {w} {id} {name}\n");
        let mut out = std::io::stdout().lock();
        out.write_all(line.as_bytes()).and_then(|()| out.flush()).map_err(|e| format!("cannot report: {e}"))?;
        drop(out);
        if rng.chance(COMPACT_PERCENT) {
            db.compact().map_err(|e| format!("compaction after batch {id} failed: {e}"))?;
        }
    }
    Ok(())
}
