//! DWARF file/line/function lookup as libbacktrace's dwarf.c (memray's vendored copy) does
//! it, quirks included: the unit address map built from each compile unit's
//! `DW_AT_low_pc`/`DW_AT_high_pc`/`DW_AT_ranges` (or its subprograms'; `.debug_aranges` is
//! not used), line tables whose entries are sorted stably by address and searched for the
//! last entry at or below the pc (`DW_LNE_end_sequence` adds no entry), file names joined
//! as libbacktrace joins them (DWARF 5: `dir + "/" + path` whenever a directory index is
//! given; DWARF 2-4: only for relative names, directory 0 being `DW_AT_comp_dir`), function
//! names by preference `DW_AT_linkage_name`, then `DW_AT_abstract_origin` or
//! `DW_AT_specification`, then `DW_AT_name`, and nested `DW_TAG_inlined_subroutine`s reported innermost first with
//! their callers' `DW_AT_call_file`/`DW_AT_call_line`.
//!
//! The address map is built when an image is first needed; a unit's line table and
//! functions are read the first time a pc falls in it.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use crate::backtrace_sort::{backtrace_qsort, glibc_bsearch};
use crate::bytes::{c_str, Bytes};

pub const DEBUG_MAX: usize = 9;
/// libbacktrace's `dwarf_section_names`, indexed like `DwarfSections::data`.
pub const SECTION_NAMES: [&str; DEBUG_MAX] = [
    ".debug_info",
    ".debug_line",
    ".debug_abbrev",
    ".debug_ranges",
    ".debug_str",
    ".debug_addr",
    ".debug_str_offsets",
    ".debug_line_str",
    ".debug_rnglists",
];
const DEBUG_INFO: u8 = 0;
const DEBUG_LINE: u8 = 1;
const DEBUG_ABBREV: u8 = 2;
const DEBUG_RANGES: u8 = 3;
const DEBUG_STR: u8 = 4;
const DEBUG_ADDR: u8 = 5;
const DEBUG_STR_OFFSETS: u8 = 6;
const DEBUG_LINE_STR: u8 = 7;
const DEBUG_RNGLISTS: u8 = 8;

const DW_TAG_ENTRY_POINT: u64 = 0x3;
const DW_TAG_COMPILE_UNIT: u64 = 0x11;
const DW_TAG_INLINED_SUBROUTINE: u64 = 0x1d;
const DW_TAG_SUBPROGRAM: u64 = 0x2e;
const DW_TAG_SKELETON_UNIT: u64 = 0x4a;

const DW_FORM_ADDR: u64 = 0x01;
const DW_FORM_BLOCK2: u64 = 0x03;
const DW_FORM_BLOCK4: u64 = 0x04;
const DW_FORM_DATA2: u64 = 0x05;
const DW_FORM_DATA4: u64 = 0x06;
const DW_FORM_DATA8: u64 = 0x07;
const DW_FORM_STRING: u64 = 0x08;
const DW_FORM_BLOCK: u64 = 0x09;
const DW_FORM_BLOCK1: u64 = 0x0a;
const DW_FORM_DATA1: u64 = 0x0b;
const DW_FORM_FLAG: u64 = 0x0c;
const DW_FORM_SDATA: u64 = 0x0d;
const DW_FORM_STRP: u64 = 0x0e;
const DW_FORM_UDATA: u64 = 0x0f;
const DW_FORM_REF_ADDR: u64 = 0x10;
const DW_FORM_REF1: u64 = 0x11;
const DW_FORM_REF2: u64 = 0x12;
const DW_FORM_REF4: u64 = 0x13;
const DW_FORM_REF8: u64 = 0x14;
const DW_FORM_REF_UDATA: u64 = 0x15;
const DW_FORM_INDIRECT: u64 = 0x16;
const DW_FORM_SEC_OFFSET: u64 = 0x17;
const DW_FORM_EXPRLOC: u64 = 0x18;
const DW_FORM_FLAG_PRESENT: u64 = 0x19;
const DW_FORM_STRX: u64 = 0x1a;
const DW_FORM_ADDRX: u64 = 0x1b;
const DW_FORM_REF_SUP4: u64 = 0x1c;
const DW_FORM_STRP_SUP: u64 = 0x1d;
const DW_FORM_DATA16: u64 = 0x1e;
const DW_FORM_LINE_STRP: u64 = 0x1f;
const DW_FORM_REF_SIG8: u64 = 0x20;
const DW_FORM_IMPLICIT_CONST: u64 = 0x21;
const DW_FORM_LOCLISTX: u64 = 0x22;
const DW_FORM_RNGLISTX: u64 = 0x23;
const DW_FORM_REF_SUP8: u64 = 0x24;
const DW_FORM_STRX1: u64 = 0x25;
const DW_FORM_STRX2: u64 = 0x26;
const DW_FORM_STRX3: u64 = 0x27;
const DW_FORM_STRX4: u64 = 0x28;
const DW_FORM_ADDRX1: u64 = 0x29;
const DW_FORM_ADDRX2: u64 = 0x2a;
const DW_FORM_ADDRX3: u64 = 0x2b;
const DW_FORM_ADDRX4: u64 = 0x2c;
const DW_FORM_GNU_ADDR_INDEX: u64 = 0x1f01;
const DW_FORM_GNU_STR_INDEX: u64 = 0x1f02;
const DW_FORM_GNU_REF_ALT: u64 = 0x1f20;
const DW_FORM_GNU_STRP_ALT: u64 = 0x1f21;

const DW_AT_NAME: u64 = 0x03;
const DW_AT_STMT_LIST: u64 = 0x10;
const DW_AT_LOW_PC: u64 = 0x11;
const DW_AT_HIGH_PC: u64 = 0x12;
const DW_AT_COMP_DIR: u64 = 0x1b;
const DW_AT_ABSTRACT_ORIGIN: u64 = 0x31;
const DW_AT_SPECIFICATION: u64 = 0x47;
const DW_AT_RANGES: u64 = 0x55;
const DW_AT_CALL_FILE: u64 = 0x58;
const DW_AT_CALL_LINE: u64 = 0x59;
const DW_AT_LINKAGE_NAME: u64 = 0x6e;
const DW_AT_STR_OFFSETS_BASE: u64 = 0x72;
const DW_AT_ADDR_BASE: u64 = 0x73;
const DW_AT_RNGLISTS_BASE: u64 = 0x74;
const DW_AT_MIPS_LINKAGE_NAME: u64 = 0x2007;

const DW_LNS_EXTENDED_OP: u32 = 0x0;
const DW_LNS_COPY: u32 = 0x1;
const DW_LNS_ADVANCE_PC: u32 = 0x2;
const DW_LNS_ADVANCE_LINE: u32 = 0x3;
const DW_LNS_SET_FILE: u32 = 0x4;
const DW_LNS_SET_COLUMN: u32 = 0x5;
const DW_LNS_NEGATE_STMT: u32 = 0x6;
const DW_LNS_SET_BASIC_BLOCK: u32 = 0x7;
const DW_LNS_CONST_ADD_PC: u32 = 0x8;
const DW_LNS_FIXED_ADVANCE_PC: u32 = 0x9;
const DW_LNS_SET_PROLOGUE_END: u32 = 0xa;
const DW_LNS_SET_EPILOGUE_BEGIN: u32 = 0xb;
const DW_LNS_SET_ISA: u32 = 0xc;
const DW_LNE_END_SEQUENCE: u32 = 0x1;
const DW_LNE_SET_ADDRESS: u32 = 0x2;
const DW_LNE_DEFINE_FILE: u32 = 0x3;
const DW_LNE_SET_DISCRIMINATOR: u32 = 0x4;
const DW_LNCT_PATH: u64 = 0x1;
const DW_LNCT_DIRECTORY_INDEX: u64 = 0x2;

const DW_RLE_END_OF_LIST: u8 = 0x00;
const DW_RLE_BASE_ADDRESSX: u8 = 0x01;
const DW_RLE_STARTX_ENDX: u8 = 0x02;
const DW_RLE_STARTX_LENGTH: u8 = 0x03;
const DW_RLE_OFFSET_PAIR: u8 = 0x04;
const DW_RLE_BASE_ADDRESS: u8 = 0x05;
const DW_RLE_START_END: u8 = 0x06;
const DW_RLE_START_LENGTH: u8 = 0x07;

const DW_UT_TYPE: u8 = 0x02;
const DW_UT_SKELETON: u8 = 0x04;
const DW_UT_SPLIT_COMPILE: u8 = 0x05;
const DW_UT_SPLIT_TYPE: u8 = 0x06;

/// How deep `DW_AT_specification` chains are followed (libbacktrace has no limit and would
/// overflow its stack on a cycle).
const MAX_REFERENCE_DEPTH: u32 = 64;
/// How deeply nested DIEs are read (libbacktrace recurses without a limit; real DWARF
/// nests a few dozen levels). Deeper nesting is treated as an error in the unit.
const MAX_DIE_DEPTH: u32 = 256;

/// The data of the DWARF sections libbacktrace reads, decompressed; empty when absent.
#[derive(Default, Clone)]
pub struct DwarfSections {
    pub data: [Bytes; DEBUG_MAX],
}

