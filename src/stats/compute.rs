//! The one pass over a capture's allocation records that memray's `compute_statistics`
//! makes: totals, counts by size and by allocator, the heap's peak, and the totals of every
//! allocating stack, from which the top locations and modules are taken.

use rustc_hash::FxHashMap;

use crate::analysis::pipeline::decode;
use crate::capture::{
    read_header, Allocator, AllocatorKind, CaptureFile, Decoder, EventBatch, FileFormat, Header,
    StreamEnd,
};
use crate::error::CaptureError;
use crate::interner::FxIndexMap;
use crate::progress::Progress;
use crate::stacks::{Location, StackTable};
use crate::stats::heap_size::HeapSize;
use crate::stats::map_order::MapOrder;

/// Allocations and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub count: u64,
    pub bytes: u64,
}

/// What memray's statistics are computed from: everything of one pass over the capture.
pub struct Statistics {
    pub header: Header,
    /// Allocation records read, deallocations included (memray's metadata
    /// `total_allocations`).
    pub records: u64,
    /// Allocations (deallocations not counted) and their bytes.
    pub totals: Totals,
    /// The heap's largest size, as memray's `HighWatermarkFinder` finds it.
    pub peak_bytes: u64,
    /// `(size, allocations)` for every distinct size.
    pub sizes: Vec<(u64, u64)>,
    /// Allocations by allocator, in the order memray's dict of them has (its C++ map's).
    pub allocators: Vec<(Allocator, u64)>,
    /// Each allocating Python stack's totals, in order of its first allocation; stack 0
    /// is "no Python stack".
    pub stacks: FxIndexMap<u64, Totals>,
    pub stack_table: StackTable,
    pub end: StreamEnd,
}

/// A location's totals and memray's id of it (the order in which its allocations first
/// named it; `None` for allocations without a Python stack).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationTotals {
    pub id: Option<usize>,
    pub location: Option<Location>,
    pub totals: Totals,
}

/// Reads `capture` once and gathers its statistics. Aggregated captures have none
/// ([`CaptureError::StatsOnAggregated`]).
pub fn compute(
    capture: &CaptureFile,
    threads: usize,
    progress: &mut dyn Progress,
) -> Result<Statistics, CaptureError> {
    let path = capture.path();
    let mut stream = capture.stream();
    let header = read_header(&mut stream).map_err(|e| e.in_file(path))?;
    if header.file_format == FileFormat::AggregatedAllocations {
        return Err(CaptureError::StatsOnAggregated {
            path: path.to_path_buf(),
        });
    }
    progress.phase("Computing statistics", capture.file_len());
    let mut pass = Pass::default();
    let (decoder, end) = decode(
        threads,
        Decoder::new(&header),
        stream,
        &mut |batch| pass.consume(batch),
        progress,
    )
    .map_err(|e| e.in_file(path))?;
    progress.finish();
    let legacy = header.version <= 11;
    let mut allocator_order = MapOrder::new();
    for &a in &pass.allocator_first {
        allocator_order.insert_new(u64::from(map_key(a, legacy)));
    }
    let allocators = allocator_order
        .iter()
        .filter_map(|key| {
            let a = pass
                .allocator_first
                .iter()
                .copied()
                .find(|&a| u64::from(map_key(a, legacy)) == key)?;
            Some((a, pass.by_allocator[a.id() as usize]))
        })
        .collect();
    Ok(Statistics {
        records: decoder.allocations,
        totals: pass.totals,
        peak_bytes: pass.heap.peak(),
        sizes: pass.sizes(),
        allocators,
        stacks: pass.stacks,
        stack_table: decoder.stacks,
        header,
        end,
    })
}

/// memray's number of an allocator in the capture's memray (the key of its map).
fn map_key(allocator: Allocator, legacy: bool) -> u8 {
    if legacy {
        (1..=15u8)
            .find(|&id| Allocator::from_legacy_id(id) == Some(allocator))
            .unwrap_or(allocator.id())
    } else {
        allocator.id()
    }
}

