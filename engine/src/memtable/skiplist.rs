//! The memtable's ordered structure: an arena-backed skiplist of `(internal key, value)`
//! entries with one writer at a time and any number of lock-free readers
//! (docs/unsafe.md#memtable-arena-and-skiplist).
//!
//! Owns the node layout, the search and insert algorithms and the publication protocol. Leaves
//! memory to [`Arena`] and the meaning of entries (sequence numbers, kinds, visibility) to the
//! memtable in `mod.rs`. A node is one arena allocation, its tower stored *before* the header
//! so the header, the level-0 link and the key share cache lines:
//!
//! ```text
//! node := link[height-1] .. link[1] link[0]   (AtomicPtr to the next node's header; null = end)
//!         key_len:u32 value_len:u32           <- a node pointer addresses this header
//!         init_mark[MARK_BYTES]               (0 bytes except under loom: see `InitMark`)
//!         key[key_len]                        (encoded internal key: user_key ++ trailer)
//!         value[value_len]
//! ```
//!
//! Invariants (cited in the `SAFETY:` comments):
//! * SKIP-1: a node's header, key, value and links are fully written before the node is
//!   published, and never written afterwards except its links, which are atomics.
//! * SKIP-2: a node is published by a `Release` store of its address into a predecessor's link;
//!   readers load links with `Acquire`, so everything reachable is fully written for them.
//! * SKIP-3: a node reached through its link at level `l` has a height greater than `l`; the
//!   head has height [`MAX_HEIGHT`]. Searches only descend, so they never read a missing link.
//! * SKIP-4: every node lives in this list's arena, which never moves or frees memory before
//!   the list drops (ARENA-1); a [`Node`] borrows the list and a [`Cursor`] is checked against
//!   the list's unique id before use, so neither can outlive the memory it points to.
//! * SKIP-5: at every level, keys strictly increase along the links (internal-key order, no
//!   duplicates): all mutation happens under the writer lock, so the splice an insert computes
//!   cannot change before it links the node.
//!
//! The atomics and the writer lock come from `crate::sync`, so the loom models in
//! `loom_models.rs` check SKIP-1/SKIP-2 (every node a reader reaches is fully written: each key
//! or value read is checked against the node's `InitMark`) and SKIP-5 under every
//! interleaving of a writer with a reader (docs/testing.md#loom-models).
#![expect(unsafe_code, reason = "lock-free skiplist over raw arena memory; see docs/unsafe.md")]

use std::cmp::Ordering;
use std::fmt;
use std::ptr::{self, NonNull};
use std::sync::atomic::AtomicU64;

use cairn_base::key::{self as ikey, TRAILER_BYTES};
use crossbeam::utils::CachePadded;

use super::arena::{ALIGN_BYTES, Arena};
use crate::sync::{AtomicPtr, AtomicUsize, InitMark, Mutex, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};

/// Highest tower. With branching 4 a list of `4^12` (16.7 M) entries still searches in
/// O(log n); memtables hold far fewer.
pub(super) const MAX_HEIGHT: usize = 12;

/// Bits of randomness per level: a node reaches the next level with probability `1/4`.
const BRANCHING_BITS: u32 = 2;

const LINK_BYTES: usize = size_of::<AtomicPtr<u8>>();
/// Bytes of the node's [`InitMark`], rounded up to keep the key 8-aligned: 0 in a normal build.
const MARK_BYTES: usize = size_of::<InitMark>().next_multiple_of(ALIGN_BYTES);
/// `key_len`, `value_len` and the mark.
const HEADER_BYTES: usize = 2 * size_of::<u32>() + MARK_BYTES;

const _: () = assert!(LINK_BYTES.is_multiple_of(ALIGN_BYTES) && align_of::<AtomicPtr<u8>>() <= ALIGN_BYTES);
const _: () = assert!(HEADER_BYTES.is_multiple_of(ALIGN_BYTES) && align_of::<u32>() <= ALIGN_BYTES);
const _: () = assert!(align_of::<InitMark>() <= ALIGN_BYTES);
const _: () = assert!(MAX_HEIGHT as u32 * BRANCHING_BITS <= 64);

