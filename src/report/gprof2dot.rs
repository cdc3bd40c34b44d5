//! gprof2dot JSON exactly as memray's `render_as_gprof2dot` writes it with `json.dump`.

use std::io::{self, Write};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::analysis::Report;
use crate::report::json::write_str;
use crate::report::{ReportRow, ReportWriter};

/// The gprof2dot writer: one event per row with a non-empty stack, functions interned by
/// `(function, file)` in order of first use and listed after the events.
pub struct Gprof2dotWriter<W: Write> {
    out: io::BufWriter<W>,
    functions: Vec<(Arc<str>, Arc<str>)>,
    index: FxHashMap<(Arc<str>, Arc<str>), usize>,
    first_event: bool,
}

impl<W: Write> Gprof2dotWriter<W> {
    pub fn new(out: W) -> Self {
        Gprof2dotWriter {
            out: io::BufWriter::with_capacity(1 << 20, out),
            functions: Vec::new(),
            index: FxHashMap::default(),
            first_event: true,
        }
    }
}

impl<W: Write> ReportWriter for Gprof2dotWriter<W> {
    fn begin(&mut self, _report: &Report) -> io::Result<()> {
        self.out.write_all(
            b"{\"version\": 0, \"costs\": [{\"description\": \"Memory\", \"unit\": \"bytes\"}], \"events\": [",
        )
    }

    fn row(&mut self, row: &ReportRow<'_>) -> io::Result<()> {
        if row.frames.is_empty() {
            return Ok(());
        }
        let out = &mut self.out;
        if !self.first_event {
            out.write_all(b", ")?;
        }
        self.first_event = false;
        out.write_all(b"{\"callchain\": [")?;
        for (i, loc) in row.frames.iter().enumerate() {
            let key = (loc.function.clone(), loc.file.clone());
            let next = self.functions.len();
            let id = *self.index.entry(key.clone()).or_insert(next);
            if id == next {
                self.functions.push(key);
            }
            if i > 0 {
                out.write_all(b", ")?;
            }
            write!(out, "{id}")?;
        }
        write!(out, "], \"cost\": [{}]}}", row.size)
    }

    fn finish(&mut self, _report: &Report) -> io::Result<()> {
        let out = &mut self.out;
        out.write_all(b"], \"functions\": [")?;
        for (i, (name, module)) in self.functions.iter().enumerate() {
            if i > 0 {
                out.write_all(b", ")?;
            }
            out.write_all(b"{\"name\": ")?;
            write_str(out, name)?;
            out.write_all(b", \"module\": ")?;
            write_str(out, module)?;
            out.write_all(b"}")?;
        }
        out.write_all(b"]}")?;
        out.flush()
    }
}
