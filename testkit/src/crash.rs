//! [`CrashFs`]: an in-memory file system that models what survives a power loss.
//!
//! Owns the in-memory files and directories and the rules for what a crash keeps. It leaves the
//! choice of crash points, and checking the recovered database, to the tests (DESIGN.md §8,
//! "a file system that keeps unsynced data only in process memory"; G1, G2, G4).
//!
//! Model:
//! * Files are inodes; directory entries bind names to inodes. Per inode the data as the process
//!   sees it, and what is durable: a prefix of that data (extended to everything by
//!   [`WritableFile::sync`]), or, after `create` truncated the file, the old durable content.
//! * Per directory the entries as the process sees them ("live") and the durable entries, which
//!   only [`Vfs::sync_dir`] updates. Create, rename and remove change the live entries only.
//! * [`CrashFs::crash`] builds the file system after a power loss. Un-synced directory changes are
//!   grouped per inode (a rename's removed source and added target, a create over a replaced
//!   target) and each group is undone or kept as a whole, so a rename is atomic but two renames
//!   are independent. File contents are cut according to [`CrashMode`].
//! * Directories are durable when created (Cairn does not fsync the parent of its directory).
//! * `open` takes a snapshot of the file: reads and `map` see its content as of the open (Cairn
//!   reads only files it no longer writes).
//! * Locks are held in process memory; a crash releases them all.
//!
//! Invariants: synced bytes of a file whose directory entry is durable always survive, under
//! every mode; a crash never yields a file longer than what was written, except for
//! [`CrashMode::TornGarbage`], which may pad up to the next 512-byte boundary; a crash with the
//! same state, mode and seed always yields the same file system.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use cairn_base::vfs::{FileLock, RandomAccessFile, Vfs, WritableFile};
use cairn_base::{Error, Result};
use parking_lot::Mutex;

use crate::rng::Rng;

/// The granularity of torn writes: a disk sector.
const SECTOR_SIZE_BYTES: usize = 512;

/// What a crash keeps of data that was not synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Power loss, worst case: only synced bytes and synced directory entries survive.
    DropUnsynced,
    /// Power loss: a random prefix of each file's unsynced bytes survives, and each group of
    /// un-synced directory changes survives or not at random.
    KeepUnsyncedPrefix,
    /// Power loss with torn sectors: like `KeepUnsyncedPrefix`, then the file is filled up to a
    /// random length, rounded up to a 512-byte boundary, with random garbage or zeros.
    TornGarbage,
    /// Process crash only: everything the process handed to the OS survives.
    KeepAll,
}

type InodeId = u64;

/// What of an inode survives a power loss before its next sync.
#[derive(Debug, Clone)]
enum Durable {
    /// The first `n` bytes of the data.
    Prefix(usize),
    /// The file was truncated since its last sync; this old content is what is durable.
    Replaced(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Inode {
    /// The content as the process sees it.
    data: Vec<u8>,
    durable: Durable,
}

impl Inode {
    fn empty() -> Inode {
        Inode { data: Vec::new(), durable: Durable::Prefix(0) }
    }

    /// A file holding `data`, all of it durable.
    fn synced(data: Vec<u8>) -> Inode {
        let len = data.len();
        Inode { data, durable: Durable::Prefix(len) }
    }

    fn truncate(&mut self) {
        // Truncating a file with nothing durable leaves nothing durable: no old content to keep.
        if let Durable::Prefix(n @ 1..) = self.durable {
            self.durable = Durable::Replaced(self.data[..n].to_vec());
        }
        self.data.clear();
    }
}

#[derive(Debug, Clone, Default)]
struct Dir {
    live: BTreeMap<String, InodeId>,
    durable: BTreeMap<String, InodeId>,
}

/// A directory entry slot: directory and name.
type Slot = (PathBuf, String);

#[derive(Debug, Default)]
struct State {
    inodes: BTreeMap<InodeId, Inode>,
    dirs: BTreeMap<PathBuf, Dir>,
    next_inode: InodeId,
    locks: BTreeSet<PathBuf>,
}

/// An in-memory, crash-emulating file system. See the module documentation for the model.
pub struct CrashFs {
    // Guarded by its own lock; every operation holds it for its whole (in-memory) duration.
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for CrashFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("CrashFs").field("dirs", &state.dirs.len()).field("inodes", &state.inodes.len()).finish()
    }
}

impl CrashFs {
    /// An empty file system (the root and the empty relative directory exist implicitly).
    pub fn new() -> Arc<CrashFs> {
        Arc::new(CrashFs { state: Arc::new(Mutex::new(State::default())) })
    }

