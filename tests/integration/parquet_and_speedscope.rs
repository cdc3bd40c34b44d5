//! The formats that memform adds to memray's CSV and gprof2dot: Parquet (read back with the
//! parquet crate and compared with the CSV report of the same capture) and speedscope (the
//! parts the fixture comparison cannot reach), plus their command-line options.
//! `scripts/parquet_check.sh` reads the Parquet files with pandas, polars and DuckDB.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::common::*;

const DEFAULT: &str = "v1.20.0-py3.11-default.bin";
const PYALLOC: &str = "v1.20.0-py3.13-pyalloc.bin";
const AGGREGATED: &str = "v1.20.0-py3.11-aggregate.bin";
const KILLED: &str = "v1.20.0-py3.11-killed.bin";

fn run_ok(args: &[&str]) {
    let o = memform(args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
}

fn transform(dir: &Path, format: &str, capture_name: &str, extra: &[&str]) -> std::path::PathBuf {
    let out = dir.join(format!("{capture_name}-{format}-{}.out", extra.join("_")));
    let mut args = vec!["transform", format, "-q", "-f", "-o", out.to_str().unwrap()];
    args.extend(extra);
    let c = capture(capture_name);
    args.push(c.to_str().unwrap());
    run_ok(&args);
    out
}

/// The string at `i` of a dictionary-of-strings column, or None when null.
fn dict_str(col: &ArrayRef, i: usize) -> Option<String> {
    let d = col.as_dictionary::<Int32Type>();
    if d.is_null(i) {
        return None;
    }
    let values = d.values().as_string::<i32>();
    Some(values.value(d.keys().value(i) as usize).to_string())
}

/// One Parquet row as the CSV prints it, plus its frames, leaf and depth.
#[derive(Debug, PartialEq)]
struct Row {
    csv: Vec<String>,
    frames: Vec<(String, String, i32)>,
    leaf: Option<(String, String, i32)>,
    depth: u32,
}

fn rows_of(batch: &RecordBatch) -> Vec<Row> {
    let u64s = |i: usize| batch.column(i).as_primitive::<UInt64Type>().clone();
    let (num, size, tid) = (u64s(1), u64s(2), u64s(3));
    let stack = batch.column(5).as_string::<i32>();
    let frames = batch.column(6).as_list::<i32>();
    let leaf_line = batch.column(9).as_primitive::<Int32Type>();
    let depth = batch.column(10).as_primitive::<UInt32Type>();
    (0..batch.num_rows())
        .map(|i| {
            let f = frames.value(i);
            let f = f.as_struct();
            let lines = f.column(2).as_primitive::<Int32Type>();
            let frames = (0..f.len())
                .map(|j| {
                    (
                        dict_str(f.column(0), j).unwrap(),
                        dict_str(f.column(1), j).unwrap(),
                        lines.value(j),
                    )
                })
                .collect();
            let leaf = dict_str(batch.column(7), i).map(|function| {
                (
                    function,
                    dict_str(batch.column(8), i).unwrap(),
                    leaf_line.value(i),
                )
            });
            assert_eq!(leaf.is_none(), leaf_line.is_null(i));
            Row {
                csv: vec![
                    dict_str(batch.column(0), i).unwrap(),
                    num.value(i).to_string(),
                    size.value(i).to_string(),
                    (tid.value(i) as i64).to_string(),
                    dict_str(batch.column(4), i).unwrap(),
                    stack.value(i).to_string(),
                ],
                frames,
                leaf,
                depth: depth.value(i),
            }
        })
        .collect()
}

/// `memform.*` key-value metadata.
type Metadata = HashMap<String, String>;
/// Rows and codec of each row group.
type Groups = Vec<(i64, Compression)>;

/// Reads a Parquet report: its rows, its `memform.*` metadata, and the rows and codec of
/// each row group.
fn read_parquet(path: &Path) -> (Vec<Row>, Metadata, Groups) {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    assert_eq!(
        builder.schema().fields().len(),
        memform::report::arrow_rows::schema().fields().len()
    );
    let reader = builder.with_batch_size(5).build().unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        rows.extend(rows_of(&batch.unwrap()));
    }
    let file = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
    let meta = file.metadata();
    let kv = meta
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .filter(|kv| kv.key.starts_with("memform."))
        .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
        .collect();
    let groups = meta
        .row_groups()
        .iter()
        .map(|g| (g.num_rows(), g.column(0).compression()))
        .collect();
    (rows, kv, groups)
}

