//! Many captures in one run: each report equal to the one-capture report of its capture, one
//! error line per bad capture and the others converted, the summary line and exit status,
//! `--output-dir`, `--dataset` (its layout and partition names), `--jobs`, the usage errors,
//! and Ctrl-C removing every temporary file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;

/// The fixture captures that need no ELF images (native ones resolve against this machine),
/// two of them killed (a warning each).
const FIXTURES: [&str; 11] = [
    "v1.20.0-py3.9-default.bin",
    "v1.20.0-py3.10-default.bin",
    "v1.20.0-py3.11-default.bin",
    "v1.20.0-py3.11-aggregate.bin",
    "v1.20.0-py3.11-killed.bin",
    "v1.20.0-py3.11-nocompress.bin",
    "v1.20.0-py3.11-pyalloc.bin",
    "v1.20.0-py3.12-default.bin",
    "v1.20.0-py3.13-aggregate.bin",
    "v1.20.0-py3.13-killed.bin",
    "v1.20.0-py3.13-pyalloc.bin",
];

/// `count` copies of the fixtures, in turn, as `dir/c00.bin`, `dir/c01.bin`, ….
fn copies(dir: &Path, count: usize) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    (0..count)
        .map(|i| {
            let path = dir.join(format!("c{i:02}.bin"));
            std::fs::copy(capture(FIXTURES[i % FIXTURES.len()]), &path).unwrap();
            path
        })
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `memform transform FORMAT ARGS… CAPTURES…`.
fn transform(format: &str, args: &[&str], captures: &[PathBuf]) -> Output {
    let mut all = vec!["transform", format];
    all.extend(args);
    all.extend(captures.iter().map(|c| s(c)));
    memform(&all)
}

/// The report of `capture` made alone (`memform transform FORMAT -q -f -o OUT CAPTURE`).
fn alone(format: &str, capture: &Path, out: &Path) -> Vec<u8> {
    let o = memform(&["transform", format, "-q", "-f", "-o", s(out), s(capture)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    std::fs::read(out).unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every file under `dir`, relative to it, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                found.push(format!("{}/", path.strip_prefix(dir).unwrap().display()));
                stack.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn twenty_captures_one_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let captures = copies(dir.path(), 20);
    // c07 cut inside its header: a copy of the uncompressed fixture, 20 bytes long.
    let damaged = &captures[7];
    let bytes = std::fs::read(capture("v1.20.0-py3.11-nocompress.bin")).unwrap();
    std::fs::write(damaged, &bytes[..20]).unwrap();

    let o = transform("csv", &["--jobs", "2"], &captures);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));

    let reports: Vec<PathBuf> = captures
        .iter()
        .map(|c| {
            dir.path().join(format!(
                "memray-csv-{}.csv",
                c.file_stem().unwrap().to_str().unwrap()
            ))
        })
        .collect();
    // Wrote lines in the order the reports finished: as a set, every report but c07's.
    let wrote: BTreeSet<String> = stdout(&o).lines().map(str::to_string).collect();
    assert_eq!(stdout(&o).lines().count(), 19);
    let expected: BTreeSet<String> = reports
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 7)
        .map(|(_, r)| format!("Wrote {}", r.display()))
        .collect();
    assert_eq!(wrote, expected);

    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    let errors: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("memform: error: "))
        .collect();
    assert_eq!(
        errors,
        [&format!(
            "memform: error: {}: byte 17: capture header ends early (expected the tracker statistics)",
            damaged.display()
        )
        .as_str()]
    );
    // The killed captures: c04 and c15 (py3.11), c09 (py3.13).
    let warnings: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("memform: warning: "))
        .collect();
    let warned: BTreeSet<&str> = ["c04.bin", "c09.bin", "c15.bin"].into();
    assert_eq!(warnings.len(), warned.len(), "{err}");
    for name in warned {
        let path = dir.path().join(name);
        assert_eq!(
            warnings
                .iter()
                .filter(|w| w.starts_with(&format!("memform: warning: {}: ", path.display())))
                .count(),
            1,
            "{err}"
        );
    }
    assert_eq!(lines.last(), Some(&"19 converted, 1 failed"));
    assert_eq!(lines.len(), 1 + 3 + 1, "{err}");

    // Exactly the 19 reports, each byte for byte the one-capture report of its capture.
    let reference = tempfile::tempdir().unwrap();
    for (i, (capture, report)) in captures.iter().zip(&reports).enumerate() {
        if i == 7 {
            assert!(!report.exists());
            continue;
        }
        let single = alone("csv", capture, &reference.path().join("single.csv"));
        assert_eq!(
            std::fs::read(report).unwrap(),
            single,
            "{}",
            report.display()
        );
    }
    assert_eq!(files(dir.path()).len(), 20 + 19);
    assert_no_temporary_files(dir.path(), "twenty captures");
}

