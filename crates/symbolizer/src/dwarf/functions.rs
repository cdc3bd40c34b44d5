//! A unit's functions as libbacktrace's `read_function_info` reads them: every
//! `DW_TAG_subprogram`, `DW_TAG_entry_point` and `DW_TAG_inlined_subroutine` with a name
//! and addresses, the inlined ones attached to the function (or inlined call) they are
//! nested in, each level's ranges sorted by libbacktrace's quicksort (low, then larger
//! ranges first, then name).
//!
//! A function's name is, in the order its attributes come: `DW_AT_linkage_name` (or
//! `DW_AT_MIPS_linkage_name`) whenever present; else the name found through
//! `DW_AT_abstract_origin` or `DW_AT_specification` (that DIE's linkage name, else its
//! `DW_AT_name`, else the name of its own specification); else `DW_AT_name` if nothing
//! came before it. An inlined call also records `DW_AT_call_file`/`DW_AT_call_line`. Any
//! error in the unit leaves it without functions.

use gimli::constants::*;
use gimli::UnitOffset;

use super::attrs::AttrVal;
use super::ranges::{push_merged, AddrRange, PcRange};
use super::unit::Unit;
use super::{DwarfInfo, Entries, StrRef, MAX_DIE_DEPTH, MAX_REFERENCE_DEPTH};
use crate::backtrace_sort::backtrace_qsort;

/// `struct function`.
pub(super) struct Function {
    pub name: StrRef,
    /// Index of `DW_AT_call_file` in the unit's file names.
    pub caller_file: Option<u32>,
    pub caller_lineno: i32,
    /// The inlined calls directly inside, sorted, with a sentinel; empty when none.
    pub addrs: Vec<AddrRange>,
}

/// A unit's functions and its sorted top-level function ranges (with a sentinel; empty
/// when there are none).
#[derive(Default)]
pub(super) struct Functions {
    pub functions: Vec<Function>,
    pub addrs: Vec<AddrRange>,
}

/// The function arena and the range vectors being filled while reading a unit's DIEs.
struct FunctionReader {
    functions: Vec<Function>,
    vectors: Vec<Vec<AddrRange>>,
    depth: u32,
    filenames_count: usize,
}

impl DwarfInfo {
    /// `read_function_info`: empty when `read_function_entry` fails anywhere in the unit.
    pub(super) fn read_function_info(&self, unit: &Unit, filenames_count: usize) -> Functions {
        self.try_read_function_info(unit, filenames_count)
            .unwrap_or_default()
    }

    fn try_read_function_info(&self, unit: &Unit, filenames_count: usize) -> Option<Functions> {
        let header = self.unit_header(unit)?;
        let mut entries = header.entries_raw(&unit.abbrevs, None).ok()?;
        let mut reader = FunctionReader {
            functions: Vec::new(),
            vectors: vec![Vec::new()],
            depth: 0,
            filenames_count,
        };
        while !entries.is_empty() {
            if !self.read_function_entry(unit, 0, &mut entries, &mut reader, 0, 0) {
                return None;
            }
        }
        let mut addrs = std::mem::take(&mut reader.vectors[0]);
        if !addrs.is_empty() {
            self.sort_function_addrs(&mut addrs, &reader.functions);
            addrs.push(AddrRange::SENTINEL);
        }
        Some(Functions {
            functions: reader.functions,
            addrs,
        })
    }

    fn sort_function_addrs(&self, addrs: &mut [AddrRange], functions: &[Function]) {
        backtrace_qsort(addrs, &mut |a: &AddrRange, b: &AddrRange| {
            a.low.cmp(&b.low).then(b.high.cmp(&a.high)).then_with(|| {
                let na = self.str_bytes(functions[a.owner as usize].name);
                let nb = self.str_bytes(functions[b.owner as usize].name);
                na.cmp(nb)
            })
        });
    }

    /// `read_function_entry`: DIEs until the end of their sibling list; ranges of
    /// subprograms go to vector `vec_function`, of inlined subroutines to `vec_inlined`.
    /// False on error.
    fn read_function_entry(
        &self,
        unit: &Unit,
        base: u64,
        entries: &mut Entries<'_, '_, '_>,
        reader: &mut FunctionReader,
        vec_function: usize,
        vec_inlined: usize,
    ) -> bool {
        if reader.depth > MAX_DIE_DEPTH {
            return false;
        }
        reader.depth += 1;
        let ok = self.read_function_entries(unit, base, entries, reader, vec_function, vec_inlined);
        reader.depth -= 1;
        ok
    }

