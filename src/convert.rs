//! One capture into its report files: the checks made before anything is read (the capture
//! exists, the outputs may be written), the analysis, made once, and the safe write of each
//! report (a temporary file renamed over the target). A [`Conversion`] has one target (a
//! format and its file) or several, each written from the same analysis with the same
//! bytes as alone. The command line (one capture or many) and the Python module both
//! convert through [`Conversion`].

use std::path::{Path, PathBuf};

use crate::analysis::pipeline::SideConsumer;
use crate::analysis::{self, Report, ReportMode};
pub use crate::capture::{check_capture, end_warning};
use crate::capture::{CaptureFile, EventBatch, FileFormat};
use crate::error::{CaptureError, Error};
use crate::format::{Format, WriterOptions};
use crate::output_names::{default_output_path, output_in_dir};
use crate::progress::Progress;
use crate::report::output::{check_target, write_file};
use crate::report::parquet::{Codec, DEFAULT_ROW_GROUP_SIZE};
use crate::report::{FoldedValue, ParquetOptions, ResolvedStacks};
use crate::stats::compute::StatsPass;
use crate::stats::Stats;
use crate::timeline::{Timeline, TimelinePass};

/// One report of a conversion: its format and its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub format: Format,
    pub output: PathBuf,
}

/// What to convert, and how.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The capture file.
    pub capture: PathBuf,
    /// The reports to write (at least one), in this order, all from one analysis.
    pub targets: Vec<Target>,
    pub mode: ReportMode,
    /// Overwrite existing report files.
    pub force: bool,
    /// Threads of the analysis (see [`analysis::Options::threads`]; 0: the default).
    pub threads: usize,
    /// Parquet only.
    pub compression: Codec,
    /// Parquet only: rows per row group.
    pub row_group_size: usize,
    /// Folded only: what a line's value counts.
    pub folded_value: FoldedValue,
    /// Stats only: how many locations and modules each top list has at most.
    pub num_largest: usize,
    /// Remove the temporary files on SIGINT, SIGTERM or SIGHUP (the command line's
    /// behaviour; a library inside another program leaves its signals alone).
    pub remove_on_signal: bool,
}

/// A capture converted: each target's report written, or why not.
#[derive(Debug)]
pub struct Converted {
    /// Each target's result, in the order of [`Conversion::targets`]: the report file, or
    /// the error that kept that one report from being written (the others are written
    /// all the same).
    pub reports: Vec<Result<PathBuf, Error>>,
    /// Said of a capture whose record stream ends without a trailer (see [`end_warning`]).
    pub warning: Option<String>,
}

impl Converted {
    /// Whether every report was written.
    pub fn is_complete(&self) -> bool {
        self.reports.iter().all(Result::is_ok)
    }

    /// The files written, in target order.
    pub fn written(&self) -> impl Iterator<Item = &Path> {
        self.reports
            .iter()
            .filter_map(|r| r.as_ref().ok().map(PathBuf::as_path))
    }

    /// For a conversion of one target: its report file, or its error.
    pub fn into_first(self) -> Result<PathBuf, Error> {
        self.reports
            .into_iter()
            .next()
            .unwrap_or_else(|| Err(Error::Usage("no report to write".to_string())))
    }
}

impl Conversion {
    /// `capture` into `format`, peak report, in memray's default file beside the capture
    /// ([`default_output_path`]).
    pub fn new(capture: &Path, format: Format) -> Conversion {
        Conversion::with_formats(capture, &[format])
    }

    /// `capture` into each of `formats`, peak report, each in its default file beside the
    /// capture.
    pub fn with_formats(capture: &Path, formats: &[Format]) -> Conversion {
        let row_group_size = if formats.contains(&Format::Events) {
            crate::events::DEFAULT_ROW_GROUP_ROWS
        } else {
            DEFAULT_ROW_GROUP_SIZE
        };
        Conversion {
            capture: capture.to_path_buf(),
            targets: formats
                .iter()
                .map(|&format| Target {
                    format,
                    output: default_output_path(capture, format),
                })
                .collect(),
            mode: ReportMode::Peak,
            force: false,
            threads: 0,
            compression: Codec::default(),
            row_group_size,
            folded_value: FoldedValue::default(),
            num_largest: crate::stats::DEFAULT_NUM_LARGEST,
            remove_on_signal: false,
        }
    }

