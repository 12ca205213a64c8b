//! Scenario tests for `CrashFs`: what survives a crash, per mode, for data and directory entries.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_base::Error;
use cairn_base::vfs::Vfs;
use cairn_testkit::{CrashFs, CrashMode, Rng};
use proptest::prelude::*;

const RANDOM_MODES: [CrashMode; 2] = [CrashMode::KeepUnsyncedPrefix, CrashMode::TornGarbage];

fn db() -> PathBuf {
    PathBuf::from("/db")
}

fn fresh() -> Arc<CrashFs> {
    let fs = CrashFs::new();
    fs.create_dir_all(&db()).expect("mkdir");
    fs
}

/// Creates `name` in /db holding `data`, synced if asked; the directory is not synced.
fn write(fs: &CrashFs, name: &str, data: &[u8], sync: bool) {
    let mut f = fs.create(&db().join(name)).expect("create");
    f.append(data).expect("append");
    if sync {
        f.sync().expect("sync");
    }
    f.close().expect("close");
}

fn read(fs: &CrashFs, name: &str) -> Option<Vec<u8>> {
    let path = db().join(name);
    if !fs.exists(&path).expect("exists") {
        return None;
    }
    Some(fs.read_all(&path).expect("read"))
}

/// Every file in /db with its content.
fn dump(fs: &CrashFs) -> BTreeMap<String, Vec<u8>> {
    fs.file_names(&db()).into_iter().map(|n| (n.clone(), fs.read_all(&db().join(n)).expect("read"))).collect()
}

#[test]
fn drop_unsynced_loses_unsynced_appends_and_keeps_synced_ones() {
    let fs = fresh();
    let mut f = fs.create(&db().join("000001.wal")).expect("create");
    f.append(b"synced-").expect("append");
    f.sync().expect("sync");
    f.append(b"unsynced").expect("append");
    fs.sync_dir(&db()).expect("sync dir");
    let after = fs.crash(CrashMode::DropUnsynced, 1);
    assert_eq!(read(&after, "000001.wal").as_deref(), Some(&b"synced-"[..]));
    assert_eq!(read(&fs, "000001.wal").as_deref(), Some(&b"synced-unsynced"[..]), "the old fs is untouched");
}

#[test]
fn keep_all_keeps_everything_the_process_wrote() {
    let fs = fresh();
    write(&fs, "a", b"never synced", false);
    write(&fs, "b", b"synced", true);
    fs.rename(&db().join("b"), &db().join("c")).expect("rename");
    let after = fs.crash(CrashMode::KeepAll, 1);
    assert_eq!(dump(&after), dump(&fs));
    assert_eq!(after.file_names(&db()), vec!["a", "c"]);
}

#[test]
fn synced_file_whose_directory_entry_was_not_synced_vanishes() {
    let fs = fresh();
    write(&fs, "000002.sst", b"table", true);
    let after = fs.crash(CrashMode::DropUnsynced, 1);
    assert!(after.file_names(&db()).is_empty());
    let outcomes: BTreeSet<bool> =
        (0..32).map(|seed| fs.crash(CrashMode::KeepUnsyncedPrefix, seed).file_names(&db()).is_empty()).collect();
    assert_eq!(outcomes, BTreeSet::from([false, true]), "an un-synced create may or may not survive");
}

#[test]
fn sync_dir_makes_the_entry_durable_but_not_the_data() {
    let fs = fresh();
    write(&fs, "000003.log", b"data", false);
    fs.sync_dir(&db()).expect("sync dir");
    let after = fs.crash(CrashMode::DropUnsynced, 1);
    assert_eq!(read(&after, "000003.log").as_deref(), Some(&b""[..]));
}

#[test]
fn remove_without_dir_sync_comes_back() {
    let fs = fresh();
    write(&fs, "000004.sst", b"old table", true);
    fs.sync_dir(&db()).expect("sync dir");
    fs.remove_file(&db().join("000004.sst")).expect("remove");
    assert!(fs.file_names(&db()).is_empty());
    let after = fs.crash(CrashMode::DropUnsynced, 1);
    assert_eq!(read(&after, "000004.sst").as_deref(), Some(&b"old table"[..]));
    fs.sync_dir(&db()).expect("sync dir");
    assert!(fs.crash(CrashMode::DropUnsynced, 1).file_names(&db()).is_empty());
}

