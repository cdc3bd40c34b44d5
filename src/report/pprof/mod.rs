//! The pprof report (`memform transform pprof`): a gzip-compressed `profile.proto`, as
//! Google's pprof, Pyroscope, Grafana and Parca read it. memform's own format, not memray's.
//!
//! This module owns the mapping from report rows to the profile: one [`proto::Sample`] per
//! row, values `[bytes, allocations]` (sample types `space/bytes` and `objects/count`,
//! `space` the default), its frames leaf first as location ids, labels `thread` (the CSV's
//! `thread_name`) and `allocator`. Locations are interned by `(function, file, line)`, each
//! with one line; functions by `(name, file)`. The string table starts with `""`.
//!
//! Rows carry resolved frames only (function, file, line), not instruction pointers, so no
//! location has an address or a mapping; for `--native` captures the profile still lists
//! the images of the capture's memory maps as [`proto::Mapping`]s (start, limit, file name;
//! memray records neither file offsets nor build ids).
//!
//! Samples are encoded and compressed as the rows come, so memory holds only the interned
//! strings, functions and locations; everything else of the profile (a protobuf message's
//! fields may come in any order) follows at the end. The output is the same bytes on every
//! run: the gzip header has no time stamp and no file name, the level is fixed.
//! docs/pprof.md describes the profile for its readers.

pub mod proto;

use std::io::{self, Write};

use flate2::write::GzEncoder;
use flate2::{Compression, GzBuilder};
use prost::Message;
use rustc_hash::FxHashMap;

use crate::analysis::Report;
use crate::capture::ImageSegments;
use crate::interner::{FxIndexMap, FxIndexSet};
use crate::report::{ReportRow, ReportWriter};
use crate::stacks::Location;

/// The gzip level: fixed, so the output bytes are too.
const GZIP_LEVEL: u32 = 6;

/// The tag of `Profile.sample`.
const SAMPLE_TAG: u32 = 2;

/// The parts of a profile gathered while the rows come: the string table, functions,
/// locations, and each distinct stack's location ids.
#[derive(Default)]
struct Tables {
    strings: FxIndexSet<String>,
    /// `(name, filename)` string indices; a function's id is its index + 1.
    functions: FxIndexSet<(i64, i64)>,
    /// Frame → function id; a location's id is its index + 1.
    locations: FxIndexMap<Location, u64>,
    /// The location ids of each report stack seen, leaf first.
    stacks: FxHashMap<usize, Box<[u64]>>,
}

impl Tables {
    fn new() -> Tables {
        let mut t = Tables::default();
        t.string("");
        t
    }

    /// The string table index of `s`, added the first time.
    fn string(&mut self, s: &str) -> i64 {
        let index = match self.strings.get_index_of(s) {
            Some(i) => i,
            None => self.strings.insert_full(s.to_owned()).0,
        };
        index as i64
    }

    fn location(&mut self, frame: &Location) -> u64 {
        if let Some(i) = self.locations.get_index_of(frame) {
            return i as u64 + 1;
        }
        let name = self.string(&frame.function);
        let file = self.string(&frame.file);
        let function = self.functions.insert_full((name, file)).0 as u64 + 1;
        self.locations.insert_full(frame.clone(), function).0 as u64 + 1
    }

    /// The location ids of a row's stack, leaf first.
    fn stack(&mut self, row: &ReportRow<'_>) -> &[u64] {
        if !self.stacks.contains_key(&row.stack_index) {
            let ids: Box<[u64]> = row.frames.iter().map(|f| self.location(f)).collect();
            self.stacks.insert(row.stack_index, ids);
        }
        self.stacks
            .get(&row.stack_index)
            .map_or(&[], |ids| ids.as_ref())
    }
}

/// A `u64` as the format's `int64`, saturated.
fn int64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// One mapping per distinct image (file name and load address) of the capture's memory
/// maps, in order of first appearance: from the lowest segment start to the highest
/// segment end.
fn mappings(images: &[ImageSegments], tables: &mut Tables) -> Vec<proto::Mapping> {
    let mut seen: FxIndexMap<(&str, u64), (u64, u64)> = FxIndexMap::default();
    for image in images {
        let mut range: Option<(u64, u64)> = None;
        for &(vaddr, memsz) in &image.segments {
            let start = image.addr.saturating_add(vaddr);
            let end = start.saturating_add(memsz);
            range = Some(range.map_or((start, end), |(s, e)| (s.min(start), e.max(end))));
        }
        let (start, end) = range.unwrap_or((image.addr, image.addr));
        seen.entry((image.filename.as_str(), image.addr))
            .and_modify(|r| *r = (r.0.min(start), r.1.max(end)))
            .or_insert((start, end));
    }
    seen.into_iter()
        .enumerate()
        .map(|(i, ((filename, _), (start, limit)))| proto::Mapping {
            id: i as u64 + 1,
            memory_start: start,
            memory_limit: limit,
            file_offset: 0,
            filename: tables.string(filename),
            build_id: 0,
            // The frames are symbolized already: readers have nothing to look up.
            has_functions: true,
            has_filenames: true,
            has_line_numbers: true,
            has_inline_frames: true,
        })
        .collect()
}

