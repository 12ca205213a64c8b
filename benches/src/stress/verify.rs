//! The checker: decides whether a recovered database is exactly the state after some prefix of
//! each writer's batches, finds those prefixes, and holds them to the bounds the crash allows.
//!
//! Owns the classification of what is wrong (G1 lost, G2 hole, G3 partial, phantom data, read
//! paths that disagree). It leaves `Db::check()` and reopening to the campaigns, and the batch
//! layout to [`workload`](super::workload).
//!
//! A writer's prefix is read off the data: one past its newest batch with any write present
//! (batch `p - 1` always has its keys live after `p` batches). The writer's keys must then equal
//! [`expected_live`]`(p)` exactly; forward scan, reverse scan, `get` and `multi_get` must all
//! agree; and `floor <= p <= ceiling`, where `floor` counts the batches that had to survive and
//! `ceiling` those that could possibly have been committed. Order across writers is the
//! campaigns' business (only they know which acknowledgement preceded which write).

use std::collections::BTreeMap;
use std::path::Path;

use cairn::{Db, Options};

use super::report::{Kind, Violation};
use super::workload::{
    HOT_KEYS, KEYS_PER_BATCH, Key, MAX_WRITERS, WINDOW_BATCHES, expected_hot, expected_live, key, parse_hot_value,
    parse_key, value,
};

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// One prefix per writer.
pub type Prefixes = [u64; MAX_WRITERS];

/// What one writer's prefix must satisfy: `floor <= prefix <= ceiling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Batches that had to survive.
    pub floor: u64,
    /// Batches that could have been committed at all.
    pub ceiling: u64,
}

impl Bounds {
    /// Exactly `prefix` batches, for writers that did not run and for reopens of a verified state.
    pub fn exactly(prefix: u64) -> Bounds {
        Bounds { floor: prefix, ceiling: prefix }
    }

    /// Exactly the given prefixes, per writer.
    pub fn all_exactly(prefixes: &Prefixes) -> [Bounds; MAX_WRITERS] {
        prefixes.map(Bounds::exactly)
    }
}

/// Opens the database in `dir` (G4), verifies it within `bounds` and runs `check()`. Returns the
/// open database (the caller closes or drops it) and the prefixes.
pub fn open_and_verify(
    options: Options,
    dir: &Path,
    bounds: &[Bounds; MAX_WRITERS],
) -> Result<(Db, Prefixes), Violation> {
    let db = options.open(dir).map_err(|e| Violation::new(Kind::FailedOpen, 1, format!("open failed: {e}")))?;
    let prefixes = verify(&db, bounds)?;
    db.check().map_err(|e| Violation::new(Kind::FailedCheck, 1, format!("check() failed: {e}")))?;
    Ok((db, prefixes))
}

/// Runs a full manual compaction on a verified `db` and verifies it again: compaction must not
/// change what is present (`prefixes`), and `check()` must pass on its output.
pub fn compact_and_verify(db: &Db, prefixes: &Prefixes) -> Result<(), Violation> {
    db.compact().map_err(|e| Violation::new(Kind::FailedCheck, 1, format!("compaction failed: {e}")))?;
    verify(db, &Bounds::all_exactly(prefixes)).map_err(|mut v| {
        v.detail.insert_str(0, "after a full compaction: ");
        v
    })?;
    db.check().map_err(|e| Violation::new(Kind::FailedCheck, 1, format!("check() after compaction failed: {e}")))?;
    Ok(())
}

/// Closes `db`, reporting a failure as a failed check.
pub fn close(db: &Db) -> Result<(), Violation> {
    db.close().map_err(|e| Violation::new(Kind::FailedCheck, 1, format!("close failed: {e}")))
}

/// Verifies `db` and returns each writer's prefix. REQUIRES: `floor <= ceiling` for each writer.
pub fn verify(db: &Db, bounds: &[Bounds; MAX_WRITERS]) -> Result<Prefixes, Violation> {
    let pairs = scan(db.iter(), "forward scan")?;
    let seen = Observed::parse(&pairs)?;
    let mut prefixes = [0; MAX_WRITERS];
    for (w, (seen, bounds)) in seen.iter().zip(bounds).enumerate() {
        prefixes[w] = seen.judge(bounds).map_err(|mut v| {
            v.detail.insert_str(0, &format!("writer {w}: "));
            v
        })?;
    }
    cross_check_reads(db, &pairs, &prefixes)?;
    Ok(prefixes)
}