    /// Each report under its default file name inside `dir` (the `--output-dir` rule,
    /// [`output_in_dir`]).
    pub fn put_in_dir(&mut self, dir: &Path) {
        for target in &mut self.targets {
            target.output = output_in_dir(dir, &self.capture, target.format);
        }
    }

    /// The formats of the targets, in order.
    pub fn formats(&self) -> Vec<Format> {
        self.targets.iter().map(|t| t.format).collect()
    }

    /// The checks made before the capture is read: it is a file; there is a target, and
    /// no output exists (unless `force`), is the capture itself, is a directory, or is
    /// another target's. One failing refuses the whole conversion: nothing is written.
    pub fn check(&self) -> Result<(), Error> {
        check_capture(&self.capture)?;
        if self.targets.is_empty() {
            return Err(Error::Usage("no report to write".to_string()));
        }
        check_capture_formats(&self.formats(), self.mode)?;
        for (i, target) in self.targets.iter().enumerate() {
            let output = &target.output;
            check_target(output, &[&self.capture], self.force)?;
            if target.format.is_folder() {
                if output.exists() {
                    crate::events::pending_dir::check_replaceable(
                        output,
                        self.force,
                        &crate::events::FILES,
                    )
                    .map_err(|source| Error::Write {
                        path: output.clone(),
                        source,
                    })?;
                }
            } else if output.is_dir() {
                return Err(Error::OutputIsDirectory(output.clone()));
            }
            if self.targets[..i].iter().any(|t| t.output == *output) {
                return Err(Error::Usage(format!(
                    "two reports would both be written to {}",
                    output.display()
                )));
            }
        }
        Ok(())
    }