/// Ids tell lists apart for [`Cursor`] checks; never reused within a process.
static NEXT_LIST_ID: AtomicU64 = AtomicU64::new(1);

/// The address of a node's header (see the module docs for the layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NodePtr(NonNull<u8>);

impl NodePtr {
    /// The link at `level`.
    ///
    /// # Safety
    /// `self` is the head or a node of a live list, reached as SKIP-2 describes (or being
    /// written by the writer that allocated it), and `level` is below its height (SKIP-3).
    /// The returned reference must not outlive the list.
    #[inline]
    unsafe fn link<'a>(self, level: usize) -> &'a AtomicPtr<u8> {
        // SAFETY: link `level` lies `(level + 1) * LINK_BYTES` before the header, inside the
        // node's allocation because `level < height`; it is 8-aligned (ARENA-1, the header is
        // at a multiple of LINK_BYTES from the allocation start) and was initialized before
        // publication (SKIP-1). The arena keeps it alive as long as the list (SKIP-4).
        unsafe { &*self.0.as_ptr().sub((level + 1) * LINK_BYTES).cast::<AtomicPtr<u8>>() }
    }

    /// The node after `self` at `level`, or `None` at the end.
    ///
    /// # Safety
    /// As for [`NodePtr::link`].
    #[inline]
    unsafe fn next(self, level: usize) -> Option<NodePtr> {
        // SAFETY: forwarded to the caller. Acquire pairs with the Release that published the
        // node the link points to (SKIP-2).
        NonNull::new(unsafe { self.link(level) }.load(Acquire)).map(NodePtr)
    }

    /// The encoded internal key.
    ///
    /// # Safety
    /// `self` is the head or a published node of a list that outlives `'a` (SKIP-2, SKIP-4).
    #[inline]
    unsafe fn key<'a>(self) -> &'a [u8] {
        let header = self.0.as_ptr();
        // SAFETY: the header is 8-aligned and was written before publication (SKIP-1); the
        // key's `key_len` bytes follow it inside the same allocation and are never written
        // again; the arena outlives `'a` (SKIP-4).
        unsafe {
            self.init_mark().check_read();
            let key_len = header.cast::<u32>().read() as usize;
            std::slice::from_raw_parts(header.add(HEADER_BYTES), key_len)
        }
    }

    /// The mark written with the node (see [`InitMark`]).
    ///
    /// # Safety
    /// As for [`NodePtr::key`].
    #[inline]
    unsafe fn init_mark<'a>(self) -> &'a InitMark {
        // SAFETY: the mark lies right after `key_len` and `value_len`, 8-aligned (both are
        // u32s and the header is 8-aligned), inside the node's allocation; it was written
        // before publication (SKIP-1) and is never written again; the arena outlives `'a`
        // (SKIP-4). In a normal build it is zero-sized.
        unsafe { &*self.0.as_ptr().add(2 * size_of::<u32>()).cast::<InitMark>() }
    }

    /// The value bytes.
    ///
    /// # Safety
    /// As for [`NodePtr::key`].
    #[inline]
    unsafe fn value<'a>(self) -> &'a [u8] {
        let header = self.0.as_ptr();
        // SAFETY: as in `key`: the value's `value_len` bytes follow the key inside the node's
        // allocation, written before publication and never again.
        unsafe {
            self.init_mark().check_read();
            let key_len = header.cast::<u32>().read() as usize;
            let value_len = header.add(size_of::<u32>()).cast::<u32>().read() as usize;
            std::slice::from_raw_parts(header.add(HEADER_BYTES + key_len), value_len)
        }
    }
}

