//! Cairn's compaction: the pure picker that chooses what to compact, and the merge that
//! carries a choice out (docs/format/manifest.md#compaction-plans).
//!
//! Internal crate, released in lockstep with `cairn`; only `cairn` is a public promise.
//!
//! * [`pick`] / [`pick_manual`]: leveled policy, a pure function of a `Version` and the
//!   compactions already [`Running`], returning a [`Plan`] (`DoNothing | Move | Merge`).
//! * [`run_merge`]: merges input tables into size-split outputs, dropping versions no snapshot
//!   can see and tombstones at the bottom; [`merge_into`] is the same over any [`MergeOutput`].
//! * [`table_meta`]: a finished table's summary as the manifest records it.
//!
//! Scheduling, write stalls, file-number allocation and installing results are the engine's.
#![forbid(unsafe_code)]

mod merge;
mod picker;
mod plan;
mod running;
mod table_output;

pub use merge::{MergeOutput, MergeSettings, MergeStats, merge_into};
pub use picker::{Cursors, PickerOptions, pick, pick_manual, pick_with_cursors, scores};
pub use plan::{MergePlan, Plan};
pub use running::Running;
pub use table_output::{run_merge, table_meta};
