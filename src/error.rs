//! Typed errors of the library. The CLI turns each into one line on stderr.

use std::fmt;
use std::path::PathBuf;

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

/// Everything that can go wrong while reading a capture.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{}: byte 0: not a memray capture (expected the magic \"memray\\0\" or an LZ4 frame)",
        path.display()
    )]
    NotACapture { path: PathBuf },
    #[error(
        "{}: byte 7: capture header version {found} is not supported; memform reads header \
         versions {supported} ({memray})",
        path.display()
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: i32,
        supported: &'static str,
        memray: &'static str,
    },
    #[error("{}: {offset}: capture header ends early (expected {what})", path.display())]
    TruncatedHeader {
        path: PathBuf,
        offset: Offset,
        what: &'static str,
    },
    #[error("{}: {offset}: malformed capture (expected {what})", path.display())]
    Malformed {
        path: PathBuf,
        offset: Offset,
        what: String,
    },
    #[error("{}: byte {offset}: LZ4 frame is corrupt ({message})", path.display())]
    Lz4 {
        path: PathBuf,
        offset: u64,
        message: String,
    },
    #[error("Can't find temporary allocations using a pre-aggregated capture file.")]
    TemporaryOnAggregated,
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
    #[error("{0}")]
    Usage(String),
}
