//! Criterion benchmarks of each stage of a report, on one capture:
//!
//! - `decode`: the record decoder into event batches (throughput: decompressed record bytes);
//! - `analysis/{peak,leaks,temporary}`: each analysis over decoded batches, reduction into
//!   rows included (throughput: allocation events);
//! - `reduce`: the reduction alone, every allocation event a member (throughput: members);
//! - `write/{csv,gprof2dot,speedscope,parquet}`: each writer on the peak report (throughput:
//!   rows).
//!
//! The capture defaults to the committed `--trace-python-allocators` fixture; point
//! `MEMFORM_BENCH_CAPTURE` at a large capture (e.g. one recorded from
//! `../shared/bench/bigcap.py`, or by `scripts/make_bench_captures.sh`) for numbers that mean
//! something. The analyses replay at most [`MAX_BATCHES`] batches held in memory.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use memform::analysis::heap::HeapTracker;
use memform::analysis::reduction::{Member, Reducer, Representative};
use memform::analysis::temporary::TemporaryAllocations;
use memform::analysis::{self, Options, ReportMode};
use memform::capture::{read_header, CaptureFile, Decoder, EventBatch};
use memform::format::Format;
use memform::progress::Silent;
use memform::report::ParquetOptions;

/// At most this many batches (2^16 events each) are kept in memory for the analyses.
const MAX_BATCHES: usize = 64;

fn capture_path() -> PathBuf {
    std::env::var_os("MEMFORM_BENCH_CAPTURE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/captures/v1.20.0-py3.11-pyalloc.bin")
        })
}

/// Decodes `capture`, returning its record bytes and its first [`MAX_BATCHES`] batches.
fn decoded(capture: &CaptureFile) -> (u64, Vec<EventBatch>) {
    let mut stream = capture.stream();
    let header = read_header(&mut stream).expect("header");
    let start = stream.offset();
    let mut decoder = Decoder::new(&header);
    let mut batches = Vec::new();
    decoder
        .run(
            &mut stream,
            &mut |batch| {
                if batches.len() < MAX_BATCHES {
                    batches.push(batch);
                }
            },
            &mut |_| true,
        )
        .expect("decodes");
    (stream.offset() - start, batches)
}

fn benches(c: &mut Criterion) {
    let path = capture_path();
    let capture = CaptureFile::open(&path).expect("capture opens");
    let (record_bytes, batches) = decoded(&capture);
    let events: u64 = batches.iter().map(|b| b.len() as u64).sum();

    let mut group = c.benchmark_group("decode");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(record_bytes));
    group.bench_function("decode", |b| {
        b.iter(|| {
            let mut stream = capture.stream();
            let header = read_header(&mut stream).expect("header");
            let mut decoder = Decoder::new(&header);
            decoder
                .run(&mut stream, &mut |_| {}, &mut |_| true)
                .expect("decodes");
            decoder.allocations
        })
    });
    group.finish();

    let mut group = c.benchmark_group("analysis");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events));
    group.bench_function("peak", |b| {
        b.iter(|| {
            let mut heap = HeapTracker::default();
            batches.iter().for_each(|batch| heap.consume(batch));
            heap.reduce_at_peak().finish()
        })
    });
    group.bench_function("leaks", |b| {
        b.iter(|| {
            let mut heap = HeapTracker::default();
            batches.iter().for_each(|batch| heap.consume(batch));
            heap.reduce_at_end().finish()
        })
    });
    group.bench_function("temporary", |b| {
        b.iter(|| {
            let mut temporary = TemporaryAllocations::new(1);
            batches.iter().for_each(|batch| temporary.consume(batch));
            temporary.reduce().finish()
        })
    });
    group.finish();

    let members: Vec<Member> = batches
        .iter()
        .flat_map(|batch| batch.iter())
        .filter(|e| !e.allocator.is_deallocator())
        .map(Member::from)
        .collect();
    let mut group = c.benchmark_group("reduce");
    group.sample_size(10);
    group.throughput(Throughput::Elements(members.len() as u64));
    group.bench_function("reduce", |b| {
        b.iter(|| {
            let mut reducer = Reducer::new(Representative::HashOrder);
            members.iter().for_each(|&m| reducer.add(m));
            reducer.finish()
        })
    });
    group.finish();

    let mut report = analysis::compute(&capture, ReportMode::Peak, Options::default(), &mut Silent)
        .expect("report");
    let parquet = ParquetOptions::for_capture(&path);
    let mut group = c.benchmark_group("write");
    group.sample_size(10);
    group.throughput(Throughput::Elements(report.rows.num_rows() as u64));
    for format in Format::REPORTS {
        group.bench_function(format.name(), |b| {
            b.iter(|| {
                let mut out = Vec::new();
                format
                    .write(&mut report, &mut out, &parquet)
                    .expect("writes");
                out.len()
            })
        });
    }
    group.finish();
}

criterion_group!(transform, benches);
criterion_main!(transform);
