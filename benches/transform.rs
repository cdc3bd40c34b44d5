//! Criterion benchmarks of the pipeline stages on one capture: decoding alone, and whole
//! reports (peak, leaks, temporary) written as CSV.
//!
//! The capture defaults to the committed `--trace-python-allocators` fixture; point
//! `MEMFORM_BENCH_CAPTURE` at a large capture (e.g. one recorded from
//! `../shared/bench/bigcap.py`) for numbers that mean something.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use memform::analysis::{self, Options, ReportMode};
use memform::capture::{read_header, CaptureFile, Decoder};
use memform::progress::Silent;

fn capture_path() -> PathBuf {
    std::env::var_os("MEMFORM_BENCH_CAPTURE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/captures/v1.20.0-py3.11-pyalloc.bin")
        })
}

fn benches(c: &mut Criterion) {
    let path = capture_path();
    let capture = CaptureFile::open(&path).expect("capture opens");
    let mut group = c.benchmark_group("transform");
    group.throughput(Throughput::Bytes(capture.file_len()));
    group.sample_size(10);
    group.bench_function("decode", |b| {
        b.iter(|| {
            let mut stream = capture.stream();
            let header = read_header(&mut stream, &path).expect("header");
            let mut decoder = Decoder::new(&header, true);
            let mut events = 0u64;
            decoder
                .run(
                    &mut stream,
                    &path,
                    &mut |batch| events += batch.len() as u64,
                    &mut |_| {},
                )
                .expect("decodes");
            events
        })
    });
    for (name, mode) in [
        ("peak_csv", ReportMode::Peak),
        ("leaks_csv", ReportMode::Leaks),
        ("temporary_csv", ReportMode::Temporary { threshold: 1 }),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut report = analysis::compute(&capture, mode, Options::default(), &mut Silent)
                    .expect("report");
                let mut out = Vec::new();
                memform::report::csv::write(&mut report, &mut out).expect("csv");
                out.len()
            })
        });
    }
    group.finish();
}

criterion_group!(transform, benches);
criterion_main!(transform);
