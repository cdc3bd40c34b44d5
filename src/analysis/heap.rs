//! The heap over one pass of the event stream: the live allocations, the high-water mark, and
//! the allocations alive at it (memray's `HighWatermarkFinder` and
//! `SnapshotAllocationAggregator` in one pass).
//!
//! memray finds the peak in a first pass and rebuilds the live set up to it in a second. One
//! pass is enough: the allocations alive at the latest peak `P` are those still live now that
//! were made at or before `P`, plus those that died since `P` — which are kept aside as they
//! die, and dropped whenever a new peak is reached. That side list never holds more than the
//! live set at the peak, so memory stays bounded by live state. Mappings (mmap) are few;
//! their interval list is copied before the first change after a peak.
//!
//! The bookkeeping follows memray's: a simple allocation at an address already live replaces
//! it without freeing it; a free of an unknown address changes nothing (but still counts as
//! an event at which the peak may move, the comparison being `>=`).

use crate::analysis::intervals::IntervalSet;
use crate::analysis::live_table::{Live, LiveTable};
use crate::analysis::reduction::{Member, Reducer, Representative};
use crate::analysis::sites::Sites;
use crate::capture::{Allocator, AllocatorKind, EventBatch};

/// How many events ahead the live table's slot is prefetched.
const PREFETCH_DISTANCE: usize = 48;

/// The high-water mark: its event index and the heap size there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HighWaterMark {
    pub index: u64,
    pub bytes: u64,
}

#[derive(Debug, Default)]
pub struct HeapTracker {
    live: LiveTable,
    sites: Sites,
    mappings: IntervalSet<Member>,
    current: u64,
    peak: HighWaterMark,
    /// Allocations alive at the peak that died after it.
    died_since_peak: ChunkedList,
    /// The mappings as they were at the peak, once they have changed since.
    mappings_at_peak: Option<IntervalSet<Member>>,
    /// Whether any event has been seen (and so `peak` is one).
    started: bool,
}

/// A list of [`Live`] in fixed-size chunks. It can grow to the size of the live set, where a
/// `Vec`'s doubling would copy it and, while copying, hold one and a half times the list;
/// chunks are kept when the list is cleared (at every new peak), so clearing and refilling
/// allocate nothing.
#[derive(Debug, Default)]
struct ChunkedList {
    chunks: Vec<Vec<Live>>,
    /// Chunks in use: `chunks[..used]`, all full but the last.
    used: usize,
}

impl ChunkedList {
    const CHUNK: usize = 1 << 12;

    #[inline]
    fn push(&mut self, live: Live) {
        if self.used == 0 || self.chunks[self.used - 1].len() == Self::CHUNK {
            if self.used == self.chunks.len() {
                self.chunks.push(Vec::with_capacity(Self::CHUNK));
            }
            self.used += 1;
        }
        self.chunks[self.used - 1].push(live);
    }

    #[inline]
    fn clear(&mut self) {
        for chunk in &mut self.chunks[..self.used] {
            chunk.clear();
        }
        self.used = 0;
    }

    fn iter(&self) -> impl Iterator<Item = Live> + '_ {
        self.chunks[..self.used].iter().flatten().copied()
    }
}

impl HeapTracker {
    pub fn consume(&mut self, batch: &EventBatch) {
        self.consume_rows(batch, 0..batch.len());
    }