/// Orders a node's encoded internal key against the target `(user_key, trailer)` without
/// building an internal key: user key ascending, then trailer descending.
#[inline]
fn compare_to_target(node_key: &[u8], user_key: &[u8], trailer: u64) -> Ordering {
    ikey::user_key(node_key).cmp(user_key).then_with(|| trailer.cmp(&ikey::trailer(node_key)))
}

/// A published entry of a list borrowed for `'a`.
#[derive(Clone, Copy)]
pub(super) struct Node<'a> {
    /// Never the head: only search results, reached as SKIP-2 describes, are wrapped.
    ptr: NodePtr,
    /// The list `ptr` belongs to.
    list: &'a SkipList,
}

impl fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never prints user keys or values (docs: errors and logs never print user data).
        f.debug_struct("Node").field("key_len", &self.key().len()).field("value_len", &self.value().len()).finish()
    }
}

impl<'a> Node<'a> {
    /// The encoded internal key `user_key ++ trailer`.
    #[inline]
    pub(super) fn key(self) -> &'a [u8] {
        // SAFETY: `ptr` is a published node of a list borrowed for `'a` (field invariant).
        unsafe { self.ptr.key() }
    }

    /// The value.
    #[inline]
    pub(super) fn value(self) -> &'a [u8] {
        // SAFETY: as in `key`.
        unsafe { self.ptr.value() }
    }

    /// The next entry in key order.
    #[inline]
    pub(super) fn next(self) -> Option<Node<'a>> {
        // SAFETY: every node has height >= 1 (SKIP-3) and is published (field invariant).
        unsafe { self.ptr.next(0) }.map(|ptr| self.list.node(ptr))
    }

    /// A lifetime-free position to come back to through [`SkipList::resolve`].
    pub(super) fn cursor(self) -> Cursor {
        Cursor { ptr: self.ptr, list_id: self.list.id }
    }
}

/// A position in a list that does not borrow it, for iterators that own the list through an
/// `Arc`. Only [`SkipList::resolve`] turns it back into a [`Node`], after checking that it
/// belongs to that list (SKIP-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cursor {
    ptr: NodePtr,
    list_id: u64,
}

// SAFETY: a cursor is an address plus a list id and is never dereferenced on its own: only
// `SkipList::resolve` does, after matching the id against a list the caller borrows, which
// keeps the node alive (SKIP-4). Moving the cursor between threads synchronizes (a send or a
// spawn), so the node stays published for the receiving thread (SKIP-2).
unsafe impl Send for Cursor {}
// SAFETY: as for Send; a shared cursor offers only copies of itself.
unsafe impl Sync for Cursor {}

/// What only the writer touches, on its own cache lines so inserts do not evict the readers'
/// copy of the list's head and height.
struct WriterSide {
    /// The writer lock; guards the arena and the height generator. Readers never touch it.
    lock: Mutex<Writer>,
    /// Published entries. Written under `lock`.
    len: AtomicUsize,
    /// Arena bytes in use (ARENA-2). Written under `lock`.
    in_use_bytes: AtomicUsize,
    /// Arena bytes reserved. Written under `lock`.
    reserved_bytes: AtomicUsize,
}

struct Writer {
    arena: Arena,
    /// xorshift64* state for tower heights. Deterministic: heights do not affect results.
    rng_state: u64,
}

impl Writer {
    fn random_height(&mut self) -> usize {
        self.rng_state ^= self.rng_state >> 12;
        self.rng_state ^= self.rng_state << 25;
        self.rng_state ^= self.rng_state >> 27;
        let bits = self.rng_state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let mask = (1u64 << BRANCHING_BITS) - 1;
        let mut height = 1;
        while height < MAX_HEIGHT && (bits >> (64 - BRANCHING_BITS * height as u32)) & mask == 0 {
            height += 1;
        }
        height
    }

