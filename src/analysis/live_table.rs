//! The live allocations by address: an open-addressing hash table made for the heap
//! tracker's one insert or remove per allocation event. Each allocation also carries the
//! stamp of its node in memray's own map ([`crate::analysis::hash_order`]).
//!
//! The live set of a large capture (hundreds of thousands of allocations) does not fit in
//! the caches, so each event's lookup is a cache miss. This table keeps those misses cheap:
//! 32-byte slots stored inline (two to a cache line, no control bytes, no pointers),
//! linear probing, backward-shift deletion (no tombstones, so long runs of inserts and
//! removes never degrade it), and [`LiveTable::prefetch`] so the caller can start the miss
//! for an event a few events before it gets there. Large tables live in transparent huge
//! pages where the kernel offers them: with 4 KiB pages nearly every lookup in a table of
//! tens of megabytes also misses the TLB.

use crate::analysis::hash_order::Stamp;

/// What the heap tracker keeps of a live allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Live {
    /// The allocation event's sequence number.
    pub seq: u64,
    pub size: u64,
    /// Its [`crate::analysis::sites::Sites`] id: thread, allocator and stacks. Below
    /// [`crate::analysis::sites::MAX_SITES`].
    pub site: u64,
    /// The link stamp of its node in memray's map ([`crate::analysis::hash_order`]); kept
    /// when another allocation at the same address replaces it.
    pub stamp: Stamp,
}

#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Slot {
    address: u64,
    seq: u64,
    size: u64,
    /// The site id plus one; 0 marks an empty slot.
    site: u32,
    stamp: Stamp,
}

impl Slot {
    #[inline(always)]
    fn is_empty(&self) -> bool {
        self.site == 0
    }

    #[inline(always)]
    fn live(&self) -> Live {
        Live {
            seq: self.seq,
            size: self.size,
            site: u64::from(self.site - 1),
            stamp: self.stamp,
        }
    }
}

/// The empty slot: all zero bytes.
const EMPTY: Slot = Slot {
    address: 0,
    seq: 0,
    size: 0,
    site: 0,
    stamp: 0,
};

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

/// Addresses to live allocations.
#[derive(Debug)]
pub struct LiveTable {
    slots: SlotStore,
    /// `slots.len() - 1`.
    mask: usize,
    /// `64 - log2(slots.len())`: the hash's top bits pick the home slot.
    shift: u32,
    len: usize,
}

impl Default for LiveTable {
    fn default() -> Self {
        Self::with_slots(MIN_SLOTS)
    }
}

