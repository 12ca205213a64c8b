//! [`FaultFs`]: a [`Vfs`] wrapper that injects I/O failures by rule.
//!
//! Owns the numbering of I/O operations and the decision, per operation, whether to fail it and
//! how. It leaves the actual I/O to the wrapped file system (usually `RealFs` or a `CrashFs`),
//! and what the engine does about a failure to the engine's tests (G5, G6 in DESIGN.md §2).
//!
//! Fault model (DESIGN.md §8, "a fault-injecting file system"):
//! * Every I/O call through the file system or one of its handles is one operation, numbered by a
//!   counter shared by all files: create, open, append, sync, close, read, map, rename, remove,
//!   list, mkdir, sync_dir, exists, lock. `size_bytes` and `path` are not I/O.
//! * An operation matches a [`FaultRule`] if its kind is in the rule's `kinds` (or `kinds` is
//!   `None`) and its path contains `path_contains` (or that is `None`; a rename matches on either
//!   path). Each rule counts the operations that match it, from 0; its [`Trigger`] says at which
//!   of them it fires. Every matching rule counts the operation; the first rule (in insertion
//!   order) that fires decides the fault.
//! * Injected errors look like the operating system's: `Error::io(path, op, errno)` with EIO (5)
//!   or ENOSPC (28), so ENOSPC becomes `Error::NoSpace`. The wrapped call is not made, except
//!   for a short write (half the bytes reach the file, then EIO) and a bit flip (the read
//!   happens, then one bit of the returned buffer is flipped; the file itself is unchanged).
//! * [`Fault::ShortWrite`] on any operation but append acts as EIO; [`Fault::BitFlip`] applies to
//!   reads only (on other operations it injects nothing), and while any bit-flip rule could fire
//!   on a file's reads, `map` of that file returns `Ok(None)` so readers take the pread path.
//! * A failed sync is not remembered: the next sync is passed through. Never retrying an fsync
//!   after a failure is the engine's duty, which tests check by counting operations.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use cairn_base::vfs::{FileLock, RandomAccessFile, Vfs, WritableFile};
use cairn_base::{Error, Result};
use parking_lot::Mutex;

use crate::rng::Rng;

/// EIO on Linux, macOS and the BSDs.
const EIO: i32 = 5;
/// ENOSPC on Linux, macOS and the BSDs.
const ENOSPC: i32 = 28;

/// The kind of an I/O operation, for matching rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// [`Vfs::create`].
    Create,
    /// [`Vfs::open`].
    Open,
    /// [`WritableFile::append`].
    Append,
    /// [`WritableFile::sync`].
    Sync,
    /// [`WritableFile::close`].
    Close,
    /// [`RandomAccessFile::read_exact_at`].
    Read,
    /// [`RandomAccessFile::map`].
    Map,
    /// [`Vfs::rename`].
    Rename,
    /// [`Vfs::remove_file`].
    Remove,
    /// [`Vfs::list_dir`].
    List,
    /// [`Vfs::create_dir_all`].
    Mkdir,
    /// [`Vfs::sync_dir`].
    SyncDir,
    /// [`Vfs::exists`].
    Exists,
    /// [`Vfs::lock`].
    Lock,
}

impl OpKind {
    /// The operation name the real file system puts in its errors.
    fn op_name(self) -> &'static str {
        match self {
            OpKind::Create => "create",
            OpKind::Open => "open",
            OpKind::Append => "write",
            OpKind::Sync => "fsync",
            OpKind::Close => "close",
            OpKind::Read => "read",
            OpKind::Map => "mmap",
            OpKind::Rename => "rename",
            OpKind::Remove => "remove",
            OpKind::List => "list",
            OpKind::Mkdir => "mkdir",
            OpKind::SyncDir => "fsync directory",
            OpKind::Exists => "stat",
            OpKind::Lock => "lock",
        }
    }
}

/// What an injected failure does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails with EIO and does nothing.
    Eio,
    /// The call fails with ENOSPC (`Error::NoSpace`) and does nothing.
    NoSpace,
    /// An append writes the first half of its bytes (rounded down), then fails with EIO. On any
    /// other operation, acts as [`Fault::Eio`].
    ShortWrite,
    /// A read returns its data with one bit flipped (the file is unchanged). Reads only.
    BitFlip,
}

