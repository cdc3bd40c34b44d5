//! The output formats of `memform transform` ([`Format`]): their names, suffixes and
//! descriptions, which of them are reports, and the [`ReportWriter`] of each report format
//! (the picture renderers, such as [`crate::flamegraph`], beside the writers of
//! [`crate::report`]). The formats that are not reports are written by passes of their own
//! ([`crate::convert`] dispatches them).

use std::io::{self, Write};

use crate::analysis::Report;
use crate::report::{
    csv, folded, gprof2dot, pprof, speedscope, write_report, FoldedValue, ParquetOptions,
    ReportRow, ReportWriter,
};

/// An output format of `memform transform`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Gprof2dot,
    Speedscope,
    /// memform's own: not a memray format.
    Parquet,
    /// memform's own: folded stacks for flamegraph.pl and inferno.
    Folded,
    /// memform's own: gzipped pprof `profile.proto`.
    Pprof,
    /// memform's own: an SVG flame graph drawn by inferno ([`crate::flamegraph`]).
    Flamegraph,
    /// memform's own, and not a report: the events dataset, a folder of Parquet tables of
    /// every allocation ([`crate::events`]).
    Events,
    /// Not a report: the capture rewritten as memray's aggregated capture (what
    /// `memray run --aggregate` writes), by its own pass over the capture
    /// ([`crate::aggregate`]).
    Aggregate,
    /// Not a report: memray's statistics of the whole capture, the document `memray stats
    /// --json` writes ([`crate::stats`]); beside reports, counted from the same read.
    Stats,
    /// memform's own, and not a report: the heap and resident sizes over the capture's
    /// time as an SVG picture ([`crate::timeline`]); beside reports, from the same read.
    Timeline,
}

impl Format {
    /// The report formats: those written from an analysis by a [`ReportWriter`], in any
    /// report mode, several from one read: memray's, in the order memray lists them, then
    /// memform's own.
    pub const REPORTS: [Format; 7] = [
        Format::Gprof2dot,
        Format::Csv,
        Format::Speedscope,
        Format::Parquet,
        Format::Folded,
        Format::Pprof,
        Format::Flamegraph,
    ];

    /// Every format: the reports, then those made of the whole capture by their own pass.
    pub const ALL: [Format; 11] = [
        Format::Gprof2dot,
        Format::Csv,
        Format::Speedscope,
        Format::Parquet,
        Format::Folded,
        Format::Pprof,
        Format::Flamegraph,
        Format::Events,
        Format::Aggregate,
        Format::Stats,
        Format::Timeline,
    ];

    /// Whether it is a report of one mode (peak, leaks, temporary), written by a
    /// [`ReportWriter`] from an analysis; the others are made of the whole capture, in no
    /// report mode (see [`Format::is_written_alone`]).
    pub fn is_report(self) -> bool {
        Format::REPORTS.contains(&self)
    }

    /// Whether it is written alone, by its own pass over the capture (the events dataset
    /// and the aggregated capture); the statistics and the timeline can also join reports'
    /// read.
    pub fn is_written_alone(self) -> bool {
        matches!(self, Format::Events | Format::Aggregate)
    }

    /// Whether its output is a folder rather than a file.
    pub fn is_folder(self) -> bool {
        self == Format::Events
    }

