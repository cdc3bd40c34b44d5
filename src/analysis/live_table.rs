//! The live allocations by address, laid out as memray's own map of them: an
//! open-addressing table made for the heap tracker's one insert or remove per allocation
//! event, whose slots follow memray's buckets, so that each allocation also carries its
//! position in memray's iteration order ([`crate::analysis::hash_order`]) at no second
//! lookup.
//!
//! The layout. memray keeps the live allocations in a `std::unordered_map<uintptr_t, …>`
//! whose bucket is `address % bucket_count` (a prime, grown by libstdc++'s policy). Here the
//! home slot of an address is its bucket spread over the power-of-two table
//! (`bucket * slots / bucket_count`), so all nodes of one bucket lie in the probe run that
//! starts at the bucket's home: the lookup that finds an address also meets the other nodes
//! of its bucket. Each slot holds the stamp of its bucket's run
//! (copied from a node of the same bucket met on the way, or new when there is none) and the
//! stamp of its own linking; the two make its position. When memray's map rehashes, the
//! table is rebuilt for the new bucket count, linking the nodes again in memray's order.
//!
//! The live set of a large capture (hundreds of thousands of allocations) does not fit in
//! the caches, so each event's lookup is a cache miss. The table keeps those misses cheap:
//! 32-byte slots stored inline (two to a cache line, no control bytes, no pointers), linear
//! probing, backward-shift deletion (no tombstones, so long runs of inserts and removes never
//! degrade it), and [`LiveTable::prefetch`] so the caller can start the miss for an event a
//! few events before it gets there. Large tables live in transparent huge pages where the
//! kernel offers them: with 4 KiB pages nearly every lookup in a table of tens of megabytes
//! also misses the TLB.

use rustc_hash::FxHashMap;

use crate::analysis::hash_order::{position, FastMod, RehashPolicy, Relink, Stamp};

/// What the heap tracker keeps of a live allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Live {
    /// The allocation event's sequence number.
    pub seq: u64,
    pub size: u64,
    /// Its [`crate::analysis::sites::Sites`] id: thread, allocator and stacks. Below
    /// [`crate::analysis::sites::MAX_SITES`].
    pub site: u64,
    /// Where its node comes in memray's map ([`crate::analysis::hash_order::position`]),
    /// as the table gives it out; ignored on insert. An allocation that replaces another
    /// at the same address takes over its node, and so its position.
    pub position: u64,
}

#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Slot {
    address: u64,
    seq: u64,
    /// The low 24 bits: the size, or [`BIG_SIZE`] for one kept in
    /// [`LiveTable::big_sizes`]; the high 8: the slot's distance from its home slot, or
    /// [`FAR`] for 255 and more.
    size_and_distance: u32,
    /// The site id plus one; 0 marks an empty slot.
    site: u32,
    /// The stamp of its bucket's run.
    run: Stamp,
    /// The stamp of its linking.
    stamp: Stamp,
}

impl Slot {
    #[inline(always)]
    fn is_empty(&self) -> bool {
        self.site == 0
    }

    #[inline(always)]
    fn position(&self) -> u64 {
        position(self.run, self.stamp)
    }

    #[inline(always)]
    fn size_bits(&self) -> u32 {
        self.size_and_distance & BIG_SIZE
    }

    #[inline(always)]
    fn distance(&self) -> u32 {
        self.size_and_distance >> 24
    }

    /// The slot with `distance` from its home slot (saturated at [`FAR`]).
    #[inline(always)]
    fn at_distance(self, distance: usize) -> Slot {
        let distance = distance.min(FAR as usize) as u32;
        Slot {
            size_and_distance: self.size_bits() | (distance << 24),
            ..self
        }
    }
}

/// The empty slot: all zero bytes.
const EMPTY: Slot = Slot {
    address: 0,
    seq: 0,
    size_and_distance: 0,
    site: 0,
    run: 0,
    stamp: 0,
};

/// A slot's size at or above this (16 MiB) is kept aside, in [`LiveTable::big_sizes`].
const BIG_SIZE: u32 = (1 << 24) - 1;

/// The distance of a slot 255 or more slots from its home: its home is then computed.
const FAR: u32 = 255;

