//! The malformed-input suite: damaged and hostile captures never cause a panic, a hang, a
//! runaway allocation or a partial output file — only memray's behaviour (the complete records
//! before a cut) or one clear error line naming the file and the byte offset.
//!
//! Most cases run in-process through the library (fast enough to try every truncation point
//! of a capture); a sample of them, and every hostile case, also runs the `memform` binary to
//! check exit codes, stderr, the output file and the child's peak memory.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::*;
use memform::analysis::{self, Options, ReportMode};
use memform::capture::CaptureFile;
use memform::format::Format;
use memform::progress::Silent;
use memform::report::parquet::ParquetOptions;

const MODES: [ReportMode; 3] = [
    ReportMode::Peak,
    ReportMode::Leaks,
    ReportMode::Temporary { threshold: 1 },
];

/// What one damaged input did in-process.
enum Outcome {
    Reported,
    Failed(String),
}

/// Runs every report mode and format over `path` in-process; panics propagate as test
/// failures. Errors must name the file.
fn run_in_process(path: &Path, with_parquet: bool) -> Outcome {
    let capture = match CaptureFile::open(path) {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let mut failure = None;
    let mut peak_failure = None;
    for mode in MODES {
        // The statistics counted beside each report's analysis (`transform csv,stats`).
        let mut pass = memform::stats::compute::StatsPass::default();
        let mut count = |b: &memform::capture::EventBatch| pass.consume(b);
        let result = analysis::compute_with(
            &capture,
            mode,
            Options::default(),
            Some(&mut count),
            &mut Silent,
        );
        match result {
            Ok(mut report) => {
                if report.header.file_format == memform::capture::FileFormat::AllAllocations {
                    let records = report.total_allocations;
                    let statistics = pass.finish(report.header.clone(), records, report.end);
                    let stats = memform::stats::summarize(statistics, &mut report.stacks, 5);
                    let _ = memform::stats::render::json(&stats);
                }
                for format in Format::REPORTS {
                    // Parquet encoding is slow next to the rest; the binary runs cover it too.
                    if format == Format::Parquet && !with_parquet {
                        continue;
                    }
                    format
                        .write(
                            &mut report,
                            std::io::sink(),
                            &ParquetOptions::for_capture(path),
                        )
                        .expect("writing to a sink cannot fail");
                }
            }
            Err(e) => {
                if mode == ReportMode::Peak {
                    peak_failure = Some(e.to_string());
                }
                failure = Some(e.to_string());
            }
        }
    }
    // The aggregate format's own pass: no panic, and the same verdict as the reports.
    match memform::aggregate::aggregate(&capture, 1, &mut Silent) {
        Ok(aggregated) => {
            memform::aggregate::write(std::io::sink(), &aggregated)
                .expect("writing to a sink cannot fail");
        }
        Err(memform::CaptureError::AlreadyAggregated { .. }) => {}
        Err(e) => failure = Some(e.to_string()),
    }
    // The statistics' own pass: no panic, and the verdict of the reports (an aggregated
    // capture has reports and no statistics); both renderings of what it computed.
    match memform::stats::stats(&capture, 5, 1, &mut Silent) {
        Ok(stats) => {
            assert!(
                failure.is_none(),
                "{}: the reports failed ({failure:?}), the statistics did not",
                path.display()
            );
            let _ = memform::stats::render::text(&stats);
            let _ = memform::stats::render::json(&stats);
        }
        Err(memform::CaptureError::StatsOnAggregated { .. }) => {}
        Err(e) => {
            assert_clear_message(&e.to_string(), path, "stats");
            assert!(
                failure.is_some(),
                "{}: the statistics failed ({e}), the reports did not",
                path.display()
            );
        }
    }
    // `memform diff` of the capture against itself: the verdict of the peak report (in
    // the same words), and every output of what it computed.
    let options = memform::diff::DiffOptions::default();
    match memform::diff::diff(path, path, &options, &mut Silent) {
        Ok(diff) => {
            assert!(
                peak_failure.is_none(),
                "{}: the peak report failed ({peak_failure:?}), the diff did not",
                path.display()
            );
            for format in memform::diff::output::DiffFormat::ALL {
                if format == memform::diff::output::DiffFormat::Parquet && !with_parquet {
                    continue;
                }
                let write = memform::diff::output::WriteOptions::default();
                memform::diff::output::write(&diff, format, &write, &mut std::io::sink())
                    .expect("writing to a sink cannot fail");
            }
        }
        Err(e) => {
            assert_clear_message(&e.to_string(), path, "diff");
            assert_eq!(
                peak_failure.as_deref(),
                Some(e.to_string().as_str()),
                "{}: the diff's error and the peak report's",
                path.display()
            );
        }
    }
    if with_parquet {
        // The events dataset reads the capture by its own pass: it must fail (or not) just
        // as the reports do, leaving no folder.
        let out = std::env::temp_dir().join(format!(
            "memform-malformed-events-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let events = memform::events::write_dataset(
            &capture,
            &out,
            &memform::events::EventsOptions::default(),
            &mut Silent,
        );
        match (&events, &failure) {
            (Ok(_), None) => std::fs::remove_dir_all(&out).expect("the dataset's folder"),
            (Err(_), Some(_)) => assert!(!out.exists(), "{}: a folder left", path.display()),
            // An aggregated capture has reports and no events.
            (Err(memform::Error::Capture(memform::CaptureError::EventsOfAggregated { .. })), _) => {
            }
            _ => panic!(
                "{}: the reports gave {:?}, the events dataset {:?}",
                path.display(),
                failure,
                events.as_ref().map(|_| ())
            ),
        }
    }
    match failure {
        None => Outcome::Reported,
        Some(message) => Outcome::Failed(message),
    }
}

/// An error message must name the file and, for malformed bytes, where they are.
fn assert_clear_message(message: &str, path: &Path, case: &str) {
    assert!(
        !message.contains('\n'),
        "{case}: multi-line message {message:?}"
    );
    let names_file = message.contains(&path.display().to_string());
    let aggregated_temporary = message.starts_with("Can't find temporary allocations");
    assert!(
        names_file || aggregated_temporary,
        "{case}: {message:?} does not name the file"
    );
    let about_bytes = [
        "malformed",
        "ends early",
        "LZ4",
        "not a memray capture",
        "version",
    ]
    .iter()
    .any(|w| message.contains(w));
    if about_bytes {
        assert!(
            message.contains("byte "),
            "{case}: {message:?} has no offset"
        );
    }
}

/// Runs the binary on `input`; checks exit code, stderr, output file and time. Returns the
/// child's peak RSS.
fn run_binary(input: &Path, dir: &Path, case: &str) -> u64 {
    let out = dir.join("report.csv");
    let _ = std::fs::remove_file(&out);
    let Finished {
        code,
        stderr: err,
        max_rss,
    } = transform_within("csv", &out, input, Duration::from_secs(20), case);
    match code {
        0 => {
            assert!(out.exists(), "{case}: exit 0 without a report");
            for line in err.lines() {
                assert!(line.starts_with("memform: warning: "), "{case}: {line}");
            }
        }
        1 => {
            assert!(!out.exists(), "{case}: a failed run left {out:?}");
            assert_eq!(err.lines().count(), 1, "{case}: stderr {err:?}");
            let message = err
                .strip_prefix("memform: error: ")
                .unwrap_or_else(|| panic!("{case}: {err:?}"));
            assert_clear_message(message.trim_end(), input, case);
        }
        other => panic!("{case}: exit code {other}: {err}"),
    }
    assert_no_temporary_files(dir, case);
    // `memform diff` of the capture against itself: the same verdict, one line.
    let diffed = dir.join("diff.csv");
    let _ = std::fs::remove_file(&diffed);
    let args = [
        OsStr::new("diff"),
        input.as_os_str(),
        input.as_os_str(),
        OsStr::new("-q"),
        OsStr::new("-o"),
        diffed.as_os_str(),
    ];
    let diff = memform_within(&args, Duration::from_secs(20), case);
    assert_eq!(diff.code, code, "{case}: diff {}", diff.stderr);
    if code == 0 {
        assert!(diffed.exists(), "{case}: diff exit 0 without a file");
        for line in diff.stderr.lines() {
            assert!(
                line.starts_with("memform: warning: ") || line.starts_with("memform: peak "),
                "{case}: diff {line}"
            );
        }
    } else {
        assert!(!diffed.exists(), "{case}: a failed diff left its file");
        assert_eq!(diff.stderr, err, "{case}: the diff's error line");
    }
    assert_no_temporary_files(dir, case);
    max_rss.max(diff.max_rss)
}

struct Suite {
    dir: tempfile::TempDir,
    cases: usize,
    binary_runs: usize,
    largest_input: u64,
    /// The largest peak RSS of the binary's runs.
    peak_rss: u64,
}

impl Suite {
    fn new() -> Suite {
        Suite {
            dir: tempfile::tempdir().unwrap(),
            cases: 0,
            binary_runs: 0,
            largest_input: 0,
            peak_rss: 0,
        }
    }

    fn input(&self) -> PathBuf {
        self.dir.path().join("input.bin")
    }

    /// Fails if a run of the binary took more than its input and 64 MiB; prints the case
    /// counts of `part` of the suite.
    fn check_memory_and_report(&self, part: &str) {
        let rss = self.peak_rss;
        assert!(
            rss < self.largest_input + (64 << 20),
            "peak memory {rss} bytes on inputs of at most {} bytes",
            self.largest_input
        );
        eprintln!(
            "malformed-input suite ({part}): {} cases, {} through the binary, peak child RSS {} KiB",
            self.cases,
            self.binary_runs,
            rss / 1024
        );
    }

    /// One case: `bytes` as a capture; the binary runs too when `binary` is set.
    fn case(&mut self, name: &str, bytes: &[u8], binary: bool) {
        let input = self.input();
        std::fs::write(&input, bytes).unwrap();
        self.cases += 1;
        self.largest_input = self.largest_input.max(bytes.len() as u64);
        if let Outcome::Failed(message) = run_in_process(&input, self.cases.is_multiple_of(16)) {
            assert_clear_message(&message, &input, name);
        }
        if binary {
            let out_dir = self.dir.path().join("out");
            std::fs::create_dir_all(&out_dir).unwrap();
            let rss = run_binary(&input, &out_dir, name);
            self.peak_rss = self.peak_rss.max(rss);
            self.binary_runs += 1;
        }
    }
}

/// A small deterministic generator (xorshift) for sampled offsets.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// LZ4 frame blocks: `(start, end)` of each block including its 4-byte size word.
fn lz4_blocks(frame: &[u8]) -> Vec<(usize, usize)> {
    let flags = frame[4];
    let mut pos =
        4 + 2 + if flags & 0x08 != 0 { 8 } else { 0 } + if flags & 0x01 != 0 { 4 } else { 0 } + 1;
    let mut blocks = Vec::new();
    while pos + 4 <= frame.len() {
        let word = u32::from_le_bytes(frame[pos..pos + 4].try_into().unwrap());
        if word == 0 {
            break;
        }
        let len = (word & 0x7fff_ffff) as usize + if flags & 0x10 != 0 { 4 } else { 0 };
        blocks.push((pos, (pos + 4 + len).min(frame.len())));
        pos += 4 + len;
    }
    blocks
}

#[test]
fn damaged_captures_fail_cleanly_or_report_their_prefix() {
    let mut suite = Suite::new();
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    for name in [
        "v1.20.0-py3.11-nocompress.bin",
        "v1.20.0-py3.13-killed.bin",
        "v1.20.0-py3.11-default.bin",
        "v1.20.0-py3.11-aggregate.bin",
    ] {
        let bytes = std::fs::read(capture(name)).unwrap();
        let compressed = bytes.starts_with(&[0x04, 0x22, 0x4d, 0x18]);
        // Truncation points: every byte of the header and of the first 2 KiB of records (every
        // record boundary there, and every point inside a record), then every 13th byte.
        let dense = if compressed {
            600
        } else {
            first_record_offset(&capture(name)) + 2048
        };
        let mut cuts: Vec<usize> = (0..bytes.len().min(dense)).collect();
        cuts.extend((dense..bytes.len()).step_by(13));
        if compressed {
            cuts.extend((0..200).map(|_| rng.below(bytes.len())));
        }
        for (i, &cut) in cuts.iter().enumerate() {
            suite.case(&format!("{name} cut at {cut}"), &bytes[..cut], i % 97 == 0);
        }
        // Single-bit flips, sampled.
        let start = if compressed {
            0
        } else {
            first_record_offset(&capture(name)) / 2
        };
        for i in 0..400 {
            let pos = start + rng.below(bytes.len() - start);
            let bit = rng.below(8);
            let mut b = bytes.clone();
            b[pos] ^= 1 << bit;
            suite.case(&format!("{name} bit {bit} of byte {pos}"), &b, i % 20 == 0);
        }
        // Duplicated and dropped blocks: LZ4 blocks, or 1 KiB chunks of raw captures.
        let blocks: Vec<(usize, usize)> = if compressed {
            lz4_blocks(&bytes)
        } else {
            (first_record_offset(&capture(name))..bytes.len())
                .step_by(1024)
                .map(|s| (s, (s + 1024).min(bytes.len())))
                .collect()
        };
        for (k, &(s, e)) in blocks.iter().enumerate() {
            let mut dup = bytes[..e].to_vec();
            dup.extend_from_slice(&bytes[s..]);
            suite.case(&format!("{name} block {k} duplicated"), &dup, k % 4 == 0);
            let mut drop = bytes[..s].to_vec();
            drop.extend_from_slice(&bytes[e..]);
            suite.case(&format!("{name} block {k} dropped"), &drop, k % 4 == 1);
        }
    }
    assert!(suite.cases > 10_000, "only {} cases", suite.cases);
    suite.check_memory_and_report("damage");
}

#[test]
fn hostile_headers_and_lengths() {
    let mut suite = Suite::new();
    let raw = std::fs::read(capture("v1.20.0-py3.11-nocompress.bin")).unwrap();
    let body = first_record_offset(&capture("v1.20.0-py3.11-nocompress.bin"));
    let header = &raw[..body];

    // Wrong magics.
    for (i, magic) in [
        &b"MEMRAY\0"[..],
        b"memray!",
        b"\0\0\0\0\0\0\0",
        b"\x04\x22\x4d\x19",
        b"memra",
    ]
    .iter()
    .enumerate()
    {
        let mut b = raw.clone();
        b[..magic.len()].copy_from_slice(magic);
        suite.case(&format!("magic {i}"), &b, true);
    }
    // Every header version but the supported ones.
    for version in (-3i32..=300).chain([i32::MAX, i32::MIN]) {
        let mut b = raw.clone();
        b[7..11].copy_from_slice(&version.to_le_bytes());
        suite.case(&format!("version {version}"), &b, version % 50 == 0);
    }
    // A command line with no NUL terminator up to the end of the file.
    let mut b = header[..49].to_vec();
    b.extend(std::iter::repeat_n(b'x', 100_000));
    suite.case("unterminated command line", &b, true);

    // Records after a valid header.
    let with = |records: &[u8]| {
        let mut b = header.to_vec();
        b.push(12); // CONTEXT_SWITCH to thread 1
        b.extend(1u64.to_le_bytes());
        b.extend_from_slice(records);
        b
    };
    // A segment header claiming 2^60 segments.
    let mut seg = vec![7u8];
    seg.extend(b"/lib/x.so\0");
    let mut count = 1u64 << 60;
    while count >= 0x80 {
        seg.push((count as u8) | 0x80);
        count >>= 7;
    }
    seg.push(count as u8);
    seg.extend(0u64.to_le_bytes());
    suite.case("2^60 segments", &with(&seg), true);
    // A code object whose line table claims 2^62 bytes.
    let mut code = vec![14u8, 1];
    code.extend(b"f\0file.py\0");
    code.push(2);
    code.extend([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f]);
    suite.case("huge line table", &with(&code), true);
    // Varints of ten bytes (the longest valid) and of eleven (malformed) as allocation sizes.
    for (n, name) in [(10usize, "10-byte varint"), (11, "11-byte varint")] {
        let mut rec = vec![0x80 | (0x0f << 3) | 6, 0x02]; // MALLOC, address delta +1
        rec.extend(std::iter::repeat_n(0xffu8, n - 1));
        rec.push(0x01);
        suite.case(name, &with(&rec), true);
    }
    // Frame pops beyond the stack, an allocator id out of range, a record type that does
    // not exist.
    suite.case("pop on empty stack", &with(&[0x1f]), true);
    suite.case(
        "allocator 99",
        &with(&[0x80 | (0x0f << 3), 0x02, 99, 0x10]),
        true,
    );
    suite.case("record type 3", &with(&[3]), true);

    // LZ4 frames: a content size of 2^62, a block claiming 2 GiB, a corrupt block.
    let lz4 = std::fs::read(capture("v1.20.0-py3.11-default.bin")).unwrap();
    let mut frame = vec![0x04, 0x22, 0x4d, 0x18, 0x40 | 0x08, 0x70];
    frame.extend((1u64 << 62).to_le_bytes());
    frame.push(0); // header checksum (wrong on purpose too)
    frame.extend(&lz4[7..]);
    suite.case("lz4 content size 2^62", &frame, true);
    let mut big_block = lz4[..7].to_vec();
    big_block.extend(0x7fff_ffffu32.to_le_bytes());
    big_block.extend(&lz4[11..]);
    suite.case("lz4 block of 2 GiB", &big_block, true);

    suite.check_memory_and_report("hostile");
    let _ = std::io::stderr().flush();
}

#[test]
fn truncated_captures_match_memray() {
    // Cut points and memray 1.20.0's outputs: scripts/make_truncation_fixtures.py.
    let dir = fixtures().join("truncated");
    let out_dir = tempfile::tempdir().unwrap();
    let mut compared = 0;
    for input in files(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
    {
        let stem = input.file_stem().unwrap().to_string_lossy().into_owned();
        for (format, report, ext) in [
            ("gprof2dot", "peak", "json"),
            ("gprof2dot", "leaks", "json"),
            ("csv", "temp", "csv"),
        ] {
            let expected = dir.join(format!("{stem}-{format}-{report}.{ext}"));
            let out = out_dir
                .path()
                .join(format!("{stem}-{format}-{report}.{ext}"));
            let mut args = vec!["transform", format, "-q", "-o", out.to_str().unwrap()];
            args.extend(report_flags(report));
            args.push(input.to_str().unwrap());
            let o = memform(&args);
            assert_eq!(o.status.code(), Some(0), "{stem}: {}", stderr(&o));
            // A cut inside the zero padding after the trailer loses nothing: no warning.
            let err = stderr(&o);
            assert!(
                err.is_empty() || err.starts_with("memform: warning: "),
                "{stem}: {err}"
            );
            assert_eq!(
                std::fs::read(&out).unwrap(),
                std::fs::read(&expected).unwrap(),
                "{stem} {format} {report}"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 72, "truncation fixtures");
}
