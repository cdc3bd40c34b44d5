//! The timeline's consumer of a capture's event batches: the heap's size after every
//! allocation event, kept by [`HeapSize`] as memray's `HighWatermarkFinder` keeps it, into
//! bounded [`Runs`]; the high-water mark and the event that reached it; and every memory
//! record (resident size and time). [`TimelinePass::finish`] places it all in time.

use crate::capture::{Allocator, AllocatorKind, EventBatch, Header};
use crate::stats::heap_size::HeapSize;
use crate::timeline::series::{Clock, Point, Runs};
use crate::timeline::{Peak, Timeline};

/// How many events ahead an address's slot is prefetched (as the statistics do).
const PREFETCH_DISTANCE: usize = 32;

/// What the timeline keeps as the batches go by. [`crate::timeline::timeline`] runs it alone;
/// a conversion runs it beside reports, on the same batches.
#[derive(Debug, Default)]
pub struct TimelinePass {
    heap: HeapSize,
    runs: Runs,
    /// Events seen (deallocations included): the next event's number.
    events: u64,
    /// `(events before it, time in ms since the epoch, rss)` of every memory record.
    records: Vec<(u64, i64, u64)>,
}

impl TimelinePass {
    /// Follows the events and memory records of `batch`, the batches in the capture's order.
    pub fn consume(&mut self, batch: &EventBatch) {
        for sample in &batch.memory {
            self.records
                .push((sample.events_before, sample.time_ms, sample.rss));
        }
        let addresses = batch.address.values();
        let sizes = batch.size.values();
        let allocators = batch.allocator.values();
        for row in 0..batch.len() {
            if let Some(&ahead) = addresses.get(row + PREFETCH_DISTANCE) {
                self.heap.prefetch(ahead);
            }
            let (address, size) = (addresses[row], sizes[row]);
            match Allocator::from_id(allocators[row]).map(Allocator::kind) {
                Some(AllocatorKind::SimpleAllocator) => self.heap.allocate(address, size),
                Some(AllocatorKind::SimpleDeallocator) => self.heap.free(address),
                Some(AllocatorKind::RangedAllocator) => self.heap.map(address, size),
                Some(AllocatorKind::RangedDeallocator) => self.heap.unmap(address, size),
                None => {}
            }
            self.runs.push(self.events, self.heap.current());
            self.events += 1;
        }
    }

    /// The timeline of the batches consumed, from the capture of `header`.
    pub fn finish(self, header: &Header) -> Timeline {
        let start = header.stats.start_time_ms;
        let since_start = |ms: i64| ms.wrapping_sub(start) as f64;
        let records: Vec<(u64, f64)> = (self.records.iter())
            .map(|&(before, ms, _)| (before, since_start(ms)))
            .collect();
        let end_ms = if header.stats.end_time_ms > start {
            since_start(header.stats.end_time_ms)
        } else {
            0.0
        };
        let clock = Clock::new(&records, self.events, end_ms);
        let runs = self.runs.finish();
        // The last event to reach the largest size: memray's high-water mark.
        let top = runs
            .iter()
            .copied()
            .reduce(|a, b| if b.max >= a.max { b } else { a });
        let peak = top.map(|run| Peak {
            bytes: run.max,
            event: run.max_at,
            seconds: clock.seconds(run.max_at),
        });
        debug_assert_eq!(peak.map_or(0, |p| p.bytes), self.heap.peak());
        // The heap starts empty at the capture's start; then each run's extremes, in the
        // order they came.
        let mut heap: Vec<Point> = Vec::with_capacity(2 * runs.len() + 1);
        heap.push((0.0, 0));
        for run in &runs {
            let low = (clock.seconds(run.min_at), run.min);
            let high = (clock.seconds(run.max_at), run.max);
            match run.min_at.cmp(&run.max_at) {
                std::cmp::Ordering::Equal => heap.push(low),
                std::cmp::Ordering::Less => heap.extend([low, high]),
                std::cmp::Ordering::Greater => heap.extend([high, low]),
            }
        }
        let rss = (self.records.iter())
            .zip(&records)
            .map(|(&(_, _, rss), &(_, ms))| (ms.max(0.0) / 1000.0, rss))
            .collect();
        Timeline {
            seconds: clock.end_seconds(),
            heap,
            rss,
            peak,
            events: self.events,
            records: self.records.len() as u64,
        }
    }
}
