//! `memform stats`: memray's statistics of a capture (`memray stats`), computed in one pass
//! ([`compute`]), taken apart as memray does (top locations and modules, the allocators'
//! order) and printed as the memray of the capture's header version prints them
//! ([`render`]).

pub mod cli;
pub mod compute;
pub mod heap_size;
pub mod histogram;
pub mod map_order;
pub mod modules;
pub mod render;

use std::path::Path;

use crate::capture::{CaptureFile, Header};
use crate::error::CaptureError;
use crate::progress::Progress;
use crate::stacks::StackTable;
use compute::{Statistics, Totals};
use modules::{ModuleResolver, ModuleTotals};

/// What differs between the memray versions that read each header version (the newest of
/// each: 1.10 for header 10, 1.18 for 11, 1.19 for 12, 1.20 for 13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// `size_fmt` in powers of 1000 with `k` (1.18+), else of 1024 with `K`.
    pub decimal_sizes: bool,
    /// The "Peak memory usage" lines (1.18+).
    pub peak_line: bool,
    /// The modules' sections (1.20).
    pub modules: bool,
    /// Start and end times with their UTC offset (1.13+).
    pub aware_times: bool,
    /// Metadata `main_thread_id` and `file_format` (1.12+).
    pub main_thread_id: bool,
    /// Metadata `trace_python_allocators` (1.11+).
    pub trace_python_allocators: bool,
    /// A location is a frame id of the capture's (up to 1.18), else a function, file and
    /// line, each once.
    pub locations_by_frame: bool,
}

impl Style {
    pub fn for_header(version: i32) -> Style {
        Style {
            decimal_sizes: version >= 11,
            peak_line: version >= 11,
            modules: version >= 13,
            aware_times: version >= 11,
            main_thread_id: version >= 11,
            trace_python_allocators: version >= 11,
            locations_by_frame: version <= 11,
        }
    }
}

/// A location as memray prints it: function, file and line; `None` for allocations
/// without a Python stack.
pub type LocationKey = Option<(String, String, i64)>;

/// memray's statistics of a capture, ready to print.
pub struct Stats {
    pub header: Header,
    pub style: Style,
    /// `-n`: how many locations and modules each top list has at most.
    pub num_largest: usize,
    pub records: u64,
    pub totals: Totals,
    pub peak_bytes: u64,
    pub sizes: Vec<(u64, u64)>,
    /// By count, largest first; ties in memray's order.
    pub allocators: Vec<(&'static str, u64)>,
    pub top_by_size: Vec<(LocationKey, u64)>,
    pub top_by_count: Vec<(LocationKey, u64)>,
    pub modules_by_size: Vec<ModuleTotals>,
    pub modules_by_count: Vec<ModuleTotals>,
    /// How the record stream ended (a killed capture's statistics are of the records before
    /// its end, as memray's).
    pub end: crate::capture::StreamEnd,
}

impl Stats {
    /// The text report ([`render::text`]); where memray fails, the error that says why.
    pub fn text(&self, capture: &Path) -> Result<String, CaptureError> {
        render::text(self).map_err(|_| self.undrawable(capture))
    }

    /// The JSON document ([`render::json`]); where memray fails, the error that says why.
    pub fn json(&self, capture: &Path) -> Result<String, CaptureError> {
        render::json(self).ok_or_else(|| self.undrawable(capture))
    }