fn assert_matches_csv(rows: &[Row], csv_text: &str, case: &str) {
    let csv = csv_rows(csv_text);
    assert_eq!(rows.len() + 1, csv.len(), "{case}: row count");
    for (i, (row, want)) in rows.iter().zip(&csv[1..]).enumerate() {
        assert_eq!(&row.csv, want, "{case}: row {i}");
        let joined: Vec<String> = row
            .frames
            .iter()
            .map(|(f, file, line)| format!("{f};{file};{line}"))
            .collect();
        assert_eq!(joined.join("|"), row.csv[5], "{case}: row {i} frames");
        assert_eq!(
            row.leaf,
            row.frames.first().cloned(),
            "{case}: row {i} leaf"
        );
        assert_eq!(
            row.depth as usize,
            row.frames.len(),
            "{case}: row {i} depth"
        );
    }
}

#[test]
fn parquet_rows_equal_the_csv_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases = 0;
    for name in [DEFAULT, PYALLOC, AGGREGATED, KILLED] {
        for report in ["peak", "leaks", "temp5"] {
            if name == AGGREGATED && report == "temp5" {
                continue;
            }
            let flags = report_flags(report);
            let csv = transform(dir.path(), "csv", name, &flags);
            let pq = transform(dir.path(), "parquet", name, &flags);
            let (rows, kv, groups) = read_parquet(&pq);
            let case = format!("{name} {report}");
            assert_matches_csv(&rows, &std::fs::read_to_string(csv).unwrap(), &case);
            assert!(groups
                .iter()
                .all(|(_, c)| matches!(c, Compression::ZSTD(_))));
            let mode = match report {
                "temp5" => "temporary 5",
                other => other,
            };
            assert_eq!(kv["memform.report"], mode, "{case}");
            cases += 1;
        }
    }
    assert_eq!(cases, 11);
}

#[test]
fn parquet_metadata_describes_capture_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let pq = transform(dir.path(), "parquet", DEFAULT, &["--leaks"]);
    let (_, kv, _) = read_parquet(&pq);
    let path = capture(DEFAULT);
    let keys = [
        "schema_version",
        "version",
        "capture.path",
        "capture.size",
        "capture.file_format",
        "header_version",
        "memray_versions",
        "python_version",
        "pid",
        "command_line",
        "start_time_ms",
        "end_time_ms",
        "native_traces",
        "python_allocator",
        "trace_python_allocators",
        "report",
        "peak_memory",
        "peak_memory_index",
        "total_allocations",
    ];
    let mut found: Vec<&str> = kv.keys().map(|k| &k["memform.".len()..]).collect();
    found.sort();
    let mut want = keys.to_vec();
    want.sort();
    assert_eq!(found, want);
    let k = |key: &str| kv[&format!("memform.{key}")].as_str();
    assert_eq!(k("schema_version"), "1");
    assert_eq!(k("version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(
        k("capture.path"),
        std::fs::canonicalize(&path).unwrap().to_str().unwrap()
    );
    assert_eq!(
        k("capture.size"),
        std::fs::metadata(&path).unwrap().len().to_string()
    );
    assert_eq!(k("capture.file_format"), "all_allocations");
    assert_eq!(k("header_version"), "13");
    assert_eq!(k("memray_versions"), "1.20");
    assert!(k("python_version").starts_with("3.11."));
    assert_eq!(k("native_traces"), "false");
    assert_eq!(k("python_allocator"), "pymalloc");
    assert_eq!(k("trace_python_allocators"), "false");
    assert_eq!(k("report"), "leaks");
    // The peak of a leaks report, from memray's own reader (FileReader.metadata.peak_memory).
    assert_eq!(k("peak_memory"), "417786");
    assert_eq!(k("total_allocations"), "608");
    let index: u64 = k("peak_memory_index").parse().unwrap();
    assert!(index < 608);
    assert!(k("command_line").contains("memray"));

    // Aggregated captures keep no allocation records: no peak.
    let pq = transform(dir.path(), "parquet", AGGREGATED, &[]);
    let (_, kv, _) = read_parquet(&pq);
    assert_eq!(kv["memform.capture.file_format"], "aggregated_allocations");
    assert_eq!(kv["memform.peak_memory"], "");
    assert_eq!(kv["memform.peak_memory_index"], "");
    assert_eq!(kv["memform.report"], "peak");

    // Python allocator tracing is recorded.
    let pq = transform(dir.path(), "parquet", PYALLOC, &["--temporary-allocations"]);
    let (_, kv, _) = read_parquet(&pq);
    assert_eq!(kv["memform.trace_python_allocators"], "true");
    assert_eq!(kv["memform.report"], "temporary 1");
    assert!(kv["memform.python_version"].starts_with("3.13."));
}

