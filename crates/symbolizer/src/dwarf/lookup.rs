//! `dwarf_lookup_pc`: the unit whose range holds a pc (passing over units whose line table
//! failed, as libbacktrace does), that unit's line table and functions read the first time
//! a pc falls in it, the row for the pc, and the function with its inlined calls, reported
//! innermost first, each with the file and line of the call it is inlined into.

use std::sync::Arc;

use super::functions::{Function, Functions};
use super::lines::{find_line, LineTable};
use super::ranges::find_range;
use super::DwarfInfo;

/// One frame reported by the lookup: function name (None = NULL), file (None = NULL),
/// line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DwarfFrame {
    pub name: Option<Vec<u8>>,
    pub file: Option<Arc<str>>,
    pub line: i32,
}

/// What `dwarf_lookup_pc` reports for one module.
#[derive(Debug)]
pub enum Lookup {
    /// No unit of this module covers the pc (`*found = 0`).
    NotFound,
    /// A unit covers it; the frames its callbacks received, innermost first (possibly
    /// only frames with a NULL name, which memray drops).
    Found(Vec<DwarfFrame>),
}

/// A unit's line table and functions, once read.
struct UnitData {
    table: LineTable,
    functions: Functions,
}

impl UnitData {
    fn file(&self, index: Option<u32>) -> Option<Arc<str>> {
        index.and_then(|i| self.table.files.get(i as usize).cloned().flatten())
    }
}

/// `u->lines`: NULL, `(struct line *) -1`, or the data.
enum UnitLines {
    NotRead,
    Failed,
    Read(Box<UnitData>),
}

/// A module's DWARF (`struct dwarf_data`) with the per-unit data read so far.
pub struct DwarfModule {
    info: Arc<DwarfInfo>,
    units: Vec<UnitLines>,
}

fn nameless(file: Option<Arc<str>>, line: i32) -> Lookup {
    Lookup::Found(vec![DwarfFrame {
        name: None,
        file,
        line,
    }])
}

impl DwarfModule {
    pub fn new(info: Arc<DwarfInfo>) -> DwarfModule {
        let units = (0..info.units.len()).map(|_| UnitLines::NotRead).collect();
        DwarfModule { info, units }
    }

    /// `dwarf_lookup_pc`.
    pub fn lookup(&mut self, pc: u64) -> Lookup {
        let info = Arc::clone(&self.info);
        let addrs = &info.addrs;
        if addrs.len() <= 1 || pc == u64::MAX {
            return Lookup::NotFound;
        }
        let Some(mut entry) = find_range(addrs, pc) else {
            return Lookup::NotFound;
        };
        let mut unit = addrs[entry].owner as usize;
        // Earlier units that also hold the pc are tried when this one's lines failed.
        while entry > 0 && pc >= addrs[entry - 1].low && pc < addrs[entry - 1].high {
            if !matches!(self.units[unit], UnitLines::Failed) {
                break;
            }
            entry -= 1;
            unit = addrs[entry].owner as usize;
        }
        let mut new_data = false;
        if matches!(self.units[unit], UnitLines::NotRead) {
            let u = &info.units[unit];
            self.units[unit] = match info.read_line_info(u) {
                Some(table) => {
                    let functions = info.read_function_info(u, table.filenames_count);
                    UnitLines::Read(Box::new(UnitData { table, functions }))
                }
                None => UnitLines::Failed,
            };
            new_data = true;
        }
        let data = match &self.units[unit] {
            UnitLines::Read(data) => data,
            _ if new_data => return self.lookup(pc),
            _ => return nameless(None, 0),
        };
        let lines = &data.table.lines;
        let Some(ln) = find_line(&lines[..lines.len() - 1], pc) else {
            // In the unit's range but before its first row: reported with the unit's file
            // name and no function, which memray drops.
            return nameless(None, 0);
        };
        let ln = lines[ln];
        let functions = &data.functions;
        let Some(fmatch) = find_range(&functions.addrs, pc) else {
            return nameless(data.file(Some(ln.file)), ln.lineno);
        };
        let function = &functions.functions[functions.addrs[fmatch].owner as usize];
        let mut frames = Vec::new();
        let mut file = Some(ln.file);
        let mut lineno = ln.lineno;
        report_inlined(
            &info,
            data,
            pc,
            function,
            &mut frames,
            &mut file,
            &mut lineno,
        );
        frames.push(DwarfFrame {
            name: Some(info.str_bytes(function.name).to_vec()),
            file: data.file(file),
            line: lineno,
        });
        Lookup::Found(frames)
    }
}

/// `report_inlined_functions`: the inlined calls of `function` that hold `pc`, innermost
/// first; each takes the current file and line, and hands its call site to its caller.
fn report_inlined(
    info: &DwarfInfo,
    data: &UnitData,
    pc: u64,
    function: &Function,
    frames: &mut Vec<DwarfFrame>,
    file: &mut Option<u32>,
    lineno: &mut i32,
) {
    if function.addrs.len() <= 1 || pc == u64::MAX {
        return;
    }
    let Some(matched) = find_range(&function.addrs, pc) else {
        return;
    };
    let inlined = &data.functions.functions[function.addrs[matched].owner as usize];
    report_inlined(info, data, pc, inlined, frames, file, lineno);
    frames.push(DwarfFrame {
        name: Some(info.str_bytes(inlined.name).to_vec()),
        file: data.file(*file),
        line: *lineno,
    });
    *file = inlined.caller_file;
    *lineno = inlined.caller_lineno;
}
