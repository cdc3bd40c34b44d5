//! memray's statistics as memray prints them: the text report (`_render_to_terminal`) and
//! the JSON document (`_render_to_json`), each as the memray that wrote the capture's header
//! version prints it (the newest memray of each header version: 1.10, 1.18, 1.19, 1.20;
//! `docs/stats.md` lists what differs).

use std::fmt::Write as _;

use crate::report::metadata::python_allocator_name;
use crate::stats::histogram;
use crate::stats::modules::ModuleTotals;
use crate::stats::{Stats, Style};

impl Style {
    /// memray's `size_fmt` of the version: 1024 and `K` up to 1.17, 1000 and `k` after.
    pub fn size_fmt(self, bytes: u64) -> String {
        let (base, units) = if self.decimal_sizes {
            (1000.0, ["", "k", "M", "G", "T", "P", "E", "Z"])
        } else {
            (1024.0, ["", "K", "M", "G", "T", "P", "E", "Z"])
        };
        // The first comparison is of the integer, then each step divides the float.
        let mut num = bytes as f64;
        for unit in units {
            if num.abs() < base {
                return format!("{num:5.3}{unit}B");
            }
            num /= base;
        }
        format!("{num:.1}YB")
    }
}

/// The location as memray prints it: `function:file:line`, or memray's words for an
/// allocation without a Python stack.
fn location_text(location: &Option<(String, String, i64)>) -> String {
    match location {
        Some((function, file, line)) if function != "<unknown>" => {
            format!("{function}:{file}:{line}")
        }
        _ => "<stack trace unavailable>".to_string(),
    }
}

/// The text report, as memray prints it to a standard output that is not a terminal (the
/// progress bar's blank line first). Where memray fails with a traceback (sizes from which
/// it cannot draw the histogram, [`histogram::bins`]), `Err` with the lines it printed
/// before failing.
pub fn text(stats: &Stats) -> Result<String, String> {
    let style = stats.style;
    let fmt = |b| style.size_fmt(b);
    let mut out = String::from("\n");
    let _ = writeln!(out, "📏 Total allocations:\n\t{}\n", stats.totals.count);
    let _ = writeln!(
        out,
        "📦 Total memory allocated:\n\t{}\n",
        fmt(stats.totals.bytes)
    );
    if style.peak_line {
        let _ = writeln!(out, "📈 Peak memory usage:\n\t{}\n", fmt(stats.peak_bytes));
    }
    out.push_str("📊 Histogram of allocation size:\n");
    let Some(histogram) = histogram::draw(&stats.sizes, fmt) else {
        return Err(out);
    };
    let _ = writeln!(out, "\t{histogram}\n");
    out.push_str("📂 Allocator type distribution:\n");
    for (name, count) in &stats.allocators {
        let _ = writeln!(out, "\t {name}: {count}");
    }
    let n = stats.num_largest;
    let _ = writeln!(out, "\n🥇 Top {n} largest allocating locations (by size):");
    for (location, bytes) in &stats.top_by_size {
        let _ = writeln!(out, "\t- {} -> {}", location_text(location), fmt(*bytes));
    }
    let _ = writeln!(
        out,
        "\n🥇 Top {n} largest allocating locations (by number of allocations):"
    );
    for (location, count) in &stats.top_by_count {
        let _ = writeln!(out, "\t- {} -> {count}", location_text(location));
    }
    for (modules, label) in [
        (&stats.modules_by_size, "by size"),
        (&stats.modules_by_count, "by number of allocations"),
    ] {
        if modules.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n🥇 Top {n} allocating modules ({label}):");
        for m in modules {
            let _ = writeln!(
                out,
                "\t- {}: {} total | {} allocations",
                m.module,
                fmt(m.totals.bytes),
                m.totals.count
            );
        }
    }
    Ok(out)
}

/// The JSON document memray writes with `--json` (no newline at its end). `None` where
/// memray fails: no allocations, or sizes it cannot bin ([`histogram::bins`]).
pub fn json(stats: &Stats) -> Option<String> {
    let bins = histogram::bins(&stats.sizes)?;
    let mut j = PyJson::default();
    j.open('{');
    j.key("total_num_allocations");
    j.raw(&stats.totals.count.to_string());
    j.key("total_bytes_allocated");
    j.raw(&stats.totals.bytes.to_string());
    j.key("allocation_size_histogram");
    j.open('[');
    for (min, max, count) in histogram::ranges(&bins) {
        j.item();
        j.open('{');
        j.key("min_bytes");
        j.raw(&min.to_string());
        j.key("max_bytes");
        j.raw(&max.to_string());
        j.key("count");
        j.raw(&count.to_string());
        j.close('}');
    }
    j.close(']');
    j.key("allocator_type_distribution");
    j.open('{');
    for (name, count) in &stats.allocators {
        j.key(name);
        j.raw(&count.to_string());
    }
    j.close('}');
    for (key, list, field) in [
        ("top_allocations_by_size", &stats.top_by_size, "size"),
        ("top_allocations_by_count", &stats.top_by_count, "count"),
    ] {
        j.key(key);
        j.open('[');
        for (location, value) in list {
            j.item();
            j.open('{');
            j.key("location");
            j.string(&location_text(location));
            j.key(field);
            j.raw(&value.to_string());
            j.close('}');
        }
        j.close(']');
    }
    if stats.style.modules {
        for (key, list) in [
            ("top_modules_by_allocation_size", &stats.modules_by_size),
            ("top_modules_by_allocation_count", &stats.modules_by_count),
        ] {
            j.key(key);
            j.open('[');
            for m in list {
                module_json(&mut j, m);
            }
            j.close(']');
        }
    }
    j.key("metadata");
    metadata_json(&mut j, stats);
    j.close('}');
    Some(j.out)
}

