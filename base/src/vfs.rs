//! The file-system seam. Every byte Cairn reads or writes goes through [`Vfs`], so tests can
//! swap in crash-emulating and fault-injecting file systems (crate `cairn-testkit`).
//!
//! Contract:
//! * [`WritableFile::append`] hands the bytes to the operating system before it returns (no
//!   buffering inside the file object; callers batch their own writes). A process crash
//!   after `append` returns therefore keeps the bytes.
//! * [`WritableFile::sync`] makes the file's data durable (fdatasync). It is never retried after
//!   a failure: a failed sync leaves the file's durability unknown.
//! * Creating, renaming or removing a file is durable only after [`Vfs::sync_dir`] on its
//!   directory.
//! * [`RandomAccessFile::map`] may return `None`; readers then fall back to positioned reads.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};

/// A file open for appending, created fresh.
pub trait WritableFile: Send + Sync + fmt::Debug {
    /// Appends `data`; it has reached the OS when this returns.
    fn append(&mut self, data: &[u8]) -> Result<()>;
    /// Makes everything appended so far durable.
    fn sync(&mut self) -> Result<()>;
    /// Bytes appended so far.
    fn size_bytes(&self) -> u64;
    /// Closes the file, reporting any error the OS reports on close.
    fn close(self: Box<Self>) -> Result<()>;
}

/// A file open for positioned reads. Sealed files are never rewritten, so reads are stable.
pub trait RandomAccessFile: Send + Sync + fmt::Debug {
    /// Fills `buf` from `offset`; reading past the end is an error.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()>;
    /// The file's size when it was opened.
    fn size_bytes(&self) -> u64;
    /// Maps the whole file into memory, if this file system can. The returned bytes keep the
    /// mapping alive.
    fn map(&self) -> Result<Option<Bytes>>;
    /// The path, for error messages.
    fn path(&self) -> &Path;
}

/// Holds an exclusive lock until dropped.
pub trait FileLock: Send + Sync + fmt::Debug {}

/// A file system.
pub trait Vfs: Send + Sync + fmt::Debug + 'static {
    /// Creates (or truncates) `path` for appending.
    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>>;
    /// Opens `path` for reading.
    fn open(&self, path: &Path) -> Result<Arc<dyn RandomAccessFile>>;
    /// Renames `from` to `to`, replacing `to` atomically if it exists.
    fn rename(&self, from: &Path, to: &Path) -> Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> Result<()>;
    /// Names of the entries of `dir`.
    fn list_dir(&self, dir: &Path) -> Result<Vec<String>>;
    /// Creates `dir` and its parents.
    fn create_dir_all(&self, dir: &Path) -> Result<()>;
    /// Makes creations, renames and removals in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> Result<()>;
    /// True if `path` exists.
    fn exists(&self, path: &Path) -> Result<bool>;
    /// Takes the exclusive lock on `path` (creating it), or fails with [`Error::Locked`].
    fn lock(&self, path: &Path) -> Result<Box<dyn FileLock>>;

    /// Reads a whole file.
    fn read_all(&self, path: &Path) -> Result<Vec<u8>> {
        let f = self.open(path)?;
        let len = usize::try_from(f.size_bytes()).map_err(|_| Error::invalid("file too large to read"))?;
        let mut buf = vec![0u8; len];
        f.read_exact_at(&mut buf, 0)?;
        Ok(buf)
    }
}

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

#[derive(Debug)]
struct RealWritable {
    file: File,
    path: PathBuf,
    size_bytes: u64,
}

impl WritableFile for RealWritable {
    fn append(&mut self, data: &[u8]) -> Result<()> {
        self.file.write_all(data).map_err(|e| Error::io(&self.path, "write", e))?;
        self.size_bytes += data.len() as u64;
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.file.sync_data().map_err(|e| Error::io(&self.path, "fsync", e))
    }

    fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    fn close(self: Box<Self>) -> Result<()> {
        drop(self.file);
        Ok(())
    }
}

#[derive(Debug)]
struct RealReadable {
    file: File,
    path: PathBuf,
    size_bytes: u64,
}

