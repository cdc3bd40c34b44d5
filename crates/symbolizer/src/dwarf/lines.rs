//! A unit's line table as libbacktrace's `read_line_info` builds it. gimli reads the line
//! program header and decodes the opcodes; the state machine is libbacktrace's own (its
//! address arithmetic wraps, and its VLIW advance is `min_insn_len * (op_index + advance) /
//! max_ops`), and so are the file names:
//!
//! - DWARF 2-4: directory 0 is `DW_AT_comp_dir`, file 0 is `DW_AT_name`; a relative name is
//!   joined to its directory with "/", an absolute one (or one whose directory is NULL)
//!   is kept; `DW_LNE_define_file` adds names the same way.
//! - DWARF 5: `dir + "/" + path` whenever a file has a `DW_LNCT_directory_index`, even for
//!   an absolute path; a directory entry that names a directory index fails the table.
//! - A row is added for each special opcode and `DW_LNS_copy` (not for
//!   `DW_LNE_end_sequence`), unless it repeats the previous row; rows are then sorted
//!   stably by pc, and a pc's row is the last one at or below it.

use std::sync::Arc;

use gimli::constants::*;
use gimli::{
    AttributeValue, DebugLine, DebugLineOffset, FileEntryFormat, LineInstruction, LineProgramHeader,
};

use super::attrs::AttrVal;
use super::unit::Unit;
use super::{DwarfInfo, Reader, DEBUG_LINE};

/// `struct line`: a row of the line table, relocated.
#[derive(Debug, Clone, Copy)]
pub(super) struct Line {
    pub pc: u64,
    pub file: u32,
    pub lineno: i32,
}

/// File names by index (None: a NULL name).
pub(super) type FileNames = Vec<Option<Arc<str>>>;

/// A unit's line table.
pub(super) struct LineTable {
    /// Sorted by pc, with libbacktrace's trailing sentinel.
    pub lines: Vec<Line>,
    /// `hdr->filenames`, then the names `DW_LNE_define_file` and the empty reset file
    /// added.
    pub files: FileNames,
    /// How many of `files` are `hdr->filenames` (what `DW_AT_call_file` may name).
    pub filenames_count: usize,
}

/// `line_search`: the last row at or below `pc` (rows sorted stably by pc, without the
/// sentinel).
pub(super) fn find_line(lines: &[Line], pc: u64) -> Option<usize> {
    lines.partition_point(|line| line.pc <= pc).checked_sub(1)
}

fn join(dir: &str, name: &str) -> Arc<str> {
    let mut s = String::with_capacity(dir.len() + 1 + name.len());
    s.push_str(dir);
    s.push('/');
    s.push_str(name);
    Arc::from(s)
}

fn text(bytes: &[u8]) -> Arc<str> {
    Arc::from(String::from_utf8_lossy(bytes).as_ref())
}

/// The bytes of a DWARF 2-4 header string (always inline).
fn inline_bytes<'a>(value: &AttributeValue<Reader<'a>>) -> Option<&'a [u8]> {
    match value {
        AttributeValue::String(s) => Some(s.slice()),
        _ => None,
    }
}

/// The form of `content` in a DWARF 5 entry format (the last one, as libbacktrace keeps the
/// last value read).
fn form_of(formats: &[FileEntryFormat], content: gimli::DwLnct) -> Option<gimli::DwForm> {
    formats
        .iter()
        .rev()
        .find(|f| f.content_type == content)
        .map(|f| f.form)
}

/// Whether libbacktrace reads a directory index of this form as a number.
fn is_uint_form(form: gimli::DwForm) -> bool {
    matches!(
        form,
        DW_FORM_data1 | DW_FORM_data2 | DW_FORM_data4 | DW_FORM_data8 | DW_FORM_udata
    )
}

/// The line program header fields the state machine needs.
struct Params {
    min_insn_len: u32,
    max_ops_per_insn: u32,
    line_base: i32,
    line_range: u32,
    opcode_base: u32,
}

impl DwarfInfo {
    /// `read_line_info` for `unit`; None when it fails or yields no rows.
    pub(super) fn read_line_info(&self, unit: &Unit) -> Option<LineTable> {
        if unit.lineoff >= self.section(DEBUG_LINE).len() as u64 {
            return None;
        }
        let offset = DebugLineOffset(usize::try_from(unit.lineoff).ok()?);
        let program = DebugLine::from(self.reader(DEBUG_LINE))
            .program(offset, unit.encoding.address_size, None, None)
            .ok()?;
        let header = program.header();
        let (dirs, mut files) = if header.version() < 5 {
            self.v2_paths(unit, header)?
        } else {
            self.v5_paths(unit, header)?
        };
        let filenames_count = files.len();
        let mut lines = Vec::new();
        run_line_program(self.base, header, &dirs, &mut files, &mut lines)?;
        if lines.is_empty() {
            return None;
        }
        lines.sort_by_key(|line| line.pc);
        lines.push(Line {
            pc: u64::MAX,
            file: u32::MAX,
            lineno: 0,
        });
        Some(LineTable {
            lines,
            files,
            filenames_count,
        })
    }

