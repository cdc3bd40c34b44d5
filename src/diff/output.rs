//! A diff's files: CSV (the default), Parquet, folded stacks with both captures' values
//! (inferno's differential input), and the differential flame graph drawn from them.
//!
//! - CSV and Parquet have the columns `stack_trace`, `base_size`, `new_size`, `delta_size`,
//!   `base_num_allocations`, `new_num_allocations`, `delta_num_allocations`, then
//!   `allocator` and `tid` under [`DiffKey::Row`], one line per diff row in its order.
//!   The deltas are signed (new minus base).
//! - Folded lines are `stack base new`, root first, the values bytes or allocations
//!   (`--folded-value`), one per distinct stack (a stack's threads and allocators summed).
//! - The flame graph is inferno's differential one: boxes as wide as the new capture's
//!   values, red where they grew, blue where they shrank.

use std::io::{self, Write};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::diff::{Diff, DiffKey};
use crate::flamegraph::{self, human_bytes, narrow_frames, thousands, MIN_WIDTH_PERCENT};
use crate::interner::FxIndexMap;
use crate::output_names::file_name;
use crate::report::csv::write_field;
use crate::report::parquet::{to_io, Codec};
use crate::report::FoldedValue;

/// Rows per record batch (and Parquet row group).
pub const BATCH_ROWS: usize = 65_536;

/// The output formats of `memform diff`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DiffFormat {
    #[default]
    Csv,
    Parquet,
    Folded,
    Flamegraph,
}

impl DiffFormat {
    pub const ALL: [DiffFormat; 4] = [
        DiffFormat::Csv,
        DiffFormat::Parquet,
        DiffFormat::Folded,
        DiffFormat::Flamegraph,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DiffFormat::Csv => "csv",
            DiffFormat::Parquet => "parquet",
            DiffFormat::Folded => "folded",
            DiffFormat::Flamegraph => "flamegraph",
        }
    }

    /// The format named `name` (case-insensitively).
    pub fn from_name(name: &str) -> Option<DiffFormat> {
        DiffFormat::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// The suffix of the default file name.
    pub fn suffix(self) -> &'static str {
        match self {
            DiffFormat::Csv => ".csv",
            DiffFormat::Parquet => ".parquet",
            DiffFormat::Folded => ".folded",
            DiffFormat::Flamegraph => ".svg",
        }
    }
}

/// How a diff is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// Folded stacks and the flame graph: what a stack's values count.
    pub value: FoldedValue,
    /// Parquet only.
    pub compression: Codec,
}

/// Writes `diff` in `format` into `out`.
pub fn write(
    diff: &Diff,
    format: DiffFormat,
    options: &WriteOptions,
    out: &mut (impl Write + Send),
) -> io::Result<()> {
    match format {
        DiffFormat::Csv => write_csv(diff, &mut io::BufWriter::with_capacity(1 << 20, out)),
        DiffFormat::Parquet => write_parquet(diff, options.compression, out),
        DiffFormat::Folded => {
            let mut out = io::BufWriter::with_capacity(1 << 20, out);
            for line in folded_lines(diff, options.value) {
                writeln!(out, "{line}")?;
            }
            out.flush()
        }
        DiffFormat::Flamegraph => {
            let mut out = io::BufWriter::with_capacity(1 << 20, out);
            write_flamegraph(diff, options.value, &mut out)?;
            out.flush()
        }
    }
}

