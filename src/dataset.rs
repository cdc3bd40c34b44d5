//! A Hive-partitioned Parquet dataset of many captures' reports: where each capture's
//! report goes (`DIR/capture=<name>/part-0.parquet`) and how `<name>` is spelled, so that
//! DuckDB, polars and pyarrow read the directory as one table with a `capture` column.
//! The command line (`--dataset`) and the Python module name partitions through these
//! functions only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::BatchError;
use crate::output_names::file_stem;

/// The partition column.
pub const PARTITION_KEY: &str = "capture";

/// The one file of each partition.
pub const PART_FILE: &str = "part-0.parquet";

/// The value of the `capture` column for `capture`'s report: the capture's file name without
/// its last suffix ([`file_stem`]), percent-encoded as pyarrow encodes Hive partition
/// values: every byte of its UTF-8 form but ASCII letters, digits and `-._~` becomes `%XX`
/// (upper-case hex), so `/`, `=`, `%`, `#`, `?`, `\`, `+`, spaces, control characters and
/// non-ASCII characters are all escaped. The readers decode it back to the file stem. A
/// file name that is not UTF-8 is read lossily (U+FFFD for what is not). A path without a
/// file name gives an empty value.
pub fn partition_value(capture: &Path) -> String {
    let name = crate::output_names::file_name(capture);
    percent_encode(file_stem(&name))
}

/// `dataset_dir/capture=<partition_value>/part-0.parquet`.
pub fn part_path(dataset_dir: &Path, capture: &Path) -> PathBuf {
    dataset_dir
        .join(format!("{PARTITION_KEY}={}", partition_value(capture)))
        .join(PART_FILE)
}

/// Fails with [`BatchError::DuplicatePartition`] when two of `captures` would be the same
/// partition (same file stem: `a/run.bin` and `b/run.bin`, or `run.bin` and `run.lz4`).
pub fn check_partitions(captures: &[PathBuf]) -> Result<(), BatchError> {
    let mut seen: HashMap<String, &Path> = HashMap::new();
    for capture in captures {
        let value = partition_value(capture);
        if let Some(first) = seen.get(&value) {
            return Err(BatchError::DuplicatePartition {
                partition: format!("{PARTITION_KEY}={value}"),
                first: first.to_path_buf(),
                second: capture.clone(),
            });
        }
        seen.insert(value, capture);
    }
    Ok(())
}

fn percent_encode(value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(name: &str) -> String {
        partition_value(Path::new(name))
    }

    #[test]
    fn partition_values_are_file_stems() {
        assert_eq!(
            value("dir/v1.20.0-py3.11-default.bin"),
            "v1.20.0-py3.11-default"
        );
        assert_eq!(value("run.bin"), "run");
        assert_eq!(value("run.tar.lz4"), "run.tar");
        assert_eq!(value("noext"), "noext");
        assert_eq!(value(".hidden"), ".hidden");
        assert_eq!(value("trailing."), "trailing.");
        assert_eq!(value("memray-app.123.bin"), "memray-app.123");
        assert_eq!(value("a~b_c"), "a~b_c");
        assert_eq!(value(""), "");
    }

    #[test]
    fn partition_values_are_escaped_like_pyarrow() {
        // What pyarrow 26's `write_dataset(..., partitioning=hive)` names these values.
        assert_eq!(value("k=v.bin"), "k%3Dv");
        assert_eq!(value("p%q.bin"), "p%25q");
        assert_eq!(value("h#.bin"), "h%23");
        assert_eq!(value("q?.bin"), "q%3F");
        assert_eq!(value("b\\s.bin"), "b%5Cs");
        assert_eq!(value("a b.bin"), "a%20b");
        assert_eq!(value("a+b.bin"), "a%2Bb");
        assert_eq!(value("tab\t.bin"), "tab%09");
        assert_eq!(value("nl\n\x7f.bin"), "nl%0A%7F");
        assert_eq!(value("é.bin"), "%C3%A9");
        assert_eq!(value("日.bin"), "%E6%97%A5");
        assert_eq!(
            value("c:*\"'<>|[]{}^!$&(),;@`.bin"),
            "c%3A%2A%22%27%3C%3E%7C%5B%5D%7B%7D%5E%21%24%26%28%29%2C%3B%40%60"
        );
        // A `/` cannot be in a file name; a value never holds one unescaped either.
        assert_eq!(percent_encode("x/y"), "x%2Fy");
    }

    #[test]
    fn not_utf8_names_are_read_lossily() {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"a\xffb.bin");
        assert_eq!(partition_value(Path::new(name)), "a%EF%BF%BDb");
    }

    #[test]
    fn part_paths() {
        assert_eq!(
            part_path(Path::new("out"), Path::new("caps/run 1.bin")),
            PathBuf::from("out/capture=run%201/part-0.parquet")
        );
        assert_eq!(
            part_path(Path::new("/d"), Path::new("x=y")),
            PathBuf::from("/d/capture=x%3Dy/part-0.parquet")
        );
    }

    #[test]
    fn duplicate_partitions_are_refused() {
        let caps = |names: &[&str]| names.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert!(check_partitions(&caps(&["a.bin", "b.bin", "a.b.bin"])).is_ok());
        let err = check_partitions(&caps(&["x/run.bin", "b.bin", "y/run.lz4"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "x/run.bin and y/run.lz4 would both be partition capture=run of the dataset"
        );
    }
}
