//! CSV exactly as memray's `render_as_csv` writes it through Python's `csv.writer`.

use std::io::{self, Write};

use crate::analysis::Report;
use crate::report::{stack_trace, ReportRow, ReportWriter};

const HEADER: &[u8] = b"allocator,num_allocations,size,tid,thread_name,stack_trace\r\n";

/// Writes one field with `csv.QUOTE_MINIMAL` rules: quoted (inner quotes doubled) when it
/// holds a comma, a double quote, `\r` or `\n`.
pub fn write_field(out: &mut impl Write, field: &[u8]) -> io::Result<()> {
    if !field
        .iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
    {
        return out.write_all(field);
    }
    out.write_all(b"\"")?;
    let mut start = 0;
    for (i, &b) in field.iter().enumerate() {
        if b == b'"' {
            out.write_all(&field[start..=i])?;
            out.write_all(b"\"")?;
            start = i + 1;
        }
    }
    out.write_all(&field[start..])?;
    out.write_all(b"\"")
}

/// The CSV writer: the header line, then one line per row.
pub struct CsvWriter<W: Write> {
    out: io::BufWriter<W>,
    stack_text: String,
}

impl<W: Write> CsvWriter<W> {
    pub fn new(out: W) -> Self {
        CsvWriter {
            out: io::BufWriter::with_capacity(1 << 20, out),
            stack_text: String::new(),
        }
    }
}

impl<W: Write> ReportWriter for CsvWriter<W> {
    fn begin(&mut self, _report: &Report) -> io::Result<()> {
        self.out.write_all(HEADER)
    }

    fn row(&mut self, row: &ReportRow<'_>) -> io::Result<()> {
        let out = &mut self.out;
        write!(
            out,
            "{},{},{},{},",
            row.allocator.name(),
            row.num_allocations,
            row.size,
            row.tid as i64
        )?;
        write_field(out, row.thread_name.as_bytes())?;
        out.write_all(b",")?;
        self.stack_text.clear();
        stack_trace(row.frames, &mut self.stack_text);
        write_field(out, self.stack_text.as_bytes())?;
        out.write_all(b"\r\n")
    }

    fn finish(&mut self, _report: &Report) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> String {
        let mut v = Vec::new();
        write_field(&mut v, s.as_bytes()).unwrap();
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn quotes_only_where_python_does() {
        assert_eq!(f("a;b;1|c;d;2"), "a;b;1|c;d;2");
        assert_eq!(f("x;comma,separated.py;3"), "\"x;comma,separated.py;3\"");
        assert_eq!(f("x;quote\"d.py;3"), "\"x;quote\"\"d.py;3\"");
        assert_eq!(f("a\nb"), "\"a\nb\"");
        assert_eq!(f(""), "");
    }
}
