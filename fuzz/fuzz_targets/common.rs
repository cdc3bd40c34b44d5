//! Shared by the fuzz targets: inputs become files, because captures are memory-mapped.

use std::path::PathBuf;
use std::sync::Arc;

use memform::analysis::pipeline::decode_inline;
use memform::analysis::{self, Options, ReportMode};
use memform::capture::{read_header, CaptureFile, Decoder};
use memform::events::lifetimes::Lifetimes;
use memform::progress::Silent;
use memform::report::parquet::{Codec, ParquetOptions};
use memform::format::Format;
use memform::stacks::native_stacks::ResolveIp;
use memform_symbolizer::NativeFrame;

/// Writes `bytes` to this process's scratch file (in /dev/shm when there is one).
pub fn scratch(bytes: &[u8]) -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!("memform-fuzz-{}.bin", std::process::id()));
    std::fs::write(&path, bytes).expect("scratch file");
    path
}

/// A valid v13 header (from a real capture) for the given file format.
pub fn header(aggregated: bool) -> Vec<u8> {
    let mut b = b"memray\0".to_vec();
    b.extend(13i32.to_le_bytes());
    b.extend(0x030b07f0u32.to_le_bytes());
    b.push(0); // native traces
    b.push(aggregated as u8);
    b.extend([0u8; 32]); // stats
    b.extend(b"python prog.py\0");
    b.extend(1234i32.to_le_bytes());
    b.extend(1u64.to_le_bytes()); // main tid
    b.extend(1u64.to_le_bytes()); // skipped frames
    b.extend([1, 0, 0]); // allocator, trace python allocators, object lifetimes
    b.extend(b"/usr/lib/python3.11\0/site\0\0/a\0\0");
    b
}

/// Decodes the whole record stream of `bytes` (errors are fine, panics are not).
pub fn decode(bytes: &[u8]) {
    let path = scratch(bytes);
    let Ok(capture) = CaptureFile::open(&path) else { return };
    let mut stream = capture.stream();
    let Ok(header) = read_header(&mut stream) else { return };
    let mut decoder = Decoder::new(&header);
    let _ = decoder.run(&mut stream, &mut |_| {}, &mut |_| true);
}

/// Native frames made up from the instruction pointer instead of read from ELF files (the
/// symbolizer has its own target, crates/symbolizer/fuzz): one to three frames, among them
/// the evaluation-loop names the hybrid stacks split on, or none.
struct MadeUpFrames;