    /// Takes the events `rows` of `batch` (consecutive calls must cover the batch's rows in
    /// order, as [`HeapTracker::consume`] does in one call): the heap size between two
    /// calls is the one memray's aggregating writer samples at a memory record.
    pub fn consume_rows(&mut self, batch: &EventBatch, rows: std::ops::Range<usize>) {
        let tids = batch.tid.values();
        let addresses = batch.address.values();
        let sizes = batch.size.values();
        let allocators = batch.allocator.values();
        let stacks = batch.stack_id.values();
        let natives = batch.native_stack_id.values();
        let rows = rows.start..rows.end.min(batch.len());
        for row in rows {
            if let Some(&ahead) = addresses.get(row + PREFETCH_DISTANCE) {
                self.live.prefetch(ahead);
            }
            let seq = batch.first_seq + row as u64;
            let Some(allocator) = Allocator::from_id(allocators[row]) else {
                continue;
            };
            let (address, size) = (addresses[row], sizes[row]);
            let peak_index = self.peak.index;
            let alive_at_peak = |l: &Live| self.started && l.seq <= peak_index;
            match allocator.kind() {
                AllocatorKind::SimpleAllocator => {
                    let site = self
                        .sites
                        .intern(tids[row], allocator, stacks[row], natives[row]);
                    self.current = self.current.wrapping_add(size);
                    if let Some(old) = self.live.insert(address, Live { seq, size, site }) {
                        if alive_at_peak(&old) {
                            self.died_since_peak.push(old);
                        }
                    }
                }
                AllocatorKind::SimpleDeallocator => {
                    if let Some(old) = self.live.remove(address) {
                        self.current = self.current.wrapping_sub(old.size);
                        if alive_at_peak(&old) {
                            self.died_since_peak.push(old);
                        }
                    }
                }
                AllocatorKind::RangedAllocator => {
                    if self.mappings_at_peak.is_none() {
                        self.mappings_at_peak = Some(self.mappings.clone());
                    }
                    let member = Member {
                        seq,
                        tid: tids[row],
                        allocator,
                        stack_id: stacks[row],
                        native_stack_id: natives[row],
                        size,
                    };
                    self.mappings.add(address, size, member);
                    self.current = self.current.wrapping_add(size);
                }
                AllocatorKind::RangedDeallocator => {
                    if self.mappings_at_peak.is_none() {
                        self.mappings_at_peak = Some(self.mappings.clone());
                    }
                    let freed = self.mappings.remove(address, size);
                    self.current = self.current.wrapping_sub(freed);
                }
            }
            if self.current >= self.peak.bytes {
                self.peak = HighWaterMark {
                    index: seq,
                    bytes: self.current,
                };
                self.died_since_peak.clear();
                self.mappings_at_peak = None;
            }
            self.started = true;
        }
    }

    /// The high-water mark (index 0 and 0 bytes when there were no events).
    pub fn high_water_mark(&self) -> HighWaterMark {
        self.peak
    }

    /// The heap size after the events taken so far (memray's running heap size, which its
    /// aggregating writer records with each memory snapshot).
    pub fn current_bytes(&self) -> u64 {
        self.current
    }

    /// Calls `f` on every allocation alive at the high-water mark. Each surviving piece of
    /// a mapping is one member with its current size.
    pub fn for_each_at_peak(&self, mut f: impl FnMut(Member)) {
        let peak = self.peak.index;
        for l in self.live.values().chain(self.died_since_peak.iter()) {
            if l.seq <= peak {
                f(self.sites.member(l.site, l.seq, l.size));
            }
        }
        let mappings = self.mappings_at_peak.as_ref().unwrap_or(&self.mappings);
        for (size, m) in mappings.iter() {
            if m.seq <= peak {
                f(Member { size, ..*m });
            }
        }
    }

    /// Calls `f` on every allocation alive at the end (the leaks).
    pub fn for_each_at_end(&self, mut f: impl FnMut(Member)) {
        for l in self.live.values() {
            f(self.sites.member(l.site, l.seq, l.size));
        }
        for (size, m) in self.mappings.iter() {
            f(Member { size, ..*m });
        }
    }

    /// The allocations alive at the high-water mark, reduced into rows.
    pub fn reduce_at_peak(self) -> Reducer {
        let mut reducer = Reducer::new(Representative::Earliest);
        self.for_each_at_peak(|m| reducer.add(m));
        reducer
    }

