//! Allocation lifetimes over one pass of the event stream: when each allocation ends, as
//! memray's accounting has it, handed on the moment it ends — so only the live set is ever
//! held, never the allocations already over.
//!
//! The rules are the heap tracker's ([`crate::analysis::heap`]), so that the rows alive at
//! the high-water mark are the peak report's members and the rows never ended are the
//! leaks report's:
//! - a simple allocation ends at the deallocation of its address, or at the next simple
//!   allocation of the same address (memray replaces it without a free); a free of an
//!   unknown address ends nothing;
//! - a mapping (mmap) is a set of pieces: a munmap that covers a piece only in part ends
//!   that piece, and each part it leaves is a new piece that starts at that munmap (with
//!   the mapping's thread, allocator and stacks, and the mapping's own event as its
//!   origin), so that at every moment the live pieces are exactly memray's intervals;
//! - the heap size and the high-water mark follow the same event-by-event arithmetic as
//!   the heap tracker's (a test checks they agree on every fixture capture).

use crate::analysis::heap::HighWaterMark;
use crate::analysis::intervals::IntervalSet;
use crate::analysis::live_table::{Live, LiveTable};
use crate::analysis::sites::Sites;
use crate::capture::{Allocator, AllocatorKind, EventBatch, MemorySample};
use crate::stacks::native_stacks::generation_at;

/// How many events ahead the live table's slot is prefetched.
const PREFETCH_DISTANCE: usize = 48;

/// One allocation (or piece of a mapping) whose lifetime is known: it started at event
/// `seq` and ended at event `freed_at` (`None`: alive at the end of the capture).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    pub seq: u64,
    pub freed_at: Option<u64>,
    pub address: u64,
    pub size: u64,
    /// The [`Sites`] id of its thread, allocator and stacks.
    pub site: u64,
    /// For a piece a partial munmap left of a mapping: the mapping's event.
    pub split_from: Option<u64>,
}

/// A memory record with the heap size memray counts at that moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapSample {
    pub sample: MemorySample,
    /// Bytes allocated and not yet freed after the events before the record.
    pub heap: u64,
}

/// A piece of a mapping: when it started, its site, and the mapping's event if it is a
/// part left by a partial munmap.
#[derive(Debug, Clone, Copy)]
struct Piece {
    seq: u64,
    site: u64,
    split_from: Option<u64>,
}

/// The lifetimes of one capture's allocations, event by event.
#[derive(Debug, Default)]
pub struct Lifetimes {
    live: LiveTable,
    pub sites: Sites,
    mappings: IntervalSet<Piece>,
    current: u64,
    peak: HighWaterMark,
    /// `(first event, generation)` of every segment generation so far.
    generation_starts: Vec<(u64, u64)>,
    /// Allocation events seen.
    events: u64,
}

