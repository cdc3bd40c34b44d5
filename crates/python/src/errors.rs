//! The engine's errors as Python exceptions: [`CaptureError`] (with `path`, `offset` and
//! `decompressed`) for a capture that cannot be read, the `OSError` family (with `errno` and
//! `filename`) for files, `ValueError` for arguments.

use pyo3::exceptions::{PyException, PyOSError, PyValueError};
use pyo3::prelude::*;

use memform::error::ReadError;
use memform::{CaptureError as EngineCaptureError, Error};

pyo3::create_exception!(
    memform,
    CaptureError,
    PyException,
    "A capture file that memform cannot read: `path` is the file, `offset` the byte where it \
     goes wrong (or None), `decompressed` whether that byte counts in the decompressed \
     record stream of an LZ4-compressed capture."
);

/// An `OSError(errno, strerror, filename)`: Python picks the subclass from the errno
/// (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, ...).
fn os_error(errno: i32, strerror: &str, filename: &std::path::Path) -> PyErr {
    PyOSError::new_err((
        errno,
        strerror.to_string(),
        filename.as_os_str().to_os_string(),
    ))
}

/// `error` as the exception the Python API documents.
pub fn to_py_err(py: Python<'_>, error: Error) -> PyErr {
    match error {
        Error::Capture(EngineCaptureError::Read {
            path,
            error: ReadError::Io(io),
        }) => match io.raw_os_error() {
            Some(errno) => os_error(errno, &io.to_string(), &path),
            None => PyOSError::new_err(format!("{}: {io}", path.display())),
        },
        Error::Capture(e @ EngineCaptureError::TooManySites { .. }) => {
            CaptureError::new_err(e.to_string())
        }
        Error::Capture(EngineCaptureError::Read { path, error }) => {
            let message = format!("{}: {error}", path.display());
            let offset = error.offset();
            let err = CaptureError::new_err(message);
            let value = err.value(py);
            let attributes = value
                .setattr("path", path.as_os_str())
                .and_then(|()| value.setattr("offset", offset.map(|o| o.byte)))
                .and_then(|()| {
                    value.setattr("decompressed", offset.is_some_and(|o| o.decompressed))
                });
            match attributes {
                Ok(()) => err,
                Err(e) => e,
            }
        }
        Error::Write { path, source } => match source.raw_os_error() {
            Some(errno) => os_error(errno, &source.to_string(), &path),
            None => PyOSError::new_err(format!("{}: {source}", path.display())),
        },
        // The command line says "No such file" of both, as memray does; Python's exceptions
        // can tell them apart.
        Error::CaptureNotFound(path) if path.is_dir() => {
            os_error(libc::EISDIR, "A folder, not a capture file", &path)
        }
        Error::CaptureNotFound(path) => os_error(libc::ENOENT, "No such file", &path),
        Error::OutputExists(path) => os_error(
            libc::EEXIST,
            "File already exists, will not overwrite without force=True",
            &path,
        ),
        Error::OutputIsDirectory(path) => os_error(
            libc::EISDIR,
            "Cannot write the report to a directory",
            &path,
        ),
        e @ (Error::Capture(
            EngineCaptureError::TemporaryOnAggregated
            | EngineCaptureError::EventsOfAggregated { .. }
            | EngineCaptureError::AlreadyAggregated { .. }
            | EngineCaptureError::StatsOnAggregated { .. }
            | EngineCaptureError::TimelineOnAggregated { .. }
            | EngineCaptureError::StatsWithoutHistogram { .. },
        )
        | Error::UnknownFormat(_)
        | Error::OutputIsCapture(_)
        | Error::Usage(_)
        | Error::Incomparable { .. }) => PyValueError::new_err(e.to_string()),
    }
}
