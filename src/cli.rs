//! The `memform` command line: `memform transform <format> …`, compatible with
//! `memray transform`: argument parsing, and the lines printed. One capture converts as
//! memray's does; several (or `--output-dir`, `--dataset`) make a batch ([`crate::batch`]).
//! A comma-separated list of formats converts each capture once into each format
//! ([`Conversion::with_formats`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::analysis::ReportMode;
use crate::batch::Batch;
use crate::convert::{parse_formats, Conversion, Converted};
use crate::diff::cli::DiffCommand;
use crate::diff::output::{DiffFormat, WriteOptions};
use crate::diff::threshold::Threshold;
use crate::diff::{DiffKey, DiffOptions};
use crate::error::{BatchError, CaptureError, Error};
use crate::format::Format;
use crate::progress::{Bar, Progress, SharedBar};
use crate::report::parquet::Codec;
use crate::report::FoldedValue;
use crate::stats::cli::StatsOptions;

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
    /// Print high level statistics of the memory usage (like `memray stats`)
    Stats(StatsArgs),
    /// Compare the reports of two captures stack by stack: what grew, what shrank
    Diff(DiffArgs),
    /// Print the completion script of a shell (bash, zsh, fish, elvish, powershell)
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the manual page, in roff (e.g. `memform man | man -l -`); of one command with
    /// its name (`memform man diff`)
    Man {
        /// A command: transform, stats, diff, completions
        command: Option<String>,
    },
}

#[derive(Debug, Args)]
struct DiffArgs {
    /// The capture to compare against (the "before")
    base: PathBuf,
    /// The capture compared (the "after")
    new: PathBuf,
    /// Output format: csv (the default), parquet, folded (each stack's base and new values,
    /// the input of inferno's differential flame graph) or flamegraph (a differential SVG:
    /// red grew, blue shrank)
    #[arg(long, value_name = "FORMAT", default_value = "csv", value_parser = parse_diff_format)]
    format: DiffFormat,
    /// Output file name [default: memray-diff-<base name>-<new name>.<ext> beside NEW]
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// If the output file already exists, overwrite it
    #[arg(short, long)]
    force: bool,
    #[command(flatten)]
    report: ReportArgs,
    /// What a row is: the stack alone, its threads and allocators summed (stack), or the
    /// stack, allocator and thread as the CSV report's rows (row)
    #[arg(long, value_name = "stack|row", default_value = "stack", value_parser = parse_diff_key)]
    by: DiffKey,
    /// Exit with status 3 (after writing the output) when the new report's bytes grew by
    /// more than this: bytes (4096, 10MB, 1.5GiB) or a percentage of the base's (5%)
    #[arg(long, value_name = "BYTES|PERCENT", value_parser = Threshold::parse)]
    fail_above: Option<Threshold>,
    /// Folded and flamegraph only: what a stack's values are, bytes or allocation counts
    /// [default: bytes]
    #[arg(long, value_name = "bytes|count", value_parser = parse_folded_value)]
    folded_value: Option<FoldedValue>,
    /// Parquet only: compression codec, one of zstd, snappy, gzip, lz4, none [default: zstd]
    #[arg(long, value_name = "CODEC", value_parser = parse_codec)]
    compression: Option<Codec>,
    /// No progress bar and no "Wrote" line (the summary line stays)
    #[arg(short, long)]
    quiet: bool,
    /// Threads of each capture's analysis (see `transform --threads`)
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    threads: Option<usize>,
}

fn parse_diff_format(s: &str) -> Result<DiffFormat, String> {
    DiffFormat::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = DiffFormat::ALL.iter().map(|f| f.name()).collect();
        format!("unknown format {s:?}; expected one of {}", names.join(", "))
    })
}

fn parse_diff_key(s: &str) -> Result<DiffKey, String> {
    DiffKey::from_name(s).ok_or_else(|| format!("expected stack or row, got {s:?}"))
}

