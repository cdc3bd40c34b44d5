//! The timeline as an SVG picture, drawn by plotters' SVG backend: the resident size and
//! the heap's size against seconds since the capture's start, the bytes in memray's units
//! (powers of 1000: kB, MB, GB), each series reduced to the smallest and largest value of
//! each pixel column ([`reduce_to_columns`]); the heap drawn in steps (a size holds until
//! the next event), the resident size as a line through its records. After plotters' picture come memform's own
//! elements, for people and for tests to find: the peak's marker and label
//! (`<g id="peak" data-bytes data-seconds data-event>`), and the plot area's scale
//! (`<g id="scale" data-left data-right data-top data-bottom data-seconds-max
//! data-bytes-max>`); each series' polyline carries `id` (`heap`, `rss`) and its points'
//! largest value (`data-max-bytes`).

use std::fmt::Write as _;
use std::io::{self, Write};

use plotters::prelude::*;

use crate::timeline::series::{reduce_to_columns, Point};
use crate::timeline::{Peak, Timeline};

/// The picture's size in pixels.
pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 600;

/// memray's colours of its memory plot (plotly's first two): resident size, heap size.
const RSS_COLOUR: RGBColor = RGBColor(0x63, 0x6e, 0xfa);
const HEAP_COLOUR: RGBColor = RGBColor(0xef, 0x55, 0x3b);

/// memray's unit of a size: powers of 1000, as memray 1.18 and later print sizes.
fn unit_of(bytes: f64) -> (f64, &'static str) {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut scale = 1.0;
    for unit in UNITS {
        if bytes.abs() < scale * 1000.0 {
            return (scale, unit);
        }
        scale *= 1000.0;
    }
    (scale / 1000.0, "EB")
}

/// A size as memray's `size_fmt` gives it, with a space: `1.234 MB`, `512 B`.
pub fn size_label(bytes: u64) -> String {
    let (scale, unit) = unit_of(bytes as f64);
    if scale == 1.0 {
        format!("{bytes} B")
    } else {
        format!("{:.3} {unit}", bytes as f64 / scale)
    }
}

/// Decimals for the ticks of an axis from 0 to `max` (about ten ticks): two significant
/// digits of `max`.
fn decimals_for(max: f64) -> usize {
    if max > 0.0 && max.is_finite() {
        (1 - max.log10().floor() as i64).clamp(0, 6) as usize
    } else {
        0
    }
}

/// Seconds as the picture gives them, with `decimals` digits after the point.
fn seconds_label(seconds: f64, decimals: usize) -> String {
    format!("{seconds:.decimals$} s")
}

/// Writes the SVG of `timeline` into `out`; `capture` names the capture in the title.
pub fn write_svg(out: &mut dyn Write, timeline: &Timeline, capture: &str) -> io::Result<()> {
    out.write_all(svg(timeline, capture)?.as_bytes())?;
    out.flush()
}

/// The plot area's corners in pixels and the values at its far ends.
struct Scale {
    left: i32,
    right: i32,
    top: i32,
    bottom: i32,
    seconds_max: f64,
    bytes_max: f64,
}

impl Scale {
    fn pixel(&self, seconds: f64, bytes: f64) -> (f64, f64) {
        let x = self.left as f64 + seconds / self.seconds_max * (self.right - self.left) as f64;
        let y = self.bottom as f64 - bytes / self.bytes_max * (self.bottom - self.top) as f64;
        (x, y)
    }
}