impl Lifetimes {
    /// Takes in `batch`: `ended` receives every allocation that ends in it, in event order
    /// (the pieces one munmap ends in the order memray keeps them), and `sampled` every
    /// memory record with the heap size at its place among the events.
    pub fn consume(
        &mut self,
        batch: &EventBatch,
        ended: &mut impl FnMut(&Self, Lifetime),
        sampled: &mut impl FnMut(HeapSample),
    ) {
        self.generation_starts
            .extend_from_slice(&batch.generation_starts);
        let tids = batch.tid.values();
        let addresses = batch.address.values();
        let sizes = batch.size.values();
        let allocators = batch.allocator.values();
        let stacks = batch.stack_id.values();
        let natives = batch.native_stack_id.values();
        let mut samples = batch.memory.iter().peekable();
        for row in 0..batch.len() {
            let seq = batch.first_seq + row as u64;
            while let Some(s) = samples.next_if(|s| s.events_before <= seq) {
                sampled(self.sample(*s));
            }
            if let Some(&ahead) = addresses.get(row + PREFETCH_DISTANCE) {
                self.live.prefetch(ahead);
            }
            let Some(allocator) = Allocator::from_id(allocators[row]) else {
                continue;
            };
            let (address, size) = (addresses[row], sizes[row]);
            match allocator.kind() {
                AllocatorKind::SimpleAllocator => {
                    let site = self
                        .sites
                        .intern(tids[row], allocator, stacks[row], natives[row]);
                    self.current = self.current.wrapping_add(size);
                    let live = Live {
                        seq,
                        size,
                        site,
                        position: 0,
                    };
                    if let Some(old) = self.live.insert(address, live) {
                        ended(self, ended_at(old, address, seq));
                    }
                }
                AllocatorKind::SimpleDeallocator => {
                    if let Some(old) = self.live.remove(address) {
                        self.current = self.current.wrapping_sub(old.size);
                        ended(self, ended_at(old, address, seq));
                    }
                }
                AllocatorKind::RangedAllocator => {
                    let site = self
                        .sites
                        .intern(tids[row], allocator, stacks[row], natives[row]);
                    let piece = Piece {
                        seq,
                        site,
                        split_from: None,
                    };
                    self.mappings.add(address, size, piece);
                    self.current = self.current.wrapping_add(size);
                }
                AllocatorKind::RangedDeallocator => {
                    let mut gone = Vec::new();
                    let freed = self.mappings.remove_split(
                        address,
                        size,
                        |start, len, piece: &Piece| gone.push((start, len, *piece)),
                        |piece| Piece {
                            seq,
                            site: piece.site,
                            split_from: Some(piece.split_from.unwrap_or(piece.seq)),
                        },
                    );
                    for (start, len, piece) in gone {
                        ended(
                            self,
                            Lifetime {
                                seq: piece.seq,
                                freed_at: Some(seq),
                                address: start,
                                size: len,
                                site: piece.site,
                                split_from: piece.split_from,
                            },
                        );
                    }
                    self.current = self.current.wrapping_sub(freed);
                }
            }
            if self.current >= self.peak.bytes {
                self.peak = HighWaterMark {
                    index: seq,
                    bytes: self.current,
                };
            }
        }
        for s in samples {
            sampled(self.sample(*s));
        }
        self.events = batch.first_seq + batch.len() as u64;
    }

    fn sample(&self, sample: MemorySample) -> HeapSample {
        HeapSample {
            sample,
            heap: self.current,
        }
    }

    /// Hands every allocation and piece still alive to `ended`, with no end: the simple
    /// allocations in the live table's order, then the pieces of mappings in memray's.
    pub fn finish(&self, ended: &mut impl FnMut(&Self, Lifetime)) {
        for (address, l) in self.live.entries() {
            ended(
                self,
                Lifetime {
                    seq: l.seq,
                    freed_at: None,
                    address,
                    size: l.size,
                    site: l.site,
                    split_from: None,
                },
            );
        }
        for (start, size, piece) in self.mappings.ranges() {
            ended(
                self,
                Lifetime {
                    seq: piece.seq,
                    freed_at: None,
                    address: start,
                    size,
                    site: piece.site,
                    split_from: piece.split_from,
                },
            );
        }
    }

    /// The high-water mark so far (index 0 and 0 bytes before any event).
    pub fn high_water_mark(&self) -> HighWaterMark {
        self.peak
    }

    /// Allocation events seen so far (deallocations included).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The segment generation of event `seq`: that of the last memory map before it.
    pub fn generation_of(&self, seq: u64) -> u64 {
        generation_at(&self.generation_starts, seq)
    }
}

