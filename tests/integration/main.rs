//! memform's integration tests: one test binary (one link), a module per area, the helpers
//! in `common`.
//!
//! - `fixtures_match_memray`: every committed fixture capture, in every format and report
//!   mode, against memray 1.20's own outputs (byte-identical where memray is deterministic).
//! - `older_versions`: captures of memray 1.7 – 1.19 against the outputs of the memray that
//!   wrote them.
//! - `parquet_and_speedscope`: the Parquet report against the CSV one, its metadata, codecs
//!   and row groups; speedscope's merged samples; default output names.
//! - `pprof`: the pprof report read back by `go tool pprof -raw` and by its own messages,
//!   against the CSV report of every fixture capture and mode.
//! - `batch`: many captures in one run (`--output-dir`, `--dataset`, `--jobs`): each report
//!   equal to its capture's alone, one error line per bad capture, the summary line.
//! - `folded`: the folded-stacks report of every fixture capture against its CSV report,
//!   rendered by inferno.
//! - `multi_format`: several formats from one read, each report the same bytes as alone.
//! - `cli_errors`: every error path of the command line: message, exit code, no output.
//! - `malformed_inputs`: damaged and hostile captures fail cleanly or report their prefix,
//!   as memray does; truncated captures match memray.
//! - `native_damage`: the same for `--native` captures, within a memory bound.
//! - `fuzz_regressions`: every input the fuzzers found stays fixed.
//! - `leftovers`: the temporary files and folders of SIGKILLed runs, removed by the next
//!   run writing beside them when their process is gone; those of running ones kept.
//! - `stats`: `memform stats` of every fixture capture against the `memray stats` of the
//!   memray that wrote it, text and JSON, byte for byte; its command line.
//! - `diff`: `memform diff` of captures whose changes are known by construction, of every
//!   fixture against itself and swapped; its outputs, `--fail-above` and refusals.
//! - `shell`: `--version`, `transform --help`'s formats, completion scripts, manual pages.
//! - `aggregate`: `transform aggregate` of every full fixture capture read back: its peak and
//!   leaks reports equal memray's of the original; the command line of the format.
//! - `timeline`: `transform timeline` of every full fixture capture read back: the peak
//!   marker at the peak report's total and its moment, the heap and RSS series against a
//!   model of the capture; rendered by Chromium.

mod aggregate;
mod batch;
mod cli_errors;
mod common;
mod diff;
mod events;
mod fixtures_match_memray;
mod flamegraph;
mod folded;
mod fuzz_regressions;
mod hash_order;
mod leftovers;
mod malformed_inputs;
mod multi_format;
mod native_damage;
mod older_versions;
mod parquet_and_speedscope;
mod pprof;
mod shell;
mod stats;
mod timeline;
