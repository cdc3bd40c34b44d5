//! `memform diff BASE NEW`: the diff of two captures of tests/fixtures/diff/workload.py (run
//! with N=1 and N=2), whose changes are known by construction, and whose sides are memray's
//! own CSV reports of each capture summed by stack; every fixture capture against itself
//! (all deltas zero); base and new swapped (every delta negated); `--by row` against memray's
//! rows; the Parquet, folded and flame-graph outputs; `--fail-above` on both sides of its
//! threshold; the refusals.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::*;

fn diff_fixture(name: &str) -> PathBuf {
    fixtures().join("diff").join(name)
}

const HEADER: [&str; 7] = [
    "stack_trace",
    "base_size",
    "new_size",
    "delta_size",
    "base_num_allocations",
    "new_num_allocations",
    "delta_num_allocations",
];

/// One row of a diff's CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    stack: String,
    base: (u64, u64),
    new: (u64, u64),
    delta: (i64, i64),
    /// `(allocator, tid)` under `--by row`.
    key: Option<(String, String)>,
}

/// Runs `memform diff base new -o <dir>/out <extra>`; its status, stderr and output path.
fn run_diff(base: &Path, new: &Path, dir: &Path, extra: &[&str]) -> (i32, String, PathBuf) {
    let out = dir.join(format!("out-{}", extra.join("_").replace(['/', '%'], "")));
    let mut args = vec![
        "diff",
        base.to_str().unwrap(),
        new.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-f",
    ];
    args.extend_from_slice(extra);
    let o = memform(&args);
    (o.status.code().unwrap_or(-1), stderr(&o), out)
}

/// The rows of a diff's CSV, checked against its header.
fn read_rows(path: &Path, by_row: bool) -> Vec<Row> {
    let text = std::fs::read_to_string(path).unwrap();
    let rows = csv_rows(&text);
    let mut header: Vec<&str> = HEADER.to_vec();
    if by_row {
        header.extend(["allocator", "tid"]);
    }
    assert_eq!(rows[0], header);
    rows[1..]
        .iter()
        .map(|r| Row {
            stack: r[0].clone(),
            base: (r[1].parse().unwrap(), r[4].parse().unwrap()),
            new: (r[2].parse().unwrap(), r[5].parse().unwrap()),
            delta: (r[3].parse().unwrap(), r[6].parse().unwrap()),
            key: by_row.then(|| (r[7].clone(), r[8].clone())),
        })
        .collect()
}

/// Every row's deltas are new minus base, and rows come largest growth first.
fn assert_consistent(rows: &[Row], case: &str) {
    for r in rows {
        assert_eq!(r.delta.0, r.new.0 as i64 - r.base.0 as i64, "{case}: {r:?}");
        assert_eq!(r.delta.1, r.new.1 as i64 - r.base.1 as i64, "{case}: {r:?}");
    }
    for pair in rows.windows(2) {
        assert!(pair[0].delta.0 >= pair[1].delta.0, "{case}: order {pair:?}");
    }
}

/// memray's CSV report summed by stack: stack → (bytes, allocations).
fn memray_by_stack(csv: &Path) -> BTreeMap<String, (u64, u64)> {
    let text = std::fs::read_to_string(csv).unwrap();
    let mut sums = BTreeMap::new();
    for r in &csv_rows(&text)[1..] {
        let e = sums.entry(r[5].clone()).or_insert((0, 0));
        e.0 += r[2].parse::<u64>().unwrap();
        e.1 += r[1].parse::<u64>().unwrap();
    }
    sums
}

/// The row of the workload's function `function` at `line`.
fn workload_row<'r>(rows: &'r [Row], function: &str, line: u32) -> &'r Row {
    let leaf = format!("{function};workload.py;{line}|");
    let found: Vec<&Row> = rows.iter().filter(|r| r.stack.starts_with(&leaf)).collect();
    assert_eq!(found.len(), 1, "{leaf}: {found:?}");
    found[0]
}

