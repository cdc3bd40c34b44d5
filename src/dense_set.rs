//! [`DenseSet`]: insertion-ordered interning of small `Copy` keys in a few bytes of index
//! per key, for the tables that grow with a capture's distinct stacks (the stack tree, the
//! allocation sites, the frames).
//!
//! `indexmap` keeps each key beside its 8-byte hash in a vector that doubles, and a hash
//! table of 8-byte indices beside it: some 50–90 bytes per interned 24-byte key once the
//! slack of both is counted (docs/performance.md, "Memory"). Here the keys lie in chunks
//! that never move (no doubling copy, at most one chunk of slack), and the index is an
//! open-addressing table of 4-byte ids kept between 3/8 and 3/4 full, whose probes read the
//! keys themselves to compare. A key's id is the order of its first insertion, as with
//! `IndexSet::insert_full`.

use std::hash::{BuildHasher, Hash};

use rustc_hash::FxBuildHasher;

/// Keys per chunk of storage.
const CHUNK_BITS: u32 = 14;
const CHUNK: usize = 1 << CHUNK_BITS;

/// The most keys a set holds: an id and the empty slot must fit 32 bits.
pub const MAX_KEYS: usize = u32::MAX as usize;

/// An insertion-ordered set of `K` whose ids are `0..len` in order of first insertion.
#[derive(Debug, Clone)]
pub struct DenseSet<K> {
    chunks: Vec<Vec<K>>,
    len: usize,
    /// `id + 1` of the key hashed to each slot, 0 for an empty slot; a power of two long.
    index: Vec<u32>,
    /// `64 - log2(index.len())`: a hash's top bits are its home slot.
    shift: u32,
}

impl<K> Default for DenseSet<K> {
    fn default() -> Self {
        DenseSet {
            chunks: Vec::new(),
            len: 0,
            index: vec![0; 16],
            shift: 64 - 4,
        }
    }
}

impl<K: Copy + Eq + Hash> DenseSet<K> {
    pub fn new() -> Self {
        Self::default()
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
        let mut slot = self.home(key);
        loop {
            match self.index[slot] {
                0 => return None,
                stored => {
                    let id = stored as usize - 1;
                    if self.key(id) == key {
                        return Some(id);
                    }
                }
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
        let mut slot = self.home(&key);
        loop {
            match self.index[slot] {
                0 => break,
                stored => {
                    let id = stored as usize - 1;
                    if *self.key(id) == key {
                        return Some((id, false));
                    }
                }
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
        self.index[slot] = (id + 1) as u32;
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
    pub fn heap_bytes(&self) -> usize {
        self.chunks.len() * CHUNK * std::mem::size_of::<K>()
            + self.index.len() * std::mem::size_of::<u32>()
    }

    #[inline]
    fn key(&self, id: usize) -> &K {
        &self.chunks[id >> CHUNK_BITS][id & (CHUNK - 1)]
    }

    #[inline]
    fn home(&self, key: &K) -> usize {
        let h = FxBuildHasher
            .hash_one(key)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> self.shift) as usize
    }

    /// Doubles the index and places every id again.
    #[cold]
    fn grow_index(&mut self) {
        let slots = self.index.len() * 2;
        self.index = vec![0; slots];
        self.shift -= 1;
        for id in 0..self.len {
            let mut slot = self.home(self.key(id));
            while self.index[slot] != 0 {
                slot = (slot + 1) & (slots - 1);
            }
            self.index[slot] = (id + 1) as u32;
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
