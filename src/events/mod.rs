//! The events dataset (`memform transform events`): a capture as a folder of Parquet tables
//! — every allocation with its lifetime, the stacks, the threads and the memory records —
//! for questions about time that memray's snapshot reports do not answer. The tables are
//! described in `docs/events-dataset.md`.
//!
//! One pass, streaming: allocations are written the moment they end (see [`lifetimes`]),
//! so memory holds the live set and one row group, not the capture; the stacks, threads
//! and memory records, which are small, are written at the end. The folder is written
//! beside its target and renamed into place when complete ([`pending_dir`]).

pub mod allocations_file;
pub mod column_encoder;
pub mod lifetimes;
pub mod pending_dir;
pub mod tables;

use std::path::Path;

use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::analysis::heap::HighWaterMark;
use crate::analysis::pipeline::decode;
use crate::capture::{open_records, CaptureFile, Decoder, FileFormat, Header, StreamEnd};
use crate::error::{CaptureError, Error};
use crate::interner::FxIndexSet;
use crate::progress::Progress;
use crate::report::metadata::{capture_metadata, CaptureIdentity};
use crate::report::parquet::{to_io, Codec};
use crate::report::stacks::{StackKey, StackPrinter};
use crate::stacks::NativeStacks;
use allocations_file::AllocationsFile;
use lifetimes::{HeapSample, Lifetime, Lifetimes};
use pending_dir::PendingDir;
use tables::AllocationRow;

/// The files of the dataset, in the order they are written.
pub const FILES: [&str; 4] = [
    "allocations.parquet",
    "stacks.parquet",
    "threads.parquet",
    "memory.parquet",
];

/// Version of the dataset's layout (`memform.events_schema_version`); raised when a column
/// or a metadata key changes meaning or goes away.
pub const EVENTS_SCHEMA_VERSION: &str = "1";

/// Rows per row group of `allocations.parquet` unless `--row-group-size` says otherwise:
/// large groups scan fast, and one group is what the writer holds in memory.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 1 << 20;

/// How to write the dataset.
#[derive(Debug, Clone)]
pub struct EventsOptions {
    pub compression: Codec,
    /// Rows per row group of `allocations.parquet` (at least 1).
    pub row_group_size: usize,
    /// 1: decode and write on the calling thread; otherwise decode on a second one.
    pub threads: usize,
    /// Replace an existing dataset.
    pub force: bool,
    /// Remove the unfinished folder on SIGINT, SIGTERM or SIGHUP.
    pub remove_on_signal: bool,
}

