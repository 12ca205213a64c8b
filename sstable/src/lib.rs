//! Placeholder; filled in by its change.
