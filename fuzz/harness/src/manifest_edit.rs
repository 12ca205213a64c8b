//! Target `manifest_edit`: arbitrary bytes decoded as one manifest record
//! (docs/format/manifest.md#version-edit).
//!
//! Invariants asserted: `VersionEdit::decode` returns `Ok` or `Corruption`/`Unsupported`, never
//! panics; a decoded edit keeps the relations the decoder promises (levels inside the tree,
//! every table description passes `TableMeta::check`); it encodes to bytes that decode to the
//! same edit, and that encoding is canonical (encoding the decoded copy gives the same bytes).
//! An edit is also applied to an empty `Version`: `apply` may refuse it with an error, never
//! panic.

use cairn_manifest::{NUM_LEVELS, Version, VersionEdit};

use crate::expect_decode_error;

/// Runs the `manifest_edit` target on `data`; panics if an invariant above is broken.
pub fn manifest_edit(data: &[u8]) {
    let edit = match VersionEdit::decode(data) {
        Ok(edit) => edit,
        Err(e) => return expect_decode_error("VersionEdit::decode", &e),
    };
    for (level, meta) in &edit.added {
        assert!(*level < NUM_LEVELS, "decoded a table at level {level}");
        if let Err(e) = meta.check() {
            panic!("decoded a table description that fails its own check: {e}");
        }
    }
    assert!(edit.deleted.iter().all(|(level, _)| *level < NUM_LEVELS), "decoded a deletion beyond the tree");
    let mut encoded = Vec::new();
    edit.encode(&mut encoded);
    assert!(encoded.len() <= data.len(), "re-encoding grew the record: the decoder accepted a non-minimal form");
    let again = VersionEdit::decode(&encoded).unwrap_or_else(|e| panic!("re-encoded edit does not decode: {e}"));
    assert_eq!(again, edit, "encode → decode changed the edit");
    let mut encoded_again = Vec::new();
    again.encode(&mut encoded_again);
    assert_eq!(encoded_again, encoded, "the encoding is not canonical");
    // Applying is allowed to refuse (a deletion of a table that is not there), never to panic.
    let _ = Version::default().apply(&edit);
}