impl ResolveIp for MadeUpFrames {
    fn resolve(&mut self, ip: u64, generation: u64) -> Option<Arc<[NativeFrame]>> {
        const NAMES: [&str; 6] = [
            "_PyEval_EvalFrameDefault",
            "_TAIL_CALL_LOAD_ATTR.llvm.123",
            "_TAIL_CALL_CALL",
            "PyObject_Malloc",
            "main",
            "",
        ];
        let h = (ip ^ generation.rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        if h >> 61 == 0 {
            return None;
        }
        let frames = (0..1 + (h >> 59) % 3)
            .map(|i| NativeFrame {
                function: NAMES[((h >> (8 * i)) % NAMES.len() as u64) as usize].to_string(),
                file: if h & 1 == 0 { "<unknown>".into() } else { "lib.c".into() },
                line: (h >> 40) as u32 % 1000,
            })
            .collect::<Vec<_>>();
        Some(frames.into())
    }
}

/// One report mode in one format, both chosen by the input's length (so that a finding
/// replays as a plain capture file, which tests/integration/fuzz_regressions.rs runs in every
/// mode and format), native frames made up ([`MadeUpFrames`]).
pub fn transform(bytes: &[u8]) {
    let path = scratch(bytes);
    let Ok(capture) = CaptureFile::open(&path) else { return };
    let modes = [
        ReportMode::Peak,
        ReportMode::Leaks,
        ReportMode::Temporary { threshold: 0 },
        ReportMode::Temporary { threshold: 3 },
    ];
    let mode = modes[bytes.len() % modes.len()];
    let format = Format::REPORTS[(bytes.len() / modes.len()) % Format::REPORTS.len()];
    let options = Options { high_water_mark: true, threads: 1 };
    let Ok(mut report) = analysis::compute(&capture, mode, options, &mut Silent) else { return };
    if let Some(native) = report.native.as_mut() {
        native.set_resolver(Box::new(MadeUpFrames));
    }
    // Uncompressed: the codecs are the parquet crate's, the same for every report.
    let parquet = ParquetOptions {
        compression: Codec::None,
        ..ParquetOptions::for_capture(&path)
    };
    let _ = format.write(&mut report, std::io::sink(), &parquet);
    // The aggregate format: its own pass, then its bytes.
    if let Ok(aggregated) = memform::aggregate::aggregate(&capture, 1, &mut Silent) {
        let _ = memform::aggregate::write(std::io::sink(), &aggregated);
    }
    // The events dataset's pass (its rows, not its files): no allocation ends before it
    // starts, and the high-water mark is the report's.
    let mut stream = capture.stream();
    let Ok(header) = read_header(&mut stream) else { return };
    let mut lifetimes = Lifetimes::default();
    let consume = &mut |batch: &memform::capture::EventBatch| {
        lifetimes.consume(
            batch,
            &mut |_, l| assert!(l.freed_at.is_none_or(|f| f >= l.seq)),
            &mut |_| {},
        )
    };
    if decode_inline(Decoder::new(&header), stream, consume, None, &mut Silent).is_ok() {
        lifetimes.finish(&mut |_, l| assert!(l.freed_at.is_none()));
        if let Some(hwm) = report.high_water_mark {
            assert_eq!(hwm, lifetimes.high_water_mark());
        }
    }
}

/// `memform stats` on arbitrary input: the statistics' pass and both renderings, and its
/// peak against the peak report's high-water mark (two passes, one heap).
pub fn stats(bytes: &[u8]) {
    let path = scratch(bytes);
    let Ok(capture) = CaptureFile::open(&path) else { return };
    let Ok(stats) = memform::stats::stats(&capture, 1 + bytes.len() % 12, 1, &mut Silent) else {
        return;
    };
    let _ = memform::stats::render::text(&stats);
    let _ = memform::stats::render::json(&stats);
    // The same statistics counted beside the peak report's analysis (`transform
    // csv,stats`), whose high-water mark is the statistics' peak.
    let options = Options { high_water_mark: true, threads: 1 };
    let mut pass = memform::stats::compute::StatsPass::default();
    let mut count = |b: &memform::capture::EventBatch| pass.consume(b);
    let computed =
        analysis::compute_with(&capture, ReportMode::Peak, options, Some(&mut count), &mut Silent);
    if let Ok(mut report) = computed {
        if let Some(hwm) = report.high_water_mark {
            assert_eq!(hwm.bytes, stats.peak_bytes);
        }
        let statistics = pass.finish(report.header.clone(), report.total_allocations, report.end);
        let beside = memform::stats::summarize(statistics, &mut report.stacks, stats.num_largest);
        assert_eq!(memform::stats::render::json(&beside), memform::stats::render::json(&stats));
    }
}

/// `memform diff` of arbitrary input against itself, in the report mode and key the input's
/// length chooses: every delta zero, each side the other, and every output written.
pub fn diff(bytes: &[u8]) {
    use memform::diff::output::{write, DiffFormat, WriteOptions};
    use memform::diff::{DiffKey, DiffOptions};

    let path = scratch(bytes);
    let modes = [ReportMode::Peak, ReportMode::Leaks, ReportMode::Temporary { threshold: 1 }];
    let options = DiffOptions {
        mode: modes[bytes.len() % modes.len()],
        by: DiffKey::ALL[(bytes.len() / modes.len()) % DiffKey::ALL.len()],
        threads: 1,
    };
    let Ok(diff) = memform::diff::diff(&path, &path, &options, &mut Silent) else { return };
    assert_eq!((diff.base.size, diff.base.allocations), (diff.new.size, diff.new.allocations));
    for row in &diff.rows {
        assert_eq!(row.base, row.new);
        assert_eq!((row.delta_size(), row.delta_allocations()), (0, 0));
    }
    let options = WriteOptions { compression: Codec::None, ..WriteOptions::default() };
    for format in DiffFormat::ALL {
        let _ = write(&diff, format, &options, &mut std::io::sink());
    }
}
