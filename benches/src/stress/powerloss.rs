//! The power-loss campaign: in-process, writer threads commit batches on a [`CrashFs`] while the
//! main thread cuts the power at a random moment; the crashed image is reopened and verified
//! (DESIGN.md §8, "a file system that keeps unsynced data only in process memory").
//!
//! Owns the writer threads and the cycle: crash under a random [`CrashMode`] (drop unsynced data,
//! keep a random prefix of it, or tear it with garbage), reopen, verify, power-cut again right
//! after recovery, reopen twice more, and continue from the recovered prefixes on that image. It
//! leaves the bounds a crash allows to [`AckLog`] and judging the database to
//! [`verify`](super::verify).
//!
//! Timing of acknowledgements against the crash: writers record the start of each write and its
//! acknowledgement in the log, under its lock, and the crash is taken while holding that lock. So
//! every acknowledgement in the log happened before `crash()` was called (its sync, if any, is in
//! the image), and no batch the log does not show as started had been handed to the engine.
//! Buffered batches may be lost, but only as a suffix of the commit order (G2).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cairn::{Db, Durability, Vfs};
use cairn_testkit::{CrashFs, CrashMode, Rng};

use super::ack_log::AckLog;
use super::args::{Campaign, Mode};
use super::knobs::Knobs;
use super::report::{Failure, Kind, Summary, Tally, Violation};
use super::verify::{Bounds, Prefixes, close, compact_and_verify, open_and_verify};
use super::workload::{MAX_WRITERS, batch};

/// The database directory inside the crash-emulating file system.
const DB_DIR: &str = "/stress/db";
/// Most batches acknowledged before the power is cut (drawn uniformly from `0..=`).
const CRASH_AFTER_ACKS_MAX: u64 = 300;
/// Longest extra wait before the cut, in microseconds, so it lands at any point of a commit.
const CRASH_JITTER_US_MAX: u64 = 2_000;
/// Percentage of cycles that cut the power within [`EARLY_JITTER_US_MAX`] of starting the
/// writer, while it is still opening (recovering) the database.
const EARLY_CRASH_PERCENT: u32 = 10;
const EARLY_JITTER_US_MAX: u64 = 400;
/// How long the writer may take to reach its target before the power is cut anyway.
const WRITER_PATIENCE: Duration = Duration::from_secs(20);
/// Percentage of batches committed with `Sync`, drawn per cycle: mostly the kill campaign's 70,
/// sometimes few, so long runs of buffered batches sit unsynced when the power goes.
const SYNC_PERCENTS: [u32; 4] = [70, 70, 30, 5];
/// Percentage of cycles that stop the writers and close the database as the power goes.
const CLOSE_BEFORE_CRASH_PERCENT: u32 = 15;
/// Percentage of cycles whose recovered database is also fully compacted and verified again.
const COMPACT_AFTER_RECOVERY_PERCENT: u32 = 10;
/// Writer threads, drawn per cycle.
const WRITER_COUNTS: [usize; 4] = [1, 1, 2, 4];
/// Percentages per batch: followed by `Db::sync()`; by `Db::compact()`.
const DB_SYNC_PERCENT: u32 = 2;
const COMPACT_PERCENT: u32 = 1;
/// The crash modes drawn from, and the counter each one is tallied under.
const CRASH_MODES: [(CrashMode, &str); 3] = [
    (CrashMode::DropUnsynced, "crashes_drop_unsynced"),
    (CrashMode::KeepUnsyncedPrefix, "crashes_keep_unsynced_prefix"),
    (CrashMode::TornGarbage, "crashes_torn_garbage"),
];

/// Runs the power-loss campaign.
pub fn run(campaign: &Campaign) -> Result<Summary, Failure> {
    let mut summary = Summary::new(Mode::PowerLoss, campaign.seed);
    let mut rng = Rng::new(campaign.seed);
    let mut fs = CrashFs::new();
    let mut present = [0; MAX_WRITERS];
    for cycle in 0..campaign.cycles {
        let plan = Plan::draw(&mut rng);
        match run_cycle(&fs, present, &plan, &mut summary.tally) {
            Ok((image, prefixes)) => (fs, present) = (image, prefixes),
            Err((violation, image)) => {
                eprintln!("cairn-stress: cycle {cycle} ran with {plan}");
                if let (Some(dir), Some(image)) = (&campaign.dir, image) {
                    save_image(&image, dir);
                }
                return Err(Failure::violation(summary, cycle, violation));
            }
        }
        summary.tally.cycles += 1;
        summary.tally.present = present.iter().sum();
    }
    Ok(summary)
}