/// Collects an iterator, turning a read error into a failed check.
fn scan(
    iter: impl Iterator<Item = cairn::Result<(cairn::Bytes, cairn::Bytes)>>,
    what: &str,
) -> Result<Pairs, Violation> {
    iter.map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())))
        .collect::<cairn::Result<Pairs>>()
        .map_err(|e| Violation::new(Kind::FailedCheck, 1, format!("{what} failed: {e}")))
}

/// What a scan found of one writer's keys.
#[derive(Debug, Default)]
struct Observed {
    /// Keys present per batch.
    counts: BTreeMap<u64, u64>,
    /// The batch each present hot key names, per slot.
    hot: BTreeMap<u64, u64>,
}

impl Observed {
    /// Sorts the pairs by writer and key; any key or value the workload never wrote is phantom
    /// data.
    fn parse(pairs: &Pairs) -> Result<[Observed; MAX_WRITERS], Violation> {
        let mut seen: [Observed; MAX_WRITERS] = Default::default();
        for (k, v) in pairs {
            let shown = |bytes: &[u8]| bytes.escape_ascii().to_string().chars().take(40).collect::<String>();
            let phantom = || Violation::new(Kind::Phantom, 1, format!("key {:?} holds {:?}", shown(k), shown(v)));
            let (w, parsed) = parse_key(k).ok_or_else(phantom)?;
            match parsed {
                Key::Batch { batch, j } if *v == value(w, batch, j) => *seen[w].counts.entry(batch).or_insert(0) += 1,
                Key::Hot { slot } => {
                    let batch = parse_hot_value(w, v).filter(|b| b % HOT_KEYS == slot).ok_or_else(phantom)?;
                    seen[w].hot.insert(slot, batch);
                }
                Key::Batch { .. } => return Err(phantom()),
            }
        }
        Ok(seen)
    }

    /// This writer's prefix, if its keys are exactly a prefix's state within `bounds`.
    fn judge(&self, bounds: &Bounds) -> Result<u64, Violation> {
        let prefix = self.newest_batch().map_or(0, |newest| newest + 1);
        if prefix > bounds.ceiling {
            return Err(Violation::new(
                Kind::Phantom,
                prefix - bounds.ceiling,
                format!("batch {} is present but at most {} batches were ever committed", prefix - 1, bounds.ceiling),
            ));
        }
        self.check_prefix_shape(prefix)?;
        if prefix < bounds.floor {
            return Err(Violation::new(
                Kind::Lost,
                bounds.floor - prefix,
                format!("{} batches had to survive but only {prefix} are present", bounds.floor),
            ));
        }
        Ok(prefix)
    }

    /// The newest batch with any write present.
    fn newest_batch(&self) -> Option<u64> {
        self.counts.keys().next_back().copied().max(self.hot.values().max().copied())
    }

    fn count(&self, batch: u64) -> u64 {
        self.counts.get(&batch).copied().unwrap_or(0)
    }

    /// Checks that the present writes are exactly those live after `prefix` batches, each batch
    /// whole. A partly applied batch is reported before a hole.
    fn check_prefix_shape(&self, prefix: u64) -> Result<(), Violation> {
        let live = expected_live(prefix);
        let (mut partial, mut holes) = (Vec::new(), Vec::new());
        for batch in live.clone() {
            match self.count(batch) {
                KEYS_PER_BATCH => {}
                0 => holes.push(format!("batch {batch} is missing below batch {}", prefix - 1)),
                n => partial.push(format!("batch {batch} has {n} of {KEYS_PER_BATCH} keys")),
            }
        }
        for (&batch, &n) in self.counts.range(..live.start) {
            let deleter = batch + WINDOW_BATCHES;
            if n < KEYS_PER_BATCH {
                let deleted = KEYS_PER_BATCH - n;
                partial
                    .push(format!("batch {deleter} deleted {deleted} of the {KEYS_PER_BATCH} keys of batch {batch}"));
            } else if !live.contains(&deleter) {
                holes.push(format!("batch {deleter} is missing (batch {batch}, which it deletes, is still present)"));
            } else if self.count(deleter) == KEYS_PER_BATCH {
                partial.push(format!("batch {deleter} is present without its deletion of batch {batch}"));
            }
            // Otherwise the deleter itself is missing or partial, which the loop above reported.
        }
        for slot in 0..HOT_KEYS {
            let (want, got) = (expected_hot(prefix, slot), self.hot.get(&slot).copied());
            // A wholly missing batch is already a hole; only a present batch's hot write can be partial.
            if want != got && want.is_none_or(|b| self.count(b) > 0) {
                partial.push(format!("hot key {slot} names batch {got:?}, not batch {want:?}"));
            }
        }
        let report = |kind, found: Vec<String>| {
            let detail = format!("{} (of {} such findings; prefix {prefix})", found[0], found.len());
            Violation::new(kind, found.len() as u64, detail)
        };
        match (partial.is_empty(), holes.is_empty()) {
            (false, _) => Err(report(Kind::Partial, partial)),
            (true, false) => Err(report(Kind::Hole, holes)),
            (true, true) => Ok(()),
        }
    }
}