    /// Checks, reads and analyses the capture once, and writes each target's report in
    /// turn. An error of the checks or of the capture is the conversion's (`Err`: nothing
    /// written); an error writing one report is that report's (in [`Converted::reports`]),
    /// and the next ones are still written.
    pub fn run(&self, progress: &mut dyn Progress) -> Result<Converted, Error> {
        self.check()?;
        let capture = CaptureFile::open(&self.capture)?;
        // The formats that are not reports are written alone (checked), each by its pass;
        // so are the statistics when no report is asked for.
        if let [target] = self.targets.as_slice() {
            match target.format {
                Format::Events => return self.write_events(&capture, target, progress),
                Format::Aggregate => return self.write_aggregate(&capture, target, progress),
                Format::Stats => return self.write_stats_alone(&capture, target, progress),
                Format::Timeline => return self.write_timeline_alone(&capture, target, progress),
                _ => {}
            }
        }
        let options = analysis::Options {
            high_water_mark: self
                .targets
                .iter()
                .any(|t| t.format.wants_high_water_mark()),
            threads: self.threads,
        };
        // The statistics and the timeline, if asked for, follow the batches the analysis
        // reads (on one side thread).
        let wants = |format| self.targets.iter().any(|t| t.format == format);
        let (wants_stats, wants_timeline) = (wants(Format::Stats), wants(Format::Timeline));
        let mut pass = StatsPass::default();
        let mut line = TimelinePass::default();
        let mut count = |batch: &EventBatch| {
            if wants_stats {
                pass.consume(batch);
            }
            if wants_timeline {
                line.consume(batch);
            }
        };
        let side: Option<SideConsumer<'_>> = if wants_stats || wants_timeline {
            Some(&mut count)
        } else {
            None
        };
        let mut report = analysis::compute_with(&capture, self.mode, options, side, progress)?;
        let warning = end_warning(&capture, report.end, report.total_allocations);
        let mut stats = wants_stats.then(|| self.stats_of_report(pass, &mut report));
        let mut timeline = wants_timeline.then(|| self.timeline_of_report(line, &report));
        // Resolving fails only past 2^32 distinct stacks; then no report can be written.
        let stacks = ResolvedStacks::resolve(&mut report);
        let writer_options = WriterOptions {
            parquet: ParquetOptions {
                compression: self.compression,
                row_group_size: self.row_group_size,
                ..ParquetOptions::for_capture(&self.capture)
            },
            folded: self.folded_value,
        };
        let reports = self
            .targets
            .iter()
            .map(|target| match (&stacks, target.format) {
                // One stats target at most (`check`): its statistics are taken once.
                (_, Format::Stats) => match stats.take() {
                    Some(stats) => self.write_stats(stats?, target),
                    None => Err(Error::Usage("the stats format is listed twice".to_string())),
                },
                (_, Format::Timeline) => match timeline.take() {
                    Some(timeline) => self.write_timeline(&timeline?, target),
                    None => Err(Error::Usage(
                        "the timeline format is listed twice".to_string(),
                    )),
                },
                (Ok(stacks), _) => self
                    .write(&report, stacks, target, &writer_options)
                    .map(|()| target.output.clone()),
                (Err(e), _) => Err(Error::Write {
                    path: target.output.clone(),
                    source: std::io::Error::new(e.kind(), e.to_string()),
                }),
            })
            .collect();
        Ok(Converted { reports, warning })
    }

    /// The statistics that `pass` counted beside the analysis of `report` (none for an
    /// aggregated capture: [`CaptureError::StatsOnAggregated`]).
    fn stats_of_report(&self, pass: StatsPass, report: &mut Report) -> Result<Stats, CaptureError> {
        if report.header.file_format == FileFormat::AggregatedAllocations {
            return Err(CaptureError::StatsOnAggregated {
                path: self.capture.clone(),
            });
        }
        let statistics = pass.finish(report.header.clone(), report.total_allocations, report.end);
        Ok(crate::stats::summarize(
            statistics,
            &mut report.stacks,
            self.num_largest,
        ))
    }

    /// The timeline that `pass` followed beside the analysis of `report` (none for an
    /// aggregated capture: [`CaptureError::TimelineOnAggregated`]).
    fn timeline_of_report(
        &self,
        pass: TimelinePass,
        report: &Report,
    ) -> Result<Timeline, CaptureError> {
        crate::timeline::check_format(&report.header, &self.capture)?;
        Ok(pass.finish(&report.header))
    }

    /// Writes the timeline of `capture` alone ([`crate::timeline`]: its own pass, which
    /// needs no analysis) into `target`'s file.
    fn write_timeline_alone(
        &self,
        capture: &CaptureFile,
        target: &Target,
        progress: &mut dyn Progress,
    ) -> Result<Converted, Error> {
        let read = crate::timeline::timeline(capture, self.threads, progress)?;
        let warning = end_warning(capture, read.end, read.timeline.events);
        Ok(Converted {
            reports: vec![self.write_timeline(&read.timeline, target)],
            warning,
        })
    }

    /// Writes the SVG picture of `timeline` into `target`'s file.
    fn write_timeline(&self, timeline: &Timeline, target: &Target) -> Result<PathBuf, Error> {
        let name = crate::output_names::file_name(&self.capture);
        self.write_with(target, |file| {
            crate::timeline::write_svg(&mut std::io::BufWriter::new(file), timeline, &name)
        })
        .map(|()| target.output.clone())
    }

    /// Writes the statistics of `capture` alone ([`crate::stats`]: their own pass, which
    /// needs no analysis) into `target`'s file.
    fn write_stats_alone(
        &self,
        capture: &CaptureFile,
        target: &Target,
        progress: &mut dyn Progress,
    ) -> Result<Converted, Error> {
        let stats = crate::stats::stats(capture, self.num_largest, self.threads, progress)?;
        let warning = end_warning(capture, stats.end, stats.records);
        Ok(Converted {
            reports: vec![self.write_stats(stats, target)],
            warning,
        })
    }

    /// Writes the JSON document of `stats` into `target`'s file (where memray could not draw
    /// it, the error that says why).
    fn write_stats(&self, stats: Stats, target: &Target) -> Result<PathBuf, Error> {
        let document = stats.json(&self.capture)?;
        self.write_with(target, |file| {
            use std::io::Write as _;
            file.write_all(document.as_bytes())
        })
        .map(|()| target.output.clone())
    }

    /// Writes the events dataset of `capture` ([`crate::events`]) into `target`'s folder.
    fn write_events(
        &self,
        capture: &CaptureFile,
        target: &Target,
        progress: &mut dyn Progress,
    ) -> Result<Converted, Error> {
        let options = crate::events::EventsOptions {
            compression: self.compression,
            row_group_size: self.row_group_size,
            threads: self.threads,
            force: self.force,
            remove_on_signal: self.remove_on_signal,
        };
        let summary = crate::events::write_dataset(capture, &target.output, &options, progress)?;
        Ok(Converted {
            reports: vec![Ok(target.output.clone())],
            warning: end_warning(capture, summary.end, summary.events),
        })
    }

    /// Writes the aggregated capture of `capture` ([`crate::aggregate`]) into `target`'s
    /// file: its own pass over the capture, then the safe write of its file.
    fn write_aggregate(
        &self,
        capture: &CaptureFile,
        target: &Target,
        progress: &mut dyn Progress,
    ) -> Result<Converted, Error> {
        let aggregated = crate::aggregate::aggregate(capture, self.threads, progress)?;
        let warning = end_warning(capture, aggregated.end, aggregated.allocations);
        let written = self
            .write_with(target, |file| crate::aggregate::write(file, &aggregated))
            .map(|()| target.output.clone());
        Ok(Converted {
            reports: vec![written],
            warning,
        })
    }

    /// Writes one target's report into its temporary file and renames it into place.
    fn write(
        &self,
        report: &Report,
        stacks: &ResolvedStacks,
        target: &Target,
        options: &WriterOptions,
    ) -> Result<(), Error> {
        self.write_with(target, |file| {
            let mut writer = target.format.writer_with(file, options);
            crate::report::write_resolved(report, stacks, &mut *writer)
        })
    }

    /// Writes `target`'s file with `write` ([`write_file`]).
    fn write_with(
        &self,
        target: &Target,
        write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
    ) -> Result<(), Error> {
        write_file(&target.output, self.remove_on_signal, write).map_err(|source| Error::Write {
            path: target.output.clone(),
            source,
        })
    }
}

