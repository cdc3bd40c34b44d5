//! The tables of the events dataset as Arrow record batches: their schemas (documented in
//! `docs/events-dataset.md`; these functions are the definition) and the builders that fill
//! them.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, Int32Array, ListArray, RecordBatch, StructArray, TimestampMillisecondArray,
    UInt64Array,
};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::capture::Allocator;
use crate::events::lifetimes::HeapSample;
use crate::report::arrow_rows::{dictionary, dictionary_array, frame_fields, Interner};
use crate::report::stack_trace;
use crate::stacks::Location;

fn frames_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(
        DataType::Struct(frame_fields()),
        false,
    )))
}

/// `allocations.parquet`: one row per allocation (or piece of a mapping, see
/// [`crate::events::lifetimes`]).
pub fn allocations_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("seq", DataType::UInt64, false),
        Field::new("tid", DataType::UInt64, false),
        Field::new("allocator", dictionary(), false),
        Field::new("address", DataType::UInt64, false),
        Field::new("size", DataType::UInt64, false),
        Field::new("stack_id", DataType::UInt64, false),
        Field::new("native_stack_id", DataType::UInt64, false),
        Field::new("freed_at", DataType::UInt64, true),
        Field::new("split_from", DataType::UInt64, true),
    ]))
}

/// `stacks.parquet`: one row per distinct printed stack.
pub fn stacks_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("stack_id", DataType::UInt64, false),
        Field::new("frames", frames_type(), false),
        Field::new("stack_trace", DataType::Utf8, false),
        Field::new("depth", DataType::UInt64, false),
    ]))
}

/// `threads.parquet`: one row per thread.
pub fn threads_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("tid", DataType::UInt64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("is_main", DataType::Boolean, false),
    ]))
}

/// `memory.parquet`: one row per memory record.
pub fn memory_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("seq", DataType::UInt64, false),
        Field::new("rss", DataType::UInt64, false),
        Field::new("heap", DataType::UInt64, false),
    ]))
}

/// One row of `allocations.parquet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocationRow {
    pub seq: u64,
    pub tid: u64,
    pub allocator: Allocator,
    pub address: u64,
    pub size: u64,
    pub stack_id: u64,
    pub native_stack_id: u64,
    pub freed_at: Option<u64>,
    pub split_from: Option<u64>,
}

/// The allocator names, by memray's allocator id (the dictionary of every batch's
/// `allocator` column, whose keys are the ids).
fn allocator_names() -> Arc<arrow_array::StringArray> {
    Arc::new(
        (0..=u8::MAX)
            .map_while(|id| {
                (id == 0 || Allocator::from_id(id).is_some())
                    .then(|| Some(Allocator::from_id(id).map_or("", Allocator::name)))
            })
            .collect(),
    )
}

/// Rows of `allocations.parquet` being gathered into one record batch.
#[derive(Debug, Default)]
pub struct AllocationColumns {
    seq: Vec<u64>,
    tid: Vec<u64>,
    allocator: Vec<i32>,
    address: Vec<u64>,
    size: Vec<u64>,
    stack_id: Vec<u64>,
    native_stack_id: Vec<u64>,
    freed_at: Vec<u64>,
    freed: Vec<bool>,
    /// `split_from` where valid: pieces left by a partial munmap are rare, so the column
    /// is kept sparse while it is built.
    splits: Vec<(usize, u64)>,
}

impl AllocationColumns {
    pub fn with_capacity(rows: usize) -> AllocationColumns {
        AllocationColumns {
            seq: Vec::with_capacity(rows),
            tid: Vec::with_capacity(rows),
            allocator: Vec::with_capacity(rows),
            address: Vec::with_capacity(rows),
            size: Vec::with_capacity(rows),
            stack_id: Vec::with_capacity(rows),
            native_stack_id: Vec::with_capacity(rows),
            freed_at: Vec::with_capacity(rows),
            freed: Vec::with_capacity(rows),
            splits: Vec::new(),
        }
    }

