//! The block cache: decoded blocks keyed by `(file number, block offset)`, shared by every table
//! of a database, bounded in bytes (docs/format/sstable.md#reading-informative).
//!
//! Owns memory accounting and eviction. Does not read, verify or decode blocks: tables insert
//! only blocks that passed their checksum, so everything served from here is verified.
//!
//! Design: up to 16 shards (a power of two, at least 512 KiB each) chosen by a hash of the key,
//! each a mutex around a CLOCK ring: a hit sets the slot's reference bit, the hand clears set bits
//! and evicts the first slot it finds clear. New blocks start unreferenced, so a one-off scan
//! evicts itself before it evicts blocks that are read again. Counters live in the shards
//! (already written under their lock) and are summed by [`BlockCache::metrics`].
//!
//! Invariant: a shard's `usage_bytes` (block bytes plus a fixed per-entry overhead) never exceeds
//! its capacity after an insert returns; a block larger than a shard is not cached.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use cairn_base::FileNum;
use parking_lot::Mutex;

/// Most shards a cache uses.
const MAX_SHARDS: usize = 16;
/// Fewest bytes a shard gets before the cache uses fewer shards.
const MIN_SHARD_CAPACITY_BYTES: u64 = 512 << 10;
/// Bookkeeping charged per cached block on top of its bytes (slot, map entry, `Bytes` header).
const ENTRY_OVERHEAD_BYTES: u64 = 64;

const _: () = assert!(MAX_SHARDS.is_power_of_two());

/// Cache counters and sizes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheMetrics {
    /// The configured capacity.
    pub capacity_bytes: u64,
    /// Bytes charged for the blocks held now (block bytes plus per-entry overhead).
    pub usage_bytes: u64,
    /// Lookups that found their block.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Blocks evicted to make room.
    pub evictions: u64,
    /// Blocks inserted.
    pub inserts: u64,
}

type CacheKey = (FileNum, u64);

/// A sharded, byte-bounded cache of decoded blocks.
pub struct BlockCache {
    shards: Box<[Mutex<Shard>]>,
    capacity_bytes: u64,
}

impl fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockCache")
            .field("capacity_bytes", &self.capacity_bytes)
            .field("shards", &self.shards.len())
            .finish()
    }
}

impl BlockCache {
    /// A cache holding at most `capacity_bytes` of blocks (0 caches nothing).
    pub fn new(capacity_bytes: u64) -> Arc<BlockCache> {
        let wanted = (capacity_bytes / MIN_SHARD_CAPACITY_BYTES).clamp(1, MAX_SHARDS as u64);
        let count = 1usize << wanted.ilog2();
        let per_shard = capacity_bytes / count as u64;
        let shards = (0..count).map(|_| Mutex::new(Shard::new(per_shard))).collect();
        Arc::new(BlockCache { shards, capacity_bytes })
    }

    fn shard(&self, key: CacheKey) -> &Mutex<Shard> {
        let h = KeyHasherBuilder.hash_one(key);
        // Top bits pick the shard; the map inside uses the same hash's low bits.
        &self.shards[(h >> 32) as usize & (self.shards.len() - 1)]
    }

    /// The block at `block_offset` of table `file_num`, if cached.
    pub fn get(&self, file_num: FileNum, block_offset: u64) -> Option<Bytes> {
        let key = (file_num, block_offset);
        self.shard(key).lock().get(key)
    }

    /// Caches a verified, decoded block, evicting others as needed. REQUIRES: `block` passed its
    /// checksum (everything served from the cache is trusted).
    pub fn insert(&self, file_num: FileNum, block_offset: u64, block: Bytes) {
        let key = (file_num, block_offset);
        self.shard(key).lock().insert(key, block);
    }

    /// Current counters, summed over the shards.
    pub fn metrics(&self) -> CacheMetrics {
        let mut m = CacheMetrics { capacity_bytes: self.capacity_bytes, ..CacheMetrics::default() };
        for shard in self.shards.iter() {
            let s = shard.lock();
            m.usage_bytes += s.usage_bytes;
            m.hits += s.hits;
            m.misses += s.misses;
            m.evictions += s.evictions;
            m.inserts += s.inserts;
        }
        m
    }
}

#[derive(Debug)]
struct Slot {
    key: CacheKey,
    /// `None` for a free slot.
    block: Option<Bytes>,
    charge_bytes: u64,
    referenced: bool,
}

/// One CLOCK ring. Guarded by its `Mutex` in `BlockCache::shards`.
#[derive(Debug)]
struct Shard {
    map: HashMap<CacheKey, usize, KeyHasherBuilder>,
    slots: Vec<Slot>,
    free: Vec<usize>,
    hand: usize,
    capacity_bytes: u64,
    usage_bytes: u64,
    hits: u64,
    misses: u64,
    evictions: u64,
    inserts: u64,
}

impl Shard {
    fn new(capacity_bytes: u64) -> Shard {
        Shard {
            map: HashMap::with_hasher(KeyHasherBuilder),
            slots: Vec::new(),
            free: Vec::new(),
            hand: 0,
            capacity_bytes,
            usage_bytes: 0,
            hits: 0,
            misses: 0,
            evictions: 0,
            inserts: 0,
        }
    }