/// The `diff` command's arguments checked: the options of one format refused for another.
fn diff_command(args: DiffArgs) -> Result<DiffCommand, Error> {
    let folded = matches!(args.format, DiffFormat::Folded | DiffFormat::Flamegraph);
    if args.folded_value.is_some() && !folded {
        return Err(Error::Usage(format!(
            "--folded-value applies to the folded and flamegraph formats, not {}",
            args.format.name()
        )));
    }
    if args.compression.is_some() && args.format != DiffFormat::Parquet {
        return Err(Error::Usage(format!(
            "--compression applies to the parquet format, not {}",
            args.format.name()
        )));
    }
    Ok(DiffCommand {
        options: DiffOptions {
            mode: report_mode(&args.report),
            by: args.by,
            threads: args.threads.unwrap_or(0),
        },
        write: WriteOptions {
            value: args.folded_value.unwrap_or_default(),
            compression: args.compression.unwrap_or_default(),
        },
        base: args.base,
        new: args.new,
        format: args.format,
        output: args.output,
        force: args.force,
        quiet: args.quiet,
        fail_above: args.fail_above,
    })
}

#[derive(Debug, Args)]
struct StatsArgs {
    /// Results of the tracker run (memray capture files; several give a report each)
    #[arg(required = true, value_name = "RESULTS")]
    results: Vec<PathBuf>,
    /// Displays the top 'n' largest allocating functions. Default is 5
    #[arg(short = 'n', long = "num-largest", value_name = "NUM_LARGEST", default_value_t = 5, value_parser = parse_num_largest)]
    num_largest: usize,
    /// Exports stats to a JSON file (default memray-stats-<capture name>.json beside the
    /// capture)
    #[arg(long)]
    json: bool,
    /// Output file name for JSON output (one capture only)
    #[arg(short, long, requires = "json")]
    output: Option<PathBuf>,
    /// Write each JSON document into DIR (created if missing), under its default name
    #[arg(long, value_name = "DIR", requires = "json", conflicts_with = "output")]
    output_dir: Option<PathBuf>,
    /// If the JSON output file already exists, overwrite it
    #[arg(short, long)]
    force: bool,
    /// No progress bar and no "Wrote" line
    #[arg(short, long)]
    quiet: bool,
    /// Threads: 1 decodes and counts on one thread; 2 (the default) decodes on a second
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    threads: Option<usize>,
}

fn parse_num_largest(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{s} is an invalid positive int value")),
    }
}

/// Which report: peak (the default), leaks or temporary allocations; one at most.
#[derive(Debug, Args)]
#[group(id = "report", multiple = false)]
struct ReportArgs {
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
}

#[derive(Debug, Args)]
struct TransformArgs {
    /// Format to use for the report, or a comma-separated list of formats (one read of the
    /// capture, a report in each): gprof2dot, csv, speedscope, parquet, folded, pprof,
    /// flamegraph, stats, timeline; written alone: events, aggregate
    #[arg(long_help = formats_help())]
    format: String,
    /// Results of the tracker run (memray capture files; several are converted side by
    /// side, each into its own report)
    #[arg(required = true, value_name = "RESULTS")]
    results: Vec<PathBuf>,
    /// Output file name (one capture only); with several formats, the directory that
    /// receives their reports under their default names
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Write each report into DIR (created if missing), under its default file name
    #[arg(long, value_name = "DIR")]
    output_dir: Option<PathBuf>,
    /// Parquet only: write the reports as one Hive-partitioned dataset,
    /// DIR/capture=<name>/part-0.parquet (<name>: the capture's file name without suffix)
    #[arg(long, value_name = "DIR")]
    dataset: Option<PathBuf>,
    /// Captures converted at once [default: the number of cores]
    #[arg(long, value_name = "N", value_parser = parse_jobs)]
    jobs: Option<usize>,
    /// If the output file already exists, overwrite it
    #[arg(short, long)]
    force: bool,
    #[command(flatten)]
    report: ReportArgs,
    /// No progress bar and no "Wrote" line
    #[arg(short, long)]
    quiet: bool,
    /// Threads: 1 decodes and analyses on one thread; 2 (the default) decodes on a second
    /// thread while the first analyses. More are accepted and use two.
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    threads: Option<usize>,
    /// Parquet and events only: compression codec, one of zstd, snappy, gzip, lz4, none
    /// [default: zstd]
    #[arg(long, value_name = "CODEC", value_parser = parse_codec)]
    compression: Option<Codec>,
    /// Parquet and events only: rows per row group [default: 65536; events: 1048576]
    #[arg(long, value_name = "N", value_parser = parse_row_group_size)]
    row_group_size: Option<usize>,
    /// Folded and flamegraph only: what a stack's value (a box's width) is, its bytes or
    /// its allocation count [default: bytes]
    #[arg(long, value_name = "bytes|count", value_parser = parse_folded_value)]
    folded_value: Option<FoldedValue>,
    /// Stats only: the top N locations and modules [default: 5]
    #[arg(long, value_name = "N", value_parser = parse_num_largest)]
    num_largest: Option<usize>,
}

