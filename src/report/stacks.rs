//! Stack resolution, the stage between the reduced rows and the writers: every row's stack
//! printed as memray prints it, each distinct stack resolved once.
//!
//! Resolving needs the report mutably (native images are loaded on first use), writing
//! does not: [`ResolvedStacks::resolve`] runs first, and the writers then take the report
//! and its stacks by shared reference.

use crate::analysis::reduction::Rows;
use crate::analysis::Report;
use crate::capture::Header;
use crate::interner::FxIndexMap;
use crate::stacks::hybrid::{hybrid_stack, BoundaryRule};
use crate::stacks::{Location, NativeStacks, StackTable};

/// What decides the printed stack of an allocation: `(Python stack, native stack, segment
/// generation, on the main thread)`. Equal keys print equal stacks.
pub type StackKey = (u64, u64, u64, bool);

/// Prints stacks as memray does: for captures without native traces the Python stack,
/// whose outermost frames (those above the tracker) are dropped on the main thread; for
/// `--native` captures the hybrid stack, with native frames resolved against the memory
/// maps of the key's segment generation.
pub struct StackPrinter<'a> {
    stacks: &'a mut StackTable,
    native: Option<&'a mut NativeStacks>,
    skipped_on_main: u64,
    boundary: BoundaryRule,
}

impl<'a> StackPrinter<'a> {
    pub fn new(
        header: &Header,
        stacks: &'a mut StackTable,
        native: Option<&'a mut NativeStacks>,
    ) -> StackPrinter<'a> {
        StackPrinter {
            stacks,
            native,
            skipped_on_main: header.skipped_frames_on_main_tid,
            boundary: BoundaryRule::for_header_version(header.version),
        }
    }

    /// Whether native stacks take part in the printed stacks (and so in their keys).
    pub fn is_native(&self) -> bool {
        self.native.is_some()
    }

    /// The frames of the stack `key` names, leaf first.
    pub fn frames(&mut self, key: StackKey) -> Vec<Location> {
        let (stack_id, native_id, generation, on_main) = key;
        let skip = if on_main { self.skipped_on_main } else { 0 };
        match self.native.as_deref_mut() {
            None => self.stacks.stack(stack_id, skip),
            Some(native) => {
                let native_frames = native.stack(native_id, generation);
                let python = self.stacks.stack_with_entry_flags(stack_id);
                let skip = usize::try_from(skip).unwrap_or(usize::MAX);
                hybrid_stack(&native_frames, &python, skip, self.boundary)
            }
        }
    }
}

/// The distinct stacks of a report's rows, and which one each row prints.
#[derive(Debug, Default)]
pub struct ResolvedStacks {
    /// Each distinct key with its frames; a stack's index is its key's.
    stacks: FxIndexMap<StackKey, Box<[Location]>>,
    of_row: Vec<u32>,
}

impl ResolvedStacks {
    /// Resolves the stack of every row of `report` ([`StackPrinter`]), native frames
    /// against the memory maps of the row's representative member.
    pub fn resolve(report: &mut Report) -> ResolvedStacks {
        let batch = report.rows.clone();
        let rows = Rows::new(&batch);
        let main_tid = report.header.main_tid;
        let mut resolved = ResolvedStacks {
            stacks: FxIndexMap::default(),
            of_row: Vec::with_capacity(rows.len()),
        };
        let mut printer =
            StackPrinter::new(&report.header, &mut report.stacks, report.native.as_mut());
        for row in 0..rows.len() {
            let on_main = rows.tid[row] == main_tid;
            let key = match printer.native.as_deref() {
                None => (rows.stack_id[row], 0, 0, on_main),
                Some(native) => (
                    rows.stack_id[row],
                    rows.native_stack_id[row],
                    native.generation_of(rows.representative_seq[row]),
                    on_main,
                ),
            };
            let id = match resolved.stacks.get_index_of(&key) {
                Some(id) => id,
                None => {
                    let frames = printer.frames(key);
                    resolved
                        .stacks
                        .insert_full(key, frames.into_boxed_slice())
                        .0
                }
            };
            resolved.of_row.push(id as u32);
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
