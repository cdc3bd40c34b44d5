//! The timeline (`memform transform timeline`): for every full fixture capture, the SVG parses
//! as XML, and what it draws is read back and checked against a model of the capture made
//! here from its decoded events (the heap as memray's `HighWatermarkFinder` follows it, the
//! memory records): the peak marker's bytes are the peak CSV report's total and its moment
//! the time of the last event to reach them, placed between the memory records around it
//! as docs/timeline.md says; the marker's dot and the heap's polyline sit where the axes'
//! scale puts those values; the RSS series reaches the largest resident size recorded.
//! Headless Chromium renders some of them: the screenshot is not blank.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use memform::capture::{open_records, AllocatorKind, CaptureFile, Decoder};
use quick_xml::events::{BytesStart, Event};

use crate::common::*;

/// An element's attributes by name.
type Attributes = HashMap<String, String>;

/// What the test reads back from a timeline's SVG.
#[derive(Debug, Default)]
struct Drawn {
    /// Each polyline's id, its `data-*` attributes and its points.
    series: HashMap<String, (Attributes, Vec<(f64, f64)>)>,
    scale: Attributes,
    peak: Attributes,
    /// The peak marker's dot, `(cx, cy)`.
    dot: Option<(f64, f64)>,
    label: String,
}

fn attributes(e: &BytesStart<'_>) -> HashMap<String, String> {
    e.attributes()
        .flatten()
        .map(|a| {
            (
                String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                String::from_utf8_lossy(&a.value).into_owned(),
            )
        })
        .collect()
}

/// Reads the SVG back; panics if it is not well-formed XML.
fn parse(text: &str, case: &str) -> Drawn {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut drawn = Drawn::default();
    let (mut in_peak, mut in_label) = (false, false);
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("{case}: not XML at {}: {e}", reader.buffer_position()));
        match event {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"g" => {
                let a = attributes(&e);
                match a.get("id").map(String::as_str) {
                    Some("peak") => {
                        in_peak = true;
                        drawn.peak = a;
                    }
                    Some("scale") => drawn.scale = a,
                    _ => {}
                }
            }
            Event::End(e) if e.name().as_ref() == b"g" => in_peak = false,
            Event::Empty(e) if e.name().as_ref() == b"polyline" => {
                let a = attributes(&e);
                if let Some(id) = a.get("id").cloned() {
                    let points = a["points"]
                        .split_whitespace()
                        .map(|p| {
                            let (x, y) = p.split_once(',').unwrap();
                            (x.parse().unwrap(), y.parse().unwrap())
                        })
                        .collect();
                    assert!(
                        drawn.series.insert(id.clone(), (a, points)).is_none(),
                        "{case}: two polylines {id}"
                    );
                }
            }
            Event::Empty(e) if e.name().as_ref() == b"circle" && in_peak => {
                let a = attributes(&e);
                drawn.dot = Some((a["cx"].parse().unwrap(), a["cy"].parse().unwrap()));
            }
            Event::Start(e) if e.name().as_ref() == b"text" && in_peak => in_label = true,
            Event::End(e) if e.name().as_ref() == b"text" => in_label = false,
            Event::Text(t) if in_label => drawn.label.push_str(&t.decode().unwrap()),
            _ => {}
        }
    }
    drawn
}

/// A capture as this test follows it: its heap's peak, the last event to reach it and
/// that event's time, and the largest resident size recorded.
#[derive(Debug)]
struct Model {
    peak: u64,
    peak_event: u64,
    peak_seconds: f64,
    rss_max: Option<u64>,
}

/// memray's `HighWatermarkFinder` over the capture's events, in plain maps, and the
/// peak event placed in time: the events after a memory record (or the start) and up to
/// the next one (or the end) spread evenly over that interval, the last at its end.
fn model(path: &Path) -> Model {
    let capture = CaptureFile::open(path).unwrap();
    let (mut stream, header) = open_records(&capture).unwrap();
    let mut decoder = Decoder::new(&header);
    let mut records = Vec::new();
    // The events are followed as they are decoded, not kept: a fixture holds up to a
    // million, and this process's memory is what the children it forks start from (the
    // memory bounds of malformed_inputs.rs measure theirs).
    let mut simple: HashMap<u64, u64> = HashMap::new();
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    let (mut current, mut peak, mut peak_event, mut events) = (0u64, 0u64, 0u64, 0u64);
    decoder
        .run(
            &mut stream,
            &mut |batch| {
                records.extend(batch.memory.iter().copied());
                for e in batch.iter() {
                    match e.allocator.kind() {
                        AllocatorKind::SimpleAllocator => {
                            simple.insert(e.address, e.size);
                            current += e.size;
                        }
                        AllocatorKind::SimpleDeallocator => {
                            if let Some(size) = simple.remove(&e.address) {
                                current -= size;
                            }
                        }
                        AllocatorKind::RangedAllocator => {
                            ranges.push((e.address, e.address + e.size));
                            current += e.size;
                        }
                        AllocatorKind::RangedDeallocator => {
                            let (from, to) = (e.address, e.address + e.size);
                            let mut kept = Vec::new();
                            for &(a, b) in &ranges {
                                let (lo, hi) = (a.max(from), b.min(to));
                                if lo >= hi {
                                    kept.push((a, b));
                                    continue;
                                }
                                current -= hi - lo;
                                if a < lo {
                                    kept.push((a, lo));
                                }
                                if hi < b {
                                    kept.push((hi, b));
                                }
                            }
                            ranges = kept;
                        }
                    }
                    if current >= peak {
                        peak = current;
                        peak_event = events;
                    }
                    events += 1;
                }
            },
            &mut |_| true,
        )
        .unwrap();
    // The clock: (events before, ms since the start), from the start to the end.
    let start = header.stats.start_time_ms;
    let mut anchors = vec![(0u64, 0f64)];
    for r in &records {
        let last = anchors.last().unwrap().1;
        anchors.push((r.events_before, ((r.time_ms - start) as f64).max(last)));
    }
    let last = anchors.last().unwrap().1;
    let end = (header.stats.end_time_ms - start) as f64;
    anchors.push((events, if end > last { end } else { last }));
    let next = anchors
        .iter()
        .position(|&(before, _)| before > peak_event)
        .unwrap();
    let ((e0, t0), (e1, t1)) = (anchors[next - 1], anchors[next]);
    let peak_ms = t0 + (peak_event + 1 - e0) as f64 / (e1 - e0) as f64 * (t1 - t0);
    Model {
        peak,
        peak_event,
        peak_seconds: peak_ms / 1000.0,
        rss_max: records.iter().map(|r| r.rss).max(),
    }
}

