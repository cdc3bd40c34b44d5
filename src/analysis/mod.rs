//! What a report computes from a capture: the peak, the leaks or the temporary allocations,
//! reduced into rows.

pub mod hash_order;
pub mod heap;
pub mod intervals;
mod libstdcxx_primes;
pub mod live_table;
pub mod pipeline;
pub mod reduction;
pub mod sites;
pub mod temporary;

use arrow_array::RecordBatch;
use rustc_hash::FxHashMap;

use std::path::Path;

use crate::capture::{
    open_records, ByteStream, CaptureFile, Decoder, FileFormat, Header, StreamEnd,
};
use crate::error::CaptureError;
use crate::progress::Progress;
use crate::stacks::{NativeStacks, StackTable};
use heap::{HeapTracker, HighWaterMark};
use pipeline::{decode, SideConsumer};
use reduction::{Member, Reducer, Representative};
use temporary::TemporaryAllocations;

/// Which allocations a report shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReportMode {
    /// Alive at the high-water mark (the default).
    #[default]
    Peak,
    /// Never freed (`--leaks`).
    Leaks,
    /// Freed after at most `threshold` other allocations (`--temporary-allocation-threshold`).
    Temporary { threshold: u64 },
}

impl std::fmt::Display for ReportMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReportMode::Peak => write!(f, "peak"),
            ReportMode::Leaks => write!(f, "leaks"),
            ReportMode::Temporary { threshold } => write!(f, "temporary {threshold}"),
        }
    }
}

/// A computed report: the reduced rows and what is needed to print them.
pub struct Report {
    pub header: Header,
    pub mode: ReportMode,
    /// Rows with the schema of [`reduction::rows_schema`], in output order.
    pub rows: RecordBatch,
    pub stacks: StackTable,
    /// Native stacks, for captures recorded with `--native`.
    pub native: Option<NativeStacks>,
    /// Thread names as memray knows them when it prints the report.
    pub thread_names: FxHashMap<u64, String>,
    /// Allocation records in the capture (aggregated records for aggregated captures).
    pub total_allocations: u64,
    /// The high-water mark, for peak reports of full captures.
    pub high_water_mark: Option<HighWaterMark>,
    /// How the record stream ended.
    pub end: StreamEnd,
}

/// Reads only the header of `capture`.
pub fn read_capture_header(capture: &CaptureFile) -> Result<Header, CaptureError> {
    open_records(capture).map(|(_, h)| h)
}

/// Optional extra results of [`compute`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Also find the high-water mark for leak and temporary reports (peak reports always
    /// do). Costs a hash-map update per event.
    pub high_water_mark: bool,
    /// Threads to use: 1 decodes and analyses on the calling thread; any other number
    /// (0 = the default) decodes on a second thread while the calling one analyses.
    pub threads: usize,
}

/// Computes the `mode` report of `capture`.
pub fn compute(
    capture: &CaptureFile,
    mode: ReportMode,
    options: Options,
    progress: &mut dyn Progress,
) -> Result<Report, CaptureError> {
    compute_with(capture, mode, options, None, progress)
}

/// Computes the `mode` report of `capture`, handing every event batch to `side` as well
/// (on a thread of its own when there are two: [`pipeline::decode`]); the side consumer
/// sees no batch of an aggregated capture, which has none.
pub fn compute_with(
    capture: &CaptureFile,
    mode: ReportMode,
    options: Options,
    side: Option<SideConsumer<'_>>,
    progress: &mut dyn Progress,
) -> Result<Report, CaptureError> {
    let path = capture.path();
    let (stream, header) = open_records(capture)?;
    let total_bytes = capture.file_len();
    if header.file_format == FileFormat::AggregatedAllocations {
        return compute_aggregated(stream, header, path, mode, progress, total_bytes);
    }
    progress.phase("Processing allocation records", total_bytes);
    let mut heap = HeapTracker::default();
    let mut temporary = match mode {
        ReportMode::Temporary { threshold } => Some(TemporaryAllocations::new(threshold)),
        _ => None,
    };
    let track_heap = temporary.is_none() || options.high_water_mark;
    let (mut decoder, end) = decode(
        options.threads,
        Decoder::new(&header),
        stream,
        &mut |b| {
            if track_heap {
                heap.consume(b);
            }
            if let Some(t) = &mut temporary {
                t.consume(b);
            }
        },
        side,
        progress,
    )
    .map_err(|e| e.in_file(path))?;
    heap.sites().check(path)?;
    let hwm = track_heap.then(|| heap.high_water_mark());
    let rows = match (mode, temporary) {
        (_, Some(t)) => t.reduce().finish(),
        (ReportMode::Peak, None) => heap.reduce_at_peak().finish(),
        (_, None) => heap.reduce_at_end().finish(),
    };
    progress.finish();
    let total = decoder.allocations;
    // memray's report pass processes records up to the last allocation it needs: the peak
    // for peak reports, the last allocation otherwise.
    let processed = match (mode, hwm) {
        (ReportMode::Peak, Some(h)) => h.index + 1,
        _ => decoder.allocations,
    };
    let generation_starts = std::mem::take(&mut decoder.generation_starts);
    let native = native_stacks(&header, &mut decoder, generation_starts);
    Ok(Report {
        thread_names: decoder.thread_names(processed),
        native,
        rows,
        stacks: decoder.stacks,
        total_allocations: total,
        high_water_mark: hwm,
        header,
        mode,
        end,
    })
}