    /// The format named `name`, case-insensitively, as `memray transform` matches it.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == name.to_lowercase())
    }

    /// What the format writes, in one line (`memform transform --help`).
    pub fn description(self) -> &'static str {
        match self {
            Format::Csv => "memray's CSV report: a row per stack, thread and allocator",
            Format::Gprof2dot => "memray's gprof2dot JSON, for gprof2dot's call graphs",
            Format::Speedscope => "memray's speedscope JSON, for speedscope.app",
            Format::Parquet => "the CSV report's rows as Parquet, for pandas, polars, DuckDB",
            Format::Folded => "folded stacks, for flamegraph.pl and inferno",
            Format::Pprof => "a gzipped pprof profile, for go tool pprof, Pyroscope, Grafana",
            Format::Flamegraph => "the report as an SVG flame graph (inferno)",
            Format::Events => {
                "written alone: a folder of Parquet tables of every allocation and its lifetime"
            }
            Format::Aggregate => "written alone: the capture as memray's aggregated capture",
            Format::Stats => "memray's statistics (memray stats --json); also beside reports",
            Format::Timeline => {
                "the heap and resident sizes over time as an SVG; also beside reports"
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Gprof2dot => "gprof2dot",
            Format::Speedscope => "speedscope",
            Format::Parquet => "parquet",
            Format::Folded => "folded",
            Format::Pprof => "pprof",
            Format::Flamegraph => "flamegraph",
            Format::Events => "events",
            Format::Aggregate => "aggregate",
            Format::Stats => "stats",
            Format::Timeline => "timeline",
        }
    }

    /// The suffix of the default output file name.
    pub fn suffix(self) -> &'static str {
        match self {
            Format::Csv => ".csv",
            Format::Gprof2dot => ".json",
            Format::Speedscope => ".speedscope.json",
            Format::Parquet => ".parquet",
            Format::Folded => ".folded",
            Format::Pprof => ".pb.gz",
            Format::Flamegraph => ".svg",
            Format::Events => "",
            Format::Aggregate => ".bin",
            Format::Stats => ".json",
            Format::Timeline => ".svg",
        }
    }

    /// Whether the report should carry its high-water mark whatever its mode (Parquet
    /// records it in its metadata, the flame graph's subtitle gives it).
    pub fn wants_high_water_mark(self) -> bool {
        matches!(self, Format::Parquet | Format::Flamegraph)
    }

    /// A writer of this format into `out`; `parquet` applies to [`Format::Parquet`] only
    /// (and folded stacks give bytes: [`Format::writer_with`] chooses).
    pub fn writer<'w, W: Write + Send + 'w>(
        self,
        out: W,
        parquet: &ParquetOptions,
    ) -> Box<dyn ReportWriter + 'w> {
        self.writer_with(out, &WriterOptions::from(parquet.clone()))
    }

    /// A writer of this format into `out`, with the options of its format in `options`.
    pub fn writer_with<'w, W: Write + Send + 'w>(
        self,
        out: W,
        options: &WriterOptions,
    ) -> Box<dyn ReportWriter + 'w> {
        match self {
            Format::Csv => Box::new(csv::CsvWriter::new(out)),
            Format::Gprof2dot => Box::new(gprof2dot::Gprof2dotWriter::new(out)),
            Format::Speedscope => Box::new(speedscope::SpeedscopeWriter::new(out)),
            Format::Parquet => Box::new(crate::report::parquet::ParquetWriter::new(
                out,
                options.parquet.clone(),
            )),
            Format::Folded => Box::new(folded::FoldedWriter::new(out, options.folded)),
            Format::Pprof => Box::new(pprof::PprofWriter::new(out)),
            Format::Flamegraph => Box::new(crate::flamegraph::FlamegraphWriter::new(
                out,
                options.folded,
                options.parquet.capture.file_name(),
            )),
            Format::Events | Format::Aggregate | Format::Stats | Format::Timeline => {
                Box::new(NotAReport(self))
            }
        }
    }

    /// Writes `report` in this format ([`Format::writer`] driven by [`write_report`]).
    pub fn write<W: Write + Send>(
        self,
        report: &mut Report,
        out: W,
        parquet: &ParquetOptions,
    ) -> io::Result<()> {
        write_report(report, &mut *self.writer(out, parquet))
    }
}

/// The writer of a format that is not a report ([`Format::is_report`]): conversions write
/// those by their own pass, so it only ever says so.
struct NotAReport(Format);

impl ReportWriter for NotAReport {
    fn begin(&mut self, _: &Report) -> io::Result<()> {
        Err(io::Error::other(format!(
            "{} is not a report format: it is written from the whole capture",
            self.0.name()
        )))
    }

    fn row(&mut self, _: &ReportRow<'_>) -> io::Result<()> {
        Ok(())
    }

    fn finish(&mut self, _: &Report) -> io::Result<()> {
        Ok(())
    }
}

/// The options of the formats that have some: each applies to its format only.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    pub parquet: ParquetOptions,
    /// What a folded line's value counts.
    pub folded: FoldedValue,
}

impl From<ParquetOptions> for WriterOptions {
    fn from(parquet: ParquetOptions) -> WriterOptions {
        WriterOptions {
            parquet,
            folded: FoldedValue::default(),
        }
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
        assert_eq!(Format::from_name("Folded"), Some(Format::Folded));
        assert_eq!(Format::from_name("Aggregate"), Some(Format::Aggregate));
        assert_eq!(Format::from_name("html"), None);
        assert_eq!(Format::from_name("EVENTS"), Some(Format::Events));
        assert!(Format::REPORTS.iter().all(|f| f.is_report()));
        assert_eq!(Format::from_name("Stats"), Some(Format::Stats));
        assert!(!Format::Events.is_report() && !Format::Aggregate.is_report());
        assert!(!Format::Stats.is_report() && !Format::Stats.is_written_alone());
        assert!(Format::Events.is_written_alone() && Format::Aggregate.is_written_alone());
        assert_eq!(Format::from_name("Timeline"), Some(Format::Timeline));
        assert!(!Format::Timeline.is_report() && !Format::Timeline.is_written_alone());
        assert_eq!(Format::Timeline.suffix(), ".svg");
        assert_eq!(Format::ALL.len(), Format::REPORTS.len() + 4);
    }
}
