//! `memform diff BASE NEW`: the reports of two captures (the same mode) joined by stack,
//! each stack with its bytes and allocations in both and their changes: what grew and what
//! shrank between two runs of a program.
//!
//! - The key is the stack as the CSV report's `stack_trace` prints it (frames leaf first,
//!   `function;file;line` joined by `|`), so captures of different memray or Python
//!   versions compare wherever their frames print the same; [`DiffKey::Row`] keeps the
//!   allocator and thread apart as the CSV report's rows do, [`DiffKey::Stack`] (the
//!   default) sums them.
//! - Rows are sorted by the change in bytes, largest growth first; ties by stack, then
//!   allocator and thread: the same captures always give the same bytes.
//! - A capture recorded with `--native` and one recorded without cannot match a single
//!   frame: they are refused ([`Error::Incomparable`]).
//! - The two reports are computed one after the other; the first is reduced to its rows
//!   of the diff before the second is read. The diff keeps each distinct frame once and a
//!   stack as its frames' numbers, and prints stacks only as it writes them: the memory of
//!   the rows is a small part of that of an analysis.
//!
//! [`output`] writes a diff (CSV, Parquet, folded, flame graph); [`threshold`] is
//! `--fail-above`; [`cli`] is the command.

pub mod cli;
pub mod output;
pub mod threshold;

use std::io;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;

use crate::analysis::{self, read_capture_header, Report, ReportMode};
use crate::capture::{check_capture, end_warning, Allocator, CaptureFile};
use crate::error::Error;
use crate::interner::FxIndexSet;
use crate::progress::Progress;
use crate::report::folded::fold;
use crate::report::{stack_trace, ReportRow, ReportWriter, ResolvedStacks};
use crate::stacks::Location;

/// What the rows of a diff are keyed by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DiffKey {
    /// The stack alone: a stack's rows of every thread and allocator summed (`--by stack`).
    #[default]
    Stack,
    /// The stack, the allocator and the thread, as the CSV report's rows (`--by row`).
    Row,
}

impl DiffKey {
    pub const ALL: [DiffKey; 2] = [DiffKey::Stack, DiffKey::Row];

    pub fn name(self) -> &'static str {
        match self {
            DiffKey::Stack => "stack",
            DiffKey::Row => "row",
        }
    }

    /// The key named `name` (case-insensitively).
    pub fn from_name(name: &str) -> Option<DiffKey> {
        DiffKey::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }
}

/// How to diff two captures.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiffOptions {
    /// The report of both captures.
    pub mode: ReportMode,
    pub by: DiffKey,
    /// Threads of each analysis ([`analysis::Options::threads`]).
    pub threads: usize,
}

/// Bytes and allocations of a row (or a report) in one capture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amount {
    pub size: u64,
    pub allocations: u64,
}

impl Amount {
    fn add(&mut self, size: u64, allocations: u64) {
        self.size = self.size.saturating_add(size);
        self.allocations = self.allocations.saturating_add(allocations);
    }
}

/// `new - base`, signed.
pub fn change(base: u64, new: u64) -> i128 {
    i128::from(new) - i128::from(base)
}

/// One row of a diff: a stack (with its allocator and thread under [`DiffKey::Row`]) and
/// its amounts in both captures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiffRow {
    /// The stack's index in [`Diff::stack_trace`] and [`Diff::folded`].
    pub stack: usize,
    pub allocator: Option<Allocator>,
    pub tid: Option<u64>,
    pub base: Amount,
    pub new: Amount,
}

impl DiffRow {
    pub fn delta_size(&self) -> i128 {
        change(self.base.size, self.new.size)
    }

    pub fn delta_allocations(&self) -> i128 {
        change(self.base.allocations, self.new.allocations)
    }
}

/// One capture's report as the diff sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    pub capture: PathBuf,
    /// The capture's high-water mark (none for a capture with no heap to follow).
    pub peak: Option<u64>,
    /// The report's bytes and allocations (summed over its rows; `u128`: never overflows).
    pub size: u128,
    pub allocations: u128,
    /// Said of a capture whose record stream ends without a trailer
    /// ([`crate::capture::end_warning`]): its report covers the records before its end.
    pub warning: Option<String>,
}

