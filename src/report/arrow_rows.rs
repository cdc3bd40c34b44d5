//! A report's rows as Arrow record batches: the columns of `docs/parquet-schema.md` — the
//! CSV report's columns (the same strings), the stack as a list of frames, its leaf and its
//! depth. The Parquet writer writes these batches; the Python module hands them to Python
//! through the Arrow C data interface ([`BatchCollector`]).

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use arrow_array::builder::{StringBuilder, StringDictionaryBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, DictionaryArray, Int32Array, ListArray, RecordBatch, StringArray, StructArray,
    UInt32Array, UInt64Array,
};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use rustc_hash::FxHashMap;

use crate::analysis::Report;
use crate::interner::FxIndexSet;
use crate::report::metadata::{metadata, CaptureIdentity};
use crate::report::{stack_trace, ReportRow, ReportWriter};

/// Rows per batch of a [`BatchCollector`].
pub const DEFAULT_BATCH_ROWS: usize = 65_536;

pub(crate) fn dictionary() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

pub(crate) fn frame_fields() -> Fields {
    Fields::from(vec![
        Field::new("function", dictionary(), false),
        Field::new("file", dictionary(), false),
        Field::new("line", DataType::Int32, false),
    ])
}

/// The Arrow schema of a report's rows (without metadata).
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

/// Strings of one dictionary column within one batch.
#[derive(Default)]
pub(crate) struct Interner {
    /// By the address of the shared string: the stack table hands out the same `Arc` for a
    /// frame every time, so this is usually all the lookup costs. The `Arc` is kept so that
    /// its address cannot be reused by another string while the entry exists.
    by_address: FxHashMap<usize, (Arc<str>, i32)>,
    /// The strings; a string's key is its index.
    values: FxIndexSet<Arc<str>>,
}

impl Interner {
    pub(crate) fn key(&mut self, s: &Arc<str>) -> i32 {
        let address = Arc::as_ptr(s) as *const u8 as usize;
        if let Some(&(_, k)) = self.by_address.get(&address) {
            return k;
        }
        let (index, _) = self.values.insert_full(s.clone());
        let k = i32::try_from(index).expect("fewer than 2^31 strings per batch");
        self.by_address.insert(address, (s.clone(), k));
        k
    }

    pub(crate) fn values(&self) -> Arc<StringArray> {
        Arc::new(self.values.iter().map(|s| Some(&**s)).collect())
    }
}

pub(crate) fn dictionary_array(keys: Int32Array, values: &Arc<StringArray>) -> ArrayRef {
    Arc::new(
        DictionaryArray::<Int32Type>::try_new(keys, values.clone() as ArrayRef)
            .expect("keys index the values"),
    )
}

/// The columns of one record batch under construction.
pub struct RowBatch {
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

impl RowBatch {
    /// An empty batch with room for `capacity` rows.
    pub fn new(capacity: usize) -> RowBatch {
        RowBatch {
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

    /// Rows so far.
    pub fn len(&self) -> usize {
        self.size.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of `stack_trace` text so far.
    pub fn text_bytes(&self) -> usize {
        self.text_bytes
    }

    /// Appends `row`; `text` is scratch space for its stack trace.
    pub fn push(&mut self, row: &ReportRow<'_>, text: &mut String) -> io::Result<()> {
        self.allocator.append_value(row.allocator.name());
        self.num_allocations.push(row.num_allocations);
        self.size.push(row.size);
        self.tid.push(row.tid);
        self.thread_name.append_value(row.thread_name);

        text.clear();
        stack_trace(row.frames, text);
        self.stack_trace.append_value(&*text);
        self.text_bytes += text.len();
        for loc in row.frames {
            self.frame_function.push(self.functions.key(&loc.function));
            self.frame_file.push(self.files.key(&loc.file));
            self.frame_line.push(loc.line);
        }
        let end = i32::try_from(self.frame_function.len()).map_err(|_| {
            io::Error::other("more than 2^31 frames in one row group: lower --row-group-size")
        })?;
        self.frame_offsets.push(end);
        match row.frames.first() {
            Some(leaf) => {
                self.leaf_function
                    .push(Some(self.functions.key(&leaf.function)));
                self.leaf_file.push(Some(self.files.key(&leaf.file)));
                self.leaf_line.push(Some(leaf.line));
            }
            None => {
                self.leaf_function.push(None);
                self.leaf_file.push(None);
                self.leaf_line.push(None);
            }
        }
        self.depth.push(row.frames.len() as u32);
        Ok(())
    }

    /// The batch, in [`schema`].
    pub fn finish(mut self) -> RecordBatch {
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

/// A [`ReportWriter`] that keeps the rows as record batches of at most `batch_rows` rows,
/// with the report's metadata on their schema.
pub struct BatchCollector {
    capture: CaptureIdentity,
    batch_rows: usize,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    batch: RowBatch,
    text: String,
}

impl BatchCollector {
    pub fn new(capture: CaptureIdentity, batch_rows: usize) -> BatchCollector {
        BatchCollector {
            capture,
            batch_rows: batch_rows.max(1),
            schema: schema(),
            batches: Vec::new(),
            batch: RowBatch::new(0),
            text: String::new(),
        }
    }

    /// The schema (with the report's metadata) and the batches.
    pub fn into_batches(self) -> (SchemaRef, Vec<RecordBatch>) {
        (self.schema, self.batches)
    }

    fn close_batch(&mut self, capacity: usize) -> io::Result<()> {
        let batch = std::mem::replace(&mut self.batch, RowBatch::new(capacity)).finish();
        let batch = batch
            .with_schema(self.schema.clone())
            .map_err(io::Error::other)?;
        self.batches.push(batch);
        Ok(())
    }
}

impl ReportWriter for BatchCollector {
    fn begin(&mut self, report: &Report) -> io::Result<()> {
        let metadata: HashMap<String, String> =
            metadata(report, &self.capture).into_iter().collect();
        self.schema = Arc::new(schema().as_ref().clone().with_metadata(metadata));
        self.batch = RowBatch::new(self.batch_rows.min(report.rows.num_rows()));
        Ok(())
    }

    fn row(&mut self, row: &ReportRow<'_>) -> io::Result<()> {
        self.batch.push(row, &mut self.text)?;
        if self.batch.len() >= self.batch_rows {
            self.close_batch(self.batch_rows)?;
        }
        Ok(())
    }

    fn finish(&mut self, _report: &Report) -> io::Result<()> {
        if !self.batch.is_empty() {
            self.close_batch(0)?;
        }
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
    fn batches_are_valid() {
        let mut g = RowBatch::new(2);
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
    }

    #[test]
    fn collected_batches_hold_every_row_with_the_metadata() {
        let (path, mut report) = crate::report::fixture_leaks_report("v1.20.0-py3.11-default.bin");
        let rows = report.rows.num_rows();
        assert!(rows > 10);
        let mut collector = BatchCollector::new(CaptureIdentity::of(&path), 4);
        crate::report::write_report(&mut report, &mut collector).unwrap();
        let (schema, batches) = collector.into_batches();
        assert_eq!(batches.len(), rows.div_ceil(4));
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), rows);
        assert_eq!(schema.metadata()["memform.report"], "leaks");
        assert!(batches.iter().all(|b| b.schema() == schema));
    }
}