    /// The allocations alive at the end (leaks), reduced into rows.
    pub fn reduce_at_end(self) -> Reducer {
        let mut reducer = Reducer::new(Representative::Earliest);
        self.for_each_at_end(|m| reducer.add(m));
        reducer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::events::EventBatchBuilder;

    fn run(events: &[(u64, u64, Allocator)]) -> HeapTracker {
        let mut b = EventBatchBuilder::new(0);
        for (i, &(address, size, allocator)) in events.iter().enumerate() {
            b.push(1, address, size, allocator, i as u64 + 1, 0);
        }
        let mut h = HeapTracker::default();
        h.consume(&b.finish());
        h
    }

    fn sizes(reducer: Reducer) -> Vec<u64> {
        let batch = reducer.finish();
        crate::analysis::reduction::Rows::new(&batch).size.to_vec()
    }

    #[test]
    fn the_live_set_at_the_peak_includes_what_died_after_it() {
        use Allocator::*;
        let h = run(&[
            (0x10, 100, Malloc),
            (0x20, 50, Malloc),
            (0x10, 0, Free),
            (0x30, 10, Malloc),
            (0x20, 0, Free),
        ]);
        // Heap: 100, 150 (peak at event 1), 50, 60, 10.
        assert_eq!(
            h.high_water_mark(),
            HighWaterMark {
                index: 1,
                bytes: 150
            }
        );
        assert_eq!(sizes(h.reduce_at_peak()), vec![100, 50]);
    }

    #[test]
    fn equal_maxima_move_the_peak_forward() {
        use Allocator::*;
        let h = run(&[
            (0x10, 100, Malloc),
            (0x10, 0, Free),
            (0x20, 100, Malloc),
            (0x99, 0, Free),
        ]);
        assert_eq!(
            h.high_water_mark(),
            HighWaterMark {
                index: 3,
                bytes: 100
            }
        );
        assert_eq!(sizes(h.reduce_at_peak()), vec![100]);
    }

    #[test]
    fn a_replaced_allocation_counts_at_the_peak_and_not_after() {
        use Allocator::*;
        // The second malloc at 0x10 replaces the first without freeing it (memray's rule).
        let h = run(&[(0x10, 100, Malloc), (0x10, 30, Malloc), (0x10, 0, Free)]);
        assert_eq!(
            h.high_water_mark(),
            HighWaterMark {
                index: 1,
                bytes: 130
            }
        );
        assert_eq!(sizes(h.reduce_at_peak()), vec![30]);
        let h = run(&[
            (0x10, 100, Malloc),
            (0x20, 5, Malloc),
            (0x20, 0, Free),
            (0x10, 30, Malloc),
        ]);
        assert_eq!(
            h.high_water_mark(),
            HighWaterMark {
                index: 3,
                bytes: 130
            }
        );
        assert_eq!(sizes(h.reduce_at_end()), vec![30]);
    }

    #[test]
    fn mappings_are_restored_to_their_state_at_the_peak() {
        use Allocator::*;
        let h = run(&[
            (0x1000, 4096, Mmap),
            (0x8000, 8192, Mmap),
            (0x1000, 4096, Munmap),
            (0x9000, 1024, Munmap),
        ]);
        assert_eq!(
            h.high_water_mark(),
            HighWaterMark {
                index: 1,
                bytes: 12288
            }
        );
        assert_eq!(sizes(h.reduce_at_peak()), vec![4096, 8192]);
        // A partial unmap splits the mapping; both pieces belong to the same row.
        let h = run(&[(0x8000, 8192, Mmap), (0x9000, 1024, Munmap)]);
        assert_eq!(sizes(h.reduce_at_end()), vec![7168]);
    }

    #[test]
    fn the_chunked_list_keeps_everything_pushed_since_it_was_cleared() {
        let live = |seq| Live {
            seq,
            size: 1,
            site: 0,
        };
        let mut list = ChunkedList::default();
        for seq in 0..10_000 {
            list.push(live(seq));
        }
        assert!(list.iter().map(|l| l.seq).eq(0..10_000));
        list.clear();
        assert_eq!(list.iter().count(), 0);
        list.push(live(5));
        assert!(list.iter().map(|l| l.seq).eq([5]));
        // The chunks are kept for reuse.
        assert_eq!(list.chunks.len(), 3);
    }
}
