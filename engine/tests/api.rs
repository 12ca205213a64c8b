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

#[test]
fn iter_seek_repositions_within_the_bounds_on_the_same_view() {
    let dir = common::temp_dir("api-seek");
    let db = Options::default().memtable_size_bytes(4 << 10).open(&dir).expect("open");
    for i in 0..200u32 {
        db.put(format!("k{i:03}"), format!("v{i}")).expect("put");
    }
    db.flush().expect("flush");
    db.delete(b"k050").expect("delete");
    let keys = |it: &mut Iter, n: usize| -> Vec<String> {
        it.by_ref().take(n).map(|kv| String::from_utf8(kv.expect("next").0.to_vec()).expect("utf-8")).collect()
    };
    let mut it = db.range(b"k010".as_slice()..b"k100".as_slice());
    assert_eq!(keys(&mut it, 2), ["k010", "k011"]);
    // Forward, over a tombstone.
    it.seek(b"k049");
    assert_eq!(keys(&mut it, 3), ["k049", "k051", "k052"]);
    // Backward, below the lower bound: back to the range's start.
    it.seek(b"a");
    assert_eq!(keys(&mut it, 1), ["k010"]);
    // Between keys, and the back restarts at the upper bound.
    it.seek(b"k0985");
    assert_eq!(it.next_back().expect("back").expect("ok").0, &b"k099"[..]);
    assert!(it.next().is_none(), "front and back met");
    // At or past the upper bound: nothing.
    it.seek(b"k100");
    assert!(it.next().is_none() && it.next_back().is_none());
    // Writes after the iterator was created are not seen, even after a seek.
    db.put(b"k0205", b"new").expect("put");
    it.seek(b"k020");
    assert_eq!(keys(&mut it, 2), ["k020", "k021"]);
    // Exhausted, then sought again.
    it.seek(b"k090");
    assert_eq!(keys(&mut it, 100).len(), 10);
    it.seek(b"k095");
    assert_eq!(keys(&mut it, 100), ["k095", "k096", "k097", "k098", "k099"]);
    // An excluded lower bound stays excluded when the seek key equals it.
    let mut it = db.range::<&[u8], _>((std::ops::Bound::Excluded(&b"k010"[..]), std::ops::Bound::Unbounded));
    it.seek(b"k010");
    assert_eq!(keys(&mut it, 1), ["k011"]);
    drop(it);
    db.close().expect("close");
}