    /// The state after a power loss: a new `CrashFs` holding only what survives under `mode`,
    /// chosen with `seed` (directory operations not made durable by `sync_dir` are undone, or
    /// kept at random, per group of entries); all files in the new file system count as synced.
    /// Open handles of the old file system keep working but are detached.
    pub fn crash(&self, mode: CrashMode, seed: u64) -> Arc<CrashFs> {
        let state = self.state.lock();
        let mut rng = Rng::new(seed);
        let entries = surviving_entries(&state, mode, &mut rng);
        let mut next = State::default();
        for (dir_path, names) in entries {
            let mut dir = Dir::default();
            for (name, id) in names {
                let inode = state.inodes.get(&id).expect("a directory entry names a live inode");
                let new_id = next.add_inode(Inode::synced(surviving_content(inode, mode, &mut rng)));
                dir.live.insert(name.clone(), new_id);
                dir.durable.insert(name, new_id);
            }
            next.dirs.insert(dir_path, dir);
        }
        Arc::new(CrashFs { state: Arc::new(Mutex::new(next)) })
    }

    /// Names of the files (not subdirectories) in `dir` as the process sees them, sorted; empty
    /// if `dir` does not exist.
    pub fn file_names(&self, dir: &Path) -> Vec<String> {
        self.state.lock().dirs.get(dir).map(|d| d.live.keys().cloned().collect()).unwrap_or_default()
    }
}

/// The directory entries that survive, per directory.
fn surviving_entries(state: &State, mode: CrashMode, rng: &mut Rng) -> BTreeMap<PathBuf, BTreeMap<String, InodeId>> {
    let mut entries: BTreeMap<PathBuf, BTreeMap<String, InodeId>> = match mode {
        CrashMode::KeepAll => state.dirs.iter().map(|(p, d)| (p.clone(), d.live.clone())).collect(),
        _ => state.dirs.iter().map(|(p, d)| (p.clone(), d.durable.clone())).collect(),
    };
    if matches!(mode, CrashMode::KeepAll | CrashMode::DropUnsynced) {
        return entries;
    }
    for group in undurable_groups(state) {
        if !rng.chance(50) {
            continue;
        }
        for (dir, name) in group {
            let names = entries.get_mut(&dir).expect("every directory is in the map");
            let live = &state.dirs.get(&dir).expect("groups name existing directories").live;
            match live.get(&name) {
                Some(&id) => names.insert(name, id),
                None => names.remove(&name),
            };
        }
    }
    entries
}

/// The slots whose live binding differs from the durable one, grouped so that slots sharing an
/// inode (the two ends of a rename) land in one group. Groups and slots come in sorted order.
fn undurable_groups(state: &State) -> Vec<Vec<Slot>> {
    let mut slots: Vec<Slot> = Vec::new();
    let mut parent: Vec<usize> = Vec::new();
    let mut slot_of_inode: BTreeMap<InodeId, usize> = BTreeMap::new();
    for (path, dir) in &state.dirs {
        let names: BTreeSet<&String> = dir.live.keys().chain(dir.durable.keys()).collect();
        for name in names {
            let (live, durable) = (dir.live.get(name), dir.durable.get(name));
            if live == durable {
                continue;
            }
            let index = slots.len();
            slots.push((path.clone(), name.clone()));
            parent.push(index);
            for &id in live.into_iter().chain(durable) {
                match slot_of_inode.get(&id) {
                    Some(&other) => union(&mut parent, index, other),
                    None => {
                        slot_of_inode.insert(id, index);
                    }
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<Slot>> = BTreeMap::new();
    for (index, slot) in slots.into_iter().enumerate() {
        groups.entry(find(&mut parent, index)).or_default().push(slot);
    }
    groups.into_values().collect()
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Joins two sets, keeping the smaller root so group order follows the first slot.
fn union(parent: &mut [usize], a: usize, b: usize) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    parent[ra.max(rb)] = ra.min(rb);
}

/// The content of `inode` after a crash under `mode`.
fn surviving_content(inode: &Inode, mode: CrashMode, rng: &mut Rng) -> Vec<u8> {
    match mode {
        CrashMode::KeepAll => inode.data.clone(),
        CrashMode::DropUnsynced => match &inode.durable {
            Durable::Prefix(n) => inode.data[..*n].to_vec(),
            Durable::Replaced(old) => old.clone(),
        },
        CrashMode::KeepUnsyncedPrefix => {
            let (mut content, unsynced) = durable_and_unsynced(inode, rng);
            let keep = random_len(rng, unsynced.len());
            content.extend_from_slice(&unsynced[..keep]);
            content
        }
        CrashMode::TornGarbage => torn_content(inode, rng),
    }
}

/// The durable content and the unsynced bytes written after it. After a truncation, whether
/// the truncation itself survived is chosen at random.
fn durable_and_unsynced<'a>(inode: &'a Inode, rng: &mut Rng) -> (Vec<u8>, &'a [u8]) {
    match &inode.durable {
        Durable::Prefix(n) => (inode.data[..*n].to_vec(), &inode.data[*n..]),
        Durable::Replaced(old) if rng.chance(50) => (old.clone(), &[]),
        Durable::Replaced(_) => (Vec::new(), &inode.data),
    }
}

/// A random prefix of the unsynced bytes, then garbage or zeros up to a random length rounded
/// up to a sector boundary. A file with no unsynced bytes is left alone.
fn torn_content(inode: &Inode, rng: &mut Rng) -> Vec<u8> {
    let (mut content, unsynced) = durable_and_unsynced(inode, rng);
    if unsynced.is_empty() {
        return content;
    }
    let written_end = content.len() + unsynced.len();
    content.extend_from_slice(&unsynced[..random_len(rng, unsynced.len())]);
    let torn_end = content.len() + random_len(rng, written_end - content.len());
    let end = torn_end.next_multiple_of(SECTOR_SIZE_BYTES);
    let garbage_start = content.len();
    content.resize(end, 0);
    if rng.chance(50) {
        rng.fill(&mut content[garbage_start..]);
    }
    content
}

/// A length in `0..=max`.
fn random_len(rng: &mut Rng, max: usize) -> usize {
    let len = rng.between(0, max as u64);
    usize::try_from(len).expect("len <= max, which is a usize")
}

/// An I/O error as the real file system would report it.
fn fs_error(path: &Path, op: &'static str, kind: io::ErrorKind) -> Error {
    Error::io(path, op, io::Error::from(kind))
}

/// Splits `path` into its directory and file name.
fn split(path: &Path, op: &'static str) -> Result<(PathBuf, String)> {
    let name =
        path.file_name().and_then(|n| n.to_str()).ok_or_else(|| fs_error(path, op, io::ErrorKind::InvalidInput))?;
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    Ok((dir, name.to_string()))
}

/// True for directories that exist without `create_dir_all`: the root and the relative ".".
fn is_implicit_dir(dir: &Path) -> bool {
    dir.as_os_str().is_empty() || dir.parent().is_none()
}

impl State {
    fn add_inode(&mut self, inode: Inode) -> InodeId {
        let id = self.next_inode;
        self.next_inode += 1;
        self.inodes.insert(id, inode);
        id
    }

    /// The directory `dir`, or NotFound for `path`'s operation.
    fn dir_mut(&mut self, dir: &Path, path: &Path, op: &'static str) -> Result<&mut Dir> {
        if is_implicit_dir(dir) {
            return Ok(self.dirs.entry(dir.to_path_buf()).or_default());
        }
        self.dirs.get_mut(dir).ok_or_else(|| fs_error(path, op, io::ErrorKind::NotFound))
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.dirs.contains_key(path) || is_implicit_dir(path)
    }

    /// The inode `path` names, as the process sees it.
    fn live_inode(&self, path: &Path) -> Option<InodeId> {
        let (dir, name) = (path.parent()?, path.file_name()?.to_str()?);
        self.dirs.get(dir)?.live.get(name).copied()
    }

    /// Drops inodes no directory entry (live or durable) names any more. Open writable handles
    /// to them keep accepting (and discarding) appends, as for an unlinked file.
    fn collect_garbage(&mut self, candidates: impl IntoIterator<Item = InodeId>) {
        for id in candidates {
            let named = self.dirs.values().any(|d| d.live.values().chain(d.durable.values()).any(|&i| i == id));
            if !named {
                self.inodes.remove(&id);
            }
        }
    }

    fn create(&mut self, path: &Path) -> Result<InodeId> {
        if self.is_dir(path) {
            return Err(fs_error(path, "create", io::ErrorKind::IsADirectory));
        }
        let (dir, name) = split(path, "create")?;
        if let Some(&id) = self.dir_mut(&dir, path, "create")?.live.get(&name) {
            self.inodes.get_mut(&id).expect("a live entry names a live inode").truncate();
            return Ok(id);
        }
        let id = self.add_inode(Inode::empty());
        self.dir_mut(&dir, path, "create")?.live.insert(name, id);
        Ok(id)
    }

    fn rename(&mut self, from: &Path, to: &Path) -> Result<()> {
        let id = self.live_inode(from).ok_or_else(|| fs_error(from, "rename", io::ErrorKind::NotFound))?;
        if from == to {
            return Ok(());
        }
        if self.is_dir(to) {
            return Err(fs_error(from, "rename", io::ErrorKind::IsADirectory));
        }
        let (to_dir, to_name) = split(to, "rename")?;
        self.dir_mut(&to_dir, from, "rename")?;
        let (from_dir, from_name) = split(from, "rename")?;
        self.dir_mut(&from_dir, from, "rename")?.live.remove(&from_name);
        let replaced = self.dir_mut(&to_dir, from, "rename")?.live.insert(to_name, id);
        self.collect_garbage(replaced);
        Ok(())
    }

    fn remove_file(&mut self, path: &Path) -> Result<()> {
        let (dir, name) = split(path, "remove")?;
        let removed = self.dirs.get_mut(&dir).and_then(|d| d.live.remove(&name));
        let id = removed.ok_or_else(|| fs_error(path, "remove", io::ErrorKind::NotFound))?;
        self.collect_garbage([id]);
        Ok(())
    }

    fn list_dir(&mut self, dir: &Path) -> Result<Vec<String>> {
        let mut names: BTreeSet<String> = self.dir_mut(dir, dir, "list")?.live.keys().cloned().collect();
        let subdirs = self.dirs.keys().filter(|d| d.parent() == Some(dir) && d.as_path() != dir);
        names.extend(subdirs.filter_map(|d| d.file_name()?.to_str().map(str::to_string)));
        Ok(names.into_iter().collect())
    }

    fn create_dir_all(&mut self, dir: &Path) -> Result<()> {
        for ancestor in dir.ancestors() {
            if self.live_inode(ancestor).is_some() {
                return Err(fs_error(dir, "mkdir", io::ErrorKind::AlreadyExists));
            }
        }
        for ancestor in dir.ancestors() {
            self.dirs.entry(ancestor.to_path_buf()).or_default();
        }
        Ok(())
    }

    fn sync_dir(&mut self, dir: &Path) -> Result<()> {
        let d = self.dir_mut(dir, dir, "fsync directory")?;
        let dropped = std::mem::replace(&mut d.durable, d.live.clone());
        self.collect_garbage(dropped.into_values());
        Ok(())
    }

    fn lock(&mut self, path: &Path) -> Result<()> {
        if self.locks.contains(path) {
            return Err(Error::Locked { path: path.to_path_buf() });
        }
        if self.live_inode(path).is_none() {
            // Like the real file system, taking the lock creates the lock file.
            self.create(path).map_err(|e| relabel_op(e, "open lock file"))?;
        }
        self.locks.insert(path.to_path_buf());
        Ok(())
    }
}

fn relabel_op(e: Error, new_op: &'static str) -> Error {
    match e {
        Error::Io { path, source, .. } => Error::Io { path, op: new_op, source },
        other => other,
    }
}

impl Vfs for CrashFs {
    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        let inode = self.state.lock().create(path)?;
        Ok(Box::new(CrashWritable { state: Arc::clone(&self.state), inode, size_bytes: 0 }))
    }

    fn open(&self, path: &Path) -> Result<Arc<dyn RandomAccessFile>> {
        let state = self.state.lock();
        let id = state.live_inode(path).ok_or_else(|| fs_error(path, "open", io::ErrorKind::NotFound))?;
        let data = Bytes::copy_from_slice(&state.inodes.get(&id).expect("a live entry names a live inode").data);
        Ok(Arc::new(CrashReadable { path: path.to_path_buf(), data }))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.state.lock().rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        self.state.lock().remove_file(path)
    }

    fn list_dir(&self, dir: &Path) -> Result<Vec<String>> {
        self.state.lock().list_dir(dir)
    }

    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        self.state.lock().create_dir_all(dir)
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        self.state.lock().sync_dir(dir)
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        let state = self.state.lock();
        Ok(state.live_inode(path).is_some() || state.is_dir(path))
    }

    fn lock(&self, path: &Path) -> Result<Box<dyn FileLock>> {
        self.state.lock().lock(path)?;
        Ok(Box::new(CrashLock { state: Arc::clone(&self.state), path: path.to_path_buf() }))
    }
}

/// A file open for appending: writes go straight to the inode (the process's view).
struct CrashWritable {
    state: Arc<Mutex<State>>,
    inode: InodeId,
    size_bytes: u64,
}

impl fmt::Debug for CrashWritable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrashWritable").field("inode", &self.inode).field("size_bytes", &self.size_bytes).finish()
    }
}

