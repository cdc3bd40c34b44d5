//! Parquet reports, for analysis across many captures with pandas, polars or DuckDB.
//!
//! One row per report row, in memray's row order, with the CSV report's columns (the same
//! strings) plus the stack as a list of frames and its leaf; the capture and the report are
//! described in the file's key-value metadata. The schema and the metadata keys are
//! documented in `docs/parquet-schema.md`; [`schema`] and [`metadata::metadata`]
//! are the definition.
//!
//! Rows are written in row groups of at most `row_group_size` rows, each built as one Arrow
//! record batch and written before the next is built, so memory stays bounded by a row
//! group whatever the size of the report.

use std::io::{self, Write};
use std::path::Path;

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::analysis::Report;
use crate::report::arrow_rows::{schema, RowBatch};
use crate::report::metadata::{self, CaptureIdentity};
use crate::report::{ReportRow, ReportWriter};

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
    pub(crate) fn parquet(self) -> Compression {
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
    /// The capture, as the metadata records it.
    pub capture: CaptureIdentity,
}

impl ParquetOptions {
    /// Options for the capture at `path`: its absolute path (when it can be resolved) and
    /// size, zstd and the default row-group size.
    pub fn for_capture(path: &Path) -> ParquetOptions {
        ParquetOptions {
            compression: Codec::default(),
            row_group_size: DEFAULT_ROW_GROUP_SIZE,
            capture: CaptureIdentity::of(path),
        }
    }
}

pub(crate) fn to_io(e: parquet::errors::ParquetError) -> io::Error {
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
    group: RowBatch,
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
            group: RowBatch::new(0),
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
        let kv = metadata::metadata(report, &self.options.capture)
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
        self.group = RowBatch::new(row_group_size.min(self.rows_left));
        Ok(())
    }

    fn row(&mut self, row: &ReportRow<'_>) -> io::Result<()> {
        self.group.push(row, &mut self.text)?;
        self.rows_left = self.rows_left.saturating_sub(1);

        let full = self.group.len() >= self.row_group_size();
        if full || self.group.text_bytes() >= self.max_text_bytes {
            let next = RowBatch::new(self.row_group_size().min(self.rows_left));
            let full = std::mem::replace(&mut self.group, next);
            let writer = self.writer()?;
            writer.write(&full.finish()).map_err(to_io)?;
            // Close the row group here, even when it was cut short by its text size.
            writer.flush().map_err(to_io)?;
        }
        Ok(())
    }

    fn finish(&mut self, _report: &Report) -> io::Result<()> {
        let group = std::mem::replace(&mut self.group, RowBatch::new(0));
        let mut writer = self
            .writer
            .take()
            .ok_or_else(|| io::Error::other("the Parquet writer was not begun"))?;
        // A report without rows is a file with the schema, the metadata and no row group.
        if !group.is_empty() {
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
    fn codec_names() {
        assert_eq!(Codec::from_name("ZSTD"), Some(Codec::Zstd));
        assert_eq!(Codec::from_name("none"), Some(Codec::None));
        assert_eq!(Codec::from_name("brotli"), None);
        for c in Codec::ALL {
            assert_eq!(Codec::from_name(c.name()), Some(c));
        }
    }

    #[test]
    fn long_stack_traces_close_row_groups_early() {
        use parquet::file::reader::{FileReader, SerializedFileReader};

        let (path, mut report) = crate::report::fixture_leaks_report("v1.20.0-py3.11-default.bin");
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
        crate::report::write_report(
            &mut report,
            &mut ParquetWriter::new(&mut out, options.clone()),
        )
        .unwrap();
        assert_eq!(read_groups(out), vec![rows as i64]);
    }
}