/// /db holds a durable CURRENT ("old") and a durable CURRENT.tmp ("new", synced), then the tmp
/// file is renamed over CURRENT without a directory sync.
fn renamed_current() -> Arc<CrashFs> {
    let fs = fresh();
    write(&fs, "CURRENT", b"old", true);
    write(&fs, "CURRENT.tmp", b"new", true);
    fs.sync_dir(&db()).expect("sync dir");
    fs.rename(&db().join("CURRENT.tmp"), &db().join("CURRENT")).expect("rename");
    fs
}

#[test]
fn rename_without_dir_sync_restores_old_name_and_old_target() {
    let fs = renamed_current();
    assert_eq!(fs.file_names(&db()), vec!["CURRENT"]);
    let after = fs.crash(CrashMode::DropUnsynced, 1);
    assert_eq!(read(&after, "CURRENT").as_deref(), Some(&b"old"[..]));
    assert_eq!(read(&after, "CURRENT.tmp").as_deref(), Some(&b"new"[..]), "synced data survives the lost rename");
}

#[test]
fn unsynced_rename_survives_whole_or_not_at_all() {
    let fs = renamed_current();
    let mut outcomes = BTreeSet::new();
    for mode in RANDOM_MODES {
        for seed in 0..64 {
            let state = dump(&fs.crash(mode, seed));
            let undone = BTreeMap::from([("CURRENT".into(), b"old".to_vec()), ("CURRENT.tmp".into(), b"new".to_vec())]);
            let done = BTreeMap::from([("CURRENT".into(), b"new".to_vec())]);
            assert!(state == undone || state == done, "{mode:?} seed {seed}: half a rename: {state:?}");
            outcomes.insert(state == done);
        }
    }
    assert_eq!(outcomes, BTreeSet::from([false, true]), "both outcomes occur");
}

#[test]
fn synced_data_survives_under_the_name_that_survives() {
    let fs = fresh();
    write(&fs, "MANIFEST-000005.tmp", b"", false);
    fs.sync_dir(&db()).expect("sync dir");
    let mut f = fs.create(&db().join("MANIFEST-000005.tmp")).expect("reopen for writing");
    f.append(b"edits").expect("append");
    f.sync().expect("sync");
    fs.rename(&db().join("MANIFEST-000005.tmp"), &db().join("MANIFEST-000005")).expect("rename");
    for seed in 0..16 {
        let after = fs.crash(CrashMode::KeepUnsyncedPrefix, seed);
        let contents: Vec<Vec<u8>> = dump(&after).into_values().collect();
        assert_eq!(contents, vec![b"edits".to_vec()], "seed {seed}");
    }
}

#[test]
fn truncated_file_comes_back_with_its_old_synced_content() {
    let fs = fresh();
    write(&fs, "LOG", b"old synced", true);
    fs.sync_dir(&db()).expect("sync dir");
    write(&fs, "LOG", b"new", false);
    assert_eq!(read(&fs.crash(CrashMode::DropUnsynced, 1), "LOG").as_deref(), Some(&b"old synced"[..]));
    assert_eq!(read(&fs.crash(CrashMode::KeepAll, 1), "LOG").as_deref(), Some(&b"new"[..]));
    write(&fs, "LOG", b"newer", true);
    assert_eq!(read(&fs.crash(CrashMode::DropUnsynced, 1), "LOG").as_deref(), Some(&b"newer"[..]));
}

#[test]
fn keep_unsynced_prefix_keeps_a_prefix_of_what_was_written() {
    let fs = fresh();
    let mut f = fs.create(&db().join("000006.wal")).expect("create");
    f.append(b"0123").expect("append");
    f.sync().expect("sync");
    f.append(b"456789").expect("append");
    fs.sync_dir(&db()).expect("sync dir");
    let mut lens = BTreeSet::new();
    for seed in 0..200 {
        let got = read(&fs.crash(CrashMode::KeepUnsyncedPrefix, seed), "000006.wal").expect("durable entry");
        assert!(got.len() >= 4 && b"0123456789".starts_with(&got), "seed {seed}: {got:?}");
        lens.insert(got.len());
    }
    assert_eq!(lens, (4..=10).collect(), "every prefix length occurs");
}