/// The formats of a comma-separated list such as `csv,parquet,speedscope`, each matched
/// as [`Format::from_name`] matches it. An unknown name is memray's `Format not supported:
/// <name>` (the whole list when a name is empty); a format given twice is a usage error.
pub fn parse_formats(list: &str) -> Result<Vec<Format>, Error> {
    let mut formats: Vec<Format> = Vec::new();
    for name in list.split(',') {
        if name.is_empty() {
            return Err(Error::UnknownFormat(list.to_string()));
        }
        let format =
            Format::from_name(name).ok_or_else(|| Error::UnknownFormat(name.to_string()))?;
        if formats.contains(&format) {
            return Err(Error::Usage(format!(
                "format {} is listed twice in {list:?}",
                format.name()
            )));
        }
        formats.push(format);
    }
    Ok(formats)
}

/// Why the report options do not apply to `format`, one made of the whole capture.
pub fn why_no_report_mode(format: Format) -> &'static str {
    match format {
        Format::Aggregate => "an aggregated capture keeps both the peak and the leaks",
        Format::Stats => "its statistics count every allocation of the capture",
        Format::Timeline => "it follows the heap over the whole capture",
        _ => "it holds every allocation",
    }
}

/// The format of `formats` that a report mode does not apply to: one written alone, or,
/// when no report is listed beside it, the statistics.
pub fn modeless_format(formats: &[Format]) -> Option<Format> {
    let alone = formats.iter().find(|f| f.is_written_alone());
    let no_report = !formats.iter().any(|f| f.is_report());
    alone.or(formats.first().filter(|_| no_report)).copied()
}

