//! Parquet reports, for analysis across many captures with pandas, polars or DuckDB.
//!
//! One row per report row, in memray's row order, with the CSV report's columns (the same
//! strings) plus the stack as a list of frames and its leaf; the capture and the report are
//! described in the file's key-value metadata. The schema and the metadata keys are
//! documented in `docs/parquet-schema.md`; [`schema`] and [`metadata`] are the definition.
//!
//! Rows are written in row groups of at most `row_group_size` rows, each built as one Arrow
//! record batch and written before the next is built, so memory stays bounded by a row
//! group whatever the size of the report.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{StringBuilder, StringDictionaryBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, DictionaryArray, Int32Array, ListArray, RecordBatch, StringArray, StructArray,
    UInt32Array, UInt64Array,
};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use rustc_hash::FxHashMap;

use crate::analysis::{Report, ReportMode};
use crate::capture::FileFormat;
use crate::report::{stack_trace, ReportRow, ReportWriter};

/// Version of the layout this module writes (`memform.schema_version`); raised when a
/// column or a metadata key changes meaning or goes away.
pub const SCHEMA_VERSION: &str = "1";

/// Rows per row group unless `--row-group-size` says otherwise.
pub const DEFAULT_ROW_GROUP_SIZE: usize = 65_536;

/// A row group is closed early once its `stack_trace` strings reach this many bytes, so
/// that 32-bit string offsets never overflow and memory stays bounded for deep stacks.
const MAX_TEXT_BYTES_PER_GROUP: usize = 256 << 20;

/// A compression codec of `--compression`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    #[default]
    Zstd,
    Snappy,
    Gzip,
    Lz4,
    None,
}

impl Codec {
    pub const ALL: [Codec; 5] = [
        Codec::Zstd,
        Codec::Snappy,
        Codec::Gzip,
        Codec::Lz4,
        Codec::None,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Codec::Zstd => "zstd",
            Codec::Snappy => "snappy",
            Codec::Gzip => "gzip",
            Codec::Lz4 => "lz4",
            Codec::None => "none",
        }
    }

    /// The codec named `name` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Codec> {
        let name = name.to_ascii_lowercase();
        Codec::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The Parquet codec: zstd at level 3 (zstd's own default), gzip at level 6, and LZ4 as
    /// the `LZ4_RAW` codec (the older Hadoop-framed `LZ4` is deprecated by the format).
    fn parquet(self) -> Compression {
        match self {
            Codec::Zstd => Compression::ZSTD(ZstdLevel::try_new(3).expect("valid level")),
            Codec::Snappy => Compression::SNAPPY,
            Codec::Gzip => Compression::GZIP(GzipLevel::try_new(6).expect("valid level")),
            Codec::Lz4 => Compression::LZ4_RAW,
            Codec::None => Compression::UNCOMPRESSED,
        }
    }
}

/// How to write a Parquet report, and the facts about the capture that go into its
/// metadata.
#[derive(Debug, Clone)]
pub struct ParquetOptions {
    pub compression: Codec,
    /// Rows per row group (at least 1).
    pub row_group_size: usize,
    /// The capture file, as recorded in `memform.capture.path`.
    pub capture_path: String,
    /// Its size in bytes.
    pub capture_size: u64,
}

impl ParquetOptions {
    /// Options for the capture at `path`: its absolute path (when it can be resolved) and
    /// size, zstd and the default row-group size.
    pub fn for_capture(path: &Path) -> ParquetOptions {
        let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        ParquetOptions {
            compression: Codec::default(),
            row_group_size: DEFAULT_ROW_GROUP_SIZE,
            capture_path: absolute.to_string_lossy().into_owned(),
            capture_size: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        }
    }
}

fn dictionary() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

fn frame_fields() -> Fields {
    Fields::from(vec![
        Field::new("function", dictionary(), false),
        Field::new("file", dictionary(), false),
        Field::new("line", DataType::Int32, false),
    ])
}

/// The Arrow schema of a Parquet report.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("allocator", dictionary(), false),
        Field::new("num_allocations", DataType::UInt64, false),
        Field::new("size", DataType::UInt64, false),
        Field::new("tid", DataType::UInt64, false),
        Field::new("thread_name", dictionary(), false),
        Field::new("stack_trace", DataType::Utf8, false),
        Field::new(
            "frames",
            DataType::List(Arc::new(Field::new_list_field(
                DataType::Struct(frame_fields()),
                false,
            ))),
            false,
        ),
        Field::new("leaf_function", dictionary(), true),
        Field::new("leaf_file", dictionary(), true),
        Field::new("leaf_line", DataType::Int32, true),
        Field::new("depth", DataType::UInt32, false),
    ]))
}

