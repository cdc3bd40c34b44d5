//! `memform._memform`, the compiled half of the `memform` Python package: the engine's
//! conversions and reports, called with the GIL released. The Python half
//! (`python/memform/__init__.py`) is the documented API; these functions are its plumbing.
//!
//! - [`report_stream`]: one report's rows as an Arrow stream (see [`arrow_stream`]).
//! - [`transform`]: one capture into one report file.
//! - [`stats`]: memray's statistics of a capture, as its JSON document.
//! - [`diff_stream`]: the diff of two captures' reports as an Arrow stream.
//! - [`dataset_part`]: a capture's file in a Hive-partitioned dataset.
//! - [`main`]: the `memform` command line, for the wheel's `memform` command.
//! - Errors become Python exceptions in [`errors`]; while the engine works, the long calls
//!   look back into Python (Ctrl-C, the `progress` callable) through [`progress`].

mod arrow_stream;
mod errors;
mod progress;

use std::path::PathBuf;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use memform::analysis::{self, ReportMode};
use memform::capture::CaptureFile;
use memform::convert::{check_capture, end_warning, Conversion};
use memform::diff::{DiffKey, DiffOptions};
use memform::format::Format;
use memform::report::arrow_rows::{BatchCollector, DEFAULT_BATCH_ROWS};
use memform::report::metadata::CaptureIdentity;

use crate::arrow_stream::ReportStream;
use crate::errors::{to_py_err, CaptureError};
use crate::progress::PyProgress;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The report mode of the keyword arguments `leaks` and `temporary_threshold`.
fn report_mode(leaks: bool, temporary_threshold: Option<u64>) -> PyResult<ReportMode> {
    match (leaks, temporary_threshold) {
        (true, Some(_)) => Err(PyValueError::new_err(
            "leaks and temporary_threshold are two different reports: give one",
        )),
        (true, None) => Ok(ReportMode::Leaks),
        (false, Some(threshold)) => Ok(ReportMode::Temporary { threshold }),
        (false, None) => Ok(ReportMode::Peak),
    }
}

