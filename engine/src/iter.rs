//! `Iter`: the user-facing ordered iterator (`Db::range`, `prefix`, `iter`, and the same on
//! `Snapshot`).
//!
//! It pins one super-version and one sequence number, so it is a repeatable point-in-time view
//! (G7), and it owns what it pins (memtables and tables by `Arc`; table files are not deleted
//! while it lives). It is double-ended: the front and the back each drive their own merging
//! cursor, lazily created, and stop where the other has already been, so `next` and
//! `next_back` may be interleaved freely.
//!
//! Per user key it yields the newest version with a sequence number at or below the view's,
//! and nothing when that version is a tombstone.
//!
//! [`Iter::seek`] repositions it on the same view, reusing its cursors (a loop of seeks pays for
//! one iterator, as RocksDB's `db_bench seekrandom` does with one iterator per thread).

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use cairn_base::iter::{InternalIterator, MergingIterator};
use cairn_base::key::{InternalKey, MAX_SEQ, SeqNum, ValueKind, parse_internal_key};
use cairn_base::{Error, Result};

use crate::level_iter::LevelIter;
use crate::super_version::SuperVersion;

/// An ordered iterator over key-value pairs; see the module docs. Items are
/// `Result<(key, value)>`: a read error is yielded once and ends the iteration.
pub struct Iter {
    sv: Arc<SuperVersion>,
    seq: SeqNum,
    /// The bounds the iterator was created with.
    origin_lower: Bound<Vec<u8>>,
    /// The lower bound in force: `origin_lower`, or the key of the last `seek` when higher.
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    front: Option<MergingIterator>,
    /// `front` exists but must be positioned at `lower` again before its next step (after `seek`).
    front_stale: bool,
    back: Option<MergingIterator>,
    /// The user key whose versions the front cursor is skipping: the last key it consumed.
    /// Every key between the last one it yielded and this one is invisible, so the back cursor
    /// may stop here too.
    front_skip: Vec<u8>,
    front_skipping: bool,
    /// The last key the back cursor yielded (valid when `back_yielded`).
    back_last: Vec<u8>,
    back_yielded: bool,
    /// Whether the front cursor consumed any key (then `front_skip` bounds the back).
    front_consumed: bool,
    done: bool,
}

impl std::fmt::Debug for Iter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter").field("seq", &self.seq).field("done", &self.done).finish_non_exhaustive()
    }
}

impl Iter {
    pub(crate) fn new(sv: Arc<SuperVersion>, seq: SeqNum, lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>) -> Self {
        let empty = is_empty(&lower, &upper);
        Iter {
            sv,
            seq,
            origin_lower: lower.clone(),
            lower,
            upper,
            front: None,
            front_stale: false,
            back: None,
            front_skip: Vec::new(),
            front_skipping: false,
            back_last: Vec::new(),
            back_yielded: false,
            front_consumed: false,
            done: empty,
        }
    }

    /// Repositions the iterator on its view: the next [`next`](Iterator::next) yields the first
    /// live key `>= key` within the iterator's bounds (a `key` below the lower bound it was
    /// created with seeks to that bound), and [`next_back`](DoubleEndedIterator::next_back)
    /// starts again from the upper bound. The view stays the one pinned when the iterator was
    /// created (same memtables, tables and sequence number; writes made since are not seen), and
    /// the cursors are reused, so a loop of seeks costs one iterator creation, not one per seek.
    /// After an error ended the iteration, a seek lets the next call try again.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("cairn-doc-seek-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let db = cairn::Db::open(&dir)?;
    /// for k in [b"a", b"c", b"e", b"g"] {
    ///     db.put(k, b"v")?;
    /// }
    /// let mut it = db.range(b"b".as_slice()..b"g".as_slice());
    /// it.seek(b"d");
    /// assert_eq!(&it.next().transpose()?.expect("e").0[..], b"e");
    /// it.seek(b"a"); // below the range: back to its start
    /// assert_eq!(&it.next().transpose()?.expect("c").0[..], b"c");
    /// # drop(it); db.close()?; std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), cairn::Error>(())
    /// ```
    pub fn seek(&mut self, key: impl AsRef<[u8]>) {
        let key = key.as_ref();
        self.lower = match below(&self.origin_lower, key) {
            true => self.origin_lower.clone(),
            false => Bound::Included(key.to_vec()),
        };
        self.front_stale = self.front.is_some();
        self.back = None;
        self.front_skip.clear();
        self.front_skipping = false;
        self.back_last.clear();
        self.back_yielded = false;
        self.front_consumed = false;
        self.done = is_empty(&self.lower, &self.upper);
    }