/// The lifetime of the live allocation `old` at `address`, ended by event `seq`.
fn ended_at(old: Live, address: u64, seq: u64) -> Lifetime {
    Lifetime {
        seq: old.seq,
        freed_at: Some(seq),
        address,
        size: old.size,
        site: old.site,
        split_from: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::heap::HeapTracker;
    use crate::capture::events::EventBatchBuilder;

    fn run(events: &[(u64, u64, Allocator)]) -> (Lifetimes, Vec<Lifetime>) {
        let mut b = EventBatchBuilder::new(0);
        for (i, &(address, size, allocator)) in events.iter().enumerate() {
            b.push(1, address, size, allocator, i as u64 + 1, 0);
        }
        let mut t = Lifetimes::default();
        let mut out = Vec::new();
        t.consume(&b.finish(), &mut |_, l| out.push(l), &mut |_| {});
        t.finish(&mut |_, l| out.push(l));
        (t, out)
    }

    fn span(l: &Lifetime) -> (u64, Option<u64>, u64, u64) {
        (l.seq, l.freed_at, l.address, l.size)
    }

    fn origins(out: &[Lifetime]) -> Vec<Option<u64>> {
        out.iter().map(|l| l.split_from).collect()
    }

    #[test]
    fn frees_and_replacements_end_allocations() {
        use Allocator::*;
        let (t, out) = run(&[
            (0x10, 100, Malloc),
            (0x20, 50, Malloc),
            (0x10, 0, Free),
            (0x20, 7, Malloc),
            (0x99, 0, Free),
        ]);
        let got: Vec<_> = out.iter().map(span).collect();
        assert_eq!(
            got,
            vec![
                (0, Some(2), 0x10, 100),
                (1, Some(3), 0x20, 50),
                (3, None, 0x20, 7)
            ]
        );
        // Heap: 100, 150, 50, then 57: the replaced 50 bytes are never subtracted.
        assert_eq!(
            t.high_water_mark(),
            HighWaterMark {
                index: 1,
                bytes: 150
            }
        );
        assert_eq!(t.events(), 5);
    }

    #[test]
    fn a_partial_munmap_ends_the_piece_and_starts_what_is_left() {
        use Allocator::*;
        let (_, out) = run(&[
            (0x8000, 8192, Mmap),
            (0x9000, 1024, Munmap),
            (0x8000, 4096, Munmap),
        ]);
        assert_eq!(origins(&out), vec![None, Some(0), Some(0)]);
        let got: Vec<_> = out.iter().map(span).collect();
        assert_eq!(
            got,
            vec![
                // The whole mapping, until the first munmap splits it.
                (0, Some(1), 0x8000, 8192),
                // The part below the hole, until the second munmap takes it.
                (1, Some(2), 0x8000, 4096),
                // The part above the hole, never unmapped.
                (1, None, 0x9400, 3072),
            ]
        );
    }

    #[test]
    fn memory_records_see_the_heap_before_the_next_event() {
        use Allocator::*;
        let mut b = EventBatchBuilder::new(0);
        b.push(1, 0x10, 100, Malloc, 1, 0);
        b.push(1, 0x10, 0, Free, 0, 0);
        let mut batch = b.finish();
        let at = |events_before| MemorySample {
            events_before,
            time_ms: 5,
            rss: 9,
        };
        batch.memory = vec![at(0), at(1), at(2)];
        let mut t = Lifetimes::default();
        let mut heaps = Vec::new();
        t.consume(&batch, &mut |_, _| {}, &mut |s| heaps.push(s.heap));
        assert_eq!(heaps, vec![0, 100, 0]);
    }

    /// The high-water mark agrees with the heap tracker's on every full fixture capture.
    #[test]
    fn the_high_water_mark_is_the_heap_trackers() {
        use crate::analysis::pipeline::decode_inline;
        use crate::capture::{read_header, CaptureFile, Decoder};
        use crate::progress::Silent;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/captures");
        let mut compared = 0;
        for entry in std::fs::read_dir(dir).expect("fixture captures") {
            let path = entry.expect("entry").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if name.contains("aggregate") || name.contains("nativeagg") {
                continue;
            }
            let capture = CaptureFile::open(&path).expect("capture");
            let mut stream = capture.stream();
            let header = read_header(&mut stream).expect("header");
            let mut heap = HeapTracker::default();
            let mut lifetimes = Lifetimes::default();
            decode_inline(
                Decoder::new(&header),
                stream,
                &mut |b| {
                    heap.consume(b);
                    lifetimes.consume(b, &mut |_, _| {}, &mut |_| {});
                },
                None,
                &mut Silent,
            )
            .expect("decoded");
            assert_eq!(
                heap.high_water_mark(),
                lifetimes.high_water_mark(),
                "{name}"
            );
            compared += 1;
        }
        assert!(compared >= 10, "{compared} captures compared");
    }
}
