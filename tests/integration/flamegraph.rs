//! The flame graph (`memform transform flamegraph`): for every fixture capture in every
//! report mode memray has a CSV report of, the SVG parses as XML, and its boxes, read back
//! from their `fg:w` widths, their titles and their nesting, are exactly the tree of the
//! report's folded stacks: each drawn frame as wide as the stacks below it, the root as wide
//! as the CSV report's bytes, the frames left out exactly those narrower than the minimum
//! width, as many as the subtitle says. Headless Chromium renders some of them (Debian's
//! `chromium`; scripts/test.sh installs it): the screenshot is not blank.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use quick_xml::events::Event;

use crate::common::*;

/// One box of the SVG.
#[derive(Debug)]
struct DrawnFrame {
    name: String,
    /// The value its title gives.
    title_value: u128,
    /// inferno's `fg:x` and `fg:w`: its start and width in the report's units.
    x: u128,
    w: u128,
    /// Its row: larger is nearer the root (root at the bottom).
    y: i64,
}

/// The boxes of an SVG flame graph and its subtitle; panics if it is not well-formed XML.
fn parse_svg(text: &str, case: &str) -> (Vec<DrawnFrame>, String) {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut frames = Vec::new();
    let (mut in_frame, mut in_title, mut title) = (false, false, String::new());
    let mut subtitle = String::new();
    let mut in_subtitle = false;
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("{case}: not XML at {}: {e}", reader.buffer_position()));
        match event {
            Event::Eof => break,
            Event::Start(e) if e.name().as_ref() == b"g" => in_frame = true,
            Event::End(e) if e.name().as_ref() == b"g" => in_frame = false,
            Event::Start(e) if e.name().as_ref() == b"title" && in_frame => {
                in_title = true;
                title.clear();
            }
            Event::End(e) if e.name().as_ref() == b"title" => in_title = false,
            Event::Start(e) if e.name().as_ref() == b"text" => {
                in_subtitle = e
                    .attributes()
                    .flatten()
                    .any(|a| a.key.as_ref() == b"id" && a.value.as_ref() == b"subtitle");
            }
            Event::End(e) if e.name().as_ref() == b"text" => in_subtitle = false,
            Event::Text(t) if in_title || in_subtitle => {
                let text = t.decode().expect("text").into_owned();
                if in_title {
                    title.push_str(&text);
                } else {
                    subtitle.push_str(&text);
                }
            }
            Event::GeneralRef(r) if in_title || in_subtitle => {
                let c = match r.as_ref() {
                    b"amp" => "&",
                    b"lt" => "<",
                    b"gt" => ">",
                    b"quot" => "\"",
                    b"apos" => "'",
                    other => panic!("{case}: entity {}", String::from_utf8_lossy(other)),
                };
                if in_title {
                    title.push_str(c);
                } else {
                    subtitle.push_str(c);
                }
            }
            Event::Empty(e) if e.name().as_ref() == b"rect" && in_frame => {
                let attr = |key: &[u8]| {
                    e.attributes()
                        .flatten()
                        .find(|a| a.key.as_ref() == key)
                        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
                };
                let (Some(x), Some(w), Some(y)) = (attr(b"fg:x"), attr(b"fg:w"), attr(b"y")) else {
                    continue;
                };
                // `name (1,234 bytes, 5.60%)`: the name may hold " (" itself.
                let cut = title.rfind(" (").expect("a value in the title");
                let value: String = title[cut + 2..].split(' ').next().unwrap().replace(',', "");
                frames.push(DrawnFrame {
                    name: title[..cut].to_string(),
                    title_value: value.parse().unwrap(),
                    x: x.parse().unwrap(),
                    w: w.parse().unwrap(),
                    y: y.parse::<f64>().unwrap() as i64,
                });
            }
            _ => {}
        }
    }
    (frames, subtitle)
}

/// Each drawn frame's path (root frame first, the `all` box left out) and width.
fn drawn_tree(frames: &[DrawnFrame], case: &str) -> BTreeMap<Vec<String>, u128> {
    let mut rows: Vec<i64> = frames.iter().map(|f| f.y).collect();
    rows.sort_unstable_by(|a, b| b.cmp(a));
    rows.dedup();
    let depth = |y: i64| rows.iter().position(|&r| r == y).unwrap();
    let mut by_depth: Vec<Vec<&DrawnFrame>> = vec![Vec::new(); rows.len()];
    for f in frames {
        by_depth[depth(f.y)].push(f);
    }
    assert_eq!(by_depth[0].len(), 1, "{case}: one root box");
    assert_eq!(by_depth[0][0].name, "all", "{case}: the root box");
    let mut paths: BTreeMap<Vec<String>, u128> = BTreeMap::new();
    // The path of each frame, depth by depth: its parent is the box of the row below
    // whose span holds its start.
    let mut previous: Vec<(u128, u128, Vec<String>)> = vec![(0, by_depth[0][0].w, vec![])];
    for row in &by_depth[1..] {
        let mut current = Vec::new();
        for f in row {
            let parent = previous
                .iter()
                .find(|(x, w, _)| *x <= f.x && f.x < x + w)
                .unwrap_or_else(|| panic!("{case}: {} has no parent box", f.name));
            assert!(
                f.x + f.w <= parent.0 + parent.1,
                "{case}: {} overflows",
                f.name
            );
            let mut path = parent.2.clone();
            path.push(f.name.clone());
            assert_eq!(f.title_value, f.w, "{case}: {}'s title and width", f.name);
            assert!(
                paths.insert(path.clone(), f.w).is_none(),
                "{case}: {path:?} twice"
            );
            current.push((f.x, f.w, path));
        }
        previous = current;
    }
    paths
}

