//! What a run costs besides time: write amplification, space amplification and peak memory
//! (docs/tools.md#json-results).
//!
//! Owns the [`Tracker`] that follows one open engine — user bytes written since it opened, the
//! kernel's write counter at open, the live data size — and the readers of `/proc/self/status`,
//! `/proc/self/io` and the database directory's size. Knows nothing about how benchmarks run.
//!
//! Definitions (each `None` where it cannot be known):
//! * write amplification = bytes the engine says it wrote to storage since open (log + flushes +
//!   compactions; only Cairn counts them) / key and value bytes the harness wrote since open;
//! * OS write amplification = bytes the kernel counted as written by this process since the
//!   engine opened (`/proc/self/io`: `write_bytes - cancelled_write_bytes`, page-granular, Linux
//!   only) / the same user bytes — the same yardstick for every engine;
//! * space amplification = bytes the database directory occupies on disk (allocated blocks) /
//!   key and value bytes of the live entries, counted by a full scan after any benchmark that
//!   wrote (the scan is not timed and its result is reused until the next write);
//! * peak RSS = `VmHWM` of `/proc/self/status`, the process's high-water mark so far.

use std::io;
use std::path::Path;

use crate::engine::{Direction, Engine, EngineResult};
use crate::workloads::Measurement;

/// The cost figures reported with one benchmark.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    /// Key and value bytes written through the engine since it opened.
    pub user_bytes_written: u64,
    /// Bytes the engine reports writing to storage since it opened.
    pub storage_bytes_written: Option<u64>,
    /// Bytes the kernel counted as written by this process since the engine opened.
    pub os_bytes_written: Option<u64>,
    /// Bytes the database directory occupies on disk.
    pub dir_size_bytes: Option<u64>,
    /// Key and value bytes of the live entries.
    pub live_user_bytes: Option<u64>,
    /// The process's peak resident set size so far.
    pub peak_rss_bytes: Option<u64>,
}

impl Resources {
    /// Engine-reported storage bytes per user byte written.
    pub fn write_amplification(&self) -> Option<f64> {
        ratio(self.storage_bytes_written?, self.user_bytes_written)
    }

    /// Kernel-counted storage bytes per user byte written.
    pub fn write_amplification_os(&self) -> Option<f64> {
        ratio(self.os_bytes_written?, self.user_bytes_written)
    }

    /// Directory bytes on disk per live user byte.
    pub fn space_amplification(&self) -> Option<f64> {
        ratio(self.dir_size_bytes?, self.live_user_bytes?)
    }
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// Follows one open engine; start a new one whenever the engine is (re)opened.
#[derive(Debug)]
pub struct Tracker {
    user_bytes_written: u64,
    os_bytes_at_open: Option<u64>,
    /// Live bytes from the last scan, until a benchmark writes.
    live_user_bytes: Option<u64>,
}

impl Tracker {
    /// Starts following an engine that was just opened.
    pub fn start() -> Tracker {
        Tracker { user_bytes_written: 0, os_bytes_at_open: os_bytes_written(), live_user_bytes: None }
    }

    /// The figures after `m` ran on `engine`, whose database is in `dir`. Scans the engine to
    /// count live bytes when `m`'s benchmark wrote (or nothing was counted yet).
    pub fn measure(&mut self, engine: &dyn Engine, dir: &Path, m: &Measurement) -> EngineResult<Resources> {
        self.user_bytes_written += m.user_bytes_written;
        if m.benchmark.writes() || self.live_user_bytes.is_none() {
            self.live_user_bytes = Some(live_user_bytes(engine)?);
        }
        let os_bytes_written = match (os_bytes_written(), self.os_bytes_at_open) {
            (Some(now), Some(at_open)) => Some(now.saturating_sub(at_open)),
            _ => None,
        };
        Ok(Resources {
            user_bytes_written: self.user_bytes_written,
            storage_bytes_written: engine.storage_bytes_written(),
            os_bytes_written,
            dir_size_bytes: dir_size_bytes(dir).ok(),
            live_user_bytes: self.live_user_bytes,
            peak_rss_bytes: peak_rss_bytes(),
        })
    }
}

/// Key and value bytes of every live entry (a full scan).
pub fn live_user_bytes(engine: &dyn Engine) -> EngineResult<u64> {
    let mut bytes = 0u64;
    engine.scan(None, Direction::Forward, u64::MAX, &mut |k, v| bytes += (k.len() + v.len()) as u64)?;
    Ok(bytes)
}

/// Bytes `dir` and everything under it occupy on disk: allocated blocks on Unix, file lengths
/// elsewhere. Symbolic links are not followed.
pub fn dir_size_bytes(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() { dir_size_bytes(&entry.path())? } else { on_disk_bytes(&meta) };
    }
    Ok(total)
}

