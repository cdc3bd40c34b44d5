//! The record stream decoder: all state carried from one record to the next, in one struct.
//!
//! memray's encoding is stateful — addresses, instruction pointers, native frame ids and first
//! line numbers are delta-encoded, recent addresses are cached, and frame pushes and pops
//! apply to the stack of the thread named by the latest context switch. [`Decoder`] holds all
//! of that, so a stream can be decoded from any record boundary given the state there.
//!
//! Each record is parsed completely before any state changes, so a record cut by the end of
//! the window can be retried after a refill.
//!
//! Record encodings differ between capture header versions (see docs/capture-versions.md):
//! [`RecordFormat::CodeObject`] for header 12 and 13, [`RecordFormat::FrameIndex`] for
//! header 10 and 11. One step function per (file format, record format) is chosen once per
//! [`Decoder::run`], so the per-record path never tests the version.

use rustc_hash::FxHashMap;

mod fast;

use crate::capture::allocator::{Allocator, AllocatorKind};
use crate::capture::cursor::{Cursor, Short};
use crate::capture::events::{EventBatch, EventBatchBuilder, MemorySample};
use crate::capture::header::{FileFormat, Header, RecordFormat};
use crate::capture::source::ByteStream;
use crate::error::ReadError;
use crate::stacks::{CodeObject, Frame, Location, StackTable};

/// Record type bytes of header 12 and 13 (memray's `RecordType` and `AggregatedRecordType`).
/// The aggregated values, and the values of the records below FRAME_POP that header 10 and
/// 11 share (native frames, memory maps, threads), are the same in every version.
pub(crate) mod record_type {
    pub const FILLER: u8 = 0;
    pub const TRAILER: u8 = 1;
    pub const MEMORY_RECORD: u8 = 2;
    pub const NATIVE_TRACE_INDEX: u8 = 5;
    pub const MEMORY_MAP_START: u8 = 6;
    pub const SEGMENT_HEADER: u8 = 7;
    pub const SEGMENT: u8 = 8;
    pub const THREAD_RECORD: u8 = 10;
    pub const CONTEXT_SWITCH: u8 = 12;
    pub const CODE_OBJECT: u8 = 14;
    pub const FRAME_POP: u8 = 16;
    pub const OBJECT_RECORD: u8 = 32;
    pub const FRAME_PUSH: u8 = 64;
    pub const ALLOCATION: u8 = 128;

    pub const MEMORY_SNAPSHOT: u8 = 1;
    pub const AGGREGATED_ALLOCATION: u8 = 2;
    pub const PYTHON_TRACE_INDEX: u8 = 3;
    pub const PYTHON_FRAME_INDEX: u8 = 4;
    pub const SURVIVING_OBJECT: u8 = 13;
    pub const AGGREGATED_TRAILER: u8 = 15;
}

/// Record types of header 10 and 11 captures of all allocations (memray 1.7 – 1.18): the
/// type is the low nibble of the record's byte, its flags the high nibble (a C bit-field).
mod v10_record_type {
    /// Flags 1 (the byte 0x10) is the trailer; anything else is invalid.
    pub const OTHER: u8 = 0;
    pub const TRAILER_BYTE: u8 = 0x10;
    /// Flags: the allocator id, in the old numbering.
    pub const ALLOCATION: u8 = 1;
    pub const ALLOCATION_WITH_NATIVE: u8 = 2;
    /// Flags bit 0: not an entry frame.
    pub const FRAME_INDEX: u8 = 3;
    pub const FRAME_PUSH: u8 = 4;
    pub const NATIVE_TRACE_INDEX: u8 = 5;
    pub const MEMORY_MAP_START: u8 = 6;
    pub const SEGMENT_HEADER: u8 = 7;
    /// Flags: the number of frames popped, minus one.
    pub const FRAME_POP: u8 = 9;
    pub const THREAD_RECORD: u8 = 10;
    pub const MEMORY_RECORD: u8 = 11;
    pub const CONTEXT_SWITCH: u8 = 12;
}

/// One pre-reduced record of an aggregated capture (memray's `AggregatedAllocation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggregatedAllocation {
    pub tid: u64,
    pub allocator: Allocator,
    pub native_frame_id: u64,
    pub frame_index: u64,
    pub native_segment_generation: u64,
    pub n_allocations_in_high_water_mark: u64,
    pub n_allocations_leaked: u64,
    pub bytes_in_high_water_mark: u64,
    pub bytes_leaked: u64,
}

