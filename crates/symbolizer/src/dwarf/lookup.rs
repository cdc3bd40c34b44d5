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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::Bytes;
    use crate::dwarf::{DwarfSections, SECTION_NAMES};
    use gimli::constants::*;
    use gimli::write::{
        Address, AttributeValue, DwarfUnit, EndianVec, LineProgram, LineString, Range, RangeList,
        Sections,
    };

    #[derive(Debug, Clone, Copy)]
    enum UnitRange {
        None,
        LowHigh,
        List,
    }
    use gimli::{Encoding, Format, LineEncoding, LittleEndian};

    /// A unit "main.c" (comp dir "/src") with `outer` at [0x1000, 0x1100), in which
    /// `helper` (from include/helper.h) is inlined at [0x1040, 0x1060) from line 20, and
    /// `f` (linkage name `_ZN2ns1fEv`) at [0x1100, 0x1180). The unit has its own
    /// low_pc/high_pc, or a range list (`.debug_ranges`, `.debug_rnglists`), or no range
    /// (the address map then comes from its subprograms).
    fn write_dwarf(version: u16, unit_range: UnitRange) -> DwarfSections {
        let encoding = Encoding {
            format: Format::Dwarf32,
            version,
            address_size: 8,
        };
        let mut dwarf = DwarfUnit::new(encoding);
        let mut program = LineProgram::new(
            encoding,
            LineEncoding::default(),
            LineString::String(b"/src".to_vec()),
            None,
            LineString::String(b"main.c".to_vec()),
            None,
        );
        let main_c = program.add_file(
            LineString::String(b"main.c".to_vec()),
            program.default_directory(),
            None,
        );
        let include = program.add_directory(LineString::String(b"include".to_vec()));
        let helper_h = program.add_file(LineString::String(b"helper.h".to_vec()), include, None);
        program.begin_sequence(Some(Address::Constant(0x1000)));
        for (offset, file, line) in [
            (0x00, main_c, 10),
            (0x40, helper_h, 3),
            (0x60, main_c, 21),
            (0x100, main_c, 30),
        ] {
            let row = program.row();
            row.address_offset = offset;
            row.file = file;
            row.line = line;
            program.generate_row();
        }
        program.end_sequence(0x180);
        dwarf.unit.line_program = program;

        let root = dwarf.unit.root();
        let unit = dwarf.unit.get_mut(root);
        unit.set(DW_AT_name, AttributeValue::String(b"main.c".to_vec()));
        unit.set(DW_AT_comp_dir, AttributeValue::String(b"/src".to_vec()));
        match unit_range {
            UnitRange::None => {}
            UnitRange::LowHigh => {
                unit.set(
                    DW_AT_low_pc,
                    AttributeValue::Address(Address::Constant(0x1000)),
                );
                unit.set(DW_AT_high_pc, AttributeValue::Udata(0x180));
            }
            UnitRange::List => {
                unit.set(DW_AT_low_pc, AttributeValue::Address(Address::Constant(0)));
                let list = dwarf.unit.ranges.add(RangeList(vec![
                    Range::StartLength {
                        begin: Address::Constant(0x1000),
                        length: 0x100,
                    },
                    Range::StartEnd {
                        begin: Address::Constant(0x1100),
                        end: Address::Constant(0x1180),
                    },
                ]));
                let unit = dwarf.unit.get_mut(root);
                unit.set(DW_AT_ranges, AttributeValue::RangeListRef(list));
            }
        }
        let helper = dwarf.unit.add(root, DW_TAG_subprogram);
        let entry = dwarf.unit.get_mut(helper);
        entry.set(DW_AT_name, AttributeValue::String(b"helper".to_vec()));
        entry.set(DW_AT_inline, AttributeValue::Udata(3));
        let outer = dwarf.unit.add(root, DW_TAG_subprogram);
        let entry = dwarf.unit.get_mut(outer);
        entry.set(DW_AT_name, AttributeValue::String(b"outer".to_vec()));
        entry.set(
            DW_AT_low_pc,
            AttributeValue::Address(Address::Constant(0x1000)),
        );
        entry.set(DW_AT_high_pc, AttributeValue::Udata(0x100));
        let inlined = dwarf.unit.add(outer, DW_TAG_inlined_subroutine);
        let entry = dwarf.unit.get_mut(inlined);
        entry.set(DW_AT_abstract_origin, AttributeValue::UnitRef(helper));
        entry.set(
            DW_AT_low_pc,
            AttributeValue::Address(Address::Constant(0x1040)),
        );
        entry.set(DW_AT_high_pc, AttributeValue::Udata(0x20));
        entry.set(DW_AT_call_file, AttributeValue::FileIndex(Some(main_c)));
        entry.set(DW_AT_call_line, AttributeValue::Udata(20));
        let f = dwarf.unit.add(root, DW_TAG_subprogram);
        let entry = dwarf.unit.get_mut(f);
        entry.set(DW_AT_name, AttributeValue::String(b"f".to_vec()));
        entry.set(
            DW_AT_linkage_name,
            AttributeValue::String(b"_ZN2ns1fEv".to_vec()),
        );
        entry.set(
            DW_AT_low_pc,
            AttributeValue::Address(Address::Constant(0x1100)),
        );
        entry.set(DW_AT_high_pc, AttributeValue::Udata(0x80));

        let mut sections = Sections::new(EndianVec::new(LittleEndian));
        dwarf.write(&mut sections).unwrap();
        let mut out = DwarfSections::default();
        sections
            .for_each(|id, data| {
                if let Some(i) = SECTION_NAMES.iter().position(|n| *n == id.name()) {
                    out.data[i] = Bytes::from_vec(data.slice().to_vec());
                }
                Ok::<(), ()>(())
            })
            .unwrap();
        out
    }

    fn frames(module: &mut DwarfModule, pc: u64) -> Option<Vec<(String, String, i32)>> {
        match module.lookup(pc) {
            Lookup::NotFound => None,
            Lookup::Found(frames) => Some(
                frames
                    .into_iter()
                    .map(|f| {
                        let name = f.name.map(|n| String::from_utf8(n).unwrap());
                        let file = f.file.map(|s| s.to_string());
                        (name.unwrap_or_default(), file.unwrap_or_default(), f.line)
                    })
                    .collect(),
            ),
        }
    }

    fn frame(name: &str, file: &str, line: i32) -> (String, String, i32) {
        (name.to_string(), file.to_string(), line)
    }

    #[test]
    fn written_dwarf_resolves_with_inlined_calls_in_every_version() {
        let base = 0x7f00_0000_0000;
        for (version, unit_range) in [
            (2, UnitRange::None),
            (3, UnitRange::LowHigh),
            (4, UnitRange::None),
            (4, UnitRange::List),
            (5, UnitRange::LowHigh),
            (5, UnitRange::List),
            (5, UnitRange::None),
        ] {
            let sections = write_dwarf(version, unit_range);
            if let UnitRange::List = unit_range {
                // The unit's ranges are read from its list (an error would drop the module).
                let list = if version < 5 { 3 } else { 8 };
                assert!(!sections.data[list].is_empty());
            }
            let info = DwarfInfo::build(base, sections, false, None)
                .unwrap_or_else(|| panic!("DWARF {version} builds"));
            let mut module = DwarfModule::new(Arc::new(info));
            let what = format!("DWARF {version}, unit range {unit_range:?}");
            // DWARF 5 joins every file to its directory; 2-4 the relative ones (directory
            // 0 being DW_AT_comp_dir, include directories taken as they are).
            let main_c = "/src/main.c";
            let helper_h = "include/helper.h";
            assert_eq!(
                frames(&mut module, base + 0x1010),
                Some(vec![frame("outer", main_c, 10)]),
                "{what}"
            );
            assert_eq!(
                frames(&mut module, base + 0x1050),
                Some(vec![
                    frame("helper", helper_h, 3),
                    frame("outer", main_c, 20)
                ]),
                "{what}"
            );
            assert_eq!(
                frames(&mut module, base + 0x1070),
                Some(vec![frame("outer", main_c, 21)]),
                "{what}"
            );
            // The linkage name wins over DW_AT_name.
            assert_eq!(
                frames(&mut module, base + 0x1120),
                Some(vec![frame("_ZN2ns1fEv", main_c, 30)]),
                "{what}"
            );
            assert!(frames(&mut module, base + 0x0fff).is_none(), "{what}");
            assert!(frames(&mut module, base + 0x1180).is_none(), "{what}");
        }
    }

    #[test]
    fn a_unit_without_a_line_table_reports_nameless_frames() {
        let mut sections = write_dwarf(4, UnitRange::LowHigh);
        sections.data[1] = Bytes::empty(); // .debug_line
        let info = DwarfInfo::build(0, sections, false, None).unwrap();
        let mut module = DwarfModule::new(Arc::new(info));
        assert_eq!(frames(&mut module, 0x1010), Some(vec![frame("", "", 0)]));
    }

    #[test]
    fn damaged_debug_info_drops_the_module() {
        let mut sections = write_dwarf(5, UnitRange::List);
        // The first unit's version becomes 9.
        let mut info = sections.data[0].as_slice().to_vec();
        info[4] = 9;
        sections.data[0] = Bytes::from_vec(info);
        assert!(DwarfInfo::build(0, sections, false, None).is_none());
    }
}
