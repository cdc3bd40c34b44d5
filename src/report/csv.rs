//! CSV exactly as memray's `render_as_csv` writes it through Python's `csv.writer`.

use std::io::{self, Write};

use crate::analysis::reduction::Rows;
use crate::analysis::Report;
use crate::report::{thread_label, RowStacks};

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

/// Writes the report.
pub fn write(report: &mut Report, out: &mut dyn Write) -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(1 << 20, out);
    out.write_all(HEADER)?;
    let batch = report.rows.clone();
    let rows = Rows::new(&batch);
    let mut stacks = RowStacks::new(report);
    let mut stack_text = Vec::new();
    let mut num = itoa_buffer();
    for row in 0..rows.len() {
        let tid = rows.tid[row];
        out.write_all(rows.allocator(row).name().as_bytes())?;
        out.write_all(b",")?;
        out.write_all(num.format(rows.num_allocations[row]).as_bytes())?;
        out.write_all(b",")?;
        out.write_all(num.format(rows.size[row]).as_bytes())?;
        out.write_all(b",")?;
        write!(out, "{}", tid as i64)?;
        out.write_all(b",")?;
        write_field(&mut out, thread_label(report, tid).as_bytes())?;
        out.write_all(b",")?;
        stack_text.clear();
        for (i, loc) in stacks.frames(report, &rows, row).iter().enumerate() {
            if i > 0 {
                stack_text.push(b'|');
            }
            stack_text.extend_from_slice(loc.function.as_bytes());
            stack_text.push(b';');
            stack_text.extend_from_slice(loc.file.as_bytes());
            stack_text.push(b';');
            stack_text.extend_from_slice(num.format_i32(loc.line).as_bytes());
        }
        write_field(&mut out, &stack_text)?;
        out.write_all(b"\r\n")?;
    }
    out.flush()
}

/// A small integer formatter that reuses its buffer.
struct Num(String);

fn itoa_buffer() -> Num {
    Num(String::with_capacity(24))
}

impl Num {
    fn format(&mut self, v: u64) -> &str {
        use std::fmt::Write as _;
        self.0.clear();
        let _ = write!(self.0, "{v}");
        &self.0
    }

    fn format_i32(&mut self, v: i32) -> &str {
        use std::fmt::Write as _;
        self.0.clear();
        let _ = write!(self.0, "{v}");
        &self.0
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
