//! Reduction of report members into rows keyed by stack (memray's `getSnapshotAllocations`
//! with threads merged, and `Py_ListFromSnapshotAllocationRecords`' ordering).
//!
//! A row's key is `(Python stack id, native stack id)`; its sequence number is the smallest
//! of its members'; rows come out in increasing sequence number. Which member gives the row
//! its allocator and thread depends on the report (see [`Representative`]).

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, UInt64Array, UInt8Array};
use arrow_schema::{DataType, Field, Schema};

use crate::capture::{AllocationEvent, Allocator};
use crate::interner::FxIndexMap;

/// One allocation that belongs in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub seq: u64,
    /// Where memray meets it when it reduces the live allocations: members with larger
    /// positions first ([`crate::analysis::hash_order::position`]); 0 for those
    /// it meets after every member of its map (mappings, in their list's order) and where
    /// the order is not the map's.
    pub position: u64,
    pub tid: u64,
    pub allocator: Allocator,
    pub stack_id: u64,
    pub native_stack_id: u64,
    pub size: u64,
}

impl From<AllocationEvent> for Member {
    /// The allocation `e` as a member of a report.
    fn from(e: AllocationEvent) -> Member {
        Member {
            seq: e.seq,
            position: 0,
            tid: e.tid,
            allocator: e.allocator,
            stack_id: e.stack_id,
            native_stack_id: e.native_stack_id,
            size: e.size,
        }
    }
}

/// Which member names a row's allocator and thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representative {
    /// The member memray's map yields first (peak and leaks of full captures): the largest
    /// position; among equal positions (mappings, which memray meets after the map's
    /// members and in order of creation) the smallest sequence number.
    HashOrder,
    /// The first member added (temporary reports and aggregated captures).
    First,
}

#[derive(Debug, Clone, Copy)]
struct Row {
    seq: u64,
    rep_seq: u64,
    rep_position: u64,
    tid: u64,
    allocator: Allocator,
    stack_id: u64,
    native_stack_id: u64,
    count: u64,
    size: u64,
}

/// Accumulates members into rows.
#[derive(Debug)]
pub struct Reducer {
    representative: Representative,
    /// Rows by `(Python stack id, native stack id)`.
    rows: FxIndexMap<(u64, u64), Row>,
}

impl Reducer {
    pub fn new(representative: Representative) -> Self {
        Reducer {
            representative,
            rows: FxIndexMap::default(),
        }
    }

    /// Adds one member.
    #[inline]
    pub fn add(&mut self, m: Member) {
        self.add_counted(m, 1);
    }

    /// Adds a member that opens its row with `first_count` allocations. memray's aggregated
    /// reports start a row with the first record's allocation count and add one for every
    /// further record of the same key; this reproduces that.
    pub fn add_counted(&mut self, m: Member, first_count: u64) {
        let row = match self.rows.entry((m.stack_id, m.native_stack_id)) {
            indexmap::map::Entry::Vacant(v) => {
                v.insert(Row {
                    seq: m.seq,
                    rep_seq: m.seq,
                    rep_position: m.position,
                    tid: m.tid,
                    allocator: m.allocator,
                    stack_id: m.stack_id,
                    native_stack_id: m.native_stack_id,
                    count: first_count,
                    size: m.size,
                });
                return;
            }
            indexmap::map::Entry::Occupied(o) => o.into_mut(),
        };
        row.count = row.count.wrapping_add(1);
        row.size = row.size.wrapping_add(m.size);
        row.seq = row.seq.min(m.seq);
        if self.representative == Representative::HashOrder {
            Self::compete(row, &m);
        }
    }

    /// Makes `m` its row's representative if it comes first, without counting it: for a
    /// member counted with no valid position (see [`crate::analysis::heap`]). A row with no
    /// member yet is left alone.
    pub fn offer_representative(&mut self, m: Member) {
        if let Some(row) = self.rows.get_mut(&(m.stack_id, m.native_stack_id)) {
            Self::compete(row, &m);
        }
    }

    #[inline]
    fn compete(row: &mut Row, m: &Member) {
        if (m.position, std::cmp::Reverse(m.seq))
            > (row.rep_position, std::cmp::Reverse(row.rep_seq))
        {
            row.rep_seq = m.seq;
            row.rep_position = m.position;
            row.tid = m.tid;
            row.allocator = m.allocator;
        }
    }