#[test]
fn torn_garbage_stays_within_the_written_sectors() {
    let fs = fresh();
    let mut synced = vec![0u8; 700];
    Rng::new(5).fill(&mut synced);
    let mut unsynced = vec![0u8; 1000];
    Rng::new(6).fill(&mut unsynced);
    let mut f = fs.create(&db().join("000007.wal")).expect("create");
    f.append(&synced).expect("append");
    f.sync().expect("sync");
    f.append(&unsynced).expect("append");
    write(&fs, "000008.sst", &synced, true);
    fs.sync_dir(&db()).expect("sync dir");
    let written = [synced.as_slice(), unsynced.as_slice()].concat();
    let mut saw_garbage = false;
    for seed in 0..200 {
        let after = fs.crash(CrashMode::TornGarbage, seed);
        let got = read(&after, "000007.wal").expect("durable entry");
        assert!(got.len() >= 700 && got.len() <= 1700_usize.next_multiple_of(512), "seed {seed}: len {}", got.len());
        assert_eq!(&got[..700], &synced[..], "seed {seed}: synced bytes are intact");
        let real_prefix = got.iter().zip(&written).take_while(|(a, b)| a == b).count();
        saw_garbage |= real_prefix < got.len();
        assert!(
            got.len() == 1700 || got.len().is_multiple_of(512),
            "seed {seed}: torn length {} off the sector grid",
            got.len()
        );
        assert_eq!(read(&after, "000008.sst"), Some(synced.clone()), "seed {seed}: a fully synced file is never torn");
    }
    assert!(saw_garbage);
}

#[test]
fn crash_is_deterministic_for_a_seed() {
    let fs = fresh();
    for i in 0..8u8 {
        write(&fs, &format!("f{i}"), &[i; 600], i % 2 == 0);
        if i == 3 {
            fs.sync_dir(&db()).expect("sync dir");
        }
    }
    fs.rename(&db().join("f0"), &db().join("g0")).expect("rename");
    for mode in [CrashMode::DropUnsynced, CrashMode::KeepUnsyncedPrefix, CrashMode::TornGarbage, CrashMode::KeepAll] {
        for seed in 0..8 {
            assert_eq!(dump(&fs.crash(mode, seed)), dump(&fs.crash(mode, seed)), "{mode:?} seed {seed}");
        }
    }
    let distinct: BTreeSet<_> = (0..8).map(|seed| dump(&fs.crash(CrashMode::TornGarbage, seed))).collect();
    assert!(distinct.len() > 1, "different seeds choose differently");
}

#[test]
fn crashed_fs_counts_everything_as_synced() {
    let fs = fresh();
    write(&fs, "a", b"unsynced", false);
    let once = fs.crash(CrashMode::KeepAll, 1);
    let twice = once.crash(CrashMode::DropUnsynced, 2);
    assert_eq!(read(&twice, "a").as_deref(), Some(&b"unsynced"[..]));
}

#[test]
fn old_handles_keep_working_but_are_detached() {
    let fs = fresh();
    let mut f = fs.create(&db().join("000009.wal")).expect("create");
    f.append(b"before").expect("append");
    f.sync().expect("sync");
    fs.sync_dir(&db()).expect("sync dir");
    let after = fs.crash(CrashMode::DropUnsynced, 1);
    f.append(b"-after").expect("append to the old fs");
    f.sync().expect("sync on the old fs");
    assert_eq!(read(&after, "000009.wal").as_deref(), Some(&b"before"[..]));
    assert_eq!(read(&fs, "000009.wal").as_deref(), Some(&b"before-after"[..]));
}