#[test]
fn deltas_known_by_construction() {
    let dir = tempfile::tempdir().unwrap();
    let (n1, n2) = (diff_fixture("diff-n1.bin"), diff_fixture("diff-n2.bin"));
    for (report, flags, suffix) in [("peak", &[][..], ""), ("leaks", &["--leaks"][..], "-leaks")] {
        let (code, err, out) = run_diff(&n1, &n2, dir.path(), flags);
        assert_eq!(code, 0, "{report}: {err}");
        let rows = read_rows(&out, false);
        assert_consistent(&rows, report);
        // What the workload holds, by construction: a bytearray of n bytes is one
        // allocation of n+1.
        let expect = |function, line, base: (u64, u64), new: (u64, u64)| {
            let r = workload_row(&rows, function, line);
            assert_eq!((r.base, r.new), (base, new), "{report}: {function}:{line}");
        };
        expect("grows", 20, (40_004, 4), (80_008, 8));
        expect("shrinks", 25, (40_002, 2), (20_001, 1));
        expect("steady", 30, (250_005, 5), (250_005, 5));
        expect("only_in_one", 35, (30_001, 1), (0, 0));
        expect("only_in_one", 37, (0, 0), (40_001, 1));
        // Largest growth first, largest shrinking last.
        assert!(
            rows[0].stack.starts_with("grows;workload.py;20|"),
            "{report}"
        );
        assert!(rows
            .last()
            .unwrap()
            .stack
            .starts_with("only_in_one;workload.py;35|"));
        // Each side is memray's own report of its capture, summed by stack.
        let base_memray = memray_by_stack(&diff_fixture(&format!("diff-n1{suffix}.csv")));
        let new_memray = memray_by_stack(&diff_fixture(&format!("diff-n2{suffix}.csv")));
        let side = |pick: fn(&Row) -> (u64, u64)| -> BTreeMap<String, (u64, u64)> {
            rows.iter()
                .map(|r| (r.stack.clone(), pick(r)))
                .filter(|(_, v)| *v != (0, 0))
                .collect()
        };
        assert_eq!(side(|r| r.base), base_memray, "{report}: base");
        assert_eq!(side(|r| r.new), new_memray, "{report}: new");
        let stacks: std::collections::BTreeSet<&String> =
            base_memray.keys().chain(new_memray.keys()).collect();
        assert_eq!(rows.len(), stacks.len(), "{report}: one row per stack");
        // The summary line: totals of both and the change.
        let total = |m: &BTreeMap<String, (u64, u64)>| m.values().map(|v| v.0).sum::<u64>();
        let change = total(&new_memray) as i64 - total(&base_memray) as i64;
        assert_eq!(change, 80_008 - 40_004 + 20_001 - 40_002 + 40_001 - 30_001);
        assert!(
            err.contains(&format!(
                "{report} report 390.59 KiB in 54 allocations → 419.89 KiB in 57 allocations: \
                 +29.30 KiB (+7.50%), +3 allocations"
            )),
            "{report}: {err}"
        );
    }
}

/// Every fixture capture diffed against itself, in every report mode it has, by stack and
/// by row: every delta is zero.
#[test]
fn a_capture_against_itself_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases = 0;
    for capture in files(&fixtures().join("captures")) {
        let name = capture.file_name().unwrap().to_string_lossy().into_owned();
        let aggregated = name.contains("aggregate") || name.contains("nativeagg");
        for mode in ["peak", "leaks", "temp"] {
            if mode == "temp" && aggregated {
                continue;
            }
            for by in ["stack", "row"] {
                let mut flags = report_flags(mode);
                flags.extend(["--by", by]);
                let (code, err, out) = run_diff(&capture, &capture, dir.path(), &flags);
                let case = format!("{name} {mode} {by}");
                assert_eq!(code, 0, "{case}: {err}");
                let rows = read_rows(&out, by == "row");
                assert!(!rows.is_empty(), "{case}");
                for r in &rows {
                    assert_eq!(r.base, r.new, "{case}: {r:?}");
                    assert_eq!(r.delta, (0, 0), "{case}: {r:?}");
                }
                assert!(
                    err.contains(": 0 B (+0.00%), 0 allocations"),
                    "{case}: {err}"
                );
                cases += 1;
            }
        }
    }
    assert!(cases >= 80, "{cases} cases");
}

