//! Report writers, one per output format, over the reduced rows of a [`Report`].
//!
//! Every format is a [`ReportWriter`]: `begin`, then `row` once per report row in memray's
//! order, then `finish`. [`write_report`] is the one loop that drives a writer: it resolves
//! the rows' stacks first ([`ResolvedStacks`]), then hands each writer a [`ReportRow`] — the
//! row's numbers, its thread's label and its frames — by reference. A new format needs
//! only a writer. Several reports of one analysis resolve the stacks once and hand them to
//! [`write_resolved`].

pub mod arrow_rows;
pub mod csv;
pub mod folded;
pub mod gprof2dot;
pub mod json;
pub mod metadata;
pub mod output;
pub mod parquet;
pub mod pprof;
pub mod speedscope;
pub mod stacks;

use std::io;

use rustc_hash::FxHashMap;

use crate::analysis::reduction::Rows;
use crate::analysis::Report;
use crate::capture::Allocator;
use crate::stacks::Location;

pub use self::folded::FoldedValue;
pub use self::parquet::ParquetOptions;
pub use self::stacks::{Frames, FramesIter, ResolvedStacks};

/// One row of a report as every writer sees it.
#[derive(Debug, Clone, Copy)]
pub struct ReportRow<'a> {
    pub allocator: Allocator,
    pub num_allocations: u64,
    pub size: u64,
    pub tid: u64,
    /// memray's label of the thread: `0x<tid>` or `0x<tid> (<name>)`.
    pub thread_name: &'a str,
    /// The index of the row's stack among the report's distinct stacks: rows with equal
    /// indices have equal frames.
    pub stack_index: usize,
    /// The stack, leaf first, as memray prints it.
    pub frames: Frames<'a>,
}

/// A report format's writer. [`write_report`] calls `begin` once, `row` for every row in
/// order, and `finish` once, unless one of them fails.
pub trait ReportWriter {
    fn begin(&mut self, report: &Report) -> io::Result<()>;
    fn row(&mut self, row: &ReportRow<'_>) -> io::Result<()>;
    /// Writes whatever the format puts after its rows, and flushes.
    fn finish(&mut self, report: &Report) -> io::Result<()>;
}

/// Writes `report` with `writer`: the stacks resolved, then every row handed over in order.
pub fn write_report(report: &mut Report, writer: &mut dyn ReportWriter) -> io::Result<()> {
    let stacks = ResolvedStacks::resolve(report)?;
    write_resolved(report, &stacks, writer)
}

/// Writes `report`, whose rows' stacks are `stacks` ([`ResolvedStacks::resolve`]), with
/// `writer`: several reports of one analysis resolve the stacks once.
pub fn write_resolved(
    report: &Report,
    stacks: &ResolvedStacks,
    writer: &mut dyn ReportWriter,
) -> io::Result<()> {
    let rows = Rows::new(&report.rows);
    let mut labels: FxHashMap<u64, String> = FxHashMap::default();
    writer.begin(report)?;
    for row in 0..rows.len() {
        let tid = rows.tid[row];
        let thread_name = labels
            .entry(tid)
            .or_insert_with(|| thread_label(report, tid));
        let stack_index = stacks.index_of_row(row);
        writer.row(&ReportRow {
            allocator: rows.allocator(row),
            num_allocations: rows.num_allocations[row],
            size: rows.size[row],
            tid,
            thread_name,
            stack_index,
            frames: stacks.frames(stack_index),
        })?;
    }
    writer.finish(report)
}

/// A stack as the CSV report's `stack_trace` prints it (and the Parquet report's column of
/// that name): `function;file;line` per frame, leaf first, joined by `|`. Appended to
/// `out`.
pub fn stack_trace<'a>(frames: impl IntoIterator<Item = &'a Location>, out: &mut String) {
    use std::fmt::Write as _;
    for (i, loc) in frames.into_iter().enumerate() {
        if i > 0 {
            out.push('|');
        }
        let _ = write!(out, "{};{};{}", loc.function, loc.file, loc.line);
    }
}

/// A thread id as Python's `hex()` prints the signed value memray hands it.
pub fn python_hex(tid: u64) -> String {
    let v = tid as i64;
    if v < 0 {
        format!("-0x{:x}", v.unsigned_abs())
    } else {
        format!("0x{v:x}")
    }
}

/// memray's `format_thread_name`: `0x<tid>` or `0x<tid> (<name>)`.
pub fn thread_label(report: &Report, tid: u64) -> String {
    match report.thread_names.get(&tid) {
        Some(name) if !name.is_empty() => format!("{} ({name})", python_hex(tid)),
        _ => python_hex(tid),
    }
}

/// For the writers' unit tests: the leaks report of a committed fixture capture.
#[cfg(test)]
pub(crate) fn fixture_leaks_report(name: &str) -> (std::path::PathBuf, Report) {
    use crate::analysis::{compute, Options, ReportMode};
    use crate::capture::CaptureFile;
    use crate::progress::Silent;

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/captures")
        .join(name);
    let capture = CaptureFile::open(&path).unwrap();
    let report = compute(&capture, ReportMode::Leaks, Options::default(), &mut Silent).unwrap();
    (path, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_traces_join_frames_leaf_first() {
        let loc = Location::new;
        let mut text = String::from("kept:");
        stack_trace(&[loc("f", "a.py", 3), loc("g", "b;c.py", -1)], &mut text);
        assert_eq!(text, "kept:f;a.py;3|g;b;c.py;-1");
        text.clear();
        stack_trace(&[], &mut text);
        assert_eq!(text, "");
    }

    #[test]
    fn hex_like_python() {
        assert_eq!(python_hex(1), "0x1");
        assert_eq!(python_hex(255), "0xff");
        assert_eq!(python_hex(u64::MAX), "-0x1");
    }
}
