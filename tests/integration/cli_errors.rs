//! Every error path of the command line: the exact message, exit code 1, and no output file.

use std::path::{Path, PathBuf};

use crate::common::*;

const NOCOMPRESS: &str = "v1.20.0-py3.11-nocompress.bin";
const COMPRESSED: &str = "v1.20.0-py3.11-default.bin";
const AGGREGATED: &str = "v1.20.0-py3.11-aggregate.bin";

/// Writes a modified copy of fixture `name` into `dir`.
fn damaged(dir: &Path, name: &str, edit: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = std::fs::read(capture(name)).unwrap();
    edit(&mut bytes);
    let path = dir.join("damaged.bin");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Runs `memform transform csv` on `input` into `dir/out.csv` and checks the failure.
fn assert_fails(dir: &Path, input: &Path, extra: &[&str], message: &str) {
    let out = dir.join("out.csv");
    let mut args = vec!["transform", "csv", "-o", out.to_str().unwrap()];
    args.extend(extra);
    args.push(input.to_str().unwrap());
    let o = memform(&args);
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(&o));
    assert_eq!(stderr(&o), format!("memform: error: {message}\n"));
    assert!(o.stdout.is_empty());
    assert!(!out.exists(), "no output file after a failure");
    assert_no_temporary_files(dir, message);
}

#[test]
fn missing_capture() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.bin");
    assert_fails(
        dir.path(),
        &missing,
        &[],
        &format!("No such file: {}", missing.display()),
    );
}

#[test]
fn unknown_format() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    let o = memform(&[
        "transform",
        "html",
        "-o",
        out.to_str().unwrap(),
        capture(COMPRESSED).to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "memform: error: Format not supported: html\n");
    assert!(!out.exists());
}

