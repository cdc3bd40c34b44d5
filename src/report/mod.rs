//! Report writers, one per output format, over the reduced rows of a [`Report`].

pub mod csv;
pub mod gprof2dot;
pub mod json;
pub mod output;
pub mod parquet;
pub mod speedscope;

use std::io::{self, Write};

use rustc_hash::FxHashMap;

use crate::analysis::reduction::Rows;
use crate::analysis::Report;
use crate::stacks::hybrid::{hybrid_stack, BoundaryRule};
use crate::stacks::Location;

pub use self::parquet::ParquetOptions;

/// An output format of `memform transform`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Gprof2dot,
    Speedscope,
    /// memform's own: not a memray format.
    Parquet,
}

impl Format {
    /// Every format: memray's, in the order memray lists them, then memform's own.
    pub const ALL: [Format; 4] = [
        Format::Gprof2dot,
        Format::Csv,
        Format::Speedscope,
        Format::Parquet,
    ];

    /// The format named `name`, case-insensitively, as `memray transform` matches it.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == name.to_lowercase())
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Gprof2dot => "gprof2dot",
            Format::Speedscope => "speedscope",
            Format::Parquet => "parquet",
        }
    }

    /// The suffix of the default output file name.
    pub fn suffix(self) -> &'static str {
        match self {
            Format::Csv => ".csv",
            Format::Gprof2dot => ".json",
            Format::Speedscope => ".speedscope.json",
            Format::Parquet => ".parquet",
        }
    }

    /// Whether the report should carry its high-water mark whatever its mode (Parquet
    /// records it in its metadata).
    pub fn wants_high_water_mark(self) -> bool {
        self == Format::Parquet
    }

    /// Writes `report` in this format; `parquet` applies to [`Format::Parquet`] only.
    pub fn write<W: Write + Send>(
        self,
        report: &mut Report,
        out: &mut W,
        parquet: &ParquetOptions,
    ) -> io::Result<()> {
        match self {
            Format::Csv => csv::write(report, out),
            Format::Gprof2dot => gprof2dot::write(report, out),
            Format::Speedscope => speedscope::write(report, out),
            Format::Parquet => self::parquet::write(report, out, parquet),
        }
    }
}

/// Stacks of report rows as memray prints them, resolved once per distinct stack.
pub struct RowStacks {
    main_tid: u64,
    skipped: u64,
    boundary: BoundaryRule,
    /// Keyed by `(Python stack, native stack, segment generation, on the main thread)`.
    cache: FxHashMap<StackKey, std::rc::Rc<[Location]>>,
}

impl RowStacks {
    pub fn new(report: &Report) -> Self {
        RowStacks {
            main_tid: report.header.main_tid,
            skipped: report.header.skipped_frames_on_main_tid,
            boundary: BoundaryRule::for_header_version(report.header.version),
            cache: FxHashMap::default(),
        }
    }

    /// What decides the printed stack of row `row`: `(Python stack, native stack, segment
    /// generation, on the main thread)`. Rows with equal keys print equal stacks.
    pub fn key(&self, report: &Report, rows: &Rows<'_>, row: usize) -> StackKey {
        let on_main = rows.tid[row] == self.main_tid;
        match &report.native {
            None => (rows.stack_id[row], 0, 0, on_main),
            Some(native) => (
                rows.stack_id[row],
                rows.native_stack_id[row],
                native.generation_of(rows.representative_seq[row]),
                on_main,
            ),
        }
    }

    /// The frames of row `row`, leaf first, as memray prints them: for captures without
    /// native traces the Python stack, whose outermost frames (those above the tracker) are
    /// dropped on the main thread; for `--native` captures the hybrid stack, with native
    /// frames resolved against the memory maps of the row's representative member.
    pub fn frames(
        &mut self,
        report: &mut Report,
        rows: &Rows<'_>,
        row: usize,
    ) -> std::rc::Rc<[Location]> {
        let key = self.key(report, rows, row);
        if let Some(frames) = self.cache.get(&key) {
            return frames.clone();
        }
        let (stack_id, native_id, generation, on_main) = key;
        let skip = if on_main { self.skipped } else { 0 };
        let frames: std::rc::Rc<[Location]> = match report.native.as_mut() {
            None => report.stacks.stack(stack_id, skip).into(),
            Some(native) => {
                let native_frames = native.stack(native_id, generation);
                let python = report.stacks.stack_with_entry_flags(stack_id);
                let skip = usize::try_from(skip).unwrap_or(usize::MAX);
                hybrid_stack(&native_frames, &python, skip, self.boundary).into()
            }
        };
        self.cache.insert(key, frames.clone());
        frames
    }
}

/// See [`RowStacks::key`].
pub type StackKey = (u64, u64, u64, bool);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_case_insensitively() {
        assert_eq!(Format::from_name("CSV"), Some(Format::Csv));
        assert_eq!(Format::from_name("GProf2Dot"), Some(Format::Gprof2dot));
        assert_eq!(Format::from_name("SpeedScope"), Some(Format::Speedscope));
        assert_eq!(Format::from_name("parquet"), Some(Format::Parquet));
        assert_eq!(Format::from_name("html"), None);
    }

    #[test]
    fn hex_like_python() {
        assert_eq!(python_hex(1), "0x1");
        assert_eq!(python_hex(255), "0xff");
        assert_eq!(python_hex(u64::MAX), "-0x1");
    }
}