    /// The rows in memray 1.20's order, as an Arrow record batch with the schema of
    /// [`rows_schema`].
    pub fn finish(self) -> RecordBatch {
        let mut rows: Vec<Row> = self.rows.into_values().collect();
        rows.sort_by_key(|r| r.seq);
        let col = |f: fn(&Row) -> u64| -> ArrayRef {
            Arc::new(rows.iter().map(f).collect::<UInt64Array>())
        };
        let allocator: UInt8Array = rows.iter().map(|r| r.allocator.id()).collect();
        let columns = vec![
            col(|r| r.seq),
            col(|r| r.stack_id),
            col(|r| r.native_stack_id),
            Arc::new(allocator) as ArrayRef,
            col(|r| r.tid),
            col(|r| r.count),
            col(|r| r.size),
            col(|r| r.rep_seq),
        ];
        RecordBatch::try_new(rows_schema(), columns).expect("columns match the schema")
    }
}

/// The schema of reduced report rows.
pub fn rows_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("seq", DataType::UInt64, false),
        Field::new("stack_id", DataType::UInt64, false),
        Field::new("native_stack_id", DataType::UInt64, false),
        Field::new("allocator", DataType::UInt8, false),
        Field::new("tid", DataType::UInt64, false),
        Field::new("num_allocations", DataType::UInt64, false),
        Field::new("size", DataType::UInt64, false),
        // The sequence number of the member that gave the row its allocator and thread.
        Field::new("representative_seq", DataType::UInt64, false),
    ]))
}

/// Typed access to the columns of a rows batch.
pub struct Rows<'a> {
    pub seq: &'a [u64],
    pub stack_id: &'a [u64],
    pub native_stack_id: &'a [u64],
    pub allocator: &'a [u8],
    pub tid: &'a [u64],
    pub num_allocations: &'a [u64],
    pub size: &'a [u64],
    pub representative_seq: &'a [u64],
}

impl<'a> Rows<'a> {
    /// Views `batch`, which must have the schema of [`rows_schema`].
    pub fn new(batch: &'a RecordBatch) -> Rows<'a> {
        let u64s = |i: usize| {
            batch
                .column(i)
                .as_any()
                .downcast_ref::<UInt64Array>()
                .expect("rows schema")
                .values()
                .as_ref()
        };
        let allocator = batch
            .column(3)
            .as_any()
            .downcast_ref::<UInt8Array>()
            .expect("rows schema")
            .values()
            .as_ref();
        Rows {
            seq: u64s(0),
            stack_id: u64s(1),
            native_stack_id: u64s(2),
            allocator,
            tid: u64s(4),
            num_allocations: u64s(5),
            size: u64s(6),
            representative_seq: u64s(7),
        }
    }

    pub fn len(&self) -> usize {
        self.seq.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seq.is_empty()
    }

    pub fn allocator(&self, row: usize) -> Allocator {
        Allocator::from_id(self.allocator[row]).unwrap_or(Allocator::Malloc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(seq: u64, tid: u64, stack: u64, size: u64) -> Member {
        Member {
            seq,
            position: 0,
            tid,
            allocator: Allocator::Malloc,
            stack_id: stack,
            native_stack_id: 0,
            size,
        }
    }

    #[test]
    fn rows_merge_by_stack_and_sort_by_first_member() {
        let mut r = Reducer::new(Representative::HashOrder);
        r.add(m(5, 1, 7, 10));
        r.add(m(2, 2, 7, 5));
        r.add(m(3, 1, 8, 1));
        let batch = r.finish();
        let rows = Rows::new(&batch);
        assert_eq!(rows.seq, &[2, 3]);
        assert_eq!(rows.stack_id, &[7, 8]);
        assert_eq!(rows.tid, &[2, 1]);
        assert_eq!(rows.num_allocations, &[2, 1]);
        assert_eq!(rows.size, &[15, 1]);
        assert_eq!(rows.representative_seq, &[2, 3]);
    }

    #[test]
    fn first_representative_keeps_the_first_member() {
        let mut r = Reducer::new(Representative::First);
        r.add(m(5, 1, 7, 10));
        r.add(m(2, 2, 7, 5));
        let batch = r.finish();
        assert_eq!(Rows::new(&batch).tid, &[1]);
        assert_eq!(Rows::new(&batch).seq, &[2]);
        assert_eq!(Rows::new(&batch).representative_seq, &[5]);
    }
}