/// The SVG text of `timeline`.
pub fn svg(timeline: &Timeline, capture: &str) -> io::Result<String> {
    let peak_bytes = timeline.peak.map_or(0, |p| p.bytes);
    let rss_max = timeline.rss.iter().map(|p| p.1).max().unwrap_or(0);
    let highest = peak_bytes.max(rss_max).max(1) as f64;
    // Room above the highest point for the peak's label.
    let bytes_max = highest * 1.15;
    let seconds_max = if timeline.seconds > 0.0 && timeline.seconds.is_finite() {
        timeline.seconds
    } else {
        0.001
    };
    let (unit_scale, unit) = unit_of(highest);
    let size_decimals = decimals_for(bytes_max / unit_scale);
    let second_decimals = decimals_for(seconds_max);
    let title = format!("Memory over time: {capture}");

    let mut text = String::new();
    let (scale, heap_points, rss_points) = {
        let root = SVGBackend::with_string(&mut text, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&title, ("sans-serif", 22))
            .margin(20)
            .margin_right(45)
            .x_label_area_size(50)
            .y_label_area_size(100)
            .build_cartesian_2d(0f64..seconds_max, 0f64..bytes_max)
            .map_err(drawing)?;
        let y_label = |y: &f64| format!("{:.size_decimals$} {unit}", y / unit_scale);
        let x_label = |x: &f64| seconds_label(*x, second_decimals);
        chart
            .configure_mesh()
            .x_desc("time since the capture's start")
            .y_desc("memory")
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .light_line_style(RGBColor(0xf2, 0xf2, 0xf2))
            .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
            .draw()
            .map_err(drawing)?;
        let (left, top) = chart.backend_coord(&(0.0, bytes_max));
        let (right, bottom) = chart.backend_coord(&(seconds_max, 0.0));
        let scale = Scale {
            left,
            right,
            top,
            bottom,
            seconds_max,
            bytes_max,
        };
        let columns = (right - left).max(1) as usize;
        let rss = reduce_to_columns(&timeline.rss, 0.0, seconds_max, columns);
        let heap = steps(&reduce_to_columns(
            &timeline.heap,
            0.0,
            seconds_max,
            columns,
        ));
        for (points, colour, name) in [
            (&rss, RSS_COLOUR, "Resident size (RSS)"),
            (&heap, HEAP_COLOUR, "Heap size"),
        ] {
            if points.is_empty() {
                continue;
            }
            let style = ShapeStyle {
                color: colour.to_rgba(),
                filled: false,
                stroke_width: 2,
            };
            chart
                .draw_series(LineSeries::new(
                    points.iter().map(|&(t, b)| (t, b as f64)),
                    style,
                ))
                .map_err(drawing)?
                .label(name)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 4), (x + 18, y + 4)], colour.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(0xaa, 0xaa, 0xaa))
            .draw()
            .map_err(drawing)?;
        root.present().map_err(drawing)?;
        (scale, heap, rss)
    };
    tag_series(&mut text, HEAP_COLOUR, "heap", &heap_points);
    tag_series(&mut text, RSS_COLOUR, "rss", &rss_points);
    let mut extra = String::new();
    let _ = writeln!(
        extra,
        r#"<g id="scale" data-left="{}" data-right="{}" data-top="{}" data-bottom="{}" data-seconds-max="{}" data-bytes-max="{}" data-events="{}" data-records="{}"/>"#,
        scale.left,
        scale.right,
        scale.top,
        scale.bottom,
        scale.seconds_max,
        scale.bytes_max,
        timeline.events,
        timeline.records,
    );
    if let Some(peak) = timeline.peak {
        peak_marker(&mut extra, &peak, &scale, second_decimals);
    }
    match text.rfind("</svg>") {
        Some(end) => text.insert_str(end, &extra),
        None => text.push_str(&extra),
    }
    Ok(text)
}

/// The heap's points as steps: a size holds until the next event changes it, so each point
/// is preceded by the previous size at its time (a jump is drawn upright, not as a slope
/// across the time no event fell in).
fn steps(points: &[Point]) -> Vec<Point> {
    let mut out = Vec::with_capacity(2 * points.len());
    for (i, &point) in points.iter().enumerate() {
        if let Some(&(_, before)) = i.checked_sub(1).and_then(|j| points.get(j)) {
            if before != point.1 {
                out.push((point.0, before));
            }
        }
        out.push(point);
    }
    out
}

/// Gives the polyline drawn in `colour` (the series; the legend's swatches are rectangles)
/// its `id` and the largest value of its points.
fn tag_series(text: &mut String, colour: RGBColor, id: &str, points: &[Point]) {
    let stroke = format!(
        "stroke=\"#{:02X}{:02X}{:02X}\"",
        colour.0, colour.1, colour.2
    );
    let max = points.iter().map(|p| p.1).max().unwrap_or(0);
    let mut from = 0;
    while let Some(found) = text[from..].find("<polyline") {
        let start = from + found;
        let end = text[start..].find("/>").map_or(text.len(), |e| start + e);
        if text[start..end].contains(&stroke) {
            let tag = format!(
                "<polyline id=\"{id}\" data-max-bytes=\"{max}\" data-points=\"{}\"",
                points.len()
            );
            text.replace_range(start..start + "<polyline".len(), &tag);
            return;
        }
        from = end;
    }
}

