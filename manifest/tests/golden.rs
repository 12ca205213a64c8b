//! Golden fixture `tests/fixtures/v1/`: a `MANIFEST-000001` holding the sample history and a
//! `CURRENT` naming it, as written by format v1. Today's writer must produce exactly these bytes,
//! and today's reader must read them to exactly the pinned state. Older fixtures stay readable
//! forever. `CAIRN_REWRITE_FIXTURES=1` regenerates the fixture (only for a deliberate format
//! change, with a new `vN` directory).

mod common;

use std::path::{Path, PathBuf};

use cairn_base::filename::{current_path, manifest_path};
use cairn_base::vfs::RealFs;
use cairn_base::{FileNum, SeqNum};
use cairn_manifest::{ManifestWriter, read_current, read_manifest, set_current};
use common::{TempDir, sample_edits};

const MANIFEST: FileNum = FileNum(1);

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

fn write_sample(dir: &Path) {
    let edits = sample_edits();
    let mut writer = ManifestWriter::create(&RealFs, dir, MANIFEST, &edits[0]).expect("create");
    for edit in &edits[1..] {
        writer.append(edit).expect("append");
    }
    writer.close().expect("close");
    set_current(&RealFs, dir, MANIFEST).expect("set CURRENT");
}

#[test]
fn writer_produces_the_fixture_bytes() {
    let dir = TempDir::new("golden");
    write_sample(dir.path());
    let files = [manifest_path(Path::new(""), MANIFEST), current_path(Path::new(""))];
    for name in files {
        let written = std::fs::read(dir.path().join(&name)).expect("written file");
        let fixture = fixture_dir().join(&name);
        if std::env::var("CAIRN_REWRITE_FIXTURES").is_ok_and(|v| v == "1") {
            std::fs::create_dir_all(fixture_dir()).expect("fixture dir");
            std::fs::write(&fixture, &written).expect("rewrite fixture");
            continue;
        }
        let expected = std::fs::read(&fixture).expect("fixture exists (CAIRN_REWRITE_FIXTURES=1 creates it)");
        assert_eq!(written, expected, "{} differs from the v1 fixture", name.display());
    }
}

#[test]
fn fixture_reads_to_the_pinned_state() {
    let dir = fixture_dir();
    assert_eq!(read_current(&RealFs, &dir).expect("CURRENT"), Some(MANIFEST));
    let state = read_manifest(&RealFs, &dir, MANIFEST).expect("manifest");
    assert_eq!(state.log_number, FileNum(9));
    assert_eq!(state.next_file_num, FileNum(13));
    assert_eq!(state.last_seq, SeqNum(75));
    let expected = "\
L1:
  000011:[a#19,SET-h#10,DEL] 1011B seqs=10-19 entries=10 tombstones=2
  000012:[i#59,SET-z#50,DEL] 1012B seqs=50-59 entries=10 tombstones=2
L3:
  000004:[c#10,SET-m#1,DEL] 1004B seqs=1-10 entries=10 tombstones=2
";
    assert_eq!(state.version.to_string(), expected);
    state.version.check_invariants().expect("invariants");
}