/// The rules of the formats that are not reports ([`Format::is_report`]): the events
/// dataset and the aggregated capture are written alone; they and the statistics alone are
/// in no report mode (beside reports, the statistics are the same in every mode).
pub fn check_capture_formats(formats: &[Format], mode: ReportMode) -> Result<(), Error> {
    if let Some(&format) = formats.iter().find(|f| f.is_written_alone()) {
        if formats.len() > 1 {
            let names: Vec<&str> = formats.iter().map(|f| f.name()).collect();
            return Err(Error::Usage(format!(
                "the {} format is written alone, not in a list ({})",
                format.name(),
                names.join(",")
            )));
        }
    }
    match modeless_format(formats) {
        Some(format) if mode != ReportMode::Peak => Err(Error::Usage(format!(
            "--leaks and the temporary-allocation options do not apply to the {} format ({})",
            format.name(),
            why_no_report_mode(format)
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_lists() {
        assert_eq!(parse_formats("csv").unwrap(), [Format::Csv]);
        assert_eq!(
            parse_formats("CSV,parquet,speedscope").unwrap(),
            [Format::Csv, Format::Parquet, Format::Speedscope]
        );
        let unknown = |list| parse_formats(list).unwrap_err().to_string();
        assert_eq!(unknown("csv,html"), "Format not supported: html");
        assert_eq!(unknown("csv,"), "Format not supported: csv,");
        assert_eq!(unknown(""), "Format not supported: ");
        assert!(matches!(parse_formats("csv,Csv"), Err(Error::Usage(_))));
    }

    #[test]
    fn checks_refuse_what_the_command_line_refuses() {
        let dir = std::env::temp_dir().join(format!("memform-convert-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let capture = dir.join("run.bin");
        std::fs::write(&capture, b"memray\0").unwrap();
        let mut c = Conversion::new(&dir.join("missing.bin"), Format::Csv);
        assert!(matches!(c.check(), Err(Error::CaptureNotFound(_))));
        c = Conversion::new(&capture, Format::Csv);
        assert!(c.check().is_ok());
        c.targets[0].output = capture.clone();
        assert!(matches!(c.check(), Err(Error::OutputExists(_))));
        c.force = true;
        assert!(matches!(c.check(), Err(Error::OutputIsCapture(_))));
        c.targets[0].output = dir.clone();
        assert!(matches!(c.check(), Err(Error::OutputIsDirectory(_))));
        c = Conversion::with_formats(&capture, &[Format::Csv, Format::Folded]);
        assert!(c.check().is_ok());
        c.targets[1].output = c.targets[0].output.clone();
        assert!(matches!(c.check(), Err(Error::Usage(_))));
        c.targets.clear();
        assert!(matches!(c.check(), Err(Error::Usage(_))));
        c = Conversion::with_formats(&capture, &[Format::Csv, Format::Aggregate]);
        assert!(matches!(c.check(), Err(Error::Usage(_))));
        c = Conversion::new(&capture, Format::Aggregate);
        assert!(c.check().is_ok());
        c.mode = ReportMode::Leaks;
        assert!(matches!(c.check(), Err(Error::Usage(_))));
        // The statistics join reports in any mode, and take none alone.
        c = Conversion::with_formats(&capture, &[Format::Csv, Format::Stats]);
        c.mode = ReportMode::Leaks;
        assert!(c.check().is_ok());
        c = Conversion::new(&capture, Format::Stats);
        assert!(c.check().is_ok());
        c.mode = ReportMode::Temporary { threshold: 1 };
        assert!(matches!(c.check(), Err(Error::Usage(_))));
        c = Conversion::with_formats(&capture, &[Format::Stats, Format::Events]);
        assert!(matches!(c.check(), Err(Error::Usage(_))));
        // So does the timeline.
        c = Conversion::with_formats(&capture, &[Format::Csv, Format::Timeline]);
        c.mode = ReportMode::Leaks;
        assert!(c.check().is_ok());
        c = Conversion::new(&capture, Format::Timeline);
        assert!(c.check().is_ok());
        c.mode = ReportMode::Leaks;
        assert!(matches!(c.check(), Err(Error::Usage(_))));
        c = Conversion::with_formats(&capture, &[Format::Timeline, Format::Aggregate]);
        assert!(matches!(c.check(), Err(Error::Usage(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
