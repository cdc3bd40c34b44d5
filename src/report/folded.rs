//! Folded stacks, the input of Brendan Gregg's `flamegraph.pl` and of inferno
//! (`inferno-flamegraph`): one line per distinct stack, its frames root first joined by
//! `;`, a space, and its value, e.g. `main (app.py:10);load (app.py:3) 4096`.
//!
//! - A frame is `function (file:line)`.
//! - The value is the sum over the report's rows with that stack of their bytes
//!   ([`FoldedValue::Bytes`], the default) or of their allocation counts
//!   ([`FoldedValue::Count`]).
//! - Lines come in the order their stacks first appear in the report (memray's row order);
//!   rows whose stacks print the same frames share one line.
//! - A row with no frames is the one-frame stack `[unknown]`.
//! - So that every line splits into the same frames again, four characters of a function
//!   or file name are written as visible escapes (see [`escape`]): `\` as `\x5c`, `;` as
//!   `\x3b`, a newline as `\x0a`, a carriage return as `\x0d`. Escaping `\` too makes the
//!   rule reversible: replacing each `\xHH` by its byte gives the name back.

use std::io::{self, Write};

use rustc_hash::FxHashMap;

use crate::analysis::Report;
use crate::interner::FxIndexMap;
use crate::report::{ReportRow, ReportWriter};
use crate::stacks::Location;

/// The frame standing for a row without frames.
pub const UNKNOWN_FRAME: &str = "[unknown]";

/// What a folded line's value counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FoldedValue {
    /// The bytes of the stack's rows (`--folded-value bytes`, the default).
    #[default]
    Bytes,
    /// The allocation counts of the stack's rows (`--folded-value count`).
    Count,
}

impl FoldedValue {
    pub const ALL: [FoldedValue; 2] = [FoldedValue::Bytes, FoldedValue::Count];

    pub fn name(self) -> &'static str {
        match self {
            FoldedValue::Bytes => "bytes",
            FoldedValue::Count => "count",
        }
    }

    /// The value named `name` (case-insensitively).
    pub fn from_name(name: &str) -> Option<FoldedValue> {
        FoldedValue::ALL
            .into_iter()
            .find(|v| v.name().eq_ignore_ascii_case(name))
    }
}

