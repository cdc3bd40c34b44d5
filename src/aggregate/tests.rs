//! The aggregated capture read back by memform's own decoder: records, header, snapshots,
//! thread names and stacks as written, and the peak and leaks reports of the original.

use std::path::{Path, PathBuf};

use super::*;
use crate::analysis::{compute, Options, ReportMode};
use crate::capture::cursor::Cursor;
use crate::capture::read_header;
use crate::format::Format;
use crate::progress::Silent;
use crate::report::ParquetOptions;

fn fixture(dir: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
        .join("captures")
        .join(name)
}

/// The full captures among the fixtures, with the directory they are in.
fn full_fixtures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["", "versions"] {
        let captures = fixture(dir, "");
        for entry in std::fs::read_dir(&captures).expect("fixture captures") {
            let path = entry.expect("entry").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if name.ends_with(".bin") && !name.contains("aggregate") && !name.contains("nativeagg")
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn aggregated_bytes(path: &Path) -> (AggregatedCapture, Vec<u8>) {
    let capture = CaptureFile::open(path).expect("capture");
    let aggregated = aggregate(&capture, 1, &mut Silent).expect("aggregate");
    let mut out = Vec::new();
    write(&mut out, &aggregated).expect("write");
    (aggregated, out)
}

fn csv(path: &Path, mode: ReportMode) -> Vec<u8> {
    let capture = CaptureFile::open(path).expect("capture");
    let mut report = compute(&capture, mode, Options::default(), &mut Silent).expect("report");
    let mut out = Vec::new();
    Format::Csv
        .write(&mut report, &mut out, &ParquetOptions::for_capture(path))
        .expect("csv");
    out
}

fn decompress(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut lz4_flex::frame::FrameDecoder::new(bytes), &mut out)
        .expect("an LZ4 frame");
    out
}

#[test]
fn records_round_trip_through_the_decoder() {
    for path in full_fixtures() {
        let name = path.display().to_string();
        let (aggregated, bytes) = aggregated_bytes(&path);
        assert_eq!(bytes[..4], crate::capture::source::LZ4_MAGIC, "{name}");
        let raw = decompress(&bytes);
        let mut c = Cursor::new(&raw);
        let header = Header::parse(&mut c).expect("header");
        assert_eq!(header, aggregated.header, "{name}");
        assert_eq!(header.version, 13);
        assert_eq!(header.file_format, FileFormat::AggregatedAllocations);
        let at = c.position();

        let tmp = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(tmp.path(), &bytes).expect("write");
        let back = CaptureFile::open(tmp.path()).expect("aggregated capture");
        let mut stream = back.stream();
        let read = read_header(&mut stream).expect("header");
        assert_eq!(read, header, "{name}");
        let mut decoder = Decoder::new(&read);
        let end = decoder
            .run(&mut stream, &mut |_| {}, &mut |_| true)
            .expect("records");
        assert_eq!(end, StreamEnd::Trailer, "{name}");
        assert_eq!(decoder.aggregated, aggregated.records, "{name}");
        assert_eq!(
            decoder.memory_records,
            aggregated.snapshots.len() as u64,
            "{name}"
        );
        let mut names: Vec<(u64, String)> = decoder.thread_names(u64::MAX).into_iter().collect();
        names.sort_unstable();
        assert_eq!(names, aggregated.thread_names, "{name}");
        assert_eq!(decoder.native_frames, aggregated.native_frames, "{name}");
        assert_eq!(
            PythonStacks::from_table(&decoder.stacks),
            aggregated.stacks,
            "{name}"
        );
        assert!(at > 0 && !aggregated.records.is_empty(), "{name}");
    }
}

#[test]
fn memory_snapshots_carry_the_heap_size_at_their_record() {
    // Raw bytes of the snapshots: the first record after the header.
    let path = fixture("", "v1.20.0-py3.11-default.bin");
    let (aggregated, bytes) = aggregated_bytes(&path);
    assert!(!aggregated.snapshots.is_empty());
    let raw = decompress(&bytes);
    let mut c = Cursor::new(&raw);
    Header::parse(&mut c).expect("header");
    for s in &aggregated.snapshots {
        assert_eq!(c.u8().unwrap(), 1, "MEMORY_SNAPSHOT");
        assert_eq!(c.u64_le().unwrap(), s.time_ms as u64);
        assert_eq!(c.u64_le().unwrap(), s.rss);
        assert_eq!(c.u64_le().unwrap(), s.heap);
    }
    // The heap size follows the allocations: it is never above the high-water mark.
    let capture = CaptureFile::open(&path).unwrap();
    let options = Options {
        high_water_mark: true,
        threads: 1,
    };
    let report = compute(&capture, ReportMode::Peak, options, &mut Silent).unwrap();
    let peak = report.high_water_mark.unwrap().bytes;
    assert!(aggregated.snapshots.iter().all(|s| s.heap <= peak));
    assert!(aggregated.snapshots.iter().any(|s| s.heap > 0));
}

#[test]
fn peak_and_leaks_reports_equal_the_originals() {
    for path in full_fixtures() {
        let name = path.display().to_string();
        let (_, bytes) = aggregated_bytes(&path);
        let tmp = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(tmp.path(), &bytes).expect("write");
        for mode in [ReportMode::Peak, ReportMode::Leaks] {
            let original = String::from_utf8(csv(&path, mode)).unwrap();
            let again = String::from_utf8(csv(tmp.path(), mode)).unwrap();
            assert_eq!(again, original, "{name} {mode}");
        }
    }
}

#[test]
fn aggregated_captures_are_refused() {
    let path = fixture("", "v1.20.0-py3.11-aggregate.bin");
    let capture = CaptureFile::open(&path).unwrap();
    let err = aggregate(&capture, 1, &mut Silent).unwrap_err();
    assert!(matches!(err, CaptureError::AlreadyAggregated { .. }));
    assert!(err.to_string().contains("already aggregated"), "{err}");
}

#[test]
fn one_thread_and_two_threads_agree() {
    let path = fixture("", "v1.20.0-py3.13-pyalloc.bin");
    let capture = CaptureFile::open(&path).unwrap();
    let one = aggregate(&capture, 1, &mut Silent).unwrap();
    let two = aggregate(&capture, 2, &mut Silent).unwrap();
    assert_eq!(one.records, two.records);
    assert_eq!(one.snapshots, two.snapshots);
}