/// Base and new swapped: the same rows, each delta negated.
#[test]
fn swapping_the_captures_negates_every_delta() {
    let dir = tempfile::tempdir().unwrap();
    let pairs = [
        (diff_fixture("diff-n1.bin"), diff_fixture("diff-n2.bin")),
        // Two Python versions: the stacks that print the same match.
        (
            capture("v1.20.0-py3.11-default.bin"),
            capture("v1.20.0-py3.12-default.bin"),
        ),
        (
            capture("v1.20.0-py3.11-mixed.bin"),
            capture("v1.20.0-py3.13-mixed.bin"),
        ),
    ];
    for (a, b) in pairs {
        for by in ["stack", "row"] {
            let case = format!("{} {} {by}", a.display(), b.display());
            let (code, err, forward) = run_diff(&a, &b, dir.path(), &["--by", by]);
            assert_eq!(code, 0, "{case}: {err}");
            let forward = read_rows(&forward, by == "row");
            let (code, err, backward) = run_diff(&b, &a, dir.path(), &["--by", by, "-q"]);
            assert_eq!(code, 0, "{case}: {err}");
            let backward = read_rows(&backward, by == "row");
            assert_consistent(&forward, &case);
            assert_consistent(&backward, &case);
            let key = |r: &Row| (r.stack.clone(), r.key.clone());
            let backward: BTreeMap<_, &Row> = backward.iter().map(|r| (key(r), r)).collect();
            assert_eq!(forward.len(), backward.len(), "{case}");
            let mut changed = 0;
            for f in &forward {
                let b = backward[&key(f)];
                assert_eq!((b.base, b.new), (f.new, f.base), "{case}: {f:?}");
                assert_eq!(b.delta, (-f.delta.0, -f.delta.1), "{case}: {f:?}");
                changed += usize::from(f.delta != (0, 0));
            }
            assert!(changed > 0, "{case}: nothing changed");
        }
    }
}

/// `--by row`: each side is memray's rows (allocator, thread, stack) exactly.
#[test]
fn by_row_keeps_memray_rows() {
    let dir = tempfile::tempdir().unwrap();
    let expected = fixtures().join("expected");
    let (base, new) = ("v1.20.0-py3.11-mixed", "v1.20.0-py3.13-mixed");
    let (code, err, out) = run_diff(
        &capture(&format!("{base}.bin")),
        &capture(&format!("{new}.bin")),
        dir.path(),
        &["--by", "row"],
    );
    assert_eq!(code, 0, "{err}");
    let rows = read_rows(&out, true);
    let memray_rows = |name: &str| -> BTreeMap<(String, String, String), (u64, u64)> {
        let text = std::fs::read_to_string(expected.join(format!("{name}-csv-peak.csv"))).unwrap();
        csv_rows(&text)[1..]
            .iter()
            .map(|r| {
                let key = (r[5].clone(), r[0].clone(), r[3].clone());
                (key, (r[2].parse().unwrap(), r[1].parse().unwrap()))
            })
            .collect()
    };
    let side = |pick: fn(&Row) -> (u64, u64)| -> BTreeMap<(String, String, String), (u64, u64)> {
        rows.iter()
            .filter(|r| pick(r) != (0, 0))
            .map(|r| {
                let (allocator, tid) = r.key.clone().unwrap();
                ((r.stack.clone(), allocator, tid), pick(r))
            })
            .collect()
    };
    assert_eq!(side(|r| r.base), memray_rows(base));
    assert_eq!(side(|r| r.new), memray_rows(new));
    // More than one thread and allocator: the rows are not just the stacks.
    let threads: std::collections::BTreeSet<_> =
        rows.iter().map(|r| r.key.clone().unwrap().1).collect();
    let allocators: std::collections::BTreeSet<_> =
        rows.iter().map(|r| r.key.clone().unwrap().0).collect();
    assert!(
        threads.len() > 1 && allocators.len() > 1,
        "{threads:?} {allocators:?}"
    );
}

