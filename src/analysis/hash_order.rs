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
//! No list is kept here. A bucket holds the stamp of its run (when the run was started) and
//! its node count; a node holds the stamp of its linking. Iteration goes by run stamp,
//! newest first, then by node stamp, newest first: [`HashOrder::position`] packs the two
//! into one number, larger first. A run's stamp never changes while the run lives, so a
//! node's position is fixed from its linking to the next relink. A relink (a rehash, or
//! renumbering when the 32-bit stamps run out) re-stamps every live node; the caller owns
//! the nodes, so it hands them to [`HashOrder::relink`].
//!
//! `tests/hash_order/unordered_map_order.cpp` runs a real `std::unordered_map` through the
//! same operations; the integration test `hash_order` compares the orders.

use super::libstdcxx_primes::PRIMES;

/// A node's link stamp. Stamps start at 1: 0 is never a live node's.
pub type Stamp = u32;

/// `_M_next_bkt`'s table for small counts.
const FAST_BUCKETS: [u8; 14] = [2, 2, 2, 3, 5, 5, 7, 7, 11, 11, 11, 11, 13, 13];

/// One bucket: the stamp of its run and its node count.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    run: Stamp,
    len: u32,
}

/// What the model must do before a new key is linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relink {
    /// libstdc++ rehashes into this many buckets.
    Rehash(u64),
    /// The stamps ran out: renumber them, keeping the order.
    Renumber,
}

/// A live node handed to [`HashOrder::relink`] (made by [`HashOrder::node`]): its address
/// and position before, its new stamp after; `index` is the caller's, to write the stamp
/// back.
#[derive(Debug, Clone, Copy)]
pub struct Node {
    pub position: u64,
    pub address: u64,
    pub index: usize,
    pub stamp: Stamp,
}

/// The bucket bookkeeping of one `std::unordered_map<uintptr_t, …>`, default-constructed.
#[derive(Debug)]
pub struct HashOrder {
    buckets: Vec<Bucket>,
    modulus: FastMod,
    /// `_Prime_rehash_policy::_M_next_resize`.
    next_resize: u64,
    next_stamp: Stamp,
}

impl Default for HashOrder {
    fn default() -> Self {
        HashOrder {
            buckets: vec![Bucket::default()],
            modulus: FastMod::new(1),
            next_resize: 0,
            next_stamp: 1,
        }
    }
}

impl HashOrder {
    /// The bucket count.
    pub fn bucket_count(&self) -> u64 {
        self.buckets.len() as u64
    }

    /// Whether a new key linked while `len` keys are present may need a relink: if not,
    /// [`HashOrder::relink_before_insert`] would say none (and change nothing).
    #[inline(always)]
    pub fn may_relink(&self, len: u64) -> bool {
        len + 1 > self.next_resize || self.stamps_run_out()
    }

    /// Whether linking one more node (two stamps) would pass the last stamp.
    #[inline(always)]
    fn stamps_run_out(&self) -> bool {
        u64::from(self.next_stamp) + 2 > u64::from(Stamp::MAX)
    }

    /// Whether a new key linked while `len` keys are present needs a relink first
    /// (`_M_insert_unique_node`'s `_M_need_rehash(bucket_count, len, 1)`). Call it only for
    /// a key not present, and then do the relink before [`HashOrder::link`].
    #[inline]
    pub fn relink_before_insert(&mut self, len: u64) -> Option<Relink> {
        if len + 1 > self.next_resize {
            if let Some(buckets) = self.need_rehash(len) {
                return Some(Relink::Rehash(buckets));
            }
        }
        // A relink takes at most two stamps a node, so renumbering frees all but those.
        self.stamps_run_out().then_some(Relink::Renumber)
    }

