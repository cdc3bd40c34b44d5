//! The pprof report against the CSV report of the same capture and mode, for every fixture
//! capture and every mode it has an expected CSV for, read back two ways:
//!
//! - by `go tool pprof -raw`, an independent reader (Google's own `profile` package). It
//!   merges samples with equal stacks and labels and drops samples whose values are all
//!   zero before printing, so the CSV rows are merged the same way before comparing;
//! - by decoding the profile with memform's `prost` messages, row by row.
//!
//! Both compare bytes and counts, totals, frames (function, file, line), and the `thread`
//! and `allocator` labels. `go` must be installed (scripts/test.sh installs it): without it
//! the test fails, saying so.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use memform::report::pprof::proto;
use prost::Message;

use crate::common::*;

/// A sample as both sides print it: values, labels, and frames as pprof's `-raw` shows a
/// location's line: `function file:line`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sample {
    bytes: i64,
    count: i64,
    allocator: String,
    thread: String,
    frames: Vec<String>,
}

/// `function file:line`, as the frame `function;file;line` of a CSV stack trace.
fn frame_text(frame: &str) -> String {
    let (rest, line) = frame.rsplit_once(';').expect("function;file;line");
    let (function, file) = rest.split_once(';').expect("function;file");
    format!("{function} {file}:{line}")
}

/// The rows of a CSV report as samples.
fn csv_samples(csv: &Path) -> Vec<Sample> {
    let text = std::fs::read_to_string(csv).unwrap();
    let rows = csv_rows(&text);
    assert_eq!(
        rows[0],
        [
            "allocator",
            "num_allocations",
            "size",
            "tid",
            "thread_name",
            "stack_trace"
        ]
    );
    rows[1..]
        .iter()
        .map(|r| Sample {
            bytes: r[2].parse().unwrap(),
            count: r[1].parse().unwrap(),
            allocator: r[0].clone(),
            thread: r[4].clone(),
            frames: if r[5].is_empty() {
                Vec::new()
            } else {
                r[5].split('|').map(frame_text).collect()
            },
        })
        .collect()
}

/// Samples as pprof shows them: equal stacks and labels summed at the first one's place
/// (its `Merge`), all-zero samples dropped (also `Merge`), samples without frames dropped
/// (its `FilterSamplesByName`, whatever the filters).
fn merged(samples: &[Sample]) -> Vec<Sample> {
    let mut out: Vec<Sample> = Vec::new();
    let shown = |s: &&Sample| (s.bytes != 0 || s.count != 0) && !s.frames.is_empty();
    for s in samples.iter().filter(shown) {
        match out
            .iter_mut()
            .find(|o| o.frames == s.frames && o.allocator == s.allocator && o.thread == s.thread)
        {
            Some(o) => {
                o.bytes += s.bytes;
                o.count += s.count;
            }
            None => out.push(s.clone()),
        }
    }
    out
}

