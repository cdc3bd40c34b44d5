//! The heap's size over the allocation stream, as memray's `HighWatermarkFinder` keeps it for
//! the statistics' peak: the size of every live simple allocation by address (an
//! allocation over a live address replaces its size without taking the old one off, a free
//! of an unknown address changes nothing) and the mappings as ranges.
//!
//! The addresses live in an open-addressing table of 16-byte slots spread by a Fibonacci
//! hash, with backward-shift deletion, and [`HeapSize::prefetch`] brings an address's slot
//! into the cache some events before it is needed: the live set is hundreds of thousands
//! of allocations, megabytes that a hash map misses the cache on at nearly every event
//! (docs/performance.md, "The live table laid out by address": the scattered layout was
//! the fastest there too).

use crate::analysis::intervals::IntervalSet;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// 0 for an empty slot; address 0 is kept apart ([`HeapSize::zero`]).
    address: u64,
    size: u64,
}

/// The heap's current and largest size.
#[derive(Debug)]
pub struct HeapSize {
    slots: Vec<Slot>,
    bits: u32,
    len: usize,
    /// The size of a live allocation at address 0.
    zero: Option<u64>,
    mappings: IntervalSet<()>,
    current: u64,
    peak: u64,
}

impl Default for HeapSize {
    fn default() -> Self {
        HeapSize {
            slots: vec![Slot::default(); 1 << 10],
            bits: 10,
            len: 0,
            zero: None,
            mappings: IntervalSet::default(),
            current: 0,
            peak: 0,
        }
    }
}

impl HeapSize {
    /// The largest size the heap had.
    pub fn peak(&self) -> u64 {
        self.peak
    }

    /// The heap's size now.
    #[inline]
    pub fn current(&self) -> u64 {
        self.current
    }

    #[inline]
    fn home(&self, address: u64) -> usize {
        (address.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - self.bits)) as usize
    }

    /// Asks the CPU to bring `address`'s slot into the cache.
    #[inline]
    pub fn prefetch(&self, address: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let slot = self.slots.as_ptr().wrapping_add(self.home(address)) as *const i8;
            // SAFETY: prefetching is a hint; it never faults, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(slot) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = address;
    }

    /// A simple allocation of `size` bytes at `address`.
    #[inline]
    pub fn allocate(&mut self, address: u64, size: u64) {
        self.grow(size);
        if address == 0 {
            self.zero = Some(size);
            return;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(address);
        loop {
            let slot = &mut self.slots[i];
            if slot.address == address || slot.address == 0 {
                if slot.address == 0 {
                    self.len += 1;
                }
                *slot = Slot { address, size };
                break;
            }
            i = (i + 1) & mask;
        }
        if self.len * 4 > self.slots.len() * 3 {
            self.double();
        }
    }

    /// A simple deallocation at `address`.
    #[inline]
    pub fn free(&mut self, address: u64) {
        let freed = if address == 0 {
            self.zero.take()
        } else {
            self.remove(address)
        };
        if let Some(size) = freed {
            self.current = self.current.wrapping_sub(size);
        }
    }

    /// A mapping of `size` bytes at `address`.
    pub fn map(&mut self, address: u64, size: u64) {
        self.mappings.add(address, size, ());
        self.grow(size);
    }

    /// An unmapping of `size` bytes at `address`: what of it was mapped is freed.
    pub fn unmap(&mut self, address: u64, size: u64) {
        let freed = self.mappings.remove(address, size);
        self.current = self.current.wrapping_sub(freed);
    }

    #[inline]
    fn grow(&mut self, size: u64) {
        self.current = self.current.wrapping_add(size);
        self.peak = self.peak.max(self.current);
    }

    fn remove(&mut self, address: u64) -> Option<u64> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(address);
        loop {
            match self.slots[i].address {
                0 => return None,
                a if a == address => break,
                _ => i = (i + 1) & mask,
            }
        }
        let size = self.slots[i].size;
        self.len -= 1;
        // Backward shift: pull later slots of the run into the hole when their home allows.
        let mut hole = i;
        let mut j = (i + 1) & mask;
        while self.slots[j].address != 0 {
            let home = self.home(self.slots[j].address);
            // `j` may move to `hole` if its home is not in (hole, j] cyclically.
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.slots[hole] = Slot::default();
        Some(size)
    }

    #[cold]
    fn double(&mut self) {
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); 2 << self.bits]);
        self.bits += 1;
        let mask = self.slots.len() - 1;
        for slot in old.into_iter().filter(|s| s.address != 0) {
            let mut i = self.home(slot.address);
            while self.slots[i].address != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = slot;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The simple twin: a `HashMap` of sizes by address gives the same heap sizes after
    /// every event of a random stream of allocations, reallocations over live addresses,
    /// frees of live and unknown addresses, and address 0.
    #[test]
    fn agrees_with_a_hash_map() {
        let mut table = HeapSize::default();
        let mut map: HashMap<u64, u64> = HashMap::new();
        let (mut current, mut peak) = (0u64, 0u64);
        let mut state = 3u64;
        for _ in 0..400_000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let address = (state >> 40) % 50_000 * 16;
            let size = (state >> 20) % 1000;
            if (state >> 10).is_multiple_of(3) {
                table.free(address);
                if let Some(s) = map.remove(&address) {
                    current = current.wrapping_sub(s);
                }
            } else {
                table.allocate(address, size);
                current = current.wrapping_add(size);
                peak = peak.max(current);
                map.insert(address, size);
            }
            assert_eq!(table.current, current);
        }
        assert_eq!(table.peak(), peak);
        assert_eq!(table.len + usize::from(table.zero.is_some()), map.len());
        assert!(table.slots.len() > 1 << 10);
    }

    #[test]
    fn mappings_free_what_overlaps() {
        let mut heap = HeapSize::default();
        heap.map(0x1000, 0x3000);
        heap.unmap(0x2000, 0x1000);
        assert_eq!((heap.current, heap.peak()), (0x2000, 0x3000));
        heap.unmap(0x9000, 0x1000);
        assert_eq!(heap.current, 0x2000);
    }
}