    /// `_Prime_rehash_policy::_M_need_rehash` for one insertion (maximum load 1.0).
    #[cold]
    fn need_rehash(&mut self, len: u64) -> Option<u64> {
        let n_bkt = self.bucket_count();
        let wanted = len + 1;
        let min_buckets = wanted.max(if self.next_resize == 0 { 11 } else { 0 }) as f64;
        if min_buckets >= n_bkt as f64 {
            let at_least = (min_buckets.floor() as u64 + 1).max(n_bkt.wrapping_mul(2));
            return Some(self.next_bucket_count(at_least));
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

    #[inline(always)]
    fn bucket(&self, address: u64) -> usize {
        self.modulus.reduce(address) as usize
    }

    /// Starts loading the bucket of `address`, for a link or unlink soon after.
    #[inline(always)]
    pub fn prefetch(&self, address: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let bucket = self.buckets.as_ptr().wrapping_add(self.bucket(address)) as *const i8;
            // SAFETY: prefetching is a hint; it never faults, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(bucket) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = address;
    }

    #[inline(always)]
    fn take_stamp(&mut self) -> Stamp {
        let s = self.next_stamp;
        self.next_stamp = s.wrapping_add(1);
        s
    }

    /// Links a new key at `address` (after any relink [`HashOrder::relink_before_insert`]
    /// asked for); returns its node's stamp.
    #[inline]
    pub fn link(&mut self, address: u64) -> Stamp {
        let b = self.bucket(address);
        if self.buckets[b].len == 0 {
            self.buckets[b].run = self.take_stamp();
        }
        self.buckets[b].len += 1;
        self.take_stamp()
    }

    /// Unlinks the node of the key at `address`.
    #[inline]
    pub fn unlink(&mut self, address: u64) {
        let b = self.bucket(address);
        self.buckets[b].len = self.buckets[b].len.saturating_sub(1);
    }

    /// Where the node of `address` with stamp `stamp` comes in iteration: nodes with larger
    /// positions come first. Never 0.
    #[inline]
    pub fn position(&self, address: u64, stamp: Stamp) -> u64 {
        (u64::from(self.buckets[self.bucket(address)].run) << 32) | u64::from(stamp)
    }

    /// The live node of `address` with stamp `stamp`, for [`HashOrder::relink`]; `index` is
    /// the caller's.
    #[inline]
    pub fn node(&self, index: usize, address: u64, stamp: Stamp) -> Node {
        Node {
            position: self.position(address, stamp),
            address,
            index,
            stamp,
        }
    }

    /// Re-links every live node: `nodes` holds them all with their positions; each gets its
    /// new stamp. A rehash links them in iteration order into the new buckets, as libstdc++
    /// does; renumbering links them in reverse, which keeps the order with fresh stamps.
    pub fn relink(&mut self, relink: Relink, nodes: &mut [Node]) {
        match relink {
            Relink::Rehash(buckets) => {
                nodes.sort_unstable_by_key(|n| std::cmp::Reverse(n.position));
                let n = usize::try_from(buckets).unwrap_or(usize::MAX);
                self.buckets = vec![Bucket::default(); n];
                self.modulus = FastMod::new(buckets);
            }
            Relink::Renumber => {
                nodes.sort_unstable_by_key(|n| n.position);
                self.buckets.fill(Bucket::default());
            }
        }
        self.next_stamp = 1;
        for node in nodes {
            node.stamp = self.link(node.address);
        }
    }
}

/// `a % d` by multiplication (Lemire, Kaser and Kurz, "Faster remainder by direct
/// computation", 2019): exact for every 64-bit `a` and `d`, without a division per event.
#[derive(Debug, Clone, Copy)]
struct FastMod {
    d: u64,
    /// `ceil(2^128 / d)`, wrapped to 0 for `d == 1`.
    m: u128,
}

impl FastMod {
    fn new(d: u64) -> FastMod {
        debug_assert!(d > 0);
        FastMod {
            d,
            m: (u128::MAX / u128::from(d.max(1))).wrapping_add(1),
        }
    }

    #[inline(always)]
    fn reduce(&self, a: u64) -> u64 {
        let low = self.m.wrapping_mul(u128::from(a));
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
        let mut order = HashOrder::default();
        assert_eq!(order.bucket_count(), 1);
        let mut counts = vec![];
        for len in 0..300u64 {
            if let Some(Relink::Rehash(n)) = order.relink_before_insert(len) {
                order.relink(Relink::Rehash(n), &mut []);
                counts.push((len, n));
            }
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

    /// The list model: libstdc++'s node list spelled out, for the model to agree with.
    struct ListModel {
        /// Keys in iteration order.
        list: Vec<u64>,
        buckets: u64,
    }

    impl ListModel {
        fn bucket(&self, k: u64) -> u64 {
            k % self.buckets
        }

        fn link(&mut self, k: u64) {
            let b = self.bucket(k);
            match self.list.iter().position(|&x| self.bucket(x) == b) {
                Some(i) => self.list.insert(i, k),
                None => self.list.insert(0, k),
            }
        }

        fn rehash(&mut self, buckets: u64) {
            let old = std::mem::take(&mut self.list);
            self.buckets = buckets;
            for k in old {
                self.link(k);
            }
        }
    }

    #[test]
    fn positions_follow_the_linked_list() {
        let mut order = HashOrder::default();
        let mut stamps: std::collections::HashMap<u64, Stamp> = Default::default();
        let mut list = ListModel {
            list: vec![],
            buckets: 1,
        };
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for step in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let address = 0x7f00_0000_0000 + (x % 700) * 16;
            if x & 0x300 == 0 {
                if stamps.remove(&address).is_some() {
                    order.unlink(address);
                    list.list.retain(|&k| k != address);
                }
            } else if !stamps.contains_key(&address) {
                let relink = order.relink_before_insert(stamps.len() as u64);
                // Renumber now and then too: it must keep the order.
                let relink = relink.or((step % 997 == 0).then_some(Relink::Renumber));
                if let Some(r) = relink {
                    let mut nodes: Vec<Node> =
                        stamps.iter().map(|(&a, &s)| order.node(0, a, s)).collect();
                    order.relink(r, &mut nodes);
                    for n in nodes {
                        stamps.insert(n.address, n.stamp);
                    }
                    if let Relink::Rehash(b) = r {
                        list.rehash(b);
                    }
                }
                stamps.insert(address, order.link(address));
                list.link(address);
            }
            let mut ours: Vec<(u64, u64)> = stamps
                .iter()
                .map(|(&a, &s)| (order.position(a, s), a))
                .collect();
            ours.sort_unstable_by(|a, b| b.cmp(a));
            let ours: Vec<u64> = ours.into_iter().map(|(_, a)| a).collect();
            assert_eq!(ours, list.list, "step {step}");
        }
    }
}
