//! gprof2dot JSON exactly as memray's `render_as_gprof2dot` writes it with `json.dump`.

use std::io::{self, Write};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::analysis::reduction::Rows;
use crate::analysis::Report;
use crate::report::json::write_str;
use crate::report::RowStacks;

/// Writes the report: one event per row with a non-empty stack, functions interned by
/// `(function, file)` in order of first use.
pub fn write(report: &mut Report, out: &mut dyn Write) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 20, out);
    let batch = report.rows.clone();
    let rows = Rows::new(&batch);
    let mut stacks = RowStacks::new(report);
    let mut functions: Vec<(Arc<str>, Arc<str>)> = Vec::new();
    let mut index: FxHashMap<(Arc<str>, Arc<str>), usize> = FxHashMap::default();
    out.write_all(
        b"{\"version\": 0, \"costs\": [{\"description\": \"Memory\", \"unit\": \"bytes\"}], \"events\": [",
    )?;
    let mut first_event = true;
    for row in 0..rows.len() {
        let frames = stacks.frames(report, &rows, row);
        if frames.is_empty() {
            continue;
        }
        if !first_event {
            out.write_all(b", ")?;
        }
        first_event = false;
        out.write_all(b"{\"callchain\": [")?;
        for (i, loc) in frames.iter().enumerate() {
            let key = (loc.function.clone(), loc.file.clone());
            let next = functions.len();
            let id = *index.entry(key.clone()).or_insert(next);
            if id == next {
                functions.push(key);
            }
            if i > 0 {
                out.write_all(b", ")?;
            }
            write!(out, "{id}")?;
        }
        write!(out, "], \"cost\": [{}]}}", rows.size[row])?;
    }
    out.write_all(b"], \"functions\": [")?;
    for (i, (name, module)) in functions.iter().enumerate() {
        if i > 0 {
            out.write_all(b", ")?;
        }
        out.write_all(b"{\"name\": ")?;
        write_str(&mut out, name)?;
        out.write_all(b", \"module\": ")?;
        write_str(&mut out, module)?;
        out.write_all(b"}")?;
    }
    out.write_all(b"]}")?;
    out.flush()
}
