//! speedscope JSON exactly as memray 1.20's `render_as_speedscope` writes it with
//! `json.dump`, except for the `exporter` field, which names memform.
//!
//! Frames are interned by `(function, file, line)` in order of first use; a row's sample is
//! its stack root first; rows whose samples are equal are merged (their sizes and allocation
//! counts summed) at the place of the first one, as a Python dict keeps insertion order;
//! rows with an empty stack are skipped. Two profiles follow, bytes and allocation counts,
//! each without the samples whose weight is zero.

use std::io::{self, Write};

use rustc_hash::FxHashMap;

use crate::analysis::Report;
use crate::report::json::write_str;
use crate::report::{ReportRow, ReportWriter};
use crate::stacks::Location;

/// The `exporter` field: this tool and its version.
pub const EXPORTER: &str = concat!("memform@", env!("CARGO_PKG_VERSION"));

/// A merged sample: its frame indices, root first, and its summed weights. Python sums
/// without overflow; `u128` cannot overflow for any sum of `u64` sizes a report can hold.
struct Sample {
    frames: Box<[u32]>,
    size: u128,
    count: u128,
}

/// The frames and samples of a report, in memray's order.
#[derive(Default)]
struct Profile {
    frames: Vec<Location>,
    samples: Vec<Sample>,
    frame_index: FxHashMap<Location, u32>,
    sample_index: FxHashMap<Box<[u32]>, usize>,
    /// The sample of each distinct stack seen (`None`: an empty stack, skipped).
    by_stack: FxHashMap<usize, Option<usize>>,
}

impl Profile {
    /// Adds a row's weights to its sample, interning its frames and sample the first time
    /// its stack is seen.
    fn add(&mut self, row: &ReportRow<'_>) {
        // The sample of a stack is the same for every row that prints it; interning happens
        // at its first row, so remembering it changes nothing.
        let index = match self.by_stack.get(&row.stack_index) {
            Some(&index) => index,
            None => {
                let index = if row.frames.is_empty() {
                    None
                } else {
                    let mut sample = Vec::with_capacity(row.frames.len());
                    for loc in row.frames.iter().rev() {
                        let next = self.frames.len() as u32;
                        let id = *self.frame_index.entry(loc.clone()).or_insert(next);
                        if id == next {
                            self.frames.push(loc.clone());
                        }
                        sample.push(id);
                    }
                    let next = self.samples.len();
                    let id = *self
                        .sample_index
                        .entry(sample.as_slice().into())
                        .or_insert(next);
                    if id == next {
                        self.samples.push(Sample {
                            frames: sample.into(),
                            size: 0,
                            count: 0,
                        });
                    }
                    Some(id)
                };
                self.by_stack.insert(row.stack_index, index);
                index
            }
        };
        if let Some(i) = index {
            let s = &mut self.samples[i];
            s.size += u128::from(row.size);
            s.count += u128::from(row.num_allocations);
        }
    }
}

fn write_frame(out: &mut impl Write, loc: &Location) -> io::Result<()> {
    out.write_all(b"{\"name\": ")?;
    write_str(out, &loc.function)?;
    if !loc.file.is_empty() {
        out.write_all(b", \"file\": ")?;
        write_str(out, &loc.file)?;
    }
    if loc.line > 0 {
        write!(out, ", \"line\": {}", loc.line)?;
    }
    out.write_all(b"}")
}

fn write_profile(
    out: &mut impl Write,
    name: &str,
    unit: &str,
    samples: &[Sample],
    weight: fn(&Sample) -> u128,
) -> io::Result<()> {
    let kept = || samples.iter().filter(|s| weight(s) > 0);
    let end: u128 = kept().map(weight).sum();
    write!(
        out,
        "{{\"type\": \"sampled\", \"name\": \"{name}\", \"unit\": \"{unit}\", \
         \"startValue\": 0, \"endValue\": {end}, \"samples\": ["
    )?;
    for (i, s) in kept().enumerate() {
        if i > 0 {
            out.write_all(b", ")?;
        }
        out.write_all(b"[")?;
        for (j, f) in s.frames.iter().enumerate() {
            if j > 0 {
                out.write_all(b", ")?;
            }
            write!(out, "{f}")?;
        }
        out.write_all(b"]")?;
    }
    out.write_all(b"], \"weights\": [")?;
    for (i, s) in kept().enumerate() {
        if i > 0 {
            out.write_all(b", ")?;
        }
        write!(out, "{}", weight(s))?;
    }
    out.write_all(b"]}")
}