impl DwarfSections {
    fn get(&self, section: u8) -> &[u8] {
        self.data
            .get(usize::from(section))
            .map_or(&[], |bytes| bytes.as_slice())
    }
}

/// A `const char *` into DWARF data: which file's sections (this one or its dwz file),
/// which section, which offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StrRef {
    alt: bool,
    section: u8,
    offset: usize,
}

impl StrRef {
    fn new(section: u8, offset: usize) -> StrRef {
        StrRef {
            alt: false,
            section,
            offset,
        }
    }
}

/// `struct dwarf_buf`: a cursor over one section, limited to `left` bytes. Reads past the
/// limit return zero and set `underflow`, as libbacktrace's do.
#[derive(Clone)]
struct Buf<'a> {
    data: &'a [u8],
    section: u8,
    pos: usize,
    left: usize,
    big: bool,
    underflow: bool,
}

impl<'a> Buf<'a> {
    fn new(data: &'a [u8], section: u8, pos: usize, left: usize, big: bool) -> Buf<'a> {
        Buf {
            data,
            section,
            pos,
            left,
            big,
            underflow: false,
        }
    }

    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(count);
        match end {
            Some(end) if self.left >= count && end <= self.data.len() => {
                let bytes = &self.data[self.pos..end];
                self.pos = end;
                self.left -= count;
                Some(bytes)
            }
            _ => {
                self.underflow = true;
                None
            }
        }
    }

    fn advance(&mut self, count: u64) -> bool {
        match usize::try_from(count) {
            Ok(count) => self.take(count).is_some(),
            Err(_) => {
                self.underflow = true;
                false
            }
        }
    }

    /// The byte at the cursor, ignoring `left` (libbacktrace peeks with `*buf->buf`).
    fn peek(&self) -> u8 {
        self.data.get(self.pos).copied().unwrap_or(0)
    }

    fn read_u8(&mut self) -> u8 {
        self.take(1).map_or(0, |b| b[0])
    }

    fn read_i8(&mut self) -> i8 {
        self.read_u8() as i8
    }

    fn read_uint(&mut self, count: usize) -> u64 {
        let Some(bytes) = self.take(count) else {
            return 0;
        };
        let mut value = 0u64;
        if self.big {
            for &b in bytes {
                value = (value << 8) | u64::from(b);
            }
        } else {
            for &b in bytes.iter().rev() {
                value = (value << 8) | u64::from(b);
            }
        }
        value
    }

    fn read_u16(&mut self) -> u64 {
        self.read_uint(2)
    }

    fn read_u32(&mut self) -> u64 {
        self.read_uint(4)
    }

    fn read_u64(&mut self) -> u64 {
        self.read_uint(8)
    }

    fn read_offset(&mut self, is_dwarf64: bool) -> u64 {
        if is_dwarf64 {
            self.read_u64()
        } else {
            self.read_u32()
        }
    }

    fn read_address(&mut self, addrsize: u8) -> u64 {
        match addrsize {
            1 => u64::from(self.read_u8()),
            2 => self.read_u16(),
            4 => self.read_u32(),
            8 => self.read_u64(),
            _ => 0,
        }
    }

    fn read_uleb128(&mut self) -> u64 {
        let mut result = 0u64;
        let mut shift = 0u32;
        loop {
            let Some(bytes) = self.take(1) else {
                return 0;
            };
            let b = bytes[0];
            if shift < 64 {
                result |= u64::from(b & 0x7f) << shift;
            }
            shift += 7;
            if b & 0x80 == 0 {
                return result;
            }
        }
    }

    fn read_sleb128(&mut self) -> i64 {
        let mut value = 0u64;
        let mut shift = 0u32;
        let mut b;
        loop {
            let Some(bytes) = self.take(1) else {
                return 0;
            };
            b = bytes[0];
            if shift < 64 {
                value |= u64::from(b & 0x7f) << shift;
            }
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        if b & 0x40 != 0 && shift < 64 {
            value |= u64::MAX << shift;
        }
        value as i64
    }

    fn read_initial_length(&mut self) -> (u64, bool) {
        let len = self.read_u32();
        if len == 0xffff_ffff {
            (self.read_u64(), true)
        } else {
            (len, false)
        }
    }

    /// A NUL-terminated string at the cursor; None (and underflow) if unterminated.
    fn read_string(&mut self) -> Option<StrRef> {
        let start = self.pos;
        let avail = self.data.get(start..).unwrap_or(&[]);
        let limit = self.left.min(avail.len());
        let len = avail[..limit].iter().position(|&b| b == 0).unwrap_or(limit);
        self.take(len + 1)?;
        Some(StrRef::new(self.section, start))
    }
}

/// `struct attr_val`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttrVal {
    None,
    Address(u64),
    AddressIndex(u64),
    Uint(u64),
    Sint(i64),
    Str(StrRef),
    StringIndex(u64),
    RefUnit(u64),
    RefInfo(u64),
    RefAltInfo(u64),
    RefSection(u64),
    RefType(u64),
    RnglistsIndex(u64),
    Block,
    Expr,
}

#[derive(Debug, Clone, Copy)]
struct Attr {
    name: u64,
    form: u64,
    val: i64,
}

#[derive(Debug, Clone)]
struct Abbrev {
    code: u64,
    tag: u64,
    has_children: bool,
    attrs: Vec<Attr>,
}

/// A unit's abbreviations, sorted by code with libbacktrace's quicksort.
#[derive(Debug, Default)]
struct Abbrevs {
    list: Vec<Abbrev>,
}

impl Abbrevs {
    /// `lookup_abbrev`.
    fn lookup(&self, code: u64) -> Option<&Abbrev> {
        let direct = code.wrapping_sub(1);
        if direct < self.list.len() as u64 && self.list[direct as usize].code == code {
            return Some(&self.list[direct as usize]);
        }
        glibc_bsearch(&self.list, |abbrev| code.cmp(&abbrev.code)).map(|i| &self.list[i])
    }
}

/// The fields of `struct unit` set while building the address map.
struct Unit {
    unit_data: usize,
    unit_data_len: usize,
    unit_data_offset: usize,
    low_offset: u64,
    high_offset: u64,
    version: u16,
    is_dwarf64: bool,
    addrsize: u8,
    lineoff: u64,
    str_offsets_base: u64,
    addr_base: u64,
    rnglists_base: u64,
    filename: Option<StrRef>,
    comp_dir: Option<StrRef>,
    abbrevs: Arc<Abbrevs>,
}

/// `struct unit_addrs`.
#[derive(Debug, Clone, Copy)]
struct UnitAddrs {
    low: u64,
    high: u64,
    unit: usize,
}

/// `struct pcrange`.
#[derive(Default, Clone, Copy)]
struct PcRange {
    lowpc: u64,
    have_lowpc: bool,
    lowpc_is_addr_index: bool,
    highpc: u64,
    have_highpc: bool,
    highpc_is_relative: bool,
    highpc_is_addr_index: bool,
    ranges: u64,
    have_ranges: bool,
    ranges_is_index: bool,
}

impl PcRange {
    /// `update_pcrange`.
    fn update(&mut self, name: u64, val: AttrVal) {
        match (name, val) {
            (DW_AT_LOW_PC, AttrVal::Address(v)) => {
                self.lowpc = v;
                self.have_lowpc = true;
            }
            (DW_AT_LOW_PC, AttrVal::AddressIndex(v)) => {
                self.lowpc = v;
                self.have_lowpc = true;
                self.lowpc_is_addr_index = true;
            }
            (DW_AT_HIGH_PC, AttrVal::Address(v)) => {
                self.highpc = v;
                self.have_highpc = true;
            }
            (DW_AT_HIGH_PC, AttrVal::Uint(v)) => {
                self.highpc = v;
                self.have_highpc = true;
                self.highpc_is_relative = true;
            }
            (DW_AT_HIGH_PC, AttrVal::AddressIndex(v)) => {
                self.highpc = v;
                self.have_highpc = true;
                self.highpc_is_addr_index = true;
            }
            (DW_AT_RANGES, AttrVal::Uint(v)) | (DW_AT_RANGES, AttrVal::RefSection(v)) => {
                self.ranges = v;
                self.have_ranges = true;
            }
            (DW_AT_RANGES, AttrVal::RnglistsIndex(v)) => {
                self.ranges = v;
                self.have_ranges = true;
                self.ranges_is_index = true;
            }
            _ => {}
        }
    }
}

/// The immutable part of `struct dwarf_data`: sections, units and the sorted unit address
/// map (with libbacktrace's trailing sentinel).
pub struct DwarfInfo {
    base: u64,
    sections: DwarfSections,
    big: bool,
    altlink: Option<Arc<DwarfInfo>>,
    addrs: Vec<UnitAddrs>,
    units: Vec<Unit>,
}

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

/// `struct line`.
#[derive(Debug, Clone, Copy)]
struct Line {
    pc: u64,
    file: u32,
    lineno: i32,
}

/// `struct function`.
struct Function {
    name: StrRef,
    caller_file: Option<u32>,
    caller_lineno: i32,
    addrs: Vec<FunctionAddrs>,
}