#[cfg(unix)]
fn on_disk_bytes(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.blocks() * 512
}

#[cfg(not(unix))]
fn on_disk_bytes(meta: &std::fs::Metadata) -> u64 {
    meta.len()
}

/// `VmHWM` from `/proc/self/status`, or `None` off Linux.
pub fn peak_rss_bytes() -> Option<u64> {
    parse_vm_hwm(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// `VmHWM:   12345 kB` → 12345 × 1024.
pub fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}

/// Bytes this process caused to be written to storage so far, or `None` off Linux.
pub fn os_bytes_written() -> Option<u64> {
    parse_proc_io(&std::fs::read_to_string("/proc/self/io").ok()?)
}

/// `write_bytes - cancelled_write_bytes` from `/proc/self/io` text.
pub fn parse_proc_io(io: &str) -> Option<u64> {
    let field = |name: &str| -> Option<u64> {
        io.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')).and_then(|v| v.trim().parse().ok())
    };
    Some(field("write_bytes")?.saturating_sub(field("cancelled_write_bytes").unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_need_a_denominator() {
        let r = Resources {
            user_bytes_written: 100,
            storage_bytes_written: Some(350),
            os_bytes_written: Some(400),
            dir_size_bytes: Some(150),
            live_user_bytes: Some(100),
            peak_rss_bytes: Some(1),
        };
        assert_eq!(r.write_amplification(), Some(3.5));
        assert_eq!(r.write_amplification_os(), Some(4.0));
        assert_eq!(r.space_amplification(), Some(1.5));
        let nothing_written = Resources { user_bytes_written: 0, ..r.clone() };
        assert_eq!(nothing_written.write_amplification(), None);
        assert_eq!(nothing_written.write_amplification_os(), None);
        let peer = Resources { storage_bytes_written: None, live_user_bytes: Some(0), ..r };
        assert_eq!((peer.write_amplification(), peer.space_amplification()), (None, None));
    }

    #[test]
    fn proc_files_parse() {
        let status = "Name:\tcairn-bench\nVmPeak:\t  999 kB\nVmHWM:\t   12345 kB\nVmRSS:\t 100 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(12345 * 1024));
        assert_eq!(parse_vm_hwm("VmRSS: 1 kB\n"), None);
        assert_eq!(parse_vm_hwm("VmHWM: lots\n"), None);
        let io = "rchar: 1\nwchar: 2\nread_bytes: 0\nwrite_bytes: 81920\ncancelled_write_bytes: 4096\n";
        assert_eq!(parse_proc_io(io), Some(77_824));
        assert_eq!(parse_proc_io("write_bytes: 10\n"), Some(10));
        assert_eq!(parse_proc_io("rchar: 1\n"), None);
    }

    #[test]
    fn directory_size_counts_nested_files() {
        let dir = std::env::temp_dir().join(format!("cairn-bench-size-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).expect("create dirs");
        std::fs::write(dir.join("a"), vec![1u8; 10_000]).expect("write a");
        std::fs::write(dir.join("sub").join("b"), vec![2u8; 5_000]).expect("write b");
        let size = dir_size_bytes(&dir);
        std::fs::remove_dir_all(&dir).expect("clean up");
        let size = size.expect("size of the directory");
        assert!(size >= 15_000, "{size}");
        assert!(size < 15_000 + 64 * 1024, "{size}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reports_its_peak_memory() {
        assert!(peak_rss_bytes().is_some_and(|b| b > 0));
        assert!(os_bytes_written().is_some());
    }
}