impl Side {
    fn of(file: &CaptureFile, capture: &Path, report: &Report) -> Side {
        Side {
            capture: capture.to_path_buf(),
            peak: report.high_water_mark.map(|h| h.bytes),
            size: 0,
            allocations: 0,
            warning: end_warning(file, report.end, report.total_allocations),
        }
    }
}

/// Two captures' reports joined by stack.
#[derive(Debug)]
pub struct Diff {
    pub mode: ReportMode,
    pub by: DiffKey,
    pub base: Side,
    pub new: Side,
    /// Each distinct frame.
    frames: FxIndexSet<Location>,
    /// Each distinct stack, by [`DiffRow::stack`]: its frames' numbers, leaf first.
    stacks: FxIndexSet<Box<[u32]>>,
    /// Sorted: largest growth in bytes first.
    pub rows: Vec<DiffRow>,
}

impl Diff {
    /// The frames of `row`'s stack, leaf first.
    pub fn frames(
        &self,
        row: &DiffRow,
    ) -> impl DoubleEndedIterator<Item = &Location> + ExactSizeIterator + '_ {
        let ids: &[u32] = self.stacks.get_index(row.stack).map_or(&[], |s| s);
        // Every number in `stacks` is a frame's (`Collector::stack`).
        ids.iter().map(|&id| &self.frames[id as usize])
    }

    /// Appends the CSV report's `stack_trace` of `row`'s stack to `out`.
    pub fn stack_trace(&self, row: &DiffRow, out: &mut String) {
        stack_trace(self.frames(row), out);
    }

    /// Appends the folded form of `row`'s stack ([`crate::report::folded::fold`]), root
    /// first, to `out`.
    pub fn folded(&self, row: &DiffRow, out: &mut String) {
        fold(self.frames(row), out);
    }

    /// The change of the report's bytes, new minus base.
    pub fn size_change(&self) -> i128 {
        self.new.size as i128 - self.base.size as i128
    }

    /// The change of the report's allocations, new minus base.
    pub fn allocations_change(&self) -> i128 {
        self.new.allocations as i128 - self.base.allocations as i128
    }

    /// The change of the report's bytes in percent of the base's (`None` when the base
    /// report is empty).
    pub fn size_change_percent(&self) -> Option<f64> {
        (self.base.size > 0).then(|| self.size_change() as f64 * 100.0 / self.base.size as f64)
    }
}

/// The diff of the `options.mode` reports of `base` and `new`.
pub fn diff(
    base: &Path,
    new: &Path,
    options: &DiffOptions,
    progress: &mut dyn Progress,
) -> Result<Diff, Error> {
    check_capture(base)?;
    check_capture(new)?;
    let base_file = CaptureFile::open(base)?;
    let new_file = CaptureFile::open(new)?;
    let base_native = read_capture_header(&base_file)?.native_traces;
    let new_native = read_capture_header(&new_file)?.native_traces;
    if base_native != new_native {
        let (with, without) = if base_native {
            (base, new)
        } else {
            (new, base)
        };
        return Err(Error::Incomparable {
            base: base.to_path_buf(),
            new: new.to_path_buf(),
            why: format!(
                "{} was recorded with --native and {} without, so no stack of one can match a \
                 stack of the other",
                with.display(),
                without.display()
            ),
        });
    }
    let mut joined = Joined::new(options.by);
    let base_side = joined.add(&base_file, base, options, Which::Base, progress)?;
    drop(base_file);
    // The first analysis's tables are freed: out of the resident set before the second.
    crate::memory::return_freed_memory();
    let new_side = joined.add(&new_file, new, options, Which::New, progress)?;
    Ok(joined.finish(options, base_side, new_side))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Base,
    New,
}

/// The rows of the diff as the two reports' rows come in.
struct Joined {
    by: DiffKey,
    frames: FxIndexSet<Location>,
    stacks: FxIndexSet<Box<[u32]>>,
    /// Row by (stack, allocator, thread); both `None` under [`DiffKey::Stack`].
    rows: FxHashMap<(usize, Option<Allocator>, Option<u64>), DiffRow>,
}

impl Joined {
    fn new(by: DiffKey) -> Joined {
        Joined {
            by,
            frames: FxIndexSet::default(),
            stacks: FxIndexSet::default(),
            rows: FxHashMap::default(),
        }
    }

