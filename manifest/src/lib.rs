//! Cairn's LSM shape: which tables exist, in which level, and the durable log of how that
//! changed (docs/format/manifest.md).
//!
//! Internal crate, released in lockstep with `cairn`; only `cairn` is a public promise.
//!
//! * [`TableMeta`]: what the manifest knows about one table.
//! * [`VersionEdit`]: one change, encoded as one manifest record.
//! * [`Version`]: an immutable shape, with the invariants INV-LSM-1..3 and the lookups the read
//!   path and the picker need.
//! * [`ManifestWriter`] / [`read_manifest`]: the manifest log `MANIFEST-NNNNNN` (WAL framing,
//!   `LogKind::Manifest`).
//! * [`set_current`] / [`read_current`]: the `CURRENT` file and its crash-safe switch.
#![forbid(unsafe_code)]

mod current;
mod edit;
mod manifest_log;
mod table_meta;
mod version;

pub use current::{MAX_CURRENT_BYTES, current_content, read_current, set_current};
pub use edit::{EDIT_FORMAT_VERSION, VersionEdit};
pub use manifest_log::{ManifestState, ManifestWriter, read_manifest};
pub use table_meta::{NUM_LEVELS, TableMeta};
pub use version::Version;
