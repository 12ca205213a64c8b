//! [`MemFile`]: an in-memory [`RandomAccessFile`] over the fuzzer's bytes, so table targets read
//! hostile content without touching a disk.
//!
//! Owns only positioned reads and the choice of whether the file can be memory-mapped
//! (`map()` returns the bytes or `None`, so both of the table reader's paths get fuzzed). Reads
//! past the end are an `Error::Io` like the real file system's, never a panic.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use cairn_base::vfs::RandomAccessFile;
use cairn_base::{Error, Result};

/// An immutable in-memory file; see the module docs.
#[derive(Debug, Clone)]
pub struct MemFile {
    data: Bytes,
    path: PathBuf,
    mappable: bool,
}

impl MemFile {
    /// A file at `path` (used in error messages only) holding `data`. When `mappable` is false,
    /// `map()` returns `Ok(None)` and readers fall back to positioned reads.
    pub fn new(data: Bytes, path: impl Into<PathBuf>, mappable: bool) -> Self {
        MemFile { data, path: path.into(), mappable }
    }
}

impl RandomAccessFile for MemFile {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let start = usize::try_from(offset).ok();
        let end = start.and_then(|s| s.checked_add(buf.len()));
        match (start, end) {
            (Some(s), Some(e)) if e <= self.data.len() => {
                buf.copy_from_slice(&self.data[s..e]);
                Ok(())
            }
            _ => Err(Error::io(&self.path, "read", std::io::ErrorKind::UnexpectedEof.into())),
        }
    }

    fn size_bytes(&self) -> u64 {
        self.data.len() as u64
    }

    fn map(&self) -> Result<Option<Bytes>> {
        Ok(self.mappable.then(|| self.data.clone()))
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inside_succeed_and_past_the_end_fail() {
        let f = MemFile::new(Bytes::from_static(b"hello"), "x", false);
        let mut buf = [0u8; 3];
        f.read_exact_at(&mut buf, 2).expect("inside");
        assert_eq!(&buf, b"llo");
        assert!(f.read_exact_at(&mut buf, 3).is_err());
        assert!(f.read_exact_at(&mut buf, u64::MAX).is_err());
        assert_eq!(f.map().expect("map"), None);
        let m = MemFile::new(Bytes::from_static(b"hello"), "x", true);
        assert_eq!(m.map().expect("map").as_deref(), Some(&b"hello"[..]));
    }
}
