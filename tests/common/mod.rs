//! Helpers shared by the integration tests: fixture paths and running the binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
}

pub fn capture(name: &str) -> PathBuf {
    fixtures().join("captures").join(name)
}

/// Runs `memform` with `args`.
pub fn memform(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memform"))
        .args(args)
        .output()
        .expect("memform runs")
}

/// Flags of a report name used in fixture file names.
pub fn report_flags(report: &str) -> Vec<&'static str> {
    match report {
        "peak" => vec![],
        "leaks" => vec!["--leaks"],
        "temp" => vec!["--temporary-allocations"],
        "temp0" => vec!["--temporary-allocation-threshold", "0"],
        "temp5" => vec!["--temporary-allocation-threshold", "5"],
        other => panic!("unknown report {other}"),
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Files in `dir` (not recursive), sorted.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Parses the rows of a CSV report (header included) as Python's csv module writes them:
/// `\r\n` line ends, `"` quoting with doubled quotes; no field of the fixtures holds a newline.
pub fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', false) if field.is_empty() => quoted = true,
                ('"', true) if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                ('"', true) => quoted = false,
                (',', false) => fields.push(std::mem::take(&mut field)),
                (c, _) => field.push(c),
            }
        }
        fields.push(field);
        rows.push(fields);
    }
    rows
}
