//! The temporary outputs of runs killed outright (SIGKILL) are removed by the next run that
//! writes into their folder, one stderr line each, when their process is gone; those of
//! running processes stay, and so does whatever only looks like them. Both kinds: report
//! files and events folders, made up with a pid no process has, and one left by a real
//! SIGKILLed run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::fixtures_match_memray::check_csv_in_order;

const CAPTURE: &str = "v1.20.0-py3.11-default.bin";

/// A pid no process can have: above the kernel's largest.
fn dead_pid() -> u32 {
    let max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse::<u32>()
        .unwrap();
    max + 1
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The line the command line prints for a removed leftover.
fn removed_line(path: &Path, kind: &str, pid: u32) -> String {
    format!(
        "memform: removed {}, a temporary {kind} left by process {pid}, which is no longer \
         running\n",
        path.display()
    )
}

/// The CSV report of [`CAPTURE`] at `out` is memray's.
fn assert_memray_csv(out: &Path) {
    let expected = fixtures().join("expected/v1.20.0-py3.11-default-csv-peak.csv");
    check_csv_in_order(
        "after removing leftovers",
        &std::fs::read_to_string(out).unwrap(),
        &std::fs::read_to_string(expected).unwrap(),
    );
}

#[test]
fn dead_processes_temporaries_are_removed_and_live_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dead_pid();
    let own = std::process::id();
    let file = dir.path().join(format!(".out.csv.memform-{dead}-0.tmp"));
    std::fs::write(&file, b"allocator,num_allocations,size,tid").unwrap();
    let folder = dir
        .path()
        .join(format!(".memray-events-run.memform-{dead}-1.tmp"));
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("allocations.parquet"), b"PAR1").unwrap();
    std::fs::write(folder.join("memory.parquet"), b"PAR1").unwrap();
    // This test process runs: its temporary stays, as do names memform does not make.
    let live = dir.path().join(format!(".out.csv.memform-{own}-0.tmp"));
    let others = [
        format!("out.csv.memform-{dead}-0.tmp"),
        format!(".out.csv.memform-{dead}-0.tmp.bak"),
        format!(".out.csv.memform-{dead}-x.tmp"),
        format!(".memray-events-run.memform-{dead}-1.old"),
    ];
    std::fs::write(&live, b"being written").unwrap();
    for name in &others {
        std::fs::write(dir.path().join(name), b"not memform's").unwrap();
    }

    let out = dir.path().join("out.csv");
    // With -q: the removal lines are printed all the same.
    let o = memform(&[
        "transform",
        "csv",
        "-q",
        "-o",
        s(&out),
        s(&capture(CAPTURE)),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        removed_line(&folder, "folder", dead) + &removed_line(&file, "file", dead)
    );
    assert!(o.stdout.is_empty());
    assert!(!file.exists() && !folder.exists());
    assert_eq!(std::fs::read(&live).unwrap(), b"being written");
    for name in &others {
        assert!(dir.path().join(name).exists(), "{name} was removed");
    }
    assert_memray_csv(&out);

    // Nothing left to remove: a run says nothing more.
    let o = memform(&[
        "transform",
        "csv",
        "-q",
        "-f",
        "-o",
        s(&out),
        s(&capture(CAPTURE)),
    ]);
    assert_eq!((o.status.code(), stderr(&o).as_str()), (Some(0), ""));
}

#[test]
fn an_events_run_and_a_batch_remove_the_leftovers_of_their_folders() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dead_pid();
    // The events format: its folder's parent is swept.
    let folder = dir.path().join(format!(".ds.memform-{dead}-0.tmp"));
    std::fs::create_dir_all(folder.join("deeper")).unwrap();
    std::fs::write(folder.join("deeper").join("lifetimes.parquet"), b"x").unwrap();
    let ds = dir.path().join("ds");
    let o = memform(&[
        "transform",
        "events",
        "-q",
        "-o",
        s(&ds),
        s(&capture(CAPTURE)),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), removed_line(&folder, "folder", dead));
    assert!(!folder.exists());
    assert!(ds.join("allocations.parquet").is_file());

    // A batch into --output-dir: that folder, once, though two reports go there.
    let reports = dir.path().join("reports");
    std::fs::create_dir(&reports).unwrap();
    let file = reports.join(format!(".memray-csv-a.csv.memform-{dead}-3.tmp"));
    std::fs::write(&file, b"partial").unwrap();
    let captures = dir.path().join("captures");
    std::fs::create_dir(&captures).unwrap();
    let (a, b) = (captures.join("a.bin"), captures.join("b.bin"));
    std::fs::copy(capture(CAPTURE), &a).unwrap();
    std::fs::copy(capture(CAPTURE), &b).unwrap();
    let o = memform(&[
        "transform",
        "csv",
        "-q",
        "--output-dir",
        s(&reports),
        s(&a),
        s(&b),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), removed_line(&file, "file", dead));
    assert!(!file.exists());
    assert_memray_csv(&reports.join("memray-csv-a.csv"));
    assert_memray_csv(&reports.join("memray-csv-b.csv"));
}

#[test]
fn a_sigkilled_runs_temporary_is_removed_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    let mut child = Command::new(env!("CARGO_BIN_EXE_memform"))
        .args([
            "transform",
            "csv",
            "-q",
            "-o",
            s(&out),
            s(&capture(CAPTURE)),
        ])
        .env("MEMFORM_PAUSE_BEFORE_COMMIT_MS", "20000")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the finished report to sit in its temporary file.
    let start = Instant::now();
    let temp = loop {
        if let Some(temp) = files(dir.path()).into_iter().next() {
            break temp;
        }
        assert!(start.elapsed().as_secs() < 20, "no temporary file appeared");
        std::thread::sleep(Duration::from_millis(5));
    };
    child.kill().unwrap(); // SIGKILL: nothing of memform's runs.
    let status = child.wait().unwrap(); // Reaped: the pid is gone.
    assert!(status.code().is_none(), "killed by a signal");
    assert_eq!(
        files(dir.path()),
        std::slice::from_ref(&temp),
        "the temporary stays"
    );

    let o = memform(&[
        "transform",
        "csv",
        "-q",
        "-o",
        s(&out),
        s(&capture(CAPTURE)),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), removed_line(&temp, "file", child.id()));
    assert_eq!(files(dir.path()), std::slice::from_ref(&out));
    assert_memray_csv(&out);
}