fn module_json(j: &mut PyJson, m: &ModuleTotals) {
    j.item();
    j.open('{');
    j.key("module");
    j.string(&m.module);
    j.key("num_allocations");
    j.raw(&m.totals.count.to_string());
    j.key("total_bytes");
    j.raw(&m.totals.bytes.to_string());
    j.close('}');
}

/// `asdict(Metadata)` of the version, datetimes as `str()` gives them.
fn metadata_json(j: &mut PyJson, stats: &Stats) {
    let h = &stats.header;
    let style = stats.style;
    j.open('{');
    j.key("start_time");
    j.string(&python_datetime(h.stats.start_time_ms, style.aware_times));
    j.key("end_time");
    j.string(&python_datetime(h.stats.end_time_ms, style.aware_times));
    j.key("total_allocations");
    j.raw(&stats.records.to_string());
    j.key("total_frames");
    j.raw(&h.stats.n_frames.to_string());
    j.key("peak_memory");
    j.raw(&stats.peak_bytes.to_string());
    j.key("command_line");
    j.string(&h.command_line);
    j.key("pid");
    j.raw(&h.pid.to_string());
    if style.main_thread_id {
        j.key("main_thread_id");
        j.raw(&h.main_tid.to_string());
    }
    j.key("python_allocator");
    j.string(python_allocator_name(h.python_allocator));
    j.key("has_native_traces");
    j.raw(if h.native_traces { "true" } else { "false" });
    if style.trace_python_allocators {
        j.key("trace_python_allocators");
        j.raw(if h.trace_python_allocators {
            "true"
        } else {
            "false"
        });
    }
    if style.main_thread_id {
        j.key("file_format");
        j.raw(&(h.file_format as u8).to_string());
    }
    j.close('}');
}

/// `str(datetime)` of memray's `millis_to_dt`: local time, microseconds only when there
/// are some, and the UTC offset when the datetime is aware (memray 1.13 and later).
fn python_datetime(millis: i64, aware: bool) -> String {
    let seconds = millis.div_euclid(1000);
    let micros = millis.rem_euclid(1000) * 1000;
    let t = seconds as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, which lives through the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return String::new();
    }
    let mut s = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    );
    if micros != 0 {
        let _ = write!(s, ".{micros:06}");
    }
    if aware {
        let offset = tm.tm_gmtoff;
        let sign = if offset < 0 { '-' } else { '+' };
        let offset = offset.abs();
        let _ = write!(s, "{sign}{:02}:{:02}", offset / 3600, offset % 3600 / 60);
        if offset % 60 != 0 {
            let _ = write!(s, ":{:02}", offset % 60);
        }
    }
    s
}

/// A writer of what Python's `json.dump(data, f, indent=2)` writes: two spaces a level,
/// `", "` items on lines of their own, every character past ASCII escaped.
#[derive(Default)]
struct PyJson {
    out: String,
    depth: usize,
    /// Whether the container being written has an item yet.
    has_items: Vec<bool>,
}

impl PyJson {
    fn newline(&mut self) {
        self.out.push('\n');
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn open(&mut self, c: char) {
        self.out.push(c);
        self.depth += 1;
        self.has_items.push(false);
    }

    fn close(&mut self, c: char) {
        self.depth -= 1;
        if self.has_items.pop() == Some(true) {
            self.newline();
        }
        self.out.push(c);
    }

    /// Starts an item of the container: a separator and a new line.
    fn item(&mut self) {
        if let Some(has) = self.has_items.last_mut() {
            if *has {
                self.out.push(',');
            }
            *has = true;
        }
        self.newline();
    }

    fn key(&mut self, key: &str) {
        self.item();
        self.string(key);
        self.out.push_str(": ");
    }

    fn raw(&mut self, value: &str) {
        self.out.push_str(value);
    }

    fn string(&mut self, s: &str) {
        self.out.push('"');
        for c in s.chars() {
            match c {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                '\r' => self.out.push_str("\\r"),
                '\t' => self.out.push_str("\\t"),
                '\u{8}' => self.out.push_str("\\b"),
                '\u{c}' => self.out.push_str("\\f"),
                c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        let _ = write!(self.out, "\\u{unit:04x}");
                    }
                }
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_each_memray_formats_them() {
        let new = Style::for_header(13);
        let old = Style::for_header(10);
        assert_eq!(new.size_fmt(1234), "1.234kB");
        assert_eq!(old.size_fmt(1234), "1.205KB");
        assert_eq!(new.size_fmt(0), "0.000B");
        assert_eq!(new.size_fmt(999_999_600), "1000.000MB");
        assert_eq!(old.size_fmt(1_048_575), "1023.999KB");
    }

    #[test]
    fn json_is_pythons_indent_2() {
        let mut j = PyJson::default();
        j.open('{');
        j.key("a");
        j.raw("1");
        j.key("list");
        j.open('[');
        j.close(']');
        j.key("é\"");
        j.open('[');
        j.item();
        j.string("x🦀");
        j.close(']');
        j.close('}');
        assert_eq!(
            j.out,
            "{\n  \"a\": 1,\n  \"list\": [],\n  \"\\u00e9\\\"\": [\n    \"x\\ud83e\\udd80\"\n  ]\n}"
        );
    }
}