    #[inline]
    pub fn push(&mut self, row: AllocationRow) {
        self.seq.push(row.seq);
        self.tid.push(row.tid);
        self.allocator.push(i32::from(row.allocator.id()));
        self.address.push(row.address);
        self.size.push(row.size);
        self.stack_id.push(row.stack_id);
        self.native_stack_id.push(row.native_stack_id);
        self.freed_at.push(row.freed_at.unwrap_or(0));
        self.freed.push(row.freed_at.is_some());
        if let Some(origin) = row.split_from {
            self.splits.push((self.seq.len() - 1, origin));
        }
    }

    pub fn len(&self) -> usize {
        self.seq.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seq.is_empty()
    }

    /// The rows as a batch of [`allocations_schema`]; the columns go on as `next` (empty:
    /// fresh, or [`recycle`]d).
    pub fn take_batch(&mut self, schema: &SchemaRef, next: AllocationColumns) -> RecordBatch {
        let taken = std::mem::replace(self, next);
        let rows = taken.seq.len();
        let freed_at = UInt64Array::new(taken.freed_at.into(), Some(taken.freed.into()));
        let split_from = if taken.splits.is_empty() {
            UInt64Array::new_null(rows)
        } else {
            let mut values = vec![None; rows];
            for (row, origin) in taken.splits {
                values[row] = Some(origin);
            }
            UInt64Array::from(values)
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt64Array::from(taken.seq)),
            Arc::new(UInt64Array::from(taken.tid)),
            dictionary_array(Int32Array::from(taken.allocator), &allocator_names()),
            Arc::new(UInt64Array::from(taken.address)),
            Arc::new(UInt64Array::from(taken.size)),
            Arc::new(UInt64Array::from(taken.stack_id)),
            Arc::new(UInt64Array::from(taken.native_stack_id)),
            Arc::new(freed_at),
            Arc::new(split_from),
        ];
        RecordBatch::try_new(schema.clone(), columns).expect("columns match the schema")
    }
}

/// Rows of the batches of `allocations.parquet` handed to the Parquet writer.
pub const BATCH_ROWS: usize = 1 << 14;

/// The columns of `batch`, a batch [`AllocationColumns::take_batch`] made, emptied for
/// reuse; `None` if someone else still holds one of them.
pub fn recycle(batch: RecordBatch) -> Option<AllocationColumns> {
    /// The values of `array` (the keys of a dictionary array) as the vector they were
    /// built from, emptied.
    fn take<T: arrow_buffer::ArrowNativeType>(array: ArrayRef) -> Option<Vec<T>> {
        let data = array.to_data();
        drop(array);
        let buffer = data.buffers().first()?.clone();
        drop(data);
        let mut values = buffer.into_vec::<T>().ok()?;
        values.clear();
        Some(values)
    }
    let mut columns = batch.columns().to_vec().into_iter();
    drop(batch);
    let mut next = || columns.next();
    Some(AllocationColumns {
        seq: take(next()?)?,
        tid: take(next()?)?,
        allocator: take(next()?)?,
        address: take(next()?)?,
        size: take(next()?)?,
        stack_id: take(next()?)?,
        native_stack_id: take(next()?)?,
        freed_at: take(next()?)?,
        freed: Vec::with_capacity(BATCH_ROWS),
        splits: Vec::new(),
    })
}

/// The batch of `stacks.parquet`: `stacks[i]` is stack id `i`'s frames.
pub fn stacks_batch(schema: &SchemaRef, stacks: &[Vec<Location>]) -> RecordBatch {
    let mut functions = Interner::default();
    let mut files = Interner::default();
    let (mut function, mut file, mut line) = (Vec::new(), Vec::new(), Vec::new());
    let mut offsets = vec![0i32];
    let mut traces = StringBuilder::new();
    let mut text = String::new();
    for frames in stacks {
        for loc in frames {
            function.push(functions.key(&loc.function));
            file.push(files.key(&loc.file));
            line.push(loc.line);
        }
        offsets.push(i32::try_from(function.len()).unwrap_or(i32::MAX));
        text.clear();
        stack_trace(frames, &mut text);
        traces.append_value(&text);
    }
    let frames = StructArray::new(
        frame_fields(),
        vec![
            dictionary_array(Int32Array::from(function), &functions.values()),
            dictionary_array(Int32Array::from(file), &files.values()),
            Arc::new(Int32Array::from(line)),
        ],
        None,
    );
    let frames = ListArray::new(
        Arc::new(Field::new_list_field(
            DataType::Struct(frame_fields()),
            false,
        )),
        OffsetBuffer::new(offsets.into()),
        Arc::new(frames),
        None,
    );
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(0..stacks.len() as u64)),
        Arc::new(frames),
        Arc::new(traces.finish()),
        Arc::new(UInt64Array::from_iter_values(
            stacks.iter().map(|s| s.len() as u64),
        )),
    ];
    RecordBatch::try_new(schema.clone(), columns).expect("columns match the schema")
}