impl Default for EventsOptions {
    fn default() -> Self {
        EventsOptions {
            compression: Codec::default(),
            row_group_size: DEFAULT_ROW_GROUP_ROWS,
            threads: 0,
            force: false,
            remove_on_signal: false,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsSummary {
    /// Rows of `allocations.parquet`.
    pub allocations: u64,
    /// Of them, never freed.
    pub leaked: u64,
    /// Allocation events of the capture (deallocations included).
    pub events: u64,
    pub stacks: usize,
    pub threads: usize,
    pub memory_records: usize,
    pub high_water_mark: HighWaterMark,
    /// How the capture's record stream ended.
    pub end: StreamEnd,
}

/// Writes the events dataset of `capture` into the folder `target`.
pub fn write_dataset(
    capture: &CaptureFile,
    target: &Path,
    options: &EventsOptions,
    progress: &mut dyn Progress,
) -> Result<EventsSummary, Error> {
    let path = capture.path();
    let (stream, header) = open_records(capture)?;
    if header.file_format == FileFormat::AggregatedAllocations {
        return Err(CaptureError::EventsOfAggregated {
            path: path.to_path_buf(),
        }
        .into());
    }
    let write_error = |source| Error::Write {
        path: target.to_path_buf(),
        source,
    };
    let mut dir = PendingDir::create(target, options.remove_on_signal).map_err(write_error)?;
    let identity = CaptureIdentity::of(path);
    let file_error = |name: &str| {
        let path = target.join(name);
        move |source| Error::Write { path, source }
    };

    let file = dir.create_file(FILES[0]).map_err(file_error(FILES[0]))?;
    let properties = properties(options, options.row_group_size);
    let mut lifetimes = Lifetimes::default();
    let mut stack_ids = StackIds::new(&header);
    let mut samples: Vec<HeapSample> = Vec::new();
    progress.phase("Processing allocation records", capture.file_len());
    let two_threads = options.threads != 1;
    // The columns of the allocations table are encoded in parallel on the cores the decoder
    // and the lifetimes leave (at least one). On two cores the three threads already keep
    // both busy, and more encoding threads measured no faster (docs/performance.md).
    let cores = match options.threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let encoders = cores.saturating_sub(2).max(1);
    let (mut decoder, end, kv, rows, leaked) = std::thread::scope(|scope| {
        let mut allocations =
            AllocationsFile::start(file, properties, two_threads.then_some(scope), encoders)
                .map_err(file_error(FILES[0]))?;
        let (decoder, end) = decode(
            options.threads,
            Decoder::new(&header),
            stream,
            &mut |batch| {
                lifetimes.consume(
                    batch,
                    &mut |t, l| allocations.push(stack_ids.row(t, l)),
                    &mut |s| samples.push(s),
                );
            },
            None,
            progress,
        )
        .map_err(|e| e.in_file(path))?;
        lifetimes.sites.check(path)?;
        lifetimes.finish(&mut |t, l| allocations.push(stack_ids.row(t, l)));
        progress.finish();
        let hwm = lifetimes.high_water_mark();
        let mut kv = capture_metadata(&header, &identity);
        kv.extend(
            [
                ("dataset", "events".to_string()),
                ("events_schema_version", EVENTS_SCHEMA_VERSION.to_string()),
                ("peak_memory", hwm.bytes.to_string()),
                ("peak_memory_index", hwm.index.to_string()),
                ("total_events", lifetimes.events().to_string()),
            ]
            .map(|(k, v)| (format!("memform.{k}"), v)),
        );
        let (rows, leaked) = (allocations.rows, allocations.leaked);
        allocations
            .close(&table_metadata(&kv, "allocations"))
            .map_err(file_error(FILES[0]))?;
        Ok::<_, Error>((decoder, end, kv, rows, leaked))
    })?;
    let hwm = lifetimes.high_water_mark();

    // The stacks, printed as the reports print them.
    let mut native = header.native_traces.then(|| {
        NativeStacks::new(
            std::mem::take(&mut decoder.native_frames),
            &decoder.image_segments,
            std::mem::take(&mut decoder.generation_starts),
        )
    });
    let mut printer = StackPrinter::new(&header, &mut decoder.stacks, native.as_mut());
    let stacks: Vec<_> = stack_ids
        .keys
        .iter()
        .map(|&key| printer.frames(key))
        .collect();
    let schema = tables::stacks_schema();
    let batch = tables::stacks_batch(&schema, &stacks);
    write_small(&mut dir, FILES[1], options, &schema, &batch, &kv, "stacks")
        .map_err(file_error(FILES[1]))?;

    let names = decoder.thread_names(u64::MAX);
    let mut tids: FxIndexSet<u64> = lifetimes.sites.tids().collect();
    let mut named: Vec<u64> = names.keys().copied().collect();
    named.sort_unstable();
    tids.extend(named);
    let threads: Vec<_> = tids
        .iter()
        .map(|&tid| (tid, names.get(&tid).cloned(), tid == header.main_tid))
        .collect();
    let schema = tables::threads_schema();
    let batch = tables::threads_batch(&schema, &threads);
    write_small(&mut dir, FILES[2], options, &schema, &batch, &kv, "threads")
        .map_err(file_error(FILES[2]))?;

    let schema = tables::memory_schema();
    let batch = tables::memory_batch(&schema, &samples);
    write_small(&mut dir, FILES[3], options, &schema, &batch, &kv, "memory")
        .map_err(file_error(FILES[3]))?;

    crate::report::output::pause_before_commit();
    dir.commit(options.force, &FILES).map_err(write_error)?;
    Ok(EventsSummary {
        allocations: rows,
        leaked,
        events: lifetimes.events(),
        stacks: stacks.len(),
        threads: threads.len(),
        memory_records: samples.len(),
        high_water_mark: hwm,
        end,
    })
}

/// The dataset's stack ids: each distinct printed stack ([`StackKey`]) numbered from 0 in
/// order of first use, and the allocation rows that refer to them.
struct StackIds {
    keys: FxIndexSet<StackKey>,
    /// By site, its stack id, for captures without native traces (whose keys do not
    /// depend on the segment generation); `u32::MAX` where not yet known.
    by_site: Vec<u32>,
    main_tid: u64,
    native: bool,
}

impl StackIds {
    fn new(header: &Header) -> StackIds {
        StackIds {
            keys: FxIndexSet::default(),
            by_site: Vec::new(),
            main_tid: header.main_tid,
            native: header.native_traces,
        }
    }

    /// The row of `l`, an allocation of `t`.
    #[inline]
    fn row(&mut self, t: &Lifetimes, l: Lifetime) -> AllocationRow {
        let m = t.sites.member(l.site, l.seq, l.size, 0);
        let stack_id = if self.native {
            let key = (
                m.stack_id,
                m.native_stack_id,
                t.generation_of(l.seq),
                m.tid == self.main_tid,
            );
            self.keys.insert_full(key).0 as u64
        } else {
            let site = l.site as usize;
            if site >= self.by_site.len() {
                self.by_site.resize(site + 1, u32::MAX);
            }
            if self.by_site[site] == u32::MAX {
                let key = (m.stack_id, 0, 0, m.tid == self.main_tid);
                self.by_site[site] = self.keys.insert_full(key).0 as u32;
            }
            u64::from(self.by_site[site])
        };
        AllocationRow {
            seq: l.seq,
            tid: m.tid,
            allocator: m.allocator,
            address: l.address,
            size: l.size,
            stack_id,
            native_stack_id: m.native_stack_id,
            freed_at: l.freed_at,
            split_from: l.split_from,
        }
    }
}

/// The writer properties of the dataset's files.
fn properties(options: &EventsOptions, row_group_size: usize) -> WriterProperties {
    // zstd at level 1: on the 1 GB bench capture, level 3 took 15% longer for an
    // allocations file 7% smaller (264 against 285 MB).
    let compression = match options.compression {
        Codec::Zstd => Compression::ZSTD(ZstdLevel::try_new(1).expect("valid level")),
        other => other.parquet(),
    };
    let mut builder = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(row_group_size.max(1)))
        .set_statistics_truncate_length(Some(64));
    // Nearly every value its own: a dictionary would not pay.
    for column in ["seq", "address", "freed_at", "split_from", "stack_trace"] {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
    // Event numbers: `freed_at` rises row after row (rows are written as allocations end),
    // and `seq` stays close behind it, so their deltas are small. Delta encoding made the
    // bench capture's allocations file 285 MB instead of 427 MB, and its writing faster.
    for column in ["seq", "freed_at", "split_from"] {
        builder =
            builder.set_column_encoding(ColumnPath::from(column), Encoding::DELTA_BINARY_PACKED);
    }
    builder.build()
}

/// The metadata of the file of `table`: `kv` and `memform.table`.
fn table_metadata(kv: &[(String, String)], table: &str) -> Vec<(String, String)> {
    let mut out = kv.to_vec();
    out.push(("memform.table".to_string(), table.to_string()));
    out
}

/// Writes one of the small tables, whole, as the file `name` of `dir`.
fn write_small(
    dir: &mut PendingDir,
    name: &str,
    options: &EventsOptions,
    schema: &SchemaRef,
    batch: &arrow_array::RecordBatch,
    kv: &[(String, String)],
    table: &str,
) -> std::io::Result<()> {
    let file = dir.create_file(name)?;
    let props = properties(options, DEFAULT_ROW_GROUP_ROWS);
    let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(to_io)?;
    writer.write(batch).map_err(to_io)?;
    for (k, v) in table_metadata(kv, table) {
        writer.append_key_value_metadata(KeyValue::new(k, v));
    }
    let file = writer.into_inner().map_err(to_io)?;
    file.sync_all()
}