/// When a rule fires, counted over the operations that match it (from 0).
#[derive(Debug, Clone, Copy)]
pub enum Trigger {
    /// Only the n-th matching operation.
    Nth(u64),
    /// Every matching operation from the n-th on.
    FromNth(u64),
    /// Every matching operation.
    Always,
}

impl Trigger {
    fn fires_at(self, match_index: u64) -> bool {
        match self {
            Trigger::Nth(n) => match_index == n,
            Trigger::FromNth(n) => match_index >= n,
            Trigger::Always => true,
        }
    }
}

/// One injection rule: which fault, when, and on which operations.
#[derive(Debug, Clone)]
pub struct FaultRule {
    /// The failure to inject.
    pub fault: Fault,
    /// At which matching operation(s) it fires.
    pub when: Trigger,
    /// Operation kinds the rule matches; `None` matches every kind.
    pub kinds: Option<Vec<OpKind>>,
    /// A fragment the operation's path must contain; `None` matches every path.
    pub path_contains: Option<String>,
}

impl FaultRule {
    /// A rule matching every operation kind and path.
    pub fn new(fault: Fault, when: Trigger) -> FaultRule {
        FaultRule { fault, when, kinds: None, path_contains: None }
    }

    /// Restricts the rule to the given operation kinds.
    pub fn only(mut self, kinds: impl IntoIterator<Item = OpKind>) -> FaultRule {
        self.kinds = Some(kinds.into_iter().collect());
        self
    }

    /// Restricts the rule to paths containing `fragment`.
    pub fn on_path(mut self, fragment: impl Into<String>) -> FaultRule {
        self.path_contains = Some(fragment.into());
        self
    }

    fn matches_kind(&self, kind: OpKind) -> bool {
        self.kinds.as_ref().is_none_or(|kinds| kinds.contains(&kind))
    }

    fn matches_path(&self, paths: &[&Path]) -> bool {
        match &self.path_contains {
            None => true,
            Some(fragment) => paths.iter().any(|p| p.to_string_lossy().contains(fragment.as_str())),
        }
    }
}

/// A rule and the number of operations that matched it so far.
#[derive(Debug)]
struct ArmedRule {
    rule: FaultRule,
    matched_ops: u64,
}

/// The state shared by a [`FaultFs`] and every handle it opened.
#[derive(Debug, Default)]
struct Injector {
    // Guarded by its own lock; held only while deciding one operation.
    rules: Mutex<Vec<ArmedRule>>,
    op_count: AtomicU64,
    faults_injected: AtomicU64,
}

/// The fate of one operation.
struct Decision {
    /// The operation's global number.
    op_index: u64,
    fault: Option<Fault>,
}

impl Injector {
    /// Numbers one operation and decides its fault.
    fn decide(&self, kind: OpKind, paths: &[&Path]) -> Decision {
        let op_index = self.op_count.fetch_add(1, Ordering::SeqCst);
        let mut fault = None;
        for armed in self.rules.lock().iter_mut() {
            if !(armed.rule.matches_kind(kind) && armed.rule.matches_path(paths)) {
                continue;
            }
            let match_index = armed.matched_ops;
            armed.matched_ops += 1;
            if fault.is_none() && armed.rule.when.fires_at(match_index) {
                fault = Some(armed.rule.fault);
            }
        }
        Decision { op_index, fault }
    }

    /// Numbers one operation that a fault can only fail (not alter), and returns the injected
    /// error, if any.
    fn error_for(&self, kind: OpKind, paths: &[&Path]) -> Option<Error> {
        let fault = self.decide(kind, paths).fault?;
        self.injected_error(kind, paths[0], fault)
    }

