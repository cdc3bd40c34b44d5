//! `memform transform aggregate`: a full capture rewritten as an aggregated one, the file
//! `memray run --aggregate` of memray 1.20 writes (header version 13, LZ4-compressed), which
//! memray 1.20 and memform read back into the same peak and leaks reports as the original.
//!
//! One pass over the capture ([`aggregate`]) runs the decoder and the heap tracker of the
//! reports ([`HeapTracker`]: memray's live set, high-water mark and mapping rules), sampling
//! the running heap size at each memory record as memray's `AggregatingRecordWriter` does.
//! At the end the allocations alive at the high-water mark and those alive at the end are
//! reduced into rows exactly as the peak and leaks reports reduce them, and each row becomes
//! one `AGGREGATED_ALLOCATION` record: the peak rows (allocations and bytes at the
//! high-water mark, none leaked) in report order, then the leak rows (none at the peak).
//!
//! Why rows and not memray's keys. memray's aggregating writer keeps one record per
//! (thread, allocator, Python stack, native stack, segment generation); its reader merges
//! the records of a (Python stack, native stack) row but counts each record after the first
//! as *one* allocation (`AggregatedCaptureReaggregator::getSnapshotAllocations`), and orders
//! rows by record position, one order for both reports. Records per key would therefore give
//! wrong counts for rows whose allocations differ in thread or allocator, and the wrong row
//! order for peak or leaks. One record per row and report gives memray's (and memform's)
//! reports of the original capture: same rows, same order, same counts and sizes, each row
//! with the thread, allocator and segment generation of its earliest allocation (memform's
//! choice for merged rows). What is lost is the split of such a row by thread (`memray
//! flamegraph`'s thread filter shows it under that one thread). docs/aggregate.md has the
//! whole list.
//!
//! The rest of the file is what memray keeps: the header of the capture (as version 13, an
//! aggregated file; `n_allocations` counts the records, as memray's reader counts them), the
//! memory snapshots (time, RSS, heap size), the last name of each thread, the memory maps of
//! each segment generation, the code objects, Python frames and stack tree
//! ([`stacks::PythonStacks`], which also turns the frames of memray 1.7 – 1.18 captures into
//! code objects), the native frames, the trailer.

pub mod stacks;
pub mod writer;

use std::io::{self, BufWriter, Write};

use crate::analysis::heap::HeapTracker;
use crate::analysis::pipeline::decode;
use crate::analysis::reduction::Rows;
use crate::capture::header::FileFormat;
use crate::capture::{
    open_records, AggregatedAllocation, CaptureFile, Decoder, EventBatch, Header, ImageSegments,
    StreamEnd,
};
use crate::error::CaptureError;
use crate::progress::Progress;
use crate::stacks::native_stacks::generation_at;
use stacks::PythonStacks;

/// memray's `MemorySnapshot`: a memory record with the heap size at that moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemorySnapshot {
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// Resident set size, bytes.
    pub rss: u64,
    /// Bytes allocated and not freed at that moment (memray's running heap size).
    pub heap: u64,
}

/// Everything an aggregated capture holds, ready to write ([`writer`]).
#[derive(Debug)]
pub struct AggregatedCapture {
    /// The header to write: the capture's, as an aggregated capture of header version 13.
    pub header: Header,
    pub snapshots: Vec<MemorySnapshot>,
    /// `(thread id, last name)`, by thread id.
    pub thread_names: Vec<(u64, String)>,
    /// The memory maps of each segment generation, generation 1 first.
    pub mappings: Vec<Vec<ImageSegments>>,
    pub stacks: PythonStacks,
    /// `(instruction pointer, parent index)`, native frame 1 first.
    pub native_frames: Vec<(u64, u64)>,
    pub records: Vec<AggregatedAllocation>,
    /// How the capture's record stream ended.
    pub end: StreamEnd,
    /// Allocation events read from the capture.
    pub allocations: u64,
}