/// Slots at or above this many bytes are mapped from the kernel directly, with huge pages
/// asked for; smaller tables stay on the heap.
const HUGE_PAGE_BYTES: usize = 2 << 20;

/// The slots' memory: zeroed (all slots [`EMPTY`]) either way.
#[derive(Debug)]
enum SlotStore {
    Heap(Vec<Slot>),
    Mapped { map: memmap2::MmapMut, len: usize },
}

impl SlotStore {
    fn zeroed(n: usize) -> SlotStore {
        let bytes = n * std::mem::size_of::<Slot>();
        if bytes >= HUGE_PAGE_BYTES {
            if let Ok(map) = memmap2::MmapMut::map_anon(bytes) {
                #[cfg(target_os = "linux")]
                let _ = map.advise(memmap2::Advice::HugePage);
                return SlotStore::Mapped { map, len: n };
            }
        }
        SlotStore::Heap(vec![EMPTY; n])
    }
}

impl std::ops::Deref for SlotStore {
    type Target = [Slot];

    fn deref(&self) -> &[Slot] {
        match self {
            SlotStore::Heap(v) => v,
            // SAFETY: the map is `len * size_of::<Slot>()` bytes, page-aligned (more than
            // `Slot`'s alignment), and all-zero bytes are a valid (empty) `Slot`; it is
            // only reached through `self`, so the borrow rules carry over.
            SlotStore::Mapped { map, len } => unsafe {
                std::slice::from_raw_parts(map.as_ptr().cast::<Slot>(), *len)
            },
        }
    }
}

impl std::ops::DerefMut for SlotStore {
    fn deref_mut(&mut self) -> &mut [Slot] {
        match self {
            SlotStore::Heap(v) => v,
            // SAFETY: as in `deref`, with `&mut self` giving exclusive access.
            SlotStore::Mapped { map, len } => unsafe {
                std::slice::from_raw_parts_mut(map.as_mut_ptr().cast::<Slot>(), *len)
            },
        }
    }
}

/// Slots of a new table; a power of two.
const MIN_SLOTS: usize = 1 << 12;

/// Addresses to live allocations, in memray's buckets.
#[derive(Debug)]
pub struct LiveTable {
    slots: SlotStore,
    /// `slots.len() - 1`.
    mask: usize,
    len: usize,
    /// memray's bucket count and when it grows.
    policy: RehashPolicy,
    /// `address % bucket_count`.
    bucket: FastMod,
    /// `128 - log2(slots.len())`: the home slot of an address is the top bits of the
    /// fraction `address / bucket_count` ([`LiveTable::home`]).
    /// (The table grows with the live set, not with the bucket count: several buckets may
    /// share a home slot; each bucket's nodes still lie in the probe run from its home.)
    home_shift: u32,
    next_stamp: Stamp,
    /// The sizes too large for a slot, by address.
    big_sizes: FxHashMap<u64, u64>,
}

impl Default for LiveTable {
    fn default() -> Self {
        let policy = RehashPolicy::default();
        let slots = MIN_SLOTS;
        LiveTable {
            slots: SlotStore::zeroed(slots),
            mask: slots - 1,
            len: 0,
            bucket: FastMod::new(policy.bucket_count()),
            home_shift: home_shift(slots),
            policy,
            next_stamp: 1,
            big_sizes: FxHashMap::default(),
        }
    }
}

/// [`LiveTable::home_shift`] for `slots` slots (a power of two).
fn home_shift(slots: usize) -> u32 {
    128 - slots.trailing_zeros()
}

/// Addresses below this get their home slot from the fraction alone (see
/// [`LiveTable::home`]).
const FRACTION_EXACT_BELOW: u64 = 1 << 56;

impl LiveTable {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// memray's bucket count.
    pub fn bucket_count(&self) -> u64 {
        self.policy.bucket_count()
    }

