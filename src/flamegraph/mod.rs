//! The `flamegraph` format: a report as a self-contained SVG flame graph, drawn by inferno
//! from the report's folded stacks ([`crate::report::folded`]). Root at the bottom, one box
//! per frame, its width its bytes (or allocations, `--folded-value count`); each box's
//! tooltip is inferno's `function (file:line) (1,234 bytes, 5.60%)`. The title names the
//! capture and the report, the subtitle gives the peak, the report's totals and how many
//! frames were too narrow to draw. Frames narrower than [`MIN_WIDTH_PERCENT`] of the width
//! are left out (their bytes stay in their parents' boxes), which bounds the file's size
//! whatever the number of stacks.

use std::io::{self, Write};

use inferno::flamegraph::color::{BasicPalette, Palette};
use inferno::flamegraph::{self, Options, TextTruncateDirection};
use rustc_hash::FxHashMap;

use crate::analysis::{Report, ReportMode};
use crate::report::folded::{FoldedStacks, FoldedValue};
use crate::report::{ReportRow, ReportWriter};

/// Frames narrower than this share of the whole width (in percent) are not drawn: 1.2
/// pixels of inferno's 1200-pixel image, below what an eye can tell apart.
pub const MIN_WIDTH_PERCENT: f64 = 0.1;

/// The flame graph writer: the folded stacks gathered while the rows come, the SVG drawn
/// at the end.
pub struct FlamegraphWriter<W: Write> {
    out: io::BufWriter<W>,
    value: FoldedValue,
    /// The capture's file name, for the title.
    capture: String,
    stacks: FoldedStacks,
    /// Allocations and bytes of the report's rows.
    allocations: u64,
    bytes: u128,
}

impl<W: Write> FlamegraphWriter<W> {
    /// A writer into `out`; `capture` names the capture in the title.
    pub fn new(out: W, value: FoldedValue, capture: &str) -> Self {
        FlamegraphWriter {
            out: io::BufWriter::with_capacity(1 << 20, out),
            value,
            capture: capture.to_string(),
            stacks: FoldedStacks::default(),
            allocations: 0,
            bytes: 0,
        }
    }
}

impl<W: Write> ReportWriter for FlamegraphWriter<W> {
    fn begin(&mut self, _report: &Report) -> io::Result<()> {
        Ok(())
    }

    fn row(&mut self, row: &ReportRow<'_>) -> io::Result<()> {
        self.stacks.add(row, self.value);
        self.allocations += row.num_allocations;
        self.bytes += u128::from(row.size);
        Ok(())
    }

    fn finish(&mut self, report: &Report) -> io::Result<()> {
        let peak = report.high_water_mark.map(|h| h.bytes);
        self.draw(report.mode, peak)
    }
}

impl<W: Write> FlamegraphWriter<W> {
    /// Draws the stacks gathered, titled with the report's `mode` and the capture's `peak`.
    fn draw(&mut self, mode: ReportMode, peak: Option<u64>) -> io::Result<()> {
        let total: u128 = self.stacks.iter().map(|(_, v)| v).sum();
        let narrow = narrow_frames(self.stacks.iter(), total, MIN_WIDTH_PERCENT);
        let subtitle = subtitle(peak, self.allocations, self.bytes, narrow, self.value);
        let options = options(title(&self.capture, mode), subtitle, self.value);
        // inferno reads each line's value as a machine word.
        let lines: Vec<String> = (self.stacks.iter())
            .map(|(stack, value)| format!("{stack} {}", value.min(usize::MAX as u128)))
            .collect();
        render(&mut self.out, &lines, options, total == 0)?;
        self.out.flush()
    }
}

