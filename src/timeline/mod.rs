//! The `timeline` format: the heap's size and the resident size (RSS) over the capture's
//! time, as memray's HTML reports draw them above their flame graphs, with the high-water
//! mark (the moment the peak report describes) marked and labelled, as one SVG picture drawn
//! by plotters. Not a report of one mode: it is made of the whole capture, like the
//! statistics, by its own pass ([`timeline`]) or beside reports from the same read
//! ([`TimelinePass`] as the analysis' side consumer).
//!
//! - [`pass`]: the consumer of the event batches (heap size after every event, memory
//!   records).
//! - [`series`]: the bounded runs of heap sizes, the events' times, the reduction to pixel
//!   columns.
//! - [`render`]: the SVG, its axes in seconds and bytes, the peak's marker.
//!
//! docs/timeline.md says how the heap and the RSS are measured and placed in time.

pub mod pass;
pub mod render;
pub mod series;

use crate::analysis::pipeline::decode;
use crate::capture::{open_records, CaptureFile, Decoder, FileFormat, StreamEnd};
use crate::error::CaptureError;
use crate::progress::Progress;

pub use self::pass::TimelinePass;
pub use self::render::{write_svg, HEIGHT, WIDTH};
use self::series::Point;

/// The high-water mark: the heap's largest size, the last event to reach it (memray's peak
/// index) and that event's time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peak {
    pub bytes: u64,
    /// The event's number among all allocation records (deallocations included), from 0.
    pub event: u64,
    /// Seconds since the capture's start.
    pub seconds: f64,
}

/// A capture's memory over time.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// The capture's length in seconds (from its start to its end, or to its last memory
    /// record when the end is not known).
    pub seconds: f64,
    /// The heap's size, `(seconds, bytes)` in time order: from 0 bytes at the start, the
    /// smallest and largest size of each run of events (bounded: [`series::MAX_RUNS`]).
    pub heap: Vec<Point>,
    /// The resident size at each memory record, `(seconds, bytes)`.
    pub rss: Vec<Point>,
    /// None for a capture without allocation events.
    pub peak: Option<Peak>,
    /// Allocation records (deallocations included).
    pub events: u64,
    /// Memory records.
    pub records: u64,
}

/// A timeline and how the capture it was read from ended.
#[derive(Debug)]
pub struct ReadTimeline {
    pub timeline: Timeline,
    pub end: StreamEnd,
}

/// Reads `capture` once and follows its memory over time. Aggregated captures have no
/// allocation stream to follow ([`CaptureError::TimelineOnAggregated`]).
pub fn timeline(
    capture: &CaptureFile,
    threads: usize,
    progress: &mut dyn Progress,
) -> Result<ReadTimeline, CaptureError> {
    let path = capture.path();
    let (stream, header) = open_records(capture)?;
    check_format(&header, path)?;
    progress.phase("Following memory over time", capture.file_len());
    let mut pass = TimelinePass::default();
    let (_, end) = decode(
        threads,
        Decoder::new(&header),
        stream,
        &mut |batch| pass.consume(batch),
        None,
        progress,
    )
    .map_err(|e| e.in_file(path))?;
    progress.finish();
    Ok(ReadTimeline {
        timeline: pass.finish(&header),
        end,
    })
}

/// Refuses an aggregated capture: it keeps no allocation events to follow.
pub fn check_format(
    header: &crate::capture::Header,
    path: &std::path::Path,
) -> Result<(), CaptureError> {
    if header.file_format == FileFormat::AggregatedAllocations {
        return Err(CaptureError::TimelineOnAggregated {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}