/// Size of an `AggregatedAllocation` as memray writes it (a raw x86-64 struct).
const AGGREGATED_ALLOCATION_BYTES: usize = 72;

/// A thread's name as set by a THREAD_RECORD, with how many allocation events preceded it.
#[derive(Debug, Clone)]
struct ThreadNaming {
    allocations_before: u64,
    tid: u64,
    name: String,
}

/// An image segment of a native memory map (kept for native symbol resolution).
#[derive(Debug, Clone)]
pub struct ImageSegments {
    pub filename: String,
    pub addr: u64,
    pub segments: Vec<(u64, u64)>,
    pub generation: u64,
}

/// How the record stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// A trailer record: the capture is complete.
    Trailer,
    /// The bytes ended without a trailer; `offset` is where the last complete record ended.
    Truncated { offset: u64, mid_record: bool },
    /// A zero record-type byte (padding of a killed process) at `offset`.
    Padding { offset: u64 },
}

/// Why one record could not be decoded.
enum StepError {
    Short(Short),
}

impl From<Short> for StepError {
    fn from(s: Short) -> Self {
        StepError::Short(s)
    }
}

enum Step {
    Record,
    End(StreamEnd),
}

/// memray's cache of the 15 most recent addresses that missed it (header 12+), as a ring:
/// entry `k` (0 = most recent) is at `(head + k) % 15`. A record names a cached address by
/// its entry (0-14); 15 means a new address, delta-encoded.
#[derive(Debug, Default)]
struct RecentAddresses {
    ring: [u64; 15],
    head: usize,
}

impl RecentAddresses {
    /// Entry `k` (at most 14).
    #[inline(always)]
    fn get(&self, k: u8) -> u64 {
        let mut slot = self.head + usize::from(k);
        if slot >= 15 {
            slot -= 15;
        }
        self.ring[slot]
    }

    /// Makes `address` entry 0, every other entry one older, the oldest gone.
    #[inline(always)]
    fn remember(&mut self, address: u64) {
        self.head = if self.head == 0 { 14 } else { self.head - 1 };
        self.ring[self.head] = address;
    }
}

struct ThreadStack {
    tid: u64,
    frames: Vec<u64>,
}

/// All decoder state (memray's `RecordReader` minus the I/O).
pub struct Decoder {
    format: FileFormat,
    record_format: RecordFormat,
    native_traces: bool,
    // Delta-encoded fields (memray's `DeltaEncodedFields`).
    last_instruction_pointer: u64,
    /// Header 12+: the last address >> 3; header 10 and 11: the last address.
    last_data_pointer: u64,
    last_native_frame_id: u64,
    /// Header 12+ only.
    last_code_firstlineno: i32,
    /// Header 10 and 11 only: shared by FRAME_INDEX and FRAME_PUSH.
    last_python_frame_id: u64,
    /// Header 10 and 11 only.
    last_python_line: i32,
    /// Header 12+: memray's cache of recent addresses.
    recent_addresses: RecentAddresses,
    // Per-thread Python stacks, and which one the latest context switch selected.
    threads: Vec<ThreadStack>,
    thread_index: FxHashMap<u64, usize>,
    current: Option<usize>,
    last_thread_id: u64,
    thread_namings: Vec<ThreadNaming>,
    /// Interned stacks and code objects.
    pub stacks: StackTable,
    /// Native frames `(instruction pointer, parent index)`, 1-based like memray's.
    pub native_frames: Vec<(u64, u64)>,
    pub image_segments: Vec<ImageSegments>,
    segment_generation: u64,
    /// `(first event, generation)` each time the segment generation changes: the events from
    /// `first event` on belong to `generation` (memray's `native_segment_generation`).
    pub generation_starts: Vec<(u64, u64)>,
    /// Aggregated captures: their pre-reduced records, in file order.
    pub aggregated: Vec<AggregatedAllocation>,
    pub memory_records: u64,
    /// The header's start time, which memory records count from.
    start_time_ms: i64,
    /// Memory records decoded since the last batch was handed on.
    memory: Vec<MemorySample>,
    /// Entries of `generation_starts` already handed on with a batch.
    generation_starts_sent: usize,
    /// Allocation events decoded so far; the next event's sequence number.
    pub allocations: u64,
    builder: EventBatchBuilder,
}

