//! Columnar batches of allocation events, as Arrow arrays.
//!
//! The decoder appends events to an [`EventBatchBuilder`]; every [`BATCH_EVENTS`] events it is
//! finished into an [`EventBatch`] (zero-copy: the column vectors become Arrow buffers) and
//! handed to the analysis. An event's sequence number is implicit: `first_seq + row`.

use std::sync::Arc;

use std::sync::mpsc::Receiver;

use arrow_array::types::ArrowPrimitiveType;
use arrow_array::{ArrayRef, PrimitiveArray, RecordBatch, UInt64Array, UInt8Array};
use arrow_schema::{DataType, Field, Schema};

use crate::capture::allocator::Allocator;

/// Events per batch (a few under the fuzzer, whose inputs are small, so that it crosses
/// batch boundaries too).
#[cfg(not(fuzzing))]
pub const BATCH_EVENTS: usize = 1 << 16;
#[cfg(fuzzing)]
pub const BATCH_EVENTS: usize = 1 << 7;

/// The columns' first size: they grow fourfold from here up to [`BATCH_EVENTS`], so a small
/// capture does not pay for zeroing columns it never fills.
#[cfg(not(fuzzing))]
const FIRST_COLUMN_EVENTS: usize = 1 << 12;
#[cfg(fuzzing)]
const FIRST_COLUMN_EVENTS: usize = 1 << 3;

/// One decoded allocation event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocationEvent {
    pub seq: u64,
    pub tid: u64,
    pub address: u64,
    pub size: u64,
    pub allocator: Allocator,
    /// Python stack id (a node of the stack tree); 0 for deallocations and empty stacks.
    pub stack_id: u64,
    /// Native stack id; 0 without native traces and for deallocations.
    pub native_stack_id: u64,
}

/// A MEMORY_RECORD of a full capture: the process's resident size at a time, and where it
/// falls among the allocation events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemorySample {
    /// Allocation events decoded before it: it follows event `events_before - 1`.
    pub events_before: u64,
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// Resident set size, bytes.
    pub rss: u64,
}

/// A batch of consecutive allocation events in Arrow columns.
#[derive(Debug, Clone)]
pub struct EventBatch {
    pub first_seq: u64,
    pub tid: UInt64Array,
    pub address: UInt64Array,
    pub size: UInt64Array,
    /// memray's allocator ids; always valid [`Allocator`] ids.
    pub allocator: UInt8Array,
    pub stack_id: UInt64Array,
    pub native_stack_id: UInt64Array,
    /// The memory records decoded since the previous batch, in order; each falls before
    /// this batch's events or among them (`events_before` from `first_seq` to
    /// `first_seq + len`). A batch may hold only these, and no events.
    pub memory: Vec<MemorySample>,
    /// `(first event, generation)` for each segment generation that started since the
    /// previous batch (see [`crate::capture::Decoder::generation_starts`]).
    pub generation_starts: Vec<(u64, u64)>,
}

impl EventBatch {
    pub fn len(&self) -> usize {
        self.tid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tid.is_empty()
    }

    /// Event `row` of the batch.
    #[inline]
    pub fn event(&self, row: usize) -> AllocationEvent {
        AllocationEvent {
            seq: self.first_seq + row as u64,
            tid: self.tid.values()[row],
            address: self.address.values()[row],
            size: self.size.values()[row],
            allocator: Allocator::from_id(self.allocator.values()[row])
                .unwrap_or(Allocator::Malloc),
            stack_id: self.stack_id.values()[row],
            native_stack_id: self.native_stack_id.values()[row],
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = AllocationEvent> + '_ {
        (0..self.len()).map(move |row| self.event(row))
    }

    /// The schema of [`EventBatch::to_record_batch`].
    pub fn schema() -> Arc<Schema> {
        Arc::new(Schema::new(vec![
            Field::new("seq", DataType::UInt64, false),
            Field::new("tid", DataType::UInt64, false),
            Field::new("address", DataType::UInt64, false),
            Field::new("size", DataType::UInt64, false),
            Field::new("allocator", DataType::UInt8, false),
            Field::new("stack_id", DataType::UInt64, false),
            Field::new("native_stack_id", DataType::UInt64, false),
        ]))
    }

    /// The batch as an Arrow record batch with an explicit `seq` column.
    pub fn to_record_batch(&self) -> RecordBatch {
        let seq: UInt64Array = (0..self.len() as u64).map(|i| self.first_seq + i).collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(seq),
            Arc::new(self.tid.clone()),
            Arc::new(self.address.clone()),
            Arc::new(self.size.clone()),
            Arc::new(self.allocator.clone()),
            Arc::new(self.stack_id.clone()),
            Arc::new(self.native_stack_id.clone()),
        ];
        RecordBatch::try_new(Self::schema(), columns).expect("columns match the schema")
    }
}