/// Appends `text` to `out` with the four characters that would break a folded line
/// (`\`, `;`, `\n`, `\r`) written as `\x5c`, `\x3b`, `\x0a`, `\x0d`.
pub fn escape(text: &str, out: &mut String) {
    let mut rest = text;
    while let Some(i) = rest.find(['\\', ';', '\n', '\r']) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'\\' => "\\x5c",
            b';' => "\\x3b",
            b'\n' => "\\x0a",
            _ => "\\x0d",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

/// Appends the folded form of `frames` (leaf first, as rows give them) to `out`: root
/// first, `function (file:line)` each, joined by `;`; `[unknown]` for no frames.
pub fn fold<'a, I>(frames: I, out: &mut String)
where
    I: IntoIterator<Item = &'a Location>,
    I::IntoIter: DoubleEndedIterator + ExactSizeIterator,
{
    use std::fmt::Write as _;
    let frames = frames.into_iter();
    if frames.len() == 0 {
        out.push_str(UNKNOWN_FRAME);
        return;
    }
    for (i, loc) in frames.rev().enumerate() {
        if i > 0 {
            out.push(';');
        }
        escape(&loc.function, out);
        out.push_str(" (");
        escape(&loc.file, out);
        let _ = write!(out, ":{})", loc.line);
    }
}

/// The folded stacks of a report's rows: each distinct folded stack and its summed value, in
/// order of first appearance (the lines of [`FoldedWriter`], the input of the flame graph).
#[derive(Debug, Default)]
pub struct FoldedStacks {
    /// `u128`: no sum of `u64` values a report can hold overflows it.
    lines: FxIndexMap<String, u128>,
    /// The line of each report stack seen.
    by_stack: FxHashMap<usize, usize>,
}

impl FoldedStacks {
    /// Adds `row`'s bytes or allocations (as `value` says) to its stack's line.
    pub fn add(&mut self, row: &ReportRow<'_>, value: FoldedValue) {
        let line = match self.by_stack.get(&row.stack_index) {
            Some(&line) => line,
            None => {
                let mut text = String::new();
                fold(row.frames, &mut text);
                let entry = self.lines.entry(text);
                let line = entry.index();
                entry.or_insert(0);
                self.by_stack.insert(row.stack_index, line);
                line
            }
        };
        self.lines[line] += u128::from(match value {
            FoldedValue::Bytes => row.size,
            FoldedValue::Count => row.num_allocations,
        });
    }

    /// The folded stacks and their values, in order of first appearance.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u128)> {
        self.lines
            .iter()
            .map(|(stack, &value)| (stack.as_str(), value))
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// The folded-stacks writer: values summed per stack while the rows come, the lines
/// written at the end.
pub struct FoldedWriter<W: Write> {
    out: io::BufWriter<W>,
    value: FoldedValue,
    stacks: FoldedStacks,
}

impl<W: Write> FoldedWriter<W> {
    pub fn new(out: W, value: FoldedValue) -> Self {
        FoldedWriter {
            out: io::BufWriter::with_capacity(1 << 20, out),
            value,
            stacks: FoldedStacks::default(),
        }
    }
}

impl<W: Write> ReportWriter for FoldedWriter<W> {
    fn begin(&mut self, _report: &Report) -> io::Result<()> {
        Ok(())
    }

    fn row(&mut self, row: &ReportRow<'_>) -> io::Result<()> {
        self.stacks.add(row, self.value);
        Ok(())
    }

    fn finish(&mut self, _report: &Report) -> io::Result<()> {
        for (stack, value) in self.stacks.iter() {
            writeln!(self.out, "{stack} {value}")?;
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Allocator;

    fn folded(frames: &[Location]) -> String {
        let mut out = String::new();
        fold(frames, &mut out);
        out
    }

    #[test]
    fn frames_root_first() {
        let loc = Location::new;
        assert_eq!(
            folded(&[loc("leaf", "a.py", 3), loc("main", "b.py", -1)]),
            "main (b.py:-1);leaf (a.py:3)"
        );
        assert_eq!(folded(&[]), "[unknown]");
    }

    #[test]
    fn separators_in_names_are_escaped_reversibly() {
        let mut out = String::new();
        escape("a;b\nc\rd\\x3b", &mut out);
        assert_eq!(out, "a\\x3bb\\x0ac\\x0dd\\x5cx3b");
        // Undoing the escapes gives the name back.
        let mut back = out.clone();
        for (code, c) in [("\\x3b", ";"), ("\\x0a", "\n"), ("\\x0d", "\r")] {
            back = back.replace(code, c);
        }
        assert_eq!(back.replace("\\x5c", "\\"), "a;b\nc\rd\\x3b");
    }

    fn row<'a>(stack_index: usize, frames: &'a [Location], size: u64, n: u64) -> ReportRow<'a> {
        ReportRow {
            allocator: Allocator::Malloc,
            num_allocations: n,
            size,
            tid: 1,
            thread_name: "0x1",
            stack_index,
            frames: frames.into(),
        }
    }

    fn write(value: FoldedValue, rows: &[ReportRow<'_>]) -> String {
        let (_, report) = crate::report::fixture_leaks_report("v1.20.0-py3.11-default.bin");
        let mut out = Vec::new();
        let mut writer = FoldedWriter::new(&mut out, value);
        writer.begin(&report).unwrap();
        for r in rows {
            writer.row(r).unwrap();
        }
        writer.finish(&report).unwrap();
        drop(writer);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_name_with_separators_stays_one_frame() {
        let loc = Location::new;
        let odd = [
            loc("leaf;with\nseparators\r", "we;ird.py", 7),
            loc("main", "app.py", 1),
        ];
        let plain = [loc("main", "app.py", 1)];
        let text = write(
            FoldedValue::Bytes,
            &[
                row(0, &odd, 10, 1),
                row(1, &plain, 5, 2),
                row(0, &odd, 1, 3),
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text:?}");
        let (stack, value) = lines[0].rsplit_once(' ').unwrap();
        assert_eq!(value, "11");
        let frames: Vec<&str> = stack.split(';').collect();
        assert_eq!(
            frames,
            [
                "main (app.py:1)",
                "leaf\\x3bwith\\x0aseparators\\x0d (we\\x3bird.py:7)"
            ]
        );
        assert_eq!(lines[1], "main (app.py:1) 5");
        // inferno reads it as a two-frame stack, escapes kept in the frame's name.
        let mut svg = Vec::new();
        let mut options = inferno::flamegraph::Options::default();
        inferno::flamegraph::from_lines(&mut options, text.lines(), &mut svg).unwrap();
        let svg = String::from_utf8(svg).unwrap();
        assert!(svg.contains("leaf\\x3bwith\\x0aseparators\\x0d (we\\x3bird.py:7)"));
    }

    #[test]
    fn counts_and_merged_stacks() {
        let loc = Location::new;
        let a = [loc("f", "a.py", 1)];
        let same_as_a = [loc("f", "a.py", 1)];
        let text = write(
            FoldedValue::Count,
            &[
                row(0, &a, 10, 1),
                row(1, &[], 5, 2),
                row(2, &same_as_a, 7, 4),
                row(u64::MAX as usize, &[], u64::MAX, u64::MAX),
            ],
        );
        assert_eq!(
            text,
            format!("f (a.py:1) 5\n[unknown] {}\n", 2 + u128::from(u64::MAX))
        );
        assert_eq!(FoldedValue::from_name("COUNT"), Some(FoldedValue::Count));
        assert_eq!(FoldedValue::from_name("objects"), None);
    }
}
