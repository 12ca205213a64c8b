//! The memtable arena: a bump allocator over large heap chunks that never move and are freed
//! only when the arena is dropped (docs/unsafe.md#memtable-arena-and-skiplist).
//!
//! Owns raw memory and its accounting, nothing else: it does not know what a node is, never
//! reads the bytes it hands out and never synchronizes (the skiplist calls [`Arena::alloc`] only
//! under its writer lock). Invariants:
//! * ARENA-1: every pointer returned by [`Arena::alloc`] is [`ALIGN_BYTES`]-aligned, valid for
//!   reads and writes of the requested size, disjoint from every other allocation, and stays
//!   valid, at the same address, until the arena is dropped (chunks are never moved, grown,
//!   reused or freed before that).
//! * ARENA-2: `in_use_bytes() <= reserved_bytes()`, and `in_use_bytes()` grows by at least the
//!   requested size on every allocation.
//!
//! Regular chunks grow geometrically from [`MIN_CHUNK_BYTES`] to the arena's maximum (1 MiB by
//! default), so an empty memtable costs 4 KiB, not 1 MiB. A request larger than a quarter of
//! the maximum chunk gets a dedicated chunk of exactly its size, so big values neither waste
//! the tail of the current chunk nor force every chunk to be big.
#![expect(unsafe_code, reason = "the arena hands out raw chunk memory; see docs/unsafe.md")]

use std::alloc::{self, Layout};
use std::fmt;
use std::ptr::NonNull;

/// Alignment of every allocation: enough for the `u32` header fields and the atomic tower
/// links of a skiplist node.
pub(super) const ALIGN_BYTES: usize = 8;

/// Size of the first regular chunk; later ones double up to the arena's maximum.
pub(super) const MIN_CHUNK_BYTES: usize = 4 << 10;

/// Default maximum size of a regular chunk.
pub(super) const MAX_CHUNK_BYTES: usize = 1 << 20;

const _: () = assert!(MIN_CHUNK_BYTES.is_power_of_two() && MAX_CHUNK_BYTES.is_power_of_two());
const _: () = assert!(MIN_CHUNK_BYTES <= MAX_CHUNK_BYTES && ALIGN_BYTES <= MIN_CHUNK_BYTES);

/// One heap allocation owned by the arena.
struct Chunk {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl Drop for Chunk {
    fn drop(&mut self) {
        // SAFETY: `ptr` was returned by `alloc::alloc(self.layout)` in `Chunk::new` and is freed
        // exactly once, here; ARENA-1 promises validity only until the arena (which owns every
        // chunk) is dropped.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

impl Chunk {
    /// Allocates `size_bytes` (> 0, a multiple of [`ALIGN_BYTES`]) of uninitialized memory.
    fn new(size_bytes: usize) -> Chunk {
        debug_assert!(size_bytes > 0 && size_bytes.is_multiple_of(ALIGN_BYTES));
        let layout = Layout::from_size_align(size_bytes, ALIGN_BYTES).expect("chunk size fits in isize");
        // SAFETY: `layout` has a non-zero size (asserted by every caller: requests are rounded
        // up to a non-zero multiple of ALIGN_BYTES).
        let raw = unsafe { alloc::alloc(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| alloc::handle_alloc_error(layout));
        Chunk { ptr, layout }
    }
}

/// A bump allocator; see the module docs for its invariants.
pub(super) struct Arena {
    /// Every chunk ever allocated, regular and dedicated; freed when the arena drops.
    chunks: Vec<Chunk>,
    /// Next free byte of the current regular chunk (dangling while there is none).
    bump: NonNull<u8>,
    /// Bytes left after `bump` in the current regular chunk.
    remaining_bytes: usize,
    /// Size of the next regular chunk.
    next_chunk_bytes: usize,
    /// Largest regular chunk; requests above a quarter of it get a dedicated chunk.
    max_chunk_bytes: usize,
    /// Sum of the sizes of all chunks.
    reserved_bytes: usize,
}

// SAFETY: the arena exclusively owns its chunks (like a `Vec<Box<[u8]>>`); `bump` only points
// into the current chunk. Nothing in it is tied to the thread that created it, so moving it
// to another thread is sound. It is not `Sync`: allocation needs `&mut self`.
unsafe impl Send for Arena {}

impl fmt::Debug for Arena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arena")
            .field("chunks", &self.chunks.len())
            .field("in_use_bytes", &self.in_use_bytes())
            .field("reserved_bytes", &self.reserved_bytes)
            .finish()
    }
}

impl Arena {
    /// An empty arena whose regular chunks grow up to `max_chunk_bytes` (a power of two, at
    /// least [`MIN_CHUNK_BYTES`]). Allocates nothing yet.
    pub(super) fn new(max_chunk_bytes: usize) -> Arena {
        assert!(
            max_chunk_bytes.is_power_of_two() && max_chunk_bytes >= MIN_CHUNK_BYTES,
            "max_chunk_bytes must be a power of two >= MIN_CHUNK_BYTES"
        );
        Arena {
            chunks: Vec::new(),
            bump: NonNull::dangling(),
            remaining_bytes: 0,
            next_chunk_bytes: MIN_CHUNK_BYTES,
            max_chunk_bytes,
            reserved_bytes: 0,
        }
    }