    fn get(&mut self, key: CacheKey) -> Option<Bytes> {
        let Some(&i) = self.map.get(&key) else {
            self.misses += 1;
            return None;
        };
        self.hits += 1;
        let slot = &mut self.slots[i];
        slot.referenced = true;
        slot.block.clone()
    }

    fn insert(&mut self, key: CacheKey, block: Bytes) {
        let charge_bytes = block.len() as u64 + ENTRY_OVERHEAD_BYTES;
        if charge_bytes > self.capacity_bytes {
            return;
        }
        if let Some(i) = self.map.remove(&key) {
            self.release(i);
        }
        self.evict_until_fits(charge_bytes);
        let slot = Slot { key, block: Some(block), charge_bytes, referenced: false };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        self.map.insert(key, i);
        self.usage_bytes += charge_bytes;
        self.inserts += 1;
        debug_assert!(self.usage_bytes <= self.capacity_bytes);
    }

    /// Advances the CLOCK hand until `charge_bytes` more fit. Terminates: every pass over the
    /// ring clears reference bits, so the second pass evicts.
    fn evict_until_fits(&mut self, charge_bytes: u64) {
        while self.usage_bytes + charge_bytes > self.capacity_bytes && !self.map.is_empty() {
            let i = self.hand;
            self.hand = (self.hand + 1) % self.slots.len();
            let slot = &mut self.slots[i];
            if slot.block.is_none() {
                continue;
            }
            if slot.referenced {
                slot.referenced = false;
                continue;
            }
            let key = slot.key;
            self.map.remove(&key);
            self.release(i);
            self.evictions += 1;
        }
    }

    /// Frees slot `i` (already removed from the map).
    fn release(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if slot.block.take().is_some() {
            self.usage_bytes -= slot.charge_bytes;
            self.free.push(i);
        }
    }
}

/// A fast hasher for `(FileNum, u64)` keys: multiply-xorshift over the two words. Not
/// DoS-resistant, which is fine: keys are file numbers and offsets Cairn chose.
#[derive(Debug, Clone, Copy, Default)]
struct KeyHasherBuilder;

impl BuildHasher for KeyHasherBuilder {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0x243F_6A88_85A3_08D3)
    }
}

#[derive(Debug, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    }

    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(n: usize, fill: u8) -> Bytes {
        Bytes::from(vec![fill; n])
    }

    #[test]
    fn hits_misses_and_inserts_are_counted() {
        let cache = BlockCache::new(1 << 20);
        assert!(cache.get(FileNum(1), 0).is_none());
        cache.insert(FileNum(1), 0, block(100, 7));
        assert_eq!(cache.get(FileNum(1), 0).as_deref(), Some(&[7u8; 100][..]));
        assert!(cache.get(FileNum(2), 0).is_none(), "keys differ by file number");
        let m = cache.metrics();
        assert_eq!((m.hits, m.misses, m.inserts, m.evictions), (1, 2, 1, 0));
        assert_eq!(m.usage_bytes, 100 + ENTRY_OVERHEAD_BYTES);
        assert_eq!(m.capacity_bytes, 1 << 20);
    }

    #[test]
    fn eviction_keeps_usage_within_capacity() {
        let capacity_bytes = 4 << 20;
        let cache = BlockCache::new(capacity_bytes);
        assert_eq!(cache.shards.len(), 8);
        for i in 0..4000u64 {
            cache.insert(FileNum(i % 7), i * 4096, block(4096, i as u8));
            assert!(cache.metrics().usage_bytes <= capacity_bytes);
        }
        let m = cache.metrics();
        assert_eq!(m.inserts, 4000);
        assert!(m.evictions >= 4000 - capacity_bytes / 4096, "{m:?}");
        assert!(m.usage_bytes > capacity_bytes / 2, "cache should stay mostly full: {m:?}");
    }

    #[test]
    fn referenced_blocks_survive_a_scan() {
        let cache = BlockCache::new(64 * (1024 + ENTRY_OVERHEAD_BYTES));
        assert_eq!(cache.shards.len(), 1);
        cache.insert(FileNum(1), 0, block(1024, 1));
        for i in 1..1000u64 {
            assert!(cache.get(FileNum(1), 0).is_some(), "hot block evicted at {i}");
            cache.insert(FileNum(2), i, block(1024, 2));
        }
    }

    #[test]
    fn replacing_a_key_does_not_leak_usage() {
        let cache = BlockCache::new(1 << 20);
        cache.insert(FileNum(1), 0, block(100, 1));
        cache.insert(FileNum(1), 0, block(200, 2));
        assert_eq!(cache.metrics().usage_bytes, 200 + ENTRY_OVERHEAD_BYTES);
        assert_eq!(cache.get(FileNum(1), 0).as_deref(), Some(&[2u8; 200][..]));
    }

    #[test]
    fn oversized_blocks_and_zero_capacity_cache_nothing() {
        let cache = BlockCache::new(0);
        cache.insert(FileNum(1), 0, block(10, 1));
        assert!(cache.get(FileNum(1), 0).is_none());
        assert_eq!(cache.metrics().usage_bytes, 0);
        let small = BlockCache::new(1000);
        small.insert(FileNum(1), 0, block(2000, 1));
        assert!(small.get(FileNum(1), 0).is_none());
    }

    #[test]
    fn cache_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<BlockCache>();
    }
}
