//! Fuzz target `sstable_block`: see `cairn_fuzz_harness::sstable_block` for the input format and the invariants.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_fuzz_harness::sstable_block(data));
