//! The one pass over a capture's allocation records that memray's `compute_statistics`
//! makes: totals, counts by size and by allocator, the heap's peak, and the totals of every
//! allocating stack, from which the top locations and modules are taken.

use rustc_hash::FxHashMap;

use crate::analysis::pipeline::decode;
use crate::capture::{
    open_records, Allocator, AllocatorKind, CaptureFile, Decoder, EventBatch, FileFormat, Header,
    StreamEnd,
};
use crate::error::CaptureError;
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

impl Totals {
    /// One allocation of `size` bytes more.
    #[inline]
    pub fn count_one(&mut self, size: u64) {
        self.add(Totals {
            count: 1,
            bytes: size,
        });
    }

    /// `other`'s allocations and bytes added (bytes wrap as memray's `size_t` sums do).
    #[inline]
    pub fn add(&mut self, other: Totals) {
        self.count += other.count;
        self.bytes = self.bytes.wrapping_add(other.bytes);
    }
}

/// Stack ids per chunk of [`StackTotals`].
const TOTALS_CHUNK_BITS: u32 = 16;
const TOTALS_CHUNK: usize = 1 << TOTALS_CHUNK_BITS;

/// Each allocating Python stack's totals, by stack id, and the stacks in order of their
/// first allocation (what memray's location ids and its map of stacks follow): 16 bytes a
/// stack of the tree, in chunks made as ids reach them (no doubling's slack or copy), and 4
/// a stack that allocates. A capture of ten million distinct stacks keeps them in 200 MB.
#[derive(Debug, Default)]
pub struct StackTotals {
    chunks: Vec<Vec<Totals>>,
    first_seen: Vec<u32>,
}

impl StackTotals {
    /// Counts an allocation of `size` bytes at `stack`.
    #[inline]
    pub fn add(&mut self, stack: u64, size: u64) {
        // Stack ids are the tree's nodes, below 2^32 (DenseSet's bound).
        let Ok(id) = u32::try_from(stack) else {
            return;
        };
        let chunk = (id >> TOTALS_CHUNK_BITS) as usize;
        if chunk >= self.chunks.len() {
            self.chunks.resize_with(chunk + 1, Vec::new);
        }
        let chunk = &mut self.chunks[chunk];
        if chunk.is_empty() {
            *chunk = vec![Totals::default(); TOTALS_CHUNK];
        }
        let totals = &mut chunk[id as usize & (TOTALS_CHUNK - 1)];
        if totals.count == 0 {
            self.first_seen.push(id);
        }
        totals.count_one(size);
    }

    /// The stacks and their totals, in order of first allocation.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Totals)> + '_ {
        self.first_seen
            .iter()
            .map(|&id| (u64::from(id), self.get(u64::from(id))))
    }

    /// The totals of `stack` (none if it made no allocation).
    pub fn get(&self, stack: u64) -> Totals {
        let Ok(id) = usize::try_from(stack) else {
            return Totals::default();
        };
        self.chunks
            .get(id >> TOTALS_CHUNK_BITS)
            .and_then(|c| c.get(id & (TOTALS_CHUNK - 1)))
            .copied()
            .unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.first_seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.first_seen.is_empty()
    }
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
    /// Each allocating Python stack's totals; stack 0 is "no Python stack". The stacks
    /// are the decoder's ([`StackTable`]), kept by whoever ran it.
    pub stacks: StackTotals,
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