/// The tree of the folded stacks' prefixes: each node's path and width.
fn folded_tree(folded: &str) -> BTreeMap<Vec<String>, u128> {
    let mut tree = BTreeMap::new();
    for line in folded.lines() {
        let (stack, value) = line.rsplit_once(' ').unwrap();
        let value: u128 = value.parse().unwrap();
        let mut path = Vec::new();
        for frame in stack.split(';') {
            path.push(frame.to_string());
            *tree.entry(path.clone()).or_insert(0) += value;
        }
    }
    tree
}

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

/// Converts `capture` into flamegraph, folded and csv in report mode `mode` (and
/// `extra` flags) into `dir`; returns the three files' texts.
fn convert(capture: &Path, mode: &str, dir: &Path, extra: &[&str]) -> (String, String, String) {
    let mut args = vec!["transform", "flamegraph,folded,csv", "-q", "-f"];
    args.extend(["-o", dir.to_str().unwrap()]);
    args.extend(report_flags(mode));
    args.extend(extra);
    args.push(capture.to_str().unwrap());
    let o = memform(&args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    let stem = capture.file_stem().unwrap().to_str().unwrap();
    let read = |name: String| std::fs::read_to_string(dir.join(name)).unwrap();
    (
        read(format!("memray-flamegraph-{stem}.svg")),
        read(format!("memray-folded-{stem}.folded")),
        read(format!("memray-csv-{stem}.csv")),
    )
}

/// The flame graph is the folded stacks' tree, less the frames too narrow to draw.
fn assert_flamegraph_is_the_report(svg: &str, folded: &str, total: u128, case: &str) {
    let (frames, subtitle) = parse_svg(svg, case);
    let drawn = drawn_tree(&frames, case);
    let tree = folded_tree(folded);
    let root: u128 = folded
        .lines()
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u128>().unwrap())
        .sum();
    assert_eq!(root, total, "{case}: the folded stacks' total");
    let all = frames.iter().find(|f| f.name == "all").unwrap();
    assert_eq!(all.w, total, "{case}: the root box is the report's total");
    // inferno's rule: a frame narrower than 0.1 % of the whole is left out.
    let threshold = 0.1 * total as f64 / 100.0;
    let mut narrow = 0;
    for (path, width) in &tree {
        if (*width as f64) < threshold {
            narrow += 1;
            assert!(
                !drawn.contains_key(path),
                "{case}: {path:?} is too narrow to draw"
            );
        } else {
            assert_eq!(drawn.get(path), Some(width), "{case}: {path:?}");
        }
    }
    assert_eq!(
        drawn.len() + narrow,
        tree.len(),
        "{case}: frames drawn and left out"
    );
    let plural = if narrow == 1 { "" } else { "s" };
    let said = format!("{narrow} frame{plural} under 0.1% of the width not drawn");
    assert_eq!(
        subtitle.contains(&said),
        narrow > 0,
        "{case}: subtitle {subtitle:?}"
    );
}

#[test]
fn every_report_is_drawn_as_its_folded_stacks() {
    let dir = tempfile::tempdir().unwrap();
    let mut drawn = 0;
    for (capture, mode) in csv_cases() {
        let case = format!("{} {mode}", capture.display());
        let (svg, folded, csv) = convert(&capture, &mode, dir.path(), &[]);
        assert_flamegraph_is_the_report(&svg, &folded, csv_bytes(&csv), &case);
        let name = capture.file_name().unwrap().to_str().unwrap();
        assert!(svg.contains(name), "{case}: the title names the capture");
        drawn += 1;
    }
    assert!(drawn >= 78, "{drawn} flame graphs");
}

#[test]
fn widths_by_allocation_count() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["v1.20.0-py3.11-default.bin", "v1.20.0-py3.13-native.bin"] {
        let capture = capture(name);
        let (svg, folded, csv) =
            convert(&capture, "peak", dir.path(), &["--folded-value", "count"]);
        let rows = csv_rows(&csv);
        let n = rows[0].iter().position(|c| c == "num_allocations").unwrap();
        let allocations: u128 = rows[1..]
            .iter()
            .map(|r| r[n].parse::<u128>().unwrap())
            .sum();
        assert_flamegraph_is_the_report(&svg, &folded, allocations, name);
        assert!(
            svg.contains(" allocations, "),
            "{name}: titles count allocations"
        );
    }
}

/// Headless Chromium draws the flame graph: the screenshot has the frames' colours, not one
/// blank page. With `MEMFORM_PICTURES_DIR` set, the screenshots are kept there (docs/).
#[test]
fn chromium_renders_the_flamegraph() {
    let Some(chromium) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for name in ["v1.20.0-py3.11-default.bin", "v1.20.0-py3.13-native.bin"] {
        let capture = capture(name);
        let (svg, _, _) = convert(&capture, "peak", dir.path(), &[]);
        let path = dir.path().join(format!("{name}.svg"));
        std::fs::write(&path, &svg).unwrap();
        let png = dir.path().join(format!("{name}.png"));
        // The whole picture: a window as tall as the SVG says it is.
        let height = svg
            .split_once(" height=\"")
            .and_then(|(_, rest)| rest.split('"').next()?.parse::<u32>().ok())
            .expect("the SVG's height");
        screenshot(&chromium, &path, &png, (1200, height));
        let colours = distinct_colours(&png);
        assert!(colours >= 20, "{name}: {colours} colours in the screenshot");
        if let Some(keep) = std::env::var_os("MEMFORM_PICTURES_DIR") {
            std::fs::create_dir_all(&keep).unwrap();
            std::fs::copy(
                &png,
                Path::new(&keep).join(format!("flamegraph-{name}.png")),
            )
            .unwrap();
        }
    }
}
