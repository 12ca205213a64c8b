//! The one error type of Cairn, with structured variants.
//!
//! `Display` is a sentence for a human and never prints user keys or values. Errors are
//! `Clone` (the I/O source sits behind an `Arc`) because group commit delivers one failure to
//! every writer of the group.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Result alias used across Cairn.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in Cairn.
///
/// `#[non_exhaustive]`: match with a wildcard arm.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O call failed.
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What Cairn was doing: `"open"`, `"write"`, `"fsync"`, `"rename"`, ...
        op: &'static str,
        /// The operating system's error.
        source: Arc<io::Error>,
    },
    /// The device is out of space (ENOSPC). The database works again once space is freed
    /// (after a write failure, reopen it: see `Poisoned`).
    NoSpace {
        /// The file being written.
        path: PathBuf,
        /// What Cairn was doing.
        op: &'static str,
    },
    /// Persisted bytes failed a checksum or a structural check.
    Corruption {
        /// The file holding the bad bytes.
        file: PathBuf,
        /// Byte offset in that file where the bad structure starts.
        offset: u64,
        /// What was wrong, in words (never user data).
        what: String,
    },
    /// A write, fsync or manifest update failed earlier; the database refuses further writes
    /// until it is reopened. Reads keep working.
    Poisoned {
        /// The failure that poisoned the database.
        cause: Arc<Error>,
    },
    /// Another handle (this process or another) holds the directory's lock file. On Unix the lock
    /// is an `flock`, held by the open file: a child process forked while a handle was open keeps
    /// it until the child calls `exec` (or exits), so reopening right after dropping a handle can
    /// briefly see `Locked` in a process that spawns children concurrently.
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A file's format version (or a feature it uses) is not supported by this build.
    Unsupported {
        /// Which structure.
        what: &'static str,
        /// The version found.
        version: u32,
    },
    /// The caller passed an argument or option Cairn cannot accept.
    InvalidArgument {
        /// What was wrong.
        what: String,
    },
    /// The database was closed.
    Closed,
}

impl Error {
    /// Wraps an I/O error; ENOSPC becomes [`Error::NoSpace`].
    pub fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Error {
        let path = path.into();
        if is_no_space(&source) {
            return Error::NoSpace { path, op };
        }
        Error::Io { path, op, source: Arc::new(source) }
    }

    /// A corruption at `offset` of `file`.
    pub fn corruption(file: impl Into<PathBuf>, offset: u64, what: impl Into<String>) -> Error {
        Error::Corruption { file: file.into(), offset, what: what.into() }
    }

    /// An invalid argument.
    pub fn invalid(what: impl Into<String>) -> Error {
        Error::InvalidArgument { what: what.into() }
    }

    /// True for [`Error::Corruption`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. })
    }

    /// True when this error (or the error that poisoned the database) is ENOSPC.
    pub fn is_no_space(&self) -> bool {
        match self {
            Error::NoSpace { .. } => true,
            Error::Poisoned { cause } => cause.is_no_space(),
            _ => false,
        }
    }

    /// Re-labels a corruption found while decoding an in-memory slice with the file and the
    /// slice's base offset in it. Other variants pass through.
    pub fn at_file(self, file: &Path, base_offset: u64) -> Error {
        match self {
            Error::Corruption { file: f, offset, what } if f.as_os_str().is_empty() => {
                Error::Corruption { file: file.to_path_buf(), offset: base_offset + offset, what }
            }
            other => other,
        }
    }
}

fn is_no_space(e: &io::Error) -> bool {
    // ENOSPC is 28 on Linux, macOS and the BSDs; StorageFull is the portable kind.
    e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, op, source } => write!(f, "I/O error during {op} of {}: {source}", path.display()),
            Error::NoSpace { path, op } => write!(f, "no space left on device during {op} of {}", path.display()),
            Error::Corruption { file, offset, what } => {
                write!(f, "corruption in {} at offset {offset}: {what}", file.display())
            }
            Error::Poisoned { cause } => {
                write!(f, "database is poisoned by an earlier write failure and must be reopened ({cause})")
            }
            Error::Locked { path } => write!(f, "database is locked by another handle ({})", path.display()),
            Error::Unsupported { what, version } => write!(f, "unsupported {what} version {version}"),
            Error::InvalidArgument { what } => write!(f, "invalid argument: {what}"),
            Error::Closed => write!(f, "database is closed"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source.as_ref()),
            Error::Poisoned { cause } => Some(cause.as_ref()),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::Io { source, .. } => source.kind(),
            Error::NoSpace { .. } => io::ErrorKind::StorageFull,
            Error::Corruption { .. } => io::ErrorKind::InvalidData,
            Error::Locked { .. } => io::ErrorKind::WouldBlock,
            Error::InvalidArgument { .. } => io::ErrorKind::InvalidInput,
            Error::Unsupported { .. } => io::ErrorKind::Unsupported,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_maps_to_no_space() {
        let e = Error::io("x", "write", io::Error::from_raw_os_error(28));
        assert!(e.is_no_space());
        assert!(matches!(e, Error::NoSpace { .. }));
        let p = Error::Poisoned { cause: Arc::new(e) };
        assert!(p.is_no_space());
    }

    #[test]
    fn corruption_relabels_with_file_and_offset() {
        let e = Error::corruption("", 7, "bad").at_file(Path::new("000001.sst"), 100);
        match e {
            Error::Corruption { file, offset, .. } => {
                assert_eq!(file, PathBuf::from("000001.sst"));
                assert_eq!(offset, 107);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn converts_to_io_error_with_kind() {
        let e: io::Error = Error::corruption("f", 1, "x").into();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