#[test]
fn lock_is_exclusive_in_process_until_dropped() {
    let fs = fresh();
    let lock_path = db().join("LOCK");
    let held = fs.lock(&lock_path).expect("first lock");
    assert!(matches!(fs.lock(&lock_path), Err(Error::Locked { .. })));
    assert!(fs.exists(&lock_path).expect("exists"), "taking the lock creates the file");
    let after = fs.crash(CrashMode::KeepAll, 1);
    drop(after.lock(&lock_path).expect("a crash releases every lock"));
    drop(held);
    drop(fs.lock(&lock_path).expect("relock after release"));
}

#[test]
fn open_and_map_see_a_snapshot() {
    let fs = fresh();
    let mut f = fs.create(&db().join("000010.sst")).expect("create");
    f.append(b"sealed").expect("append");
    let r = fs.open(&db().join("000010.sst")).expect("open");
    f.append(b" later").expect("append");
    assert_eq!(r.size_bytes(), 6);
    assert_eq!(r.map().expect("map").as_deref(), Some(&b"sealed"[..]));
    let mut buf = [0u8; 3];
    r.read_exact_at(&mut buf, 3).expect("read");
    assert_eq!(&buf, b"led");
    assert!(r.read_exact_at(&mut buf, 4).is_err(), "reading past the end fails");
    assert!(r.read_exact_at(&mut buf, u64::MAX).is_err());
    assert_eq!(r.path(), db().join("000010.sst"));
}

#[test]
fn errors_look_like_the_real_file_system() {
    let fs = fresh();
    let not_found = |r: cairn_base::Result<()>| matches!(r, Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound);
    assert!(not_found(fs.create(Path::new("/missing/f")).map(drop)));
    assert!(not_found(fs.open(&db().join("nope")).map(drop)));
    assert!(not_found(fs.rename(&db().join("nope"), &db().join("x"))));
    assert!(not_found(fs.remove_file(&db().join("nope"))));
    assert!(not_found(fs.list_dir(Path::new("/missing")).map(drop)));
    assert!(not_found(fs.sync_dir(Path::new("/missing"))));
    assert!(fs.create(&db()).is_err(), "a directory is not a file");
    write(&fs, "f", b"", false);
    assert!(fs.create_dir_all(&db().join("f").join("sub")).is_err(), "a file is not a directory");
    fs.rename(&db().join("f"), &db().join("f")).expect("renaming onto itself is a no-op");
    assert_eq!(fs.file_names(&db()), vec!["f"]);
}

#[test]
fn list_dir_shows_files_and_subdirectories_sorted() {
    let fs = fresh();
    fs.create_dir_all(&db().join("sub").join("deeper")).expect("mkdir");
    write(&fs, "b", b"", false);
    write(&fs, "a", b"", false);
    assert_eq!(fs.list_dir(&db()).expect("list"), vec!["a", "b", "sub"]);
    assert_eq!(fs.file_names(&db()), vec!["a", "b"]);
    assert!(fs.exists(&db().join("sub")).expect("exists"));
    assert_eq!(fs.list_dir(Path::new("/")).expect("list root"), vec!["db"]);
    let relative = CrashFs::new();
    let mut f = relative.create(Path::new("top")).expect("the current directory exists implicitly");
    f.append(b"x").expect("append");
    assert_eq!(relative.list_dir(Path::new("")).expect("list"), vec!["top"]);
}

/// One step of a random history in /db over a few names.
#[derive(Debug, Clone)]
enum Step {
    Write { name: u8, data: Vec<u8>, sync: bool },
    Rename { from: u8, to: u8 },
    Remove { name: u8 },
    SyncDir,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..4, proptest::collection::vec(any::<u8>(), 0..40), any::<bool>())
            .prop_map(|(name, data, sync)| Step::Write { name, data, sync }),
        2 => (0u8..4, 0u8..4).prop_map(|(from, to)| Step::Rename { from, to }),
        1 => (0u8..4).prop_map(|name| Step::Remove { name }),
        2 => Just(Step::SyncDir),
    ]
}

/// A file's content and its durable content, tracked independently of `CrashFs`.
#[derive(Debug, Clone)]
struct Object {
    data: Vec<u8>,
    durable: Vec<u8>,
    /// Re-created (truncated) since its last sync: `durable` need not be a prefix of `data`.
    truncated: bool,
}