#[test]
fn parquet_codecs_and_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let csv = std::fs::read_to_string(transform(dir.path(), "csv", PYALLOC, &["--leaks"])).unwrap();
    let n = csv_rows(&csv).len() - 1;
    assert!(n > 20);
    for (codec, check) in [
        (
            "zstd",
            (|c| matches!(c, Compression::ZSTD(_))) as fn(Compression) -> bool,
        ),
        ("snappy", |c| c == Compression::SNAPPY),
        ("gzip", |c| matches!(c, Compression::GZIP(_))),
        ("lz4", |c| c == Compression::LZ4_RAW),
        ("none", |c| c == Compression::UNCOMPRESSED),
        ("ZSTD", |c| matches!(c, Compression::ZSTD(_))),
    ] {
        let pq = transform(
            dir.path(),
            "parquet",
            PYALLOC,
            &["--leaks", "--compression", codec, "--row-group-size", "7"],
        );
        let (rows, _, groups) = read_parquet(&pq);
        assert_matches_csv(&rows, &csv, codec);
        assert_eq!(groups.len(), n.div_ceil(7), "{codec}: row groups");
        for (i, (rows, compression)) in groups.iter().enumerate() {
            assert_eq!(*rows as usize, 7.min(n - 7 * i), "{codec}: group {i}");
            assert!(check(*compression), "{codec}: {compression:?}");
        }
    }
}

#[test]
fn empty_reports() {
    use memform::analysis::{self, ReportMode};
    use memform::capture::CaptureFile;
    use memform::format::Format;
    use memform::progress::Silent;
    use memform::report::ParquetOptions;

    let dir = tempfile::tempdir().unwrap();
    let path = capture(DEFAULT);
    let file = CaptureFile::open(&path).unwrap();
    let options = analysis::Options {
        high_water_mark: true,
        ..Default::default()
    };
    let mut report = analysis::compute(&file, ReportMode::Leaks, options, &mut Silent).unwrap();
    report.rows = report.rows.slice(0, 0);

    let out = dir.path().join("empty.parquet");
    let mut f = File::create(&out).unwrap();
    Format::Parquet
        .write(&mut report, &mut f, &ParquetOptions::for_capture(&path))
        .unwrap();
    drop(f);
    let (rows, kv, groups) = read_parquet(&out);
    assert!(rows.is_empty() && groups.is_empty());
    assert_eq!(kv["memform.report"], "leaks");

    let mut text = Vec::new();
    Format::Speedscope
        .write(&mut report, &mut text, &ParquetOptions::for_capture(&path))
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(doc["shared"]["frames"], serde_json::json!([]));
    for p in doc["profiles"].as_array().unwrap() {
        assert_eq!(p["endValue"], 0);
        assert_eq!(p["samples"], serde_json::json!([]));
    }
    assert_eq!(doc["activeProfileIndex"], 0);
}