impl LiveTable {
    fn with_slots(n: usize) -> Self {
        debug_assert!(n.is_power_of_two());
        LiveTable {
            slots: SlotStore::zeroed(n),
            mask: n - 1,
            shift: 64 - n.trailing_zeros(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fibonacci hashing: the multiply spreads the low bits that pointer alignment leaves
    /// constant into the top bits, which pick the slot.
    #[inline(always)]
    fn home(&self, address: u64) -> usize {
        (address.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
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

    /// Makes `live` the allocation at `address`; returns the one it replaces, whose stamp
    /// `live` keeps (memray's map keeps the node of a key assigned again). A new address
    /// gets the stamp `link` gives.
    #[inline]
    pub fn insert_with(
        &mut self,
        address: u64,
        live: Live,
        link: impl FnOnce() -> Stamp,
    ) -> Option<Live> {
        // Grow past a load of 4/5: linear probing stays short up to there.
        if (self.len + 1) * 5 > self.slots.len() * 4 {
            self.grow();
        }
        debug_assert!(live.site < crate::analysis::sites::MAX_SITES);
        let mut fresh = Slot {
            address,
            seq: live.seq,
            size: live.size,
            site: live.site as u32 + 1,
            stamp: 0,
        };
        let mut i = self.home(address);
        loop {
            let slot = &mut self.slots[i];
            if slot.is_empty() {
                fresh.stamp = link();
                *slot = fresh;
                self.len += 1;
                return None;
            }
            if slot.address == address {
                let old = slot.live();
                fresh.stamp = slot.stamp;
                *slot = fresh;
                return Some(old);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// [`LiveTable::insert_with`] for a caller that keeps no stamps.
    #[inline]
    pub fn insert(&mut self, address: u64, live: Live) -> Option<Live> {
        self.insert_with(address, live, || 0)
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

    /// Removes and returns the allocation at `address`.
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
            let home = self.home(slot.address);
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(hole) & self.mask) {
                self.slots[hole] = slot;
                hole = j;
            }
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
        Some(found.live())
    }

    #[cold]
    fn grow(&mut self) {
        let mut bigger = Self::with_slots(self.slots.len() * 2);
        for &slot in self.slots.iter() {
            if !slot.is_empty() {
                let mut i = bigger.home(slot.address);
                while !bigger.slots[i].is_empty() {
                    i = (i + 1) & bigger.mask;
                }
                bigger.slots[i] = slot;
            }
        }
        bigger.len = self.len;
        *self = bigger;
    }

    /// The live allocations with their addresses and slot indexes, in no particular order.
    pub fn indexed_entries(&self) -> impl Iterator<Item = (usize, u64, Live)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.is_empty())
            .map(|(i, s)| (i, s.address, s.live()))
    }

    /// Sets the stamp of the allocation in slot `index` (from [`LiveTable::indexed_entries`],
    /// with no insert or remove since).
    pub fn set_stamp(&mut self, index: usize, stamp: Stamp) {
        self.slots[index].stamp = stamp;
    }

    /// The live allocations with their addresses, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (u64, Live)> + '_ {
        self.slots
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| (s.address, s.live()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn live(seq: u64) -> Live {
        Live {
            seq,
            size: seq * 2,
            site: seq % 7,
            stamp: 0,
        }
    }

    #[test]
    fn agrees_with_a_hash_map_through_growth_and_deletions() {
        // A simple xorshift stream of addresses from a small range, so that inserts replace,
        // removes hit and miss, and probe runs wrap around the end of the table.
        let mut table = LiveTable::default();
        let mut model = HashMap::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for seq in 0..400_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let address = (x % 60_000) * 16;
            if x & 0x300 == 0 {
                assert_eq!(table.remove(address), model.remove(&address));
            } else {
                assert_eq!(
                    table.insert(address, live(seq)),
                    model.insert(address, live(seq))
                );
            }
            assert_eq!(table.len(), model.len());
        }
        let mut entries: Vec<_> = table.entries().collect();
        let mut model_entries: Vec<_> = model.iter().map(|(&a, &l)| (a, l)).collect();
        entries.sort_unstable_by_key(|e| e.0);
        model_entries.sort_unstable_by_key(|e| e.0);
        assert_eq!(entries, model_entries);
        for (&address, &l) in &model {
            assert_eq!(table.remove(address), Some(l));
        }
        assert!(table.is_empty());
    }

    #[test]
    fn address_zero_is_an_ordinary_key() {
        let mut table = LiveTable::default();
        assert_eq!(table.remove(0), None);
        assert_eq!(table.insert(0, live(1)), None);
        assert_eq!(table.insert(0, live(2)), Some(live(1)));
        assert_eq!(table.remove(0), Some(live(2)));
        assert_eq!(table.remove(0), None);
    }

    #[test]
    fn a_replaced_allocation_keeps_its_stamp_and_a_new_one_is_linked() {
        let mut table = LiveTable::default();
        assert_eq!(table.insert_with(0x10, live(1), || 7), None);
        let replaced = table.insert_with(0x10, live(2), || unreachable!("not linked again"));
        assert_eq!(
            replaced,
            Some(Live {
                stamp: 7,
                ..live(1)
            })
        );
        assert!(table.contains(0x10) && !table.contains(0x20));
        assert_eq!(
            table.remove(0x10),
            Some(Live {
                stamp: 7,
                ..live(2)
            })
        );
    }
}
