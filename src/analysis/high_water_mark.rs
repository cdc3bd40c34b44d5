//! The first pass of a peak report: where the heap was largest (memray's
//! `HighWatermarkFinder`).
//!
//! The heap size is tracked after every allocation event; the peak is the last event at which
//! it was at least as large as ever before (memray compares with `>=`).

use rustc_hash::FxHashMap;

use crate::analysis::intervals::IntervalSet;
use crate::capture::{AllocatorKind, EventBatch};

/// The high-water mark: its event index and the heap size there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HighWaterMark {
    pub index: u64,
    pub bytes: u64,
}

#[derive(Debug, Default)]
pub struct HighWaterMarkFinder {
    sizes: FxHashMap<u64, u64>,
    mappings: IntervalSet<()>,
    current: u64,
    peak: HighWaterMark,
    seen: u64,
}

impl HighWaterMarkFinder {
    pub fn consume(&mut self, batch: &EventBatch) {
        let addresses = batch.address.values();
        let sizes = batch.size.values();
        let allocators = batch.allocator.values();
        for row in 0..batch.len() {
            let index = batch.first_seq + row as u64;
            let kind = crate::capture::Allocator::from_id(allocators[row])
                .map(|a| a.kind())
                .unwrap_or(AllocatorKind::SimpleAllocator);
            let (address, size) = (addresses[row], sizes[row]);
            match kind {
                AllocatorKind::SimpleAllocator => {
                    self.current = self.current.wrapping_add(size);
                    self.sizes.insert(address, size);
                }
                AllocatorKind::SimpleDeallocator => {
                    if let Some(old) = self.sizes.remove(&address) {
                        self.current = self.current.wrapping_sub(old);
                    }
                }
                AllocatorKind::RangedAllocator => {
                    self.mappings.add(address, size, ());
                    self.current = self.current.wrapping_add(size);
                }
                AllocatorKind::RangedDeallocator => {
                    let freed = self.mappings.remove(address, size);
                    self.current = self.current.wrapping_sub(freed);
                }
            }
            if self.current >= self.peak.bytes {
                self.peak = HighWaterMark {
                    index,
                    bytes: self.current,
                };
            }
            self.seen = index + 1;
        }
    }

    pub fn high_water_mark(&self) -> HighWaterMark {
        self.peak
    }

    /// Allocation events seen.
    pub fn events(&self) -> u64 {
        self.seen
    }
}
