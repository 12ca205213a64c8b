//! Fuzz target `manifest_edit`: see `cairn_fuzz_harness::manifest_edit` for the input format and the invariants.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cairn_fuzz_harness::manifest_edit(data));