/// `go`, or a failure that says how to get it.
fn go() -> Command {
    let found = Command::new("go").arg("version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "the pprof tests read the reports with `go tool pprof`, and `go` is not installed: \
         run scripts/test.sh (it installs Debian's golang-go) or `apt-get install golang-go`"
    );
    Command::new("go")
}

/// A location's line as `-raw` prints it, without the function's start line (`s=N`) and
/// the column newer versions print (`:0`).
fn raw_frame(text: &str) -> String {
    let text = text.rsplit_once(" s=").map_or(text, |(t, _)| t);
    text.strip_suffix(":0")
        .filter(|t| {
            t.rsplit_once(':')
                .is_some_and(|(_, n)| n.parse::<i64>().is_ok())
        })
        .unwrap_or(text)
        .to_string()
}

/// The samples `go tool pprof -raw` prints for `profile`. `-symbolize=none`: by default
/// pprof "simplifies" every function name that looks like demangled C++, dropping what is
/// between `<` and `>` (Python's `<module>` would print as an empty name); see
/// docs/pprof.md.
fn pprof_raw_samples(profile: &Path) -> Vec<Sample> {
    let o = go()
        .args(["tool", "pprof", "-raw", "-symbolize=none"])
        .arg(profile)
        .output()
        .expect("go tool pprof runs");
    assert!(o.status.success(), "go tool pprof: {}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    let mut lines = text.lines().skip_while(|l| *l != "Samples:").skip(1);
    assert_eq!(
        lines.next(),
        Some("space/bytes[dflt] objects/count"),
        "{text}"
    );
    let mut samples: Vec<(Sample, Vec<u64>)> = Vec::new();
    let mut locations = std::collections::HashMap::new();
    let mut in_locations = false;
    for line in lines {
        if line == "Locations" {
            in_locations = true;
            continue;
        }
        if line == "Mappings" {
            break;
        }
        if in_locations {
            let (id, rest) = line.trim_start().split_once(": ").expect("id: location");
            let rest = rest.split_once(' ').expect("address").1;
            let rest = match rest.split_once(' ') {
                Some((m, rest)) if m.starts_with("M=") => rest,
                _ => rest,
            };
            locations.insert(id.parse::<u64>().unwrap(), raw_frame(rest));
        } else if let Some(labels) = line.trim_start().strip_prefix("allocator:[") {
            let (allocator, thread) = labels.split_once("] thread:[").expect("labels");
            let sample = &mut samples.last_mut().expect("a sample before its labels").0;
            sample.allocator = allocator.to_string();
            sample.thread = thread.strip_suffix(']').expect("]").to_string();
        } else {
            let (values, ids) = line.split_once(':').expect("values: locations");
            let values: Vec<i64> = values
                .split_whitespace()
                .map(|v| v.parse().unwrap())
                .collect();
            let ids = ids.split_whitespace().map(|i| i.parse().unwrap()).collect();
            let sample = Sample {
                bytes: values[0],
                count: values[1],
                allocator: String::new(),
                thread: String::new(),
                frames: Vec::new(),
            };
            samples.push((sample, ids));
        }
    }
    samples
        .into_iter()
        .map(|(mut s, ids)| {
            s.frames = ids.iter().map(|id| locations[id].clone()).collect();
            s
        })
        .collect()
}

/// The profile in `path`, gunzipped and decoded.
fn decode(path: &Path) -> proto::Profile {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut raw)
        .unwrap();
    proto::Profile::decode(raw.as_slice()).unwrap()
}

/// The samples of a decoded profile, one per row.
fn decoded_samples(p: &proto::Profile) -> Vec<Sample> {
    let s = |i: i64| p.string_table[i as usize].clone();
    let label = |sample: &proto::Sample, key: &str| {
        let l = sample.label.iter().find(|l| s(l.key) == key).unwrap();
        s(l.str)
    };
    p.sample
        .iter()
        .map(|sample| Sample {
            bytes: sample.value[0],
            count: sample.value[1],
            allocator: label(sample, "allocator"),
            thread: label(sample, "thread"),
            frames: sample
                .location_id
                .iter()
                .map(|&id| {
                    let loc = p.location.iter().find(|l| l.id == id).unwrap();
                    let f = p
                        .function
                        .iter()
                        .find(|f| f.id == loc.line[0].function_id)
                        .unwrap();
                    format!("{} {}:{}", s(f.name), s(f.filename), loc.line[0].line)
                })
                .collect(),
        })
        .collect()
}

/// Fails `case` at the first sample where `got` and `want` differ (their lengths first).
fn assert_same(got: &[Sample], want: &[Sample], case: &str) {
    if let Some(i) = (0..got.len().min(want.len())).find(|&i| got[i] != want[i]) {
        panic!(
            "{case}: sample {i} differs:\n  got  {:?}\n  want {:?}",
            got[i], want[i]
        );
    }
    assert_eq!(got.len(), want.len(), "{case}: number of samples");
}

fn totals(samples: &[Sample]) -> (i64, i64) {
    samples
        .iter()
        .fold((0, 0), |(b, c), s| (b + s.bytes, c + s.count))
}

#[test]
fn every_fixture_report_reads_back_as_its_csv_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut compared = 0;
    let mut native = 0;
    for expected in files(&fixtures().join("expected")) {
        let name = expected.file_name().unwrap().to_string_lossy().into_owned();
        let Some((capture_name, mode)) = name
            .strip_suffix(".csv")
            .and_then(|n| n.split_once("-csv-"))
        else {
            continue;
        };
        let case = format!("{capture_name} {mode}");
        let capture = capture(&format!("{capture_name}.bin"));
        let csv = dir.path().join(format!("{capture_name}-{mode}.csv"));
        let pb = dir.path().join(format!("{capture_name}-{mode}.pb.gz"));
        for (format, out) in [("csv", &csv), ("pprof", &pb)] {
            let o = transform_fixture(&capture, format, mode, out);
            assert_eq!(o.status.code(), Some(0), "{case} {format}: {}", stderr(&o));
        }
        let rows = csv_samples(&csv);
        assert!(!rows.is_empty(), "{case}");
        let profile = decode(&pb);
        assert_same(
            &decoded_samples(&profile),
            &rows,
            &format!("{case}: decoded"),
        );
        let raw = pprof_raw_samples(&pb);
        assert_same(&raw, &merged(&rows), &format!("{case}: go tool pprof -raw"));
        assert_eq!(
            totals(&decoded_samples(&profile)),
            totals(&rows),
            "{case}: totals"
        );
        let stackless: Vec<Sample> = rows
            .iter()
            .filter(|r| r.frames.is_empty())
            .cloned()
            .collect();
        let (bytes, count) = totals(&stackless);
        let (all_bytes, all_count) = totals(&rows);
        assert_eq!(
            totals(&raw),
            (all_bytes - bytes, all_count - count),
            "{case}: go tool pprof's totals: the CSV's but for rows without frames"
        );
        if capture_name.contains("native") {
            assert!(!profile.mapping.is_empty(), "{case}: native mappings");
            native += 1;
        } else {
            assert!(profile.mapping.is_empty(), "{case}: no mappings");
        }
        compared += 1;
    }
    assert!(compared >= 70, "{compared} reports compared");
    assert!(native >= 6, "{native} native reports compared");
}