/// The memray releases that write captures with header version `version`.
pub fn memray_versions(version: i32) -> &'static str {
    match version {
        10 => "1.7-1.10",
        11 => "1.11-1.18",
        12 => "1.19",
        13 => "1.20",
        _ => "unknown",
    }
}

/// `PY_VERSION_HEX` as `major.minor.micro`; empty for 0 (header versions before 12 do not
/// record it).
pub fn python_version(hex: u32) -> String {
    if hex == 0 {
        return String::new();
    }
    format!("{}.{}.{}", hex >> 24, (hex >> 16) & 0xff, (hex >> 8) & 0xff)
}

/// memray's name of a `PythonAllocatorType` (`Metadata.python_allocator`).
pub fn python_allocator_name(id: u8) -> &'static str {
    match id {
        1 => "pymalloc",
        2 => "pymalloc debug",
        3 => "malloc",
        5 => "mimalloc",
        6 => "mimalloc debug",
        _ => "unknown",
    }
}

/// The file's key-value metadata, in the order it is written.
pub fn metadata(report: &Report, options: &ParquetOptions) -> Vec<(String, String)> {
    let h = &report.header;
    let report_mode = match report.mode {
        ReportMode::Peak => "peak".to_string(),
        ReportMode::Leaks => "leaks".to_string(),
        ReportMode::Temporary { threshold } => format!("temporary {threshold}"),
    };
    let (peak, peak_index) = match report.high_water_mark {
        Some(hwm) => (hwm.bytes.to_string(), hwm.index.to_string()),
        None => (String::new(), String::new()),
    };
    let file_format = match h.file_format {
        FileFormat::AllAllocations => "all_allocations",
        FileFormat::AggregatedAllocations => "aggregated_allocations",
    };
    let pairs: [(&str, String); 19] = [
        ("schema_version", SCHEMA_VERSION.to_string()),
        ("version", env!("CARGO_PKG_VERSION").to_string()),
        ("capture.path", options.capture_path.clone()),
        ("capture.size", options.capture_size.to_string()),
        ("capture.file_format", file_format.to_string()),
        ("header_version", h.version.to_string()),
        ("memray_versions", memray_versions(h.version).to_string()),
        ("python_version", python_version(h.python_version)),
        ("pid", h.pid.to_string()),
        ("command_line", h.command_line.clone()),
        ("start_time_ms", h.stats.start_time_ms.to_string()),
        ("end_time_ms", h.stats.end_time_ms.to_string()),
        ("native_traces", h.native_traces.to_string()),
        (
            "python_allocator",
            python_allocator_name(h.python_allocator).to_string(),
        ),
        (
            "trace_python_allocators",
            h.trace_python_allocators.to_string(),
        ),
        ("report", report_mode),
        ("peak_memory", peak),
        ("peak_memory_index", peak_index),
        ("total_allocations", report.total_allocations.to_string()),
    ];
    pairs
        .into_iter()
        .map(|(k, v)| (format!("memform.{k}"), v))
        .collect()
}

/// Strings of one dictionary column within one row group.
#[derive(Default)]
struct Interner {
    /// By the address of the shared string: the stack table hands out the same `Arc` for a
    /// frame every time, so this is usually all the lookup costs. The `Arc` is kept so that
    /// its address cannot be reused by another string while the entry exists.
    by_address: FxHashMap<usize, (Arc<str>, i32)>,
    by_text: FxHashMap<Arc<str>, i32>,
    values: Vec<Arc<str>>,
}

impl Interner {
    fn key(&mut self, s: &Arc<str>) -> i32 {
        let address = Arc::as_ptr(s) as *const u8 as usize;
        if let Some(&(_, k)) = self.by_address.get(&address) {
            return k;
        }
        let k = match self.by_text.get(s) {
            Some(&k) => k,
            None => {
                let k =
                    i32::try_from(self.values.len()).expect("fewer than 2^31 strings per group");
                self.by_text.insert(s.clone(), k);
                self.values.push(s.clone());
                k
            }
        };
        self.by_address.insert(address, (s.clone(), k));
        k
    }

    fn values(&self) -> Arc<StringArray> {
        Arc::new(self.values.iter().map(|s| Some(&**s)).collect())
    }
}

