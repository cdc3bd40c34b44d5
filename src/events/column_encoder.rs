//! A Parquet file written column by column, the columns of each batch encoded in parallel.
//!
//! Encoding and compressing the allocations table is most of the work of the events dataset
//! (docs/performance.md, "The whole-capture formats"); the parquet crate's [`ArrowWriter`]
//! encodes a batch's columns one after the other on one thread. This writer takes the same
//! column writers apart ([`ArrowWriter::into_serialized_writer`]) and gives each batch's
//! columns to a thread pool, one task per column, then closes each row group's columns in
//! parallel too and appends their chunks in schema order (on one thread, the columns one after
//! the other, as [`ArrowWriter`] does). Row groups hold the same rows as
//! the [`ArrowWriter`] made from the same properties would put in them, and each column goes
//! through the same encoder, so the file is the same, byte for byte (tested below).

use std::fs::File;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::arrow::ArrowWriter;
use parquet::errors::Result;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;

/// A Parquet file being written one row group at a time, its columns in parallel.
pub struct ColumnEncoder {
    file: SerializedFileWriter<File>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// The current row group's column writers, one per leaf column.
    writers: Vec<ArrowColumnWriter>,
    /// Row groups finished.
    row_groups: usize,
    rows_in_group: usize,
    row_group_rows: usize,
    /// `None` for one thread: the columns are then encoded on the caller's, with no hand-over
    /// per batch.
    pool: Option<rayon::ThreadPool>,
}

impl ColumnEncoder {
    /// Starts a file of `schema` in `file`, with row groups of `properties`' maximum rows
    /// (all rows in one without it), encoding on `threads` threads.
    pub fn new(
        file: File,
        schema: SchemaRef,
        properties: WriterProperties,
        threads: usize,
    ) -> Result<ColumnEncoder> {
        let row_group_rows = properties.max_row_group_row_count().unwrap_or(usize::MAX);
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(properties))?;
        let (file, factory) = writer.into_serialized_writer()?;
        let writers = factory.create_column_writers(0)?;
        let pool = if threads > 1 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("memform-encode-{i}"))
                .build()
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?;
            Some(pool)
        } else {
            None
        };
        Ok(ColumnEncoder {
            file,
            factory,
            schema,
            writers,
            row_groups: 0,
            rows_in_group: 0,
            row_group_rows: row_group_rows.max(1),
            pool,
        })
    }

    /// Encodes the rows of `batch`, closing row groups as they fill.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let n = (batch.num_rows() - offset).min(self.row_group_rows - self.rows_in_group);
            self.write_rows(&batch.slice(offset, n))?;
            offset += n;
            self.rows_in_group += n;
            if self.rows_in_group == self.row_group_rows {
                self.flush_row_group()?;
            }
        }
        Ok(())
    }

    fn write_rows(&mut self, rows: &RecordBatch) -> Result<()> {
        let mut leaves = Vec::with_capacity(self.writers.len());
        for (field, column) in self.schema.fields().iter().zip(rows.columns()) {
            leaves.extend(compute_leaves(field, column)?);
        }
        let writers = &mut self.writers;
        match &self.pool {
            Some(pool) => pool.install(|| {
                writers
                    .par_iter_mut()
                    .zip(leaves.par_iter())
                    .try_for_each(|(writer, leaf)| writer.write(leaf))
            }),
            None => writers
                .iter_mut()
                .zip(&leaves)
                .try_for_each(|(writer, leaf)| writer.write(leaf)),
        }
    }

    /// Closes the current row group's columns and appends them to the file.
    fn flush_row_group(&mut self) -> Result<()> {
        if self.rows_in_group == 0 {
            return Ok(());
        }
        self.row_groups += 1;
        // The next row group's writers are made once these are closed: each holds buffers.
        let writers = std::mem::take(&mut self.writers);
        let chunks: Vec<ArrowColumnChunk> = match &self.pool {
            Some(pool) => pool.install(|| {
                writers
                    .into_par_iter()
                    .map(ArrowColumnWriter::close)
                    .collect::<Result<_>>()
            })?,
            None => writers
                .into_iter()
                .map(ArrowColumnWriter::close)
                .collect::<Result<_>>()?,
        };
        let mut group = self.file.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut group)?;
        }
        group.close()?;
        self.rows_in_group = 0;
        self.writers = self.factory.create_column_writers(self.row_groups)?;
        Ok(())
    }

    /// Writes the last row group; the file's footer is still to be written.
    pub fn finish(mut self) -> Result<SerializedFileWriter<File>> {
        self.flush_row_group()?;
        Ok(self.file)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, StringArray, UInt64Array};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("n", DataType::UInt64, false),
            Field::new("name", DataType::Utf8, true),
        ]))
    }

    fn batch(from: u64, rows: u64) -> RecordBatch {
        let n: ArrayRef = Arc::new(UInt64Array::from_iter_values(from..from + rows));
        let name: ArrayRef = Arc::new(StringArray::from_iter(
            (from..from + rows).map(|i| (i % 3 != 0).then(|| format!("f{}", i % 7))),
        ));
        RecordBatch::try_new(schema(), vec![n, name]).unwrap()
    }

    fn properties(row_group_rows: usize) -> WriterProperties {
        WriterProperties::builder()
            .set_max_row_group_row_count(Some(row_group_rows))
            .build()
    }

    /// The bytes of a file of `batches`, written by `ArrowWriter` (`threads` 0) or by a
    /// `ColumnEncoder` on `threads` threads.
    fn written(batches: &[RecordBatch], row_group_rows: usize, threads: usize) -> Vec<u8> {
        let dir = std::env::temp_dir().join(format!(
            "memform-column-encoder-{}-{row_group_rows}-{threads}-{}",
            std::process::id(),
            batches.len()
        ));
        let file = File::create(&dir).unwrap();
        if threads == 0 {
            let mut writer =
                ArrowWriter::try_new(file, schema(), Some(properties(row_group_rows))).unwrap();
            for b in batches {
                writer.write(b).unwrap();
            }
            writer.close().unwrap();
        } else {
            let mut encoder =
                ColumnEncoder::new(file, schema(), properties(row_group_rows), threads).unwrap();
            for b in batches {
                encoder.write(b).unwrap();
            }
            encoder.finish().unwrap().close().unwrap();
        }
        let bytes = std::fs::read(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        bytes
    }

    #[test]
    fn writes_the_file_arrow_writer_writes() {
        let batches: Vec<_> = [(0, 1000), (1000, 37), (1037, 0), (1037, 2500)]
            .iter()
            .map(|&(from, rows)| batch(from, rows))
            .collect();
        // Row groups smaller than a batch, not dividing it, and larger than all the rows.
        for row_group_rows in [1, 300, 1000, 1 << 20] {
            let expected = written(&batches, row_group_rows, 0);
            for threads in [1, 3] {
                assert!(
                    written(&batches, row_group_rows, threads) == expected,
                    "row groups of {row_group_rows}, {threads} threads"
                );
            }
        }
        // No rows at all.
        assert!(written(&[], 100, 2) == written(&[], 100, 0));
    }
}
