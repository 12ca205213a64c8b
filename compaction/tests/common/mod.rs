//! Test support shared by the compaction test binaries: a data-driven test runner (Pebble
//! style, with a `CAIRN_REWRITE=1` rewrite mode), parsers for the canonical text forms of
//! internal keys and versions, and an in-memory merge output.
#![allow(dead_code, reason = "shared by several test binaries, each using a subset")]

use std::fmt::Write as _;
use std::path::Path;

use cairn_base::key::fmt_internal_key;
use cairn_base::{FileNum, InternalKey, Result, SeqNum, ValueKind};
use cairn_compaction::MergeOutput;
use cairn_manifest::{TableMeta, Version, VersionEdit};

/// One case of a data-driven file:
/// ```text
/// # comments
/// command arg=value ...
/// input lines
/// ----
/// expected output lines
/// ```
/// Cases are separated by blank lines; outputs contain no blank lines.
#[derive(Debug, Clone)]
pub struct Case {
    pub comments: Vec<String>,
    pub command: String,
    pub args: Vec<(String, String)>,
    pub input: Vec<String>,
    pub expected: String,
    pub line: usize,
}

impl Case {
    /// The value of `key=value`, if given.
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value given for `key` (an argument may repeat).
    pub fn args_named(&self, key: &str) -> Vec<&str> {
        self.args.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }
}

fn parse_cases(text: &str) -> Vec<Case> {
    let lines: Vec<&str> = text.lines().collect();
    let mut cases = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let mut comments = Vec::new();
        while i < lines.len() && (lines[i].trim().is_empty() || lines[i].starts_with('#')) {
            if lines[i].starts_with('#') {
                comments.push(lines[i].to_string());
            }
            i += 1;
        }
        if i >= lines.len() {
            break;
        }
        let line = i + 1;
        let mut words = lines[i].split_whitespace();
        let command = words.next().expect("a command line is not blank").to_string();
        let args = words
            .map(|w| match w.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (w.to_string(), String::new()),
            })
            .collect();
        i += 1;
        let mut input = Vec::new();
        while i < lines.len() && lines[i] != "----" {
            input.push(lines[i].to_string());
            i += 1;
        }
        assert!(i < lines.len(), "case at line {line} has no ---- separator");
        i += 1;
        let mut expected = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() {
            expected.push(lines[i]);
            i += 1;
        }
        cases.push(Case { comments, command, args, input, expected: expected.join("\n"), line });
    }
    cases
}