impl Decoder {
    /// A decoder for the records after `header`.
    pub fn new(header: &Header) -> Self {
        let record_format = header.record_format();
        let stacks = match record_format {
            RecordFormat::CodeObject => StackTable::new(header.python_version),
            RecordFormat::FrameIndex => StackTable::with_indexed_frames(),
        };
        let mut decoder = Decoder {
            format: header.file_format,
            record_format,
            native_traces: header.native_traces,
            last_instruction_pointer: 0,
            last_data_pointer: 0,
            last_native_frame_id: 0,
            last_code_firstlineno: 0,
            last_python_frame_id: 0,
            last_python_line: 0,
            recent_addresses: RecentAddresses::default(),
            threads: Vec::new(),
            thread_index: FxHashMap::default(),
            current: None,
            last_thread_id: 0,
            thread_namings: Vec::new(),
            stacks,
            native_frames: Vec::new(),
            image_segments: Vec::new(),
            segment_generation: 0,
            generation_starts: Vec::new(),
            aggregated: Vec::new(),
            memory_records: 0,
            start_time_ms: header.stats.start_time_ms,
            memory: Vec::new(),
            generation_starts_sent: 0,
            allocations: 0,
            builder: EventBatchBuilder::new(0),
        };
        if record_format == RecordFormat::FrameIndex {
            // memray 1.7 – 1.18 need no CONTEXT_SWITCH first: until one comes, records
            // apply to thread 0.
            decoder.switch_thread(0);
        }
        decoder
    }

    /// Reuses consumed batches' columns arriving on `spare`.
    pub fn recycle_batches_from(
        &mut self,
        spare: std::sync::mpsc::Receiver<crate::capture::events::Columns>,
    ) {
        self.builder.recycle_from(spare);
    }

    /// The thread names memray knows once it has processed every record before the
    /// `limit`-th allocation event (all records when there are fewer).
    pub fn thread_names(&self, limit: u64) -> FxHashMap<u64, String> {
        let mut names = FxHashMap::default();
        for n in &self.thread_namings {
            if n.allocations_before < limit {
                names.insert(n.tid, n.name.clone());
            }
        }
        names
    }

    /// Decodes records from `stream` (positioned after the header) until the trailer or the
    /// end of the bytes, handing every full batch of events to `sink`. After each window of
    /// the stream, `progress` gets the input position and says whether to go on: `false`
    /// ends the run with [`ReadError::Stopped`].
    pub fn run(
        &mut self,
        stream: &mut ByteStream<'_>,
        sink: &mut dyn FnMut(EventBatch),
        progress: &mut dyn FnMut(u64) -> bool,
    ) -> Result<StreamEnd, ReadError> {
        use FileFormat::*;
        use RecordFormat::*;
        // The version dispatch: once per run, each arm a separate copy of the loop.
        match (self.format, self.record_format) {
            (AllAllocations, CodeObject) => {
                self.run_with(stream, sink, progress, Self::step_all, Self::fast_all)
            }
            (AllAllocations, FrameIndex) => {
                self.run_with(stream, sink, progress, Self::step_all_v10, no_fast_path)
            }
            (AggregatedAllocations, CodeObject) => self.run_with(
                stream,
                sink,
                progress,
                Self::step_aggregated::<false>,
                no_fast_path,
            ),
            (AggregatedAllocations, FrameIndex) => self.run_with(
                stream,
                sink,
                progress,
                Self::step_aggregated::<true>,
                no_fast_path,
            ),
        }
    }

