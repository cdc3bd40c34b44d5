//! Damaged `--native` captures: truncations, bit flips, and dropped or inserted bytes in the
//! record stream of a native fixture (decompressed, so the damage lands in records, native
//! frame records and memory maps rather than in the LZ4 framing). Every case runs the binary:
//! exit 0 with a report, or exit 1 with one error line naming the file and no report left —
//! never a panic, a signal or a hang.
//!
//! A separate test binary from the malformed-input suite, because resolving native frames
//! loads the debug information of real libraries: its peak memory is bounded here by its own,
//! larger limit (docs/native-frames.md), measured over this binary's children only.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use crate::common::*;

/// memform's peak RSS on these inputs is about 90 MiB (libpython's and libc's debug
/// information); this catches growth well beyond that.
const PEAK_LIMIT: u64 = 192 << 20;

/// Runs the binary on `input` in `format`; returns its exit code after checking the rules,
/// and its peak RSS.
fn run(input: &Path, out: &Path, format: &str, case: &str) -> (i32, u64) {
    let _ = std::fs::remove_file(out);
    let Finished {
        code,
        stderr: err,
        max_rss,
    } = transform_within(format, out, input, Duration::from_secs(30), case);
    match code {
        0 => assert!(out.exists(), "{case}: exit 0 without a report"),
        1 => {
            assert!(!out.exists(), "{case}: a failed run left a report");
            assert_eq!(err.lines().count(), 1, "{case}: stderr {err:?}");
            assert!(
                err.starts_with(&format!("memform: error: {}: ", input.display())),
                "{case}: {err:?}"
            );
        }
        other => panic!("{case}: exit code {other}: {err}"),
    }
    (code, max_rss)
}

#[test]
fn damaged_native_captures_fail_cleanly_or_report_their_prefix() {
    let compressed = std::fs::read(capture("v1.20.0-py3.11-native.bin")).unwrap();
    let mut raw = Vec::new();
    lz4_flex::frame::FrameDecoder::new(&compressed[..])
        .read_to_end(&mut raw)
        .unwrap();
    assert!(raw.starts_with(b"memray\0"));
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("native.bin");
    let out = dir.path().join("report.out");
    let formats = ["csv", "gprof2dot", "speedscope", "parquet"];
    let mut seed = 0x6e61_7469_7665_u64;
    let mut below = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let (mut cases, mut reported, mut rss) = (0, 0, 0u64);
    for i in 0..160 {
        let mut b = raw.clone();
        let what = match i % 4 {
            0 => {
                let cut = below(b.len());
                b.truncate(cut);
                format!("cut at {cut}")
            }
            1 => {
                let pos = 64 + below(b.len() - 64);
                let bit = below(8);
                b[pos] ^= 1 << bit;
                format!("bit {bit} of byte {pos}")
            }
            2 => {
                let pos = 64 + below(b.len() - 64);
                let end = (pos + 1 + below(256)).min(b.len());
                b.drain(pos..end);
                format!("bytes {pos}..{end} dropped")
            }
            _ => {
                let pos = 64 + below(b.len() - 64);
                let len = 1 + below(64);
                let junk: Vec<u8> = (0..len).map(|_| below(256) as u8).collect();
                b.splice(pos..pos, junk);
                format!("{len} bytes inserted at {pos}")
            }
        };
        std::fs::write(&input, &b).unwrap();
        let format = formats[i % formats.len()];
        let case = format!("native capture, {what}, {format}");
        let (code, max_rss) = run(&input, &out, format, &case);
        if code == 0 {
            reported += 1;
        }
        rss = rss.max(max_rss);
        cases += 1;
    }
    eprintln!(
        "damaged native captures: {cases} cases, {reported} reported, {} failed cleanly, \
         peak child RSS {} KiB",
        cases - reported,
        rss / 1024
    );
    assert!(
        rss < PEAK_LIMIT,
        "peak memory {rss} bytes (limit {PEAK_LIMIT})"
    );
    assert!(reported > 0 && reported < cases, "{reported} of {cases}");
}
