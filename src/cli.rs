//! The `memform` command line: `memform transform <format> …`, compatible with
//! `memray transform`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::analysis::{self, ReportMode};
use crate::capture::{CaptureFile, StreamEnd};
use crate::error::{CaptureError, Error};
use crate::progress::Bar;
use crate::report::output::PendingOutput;
use crate::report::parquet::{Codec, DEFAULT_ROW_GROUP_SIZE};
use crate::report::{Format, ParquetOptions};

#[derive(Debug, Parser)]
#[command(
    name = "memform",
    version,
    about = "Convert memray capture files into reports, fast and memray-identical"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate report files in different formats (like `memray transform`)
    Transform(TransformArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("report").multiple(false).args(["leaks", "temporary_allocation_threshold", "temporary_allocations"])))]
struct TransformArgs {
    /// Format to use for the report. Available formats: gprof2dot, csv, speedscope, parquet
    format: String,
    /// Results of the tracker run (a memray capture file)
    results: PathBuf,
    /// Output file name
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// If the output file already exists, overwrite it
    #[arg(short, long)]
    force: bool,
    /// Show memory leaks, instead of peak memory usage
    #[arg(long)]
    leaks: bool,
    /// Report temporary allocations: those freed after at most N other allocations of
    /// their thread (N=0: freed before any other allocation)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    temporary_allocation_threshold: Option<i64>,
    /// Equivalent to --temporary-allocation-threshold=1
    #[arg(long)]
    temporary_allocations: bool,
    /// No progress bar and no "Wrote" line
    #[arg(short, long)]
    quiet: bool,
    /// Threads: 1 decodes and analyses on one thread; 2 (the default) decodes on a second
    /// thread while the first analyses. More are accepted and use two.
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    threads: Option<usize>,
    /// Parquet only: compression codec, one of zstd, snappy, gzip, lz4, none [default: zstd]
    #[arg(long, value_name = "CODEC", value_parser = parse_codec)]
    compression: Option<Codec>,
    /// Parquet only: rows per row group [default: 65536]
    #[arg(long, value_name = "N", value_parser = parse_row_group_size)]
    row_group_size: Option<usize>,
}

fn parse_codec(s: &str) -> Result<Codec, String> {
    Codec::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Codec::ALL.iter().map(|c| c.name()).collect();
        format!("unknown codec {s:?}; expected one of {}", names.join(", "))
    })
}

fn parse_threads(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a positive number of threads, got {s:?}")),
    }
}

fn parse_row_group_size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a positive number of rows, got {s:?}")),
    }
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Transform(args) => match transform(&args) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("memform: error: {e}");
                1
            }
        },
    }
}

/// memray's `determine_output_filename`: `memray-<format>-<name>` beside the capture, where
/// `<name>` is the capture's file name with its suffix replaced and a `memray-` prefix
/// dropped.
pub fn default_output_path(results: &Path, format: Format) -> PathBuf {
    let name = results
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // pathlib's suffix: the last dot, unless it starts the name or ends it.
    let stem = match name.rfind('.') {
        Some(i) if i > 0 && i < name.len() - 1 => &name[..i],
        _ => name.as_str(),
    };
    let mut output = format!("{stem}{}", format.suffix());
    if let Some(rest) = output.strip_prefix("memray-") {
        output = rest.to_string();
    }
    results
        .parent()
        .unwrap_or(Path::new(""))
        .join(format!("memray-{}-{output}", format.name()))
}

fn report_mode(args: &TransformArgs) -> ReportMode {
    if args.leaks {
        ReportMode::Leaks
    } else if args.temporary_allocations {
        ReportMode::Temporary { threshold: 1 }
    } else {
        match args.temporary_allocation_threshold {
            // memray treats a negative threshold as "no temporary report".
            Some(n) if n >= 0 => ReportMode::Temporary {
                threshold: n as u64,
            },
            _ => ReportMode::Peak,
        }
    }
}

