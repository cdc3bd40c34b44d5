//! `allocations.parquet` being written: rows gathered into record batches of
//! [`tables::BATCH_ROWS`], each handed to a [`ColumnEncoder`] — on a thread of its own when
//! the conversion may use more than one (encoding and compressing the rows is most of the
//! work of the dataset; the encoder then spreads each batch's columns over the cores left),
//! or inline.

use std::fs::File;
use std::io;
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
use std::thread::{Scope, ScopedJoinHandle};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use crate::events::column_encoder::ColumnEncoder;
use crate::events::tables::{self, AllocationColumns, AllocationRow, BATCH_ROWS};
use crate::report::parquet::to_io;

/// Batches in flight to the encoding thread.
const IN_FLIGHT: usize = 2;

/// Where finished batches go.
enum Encoder<'s> {
    Inline {
        encoder: Box<ColumnEncoder>,
        /// The first write error; later batches are dropped.
        error: Option<io::Error>,
        /// The columns of the batch written last, to fill again.
        spare: Option<AllocationColumns>,
    },
    Thread {
        /// `None` once the thread has stopped taking batches (it failed).
        batches: Option<SyncSender<RecordBatch>>,
        /// Written batches, sent back so that their columns are filled again: buffers
        /// made on one thread and freed on the other would keep the allocator holding
        /// tens of megabytes more.
        written: Receiver<RecordBatch>,
        thread: ScopedJoinHandle<'s, io::Result<SerializedFileWriter<File>>>,
    },
}

/// The allocations table being written.
pub struct AllocationsFile<'s> {
    encoder: Encoder<'s>,
    schema: SchemaRef,
    columns: AllocationColumns,
    /// Rows so far.
    pub rows: u64,
    /// Of them, never freed.
    pub leaked: u64,
}

impl<'s> AllocationsFile<'s> {
    /// Starts the table in `file`; with a `scope`, its batches are encoded on a thread of
    /// that scope, their columns on `encoders` threads.
    pub fn start<'e>(
        file: File,
        properties: WriterProperties,
        scope: Option<&'s Scope<'s, 'e>>,
        encoders: usize,
    ) -> io::Result<AllocationsFile<'s>> {
        let schema = tables::allocations_schema();
        let mut columns_encoder =
            ColumnEncoder::new(file, schema.clone(), properties, encoders).map_err(to_io)?;
        let encoder = match scope {
            None => Encoder::Inline {
                encoder: Box::new(columns_encoder),
                error: None,
                spare: None,
            },
            Some(scope) => {
                let (tx, rx) = sync_channel::<RecordBatch>(IN_FLIGHT);
                let (written_tx, written) = channel();
                let thread = scope.spawn(move || {
                    for batch in rx {
                        columns_encoder.write(&batch).map_err(to_io)?;
                        // The consumer only stops listening once it has finished.
                        let _ = written_tx.send(batch);
                    }
                    columns_encoder.finish().map_err(to_io)
                });
                Encoder::Thread {
                    batches: Some(tx),
                    written,
                    thread,
                }
            }
        };
        Ok(AllocationsFile {
            encoder,
            schema,
            columns: AllocationColumns::with_capacity(BATCH_ROWS),
            rows: 0,
            leaked: 0,
        })
    }

    #[inline]
    pub fn push(&mut self, row: AllocationRow) {
        self.rows += 1;
        self.leaked += u64::from(row.freed_at.is_none());
        self.columns.push(row);
        if self.columns.len() >= BATCH_ROWS {
            self.hand_over();
        }
    }

    fn hand_over(&mut self) {
        let next = match &mut self.encoder {
            Encoder::Thread { written, .. } => written.try_recv().ok().and_then(tables::recycle),
            Encoder::Inline { spare, .. } => spare.take(),
        };
        let next = next.unwrap_or_else(|| AllocationColumns::with_capacity(BATCH_ROWS));
        let batch = self.columns.take_batch(&self.schema, next);
        match &mut self.encoder {
            Encoder::Inline {
                encoder,
                error,
                spare,
            } => {
                if error.is_none() {
                    if let Err(e) = encoder.write(&batch) {
                        *error = Some(to_io(e));
                    }
                }
                *spare = tables::recycle(batch);
            }
            Encoder::Thread { batches, .. } => {
                // A send fails only once the thread has stopped on an error, which `close`
                // returns.
                if batches.as_ref().is_some_and(|tx| tx.send(batch).is_err()) {
                    *batches = None;
                }
            }
        }
    }

    /// Writes the last rows, the key-value metadata `kv` and the footer, and syncs the file.
    pub fn close(mut self, kv: &[(String, String)]) -> io::Result<()> {
        if !self.columns.is_empty() {
            self.hand_over();
        }
        let mut writer = match self.encoder {
            Encoder::Inline { encoder, error, .. } => match error {
                Some(e) => return Err(e),
                None => encoder.finish().map_err(to_io)?,
            },
            Encoder::Thread {
                batches, thread, ..
            } => {
                drop(batches);
                match thread.join() {
                    Ok(result) => result?,
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        };
        for (k, v) in kv {
            writer.append_key_value_metadata(KeyValue::new(k.clone(), v.clone()));
        }
        writer.into_inner().map_err(to_io)?.sync_all()
    }
}