    /// The home slot of `address`: its bucket `b = address % d` spread over the table's
    /// `n` slots, `floor(b * n / d)`, a function of the bucket alone.
    ///
    /// `b / d` is the fraction of `address / d`, which the division-free modulus computes
    /// first as `f = ceil(2^128 / d) * address mod 2^128` ([`FastMod::fraction`]): `f / 2^128
    /// = b / d + e` with `0 <= e < address / 2^128`. So `f`'s top `log2(n)` bits are
    /// `floor(b * n / d + e * n)`, which is `floor(b * n / d)` as long as `e * n < 1 / d`
    /// (the distance from `b * n / d` to the next integer is at least `1 / d`): always, when
    /// `address < 2^56` and `n * d < 2^72` (slots and buckets below 2^36 each, terabytes of
    /// table). Larger addresses take the exact way.
    #[inline(always)]
    fn home(&self, address: u64) -> usize {
        if address < FRACTION_EXACT_BELOW {
            (self.bucket.fraction(address) >> self.home_shift) as usize
        } else {
            self.home_of_bucket(self.bucket.reduce(address))
        }
    }

    /// `floor(bucket * slots / bucket_count)`.
    #[cold]
    fn home_of_bucket(&self, bucket: u64) -> usize {
        let slots = u128::from(self.mask as u64 + 1);
        ((u128::from(bucket) * slots) / u128::from(self.bucket.divisor())) as usize
    }

    /// The home slot of `slot`, found at index `i`.
    #[inline(always)]
    fn home_of_slot(&self, i: usize, slot: &Slot) -> usize {
        match slot.distance() {
            FAR => self.home(slot.address),
            d => i.wrapping_sub(d as usize) & self.mask,
        }
    }

    /// Starts loading the slot where `address` would be, for a lookup soon after.
    #[inline(always)]
    pub fn prefetch(&self, address: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let slot = self.slots.as_ptr().wrapping_add(self.home(address)) as *const i8;
            // SAFETY: prefetching is a hint; it never faults, whatever the address.
            // The line after the home slot's too: a removal reads the slots after the one it
            // empties, and two slots share a line.
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(slot);
                _mm_prefetch::<_MM_HINT_T0>(slot.wrapping_add(64));
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = address;
    }

    #[inline(always)]
    fn live(&self, slot: &Slot) -> Live {
        Live {
            seq: slot.seq,
            size: match slot.size_bits() {
                BIG_SIZE => self.big_sizes.get(&slot.address).copied().unwrap_or(0),
                size => u64::from(size),
            },
            site: u64::from(slot.site - 1),
            position: slot.position(),
        }
    }

    /// The slot's size bits for `size` at `address`, keeping a big one aside.
    #[inline(always)]
    fn slot_size(&mut self, address: u64, size: u64) -> u32 {
        match u32::try_from(size) {
            Ok(small) if small < BIG_SIZE => small,
            _ => {
                self.big_sizes.insert(address, size);
                BIG_SIZE
            }
        }
    }

    /// Takes the allocation out of `slot`, dropping its big size if it has one.
    #[inline(always)]
    fn take_live(&mut self, slot: &Slot) -> Live {
        let live = self.live(slot);
        if slot.size_bits() == BIG_SIZE {
            self.big_sizes.remove(&slot.address);
        }
        live
    }

    /// Whether the next link would pass the last stamp (a link takes at most two).
    #[inline(always)]
    fn stamps_run_out(&self) -> bool {
        u64::from(self.next_stamp) + 2 > u64::from(Stamp::MAX)
    }

    /// Whether a new key linked now may need a relink first: if not, none happens.
    #[inline(always)]
    fn may_relink(&self) -> bool {
        self.policy.may_rehash(self.len as u64) || self.stamps_run_out()
    }

    /// Whether inserting `address` now relinks the table first: it is not present, and
    /// memray's map rehashes (or the stamps ran out). Every live allocation's position
    /// changes then.
    #[inline(always)]
    pub fn relinks_before_insert(&self, address: u64) -> bool {
        self.may_relink() && self.relinks_before_new_key(address)
    }

    #[cold]
    fn relinks_before_new_key(&self, address: u64) -> bool {
        !self.contains(address)
            && (self
                .policy
                .clone()
                .rehash_before_insert(self.len as u64)
                .is_some()
                || self.stamps_run_out())
    }

    #[inline(always)]
    fn take_stamp(&mut self) -> Stamp {
        let s = self.next_stamp;
        self.next_stamp = s.wrapping_add(1);
        s
    }