/// `struct function_addrs`.
#[derive(Debug, Clone, Copy)]
struct FunctionAddrs {
    low: u64,
    high: u64,
    function: u32,
}

const NO_FUNCTION: u32 = u32::MAX;

fn sentinel_function_addrs() -> FunctionAddrs {
    FunctionAddrs {
        low: u64::MAX,
        high: u64::MAX,
        function: NO_FUNCTION,
    }
}

/// A unit's line table, file names and functions, once read.
struct UnitData {
    lines: Vec<Line>,
    /// File names referenced by lines and functions (`hdr->filenames`, then the
    /// `DW_LNE_define_file` names and the empty reset name); None is a NULL name.
    files: Vec<Option<Arc<str>>>,
    functions: Vec<Function>,
    /// Top-level function ranges, sorted, with a sentinel; empty when there are none.
    function_addrs: Vec<FunctionAddrs>,
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

/// A unit's file names (None: a NULL name).
type FileNames = Vec<Option<Arc<str>>>;

/// The line number program header fields `read_line_program` needs.
struct LineHeader {
    addrsize: u8,
    min_insn_len: u32,
    max_ops_per_insn: u32,
    line_base: i32,
    line_range: u32,
    opcode_base: u32,
    opcode_lengths: usize,
    dirs: FileNames,
    /// Number of `hdr->filenames`; `files` starts with them.
    filenames_count: usize,
}

fn join(dir: &str, name: &str) -> Arc<str> {
    let mut s = String::with_capacity(dir.len() + 1 + name.len());
    s.push_str(dir);
    s.push('/');
    s.push_str(name);
    Arc::from(s)
}

impl DwarfInfo {
    /// `build_dwarf_data`: None when `build_address_map` fails.
    pub fn build(
        base: u64,
        sections: DwarfSections,
        big: bool,
        altlink: Option<Arc<DwarfInfo>>,
    ) -> Option<DwarfInfo> {
        let mut info = DwarfInfo {
            base,
            sections,
            big,
            altlink,
            addrs: Vec::new(),
            units: Vec::new(),
        };
        info.build_address_map()?;
        let units = &info.units;
        let count = info.addrs.len();
        backtrace_qsort(
            &mut info.addrs[..count],
            &mut |a: &UnitAddrs, b: &UnitAddrs| {
                a.low
                    .cmp(&b.low)
                    .then(b.high.cmp(&a.high))
                    .then(units[a.unit].lineoff.cmp(&units[b.unit].lineoff))
            },
        );
        info.addrs.push(UnitAddrs {
            low: u64::MAX,
            high: u64::MAX,
            unit: usize::MAX,
        });
        Some(info)
    }

    fn section(&self, section: u8) -> &[u8] {
        self.sections.get(section)
    }

    /// The bytes of a string reference (up to its NUL).
    fn str_bytes(&self, s: StrRef) -> &[u8] {
        let owner = if s.alt {
            match &self.altlink {
                Some(alt) => alt.as_ref(),
                None => return &[],
            }
        } else {
            self
        };
        c_str(owner.section(s.section), s.offset)
    }

    fn str_text(&self, s: StrRef) -> Arc<str> {
        Arc::from(String::from_utf8_lossy(self.str_bytes(s)).as_ref())
    }

    /// `read_abbrevs`.
    fn read_abbrevs(&self, offset: u64) -> Option<Abbrevs> {
        let data = self.section(DEBUG_ABBREV);
        let offset = usize::try_from(offset).ok().filter(|&o| o < data.len())?;
        let start = Buf::new(data, DEBUG_ABBREV, offset, data.len() - offset, self.big);

        let mut count_buf = start.clone();
        let mut num_abbrevs = 0usize;
        while count_buf.read_uleb128() != 0 {
            if count_buf.underflow {
                return None;
            }
            num_abbrevs += 1;
            count_buf.read_uleb128();
            count_buf.read_u8();
            while count_buf.read_uleb128() != 0 {
                let form = count_buf.read_uleb128();
                if form == DW_FORM_IMPLICIT_CONST {
                    count_buf.read_sleb128();
                }
            }
            count_buf.read_uleb128();
        }
        if count_buf.underflow {
            return None;
        }
        let mut abbrevs = Abbrevs {
            list: Vec::with_capacity(num_abbrevs),
        };
        if num_abbrevs == 0 {
            return Some(abbrevs);
        }
        let mut buf = start;
        loop {
            if buf.underflow {
                return None;
            }
            let code = buf.read_uleb128();
            if code == 0 {
                break;
            }
            let tag = buf.read_uleb128();
            let has_children = buf.read_u8() != 0;
            let mut attrs = Vec::new();
            loop {
                let name = buf.read_uleb128();
                let form = buf.read_uleb128();
                if name == 0 {
                    break;
                }
                let val = if form == DW_FORM_IMPLICIT_CONST {
                    buf.read_sleb128()
                } else {
                    0
                };
                attrs.push(Attr { name, form, val });
                if buf.underflow {
                    return None;
                }
            }
            abbrevs.list.push(Abbrev {
                code,
                tag,
                has_children,
                attrs,
            });
        }
        backtrace_qsort(&mut abbrevs.list, &mut |a: &Abbrev, b: &Abbrev| {
            a.code.cmp(&b.code)
        });
        Some(abbrevs)
    }

    /// `read_attribute`; None when libbacktrace's returns 0.
    #[allow(clippy::too_many_arguments)]
    fn read_attribute(
        &self,
        form: u64,
        implicit_val: i64,
        buf: &mut Buf,
        is_dwarf64: bool,
        version: u16,
        addrsize: u8,
    ) -> Option<AttrVal> {
        Some(match form {
            DW_FORM_ADDR => AttrVal::Address(buf.read_address(addrsize)),
            DW_FORM_BLOCK2 => {
                let len = buf.read_u16();
                return buf.advance(len).then_some(AttrVal::Block);
            }
            DW_FORM_BLOCK4 => {
                let len = buf.read_u32();
                return buf.advance(len).then_some(AttrVal::Block);
            }
            DW_FORM_DATA2 => AttrVal::Uint(buf.read_u16()),
            DW_FORM_DATA4 => AttrVal::Uint(buf.read_u32()),
            DW_FORM_DATA8 => AttrVal::Uint(buf.read_u64()),
            DW_FORM_DATA16 => return buf.advance(16).then_some(AttrVal::Block),
            DW_FORM_STRING => AttrVal::Str(buf.read_string()?),
            DW_FORM_BLOCK => {
                let len = buf.read_uleb128();
                return buf.advance(len).then_some(AttrVal::Block);
            }
            DW_FORM_BLOCK1 => {
                let len = u64::from(buf.read_u8());
                return buf.advance(len).then_some(AttrVal::Block);
            }
            DW_FORM_DATA1 | DW_FORM_FLAG => AttrVal::Uint(u64::from(buf.read_u8())),
            DW_FORM_SDATA => AttrVal::Sint(buf.read_sleb128()),
            DW_FORM_STRP => {
                let offset = buf.read_offset(is_dwarf64);
                if offset >= self.section(DEBUG_STR).len() as u64 {
                    return None;
                }
                AttrVal::Str(StrRef::new(DEBUG_STR, offset as usize))
            }
            DW_FORM_LINE_STRP => {
                let offset = buf.read_offset(is_dwarf64);
                if offset >= self.section(DEBUG_LINE_STR).len() as u64 {
                    return None;
                }
                AttrVal::Str(StrRef::new(DEBUG_LINE_STR, offset as usize))
            }
            DW_FORM_UDATA => AttrVal::Uint(buf.read_uleb128()),
            DW_FORM_REF_ADDR => {
                if version == 2 {
                    AttrVal::RefInfo(buf.read_address(addrsize))
                } else {
                    AttrVal::RefInfo(buf.read_offset(is_dwarf64))
                }
            }
            DW_FORM_REF1 => AttrVal::RefUnit(u64::from(buf.read_u8())),
            DW_FORM_REF2 => AttrVal::RefUnit(buf.read_u16()),
            DW_FORM_REF4 => AttrVal::RefUnit(buf.read_u32()),
            DW_FORM_REF8 => AttrVal::RefUnit(buf.read_u64()),
            DW_FORM_REF_UDATA => AttrVal::RefUnit(buf.read_uleb128()),
            DW_FORM_INDIRECT => {
                let form = buf.read_uleb128();
                if form == DW_FORM_IMPLICIT_CONST {
                    return None;
                }
                return self.read_attribute(form, 0, buf, is_dwarf64, version, addrsize);
            }
            DW_FORM_SEC_OFFSET => AttrVal::RefSection(buf.read_offset(is_dwarf64)),
            DW_FORM_EXPRLOC => {
                let len = buf.read_uleb128();
                return buf.advance(len).then_some(AttrVal::Expr);
            }
            DW_FORM_FLAG_PRESENT => AttrVal::Uint(1),
            DW_FORM_REF_SIG8 => AttrVal::RefType(buf.read_u64()),
            DW_FORM_STRX => AttrVal::StringIndex(buf.read_uleb128()),
            DW_FORM_STRX1 => AttrVal::StringIndex(u64::from(buf.read_u8())),
            DW_FORM_STRX2 => AttrVal::StringIndex(buf.read_u16()),
            DW_FORM_STRX3 => AttrVal::StringIndex(buf.read_uint(3)),
            DW_FORM_STRX4 => AttrVal::StringIndex(buf.read_u32()),
            DW_FORM_ADDRX => AttrVal::AddressIndex(buf.read_uleb128()),
            DW_FORM_ADDRX1 => AttrVal::AddressIndex(u64::from(buf.read_u8())),
            DW_FORM_ADDRX2 => AttrVal::AddressIndex(buf.read_u16()),
            DW_FORM_ADDRX3 => AttrVal::AddressIndex(buf.read_uint(3)),
            DW_FORM_ADDRX4 => AttrVal::AddressIndex(buf.read_u32()),
            DW_FORM_REF_SUP4 => AttrVal::RefSection(buf.read_u32()),
            DW_FORM_REF_SUP8 => AttrVal::RefSection(buf.read_u64()),
            DW_FORM_IMPLICIT_CONST => AttrVal::Uint(implicit_val as u64),
            DW_FORM_LOCLISTX => AttrVal::RefSection(buf.read_uleb128()),
            DW_FORM_RNGLISTX => AttrVal::RnglistsIndex(buf.read_uleb128()),
            DW_FORM_GNU_ADDR_INDEX | DW_FORM_GNU_STR_INDEX => {
                AttrVal::RefSection(buf.read_uleb128())
            }
            DW_FORM_GNU_REF_ALT => {
                let offset = buf.read_offset(is_dwarf64);
                if self.altlink.is_none() {
                    AttrVal::None
                } else {
                    AttrVal::RefAltInfo(offset)
                }
            }
            DW_FORM_STRP_SUP | DW_FORM_GNU_STRP_ALT => {
                let offset = buf.read_offset(is_dwarf64);
                match &self.altlink {
                    None => AttrVal::None,
                    Some(alt) => {
                        if offset >= alt.section(DEBUG_STR).len() as u64 {
                            return None;
                        }
                        AttrVal::Str(StrRef {
                            alt: true,
                            section: DEBUG_STR,
                            offset: offset as usize,
                        })
                    }
                }
            }
            _ => return None,
        })
    }