    fn merge(&self) -> MergingIterator {
        merged_children(&self.sv)
    }

    fn below_lower(&self, uk: &[u8]) -> bool {
        below(&self.lower, uk)
    }

    fn step_front(&mut self) -> Result<Option<(Bytes, Bytes)>> {
        if self.front.is_none() || self.front_stale {
            // A stale cursor (after `seek`) is positioned again; if that fails it is dropped
            // and the next step starts from a new one.
            let mut it = self.front.take().unwrap_or_else(|| self.merge());
            self.front_stale = false;
            match &self.lower {
                Bound::Included(k) | Bound::Excluded(k) => {
                    it.seek(InternalKey::seek_key(k, MAX_SEQ).encoded())?;
                    if matches!(self.lower, Bound::Excluded(_)) {
                        self.front_skip = k.clone();
                        self.front_skipping = true;
                    }
                }
                Bound::Unbounded => it.seek_to_first()?,
            }
            self.front = Some(it);
        }
        let seq = self.seq;
        loop {
            let it = self.front.as_mut().expect("front cursor created above");
            if !it.valid() {
                return Ok(None);
            }
            let p = parse_internal_key(it.key())?;
            if p.seq > seq || (self.front_skipping && p.user_key == self.front_skip.as_slice()) {
                it.next()?;
                continue;
            }
            if above(&self.upper, p.user_key) || (self.back_yielded && p.user_key >= self.back_last.as_slice()) {
                return Ok(None);
            }
            self.front_skip.clear();
            self.front_skip.extend_from_slice(p.user_key);
            self.front_skipping = true;
            self.front_consumed = true;
            let kind = p.kind;
            let it = self.front.as_mut().expect("front cursor created above");
            if kind == ValueKind::Delete {
                it.next()?;
                continue;
            }
            let value = it.value_bytes();
            it.next()?;
            return Ok(Some((Bytes::copy_from_slice(&self.front_skip), value)));
        }
    }

    fn step_back(&mut self) -> Result<Option<(Bytes, Bytes)>> {
        if self.back.is_none() {
            let mut it = self.merge();
            match &self.upper {
                // Last entry of user key `k` is its oldest version: trailer (0, DEL) sorts last.
                Bound::Included(k) => it.seek_for_prev(InternalKey::new(k, SeqNum(0), ValueKind::Delete).encoded())?,
                // `k#MAX_SEQ,SET` sorts before every real version of `k`.
                Bound::Excluded(k) => it.seek_for_prev(InternalKey::seek_key(k, MAX_SEQ).encoded())?,
                Bound::Unbounded => it.seek_to_last()?,
            }
            self.back = Some(it);
        }
        let seq = self.seq;
        loop {
            let it = self.back.as_mut().expect("back cursor created above");
            if !it.valid() {
                return Ok(None);
            }
            let user_key = parse_internal_key(it.key())?.user_key.to_vec();
            if self.below_lower(&user_key) || (self.front_consumed && user_key.as_slice() <= self.front_skip.as_slice())
            {
                return Ok(None);
            }
            let it = self.back.as_mut().expect("back cursor created above");
            // Walk this user key's versions from oldest to newest; keep the newest visible.
            let mut best: Option<(ValueKind, Bytes)> = None;
            while it.valid() {
                let p = parse_internal_key(it.key())?;
                if p.user_key != user_key.as_slice() {
                    break;
                }
                if p.seq <= seq {
                    best = Some((p.kind, if p.kind == ValueKind::Set { it.value_bytes() } else { Bytes::new() }));
                }
                it.prev()?;
            }
            if let Some((ValueKind::Set, value)) = best {
                self.back_last.clear();
                self.back_last.extend_from_slice(&user_key);
                self.back_yielded = true;
                return Ok(Some((Bytes::from(user_key), value)));
            }
        }
    }