    /// Allocates and fully writes a node (SKIP-1) whose links point at `next`.
    fn write_node(&mut self, user_key: &[u8], trailer: u64, value: &[u8], next: &[Option<NodePtr>]) -> NodePtr {
        let height = next.len();
        let key_len = user_key.len() + TRAILER_BYTES;
        let key_len_u32 = u32::try_from(key_len).expect("REQUIRES: memtable keys are shorter than 4 GiB");
        let value_len_u32 = u32::try_from(value.len()).expect("REQUIRES: memtable values are shorter than 4 GiB");
        let size_bytes = height * LINK_BYTES + HEADER_BYTES + key_len + value.len();
        let base = self.arena.alloc(size_bytes).as_ptr();
        // SAFETY: `base` is valid for writes of `size_bytes` bytes and 8-aligned (ARENA-1), and
        // not yet reachable by any reader; every write below stays inside it: the links fill
        // `[base, header)`, then the header (lengths and mark), key and value fill
        // `[header, base + size_bytes)`.
        unsafe {
            let header = base.add(height * LINK_BYTES);
            for (level, next_node) in next.iter().enumerate() {
                let target = next_node.map_or(ptr::null_mut(), |n| n.0.as_ptr());
                header.sub((level + 1) * LINK_BYTES).cast::<AtomicPtr<u8>>().write(AtomicPtr::new(target));
            }
            header.cast::<u32>().write(key_len_u32);
            header.add(size_of::<u32>()).cast::<u32>().write(value_len_u32);
            header.add(2 * size_of::<u32>()).cast::<InitMark>().write(InitMark::new());
            let key_at = header.add(HEADER_BYTES);
            ptr::copy_nonoverlapping(user_key.as_ptr(), key_at, user_key.len());
            ptr::copy_nonoverlapping(trailer.to_le_bytes().as_ptr(), key_at.add(user_key.len()), TRAILER_BYTES);
            ptr::copy_nonoverlapping(value.as_ptr(), key_at.add(key_len), value.len());
            NodePtr(NonNull::new_unchecked(header))
        }
    }
}

/// The predecessors and successors of a new key at every level.
struct Splice {
    prev: [NodePtr; MAX_HEIGHT],
    next: [Option<NodePtr>; MAX_HEIGHT],
}

/// An arena-backed skiplist ordered by internal key; see the module docs.
pub(super) struct SkipList {
    /// Sentinel of height MAX_HEIGHT; its key is never compared and it is never yielded.
    head: NodePtr,
    /// Levels in use, `1..=MAX_HEIGHT`. Only grows; a reader seeing a stale value just starts
    /// lower, one seeing a fresh value before the links just finds them null.
    height: AtomicUsize,
    /// Unique per list (SKIP-4).
    id: u64,
    writer: CachePadded<WriterSide>,
}

// SAFETY: the list owns its arena and therefore every node; `head` points into that arena.
// Nothing is tied to the creating thread.
unsafe impl Send for SkipList {}
// SAFETY: shared access only reads node bytes that were fully written before their Release
// publication and are never written again (SKIP-1, SKIP-2), or uses atomics; every mutation
// (arena allocation, node writes, linking) happens under `writer.lock`.
unsafe impl Sync for SkipList {}

impl fmt::Debug for SkipList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkipList")
            .field("len", &self.len())
            .field("height", &self.height.load(Relaxed))
            .field("in_use_bytes", &self.in_use_bytes())
            .finish()
    }
}

impl SkipList {
    /// An empty list whose arena chunks grow up to `max_chunk_bytes`.
    pub(super) fn new(max_chunk_bytes: usize) -> SkipList {
        let mut writer = Writer { arena: Arena::new(max_chunk_bytes), rng_state: 0x9E37_79B9_7F4A_7C15 };
        let head = writer.write_node(&[], 0, &[], &[None; MAX_HEIGHT]);
        let writer_side = WriterSide {
            len: AtomicUsize::new(0),
            in_use_bytes: AtomicUsize::new(writer.arena.in_use_bytes()),
            reserved_bytes: AtomicUsize::new(writer.arena.reserved_bytes()),
            lock: Mutex::new(writer),
        };
        SkipList {
            head,
            height: AtomicUsize::new(1),
            id: NEXT_LIST_ID.fetch_add(1, Relaxed),
            writer: CachePadded::new(writer_side),
        }
    }