impl Object {
    /// Whether a random-mode crash can leave `content` for this object.
    fn plausible(&self, mode: CrashMode, content: &[u8]) -> bool {
        let prefix_of_data = self.data.starts_with(content);
        match mode {
            CrashMode::KeepUnsyncedPrefix if self.truncated => content == self.durable || prefix_of_data,
            CrashMode::KeepUnsyncedPrefix => prefix_of_data && content.len() >= self.durable.len(),
            _ => {
                let max_len = self.data.len().max(self.durable.len()).next_multiple_of(512);
                content.len() <= max_len && (self.truncated || content.starts_with(&self.durable))
            }
        }
    }
}

/// The oracle: objects, and the names bound to them as the process sees them and durably.
#[derive(Debug, Default)]
struct Oracle {
    objects: Vec<Object>,
    live: BTreeMap<String, usize>,
    durable: BTreeMap<String, usize>,
}

impl Oracle {
    fn apply(&mut self, fs: &CrashFs, step: &Step) {
        match step {
            Step::Write { name, data, sync } => {
                let name = format!("n{name}");
                write(fs, &name, data, *sync);
                let id = match self.live.get(&name) {
                    Some(&id) => {
                        self.objects[id].truncated = true;
                        id
                    }
                    None => {
                        self.objects.push(Object { data: Vec::new(), durable: Vec::new(), truncated: false });
                        self.live.insert(name, self.objects.len() - 1);
                        self.objects.len() - 1
                    }
                };
                let object = &mut self.objects[id];
                object.data = data.clone();
                if *sync {
                    object.durable = data.clone();
                    object.truncated = false;
                }
            }
            Step::Rename { from, to } => {
                let (from, to) = (format!("n{from}"), format!("n{to}"));
                let done = fs.rename(&db().join(&from), &db().join(&to)).is_ok();
                assert_eq!(done, self.live.contains_key(&from));
                if let Some(id) = self.live.remove(&from) {
                    self.live.insert(to, id);
                }
            }
            Step::Remove { name } => {
                let name = format!("n{name}");
                assert_eq!(fs.remove_file(&db().join(&name)).is_ok(), self.live.remove(&name).is_some());
            }
            Step::SyncDir => {
                fs.sync_dir(&db()).expect("sync dir");
                self.durable = self.live.clone();
            }
        }
    }

    fn contents(&self, names: &BTreeMap<String, usize>, durable: bool) -> BTreeMap<String, Vec<u8>> {
        let pick = |o: &Object| if durable { o.durable.clone() } else { o.data.clone() };
        names.iter().map(|(n, &id)| (n.clone(), pick(&self.objects[id]))).collect()
    }
}

proptest! {
    #[test]
    fn crash_outcomes_match_an_independent_oracle(steps in proptest::collection::vec(step(), 0..30), seed in any::<u64>()) {
        let fs = fresh();
        let mut oracle = Oracle::default();
        for s in &steps {
            oracle.apply(&fs, s);
        }
        prop_assert_eq!(dump(&fs.crash(CrashMode::KeepAll, seed)), oracle.contents(&oracle.live, false));
        prop_assert_eq!(dump(&fs.crash(CrashMode::DropUnsynced, seed)), oracle.contents(&oracle.durable, true));
        for mode in RANDOM_MODES {
            for (name, content) in dump(&fs.crash(mode, seed)) {
                let candidates: Vec<&Object> =
                    [oracle.live.get(&name), oracle.durable.get(&name)].into_iter().flatten().map(|&id| &oracle.objects[id]).collect();
                prop_assert!(!candidates.is_empty(), "{:?}: {} exists nowhere", mode, name);
                prop_assert!(candidates.iter().any(|o| o.plausible(mode, &content)), "{:?}: {} has an impossible content", mode, name);
                let stable = oracle.live.get(&name) == oracle.durable.get(&name)
                    && candidates.iter().all(|o| o.data == o.durable);
                if stable {
                    prop_assert_eq!(&content, &candidates[0].data, "{:?}: durable, synced {} changed", mode, name);
                }
            }
        }
    }
}