#[test]
fn output_dir_and_jobs_give_identical_files() {
    let dir = tempfile::tempdir().unwrap();
    let captures = copies(&dir.path().join("caps"), 8);
    for format in ["csv", "gprof2dot", "speedscope", "parquet"] {
        let one = dir.path().join(format!("{format}-1")).join("new");
        let two = dir.path().join(format!("{format}-2"));
        for (out, jobs) in [(&one, "1"), (&two, "2")] {
            let o = transform(format, &["--output-dir", s(out), "--jobs", jobs], &captures);
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
            assert_eq!(stdout(&o).lines().count(), 8);
            let err = stderr(&o);
            assert!(err.ends_with("\n8 converted, 0 failed\n"), "{err}");
            assert_eq!(err.lines().count(), 1 + 1, "the killed c04 warns: {err}");
        }
        let (a, b) = (files(&one), files(&two));
        assert_eq!(a.len(), 8);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.file_name(), y.file_name());
            assert_eq!(
                std::fs::read(x).unwrap(),
                std::fs::read(y).unwrap(),
                "{}",
                x.display()
            );
        }
        // The report's name is its default name, inside the directory; the bytes are those
        // of the capture converted alone.
        let first = one.join(match format {
            "csv" => "memray-csv-c00.csv",
            "gprof2dot" => "memray-gprof2dot-c00.json",
            "speedscope" => "memray-speedscope-c00.speedscope.json",
            _ => "memray-parquet-c00.parquet",
        });
        let single = alone(format, &captures[0], &dir.path().join("single"));
        assert_eq!(std::fs::read(first).unwrap(), single, "{format}");
    }
    // Nothing was written beside the captures.
    assert_eq!(files(&dir.path().join("caps")).len(), 8);
}

#[test]
fn one_capture_into_an_output_dir_is_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let captures = copies(dir.path(), 1);
    let out = dir.path().join("out");
    let o = transform("csv", &["--output-dir", s(&out)], &captures);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = out.join("memray-csv-c00.csv");
    assert_eq!(stdout(&o), format!("Wrote {}\n", report.display()));
    assert_eq!(stderr(&o), "1 converted, 0 failed\n");
}

