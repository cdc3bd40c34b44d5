//! The folded-stacks report (`memform transform folded`): for every fixture capture in every
//! report mode memray has a CSV report of, the folded output, in bytes and in counts, is
//! rendered into an SVG by inferno without error, and its stacks and values are those of
//! memform's own CSV report of the capture (sizes and allocation counts summed by
//! `stack_trace`), in the order the stacks first appear there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::*;

/// `(capture, mode)` of every expected CSV report, `<capture>-csv-<mode>.csv`.
fn csv_cases() -> Vec<(PathBuf, String)> {
    let mut cases = Vec::new();
    for file in files(&fixtures().join("expected")) {
        let name = file.file_name().unwrap().to_str().unwrap().to_string();
        let Some(stem) = name.strip_suffix(".csv") else {
            continue;
        };
        let Some((capture_name, mode)) = stem.rsplit_once("-csv-") else {
            continue;
        };
        cases.push((capture(&format!("{capture_name}.bin")), mode.to_string()));
    }
    assert!(cases.len() >= 78, "found {} cases", cases.len());
    cases
}

/// Runs `memform transform FORMAT` on `capture` in report mode `mode`, with `extra`
/// flags, into `out`, and returns the report's text.
fn report(format: &str, capture: &Path, mode: &str, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["transform", format, "-q", "-f", "-o", out.to_str().unwrap()];
    args.extend(report_flags(mode));
    args.extend(extra);
    args.push(capture.to_str().unwrap());
    let o = memform(&args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    std::fs::read_to_string(out).unwrap()
}

/// A CSV `stack_trace` (`function;file;line` per frame, leaf first, joined by `|`) as a
/// folded stack: root first, `function (file:line)`, joined by `;`. The fixtures' names
/// hold no `|`, `;` or newline.
fn folded_stack(stack_trace: &str) -> String {
    if stack_trace.is_empty() {
        return "[unknown]".to_string();
    }
    let frames: Vec<String> = stack_trace
        .split('|')
        .rev()
        .map(|frame| {
            let mut parts = frame.rsplitn(3, ';');
            let line = parts.next().unwrap();
            let file = parts.next().unwrap();
            let function = parts.next().unwrap();
            format!("{function} ({file}:{line})")
        })
        .collect();
    frames.join(";")
}

/// The CSV report's `(stack, bytes, count)` per folded stack, in order of first appearance.
fn csv_stacks(csv: &str) -> Vec<(String, u128, u128)> {
    let mut stacks: Vec<(String, u128, u128)> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for row in csv_rows(csv).into_iter().skip(1) {
        let stack = folded_stack(&row[5]);
        let size: u128 = row[2].parse().unwrap();
        let count: u128 = row[1].parse().unwrap();
        let i = *index.entry(stack.clone()).or_insert_with(|| {
            stacks.push((stack, 0, 0));
            stacks.len() - 1
        });
        stacks[i].1 += size;
        stacks[i].2 += count;
    }
    stacks
}

/// The lines of a folded report as `(stack, value)`; every line has one.
fn folded_lines(text: &str) -> Vec<(String, u128)> {
    assert!(text.is_empty() || text.ends_with('\n'));
    text.lines()
        .map(|line| {
            let (stack, value) = line.rsplit_once(' ').expect("a value");
            (stack.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

/// The SVG inferno renders from `folded` (an empty report has no stacks to render).
fn render(folded: &str, case: &str) -> Option<String> {
    if folded.is_empty() {
        return None;
    }
    let mut svg = Vec::new();
    let mut options = inferno::flamegraph::Options::default();
    inferno::flamegraph::from_reader(&mut options, folded.as_bytes(), &mut svg)
        .unwrap_or_else(|e| panic!("{case}: inferno: {e}"));
    let svg = String::from_utf8(svg).unwrap();
    assert!(
        svg.contains("<svg") && svg.trim_end().ends_with("</svg>"),
        "{case}"
    );
    Some(svg)
}

#[test]
fn every_fixture_report_folds_like_its_csv_and_renders() {
    let dir = tempfile::tempdir().unwrap();
    let (mut rendered, mut empty) = (0, 0);
    for (capture, mode) in csv_cases() {
        let case = format!("{} {mode}", capture.display());
        let csv = report("csv", &capture, &mode, &dir.path().join("r.csv"), &[]);
        let expected = csv_stacks(&csv);
        let out = dir.path().join("r.folded");
        let bytes = report("folded", &capture, &mode, &out, &[]);
        let default = report(
            "folded",
            &capture,
            &mode,
            &out,
            &["--folded-value", "bytes"],
        );
        assert_eq!(bytes, default, "{case}: bytes is the default");
        let counts = report(
            "folded",
            &capture,
            &mode,
            &out,
            &["--folded-value", "count"],
        );

        let bytes_lines = folded_lines(&bytes);
        let count_lines = folded_lines(&counts);
        let want_bytes: Vec<(String, u128)> =
            expected.iter().map(|(s, b, _)| (s.clone(), *b)).collect();
        let want_counts: Vec<(String, u128)> =
            expected.iter().map(|(s, _, c)| (s.clone(), *c)).collect();
        assert_eq!(bytes_lines, want_bytes, "{case}: bytes per stack");
        assert_eq!(count_lines, want_counts, "{case}: counts per stack");

        if expected.iter().any(|(_, b, _)| *b > 0) {
            render(&bytes, &format!("{case} bytes")).unwrap();
            rendered += 1;
        } else {
            empty += 1;
        }
        if expected.iter().any(|(_, _, c)| *c > 0) {
            render(&counts, &format!("{case} count")).unwrap();
        }
    }
    eprintln!("folded: {rendered} reports rendered by inferno, {empty} without bytes");
    assert!(rendered >= 60);
}

#[test]
fn folded_default_output_name() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("memray-app.1234.bin");
    std::fs::copy(capture("v1.20.0-py3.11-default.bin"), &c).unwrap();
    let o = memform(&["transform", "FOLDED", c.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = dir.path().join("memray-folded-app.1234.folded");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("Wrote {}\n", out.display())
    );
    assert!(!std::fs::read_to_string(&out).unwrap().is_empty());
}

#[test]
fn folded_value_is_for_folded_only() {
    let c = capture("v1.20.0-py3.11-default.bin");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.csv");
    for (format, flags, message) in [
        (
            "csv",
            &["--folded-value", "count"][..],
            "memform: error: --folded-value applies only to the folded and flamegraph formats, not csv\n",
        ),
        (
            "folded",
            &["--folded-value", "objects"][..],
            "expected bytes or count",
        ),
        (
            "folded",
            &["--compression", "zstd"][..],
            "memform: error: --compression applies only to the parquet and events formats, not folded\n",
        ),
    ] {
        let mut args = vec!["transform", format, "-o", out.to_str().unwrap()];
        args.extend(flags);
        args.push(c.to_str().unwrap());
        let o = memform(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(stderr(&o).contains(message), "{args:?}: {}", stderr(&o));
        assert!(!out.exists());
    }
}