    /// The error `fault` injects into an operation of `kind` (counted as injected), or `None`
    /// for a bit flip, which fails nothing.
    fn injected_error(&self, kind: OpKind, path: &Path, fault: Fault) -> Option<Error> {
        let errno = match fault {
            Fault::Eio | Fault::ShortWrite => EIO,
            Fault::NoSpace => ENOSPC,
            Fault::BitFlip => return None,
        };
        self.count_injected();
        Some(Error::io(path, kind.op_name(), io::Error::from_raw_os_error(errno)))
    }

    fn count_injected(&self) {
        self.faults_injected.fetch_add(1, Ordering::SeqCst);
    }

    /// True if a bit-flip rule could fire on reads of `path` (now or later).
    fn may_flip_reads_of(&self, path: &Path) -> bool {
        self.rules.lock().iter().any(|armed| {
            armed.rule.fault == Fault::BitFlip
                && armed.rule.matches_kind(OpKind::Read)
                && armed.rule.matches_path(&[path])
        })
    }
}

/// A fault-injecting file system wrapping another one. See the module documentation for the
/// fault model.
#[derive(Debug)]
pub struct FaultFs {
    inner: Arc<dyn Vfs>,
    injector: Arc<Injector>,
}

impl FaultFs {
    /// Wraps `inner` with no rules: every operation passes through (and is counted).
    pub fn new(inner: Arc<dyn Vfs>) -> Arc<FaultFs> {
        Arc::new(FaultFs { inner, injector: Arc::new(Injector::default()) })
    }

    /// Adds a rule after the existing ones. Its match count starts at 0 now.
    pub fn add_rule(&self, rule: FaultRule) {
        self.injector.rules.lock().push(ArmedRule { rule, matched_ops: 0 });
    }

    /// Removes every rule; operations pass through again (and are still counted).
    pub fn clear(&self) {
        self.injector.rules.lock().clear();
    }

    /// Operations seen so far, of all kinds, by this file system and its handles.
    pub fn op_count(&self) -> u64 {
        self.injector.op_count.load(Ordering::SeqCst)
    }

    /// Faults injected so far (a rule that fired but changed nothing, such as a bit flip on a
    /// write, is not counted).
    pub fn faults_injected(&self) -> u64 {
        self.injector.faults_injected.load(Ordering::SeqCst)
    }
}

impl Vfs for FaultFs {
    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        if let Some(e) = self.injector.error_for(OpKind::Create, &[path]) {
            return Err(e);
        }
        let inner = self.inner.create(path)?;
        Ok(Box::new(FaultWritable { inner, path: path.into(), injector: Arc::clone(&self.injector) }))
    }

    fn open(&self, path: &Path) -> Result<Arc<dyn RandomAccessFile>> {
        if let Some(e) = self.injector.error_for(OpKind::Open, &[path]) {
            return Err(e);
        }
        let inner = self.inner.open(path)?;
        Ok(Arc::new(FaultReadable { inner, injector: Arc::clone(&self.injector) }))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        match self.injector.error_for(OpKind::Rename, &[from, to]) {
            Some(e) => Err(e),
            None => self.inner.rename(from, to),
        }
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        match self.injector.error_for(OpKind::Remove, &[path]) {
            Some(e) => Err(e),
            None => self.inner.remove_file(path),
        }
    }

    fn list_dir(&self, dir: &Path) -> Result<Vec<String>> {
        match self.injector.error_for(OpKind::List, &[dir]) {
            Some(e) => Err(e),
            None => self.inner.list_dir(dir),
        }
    }

    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        match self.injector.error_for(OpKind::Mkdir, &[dir]) {
            Some(e) => Err(e),
            None => self.inner.create_dir_all(dir),
        }
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        match self.injector.error_for(OpKind::SyncDir, &[dir]) {
            Some(e) => Err(e),
            None => self.inner.sync_dir(dir),
        }
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        match self.injector.error_for(OpKind::Exists, &[path]) {
            Some(e) => Err(e),
            None => self.inner.exists(path),
        }
    }

    fn lock(&self, path: &Path) -> Result<Box<dyn FileLock>> {
        match self.injector.error_for(OpKind::Lock, &[path]) {
            Some(e) => Err(e),
            None => self.inner.lock(path),
        }
    }
}