    /// `resolve_string`: Ok(None) when the value is not a string (left unchanged).
    fn resolve_string(
        &self,
        is_dwarf64: bool,
        str_offsets_base: u64,
        val: AttrVal,
    ) -> Result<Option<StrRef>, ()> {
        match val {
            AttrVal::Str(s) => Ok(Some(s)),
            AttrVal::StringIndex(index) => {
                let width: u64 = if is_dwarf64 { 8 } else { 4 };
                let offsets = self.section(DEBUG_STR_OFFSETS);
                let offset = index.wrapping_mul(width).wrapping_add(str_offsets_base);
                if offset.wrapping_add(width) > offsets.len() as u64
                    || offset > offsets.len() as u64
                {
                    return Err(());
                }
                let mut buf = Buf::new(
                    offsets,
                    DEBUG_STR_OFFSETS,
                    offset as usize,
                    offsets.len() - offset as usize,
                    self.big,
                );
                let target = buf.read_offset(is_dwarf64);
                if target >= self.section(DEBUG_STR).len() as u64 {
                    return Err(());
                }
                Ok(Some(StrRef::new(DEBUG_STR, target as usize)))
            }
            _ => Ok(None),
        }
    }

    /// `resolve_addr_index`.
    fn resolve_addr_index(&self, unit: &Unit, index: u64) -> Option<u64> {
        let addr = self.section(DEBUG_ADDR);
        let size = u64::from(unit.addrsize);
        let offset = index.wrapping_mul(size).wrapping_add(unit.addr_base);
        if offset.wrapping_add(size) > addr.len() as u64 || offset > addr.len() as u64 {
            return None;
        }
        let mut buf = Buf::new(
            addr,
            DEBUG_ADDR,
            offset as usize,
            addr.len() - offset as usize,
            self.big,
        );
        Some(buf.read_address(unit.addrsize))
    }

    /// `add_ranges`: calls `add` with each relocated `[low, high)` of `range`; false on
    /// error.
    fn add_ranges(
        &self,
        unit: &Unit,
        base: u64,
        range: &PcRange,
        add: &mut dyn FnMut(u64, u64),
    ) -> bool {
        if range.have_lowpc && range.have_highpc {
            let mut low = range.lowpc;
            if range.lowpc_is_addr_index {
                match self.resolve_addr_index(unit, low) {
                    Some(v) => low = v,
                    None => return false,
                }
            }
            let mut high = range.highpc;
            if range.highpc_is_addr_index {
                match self.resolve_addr_index(unit, high) {
                    Some(v) => high = v,
                    None => return false,
                }
            }
            if range.highpc_is_relative {
                high = high.wrapping_add(low);
            }
            add(low.wrapping_add(self.base), high.wrapping_add(self.base));
            return true;
        }
        if !range.have_ranges {
            return true;
        }
        if unit.version < 5 {
            self.add_ranges_from_ranges(unit, base, range, add)
        } else {
            self.add_ranges_from_rnglists(unit, base, range, add)
        }
    }

    fn add_ranges_from_ranges(
        &self,
        unit: &Unit,
        mut base: u64,
        range: &PcRange,
        add: &mut dyn FnMut(u64, u64),
    ) -> bool {
        let data = self.section(DEBUG_RANGES);
        if range.ranges >= data.len() as u64 {
            return false;
        }
        let offset = range.ranges as usize;
        let mut buf = Buf::new(data, DEBUG_RANGES, offset, data.len() - offset, self.big);
        loop {
            if buf.underflow {
                return false;
            }
            let low = buf.read_address(unit.addrsize);
            let high = buf.read_address(unit.addrsize);
            if low == 0 && high == 0 {
                break;
            }
            if is_highest_address(low, unit.addrsize) {
                base = high;
            } else {
                add(
                    low.wrapping_add(base).wrapping_add(self.base),
                    high.wrapping_add(base).wrapping_add(self.base),
                );
            }
        }
        !buf.underflow
    }

    fn add_ranges_from_rnglists(
        &self,
        unit: &Unit,
        mut base: u64,
        range: &PcRange,
        add: &mut dyn FnMut(u64, u64),
    ) -> bool {
        let data = self.section(DEBUG_RNGLISTS);
        let width: u64 = if unit.is_dwarf64 { 8 } else { 4 };
        let offset = if range.ranges_is_index {
            unit.rnglists_base
                .wrapping_add(range.ranges.wrapping_mul(width))
        } else {
            range.ranges
        };
        if offset >= data.len() as u64 {
            return false;
        }
        let mut buf = Buf::new(
            data,
            DEBUG_RNGLISTS,
            offset as usize,
            data.len() - offset as usize,
            self.big,
        );
        if range.ranges_is_index {
            let target = buf
                .read_offset(unit.is_dwarf64)
                .wrapping_add(unit.rnglists_base);
            if target >= data.len() as u64 {
                return false;
            }
            buf.pos = target as usize;
            buf.left = data.len() - target as usize;
        }
        loop {
            let rle = buf.read_u8();
            if rle == DW_RLE_END_OF_LIST {
                break;
            }
            match rle {
                DW_RLE_BASE_ADDRESSX => {
                    let index = buf.read_uleb128();
                    match self.resolve_addr_index(unit, index) {
                        Some(v) => base = v,
                        None => return false,
                    }
                }
                DW_RLE_STARTX_ENDX => {
                    let index = buf.read_uleb128();
                    let Some(low) = self.resolve_addr_index(unit, index) else {
                        return false;
                    };
                    let index = buf.read_uleb128();
                    let Some(high) = self.resolve_addr_index(unit, index) else {
                        return false;
                    };
                    add(low.wrapping_add(self.base), high.wrapping_add(self.base));
                }
                DW_RLE_STARTX_LENGTH => {
                    let index = buf.read_uleb128();
                    let Some(low) = self.resolve_addr_index(unit, index) else {
                        return false;
                    };
                    let length = buf.read_uleb128();
                    let low = low.wrapping_add(self.base);
                    add(low, low.wrapping_add(length));
                }
                DW_RLE_OFFSET_PAIR => {
                    let low = buf.read_uleb128();
                    let high = buf.read_uleb128();
                    add(
                        low.wrapping_add(base).wrapping_add(self.base),
                        high.wrapping_add(base).wrapping_add(self.base),
                    );
                }
                DW_RLE_BASE_ADDRESS => base = buf.read_address(unit.addrsize),
                DW_RLE_START_END => {
                    let low = buf.read_address(unit.addrsize);
                    let high = buf.read_address(unit.addrsize);
                    add(low.wrapping_add(self.base), high.wrapping_add(self.base));
                }
                DW_RLE_START_LENGTH => {
                    let low = buf.read_address(unit.addrsize);
                    let length = buf.read_uleb128();
                    let low = low.wrapping_add(self.base);
                    add(low, low.wrapping_add(length));
                }
                _ => return false,
            }
        }
        !buf.underflow
    }

