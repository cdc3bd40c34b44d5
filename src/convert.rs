//! One capture into one report file: the checks made before anything is read (the capture
//! exists, the output may be written), the analysis, and the safe write (a temporary file
//! renamed over the target). The command line (one capture or many) and the Python module
//! both convert through [`Conversion`].

use std::path::{Path, PathBuf};

use crate::analysis::{self, Report, ReportMode};
use crate::capture::{CaptureFile, StreamEnd};
use crate::error::Error;
use crate::progress::Progress;
use crate::report::output::PendingOutput;
use crate::report::parquet::{Codec, DEFAULT_ROW_GROUP_SIZE};
use crate::report::{Format, ParquetOptions};

/// What to convert, and how.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The capture file.
    pub capture: PathBuf,
    pub format: Format,
    /// The report file.
    pub output: PathBuf,
    pub mode: ReportMode,
    /// Overwrite an existing report file.
    pub force: bool,
    /// Threads of the analysis (see [`analysis::Options::threads`]; 0: the default).
    pub threads: usize,
    /// Parquet only.
    pub compression: Codec,
    /// Parquet only: rows per row group.
    pub row_group_size: usize,
    /// Remove the temporary file on SIGINT, SIGTERM or SIGHUP (the command line's
    /// behaviour; a library inside another program leaves its signals alone).
    pub remove_on_signal: bool,
}

/// A report written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    pub output: PathBuf,
    /// Said of a capture whose record stream ends without a trailer (see [`end_warning`]).
    pub warning: Option<String>,
}

impl Conversion {
    /// `capture` into `format`, peak report, in memray's default file beside the capture
    /// ([`default_output_path`]).
    pub fn new(capture: &Path, format: Format) -> Conversion {
        Conversion {
            capture: capture.to_path_buf(),
            format,
            output: default_output_path(capture, format),
            mode: ReportMode::Peak,
            force: false,
            threads: 0,
            compression: Codec::default(),
            row_group_size: DEFAULT_ROW_GROUP_SIZE,
            remove_on_signal: false,
        }
    }

    /// The checks made before the capture is read: it is a file; the output does not exist
    /// (unless `force`), is not the capture itself and is not a directory.
    pub fn check(&self) -> Result<(), Error> {
        check_capture(&self.capture)?;
        let output = &self.output;
        if !self.force && output.exists() {
            return Err(Error::OutputExists(output.clone()));
        }
        if is_same_file(output, &self.capture) {
            return Err(Error::OutputIsCapture(output.clone()));
        }
        if output.is_dir() {
            return Err(Error::OutputIsDirectory(output.clone()));
        }
        Ok(())
    }

    /// Checks, reads the capture, and writes the report.
    pub fn run(&self, progress: &mut dyn Progress) -> Result<Converted, Error> {
        self.check()?;
        let capture = CaptureFile::open(&self.capture)?;
        let options = analysis::Options {
            high_water_mark: self.format.wants_high_water_mark(),
            threads: self.threads,
        };
        let mut report = analysis::compute(&capture, self.mode, options, progress)?;
        let warning = end_warning(&capture, &report);

        let write_error = |source| Error::Write {
            path: self.output.clone(),
            source,
        };
        let parquet = ParquetOptions {
            compression: self.compression,
            row_group_size: self.row_group_size,
            ..ParquetOptions::for_capture(&self.capture)
        };
        // Declared before `pending`, so dropped after it: a failed write removes its
        // temporary file while the file is still guarded.
        let mut guard = crate::interrupt::Guard::new();
        let create = || PendingOutput::create(&self.output);
        let mut pending = if self.remove_on_signal {
            crate::interrupt::install();
            crate::interrupt::create_guarded(&mut guard, create, PendingOutput::temp_path)
        } else {
            create()
        }
        .map_err(write_error)?;
        self.format
            .write(&mut report, pending.file(), &parquet)
            .map_err(write_error)?;
        pause_before_commit();
        pending.commit().map_err(write_error)?;
        drop(guard);
        Ok(Converted {
            output: self.output.clone(),
            warning,
        })
    }
}

/// The capture is an existing file ([`Error::CaptureNotFound`] otherwise).
pub fn check_capture(capture: &Path) -> Result<(), Error> {
    if capture.is_file() {
        Ok(())
    } else {
        Err(Error::CaptureNotFound(capture.to_path_buf()))
    }
}

/// memray's `determine_output_filename`: `memray-<format>-<name>` beside the capture, where
/// `<name>` is the capture's file name with its suffix replaced and a `memray-` prefix
/// dropped.
pub fn default_output_path(capture: &Path, format: Format) -> PathBuf {
    let name = capture
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut output = format!("{}{}", file_stem(&name), format.suffix());
    if let Some(rest) = output.strip_prefix("memray-") {
        output = rest.to_string();
    }
    capture
        .parent()
        .unwrap_or(Path::new(""))
        .join(format!("memray-{}-{output}", format.name()))
}

/// pathlib's `stem`: the name without its suffix, which starts at the last dot unless that
/// dot starts the name or ends it.
pub fn file_stem(name: &str) -> &str {
    match name.rfind('.') {
        Some(i) if i > 0 && i < name.len() - 1 => &name[..i],
        _ => name,
    }
}

/// A capture without a trailer is reported on, like memray does, from the records before
/// the damage; this says so (`None` for a capture that ends properly).
pub fn end_warning(capture: &CaptureFile, report: &Report) -> Option<String> {
    let where_ = |offset: u64| {
        if capture.is_compressed() {
            format!("decompressed byte {offset}")
        } else {
            format!("byte {offset}")
        }
    };
    let what = match report.end {
        StreamEnd::Trailer => return None,
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
    Some(format!(
        "{what}; reporting the {} allocation records before it",
        report.total_allocations
    ))
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
        c.output = capture.clone();
        assert!(matches!(c.check(), Err(Error::OutputExists(_))));
        c.force = true;
        assert!(matches!(c.check(), Err(Error::OutputIsCapture(_))));
        c.output = dir.clone();
        assert!(matches!(c.check(), Err(Error::OutputIsDirectory(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