    /// Allocates `size_bytes` of uninitialized memory, [`ALIGN_BYTES`]-aligned, valid until the
    /// arena is dropped (ARENA-1). Using the memory is the caller's (unsafe) business.
    pub(super) fn alloc(&mut self, size_bytes: usize) -> NonNull<u8> {
        let rounded_bytes = size_bytes
            .max(1)
            .checked_next_multiple_of(ALIGN_BYTES)
            .expect("allocation size is bounded by slices that exist in memory");
        if rounded_bytes <= self.remaining_bytes {
            return self.bump_alloc(rounded_bytes);
        }
        if rounded_bytes > self.max_chunk_bytes / 4 {
            return self.dedicated_alloc(rounded_bytes);
        }
        self.start_chunk(rounded_bytes);
        self.bump_alloc(rounded_bytes)
    }

    /// Bytes handed out, including alignment padding and the abandoned tails of earlier
    /// regular chunks: everything reserved except the free tail of the current chunk.
    pub(super) fn in_use_bytes(&self) -> usize {
        self.reserved_bytes - self.remaining_bytes
    }

    /// Bytes of heap memory the arena holds.
    pub(super) fn reserved_bytes(&self) -> usize {
        self.reserved_bytes
    }

    /// REQUIRES: `rounded_bytes <= self.remaining_bytes`.
    fn bump_alloc(&mut self, rounded_bytes: usize) -> NonNull<u8> {
        debug_assert!(rounded_bytes <= self.remaining_bytes);
        let ptr = self.bump;
        // SAFETY: `bump + remaining_bytes` is the end of the current chunk, so advancing by
        // `rounded_bytes <= remaining_bytes` stays within (or one past the end of) the same
        // allocation. The bytes `[ptr, ptr + rounded_bytes)` are never handed out again.
        self.bump = unsafe { ptr.add(rounded_bytes) };
        self.remaining_bytes -= rounded_bytes;
        ptr
    }

    fn dedicated_alloc(&mut self, rounded_bytes: usize) -> NonNull<u8> {
        let chunk = Chunk::new(rounded_bytes);
        let ptr = chunk.ptr;
        self.reserved_bytes += rounded_bytes;
        self.chunks.push(chunk);
        ptr
    }