    /// `find_address_ranges`: reads DIEs until a 0 code, adding unit ranges; false on
    /// error.
    fn find_address_ranges(
        &self,
        unit: &mut Unit,
        buf: &mut Buf,
        addrs: &mut Vec<UnitAddrs>,
        index: usize,
        depth: u32,
    ) -> bool {
        if depth > MAX_DIE_DEPTH {
            return false;
        }
        while buf.left > 0 {
            let code = buf.read_uleb128();
            if code == 0 {
                return true;
            }
            let abbrevs = Arc::clone(&unit.abbrevs);
            let Some(abbrev) = abbrevs.lookup(code) else {
                return false;
            };
            let is_unit = abbrev.tag == DW_TAG_COMPILE_UNIT || abbrev.tag == DW_TAG_SKELETON_UNIT;
            let mut range = PcRange::default();
            let mut name_val = None;
            let mut comp_dir_val = None;
            for attr in &abbrev.attrs {
                let Some(val) = self.read_attribute(
                    attr.form,
                    attr.val,
                    buf,
                    unit.is_dwarf64,
                    unit.version,
                    unit.addrsize,
                ) else {
                    return false;
                };
                match attr.name {
                    DW_AT_LOW_PC | DW_AT_HIGH_PC | DW_AT_RANGES => range.update(attr.name, val),
                    DW_AT_STMT_LIST if is_unit => {
                        if let AttrVal::Uint(v) | AttrVal::RefSection(v) = val {
                            unit.lineoff = v;
                        }
                    }
                    DW_AT_NAME if is_unit => name_val = Some(val),
                    DW_AT_COMP_DIR if is_unit => comp_dir_val = Some(val),
                    DW_AT_STR_OFFSETS_BASE => {
                        if let (true, AttrVal::RefSection(v)) = (is_unit, val) {
                            unit.str_offsets_base = v;
                        }
                    }
                    DW_AT_ADDR_BASE => {
                        if let (true, AttrVal::RefSection(v)) = (is_unit, val) {
                            unit.addr_base = v;
                        }
                    }
                    DW_AT_RNGLISTS_BASE => {
                        if let (true, AttrVal::RefSection(v)) = (is_unit, val) {
                            unit.rnglists_base = v;
                        }
                    }
                    _ => {}
                }
            }
            if let Some(val) = name_val {
                match self.resolve_string(unit.is_dwarf64, unit.str_offsets_base, val) {
                    Ok(Some(s)) => unit.filename = Some(s),
                    Ok(None) => {}
                    Err(()) => return false,
                }
            }
            if let Some(val) = comp_dir_val {
                match self.resolve_string(unit.is_dwarf64, unit.str_offsets_base, val) {
                    Ok(Some(s)) => unit.comp_dir = Some(s),
                    Ok(None) => {}
                    Err(()) => return false,
                }
            }
            if is_unit || abbrev.tag == DW_TAG_SUBPROGRAM {
                let ok = self.add_ranges(unit, range.lowpc, &range, &mut |low, high| {
                    add_unit_addr(addrs, index, low, high)
                });
                if !ok {
                    return false;
                }
                if is_unit && (range.have_ranges || (range.have_lowpc && range.have_highpc)) {
                    return true;
                }
            }
            if abbrev.has_children && !self.find_address_ranges(unit, buf, addrs, index, depth + 1)
            {
                return false;
            }
        }
        true
    }

    /// `build_address_map`.
    fn build_address_map(&mut self) -> Option<()> {
        let data = self.section(DEBUG_INFO);
        let mut info = Buf::new(data, DEBUG_INFO, 0, data.len(), self.big);
        let mut units = Vec::new();
        let mut addrs = Vec::new();
        let mut unit_offset = 0u64;
        let mut abbrev_cache: HashMap<u64, Arc<Abbrevs>> = HashMap::new();
        while info.left > 0 {
            if info.underflow {
                return None;
            }
            let unit_data_start = info.pos;
            let (len, is_dwarf64) = info.read_initial_length();
            let mut unit_buf = info.clone();
            unit_buf.left = usize::try_from(len).ok()?;
            if !info.advance(len) {
                return None;
            }
            let version = unit_buf.read_u16() as u16;
            if !(2..=5).contains(&version) {
                return None;
            }
            let unit_type = if version < 5 { 0 } else { unit_buf.read_u8() };
            if unit_type == DW_UT_TYPE || unit_type == DW_UT_SPLIT_TYPE {
                continue;
            }
            let mut addrsize = if version < 5 { 0 } else { unit_buf.read_u8() };
            let abbrev_offset = unit_buf.read_offset(is_dwarf64);
            let abbrevs = match abbrev_cache.get(&abbrev_offset) {
                Some(abbrevs) => Arc::clone(abbrevs),
                None => {
                    let abbrevs = Arc::new(self.read_abbrevs(abbrev_offset)?);
                    abbrev_cache.insert(abbrev_offset, Arc::clone(&abbrevs));
                    abbrevs
                }
            };
            if version < 5 {
                addrsize = unit_buf.read_u8();
            }
            if unit_type == DW_UT_SKELETON || unit_type == DW_UT_SPLIT_COMPILE {
                unit_buf.read_u64();
            }
            let low_offset = unit_offset;
            unit_offset =
                unit_offset
                    .wrapping_add(len)
                    .wrapping_add(if is_dwarf64 { 12 } else { 4 });
            let mut unit = Unit {
                unit_data: unit_buf.pos,
                unit_data_len: unit_buf.left,
                unit_data_offset: unit_buf.pos - unit_data_start,
                low_offset,
                high_offset: unit_offset,
                version,
                is_dwarf64,
                addrsize,
                lineoff: 0,
                str_offsets_base: 0,
                addr_base: 0,
                rnglists_base: 0,
                filename: None,
                comp_dir: None,
                abbrevs,
            };
            let index = units.len();
            if !self.find_address_ranges(&mut unit, &mut unit_buf, &mut addrs, index, 0) {
                return None;
            }
            if unit_buf.underflow {
                return None;
            }
            units.push(unit);
        }
        if info.underflow {
            return None;
        }
        self.units = units;
        self.addrs = addrs;
        Some(())
    }