/// Runs every case of `path` (relative to the crate root) through `run`, comparing its output
/// with the expected text. With `CAIRN_REWRITE=1` the file is rewritten with the actual
/// outputs instead (review the diff before committing it).
pub fn run_file(path: &str, mut run: impl FnMut(&Case) -> String) {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {}: {e}", full.display()));
    let rewrite = std::env::var("CAIRN_REWRITE").is_ok_and(|v| v == "1");
    let mut rewritten = String::new();
    let mut failures = Vec::new();
    for case in parse_cases(&text) {
        let actual = run(&case).trim_end().to_string();
        assert!(!actual.lines().any(|l| l.trim().is_empty()), "output of line {} has a blank line", case.line);
        if actual != case.expected {
            failures.push(format!(
                "{}:{}: {}\n--- expected\n{}\n--- actual\n{}\n",
                path, case.line, case.command, case.expected, actual
            ));
        }
        for c in &case.comments {
            writeln!(rewritten, "{c}").expect("write to String");
        }
        let mut command = case.command.clone();
        for (k, v) in &case.args {
            command.push(' ');
            command.push_str(k);
            if !v.is_empty() {
                command.push('=');
                command.push_str(v);
            }
        }
        writeln!(rewritten, "{command}").expect("write to String");
        for l in &case.input {
            writeln!(rewritten, "{l}").expect("write to String");
        }
        writeln!(rewritten, "----\n{actual}\n").expect("write to String");
    }
    if rewrite {
        std::fs::write(&full, rewritten.trim_end().to_string() + "\n").expect("rewrite data-driven file");
        return;
    }
    assert!(
        failures.is_empty(),
        "{} case(s) differ (CAIRN_REWRITE=1 rewrites):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Parses the canonical form `user_key#seq,KIND` (`KIND` is `SET` or `DEL`).
pub fn parse_ikey(s: &str) -> InternalKey {
    let (user_key, trailer) = s.rsplit_once('#').unwrap_or_else(|| panic!("{s}: expected key#seq,KIND"));
    let (seq, kind) = trailer.split_once(',').unwrap_or_else(|| panic!("{s}: expected key#seq,KIND"));
    let kind = match kind {
        "SET" => ValueKind::Set,
        "DEL" => ValueKind::Delete,
        other => panic!("{s}: unknown kind {other}"),
    };
    InternalKey::new(user_key.as_bytes(), SeqNum(seq.parse().expect("sequence number")), kind)
}

/// Parses a busy list `7,8,12`.
pub fn parse_files(s: &str) -> Vec<FileNum> {
    s.split(',').filter(|p| !p.is_empty()).map(|p| FileNum(p.parse().expect("file number"))).collect()
}

/// Parses a table line `L<level> <file_num> <lo>-<hi> [size=N] [seqs=A-B] [entries=N]
/// [tombstones=N]`. Defaults: size 1, seqs `file_num-file_num`, entries 1, tombstones 0.
pub fn parse_table(line: &str) -> (usize, TableMeta) {
    let mut words = line.split_whitespace();
    let level = words.next().and_then(|w| w.strip_prefix('L')).expect("L<level>").parse().expect("level");
    let file_num: u64 = words.next().expect("file number").parse().expect("file number");
    let (lo, hi) = words.next().and_then(|r| r.split_once('-')).expect("lo-hi");
    let (mut size_bytes, mut seqs, mut entries, mut tombstones) = (1, (file_num, file_num), 1, 0);
    for w in words {
        let (k, v) = w.split_once('=').unwrap_or_else(|| panic!("{line}: expected key=value, got {w}"));
        match k {
            "size" => size_bytes = v.parse().expect("size"),
            "seqs" => {
                let (a, b) = v.split_once('-').expect("seqs=A-B");
                seqs = (a.parse().expect("seq"), b.parse().expect("seq"));
            }
            "entries" => entries = v.parse().expect("entries"),
            "tombstones" => tombstones = v.parse().expect("tombstones"),
            other => panic!("{line}: unknown attribute {other}"),
        }
    }
    let meta = TableMeta {
        file_num: FileNum(file_num),
        size_bytes,
        smallest: InternalKey::new(lo.as_bytes(), SeqNum(seqs.1), ValueKind::Set),
        largest: InternalKey::new(hi.as_bytes(), SeqNum(seqs.0), ValueKind::Set),
        smallest_seq: SeqNum(seqs.0),
        largest_seq: SeqNum(seqs.1),
        entries,
        tombstones,
    };
    (level, meta)
}

/// Builds a version from table lines.
pub fn parse_version(lines: &[String]) -> Version {
    let added = lines.iter().filter(|l| !l.trim().is_empty()).map(|l| parse_table(l)).collect();
    Version::default().apply(&VersionEdit { added, ..VersionEdit::default() }).expect("test version is valid")
}

/// An in-memory merge output; its size is the sum of key and value lengths.
#[derive(Debug, Default)]
pub struct VecOutput {
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    pub size_bytes: u64,
}

impl MergeOutput for VecOutput {
    type Finished = VecOutput;

    fn add(&mut self, ikey: &[u8], value: &[u8]) -> Result<()> {
        self.size_bytes += (ikey.len() + value.len()) as u64;
        self.entries.push((ikey.to_vec(), value.to_vec()));
        Ok(())
    }

    fn estimated_size_bytes(&self) -> u64 {
        self.size_bytes
    }

    fn finish(self) -> Result<VecOutput> {
        Ok(self)
    }

    fn finished_size_bytes(finished: &VecOutput) -> u64 {
        finished.size_bytes
    }
}

/// `a#3,SET value` (value omitted when empty).
pub fn fmt_entry(ikey: &[u8], value: &[u8]) -> String {
    let key = fmt_internal_key(ikey);
    if value.is_empty() { key } else { format!("{key} {}", String::from_utf8_lossy(value)) }
}

/// A directory under the system temp dir, removed when dropped.
#[derive(Debug)]
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cairn-compaction-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