/// The peak's marker: a dashed line down to the time axis, a dot at the peak and its label,
/// on the side of the dot with room for it.
fn peak_marker(out: &mut String, peak: &Peak, scale: &Scale, second_decimals: usize) {
    let (x, y) = scale.pixel(peak.seconds, peak.bytes as f64);
    let label = format!(
        "peak {} at {}",
        size_label(peak.bytes),
        seconds_label(peak.seconds, second_decimals + 1)
    );
    let right_half = x > (scale.left + scale.right) as f64 / 2.0;
    let (anchor, dx) = if right_half {
        ("end", -9.0)
    } else {
        ("start", 9.0)
    };
    let _ = write!(
        out,
        r##"<g id="peak" data-bytes="{bytes}" data-seconds="{seconds}" data-event="{event}">
<line x1="{x:.1}" y1="{y:.1}" x2="{x:.1}" y2="{bottom}" stroke="#333333" stroke-width="1" stroke-dasharray="4,3"/>
<circle cx="{x:.1}" cy="{y:.1}" r="5" fill="#FBFF00" stroke="#000000" stroke-width="2"/>
<text x="{tx:.1}" y="{ty:.1}" font-family="sans-serif" font-size="15" font-weight="bold" text-anchor="{anchor}" fill="#000000">{label}</text>
</g>
"##,
        bytes = peak.bytes,
        seconds = peak.seconds,
        event = peak.event,
        bottom = scale.bottom,
        tx = x + dx,
        ty = y - 8.0,
    );
}

fn drawing<E: std::error::Error + Send + Sync>(
    e: plotters::drawing::DrawingAreaErrorKind<E>,
) -> io::Error {
    io::Error::other(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_memrays_units() {
        assert_eq!(size_label(512), "512 B");
        assert_eq!(size_label(1234), "1.234 kB");
        assert_eq!(size_label(1_234_567), "1.235 MB");
        assert_eq!(size_label(3_000_000_000), "3.000 GB");
        assert_eq!(seconds_label(3.4, 2), "3.40 s");
        assert_eq!(decimals_for(3.4), 1);
        assert_eq!(decimals_for(12.0), 0);
        assert_eq!(decimals_for(120.0), 0);
        assert_eq!(decimals_for(0.025), 3);
    }

    /// A million heap sizes and a hundred thousand memory records make a picture of less
    /// than 1 MB, whose series keep the peak.
    #[test]
    fn a_long_series_stays_small() {
        let mut pass = crate::timeline::series::Runs::default();
        let mut state = 1u64;
        let mut value = 0u64;
        let mut max = 0;
        for event in 0..1_000_000u64 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            value = (value + (state >> 50)).saturating_sub(state >> 54 << 1);
            max = max.max(value);
            pass.push(event, value);
        }
        let runs = pass.finish();
        let heap: Vec<Point> = runs
            .iter()
            .flat_map(|r| {
                [
                    (r.min_at as f64 / 1e4, r.min),
                    (r.max_at as f64 / 1e4, r.max),
                ]
            })
            .collect();
        let top = runs
            .iter()
            .copied()
            .reduce(|a, b| if b.max >= a.max { b } else { a })
            .unwrap();
        let rss: Vec<Point> = (0..100_000)
            .map(|i| (i as f64 / 1e3, 1_000_000 + i))
            .collect();
        let timeline = Timeline {
            seconds: 100.0,
            heap,
            rss,
            peak: Some(Peak {
                bytes: top.max,
                event: top.max_at,
                seconds: top.max_at as f64 / 1e4,
            }),
            events: 1_000_000,
            records: 100_000,
        };
        let text = svg(&timeline, "long.bin").unwrap();
        assert!(text.len() < 1_000_000, "{} bytes", text.len());
        assert!(text.contains(&format!("id=\"heap\" data-max-bytes=\"{max}\"")));
        assert!(text.contains("id=\"rss\" data-max-bytes=\"1099999\""));
        assert!(text.contains(&format!("<g id=\"peak\" data-bytes=\"{max}\"")));
    }
}