/// What one cycle does, drawn from the campaign's generator.
#[derive(Debug)]
struct Plan {
    writer_knobs: Knobs,
    reopen_knobs: Knobs,
    writers: usize,
    writer_seed: u64,
    sync_percent: u32,
    crash_after_acks: u64,
    jitter_us: u64,
    crash_mode: usize,
    crash_seed: u64,
    second_crash_seed: u64,
    /// Whether the writers stop and the database is closed before the power goes (the cut may
    /// land during the close).
    close_before_crash: bool,
    /// Whether the first reopen of the second image runs a full compaction and verifies again.
    compact_after_recovery: bool,
    /// Whether the last reopen closes the database (else it is dropped, and the next cycle opens
    /// a database whose last session ended without `close`).
    close_last: bool,
}

impl Plan {
    fn draw(rng: &mut Rng) -> Plan {
        let early = rng.chance(EARLY_CRASH_PERCENT);
        Plan {
            writer_knobs: Knobs::random(rng),
            reopen_knobs: Knobs::random(rng),
            writers: WRITER_COUNTS[rng.below(WRITER_COUNTS.len() as u64) as usize],
            writer_seed: rng.next_u64(),
            sync_percent: SYNC_PERCENTS[rng.below(SYNC_PERCENTS.len() as u64) as usize],
            crash_after_acks: if early { 0 } else { rng.between(0, CRASH_AFTER_ACKS_MAX) },
            jitter_us: rng.between(0, if early { EARLY_JITTER_US_MAX } else { CRASH_JITTER_US_MAX }),
            crash_mode: rng.below(CRASH_MODES.len() as u64) as usize,
            crash_seed: rng.next_u64(),
            second_crash_seed: rng.next_u64(),
            close_before_crash: rng.chance(CLOSE_BEFORE_CRASH_PERCENT),
            compact_after_recovery: rng.chance(COMPACT_AFTER_RECOVERY_PERCENT),
            close_last: rng.chance(50),
        }
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} writers [{}] {}% sync, {:?} after {} acks{} + {} us, reopen [{}]{} then {}",
            self.writers,
            self.writer_knobs,
            self.sync_percent,
            CRASH_MODES[self.crash_mode].0,
            self.crash_after_acks,
            if self.close_before_crash { " and a close" } else { "" },
            self.jitter_us,
            self.reopen_knobs,
            if self.compact_after_recovery { " and compact" } else { "" },
            if self.close_last { "close" } else { "drop" }
        )
    }
}

/// What the writer threads and the crashing thread share.
#[derive(Debug)]
struct Shared {
    log: Mutex<AckLog>,
    stop: AtomicBool,
}

impl Shared {
    /// The log. A poisoned lock is still read: the writer's panic is reported by `join`, and a
    /// half-done update only understates what must survive, which never makes a check pass wrongly.
    fn log(&self) -> MutexGuard<'_, AckLog> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A failed cycle: the violation, and the crashed image before recovery (to save for inspection).
type CycleFailure = (Violation, Option<Arc<CrashFs>>);

/// One cycle on `fs`, writers continuing from `start`. Returns the image the next cycle runs on
/// and the prefixes.
fn run_cycle(
    fs: &Arc<CrashFs>,
    start: Prefixes,
    plan: &Plan,
    tally: &mut Tally,
) -> Result<(Arc<CrashFs>, Prefixes), CycleFailure> {
    let shared = Arc::new(Shared { log: Mutex::new(AckLog::new(start)), stop: AtomicBool::new(false) });
    let session = spawn_session(fs.clone(), plan, start, shared.clone());
    wait_for_acks(&shared, plan.crash_after_acks, &session);
    if plan.close_before_crash {
        // The writers stop and the session closes the database while the power goes.
        shared.stop.store(true, Ordering::Release);
    }
    std::thread::sleep(Duration::from_micros(plan.jitter_us));
    let (mode, mode_name) = CRASH_MODES[plan.crash_mode];
    let (image, log) = {
        let log = shared.log();
        (fs.crash(mode, plan.crash_seed), log.clone())
    };
    shared.stop.store(true, Ordering::Release);
    let written = session.join().unwrap_or_else(|_| Err("a writer thread panicked".to_string()));
    written.map_err(|msg| (Violation::new(Kind::Workload, 1, msg), None))?;
    tally.acked += log.acked_total();
    tally.count(mode_name, 1);
    tally.count("sync_acks", log.sync_acks);
    tally.count("buffered_acks", log.buffered_acks);
    tally.count("db_syncs", log.db_syncs);
    tally.count("crashes_during_open", u64::from(!log.opened));
    tally.count("crashes_after_close", u64::from(log.closed));
    // Recovery rewrites the image; keep the crashed state as it was for inspection.
    let pristine = image.crash(CrashMode::KeepAll, 0);
    let (next, prefixes) = recover(&image, &log, plan).map_err(|v| (v, Some(pristine)))?;
    tally.verified += log.durable_total();
    tally.count("unsynced_batches_lost", log.lost_total(&prefixes));
    Ok((next, prefixes))
}

/// Opens the database on a thread (so the power can go while recovery runs), runs the writers on
/// it until told to stop, and closes it (the power may go during the close, or have gone before).
fn spawn_session(
    fs: Arc<CrashFs>,
    plan: &Plan,
    start: Prefixes,
    shared: Arc<Shared>,
) -> JoinHandle<Result<(), String>> {
    let (knobs, writers, seed, sync_percent) = (plan.writer_knobs, plan.writers, plan.writer_seed, plan.sync_percent);
    std::thread::spawn(move || {
        let db = knobs.options_on(fs).open(DB_DIR).map_err(|e| format!("open failed: {e}"))?;
        shared.log().opened = true;
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..writers)
                .map(|w| {
                    let (db, shared) = (&db, &shared);
                    let seed = seed ^ (w as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    scope.spawn(move || write_until_stopped(db, w, start[w], (seed, sync_percent), shared))
                })
                .collect();
            handles.into_iter().try_for_each(|h| h.join().unwrap_or_else(|_| Err("a writer panicked".to_string())))
        })?;
        db.close().map_err(|e| format!("close failed: {e}"))?;
        shared.log().closed_cleanly();
        Ok(())
    })
}

