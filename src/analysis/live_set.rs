//! The allocations alive at a point of the event stream (memray's
//! `SnapshotAllocationAggregator`): the members of peak and leak reports.

use rustc_hash::FxHashMap;

use crate::analysis::intervals::IntervalSet;
use crate::analysis::reduction::{Member, Reducer, Representative};
use crate::capture::{AllocatorKind, EventBatch};

#[derive(Debug, Default)]
pub struct LiveSet {
    by_address: FxHashMap<u64, Member>,
    mappings: IntervalSet<Member>,
}

impl LiveSet {
    pub fn consume(&mut self, batch: &EventBatch) {
        for e in batch.iter() {
            let member = Member {
                seq: e.seq,
                tid: e.tid,
                allocator: e.allocator,
                stack_id: e.stack_id,
                native_stack_id: e.native_stack_id,
                size: e.size,
            };
            match e.allocator.kind() {
                AllocatorKind::SimpleAllocator => {
                    self.by_address.insert(e.address, member);
                }
                AllocatorKind::SimpleDeallocator => {
                    self.by_address.remove(&e.address);
                }
                AllocatorKind::RangedAllocator => self.mappings.add(e.address, e.size, member),
                AllocatorKind::RangedDeallocator => {
                    self.mappings.remove(e.address, e.size);
                }
            }
        }
    }

    /// Reduces the live allocations into rows; each surviving piece of a mapping is one
    /// member with its current size.
    pub fn reduce(self) -> Reducer {
        let mut reducer = Reducer::new(Representative::Earliest);
        for m in self.by_address.into_values() {
            reducer.add(m);
        }
        for (size, m) in self.mappings.iter() {
            reducer.add(Member { size, ..*m });
        }
        reducer
    }
}