#[test]
fn existing_output_is_not_overwritten_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    std::fs::write(&out, "keep me").unwrap();
    let o = memform(&[
        "transform",
        "csv",
        "-o",
        out.to_str().unwrap(),
        capture(COMPRESSED).to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "memform: error: File already exists, will not overwrite without --force: {}\n",
            out.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    let o = memform(&[
        "transform",
        "csv",
        "-f",
        "-q",
        "-o",
        out.to_str().unwrap(),
        capture(COMPRESSED).to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .starts_with("allocator,num_allocations,size,tid,thread_name,stack_trace\r\n"));
}

#[test]
fn default_output_name_and_wrote_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("memray-run.bin");
    std::fs::copy(capture(COMPRESSED), &input).unwrap();
    let o = memform(&["transform", "GPROF2DOT", input.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let expected = dir.path().join("memray-gprof2dot-run.json");
    assert!(expected.exists());
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("Wrote {}\n", expected.display())
    );
}

#[test]
fn truncated_header() {
    let dir = tempfile::tempdir().unwrap();
    let input = damaged(dir.path(), NOCOMPRESS, |b| b.truncate(20));
    assert_fails(
        dir.path(),
        &input,
        &[],
        &format!(
            "{}: byte 17: capture header ends early (expected the tracker statistics)",
            input.display()
        ),
    );
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = damaged(dir.path(), NOCOMPRESS, |b| b.clear());
    assert_fails(
        dir.path(),
        &input,
        &[],
        &format!(
            "{}: byte 0: capture header ends early (expected the magic \"memray\\0\")",
            input.display()
        ),
    );
}

#[test]
fn not_a_capture() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("text.bin");
    std::fs::write(&input, "hello, world\n").unwrap();
    assert_fails(
        dir.path(),
        &input,
        &[],
        &format!(
            "{}: byte 0: not a memray capture (expected the magic \"memray\\0\" or an LZ4 frame)",
            input.display()
        ),
    );
}

#[test]
fn unsupported_header_version() {
    let dir = tempfile::tempdir().unwrap();
    for version in [9u8, 14, 200] {
        let input = damaged(dir.path(), NOCOMPRESS, |b| b[7] = version);
        assert_fails(
            dir.path(),
            &input,
            &[],
            &format!(
                "{}: byte 7: capture header version {version} is not supported; memform reads \
                 header versions 10, 11, 12 and 13 (memray 1.7 to 1.20)",
                input.display()
            ),
        );
    }
}

#[test]
fn corrupted_record_type() {
    let dir = tempfile::tempdir().unwrap();
    let at = first_record_offset(&capture(NOCOMPRESS));
    let input = damaged(dir.path(), NOCOMPRESS, |b| b[at] = 0x03);
    assert_fails(
        dir.path(),
        &input,
        &[],
        &format!(
            "{}: byte {at}: malformed capture (expected a known record type)",
            input.display()
        ),
    );
}

#[test]
fn corrupted_lz4_block() {
    let dir = tempfile::tempdir().unwrap();
    let input = damaged(dir.path(), COMPRESSED, |b| {
        let mid = b.len() / 2;
        for x in &mut b[mid..mid + 64] {
            *x = 0xff;
        }
    });
    let out = dir.path().join("out.csv");
    let o = memform(&[
        "transform",
        "csv",
        "-o",
        out.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!("memform: error: {}: ", input.display())),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!out.exists());
}

#[test]
fn temporary_allocations_of_an_aggregated_capture() {
    let dir = tempfile::tempdir().unwrap();
    for flags in [
        &["--temporary-allocations"][..],
        &["--temporary-allocation-threshold", "3"][..],
    ] {
        assert_fails(
            dir.path(),
            &capture(AGGREGATED),
            flags,
            "Can't find temporary allocations using a pre-aggregated capture file.",
        );
    }
}

#[test]
fn output_into_a_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("no").join("such").join("out.csv");
    let o = memform(&[
        "transform",
        "csv",
        "-o",
        out.to_str().unwrap(),
        capture(COMPRESSED).to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!("memform: error: {}: ", out.display())),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn report_modes_are_mutually_exclusive() {
    let o = memform(&[
        "transform",
        "csv",
        "--leaks",
        "--temporary-allocations",
        capture(COMPRESSED).to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
}

#[test]
fn record_stream_cut_short_reports_the_complete_records_like_memray() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read(capture(NOCOMPRESS)).unwrap();
    let start = first_record_offset(&capture(NOCOMPRESS));
    let cut = start + (full.len() - start) / 2;
    let input = damaged(dir.path(), NOCOMPRESS, |b| b.truncate(cut));
    let out = dir.path().join("out.csv");
    let o = memform(&[
        "transform",
        "csv",
        "-q",
        "-o",
        out.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!(
            "memform: warning: {}: the record stream ends at byte ",
            input.display()
        )),
        "{err}"
    );
    assert!(err.contains("without a trailer"), "{err}");
    assert!(out.exists());
}

#[test]
fn output_onto_an_existing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("sub");
    std::fs::create_dir(&target).unwrap();
    let o = memform(&[
        "transform",
        "csv",
        "-f",
        "-o",
        target.to_str().unwrap(),
        capture(COMPRESSED).to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "memform: error: Cannot write the report to {}: it is a directory\n",
            target.display()
        )
    );
    assert!(target.is_dir());
}

#[test]
fn output_onto_the_capture_itself() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("run.bin");
    std::fs::copy(capture(COMPRESSED), &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    let o = memform(&[
        "transform",
        "csv",
        "-f",
        "-o",
        input.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "memform: error: Refusing to write the report over the capture itself: {}\n",
            input.display()
        )
    );
    assert_eq!(std::fs::read(&input).unwrap(), before);
    assert_eq!(files(dir.path()).len(), 1);
}

#[test]
fn output_into_a_full_device() {
    let o = memform(&[
        "transform",
        "csv",
        "-f",
        "-o",
        "/dev/full",
        capture(COMPRESSED).to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.starts_with("memform: error: /dev/full: "), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(err.lines().count(), 1);
    // The device is still a device: it was written to, not replaced.
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata("/dev/full")
        .unwrap()
        .file_type()
        .is_char_device());
}

#[test]
fn output_into_a_directory_that_cannot_be_written() {
    // Directory permissions do not stop root; /proc refuses new files to everyone.
    let out = Path::new("/proc/memform-report.csv");
    let o = memform(&[
        "transform",
        "csv",
        "-o",
        out.to_str().unwrap(),
        capture(COMPRESSED).to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("memform: error: /proc/memform-report.csv: "),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn interrupted_while_writing_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_memform"))
        .args([
            "transform",
            "csv",
            "-q",
            "-o",
            out.to_str().unwrap(),
            capture(COMPRESSED).to_str().unwrap(),
        ])
        .env("MEMFORM_PAUSE_BEFORE_COMMIT_MS", "20000")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the finished report to sit in its temporary file.
    let start = std::time::Instant::now();
    while files(dir.path()).is_empty() {
        assert!(start.elapsed().as_secs() < 20, "no temporary file appeared");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(128 + libc::SIGINT));
    assert_eq!(stderr(&o), "memform: interrupted; no report was written\n");
    assert!(
        files(dir.path()).is_empty(),
        "left behind: {:?}",
        files(dir.path())
    );
}