    fn read_function_entries(
        &self,
        unit: &Unit,
        mut base: u64,
        entries: &mut Entries<'_, '_, '_>,
        reader: &mut FunctionReader,
        vec_function: usize,
        vec_inlined: usize,
    ) -> bool {
        while !entries.is_empty() {
            let abbrev = match entries.read_abbreviation() {
                Ok(Some(abbrev)) => abbrev,
                Ok(None) => return true,
                Err(_) => return false,
            };
            let tag = abbrev.tag();
            let mut is_function = tag == DW_TAG_subprogram
                || tag == DW_TAG_entry_point
                || tag == DW_TAG_inlined_subroutine;
            let vec = if tag == DW_TAG_inlined_subroutine {
                vec_inlined
            } else {
                vec_function
            };
            let is_unit = tag == DW_TAG_compile_unit || tag == DW_TAG_skeleton_unit;
            let mut name: Option<StrRef> = None;
            let mut caller_file: Option<u32> = None;
            let mut caller_lineno: i32 = 0;
            let mut range = PcRange::default();
            let mut have_linkage_name = false;
            for spec in abbrev.attributes() {
                let Some(val) = self.read_attr(entries, *spec) else {
                    return false;
                };
                if is_unit && spec.name() == DW_AT_low_pc {
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
                match spec.name() {
                    DW_AT_call_file => {
                        if let AttrVal::Uint(index) = val {
                            if index >= reader.filenames_count as u64 {
                                return false;
                            }
                            caller_file = Some(index as u32);
                        }
                    }
                    DW_AT_call_line => {
                        if let AttrVal::Uint(line) = val {
                            caller_lineno = line as i32;
                        }
                    }
                    DW_AT_abstract_origin | DW_AT_specification if !have_linkage_name => {
                        if let Some(found) =
                            self.referenced_name_from_attr(unit, spec.name(), spec.form(), val, 0)
                        {
                            name = Some(found);
                        }
                    }
                    DW_AT_name if name.is_none() => match self.resolve_string(unit, val) {
                        Ok(Some(s)) => name = Some(s),
                        Ok(None) => {}
                        Err(()) => return false,
                    },
                    DW_AT_linkage_name | DW_AT_MIPS_linkage_name => {
                        match self.resolve_string(unit, val) {
                            Ok(Some(s)) => {
                                name = Some(s);
                                have_linkage_name = true;
                            }
                            Ok(None) => {}
                            Err(()) => return false,
                        }
                    }
                    DW_AT_low_pc | DW_AT_high_pc | DW_AT_ranges => range.update(spec.name(), val),
                    _ => {}
                }
            }
            let mut function_index = u32::MAX;
            if is_function {
                match name {
                    Some(name) if range.is_set() => {
                        function_index = reader.functions.len() as u32;
                        reader.functions.push(Function {
                            name,
                            caller_file,
                            caller_lineno,
                            addrs: Vec::new(),
                        });
                        let target = &mut reader.vectors[vec];
                        let ok = self.add_ranges(unit, base, &range, &mut |low, high| {
                            push_merged(target, function_index, low, high)
                        });
                        if !ok {
                            return false;
                        }
                    }
                    _ => is_function = false,
                }
            }
            if !abbrev.has_children() {
                continue;
            }
            if !is_function {
                if !self.read_function_entry(unit, base, entries, reader, vec_function, vec_inlined)
                {
                    return false;
                }
                continue;
            }
            let fvec = reader.vectors.len();
            reader.vectors.push(Vec::new());
            if !self.read_function_entry(unit, base, entries, reader, vec_function, fvec) {
                return false;
            }
            let mut addrs = reader.vectors.pop().unwrap_or_default();
            if !addrs.is_empty() {
                self.sort_function_addrs(&mut addrs, &reader.functions);
                addrs.push(AddrRange::SENTINEL);
                reader.functions[function_index as usize].addrs = addrs;
            }
        }
        true
    }

    /// `read_referenced_name_from_attr`: the name of the DIE a `DW_AT_abstract_origin` or
    /// `DW_AT_specification` points to (in this unit, another unit, or the dwz file).
    fn referenced_name_from_attr(
        &self,
        unit: &Unit,
        name: gimli::DwAt,
        form: gimli::DwForm,
        val: AttrVal,
        depth: u32,
    ) -> Option<StrRef> {
        if name != DW_AT_abstract_origin && name != DW_AT_specification {
            return None;
        }
        if form == DW_FORM_ref_sig8 || depth > MAX_REFERENCE_DEPTH {
            return None;
        }
        match val {
            AttrVal::RefInfo(offset) => {
                let target = self.find_unit(offset)?;
                self.referenced_name(target, target.relative(offset), depth + 1)
            }
            AttrVal::Uint(offset) | AttrVal::RefUnit(offset) => {
                self.referenced_name(unit, offset, depth + 1)
            }
            AttrVal::RefAltInfo(offset) => {
                let alt = self.altlink.as_ref()?;
                let target = alt.find_unit(offset)?;
                let name = alt.referenced_name(target, target.relative(offset), depth + 1)?;
                Some(StrRef { alt: true, ..name })
            }
            _ => None,
        }
    }

    /// `read_referenced_name`: the name of the DIE at `offset` in `unit` (offsets counted
    /// from the unit's header).
    fn referenced_name(&self, unit: &Unit, offset: u64, depth: u32) -> Option<StrRef> {
        let header = self.unit_header(unit)?;
        let offset = UnitOffset(usize::try_from(offset).ok()?);
        let mut entries = header.entries_raw(&unit.abbrevs, Some(offset)).ok()?;
        let abbrev = entries.read_abbreviation().ok()??;
        let mut ret: Option<StrRef> = None;
        for spec in abbrev.attributes() {
            let val = self.read_attr(&mut entries, *spec)?;
            match spec.name() {
                DW_AT_name => {
                    if ret.is_some() {
                        continue;
                    }
                    match self.resolve_string(unit, val) {
                        Ok(Some(s)) => ret = Some(s),
                        Ok(None) => {}
                        Err(()) => return None,
                    }
                }
                DW_AT_linkage_name | DW_AT_MIPS_linkage_name => {
                    match self.resolve_string(unit, val) {
                        Ok(Some(s)) => return Some(s),
                        Ok(None) => {}
                        Err(()) => return None,
                    }
                }
                DW_AT_specification => {
                    if let Some(name) =
                        self.referenced_name_from_attr(unit, spec.name(), spec.form(), val, depth)
                    {
                        ret = Some(name);
                    }
                }
                _ => {}
            }
        }
        ret
    }
}