    /// Published entries.
    pub(super) fn len(&self) -> usize {
        self.writer.len.load(Relaxed)
    }

    /// Arena bytes in use (ARENA-2).
    pub(super) fn in_use_bytes(&self) -> usize {
        self.writer.in_use_bytes.load(Relaxed)
    }

    /// Arena bytes reserved from the heap.
    pub(super) fn reserved_bytes(&self) -> usize {
        self.writer.reserved_bytes.load(Relaxed)
    }

    /// Inserts `user_key ++ trailer -> value`. Safe to call from several threads: writers
    /// serialize on the writer lock; readers are never blocked.
    ///
    /// REQUIRES: the internal key is not in the list yet (the engine never reuses a sequence
    /// number); a duplicate panics before anything is written.
    pub(super) fn insert(&self, user_key: &[u8], trailer: u64, value: &[u8]) {
        let mut writer = self.writer.lock.lock();
        let splice = self.find_splice(user_key, trailer);
        if let Some(next) = splice.next[0] {
            // SAFETY: `next` was reached through links from the head (SKIP-2) and the list is
            // borrowed for this call.
            let next_key = unsafe { next.key() };
            assert!(compare_to_target(next_key, user_key, trailer) != Ordering::Equal, "internal key inserted twice");
        }
        let height = writer.random_height();
        let node = writer.write_node(user_key, trailer, value, &splice.next[..height]);
        if height > self.height.load(Relaxed) {
            self.height.store(height, Relaxed);
        }
        for (level, prev) in splice.prev[..height].iter().enumerate() {
            // SAFETY: `prev` is the head or a node linked at `level`, so its height exceeds
            // `level` (SKIP-3). Release publishes the fully written node (SKIP-1, SKIP-2); the
            // splice is current because we hold the writer lock (SKIP-5).
            unsafe { prev.link(level) }.store(node.0.as_ptr(), Release);
        }
        self.writer.len.store(self.len() + 1, Relaxed);
        self.writer.in_use_bytes.store(writer.arena.in_use_bytes(), Relaxed);
        self.writer.reserved_bytes.store(writer.arena.reserved_bytes(), Relaxed);
    }

    /// For each level, the last node before `(user_key, trailer)` and the first one not before.
    fn find_splice(&self, user_key: &[u8], trailer: u64) -> Splice {
        let mut splice = Splice { prev: [self.head; MAX_HEIGHT], next: [None; MAX_HEIGHT] };
        let mut x = self.head;
        for level in (0..self.height.load(Relaxed)).rev() {
            loop {
                // SAFETY: `x` is the head or was reached at a level >= `level` (SKIP-3).
                let next = unsafe { x.next(level) };
                match next {
                    // SAFETY: `n` was reached through links (SKIP-2) of the borrowed list.
                    Some(n) if compare_to_target(unsafe { n.key() }, user_key, trailer) == Ordering::Less => x = n,
                    _ => {
                        splice.prev[level] = x;
                        splice.next[level] = next;
                        break;
                    }
                }
            }
        }
        splice
    }