/// Writer `w`: commits its batches from `start` on until told to stop.
fn write_until_stopped(
    db: &Db,
    w: usize,
    start: u64,
    (seed, sync_percent): (u64, u32),
    shared: &Shared,
) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    for id in start.. {
        if shared.stop.load(Ordering::Acquire) {
            break;
        }
        let sync = rng.chance(sync_percent);
        let acked_before = shared.log().start(w, id);
        let durability = if sync { Durability::Sync } else { Durability::Buffered };
        db.write_with(batch(w, id), durability).map_err(|e| format!("writer {w}: batch {id} failed: {e}"))?;
        shared.log().acknowledge(w, id, sync, &acked_before);
        if rng.chance(DB_SYNC_PERCENT) {
            let acked = shared.log().acked();
            db.sync().map_err(|e| format!("writer {w}: sync after batch {id} failed: {e}"))?;
            shared.log().synced(&acked);
        }
        if rng.chance(COMPACT_PERCENT) {
            db.compact().map_err(|e| format!("writer {w}: compaction after batch {id} failed: {e}"))?;
        }
    }
    Ok(())
}

/// Waits until `target` batches are acknowledged, the writers stop, or patience runs out.
fn wait_for_acks(shared: &Shared, target: u64, session: &JoinHandle<Result<(), String>>) {
    let deadline = Instant::now() + WRITER_PATIENCE;
    while shared.log().acked_total() < target && !session.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Reopens the crashed image and verifies it against the log; then cuts the power again right
/// after recovery (what recovery showed must be durable by the time `open` returns, or a later
/// write could land after a hole) and reopens that image twice (compacting it in some cycles).
/// Returns the final image and the prefixes.
fn recover(image: &Arc<CrashFs>, log: &AckLog, plan: &Plan) -> Result<(Arc<CrashFs>, Prefixes), Violation> {
    let dir = Path::new(DB_DIR);
    let opts = |fs: &Arc<CrashFs>| plan.reopen_knobs.options_on(fs.clone() as Arc<dyn Vfs>);
    let (db, prefixes) = open_and_verify(opts(image), dir, &log.bounds())?;
    log.check_order(&prefixes)?;
    let again = image.crash(CrashMode::DropUnsynced, plan.second_crash_seed);
    drop(db);
    let exactly = Bounds::all_exactly(&prefixes);
    for (round, last) in [("after a power cut right after recovery", false), ("on a second reopen", true)] {
        let (db, _) = open_and_verify(opts(&again), dir, &exactly).map_err(|mut v| {
            v.detail = format!("{round}: {} (prefixes {prefixes:?} at the first reopen)", v.detail);
            v
        })?;
        if !last && plan.compact_after_recovery {
            compact_and_verify(&db, &prefixes)?;
        }
        if !last || plan.close_last {
            close(&db)?;
        }
    }
    Ok((again, prefixes))
}

/// Copies the files of a failed image to `dir` so `cairn dump` can inspect them.
fn save_image(image: &CrashFs, dir: &Path) {
    let saved = std::fs::create_dir_all(dir).and_then(|()| {
        for name in image.file_names(Path::new(DB_DIR)) {
            let data = image.read_all(&Path::new(DB_DIR).join(&name)).map_err(std::io::Error::from)?;
            std::fs::write(dir.join(&name), data)?;
        }
        Ok(())
    });
    match saved {
        Ok(()) => eprintln!("cairn-stress: crashed image saved in {}", dir.display()),
        Err(e) => eprintln!("cairn-stress: could not save the crashed image in {}: {e}", dir.display()),
    }
}
