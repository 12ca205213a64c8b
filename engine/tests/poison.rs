//! Fail-stop on write faults (G6), through a fault-injecting `Vfs`: a failed WAL append or
//! fsync, or a failed manifest write, fails the caller, poisons the database (later writes
//! return `Poisoned`), leaves reads working, and a reopen recovers every acknowledged write.
//! ENOSPC is reported as `NoSpace`.

mod common;

use std::sync::Arc;

use cairn::{Db, Durability, Error};
use cairn_testkit::fault::{Fault, FaultFs, FaultRule, OpKind, Trigger};

fn open(dir: &std::path::Path, fs: &Arc<FaultFs>) -> Db {
    common::tiny_options().memtable_size_bytes(64 << 10).vfs(fs.clone()).open(dir).expect("open")
}

fn write_acked(db: &Db, from: u64, to: u64) {
    for i in from..to {
        let mut b = db.batch();
        b.put(format!("k{i:05}"), format!("v{i}"));
        b.put(format!("m{i:05}"), format!("v{i}"));
        db.write_with(b, Durability::Sync).expect("acknowledged write");
    }
}

/// Reopens on the real file system and checks every acknowledged batch is present, and any
/// later batch is whole or absent.
fn verify_after_reopen(dir: &std::path::Path, acked: u64, attempted: u64) {
    let db = common::tiny_options().open(dir).expect("reopen after fault");
    db.check().expect("check");
    for i in 0..attempted {
        let k = db.get(format!("k{i:05}")).expect("get");
        let m = db.get(format!("m{i:05}")).expect("get");
        assert_eq!(k.is_some(), m.is_some(), "batch {i} half applied");
        if i < acked {
            assert_eq!(k.as_deref(), Some(format!("v{i}").as_bytes()), "acknowledged batch {i} lost");
        }
    }
    db.close().expect("close");
}

fn assert_poisoned(db: &Db) {
    match db.put("x", "y") {
        Err(Error::Poisoned { .. }) => {}
        other => panic!("expected Poisoned, got {other:?}"),
    }
    assert!(db.metrics().poisoned);
}

#[test]
fn wal_fsync_failure_poisons_and_loses_nothing_acknowledged() {
    let dir = common::temp_dir("poison-fsync");
    let fs = FaultFs::new(Arc::new(cairn::RealFs));
    let db = open(&dir, &fs);
    write_acked(&db, 0, 50);
    fs.add_rule(FaultRule::new(Fault::Eio, Trigger::Nth(0)).only([OpKind::Sync]).on_path(".wal"));
    let mut b = db.batch();
    b.put("k00050", "v50");
    b.put("m00050", "v50");
    let err = db.write_with(b, Durability::Sync).expect_err("fsync fault must fail the write");
    assert!(matches!(err, Error::Io { op: "fsync", .. }), "{err:?}");
    assert_poisoned(&db);
    // Reads keep working.
    assert_eq!(db.get("k00049").expect("read after poison").as_deref(), Some(&b"v49"[..]));
    drop(db);
    fs.clear();
    verify_after_reopen(&dir, 50, 51);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn wal_enospc_is_no_space_and_poisons() {
    let dir = common::temp_dir("poison-enospc");
    let fs = FaultFs::new(Arc::new(cairn::RealFs));
    let db = open(&dir, &fs);
    write_acked(&db, 0, 20);
    fs.add_rule(FaultRule::new(Fault::NoSpace, Trigger::Nth(0)).only([OpKind::Append]).on_path(".wal"));
    let err = db.put("k00020", "v20").expect_err("ENOSPC must fail the write");
    assert!(err.is_no_space(), "{err:?}");
    assert!(matches!(err, Error::NoSpace { .. }), "{err:?}");
    assert_poisoned(&db);
    drop(db);
    fs.clear();
    verify_after_reopen(&dir, 20, 20);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn short_wal_write_is_torn_tail_after_reopen() {
    let dir = common::temp_dir("poison-short");
    let fs = FaultFs::new(Arc::new(cairn::RealFs));
    let db = open(&dir, &fs);
    write_acked(&db, 0, 30);
    fs.add_rule(FaultRule::new(Fault::ShortWrite, Trigger::Nth(0)).only([OpKind::Append]).on_path(".wal"));
    let mut b = db.batch();
    b.put("k00030", "v30");
    b.put("m00030", "v30");
    db.write_with(b, Durability::Sync).expect_err("short write must fail");
    assert_poisoned(&db);
    drop(db);
    fs.clear();
    verify_after_reopen(&dir, 30, 31);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn manifest_failure_during_flush_poisons() {
    let dir = common::temp_dir("poison-manifest");
    let fs = FaultFs::new(Arc::new(cairn::RealFs));
    let db = open(&dir, &fs);
    write_acked(&db, 0, 40);
    fs.add_rule(FaultRule::new(Fault::Eio, Trigger::Always).only([OpKind::Sync, OpKind::Append]).on_path("MANIFEST"));
    let err = db.flush().expect_err("flush must fail when the manifest cannot be written");
    assert!(matches!(err, Error::Io { .. } | Error::Poisoned { .. }), "{err:?}");
    assert_poisoned(&db);
    assert_eq!(db.get("k00039").expect("read").as_deref(), Some(&b"v39"[..]));
    drop(db);
    fs.clear();
    verify_after_reopen(&dir, 40, 40);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn table_write_enospc_during_flush_is_retried_without_poisoning() {
    let dir = common::temp_dir("flush-enospc");
    let fs = FaultFs::new(Arc::new(cairn::RealFs));
    let db = open(&dir, &fs);
    write_acked(&db, 0, 40);
    fs.add_rule(FaultRule::new(Fault::NoSpace, Trigger::Always).only([OpKind::Append]).on_path(".sst"));
    let err = db.flush().expect_err("flush must report ENOSPC");
    assert!(err.is_no_space(), "{err:?}");
    // Writes still work (into the WAL) and so do reads.
    db.put("after", "enospc").expect("write while flush fails");
    assert_eq!(db.get("k00010").expect("read").as_deref(), Some(&b"v10"[..]));
    // Space comes back: the retried flush succeeds.
    fs.clear();
    db.flush().expect("flush after space returns");
    assert!(!db.metrics().poisoned);
    db.close().expect("close");
    verify_after_reopen(&dir, 40, 40);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn second_open_is_locked() {
    let dir = common::temp_dir("locked");
    let db = Db::open(&dir).expect("open");
    match Db::open(&dir) {
        Err(Error::Locked { .. }) => {}
        other => panic!("expected Locked, got {other:?}"),
    }
    db.close().expect("close");
    let again = Db::open(&dir).expect("open after close");
    again.close().expect("close");
    let _ = std::fs::remove_dir_all(&dir);
}
