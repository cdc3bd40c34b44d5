//! What a report says about itself and its capture: the `memform.*` key-value metadata of
//! Parquet reports and of the Arrow tables of the Python module (keys documented in
//! `docs/parquet-schema.md`).

use std::path::Path;

use crate::analysis::{Report, ReportMode};
use crate::capture::{FileFormat, Header};

/// Version of the layout of `report::arrow_rows` (`memform.schema_version`); raised when a
/// column or a metadata key changes meaning or goes away.
pub const SCHEMA_VERSION: &str = "1";

/// Which capture a report came from, as its metadata records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureIdentity {
    /// The capture file's absolute path (when it can be resolved).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
}

impl CaptureIdentity {
    /// The capture's file name (the last component of its path).
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// The capture at `path`.
    pub fn of(path: &Path) -> CaptureIdentity {
        let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        CaptureIdentity {
            path: absolute.to_string_lossy().into_owned(),
            size: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        }
    }
}

/// The memray releases that write captures with header version `version`.
pub fn memray_versions(version: i32) -> &'static str {
    match version {
        10 => "1.7-1.10",
        11 => "1.11-1.18",
        12 => "1.19",
        13 => "1.20",
        _ => "unknown",
    }
}

/// `PY_VERSION_HEX` as `major.minor.micro`; empty for 0 (header versions before 12 do not
/// record it).
pub fn python_version(hex: u32) -> String {
    if hex == 0 {
        return String::new();
    }
    format!("{}.{}.{}", hex >> 24, (hex >> 16) & 0xff, (hex >> 8) & 0xff)
}

/// memray's name of a `PythonAllocatorType` (`Metadata.python_allocator`).
pub fn python_allocator_name(id: u8) -> &'static str {
    match id {
        1 => "pymalloc",
        2 => "pymalloc debug",
        3 => "malloc",
        5 => "mimalloc",
        6 => "mimalloc debug",
        _ => "unknown",
    }
}

/// The file's key-value metadata, in the order it is written.
pub fn metadata(report: &Report, capture: &CaptureIdentity) -> Vec<(String, String)> {
    let report_mode = match report.mode {
        ReportMode::Peak => "peak".to_string(),
        ReportMode::Leaks => "leaks".to_string(),
        ReportMode::Temporary { threshold } => format!("temporary {threshold}"),
    };
    let (peak, peak_index) = match report.high_water_mark {
        Some(hwm) => (hwm.bytes.to_string(), hwm.index.to_string()),
        None => (String::new(), String::new()),
    };
    let mut pairs = vec![(
        "memform.schema_version".to_string(),
        SCHEMA_VERSION.to_string(),
    )];
    pairs.extend(capture_metadata(&report.header, capture));
    pairs.extend(
        [
            ("report", report_mode),
            ("peak_memory", peak),
            ("peak_memory_index", peak_index),
            ("total_allocations", report.total_allocations.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("memform.{k}"), v)),
    );
    pairs
}

/// What the metadata says of the capture and of memform, whatever was made of it: the
/// `memform.*` keys from `memform.version` to `memform.trace_python_allocators`.
pub fn capture_metadata(h: &Header, capture: &CaptureIdentity) -> Vec<(String, String)> {
    let file_format = match h.file_format {
        FileFormat::AllAllocations => "all_allocations",
        FileFormat::AggregatedAllocations => "aggregated_allocations",
    };
    let pairs: [(&str, String); 14] = [
        ("version", env!("CARGO_PKG_VERSION").to_string()),
        ("capture.path", capture.path.clone()),
        ("capture.size", capture.size.to_string()),
        ("capture.file_format", file_format.to_string()),
        ("header_version", h.version.to_string()),
        ("memray_versions", memray_versions(h.version).to_string()),
        ("python_version", python_version(h.python_version)),
        ("pid", h.pid.to_string()),
        ("command_line", h.command_line.clone()),
        ("start_time_ms", h.stats.start_time_ms.to_string()),
        ("end_time_ms", h.stats.end_time_ms.to_string()),
        ("native_traces", h.native_traces.to_string()),
        (
            "python_allocator",
            python_allocator_name(h.python_allocator).to_string(),
        ),
        (
            "trace_python_allocators",
            h.trace_python_allocators.to_string(),
        ),
    ];
    pairs
        .into_iter()
        .map(|(k, v)| (format!("memform.{k}"), v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_allocators() {
        assert_eq!(python_version(0x030b07f0), "3.11.7");
        assert_eq!(python_version(0x030d00c1), "3.13.0");
        assert_eq!(python_version(0), "");
        assert_eq!(memray_versions(13), "1.20");
        assert_eq!(memray_versions(12), "1.19");
        assert_eq!(memray_versions(11), "1.11-1.18");
        assert_eq!(memray_versions(10), "1.7-1.10");
        assert_eq!(memray_versions(9), "unknown");
        assert_eq!(python_allocator_name(1), "pymalloc");
        assert_eq!(python_allocator_name(4), "unknown");
    }
}