/// inferno's options for memform's pictures: `title` and `subtitle` above, boxes measured
/// in bytes or allocations as `value` says, colours from the frames' names, frames under
/// [`MIN_WIDTH_PERCENT`] left out, long labels cut at their end.
pub fn options(title: String, subtitle: String, value: FoldedValue) -> Options<'static> {
    let mut options = Options::default();
    options.title = title;
    options.subtitle = Some(subtitle);
    options.count_name = match value {
        FoldedValue::Bytes => "bytes".to_string(),
        FoldedValue::Count => "allocations".to_string(),
    };
    options.colors = Palette::Basic(BasicPalette::Mem);
    // Colours from each frame's name, not drawn at random: the same input gives the same
    // bytes.
    options.hash = true;
    options.deterministic = true;
    options.min_width = MIN_WIDTH_PERCENT;
    // A label too long for its box keeps its start: the function's name.
    options.text_truncate_direction = TextTruncateDirection::Right;
    options
}

/// Draws folded `lines` (`stack value`, or `stack before after` for inferno's differential
/// flame graph) into `out`; `empty` (nothing to draw): the title and a line saying so.
pub fn render(
    out: &mut impl Write,
    lines: &[String],
    mut options: Options<'_>,
    empty: bool,
) -> io::Result<()> {
    if empty {
        return write_empty(out, &options);
    }
    flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), out)
}

/// What the picture shows: the capture and the report.
fn title(capture: &str, mode: ReportMode) -> String {
    format!("{capture}: {}", report_description(mode))
}

/// What a report of `mode` shows, in words: `memory at the peak`, …
pub fn report_description(mode: ReportMode) -> String {
    match mode {
        ReportMode::Peak => "memory at the peak".to_string(),
        ReportMode::Leaks => "memory leaked (never freed)".to_string(),
        ReportMode::Temporary { threshold } => {
            format!("temporary allocations (freed after at most {threshold} others)")
        }
    }
}

/// The peak, the report's totals, and the frames too narrow to draw.
fn subtitle(
    peak: Option<u64>,
    allocations: u64,
    bytes: u128,
    narrow: usize,
    value: FoldedValue,
) -> String {
    let mut parts = Vec::new();
    if let Some(peak) = peak {
        parts.push(format!("peak {}", human_bytes(u128::from(peak))));
    }
    parts.push(format!(
        "this report {} in {} allocations",
        human_bytes(bytes),
        thousands(u128::from(allocations))
    ));
    if value == FoldedValue::Count {
        parts.push("widths by allocation count".to_string());
    }
    if narrow > 0 {
        parts.push(format!(
            "{} frame{} under {MIN_WIDTH_PERCENT}% of the width not drawn",
            thousands(narrow as u128),
            if narrow == 1 { "" } else { "s" }
        ));
    }
    parts.join(" · ")
}

/// How many frames of the flame graph of `stacks` are narrower than `min_width_percent`
/// of `total`, as inferno leaves them out: the frames are the nodes of the tree of the
/// stacks' prefixes (inferno merges equal prefixes of its sorted lines), each as wide as
/// the values of the stacks below it.
pub fn narrow_frames<'a>(
    stacks: impl Iterator<Item = (&'a str, u128)>,
    total: u128,
    min_width_percent: f64,
) -> usize {
    let threshold = min_width_percent * total as f64 / 100.0;
    // Node by (parent node, frame); node 0 is the root above every stack.
    let mut nodes: FxHashMap<(usize, &str), usize> = FxHashMap::default();
    let mut widths: Vec<u128> = vec![0];
    for (stack, value) in stacks {
        let mut parent = 0;
        for frame in stack.split(';') {
            let next = widths.len();
            let node = *nodes.entry((parent, frame)).or_insert(next);
            if node == next {
                widths.push(0);
            }
            widths[node] += value;
            parent = node;
        }
    }
    widths[1..]
        .iter()
        .filter(|&&w| (w as f64) < threshold)
        .count()
}