    /// `read_v2_paths`: directories (0 = `DW_AT_comp_dir`) and file names (0 =
    /// `DW_AT_name`), relative names joined to their directory.
    fn v2_paths(
        &self,
        unit: &Unit,
        header: &LineProgramHeader<Reader<'_>>,
    ) -> Option<(FileNames, FileNames)> {
        let mut dirs: FileNames = vec![unit.comp_dir.map(|s| self.str_text(s))];
        for dir in header.include_directories() {
            dirs.push(Some(text(inline_bytes(dir)?)));
        }
        let mut files: FileNames = vec![unit.filename.map(|s| self.str_text(s))];
        for entry in header.file_names() {
            let name = inline_bytes(&entry.path_name())?;
            let dir = usize::try_from(entry.directory_index())
                .ok()
                .and_then(|i| dirs.get(i));
            let file = if name.first() == Some(&b'/') || matches!(dir, Some(None)) {
                text(name)
            } else {
                match dir {
                    Some(Some(dir)) => join(dir, &String::from_utf8_lossy(name)),
                    _ => return None,
                }
            };
            files.push(Some(file));
        }
        Some((dirs, files))
    }

    /// `read_line_header_format_entries` + `read_lnct` for the directories and files of a
    /// DWARF 5 header.
    fn v5_paths(
        &self,
        unit: &Unit,
        header: &LineProgramHeader<Reader<'_>>,
    ) -> Option<(FileNames, FileNames)> {
        let dir_formats = header.directory_entry_format();
        let directories = header.include_directories();
        let dir_has_index = form_of(dir_formats, DW_LNCT_directory_index).is_some_and(is_uint_form);
        if dir_has_index && !directories.is_empty() {
            // The directory index is looked up among the directories read so far: none.
            return None;
        }
        let dir_path_form = form_of(dir_formats, DW_LNCT_path)?;
        let mut dirs = FileNames::with_capacity(directories.len());
        for value in directories {
            dirs.push(Some(self.str_text(self.lnct_path(
                unit,
                dir_path_form,
                value,
            )?)));
        }
        let file_formats = header.file_name_entry_format();
        let file_path_form = form_of(file_formats, DW_LNCT_path)?;
        let file_has_index =
            form_of(file_formats, DW_LNCT_directory_index).is_some_and(is_uint_form);
        let mut files = FileNames::with_capacity(header.file_names().len());
        for entry in header.file_names() {
            let path = self.lnct_path(unit, file_path_form, &entry.path_name())?;
            files.push(Some(if file_has_index {
                let dir = usize::try_from(entry.directory_index())
                    .ok()
                    .and_then(|i| dirs.get(i))?;
                let dir = dir.as_deref().unwrap_or("");
                join(dir, &String::from_utf8_lossy(self.str_bytes(path)))
            } else {
                self.str_text(path)
            }));
        }
        Some((dirs, files))
    }

    /// A `DW_LNCT_path` value as a string; None where libbacktrace fails the header.
    fn lnct_path(
        &self,
        unit: &Unit,
        form: gimli::DwForm,
        value: &AttributeValue<Reader<'_>>,
    ) -> Option<super::StrRef> {
        let val: AttrVal = self.attr_val(form, value, DEBUG_LINE)?;
        self.resolve_string(unit, val).ok()?
    }
}

