//! `memform transform aggregate`, with no memray: memform reads back the aggregated capture
//! it writes of every full fixture capture (memray 1.20 on every Python and capture mode,
//! and memray 1.10, 1.18 and 1.19), and its peak and leaks CSV reports of it equal the
//! committed outputs memray wrote from the original capture, by the rules of the fixture
//! tests: in order for memray 1.20, as multisets for the older memray versions, allocator
//! and thread of every merged row included. They are also byte for byte
//! memform's own reports of the original. Then the command line: default name, `-f`, the
//! usage errors, an aggregated input, a damaged one.
//!
//! scripts/aggregate_check.sh has memray 1.20 itself read the same files.

use std::path::{Path, PathBuf};

use crate::common::{capture, csv_rows, files, fixtures, memform, stderr};

/// Every full capture among the fixtures, with the directory of its expected outputs.
fn full_captures() -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    for dir in [fixtures(), fixtures().join("versions")] {
        for path in files(&dir.join("captures")) {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".bin") && !name.contains("aggregate") && !name.contains("nativeagg")
            {
                out.push((path, dir.join("expected")));
            }
        }
    }
    out
}

fn run_ok(args: &[&str], case: &str) {
    let o = memform(args);
    assert_eq!(o.status.code(), Some(0), "{case}: {}", stderr(&o));
}

fn csv_of(capture: &Path, leaks: bool, out: &Path) -> String {
    let mut args = vec!["transform", "csv", "-q", "-f", "-o", out.to_str().unwrap()];
    if leaks {
        args.push("--leaks");
    }
    args.push(capture.to_str().unwrap());
    run_ok(&args, &capture.display().to_string());
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn aggregated_captures_give_the_reports_of_their_originals() {
    let dir = tempfile::tempdir().unwrap();
    let mut compared = 0;
    for (path, expected_dir) in full_captures() {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let aggregated = dir.path().join(format!("{stem}.aggregated.bin"));
        run_ok(
            &[
                "transform",
                "aggregate",
                "-q",
                "-o",
                aggregated.to_str().unwrap(),
                path.to_str().unwrap(),
            ],
            &stem,
        );
        let bytes = std::fs::read(&aggregated).unwrap();
        assert_eq!(bytes[..4], [0x04, 0x22, 0x4d, 0x18], "{stem}: an LZ4 frame");
        let v120 = stem.starts_with("v1.20.");
        let native = v120
            .then(|| crate::fixtures_match_memray::native_images(&expected_dir, &stem))
            .flatten();
        for (report, leaks) in [("peak", false), ("leaks", true)] {
            let case = format!("{stem} {report}");
            let ours = csv_of(&aggregated, leaks, &dir.path().join("ours.csv"));
            let original = csv_of(&path, leaks, &dir.path().join("original.csv"));
            assert_eq!(ours, original, "{case}: memform's report of the original");
            let theirs =
                std::fs::read_to_string(expected_dir.join(format!("{stem}-csv-{report}.csv")))
                    .unwrap();
            if let Some(Err(reason)) = &native {
                // Another machine's libraries: all but the frames must agree.
                eprintln!("{case}: native frames not compared: {reason}");
                let numbers = |rows: Vec<Vec<String>>| -> Vec<Vec<String>> {
                    rows.into_iter().map(|r| r[..5].to_vec()).collect()
                };
                assert_eq!(
                    numbers(csv_rows(&ours)),
                    numbers(csv_rows(&theirs)),
                    "{case}"
                );
            } else if v120 {
                crate::fixtures_match_memray::check_csv_in_order(&case, &ours, &theirs);
            } else {
                crate::older_versions::check_csv_as_multisets(&case, &ours, &theirs);
            }
            compared += 1;
        }
    }
    eprintln!("{compared} aggregated reports compared");
    assert!(compared >= 36, "{compared} reports compared");
}

#[test]
fn the_command_line_of_the_aggregate_format() {
    let dir = tempfile::tempdir().unwrap();
    let source = capture("v1.20.0-py3.11-default.bin");
    let run = dir.path().join("memray-run.bin");
    std::fs::copy(&source, &run).unwrap();
    let run_arg = run.to_str().unwrap();
    // Default name beside the capture, like memray's other formats.
    let o = memform(&["transform", "aggregate", run_arg]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let default = dir.path().join("memray-aggregate-run.bin");
    assert!(default.is_file());
    assert!(String::from_utf8_lossy(&o.stdout).contains("Wrote "));
    // Never overwritten without -f; -q prints nothing.
    let o = memform(&["transform", "aggregate", "-q", run_arg]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("will not overwrite"), "{}", stderr(&o));
    let o = memform(&["transform", "aggregate", "-q", "-f", run_arg]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.is_empty() && o.stderr.is_empty());

    let out = dir.path().join("out.bin");
    let out_arg = out.to_str().unwrap();
    let refused = |args: &[&str], says: &str| {
        let o = memform(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?}: no output");
    };
    for flag in [
        &["--leaks"][..],
        &["--temporary-allocations"],
        &["--temporary-allocation-threshold", "-1"],
    ] {
        let mut args = vec!["transform", "aggregate", "-o", out_arg];
        args.extend_from_slice(flag);
        args.push(run_arg);
        refused(&args, "does not apply to the aggregate format");
    }
    refused(
        &["transform", "aggregate,csv", "-o", out_arg, run_arg],
        "written alone",
    );
    refused(
        &[
            "transform",
            "csv,aggregate",
            "--output-dir",
            out_arg,
            run_arg,
        ],
        "written alone",
    );
    let aggregated = capture("v1.20.0-py3.11-aggregate.bin");
    refused(
        &[
            "transform",
            "aggregate",
            "-o",
            out_arg,
            aggregated.to_str().unwrap(),
        ],
        "already aggregated",
    );
    // A damaged capture: its offset on one line, no output file.
    let bad = dir.path().join("bad.bin");
    let mut bytes = std::fs::read(capture("v1.20.0-py3.11-nocompress.bin")).unwrap();
    std::fs::write(&bad, &bytes).unwrap();
    let at = crate::common::first_record_offset(&bad);
    bytes[at] = 0x03; // a record type that does not exist
    std::fs::write(&bad, &bytes).unwrap();
    refused(
        &[
            "transform",
            "aggregate",
            "-o",
            out_arg,
            bad.to_str().unwrap(),
        ],
        &format!("byte {at}: malformed capture"),
    );
    // Several captures: each its own aggregated capture, in --output-dir.
    let many = dir.path().join("many");
    let o = memform(&[
        "transform",
        "aggregate",
        "-q",
        "--output-dir",
        many.to_str().unwrap(),
        run_arg,
        capture("v1.20.0-py3.13-pyalloc.bin").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(many.join("memray-aggregate-run.bin")).unwrap(),
        std::fs::read(&default).unwrap(),
        "a batch writes the same bytes"
    );
    assert!(many
        .join("memray-aggregate-v1.20.0-py3.13-pyalloc.bin")
        .is_file());
}