fn transform(args: &TransformArgs) -> Result<(), Error> {
    let format = Format::from_name(&args.format)
        .ok_or_else(|| Error::Usage(format!("Format not supported: {}", args.format)))?;
    if format != Format::Parquet {
        let misplaced = [
            ("--compression", args.compression.is_some()),
            ("--row-group-size", args.row_group_size.is_some()),
        ];
        if let Some((flag, _)) = misplaced.iter().find(|(_, given)| *given) {
            return Err(Error::Usage(format!(
                "{flag} applies only to the parquet format, not {}",
                format.name()
            )));
        }
    }
    if !args.results.is_file() {
        return Err(Error::Usage(format!(
            "No such file: {}",
            args.results.display()
        )));
    }
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_output_path(&args.results, format));
    if !args.force && output.exists() {
        return Err(Error::Usage(format!(
            "File already exists, will not overwrite without --force: {}",
            output.display()
        )));
    }
    if is_same_file(&output, &args.results) {
        return Err(Error::Usage(format!(
            "Refusing to write the report over the capture itself: {}",
            output.display()
        )));
    }
    if output.is_dir() {
        return Err(Error::Usage(format!(
            "Cannot write the report to {}: it is a directory",
            output.display()
        )));
    }
    let mode = report_mode(args);
    let capture = CaptureFile::open(&args.results)?;
    let mut progress = Bar::for_stderr(args.quiet);
    let options = analysis::Options {
        high_water_mark: format.wants_high_water_mark(),
        threads: args.threads.unwrap_or(0),
    };
    let mut report = analysis::compute(&capture, mode, options, progress.as_mut())?;
    warn_about_end(&capture, &report);

    let write_error = |source| Error::Write {
        path: output.clone(),
        source,
    };
    let parquet = ParquetOptions {
        compression: args.compression.unwrap_or_default(),
        row_group_size: args.row_group_size.unwrap_or(DEFAULT_ROW_GROUP_SIZE),
        ..ParquetOptions::for_capture(&args.results)
    };
    crate::interrupt::install();
    let mut pending = PendingOutput::create(&output).map_err(write_error)?;
    let guard = pending.temp_path().map(crate::interrupt::guard);
    format
        .write(&mut report, pending.file(), &parquet)
        .map_err(write_error)?;
    pause_before_commit();
    pending.commit().map_err(write_error)?;
    drop(guard);
    if !args.quiet {
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "Wrote {}", output.display());
    }
    Ok(())
}

/// Test hook: `MEMFORM_PAUSE_BEFORE_COMMIT_MS` holds a finished report in its temporary file
/// for that long, so the tests can interrupt a run at the one moment a file exists.
fn pause_before_commit() {
    if let Some(ms) = std::env::var_os("MEMFORM_PAUSE_BEFORE_COMMIT_MS")
        .and_then(|v| v.to_str().and_then(|s| s.parse::<u64>().ok()))
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Whether `a` and `b` name the same existing file (device and inode).
fn is_same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// A capture without a trailer is reported on, like memray does, from the records before
/// the damage; say so.
fn warn_about_end(capture: &CaptureFile, report: &analysis::Report) {
    let where_ = |offset: u64| {
        if capture.is_compressed() {
            format!("decompressed byte {offset}")
        } else {
            format!("byte {offset}")
        }
    };
    let what = match report.end {
        StreamEnd::Trailer => return,
        StreamEnd::Truncated { offset, mid_record } => format!(
            "{}: the record stream ends at {}{} without a trailer (was the process killed?)",
            capture.path().display(),
            where_(offset),
            if mid_record { " inside a record" } else { "" },
        ),
        StreamEnd::Padding { offset } => format!(
            "{}: zero padding at {} ends the record stream (was the process killed?)",
            capture.path().display(),
            where_(offset),
        ),
    };
    eprintln!(
        "memform: warning: {what}; reporting the {} allocation records before it",
        report.total_allocations
    );
}

impl From<std::convert::Infallible> for Error {
    fn from(e: std::convert::Infallible) -> Self {
        match e {}
    }
}

#[allow(dead_code)]
fn _assert_error_is_send(e: CaptureError) -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_output_names_follow_memray() {
        let p = |s: &str, f| default_output_path(Path::new(s), f);
        assert_eq!(
            p("dir/run.bin", Format::Csv),
            PathBuf::from("dir/memray-csv-run.csv")
        );
        assert_eq!(
            p("memray-app.123.bin", Format::Gprof2dot),
            PathBuf::from("memray-gprof2dot-app.123.json")
        );
        assert_eq!(
            p("noext", Format::Csv),
            PathBuf::from("memray-csv-noext.csv")
        );
        assert_eq!(
            p(".hidden", Format::Csv),
            PathBuf::from("memray-csv-.hidden.csv")
        );
        assert_eq!(
            p("dir/run.bin", Format::Speedscope),
            PathBuf::from("dir/memray-speedscope-run.speedscope.json")
        );
        assert_eq!(
            p("memray-run.bin", Format::Parquet),
            PathBuf::from("memray-parquet-run.parquet")
        );
    }
}