fn dictionary_array(keys: Int32Array, values: &Arc<StringArray>) -> ArrayRef {
    Arc::new(
        DictionaryArray::<Int32Type>::try_new(keys, values.clone() as ArrayRef)
            .expect("keys index the values"),
    )
}

/// The columns of one row group under construction.
struct Group {
    allocator: StringDictionaryBuilder<Int32Type>,
    num_allocations: Vec<u64>,
    size: Vec<u64>,
    tid: Vec<u64>,
    thread_name: StringDictionaryBuilder<Int32Type>,
    stack_trace: StringBuilder,
    text_bytes: usize,
    frame_offsets: Vec<i32>,
    functions: Interner,
    files: Interner,
    frame_function: Vec<i32>,
    frame_file: Vec<i32>,
    frame_line: Vec<i32>,
    leaf_function: Vec<Option<i32>>,
    leaf_file: Vec<Option<i32>>,
    leaf_line: Vec<Option<i32>>,
    depth: Vec<u32>,
}

impl Group {
    fn new(capacity: usize) -> Group {
        Group {
            allocator: StringDictionaryBuilder::new(),
            num_allocations: Vec::with_capacity(capacity),
            size: Vec::with_capacity(capacity),
            tid: Vec::with_capacity(capacity),
            thread_name: StringDictionaryBuilder::new(),
            stack_trace: StringBuilder::new(),
            text_bytes: 0,
            frame_offsets: vec![0],
            functions: Interner::default(),
            files: Interner::default(),
            frame_function: Vec::new(),
            frame_file: Vec::new(),
            frame_line: Vec::new(),
            leaf_function: Vec::with_capacity(capacity),
            leaf_file: Vec::with_capacity(capacity),
            leaf_line: Vec::with_capacity(capacity),
            depth: Vec::with_capacity(capacity),
        }
    }

    fn len(&self) -> usize {
        self.size.len()
    }

    fn finish(mut self) -> RecordBatch {
        let functions = self.functions.values();
        let files = self.files.values();
        let frames = StructArray::new(
            frame_fields(),
            vec![
                dictionary_array(Int32Array::from(self.frame_function), &functions),
                dictionary_array(Int32Array::from(self.frame_file), &files),
                Arc::new(Int32Array::from(self.frame_line)),
            ],
            None,
        );
        let frames = ListArray::new(
            Arc::new(Field::new_list_field(
                DataType::Struct(frame_fields()),
                false,
            )),
            OffsetBuffer::new(self.frame_offsets.into()),
            Arc::new(frames),
            None,
        );
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.allocator.finish()),
            Arc::new(UInt64Array::from(self.num_allocations)),
            Arc::new(UInt64Array::from(self.size)),
            Arc::new(UInt64Array::from(self.tid)),
            Arc::new(self.thread_name.finish()),
            Arc::new(self.stack_trace.finish()),
            Arc::new(frames),
            dictionary_array(Int32Array::from(self.leaf_function), &functions),
            dictionary_array(Int32Array::from(self.leaf_file), &files),
            Arc::new(Int32Array::from(self.leaf_line)),
            Arc::new(UInt32Array::from(self.depth)),
        ];
        RecordBatch::try_new(schema(), columns).expect("columns match the schema")
    }
}

fn to_io(e: parquet::errors::ParquetError) -> io::Error {
    match e {
        parquet::errors::ParquetError::External(e) => match e.downcast::<io::Error>() {
            Ok(e) => *e,
            Err(e) => io::Error::other(e),
        },
        e => io::Error::other(e),
    }
}

/// The Parquet writer: rows gathered into row groups of at most `row_group_size` rows,
/// each written as one record batch as soon as it is full.
pub struct ParquetWriter<W: Write + Send> {
    options: ParquetOptions,
    /// A row group is closed early once its stack traces reach this many bytes.
    max_text_bytes: usize,
    /// The output, until `begin` hands it to the Arrow writer.
    out: Option<W>,
    writer: Option<ArrowWriter<W>>,
    group: Group,
    /// Rows not yet handed over: the capacity of the next group.
    rows_left: usize,
    text: String,
}

impl<W: Write + Send> ParquetWriter<W> {
    pub fn new(out: W, options: ParquetOptions) -> Self {
        Self::with_max_text_bytes(out, options, MAX_TEXT_BYTES_PER_GROUP)
    }

    fn with_max_text_bytes(out: W, options: ParquetOptions, max_text_bytes: usize) -> Self {
        ParquetWriter {
            options,
            max_text_bytes,
            out: Some(out),
            writer: None,
            group: Group::new(0),
            rows_left: 0,
            text: String::new(),
        }
    }