/// The Parquet diff holds the CSV diff's rows, columns and order, and both captures in its
/// metadata.
#[test]
fn parquet_diff_is_the_csv_diff() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    let dir = tempfile::tempdir().unwrap();
    let (base, new) = (
        capture("v1.20.0-py3.11-mixed.bin"),
        capture("v1.20.0-py3.13-mixed.bin"),
    );
    for by in ["stack", "row"] {
        let (code, err, csv) = run_diff(&base, &new, dir.path(), &["--by", by]);
        assert_eq!(code, 0, "{err}");
        let (code, err, parquet) = run_diff(
            &base,
            &new,
            dir.path(),
            &["--by", by, "--format", "parquet"],
        );
        assert_eq!(code, 0, "{err}");
        let reader = SerializedFileReader::new(std::fs::File::open(&parquet).unwrap()).unwrap();
        let kv: BTreeMap<String, String> = reader
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .unwrap()
            .iter()
            .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
            .collect();
        assert_eq!(kv["memform.diff.base.capture"], base.display().to_string());
        assert_eq!(kv["memform.diff.new.capture"], new.display().to_string());
        assert_eq!(kv["memform.diff.by"], by);
        let text = |f: &Field| match f {
            Field::Str(s) => s.clone(),
            Field::ULong(n) => n.to_string(),
            Field::Long(n) => n.to_string(),
            other => panic!("{other:?}"),
        };
        let mut rows: Vec<Vec<String>> = vec![reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect()];
        for row in reader.get_row_iter(None).unwrap() {
            rows.push(
                row.unwrap()
                    .get_column_iter()
                    .map(|(_, f)| text(f))
                    .collect(),
            );
        }
        let mut csv_rows = csv_rows(&std::fs::read_to_string(&csv).unwrap());
        if by == "row" {
            // The CSV's tid is memray's signed print of the same number.
            for r in &mut csv_rows[1..] {
                r[8] = (r[8].parse::<i64>().unwrap() as u64).to_string();
            }
        }
        assert_eq!(rows, csv_rows, "{by}");
    }
}

/// The folded diff is inferno's differential input: inferno draws it, red where a stack
/// grew and blue where it shrank; memform's own flame graph is that picture, every box as
/// wide as the new capture's bytes below it.
#[test]
fn folded_diff_draws_a_differential_flame_graph() {
    let dir = tempfile::tempdir().unwrap();
    let (n1, n2) = (diff_fixture("diff-n1.bin"), diff_fixture("diff-n2.bin"));
    let (code, err, folded) = run_diff(&n1, &n2, dir.path(), &["--format", "folded"]);
    assert_eq!(code, 0, "{err}");
    let folded = std::fs::read_to_string(&folded).unwrap();
    let mut sums = (0u64, 0u64);
    for line in folded.lines() {
        let mut parts = line.rsplitn(3, ' ');
        let new: u64 = parts.next().unwrap().parse().unwrap();
        let base: u64 = parts.next().unwrap().parse().unwrap();
        sums = (sums.0 + base, sums.1 + new);
        let stack = parts.next().unwrap();
        if stack.ends_with(";grows (workload.py:20)") {
            assert_eq!((base, new), (40_004, 80_008));
        }
    }
    assert_eq!(sums.1 as i64 - sums.0 as i64, 30_003);
    let mut svg = Vec::new();
    let mut options = inferno::flamegraph::Options::default();
    inferno::flamegraph::from_lines(&mut options, folded.lines(), &mut svg).unwrap();
    let svg = String::from_utf8(svg).unwrap();
    let red = svg.contains("fill=\"rgb(255,");
    let blue = svg
        .lines()
        .any(|l| l.contains(",255)\"") && l.contains("fill=\"rgb("));
    assert!(red && blue, "inferno's differential colours");

    let (code, err, picture) = run_diff(&n1, &n2, dir.path(), &["--format", "flamegraph"]);
    assert_eq!(code, 0, "{err}");
    let picture = std::fs::read_to_string(&picture).unwrap();
    assert!(picture.starts_with("<?xml"), "an SVG");
    assert!(picture.contains("memory at the peak: diff-n1.bin → diff-n2.bin"));
    assert!(picture.contains("red grew, blue shrank"));
    // The root box: the new capture's bytes.
    assert!(
        picture.contains(&format!("fg:w=\"{}\"", sums.1)),
        "root width"
    );
    assert!(picture.contains("fill=\"rgb(255,") && picture.contains(",255)\""));
}

