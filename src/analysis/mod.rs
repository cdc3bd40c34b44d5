//! What a report computes from a capture: the peak, the leaks or the temporary allocations,
//! reduced into rows.

pub mod high_water_mark;
pub mod intervals;
pub mod live_set;
pub mod reduction;
pub mod temporary;

use arrow_array::RecordBatch;
use rustc_hash::FxHashMap;

use crate::capture::{read_header, CaptureFile, Decoder, FileFormat, Header, StreamEnd};
use crate::error::CaptureError;
use crate::progress::Progress;
use crate::stacks::StackTable;
use high_water_mark::{HighWaterMark, HighWaterMarkFinder};
use live_set::LiveSet;
use reduction::{Member, Reducer, Representative};
use temporary::TemporaryAllocations;

/// Which allocations a report shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportMode {
    /// Alive at the high-water mark (the default).
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
    /// Thread names as memray knows them when it prints the report.
    pub thread_names: FxHashMap<u64, String>,
    /// Allocation records in the capture (aggregated records for aggregated captures).
    pub total_allocations: u64,
    /// The high-water mark, for peak reports of full captures.
    pub high_water_mark: Option<HighWaterMark>,
    /// How the record stream ended.
    pub end: StreamEnd,
}

/// Opens the stream of `capture` and reads its header.
fn open_stream<'a>(
    capture: &'a CaptureFile,
) -> Result<(crate::capture::ByteStream<'a>, Header), CaptureError> {
    let mut stream = capture.stream();
    let header = read_header(&mut stream, capture.path())?;
    Ok((stream, header))
}

/// Reads only the header of `capture`.
pub fn read_capture_header(capture: &CaptureFile) -> Result<Header, CaptureError> {
    open_stream(capture).map(|(_, h)| h)
}

/// Computes the `mode` report of `capture`.
pub fn compute(
    capture: &CaptureFile,
    mode: ReportMode,
    progress: &mut dyn Progress,
) -> Result<Report, CaptureError> {
    let path = capture.path();
    let (mut stream, header) = open_stream(capture)?;
    if header.native_traces {
        return Err(CaptureError::NativeTracesUnsupported {
            path: path.to_path_buf(),
        });
    }
    let total_bytes = capture.file_len();

    if header.file_format == FileFormat::AggregatedAllocations {
        if let ReportMode::Temporary { .. } = mode {
            return Err(CaptureError::TemporaryOnAggregated);
        }
        progress.phase("Processing allocation records", total_bytes);
        let mut decoder = Decoder::new(&header, true);
        let end = decoder.run(&mut stream, path, None, &mut |_| {}, &mut |p| {
            progress.update(p)
        })?;
        progress.finish();
        let mut reducer = Reducer::new(Representative::First);
        let mut kept = 0u64;
        for a in &decoder.aggregated {
            let (count, bytes) = match mode {
                ReportMode::Leaks => (a.n_allocations_leaked, a.bytes_leaked),
                _ => (
                    a.n_allocations_in_high_water_mark,
                    a.bytes_in_high_water_mark,
                ),
            };
            if count == 0 {
                continue;
            }
            reducer.add_counted(
                Member {
                    seq: kept,
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
        return Ok(Report {
            thread_names: decoder.thread_names(u64::MAX),
            total_allocations: decoder.aggregated.len() as u64,
            rows: reducer.finish(),
            stacks: decoder.stacks,
            header,
            mode,
            high_water_mark: None,
            end,
        });
    }

    match mode {
        ReportMode::Peak => {
            // First pass: the high-water mark, without interning stacks.
            progress.phase("Calculating high watermark", total_bytes);
            let mut finder = HighWaterMarkFinder::default();
            let mut decoder = Decoder::new(&header, false);
            let end = decoder.run(
                &mut stream,
                path,
                None,
                &mut |b| finder.consume(&b),
                &mut |p| progress.update(p),
            )?;
            let hwm = finder.high_water_mark();
            let total = decoder.allocations;
            drop(decoder);
            // Second pass: the live set at the high-water mark.
            progress.phase("Processing allocation records", total_bytes);
            let (mut stream, _) = open_stream(capture)?;
            let limit = hwm.index + 1;
            let mut live = LiveSet::default();
            let mut decoder = Decoder::new(&header, true);
            decoder.run(
                &mut stream,
                path,
                Some(limit),
                &mut |b| live.consume(&b),
                &mut |p| progress.update(p),
            )?;
            progress.finish();
            Ok(Report {
                thread_names: decoder.thread_names(limit),
                rows: live.reduce().finish(),
                stacks: decoder.stacks,
                total_allocations: total,
                high_water_mark: Some(hwm),
                header,
                mode,
                end,
            })
        }
        ReportMode::Leaks | ReportMode::Temporary { .. } => {
            progress.phase("Processing allocation records", total_bytes);
            let mut decoder = Decoder::new(&header, true);
            let (rows, end) = if mode == ReportMode::Leaks {
                let mut live = LiveSet::default();
                let end = decoder.run(
                    &mut stream,
                    path,
                    None,
                    &mut |b| live.consume(&b),
                    &mut |p| progress.update(p),
                )?;
                (live.reduce().finish(), end)
            } else {
                let ReportMode::Temporary { threshold } = mode else {
                    unreachable!("mode is temporary here")
                };
                let mut temp = TemporaryAllocations::new(threshold);
                let end = decoder.run(
                    &mut stream,
                    path,
                    None,
                    &mut |b| temp.consume(&b),
                    &mut |p| progress.update(p),
                )?;
                (temp.reduce().finish(), end)
            };
            progress.finish();
            let total = decoder.allocations;
            Ok(Report {
                thread_names: decoder.thread_names(total),
                rows,
                stacks: decoder.stacks,
                total_allocations: total,
                high_water_mark: None,
                header,
                mode,
                end,
            })
        }
    }
}