/// A signed number clamped into an `i64` column.
fn clamp(value: i128) -> i64 {
    value.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

fn write_csv(diff: &Diff, out: &mut impl Write) -> io::Result<()> {
    out.write_all(
        b"stack_trace,base_size,new_size,delta_size,base_num_allocations,\
          new_num_allocations,delta_num_allocations",
    )?;
    if diff.by == DiffKey::Row {
        out.write_all(b",allocator,tid")?;
    }
    out.write_all(b"\r\n")?;
    let mut text = String::new();
    for row in &diff.rows {
        text.clear();
        diff.stack_trace(row, &mut text);
        write_field(out, text.as_bytes())?;
        write!(
            out,
            ",{},{},{},{},{},{}",
            row.base.size,
            row.new.size,
            row.delta_size(),
            row.base.allocations,
            row.new.allocations,
            row.delta_allocations()
        )?;
        if let (Some(allocator), Some(tid)) = (row.allocator, row.tid) {
            write!(out, ",{},{}", allocator.name(), tid as i64)?;
        }
        out.write_all(b"\r\n")?;
    }
    out.flush()
}

/// The Arrow schema of a diff keyed `by`.
pub fn schema(by: DiffKey) -> SchemaRef {
    let mut fields = vec![
        Field::new("stack_trace", DataType::Utf8, false),
        Field::new("base_size", DataType::UInt64, false),
        Field::new("new_size", DataType::UInt64, false),
        Field::new("delta_size", DataType::Int64, false),
        Field::new("base_num_allocations", DataType::UInt64, false),
        Field::new("new_num_allocations", DataType::UInt64, false),
        Field::new("delta_num_allocations", DataType::Int64, false),
    ];
    if by == DiffKey::Row {
        fields.push(Field::new("allocator", DataType::Utf8, false));
        fields.push(Field::new("tid", DataType::UInt64, false));
    }
    Arc::new(Schema::new(fields))
}

/// [`schema`] with [`metadata`] on it: what the Python API hands over.
pub fn schema_with_metadata(diff: &Diff) -> SchemaRef {
    let metadata: std::collections::HashMap<String, String> = metadata(diff).into_iter().collect();
    Arc::new(schema(diff.by).as_ref().clone().with_metadata(metadata))
}

/// The diff's rows as Arrow record batches of at most [`BATCH_ROWS`] rows, in order, with
/// the columns of [`schema`] (`schema` itself, or [`schema_with_metadata`]).
pub fn record_batches(
    diff: &Diff,
    schema: SchemaRef,
) -> impl Iterator<Item = Result<RecordBatch, ArrowError>> + '_ {
    diff.rows.chunks(BATCH_ROWS).map(move |rows| {
        let u64s = |f: &dyn Fn(&crate::diff::DiffRow) -> u64| -> ArrayRef {
            Arc::new(rows.iter().map(f).collect::<UInt64Array>())
        };
        let i64s = |f: &dyn Fn(&crate::diff::DiffRow) -> i128| -> ArrayRef {
            Arc::new(rows.iter().map(|r| clamp(f(r))).collect::<Int64Array>())
        };
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| {
                let mut text = String::new();
                diff.stack_trace(r, &mut text);
                text
            }))),
            u64s(&|r| r.base.size),
            u64s(&|r| r.new.size),
            i64s(&|r| r.delta_size()),
            u64s(&|r| r.base.allocations),
            u64s(&|r| r.new.allocations),
            i64s(&|r| r.delta_allocations()),
        ];
        if diff.by == DiffKey::Row {
            columns.push(Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.allocator.map_or("", |a| a.name())),
            )));
            columns.push(u64s(&|r| r.tid.unwrap_or(0)));
        }
        RecordBatch::try_new(schema.clone(), columns)
    })
}

/// The file's key-value metadata: both captures, the report, and their totals.
pub fn metadata(diff: &Diff) -> Vec<(String, String)> {
    let mut kv = vec![
        ("memform.diff.report".to_string(), diff.mode.to_string()),
        ("memform.diff.by".to_string(), diff.by.name().to_string()),
    ];
    for (name, side) in [("base", &diff.base), ("new", &diff.new)] {
        let key = |k: &str| format!("memform.diff.{name}.{k}");
        kv.push((key("capture"), side.capture.display().to_string()));
        if let Some(peak) = side.peak {
            kv.push((key("peak_bytes"), peak.to_string()));
        }
        kv.push((key("size"), side.size.to_string()));
        kv.push((key("num_allocations"), side.allocations.to_string()));
    }
    kv
}

