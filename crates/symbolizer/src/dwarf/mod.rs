//! DWARF file/line/function lookup as libbacktrace's dwarf.c (memray's vendored copy) does
//! it, over the `gimli` crate: gimli reads unit headers, abbreviations, attribute forms,
//! range lists and line-program opcodes; these modules keep libbacktrace's policy over
//! them, quirks included.
//!
//! - [`units`]: the unit address map, from each unit's own `DW_AT_low_pc`/`DW_AT_high_pc`/
//!   `DW_AT_ranges` (or its subprograms'); `.debug_aranges` is not used.
//! - [`attrs`]: the category libbacktrace's `read_attribute` gives each attribute form,
//!   and its string, string-offset and address-index resolution.
//! - [`ranges`]: pc ranges (`DW_AT_low_pc`/`high_pc`/`ranges`, `.debug_ranges` and
//!   `.debug_rnglists`), how adjacent ranges are merged and how a sorted range vector is
//!   searched.
//! - [`lines`]: line tables (file names joined as libbacktrace joins them, the last entry
//!   at or below the pc).
//! - [`functions`]: functions and inlined subroutines, named from `DW_AT_linkage_name`,
//!   `DW_AT_name`, `DW_AT_abstract_origin`/`DW_AT_specification` in libbacktrace's order.
//! - [`lookup`]: `dwarf_lookup_pc`, reading a unit's line table and functions the first
//!   time a pc falls in it, and reporting inlined calls innermost first.
//!
//! The address map is built when an image is loaded; a unit's line table and functions
//! are read the first time a pc falls in it. Sections are kept as shared byte ranges and
//! handed to gimli as slices for each read, so nothing here borrows from itself.

// gimli's DW_* constants are matched on by their DWARF names.
#![allow(non_upper_case_globals)]

mod attrs;
mod functions;
mod lines;
mod lookup;
mod ranges;
mod unit;
mod units;

use std::sync::Arc;

use gimli::{EndianSlice, RunTimeEndian};

pub use self::lookup::{DwarfFrame, DwarfModule, Lookup};
use self::ranges::AddrRange;
use self::unit::Unit;
use crate::backtrace_sort::backtrace_qsort;
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

/// How deep `DW_AT_specification` chains are followed (libbacktrace has no limit and would
/// overflow its stack on a cycle).
const MAX_REFERENCE_DEPTH: u32 = 64;
/// How deeply nested DIEs are read (libbacktrace recurses without a limit; real DWARF
/// nests a few dozen levels). Deeper nesting is treated as an error in the unit.
const MAX_DIE_DEPTH: u32 = 256;

/// What gimli reads: a section of this module, in the ELF file's byte order.
type Reader<'a> = EndianSlice<'a, RunTimeEndian>;
/// A unit's DIEs as gimli reads them one by one (libbacktrace's flat `dwarf_buf` walk).
type Entries<'abbrev, 'unit, 'a> = gimli::EntriesRaw<'abbrev, 'unit, Reader<'a>>;

/// The data of the DWARF sections libbacktrace reads, decompressed; empty when absent.
#[derive(Default, Clone)]
pub struct DwarfSections {
    pub data: [Bytes; DEBUG_MAX],
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

/// The immutable part of `struct dwarf_data`: sections, units and the sorted unit address
/// map (with libbacktrace's trailing sentinel).
pub struct DwarfInfo {
    base: u64,
    sections: DwarfSections,
    endian: RunTimeEndian,
    altlink: Option<Arc<DwarfInfo>>,
    addrs: Vec<AddrRange>,
    units: Vec<Unit>,
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
            endian: if big {
                RunTimeEndian::Big
            } else {
                RunTimeEndian::Little
            },
            altlink,
            addrs: Vec::new(),
            units: Vec::new(),
        };
        let (units, mut addrs) = info.build_address_map()?;
        backtrace_qsort(&mut addrs, &mut |a: &AddrRange, b: &AddrRange| {
            a.low.cmp(&b.low).then(b.high.cmp(&a.high)).then(
                units[a.owner as usize]
                    .lineoff
                    .cmp(&units[b.owner as usize].lineoff),
            )
        });
        addrs.push(AddrRange::SENTINEL);
        info.units = units;
        info.addrs = addrs;
        Some(info)
    }

    fn section(&self, section: u8) -> &[u8] {
        self.sections
            .data
            .get(usize::from(section))
            .map_or(&[], |bytes| bytes.as_slice())
    }

    /// A section as gimli reads it.
    fn reader(&self, section: u8) -> Reader<'_> {
        EndianSlice::new(self.section(section), self.endian)
    }

    /// The bytes of a string reference (up to its NUL, or the end of its section).
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
}