/// Prints the manual page of memform, or of its `command`, in roff.
fn man_page(command: Option<&str>) -> i32 {
    let cli = Cli::command();
    let page = match command {
        None => cli,
        Some(name) => {
            match cli.find_subcommand(name) {
                Some(sub) => sub.clone().name(format!("memform-{name}")),
                None => {
                    eprintln!("memform: error: no command {name:?}: transform, stats, diff, completions, man");
                    return 1;
                }
            }
        }
    };
    let mut out = std::io::stdout().lock();
    match clap_mangen::Man::new(page).render(&mut out) {
        Ok(()) => 0,
        // A closed pipe (`| head`) is not an error worth a line.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("memform: error: {e}");
            1
        }
    }
}

/// The long help of `transform`'s format: a line per format.
fn formats_help() -> String {
    let mut help = String::from(
        "Format to use for the report, or a comma-separated list of formats (one read of the \
         capture, a report in each):\n",
    );
    for format in Format::ALL {
        help.push_str(&format!(
            "\n  {:<11} {}",
            format.name(),
            format.description()
        ));
    }
    help
}

fn parse_folded_value(s: &str) -> Result<FoldedValue, String> {
    FoldedValue::from_name(s).ok_or_else(|| format!("expected bytes or count, got {s:?}"))
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

fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a positive number of jobs, got {s:?}")),
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
        Command::Stats(args) => crate::stats::cli::run(&StatsOptions {
            captures: args.results,
            num_largest: args.num_largest,
            json: args.json,
            output: args.output,
            output_dir: args.output_dir,
            force: args.force,
            quiet: args.quiet,
            threads: args.threads.unwrap_or(0),
        }),
        Command::Completions { shell } => {
            let mut out = std::io::stdout().lock();
            clap_complete::generate(shell, &mut Cli::command(), "memform", &mut out);
            0
        }
        Command::Man { command } => man_page(command.as_deref()),
        Command::Diff(args) => match diff_command(args) {
            Ok(command) => crate::diff::cli::run(&command),
            Err(e) => {
                eprintln!("memform: error: {e}");
                1
            }
        },
        Command::Transform(args) => {
            let batch =
                args.results.len() > 1 || args.output_dir.is_some() || args.dataset.is_some();
            let result = if batch {
                transform_many(&args)
            } else {
                transform(&args).map_err(BatchError::from)
            };
            result.unwrap_or_else(|e| {
                eprintln!("memform: error: {e}");
                1
            })
        }
    }
}

