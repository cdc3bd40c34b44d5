//! memray's hash-map order: which live allocation of a merged row memray meets first, and so
//! whose thread and allocator the row shows.
//!
//! memray keeps the live allocations of a peak or leaks report in a
//! `std::unordered_map<uintptr_t, …>` (`SnapshotAllocationAggregator::d_ptr_to_allocation`)
//! and gives each row the thread and allocator of the first member it meets iterating that
//! map. Its order is libstdc++'s `_Hashtable` node order, a function of the inserts and
//! erases alone:
//! - the hash is the address itself; a node's bucket is `address % bucket_count`;
//! - the nodes form one list in which each bucket's nodes are one run; a node linked into an
//!   empty bucket starts a new run at the front of the whole list, one linked into a
//!   non-empty bucket goes to the front of that bucket's run;
//! - erasing unlinks a node and moves nothing; assigning to a present key keeps its node;
//! - before a new key is linked, `_Prime_rehash_policy` may grow the table (maximum load 1.0,
//!   growth by 2, the primes of [`super::libstdcxx_primes`]): the rehash walks the old list
//!   and links every node into the new buckets by the same two rules. The table never
//!   shrinks.
//!
//! No list is kept: [`crate::analysis::live_table::LiveTable`] lays its slots out by memray's
//! buckets and keeps, in each live allocation's slot, the stamp of its bucket's run (when the
//! run was started) and the stamp of its linking. Iteration goes by run stamp, newest first,
//! then by node stamp, newest first: [`position`] packs the two into one number, larger
//! first. A run's stamp never changes while the run lives, so a node's position is fixed
//! from its linking to the next relink (a rehash, or renumbering when the 32-bit stamps run
//! out), which re-stamps every live node. This module holds the rules: the rehash policy,
//! the bucket of an address, and the position.
//!
//! `tests/hash_order/unordered_map_order.cpp` runs a real `std::unordered_map` through the
//! same operations; the integration test `hash_order` compares the orders.

use super::libstdcxx_primes::PRIMES;

/// A node's link stamp. Stamps start at 1: 0 is never a live node's.
pub type Stamp = u32;

/// `_M_next_bkt`'s table for small counts.
const FAST_BUCKETS: [u8; 14] = [2, 2, 2, 3, 5, 5, 7, 7, 11, 11, 11, 11, 13, 13];

/// What must happen before a new key is linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relink {
    /// libstdc++ rehashes into this many buckets.
    Rehash(u64),
    /// The stamps ran out: renumber them, keeping the order.
    Renumber,
}

/// Where a node comes in iteration, from its run's stamp and its own: nodes with larger
/// positions come first. Never 0 for a live node.
#[inline(always)]
pub fn position(run: Stamp, stamp: Stamp) -> u64 {
    (u64::from(run) << 32) | u64::from(stamp)
}

/// `_Prime_rehash_policy` (maximum load 1.0) of one `std::unordered_map`,
/// default-constructed: its bucket count and when it grows.
#[derive(Debug, Clone)]
pub struct RehashPolicy {
    bucket_count: u64,
    /// `_Prime_rehash_policy::_M_next_resize`.
    next_resize: u64,
}

impl Default for RehashPolicy {
    fn default() -> Self {
        RehashPolicy {
            bucket_count: 1,
            next_resize: 0,
        }
    }
}

impl RehashPolicy {
    /// The bucket count.
    #[inline(always)]
    pub fn bucket_count(&self) -> u64 {
        self.bucket_count
    }

    /// Whether a new key linked while `len` keys are present may need a rehash: if not,
    /// [`RehashPolicy::rehash_before_insert`] would say none (and change nothing).
    #[inline(always)]
    pub fn may_rehash(&self, len: u64) -> bool {
        len + 1 > self.next_resize
    }

    /// The new bucket count, if linking a new key while `len` keys are present rehashes
    /// first (`_M_insert_unique_node`'s `_M_need_rehash(bucket_count, len, 1)`); the count
    /// is then the policy's. Call it only for a key not present.
    pub fn rehash_before_insert(&mut self, len: u64) -> Option<u64> {
        if !self.may_rehash(len) {
            return None;
        }
        let n_bkt = self.bucket_count;
        let wanted = len + 1;
        let min_buckets = wanted.max(if self.next_resize == 0 { 11 } else { 0 }) as f64;
        if min_buckets >= n_bkt as f64 {
            let at_least = (min_buckets.floor() as u64 + 1).max(n_bkt.wrapping_mul(2));
            let buckets = self.next_bucket_count(at_least);
            self.bucket_count = buckets;
            return Some(buckets);
        }
        self.next_resize = (n_bkt as f64).floor() as u64;
        None
    }