    /// The first entry whose key is `>= (user_key, trailer)`.
    #[inline]
    pub(super) fn seek_ge(&self, user_key: &[u8], trailer: u64) -> Option<Node<'_>> {
        let mut x = self.head;
        let mut level = self.height.load(Relaxed) - 1;
        // The last node found not before the target: when a lower level leads to it again,
        // skip the comparison.
        let mut known_not_before: Option<NodePtr> = None;
        loop {
            // SAFETY: `x` is the head or was reached at a level >= `level` (SKIP-3).
            let next = unsafe { x.next(level) };
            let next_is_before = match next {
                Some(n) if next != known_not_before => {
                    // SAFETY: `n` was reached through links (SKIP-2) of the borrowed list.
                    compare_to_target(unsafe { n.key() }, user_key, trailer) == Ordering::Less
                }
                _ => false,
            };
            match next {
                Some(n) if next_is_before => x = n,
                _ if level == 0 => return next.map(|n| self.node(n)),
                _ => {
                    known_not_before = next;
                    level -= 1;
                }
            }
        }
    }

    /// The last entry whose key is `< (user_key, trailer)`, or `<=` when `inclusive`.
    pub(super) fn seek_before(&self, user_key: &[u8], trailer: u64, inclusive: bool) -> Option<Node<'_>> {
        let keep = |o: Ordering| o == Ordering::Less || (inclusive && o == Ordering::Equal);
        // SAFETY: `n` was reached through links (SKIP-2) of the borrowed list.
        self.walk_to_last(|n| keep(compare_to_target(unsafe { n.key() }, user_key, trailer)))
    }

    /// The first entry.
    pub(super) fn first(&self) -> Option<Node<'_>> {
        // SAFETY: the head has height MAX_HEIGHT >= 1 (SKIP-3) and the list is borrowed.
        unsafe { self.head.next(0) }.map(|n| self.node(n))
    }

    /// The last entry.
    pub(super) fn last(&self) -> Option<Node<'_>> {
        self.walk_to_last(|_| true)
    }

    /// The entry before `node` in key order: O(log n), a search from the head.
    pub(super) fn prev(&self, node: Node<'_>) -> Option<Node<'_>> {
        let key = node.key();
        self.seek_before(ikey::user_key(key), ikey::trailer(key), false)
    }

    /// Turns a cursor taken from this list back into a node.
    ///
    /// Panics if `cursor` came from another list: its node might already be freed.
    #[inline]
    pub(super) fn resolve(&self, cursor: Cursor) -> Node<'_> {
        assert_eq!(cursor.list_id, self.id, "cursor used with a list other than its own");
        self.node(cursor.ptr)
    }

    /// Wraps a node of this list. REQUIRES: `ptr` is not the head and was reached through
    /// links of this list (SKIP-2), or came back through a checked [`Cursor`].
    #[inline]
    fn node(&self, ptr: NodePtr) -> Node<'_> {
        debug_assert!(ptr != self.head);
        Node { ptr, list: self }
    }

    /// Descends from the head, moving right while `advance(next)` holds; returns the node it
    /// stops on at level 0, or `None` if that is the head. `advance` must be monotone along
    /// the list (true on a prefix), as key comparisons are.
    #[inline]
    fn walk_to_last(&self, advance: impl Fn(NodePtr) -> bool) -> Option<Node<'_>> {
        let mut x = self.head;
        // The last node `advance` refused: when a lower level leads to it again, stop there
        // without asking again.
        let mut known_stop: Option<NodePtr> = None;
        for level in (0..self.height.load(Relaxed)).rev() {
            // SAFETY: `x` is the head or was reached at a level >= `level` (SKIP-3).
            while let Some(n) = unsafe { x.next(level) } {
                if Some(n) == known_stop || !advance(n) {
                    known_stop = Some(n);
                    break;
                }
                x = n;
            }
        }
        (x != self.head).then(|| self.node(x))
    }
}