    /// `find_unit`.
    fn find_unit(&self, offset: u64) -> Option<usize> {
        glibc_bsearch(&self.units, |unit| {
            if offset < unit.low_offset {
                Ordering::Less
            } else if offset >= unit.high_offset {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        })
    }

    /// `read_referenced_name_from_attr`.
    fn referenced_name_from_attr(
        &self,
        unit: &Unit,
        attr: &Attr,
        val: AttrVal,
        depth: u32,
    ) -> Option<StrRef> {
        if attr.name != DW_AT_ABSTRACT_ORIGIN && attr.name != DW_AT_SPECIFICATION {
            return None;
        }
        if attr.form == DW_FORM_REF_SIG8 || depth > MAX_REFERENCE_DEPTH {
            return None;
        }
        match val {
            AttrVal::RefInfo(offset) => {
                let index = self.find_unit(offset)?;
                let target = &self.units[index];
                self.referenced_name(target, offset - target.low_offset, depth + 1)
            }
            AttrVal::Uint(offset) | AttrVal::RefUnit(offset) => {
                self.referenced_name(unit, offset, depth + 1)
            }
            AttrVal::RefAltInfo(offset) => {
                let alt = self.altlink.as_ref()?;
                let index = alt.find_unit(offset)?;
                let target = &alt.units[index];
                let name = alt.referenced_name(target, offset - target.low_offset, depth + 1)?;
                Some(StrRef { alt: true, ..name })
            }
            _ => None,
        }
    }

    /// `read_referenced_name`: the name of the DIE at `offset` in `unit`.
    fn referenced_name(&self, unit: &Unit, offset: u64, depth: u32) -> Option<StrRef> {
        let data_offset = unit.unit_data_offset as u64;
        if offset < data_offset || offset - data_offset >= unit.unit_data_len as u64 {
            return None;
        }
        let offset = (offset - data_offset) as usize;
        let data = self.section(DEBUG_INFO);
        let mut buf = Buf::new(
            data,
            DEBUG_INFO,
            unit.unit_data + offset,
            unit.unit_data_len - offset,
            self.big,
        );
        let code = buf.read_uleb128();
        if code == 0 {
            return None;
        }
        let abbrev = unit.abbrevs.lookup(code)?;
        let mut ret: Option<StrRef> = None;
        for attr in &abbrev.attrs {
            let val = self.read_attribute(
                attr.form,
                attr.val,
                &mut buf,
                unit.is_dwarf64,
                unit.version,
                unit.addrsize,
            )?;
            match attr.name {
                DW_AT_NAME => {
                    if ret.is_some() {
                        continue;
                    }
                    match self.resolve_string(unit.is_dwarf64, unit.str_offsets_base, val) {
                        Ok(Some(s)) => ret = Some(s),
                        Ok(None) => {}
                        Err(()) => return None,
                    }
                }
                DW_AT_LINKAGE_NAME | DW_AT_MIPS_LINKAGE_NAME => {
                    match self.resolve_string(unit.is_dwarf64, unit.str_offsets_base, val) {
                        Ok(Some(s)) => return Some(s),
                        Ok(None) => {}
                        Err(()) => return None,
                    }
                }
                DW_AT_SPECIFICATION => {
                    if let Some(name) = self.referenced_name_from_attr(unit, attr, val, depth) {
                        ret = Some(name);
                    }
                }
                _ => {}
            }
        }
        ret
    }

    /// `read_line_info` (header and program) for `unit`; None when it fails or yields no
    /// lines.
    fn read_line_info(&self, unit: &Unit) -> Option<(Vec<Line>, FileNames, usize)> {
        let data = self.section(DEBUG_LINE);
        if unit.lineoff >= data.len() as u64 {
            return None;
        }
        let offset = unit.lineoff as usize;
        let mut line_buf = Buf::new(data, DEBUG_LINE, offset, data.len() - offset, self.big);
        let (len, is_dwarf64) = line_buf.read_initial_length();
        line_buf.left = usize::try_from(len).ok()?;
        let (hdr, mut files) = self.read_line_header(unit, is_dwarf64, &mut line_buf)?;
        let mut lines = Vec::new();
        self.read_line_program(&hdr, &mut files, &mut line_buf, &mut lines)?;
        if line_buf.underflow || lines.is_empty() {
            return None;
        }
        lines.sort_by_key(|line| line.pc);
        lines.push(Line {
            pc: u64::MAX,
            file: u32::MAX,
            lineno: 0,
        });
        Some((lines, files, hdr.filenames_count))
    }

    /// `read_line_header`: the header and `hdr->filenames` (as the start of the unit's
    /// file table).
    fn read_line_header(
        &self,
        unit: &Unit,
        is_dwarf64: bool,
        line_buf: &mut Buf,
    ) -> Option<(LineHeader, FileNames)> {
        let version = line_buf.read_u16();
        if !(2..=5).contains(&version) {
            return None;
        }
        let addrsize = if version < 5 {
            unit.addrsize
        } else {
            let addrsize = line_buf.read_u8();
            if line_buf.read_u8() != 0 {
                return None;
            }
            addrsize
        };
        let hdrlen = line_buf.read_offset(is_dwarf64);
        let mut hdr_buf = line_buf.clone();
        hdr_buf.left = usize::try_from(hdrlen).ok()?;
        if !line_buf.advance(hdrlen) {
            return None;
        }
        let min_insn_len = u32::from(hdr_buf.read_u8());
        let max_ops_per_insn = if version < 4 {
            1
        } else {
            u32::from(hdr_buf.read_u8())
        };
        hdr_buf.read_u8();
        let line_base = i32::from(hdr_buf.read_i8());
        let line_range = u32::from(hdr_buf.read_u8());
        let opcode_base = u32::from(hdr_buf.read_u8());
        let opcode_lengths = hdr_buf.pos;
        if !hdr_buf.advance(u64::from(opcode_base).wrapping_sub(1)) {
            return None;
        }
        let mut hdr = LineHeader {
            addrsize,
            min_insn_len,
            max_ops_per_insn,
            line_base,
            line_range,
            opcode_base,
            opcode_lengths,
            dirs: Vec::new(),
            filenames_count: 0,
        };
        let files = if version < 5 {
            self.read_v2_paths(unit, &mut hdr_buf, &mut hdr)?
        } else {
            hdr.dirs = self.read_format_entries(unit, &mut hdr_buf, &hdr)?;
            self.read_format_entries(unit, &mut hdr_buf, &hdr)?
        };
        if hdr_buf.underflow {
            return None;
        }
        hdr.filenames_count = files.len();
        Some((hdr, files))
    }

    /// `read_v2_paths`: directories (0 = `DW_AT_comp_dir`) and file names (0 =
    /// `DW_AT_name`), relative names joined to their directory.
    fn read_v2_paths(
        &self,
        unit: &Unit,
        hdr_buf: &mut Buf,
        hdr: &mut LineHeader,
    ) -> Option<FileNames> {
        let mut dirs: FileNames = vec![unit.comp_dir.map(|s| self.str_text(s))];
        while hdr_buf.peek() != 0 {
            if hdr_buf.underflow {
                return None;
            }
            let dir = hdr_buf.read_string()?;
            dirs.push(Some(self.str_text(dir)));
        }
        if !hdr_buf.advance(1) {
            return None;
        }
        let mut files: FileNames = vec![unit.filename.map(|s| self.str_text(s))];
        while hdr_buf.peek() != 0 {
            if hdr_buf.underflow {
                return None;
            }
            let name = hdr_buf.read_string()?;
            let dir_index = hdr_buf.read_uleb128();
            let name_bytes = self.str_bytes(name);
            let dir = usize::try_from(dir_index).ok().and_then(|i| dirs.get(i));
            let file = if name_bytes.first() == Some(&b'/') || matches!(dir, Some(None)) {
                self.str_text(name)
            } else {
                match dir {
                    Some(Some(dir)) => join(dir, &String::from_utf8_lossy(name_bytes)),
                    _ => return None,
                }
            };
            files.push(Some(file));
            hdr_buf.read_uleb128();
            hdr_buf.read_uleb128();
        }
        hdr.dirs = dirs;
        Some(files)
    }

    /// `read_line_header_format_entries` + `read_lnct` (DWARF 5): paths joined to their
    /// directory whenever a directory index is present.
    fn read_format_entries(
        &self,
        unit: &Unit,
        hdr_buf: &mut Buf,
        hdr: &LineHeader,
    ) -> Option<FileNames> {
        let formats_count = hdr_buf.read_u8();
        let mut formats = Vec::with_capacity(usize::from(formats_count));
        for _ in 0..formats_count {
            let lnct = hdr_buf.read_uleb128();
            let form = hdr_buf.read_uleb128();
            formats.push((lnct, form));
        }
        let paths_count = hdr_buf.read_uleb128();
        let mut paths = Vec::new();
        for _ in 0..paths_count {
            let mut dir: Option<&Option<Arc<str>>> = None;
            let mut path: Option<StrRef> = None;
            for &(lnct, form) in &formats {
                let val = self.read_attribute(
                    form,
                    0,
                    hdr_buf,
                    unit.is_dwarf64,
                    unit.version,
                    hdr.addrsize,
                )?;
                match lnct {
                    DW_LNCT_PATH => {
                        match self.resolve_string(unit.is_dwarf64, unit.str_offsets_base, val) {
                            Ok(Some(s)) => path = Some(s),
                            Ok(None) => {}
                            Err(()) => return None,
                        }
                    }
                    DW_LNCT_DIRECTORY_INDEX => {
                        if let AttrVal::Uint(index) = val {
                            dir = Some(usize::try_from(index).ok().and_then(|i| hdr.dirs.get(i))?);
                        }
                    }
                    _ => {}
                }
            }
            let path = path?;
            paths.push(Some(match dir {
                None => self.str_text(path),
                Some(dir) => {
                    let dir = dir.as_deref().unwrap_or("");
                    join(dir, &String::from_utf8_lossy(self.str_bytes(path)))
                }
            }));
            if hdr_buf.underflow {
                return None;
            }
        }
        Some(paths)
    }

    /// `read_line_program`: appends `(pc, file, line)` rows; extra file names
    /// (`DW_LNE_define_file`, the empty reset name) are appended to `files`.
    fn read_line_program(
        &self,
        hdr: &LineHeader,
        files: &mut FileNames,
        line_buf: &mut Buf,
        lines: &mut Vec<Line>,
    ) -> Option<()> {
        if hdr.max_ops_per_insn == 0 || hdr.line_range == 0 {
            // libbacktrace divides by these.
            return None;
        }
        let reset_file = if hdr.filenames_count > 1 {
            1u32
        } else {
            files.push(Some(Arc::from("")));
            (files.len() - 1) as u32
        };
        let mut address: u64 = 0;
        let mut op_index: u32 = 0;
        let mut file = reset_file;
        let mut lineno: i32 = 1;
        let base = self.base;
        let add_line = |lines: &mut Vec<Line>, pc: u64, file: u32, lineno: i32| {
            let pc = pc.wrapping_add(base);
            if let Some(last) = lines.last() {
                if last.pc == pc && last.file == file && last.lineno == lineno {
                    return;
                }
            }
            lines.push(Line { pc, file, lineno });
        };
        while line_buf.left > 0 {
            let op = u32::from(line_buf.read_u8());
            if op >= hdr.opcode_base {
                let op = op - hdr.opcode_base;
                let advance = op / hdr.line_range;
                address = address.wrapping_add(u64::from(
                    hdr.min_insn_len
                        .wrapping_mul(op_index.wrapping_add(advance))
                        / hdr.max_ops_per_insn,
                ));
                op_index = op_index.wrapping_add(advance) % hdr.max_ops_per_insn;
                lineno =
                    lineno.wrapping_add(hdr.line_base.wrapping_add((op % hdr.line_range) as i32));
                add_line(lines, address, file, lineno);
            } else if op == DW_LNS_EXTENDED_OP {
                let len = line_buf.read_uleb128();
                let op = u32::from(line_buf.read_u8());
                match op {
                    DW_LNE_END_SEQUENCE => {
                        address = 0;
                        op_index = 0;
                        file = reset_file;
                        lineno = 1;
                    }
                    DW_LNE_SET_ADDRESS => address = line_buf.read_address(hdr.addrsize),
                    DW_LNE_DEFINE_FILE => {
                        let name = line_buf.read_string()?;
                        let dir_index = line_buf.read_uleb128() as u32;
                        line_buf.read_uleb128();
                        line_buf.read_uleb128();
                        let name_bytes = self.str_bytes(name);
                        let text = if name_bytes.first() == Some(&b'/') {
                            self.str_text(name)
                        } else {
                            let dir = hdr.dirs.get(dir_index as usize)?;
                            join(
                                dir.as_deref().unwrap_or(""),
                                &String::from_utf8_lossy(name_bytes),
                            )
                        };
                        files.push(Some(text));
                        file = (files.len() - 1) as u32;
                    }
                    DW_LNE_SET_DISCRIMINATOR => {
                        line_buf.read_uleb128();
                    }
                    _ => {
                        if !line_buf.advance(len.wrapping_sub(1)) {
                            return None;
                        }
                    }
                }
            } else {
                match op {
                    DW_LNS_COPY => add_line(lines, address, file, lineno),
                    DW_LNS_ADVANCE_PC => {
                        let advance = line_buf.read_uleb128();
                        let ops = u64::from(op_index).wrapping_add(advance);
                        address = address.wrapping_add(
                            u64::from(hdr.min_insn_len).wrapping_mul(ops)
                                / u64::from(hdr.max_ops_per_insn),
                        );
                        op_index = (ops % u64::from(hdr.max_ops_per_insn)) as u32;
                    }
                    DW_LNS_ADVANCE_LINE => {
                        lineno = lineno.wrapping_add(line_buf.read_sleb128() as i32)
                    }
                    DW_LNS_SET_FILE => {
                        let fileno = line_buf.read_uleb128();
                        if fileno >= hdr.filenames_count as u64 {
                            return None;
                        }
                        file = fileno as u32;
                    }
                    DW_LNS_SET_COLUMN => {
                        line_buf.read_uleb128();
                    }
                    DW_LNS_NEGATE_STMT
                    | DW_LNS_SET_BASIC_BLOCK
                    | DW_LNS_SET_PROLOGUE_END
                    | DW_LNS_SET_EPILOGUE_BEGIN => {}
                    DW_LNS_CONST_ADD_PC => {
                        let advance = (255 - hdr.opcode_base) / hdr.line_range;
                        address = address.wrapping_add(u64::from(
                            hdr.min_insn_len
                                .wrapping_mul(op_index.wrapping_add(advance))
                                / hdr.max_ops_per_insn,
                        ));
                        op_index = op_index.wrapping_add(advance) % hdr.max_ops_per_insn;
                    }
                    DW_LNS_FIXED_ADVANCE_PC => {
                        address = address.wrapping_add(line_buf.read_u16());
                        op_index = 0;
                    }
                    DW_LNS_SET_ISA => {
                        line_buf.read_uleb128();
                    }
                    _ => {
                        let count = self
                            .section(DEBUG_LINE)
                            .get(hdr.opcode_lengths + op as usize - 1)
                            .copied()
                            .unwrap_or(0);
                        for _ in 0..count {
                            line_buf.read_uleb128();
                        }
                    }
                }
            }
        }
        Some(())
    }

    /// `read_function_info`: the unit's functions and sorted top-level ranges; empty when
    /// `read_function_entry` fails anywhere in the unit.
    fn read_function_info(
        &self,
        unit: &Unit,
        filenames_count: usize,
    ) -> (Vec<Function>, Vec<FunctionAddrs>) {
        let data = self.section(DEBUG_INFO);
        let mut buf = Buf::new(
            data,
            DEBUG_INFO,
            unit.unit_data,
            unit.unit_data_len,
            self.big,
        );
        let mut reader = FunctionReader {
            functions: Vec::new(),
            vectors: vec![Vec::new()],
            depth: 0,
        };
        while buf.left > 0 {
            if !self.read_function_entry(unit, 0, &mut buf, filenames_count, &mut reader, 0, 0) {
                return (Vec::new(), Vec::new());
            }
        }
        let mut addrs = std::mem::take(&mut reader.vectors[0]);
        if addrs.is_empty() {
            return (reader.functions, Vec::new());
        }
        self.sort_function_addrs(&mut addrs, &reader.functions);
        addrs.push(sentinel_function_addrs());
        (reader.functions, addrs)
    }

    fn sort_function_addrs(&self, addrs: &mut [FunctionAddrs], functions: &[Function]) {
        backtrace_qsort(addrs, &mut |a: &FunctionAddrs, b: &FunctionAddrs| {
            a.low.cmp(&b.low).then(b.high.cmp(&a.high)).then_with(|| {
                let na = self.str_bytes(functions[a.function as usize].name);
                let nb = self.str_bytes(functions[b.function as usize].name);
                na.cmp(nb)
            })
        });
    }

    /// `read_function_entry`: DIEs until a 0 code; ranges of subprograms go to vector
    /// `vec_function`, of inlined subroutines to `vec_inlined`. False on error.
    #[allow(clippy::too_many_arguments)]
    fn read_function_entry(
        &self,
        unit: &Unit,
        base: u64,
        buf: &mut Buf,
        filenames_count: usize,
        reader: &mut FunctionReader,
        vec_function: usize,
        vec_inlined: usize,
    ) -> bool {
        if reader.depth > MAX_DIE_DEPTH {
            return false;
        }
        reader.depth += 1;
        let ok = self.read_function_entries(
            unit,
            base,
            buf,
            filenames_count,
            reader,
            vec_function,
            vec_inlined,
        );
        reader.depth -= 1;
        ok
    }

    #[allow(clippy::too_many_arguments)]
    fn read_function_entries(
        &self,
        unit: &Unit,
        mut base: u64,
        buf: &mut Buf,
        filenames_count: usize,
        reader: &mut FunctionReader,
        vec_function: usize,
        vec_inlined: usize,
    ) -> bool {
        while buf.left > 0 {
            let code = buf.read_uleb128();
            if code == 0 {
                return true;
            }
            let Some(abbrev) = unit.abbrevs.lookup(code) else {
                return false;
            };
            let mut is_function = abbrev.tag == DW_TAG_SUBPROGRAM
                || abbrev.tag == DW_TAG_ENTRY_POINT
                || abbrev.tag == DW_TAG_INLINED_SUBROUTINE;
            let vec = if abbrev.tag == DW_TAG_INLINED_SUBROUTINE {
                vec_inlined
            } else {
                vec_function
            };
            let mut name: Option<StrRef> = None;
            let mut caller_file: Option<u32> = None;
            let mut caller_lineno: i32 = 0;
            let mut range = PcRange::default();
            let mut have_linkage_name = false;
            let is_unit = abbrev.tag == DW_TAG_COMPILE_UNIT || abbrev.tag == DW_TAG_SKELETON_UNIT;
            for attr in &abbrev.attrs {
                let Some(val) = self.read_attribute(
                    attr.form,
                    attr.val,
                    buf,
                    unit.is_dwarf64,
                    unit.version,
                    unit.addrsize,
                ) else {
                    return false;
                };
                if is_unit && attr.name == DW_AT_LOW_PC {
                    match val {
                        AttrVal::Address(v) => base = v,
                        AttrVal::AddressIndex(index) => {
                            match self.resolve_addr_index(unit, index) {
                                Some(v) => base = v,
                                None => return false,
                            }
                        }
                        _ => {}
                    }
                }
                if !is_function {
                    continue;
                }
                match attr.name {
                    DW_AT_CALL_FILE => {
                        if let AttrVal::Uint(index) = val {
                            if index >= filenames_count as u64 {
                                return false;
                            }
                            caller_file = Some(index as u32);
                        }
                    }
                    DW_AT_CALL_LINE => {
                        if let AttrVal::Uint(line) = val {
                            caller_lineno = line as i32;
                        }
                    }
                    DW_AT_ABSTRACT_ORIGIN | DW_AT_SPECIFICATION if !have_linkage_name => {
                        if let Some(found) = self.referenced_name_from_attr(unit, attr, val, 0) {
                            name = Some(found);
                        }
                    }
                    DW_AT_NAME if name.is_none() => {
                        match self.resolve_string(unit.is_dwarf64, unit.str_offsets_base, val) {
                            Ok(Some(s)) => name = Some(s),
                            Ok(None) => {}
                            Err(()) => return false,
                        }
                    }
                    DW_AT_LINKAGE_NAME | DW_AT_MIPS_LINKAGE_NAME => {
                        match self.resolve_string(unit.is_dwarf64, unit.str_offsets_base, val) {
                            Ok(Some(s)) => {
                                name = Some(s);
                                have_linkage_name = true;
                            }
                            Ok(None) => {}
                            Err(()) => return false,
                        }
                    }
                    DW_AT_LOW_PC | DW_AT_HIGH_PC | DW_AT_RANGES => range.update(attr.name, val),
                    _ => {}
                }
            }
            let mut function_index = NO_FUNCTION;
            if is_function {
                match name {
                    Some(name) if range.have_ranges || (range.have_lowpc && range.have_highpc) => {
                        function_index = reader.functions.len() as u32;
                        reader.functions.push(Function {
                            name,
                            caller_file,
                            caller_lineno,
                            addrs: Vec::new(),
                        });
                        let target = &mut reader.vectors[vec];
                        let ok = self.add_ranges(unit, base, &range, &mut |low, high| {
                            add_function_range(target, function_index, low, high)
                        });
                        if !ok {
                            return false;
                        }
                    }
                    _ => is_function = false,
                }
            }
            if abbrev.has_children {
                if !is_function {
                    if !self.read_function_entry(
                        unit,
                        base,
                        buf,
                        filenames_count,
                        reader,
                        vec_function,
                        vec_inlined,
                    ) {
                        return false;
                    }
                } else {
                    let fvec = reader.vectors.len();
                    reader.vectors.push(Vec::new());
                    if !self.read_function_entry(
                        unit,
                        base,
                        buf,
                        filenames_count,
                        reader,
                        vec_function,
                        fvec,
                    ) {
                        return false;
                    }
                    let mut addrs = reader.vectors.pop().unwrap_or_default();
                    if !addrs.is_empty() {
                        self.sort_function_addrs(&mut addrs, &reader.functions);
                        addrs.push(sentinel_function_addrs());
                        reader.functions[function_index as usize].addrs = addrs;
                    }
                }
            }
        }
        true
    }
}

/// Function arena and the range vectors being filled while reading a unit's DIEs.
struct FunctionReader {
    functions: Vec<Function>,
    vectors: Vec<Vec<FunctionAddrs>>,
    depth: u32,
}

fn is_highest_address(address: u64, addrsize: u8) -> bool {
    match addrsize {
        1 => address == 0xff,
        2 => address == 0xffff,
        4 => address == 0xffff_ffff,
        8 => address == u64::MAX,
        _ => false,
    }
}

/// `add_unit_addr`: merges with the previous range of the same unit when adjacent.
fn add_unit_addr(addrs: &mut Vec<UnitAddrs>, unit: usize, low: u64, high: u64) {
    if let Some(last) = addrs.last_mut() {
        if (low == last.high || low == last.high.wrapping_add(1)) && last.unit == unit {
            if high > last.high {
                last.high = high;
            }
            return;
        }
    }
    addrs.push(UnitAddrs { low, high, unit });
}

/// `add_function_range`: same merging rule.
fn add_function_range(addrs: &mut Vec<FunctionAddrs>, function: u32, low: u64, high: u64) {
    if let Some(last) = addrs.last_mut() {
        if (low == last.high || low == last.high.wrapping_add(1)) && last.function == function {
            if high > last.high {
                last.high = high;
            }
            return;
        }
    }
    addrs.push(FunctionAddrs {
        low,
        high,
        function,
    });
}

/// The entry libbacktrace's search settles on in a sorted range vector with a sentinel:
/// the last one whose `low <= pc`, then walking back over entries with the same `low` to
/// the first (smallest) range that contains `pc`. `count` excludes the sentinel.
fn find_range<T>(
    items: &[T],
    count: usize,
    pc: u64,
    low: impl Fn(&T) -> u64,
    high: impl Fn(&T) -> u64,
) -> Option<usize> {
    let items = &items[..count.min(items.len())];
    let first_above = items.partition_point(|item| low(item) <= pc);
    let mut p = first_above.checked_sub(1)?;
    loop {
        if pc < high(&items[p]) {
            return Some(p);
        }
        if p == 0 || low(&items[p - 1]) < low(&items[p]) {
            return None;
        }
        p -= 1;
    }
}

impl DwarfModule {
    pub fn new(info: Arc<DwarfInfo>) -> DwarfModule {
        let units = (0..info.units.len()).map(|_| UnitLines::NotRead).collect();
        DwarfModule { info, units }
    }