    /// Makes `live` the allocation at `address`; returns the one it replaces, whose node
    /// `live` takes over (memray's map keeps the node of a key assigned again). A new address
    /// is linked into memray's map, relinking it first if it rehashes then.
    #[inline]
    pub fn insert(&mut self, address: u64, live: Live) -> Option<Live> {
        debug_assert!(live.site < crate::analysis::sites::MAX_SITES);
        let home = self.home(address);
        let mut i = home;
        let mut run = 0;
        loop {
            let slot = self.slots[i];
            if slot.is_empty() {
                break;
            }
            if slot.address == address {
                let old = self.take_live(&slot);
                let size = self.slot_size(address, live.size);
                self.slots[i] = Slot {
                    seq: live.seq,
                    size_and_distance: size | (slot.size_and_distance & !BIG_SIZE),
                    site: live.site as u32 + 1,
                    ..slot
                };
                return Some(old);
            }
            if run == 0 && self.same_bucket(i, &slot, home, address) {
                run = slot.run;
            }
            i = (i + 1) & self.mask;
        }
        if self.may_relink() || (self.len + 1) * 5 > self.slots.len() * 4 {
            return self.insert_after_relink(address, live);
        }
        let size = self.slot_size(address, live.size);
        let slot = Slot {
            address,
            seq: live.seq,
            size_and_distance: size,
            site: live.site as u32 + 1,
            run,
            stamp: 0,
        };
        self.link_at(i, home, slot);
        None
    }

    /// Whether `slot`, at index `i`, is of the bucket of `address`, whose home is `home`.
    #[inline(always)]
    fn same_bucket(&self, i: usize, slot: &Slot, home: usize, address: u64) -> bool {
        // Several buckets may share a home slot, but only those.
        self.home_of_slot(i, slot) == home
            && self.bucket.reduce(slot.address) == self.bucket.reduce(address)
    }

    /// Links `slot` into empty slot `i` (the end of the probe run from `home`), in a new run
    /// unless `slot.run` names its bucket's.
    #[inline(always)]
    fn link_at(&mut self, i: usize, home: usize, mut slot: Slot) {
        if slot.run == 0 {
            slot.run = self.take_stamp();
        }
        slot.stamp = self.take_stamp();
        self.slots[i] = slot.at_distance(i.wrapping_sub(home) & self.mask);
        self.len += 1;
    }

    /// [`LiveTable::insert`] of a new address when memray's map may relink first, or the
    /// table would pass a load of 4/5 (linear probing stays short up to there).
    #[cold]
    fn insert_after_relink(&mut self, address: u64, live: Live) -> Option<Live> {
        if self.may_relink() {
            if let Some(n) = self.policy.rehash_before_insert(self.len as u64) {
                self.relink(Relink::Rehash(n));
            } else if self.stamps_run_out() {
                self.relink(Relink::Renumber);
            }
        }
        if (self.len + 1) * 5 > self.slots.len() * 4 {
            self.grow();
        }
        debug_assert!(!self.may_relink());
        self.insert(address, live)
    }

    /// Doubles the slots, keeping every node's stamps.
    #[cold]
    fn grow(&mut self) {
        let slots = self.slots.len() * 2;
        let old = std::mem::replace(&mut self.slots, SlotStore::zeroed(slots));
        self.mask = slots - 1;
        self.home_shift = home_shift(slots);
        for &node in old.iter().filter(|s| !s.is_empty()) {
            let home = self.home(node.address);
            let mut i = home;
            while !self.slots[i].is_empty() {
                i = (i + 1) & self.mask;
            }
            self.slots[i] = node.at_distance(i.wrapping_sub(home) & self.mask);
        }
    }