fn report_mode(args: &ReportArgs) -> ReportMode {
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

/// The formats, and the options of one format refused for a list that lacks it.
fn checked_formats(args: &TransformArgs) -> Result<Vec<Format>, Error> {
    let formats = parse_formats(&args.format)?;
    let names = || {
        let names: Vec<&str> = formats.iter().map(|f| f.name()).collect();
        names.join(",")
    };
    const PARQUET: &[Format] = &[Format::Parquet, Format::Events];
    let options = [
        ("--compression", args.compression.is_some(), PARQUET),
        ("--row-group-size", args.row_group_size.is_some(), PARQUET),
        ("--dataset", args.dataset.is_some(), &[Format::Parquet]),
        (
            "--folded-value",
            args.folded_value.is_some(),
            &[Format::Folded, Format::Flamegraph],
        ),
        (
            "--num-largest",
            args.num_largest.is_some(),
            &[Format::Stats],
        ),
    ];
    for (flag, given, applies_to) in options {
        if given && !formats.iter().any(|f| applies_to.contains(f)) {
            let to: Vec<&str> = applies_to.iter().map(|f| f.name()).collect();
            return Err(Error::Usage(format!(
                "{flag} applies only to the {} format{}, not {}",
                to.join(" and "),
                if to.len() > 1 { "s" } else { "" },
                names()
            )));
        }
    }
    if let Some(format) = crate::convert::modeless_format(&formats) {
        let modes = [
            ("--leaks", args.report.leaks),
            (
                "--temporary-allocation-threshold",
                args.report.temporary_allocation_threshold.is_some(),
            ),
            ("--temporary-allocations", args.report.temporary_allocations),
        ];
        if let Some((flag, _)) = modes.iter().find(|(_, given)| *given) {
            return Err(Error::Usage(format!(
                "{flag} does not apply to the {} format ({})",
                format.name(),
                crate::convert::why_no_report_mode(format)
            )));
        }
        crate::convert::check_capture_formats(&formats, ReportMode::Peak)?;
    }
    if args.dataset.is_some() && formats.len() > 1 {
        return Err(Error::Usage(format!(
            "--dataset writes the parquet format alone, not {}",
            names()
        )));
    }
    Ok(formats)
}

/// The conversion of `capture` with the options given, into its default outputs.
fn conversion(args: &TransformArgs, capture: &Path, formats: &[Format]) -> Conversion {
    let mut conversion = Conversion::with_formats(capture, formats);
    conversion.mode = report_mode(&args.report);
    conversion.force = args.force;
    conversion.threads = args.threads.unwrap_or(0);
    conversion.compression = args.compression.unwrap_or_default();
    if let Some(rows) = args.row_group_size {
        conversion.row_group_size = rows;
    }
    conversion.folded_value = args.folded_value.unwrap_or_default();
    if let Some(n) = args.num_largest {
        conversion.num_largest = n;
    }
    conversion.remove_on_signal = true;
    conversion
}

/// One capture, as memray converts it; with several formats, a report in each. Exit
/// status 1 if one of them failed.
fn transform(args: &TransformArgs) -> Result<i32, Error> {
    let formats = checked_formats(args)?;
    let [capture] = args.results.as_slice() else {
        return Err(Error::Usage("expected one capture".to_string()));
    };
    let mut conversion = conversion(args, capture, &formats);
    match (&args.output, formats.as_slice()) {
        (Some(output), [_]) => conversion.targets[0].output = output.clone(),
        (Some(dir), _) => {
            if dir.exists() && !dir.is_dir() {
                return Err(Error::Usage(format!(
                    "with several formats, -o names a directory, and {} is not one",
                    dir.display()
                )));
            }
            std::fs::create_dir_all(dir).map_err(|source| Error::Write {
                path: dir.clone(),
                source,
            })?;
            conversion.put_in_dir(dir);
        }
        (None, _) => {}
    }
    // The checks before the sweep: a run refused writes nothing, and removes nothing.
    conversion.check()?;
    crate::leftovers::remove_beside(conversion.targets.iter().map(|t| t.output.as_path()));
    crate::interrupt::set_many(formats.len() > 1);
    let mut progress = Bar::for_stderr(args.quiet);
    let converted = conversion.run(progress.as_mut())?;
    print_converted(&converted, args.quiet);
    Ok(i32::from(!converted.is_complete()))
}

/// Its warning, if any, on stderr; for each report in turn, the `Wrote` line on stdout or
/// the error line on stderr.
fn print_converted(converted: &Converted, quiet: bool) {
    if let Some(warning) = &converted.warning {
        eprintln!("memform: warning: {warning}");
    }
    for report in &converted.reports {
        match report {
            Ok(output) if !quiet => {
                let mut stdout = std::io::stdout();
                let _ = writeln!(stdout, "Wrote {}", output.display());
            }
            Ok(_) => {}
            Err(e) => eprintln!("memform: error: {e}"),
        }
    }
}

/// The batch the arguments ask for, or the usage error that stops it before it runs.
fn plan(args: &TransformArgs, formats: &[Format]) -> Result<Batch, BatchError> {
    let conflicts = [
        (
            "--dataset",
            args.dataset.is_some(),
            "--output",
            args.output.is_some(),
        ),
        (
            "--dataset",
            args.dataset.is_some(),
            "--output-dir",
            args.output_dir.is_some(),
        ),
        (
            "--output",
            args.output.is_some(),
            "--output-dir",
            args.output_dir.is_some(),
        ),
    ];
    if let Some((a, _, b, _)) = conflicts.iter().find(|(_, x, _, y)| *x && *y) {
        return Err(Error::Usage(format!("{a} cannot be used with {b}")).into());
    }
    if args.output.is_some() {
        return Err(BatchError::OutputWithManyCaptures {
            count: args.results.len(),
        });
    }
    if args.dataset.is_some() {
        crate::dataset::check_partitions(&args.results)?;
    }
    let conversions = args
        .results
        .iter()
        .map(|capture| {
            let mut conversion = conversion(args, capture, formats);
            if let Some(dir) = &args.dataset {
                // Parquet alone (checked_formats).
                for target in &mut conversion.targets {
                    target.output = crate::dataset::part_path(dir, capture);
                }
            } else if let Some(dir) = &args.output_dir {
                conversion.put_in_dir(dir);
            }
            conversion
        })
        .collect();
    let batch = Batch {
        conversions,
        jobs: args.jobs.unwrap_or(0),
        create_dirs: args.dataset.is_some(),
    };
    batch.check()?;
    Ok(batch)
}

/// Several captures (or one into `--output-dir` / `--dataset`): each finished one's lines
/// as it finishes, one error line for each that failed, a summary line; exit status 1 if
/// any failed.
fn transform_many(args: &TransformArgs) -> Result<i32, BatchError> {
    let formats = checked_formats(args)?;
    let batch = plan(args, &formats)?;
    if let Some(dir) = args.dataset.as_ref().or(args.output_dir.as_ref()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::Write {
            path: dir.clone(),
            source,
        })?;
    }
    crate::leftovers::remove_beside(
        batch
            .conversions
            .iter()
            .flat_map(|c| c.targets.iter().map(|t| t.output.as_path())),
    );
    crate::interrupt::set_many(true);
    let sizes = batch
        .conversions
        .iter()
        .map(|c| std::fs::metadata(&c.capture).map_or(0, |m| m.len()))
        .collect();
    let bar = SharedBar::for_stderr(args.quiet, sizes);
    let mut done = 0;
    let results = batch.run(
        &|index| Box::new(bar.job(index)) as Box<dyn Progress>,
        |_, result| {
            bar.suspend(|| match result {
                Ok(converted) => print_converted(converted, args.quiet),
                Err(e) => eprintln!("memform: error: {e}"),
            });
            done += 1;
            bar.set_done(done);
        },
    )?;
    bar.finish();
    let failed = results
        .iter()
        .filter(|r| !r.as_ref().is_ok_and(Converted::is_complete))
        .count();
    if failed > 0 || !args.quiet {
        eprintln!("{} converted, {failed} failed", results.len() - failed);
    }
    Ok(i32::from(failed > 0))
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