    fn row_group_size(&self) -> usize {
        self.options.row_group_size.max(1)
    }

    fn writer(&mut self) -> io::Result<&mut ArrowWriter<W>> {
        self.writer
            .as_mut()
            .ok_or_else(|| io::Error::other("the Parquet writer was not begun"))
    }
}

impl<W: Write + Send> ReportWriter for ParquetWriter<W> {
    fn begin(&mut self, report: &Report) -> io::Result<()> {
        let row_group_size = self.row_group_size();
        let kv = metadata(report, &self.options)
            .into_iter()
            .map(|(k, v)| KeyValue::new(k, v))
            .collect();
        let properties = WriterProperties::builder()
            .set_compression(self.options.compression.parquet())
            .set_max_row_group_row_count(Some(row_group_size))
            .set_statistics_truncate_length(Some(64))
            // A row's stack trace is nearly always its own: a dictionary would not pay.
            .set_column_dictionary_enabled(ColumnPath::from("stack_trace"), false)
            .set_key_value_metadata(Some(kv))
            .build();
        let out = self
            .out
            .take()
            .ok_or_else(|| io::Error::other("the Parquet writer was begun twice"))?;
        self.writer = Some(ArrowWriter::try_new(out, schema(), Some(properties)).map_err(to_io)?);
        self.rows_left = report.rows.num_rows();
        self.group = Group::new(row_group_size.min(self.rows_left));
        Ok(())
    }

    fn row(&mut self, row: &ReportRow<'_>) -> io::Result<()> {
        let group = &mut self.group;
        group.allocator.append_value(row.allocator.name());
        group.num_allocations.push(row.num_allocations);
        group.size.push(row.size);
        group.tid.push(row.tid);
        group.thread_name.append_value(row.thread_name);

        self.text.clear();
        stack_trace(row.frames, &mut self.text);
        group.stack_trace.append_value(&self.text);
        group.text_bytes += self.text.len();
        for loc in row.frames {
            group
                .frame_function
                .push(group.functions.key(&loc.function));
            group.frame_file.push(group.files.key(&loc.file));
            group.frame_line.push(loc.line);
        }
        let end = i32::try_from(group.frame_function.len()).map_err(|_| {
            io::Error::other("more than 2^31 frames in one row group: lower --row-group-size")
        })?;
        group.frame_offsets.push(end);
        match row.frames.first() {
            Some(leaf) => {
                group
                    .leaf_function
                    .push(Some(group.functions.key(&leaf.function)));
                group.leaf_file.push(Some(group.files.key(&leaf.file)));
                group.leaf_line.push(Some(leaf.line));
            }
            None => {
                group.leaf_function.push(None);
                group.leaf_file.push(None);
                group.leaf_line.push(None);
            }
        }
        group.depth.push(row.frames.len() as u32);
        self.rows_left = self.rows_left.saturating_sub(1);

        let full = group.len() >= self.row_group_size();
        if full || self.group.text_bytes >= self.max_text_bytes {
            let next = Group::new(self.row_group_size().min(self.rows_left));
            let full = std::mem::replace(&mut self.group, next);
            let writer = self.writer()?;
            writer.write(&full.finish()).map_err(to_io)?;
            // Close the row group here, even when it was cut short by its text size.
            writer.flush().map_err(to_io)?;
        }
        Ok(())
    }