#[test]
fn quiet_batches_speak_only_of_failures() {
    let dir = tempfile::tempdir().unwrap();
    let mut captures = copies(dir.path(), 2);
    let o = transform(
        "csv",
        &["-q", "--output-dir", s(&dir.path().join("a"))],
        &captures,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{}", stderr(&o));

    let missing = dir.path().join("missing.bin");
    captures.push(missing.clone());
    let o = transform(
        "csv",
        &["-q", "--output-dir", s(&dir.path().join("b"))],
        &captures,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert_eq!(
        stderr(&o),
        format!(
            "memform: error: No such file: {}\n2 converted, 1 failed\n",
            missing.display()
        )
    );
}

#[test]
fn an_existing_report_fails_only_its_capture() {
    let dir = tempfile::tempdir().unwrap();
    let captures = copies(dir.path(), 3);
    let existing = dir.path().join("memray-csv-c01.csv");
    std::fs::write(&existing, "keep me").unwrap();
    let o = transform("csv", &[], &captures);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(
        err,
        format!(
            "memform: error: File already exists, will not overwrite without --force: {}\n\
             2 converted, 1 failed\n",
            existing.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");
    assert!(dir.path().join("memray-csv-c00.csv").exists());
    assert!(dir.path().join("memray-csv-c02.csv").exists());

    let o = transform("csv", &["-f", "-q"], &captures);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_ne!(std::fs::read_to_string(&existing).unwrap(), "keep me");
}

#[test]
fn dataset_layout_and_partition_names() {
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps");
    std::fs::create_dir(&caps).unwrap();
    // File names and the partition each must give, as pyarrow escapes Hive values.
    let names = [
        (
            "v1.20.0-py3.11-default.bin",
            "capture=v1.20.0-py3.11-default",
        ),
        ("run 1.bin", "capture=run%201"),
        ("k=v.bin", "capture=k%3Dv"),
        ("p%q#x?.lz4", "capture=p%25q%23x%3F"),
        ("b\\s+t.bin", "capture=b%5Cs%2Bt"),
        ("tab\there.bin", "capture=tab%09here"),
        ("é日.bin", "capture=%C3%A9%E6%97%A5"),
        ("no suffix", "capture=no%20suffix"),
    ];
    let captures: Vec<PathBuf> = names
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let path = caps.join(name);
            std::fs::copy(capture(FIXTURES[i % 3]), &path).unwrap();
            path
        })
        .collect();
    let ds = dir.path().join("ds");
    let o = transform("parquet", &["--dataset", s(&ds), "--jobs", "2"], &captures);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "8 converted, 0 failed\n");
    let mut expected: Vec<String> = names
        .iter()
        .flat_map(|(_, p)| [format!("{p}/"), format!("{p}/part-0.parquet")])
        .collect();
    expected.sort();
    assert_eq!(tree(&ds), expected);
    for ((name, partition), capture) in names.iter().zip(&captures) {
        let part = ds.join(partition).join("part-0.parquet");
        assert_eq!(
            part,
            memform::dataset::part_path(&ds, capture),
            "{name}: the library's name"
        );
        assert!(stdout(&o).contains(&format!("Wrote {}\n", part.display())));
        let single = alone("parquet", capture, &dir.path().join("single.parquet"));
        assert_eq!(std::fs::read(&part).unwrap(), single, "{name}");
    }

    // Again without -f: every part exists, so every capture fails, and nothing changes.
    let before: Vec<Vec<u8>> = captures
        .iter()
        .map(|c| std::fs::read(memform::dataset::part_path(&ds, c)).unwrap())
        .collect();
    let o = transform(
        "parquet",
        &["--dataset", s(&ds), "--jobs", "2"],
        &captures[..2],
    );
    assert_eq!(o.status.code(), Some(1));
    // The error lines come in the order the jobs finish.
    let mut lines: Vec<String> = stderr(&o).lines().map(str::to_string).collect();
    assert_eq!(lines.pop().as_deref(), Some("0 converted, 2 failed"));
    lines.sort();
    let mut expected_errors: Vec<String> = captures[..2]
        .iter()
        .map(|c| {
            format!(
                "memform: error: File already exists, will not overwrite without --force: {}",
                memform::dataset::part_path(&ds, c).display()
            )
        })
        .collect();
    expected_errors.sort();
    assert_eq!(lines, expected_errors);
    for (c, b) in captures.iter().zip(&before) {
        assert_eq!(
            &std::fs::read(memform::dataset::part_path(&ds, c)).unwrap(),
            b
        );
    }
    let o = transform("parquet", &["--dataset", s(&ds), "-f", "-q"], &captures);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(tree(&ds), expected);
}

#[test]
fn a_failed_capture_leaves_no_partition() {
    let dir = tempfile::tempdir().unwrap();
    let mut captures = copies(dir.path(), 2);
    let bad = dir.path().join("bad.bin");
    std::fs::write(&bad, "hello, world\n").unwrap();
    captures.push(bad.clone());
    let ds = dir.path().join("ds");
    let o = transform("parquet", &["--dataset", s(&ds), "-q"], &captures);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "memform: error: {}: byte 0: not a memray capture (expected the magic \
             \"memray\\0\" or an LZ4 frame)\n2 converted, 1 failed\n",
            bad.display()
        )
    );
    assert_eq!(
        tree(&ds),
        [
            "capture=c00/",
            "capture=c00/part-0.parquet",
            "capture=c01/",
            "capture=c01/part-0.parquet"
        ]
    );
}

