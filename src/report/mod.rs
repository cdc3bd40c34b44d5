//! Report writers, one per output format, over the reduced rows of a [`Report`].

pub mod csv;
pub mod gprof2dot;
pub mod json;
pub mod output;
pub mod parquet;
pub mod speedscope;

use std::io::{self, Write};

use rustc_hash::FxHashMap;

use crate::analysis::Report;
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
    cache: FxHashMap<(u64, bool), std::rc::Rc<[Location]>>,
}

impl RowStacks {
    pub fn new(report: &Report) -> Self {
        RowStacks {
            main_tid: report.header.main_tid,
            skipped: report.header.skipped_frames_on_main_tid,
            cache: FxHashMap::default(),
        }
    }

    /// The frames of `stack_id` for a row whose thread is `tid`, leaf first; the main
    /// thread's outermost frames (those above the tracker) are dropped.
    pub fn frames(
        &mut self,
        report: &mut Report,
        stack_id: u64,
        tid: u64,
    ) -> std::rc::Rc<[Location]> {
        let on_main = tid == self.main_tid;
        let skip = if on_main { self.skipped } else { 0 };
        self.cache
            .entry((stack_id, on_main))
            .or_insert_with(|| report.stacks.stack(stack_id, skip).into())
            .clone()
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
