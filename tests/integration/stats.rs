//! `memform stats` on every committed fixture capture (memray 1.7 – 1.20, every capture
//! mode) against the `memray stats` of the memray that wrote it, text and `--json`, top 5
//! and top 12: byte for byte. Aggregated captures are refused with memray's words; memray
//! 1.7 has no `--json` (memform writes the document as 1.10 does, checked elsewhere by the
//! corpus). The command line's own paths: default name, refusing to overwrite, several
//! captures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{assert_refused_like_memray, files, fixtures, stderr};

/// Runs `memform stats` in UTC (memray printed the fixtures' times in this machine's zone,
/// UTC, as `datetime.fromtimestamp` gives them).
fn stats(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memform"))
        .arg("stats")
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("memform runs")
}

/// `(expected file, capture, json, flags)` for every stats case of the fixtures.
fn cases() -> Vec<(PathBuf, PathBuf, bool, Vec<&'static str>)> {
    let mut out = Vec::new();
    for dir in [fixtures(), fixtures().join("versions")] {
        for expected in files(&dir.join("expected")) {
            let name = expected.file_name().unwrap().to_string_lossy().into_owned();
            let Some((capture, rest)) = name.split_once("-stats") else {
                continue;
            };
            let json = rest.starts_with("-json");
            let flags = if rest.contains("top12") {
                vec!["-n", "12"]
            } else {
                vec![]
            };
            let capture = dir.join("captures").join(format!("{capture}.bin"));
            out.push((expected, capture, json, flags));
        }
    }
    out
}

#[test]
fn every_fixture_capture_gives_memrays_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let (mut compared, mut refused) = (0, 0);
    for (expected, capture, json, flags) in cases() {
        let case = expected.file_name().unwrap().to_string_lossy().into_owned();
        let memray_17_json = json && case.starts_with("v1.7.0");
        if memray_17_json {
            continue;
        }
        let out = dir.path().join(format!("{case}.out"));
        let mut args: Vec<&str> = flags.clone();
        if json {
            args.extend(["--json", "-q", "-o", out.to_str().unwrap()]);
        }
        args.push(capture.to_str().unwrap());
        let o = stats(&args);
        if expected.extension().is_some_and(|e| e == "error") {
            assert_refused_like_memray(&expected, &o, &out, &case);
            assert!(o.stdout.is_empty(), "{case}: nothing on stdout");
            refused += 1;
            continue;
        }
        assert_eq!(o.status.code(), Some(0), "{case}: {}", stderr(&o));
        // A killed capture's statistics are of the records before its end, said on stderr.
        assert_eq!(
            stderr(&o).contains("(was the process killed?)"),
            case.contains("-killed-"),
            "{case}: {}",
            stderr(&o)
        );
        let got = if json {
            std::fs::read(&out).unwrap()
        } else {
            o.stdout.clone()
        };
        let want = std::fs::read(&expected).unwrap();
        assert!(
            got == want,
            "{case}: differs from memray's\n--- memform\n{}\n--- memray\n{}",
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
        compared += 1;
    }
    assert!(compared >= 100, "{compared} cases compared");
    assert!(refused >= 16, "{refused} refusals checked");
}