/// The speedscope writer: rows are gathered into samples; everything is written at the end.
pub struct SpeedscopeWriter<W: Write> {
    out: io::BufWriter<W>,
    profile: Profile,
}

impl<W: Write> SpeedscopeWriter<W> {
    pub fn new(out: W) -> Self {
        SpeedscopeWriter {
            out: io::BufWriter::with_capacity(1 << 20, out),
            profile: Profile::default(),
        }
    }
}

impl<W: Write> ReportWriter for SpeedscopeWriter<W> {
    fn begin(&mut self, _report: &Report) -> io::Result<()> {
        Ok(())
    }

    fn row(&mut self, row: &ReportRow<'_>) -> io::Result<()> {
        self.profile.add(row);
        Ok(())
    }

    fn finish(&mut self, report: &Report) -> io::Result<()> {
        let profile = std::mem::take(&mut self.profile);
        let out = &mut self.out;
        out.write_all(
            b"{\"$schema\": \"https://www.speedscope.app/file-format-schema.json\", \
              \"shared\": {\"frames\": [",
        )?;
        for (i, loc) in profile.frames.iter().enumerate() {
            if i > 0 {
                out.write_all(b", ")?;
            }
            write_frame(out, loc)?;
        }
        out.write_all(b"]}, \"profiles\": [")?;
        write_profile(out, "Memory", "bytes", &profile.samples, |s| s.size)?;
        out.write_all(b", ")?;
        write_profile(out, "Allocations", "none", &profile.samples, |s| s.count)?;
        out.write_all(b"], \"name\": ")?;
        write_str(out, &report.header.command_line)?;
        out.write_all(b", \"activeProfileIndex\": 0, \"exporter\": ")?;
        write_str(out, EXPORTER)?;
        out.write_all(b"}")?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn loc(function: &str, file: &str, line: i32) -> Location {
        Location {
            function: Arc::from(function),
            file: Arc::from(file),
            line,
        }
    }

    fn text(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut v = Vec::new();
        f(&mut v).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn frames_omit_empty_files_and_non_positive_lines() {
        assert_eq!(
            text(|o| write_frame(o, &loc("f", "a.py", 3))),
            r#"{"name": "f", "file": "a.py", "line": 3}"#
        );
        assert_eq!(
            text(|o| write_frame(o, &loc("f", "", 0))),
            r#"{"name": "f"}"#
        );
        assert_eq!(
            text(|o| write_frame(o, &loc("é", "x.py", -1))),
            r#"{"name": "\u00e9", "file": "x.py"}"#
        );
    }

    #[test]
    fn profiles_drop_zero_weights_and_sum_the_rest() {
        let samples = vec![
            Sample {
                frames: vec![0, 1].into(),
                size: 0,
                count: 2,
            },
            Sample {
                frames: vec![0].into(),
                size: u128::from(u64::MAX) + 1,
                count: 1,
            },
        ];
        assert_eq!(
            text(|o| write_profile(o, "Memory", "bytes", &samples, |s| s.size)),
            "{\"type\": \"sampled\", \"name\": \"Memory\", \"unit\": \"bytes\", \
             \"startValue\": 0, \"endValue\": 18446744073709551616, \
             \"samples\": [[0]], \"weights\": [18446744073709551616]}"
        );
        assert_eq!(
            text(|o| write_profile(o, "Allocations", "none", &samples, |s| s.count)),
            "{\"type\": \"sampled\", \"name\": \"Allocations\", \"unit\": \"none\", \
             \"startValue\": 0, \"endValue\": 3, \"samples\": [[0, 1], [0]], \"weights\": [2, 1]}"
        );
        assert_eq!(
            text(|o| write_profile(o, "Memory", "bytes", &[], |s| s.size)),
            "{\"type\": \"sampled\", \"name\": \"Memory\", \"unit\": \"bytes\", \
             \"startValue\": 0, \"endValue\": 0, \"samples\": [], \"weights\": []}"
        );
    }
}