/// Everything of the profile but its samples, with the tables gathered from the rows.
fn profile_without_samples(report: &Report, mut tables: Tables) -> proto::Profile {
    let value_type = |tables: &mut Tables, t: &str, unit: &str| proto::ValueType {
        r#type: tables.string(t),
        unit: tables.string(unit),
    };
    let space = value_type(&mut tables, "space", "bytes");
    let objects = value_type(&mut tables, "objects", "count");
    let default_sample_type = space.r#type;
    let mapping = match &report.native {
        Some(native) => mappings(native.images(), &mut tables),
        None => Vec::new(),
    };
    let comment = vec![
        tables.string(concat!("memform ", env!("CARGO_PKG_VERSION"))),
        tables.string(&format!("memray {} report", report.mode)),
        tables.string(&format!("command: {}", report.header.command_line)),
    ];
    let stats = report.header.stats;
    let nanos = |ms: i64| ms.saturating_mul(1_000_000);
    let duration_ms = stats.end_time_ms.saturating_sub(stats.start_time_ms);
    let function = tables
        .functions
        .iter()
        .enumerate()
        .map(|(i, &(name, filename))| proto::Function {
            id: i as u64 + 1,
            name,
            // Empty: pprof then shows `name` as stored. Equal to `name`, pprof would take it
            // for a linker symbol and cut what looks like C++ template arguments, emptying
            // Python's `<module>`, `<listcomp>` and `<lambda>`.
            system_name: 0,
            filename,
            start_line: 0,
        })
        .collect();
    let location = tables
        .locations
        .iter()
        .enumerate()
        .map(|(i, (frame, &function_id))| proto::Location {
            id: i as u64 + 1,
            mapping_id: 0,
            address: 0,
            line: vec![proto::Line {
                function_id,
                line: i64::from(frame.line),
                column: 0,
            }],
            is_folded: false,
        })
        .collect();
    proto::Profile {
        sample_type: vec![space.clone(), objects],
        sample: Vec::new(),
        mapping,
        location,
        function,
        string_table: tables.strings.into_iter().collect(),
        drop_frames: 0,
        keep_frames: 0,
        time_nanos: nanos(stats.start_time_ms).max(0),
        duration_nanos: if duration_ms > 0 {
            nanos(duration_ms)
        } else {
            0
        },
        period_type: Some(space),
        period: 1,
        comment,
        default_sample_type,
        doc_url: 0,
    }
}

fn already_finished() -> io::Error {
    io::Error::other("the pprof report is already finished")
}

/// The pprof writer: each row's sample compressed as it comes, the tables at the end.
pub struct PprofWriter<W: Write> {
    out: Option<GzEncoder<io::BufWriter<W>>>,
    tables: Tables,
    sample: proto::Sample,
    buffer: Vec<u8>,
    /// String-table indices of the label keys `thread` and `allocator`.
    keys: (i64, i64),
}

impl<W: Write> PprofWriter<W> {
    pub fn new(out: W) -> Self {
        let out = GzBuilder::new().mtime(0).write(
            io::BufWriter::with_capacity(1 << 20, out),
            Compression::new(GZIP_LEVEL),
        );
        let mut tables = Tables::new();
        let keys = (tables.string("thread"), tables.string("allocator"));
        PprofWriter {
            out: Some(out),
            tables,
            sample: proto::Sample::default(),
            buffer: Vec::new(),
            keys,
        }
    }
}

impl<W: Write> ReportWriter for PprofWriter<W> {
    fn begin(&mut self, _report: &Report) -> io::Result<()> {
        Ok(())
    }

    fn row(&mut self, row: &ReportRow<'_>) -> io::Result<()> {
        let thread = self.tables.string(row.thread_name);
        let allocator = self.tables.string(row.allocator.name());
        let mut sample = std::mem::take(&mut self.sample);
        sample.location_id.clear();
        sample.location_id.extend_from_slice(self.tables.stack(row));
        sample.value.clear();
        sample
            .value
            .extend([int64(row.size), int64(row.num_allocations)]);
        sample.label.clear();
        for (key, str) in [(self.keys.0, thread), (self.keys.1, allocator)] {
            sample.label.push(proto::Label {
                key,
                str,
                num: 0,
                num_unit: 0,
            });
        }
        self.buffer.clear();
        prost::encoding::message::encode(SAMPLE_TAG, &sample, &mut self.buffer);
        self.sample = sample;
        let out = self.out.as_mut().ok_or_else(already_finished)?;
        out.write_all(&self.buffer)
    }

    fn finish(&mut self, report: &Report) -> io::Result<()> {
        let tables = std::mem::take(&mut self.tables);
        let rest = profile_without_samples(report, tables).encode_to_vec();
        let mut out = self.out.take().ok_or_else(already_finished)?;
        out.write_all(&rest)?;
        out.finish()?.flush()
    }
}

#[cfg(test)]
mod tests;