    /// Links every live node again, as memray's map does when it rehashes into `relink`'s
    /// bucket count (walking its old order; the policy has already counted the buckets), or
    /// with fresh stamps in the same order when the stamps ran out.
    pub fn relink(&mut self, relink: Relink) {
        let buckets = match relink {
            Relink::Rehash(n) => n,
            Relink::Renumber => self.bucket_count(),
        };
        // The slots follow the live set, not the buckets: several buckets share a home slot
        // when there are fewer slots (their nodes still lie in the probe run from it), and
        // the table grows at a load of 4/5 as it does between relinks. Sizing it by the
        // buckets instead (5/4 of them) spared some growing, but took up to twice the
        // memory: memray's map doubles its buckets when its keys reach their number.
        let slots = self.slots.len();
        let mut old = std::mem::replace(&mut self.slots, SlotStore::zeroed(slots));
        self.mask = slots - 1;
        self.bucket = FastMod::new(buckets);
        self.home_shift = home_shift(slots);
        self.len = 0;
        self.next_stamp = 1;
        // A rehash links the nodes in iteration order, which reverses each bucket's; linking
        // them in reverse keeps the order.
        match relink {
            Relink::Rehash(_) => {
                old.sort_unstable_by_key(|s| (s.is_empty(), std::cmp::Reverse(s.position())))
            }
            Relink::Renumber => old.sort_unstable_by_key(|s| (s.is_empty(), s.position())),
        }
        for &node in old.iter().take_while(|s| !s.is_empty()) {
            let home = self.home(node.address);
            let mut i = home;
            let mut run = 0;
            while !self.slots[i].is_empty() {
                let slot = self.slots[i];
                if run == 0 && self.same_bucket(i, &slot, home, node.address) {
                    run = slot.run;
                }
                i = (i + 1) & self.mask;
            }
            self.link_at(i, home, Slot { run, ..node });
        }
    }