/// Forward scan, reverse scan, `get` and `multi_get` must tell the same story; keys just outside
/// each writer's live window must be absent to point reads too.
fn cross_check_reads(db: &Db, forward: &Pairs, prefixes: &Prefixes) -> Result<(), Violation> {
    let disagree = |what: String| Violation::new(Kind::FailedCheck, 1, format!("read paths disagree: {what}"));
    let mut reverse = scan(db.iter().rev(), "reverse scan")?;
    reverse.reverse();
    if reverse != *forward {
        return Err(disagree(format!("reverse scan has {} pairs, forward {}", reverse.len(), forward.len())));
    }
    let read_err = |e: cairn::Error| Violation::new(Kind::FailedCheck, 1, format!("point read failed: {e}"));
    let keys: Vec<&Vec<u8>> = forward.iter().map(|(k, _)| k).collect();
    let many = db.multi_get(&keys).map_err(read_err)?;
    for ((k, v), got) in forward.iter().zip(many) {
        let single = db.get(k).map_err(read_err)?;
        if single.as_deref() != Some(v.as_slice()) || got.as_deref() != Some(v.as_slice()) {
            return Err(disagree(format!("get/multi_get of {:?}", k.escape_ascii().to_string())));
        }
    }
    for (w, &prefix) in prefixes.iter().enumerate() {
        let gone = expected_live(prefix).start.checked_sub(1);
        for batch in gone.into_iter().chain([prefix]) {
            for j in 0..KEYS_PER_BATCH {
                if db.get(key(w, batch, j)).map_err(read_err)?.is_some() {
                    return Err(disagree(format!("get finds writer {w} batch {batch} key {j}, which scans do not")));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::knobs::Knobs;
    use super::super::workload::{batch, hot_key, hot_value};
    use super::*;
    use cairn::WriteBatch;
    use cairn_testkit::{CrashFs, Rng};

    fn db_with(batches: impl IntoIterator<Item = WriteBatch>) -> Db {
        let knobs = Knobs::random(&mut Rng::new(1));
        let db = knobs.options_on(CrashFs::new()).open("/db").expect("open");
        for b in batches {
            db.write(b).expect("write");
        }
        db
    }

    /// Writer 0 within `floor..=ceiling`, the others absent.
    fn bounds(floor: u64, ceiling: u64) -> [Bounds; MAX_WRITERS] {
        let mut b = [Bounds::exactly(0); MAX_WRITERS];
        b[0] = Bounds { floor, ceiling };
        b
    }

    fn kind_of(r: Result<Prefixes, Violation>) -> Kind {
        r.expect_err("expected a violation").kind
    }

    #[test]
    fn a_clean_prefix_verifies_within_its_bounds() {
        let db = db_with((0..100).map(|i| batch(0, i)));
        db.flush().expect("flush");
        assert_eq!(verify(&db, &bounds(100, 101)), Ok([100, 0, 0, 0]));
        assert_eq!(verify(&db_with([]), &bounds(0, 0)), Ok([0; MAX_WRITERS]));
    }

    #[test]
    fn writers_are_verified_separately() {
        let db = db_with((0..40).flat_map(|i| [batch(0, i), batch(2, i / 2)]));
        let mut b = bounds(40, 40);
        b[2] = Bounds { floor: 15, ceiling: 25 };
        assert_eq!(verify(&db, &b), Ok([40, 0, 20, 0]));
        b[1] = Bounds::exactly(3);
        let v = verify(&db, &b).expect_err("writer 1 lost");
        assert_eq!((v.kind, v.batches), (Kind::Lost, 3));
        assert!(v.detail.starts_with("writer 1: "), "{v}");
    }

    #[test]
    fn compaction_keeps_a_verified_state() {
        let db = db_with((0..100).flat_map(|i| [batch(0, i), batch(3, i)]));
        assert_eq!(compact_and_verify(&db, &[100, 0, 0, 100]), Ok(()));
        let v = compact_and_verify(&db, &[100, 0, 0, 99]).expect_err("prefix 99 is not what is there");
        assert!(v.detail.starts_with("after a full compaction: writer 3: "), "{v}");
    }

    #[test]
    fn fewer_batches_than_the_floor_are_lost() {
        let v = verify(&db_with((0..50).map(|i| batch(0, i))), &bounds(60, 70)).expect_err("lost");
        assert_eq!((v.kind, v.batches), (Kind::Lost, 10));
    }

    #[test]
    fn more_batches_than_the_ceiling_are_phantoms() {
        assert_eq!(kind_of(verify(&db_with((0..50).map(|i| batch(0, i))), &bounds(0, 40))), Kind::Phantom);
        let db = db_with((0..3).map(|i| batch(0, i)));
        db.put(key(0, 1, 0), b"forged").expect("put");
        assert_eq!(kind_of(verify(&db, &bounds(0, 10))), Kind::Phantom);
        db.put(b"stray", b"x").expect("put");
        assert_eq!(kind_of(verify(&db, &bounds(0, 10))), Kind::Phantom);
    }

    #[test]
    fn a_batch_missing_a_key_is_partial() {
        let db = db_with((0..10).map(|i| batch(0, i)));
        db.delete(key(0, 5, 2)).expect("delete");
        assert_eq!(kind_of(verify(&db, &bounds(0, 10))), Kind::Partial);
    }

    #[test]
    fn a_stale_hot_key_is_partial() {
        let db = db_with((0..40).map(|i| batch(0, i)));
        db.put(hot_key(0, 39 % HOT_KEYS), hot_value(0, 39 - HOT_KEYS)).expect("put");
        let v = verify(&db, &bounds(0, 40)).expect_err("stale hot key");
        assert_eq!(v.kind, Kind::Partial, "{v}");
        assert!(v.detail.contains("hot key"), "{v}");
        db.put(hot_key(0, 1), hot_value(0, 2)).expect("put");
        assert_eq!(kind_of(verify(&db, &bounds(0, 40))), Kind::Phantom, "a hot value in the wrong slot");
    }

    #[test]
    fn a_batch_without_its_deletions_is_partial() {
        let mut only_puts = WriteBatch::new();
        for j in 0..KEYS_PER_BATCH {
            only_puts.put(key(0, 35, j), value(0, 35, j));
        }
        only_puts.put(hot_key(0, 35 % HOT_KEYS), hot_value(0, 35));
        let db = db_with((0..35).map(|i| batch(0, i)).chain([only_puts]).chain((36..40).map(|i| batch(0, i))));
        assert_eq!(kind_of(verify(&db, &bounds(0, 40))), Kind::Partial);
    }

    #[test]
    fn a_missing_batch_is_a_hole_in_the_window_and_long_after() {
        let db = db_with((0..8).filter(|&b| b != 5).map(|i| batch(0, i)));
        assert_eq!(kind_of(verify(&db, &bounds(0, 8))), Kind::Hole);
        let db = db_with((0..40).filter(|&b| b != 35).map(|i| batch(0, i)));
        let v = verify(&db, &bounds(0, 40)).expect_err("hole whose deletions are missing too");
        assert_eq!(v.kind, Kind::Hole, "{v}");
        let db = db_with((0..200).filter(|&b| b != 40).map(|i| batch(0, i)));
        db.compact().expect("compact");
        let v = verify(&db, &bounds(0, 200)).expect_err("hole");
        assert_eq!(v.kind, Kind::Hole, "{v}");
        assert!(v.detail.contains("batch 40 is missing"), "{v}");
    }
}