/// Reads `capture` once and computes its aggregated form. `threads` as in
/// [`crate::analysis::Options::threads`]. A capture that is already aggregated is refused.
pub fn aggregate(
    capture: &CaptureFile,
    threads: usize,
    progress: &mut dyn Progress,
) -> Result<AggregatedCapture, CaptureError> {
    let path = capture.path();
    let (stream, header) = open_records(capture)?;
    if header.file_format == FileFormat::AggregatedAllocations {
        return Err(CaptureError::AlreadyAggregated {
            path: path.to_path_buf(),
        });
    }
    progress.phase("Aggregating allocation records", capture.file_len());
    let mut heap = HeapTracker::default();
    let mut snapshots = Vec::new();
    let (mut decoder, end) = decode(
        threads,
        Decoder::new(&header),
        stream,
        &mut |b| consume(&mut heap, &mut snapshots, b),
        None,
        progress,
    )
    .map_err(|e| e.in_file(path))?;
    progress.finish();
    heap.sites().check(path)?;
    let records = records(&heap, &decoder.generation_starts);
    let mut thread_names: Vec<(u64, String)> = decoder.thread_names(u64::MAX).into_iter().collect();
    thread_names.sort_unstable();
    let mut mappings = vec![Vec::new(); decoder.generation_starts.len()];
    for image in std::mem::take(&mut decoder.image_segments) {
        // Generation g >= 1 is the g-th MEMORY_MAP_START; every image follows one.
        let slot = usize::try_from(image.generation)
            .ok()
            .and_then(|g| g.checked_sub(1));
        if let Some(generation) = slot.and_then(|g| mappings.get_mut(g)) {
            generation.push(image);
        }
    }
    let header = Header {
        version: writer::HEADER_VERSION,
        file_format: FileFormat::AggregatedAllocations,
        stats: crate::capture::header::TrackerStats {
            n_allocations: records.len() as u64,
            ..header.stats
        },
        ..header
    };
    Ok(AggregatedCapture {
        header,
        snapshots,
        thread_names,
        mappings,
        stacks: PythonStacks::from_table(&decoder.stacks),
        native_frames: std::mem::take(&mut decoder.native_frames),
        records,
        end,
        allocations: decoder.allocations,
    })
}

/// Takes one batch into the heap, recording a memory snapshot with the heap size at each
/// memory record of the batch (after the events before it).
fn consume(heap: &mut HeapTracker, snapshots: &mut Vec<MemorySnapshot>, batch: &EventBatch) {
    let mut done = 0;
    for sample in &batch.memory {
        let before = usize::try_from(sample.events_before.saturating_sub(batch.first_seq))
            .unwrap_or(usize::MAX)
            .clamp(done, batch.len());
        heap.consume_rows(batch, done..before);
        done = before;
        snapshots.push(MemorySnapshot {
            time_ms: sample.time_ms,
            rss: sample.rss,
            heap: heap.current_bytes(),
        });
    }
    heap.consume_rows(batch, done..batch.len());
}

/// The aggregated records: one per row of the peak report (in its order), then one per row
/// of the leaks report (in its order), each with its representative's segment generation.
fn records(heap: &HeapTracker, generation_starts: &[(u64, u64)]) -> Vec<AggregatedAllocation> {
    let mut out = Vec::new();
    for (batch, peak) in [
        (heap.reduce_at_peak().finish(), true),
        (heap.reduce_at_end().finish(), false),
    ] {
        let rows = Rows::new(&batch);
        for i in 0..rows.len() {
            let (count, bytes) = (rows.num_allocations[i], rows.size[i]);
            let (peak_count, peak_bytes, leaked, leaked_bytes) = if peak {
                (count, bytes, 0, 0)
            } else {
                (0, 0, count, bytes)
            };
            out.push(AggregatedAllocation {
                tid: rows.tid[i],
                allocator: rows.allocator(i),
                native_frame_id: rows.native_stack_id[i],
                frame_index: rows.stack_id[i],
                native_segment_generation: generation_at(
                    generation_starts,
                    rows.representative_seq[i],
                ),
                n_allocations_in_high_water_mark: peak_count,
                n_allocations_leaked: leaked,
                bytes_in_high_water_mark: peak_bytes,
                bytes_leaked: leaked_bytes,
            });
        }
    }
    out
}

/// Writes `capture` into `out`, LZ4-compressed, and flushes it.
pub fn write<W: Write>(out: W, capture: &AggregatedCapture) -> io::Result<()> {
    let buffered = writer::write_compressed(BufWriter::with_capacity(1 << 20, out), capture)?;
    buffered.into_inner().map_err(|e| e.into_error())?.flush()
}

#[cfg(test)]
mod tests;
