//! Dev-only test support for Cairn: file systems that fail and crash on purpose, a reference
//! model, and deterministic randomness. Internal, released in lockstep with `cairn`; depends on
//! `cairn-base` only.
//!
//! The fault model the engine is tested against (DESIGN.md §2 G1–G6, §8):
//! * **Kill at any point.** A process crash keeps everything handed to the OS: every completed
//!   [`WritableFile::append`](cairn_base::vfs::WritableFile::append) and directory change
//!   ([`CrashMode::KeepAll`]).
//! * **Power loss** drops or tears data that was not synced ([`CrashMode::DropUnsynced`],
//!   [`CrashMode::KeepUnsyncedPrefix`], [`CrashMode::TornGarbage`]) and undoes creates, renames
//!   and removals whose directory was not fsynced ([`CrashFs::crash`]). Synced data under a
//!   durable name always survives.
//! * **EIO or ENOSPC on any call**, a **short write** that lands half its bytes, and **bit rot on
//!   read** ([`FaultFs`] with [`FaultRule`]s), numbered so a harness can fail the n-th I/O call
//!   for every n.
//!
//! * **Kill at a chosen boundary** (feature `kill-points`): [`KillPointFs`] numbers the
//!   before/after boundaries of every create, append, sync, close, rename, remove and directory
//!   sync, and freezes the process at the chosen one so a harness can SIGKILL it there.
//!
//! The two compose: `FaultFs::new(crash_fs.clone())` injects faults into an in-memory file system
//! that can then be crashed.
//!
//! Also here: [`Model`], the `BTreeMap` reference the engine's model tests compare against, and
//! [`Rng`] with [`seed_from_env`], so every randomized test prints and replays its seed.
#![forbid(unsafe_code)]

pub mod crash;
pub mod fault;
#[cfg(feature = "kill-points")]
pub mod killpoint;
pub mod model;
pub mod rng;

pub use crash::{CrashFs, CrashMode};
pub use fault::{Fault, FaultFs, FaultRule, OpKind, Trigger};
#[cfg(feature = "kill-points")]
pub use killpoint::{KillPoint, KillPointFs};
pub use model::{Entry, Model, ModelSnapshot};
pub use rng::{Rng, seed_from_env};
