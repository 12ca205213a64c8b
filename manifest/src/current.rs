//! `CURRENT`: the one-line file that names the live manifest, and its crash-safe switch
//! (docs/format/manifest.md#current).
//!
//! Owns the switch protocol: write `CURRENT.tmp`, fsync it, rename it over `CURRENT`, fsync the
//! directory. The rename is atomic, so after a crash `CURRENT` names either the old manifest
//! or the new one, never a mix; the directory fsync makes the new name durable before the
//! caller relies on it (for example by deleting the old manifest). The content pattern itself
//! is `cairn_base::filename`'s.

use std::path::Path;

use cairn_base::filename::{current_path, current_temp_path, manifest_path, parse_current};
use cairn_base::vfs::Vfs;
use cairn_base::{Error, FileNum, Result};

/// The longest `CURRENT` a reader accepts: `MANIFEST-` plus 20 digits plus a newline fits
/// with room to spare. Bounds the read on a hostile file.
pub const MAX_CURRENT_BYTES: u64 = 64;

/// Points `CURRENT` at `MANIFEST-file_num`: writes `CURRENT.tmp`, fsyncs it, renames it over
/// `CURRENT`, fsyncs the directory. REQUIRES: the manifest exists and is synced. On error the
/// switch may or may not have happened; the caller poisons the database (never retry).
pub fn set_current(vfs: &dyn Vfs, dir: &Path, file_num: FileNum) -> Result<()> {
    let temp = current_temp_path(dir);
    let mut file = vfs.create(&temp)?;
    file.append(current_content(file_num).as_bytes())?;
    file.sync()?;
    file.close()?;
    vfs.rename(&temp, &current_path(dir))?;
    vfs.sync_dir(dir)
}

/// Reads `CURRENT`: `Ok(None)` when it does not exist; content other than exactly
/// `MANIFEST-NNNNNN\n` is corruption naming `CURRENT`.
pub fn read_current(vfs: &dyn Vfs, dir: &Path) -> Result<Option<FileNum>> {
    let path = current_path(dir);
    if !vfs.exists(&path)? {
        return Ok(None);
    }
    let file = vfs.open(&path)?;
    if file.size_bytes() > MAX_CURRENT_BYTES {
        let what = format!("CURRENT is {} bytes, longer than any manifest name", file.size_bytes());
        return Err(Error::corruption(path, 0, what));
    }
    let mut content = vec![0u8; file.size_bytes() as usize];
    file.read_exact_at(&mut content, 0)?;
    parse_current(&content)
        .map(Some)
        .ok_or_else(|| Error::corruption(path, 0, "CURRENT does not hold `MANIFEST-NNNNNN` and a newline"))
}

/// The exact content of `CURRENT` naming `MANIFEST-file_num`.
pub fn current_content(file_num: FileNum) -> String {
    let path = manifest_path(Path::new(""), file_num);
    format!("{}\n", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_manifest_name_and_newline() {
        assert_eq!(current_content(FileNum(7)), "MANIFEST-000007\n");
        assert_eq!(parse_current(current_content(FileNum(1234567)).as_bytes()), Some(FileNum(1234567)));
        assert!((current_content(FileNum(u64::MAX)).len() as u64) <= MAX_CURRENT_BYTES);
    }
}