/// `--fail-above`: exit 3 past the threshold (the output written all the same), 0 at it.
#[test]
fn fail_above_on_both_sides_of_its_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let (n1, n2) = (diff_fixture("diff-n1.bin"), diff_fixture("diff-n2.bin"));
    // The report grew by 30,003 bytes, 7.5015% of the base's 399,967.
    for (threshold, status) in [
        ("30003", 0),
        ("30002", 3),
        ("31KB", 0),
        ("29KiB", 3),
        ("7.51%", 0),
        ("7.5%", 3),
        ("0%", 3),
    ] {
        let (code, err, out) = run_diff(&n1, &n2, dir.path(), &["--fail-above", threshold]);
        assert_eq!(code, status, "{threshold}: {err}");
        assert!(
            out.exists(),
            "{threshold}: the output is written either way"
        );
        let line = "memform: the report grew by +29.30 KiB (+7.50%), more than --fail-above ";
        assert_eq!(err.contains(line), status == 3, "{threshold}: {err}");
        std::fs::remove_file(&out).unwrap();
    }
    // Shrinking never fails.
    let (code, err, _) = run_diff(&n2, &n1, dir.path(), &["--fail-above", "0"]);
    assert_eq!(code, 0, "{err}");
    let o = memform(&["diff", "a", "b", "--fail-above", "5 apples"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(
        "\"5 apples\" is not a threshold: give bytes (4096, 10MB, 1.5GiB) or a percentage (5%)"
    ));
}