/// A size in memray's units (powers of 1000), three decimals: `417.786 kB`.
fn size_text(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let power = (0..units.len())
        .rev()
        .find(|&p| bytes >= 1000u64.pow(p as u32))
        .unwrap_or(0);
    if power == 0 {
        format!("{bytes} B")
    } else {
        let value = bytes as f64 / 1000f64.powi(power as i32);
        format!("{value:.3} {}", units[power])
    }
}

/// The full fixture captures (aggregated ones have no events to follow).
fn full_captures() -> Vec<PathBuf> {
    let all: Vec<PathBuf> = files(&fixtures().join("captures"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .filter(|p| !p.to_str().unwrap().contains("agg"))
        .collect();
    assert!(all.len() >= 15, "{} captures", all.len());
    all
}

/// Converts `capture` into `timeline,csv` (and `extra` flags) into `dir`: the SVG's and the
/// CSV report's texts.
fn convert(capture: &Path, dir: &Path, extra: &[&str]) -> (String, String) {
    let mut args = vec!["transform", "timeline,csv", "-q", "-f"];
    args.extend(["-o", dir.to_str().unwrap()]);
    args.extend(extra);
    args.push(capture.to_str().unwrap());
    let o = memform(&args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    let stem = capture.file_stem().unwrap().to_str().unwrap();
    let read = |name: String| std::fs::read_to_string(dir.join(name)).unwrap();
    (
        read(format!("memray-timeline-{stem}.svg")),
        read(format!("memray-csv-{stem}.csv")),
    )
}

fn number(map: &HashMap<String, String>, key: &str, case: &str) -> f64 {
    map.get(key)
        .unwrap_or_else(|| panic!("{case}: no {key}"))
        .parse()
        .unwrap()
}

#[test]
fn every_capture_marks_its_peak_at_its_moment() {
    let dir = tempfile::tempdir().unwrap();
    for capture in full_captures() {
        let case = capture.display().to_string();
        let (svg, csv) = convert(&capture, dir.path(), &[]);
        assert!(svg.len() < 1 << 20, "{case}: {} bytes", svg.len());
        let drawn = parse(&svg, &case);
        let model = model(&capture);
        let total = csv_bytes(&csv);
        // The peak: the peak report's total, the model's high-water mark and its moment.
        let peak = &drawn.peak;
        assert_eq!(peak["data-bytes"].parse::<u128>().unwrap(), total, "{case}");
        assert_eq!(u128::from(model.peak), total, "{case}: the model's peak");
        assert_eq!(number(peak, "data-event", &case) as u64, model.peak_event);
        let seconds = number(peak, "data-seconds", &case);
        assert!(
            (seconds - model.peak_seconds).abs() < 1e-9,
            "{case}: peak at {seconds} s, the model's at {}",
            model.peak_seconds
        );
        // The scale of the plot area, and the marker's dot where it puts the peak.
        let s = |k| number(&drawn.scale, k, &case);
        let (left, right, top, bottom) = (
            s("data-left"),
            s("data-right"),
            s("data-top"),
            s("data-bottom"),
        );
        let (seconds_max, bytes_max) = (s("data-seconds-max"), s("data-bytes-max"));
        assert!(
            right > left + 500.0 && bottom > top + 300.0,
            "{case}: plot area"
        );
        assert!(
            seconds <= seconds_max && (model.peak as f64) < bytes_max,
            "{case}"
        );
        let to_pixel = |t: f64, b: f64| {
            (
                left + t / seconds_max * (right - left),
                bottom - b / bytes_max * (bottom - top),
            )
        };
        let to_bytes = |y: f64| (bottom - y) / (bottom - top) * bytes_max;
        let one_pixel = bytes_max / (bottom - top);
        let (px, py) = to_pixel(seconds, model.peak as f64);
        let (cx, cy) = drawn.dot.unwrap_or_else(|| panic!("{case}: no peak dot"));
        assert!(
            (cx - px).abs() < 0.1 && (cy - py).abs() < 0.1,
            "{case}: dot"
        );
        // The label says the size and the moment.
        let said = format!("peak {} at ", size_text(model.peak));
        assert!(drawn.label.starts_with(&said), "{case}: {:?}", drawn.label);
        let label_seconds: f64 = drawn.label[said.len()..]
            .trim_end_matches(" s")
            .parse()
            .unwrap();
        assert!(
            (label_seconds - seconds).abs() < 0.01 * seconds_max,
            "{case}"
        );
        // The heap series reaches the peak exactly (its points' largest value) and, read
        // back through the scale, its highest point is the peak within a pixel, at the dot.
        let (heap, points) = &drawn.series["heap"];
        assert_eq!(
            heap["data-max-bytes"].parse::<u64>().unwrap(),
            model.peak,
            "{case}"
        );
        assert_eq!(heap["data-points"].parse::<usize>().unwrap(), points.len());
        // At most two points a pixel column, each perhaps after its step's corner.
        assert!(
            points.len() <= 4 * (right - left + 1.0) as usize,
            "{case}: reduced"
        );
        let highest = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        assert!(
            (to_bytes(highest) - model.peak as f64).abs() <= one_pixel,
            "{case}: the heap's highest point {} against {}",
            to_bytes(highest),
            model.peak
        );
        assert!(
            points
                .iter()
                .any(|&(x, y)| (x - px).abs() <= 1.0 && (y - py).abs() <= 1.0),
            "{case}: no heap point at the peak's dot ({px}, {py})"
        );
        assert!(points.iter().all(|&(x, y)| x >= left - 1.0
            && x <= right + 1.0
            && y >= top - 1.0
            && y <= bottom + 1.0));
        // The resident size reaches the largest one recorded.
        match (drawn.series.get("rss"), model.rss_max) {
            (Some((rss, rss_points)), Some(max)) => {
                assert_eq!(rss["data-max-bytes"].parse::<u64>().unwrap(), max, "{case}");
                let highest = rss_points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
                assert!(
                    (to_bytes(highest) - max as f64).abs() <= one_pixel,
                    "{case}"
                );
            }
            // One record draws no line; none draws nothing.
            (None, _) => assert!(svg.matches("<polyline").count() <= 1, "{case}"),
            (Some(_), None) => panic!("{case}: an RSS line without records"),
        }
        assert!(
            svg.contains(capture.file_name().unwrap().to_str().unwrap()),
            "{case}: title"
        );
    }
}

/// The timeline is the same beside reports in any mode as alone, and refuses what it does
/// not apply to: a report mode alone, an aggregated capture.
#[test]
fn alone_or_beside_reports() {
    let dir = tempfile::tempdir().unwrap();
    let capture = capture("v1.20.0-py3.11-mixed.bin");
    let (beside, _) = convert(&capture, dir.path(), &["--leaks"]);
    let alone = dir.path().join("alone.svg");
    let o = memform(&[
        "transform",
        "timeline",
        "-q",
        "-o",
        alone.to_str().unwrap(),
        capture.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&alone).unwrap(), beside);
    let o = memform(&[
        "transform",
        "timeline",
        "--leaks",
        "-f",
        capture.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("does not apply to the timeline format"),
        "{}",
        stderr(&o)
    );
    let aggregated = self::capture("v1.20.0-py3.11-aggregate.bin");
    let out = dir.path().join("agg.svg");
    let o = memform(&[
        "transform",
        "timeline",
        "-o",
        out.to_str().unwrap(),
        aggregated.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("pre-aggregated"), "{}", stderr(&o));
    assert!(!out.exists());
}

/// Headless Chromium draws the timeline: the screenshot has the series' colours, not one
/// blank page. With `MEMFORM_PICTURES_DIR` set, the screenshots are kept there (docs/).
#[test]
fn chromium_renders_the_timeline() {
    let Some(chromium) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for name in ["v1.20.0-py3.11-mixed.bin", "v1.20.0-py3.13-killed.bin"] {
        let capture = capture(name);
        let (svg, _) = convert(&capture, dir.path(), &[]);
        let path = dir.path().join(format!("{name}.svg"));
        std::fs::write(&path, &svg).unwrap();
        let png = dir.path().join(format!("{name}.png"));
        screenshot(
            &chromium,
            &path,
            &png,
            (memform::timeline::WIDTH, memform::timeline::HEIGHT),
        );
        let colours = distinct_colours(&png);
        assert!(colours >= 20, "{name}: {colours} colours in the screenshot");
        if let Some(keep) = std::env::var_os("MEMFORM_PICTURES_DIR") {
            std::fs::create_dir_all(&keep).unwrap();
            std::fs::copy(&png, Path::new(&keep).join(format!("timeline-{name}.png"))).unwrap();
        }
    }
}
