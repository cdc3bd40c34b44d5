//! Units and the unit address map, as libbacktrace's `build_address_map` and
//! `find_address_ranges` make them: every unit of `.debug_info` but type units, in order;
//! a unit's ranges are its own `DW_AT_low_pc`/`DW_AT_high_pc`/`DW_AT_ranges` when it has
//! them, else those of every `DW_TAG_subprogram` found by walking all its DIEs (no
//! `.debug_aranges`). Any error in any unit drops the module's DWARF, as libbacktrace
//! does.
//!
//! libbacktrace numbers units by adding up the lengths of the units it keeps, so after a
//! skipped type unit a unit's `low_offset` is not its section offset; references by
//! `DW_FORM_ref_addr` are resolved with that numbering, as libbacktrace resolves them.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use gimli::constants::*;
use gimli::{
    Abbreviations, DebugAbbrev, DebugInfo, DebugInfoOffset, Encoding, UnitHeader, UnitType,
};

use super::attrs::AttrVal;
use super::ranges::{push_merged, AddrRange, PcRange};
use super::unit::Unit;
use super::{DwarfInfo, Entries, Reader, DEBUG_ABBREV, DEBUG_INFO, MAX_DIE_DEPTH};
use crate::backtrace_sort::glibc_bsearch;

impl Unit {
    /// A unit as its header describes it, before its DIE's attributes are read: no line
    /// program, no bases, no names yet.
    fn new(
        header: DebugInfoOffset,
        low_offset: u64,
        high_offset: u64,
        encoding: Encoding,
        abbrevs: Arc<Abbreviations>,
    ) -> Unit {
        Unit {
            header,
            low_offset,
            high_offset,
            encoding,
            lineoff: 0,
            str_offsets_base: 0,
            addr_base: 0,
            rnglists_base: 0,
            filename: None,
            comp_dir: None,
            abbrevs,
        }
    }

    #[cfg(test)]
    pub fn for_tests(format: gimli::Format, address_size: u8) -> Unit {
        let encoding = Encoding {
            format,
            version: 5,
            address_size,
        };
        Unit::new(
            DebugInfoOffset(0),
            0,
            0,
            encoding,
            Arc::new(Abbreviations::default()),
        )
    }
}

impl DwarfInfo {
    /// `build_address_map`: the units and their (unsorted) address ranges; None when any
    /// unit header, abbreviation table or DIE fails to read.
    pub(super) fn build_address_map(&self) -> Option<(Vec<Unit>, Vec<AddrRange>)> {
        let debug_abbrev = DebugAbbrev::from(self.reader(DEBUG_ABBREV));
        let mut headers = DebugInfo::from(self.reader(DEBUG_INFO)).units();
        let mut abbrev_cache: HashMap<usize, Arc<Abbreviations>> = HashMap::new();
        let mut units = Vec::new();
        let mut addrs = Vec::new();
        let mut unit_offset = 0u64;
        while let Some(header) = headers.next().ok()? {
            if matches!(
                header.type_(),
                UnitType::Type { .. } | UnitType::SplitType { .. }
            ) {
                // "This unit doesn't have anything we need."
                continue;
            }
            let abbrev_offset = header.debug_abbrev_offset();
            let abbrevs = match abbrev_cache.get(&abbrev_offset.0) {
                Some(abbrevs) => Arc::clone(abbrevs),
                None => {
                    let abbrevs = Arc::new(debug_abbrev.abbreviations(abbrev_offset).ok()?);
                    abbrev_cache.insert(abbrev_offset.0, Arc::clone(&abbrevs));
                    abbrevs
                }
            };
            let low_offset = unit_offset;
            unit_offset = unit_offset.wrapping_add(header.length_including_self() as u64);
            let mut unit = Unit::new(
                header.offset().as_debug_info_offset()?,
                low_offset,
                unit_offset,
                header.encoding(),
                Arc::clone(&abbrevs),
            );
            let owner = u32::try_from(units.len()).ok()?;
            let mut entries = header.entries_raw(&abbrevs, None).ok()?;
            if !self.find_address_ranges(&mut unit, &mut entries, &mut addrs, owner, 0) {
                return None;
            }
            units.push(unit);
        }
        Some((units, addrs))
    }