    /// The decoding loop: `fast` takes the common records while the window has room for any
    /// of them (see [`fast`]), `step` takes one record of any kind with every read checked,
    /// so that a record cut by the end of the window is retried after a refill.
    #[inline(always)]
    fn run_with(
        &mut self,
        stream: &mut ByteStream<'_>,
        sink: &mut dyn FnMut(EventBatch),
        progress: &mut dyn FnMut(u64) -> bool,
        step: impl Fn(&mut Self, &mut Cursor<'_>) -> Result<Step, StepError>,
        fast: impl Fn(&mut Self, &[u8], usize) -> usize,
    ) -> Result<StreamEnd, ReadError> {
        let end = loop {
            let window = stream.window();
            let mut c = Cursor::new(window);
            let mut end = None;
            while !c.is_empty() {
                let resume = fast(self, window, c.position());
                c.set_position(resume);
                if self.builder.is_full() {
                    sink(self.finish_batch());
                }
                if c.is_empty() {
                    break;
                }
                let start = c.position();
                match step(self, &mut c) {
                    Ok(Step::Record) => {
                        if self.builder.is_full() {
                            sink(self.finish_batch());
                        }
                    }
                    Ok(Step::End(e)) => {
                        let e = match e {
                            StreamEnd::Padding { .. } => StreamEnd::Padding {
                                offset: stream.offset() + start as u64,
                            },
                            other => other,
                        };
                        end = Some(e);
                        break;
                    }
                    Err(StepError::Short(Short::Incomplete)) => {
                        c.set_position(start);
                        break;
                    }
                    Err(StepError::Short(Short::Malformed(what))) => {
                        return Err(ReadError::Malformed {
                            offset: stream.offset_at(start),
                            what: what.to_string(),
                        });
                    }
                }
            }
            let used = c.position();
            stream.consume(used);
            if !progress(stream.input_position()) {
                return Err(ReadError::Stopped);
            }
            if let Some(e) = end {
                break e;
            }
            if !stream.refill()? {
                let rest = stream.window().len();
                break StreamEnd::Truncated {
                    offset: stream.offset(),
                    mid_record: rest > 0,
                };
            }
        };
        if !self.builder.is_empty()
            || !self.memory.is_empty()
            || self.generation_starts_sent < self.generation_starts.len()
        {
            sink(self.finish_batch());
        }
        Ok(end)
    }

    /// The batch being built, finished, with the memory records and generation starts
    /// decoded since the previous one.
    fn finish_batch(&mut self) -> EventBatch {
        let mut batch = self.builder.finish();
        batch.memory = std::mem::take(&mut self.memory);
        batch.generation_starts = self.generation_starts[self.generation_starts_sent..].to_vec();
        self.generation_starts_sent = self.generation_starts.len();
        batch
    }

    /// FRAME_PUSH (every version): the current thread's stack grows by the node `intern`
    /// gives for its top; `no_thread` says what is missing when no thread is current.
    fn push_frame(
        &mut self,
        no_thread: &'static str,
        intern: impl FnOnce(&mut StackTable, u64) -> Option<u64>,
    ) -> Result<(), StepError> {
        let Some(i) = self.current else {
            return Err(Short::Malformed(no_thread).into());
        };
        let parent = self.threads[i].frames.last().copied().unwrap_or(0);
        let Some(node) = intern(&mut self.stacks, parent) else {
            return Err(Short::Malformed(
                "at most 3 * 2^30 distinct frames and stacks (memform's limit)",
            )
            .into());
        };
        self.threads[i].frames.push(node);
        Ok(())
    }

    /// FRAME_POP (every version): `count` frames off the current thread's stack.
    fn pop_frames(&mut self, count: usize, no_thread: &'static str) -> Result<(), StepError> {
        let Some(i) = self.current else {
            return Err(Short::Malformed(no_thread).into());
        };
        let frames = &mut self.threads[i].frames;
        let Some(keep) = frames.len().checked_sub(count) else {
            return Err(Short::Malformed(
                "a FRAME_POP of no more frames than the thread's stack holds",
            )
            .into());
        };
        frames.truncate(keep);
        Ok(())
    }

    /// MEMORY_RECORD (every version): resident size, then milliseconds since the header's
    /// start time.
    fn memory_record(&mut self, c: &mut Cursor<'_>) -> Result<(), StepError> {
        let rss = c.varint()?;
        let since_start = c.varint()?;
        self.memory_records += 1;
        self.memory.push(MemorySample {
            events_before: self.allocations,
            time_ms: self.start_time_ms.wrapping_add(since_start as i64),
            rss,
        });
        Ok(())
    }

    /// CONTEXT_SWITCH (every version): the records that follow are the thread's.
    fn context_switch(&mut self, c: &mut Cursor<'_>) -> Result<(), StepError> {
        let tid = c.u64_le()?;
        self.switch_thread(tid);
        Ok(())
    }

    fn switch_thread(&mut self, tid: u64) {
        self.last_thread_id = tid;
        let next = self.threads.len();
        let index = *self.thread_index.entry(tid).or_insert(next);
        if index == next {
            self.threads.push(ThreadStack {
                tid,
                frames: Vec::with_capacity(64),
            });
        }
        self.current = Some(index);
    }

    /// Reads a possibly cached address (ALLOCATION and OBJECT_RECORD): returns the address
    /// and, on a cache miss, the new delta base.
    #[inline]
    fn cached_address(
        &self,
        c: &mut Cursor<'_>,
        cache_index: u8,
    ) -> Result<(u64, Option<u64>), Short> {
        if cache_index == 0x0f {
            let delta = c.signed_varint()?;
            let base = self.last_data_pointer.wrapping_add(delta as u64);
            Ok((base << 3, Some(base)))
        } else {
            Ok((self.recent_addresses.get(cache_index), None))
        }
    }

    #[inline]
    fn remember_address(&mut self, address: u64, base: Option<u64>) {
        if let Some(base) = base {
            self.last_data_pointer = base;
            self.recent_addresses.remember(address);
        }
    }

    fn code_object(&mut self, c: &mut Cursor<'_>) -> Result<(), StepError> {
        let id = c.varint()?;
        let function = c.cstr()?;
        let filename = c.cstr()?;
        let delta = c.signed_varint()?;
        let table_len = c.varint()?;
        let table_len = usize::try_from(table_len).map_err(|_| Short::Incomplete)?;
        let linetable = c.bytes(table_len)?;
        self.last_code_firstlineno =
            (i64::from(self.last_code_firstlineno).wrapping_add(delta)) as i32;
        self.stacks.code_objects.insert(
            id,
            CodeObject {
                function_name: String::from_utf8_lossy(function).into_owned(),
                filename: String::from_utf8_lossy(filename).into_owned(),
                firstlineno: self.last_code_firstlineno,
                linetable: linetable.to_vec(),
            },
        );

        Ok(())
    }

    fn native_trace_index(&mut self, c: &mut Cursor<'_>) -> Result<(), StepError> {
        let ip_delta = c.signed_varint()?;
        let index_delta = c.signed_varint()?;
        self.last_instruction_pointer = self.last_instruction_pointer.wrapping_add(ip_delta as u64);
        self.last_native_frame_id = self.last_native_frame_id.wrapping_add(index_delta as u64);
        self.native_frames
            .push((self.last_instruction_pointer, self.last_native_frame_id));

        Ok(())
    }

    /// MEMORY_MAP_START: the segments that follow form a new generation (memray's
    /// `clearSegments`).
    fn memory_map_start(&mut self) {
        self.segment_generation += 1;
        self.generation_starts
            .push((self.allocations, self.segment_generation));
    }

    fn segment_header(&mut self, c: &mut Cursor<'_>) -> Result<(), StepError> {
        let filename = c.cstr()?;
        let count = c.varint()?;
        let addr = c.u64_le()?;
        // Each SEGMENT takes at least 10 bytes; a count the window cannot hold is read
        // incrementally, never allocated up front.
        let mut segments = Vec::new();
        let mut i = 0u64;
        while i < count {
            if c.u8()? != record_type::SEGMENT {
                return Err(Short::Malformed("a SEGMENT record inside a SEGMENT_HEADER").into());
            }
            let vaddr = c.u64_le()?;
            let memsz = c.varint()?;
            segments.push((vaddr, memsz));

            i += 1;
        }
        self.image_segments.push(ImageSegments {
            filename: String::from_utf8_lossy(filename).into_owned(),
            addr,
            segments,
            generation: self.segment_generation,
        });

        Ok(())
    }

    fn thread_record(&mut self, c: &mut Cursor<'_>) -> Result<(), StepError> {
        let name = c.cstr()?;
        self.thread_namings.push(ThreadNaming {
            allocations_before: self.allocations,
            tid: self.last_thread_id,
            name: String::from_utf8_lossy(name).into_owned(),
        });
        Ok(())
    }

    /// One record of an ALL_ALLOCATIONS capture.
    #[inline]
    fn step_all(&mut self, c: &mut Cursor<'_>) -> Result<Step, StepError> {
        use record_type::*;
        let token = c.u8()?;
        if token & ALLOCATION != 0 {
            self.allocation(c, token & (ALLOCATION - 1))?;
        } else if token & FRAME_PUSH != 0 {
            let code_object_id = c.varint()?;
            let instruction_offset = c.signed_varint()? as i32;
            let frame = Frame {
                code_object_id,
                instruction_offset,
                is_entry_frame: token & 1 != 0,
            };
            self.push_frame(
                "a CONTEXT_SWITCH before the first FRAME_PUSH",
                |stacks, parent| stacks.push(parent, frame),
            )?;
        } else if token & OBJECT_RECORD != 0 {
            let flags = token & (OBJECT_RECORD - 1);
            let is_created = flags & 1 != 0;
            let (address, base) = self.cached_address(c, (flags >> 1) & 0x0f)?;
            let native = if self.native_traces && is_created {
                Some(c.signed_varint()?)
            } else {
                None
            };
            self.remember_address(address, base);
            if let Some(d) = native {
                self.last_native_frame_id = self.last_native_frame_id.wrapping_add(d as u64);
            }
        } else if token & FRAME_POP != 0 {
            let count = usize::from(token & (FRAME_POP - 1)) + 1;
            self.pop_frames(count, "a CONTEXT_SWITCH before the first FRAME_POP")?;
        } else {
            match token {
                TRAILER => return Ok(Step::End(StreamEnd::Trailer)),
                FILLER => return Ok(Step::End(StreamEnd::Padding { offset: 0 })),
                MEMORY_RECORD => self.memory_record(c)?,
                CONTEXT_SWITCH => self.context_switch(c)?,
                CODE_OBJECT => self.code_object(c)?,
                NATIVE_TRACE_INDEX => self.native_trace_index(c)?,
                MEMORY_MAP_START => self.memory_map_start(),
                SEGMENT_HEADER => self.segment_header(c)?,
                THREAD_RECORD => self.thread_record(c)?,
                _ => return Err(Short::Malformed("a known record type").into()),
            }
        }
        Ok(Step::Record)
    }

    #[inline]
    fn allocation(&mut self, c: &mut Cursor<'_>, flags: u8) -> Result<(), StepError> {
        let (address, base) = self.cached_address(c, (flags >> 3) & 0x0f)?;
        let id = match flags & 7 {
            0 => c.u8()?,
            id => id,
        };
        let allocator =
            Allocator::from_id(id).ok_or(Short::Malformed("a known allocator id (1-15)"))?;
        let kind = allocator.kind();
        let native_delta = if self.native_traces && kind != AllocatorKind::SimpleDeallocator {
            Some(c.signed_varint()?)
        } else {
            None
        };
        let size = if kind == AllocatorKind::SimpleDeallocator {
            0
        } else {
            c.varint()?
        };
        // The record is complete: commit.
        self.remember_address(address, base);
        let mut native_frame_id = 0;
        if let Some(d) = native_delta {
            self.last_native_frame_id = self.last_native_frame_id.wrapping_add(d as u64);
            native_frame_id = self.last_native_frame_id;
        }
        let Some(i) = self.current else {
            return Err(Short::Malformed("a CONTEXT_SWITCH before the first ALLOCATION").into());
        };
        let thread = &self.threads[i];
        let (stack_id, native) = if allocator.is_deallocator() {
            (0, 0)
        } else {
            (thread.frames.last().copied().unwrap_or(0), native_frame_id)
        };
        self.builder
            .push(thread.tid, address, size, allocator, stack_id, native);
        self.allocations += 1;
        Ok(())
    }

    /// One record of an ALL_ALLOCATIONS capture of header version 10 or 11.
    #[inline]
    fn step_all_v10(&mut self, c: &mut Cursor<'_>) -> Result<Step, StepError> {
        use v10_record_type::*;
        let token = c.u8()?;
        let flags = token >> 4;
        match token & 0x0f {
            ALLOCATION => self.allocation_v10(c, flags)?,
            FRAME_PUSH => {
                let delta = c.signed_varint()?;
                self.last_python_frame_id = self.last_python_frame_id.wrapping_add(delta as u64);
                let frame_id = self.last_python_frame_id;
                self.push_frame("a thread to push the frame on", |stacks, parent| {
                    stacks.push_indexed(parent, frame_id)
                })?;
            }
            FRAME_POP => self.pop_frames(usize::from(flags) + 1, "a thread to pop the frame of")?,
            FRAME_INDEX => {
                let id_delta = c.signed_varint()?;
                let function = c.cstr()?;
                let filename = c.cstr()?;
                let line_delta = c.signed_varint()?;
                self.last_python_frame_id = self.last_python_frame_id.wrapping_add(id_delta as u64);
                // memray adds the delta to an `int`.
                self.last_python_line = self.last_python_line.wrapping_add(line_delta as i32);
                let location = Location {
                    function: String::from_utf8_lossy(function).into(),
                    file: String::from_utf8_lossy(filename).into(),
                    line: self.last_python_line,
                };
                if !self
                    .stacks
                    .indexed_frames
                    // memray 1.7 – 1.18: flag bit 0 marks a frame that is not an entry frame.
                    .insert(self.last_python_frame_id, location, flags & 1 == 0)
                {
                    return Err(Short::Malformed(
                        "FRAME_INDEX records of distinct frame ids (one id came twice)",
                    )
                    .into());
                }
            }
            OTHER => {
                return match token {
                    TRAILER_BYTE => Ok(Step::End(StreamEnd::Trailer)),
                    0 => Ok(Step::End(StreamEnd::Padding { offset: 0 })),
                    _ => Err(Short::Malformed("a known record type").into()),
                };
            }
            ALLOCATION_WITH_NATIVE => self.native_allocation_v10(c, flags)?,
            MEMORY_RECORD => self.memory_record(c)?,
            CONTEXT_SWITCH => self.context_switch(c)?,
            NATIVE_TRACE_INDEX => self.native_trace_index(c)?,
            MEMORY_MAP_START => self.memory_map_start(),
            SEGMENT_HEADER => self.segment_header(c)?,
            THREAD_RECORD => self.thread_record(c)?,
            _ => return Err(Short::Malformed("a known record type").into()),
        }
        Ok(Step::Record)
    }

    /// An ALLOCATION record of header version 10 or 11: a full address delta, then the
    /// size unless the allocator frees.
    #[inline]
    fn allocation_v10(&mut self, c: &mut Cursor<'_>, flags: u8) -> Result<(), StepError> {
        let allocator = Allocator::from_legacy_id(flags)
            .ok_or(Short::Malformed("a known allocator id (1-15)"))?;
        let delta = c.signed_varint()?;
        let kind = allocator.kind();
        let size = if kind == AllocatorKind::SimpleDeallocator {
            0
        } else {
            c.varint()?
        };
        self.last_data_pointer = self.last_data_pointer.wrapping_add(delta as u64);
        let Some(i) = self.current else {
            return Err(Short::Malformed("a thread for the allocation").into());
        };
        let thread = &self.threads[i];
        let stack_id = if allocator.is_deallocator() {
            0
        } else {
            thread.frames.last().copied().unwrap_or(0)
        };
        self.builder.push(
            thread.tid,
            self.last_data_pointer,
            size,
            allocator,
            stack_id,
            0,
        );
        self.allocations += 1;
        Ok(())
    }

    /// An ALLOCATION_WITH_NATIVE record of header version 10 or 11 (native captures): the
    /// address delta, the size (always), the native frame delta. memray keeps the Python
    /// stack even for deallocations here.
    fn native_allocation_v10(&mut self, c: &mut Cursor<'_>, flags: u8) -> Result<(), StepError> {
        let allocator = Allocator::from_legacy_id(flags)
            .ok_or(Short::Malformed("a known allocator id (1-15)"))?;
        let delta = c.signed_varint()?;
        let size = c.varint()?;
        let native_delta = c.signed_varint()?;
        self.last_data_pointer = self.last_data_pointer.wrapping_add(delta as u64);
        self.last_native_frame_id = self.last_native_frame_id.wrapping_add(native_delta as u64);
        let Some(i) = self.current else {
            return Err(Short::Malformed("a thread for the allocation").into());
        };
        let thread = &self.threads[i];
        let stack_id = thread.frames.last().copied().unwrap_or(0);
        self.builder.push(
            thread.tid,
            self.last_data_pointer,
            size,
            allocator,
            stack_id,
            self.last_native_frame_id,
        );
        self.allocations += 1;
        Ok(())
    }

    /// One record of an AGGREGATED_ALLOCATIONS capture; `V10` for header version 10 and 11,
    /// whose stack records are fixed-width and carry locations, whose allocator ids use the
    /// old numbering, and which have no CODE_OBJECT or SURVIVING_OBJECT records.
    fn step_aggregated<const V10: bool>(&mut self, c: &mut Cursor<'_>) -> Result<Step, StepError> {
        use record_type::*;
        let token = c.u8()?;
        match token {
            MEMORY_SNAPSHOT => {
                c.bytes(24)?;
                self.memory_records += 1;
            }
            AGGREGATED_ALLOCATION => {
                let b = c.bytes(AGGREGATED_ALLOCATION_BYTES)?;
                let word = |i: usize| {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(&b[i * 8..i * 8 + 8]);
                    u64::from_le_bytes(a)
                };
                let allocator = if V10 {
                    Allocator::from_legacy_id(b[8])
                } else {
                    Allocator::from_id(b[8])
                };
                let allocator = allocator.ok_or(Short::Malformed("a known allocator id (1-15)"))?;
                self.aggregated.push(AggregatedAllocation {
                    tid: word(0),
                    allocator,
                    native_frame_id: word(2),
                    frame_index: word(3),
                    native_segment_generation: word(4),
                    n_allocations_in_high_water_mark: word(5),
                    n_allocations_leaked: word(6),
                    bytes_in_high_water_mark: word(7),
                    bytes_leaked: word(8),
                });
            }
            PYTHON_TRACE_INDEX => {
                // Header 10 and 11: a raw u64 frame id and u32 parent index.
                let (frame_id, parent) = if V10 {
                    (c.u64_le()?, u64::from(c.u32_le()?))
                } else {
                    (c.varint()?, c.varint()?)
                };
                if self.stacks.tree.child(parent, frame_id).is_none() {
                    return Err(Short::Malformed(
                        "a PYTHON_TRACE_INDEX whose parent is a known stack",
                    )
                    .into());
                }
            }
            PYTHON_FRAME_INDEX if V10 => {
                // Written in hash-map order: ids need not be sequential, only distinct.
                let frame_id = c.u64_le()?;
                let function = c.cstr()?;
                let filename = c.cstr()?;
                let line = c.i32_le()?;
                let is_entry_frame = c.bool()?;
                let location = Location {
                    function: String::from_utf8_lossy(function).into(),
                    file: String::from_utf8_lossy(filename).into(),
                    line,
                };
                if !self
                    .stacks
                    .indexed_frames
                    .insert(frame_id, location, is_entry_frame)
                {
                    return Err(Short::Malformed(
                        "PYTHON_FRAME_INDEX records of distinct frame ids (one id came twice)",
                    )
                    .into());
                }
            }
            PYTHON_FRAME_INDEX => {
                let frame_id = c.varint()?;
                let code_object_id = c.varint()?;
                let instruction_offset = c.signed_varint()? as i32;
                let is_entry_frame = c.bool()?;
                let id = self.stacks.frames.register(Frame {
                    code_object_id,
                    instruction_offset,
                    is_entry_frame,
                });
                if id != Some(frame_id) {
                    return Err(Short::Malformed(
                        "PYTHON_FRAME_INDEX ids in order (frame id mismatch)",
                    )
                    .into());
                }
            }
            NATIVE_TRACE_INDEX => self.native_trace_index(c)?,
            MEMORY_MAP_START => self.memory_map_start(),
            SEGMENT_HEADER => self.segment_header(c)?,
            THREAD_RECORD => self.thread_record(c)?,
            CONTEXT_SWITCH => self.context_switch(c)?,
            SURVIVING_OBJECT | CODE_OBJECT if V10 => {
                return Err(Short::Malformed("a known aggregated record type").into());
            }
            SURVIVING_OBJECT => {
                c.varint()?;
                if self.native_traces {
                    c.varint()?;
                }
            }
            CODE_OBJECT => self.code_object(c)?,
            AGGREGATED_TRAILER => return Ok(Step::End(StreamEnd::Trailer)),
            FILLER => return Ok(Step::End(StreamEnd::Padding { offset: 0 })),
            _ => return Err(Short::Malformed("a known aggregated record type").into()),
        }
        Ok(Step::Record)
    }
}

#[cfg(test)]
mod tests;

/// For record formats without a fast path: take every record through the checked step.
fn no_fast_path(_: &mut Decoder, _: &[u8], pos: usize) -> usize {
    pos
}
