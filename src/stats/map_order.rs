//! The iteration order of a libstdc++ `std::unordered_map` with integer keys that are only
//! ever inserted: memray's statistics turn two such maps into Python dicts (the allocators'
//! counts, the totals by stack) and sort them with Python's stable sort, so equal counts
//! keep that order.
//!
//! The rules are libstdc++'s `_Hashtable` ones (as in [`crate::analysis::hash_order`], which
//! models them for the live allocations without a list): the hash of an integer is itself;
//! the nodes form one list in which each bucket's nodes are one run; a node linked into an
//! empty bucket goes to the front of the list, one linked into a non-empty bucket to the
//! front of that bucket's run; before a new key is linked the table may grow
//! ([`RehashPolicy`]), relinking the old list's nodes in order by the same two rules.

use crate::analysis::hash_order::RehashPolicy;

/// No node.
const NIL: u32 = u32::MAX;
/// The list's head (`_M_before_begin`), as a bucket's "node before".
const BEFORE_BEGIN: u32 = u32::MAX - 1;

/// The keys of an insert-only `std::unordered_map<integer, …>`, in its iteration order.
#[derive(Debug, Default)]
pub struct MapOrder {
    keys: Vec<u64>,
    next: Vec<u32>,
    head: u32,
    /// For each bucket, the node before its run ([`BEFORE_BEGIN`] for the first run), or
    /// [`NIL`] when it is empty.
    before: Vec<u32>,
    policy: RehashPolicy,
}

impl MapOrder {
    pub fn new() -> MapOrder {
        MapOrder {
            head: NIL,
            before: vec![NIL; 1],
            ..MapOrder::default()
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Links `key`, which must not be in the map yet (callers insert each key once).
    pub fn insert_new(&mut self, key: u64) {
        if let Some(buckets) = self.policy.rehash_before_insert(self.keys.len() as u64) {
            self.rehash(buckets);
        }
        let node = self.keys.len() as u32;
        self.keys.push(key);
        self.next.push(NIL);
        let bucket = self.bucket(key);
        self.link_at_bucket_begin(bucket, node);
    }

    /// The keys in the map's iteration order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        let mut node = self.head;
        std::iter::from_fn(move || {
            (node != NIL).then(|| {
                let key = self.keys[node as usize];
                node = self.next[node as usize];
                key
            })
        })
    }

    fn bucket(&self, key: u64) -> usize {
        (key % self.policy.bucket_count()) as usize
    }

    fn next_of(&self, node: u32) -> u32 {
        match node {
            BEFORE_BEGIN => self.head,
            n => self.next[n as usize],
        }
    }

    fn set_next(&mut self, node: u32, to: u32) {
        match node {
            BEFORE_BEGIN => self.head = to,
            n => self.next[n as usize] = to,
        }
    }

    /// `_M_insert_bucket_begin`.
    fn link_at_bucket_begin(&mut self, bucket: usize, node: u32) {
        match self.before[bucket] {
            NIL => {
                self.next[node as usize] = self.head;
                self.head = node;
                let after = self.next[node as usize];
                if after != NIL {
                    let b = self.bucket(self.keys[after as usize]);
                    self.before[b] = node;
                }
                self.before[bucket] = BEFORE_BEGIN;
            }
            prev => {
                self.next[node as usize] = self.next_of(prev);
                self.set_next(prev, node);
            }
        }
    }

    /// `_M_rehash_aux` for unique keys into `buckets` buckets (the policy already has the
    /// new count).
    fn rehash(&mut self, buckets: u64) {
        self.before = vec![NIL; buckets as usize];
        let mut node = self.head;
        self.head = NIL;
        let mut first_bucket = 0;
        while node != NIL {
            let following = self.next[node as usize];
            let bucket = self.bucket(self.keys[node as usize]);
            match self.before[bucket] {
                NIL => {
                    self.next[node as usize] = self.head;
                    self.head = node;
                    self.before[bucket] = BEFORE_BEGIN;
                    if self.next[node as usize] != NIL {
                        self.before[first_bucket] = node;
                    }
                    first_bucket = bucket;
                }
                prev => {
                    self.next[node as usize] = self.next_of(prev);
                    self.set_next(prev, node);
                }
            }
            node = following;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(keys: &[u64]) -> Vec<u64> {
        let mut map = MapOrder::new();
        for &k in keys {
            map.insert_new(k);
        }
        map.iter().collect()
    }

    /// Orders printed by libstdc++ (GCC 12) for `std::unordered_map<int, int>` after these
    /// inserts (`for (auto& [k, v] : m) std::cout << k << ' ';`).
    #[test]
    fn iterates_as_libstdcxx() {
        // 13 buckets from the first insert: 1..=12 each start a run at the front.
        assert_eq!(order(&[1, 2, 3]), [3, 2, 1]);
        // 14 and 1 share bucket 1: 14 goes to the front of that run.
        assert_eq!(order(&[1, 2, 14]), [2, 14, 1]);
        assert_eq!(order(&[6, 2, 8, 3]), [3, 8, 2, 6]);
    }

    /// Many keys, across several rehashes, against the orders libstdc++ gave for them
    /// (printed by the program in the test above with these keys).
    #[test]
    fn keeps_libstdcxx_order_across_rehashes() {
        let keys: Vec<u64> = (0..60u64).map(|i| (i * 7919 + 13) % 1000).collect();
        let got = order(&keys);
        let mut sorted = got.clone();
        sorted.sort_unstable();
        let mut expected_set = keys.clone();
        expected_set.sort_unstable();
        expected_set.dedup();
        assert_eq!(sorted, expected_set);
        assert_eq!(got, EXPECTED_60.to_vec());
    }

    /// libstdc++'s order for the keys of `keeps_libstdcxx_order_across_rehashes`.
    const EXPECTED_60: [u64; 60] = [
        234, 745, 826, 907, 988, 44, 636, 717, 798, 879, 960, 16, 13, 312, 689, 555, 932, 474, 851,
        393, 770, 231, 608, 150, 527, 69, 446, 365, 284, 203, 122, 41, 664, 583, 502, 421, 340,
        259, 178, 97, 935, 854, 773, 692, 611, 530, 449, 368, 287, 206, 125, 963, 882, 801, 720,
        639, 558, 477, 396, 315,
    ];
}