    /// `dwarf_lookup_pc`.
    pub fn lookup(&mut self, pc: u64) -> Lookup {
        let info = Arc::clone(&self.info);
        let count = info.addrs.len().saturating_sub(1);
        if count == 0 || pc == u64::MAX {
            return Lookup::NotFound;
        }
        let Some(mut entry) = find_range(&info.addrs, count, pc, |a| a.low, |a| a.high) else {
            return Lookup::NotFound;
        };
        let mut unit = info.addrs[entry].unit;
        while entry > 0 && pc >= info.addrs[entry - 1].low && pc < info.addrs[entry - 1].high {
            if !matches!(self.units[unit], UnitLines::Failed) {
                break;
            }
            entry -= 1;
            unit = info.addrs[entry].unit;
        }
        let mut new_data = false;
        if matches!(self.units[unit], UnitLines::NotRead) {
            let u = &info.units[unit];
            self.units[unit] = match info.read_line_info(u) {
                Some((lines, files, filenames_count)) => {
                    let (functions, function_addrs) = info.read_function_info(u, filenames_count);
                    UnitLines::Read(Box::new(UnitData {
                        lines,
                        files,
                        functions,
                        function_addrs,
                    }))
                }
                None => UnitLines::Failed,
            };
            new_data = true;
        }
        let data = match &self.units[unit] {
            UnitLines::Read(data) => data,
            _ => {
                if new_data {
                    return self.lookup(pc);
                }
                return Lookup::Found(vec![DwarfFrame {
                    name: None,
                    file: None,
                    line: 0,
                }]);
            }
        };
        let line_count = data.lines.len() - 1;
        let Some(ln) = find_line(&data.lines[..line_count], pc) else {
            // In the unit's range but before its first line: reported with the unit's file
            // name and no function, which memray drops.
            return Lookup::Found(vec![DwarfFrame {
                name: None,
                file: None,
                line: 0,
            }]);
        };
        let ln = data.lines[ln];
        let file_of = |index: Option<u32>| -> Option<Arc<str>> {
            index.and_then(|i| data.files.get(i as usize).cloned().flatten())
        };
        let no_function = || {
            Lookup::Found(vec![DwarfFrame {
                name: None,
                file: file_of(Some(ln.file)),
                line: ln.lineno,
            }])
        };
        let fcount = data.function_addrs.len().saturating_sub(1);
        if fcount == 0 {
            return no_function();
        }
        let Some(fmatch) = find_range(&data.function_addrs, fcount, pc, |a| a.low, |a| a.high)
        else {
            return no_function();
        };
        let function = &data.functions[data.function_addrs[fmatch].function as usize];
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
            file: file_of(file),
            line: lineno,
        });
        Lookup::Found(frames)
    }
}