/// The rows of one report of `capture` as an Arrow stream, and the warning about a
/// capture that ends without a trailer (or `None`).
#[pyfunction]
#[pyo3(signature = (capture, *, leaks = false, temporary_threshold = None, progress = None))]
fn report_stream(
    py: Python<'_>,
    capture: PathBuf,
    leaks: bool,
    temporary_threshold: Option<u64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<(ReportStream, Option<String>)> {
    let mode = report_mode(leaks, temporary_threshold)?;
    let mut progress = PyProgress::new(progress);
    let collected = py.detach(|| -> Result<_, memform::Error> {
        check_capture(&capture)?;
        let file = CaptureFile::open(&capture)?;
        let options = analysis::Options {
            high_water_mark: true,
            threads: 0,
        };
        let mut report = analysis::compute(&file, mode, options, &mut progress)?;
        let warning = end_warning(&file, report.end, report.total_allocations);
        let mut collector = BatchCollector::new(CaptureIdentity::of(&capture), DEFAULT_BATCH_ROWS);
        // Collecting fails only on a row group of more than 2^31 frames.
        let collected = memform::report::write_report(&mut report, &mut collector);
        Ok(collected.map(|()| (collector.into_batches(), warning)))
    });
    // An exception from Python first: the work stopped for it.
    progress.into_result()?;
    let ((schema, batches), warning) = collected
        .map_err(|e| to_py_err(py, e))?
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok((ReportStream::new(schema, batches), warning))
}

/// Converts `capture` into a report file in `format`; returns the report's path and the
/// warning about a capture that ends without a trailer (or `None`).
#[pyfunction]
#[pyo3(signature = (capture, format, output = None, *, force = false, leaks = false, temporary_threshold = None, progress = None))]
#[allow(clippy::too_many_arguments)] // the keyword arguments of the Python function
fn transform(
    py: Python<'_>,
    capture: PathBuf,
    format: &str,
    output: Option<PathBuf>,
    force: bool,
    leaks: bool,
    temporary_threshold: Option<u64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<(PathBuf, Option<String>)> {
    let format = Format::from_name(format)
        .ok_or_else(|| to_py_err(py, memform::Error::UnknownFormat(format.to_string())))?;
    let mut conversion = Conversion::new(&capture, format);
    if let Some(output) = output {
        conversion.targets[0].output = output;
    }
    conversion.mode = report_mode(leaks, temporary_threshold)?;
    conversion.force = force;
    let mut progress = PyProgress::new(progress);
    let converted = py.detach(|| conversion.run(&mut progress));
    progress.into_result()?;
    let converted = converted.map_err(|e| to_py_err(py, e))?;
    let warning = converted.warning.clone();
    let output = converted.into_first().map_err(|e| to_py_err(py, e))?;
    Ok((output, warning))
}

/// memray's statistics of `capture` with top lists of `num_largest`: the JSON document
/// `memray stats --json` writes.
#[pyfunction]
#[pyo3(signature = (capture, *, num_largest = 5, progress = None))]
fn stats(
    py: Python<'_>,
    capture: PathBuf,
    num_largest: usize,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    if num_largest == 0 {
        return Err(PyValueError::new_err("num_largest must be at least 1"));
    }
    let mut progress = PyProgress::new(progress);
    let document = py.detach(|| -> Result<String, memform::Error> {
        check_capture(&capture)?;
        let file = CaptureFile::open(&capture)?;
        let stats = memform::stats::stats(&file, num_largest, 0, &mut progress)?;
        Ok(stats.json(&capture)?)
    });
    progress.into_result()?;
    document.map_err(|e| to_py_err(py, e))
}

/// The diff of the reports of `base` and `new` ([`memform::diff`]) as an Arrow stream, its
/// schema's metadata the `memform.diff.*` keys (captures, report, peaks, totals).
#[pyfunction]
#[pyo3(signature = (base, new, *, leaks = false, temporary_threshold = None, by = "stack", progress = None))]
fn diff_stream(
    py: Python<'_>,
    base: PathBuf,
    new: PathBuf,
    leaks: bool,
    temporary_threshold: Option<u64>,
    by: &str,
    progress: Option<Py<PyAny>>,
) -> PyResult<ReportStream> {
    let by = DiffKey::from_name(by).ok_or_else(|| {
        PyValueError::new_err(format!("by must be \"stack\" or \"row\", not {by:?}"))
    })?;
    let options = DiffOptions {
        mode: report_mode(leaks, temporary_threshold)?,
        by,
        threads: 0,
    };
    let mut progress = PyProgress::new(progress);
    let collected = py.detach(|| -> Result<_, memform::Error> {
        let diff = memform::diff::diff(&base, &new, &options, &mut progress)?;
        let schema = memform::diff::output::schema_with_metadata(&diff);
        let batches = memform::diff::output::record_batches(&diff, schema.clone())
            .collect::<Result<Vec<_>, _>>();
        Ok(batches.map(|batches| (schema, batches)))
    });
    progress.into_result()?;
    let (schema, batches) = collected
        .map_err(|e| to_py_err(py, e))?
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok(ReportStream::new(schema, batches))
}

/// Where `capture`'s report goes in the Hive-partitioned dataset `dataset` (the rule of
/// `memform transform parquet ... --dataset`).
#[pyfunction]
fn dataset_part(dataset: PathBuf, capture: PathBuf) -> std::ffi::OsString {
    memform::dataset::part_path(&dataset, &capture).into_os_string()
}

/// The `memform` command line with `argv` (the program's name first); returns the exit
/// code.
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<String>) -> i32 {
    py.detach(|| memform::cli::main_from(argv))
}

#[pymodule]
fn _memform(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", memform::VERSION)?;
    m.add("CaptureError", m.py().get_type::<CaptureError>())?;
    m.add_class::<ReportStream>()?;
    m.add_function(wrap_pyfunction!(report_stream, m)?)?;
    m.add_function(wrap_pyfunction!(transform, m)?)?;
    m.add_function(wrap_pyfunction!(stats, m)?)?;
    m.add_function(wrap_pyfunction!(diff_stream, m)?)?;
    m.add_function(wrap_pyfunction!(dataset_part, m)?)?;
    m.add_function(wrap_pyfunction!(main, m)?)?;
    Ok(())
}