    fn undrawable(&self, capture: &Path) -> CaptureError {
        CaptureError::StatsWithoutHistogram {
            path: capture.to_path_buf(),
            why: if self.totals.count == 0 {
                "the capture has no allocations"
            } else {
                "every allocation's size is 0 or 1"
            },
        }
    }
}

/// memray's `-n` when not given: the top 5 locations and modules.
pub const DEFAULT_NUM_LARGEST: usize = 5;

/// The statistics of `capture` with top lists of `num_largest`.
pub fn stats(
    capture: &CaptureFile,
    num_largest: usize,
    threads: usize,
    progress: &mut dyn Progress,
) -> Result<Stats, CaptureError> {
    let (statistics, mut stack_table) = compute::compute(capture, threads, progress)?;
    Ok(summarize(statistics, &mut stack_table, num_largest))
}

/// memray's statistics with top lists of `num_largest`, from what a pass over the capture
/// gathered and the stacks its decoder interned.
pub fn summarize(mut s: Statistics, stack_table: &mut StackTable, num_largest: usize) -> Stats {
    let style = Style::for_header(s.header.version);
    let mut allocators: Vec<(&'static str, u64)> =
        s.allocators.iter().map(|&(a, n)| (a.name(), n)).collect();
    // Python's sort is stable: equal counts keep the map's order.
    allocators.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    let locations = s.location_totals(stack_table, style.locations_by_frame);
    let top = |by_count: bool| -> Vec<(LocationKey, u64)> {
        let value = |t: &Totals| if by_count { t.count } else { t.bytes };
        let mut sorted: Vec<&compute::LocationTotals> = locations.iter().collect();
        sorted.sort_by_key(|l| std::cmp::Reverse((value(&l.totals), l.id)));
        sorted
            .into_iter()
            .take(num_largest)
            .map(|l| {
                let key = l.location.as_ref().map(|l| {
                    (
                        l.function.to_string(),
                        l.file.to_string(),
                        i64::from(l.line),
                    )
                });
                (key, value(&l.totals))
            })
            .collect()
    };
    let top_by_size = top(false);
    let top_by_count = top(true);
    let (modules_by_size, modules_by_count) = if style.modules {
        top_modules(&s, stack_table, num_largest)
    } else {
        (Vec::new(), Vec::new())
    };
    Stats {
        style,
        num_largest,
        records: s.records,
        totals: s.totals,
        peak_bytes: s.peak_bytes,
        sizes: std::mem::take(&mut s.sizes),
        allocators,
        top_by_size,
        top_by_count,
        modules_by_size,
        modules_by_count,
        end: s.end,
        header: s.header.clone(),
    }
}

/// memray 1.20's modules: each allocating stack's totals added to its module's, in the
/// order memray's map of stacks iterates, then the top `n` by bytes and by count.
fn top_modules(
    s: &Statistics,
    stack_table: &mut StackTable,
    n: usize,
) -> (Vec<ModuleTotals>, Vec<ModuleTotals>) {
    let resolver = ModuleResolver::new(
        &s.header.libdest,
        &s.header.site_packages,
        &s.header.sys_path,
    );
    // Modules by id, in order of first production (a frame's module is worked out, once,
    // when a stack first reaches it, and is that stack's), and each frame's module id
    // (`None`: the standard library, passed over).
    let mut names: crate::interner::FxIndexSet<String> = Default::default();
    let mut totals_of: Vec<Totals> = Vec::new();
    let mut of_frame: rustc_hash::FxHashMap<u64, Option<usize>> = Default::default();
    let order = s.stacks_in_map_order();
    for stack in order.iter() {
        let totals = s.stacks.get(stack);
        let mut node = stack;
        let module = loop {
            let Some((frame, parent)) = stack_table.tree.node(node) else {
                break names.insert_full(modules::ROOT.to_string()).0;
            };
            let id = match of_frame.get(&frame) {
                Some(&id) => id,
                None => {
                    let file = stack_table.location(frame).file;
                    let id = resolver
                        .module_of_file(&file)
                        .map(|m| names.insert_full(m).0);
                    of_frame.insert(frame, id);
                    id
                }
            };
            if let Some(id) = id {
                break id;
            }
            node = parent;
        };
        if module >= totals_of.len() {
            totals_of.resize(module + 1, Totals::default());
        }
        totals_of[module].add(totals);
    }
    let all: Vec<ModuleTotals> = names
        .into_iter()
        .zip(totals_of)
        .map(|(module, totals)| ModuleTotals { module, totals })
        .collect();
    let top = |key: fn(&Totals) -> u64| {
        let mut sorted = all.clone();
        sorted.sort_by_key(|m| std::cmp::Reverse(key(&m.totals)));
        sorted.truncate(n);
        sorted
    };
    (top(|t| t.bytes), top(|t| t.count))
}