#[test]
fn json_goes_to_memrays_default_name_and_is_never_overwritten_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("memray-run.bin");
    std::fs::copy(
        fixtures().join("captures/v1.20.0-py3.11-default.bin"),
        &capture,
    )
    .unwrap();
    let o = stats(&["--json", capture.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let written = dir.path().join("memray-stats-run.bin.json");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("Wrote {}\n", written.display())
    );
    let first = std::fs::read(&written).unwrap();
    std::fs::write(&written, b"keep").unwrap();
    let o = stats(&["--json", capture.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "memform: error: File already exists, will not overwrite without --force: {}\n",
            written.display()
        )
    );
    assert_eq!(std::fs::read(&written).unwrap(), b"keep");
    let o = stats(&["--json", "-f", "-q", capture.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(&written).unwrap(), first);
    assert!(o.stdout.is_empty(), "-q drops the Wrote line");
    assert_eq!(files(dir.path()).len(), 2, "no temporary file left");
    // Not over the capture itself, even with -f, nor onto a folder: as transform refuses.
    let before = std::fs::read(&capture).unwrap();
    let o = stats(&[
        "--json",
        "-f",
        "-o",
        capture.to_str().unwrap(),
        capture.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "memform: error: Refusing to write the report over the capture itself: {}\n",
            capture.display()
        )
    );
    assert_eq!(std::fs::read(&capture).unwrap(), before);
    let folder = dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    let o = stats(&[
        "--json",
        "-f",
        "-o",
        folder.to_str().unwrap(),
        capture.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "memform: error: Cannot write the report to {}: it is a directory\n",
            folder.display()
        )
    );
    assert!(
        folder.read_dir().unwrap().next().is_none(),
        "nothing written into it"
    );
}

#[test]
fn several_captures_each_get_their_report() {
    let dir = tempfile::tempdir().unwrap();
    let a = fixtures().join("captures/v1.20.0-py3.11-default.bin");
    let b = fixtures().join("captures/v1.20.0-py3.13-native.bin");
    let alone = |c: &Path| stats(&[c.to_str().unwrap()]).stdout;
    let o = stats(&[a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut want = format!("==> {} <==\n", a.display()).into_bytes();
    want.extend(alone(&a));
    want.extend(format!("==> {} <==\n", b.display()).into_bytes());
    want.extend(alone(&b));
    assert!(o.stdout == want, "{}", String::from_utf8_lossy(&o.stdout));
    let out = dir.path().join("docs");
    let missing = dir.path().join("missing.bin");
    let o = stats(&[
        "--json",
        "-q",
        "--output-dir",
        out.to_str().unwrap(),
        a.to_str().unwrap(),
        missing.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "one capture failed");
    assert_eq!(
        stderr(&o),
        format!("memform: error: No such file: {}\n", missing.display())
    );
    let names: Vec<String> = files(&out)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "memray-stats-v1.20.0-py3.11-default.bin.json",
            "memray-stats-v1.20.0-py3.13-native.bin.json"
        ]
    );
}

#[test]
fn bad_arguments_are_refused() {
    let capture = fixtures().join("captures/v1.20.0-py3.11-default.bin");
    let o = stats(&["-n", "0", capture.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("0 is an invalid positive int value"),
        "{}",
        stderr(&o)
    );
    let o = stats(&["-o", "x.json", capture.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "-o without --json");
}

/// Runs `memform transform` in UTC (see [`stats`]).
fn transform(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memform"))
        .arg("transform")
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("memform runs")
}

/// `transform`'s `stats` format writes memray's `stats --json` document, alone (the
/// statistics' own pass) and beside reports (counted from the analysis' read, on a thread of
/// its own or, with `--threads 1`, on the one thread), in any report mode of the reports;
/// the reports beside it are those made alone.
#[test]
fn transform_writes_memrays_statistics_alone_and_beside_reports() {
    let dir = tempfile::tempdir().unwrap();
    let mut compared = 0;
    for (i, (expected, capture, json, flags)) in cases().into_iter().enumerate() {
        let case = expected.file_name().unwrap().to_string_lossy().into_owned();
        let refused = expected.extension().is_some_and(|e| e == "error");
        if !json || case.starts_with("v1.7.0") || refused {
            continue;
        }
        let top: Vec<&str> = if flags.is_empty() {
            vec![]
        } else {
            vec!["--num-largest", "12"]
        };
        let name = capture.file_stem().unwrap().to_string_lossy().into_owned();
        let threads = if i % 2 == 0 { "1" } else { "2" };
        for (formats, report) in [
            ("stats", "peak"),
            ("csv,stats", "peak"),
            ("stats,csv", "leaks"),
        ] {
            let out = dir.path().join(format!("{case}-{formats}-{report}"));
            let mut args = vec![
                formats,
                "-q",
                "-o",
                out.to_str().unwrap(),
                "--threads",
                threads,
            ];
            args.extend(&top);
            if formats != "stats" {
                args.extend(crate::common::report_flags(report));
            }
            args.push(capture.to_str().unwrap());
            let o = transform(&args);
            assert_eq!(o.status.code(), Some(0), "{case} {formats}: {}", stderr(&o));
            assert_eq!(
                stderr(&o).contains("(was the process killed?)"),
                case.contains("-killed-"),
                "{case} {formats}: {}",
                stderr(&o)
            );
            let document = if formats == "stats" {
                out.clone()
            } else {
                out.join(format!("memray-stats-{name}.bin.json"))
            };
            let got = std::fs::read(&document).unwrap();
            assert!(
                got == std::fs::read(&expected).unwrap(),
                "{case} {formats}: differs from memray's\n{}",
                String::from_utf8_lossy(&got)
            );
            if formats != "stats" {
                // The report beside the statistics is the report made alone.
                let csv = out.join(format!("memray-csv-{name}.csv"));
                let alone = dir.path().join(format!("{case}-{report}.csv"));
                let mut args = vec!["csv", "-q", "-o", alone.to_str().unwrap()];
                args.extend(crate::common::report_flags(report));
                args.push(capture.to_str().unwrap());
                assert_eq!(transform(&args).status.code(), Some(0), "{case}");
                assert!(
                    std::fs::read(&csv).unwrap() == std::fs::read(&alone).unwrap(),
                    "{case} {formats}: the CSV beside the statistics differs from the CSV alone"
                );
            }
            compared += 1;
        }
    }
    assert!(compared >= 140, "{compared} cases compared");
}

/// An aggregated capture has no statistics: beside a report, the report is written and the
/// statistics are refused with memray's words (exit 1, no file); alone, the same line.
/// The statistics take no report mode alone, and `--num-largest` applies to them only.
#[test]
fn transform_refuses_statistics_it_cannot_make() {
    let dir = tempfile::tempdir().unwrap();
    let aggregated = fixtures().join("captures/v1.20.0-py3.11-aggregate.bin");
    let default = fixtures().join("captures/v1.20.0-py3.11-default.bin");
    let out = dir.path().join("both");
    let o = transform(&[
        "csv,stats",
        "-o",
        out.to_str().unwrap(),
        aggregated.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "memform: error: {}: Can't compute statistics using a pre-aggregated capture file.\n",
            aggregated.display()
        )
    );
    let names: Vec<String> = files(&out)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["memray-csv-v1.20.0-py3.11-aggregate.csv"]);
    let alone = dir.path().join("alone.json");
    let o = transform(&[
        "stats",
        "-o",
        alone.to_str().unwrap(),
        aggregated.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).ends_with("Can't compute statistics using a pre-aggregated capture file.\n"));
    assert!(!alone.exists());
    let o = transform(&[
        "stats",
        "--leaks",
        "-o",
        alone.to_str().unwrap(),
        default.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "memform: error: --leaks does not apply to the stats format (its statistics count every allocation of the capture)\n"
    );
    let o = transform(&[
        "csv",
        "--num-largest",
        "3",
        "-o",
        alone.to_str().unwrap(),
        default.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "memform: error: --num-largest applies only to the stats format, not csv\n"
    );
    let o = transform(&[
        "events,stats",
        "-o",
        alone.to_str().unwrap(),
        default.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("the events format is written alone"),
        "{}",
        stderr(&o)
    );
    assert!(!alone.exists());
}
