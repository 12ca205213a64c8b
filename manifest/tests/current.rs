//! `CURRENT` on a real directory: the switch protocol round trips, a missing file reads as
//! `None`, and anything but `MANIFEST-NNNNNN\n` is corruption naming `CURRENT`.

mod common;

use cairn_base::filename::{current_path, current_temp_path};
use cairn_base::vfs::RealFs;
use cairn_base::{Error, FileNum};
use cairn_manifest::{read_current, set_current};
use common::TempDir;

#[test]
fn missing_current_is_none() {
    let dir = TempDir::new("current-missing");
    assert_eq!(read_current(&RealFs, dir.path()).expect("read"), None);
}

#[test]
fn set_then_read_round_trips_and_switches() {
    let dir = TempDir::new("current-switch");
    set_current(&RealFs, dir.path(), FileNum(3)).expect("set");
    assert_eq!(read_current(&RealFs, dir.path()).expect("read"), Some(FileNum(3)));
    assert_eq!(std::fs::read(current_path(dir.path())).expect("content"), b"MANIFEST-000003\n");
    set_current(&RealFs, dir.path(), FileNum(1_234_567)).expect("switch");
    assert_eq!(read_current(&RealFs, dir.path()).expect("read"), Some(FileNum(1_234_567)));
    assert!(!current_temp_path(dir.path()).exists(), "the temp file was renamed away");
}

#[test]
fn stale_temp_file_is_ignored_and_replaced() {
    let dir = TempDir::new("current-stale-temp");
    std::fs::write(current_temp_path(dir.path()), b"half-written garbage").expect("stale temp");
    assert_eq!(read_current(&RealFs, dir.path()).expect("read"), None);
    set_current(&RealFs, dir.path(), FileNum(8)).expect("set");
    assert_eq!(read_current(&RealFs, dir.path()).expect("read"), Some(FileNum(8)));
}

#[test]
fn garbage_current_is_corruption_naming_current() {
    let dir = TempDir::new("current-garbage");
    let path = current_path(dir.path());
    let long = vec![b'9'; 100];
    let cases: [&[u8]; 7] =
        [b"", b"MANIFEST-000003", b"MANIFEST-3\n", b"000003.sst\n", b"MANIFEST-000003\n\n", b"\xff\xfe\n", &long];
    for content in cases {
        std::fs::write(&path, content).expect("write CURRENT");
        match read_current(&RealFs, dir.path()) {
            Err(Error::Corruption { file, offset, .. }) => {
                assert_eq!(file, path, "{content:?}");
                assert_eq!(offset, 0);
            }
            other => panic!("{content:?}: unexpected {other:?}"),
        }
    }
}
