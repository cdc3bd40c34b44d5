//! Typed errors of the library. The CLI turns each into one line on stderr.

use std::fmt;
use std::path::{Path, PathBuf};

/// A position in a capture: a byte of the file, or of the decompressed record stream of an
/// LZ4-compressed capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offset {
    pub byte: u64,
    pub decompressed: bool,
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.decompressed {
            write!(f, "decompressed byte {}", self.byte)
        } else {
            write!(f, "byte {}", self.byte)
        }
    }
}

/// What is wrong with a capture, and where in it. The capture's file name is not here:
/// [`ReadError::in_file`] adds it once, where the error leaves the reading of one file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[source] std::io::Error),
    #[error("byte 0: not a memray capture (expected the magic \"memray\\0\" or an LZ4 frame)")]
    NotACapture,
    #[error(
        "byte 7: capture header version {found} is not supported; memform reads header \
         versions {supported} ({memray})"
    )]
    UnsupportedVersion {
        found: i32,
        supported: &'static str,
        memray: &'static str,
    },
    #[error("{offset}: capture header ends early (expected {what})")]
    TruncatedHeader { offset: Offset, what: &'static str },
    #[error("{offset}: malformed capture (expected {what})")]
    Malformed { offset: Offset, what: String },
    #[error("byte {offset}: LZ4 frame is corrupt ({message})")]
    Lz4 { offset: u64, message: String },
    /// The caller asked the work to stop ([`crate::progress::Progress::stopped`]).
    #[error("stopped before the end of the capture")]
    Stopped,
}

impl ReadError {
    /// Where in the capture the error is, when it is at one place.
    pub fn offset(&self) -> Option<Offset> {
        let byte = |byte| {
            Some(Offset {
                byte,
                decompressed: false,
            })
        };
        match self {
            ReadError::Io(_) | ReadError::Stopped => None,
            ReadError::NotACapture => byte(0),
            ReadError::UnsupportedVersion { .. } => byte(7),
            ReadError::TruncatedHeader { offset, .. } | ReadError::Malformed { offset, .. } => {
                Some(*offset)
            }
            ReadError::Lz4 { offset, .. } => byte(*offset),
        }
    }

    /// This error, in the capture file `path`.
    pub fn in_file(self, path: &Path) -> CaptureError {
        CaptureError::Read {
            path: path.to_path_buf(),
            error: self,
        }
    }
}

/// Why a capture gives no report.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file cannot be read as a capture.
    #[error("{}: {error}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        error: ReadError,
    },
    #[error("Can't find temporary allocations using a pre-aggregated capture file.")]
    TemporaryOnAggregated,
    /// memray 1.20's words (`NotImplementedError`) for statistics of an aggregated capture.
    #[error("{}: Can't compute statistics using a pre-aggregated capture file.", path.display())]
    StatsOnAggregated { path: PathBuf },
    /// An aggregated capture keeps no allocation events to follow over time.
    #[error(
        "{}: Can't draw a timeline of a pre-aggregated capture file (it keeps no allocation events).",
        path.display()
    )]
    TimelineOnAggregated { path: PathBuf },
    /// Allocation sizes memray's statistics cannot bin (it fails with a traceback too).
    #[error(
        "{}: no histogram of allocation sizes: {why} (memray's statistics fail here too)",
        path.display()
    )]
    StatsWithoutHistogram { path: PathBuf, why: &'static str },
    /// An aggregated capture has no allocation events to list.
    #[error(
        "{}: an aggregated capture keeps no allocation events; the events dataset needs a \
         full capture (recorded without --aggregate)",
        path.display()
    )]
    EventsOfAggregated { path: PathBuf },
    /// The aggregate format of a capture that is already aggregated.
    #[error(
        "{}: the capture is already aggregated (memray run --aggregate); the aggregate \
         format takes a capture of all allocations",
        path.display()
    )]
    AlreadyAggregated { path: PathBuf },
    /// More allocation sites than the live table numbers (`max`,
    /// `crate::analysis::sites::MAX_SITES`).
    #[error(
        "{}: more than {max} distinct allocation sites (thread, allocator, Python and native \
         stack); memform keeps at most that many",
        path.display()
    )]
    TooManySites { path: PathBuf, max: u64 },
}

/// Errors of the whole transform: reading the capture or writing the report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("{}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `memray transform`'s words for a format it does not know.
    #[error("Format not supported: {0}")]
    UnknownFormat(String),
    #[error("No such file: {}", .0.display())]
    CaptureNotFound(PathBuf),
    #[error("File already exists, will not overwrite without --force: {}", .0.display())]
    OutputExists(PathBuf),
    #[error("Refusing to write the report over the capture itself: {}", .0.display())]
    OutputIsCapture(PathBuf),
    #[error("Cannot write the report to {}: it is a directory", .0.display())]
    OutputIsDirectory(PathBuf),
    /// A command-line option that does not apply.
    #[error("{0}")]
    Usage(String),
    /// Two captures whose reports cannot be compared (`memform diff`).
    #[error("{} and {} cannot be compared: {why}", base.display(), new.display())]
    Incomparable {
        base: PathBuf,
        new: PathBuf,
        why: String,
    },
}

/// Why a batch of conversions does not run at all (see [`crate::batch`]): refused before
/// anything is converted or written. What goes wrong with one capture of a running batch
/// is that capture's [`Error`].
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Refused as it would be for a single capture (a bad format, a misplaced option), or
    /// the output directory cannot be made.
    #[error(transparent)]
    Error(#[from] Error),
    /// `--output` names one report file; a batch has several.
    #[error("--output names one report, but {count} captures were given (use --output-dir DIR)")]
    OutputWithManyCaptures { count: usize },
    /// Two conversions of a batch would write the same report file.
    #[error("{} and {} would both write {}", first.display(), second.display(), output.display())]
    DuplicateOutput {
        output: PathBuf,
        first: PathBuf,
        second: PathBuf,
    },
    /// Two captures of a dataset would be the same partition (see [`crate::dataset`]).
    #[error("{} and {} would both be partition {partition} of the dataset", first.display(), second.display())]
    DuplicatePartition {
        /// `capture=<value>`.
        partition: String,
        first: PathBuf,
        second: PathBuf,
    },
    /// The threads of a batch could not be started.
    #[error("cannot start {jobs} jobs: {message}")]
    Jobs { jobs: usize, message: String },
}
