//! `Db::check`: verifies every checksum and structural invariant the engine relies on.
//!
//! Checks the current version's invariants (INV-LSM-1, INV-LSM-2), that every table it names
//! exists, opens, and reads back with valid checksums and strictly increasing keys, and that
//! each table's key range and entry count match the manifest's record of it.

use std::fmt;

use cairn_base::key::compare_internal;
use cairn_base::{Error, Result};
use cairn_manifest::NUM_LEVELS;

use crate::inner::Inner;

/// What `check` verified.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckReport {
    /// Tables verified.
    pub tables: usize,
    /// Entries read (all versions, tombstones included).
    pub entries: u64,
    /// Bytes of tables verified.
    pub bytes: u64,
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ok: {} tables, {} entries, {} bytes verified", self.tables, self.entries, self.bytes)
    }
}

impl Inner {
    pub(crate) fn check(&self) -> Result<CheckReport> {
        self.check_open()?;
        let sv = self.super_version();
        sv.version.check_invariants()?;
        let mut report = CheckReport::default();
        for level in 0..NUM_LEVELS {
            for meta in sv.version.level(level) {
                let table = sv.table(meta.file_num)?;
                let path = cairn_base::filename::table_path(&self.dir, meta.file_num);
                let entries = table.verify()?;
                if entries != meta.entries {
                    return Err(Error::corruption(
                        path,
                        0,
                        format!("table holds {entries} entries but the manifest records {}", meta.entries),
                    ));
                }
                let (first, last) = bounds(table)?;
                if compare_internal(&first, meta.smallest.encoded()).is_ne()
                    || compare_internal(&last, meta.largest.encoded()).is_ne()
                {
                    return Err(Error::corruption(path, 0, "table key range differs from the manifest's"));
                }
                report.tables += 1;
                report.entries += entries;
                report.bytes += table.size_bytes();
            }
        }
        Ok(report)
    }
}

/// First and last internal keys of a table.
fn bounds(table: &std::sync::Arc<cairn_sstable::Table>) -> Result<(Vec<u8>, Vec<u8>)> {
    use cairn_base::iter::InternalIterator;
    let mut it = table.iter();
    it.seek_to_first()?;
    let first = if it.valid() { it.key().to_vec() } else { Vec::new() };
    it.seek_to_last()?;
    let last = if it.valid() { it.key().to_vec() } else { Vec::new() };
    Ok((first, last))
}