/// The native stacks of a `--native` capture, taken from its `decoder`; `generation_starts`
/// gives the segment generation of each member by sequence number.
fn native_stacks(
    header: &Header,
    decoder: &mut Decoder,
    generation_starts: Vec<(u64, u64)>,
) -> Option<NativeStacks> {
    header.native_traces.then(|| {
        NativeStacks::new(
            std::mem::take(&mut decoder.native_frames),
            &decoder.image_segments,
            generation_starts,
        )
    })
}

fn compute_aggregated(
    mut stream: ByteStream<'_>,
    header: Header,
    path: &Path,
    mode: ReportMode,
    progress: &mut dyn Progress,
    total_bytes: u64,
) -> Result<Report, CaptureError> {
    if let ReportMode::Temporary { .. } = mode {
        return Err(CaptureError::TemporaryOnAggregated);
    }
    progress.phase("Processing allocation records", total_bytes);
    let mut decoder = Decoder::new(&header);
    let end = decoder
        .run(&mut stream, &mut |_| {}, &mut |p| {
            progress.update(p);
            !progress.stopped()
        })
        .map_err(|e| e.in_file(path))?;
    progress.finish();
    let mut reducer = Reducer::new(Representative::First);
    let mut kept = 0u64;
    // Members are numbered by kept record; each carries its own segment generation.
    let mut generation_starts: Vec<(u64, u64)> = Vec::new();
    for a in &decoder.aggregated {
        let (count, bytes) = match mode {
            ReportMode::Leaks => (a.n_allocations_leaked, a.bytes_leaked),
            _ => (
                a.n_allocations_in_high_water_mark,
                a.bytes_in_high_water_mark,
            ),
        };
        // memray drops records that contribute nothing to this report.
        if count == 0 {
            continue;
        }
        if generation_starts.last().map(|&(_, g)| g) != Some(a.native_segment_generation) {
            generation_starts.push((kept, a.native_segment_generation));
        }
        reducer.add_counted(
            Member {
                seq: kept,
                position: 0,
                tid: a.tid,
                allocator: a.allocator,
                stack_id: a.frame_index,
                native_stack_id: a.native_frame_id,
                size: bytes,
            },
            count,
        );
        kept += 1;
    }
    let native = native_stacks(&header, &mut decoder, generation_starts);
    Ok(Report {
        thread_names: decoder.thread_names(u64::MAX),
        native,
        total_allocations: decoder.aggregated.len() as u64,
        rows: reducer.finish(),
        stacks: decoder.stacks,
        header,
        mode,
        high_water_mark: None,
        end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    /// Both ways of sharing the cores (decoding inline, decoding on a second thread) give
    /// the same report, for every report mode of every full fixture capture.
    #[test]
    fn one_thread_and_two_threads_agree() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/captures");
        let mut compared = 0;
        for entry in std::fs::read_dir(dir).expect("fixture captures") {
            let path = entry.expect("entry").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if !name.ends_with(".bin") || name.contains("aggregate") || name.contains("nativeagg") {
                continue;
            }
            let capture = CaptureFile::open(&path).expect("capture");
            for mode in [
                ReportMode::Peak,
                ReportMode::Leaks,
                ReportMode::Temporary { threshold: 1 },
            ] {
                let report = |threads| {
                    let options = Options {
                        high_water_mark: true,
                        threads,
                    };
                    compute(&capture, mode, options, &mut Silent).expect("report")
                };
                let (one, two) = (report(1), report(2));
                assert_eq!(one.rows, two.rows, "{name} {mode}");
                assert_eq!(one.high_water_mark, two.high_water_mark, "{name} {mode}");
                assert_eq!(one.thread_names, two.thread_names, "{name} {mode}");
                assert_eq!(one.end, two.end, "{name} {mode}");
                assert!(one.rows.num_rows() > 0, "{name} {mode}");
                compared += 1;
            }
        }
        assert!(compared >= 30, "{compared} reports compared");
    }
}
