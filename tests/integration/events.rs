//! The events dataset (`memform transform events`) against memray's own reports: for every
//! full fixture capture, the allocations alive at the high-water mark, grouped by stack,
//! are the peak CSV report's rows, and those never freed are the leaks report's; and the
//! folder is written safely (refused inputs, overwrites, usage errors).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use arrow_array::{Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::common::{csv_rows, fixtures, memform, stderr};

fn scratch(case: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("memform-events-{case}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The batches of a Parquet file, and its key-value metadata.
fn read(path: &Path) -> (Vec<RecordBatch>, BTreeMap<String, String>) {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let metadata = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
        .collect();
    let batches = builder.build().unwrap().collect::<Result<_, _>>().unwrap();
    (batches, metadata)
}

/// Per printed stack, `(allocations, bytes)`.
type ByStack = BTreeMap<String, (u64, u64)>;

/// The rows of a CSV report, summed per stack.
fn csv_by_stack(path: &Path) -> ByStack {
    let text = std::fs::read_to_string(path).unwrap();
    let rows = csv_rows(&text);
    let mut out = ByStack::new();
    for row in &rows[1..] {
        let entry = out.entry(row[5].clone()).or_default();
        entry.0 += row[1].parse::<u64>().unwrap();
        entry.1 += row[2].parse::<u64>().unwrap();
    }
    out
}

/// The dataset in `dir`: the allocations alive at event `at` (all that are never freed
/// when `None`), summed per stack; and the peak index of the metadata.
fn dataset_by_stack(dir: &Path, at: Option<u64>) -> (ByStack, u64) {
    let (stacks, _) = read(&dir.join("stacks.parquet"));
    let mut traces = Vec::new();
    for b in &stacks {
        let ids = b
            .column_by_name("stack_id")
            .unwrap()
            .as_primitive::<UInt64Type>();
        let text = b.column_by_name("stack_trace").unwrap().as_string::<i32>();
        for i in 0..b.num_rows() {
            assert_eq!(ids.value(i), traces.len() as u64, "stack ids are dense");
            traces.push(text.value(i).to_string());
        }
    }
    let (allocations, metadata) = read(&dir.join("allocations.parquet"));
    let peak: u64 = metadata["memform.peak_memory_index"].parse().unwrap();
    let mut out = ByStack::new();
    for b in &allocations {
        let col = |name| b.column_by_name(name).unwrap().as_primitive::<UInt64Type>();
        let (seq, size, stack, freed) = (col("seq"), col("size"), col("stack_id"), col("freed_at"));
        for i in 0..b.num_rows() {
            let alive = match at {
                Some(at) => seq.value(i) <= at && (freed.is_null(i) || freed.value(i) > at),
                None => freed.is_null(i),
            };
            if freed.is_valid(i) {
                assert!(freed.value(i) >= seq.value(i), "freed before allocated");
            }
            if alive {
                let entry = out
                    .entry(traces[stack.value(i) as usize].clone())
                    .or_default();
                entry.0 += 1;
                entry.1 += size.value(i);
            }
        }
    }
    (out, peak)
}

/// Full captures of the fixtures: `(capture, expected-report directory)`.
fn full_captures() -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    for set in [fixtures(), fixtures().join("versions")] {
        for entry in std::fs::read_dir(set.join("captures")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".bin") && !name.contains("aggregate") && !name.contains("nativeagg")
            {
                out.push((path, set.join("expected")));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn alive_at_the_peak_and_never_freed_are_the_peak_and_leaks_reports() {
    let dir = scratch("reports");
    let captures = full_captures();
    assert!(captures.len() >= 15, "{} captures", captures.len());
    for (capture, expected) in &captures {
        let stem = capture.file_stem().unwrap().to_string_lossy().into_owned();
        let out = dir.join(&stem);
        let o = memform(&[
            "transform",
            "events",
            "-q",
            "-o",
            out.to_str().unwrap(),
            capture.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{stem}: {}", stderr(&o));
        let (at_peak, peak) = dataset_by_stack(&out, None);
        let (at_peak_index, _) = dataset_by_stack(&out, Some(peak));
        let peak_csv = csv_by_stack(&expected.join(format!("{stem}-csv-peak.csv")));
        let leaks_csv = csv_by_stack(&expected.join(format!("{stem}-csv-leaks.csv")));
        assert_eq!(at_peak_index, peak_csv, "{stem}: alive at the peak");
        assert_eq!(at_peak, leaks_csv, "{stem}: never freed");
        assert!(!peak_csv.is_empty(), "{stem}");
        let mut names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "allocations.parquet",
                "memory.parquet",
                "stacks.parquet",
                "threads.parquet"
            ]
        );
        for table in ["allocations", "stacks", "threads", "memory"] {
            let (_, metadata) = read(&out.join(format!("{table}.parquet")));
            assert_eq!(metadata["memform.table"], table, "{stem}");
            assert_eq!(metadata["memform.dataset"], "events", "{stem}");
            assert_eq!(metadata["memform.peak_memory_index"], peak.to_string());
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn memory_records_carry_the_heap_and_threads_their_names() {
    let dir = scratch("memory");
    let capture = fixtures().join("captures/v1.20.0-py3.11-default.bin");
    let out = dir.join("ds");
    let o = memform(&[
        "transform",
        "events",
        "-q",
        "-o",
        out.to_str().unwrap(),
        capture.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (memory, _) = read(&out.join("memory.parquet"));
    let rows: usize = memory.iter().map(RecordBatch::num_rows).sum();
    assert!(rows >= 1, "memory records");
    let rss = memory[0]
        .column_by_name("rss")
        .unwrap()
        .as_primitive::<UInt64Type>();
    assert!(rss.value(0) > 1 << 20, "an RSS of a Python process");
    let (threads, _) = read(&out.join("threads.parquet"));
    let names = threads[0]
        .column_by_name("name")
        .unwrap()
        .as_string::<i32>();
    let named: Vec<_> = (0..names.len())
        .filter(|&i| names.is_valid(i))
        .map(|i| names.value(i))
        .collect();
    assert_eq!(named, ["fixture-worker"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_folder_is_written_safely() {
    let dir = scratch("safety");
    let full = fixtures().join("captures/v1.20.0-py3.11-default.bin");
    let aggregated = fixtures().join("captures/v1.20.0-py3.11-aggregate.bin");
    let capture = dir.join("run.bin");
    std::fs::copy(&full, &capture).unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["transform"];
        all.extend_from_slice(args);
        memform(&all)
    };
    let c = capture.to_str().unwrap();
    let default_dir = dir.join("memray-events-run");

    // The default folder, beside the capture.
    let o = run(&["events", c]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("Wrote {}\n", default_dir.display())
    );
    // Not again without -f; with -f, replaced.
    let o = run(&["events", "-q", c]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "memform: error: File already exists, will not overwrite without --force: {}\n",
            default_dir.display()
        )
    );
    let o = run(&["events", "-q", "-f", c]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // -f never removes a folder holding files memform did not write.
    std::fs::write(default_dir.join("notes.txt"), "mine").unwrap();
    let o = run(&["events", "-q", "-f", c]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "memform: error: {}: holds \"notes.txt\", which memform did not write; will not replace it\n",
            default_dir.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(default_dir.join("notes.txt")).unwrap(),
        "mine"
    );

    // An aggregated capture has no events: one line, exit 1, no folder.
    let out = dir.join("agg");
    let o = run(&[
        "events",
        "-q",
        "-o",
        out.to_str().unwrap(),
        aggregated.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "memform: error: {}: an aggregated capture keeps no allocation events; the events \
             dataset needs a full capture (recorded without --aggregate)\n",
            aggregated.display()
        )
    );
    assert!(!out.exists());

    // Report options do not apply; events is written alone.
    let o = run(&["events", "--leaks", "-q", "-o", out.to_str().unwrap(), c]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "memform: error: --leaks does not apply to the events format (it holds every \
         allocation)\n"
    );
    let o = run(&["csv,events", "-q", "-o", out.to_str().unwrap(), c]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "memform: error: the events format is written alone, not in a list (csv,events)\n"
    );
    let o = run(&[
        "events",
        "--folded-value",
        "count",
        "-q",
        "-o",
        out.to_str().unwrap(),
        c,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "memform: error: --folded-value applies only to the folded and flamegraph formats, not events\n"
    );
    assert!(!out.exists());

    // Nothing but the finished folders is left behind.
    let mut left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["memray-events-run", "run.bin"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One thread (the allocations encoded inline), two (on a thread of their own, one column
/// after the other) and four (the columns of each batch encoded in parallel) write the same
/// files, byte for byte. (`ColumnEncoder`'s unit test compares it with `ArrowWriter`.)
#[test]
fn one_thread_two_and_four_write_the_same_files() {
    let dir = scratch("threads");
    let capture = fixtures().join("captures/v1.20.0-py3.13-native.bin");
    let mut written = Vec::new();
    for threads in ["1", "2", "4"] {
        let out = dir.join(threads);
        let o = memform(&[
            "transform",
            "events",
            "-q",
            "--threads",
            threads,
            "--row-group-size",
            "100",
            "-o",
            out.to_str().unwrap(),
            capture.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let file = File::open(out.join("allocations.parquet")).unwrap();
        let groups = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .metadata()
            .num_row_groups();
        assert!(groups > 1, "small row groups");
        let files: Vec<Vec<u8>> = [
            "allocations.parquet",
            "stacks.parquet",
            "threads.parquet",
            "memory.parquet",
        ]
        .iter()
        .map(|name| std::fs::read(out.join(name)).unwrap())
        .collect();
        written.push(files);
    }
    assert!(written[0] == written[1], "one thread and two differ");
    assert!(written[0] == written[2], "one thread and four differ");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn interrupted_while_writing_leaves_no_folder() {
    let dir = scratch("interrupt");
    let out = dir.join("ds");
    let capture = fixtures().join("captures/v1.20.0-py3.11-default.bin");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_memform"))
        .args([
            "transform",
            "events",
            "-q",
            "-o",
            out.to_str().unwrap(),
            capture.to_str().unwrap(),
        ])
        .env("MEMFORM_PAUSE_BEFORE_COMMIT_MS", "20000")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the finished files to sit in the temporary folder.
    let start = std::time::Instant::now();
    let finished = || {
        std::fs::read_dir(&dir).unwrap().any(|e| {
            let path = e.unwrap().path();
            path.join("memory.parquet").exists()
        })
    };
    while !finished() {
        assert!(
            start.elapsed().as_secs() < 20,
            "no temporary folder appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(128 + libc::SIGINT));
    assert_eq!(stderr(&o), "memform: interrupted; no report was written\n");
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
