//! The public API of DESIGN §3, exercised as a user writes it: handles are cheap
//! `Clone + Send + Sync`, iterators are `Send` and double-ended, every method exists with the
//! documented shape and behaves as documented on a small database.

mod common;

use bytes::Bytes;
use cairn::{Db, Durability, Error, Iter, Options, Snapshot};

fn assert_handle<T: Clone + Send + Sync + 'static>() {}
fn assert_send<T: Send + 'static>() {}

#[test]
fn handles_are_clone_send_sync_and_iterators_send() {
    assert_handle::<Db>();
    assert_handle::<Snapshot>();
    assert_send::<Iter>();
    assert_send::<Error>();
    let _: fn(Error) -> std::io::Error = std::io::Error::from;
}

#[test]
fn design_api_round_trip() {
    let dir = common::temp_dir("api");
    let db = Options::default().cache_size_bytes(8 << 20).open(&dir).expect("open");
    db.put(b"k", b"v").expect("put");
    let v: Option<Bytes> = db.get(b"k").expect("get");
    assert_eq!(v.as_deref(), Some(&b"v"[..]));
    assert!(db.contains_key(b"k").expect("contains"));
    let vs: Vec<Option<Bytes>> = db.multi_get([b"k", b"x"]).expect("multi_get");
    assert_eq!(vs, vec![Some(Bytes::from_static(b"v")), None]);
    db.delete(b"k").expect("delete");
    assert!(!db.contains_key(b"k").expect("contains"));

    let mut batch = db.batch();
    batch.put(b"a", b"1");
    batch.put(b"user:1", b"ada");
    batch.put(b"user:2", b"grace");
    batch.delete(b"b");
    db.write(batch).expect("write");
    let mut batch2 = db.batch();
    batch2.put(b"m", b"2");
    db.write_with(batch2, Durability::Sync).expect("write_with");

    let in_range: Vec<_> = common::collect(db.range(b"a".as_slice()..b"m".as_slice()));
    assert_eq!(in_range, vec![(b"a".to_vec(), b"1".to_vec())]);
    let users: Vec<_> = common::collect(db.prefix(b"user:").rev());
    assert_eq!(users[0].0, b"user:2");
    assert_eq!(db.iter().count(), 4);

    let snap = db.snapshot();
    db.put(b"a", b"changed").expect("put");
    assert_eq!(snap.get(b"a").expect("snap get").as_deref(), Some(&b"1"[..]));
    assert_eq!(common::collect(snap.prefix(b"user:")).len(), 2);
    assert_eq!(snap.clone().iter().count(), 4);

    db.sync().expect("sync");
    db.flush().expect("flush");
    db.compact().expect("compact");
    let m = db.metrics();
    assert!(m.flushes >= 1);
    assert!(m.to_string().contains("L0"), "metrics table:\n{m}");
    let report = db.check().expect("check");
    assert!(report.tables >= 1 && report.entries >= 4, "{report}");
    let clone = db.clone();
    let open_iter = db.iter();
    db.close().expect("close");
    assert!(matches!(clone.get(b"a"), Err(Error::Closed)));
    assert!(matches!(snap.get(b"a"), Err(Error::Closed)));
    assert!(matches!(clone.put(b"a", b"b"), Err(Error::Closed)));
    // An iterator opened before close keeps reading what it pinned.
    assert_eq!(common::collect(open_iter).len(), 4);
    drop(snap);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn oversized_key_is_invalid_argument() {
    let dir = common::temp_dir("api-oversize");
    let db = Db::open(&dir).expect("open");
    let e = db.put(vec![0u8; cairn::MAX_KEY_BYTES + 1], b"v").expect_err("too big");
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e:?}");
    db.close().expect("close");
    let _ = std::fs::remove_dir_all(&dir);
}
