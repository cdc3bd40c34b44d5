//! Several formats from one read (`memform transform csv,parquet,… CAPTURE`): every report
//! byte for byte the one its format writes alone, for every fixture capture in the peak
//! and leak reports; `-o DIR`; batches with `--output-dir`; one report failing while the
//! others are written; the usage errors of format lists.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;

const EVERY_FORMAT: &str = "csv,gprof2dot,speedscope,parquet,folded,pprof";
const FORMATS: [&str; 6] = [
    "csv",
    "gprof2dot",
    "speedscope",
    "parquet",
    "folded",
    "pprof",
];
const SUFFIXES: [&str; 6] = [
    ".csv",
    ".json",
    ".speedscope.json",
    ".parquet",
    ".folded",
    ".pb.gz",
];

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The default file name of `capture`'s report in `format` (at index `i` of [`FORMATS`]).
fn default_name(capture: &Path, i: usize) -> String {
    let stem = capture.file_stem().unwrap().to_str().unwrap();
    format!("memray-{}-{stem}{}", FORMATS[i], SUFFIXES[i])
}

/// `capture`'s report in `format` made alone, with the flags of report `mode`.
fn alone(format: &str, capture: &Path, mode: &str, out: &Path) -> Vec<u8> {
    let mut args = vec!["transform", format, "-q", "-f", "-o", s(out)];
    args.extend(report_flags(mode));
    args.push(s(capture));
    let o = memform(&args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    std::fs::read(out).unwrap()
}

#[test]
fn every_format_at_once_equals_each_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut compared = 0;
    for capture in files(&fixtures().join("captures")) {
        for mode in ["peak", "leaks"] {
            let case = format!("{} {mode}", capture.display());
            let out = dir.path().join(format!("all-{mode}"));
            let mut args = vec!["transform", EVERY_FORMAT, "-f", "-o", s(&out)];
            args.extend(report_flags(mode));
            args.push(s(&capture));
            let o = memform(&args);
            assert_eq!(o.status.code(), Some(0), "{case}: {}", stderr(&o));
            let wrote: Vec<String> = (0..FORMATS.len())
                .map(|i| format!("Wrote {}", out.join(default_name(&capture, i)).display()))
                .collect();
            assert_eq!(stdout(&o).lines().collect::<Vec<_>>(), wrote, "{case}");
            for (i, format) in FORMATS.iter().enumerate() {
                let together = std::fs::read(out.join(default_name(&capture, i))).unwrap();
                let single = alone(format, &capture, mode, &dir.path().join("alone"));
                assert!(together == single, "{case}: {format} differs from alone");
                compared += 1;
            }
            assert_eq!(files(&out).len(), FORMATS.len(), "{case}: nothing else");
            std::fs::remove_dir_all(&out).unwrap();
        }
    }
    assert!(compared >= 18 * 2 * 5, "{compared}");
}