    /// Abandons the tail of the current chunk and starts a new regular one that fits
    /// `rounded_bytes` (which is at most a quarter of the maximum chunk).
    fn start_chunk(&mut self, rounded_bytes: usize) {
        let chunk_bytes = self.next_chunk_bytes.max(rounded_bytes.next_power_of_two());
        debug_assert!(chunk_bytes <= self.max_chunk_bytes);
        self.next_chunk_bytes = (chunk_bytes * 2).min(self.max_chunk_bytes);
        let chunk = Chunk::new(chunk_bytes);
        self.bump = chunk.ptr;
        self.remaining_bytes = chunk_bytes;
        self.reserved_bytes += chunk_bytes;
        self.chunks.push(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fills each allocation with a byte pattern, then checks every pattern survived: fails if
    /// two allocations overlap or one lies outside its chunk (under a sanitizer or Miri).
    fn fill_and_check(arena: &mut Arena, sizes: &[usize]) {
        let mut allocations = Vec::new();
        for (i, &size) in sizes.iter().enumerate() {
            let ptr = arena.alloc(size);
            assert_eq!(ptr.as_ptr() as usize % ALIGN_BYTES, 0, "allocation {i} misaligned");
            // SAFETY: ARENA-1: `ptr` is valid for writes of `size` bytes while `arena` lives.
            unsafe { ptr.as_ptr().write_bytes(i as u8, size) };
            allocations.push((ptr, size, i as u8));
        }
        for (ptr, size, byte) in allocations {
            // SAFETY: ARENA-1, and every byte was initialized by the loop above.
            let bytes = unsafe { std::slice::from_raw_parts(ptr.as_ptr(), size) };
            assert!(bytes.iter().all(|&b| b == byte), "allocation {byte} was overwritten");
        }
    }

    #[test]
    fn allocations_are_aligned_disjoint_and_stable() {
        let mut arena = Arena::new(MAX_CHUNK_BYTES);
        let sizes: Vec<usize> = (0..3000).map(|i| (i * 37) % 700 + 1).collect();
        fill_and_check(&mut arena, &sizes);
        assert!(arena.chunks.len() > 1, "the test should span several chunks");
    }

    #[test]
    fn empty_arena_reserves_nothing() {
        let arena = Arena::new(MAX_CHUNK_BYTES);
        assert_eq!((arena.in_use_bytes(), arena.reserved_bytes()), (0, 0));
    }

    #[test]
    fn chunks_grow_geometrically_up_to_the_maximum() {
        let mut arena = Arena::new(64 << 10);
        for _ in 0..2000 {
            arena.alloc(100);
        }
        let sizes: Vec<usize> = arena.chunks.iter().map(|c| c.layout.size()).collect();
        assert_eq!(&sizes[..5], &[4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10]);
        assert!(sizes[5..].iter().all(|&s| s == 64 << 10), "{sizes:?}");
    }

    #[test]
    fn big_request_gets_a_dedicated_chunk_and_keeps_the_current_one() {
        let mut arena = Arena::new(MIN_CHUNK_BYTES);
        arena.alloc(16);
        let before = (arena.remaining_bytes, arena.bump);
        fill_and_check(&mut arena, &[MIN_CHUNK_BYTES * 3 + 5]);
        assert_eq!((arena.remaining_bytes, arena.bump), before, "current chunk must stay current");
        assert_eq!(arena.chunks.len(), 2);
        assert_eq!(arena.chunks[1].layout.size(), MIN_CHUNK_BYTES * 3 + 8);
    }

    #[test]
    fn in_use_grows_by_at_least_each_request() {
        let mut arena = Arena::new(MIN_CHUNK_BYTES);
        let mut last = arena.in_use_bytes();
        for size in [1, 7, 8, 9, 1000, 3000, 5000, 100_000, 3, 1024] {
            arena.alloc(size);
            let now = arena.in_use_bytes();
            assert!(now >= last + size, "in_use went from {last} to {now} for {size}");
            assert!(now <= arena.reserved_bytes());
            last = now;
        }
    }

    #[test]
    #[should_panic(expected = "power of two")]
    fn rejects_a_maximum_below_the_first_chunk() {
        Arena::new(MIN_CHUNK_BYTES / 2);
    }
}