/// `line_search`: the last line entry at or below `pc` (lines sorted stably by pc).
fn find_line(lines: &[Line], pc: u64) -> Option<usize> {
    lines.partition_point(|line| line.pc <= pc).checked_sub(1)
}

/// `report_inlined_functions`.
fn report_inlined(
    info: &DwarfInfo,
    data: &UnitData,
    pc: u64,
    function: &Function,
    frames: &mut Vec<DwarfFrame>,
    file: &mut Option<u32>,
    lineno: &mut i32,
) {
    let count = function.addrs.len().saturating_sub(1);
    if count == 0 || pc == u64::MAX {
        return;
    }
    let Some(matched) = find_range(&function.addrs, count, pc, |a| a.low, |a| a.high) else {
        return;
    };
    let inlined = &data.functions[function.addrs[matched].function as usize];
    report_inlined(info, data, pc, inlined, frames, file, lineno);
    frames.push(DwarfFrame {
        name: Some(info.str_bytes(inlined.name).to_vec()),
        file: file.and_then(|i| data.files.get(i as usize).cloned().flatten()),
        line: *lineno,
    });
    *file = inlined.caller_file;
    *lineno = inlined.caller_lineno;
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
    fn range_search_walks_back_only_over_equal_lows() {
        // Sorted as libbacktrace sorts: by low, larger ranges first.
        let ranges = [
            (0x10u64, 0x100u64),
            (0x20, 0x80),
            (0x20, 0x30),
            (0x90, 0x95),
        ];
        let low = |r: &(u64, u64)| r.0;
        let high = |r: &(u64, u64)| r.1;
        assert_eq!(find_range(&ranges, 4, 0x25, low, high), Some(2));
        assert_eq!(find_range(&ranges, 4, 0x40, low, high), Some(1));
        assert_eq!(find_range(&ranges, 4, 0x15, low, high), Some(0));
        // 0x85 is inside the first range, but the search stops at the (0x20, ..) group.
        assert_eq!(find_range(&ranges, 4, 0x85, low, high), None);
        // 0x96 is inside the first range too, but (0x90, 0x95) is the entry searched.
        assert_eq!(find_range(&ranges, 4, 0x96, low, high), None);
        assert_eq!(find_range(&ranges, 4, 0x05, low, high), None);
    }

    #[test]
    fn buf_reads_leb128_and_underflows() {
        let data = [0xe5, 0x8e, 0x26, 0x7f, 0x80];
        let mut buf = Buf::new(&data, DEBUG_INFO, 0, data.len(), false);
        assert_eq!(buf.read_uleb128(), 624485);
        assert_eq!(buf.read_sleb128(), -1);
        assert!(!buf.underflow);
        assert_eq!(buf.read_uleb128(), 0);
        assert!(buf.underflow);
    }

    #[test]
    fn joins_names_with_a_slash() {
        assert_eq!(&*join("Objects", "obmalloc.c"), "Objects/obmalloc.c");
        assert_eq!(&*join("/usr/include", "/abs.h"), "/usr/include//abs.h");
    }
}