    /// Computes the report of `capture` and adds its rows as `which` side's.
    fn add(
        &mut self,
        capture: &CaptureFile,
        path: &Path,
        options: &DiffOptions,
        which: Which,
        progress: &mut dyn Progress,
    ) -> Result<Side, Error> {
        let analysis_options = analysis::Options {
            high_water_mark: true,
            threads: options.threads,
        };
        let mut report = analysis::compute(capture, options.mode, analysis_options, progress)?;
        let stacks = ResolvedStacks::resolve(&mut report).map_err(|e| Error::Write {
            path: path.to_path_buf(),
            source: io::Error::new(e.kind(), e.to_string()),
        })?;
        let mut collector = Collector {
            joined: self,
            which,
            side: Side::of(capture, path, &report),
            stack_of_report_stack: FxHashMap::default(),
            ids: Vec::new(),
        };
        crate::report::write_resolved(&report, &stacks, &mut collector).map_err(|source| {
            Error::Write {
                path: path.to_path_buf(),
                source,
            }
        })?;
        Ok(collector.side)
    }

    fn finish(self, options: &DiffOptions, base: Side, new: Side) -> Diff {
        let mut diff = Diff {
            mode: options.mode,
            by: self.by,
            base,
            new,
            frames: self.frames,
            stacks: self.stacks,
            rows: Vec::new(),
        };
        let mut rows: Vec<DiffRow> = self.rows.into_values().collect();
        // Ties in the order of their frames' names, which no hash or capture order decides.
        let names = |row: &DiffRow| diff.frames(row).map(|l| (&l.function, &l.file, l.line));
        rows.sort_unstable_by(|a, b| {
            b.delta_size()
                .cmp(&a.delta_size())
                .then_with(|| names(a).cmp(names(b)))
                .then_with(|| a.allocator.cmp(&b.allocator))
                .then_with(|| a.tid.cmp(&b.tid))
        });
        diff.rows = rows;
        diff
    }
}

/// A report writer that adds a report's rows to the diff.
struct Collector<'j> {
    joined: &'j mut Joined,
    which: Which,
    side: Side,
    /// The diff's stack of each of the report's stacks seen.
    stack_of_report_stack: FxHashMap<usize, usize>,
    ids: Vec<u32>,
}

impl Collector<'_> {
    /// The diff's stack of `row`'s frames.
    fn stack(&mut self, row: &ReportRow<'_>) -> usize {
        if let Some(&stack) = self.stack_of_report_stack.get(&row.stack_index) {
            return stack;
        }
        let frames = &mut self.joined.frames;
        self.ids.clear();
        self.ids.extend(row.frames.iter().map(|location| {
            let id = match frames.get_index_of(location) {
                Some(id) => id,
                None => frames.insert_full(location.clone()).0,
            };
            // A report has fewer than 2^32 distinct frames ([`ResolvedStacks::resolve`]).
            id as u32
        }));
        let stack = match self.joined.stacks.get_index_of(self.ids.as_slice()) {
            Some(stack) => stack,
            None => {
                (self.joined.stacks)
                    .insert_full(self.ids.clone().into_boxed_slice())
                    .0
            }
        };
        self.stack_of_report_stack.insert(row.stack_index, stack);
        stack
    }
}

impl ReportWriter for Collector<'_> {
    fn begin(&mut self, _report: &Report) -> io::Result<()> {
        Ok(())
    }

    fn row(&mut self, row: &ReportRow<'_>) -> io::Result<()> {
        let stack = self.stack(row);
        let (allocator, tid) = match self.joined.by {
            DiffKey::Stack => (None, None),
            DiffKey::Row => (Some(row.allocator), Some(row.tid)),
        };
        let entry = self
            .joined
            .rows
            .entry((stack, allocator, tid))
            .or_insert(DiffRow {
                stack,
                allocator,
                tid,
                base: Amount::default(),
                new: Amount::default(),
            });
        let amount = match self.which {
            Which::Base => &mut entry.base,
            Which::New => &mut entry.new,
        };
        amount.add(row.size, row.num_allocations);
        self.side.size += u128::from(row.size);
        self.side.allocations += u128::from(row.num_allocations);
        Ok(())
    }

    fn finish(&mut self, _report: &Report) -> io::Result<()> {
        Ok(())
    }
}
