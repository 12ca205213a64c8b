//! Fuzz target `wal_reader`: see `cairn_fuzz_harness::wal_reader` for the input format and the invariants.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_fuzz_harness::wal_reader(data));