    fn finish(&mut self, _report: &Report) -> io::Result<()> {
        let group = std::mem::replace(&mut self.group, Group::new(0));
        let mut writer = self
            .writer
            .take()
            .ok_or_else(|| io::Error::other("the Parquet writer was not begun"))?;
        // A report without rows is a file with the schema, the metadata and no row group.
        if group.len() > 0 {
            writer.write(&group.finish()).map_err(to_io)?;
        }
        writer.close().map_err(to_io)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interner_keys_by_text() {
        let mut i = Interner::default();
        let a: Arc<str> = Arc::from("f");
        let b: Arc<str> = Arc::from("f");
        let c: Arc<str> = Arc::from("g");
        assert_eq!(i.key(&a), 0);
        assert_eq!(i.key(&b), 0);
        assert_eq!(i.key(&c), 1);
        assert_eq!(i.key(&a), 0);
        assert_eq!(i.values.len(), 2);
    }

    #[test]
    fn codec_names() {
        assert_eq!(Codec::from_name("ZSTD"), Some(Codec::Zstd));
        assert_eq!(Codec::from_name("none"), Some(Codec::None));
        assert_eq!(Codec::from_name("brotli"), None);
        for c in Codec::ALL {
            assert_eq!(Codec::from_name(c.name()), Some(c));
        }
    }

    #[test]
    fn versions_and_allocators() {
        assert_eq!(python_version(0x030b07f0), "3.11.7");
        assert_eq!(python_version(0x030d00c1), "3.13.0");
        assert_eq!(python_version(0), "");
        assert_eq!(memray_versions(13), "1.20");
        assert_eq!(memray_versions(12), "1.19");
        assert_eq!(memray_versions(11), "1.11-1.18");
        assert_eq!(memray_versions(10), "1.7-1.10");
        assert_eq!(memray_versions(9), "unknown");
        assert_eq!(python_allocator_name(1), "pymalloc");
        assert_eq!(python_allocator_name(4), "unknown");
    }

    #[test]
    fn schema_has_the_documented_columns() {
        let names: Vec<String> = schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(
            names,
            [
                "allocator",
                "num_allocations",
                "size",
                "tid",
                "thread_name",
                "stack_trace",
                "frames",
                "leaf_function",
                "leaf_file",
                "leaf_line",
                "depth"
            ]
        );
    }

    #[test]
    fn long_stack_traces_close_row_groups_early() {
        use crate::analysis::{compute, Options};
        use crate::capture::CaptureFile;
        use crate::progress::Silent;
        use parquet::file::reader::{FileReader, SerializedFileReader};

        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/captures/v1.20.0-py3.11-default.bin");
        let capture = CaptureFile::open(&path).unwrap();
        let mut report =
            compute(&capture, ReportMode::Leaks, Options::default(), &mut Silent).unwrap();
        let rows = report.rows.num_rows();
        assert!(rows > 10);
        let options = ParquetOptions::for_capture(&path);
        let read_groups = |bytes: Vec<u8>| {
            let mut file = tempfile::tempfile().unwrap();
            file.write_all(&bytes).unwrap();
            let reader = SerializedFileReader::new(file).unwrap();
            let groups: Vec<i64> = reader
                .metadata()
                .row_groups()
                .iter()
                .map(|g| g.num_rows())
                .collect();
            groups
        };
        // Every non-empty stack trace fills a group.
        let mut out = Vec::new();
        let mut writer = ParquetWriter::with_max_text_bytes(&mut out, options.clone(), 1);
        crate::report::write_report(&mut report, &mut writer).unwrap();
        drop(writer);
        let groups = read_groups(out);
        assert!(groups.len() > rows / 2, "{groups:?}");
        assert_eq!(groups.iter().sum::<i64>(), rows as i64);
        // The default: one group.
        let mut out = Vec::new();
        crate::report::Format::Parquet
            .write(&mut report, &mut out, &options)
            .unwrap();
        assert_eq!(read_groups(out), vec![rows as i64]);
    }

    #[test]
    fn groups_build_valid_batches() {
        let mut g = Group::new(2);
        let f: Arc<str> = Arc::from("f");
        let file: Arc<str> = Arc::from("a.py");
        g.allocator.append_value("MALLOC");
        g.num_allocations.push(1);
        g.size.push(8);
        g.tid.push(1);
        g.thread_name.append_value("0x1");
        g.stack_trace.append_value("f;a.py;3|f;a.py;4");
        for line in [3, 4] {
            g.frame_function.push(g.functions.key(&f));
            g.frame_file.push(g.files.key(&file));
            g.frame_line.push(line);
        }
        g.frame_offsets.push(2);
        g.leaf_function.push(Some(0));
        g.leaf_file.push(Some(0));
        g.leaf_line.push(Some(3));
        g.depth.push(2);
        // An empty stack.
        g.allocator.append_value("CALLOC");
        g.num_allocations.push(2);
        g.size.push(16);
        g.tid.push(1);
        g.thread_name.append_value("0x1");
        g.stack_trace.append_value("");
        g.frame_offsets.push(2);
        g.leaf_function.push(None);
        g.leaf_file.push(None);
        g.leaf_line.push(None);
        g.depth.push(0);
        let batch = g.finish();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.column(7).null_count(), 1);
        let frames = batch
            .column(6)
            .as_any()
            .downcast_ref::<ListArray>()
            .unwrap();
        assert_eq!(frames.value_length(0), 2);
        assert_eq!(frames.value_length(1), 0);
        // It writes and reads back.
        let mut buf = Vec::new();
        let mut w = ArrowWriter::try_new(&mut buf, schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        assert_eq!(&buf[..4], b"PAR1");
    }
}
