//! [`DenseSet`]: insertion-ordered interning of small `Copy` keys in a few bytes of index
//! per key, for the tables that grow with a capture's distinct stacks (the stack tree, the
//! allocation sites, the frames).
//!
//! `indexmap` keeps each key beside its 8-byte hash in a vector that doubles, and a hash
//! table of 8-byte indices beside it: some 50–90 bytes per interned 24-byte key once the
//! slack of both is counted (docs/performance.md, "Memory"). Here the keys lie in chunks
//! that never move (no doubling copy, at most one chunk of slack), and the index is an
//! open-addressing table of 4-byte slots kept between 3/8 and 3/4 full. A table of `2^b`
//! slots needs `b` bits for an id, so a slot's other `32 - b` bits hold that many bits of
//! its key's hash: a probe reads a key to compare only when they match (one probe in 256
//! at 16 M slots, far fewer when the table is smaller). A key's id is the order of its
//! first insertion, as with `IndexSet::insert_full`.

use std::hash::{BuildHasher, Hash};

use rustc_hash::FxBuildHasher;

/// Keys per chunk of storage.
const CHUNK_BITS: u32 = 14;
const CHUNK: usize = 1 << CHUNK_BITS;

/// The most keys a set holds: 3/4 of the largest index, 2^32 slots.
pub const MAX_KEYS: usize = 3 << 30;

/// An insertion-ordered set of `K` whose ids are `0..len` in order of first insertion.
#[derive(Debug, Clone)]
pub struct DenseSet<K> {
    chunks: Vec<Vec<K>>,
    len: usize,
    /// 0 for an empty slot; else `id + 1` in the low `bits` bits and the key's hash tag
    /// ([`DenseSet::probe_start`]) above them. `2^bits` slots.
    index: Vec<u32>,
    bits: u32,
}

impl<K> Default for DenseSet<K> {
    fn default() -> Self {
        DenseSet {
            chunks: Vec::new(),
            len: 0,
            index: vec![0; 16],
            bits: 4,
        }
    }
}

impl<K: Copy + Eq + Hash> DenseSet<K> {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty set whose index takes `n` keys before it first grows.
    pub fn with_capacity(n: usize) -> Self {
        let mut bits = 4;
        while n * 4 > (3 << bits) && bits < 32 {
            bits += 1;
        }
        DenseSet {
            index: vec![0; 1 << bits],
            bits,
            ..Self::default()
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The key with id `id`.
    #[inline]
    pub fn get(&self, id: usize) -> Option<&K> {
        if id < self.len {
            Some(&self.chunks[id >> CHUNK_BITS][id & (CHUNK - 1)])
        } else {
            None
        }
    }

    /// The id of `key`, if it was inserted.
    pub fn get_index_of(&self, key: &K) -> Option<usize> {
        let (mut slot, tag) = self.probe_start(key);
        let ids = self.id_mask();
        loop {
            match self.index[slot] {
                0 => return None,
                stored if stored & !ids == tag => {
                    let id = (stored & ids) as usize - 1;
                    if self.key(id) == key {
                        return Some(id);
                    }
                }
                _ => {}
            }
            slot = (slot + 1) & (self.index.len() - 1);
        }
    }

    pub fn contains(&self, key: &K) -> bool {
        self.get_index_of(key).is_some()
    }

    /// The id of `key` and whether it was new, inserting it if so; `None` when it is new
    /// and the set already holds [`MAX_KEYS`] keys.
    pub fn insert_full(&mut self, key: K) -> Option<(usize, bool)> {
        let (mut slot, tag) = self.probe_start(&key);
        let ids = self.id_mask();
        loop {
            match self.index[slot] {
                0 => break,
                stored if stored & !ids == tag => {
                    let id = (stored & ids) as usize - 1;
                    if *self.key(id) == key {
                        return Some((id, false));
                    }
                }
                _ => {}
            }
            slot = (slot + 1) & (self.index.len() - 1);
        }
        if self.len >= MAX_KEYS {
            return None;
        }
        let id = self.len;
        if id & (CHUNK - 1) == 0 {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.chunks[id >> CHUNK_BITS].push(key);
        self.len += 1;
        // `id + 1 <= 3/4 * 2^bits` fits the id bits.
        self.index[slot] = tag | (id + 1) as u32;
        if self.len * 4 > self.index.len() * 3 {
            self.grow_index();
        }
        Some((id, true))
    }

    /// The keys in id order.
    pub fn iter(&self) -> impl Iterator<Item = &K> + '_ {
        self.chunks.iter().flatten()
    }

    /// Bytes held for `len` keys: the chunks' capacity and the index.
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        self.chunks.len() * CHUNK * std::mem::size_of::<K>()
            + self.index.len() * std::mem::size_of::<u32>()
    }

    #[inline]
    fn key(&self, id: usize) -> &K {
        &self.chunks[id >> CHUNK_BITS][id & (CHUNK - 1)]
    }

    /// The bits of a slot that hold an id plus one.
    #[inline]
    fn id_mask(&self) -> u32 {
        (u64::MAX >> (64 - self.bits)) as u32
    }

    /// `key`'s home slot, the top `bits` bits of its hash, and its tag: the next
    /// `32 - bits` bits of the hash, placed above a slot's id bits.
    #[inline]
    fn probe_start(&self, key: &K) -> (usize, u32) {
        let h = FxBuildHasher
            .hash_one(key)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let home = (h >> (64 - self.bits)) as usize;
        // Bits 32..64 of the hash, shifted so that the home bits fall off the top.
        let tag = ((h >> 32) as u32).checked_shl(self.bits).unwrap_or(0);
        (home, tag)
    }

    /// Doubles the index and places every id again.
    #[cold]
    fn grow_index(&mut self) {
        let slots = self.index.len() * 2;
        self.index = vec![0; slots];
        self.bits += 1;
        for id in 0..self.len {
            let (mut slot, tag) = self.probe_start(self.key(id));
            while self.index[slot] != 0 {
                slot = (slot + 1) & (slots - 1);
            }
            self.index[slot] = tag | (id + 1) as u32;
        }
    }
}

impl<K: Copy + Eq + Hash> std::ops::Index<usize> for DenseSet<K> {
    type Output = K;

