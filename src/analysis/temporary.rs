//! Temporary allocations (memray's `TemporaryAllocationsAggregator`).
//!
//! Each thread keeps its `threshold + 1` most recent allocations, newest first. A
//! deallocation looks in its own thread's window, newest first, for an allocation at the same
//! address (and, for munmap, of the same size); the first match is a temporary allocation.
//! The window is not changed by a match, so a stale entry can match again, as in memray.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use crate::analysis::reduction::{Member, Reducer, Representative};
use crate::capture::{AllocatorKind, EventBatch};

#[derive(Debug)]
pub struct TemporaryAllocations {
    window: u64,
    recent: FxHashMap<u64, VecDeque<(u64, Member)>>,
    found: Reducer,
}

impl TemporaryAllocations {
    /// Allocations freed after at most `threshold` other allocations of their thread.
    pub fn new(threshold: u64) -> Self {
        TemporaryAllocations {
            window: threshold.saturating_add(1),
            recent: FxHashMap::default(),
            found: Reducer::new(Representative::First),
        }
    }

    pub fn consume(&mut self, batch: &EventBatch) {
        for e in batch.iter() {
            let kind = e.allocator.kind();
            match kind {
                AllocatorKind::SimpleAllocator | AllocatorKind::RangedAllocator => {
                    let q = self.recent.entry(e.tid).or_default();
                    q.push_front((e.address, Member::from(e)));
                    if q.len() as u64 > self.window {
                        q.pop_back();
                    }
                }
                AllocatorKind::SimpleDeallocator | AllocatorKind::RangedDeallocator => {
                    let Some(q) = self.recent.get(&e.tid) else {
                        continue;
                    };
                    let ranged = kind == AllocatorKind::RangedDeallocator;
                    if let Some((_, m)) = q
                        .iter()
                        .find(|(addr, m)| *addr == e.address && (!ranged || m.size == e.size))
                    {
                        self.found.add(*m);
                    }
                }
            }
        }
    }

    pub fn reduce(self) -> Reducer {
        self.found
    }
}