impl WritableFile for CrashWritable {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        if let Some(inode) = self.state.lock().inodes.get_mut(&self.inode) {
            inode.data.extend_from_slice(data);
        }
        self.size_bytes += data.len() as u64;
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        if let Some(inode) = self.state.lock().inodes.get_mut(&self.inode) {
            inode.durable = Durable::Prefix(inode.data.len());
        }
        Ok(())
    }

    fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    fn close(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

/// A snapshot of a file's content taken at open.
#[derive(Debug)]
struct CrashReadable {
    path: PathBuf,
    data: Bytes,
}

impl RandomAccessFile for CrashReadable {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let src = usize::try_from(offset)
            .ok()
            .and_then(|start| self.data.get(start..start.checked_add(buf.len())?))
            .ok_or_else(|| fs_error(&self.path, "read", io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn size_bytes(&self) -> u64 {
        self.data.len() as u64
    }

    fn map(&self) -> Result<Option<Bytes>> {
        Ok(Some(self.data.clone()))
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// An in-process lock; dropping it releases the path.
struct CrashLock {
    state: Arc<Mutex<State>>,
    path: PathBuf,
}

impl fmt::Debug for CrashLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrashLock").field("path", &self.path).finish()
    }
}

impl FileLock for CrashLock {}

impl Drop for CrashLock {
    fn drop(&mut self) {
        self.state.lock().locks.remove(&self.path);
    }
}
