//! Fuzz target `batch_replay`: see `cairn_fuzz_harness::batch_replay` for the input format and the invariants.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_fuzz_harness::batch_replay(data));