/// The column vectors of a batch, for reuse once a batch has been consumed.
#[derive(Debug, Default)]
pub struct Columns {
    tid: Vec<u64>,
    address: Vec<u64>,
    size: Vec<u64>,
    allocator: Vec<u8>,
    stack_id: Vec<u64>,
    native_stack_id: Vec<u64>,
}

fn into_vec<T: ArrowPrimitiveType>(array: PrimitiveArray<T>) -> Option<Vec<T::Native>> {
    let (_, values, _) = array.into_parts();
    values.into_inner().into_vec().ok()
}

impl EventBatch {
    /// Takes the batch apart into its column vectors (when no one else holds them), so the
    /// decoder can fill them again without new allocations.
    pub fn into_columns(self) -> Option<Columns> {
        Some(Columns {
            tid: into_vec(self.tid)?,
            address: into_vec(self.address)?,
            size: into_vec(self.size)?,
            allocator: into_vec(self.allocator)?,
            stack_id: into_vec(self.stack_id)?,
            native_stack_id: into_vec(self.native_stack_id)?,
        })
    }
}

/// The columns of a batch being built, all of one length (at most [`BATCH_EVENTS`]), and
/// how many events they hold (see [`EventBatchBuilder::slots`]).
pub(crate) struct Slots<'a> {
    pub tid: &'a mut [u64],
    pub address: &'a mut [u64],
    pub size: &'a mut [u64],
    pub allocator: &'a mut [u8],
    pub stack_id: &'a mut [u64],
    pub native_stack_id: &'a mut [u64],
    pub len: &'a mut usize,
}

/// Accumulates events column by column.
#[derive(Debug, Default)]
pub struct EventBatchBuilder {
    first_seq: u64,
    tid: Vec<u64>,
    address: Vec<u64>,
    size: Vec<u64>,
    allocator: Vec<u8>,
    stack_id: Vec<u64>,
    native_stack_id: Vec<u64>,
    /// Events in the batch; the column vectors may be longer (pre-sized).
    len: usize,
    /// Columns of consumed batches, handed back for reuse.
    spare: Option<Receiver<Columns>>,
}

impl EventBatchBuilder {
    pub fn new(first_seq: u64) -> Self {
        EventBatchBuilder {
            first_seq,
            ..Default::default()
        }
    }

    /// Appends one event. The columns are pre-sized, so this is mostly a few stores; the
    /// caller finishes the batch when [`EventBatchBuilder::is_full`]. Always inlined: it is
    /// the innermost step of every allocation record.
    #[inline(always)]
    pub fn push(
        &mut self,
        tid: u64,
        address: u64,
        size: u64,
        allocator: Allocator,
        stack_id: u64,
        native_stack_id: u64,
    ) {
        let n = self.len;
        if n >= self.tid.len() {
            self.grow();
        }
        self.tid[n] = tid;
        self.address[n] = address;
        self.size[n] = size;
        self.allocator[n] = allocator.id();
        self.stack_id[n] = stack_id;
        self.native_stack_id[n] = native_stack_id;
        self.len = n + 1;
    }

    #[cold]
    fn grow(&mut self) {
        self.grow_to((self.tid.len() * 4).clamp(FIRST_COLUMN_EVENTS, BATCH_EVENTS));
    }

    fn grow_to(&mut self, n: usize) {
        self.tid.resize(n, 0);
        self.address.resize(n, 0);
        self.size.resize(n, 0);
        self.allocator.resize(n, 0);
        self.stack_id.resize(n, 0);
        self.native_stack_id.resize(n, 0);
    }

