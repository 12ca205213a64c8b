//! `cairn-stress`: the crash-kill loop and the power-loss loop that prove Cairn never loses an
//! acknowledged write (DESIGN.md §2 G1–G4, §8; docs/testing.md#cairn-stress).
//!
//! ```text
//! cairn-stress --mode=kill|powerloss --cycles=N --seed=S [--dir D] [--json]
//! ```
//!
//! This file is only the entry point; the harness lives in `src/stress/` (flags in `args`,
//! randomized options in `knobs`, the batch workload in `workload`, the checker in `verify`,
//! the two campaigns in `kill` and `powerloss`, the power-loss acknowledgement log in `ack_log`,
//! output in `report`). Exit codes: 0 every cycle verified, 1 a guarantee was violated (the seed
//! and cycle are printed), 2 usage error, 3 the harness itself failed (spawning a child, a
//! temporary directory).
#![forbid(unsafe_code)]

#[path = "../stress/mod.rs"]
mod stress;

fn main() -> std::process::ExitCode {
    stress::main()
}