/// `read_line_program`: appends the relocated `(pc, file, line)` rows of the program;
/// `DW_LNE_define_file` names and the empty reset name are appended to `files`. None on
/// a decoding error or a file index past `hdr->filenames`.
fn run_line_program(
    base: u64,
    header: &LineProgramHeader<Reader<'_>>,
    dirs: &FileNames,
    files: &mut FileNames,
    lines: &mut Vec<Line>,
) -> Option<()> {
    let encoding = header.line_encoding();
    let hdr = Params {
        min_insn_len: u32::from(encoding.minimum_instruction_length),
        max_ops_per_insn: u32::from(encoding.maximum_operations_per_instruction),
        line_base: i32::from(encoding.line_base),
        line_range: u32::from(encoding.line_range),
        opcode_base: u32::from(header.opcode_base()),
    };
    if hdr.max_ops_per_insn == 0 || hdr.line_range == 0 {
        // libbacktrace divides by these (gimli already refuses such a header).
        return None;
    }
    let filenames_count = files.len();
    let reset_file = if filenames_count > 1 {
        1u32
    } else {
        files.push(Some(Arc::from("")));
        (files.len() - 1) as u32
    };
    let mut address: u64 = 0;
    let mut op_index: u32 = 0;
    let mut file = reset_file;
    let mut lineno: i32 = 1;
    let add_line = |lines: &mut Vec<Line>, pc: u64, file: u32, lineno: i32| {
        let pc = pc.wrapping_add(base);
        if let Some(last) = lines.last() {
            if last.pc == pc && last.file == file && last.lineno == lineno {
                return;
            }
        }
        lines.push(Line { pc, file, lineno });
    };
    // The address and op_index advance of `advance` operations.
    let advance_ops = |address: &mut u64, op_index: &mut u32, advance: u32| {
        *address = address.wrapping_add(u64::from(
            hdr.min_insn_len
                .wrapping_mul(op_index.wrapping_add(advance))
                / hdr.max_ops_per_insn,
        ));
        *op_index = op_index.wrapping_add(advance) % hdr.max_ops_per_insn;
    };
    let mut instructions = header.instructions();
    while let Some(instruction) = instructions.next_instruction(header).ok()? {
        match instruction {
            LineInstruction::Special(op) => {
                let op = u32::from(op).wrapping_sub(hdr.opcode_base);
                advance_ops(&mut address, &mut op_index, op / hdr.line_range);
                lineno =
                    lineno.wrapping_add(hdr.line_base.wrapping_add((op % hdr.line_range) as i32));
                add_line(lines, address, file, lineno);
            }
            LineInstruction::EndSequence => {
                address = 0;
                op_index = 0;
                file = reset_file;
                lineno = 1;
            }
            LineInstruction::SetAddress(value) => address = value,
            LineInstruction::DefineFile(entry) => {
                let name = inline_bytes(&entry.path_name())?;
                let dir_index = entry.directory_index() as u32;
                let text = if name.first() == Some(&b'/') {
                    text(name)
                } else {
                    let dir = dirs.get(dir_index as usize)?;
                    join(dir.as_deref().unwrap_or(""), &String::from_utf8_lossy(name))
                };
                files.push(Some(text));
                file = (files.len() - 1) as u32;
            }
            LineInstruction::Copy => add_line(lines, address, file, lineno),
            LineInstruction::AdvancePc(advance) => {
                let ops = u64::from(op_index).wrapping_add(advance);
                address = address.wrapping_add(
                    u64::from(hdr.min_insn_len).wrapping_mul(ops) / u64::from(hdr.max_ops_per_insn),
                );
                op_index = (ops % u64::from(hdr.max_ops_per_insn)) as u32;
            }
            LineInstruction::AdvanceLine(delta) => lineno = lineno.wrapping_add(delta as i32),
            LineInstruction::SetFile(fileno) => {
                if fileno >= filenames_count as u64 {
                    return None;
                }
                file = fileno as u32;
            }
            LineInstruction::ConstAddPc => {
                advance_ops(
                    &mut address,
                    &mut op_index,
                    (255 - hdr.opcode_base) / hdr.line_range,
                );
            }
            LineInstruction::FixedAddPc(advance) => {
                address = address.wrapping_add(u64::from(advance));
                op_index = 0;
            }
            // Columns, flags, ISA, discriminators and unknown opcodes change nothing
            // libbacktrace keeps (gimli has skipped their operands).
            _ => {}
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(pc: u64, lineno: i32) -> Line {
        Line {
            pc,
            file: 0,
            lineno,
        }
    }

    #[test]
    fn line_search_takes_the_last_entry_at_a_pc() {
        let lines = [line(0x10, 1), line(0x20, 2), line(0x20, 3), line(0x30, 4)];
        assert_eq!(find_line(&lines, 0x0f), None);
        assert_eq!(find_line(&lines, 0x10), Some(0));
        assert_eq!(find_line(&lines, 0x1f), Some(0));
        assert_eq!(find_line(&lines, 0x20), Some(2));
        assert_eq!(find_line(&lines, 0x2f), Some(2));
        // Past the last row (an end_sequence adds none) the last row still applies.
        assert_eq!(find_line(&lines, 0x1000), Some(3));
    }

    #[test]
    fn joins_names_with_a_slash() {
        assert_eq!(&*join("Objects", "obmalloc.c"), "Objects/obmalloc.c");
        assert_eq!(&*join("/usr/include", "/abs.h"), "/usr/include//abs.h");
    }
}