fn write_parquet(diff: &Diff, compression: Codec, out: &mut (impl Write + Send)) -> io::Result<()> {
    let kv = metadata(diff)
        .into_iter()
        .map(|(k, v)| KeyValue::new(k, v))
        .collect();
    let properties = WriterProperties::builder()
        .set_compression(compression.parquet())
        .set_max_row_group_row_count(Some(BATCH_ROWS))
        .set_statistics_truncate_length(Some(64))
        .set_key_value_metadata(Some(kv))
        .build();
    let mut writer = ArrowWriter::try_new(out, schema(diff.by), Some(properties)).map_err(to_io)?;
    for batch in record_batches(diff, schema(diff.by)) {
        writer
            .write(&batch.map_err(io::Error::other)?)
            .map_err(to_io)?;
    }
    writer.close().map_err(to_io)?;
    Ok(())
}

/// Each distinct folded stack with its base and new values, in the order of the diff's
/// rows.
fn folded_values(diff: &Diff, value: FoldedValue) -> FxIndexMap<String, (u128, u128)> {
    let mut stacks: FxIndexMap<String, (u128, u128)> = FxIndexMap::default();
    let mut text = String::new();
    for row in &diff.rows {
        let (base, new) = match value {
            FoldedValue::Bytes => (row.base.size, row.new.size),
            FoldedValue::Count => (row.base.allocations, row.new.allocations),
        };
        text.clear();
        diff.folded(row, &mut text);
        let entry = match stacks.get_mut(text.as_str()) {
            Some(entry) => entry,
            None => stacks.entry(text.clone()).or_insert((0, 0)),
        };
        entry.0 += u128::from(base);
        entry.1 += u128::from(new);
    }
    stacks
}

/// The folded lines `stack base new` (inferno's differential input; its values are read
/// as machine words).
pub fn folded_lines(diff: &Diff, value: FoldedValue) -> Vec<String> {
    lines(&folded_values(diff, value))
}

fn lines(stacks: &FxIndexMap<String, (u128, u128)>) -> Vec<String> {
    let word = |v: u128| v.min(usize::MAX as u128);
    stacks
        .iter()
        .map(|(stack, &(base, new))| format!("{stack} {} {}", word(base), word(new)))
        .collect()
}

/// `+1.50 MiB`, `-512 B`, `0 B`.
pub fn signed_bytes(change: i128) -> String {
    let sign = match change.signum() {
        1 => "+",
        -1 => "-",
        _ => "",
    };
    format!("{sign}{}", human_bytes(change.unsigned_abs()))
}

/// `+12.50%`, or `new` when the base is empty.
pub fn signed_percent(percent: Option<f64>) -> String {
    match percent {
        Some(p) => format!("{p:+.2}%"),
        None => "new".to_string(),
    }
}

fn write_flamegraph(diff: &Diff, value: FoldedValue, out: &mut impl Write) -> io::Result<()> {
    let stacks = folded_values(diff, value);
    let new_total: u128 = stacks.values().map(|&(_, new)| new).sum();
    let narrow = narrow_frames(
        stacks
            .iter()
            .map(|(stack, &(_, new))| (stack.as_str(), new)),
        new_total,
        MIN_WIDTH_PERCENT,
    );
    let title = format!(
        "{}: {} → {}",
        flamegraph::report_description(diff.mode),
        file_name(&diff.base.capture),
        file_name(&diff.new.capture),
    );
    // One line under the title: the peaks and allocation counts are the summary line's.
    let mut parts = vec![format!(
        "this report {} → {} ({}, {})",
        human_bytes(diff.base.size),
        human_bytes(diff.new.size),
        signed_bytes(diff.size_change()),
        signed_percent(diff.size_change_percent()),
    )];
    parts.push(format!(
        "widths: new {}; red grew, blue shrank",
        match value {
            FoldedValue::Bytes => "bytes",
            FoldedValue::Count => "allocations",
        }
    ));
    if narrow > 0 {
        parts.push(format!(
            "{} frame{} under {MIN_WIDTH_PERCENT}% not drawn",
            thousands(narrow as u128),
            if narrow == 1 { "" } else { "s" }
        ));
    }
    let options = flamegraph::options(title, parts.join(" · "), value);
    flamegraph::render(out, &lines(&stacks), options, new_total == 0)
}