/// A writable handle whose appends, syncs and close go through the rules.
#[derive(Debug)]
struct FaultWritable {
    inner: Box<dyn WritableFile>,
    path: PathBuf,
    injector: Arc<Injector>,
}

impl WritableFile for FaultWritable {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        let decision = self.injector.decide(OpKind::Append, &[&self.path]);
        let Some(fault) = decision.fault else {
            return self.inner.append(data);
        };
        if fault == Fault::ShortWrite {
            // A torn write: the first half reaches the file, the rest is lost.
            self.inner.append(&data[..data.len() / 2])?;
        }
        match self.injector.injected_error(OpKind::Append, &self.path, fault) {
            Some(e) => Err(e),
            None => self.inner.append(data),
        }
    }

    fn sync(&mut self) -> Result<()> {
        match self.injector.error_for(OpKind::Sync, &[&self.path]) {
            Some(e) => Err(e),
            None => self.inner.sync(),
        }
    }

    fn size_bytes(&self) -> u64 {
        self.inner.size_bytes()
    }

    fn close(self: Box<Self>) -> Result<()> {
        match self.injector.error_for(OpKind::Close, &[&self.path]) {
            // NB: the descriptor is released anyway, as close(2) does even when it fails.
            Some(e) => Err(e),
            None => self.inner.close(),
        }
    }
}

/// A readable handle whose reads and maps go through the rules.
#[derive(Debug)]
struct FaultReadable {
    inner: Arc<dyn RandomAccessFile>,
    injector: Arc<Injector>,
}

impl RandomAccessFile for FaultReadable {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let path = self.inner.path();
        let decision = self.injector.decide(OpKind::Read, &[path]);
        let Some(fault) = decision.fault else {
            return self.inner.read_exact_at(buf, offset);
        };
        if let Some(e) = self.injector.injected_error(OpKind::Read, path, fault) {
            return Err(e);
        }
        self.inner.read_exact_at(buf, offset)?;
        if !buf.is_empty() {
            flip_one_bit(buf, decision.op_index);
            self.injector.count_injected();
        }
        Ok(())
    }

    fn size_bytes(&self) -> u64 {
        self.inner.size_bytes()
    }

    fn map(&self) -> Result<Option<Bytes>> {
        let path = self.inner.path();
        if let Some(fault) = self.injector.decide(OpKind::Map, &[path]).fault {
            if let Some(e) = self.injector.injected_error(OpKind::Map, path, fault) {
                return Err(e);
            }
            return Ok(None);
        }
        if self.injector.may_flip_reads_of(path) {
            return Ok(None);
        }
        self.inner.map()
    }

    fn path(&self) -> &Path {
        self.inner.path()
    }
}

