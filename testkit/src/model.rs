//! The reference model for engine model tests: an ordered map of user keys to values.
//!
//! Owns [`Model`] and [`ModelSnapshot`]. The engine under test is driven with the same
//! operations and its reads are compared with the model's; generating the operations and
//! comparing results is left to the tests.
//!
//! Invariants: reads return entries in ascending key order (the `_rev` variants in descending
//! order), exactly the entries whose keys fall in the requested bounds; an empty or inverted range
//! is empty, never a panic; a [`ModelSnapshot`] never changes after it is taken (copy-on-write:
//! taking one is O(1), the next write after it copies the map once).

use std::collections::BTreeMap;
use std::ops::{Bound, Deref, RangeBounds};
use std::sync::Arc;

/// One key-value pair as the model returns it.
pub type Entry = (Vec<u8>, Vec<u8>);

/// An ordered key-value map with the semantics Cairn promises: put overwrites, delete removes,
/// reads see the latest write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    map: Arc<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl Model {
    /// An empty model.
    pub fn new() -> Model {
        Model::default()
    }

    /// Sets `key` to `value`, replacing any earlier value.
    pub fn put(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        Arc::make_mut(&mut self.map).insert(key.as_ref().to_vec(), value.as_ref().to_vec());
    }

    /// Removes `key` (a no-op when absent, as in the engine).
    pub fn delete(&mut self, key: impl AsRef<[u8]>) {
        Arc::make_mut(&mut self.map).remove(key.as_ref());
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        Arc::make_mut(&mut self.map).clear();
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Option<&[u8]> {
        self.map.get(key.as_ref()).map(Vec::as_slice)
    }

    /// True if `key` is present.
    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> bool {
        self.map.contains_key(key.as_ref())
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when the model holds no key.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every entry in ascending key order.
    pub fn entries(&self) -> Vec<Entry> {
        self.map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// The entries with keys in `range`, ascending. Inverted or empty ranges yield nothing.
    pub fn range<R: RangeBounds<Vec<u8>>>(&self, range: R) -> Vec<Entry> {
        let start = range.start_bound().map(Vec::as_slice);
        let end = range.end_bound().map(Vec::as_slice);
        self.bounded(start, end)
    }

    /// The entries with keys in `range`, descending.
    pub fn range_rev<R: RangeBounds<Vec<u8>>>(&self, range: R) -> Vec<Entry> {
        reversed(self.range(range))
    }

    /// The entries with `start <= key < end`, ascending; `None` leaves that side open. This is
    /// the shape of `db.range(start..end)`.
    pub fn range_between(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> Vec<Entry> {
        let start = start.map_or(Bound::Unbounded, Bound::Included);
        let end = end.map_or(Bound::Unbounded, Bound::Excluded);
        self.bounded(start, end)
    }

    /// Like [`Model::range_between`], descending.
    pub fn range_between_rev(&self, start: Option<&[u8]>, end: Option<&[u8]>) -> Vec<Entry> {
        reversed(self.range_between(start, end))
    }

    /// The entries whose keys start with `prefix`, ascending.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Vec<Entry> {
        let prefix = prefix.as_ref();
        self.map
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The entries whose keys start with `prefix`, descending.
    pub fn prefix_rev(&self, prefix: impl AsRef<[u8]>) -> Vec<Entry> {
        reversed(self.prefix(prefix))
    }

    /// A frozen view of the current contents: later writes to `self` do not show in it.
    pub fn snapshot(&self) -> ModelSnapshot {
        ModelSnapshot { frozen: self.clone() }
    }

    /// The entries between two bounds, empty when the bounds are inverted (where
    /// `BTreeMap::range` would panic).
    fn bounded(&self, start: Bound<&[u8]>, end: Bound<&[u8]>) -> Vec<Entry> {
        if is_empty_range(start, end) {
            return Vec::new();
        }
        self.map.range::<[u8], _>((start, end)).map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// A read-only, point-in-time view of a [`Model`]; it dereferences to the frozen model, so it has
/// every read method (`get`, `range`, `prefix`, ...) and no write method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSnapshot {
    frozen: Model,
}

impl Deref for ModelSnapshot {
    type Target = Model;

    fn deref(&self) -> &Model {
        &self.frozen
    }
}

/// True when no key can satisfy both bounds.
fn is_empty_range(start: Bound<&[u8]>, end: Bound<&[u8]>) -> bool {
    match (start, end) {
        (Bound::Unbounded, _) | (_, Bound::Unbounded) => false,
        (Bound::Included(s), Bound::Included(e)) => s > e,
        (Bound::Included(s) | Bound::Excluded(s), Bound::Excluded(e)) | (Bound::Excluded(s), Bound::Included(e)) => {
            s >= e
        }
    }
}

fn reversed(mut entries: Vec<Entry>) -> Vec<Entry> {
    entries.reverse();
    entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kv(k: &[u8], v: &[u8]) -> Entry {
        (k.to_vec(), v.to_vec())
    }

    fn sample() -> Model {
        let mut m = Model::new();
        for k in [&b"a"[..], b"ab", b"abc", b"b", b"b\xff", b"b\xff\xff", b"c"] {
            m.put(k, [k, b"-v"].concat());
        }
        m
    }

    #[test]
    fn put_overwrites_and_delete_removes() {
        let mut m = Model::new();
        m.put(b"k", b"1");
        m.put(b"k", b"2");
        assert_eq!(m.get(b"k"), Some(&b"2"[..]));
        assert_eq!(m.len(), 1);
        m.delete(b"k");
        m.delete(b"absent");
        assert_eq!(m.get(b"k"), None);
        assert!(!m.contains_key(b"k"));
        assert!(m.is_empty());
    }

    #[test]
    fn range_forward_and_reverse() {
        let m = sample();
        let fwd = m.range(b"ab".to_vec()..b"b\xff".to_vec());
        assert_eq!(fwd, vec![kv(b"ab", b"ab-v"), kv(b"abc", b"abc-v"), kv(b"b", b"b-v")]);
        let rev = m.range_rev(b"ab".to_vec()..=b"b\xff".to_vec());
        let keys: Vec<_> = rev.into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![b"b\xff".to_vec(), b"b".to_vec(), b"abc".to_vec(), b"ab".to_vec()]);
        assert_eq!(m.range(..).len(), 7);
    }

    #[test]
    fn range_between_is_start_inclusive_end_exclusive() {
        let m = sample();
        let keys = |es: Vec<Entry>| es.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(
            keys(m.range_between(Some(b"b"), Some(b"c"))),
            vec![b"b".to_vec(), b"b\xff".to_vec(), b"b\xff\xff".to_vec()]
        );
        assert_eq!(keys(m.range_between(None, Some(b"ab"))), vec![b"a".to_vec()]);
        assert_eq!(
            keys(m.range_between_rev(Some(b"b\xff"), None)),
            vec![b"c".to_vec(), b"b\xff\xff".to_vec(), b"b\xff".to_vec()]
        );
    }

    #[test]
    fn inverted_and_empty_ranges_are_empty_not_panics() {
        let m = sample();
        assert!(m.range(b"c".to_vec()..b"a".to_vec()).is_empty());
        assert!(m.range(b"b".to_vec()..b"b".to_vec()).is_empty());
        assert!(m.range((Bound::Excluded(b"b".to_vec()), Bound::Included(b"b".to_vec()))).is_empty());
        assert!(m.range_between(Some(b"z"), Some(b"a")).is_empty());
        assert_eq!(m.range(b"b".to_vec()..=b"b".to_vec()), vec![kv(b"b", b"b-v")]);
    }

    #[test]
    fn prefix_handles_ff_bytes_and_empty_prefix() {
        let m = sample();
        let keys: Vec<_> = m.prefix(b"b\xff").into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![b"b\xff".to_vec(), b"b\xff\xff".to_vec()]);
        let rev: Vec<_> = m.prefix_rev(b"a").into_iter().map(|(k, _)| k).collect();
        assert_eq!(rev, vec![b"abc".to_vec(), b"ab".to_vec(), b"a".to_vec()]);
        assert_eq!(m.prefix(b"").len(), 7);
        assert!(m.prefix(b"zz").is_empty());
    }

    #[test]
    fn snapshot_is_frozen() {
        let mut m = sample();
        let snap = m.snapshot();
        m.put(b"a", b"changed");
        m.delete(b"c");
        m.put(b"d", b"new");
        assert_eq!(snap.get(b"a"), Some(&b"a-v"[..]));
        assert_eq!(snap.get(b"c"), Some(&b"c-v"[..]));
        assert_eq!(snap.get(b"d"), None);
        assert_eq!(snap.entries(), sample().entries());
        assert_eq!(m.get(b"a"), Some(&b"changed"[..]));
    }

    proptest! {
        #[test]
        fn range_between_matches_a_filter(
            keys in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..4), 0..30),
            start in proptest::option::of(proptest::collection::vec(0u8..4, 0..4)),
            end in proptest::option::of(proptest::collection::vec(0u8..4, 0..4)),
        ) {
            let mut m = Model::new();
            for k in &keys {
                m.put(k, b"v");
            }
            let want: Vec<Entry> = m
                .entries()
                .into_iter()
                .filter(|(k, _)| start.as_ref().is_none_or(|s| k >= s) && end.as_ref().is_none_or(|e| k < e))
                .collect();
            prop_assert_eq!(m.range_between(start.as_deref(), end.as_deref()), want.clone());
            prop_assert_eq!(m.range_between_rev(start.as_deref(), end.as_deref()), reversed(want));
        }

        #[test]
        fn prefix_matches_a_filter(
            keys in proptest::collection::vec(proptest::collection::vec(prop_oneof![Just(0u8), Just(0xff)], 0..4), 0..30),
            prefix in proptest::collection::vec(prop_oneof![Just(0u8), Just(0xff)], 0..3),
        ) {
            let mut m = Model::new();
            for k in &keys {
                m.put(k, k);
            }
            let want: Vec<Entry> = m.entries().into_iter().filter(|(k, _)| k.starts_with(&prefix)).collect();
            prop_assert_eq!(m.prefix(&prefix), want);
        }
    }
}