    /// `_Prime_rehash_policy::_M_next_bkt`: the bucket count for at least `n`.
    fn next_bucket_count(&mut self, n: u64) -> u64 {
        if let Some(&fast) = FAST_BUCKETS.get(n as usize) {
            if n == 0 {
                return 1;
            }
            self.next_resize = u64::from(fast);
            return u64::from(fast);
        }
        let searched = &PRIMES[..PRIMES.len() - 1];
        let i = searched.partition_point(|&p| p < n);
        let p = PRIMES[i];
        self.next_resize = if i == searched.len() {
            u64::MAX
        } else {
            (p as f64).floor() as u64
        };
        p
    }
}

/// `a % d` by multiplication (Lemire, Kaser and Kurz, "Faster remainder by direct
/// computation", 2019): exact for every 64-bit `a` and `d`, without a division per event.
#[derive(Debug, Clone, Copy)]
pub struct FastMod {
    d: u64,
    /// `ceil(2^128 / d)`, wrapped to 0 for `d == 1`.
    m: u128,
}

impl FastMod {
    pub fn new(d: u64) -> FastMod {
        debug_assert!(d > 0);
        FastMod {
            d,
            m: (u128::MAX / u128::from(d.max(1))).wrapping_add(1),
        }
    }

    /// `d`.
    pub fn divisor(&self) -> u64 {
        self.d
    }

    /// The fraction of `a / d`, scaled by `2^128` (a hair above; see
    /// [`crate::analysis::live_table`]'s home slot).
    #[inline(always)]
    pub fn fraction(&self, a: u64) -> u128 {
        self.m.wrapping_mul(u128::from(a))
    }

    /// `a % d`.
    #[inline(always)]
    pub fn reduce(&self, a: u64) -> u64 {
        let low = self.fraction(a);
        let d = u128::from(self.d);
        let bottom = ((low & u128::from(u64::MAX)) * d) >> 64;
        let top = (low >> 64) * d;
        ((bottom + top) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_modulus_is_the_remainder() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut divisors: Vec<u64> = vec![1, 2, 3, 13, u64::MAX, u64::MAX - 1, 1 << 63];
        divisors.extend(PRIMES);
        for d in divisors {
            let f = FastMod::new(d);
            for a in [0, 1, d - 1, d, d.wrapping_add(1), u64::MAX, u64::MAX - 1] {
                assert_eq!(f.reduce(a), a % d, "{a} % {d}");
            }
            for _ in 0..2000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                assert_eq!(f.reduce(x), x % d, "{x} % {d}");
                assert_eq!(f.reduce(x & 0xffff_ffff_fff0), (x & 0xffff_ffff_fff0) % d);
            }
        }
    }

    #[test]
    fn bucket_counts_grow_as_libstdcxx_grows_them() {
        // A default-constructed map gets 13 buckets at its first insert, then the first
        // listed prime at or above twice the count whenever it would hold more keys than
        // buckets.
        let mut policy = RehashPolicy::default();
        assert_eq!(policy.bucket_count(), 1);
        let mut counts = vec![];
        for len in 0..300u64 {
            if let Some(n) = policy.rehash_before_insert(len) {
                assert_eq!(policy.bucket_count(), n);
                counts.push((len, n));
            }
            assert!(!policy.may_rehash(len));
        }
        assert_eq!(
            counts,
            vec![
                (0, 13),
                (13, 29),
                (29, 59),
                (59, 127),
                (127, 257),
                (257, 541)
            ]
        );
    }
}

/// libstdc++'s node list spelled out, one `Vec` in iteration order: the simple twin the
/// tests hold the live table's positions against.
#[cfg(test)]
pub(crate) mod reference {
    use super::RehashPolicy;

    #[derive(Debug, Default)]
    pub(crate) struct ListModel {
        /// Keys in iteration order.
        pub(crate) list: Vec<u64>,
        policy: RehashPolicy,
    }

    impl ListModel {
        fn bucket(&self, k: u64) -> u64 {
            k % self.policy.bucket_count()
        }

        fn link(&mut self, k: u64) {
            let b = self.bucket(k);
            match self.list.iter().position(|&x| self.bucket(x) == b) {
                Some(i) => self.list.insert(i, k),
                None => self.list.insert(0, k),
            }
        }

        /// `map[k]`: links `k` unless present (rehashing first as the policy says).
        pub(crate) fn assign(&mut self, k: u64) {
            if self.list.contains(&k) {
                return;
            }
            if self
                .policy
                .rehash_before_insert(self.list.len() as u64)
                .is_some()
            {
                for k in std::mem::take(&mut self.list) {
                    self.link(k);
                }
            }
            self.link(k);
        }

        /// `map.erase(k)`; whether `k` was present.
        pub(crate) fn erase(&mut self, k: u64) -> bool {
            let before = self.list.len();
            self.list.retain(|&x| x != k);
            self.list.len() < before
        }
    }
}
