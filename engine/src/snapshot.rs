//! `Snapshot`: a repeatable point-in-time view (G7).
//!
//! A snapshot is a sequence number registered with the database, so compactions keep every
//! version it can see. Its reads go to the current super-version filtered by that sequence
//! number: data only moves between memtables and tables atomically (a super-version install),
//! so whatever was visible at the snapshot stays visible. Dropping the last handle unregisters
//! it (no I/O).

use std::ops::RangeBounds;
use std::sync::Arc;

use bytes::Bytes;
use cairn_base::{Result, SeqNum};

use crate::db::range_bounds;
use crate::inner::Inner;
use crate::iter::Iter;

/// A consistent read-only view of the database as of its creation. Cheap to clone; `Send + Sync`.
///
/// ```no_run
/// let db = cairn::Db::open("data")?;
/// db.put(b"k", b"old")?;
/// let snap = db.snapshot();
/// db.put(b"k", b"new")?;
/// assert_eq!(snap.get(b"k")?.as_deref(), Some(&b"old"[..]));
/// # Ok::<(), cairn::Error>(())
/// ```
pub struct Snapshot {
    inner: Arc<Inner>,
    seq: SeqNum,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("seq", &self.seq).finish()
    }
}

impl Snapshot {
    pub(crate) fn new(inner: Arc<Inner>) -> Snapshot {
        let mut snaps = inner.snapshots.lock();
        // Read the sequence number under the registry lock, so a compaction that lists
        // snapshots either sees this one or ran entirely before it existed.
        let seq = inner.read_seq();
        *snaps.entry(seq).or_insert(0) += 1;
        drop(snaps);
        Snapshot { inner, seq }
    }

    /// The sequence number this snapshot reads at.
    pub fn seq(&self) -> u64 {
        self.seq.0
    }

    /// The value of `key` as of the snapshot.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Bytes>> {
        self.inner.get(key.as_ref(), Some(self.seq))
    }

    /// True if `key` had a value as of the snapshot.
    pub fn contains_key(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        self.inner.contains_key(key.as_ref(), Some(self.seq))
    }

    /// The values of `keys` as of the snapshot.
    pub fn multi_get<K: AsRef<[u8]>>(&self, keys: impl IntoIterator<Item = K>) -> Result<Vec<Option<Bytes>>> {
        self.inner.multi_get(keys, Some(self.seq))
    }

    /// Pairs with keys in `range`, as of the snapshot.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Iter {
        let (lo, hi) = range_bounds(&range);
        Iter::new(self.inner.super_version(), self.seq, lo, hi)
    }

    /// Pairs whose key starts with `prefix`, as of the snapshot.
    pub fn prefix(&self, prefix: impl AsRef<[u8]>) -> Iter {
        let (lo, hi) = crate::db::prefix_bounds(prefix.as_ref());
        Iter::new(self.inner.super_version(), self.seq, lo, hi)
    }

    /// Every pair, as of the snapshot.
    pub fn iter(&self) -> Iter {
        self.range::<&[u8], _>(..)
    }
}

impl Clone for Snapshot {
    fn clone(&self) -> Self {
        *self.inner.snapshots.lock().entry(self.seq).or_insert(0) += 1;
        Snapshot { inner: self.inner.clone(), seq: self.seq }
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let mut snaps = self.inner.snapshots.lock();
        if let Some(n) = snaps.get_mut(&self.seq) {
            *n -= 1;
            if *n == 0 {
                snaps.remove(&self.seq);
            }
        }
    }
}