impl Statistics {
    /// The totals of every location, largest first by `key` and then by memray's id of the
    /// location (its heap of `(value, location id)` pairs): the top locations are a prefix.
    ///
    /// `by_frame` (memray up to 1.18): a location is the leaf frame, its id the capture's
    /// frame id; else a function, file and line, numbered in order of first appearance.
    pub fn locations_by(
        &mut self,
        by_frame: bool,
        key: impl Fn(&Totals) -> u64,
    ) -> Vec<LocationTotals> {
        // Key: the frame id, or the location's index in `locations`.
        let mut by_location: FxIndexMap<u64, Totals> = FxIndexMap::default();
        let mut locations: crate::interner::FxIndexSet<Location> = Default::default();
        let mut no_stack = None;
        for (&stack, totals) in &self.stacks {
            let entry = match self.stack_table.tree.node(stack) {
                Some((frame, _)) if by_frame => by_location.entry(frame).or_default(),
                Some((frame, _)) => {
                    let (index, _) = locations.insert_full(self.stack_table.location(frame));
                    by_location.entry(index as u64).or_default()
                }
                None => no_stack.get_or_insert_with(Totals::default),
            };
            entry.count += totals.count;
            entry.bytes += totals.bytes;
        }
        let mut all: Vec<LocationTotals> = Vec::with_capacity(by_location.len() + 1);
        for (key, totals) in by_location {
            let location = if by_frame {
                self.stack_table.location(key)
            } else {
                locations[key as usize].clone()
            };
            all.push(LocationTotals {
                id: Some(key as usize),
                location: Some(location),
                totals,
            });
        }
        if let Some(totals) = no_stack {
            all.push(LocationTotals {
                id: None,
                location: None,
                totals,
            });
        }
        all.sort_by_key(|l| std::cmp::Reverse((key(&l.totals), l.id)));
        all
    }

    /// The allocating stacks in the order memray iterates its map of them (keyed by stack
    /// id, linked in order of each stack's first allocation).
    pub fn stacks_in_map_order(&self) -> Vec<(u64, Totals)> {
        let mut order = MapOrder::new();
        for &stack in self.stacks.keys() {
            order.insert_new(stack);
        }
        order
            .iter()
            .filter_map(|stack| Some((stack, *self.stacks.get(&stack)?)))
            .collect()
    }
}

/// Sizes below this are counted in an array, the rest in a map.
const SMALL_SIZES: usize = 4096;
/// How many events ahead an address's slot is prefetched.
const PREFETCH_DISTANCE: usize = 32;

/// What the pass keeps as it goes.
struct Pass {
    totals: Totals,
    small_sizes: Vec<u64>,
    sizes: FxHashMap<u64, u64>,
    /// By allocator id.
    by_allocator: [u64; 16],
    /// Allocators in order of their first allocation.
    allocator_first: Vec<Allocator>,
    stacks: FxIndexMap<u64, Totals>,
    /// The last stack counted and its index in `stacks`: runs of allocations share one.
    last_stack: Option<(u64, usize)>,
    heap: HeapSize,
}

impl Default for Pass {
    fn default() -> Self {
        Pass {
            totals: Totals::default(),
            small_sizes: vec![0; SMALL_SIZES],
            sizes: FxHashMap::default(),
            by_allocator: [0; 16],
            allocator_first: Vec::new(),
            stacks: FxIndexMap::default(),
            last_stack: None,
            heap: HeapSize::default(),
        }
    }
}

impl Pass {
    fn consume(&mut self, batch: &EventBatch) {
        let addresses = batch.address.values();
        let sizes = batch.size.values();
        let allocators = batch.allocator.values();
        let stacks = batch.stack_id.values();
        for row in 0..batch.len() {
            if let Some(&ahead) = addresses.get(row + PREFETCH_DISTANCE) {
                self.heap.prefetch(ahead);
            }
            let Some(allocator) = Allocator::from_id(allocators[row]) else {
                continue;
            };
            let (address, size) = (addresses[row], sizes[row]);
            match allocator.kind() {
                AllocatorKind::SimpleAllocator => self.heap.allocate(address, size),
                AllocatorKind::SimpleDeallocator => {
                    self.heap.free(address);
                    continue;
                }
                AllocatorKind::RangedAllocator => self.heap.map(address, size),
                AllocatorKind::RangedDeallocator => {
                    self.heap.unmap(address, size);
                    continue;
                }
            }
            self.totals.count += 1;
            self.totals.bytes = self.totals.bytes.wrapping_add(size);
            match self.small_sizes.get_mut(size as usize) {
                Some(n) => *n += 1,
                None => *self.sizes.entry(size).or_default() += 1,
            }
            let counted = &mut self.by_allocator[allocator.id() as usize];
            if *counted == 0 {
                self.allocator_first.push(allocator);
            }
            *counted += 1;
            let stack = stacks[row];
            let index = match self.last_stack {
                Some((last, index)) if last == stack => index,
                _ => {
                    let entry = self.stacks.entry(stack);
                    let index = entry.index();
                    entry.or_default();
                    self.last_stack = Some((stack, index));
                    index
                }
            };
            if let Some((_, totals)) = self.stacks.get_index_mut(index) {
                totals.count += 1;
                totals.bytes = totals.bytes.wrapping_add(size);
            }
        }
    }

    /// `(size, allocations)` of every size allocated, smallest first.
    fn sizes(&self) -> Vec<(u64, u64)> {
        let mut sizes: Vec<(u64, u64)> = (self.small_sizes.iter().enumerate())
            .filter(|&(_, &n)| n != 0)
            .map(|(size, &n)| (size as u64, n))
            .chain(self.sizes.iter().map(|(&s, &n)| (s, n)))
            .collect();
        sizes.sort_unstable();
        sizes
    }
}