/// An SVG with the title and a line saying the report has nothing to draw (inferno draws
/// no graph of no samples).
fn write_empty(out: &mut impl Write, options: &Options<'_>) -> io::Result<()> {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    write!(
        out,
        concat!(
            r#"<?xml version="1.0" standalone="no"?>"#,
            r#"<svg version="1.1" width="1200" height="120" viewBox="0 0 1200 120" "#,
            r#"xmlns="http://www.w3.org/2000/svg">"#,
            r##"<rect x="0" y="0" width="100%" height="100%" fill="#eeeeee"/>"##,
            r#"<text x="600" y="24" text-anchor="middle" font-family="Verdana" font-size="17">{}</text>"#,
            r##"<text x="600" y="48" text-anchor="middle" font-family="Verdana" font-size="12" fill="#a0a0a0">{}</text>"##,
            r#"<text x="600" y="90" text-anchor="middle" font-family="Verdana" font-size="14">No allocations in this report</text>"#,
            "</svg>\n"
        ),
        escape(&options.title),
        escape(options.subtitle.as_deref().unwrap_or("")),
    )
}

/// `1,234,567`.
pub fn thousands(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in the largest binary unit that keeps the number at or above 1: `512 B`,
/// `1.50 KiB`, `3.25 GiB`.
pub fn human_bytes(n: u128) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stacks::Location;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.50 KiB");
        assert_eq!(human_bytes(3 << 30), "3.00 GiB");
    }

    /// A hundred thousand stacks (one root, two levels of ten callers, a thousand leaves
    /// under each of the hundred callers, values falling off as a power law) give an SVG under 10 MB: the
    /// slivers are left out and counted.
    #[test]
    fn many_stacks_give_a_bounded_picture() {
        let locations: Vec<Location> = (0..1000i32)
            .map(|i| {
                Location::new(
                    &format!("function_{i}"),
                    &format!("module_{}.py", i % 37),
                    i,
                )
            })
            .collect();
        let mut writer = FlamegraphWriter::new(Vec::new(), FoldedValue::Bytes, "many.bin");
        let mut frames = Vec::new();
        for stack in 0..100_000usize {
            frames.clear();
            // Leaf first: leaf, then the callers from the deepest up.
            frames.push(locations[stack % 1000].clone());
            let mut caller = stack / 1000;
            for level in 0..2 {
                frames.push(locations[100 + level * 10 + caller % 10].clone());
                caller /= 10;
            }
            frames.push(locations[999].clone());
            let row = ReportRow {
                allocator: crate::capture::Allocator::Malloc,
                num_allocations: 1,
                size: 1 + 1_000_000 / (1 + stack as u64 % 977),
                tid: 1,
                thread_name: "0x1",
                stack_index: stack,
                frames: frames.as_slice().into(),
            };
            writer.row(&row).unwrap();
        }
        let total: u128 = writer.stacks.iter().map(|(_, v)| v).sum();
        let narrow = narrow_frames(writer.stacks.iter(), total, MIN_WIDTH_PERCENT);
        writer.draw(ReportMode::Peak, Some(5 << 30)).unwrap();
        let svg = writer.out.into_inner().map_err(|e| e.into_error()).unwrap();
        assert!(svg.len() < 10 << 20, "{} bytes", svg.len());
        let svg = String::from_utf8(svg).unwrap();
        // Every box but inferno's own `all` carries a frame.
        let drawn = svg.matches("fg:w=").count() - 1;
        // The prefix tree: the root, 10 + 100 callers, 100,000 leaves.
        assert_eq!(drawn + narrow, 1 + 10 + 100 + 100_000);
        assert!(narrow > 90_000, "{narrow} narrow frames");
        assert!(svg.contains(&format!("{} frames under 0.1%", thousands(narrow as u128))));
        assert!(svg.contains("peak 5.00 GiB"));
    }

    #[test]
    fn titles_name_the_report() {
        assert_eq!(
            title("run.bin", ReportMode::Peak),
            "run.bin: memory at the peak"
        );
        assert_eq!(
            title("run.bin", ReportMode::Temporary { threshold: 1 }),
            "run.bin: temporary allocations (freed after at most 1 others)"
        );
    }
}