    /// `find_address_ranges`: reads DIEs until the end of their sibling list, adding the
    /// ranges of the unit DIE or of subprograms; false on error.
    fn find_address_ranges(
        &self,
        unit: &mut Unit,
        entries: &mut Entries<'_, '_, '_>,
        addrs: &mut Vec<AddrRange>,
        owner: u32,
        depth: u32,
    ) -> bool {
        if depth > MAX_DIE_DEPTH {
            return false;
        }
        while !entries.is_empty() {
            let abbrev = match entries.read_abbreviation() {
                Ok(Some(abbrev)) => abbrev,
                Ok(None) => return true,
                Err(_) => return false,
            };
            let tag = abbrev.tag();
            let is_unit = tag == DW_TAG_compile_unit || tag == DW_TAG_skeleton_unit;
            let mut range = PcRange::default();
            let mut name_val = None;
            let mut comp_dir_val = None;
            for spec in abbrev.attributes() {
                let Some(val) = self.read_attr(entries, *spec) else {
                    return false;
                };
                match spec.name() {
                    DW_AT_low_pc | DW_AT_high_pc | DW_AT_ranges => range.update(spec.name(), val),
                    DW_AT_stmt_list if is_unit => {
                        if let AttrVal::Uint(v) | AttrVal::RefSection(v) = val {
                            unit.lineoff = v;
                        }
                    }
                    DW_AT_name if is_unit => name_val = Some(val),
                    DW_AT_comp_dir if is_unit => comp_dir_val = Some(val),
                    DW_AT_str_offsets_base => {
                        if let (true, AttrVal::RefSection(v)) = (is_unit, val) {
                            unit.str_offsets_base = v;
                        }
                    }
                    DW_AT_addr_base => {
                        if let (true, AttrVal::RefSection(v)) = (is_unit, val) {
                            unit.addr_base = v;
                        }
                    }
                    DW_AT_rnglists_base => {
                        if let (true, AttrVal::RefSection(v)) = (is_unit, val) {
                            unit.rnglists_base = v;
                        }
                    }
                    _ => {}
                }
            }
            // Strings are resolved once the unit's DW_AT_str_offsets_base is known.
            if let Some(val) = name_val {
                match self.resolve_string(unit, val) {
                    Ok(Some(s)) => unit.filename = Some(s),
                    Ok(None) => {}
                    Err(()) => return false,
                }
            }
            if let Some(val) = comp_dir_val {
                match self.resolve_string(unit, val) {
                    Ok(Some(s)) => unit.comp_dir = Some(s),
                    Ok(None) => {}
                    Err(()) => return false,
                }
            }
            if is_unit || tag == DW_TAG_subprogram {
                let ok = self.add_ranges(unit, range.lowpc, &range, &mut |low, high| {
                    push_merged(addrs, owner, low, high)
                });
                if !ok {
                    return false;
                }
                if is_unit && range.is_set() {
                    return true;
                }
            }
            if abbrev.has_children()
                && !self.find_address_ranges(unit, entries, addrs, owner, depth + 1)
            {
                return false;
            }
        }
        true
    }

    /// `find_unit`: the unit whose `[low_offset, high_offset)` holds `offset`.
    pub(super) fn find_unit(&self, offset: u64) -> Option<&Unit> {
        let index = glibc_bsearch(&self.units, |unit| {
            if offset < unit.low_offset {
                Ordering::Less
            } else if offset >= unit.high_offset {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        })?;
        Some(&self.units[index])
    }

    /// A unit's header, read again by gimli.
    pub(super) fn unit_header(&self, unit: &Unit) -> Option<UnitHeader<Reader<'_>>> {
        DebugInfo::from(self.reader(DEBUG_INFO))
            .header_from_offset(unit.header)
            .ok()
    }
}

impl Unit {
    /// A `DW_FORM_ref_addr` offset (libbacktrace's numbering) made relative to this unit.
    pub fn relative(&self, offset: u64) -> u64 {
        offset - self.low_offset
    }
}