    fn finish(&mut self, step: Result<Option<(Bytes, Bytes)>>) -> Option<Result<(Bytes, Bytes)>> {
        match step {
            Ok(Some(kv)) => Some(Ok(kv)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl Iterator for Iter {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = self.step_front();
        self.finish(step)
    }
}

impl DoubleEndedIterator for Iter {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = self.step_back();
        self.finish(step)
    }
}

/// True if no key lies within both bounds.
fn is_empty(lower: &Bound<Vec<u8>>, upper: &Bound<Vec<u8>>) -> bool {
    match (lower, upper) {
        (Bound::Included(l) | Bound::Excluded(l), Bound::Excluded(u)) => l >= u,
        (Bound::Excluded(l), Bound::Included(u)) => l >= u,
        (Bound::Included(l), Bound::Included(u)) => l > u,
        _ => false,
    }
}

/// True if `uk` lies above the upper bound.
fn above(upper: &Bound<Vec<u8>>, uk: &[u8]) -> bool {
    match upper {
        Bound::Included(u) => uk > u.as_slice(),
        Bound::Excluded(u) => uk >= u.as_slice(),
        Bound::Unbounded => false,
    }
}

/// True if `uk` lies below the lower bound.
fn below(lower: &Bound<Vec<u8>>, uk: &[u8]) -> bool {
    match lower {
        Bound::Included(l) => uk < l.as_slice(),
        Bound::Excluded(l) => uk <= l.as_slice(),
        Bound::Unbounded => false,
    }
}

/// One merging iterator over every source of `sv`, newest first.
pub(crate) fn merged_children(sv: &Arc<SuperVersion>) -> MergingIterator {
    let mut children: Vec<Box<dyn InternalIterator>> = Vec::new();
    children.push(Box::new(sv.mem.iter()));
    for imm in &sv.imms {
        children.push(Box::new(imm.mem.iter()));
    }
    if let Err(e) = sv.check_complete() {
        children.push(Box::new(Failing(e)));
    }
    children.extend(sv.levels[0].iter().map(|t| Box::new(t.table.iter()) as Box<dyn InternalIterator>));
    for level in (1..sv.levels.len()).filter(|&l| !sv.levels[l].is_empty()) {
        children.push(Box::new(LevelIter::new(sv.clone(), level)));
    }
    MergingIterator::new(children)
}

/// A child that reports an error on first use (an invariant violation surfaced as an error).
struct Failing(Error);

impl InternalIterator for Failing {
    fn valid(&self) -> bool {
        false
    }
    fn seek_to_first(&mut self) -> Result<()> {
        Err(self.0.clone())
    }
    fn seek_to_last(&mut self) -> Result<()> {
        Err(self.0.clone())
    }
    fn seek(&mut self, _: &[u8]) -> Result<()> {
        Err(self.0.clone())
    }
    fn seek_for_prev(&mut self, _: &[u8]) -> Result<()> {
        Err(self.0.clone())
    }
    fn next(&mut self) -> Result<()> {
        Err(self.0.clone())
    }
    fn prev(&mut self) -> Result<()> {
        Err(self.0.clone())
    }
    fn key(&self) -> &[u8] {
        &[]
    }
    fn value(&self) -> &[u8] {
        &[]
    }
}

/// The smallest key greater than every key starting with `prefix`, if any.
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut s = prefix.to_vec();
    while let Some(last) = s.pop() {
        if last < 0xff {
            s.push(last + 1);
            return Some(s);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_cases() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        assert_eq!(prefix_successor(b""), None);
    }
}