#[test]
fn refusals() {
    let dir = tempfile::tempdir().unwrap();
    let n1 = diff_fixture("diff-n1.bin");
    let native = capture("v1.20.0-py3.11-native.bin");
    let out = dir.path().join("d.csv");
    let args = |extra: &[&str]| {
        let mut v = vec!["diff", n1.to_str().unwrap(), native.to_str().unwrap()];
        v.extend_from_slice(extra);
        v.push("-o");
        v.push(out.to_str().unwrap());
        v.iter().map(|s| s.to_string()).collect::<Vec<String>>()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        memform(&args)
    };
    let o = run(args(&[]));
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "memform: error: {} and {} cannot be compared: {} was recorded with --native and {} \
             without, so no stack of one can match a stack of the other\n",
            n1.display(),
            native.display(),
            native.display(),
            n1.display()
        )
    );
    assert!(!out.exists());
    assert!(files(dir.path()).is_empty(), "no temporary file left");

    // An existing output is kept without -f.
    std::fs::write(&out, "keep").unwrap();
    let o = memform(&[
        "diff",
        n1.to_str().unwrap(),
        n1.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "memform: error: File already exists, will not overwrite without --force: {}\n",
            out.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep");
    // A missing capture, the output over a capture, options of other formats.
    let missing = dir.path().join("missing.bin");
    let o = memform(&["diff", missing.to_str().unwrap(), n1.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("memform: error: No such file: {}\n", missing.display())
    );
    let o = memform(&[
        "diff",
        n1.to_str().unwrap(),
        n1.to_str().unwrap(),
        "-f",
        "-o",
        n1.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("Refusing to write the report over the capture itself"));
    for (flags, message) in [
        (
            &["--folded-value", "count"][..],
            "memform: error: --folded-value applies to the folded and flamegraph formats, not csv\n",
        ),
        (
            &["--format", "folded", "--compression", "zstd"][..],
            "memform: error: --compression applies to the parquet format, not folded\n",
        ),
    ] {
        let mut args = vec!["diff", n1.to_str().unwrap(), n1.to_str().unwrap()];
        args.extend_from_slice(flags);
        let o = memform(&args);
        assert_eq!(o.status.code(), Some(1), "{flags:?}");
        assert_eq!(stderr(&o), message);
    }
    let o = memform(&[
        "diff",
        n1.to_str().unwrap(),
        n1.to_str().unwrap(),
        "--leaks",
        "--temporary-allocations",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
    // The default name: beside NEW.
    let base = dir.path().join("memray-base.bin");
    let new_dir = dir.path().join("new");
    std::fs::create_dir(&new_dir).unwrap();
    let new = new_dir.join("run.2.bin");
    std::fs::copy(&n1, &base).unwrap();
    std::fs::copy(diff_fixture("diff-n2.bin"), &new).unwrap();
    let o = memform(&[
        "diff",
        base.to_str().unwrap(),
        new.to_str().unwrap(),
        "--format",
        "folded",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let written = new_dir.join("memray-diff-base-run.2.folded");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("Wrote {}\n", written.display())
    );
    assert!(written.exists());
}

/// Headless Chromium draws the differential flame graph: boxes in inferno's red (grew)
/// and blue (shrank), each a sizeable patch of the picture. With `MEMFORM_PICTURES_DIR`
/// set, the screenshots are kept there (docs/).
#[test]
fn chromium_renders_the_differential_flame_graph() {
    let Some(chromium) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pairs = [
        (
            "diff-workload",
            diff_fixture("diff-n1.bin"),
            diff_fixture("diff-n2.bin"),
        ),
        (
            "diff-mixed",
            capture("v1.20.0-py3.11-mixed.bin"),
            capture("v1.20.0-py3.13-mixed.bin"),
        ),
    ];
    for (name, base, new) in pairs {
        let (code, err, svg) = run_diff(&base, &new, dir.path(), &["--format", "flamegraph"]);
        assert_eq!(code, 0, "{err}");
        let text = std::fs::read_to_string(&svg).unwrap();
        let height = text
            .split_once(" height=\"")
            .and_then(|(_, rest)| rest.split('"').next()?.parse::<u32>().ok())
            .expect("the SVG's height");
        let page = dir.path().join(format!("{name}.svg"));
        std::fs::rename(&svg, &page).unwrap();
        let png = dir.path().join(format!("{name}.png"));
        screenshot(&chromium, &page, &png, (1200, height));
        let pixels = pixels(&png);
        // inferno's differential colours: red (255, g, g) and blue (b, b, 255), g and b
        // below 230 (white is unchanged).
        let red = pixels
            .iter()
            .filter(|p| p[0] == 255 && p[1] < 230 && p[1] == p[2])
            .count();
        let blue = pixels
            .iter()
            .filter(|p| p[2] == 255 && p[0] < 230 && p[0] == p[1])
            .count();
        assert!(red > 2_000, "{name}: {red} red pixels");
        if name == "diff-workload" {
            assert!(blue > 200, "{name}: {blue} blue pixels");
        }
        if let Some(keep) = std::env::var_os("MEMFORM_PICTURES_DIR") {
            std::fs::create_dir_all(&keep).unwrap();
            std::fs::copy(&png, Path::new(&keep).join(format!("{name}.png"))).unwrap();
        }
    }
}
