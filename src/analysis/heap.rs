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
//!
//! A merged row shows the thread and allocator of the member memray's map yields first: the
//! live table is laid out as memray's map ([`LiveTable`]), and each member carries its
//! position in the map's order. A position holds until the map relinks (a rehash); an allocation
//! that dies after the peak keeps the position it had. A relink after the peak would change
//! the positions of the allocations still live, so the first relink after a peak keeps each
//! row's first member among them ([`Frozen`]) before it re-stamps them.

use rustc_hash::FxHashMap;

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
    /// Set at the first relink after the peak, until the peak moves.
    frozen: Option<Frozen>,
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

/// What a relink after the peak keeps of the order at the peak: each row's first member
/// among the allocations alive at the peak and at the relink. Those, and the ones that die
/// after the relink, have positions of a later order, so they give no row its labels.
#[derive(Debug)]
struct Frozen {
    /// By row key: the first member's position and allocation.
    firsts: FxHashMap<(u64, u64), (u64, Live)>,
    /// `died_since_peak` entries from before the relink.
    died_before: usize,
}

/// A list of the allocations that died since the peak (with their positions then), in
/// fixed-size chunks. It can grow to the size of the live set, where a
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
    fn push(&mut self, died: Live) {
        if self.used == 0 || self.chunks[self.used - 1].len() == Self::CHUNK {
            if self.used == self.chunks.len() {
                self.chunks.push(Vec::with_capacity(Self::CHUNK));
            }
            self.used += 1;
        }
        self.chunks[self.used - 1].push(died);
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

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Live> + '_ {
        self.chunks[..self.used].iter_mut().flatten()
    }

    fn len(&self) -> usize {
        self.chunks[..self.used].iter().map(Vec::len).sum()
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
            let started = self.started;
            let alive_at_peak = |l: &Live| started && l.seq <= peak_index;
            match allocator.kind() {
                AllocatorKind::SimpleAllocator => {
                    if self.sites.should_compact() {
                        self.compact_sites();
                    }
                    let site = self
                        .sites
                        .intern(tids[row], allocator, stacks[row], natives[row]);
                    self.current = self.current.wrapping_add(size);
                    if self.live.relinks_before_insert(address) {
                        self.freeze_before_relink();
                    }
                    let live = Live {
                        seq,
                        size,
                        site,
                        position: 0,
                    };
                    if let Some(old) = self.live.insert(address, live) {
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
                        position: 0,
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
                self.frozen = None;
            }
            self.started = true;
        }
    }

    /// Before memray's map relinks (the insert about to be made rehashes it), which changes
    /// every live allocation's position: if it is the first relink since the peak, keeps
    /// each row's first member among the allocations alive at the peak.
    #[cold]
    fn freeze_before_relink(&mut self) {
        if !self.started || self.frozen.is_some() {
            return;
        }
        let peak = self.peak.index;
        let mut firsts: FxHashMap<(u64, u64), (u64, Live)> = FxHashMap::default();
        for (_, l) in self.live.entries() {
            if l.seq <= peak {
                let first = firsts.entry(self.sites.row_key(l.site)).or_insert((0, l));
                if l.position > first.0 {
                    *first = (l.position, l);
                }
            }
        }
        self.frozen = Some(Frozen {
            firsts,
            died_before: self.died_since_peak.len(),
        });
    }

    /// Drops the sites no allocation kept here refers to any more ([`Sites::compact`]).
    #[cold]
    fn compact_sites(&mut self) {
        let HeapTracker {
            sites,
            live,
            died_since_peak,
            frozen,
            ..
        } = self;
        // At most one site per allocation kept; usually far fewer.
        let expected = (live.len() + died_since_peak.len()).min(sites.len());
        sites.compact(expected, |renumber| {
            live.renumber_sites(&mut *renumber);
            for l in died_since_peak.iter_mut() {
                l.site = renumber(l.site);
            }
            if let Some(f) = frozen {
                for (_, l) in f.firsts.values_mut() {
                    l.site = renumber(l.site);
                }
            }
        });
    }

    /// The allocation sites, to [`Sites::check`] before a report is written.
    pub fn sites(&self) -> &Sites {
        &self.sites
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

    /// The allocations alive at the high-water mark, reduced into rows. Each surviving
    /// piece of a mapping is one member with its current size.
    pub fn reduce_at_peak(&self) -> Reducer {
        let mut reducer = Reducer::new(Representative::HashOrder);
        let peak = self.peak.index;
        // After a relink since the peak, positions of the allocations then live are of a
        // later order: the frozen firsts stand for them.
        let frozen = self.frozen.as_ref();
        for (_, l) in self.live.entries() {
            if l.seq <= peak {
                let position = match frozen {
                    Some(_) => 0,
                    None => l.position,
                };
                reducer.add(self.sites.member(l.site, l.seq, l.size, position));
            }
        }
        for (i, d) in self.died_since_peak.iter().enumerate() {
            if d.seq <= peak {
                let position = match frozen {
                    Some(f) if i >= f.died_before => 0,
                    _ => d.position,
                };
                let l = d;
                reducer.add(self.sites.member(l.site, l.seq, l.size, position));
            }
        }
        if let Some(f) = frozen {
            for &(position, l) in f.firsts.values() {
                reducer.offer_representative(self.sites.member(l.site, l.seq, l.size, position));
            }
        }
        let mappings = self.mappings_at_peak.as_ref().unwrap_or(&self.mappings);
        for (size, m) in mappings.iter() {
            if m.seq <= peak {
                reducer.add(Member { size, ..*m });
            }
        }
        reducer
    }

    /// The allocations alive at the end (leaks), reduced into rows.
    pub fn reduce_at_end(&self) -> Reducer {
        let mut reducer = Reducer::new(Representative::HashOrder);
        for (_, l) in self.live.entries() {
            reducer.add(self.sites.member(l.site, l.seq, l.size, l.position));
        }
        for (size, m) in self.mappings.iter() {
            reducer.add(Member { size, ..*m });
        }
        reducer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::hash_order::reference::ListModel;
    use crate::capture::events::EventBatchBuilder;
    use std::collections::{BTreeMap, HashMap};

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

    /// An allocation event of the twin test: address, size, allocator, thread, stack.
    type Event = (u64, u64, Allocator, u64, u64);

    /// memray's own way, the simple twin of the one-pass tracker: replay events `0..=upto`
    /// into a fresh map (`SnapshotAllocationAggregator`), then give each row (stack) the
    /// thread and allocator of the first member in the map's order.
    fn two_pass_labels(events: &[Event], upto: usize) -> BTreeMap<u64, (u64, Allocator)> {
        let mut list = ListModel::default();
        let mut map: HashMap<u64, (u64, Allocator, u64)> = HashMap::new();
        for &(address, _, allocator, tid, stack) in &events[..=upto] {
            match allocator.kind() {
                AllocatorKind::SimpleAllocator => {
                    list.assign(address);
                    map.insert(address, (tid, allocator, stack));
                }
                AllocatorKind::SimpleDeallocator => {
                    list.erase(address);
                    map.remove(&address);
                }
                _ => {}
            }
        }
        let mut firsts: BTreeMap<u64, (u64, Allocator)> = BTreeMap::new();
        for address in &list.list {
            let (tid, allocator, stack) = map[address];
            firsts.entry(stack).or_insert((tid, allocator));
        }
        firsts
    }

    fn labels(reducer: Reducer) -> BTreeMap<u64, (u64, Allocator)> {
        let batch = reducer.finish();
        let rows = crate::analysis::reduction::Rows::new(&batch);
        (0..rows.len())
            .map(|i| (rows.stack_id[i], (rows.tid[i], rows.allocator(i))))
            .collect()
    }

    /// Random streams whose live set grows far past its size at the peak after the peak
    /// (memray's map rehashes after it), with frees of unknown addresses, allocations at live
    /// addresses and allocations dying after the peak and after the rehash: the one-pass
    /// tracker's labels at the peak and at the end are the two-pass twin's.
    #[test]
    fn labels_agree_with_memrays_two_passes() {
        use Allocator::*;
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut frozen = 0;
        let mut compacted = 0;
        for seed in 0..40u64 {
            let mut events: Vec<Event> = Vec::new();
            let pool = 200 + seed * 37;
            let allocators = [Malloc, Calloc, PymallocMalloc, Realloc];
            let event = |events: &mut Vec<Event>, r: u64, size: u64, free: bool| {
                let address = 0x7f00_0000_0000 + (r % pool) * 16;
                let allocator = if free {
                    [Free, PymallocFree][(r >> 20) as usize % 2]
                } else {
                    allocators[(r >> 24) as usize % 4]
                };
                events.push((address, size, allocator, 1 + (r >> 30) % 4, (r >> 40) % 64));
            };
            // Growth with large blocks, one huge block (the peak), its free, then a live set
            // of small blocks several times larger.
            for _ in 0..pool / 2 {
                let r = next();
                event(&mut events, r, 1000 + r % 5000, r % 5 == 0);
            }
            events.push((0x1000, 1 << 40, Malloc, 1, 99));
            events.push((0x1000, 0, Free, 1, 99));
            for _ in 0..pool * 4 {
                let r = next();
                event(
                    &mut events,
                    r.rotate_left(17) % (pool * 8) * 7919,
                    1 + r % 8,
                    r % 6 == 0,
                );
            }
            for _ in 0..pool {
                let r = next();
                event(&mut events, r, 1 + r % 8, r % 3 == 0);
            }
            let mut b = EventBatchBuilder::new(0);
            for &(address, size, allocator, tid, stack) in &events {
                b.push(tid, address, size, allocator, stack, 0);
            }
            let batch = b.finish();
            let mut h = HeapTracker::default();
            h.consume(&batch);
            frozen += usize::from(h.frozen.is_some());
            // The same stream with the sites compacted whenever there are 8 more than at
            // the last compaction (or twice as many): the same rows, labels and order.
            let mut compacting = HeapTracker {
                sites: Sites::compacting_from(8),
                ..HeapTracker::default()
            };
            compacting.consume(&batch);
            assert!(compacting.sites.len() <= h.sites.len(), "seed {seed}");
            compacted += usize::from(compacting.sites.len() < h.sites.len());
            assert_eq!(
                compacting.reduce_at_peak().finish(),
                h.reduce_at_peak().finish(),
                "seed {seed} peak, compacted"
            );
            assert_eq!(
                compacting.reduce_at_end().finish(),
                h.reduce_at_end().finish(),
                "seed {seed} leaks, compacted"
            );
            let peak = h.high_water_mark().index as usize;
            assert_eq!(
                labels(h.reduce_at_peak()),
                two_pass_labels(&events, peak),
                "seed {seed} peak"
            );
            assert_eq!(
                labels(h.reduce_at_end()),
                two_pass_labels(&events, events.len() - 1),
                "seed {seed} leaks"
            );
        }
        assert!(frozen >= 30, "{frozen} streams relinked after their peak");
        assert!(compacted >= 20, "{compacted} streams dropped sites");
    }

    #[test]
    fn the_chunked_list_keeps_everything_pushed_since_it_was_cleared() {
        let died = |seq| Live {
            seq,
            size: 1,
            site: 0,
            position: seq,
        };
        let mut list = ChunkedList::default();
        for seq in 0..10_000 {
            list.push(died(seq));
        }
        assert!(list.iter().map(|d| d.seq).eq(0..10_000));
        assert_eq!(list.len(), 10_000);
        list.clear();
        assert_eq!(list.iter().count(), 0);
        list.push(died(5));
        assert!(list.iter().map(|d| d.seq).eq([5]));
        // The chunks are kept for reuse.
        assert_eq!(list.chunks.len(), 3);
    }
}
