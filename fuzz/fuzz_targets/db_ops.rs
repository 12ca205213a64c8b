//! Fuzz target `db_ops`: see `cairn_fuzz_harness::db_ops` for the input format and the invariants.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_fuzz_harness::db_ops(data));
