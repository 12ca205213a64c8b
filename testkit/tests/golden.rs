//! Golden fixtures: the random streams and crash outcomes that recorded seeds depend on.
//!
//! A failing seed frozen in some crate's regression test only replays the same run if `Rng` and
//! `CrashFs::crash` make the same choices forever. These tests compare today's output with the
//! files under `tests/fixtures/v1/`; set `CAIRN_REWRITE_FIXTURES=1` to regenerate them (and then
//! explain in the change why recorded seeds may replay differently).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use cairn_base::checksum::crc;
use cairn_base::vfs::Vfs;
use cairn_testkit::{CrashFs, CrashMode, Rng};

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1").join(name)
}

/// Compares `actual` with the fixture `name`, or rewrites it when asked.
fn check_fixture(name: &str, actual: &str) {
    let path = fixture_path(name);
    if std::env::var_os("CAIRN_REWRITE_FIXTURES").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("fixture has a parent")).expect("create fixture dir");
        std::fs::write(&path, actual).expect("write fixture");
        return;
    }
    let expected = std::fs::read_to_string(&path).expect("fixture exists (CAIRN_REWRITE_FIXTURES=1 creates it)");
    assert_eq!(actual, expected, "{} changed; recorded seeds would replay differently", path.display());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn rng_streams() -> String {
    let mut out = String::new();
    for seed in [0, 1, 42, u64::MAX] {
        let mut rng = Rng::new(seed);
        let words: Vec<String> = (0..3).map(|_| format!("{:016x}", rng.next_u64())).collect();
        let below: Vec<String> = (0..4).map(|_| rng.below(1000).to_string()).collect();
        let chances: String = (0..8).map(|_| if rng.chance(30) { '1' } else { '0' }).collect();
        let mut buf = [0u8; 12];
        rng.fill(&mut buf);
        writeln!(
            out,
            "seed {seed}: next_u64 {} below(1000) {} chance(30) {chances} fill {}",
            words.join(" "),
            below.join(" "),
            hex(&buf)
        )
        .expect("writing to a String cannot fail");
    }
    out
}

/// A fixed history touching every kind of un-synced state: unsynced tails, a truncation, an
/// un-synced create, remove and rename.
fn scripted_fs() -> std::sync::Arc<CrashFs> {
    let fs = CrashFs::new();
    let db = Path::new("/db");
    fs.create_dir_all(db).expect("mkdir");
    let mut wal = fs.create(&db.join("000001.wal")).expect("create");
    wal.append(&[0xa1; 300]).expect("append");
    wal.sync().expect("sync");
    wal.append(&[0xa2; 900]).expect("append");
    for (name, byte, sync) in [("000002.sst", 0xb0u8, true), ("CURRENT", 0xc0, true), ("LOG", 0xd0, true)] {
        let mut f = fs.create(&db.join(name)).expect("create");
        f.append(&[byte; 100]).expect("append");
        if sync {
            f.sync().expect("sync");
        }
    }
    fs.sync_dir(db).expect("sync dir");
    let mut log = fs.create(&db.join("LOG")).expect("re-create");
    log.append(&[0xd1; 40]).expect("append");
    let mut tmp = fs.create(&db.join("CURRENT.tmp")).expect("create");
    tmp.append(&[0xc1; 20]).expect("append");
    tmp.sync().expect("sync");
    fs.rename(&db.join("CURRENT.tmp"), &db.join("CURRENT")).expect("rename");
    fs.remove_file(&db.join("000002.sst")).expect("remove");
    let mut sst = fs.create(&db.join("000003.sst")).expect("create");
    sst.append(&[0xe0; 64]).expect("append");
    sst.sync().expect("sync");
    fs
}

fn crash_outcomes() -> String {
    let fs = scripted_fs();
    let mut out = String::new();
    let modes = [CrashMode::DropUnsynced, CrashMode::KeepUnsyncedPrefix, CrashMode::TornGarbage, CrashMode::KeepAll];
    for mode in modes {
        for seed in 0..4 {
            let after = fs.crash(mode, seed);
            let files: Vec<String> = after
                .file_names(Path::new("/db"))
                .into_iter()
                .map(|name| {
                    let data = after.read_all(&Path::new("/db").join(&name)).expect("read");
                    format!("{name}:{}:{:08x}", data.len(), crc(&data))
                })
                .collect();
            writeln!(out, "{mode:?} seed {seed}: {}", files.join(" ")).expect("writing to a String cannot fail");
        }
    }
    out
}

#[test]
fn rng_streams_match_the_golden_fixture() {
    check_fixture("rng_streams.txt", &rng_streams());
}

#[test]
fn crash_outcomes_match_the_golden_fixture() {
    check_fixture("crash_outcomes.txt", &crash_outcomes());
}