    /// The key with id `id`; panics if there is none, as a slice index does.
    fn index(&self, id: usize) -> &K {
        match self.get(id) {
            Some(key) => key,
            None => panic!("DenseSet: id {id} out of 0..{}", self.len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interner::FxIndexSet;

    /// The simple twin: `IndexSet` gives the same ids, answers and order, across several
    /// chunks and index doublings, with keys that collide in the index.
    #[test]
    fn agrees_with_index_set() {
        let mut dense = DenseSet::new();
        let mut reference = FxIndexSet::default();
        let mut state = 7u64;
        for _ in 0..200_000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Few distinct keys at first, then many: both hits and inserts in every phase.
            let key = ((state >> 40) % 70_000, (state >> 20) as u8 & 3);
            let (id, new) = dense.insert_full(key).unwrap();
            let (ref_id, ref_new) = reference.insert_full(key);
            assert_eq!((id, new), (ref_id, ref_new));
        }
        assert!(dense.len() > 2 * CHUNK, "{} keys", dense.len());
        assert_eq!(dense.len(), reference.len());
        assert!(dense.iter().eq(reference.iter()));
        for (id, key) in reference.iter().enumerate() {
            assert_eq!(dense.get_index_of(key), Some(id));
            assert_eq!(dense[id], *key);
        }
        assert_eq!(dense.get_index_of(&(70_001, 0)), None);
        assert!(!dense.contains(&(0, 9)));
        assert_eq!(dense.get(dense.len()), None);
    }

    /// Slots keep ids and tags apart at every size: each id read back from the index is
    /// its key's, and every slot's tag is its key's hash bits.
    #[test]
    fn slots_hold_an_id_and_the_keys_tag() {
        let mut set = DenseSet::new();
        for key in 0..50_000u32 {
            set.insert_full(key).unwrap();
            if key.is_power_of_two() || key == 49_999 {
                let ids = set.id_mask();
                let mut seen = 0;
                for &stored in set.index.iter().filter(|&&s| s != 0) {
                    let id = (stored & ids) as usize - 1;
                    let (_, tag) = set.probe_start(&set[id]);
                    assert_eq!(stored & !ids, tag, "key {key}");
                    seen += 1;
                }
                assert_eq!(seen, set.len());
            }
        }
    }

    #[test]
    fn a_set_made_for_n_keys_takes_them_without_growing() {
        for n in [0, 1, 12, 13, 1000, 100_000] {
            let mut set = DenseSet::with_capacity(n);
            let slots = set.index.len();
            for key in 0..n as u64 {
                set.insert_full(key).unwrap();
            }
            assert_eq!(set.index.len(), slots, "{n}");
            assert!(slots <= (n * 8 / 3).max(16), "{n}: {slots} slots");
        }
    }

    #[test]
    fn index_stays_between_three_eighths_and_three_quarters_full() {
        let mut set = DenseSet::new();
        for key in 0..100_000u64 {
            set.insert_full(key).unwrap();
            let load = set.len() as f64 / set.index.len() as f64;
            assert!(load <= 0.75, "{load} at {key}");
            if set.len() > 16 {
                assert!(load > 0.375, "{load} at {key}");
            }
        }
        // 100,000 u64 keys: 7 chunks of 16,384 and 2^18 slots of 4 bytes.
        assert_eq!(set.heap_bytes(), 7 * CHUNK * 8 + (1 << 18) * 4);
    }
}
