//! The `memform diff BASE NEW` command: the checks before anything is read (both captures
//! exist, the output may be written), the diff, its file (written whole or not at all,
//! never over an existing one without `-f`), the summary line on stderr, and
//! `--fail-above`'s exit status.

use std::path::{Path, PathBuf};

use crate::diff::output::{self, signed_bytes, signed_percent, DiffFormat, WriteOptions};
use crate::diff::threshold::{Threshold, EXIT_GREW};
use crate::diff::{diff, Diff, DiffOptions};
use crate::error::Error;
use crate::flamegraph::{human_bytes, thousands};
use crate::output_names::diff_output_path;
use crate::progress::Bar;
use crate::report::output::{check_target, write_file};

/// What the command line asked for.
#[derive(Debug, Clone)]
pub struct DiffCommand {
    pub base: PathBuf,
    pub new: PathBuf,
    pub format: DiffFormat,
    /// The file to write (default: [`diff_output_path`]).
    pub output: Option<PathBuf>,
    pub force: bool,
    pub quiet: bool,
    pub options: DiffOptions,
    pub write: WriteOptions,
    pub fail_above: Option<Threshold>,
}

impl DiffCommand {
    /// The file the diff goes to.
    pub fn output(&self) -> PathBuf {
        self.output
            .clone()
            .unwrap_or_else(|| diff_output_path(&self.base, &self.new, self.format.suffix()))
    }
}

/// Runs the command; the exit status: 0; 1 when it failed (one line on stderr);
/// [`EXIT_GREW`] when the new report grew by more than `--fail-above` (its file written).
pub fn run(command: &DiffCommand) -> i32 {
    match run_checked(command) {
        Ok(status) => status,
        Err(e) => {
            eprintln!("memform: error: {e}");
            1
        }
    }
}

fn run_checked(command: &DiffCommand) -> Result<i32, Error> {
    let output = command.output();
    check(command, &output)?;
    crate::leftovers::remove_beside([output.as_path()]);
    let mut progress = Bar::for_stderr(command.quiet);
    let diff = diff(
        &command.base,
        &command.new,
        &command.options,
        progress.as_mut(),
    )?;
    drop(progress);
    for warning in [&diff.base.warning, &diff.new.warning]
        .into_iter()
        .flatten()
    {
        eprintln!("memform: warning: {warning}");
    }
    write_file(&output, true, |file| {
        output::write(&diff, command.format, &command.write, file)
    })
    .map_err(|source| Error::Write {
        path: output.clone(),
        source,
    })?;
    eprintln!("memform: {}", summary(&diff));
    if !command.quiet {
        println!("Wrote {}", output.display());
    }
    match command.fail_above {
        Some(threshold) if threshold.is_exceeded_by(&diff) => {
            eprintln!(
                "memform: the report grew by {} ({}), more than --fail-above {threshold}",
                signed_bytes(diff.size_change()),
                signed_percent(diff.size_change_percent())
            );
            Ok(EXIT_GREW)
        }
        _ => Ok(0),
    }
}

/// The checks made before either capture is read: they exist; the output does not
/// (unless `-f`), is neither capture, and is not a directory.
fn check(command: &DiffCommand, output: &Path) -> Result<(), Error> {
    crate::capture::check_capture(&command.base)?;
    crate::capture::check_capture(&command.new)?;
    check_target(output, &[&command.base, &command.new], command.force)?;
    if output.is_dir() {
        return Err(Error::OutputIsDirectory(output.to_path_buf()));
    }
    Ok(())
}

/// The summary line: both peaks, both reports, and the change.
pub fn summary(diff: &Diff) -> String {
    let peak = |p: Option<u64>| p.map_or("?".to_string(), |p| human_bytes(u128::from(p)));
    let report = |size: u128, allocations: u128| {
        format!(
            "{} in {} allocations",
            human_bytes(size),
            thousands(allocations)
        )
    };
    let allocations = diff.allocations_change();
    format!(
        "peak {} → {}; {} report {} → {}: {} ({}), {}{} allocations",
        peak(diff.base.peak),
        peak(diff.new.peak),
        diff.mode,
        report(diff.base.size, diff.base.allocations),
        report(diff.new.size, diff.new.allocations),
        signed_bytes(diff.size_change()),
        signed_percent(diff.size_change_percent()),
        if allocations > 0 { "+" } else { "" },
        allocations
    )
}