    /// The columns of the batch being built, for the decoder's fast path to write events
    /// into by index: grown first if they are full, and then never more than
    /// [`BATCH_EVENTS`] long.
    #[inline]
    pub(crate) fn slots(&mut self) -> Slots<'_> {
        if self.len >= self.tid.len() && self.tid.len() < BATCH_EVENTS {
            self.grow();
        }
        let n = self.tid.len().min(BATCH_EVENTS);
        Slots {
            tid: &mut self.tid[..n],
            address: &mut self.address[..n],
            size: &mut self.size[..n],
            allocator: &mut self.allocator[..n],
            stack_id: &mut self.stack_id[..n],
            native_stack_id: &mut self.native_stack_id[..n],
            len: &mut self.len,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_full(&self) -> bool {
        self.len >= BATCH_EVENTS
    }

    /// Reuses the columns that arrive on `spare` for later batches.
    pub fn recycle_from(&mut self, spare: Receiver<Columns>) {
        self.spare = Some(spare);
    }

    /// Finishes the batch and starts the next one right after it.
    pub fn finish(&mut self) -> EventBatch {
        let fresh = self
            .spare
            .as_ref()
            .and_then(|rx| rx.try_recv().ok())
            .unwrap_or_default();
        let was_full = self.is_full();
        // Recycled columns keep their length: they are overwritten by index, not cleared.
        self.tid.truncate(self.len);
        self.address.truncate(self.len);
        self.size.truncate(self.len);
        self.allocator.truncate(self.len);
        self.stack_id.truncate(self.len);
        self.native_stack_id.truncate(self.len);
        self.len = 0;
        let next = EventBatchBuilder {
            first_seq: self.first_seq,
            tid: std::mem::replace(&mut self.tid, fresh.tid),
            address: std::mem::replace(&mut self.address, fresh.address),
            size: std::mem::replace(&mut self.size, fresh.size),
            allocator: std::mem::replace(&mut self.allocator, fresh.allocator),
            stack_id: std::mem::replace(&mut self.stack_id, fresh.stack_id),
            native_stack_id: std::mem::replace(&mut self.native_stack_id, fresh.native_stack_id),
            len: 0,
            spare: None,
        };
        self.first_seq = next.first_seq + next.tid.len() as u64;
        if was_full && self.tid.len() < BATCH_EVENTS {
            // A capture that filled one batch fills more: the next columns start full size
            // instead of growing again.
            self.grow_to(BATCH_EVENTS);
        }
        EventBatch {
            first_seq: next.first_seq,
            tid: UInt64Array::from(next.tid),
            address: UInt64Array::from(next.address),
            size: UInt64Array::from(next.size),
            allocator: UInt8Array::from(next.allocator),
            stack_id: UInt64Array::from(next.stack_id),
            native_stack_id: UInt64Array::from(next.native_stack_id),
            memory: Vec::new(),
            generation_starts: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_carry_consecutive_sequence_numbers() {
        let mut b = EventBatchBuilder::new(0);
        b.push(1, 0x10, 8, Allocator::Malloc, 3, 0);
        b.push(1, 0x10, 0, Allocator::Free, 0, 0);
        let first = b.finish();
        b.push(2, 0x20, 16, Allocator::Mmap, 4, 0);
        let second = b.finish();
        assert_eq!(first.len(), 2);
        assert_eq!(second.first_seq, 2);
        let e = second.event(0);
        assert_eq!((e.seq, e.tid, e.allocator), (2, 2, Allocator::Mmap));
        assert_eq!(first.to_record_batch().num_rows(), 2);
        let columns = first.into_columns().expect("sole owner");
        assert_eq!(columns.tid, vec![1, 1]);
    }

    #[test]
    fn consumed_batches_give_their_columns_back_for_reuse() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut b = EventBatchBuilder::new(0);
        b.recycle_from(rx);
        b.push(1, 2, 3, Allocator::Malloc, 4, 5);
        let first = b.finish();
        let buffer = first.tid.values().as_ptr();
        tx.send(first.into_columns().expect("sole owner")).unwrap();
        // The builder took the spare columns when it finished the first batch, before they
        // were sent back; they become the third batch's.
        b.push(1, 2, 3, Allocator::Malloc, 4, 5);
        let second = b.finish();
        b.push(1, 2, 3, Allocator::Malloc, 4, 5);
        let third = b.finish();
        assert_ne!(second.tid.values().as_ptr(), buffer);
        assert_eq!(third.tid.values().as_ptr(), buffer);
        assert_eq!((third.first_seq, third.len()), (2, 1));
    }
}