impl RandomAccessFile for RealReadable {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        read_exact_at(&self.file, buf, offset).map_err(|e| Error::io(&self.path, "read", e))
    }

    fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    fn map(&self) -> Result<Option<Bytes>> {
        if self.size_bytes == 0 {
            return Ok(None);
        }
        let map = map_file(&self.file).map_err(|e| Error::io(&self.path, "mmap", e))?;
        Ok(Some(Bytes::from_owner(map)))
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

#[expect(unsafe_code, reason = "memory-mapping a file is unsafe by signature; see docs/unsafe.md")]
fn map_file(file: &File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: Cairn maps only sealed files (SSTables), which it never writes, truncates or
    // renames over while any handle to them is open; the Bytes returned own the mapping, so it
    // outlives every slice handed out. Another process modifying the file is excluded by the
    // directory's LOCK file (documented in docs/unsafe.md).
    unsafe { memmap2::Mmap::map(file) }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        let n = file.seek_read(buf, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf = &mut buf[n..];
        offset += n as u64;
    }
    Ok(())
}

#[derive(Debug)]
struct RealLock {
    _file: File,
}

impl FileLock for RealLock {}

impl Vfs for RealFs {
    fn create(&self, path: &Path) -> Result<Box<dyn WritableFile>> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| Error::io(path, "create", e))?;
        Ok(Box::new(RealWritable { file, path: path.to_path_buf(), size_bytes: 0 }))
    }

    fn open(&self, path: &Path) -> Result<Arc<dyn RandomAccessFile>> {
        let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
        let size_bytes = file.metadata().map_err(|e| Error::io(path, "stat", e))?.len();
        Ok(Arc::new(RealReadable { file, path: path.to_path_buf(), size_bytes }))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        fs::rename(from, to).map_err(|e| Error::io(from, "rename", e))
    }

    fn remove_file(&self, path: &Path) -> Result<()> {
        fs::remove_file(path).map_err(|e| Error::io(path, "remove", e))
    }

    fn list_dir(&self, dir: &Path) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, "list", e))? {
            let entry = entry.map_err(|e| Error::io(dir, "list", e))?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, "mkdir", e))
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        #[cfg(unix)]
        {
            let d = File::open(dir).map_err(|e| Error::io(dir, "open directory", e))?;
            d.sync_all().map_err(|e| Error::io(dir, "fsync directory", e))
        }
        #[cfg(not(unix))]
        {
            // Directory entries are durable with the file on the platforms we support here.
            let _ = dir;
            Ok(())
        }
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        path.try_exists().map_err(|e| Error::io(path, "stat", e))
    }

    fn lock(&self, path: &Path) -> Result<Box<dyn FileLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io(path, "open lock file", e))?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(RealLock { _file: file })),
            Err(fs::TryLockError::WouldBlock) => Err(Error::Locked { path: path.to_path_buf() }),
            Err(fs::TryLockError::Error(e)) => Err(Error::io(path, "lock", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cairn-base-vfs-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("tmpdir");
        d
    }

    #[test]
    fn write_read_map_round_trip() {
        let d = tmpdir("rt");
        let p = d.join("f");
        let mut w = RealFs.create(&p).expect("create");
        w.append(b"hello ").expect("append");
        w.append(b"world").expect("append");
        w.sync().expect("sync");
        assert_eq!(w.size_bytes(), 11);
        w.close().expect("close");
        let r = RealFs.open(&p).expect("open");
        let mut buf = [0u8; 5];
        r.read_exact_at(&mut buf, 6).expect("read");
        assert_eq!(&buf, b"world");
        assert!(r.read_exact_at(&mut buf, 8).is_err());
        let m = r.map().expect("map").expect("mapped");
        assert_eq!(&m[..], b"hello world");
        RealFs.sync_dir(&d).expect("sync dir");
        fs::remove_dir_all(&d).expect("cleanup");
    }

    #[test]
    fn second_lock_fails_with_locked() {
        let d = tmpdir("lock");
        let p = d.join("LOCK");
        let l = RealFs.lock(&p).expect("first lock");
        assert!(matches!(RealFs.lock(&p), Err(Error::Locked { .. })));
        drop(l);
        RealFs.lock(&p).expect("relock after release");
        fs::remove_dir_all(&d).expect("cleanup");
    }
}
