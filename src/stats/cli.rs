//! The `memform stats` command: each capture's statistics to standard output, or with
//! `--json` into a file (memray's default name, never over an existing one without `-f`,
//! written whole or not at all).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::capture::CaptureFile;
use crate::error::Error;
use crate::output_names::default_json_path;
use crate::progress::Bar;
use crate::report::output::{check_target, write_file};
use crate::stats::stats;

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct StatsOptions {
    pub captures: Vec<PathBuf>,
    pub num_largest: usize,
    pub json: bool,
    pub output: Option<PathBuf>,
    pub output_dir: Option<PathBuf>,
    pub force: bool,
    pub quiet: bool,
    pub threads: usize,
}

/// Runs the command; the exit code: 0, or 1 if a capture failed (each failure one line on
/// stderr).
pub fn run(options: &StatsOptions) -> i32 {
    if options.output.is_some() && options.captures.len() > 1 {
        eprintln!(
            "memform: error: --output names one file, but {} captures were given (use --output-dir DIR)",
            options.captures.len()
        );
        return 1;
    }
    if let Some(dir) = &options.output_dir {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("memform: error: {}: {e}", dir.display());
            return 1;
        }
    }
    let many = options.captures.len() > 1;
    let mut failed = false;
    for capture in &options.captures {
        if let Err(e) = one(options, capture, many) {
            eprintln!("memform: error: {e}");
            failed = true;
        }
    }
    i32::from(failed)
}

fn one(options: &StatsOptions, capture: &Path, many: bool) -> Result<(), Error> {
    crate::capture::check_capture(capture)?;
    let target = options
        .json
        .then(|| match (&options.output, &options.output_dir) {
            (Some(output), _) => output.clone(),
            (None, Some(dir)) => {
                dir.join(default_json_path(capture).file_name().unwrap_or_default())
            }
            (None, None) => default_json_path(capture),
        });
    if let Some(target) = &target {
        // As transform checks its outputs: never over the capture, nor onto a folder.
        check_target(target, &[capture], options.force)?;
        if target.is_dir() {
            return Err(Error::OutputIsDirectory(target.clone()));
        }
    }
    let file = CaptureFile::open(capture)?;
    let mut progress = Bar::for_stderr(options.quiet);
    let stats = stats(
        &file,
        options.num_largest,
        options.threads,
        progress.as_mut(),
    )?;
    if let Some(warning) = crate::capture::end_warning(&file, stats.end, stats.records) {
        eprintln!("memform: warning: {warning}");
    }
    let Some(target) = target else {
        let text = stats.text(capture)?;
        let mut stdout = std::io::stdout().lock();
        let written = if many {
            writeln!(stdout, "==> {} <==", capture.display())
        } else {
            Ok(())
        };
        // A closed pipe (`| head`) is not the capture's fault: stop quietly.
        let _ = written.and_then(|()| stdout.write_all(text.as_bytes()));
        return Ok(());
    };
    let document = stats.json(capture)?;
    write_file(&target, false, |file| file.write_all(document.as_bytes())).map_err(|source| {
        Error::Write {
            path: target.clone(),
            source,
        }
    })?;
    if !options.quiet {
        println!("Wrote {}", target.display());
    }
    Ok(())
}