#[test]
fn default_names_beside_the_capture_and_options_of_each_format() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("memray-run.bin");
    std::fs::copy(capture("v1.20.0-py3.13-pyalloc.bin"), &c).unwrap();
    let o = memform(&[
        "transform",
        "Parquet,FOLDED",
        "--leaks",
        "--compression",
        "snappy",
        "--row-group-size",
        "7",
        "--folded-value",
        "count",
        s(&c),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let parquet = dir.path().join("memray-parquet-run.parquet");
    let folded = dir.path().join("memray-folded-run.folded");
    assert_eq!(
        stdout(&o),
        format!("Wrote {}\nWrote {}\n", parquet.display(), folded.display())
    );
    let one = |format: &str, flags: &[&str], out: &Path| {
        let mut args = vec!["transform", format, "-q", "--leaks", "-o", s(out)];
        args.extend(flags);
        args.push(s(&c));
        let o = memform(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        std::fs::read(out).unwrap()
    };
    let p = one(
        "parquet",
        &["--compression", "snappy", "--row-group-size", "7"],
        &dir.path().join("p.parquet"),
    );
    assert!(std::fs::read(&parquet).unwrap() == p);
    let f = one(
        "folded",
        &["--folded-value", "count"],
        &dir.path().join("f.folded"),
    );
    assert_eq!(std::fs::read(&folded).unwrap(), f);
}

#[test]
fn a_batch_writes_each_format_of_each_capture() {
    let dir = tempfile::tempdir().unwrap();
    let names = [
        "v1.20.0-py3.11-default.bin",
        "v1.20.0-py3.11-aggregate.bin",
        "v1.20.0-py3.13-killed.bin",
    ];
    let captures: Vec<PathBuf> = names.iter().map(|n| capture(n)).collect();
    let out = dir.path().join("reports");
    let mut args = vec![
        "transform",
        "csv,speedscope,folded",
        "--output-dir",
        s(&out),
        "--jobs",
        "2",
    ];
    args.extend(captures.iter().map(|c| s(c)));
    let o = memform(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 9);
    assert!(
        stderr(&o).ends_with("3 converted, 0 failed\n"),
        "{}",
        stderr(&o)
    );
    assert_eq!(files(&out).len(), 9);
    for c in &captures {
        for i in [0, 2, 4] {
            let together = std::fs::read(out.join(default_name(c, i))).unwrap();
            let single = alone(FORMATS[i], c, "peak", &dir.path().join("alone"));
            assert!(together == single, "{} {}", c.display(), FORMATS[i]);
        }
    }
}

#[test]
fn one_report_failing_leaves_the_others_written() {
    let dir = tempfile::tempdir().unwrap();
    let c = capture("v1.20.0-py3.11-default.bin");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // The CSV report's file is /dev/full: written directly, its write fails.
    let csv = out.join(default_name(&c, 0));
    std::os::unix::fs::symlink("/dev/full", &csv).unwrap();
    let o = memform(&[
        "transform",
        "csv,parquet,folded",
        "-f",
        "-o",
        s(&out),
        s(&c),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("memform: error: {}: ", csv.display())),
        "{err}"
    );
    assert_eq!(
        stdout(&o),
        format!(
            "Wrote {}\nWrote {}\n",
            out.join(default_name(&c, 3)).display(),
            out.join(default_name(&c, 4)).display()
        )
    );
    for i in [3, 4] {
        let single = alone(FORMATS[i], &c, "peak", &dir.path().join("alone"));
        assert!(std::fs::read(out.join(default_name(&c, i))).unwrap() == single);
    }
    assert_no_temporary_files(&out, "one failing");
    assert_eq!(files(&out).len(), 3);

    // In a batch, that capture counts as failed; the other capture is converted.
    let other = dir.path().join("other.bin");
    std::fs::copy(capture("v1.20.0-py3.12-default.bin"), &other).unwrap();
    let o = memform(&[
        "transform",
        "csv,folded",
        "-f",
        "--output-dir",
        s(&out),
        s(&c),
        s(&other),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).ends_with("1 converted, 1 failed\n"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stdout(&o).lines().count(), 3);
    assert!(out.join(default_name(&other, 0)).exists());
    assert_no_temporary_files(&out, "one failing in a batch");
}

#[test]
fn usage_errors_of_format_lists() {
    let dir = tempfile::tempdir().unwrap();
    let c = capture("v1.20.0-py3.11-default.bin");
    let out = dir.path().join("out");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let cases: [(&[&str], &str); 8] = [
        (&["csv,html"], "memform: error: Format not supported: html\n"),
        (&["html,csv"], "memform: error: Format not supported: html\n"),
        (&["csv,"], "memform: error: Format not supported: csv,\n"),
        (
            &["csv,speedscope", "--compression", "zstd"],
            "memform: error: --compression applies only to the parquet and events formats, not csv,speedscope\n",
        ),
        (
            &["csv,parquet", "--folded-value", "count"],
            "memform: error: --folded-value applies only to the folded and flamegraph formats, not csv,parquet\n",
        ),
        (
            &["csv,parquet", "--dataset", s(&out)],
            "memform: error: --dataset writes the parquet format alone, not csv,parquet\n",
        ),
        (
            &["csv,CSV"],
            "memform: error: format csv is listed twice in \"csv,CSV\"\n",
        ),
        (
            &["csv,folded", "-o", s(&file)],
            "not one\n",
        ),
    ];
    for (args, message) in cases {
        let mut all = vec!["transform"];
        all.extend(args);
        all.push(s(&c));
        let o = memform(&all);
        assert_eq!(o.status.code(), Some(1), "{all:?}");
        assert!(stderr(&o).ends_with(message), "{all:?}: {}", stderr(&o));
        assert!(!out.exists(), "{all:?}");
    }
    assert_eq!(files(dir.path()), [file]);
}
