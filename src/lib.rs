//! memform: memray capture files into reports, with exactly the numbers `memray transform`
//! gives, much faster.
//!
//! - [`capture`] reads capture files: framing, header, the record decoder.
//! - [`stacks`] interns frames and stacks and resolves them to source locations.
//! - [`analysis`] computes peak, leak and temporary-allocation reports and reduces them.
//! - [`report`] writes reports in memray's formats.
//! - [`events`] writes the events dataset: every allocation with its lifetime, as tables.
//! - [`aggregate`] rewrites a full capture as memray's aggregated capture.
//! - [`stats`] computes and prints memray's statistics of a capture (`memform stats`).
//! - [`diff`] compares the reports of two captures, stack by stack (`memform diff`).
//! - [`convert`] turns one capture into one report file, safely.
//! - [`batch`] converts many captures side by side; [`dataset`] names their reports'
//!   partitions in a Hive-partitioned Parquet dataset.
//! - [`output_names`] names the outputs; [`leftovers`] names the temporary outputs, and
//!   removes those that killed runs leave.
//! - [`cli`] is the `memform` command line.
//! - [`interner`]: insertion-ordered interning, used throughout.

pub mod aggregate;
pub mod analysis;
pub mod batch;
pub mod capture;
pub mod cli;
pub mod convert;
pub mod dataset;
pub mod dense_set;
pub mod diff;
pub mod error;
pub mod events;
pub mod flamegraph;
pub mod format;
pub mod interner;
pub mod interrupt;
pub mod leftovers;
pub mod memory;
pub mod output_names;
pub mod progress;
pub mod report;
pub mod stacks;
pub mod stats;
pub mod timeline;

pub use error::{BatchError, CaptureError, Error, ReadError};

/// memform's version: `memform --version`'s, and the Python package's `__version__`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