/// A usage error: exit 1, exactly `message` on one line, and nothing written in `dir`.
fn assert_usage_error(
    dir: &Path,
    format: &str,
    args: &[&str],
    captures: &[PathBuf],
    message: &str,
) {
    let before = tree(dir);
    let o = transform(format, args, captures);
    assert_eq!(o.status.code(), Some(1), "{message}: {}", stderr(&o));
    assert_eq!(stderr(&o), format!("memform: error: {message}\n"));
    assert!(o.stdout.is_empty());
    assert_eq!(tree(dir), before, "{message}: nothing written");
}

#[test]
fn usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let captures = copies(dir.path(), 2);
    let d = dir.path();
    let out = d.join("out");
    let ds = d.join("ds");
    let (out, ds) = (s(&out), s(&ds));
    assert_usage_error(
        d,
        "csv",
        &["-o", "x.csv"],
        &captures,
        "--output names one report, but 2 captures were given (use --output-dir DIR)",
    );
    assert_usage_error(
        d,
        "csv",
        &["--dataset", ds],
        &captures,
        "--dataset applies only to the parquet format, not csv",
    );
    assert_usage_error(
        d,
        "parquet",
        &["--dataset", ds, "-o", "x.parquet"],
        &captures[..1],
        "--dataset cannot be used with --output",
    );
    assert_usage_error(
        d,
        "parquet",
        &["--dataset", ds, "--output-dir", out],
        &captures,
        "--dataset cannot be used with --output-dir",
    );
    assert_usage_error(
        d,
        "csv",
        &["--output-dir", out, "-o", "x.csv"],
        &captures[..1],
        "--output cannot be used with --output-dir",
    );
    // The same capture twice, spelled two ways.
    let again = d.join(".").join("c00.bin");
    assert_usage_error(
        d,
        "csv",
        &[],
        &[captures[0].clone(), captures[1].clone(), again.clone()],
        &format!(
            "{} and {} would both write {}",
            captures[0].display(),
            again.display(),
            d.join("memray-csv-c00.csv").display()
        ),
    );
    // Two captures of one name, from two directories, into one output directory.
    let other = d.join("other");
    std::fs::create_dir(&other).unwrap();
    let twin = other.join("c00.bin");
    std::fs::copy(&captures[0], &twin).unwrap();
    assert_usage_error(
        d,
        "gprof2dot",
        &["--output-dir", out],
        &[captures[0].clone(), twin.clone()],
        &format!(
            "{} and {} would both write {out}/memray-gprof2dot-c00.json",
            captures[0].display(),
            twin.display()
        ),
    );
    // ... or into one dataset: the same partition.
    let lz4 = d.join("c01.lz4");
    std::fs::copy(&captures[1], &lz4).unwrap();
    assert_usage_error(
        d,
        "parquet",
        &["--dataset", ds],
        &[captures[0].clone(), captures[1].clone(), lz4.clone()],
        &format!(
            "{} and {} would both be partition capture=c01 of the dataset",
            captures[1].display(),
            lz4.display()
        ),
    );
    // A bad --jobs is clap's error.
    let o = transform("csv", &["--jobs", "0"], &captures);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("expected a positive number of jobs, got \"0\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn interrupted_batch_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let captures = copies(&dir.path().join("caps"), 3);
    let out = dir.path().join("out");
    let mut args = vec![
        "transform",
        "csv",
        "-q",
        "--jobs",
        "3",
        "--output-dir",
        s(&out),
    ];
    args.extend(captures.iter().map(|c| s(c)));
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_memform"))
        .args(&args)
        .env("MEMFORM_PAUSE_BEFORE_COMMIT_MS", "20000")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the three finished reports to sit in their temporary files.
    let start = std::time::Instant::now();
    while files(&out).len() < 3 {
        assert!(
            start.elapsed().as_secs() < 20,
            "no temporary files appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(128 + libc::SIGINT));
    assert_eq!(
        stderr(&o),
        "memform: interrupted; reports not yet finished were not written\n"
    );
    assert!(files(&out).is_empty(), "left behind: {:?}", files(&out));
}
