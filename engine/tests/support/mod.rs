//! Helpers shared by the fault matrix (`fault_matrix.rs`) and the corruption sweep
//! (`corruption_sweep.rs`): running many cases under a watchdog, in-memory database directories,
//! a tracing file system, reading a database's whole state, and the set of states a database may
//! legitimately hold after writes whose outcome is unknown.
//!
//! Owns no engine behaviour: everything here drives `cairn` through its public API and the
//! `cairn-testkit` file systems (DESIGN.md §8). What counts as a pass is decided by each test.
#![allow(dead_code, reason = "each test binary uses a different subset")]

pub mod cases;
pub mod expect;
pub mod fault_workload;
pub mod memfs;
pub mod state;
pub mod sweep_fixture;
pub mod trace_fs;