#[test]
fn the_native_capture_shows_its_csv_frames_and_same_bytes_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let capture = capture("v1.20.0-py3.11-native.bin");
    let (a, b) = (dir.path().join("a.pb.gz"), dir.path().join("b.pb.gz"));
    let csv = dir.path().join("r.csv");
    for (format, out) in [("pprof", &a), ("pprof", &b), ("csv", &csv)] {
        let o = transform_fixture(&capture, format, "peak", out);
        assert_eq!(o.status.code(), Some(0), "{format}: {}", stderr(&o));
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let rows = csv_samples(&csv);
    // Native frames: C functions in C files.
    assert!(rows
        .iter()
        .flat_map(|r| &r.frames)
        .any(|f| f.contains(".c:")));
    assert_same(
        &pprof_raw_samples(&a),
        &merged(&rows),
        "native: go tool pprof -raw",
    );
    let p = decode(&a);
    let s = |i: i64| p.string_table[i as usize].as_str();
    assert_eq!(s(0), "");
    assert!(p.mapping.iter().any(|m| s(m.filename).contains("python")));
    let mut ids: Vec<u64> = p.mapping.iter().map(|m| m.id).collect();
    ids.dedup();
    assert_eq!(ids, (1..=p.mapping.len() as u64).collect::<Vec<_>>());
}

#[test]
fn the_default_output_is_memray_pprof_name_pb_gz() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("memray-run.bin");
    std::fs::copy(capture("v1.20.0-py3.11-default.bin"), &copy).unwrap();
    let o = memform(&["transform", "PPROF", "-q", copy.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = dir.path().join("memray-pprof-run.pb.gz");
    assert!(decode(&out).sample.len() > 1);
}
