//! Stack resolution, the stage between the reduced rows and the writers: every row's stack
//! printed as memray prints it, each distinct stack resolved once.
//!
//! Resolving needs the report mutably (native images are loaded on first use), writing
//! does not: [`ResolvedStacks::resolve`] runs first, and the writers then take the report
//! and its stacks by shared reference.

use rustc_hash::FxHashMap;

use crate::analysis::reduction::Rows;
use crate::analysis::Report;
use crate::stacks::hybrid::{hybrid_stack, BoundaryRule};
use crate::stacks::Location;

/// What decides the printed stack of a row: `(Python stack, native stack, segment
/// generation, on the main thread)`. Rows with equal keys print equal stacks.
type StackKey = (u64, u64, u64, bool);

/// The distinct stacks of a report's rows, and which one each row prints.
#[derive(Debug, Default)]
pub struct ResolvedStacks {
    stacks: Vec<Box<[Location]>>,
    of_row: Vec<u32>,
}

impl ResolvedStacks {
    /// Resolves the stack of every row of `report`: for captures without native traces the
    /// Python stack, whose outermost frames (those above the tracker) are dropped on the
    /// main thread; for `--native` captures the hybrid stack, with native frames resolved
    /// against the memory maps of the row's representative member.
    pub fn resolve(report: &mut Report) -> ResolvedStacks {
        let batch = report.rows.clone();
        let rows = Rows::new(&batch);
        let main_tid = report.header.main_tid;
        let skipped = report.header.skipped_frames_on_main_tid;
        let boundary = BoundaryRule::for_header_version(report.header.version);
        let mut index: FxHashMap<StackKey, u32> = FxHashMap::default();
        let mut resolved = ResolvedStacks {
            stacks: Vec::new(),
            of_row: Vec::with_capacity(rows.len()),
        };
        for row in 0..rows.len() {
            let on_main = rows.tid[row] == main_tid;
            let key = match &report.native {
                None => (rows.stack_id[row], 0, 0, on_main),
                Some(native) => (
                    rows.stack_id[row],
                    rows.native_stack_id[row],
                    native.generation_of(rows.representative_seq[row]),
                    on_main,
                ),
            };
            let next = resolved.stacks.len() as u32;
            let id = *index.entry(key).or_insert(next);
            if id == next {
                let (stack_id, native_id, generation, on_main) = key;
                let skip = if on_main { skipped } else { 0 };
                let frames: Vec<Location> = match report.native.as_mut() {
                    None => report.stacks.stack(stack_id, skip),
                    Some(native) => {
                        let native_frames = native.stack(native_id, generation);
                        let python = report.stacks.stack_with_entry_flags(stack_id);
                        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
                        hybrid_stack(&native_frames, &python, skip, boundary)
                    }
                };
                resolved.stacks.push(frames.into_boxed_slice());
            }
            resolved.of_row.push(id);
        }
        resolved
    }

    /// The index of row `row`'s stack among the distinct stacks (equal for rows that print
    /// equal stacks because they have the same key).
    pub fn index_of_row(&self, row: usize) -> usize {
        self.of_row[row] as usize
    }

    /// The frames of distinct stack `index`, leaf first.
    pub fn frames(&self, index: usize) -> &[Location] {
        &self.stacks[index]
    }
}