/// Flips one bit of `buf`, chosen by the operation's number so a run replays exactly.
///
/// REQUIRES: `buf` is not empty.
fn flip_one_bit(buf: &mut [u8], op_index: u64) {
    let bit_count = buf.len() as u64 * 8;
    let bit = Rng::new(op_index).below(bit_count);
    let byte_index = usize::try_from(bit / 8).expect("bit index is below buf.len() * 8");
    buf[byte_index] ^= 1 << (bit % 8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crash::CrashFs;

    fn fs() -> (Arc<FaultFs>, PathBuf) {
        let mem = CrashFs::new();
        let dir = PathBuf::from("db");
        mem.create_dir_all(&dir).expect("mkdir");
        let fault = FaultFs::new(mem);
        (fault, dir)
    }

    fn write_file(fs: &FaultFs, path: &Path, data: &[u8]) {
        let mut f = fs.create(path).expect("create");
        f.append(data).expect("append");
        f.sync().expect("sync");
        f.close().expect("close");
    }

    fn is_eio(e: &Error) -> bool {
        matches!(e, Error::Io { source, .. } if source.raw_os_error() == Some(EIO))
    }

    #[test]
    fn every_call_is_one_numbered_operation() {
        let (fs, dir) = fs();
        let p = dir.join("a");
        write_file(&fs, &p, b"xy"); // create, append, sync, close
        let r = fs.open(&p).expect("open");
        let mut buf = [0u8; 2];
        r.read_exact_at(&mut buf, 0).expect("read");
        r.map().expect("map");
        fs.rename(&p, &dir.join("b")).expect("rename");
        fs.list_dir(&dir).expect("list");
        fs.sync_dir(&dir).expect("sync dir");
        fs.exists(&p).expect("exists");
        fs.remove_file(&dir.join("b")).expect("remove");
        fs.create_dir_all(&dir.join("sub")).expect("mkdir");
        drop(fs.lock(&dir.join("LOCK")).expect("lock"));
        assert_eq!(r.size_bytes(), 2);
        assert_eq!(fs.op_count(), 14);
        assert_eq!(fs.faults_injected(), 0);
    }

    #[test]
    fn nth_fires_only_at_the_nth_matching_op() {
        let (fs, dir) = fs();
        fs.add_rule(FaultRule::new(Fault::Eio, Trigger::Nth(2)).only([OpKind::Append]).on_path(".wal"));
        let mut wal = fs.create(&dir.join("000001.wal")).expect("create");
        let mut sst = fs.create(&dir.join("000002.sst")).expect("create");
        wal.append(b"0").expect("match 0");
        sst.append(b"x").expect("not matching: other path");
        wal.sync().expect("not matching: other kind");
        wal.append(b"1").expect("match 1");
        let err = wal.append(b"2").expect_err("match 2 fails");
        assert!(is_eio(&err), "{err:?}");
        wal.append(b"3").expect("match 3 passes again");
        assert_eq!(wal.size_bytes(), 3, "the failed append wrote nothing");
        assert_eq!(fs.faults_injected(), 1);
        assert_eq!(fs.op_count(), 8);
    }

    #[test]
    fn from_nth_and_always_keep_firing_until_cleared() {
        let (fs, dir) = fs();
        fs.add_rule(FaultRule::new(Fault::Eio, Trigger::FromNth(1)).only([OpKind::Exists]));
        assert!(fs.exists(&dir).is_ok());
        assert!(fs.exists(&dir).is_err());
        assert!(fs.exists(&dir).is_err());
        fs.clear();
        assert!(fs.exists(&dir).is_ok());
        fs.add_rule(FaultRule::new(Fault::Eio, Trigger::Always).only([OpKind::List]));
        assert!(fs.list_dir(&dir).is_err());
        assert!(fs.list_dir(&dir).is_err());
        assert!(fs.exists(&dir).is_ok());
        assert_eq!(fs.faults_injected(), 4);
    }

    #[test]
    fn enospc_maps_to_no_space() {
        let (fs, dir) = fs();
        fs.add_rule(FaultRule::new(Fault::NoSpace, Trigger::Always).only([OpKind::Sync, OpKind::Rename]));
        let mut f = fs.create(&dir.join("a")).expect("create");
        f.append(b"data").expect("append");
        let err = f.sync().expect_err("sync fails");
        assert!(err.is_no_space(), "{err:?}");
        assert!(matches!(&err, Error::NoSpace { op: "fsync", .. }), "{err:?}");
        let err = fs.rename(&dir.join("a"), &dir.join("b")).expect_err("rename fails");
        assert!(matches!(&err, Error::NoSpace { path, op: "rename" } if path == &dir.join("a")), "{err:?}");
    }

    #[test]
    fn short_write_leaves_half_the_bytes() {
        let (fs, dir) = fs();
        let p = dir.join("000001.wal");
        fs.add_rule(FaultRule::new(Fault::ShortWrite, Trigger::Nth(1)).only([OpKind::Append]));
        let mut f = fs.create(&p).expect("create");
        f.append(b"head").expect("first append");
        let err = f.append(b"0123456789").expect_err("torn append");
        assert!(is_eio(&err), "{err:?}");
        assert_eq!(f.size_bytes(), 9);
        f.close().expect("close");
        assert_eq!(fs.read_all(&p).expect("read"), b"head01234");
    }

    #[test]
    fn short_write_on_other_ops_is_eio() {
        let (fs, dir) = fs();
        fs.add_rule(FaultRule::new(Fault::ShortWrite, Trigger::Always).only([OpKind::Create]));
        let err = fs.create(&dir.join("a")).expect_err("create fails");
        assert!(is_eio(&err), "{err:?}");
        assert!(!fs.exists(&dir.join("a")).expect("exists"));
    }

    #[test]
    fn bit_flip_flips_exactly_one_bit_and_disables_map() {
        let (fs, dir) = fs();
        let p = dir.join("000003.sst");
        let data: Vec<u8> = (0..64u8).collect();
        write_file(&fs, &p, &data);
        let r = fs.open(&p).expect("open");
        assert!(r.map().expect("map").is_some(), "no bit-flip rule yet: mapped");
        fs.add_rule(FaultRule::new(Fault::BitFlip, Trigger::Nth(0)).only([OpKind::Read]).on_path(".sst"));
        assert!(r.map().expect("map").is_none(), "a bit-flip rule forces the pread path");
        let mut buf = vec![0u8; 64];
        r.read_exact_at(&mut buf, 0).expect("read");
        let flipped_bits: u32 = buf.iter().zip(&data).map(|(a, b)| (a ^ b).count_ones()).sum();
        assert_eq!(flipped_bits, 1);
        assert_eq!(fs.faults_injected(), 1);
        r.read_exact_at(&mut buf, 0).expect("read");
        assert_eq!(buf, data, "Nth(0) fired once; the file itself is intact");
    }

    #[test]
    fn bit_flip_injects_nothing_into_writes() {
        let (fs, dir) = fs();
        fs.add_rule(FaultRule::new(Fault::BitFlip, Trigger::Always));
        let p = dir.join("a");
        write_file(&fs, &p, b"abc");
        assert_eq!(fs.faults_injected(), 0);
        fs.clear();
        assert_eq!(fs.read_all(&p).expect("read"), b"abc");
    }

    #[test]
    fn rename_matches_either_path_and_close_fails_after_release() {
        let (fs, dir) = fs();
        write_file(&fs, &dir.join("CURRENT.tmp"), b"MANIFEST-000001\n");
        fs.add_rule(
            FaultRule::new(Fault::Eio, Trigger::Always).only([OpKind::Rename, OpKind::Close]).on_path("CURRENT"),
        );
        let err = fs.rename(&dir.join("CURRENT.tmp"), &dir.join("CURRENT")).expect_err("rename fails");
        assert!(is_eio(&err));
        assert!(!fs.exists(&dir.join("CURRENT")).expect("exists"), "a failed rename did nothing");
        let f = fs.create(&dir.join("CURRENT")).expect("create");
        assert!(f.close().is_err());
        assert_eq!(fs.faults_injected(), 2);
    }

    #[test]
    fn every_rule_counts_its_own_matches() {
        let (fs, dir) = fs();
        fs.add_rule(FaultRule::new(Fault::Eio, Trigger::Nth(1)).only([OpKind::Exists]));
        fs.add_rule(FaultRule::new(Fault::NoSpace, Trigger::Nth(1)));
        // Op 0 matches both rules (index 0 in each); op 1 matches both at index 1: the first rule wins.
        fs.exists(&dir).expect("op 0");
        let err = fs.exists(&dir).expect_err("op 1");
        assert!(is_eio(&err), "the first firing rule decides: {err:?}");
        fs.list_dir(&dir).expect("second rule is past its Nth now");
        assert_eq!(fs.faults_injected(), 1);
    }

    #[test]
    fn short_write_over_the_real_file_system_lands_half_on_disk() {
        let dir = std::env::temp_dir().join(format!("cairn-testkit-fault-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let fs = FaultFs::new(Arc::new(cairn_base::vfs::RealFs));
        fs.create_dir_all(&dir).expect("mkdir");
        fs.add_rule(FaultRule::new(Fault::ShortWrite, Trigger::Always).only([OpKind::Append]));
        let mut f = fs.create(&dir.join("000001.wal")).expect("create");
        assert!(f.append(b"abcdefgh").is_err());
        f.close().expect("close");
        assert_eq!(std::fs::read(dir.join("000001.wal")).expect("read back"), b"abcd");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