#[test]
fn speedscope_merges_samples_and_drops_zero_weights() {
    // Against the CSV report: rows with equal stacks merge, in order of first occurrence.
    let dir = tempfile::tempdir().unwrap();
    for name in [DEFAULT, PYALLOC, AGGREGATED] {
        let csv = csv_rows(
            &std::fs::read_to_string(transform(dir.path(), "csv", name, &["--leaks"])).unwrap(),
        );
        let doc: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(transform(dir.path(), "speedscope", name, &["--leaks"]))
                .unwrap(),
        )
        .unwrap();
        let frames = doc["shared"]["frames"].as_array().unwrap();
        let mut order: Vec<String> = Vec::new();
        let mut sums: HashMap<String, (u64, u64)> = HashMap::new();
        for row in &csv[1..] {
            if row[5].is_empty() {
                continue;
            }
            if !sums.contains_key(&row[5]) {
                order.push(row[5].clone());
            }
            let e = sums.entry(row[5].clone()).or_default();
            e.0 += row[2].parse::<u64>().unwrap();
            e.1 += row[1].parse::<u64>().unwrap();
        }
        for (p, pick) in doc["profiles"].as_array().unwrap().iter().zip([0, 1]) {
            let want: Vec<(&String, u64)> = order
                .iter()
                .map(|s| (s, if pick == 0 { sums[s].0 } else { sums[s].1 }))
                .filter(|(_, w)| *w > 0)
                .collect();
            let samples = p["samples"].as_array().unwrap();
            let weights = p["weights"].as_array().unwrap();
            assert_eq!(samples.len(), want.len(), "{name}");
            for ((sample, weight), (stack, w)) in samples.iter().zip(weights).zip(&want) {
                assert_eq!(weight.as_u64(), Some(*w));
                let text: Vec<String> = sample
                    .as_array()
                    .unwrap()
                    .iter()
                    .rev()
                    .map(|i| {
                        let f = &frames[i.as_u64().unwrap() as usize];
                        format!(
                            "{};{};{}",
                            f["name"].as_str().unwrap(),
                            f.get("file").and_then(|v| v.as_str()).unwrap_or(""),
                            f.get("line").and_then(|v| v.as_i64()).unwrap_or(0)
                        )
                    })
                    .collect();
                assert_eq!(&text.join("|"), *stack, "{name}");
            }
            let total: u64 = want.iter().map(|(_, w)| w).sum();
            assert_eq!(p["endValue"].as_u64(), Some(total));
        }
        assert_eq!(
            doc["exporter"],
            format!("memform@{}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn default_output_names() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("memray-app.1234.bin");
    std::fs::copy(capture(DEFAULT), &copy).unwrap();
    for (format, name) in [
        ("speedscope", "memray-speedscope-app.1234.speedscope.json"),
        ("parquet", "memray-parquet-app.1234.parquet"),
        ("SpeedScope", "memray-speedscope-app.1234.speedscope.json"),
    ] {
        run_ok(&["transform", format, "-q", "-f", copy.to_str().unwrap()]);
        assert!(dir.path().join(name).is_file(), "{format}: {name}");
    }
}

#[test]
fn parquet_options_are_refused_elsewhere_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let c = capture(DEFAULT);
    let cases: [(&str, &[&str], &str); 5] = [
        (
            "csv",
            &["--compression", "zstd"],
            "memform: error: --compression applies only to the parquet and events formats, not csv\n",
        ),
        (
            "speedscope",
            &["--row-group-size", "10"],
            "memform: error: --row-group-size applies only to the parquet and events formats, not speedscope\n",
        ),
        (
            "gprof2dot",
            &["--compression", "none", "--row-group-size", "10"],
            "memform: error: --compression applies only to the parquet and events formats, not gprof2dot\n",
        ),
        ("parquet", &["--compression", "brotli"], "unknown codec"),
        ("parquet", &["--row-group-size", "0"], "positive number"),
    ];
    for (format, extra, message) in cases {
        let out = dir.path().join("out");
        let mut args = vec!["transform", format, "-q", "-o", out.to_str().unwrap()];
        args.extend(extra);
        args.push(c.to_str().unwrap());
        let o = memform(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&o).contains(message),
            "{args:?}: {:?} lacks {message:?}",
            stderr(&o)
        );
        assert!(!out.exists());
        assert!(files(dir.path()).is_empty(), "{args:?}: files left behind");
    }
}
