//! Bad input on disk yields a typed error naming the file, never a panic and never a wrong
//! value: a corrupted data block, a truncated table, garbage in CURRENT, a missing table.

mod common;

use std::path::{Path, PathBuf};

use cairn::{Db, Error};

fn tables(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .collect();
    v.sort();
    v
}

/// A database of 2000 keys compacted into tables, closed.
fn build(name: &str) -> PathBuf {
    let dir = common::temp_dir(name);
    let db = Db::open(&dir).expect("open");
    for i in 0..2000u32 {
        db.put(format!("key{i:05}"), format!("value-{i}-{}", "x".repeat(50))).expect("put");
    }
    db.flush().expect("flush");
    db.close().expect("close");
    dir
}

fn expect_corruption(r: cairn::Result<impl std::fmt::Debug>, what: &str) -> Error {
    match r {
        Err(e @ Error::Corruption { .. }) => e,
        other => panic!("{what}: expected Corruption, got {other:?}"),
    }
}

#[test]
fn corrupted_data_block_is_detected_not_returned() {
    let dir = build("bad-block");
    let t = tables(&dir).pop().expect("a table");
    let mut bytes = std::fs::read(&t).expect("read table");
    // Flip a byte inside the first data block (just past the file header).
    bytes[200] ^= 0x40;
    std::fs::write(&t, &bytes).expect("write table");
    for use_mmap in [true, false] {
        let db = cairn::Options::default()
            .use_mmap(use_mmap)
            .open(&dir)
            .expect("open succeeds: blocks verify on first touch");
        let mut errors = 0;
        for i in 0..2000u32 {
            match db.get(format!("key{i:05}")) {
                Ok(Some(v)) => assert!(v.starts_with(format!("value-{i}-").as_bytes()), "wrong value for key {i}"),
                Ok(None) => panic!("key {i} silently missing"),
                Err(Error::Corruption { file, .. }) => {
                    assert_eq!(file, t, "corruption names the table");
                    errors += 1;
                }
                Err(e) => panic!("unexpected error {e}"),
            }
        }
        assert!(errors > 0, "the damaged block was never reported");
        let scan: Result<Vec<_>, _> = db.iter().collect();
        expect_corruption(scan, "scan");
        expect_corruption(db.check(), "check");
        db.close().expect("close");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn truncated_table_fails_open_with_corruption() {
    let dir = build("truncated");
    let t = tables(&dir).pop().expect("a table");
    let len = std::fs::metadata(&t).expect("stat").len();
    let f = std::fs::OpenOptions::new().write(true).open(&t).expect("open");
    f.set_len(len / 2).expect("truncate");
    drop(f);
    let e = expect_corruption(Db::open(&dir), "open truncated");
    assert!(e.to_string().contains(".sst"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn garbage_current_is_corruption_naming_current() {
    let dir = build("bad-current");
    std::fs::write(dir.join("CURRENT"), b"\x00garbage\xff").expect("write CURRENT");
    let e = expect_corruption(Db::open(&dir), "garbage CURRENT");
    match &e {
        Error::Corruption { file, .. } => assert!(file.ends_with("CURRENT"), "{e}"),
        _ => unreachable!(),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_current_with_data_files_is_corruption() {
    let dir = build("no-current");
    std::fs::remove_file(dir.join("CURRENT")).expect("remove CURRENT");
    expect_corruption(Db::open(&dir), "missing CURRENT");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_table_is_corruption() {
    let dir = build("missing-table");
    let t = tables(&dir).pop().expect("a table");
    std::fs::remove_file(&t).expect("remove table");
    expect_corruption(Db::open(&dir), "missing table");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn corrupted_wal_record_below_synced_offset_is_corruption() {
    let dir = common::temp_dir("bad-wal");
    let db = Db::open(&dir).expect("open");
    for i in 0..100u32 {
        let mut b = db.batch();
        b.put(format!("k{i}"), "v");
        db.write_with(b, cairn::Durability::Sync).expect("write");
    }
    drop(db); // a crash: the WAL is not flushed to a table
    let wal = std::fs::read_dir(&dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "wal") && std::fs::metadata(p).expect("stat").len() > 1000)
        .expect("a WAL with records");
    let mut bytes = std::fs::read(&wal).expect("read");
    bytes[100] ^= 0x01;
    std::fs::write(&wal, &bytes).expect("write");
    let e = expect_corruption(Db::open(&dir), "bit rot in synced WAL bytes");
    assert!(e.to_string().contains(".wal"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rot_in_last_record_after_clean_close_is_corruption() {
    let dir = common::temp_dir("rot-last");
    let db = Db::open(&dir).expect("open");
    for i in 0..3u32 {
        db.put(format!("k{i}"), "value").expect("put");
    }
    db.close().expect("close seals the WAL with a sync marker");
    drop(db);
    let wal = std::fs::read_dir(&dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .max_by_key(|p| std::fs::metadata(p).expect("stat").len())
        .expect("a WAL");
    let mut bytes = std::fs::read(&wal).expect("read");
    // The sync marker is the last 15 bytes (7-byte fragment header + 8-byte stamp); the byte
    // before it belongs to the last batch.
    let at = bytes.len() - 15 - 2;
    bytes[at] ^= 0x10;
    std::fs::write(&wal, &bytes).expect("write");
    expect_corruption(Db::open(&dir), "rot in the last batch before the sync marker");
    let _ = std::fs::remove_dir_all(&dir);
}