    /// The slot of the allocation at `address`, if one is live there.
    #[inline]
    fn find(&self, address: u64) -> Option<usize> {
        let mut i = self.home(address);
        loop {
            let slot = &self.slots[i];
            if slot.is_empty() {
                return None;
            }
            if slot.address == address {
                return Some(i);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Whether an allocation is live at `address`.
    pub fn contains(&self, address: u64) -> bool {
        self.find(address).is_some()
    }

    /// Removes and returns the allocation at `address` (unlinking its node from memray's
    /// map: a bucket left with no node ends its run).
    #[inline]
    pub fn remove(&mut self, address: u64) -> Option<Live> {
        let i = self.find(address)?;
        let found = self.slots[i];
        // Backward-shift deletion: pull later entries of the run into the hole when the
        // hole lies on their probe path, so lookups never need tombstones.
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let slot = self.slots[j];
            if slot.is_empty() {
                break;
            }
            let home = self.home_of_slot(j, &slot);
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(hole) & self.mask) {
                self.slots[hole] = slot.at_distance(hole.wrapping_sub(home) & self.mask);
                hole = j;
            }
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
        Some(self.take_live(&found))
    }

    /// Replaces the site id of every live allocation `s` with `renumber(s)`.
    pub fn renumber_sites(&mut self, mut renumber: impl FnMut(u64) -> u64) {
        for slot in self.slots.iter_mut().filter(|s| !s.is_empty()) {
            // Site ids are below `MAX_SITES`, so the id plus one fits the slot.
            slot.site = renumber(u64::from(slot.site - 1)) as u32 + 1;
        }
    }

    /// The live allocations with their addresses, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (u64, Live)> + '_ {
        self.slots
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| (s.address, self.live(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::hash_order::reference::ListModel;
    use std::collections::HashMap;

    fn live(seq: u64) -> Live {
        Live {
            seq,
            size: seq * 2,
            site: seq % 7,
            position: 0,
        }
    }

    /// `table`'s allocations as (address, allocation without its position).
    fn contents(table: &LiveTable) -> Vec<(u64, Live)> {
        let mut entries: Vec<_> = table
            .entries()
            .map(|(a, l)| (a, Live { position: 0, ..l }))
            .collect();
        entries.sort_unstable_by_key(|e| e.0);
        entries
    }

    #[test]
    fn agrees_with_a_hash_map_through_growth_and_deletions() {
        // A simple xorshift stream of addresses from a small range, so that inserts replace,
        // removes hit and miss, and probe runs wrap around the end of the table.
        let mut table = LiveTable::default();
        let mut model = HashMap::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let forget = |l: Option<Live>| l.map(|l| Live { position: 0, ..l });
        for seq in 0..400_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let address = (x % 60_000) * 16;
            if x & 0x300 == 0 {
                assert_eq!(forget(table.remove(address)), model.remove(&address));
            } else {
                assert_eq!(
                    forget(table.insert(address, live(seq))),
                    model.insert(address, live(seq))
                );
            }
            assert_eq!(table.len(), model.len());
        }
        let mut model_entries: Vec<_> = model.iter().map(|(&a, &l)| (a, l)).collect();
        model_entries.sort_unstable_by_key(|e| e.0);
        assert_eq!(contents(&table), model_entries);
        for (&address, &l) in &model {
            assert_eq!(forget(table.remove(address)), Some(l));
        }
        assert!(table.is_empty());
    }

    #[test]
    fn address_zero_is_an_ordinary_key() {
        let mut table = LiveTable::default();
        assert_eq!(table.remove(0), None);
        assert_eq!(table.insert(0, live(1)), None);
        let first = table.entries().next().expect("one entry").1;
        assert_eq!(table.insert(0, live(2)), Some(first));
        assert_eq!(table.remove(0).map(|l| l.seq), Some(2));
        assert_eq!(table.remove(0), None);
    }

    #[test]
    fn sizes_past_24_bits_are_kept_whole() {
        let mut table = LiveTable::default();
        let big = |seq, size| Live { size, ..live(seq) };
        let sizes = [u64::from(BIG_SIZE), u64::from(u32::MAX), 1 << 40, u64::MAX];
        for (i, size) in sizes.into_iter().enumerate() {
            let address = 0x1000 * (i as u64 + 1);
            assert_eq!(table.insert(address, big(1, size)), None);
            // Replaced by a small one, then by a big one again, then removed.
            assert_eq!(table.insert(address, big(2, 5)).map(|l| l.size), Some(size));
            assert_eq!(table.insert(address, big(3, size)).map(|l| l.size), Some(5));
            assert_eq!(table.entries().map(|(_, l)| l.size).max(), Some(size));
            assert_eq!(table.remove(address).map(|l| l.size), Some(size));
        }
        assert!(table.big_sizes.is_empty());
    }

    /// The home slot from the fraction alone is the exact `floor(bucket * slots / buckets)`.
    #[test]
    fn home_slots_are_the_buckets_spread_in_order() {
        use crate::analysis::libstdcxx_primes::PRIMES;
        let mut table = LiveTable::default();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut checked = 0;
        for &d in PRIMES.iter().step_by(7).filter(|&&d| d < 1 << 36) {
            for log_slots in [12u32, 17, 20, 27, 35] {
                table.bucket = FastMod::new(d);
                table.mask = (1usize << log_slots) - 1;
                table.home_shift = 128 - log_slots;
                let mut addresses = vec![0, 1, d - 1, d, d + 1, 16 * d - 1, (1 << 56) - 1, 1 << 56];
                addresses.extend([u64::MAX, u64::MAX / d * d, u64::MAX / d * d - 1]);
                for _ in 0..300 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let below = ((x >> 8) / d * d).wrapping_sub(1);
                    addresses.extend([x >> 8, (x >> 8) / d * d, below, x]);
                }
                for a in addresses {
                    let exact = (u128::from(a % d) << log_slots) / u128::from(d);
                    assert_eq!(table.home(a) as u128, exact, "{a} % {d} over 2^{log_slots}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 50_000, "{checked}");
    }

    /// Hundreds of addresses in one bucket: a probe run longer than a slot's distance can
    /// say, entries far from home moved back by removals, and positions still memray's.
    #[test]
    fn one_crowded_bucket_keeps_lookups_and_order_right() {
        let mut table = LiveTable::default();
        let mut list = ListModel::default();
        let mut model = HashMap::new();
        fn put(
            (table, list, model): (&mut LiveTable, &mut ListModel, &mut HashMap<u64, u64>),
            address: u64,
            seq: u64,
        ) {
            let new = !model.contains_key(&address);
            assert_eq!(table.insert(address, live(seq)).is_none(), new);
            model.insert(address, seq);
            list.assign(address);
        }
        for seq in 0..2000u64 {
            put(
                (&mut table, &mut list, &mut model),
                0x5000_0000 + seq * 48,
                seq,
            );
        }
        let buckets = table.bucket_count();
        assert_eq!(buckets, 2357);
        // 300 more, all in the bucket of 0x10: no rehash (2300 keys in 2357 buckets).
        let crowd: Vec<u64> = (1..=300u64).map(|k| 0x10 + k * buckets * 16).collect();
        for (k, &address) in crowd.iter().enumerate() {
            put(
                (&mut table, &mut list, &mut model),
                address,
                5000 + k as u64,
            );
        }
        assert_eq!(table.bucket_count(), buckets);
        let far = (0..table.slots.len())
            .filter(|&i| !table.slots[i].is_empty() && table.slots[i].distance() == FAR)
            .count();
        assert!(far > 0, "no slot far from home");
        let check = |table: &LiveTable, list: &ListModel, model: &HashMap<u64, u64>| {
            let mut ours: Vec<(u64, u64)> = table.entries().map(|(a, l)| (l.position, a)).collect();
            ours.sort_unstable_by(|a, b| b.cmp(a));
            assert!(ours.iter().map(|&(_, a)| a).eq(list.list.iter().copied()));
            for (&address, &seq) in model {
                assert!(table.contains(address), "{address:#x} lost");
                let l = table
                    .entries()
                    .find(|&(a, _)| a == address)
                    .expect("entry")
                    .1;
                assert_eq!(l.seq, seq);
            }
        };
        check(&table, &list, &model);
        // Remove every other crowd member and some of the rest, then add to the crowd again.
        for &address in crowd.iter().step_by(2) {
            assert!(table.remove(address).is_some() && list.erase(address));
            model.remove(&address);
        }
        for seq in (0..2000u64).step_by(3) {
            let address = 0x5000_0000 + seq * 48;
            assert!(table.remove(address).is_some() && list.erase(address));
            model.remove(&address);
        }
        check(&table, &list, &model);
        for k in 301..=400u64 {
            put(
                (&mut table, &mut list, &mut model),
                0x10 + k * buckets * 16,
                9000 + k,
            );
        }
        check(&table, &list, &model);
    }

    #[test]
    fn a_replaced_allocation_keeps_its_position_and_a_new_one_is_linked() {
        let mut table = LiveTable::default();
        assert_eq!(table.insert(0x10, live(1)), None);
        let position = table.entries().next().expect("one entry").1.position;
        assert_ne!(position, 0);
        let replaced = table.insert(0x10, live(2));
        assert_eq!(
            replaced,
            Some(Live {
                position,
                ..live(1)
            })
        );
        assert!(table.contains(0x10) && !table.contains(0x20));
        assert_eq!(
            table.remove(0x10),
            Some(Live {
                position,
                ..live(2)
            })
        );
    }

    /// The table's positions against libstdc++'s node list spelled out, through rehashes,
    /// renumbering, erasures and assignments to live keys.
    #[test]
    fn positions_follow_the_linked_list() {
        let mut table = LiveTable::default();
        let mut list = ListModel::default();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for step in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let address = 0x7f00_0000_0000 + (x % 700) * 16;
            if x & 0x300 == 0 {
                assert_eq!(table.remove(address).is_some(), list.erase(address));
            } else {
                // Renumber now and then too: it must keep the order.
                if step % 997 == 0 {
                    table.relink(Relink::Renumber);
                }
                table.insert(address, live(step));
                list.assign(address);
            }
            let mut ours: Vec<(u64, u64)> = table.entries().map(|(a, l)| (l.position, a)).collect();
            ours.sort_unstable_by(|a, b| b.cmp(a));
            let ours: Vec<u64> = ours.into_iter().map(|(_, a)| a).collect();
            assert_eq!(ours, list.list, "step {step}");
        }
        assert!(table.bucket_count() > 700);
    }

    #[test]
    fn a_new_key_says_when_it_relinks() {
        let mut table = LiveTable::default();
        let mut relinks = 0;
        for seq in 0..3000u64 {
            let relinked = table.relinks_before_insert(seq * 16);
            if seq > 0 {
                // Assigning to a present address never relinks.
                assert!(!table.relinks_before_insert(0));
            }
            let before = table.bucket_count();
            table.insert(seq * 16, live(seq));
            assert_eq!(relinked, table.bucket_count() != before, "insert {seq}");
            relinks += usize::from(relinked);
        }
        // 13, 29, 59, 127, 257, 541, 1109, 2357, 5087 buckets.
        assert_eq!((relinks, table.bucket_count()), (9, 5087));
    }
}