/// The batch of `threads.parquet`: `(tid, name, is_main)` per thread.
pub fn threads_batch(schema: &SchemaRef, threads: &[(u64, Option<String>, bool)]) -> RecordBatch {
    let mut names = StringBuilder::new();
    let mut main = BooleanBuilder::new();
    for (_, name, is_main) in threads {
        names.append_option(name.as_deref());
        main.append_value(*is_main);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(threads.iter().map(|t| t.0))),
        Arc::new(names.finish()),
        Arc::new(main.finish()),
    ];
    RecordBatch::try_new(schema.clone(), columns).expect("columns match the schema")
}

/// The batch of `memory.parquet`.
pub fn memory_batch(schema: &SchemaRef, samples: &[HeapSample]) -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMillisecondArray::from_iter_values(samples.iter().map(|s| s.sample.time_ms))
                .with_timezone("UTC"),
        ),
        Arc::new(UInt64Array::from_iter_values(
            samples.iter().map(|s| s.sample.events_before),
        )),
        Arc::new(UInt64Array::from_iter_values(
            samples.iter().map(|s| s.sample.rss),
        )),
        Arc::new(UInt64Array::from_iter_values(
            samples.iter().map(|s| s.heap),
        )),
    ];
    RecordBatch::try_new(schema.clone(), columns).expect("columns match the schema")
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int32Type;
    use arrow_array::Array;

    #[test]
    fn allocation_rows_keep_their_values_and_nulls() {
        let schema = allocations_schema();
        let mut columns = AllocationColumns::with_capacity(2);
        let row = AllocationRow {
            seq: 3,
            tid: 1,
            allocator: Allocator::Mmap,
            address: 0x1000,
            size: 4096,
            stack_id: 7,
            native_stack_id: 0,
            freed_at: None,
            split_from: None,
        };
        columns.push(row);
        columns.push(AllocationRow {
            allocator: Allocator::PymallocMalloc,
            freed_at: Some(9),
            split_from: Some(2),
            ..row
        });
        let batch = columns.take_batch(&schema, AllocationColumns::default());
        assert!(columns.is_empty());
        assert_eq!(batch.num_rows(), 2);
        let address = batch.column(3).to_data().buffers()[0].as_ptr();
        let kept = batch.clone();
        let freed = batch
            .column(7)
            .as_primitive::<arrow_array::types::UInt64Type>();
        assert!(freed.is_null(0));
        assert_eq!(freed.value(1), 9);
        let split = batch
            .column(8)
            .as_primitive::<arrow_array::types::UInt64Type>();
        assert_eq!((split.is_null(0), split.value(1)), (true, 2));
        let allocator = batch.column(2).as_dictionary::<Int32Type>();
        let names = allocator.values().as_string::<i32>();
        let name = |i: usize| names.value(allocator.keys().value(i) as usize);
        assert_eq!((name(0), name(1)), ("MMAP", "PYMALLOC_MALLOC"));
        // Columns come back for reuse once nobody else holds them.
        assert!(recycle(kept).is_none());
        let again = recycle(batch).expect("sole owner");
        assert!(again.is_empty());
        assert_eq!(again.address.as_ptr() as *const u8, address);
    }

    #[test]
    fn stacks_print_as_the_csv_prints_them() {
        let loc = Location::new;
        let stacks = vec![vec![loc("f", "a.py", 3), loc("g", "b.py", 9)], vec![]];
        let batch = stacks_batch(&stacks_schema(), &stacks);
        let traces = batch.column(2).as_string::<i32>();
        assert_eq!(traces.value(0), "f;a.py;3|g;b.py;9");
        assert_eq!(traces.value(1), "");
        let frames = batch.column(1).as_list::<i32>();
        assert_eq!(frames.value_length(0), 2);
        assert_eq!(frames.value_length(1), 0);
    }
}