// Real threads and lists outside a loom model: not under `--cfg loom` (see loom_models.rs).
#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::arena::MAX_CHUNK_BYTES;
    use super::*;

    fn collect(list: &SkipList) -> Vec<Vec<u8>> {
        std::iter::successors(list.first(), |n| n.next()).map(|n| n.key().to_vec()).collect()
    }

    fn ik(user_key: &[u8], trailer: u64) -> Vec<u8> {
        let mut k = user_key.to_vec();
        k.extend_from_slice(&trailer.to_le_bytes());
        k
    }

    #[test]
    fn entries_come_out_in_internal_key_order() {
        let list = SkipList::new(MAX_CHUNK_BYTES);
        for (k, t) in [(&b"b"[..], 5u64), (b"a", 1), (b"b", 9), (b"", 3), (b"ab", 2), (b"b", 7)] {
            list.insert(k, t, &t.to_le_bytes());
        }
        let expected = vec![ik(b"", 3), ik(b"a", 1), ik(b"ab", 2), ik(b"b", 9), ik(b"b", 7), ik(b"b", 5)];
        assert_eq!(collect(&list), expected);
        assert_eq!(list.len(), 6);
        let last = list.last().expect("non-empty");
        assert_eq!((last.key(), last.value()), (&ik(b"b", 5)[..], &5u64.to_le_bytes()[..]));
    }

    #[test]
    fn seeks_land_on_the_right_neighbours() {
        let list = SkipList::new(MAX_CHUNK_BYTES);
        for i in (0u8..100).step_by(2) {
            list.insert(&[i], 10, b"v");
        }
        let key = |n: Option<Node<'_>>| n.map(|n| n.key().to_vec());
        assert_eq!(key(list.seek_ge(&[41], 10)), Some(ik(&[42], 10)));
        assert_eq!(key(list.seek_ge(&[42], 10)), Some(ik(&[42], 10)));
        assert_eq!(key(list.seek_ge(&[42], 9)), Some(ik(&[44], 10)), "trailer 9 sorts after 10");
        assert_eq!(key(list.seek_before(&[42], 10, false)), Some(ik(&[40], 10)));
        assert_eq!(key(list.seek_before(&[42], 10, true)), Some(ik(&[42], 10)));
        assert_eq!(key(list.seek_before(&[0], 10, false)), None);
        assert_eq!(key(list.seek_ge(&[99], 0)), None);
        let n42 = list.seek_ge(&[42], 10).expect("present");
        assert_eq!(key(list.prev(n42)), Some(ik(&[40], 10)));
    }

    #[test]
    fn empty_list_has_no_entries() {
        let list = SkipList::new(MAX_CHUNK_BYTES);
        assert!(list.first().is_none() && list.last().is_none());
        assert!(list.seek_ge(b"", u64::MAX).is_none());
        assert!(list.seek_before(&[0xff; 4], 0, true).is_none());
    }

    #[test]
    #[should_panic(expected = "inserted twice")]
    fn duplicate_internal_key_panics() {
        let list = SkipList::new(MAX_CHUNK_BYTES);
        list.insert(b"k", 7, b"1");
        list.insert(b"k", 7, b"2");
    }

    #[test]
    #[should_panic(expected = "other than its own")]
    fn cursor_from_another_list_is_refused() {
        let a = SkipList::new(MAX_CHUNK_BYTES);
        let b = SkipList::new(MAX_CHUNK_BYTES);
        a.insert(b"k", 1, b"v");
        let cursor = a.first().expect("non-empty").cursor();
        assert_eq!(a.resolve(cursor).key(), &ik(b"k", 1)[..]);
        b.resolve(cursor);
    }

    #[test]
    fn heights_follow_branching_four() {
        let mut writer = Writer { arena: Arena::new(MAX_CHUNK_BYTES), rng_state: 0x9E37_79B9_7F4A_7C15 };
        let mut at_least = [0usize; MAX_HEIGHT + 1];
        let samples = 100_000;
        for _ in 0..samples {
            let h = writer.random_height();
            assert!((1..=MAX_HEIGHT).contains(&h));
            for count in &mut at_least[1..=h] {
                *count += 1;
            }
        }
        // P(height >= h) = 4^-(h-1): expect ~25000 at 2, ~6250 at 3, ~1560 at 4.
        for (h, expected) in [(2, 25_000.0), (3, 6_250.0), (4, 1_562.5)] {
            let ratio = at_least[h] as f64 / expected;
            assert!((0.9..1.1).contains(&ratio), "height >= {h}: {} of {samples}", at_least[h]);
        }
    }
}
