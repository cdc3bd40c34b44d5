//! The `memform` command line: `memform transform <format> …`, compatible with
//! `memray transform`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::analysis::ReportMode;
use crate::convert::Conversion;
use crate::error::{CaptureError, Error};
use crate::progress::Bar;
use crate::report::parquet::{Codec, DEFAULT_ROW_GROUP_SIZE};
use crate::report::Format;

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

/// Runs the command line of this process and returns its exit code.
pub fn main() -> i32 {
    main_from(std::env::args_os())
}

/// Runs the command line `args` (the program's name first) and returns the exit code: the
/// `memform` binary, and the `memform` command of the Python wheel.
pub fn main_from<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
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
    let format =
        Format::from_name(&args.format).ok_or_else(|| Error::UnknownFormat(args.format.clone()))?;
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
    let mut conversion = Conversion::new(&args.results, format);
    if let Some(output) = &args.output {
        conversion.output = output.clone();
    }
    conversion.mode = report_mode(args);
    conversion.force = args.force;
    conversion.threads = args.threads.unwrap_or(0);
    conversion.compression = args.compression.unwrap_or_default();
    conversion.row_group_size = args.row_group_size.unwrap_or(DEFAULT_ROW_GROUP_SIZE);
    conversion.remove_on_signal = true;
    let mut progress = Bar::for_stderr(args.quiet);
    let converted = conversion.run(progress.as_mut())?;
    if let Some(warning) = &converted.warning {
        eprintln!("memform: warning: {warning}");
    }
    if !args.quiet {
        let mut stdout = std::io::stdout();
        let _ = writeln!(stdout, "Wrote {}", converted.output.display());
    }
    Ok(())
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