/// Reads `capture` once and gathers its statistics, with the stacks its allocations name.
/// Aggregated captures have none ([`CaptureError::StatsOnAggregated`]).
pub fn compute(
    capture: &CaptureFile,
    threads: usize,
    progress: &mut dyn Progress,
) -> Result<(Statistics, StackTable), CaptureError> {
    let path = capture.path();
    let (stream, header) = open_records(capture)?;
    if header.file_format == FileFormat::AggregatedAllocations {
        return Err(CaptureError::StatsOnAggregated {
            path: path.to_path_buf(),
        });
    }
    progress.phase("Computing statistics", capture.file_len());
    let mut pass = StatsPass::default();
    let (decoder, end) = decode(
        threads,
        Decoder::new(&header),
        stream,
        &mut |batch| pass.consume(batch),
        None,
        progress,
    )
    .map_err(|e| e.in_file(path))?;
    progress.finish();
    let records = decoder.allocations;
    Ok((pass.finish(header, records, end), decoder.stacks))
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
    /// The totals of every location, with memray's id of it. `by_frame` (memray up to
    /// 1.18): a location is the leaf frame, its id the capture's frame id; else a function,
    /// file and line, numbered in order of first appearance. Sort by `(total, id)`, largest
    /// first (memray's heap of such pairs), for a top list.
    pub fn location_totals(
        &self,
        stack_table: &mut StackTable,
        by_frame: bool,
    ) -> Vec<LocationTotals> {
        // Frame id to the index of its totals in `all`, filled as frames are met.
        let mut slot_of_frame: FxHashMap<u64, usize> = FxHashMap::default();
        let mut index_of_location: FxHashMap<Location, usize> = FxHashMap::default();
        let mut all: Vec<LocationTotals> = Vec::new();
        let mut no_stack = Totals::default();
        for (stack, totals) in self.stacks.iter() {
            let Some((frame, _)) = stack_table.tree.node(stack) else {
                no_stack.add(totals);
                continue;
            };
            let slot = match slot_of_frame.get(&frame) {
                Some(&slot) => slot,
                None => {
                    let location = stack_table.location(frame);
                    let slot = if by_frame {
                        all.push(LocationTotals {
                            id: Some(frame as usize),
                            location: Some(location),
                            totals: Totals::default(),
                        });
                        all.len() - 1
                    } else {
                        let next = index_of_location.len();
                        let id = *index_of_location.entry(location.clone()).or_insert(next);
                        if id == all.len() {
                            all.push(LocationTotals {
                                id: Some(id),
                                location: Some(location),
                                totals: Totals::default(),
                            });
                        }
                        id
                    };
                    slot_of_frame.insert(frame, slot);
                    slot
                }
            };
            all[slot].totals.add(totals);
        }
        if no_stack.count > 0 {
            all.push(LocationTotals {
                id: None,
                location: None,
                totals: no_stack,
            });
        }
        all
    }

    /// The allocating stacks in the order memray iterates its map of them (keyed by stack
    /// id, linked in order of each stack's first allocation): iterate the result.
    pub fn stacks_in_map_order(&self) -> MapOrder {
        let mut order = MapOrder::new();
        for (stack, _) in self.stacks.iter() {
            order.insert_new(stack);
        }
        order
    }
}

/// Sizes below this are counted in an array, the rest in a map.
const SMALL_SIZES: usize = 4096;
/// How many events ahead an address's slot is prefetched.
const PREFETCH_DISTANCE: usize = 32;

/// The statistics' consumer of a capture's event batches: what it keeps as the batches go
/// by, turned into [`Statistics`] at the end ([`StatsPass::finish`]). [`compute`] runs it
/// alone; a conversion runs it beside a report's analysis, on the same batches.
pub struct StatsPass {
    totals: Totals,
    small_sizes: Vec<u64>,
    sizes: FxHashMap<u64, u64>,
    /// By allocator id.
    by_allocator: [u64; 16],
    /// Allocators in order of their first allocation.
    allocator_first: Vec<Allocator>,
    stacks: StackTotals,
    heap: HeapSize,
}

impl Default for StatsPass {
    fn default() -> Self {
        StatsPass {
            totals: Totals::default(),
            small_sizes: vec![0; SMALL_SIZES],
            sizes: FxHashMap::default(),
            by_allocator: [0; 16],
            allocator_first: Vec::new(),
            stacks: StackTotals::default(),
            heap: HeapSize::default(),
        }
    }
}

impl StatsPass {
    /// Counts the allocations of `batch`, the batches in the capture's order.
    pub fn consume(&mut self, batch: &EventBatch) {
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
            self.totals.count_one(size);
            match self.small_sizes.get_mut(size as usize) {
                Some(n) => *n += 1,
                None => *self.sizes.entry(size).or_default() += 1,
            }
            let counted = &mut self.by_allocator[allocator.id() as usize];
            if *counted == 0 {
                self.allocator_first.push(allocator);
            }
            *counted += 1;
            self.stacks.add(stacks[row], size);
        }
    }

    /// The statistics of the batches consumed: `records` allocation records were decoded
    /// (deallocations included) from the capture of `header`, whose stream ended as `end`.
    pub fn finish(self, header: Header, records: u64, end: StreamEnd) -> Statistics {
        // Allocators are numbered as the capture's memray numbered them (1.19 renumbered).
        let legacy = header.version <= 11;
        let keyed: Vec<(u64, Allocator)> = (self.allocator_first.iter())
            .map(|&a| (u64::from(map_key(a, legacy)), a))
            .collect();
        let mut allocator_order = MapOrder::new();
        for &(key, _) in &keyed {
            allocator_order.insert_new(key);
        }
        let allocators = allocator_order
            .iter()
            .filter_map(|key| keyed.iter().find(|&&(k, _)| k == key))
            .map(|&(_, a)| (a, self.by_allocator[a.id() as usize]))
            .collect();
        Statistics {
            records,
            totals: self.totals,
            peak_bytes: self.heap.peak(),
            sizes: self.sizes(),
            allocators,
            stacks: self.stacks,
            header,
            end,
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
