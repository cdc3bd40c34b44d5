//! Attribute values as libbacktrace's `read_attribute` categorises them (`struct attr_val`),
//! from the form and the value gimli read, with the checks libbacktrace makes while reading
//! (a `.debug_str`/`.debug_line_str` offset past its section fails the unit; a dwz
//! reference without a dwz file is no value), and its `resolve_string` and
//! `resolve_addr_index`.
//!
//! The category follows the form, not gimli's value type: `DW_FORM_GNU_addr_index` and
//! `DW_FORM_GNU_str_index` are section offsets to libbacktrace, `DW_FORM_implicit_const` an
//! unsigned value, `DW_FORM_ref_sup4/8` a section offset.

use gimli::constants::*;
use gimli::{AttributeSpecification, AttributeValue, DwForm, Format, Reader as _};

use super::unit::Unit;
use super::{
    DwarfInfo, Entries, Reader, StrRef, DEBUG_ADDR, DEBUG_INFO, DEBUG_LINE_STR, DEBUG_STR,
    DEBUG_STR_OFFSETS,
};

/// `struct attr_val`: what libbacktrace keeps of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AttrVal {
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
}

/// The number in a value gimli read (0 for values that carry none).
fn number(value: &AttributeValue<Reader<'_>>) -> u64 {
    use AttributeValue as V;
    match *value {
        V::Addr(v) | V::Data8(v) | V::Udata(v) => v,
        V::Data1(v) => u64::from(v),
        V::Data2(v) => u64::from(v),
        V::Data4(v) => u64::from(v),
        V::Sdata(v) => v as u64,
        V::Flag(v) => u64::from(v),
        V::SecOffset(v) => v as u64,
        V::UnitRef(v) => v.0 as u64,
        V::DebugInfoRef(v) | V::DebugInfoRefSup(v) => v.0 as u64,
        V::DebugStrRef(v) | V::DebugStrRefSup(v) => v.0 as u64,
        V::DebugLineStrRef(v) => v.0 as u64,
        V::DebugStrOffsetsIndex(v) => v.0 as u64,
        V::DebugAddrIndex(v) => v.0 as u64,
        V::DebugLocListsIndex(v) => v.0 as u64,
        V::DebugRngListsIndex(v) => v.0 as u64,
        V::DebugTypesRef(v) => v.0,
        _ => 0,
    }
}

/// The form a value read through `DW_FORM_indirect` stands for (gimli does not say which
/// form the indirection named; the GNU index forms and `ref_sup` are taken for their
/// standard counterparts).
fn form_of(value: &AttributeValue<Reader<'_>>) -> DwForm {
    use AttributeValue as V;
    match value {
        V::Addr(_) => DW_FORM_addr,
        V::Block(_) => DW_FORM_block,
        V::Data1(_) => DW_FORM_data1,
        V::Data2(_) => DW_FORM_data2,
        V::Data4(_) => DW_FORM_data4,
        V::Data8(_) => DW_FORM_data8,
        V::Sdata(_) => DW_FORM_sdata,
        V::Udata(_) => DW_FORM_udata,
        V::Exprloc(_) => DW_FORM_exprloc,
        V::Flag(_) => DW_FORM_flag,
        V::SecOffset(_) => DW_FORM_sec_offset,
        V::DebugAddrIndex(_) => DW_FORM_addrx,
        V::UnitRef(_) => DW_FORM_ref_udata,
        V::DebugInfoRef(_) => DW_FORM_ref_addr,
        V::DebugInfoRefSup(_) => DW_FORM_GNU_ref_alt,
        V::DebugLocListsIndex(_) => DW_FORM_loclistx,
        V::DebugRngListsIndex(_) => DW_FORM_rnglistx,
        V::DebugTypesRef(_) => DW_FORM_ref_sig8,
        V::DebugStrRef(_) => DW_FORM_strp,
        V::DebugStrRefSup(_) => DW_FORM_GNU_strp_alt,
        V::DebugStrOffsetsIndex(_) => DW_FORM_strx,
        V::DebugLineStrRef(_) => DW_FORM_line_strp,
        V::String(_) => DW_FORM_string,
        _ => DwForm(0),
    }
}

impl DwarfInfo {
    /// Reads one attribute of a DIE of this module's `.debug_info`; None where
    /// libbacktrace's `read_attribute` fails.
    pub(super) fn read_attr(
        &self,
        entries: &mut Entries<'_, '_, '_>,
        spec: AttributeSpecification,
    ) -> Option<AttrVal> {
        let attr = entries.read_attribute(spec).ok()?;
        self.attr_val(spec.form(), &attr.raw_value(), DEBUG_INFO)
    }

    /// libbacktrace's category of `value`, read with `form`; `strings` is the section an
    /// inline `DW_FORM_string` lies in. None where `read_attribute` fails.
    pub(super) fn attr_val(
        &self,
        form: DwForm,
        value: &AttributeValue<Reader<'_>>,
        strings: u8,
    ) -> Option<AttrVal> {
        let form = if form == DW_FORM_indirect {
            form_of(value)
        } else {
            form
        };
        let n = number(value);
        Some(match form {
            DW_FORM_addr => AttrVal::Address(n),
            DW_FORM_block1 | DW_FORM_block2 | DW_FORM_block4 | DW_FORM_block | DW_FORM_data16
            | DW_FORM_exprloc => AttrVal::Block,
            DW_FORM_data1
            | DW_FORM_data2
            | DW_FORM_data4
            | DW_FORM_data8
            | DW_FORM_udata
            | DW_FORM_flag
            | DW_FORM_flag_present
            | DW_FORM_implicit_const => AttrVal::Uint(n),
            DW_FORM_sdata => AttrVal::Sint(n as i64),
            DW_FORM_string => match value {
                AttributeValue::String(s) => {
                    AttrVal::Str(StrRef::new(strings, s.offset_from(self.reader(strings))))
                }
                _ => return None,
            },
            DW_FORM_strp => self.str_at(DEBUG_STR, n)?,
            DW_FORM_line_strp => self.str_at(DEBUG_LINE_STR, n)?,
            DW_FORM_strp_sup | DW_FORM_GNU_strp_alt => match &self.altlink {
                None => AttrVal::None,
                Some(alt) => match alt.str_at(DEBUG_STR, n)? {
                    AttrVal::Str(s) => AttrVal::Str(StrRef { alt: true, ..s }),
                    _ => return None,
                },
            },
            DW_FORM_ref_addr => AttrVal::RefInfo(n),
            DW_FORM_ref1 | DW_FORM_ref2 | DW_FORM_ref4 | DW_FORM_ref8 | DW_FORM_ref_udata => {
                AttrVal::RefUnit(n)
            }
            DW_FORM_sec_offset
            | DW_FORM_ref_sup4
            | DW_FORM_ref_sup8
            | DW_FORM_loclistx
            | DW_FORM_GNU_addr_index
            | DW_FORM_GNU_str_index => AttrVal::RefSection(n),
            DW_FORM_ref_sig8 => AttrVal::RefType(n),
            DW_FORM_strx | DW_FORM_strx1 | DW_FORM_strx2 | DW_FORM_strx3 | DW_FORM_strx4 => {
                AttrVal::StringIndex(n)
            }
            DW_FORM_addrx | DW_FORM_addrx1 | DW_FORM_addrx2 | DW_FORM_addrx3 | DW_FORM_addrx4 => {
                AttrVal::AddressIndex(n)
            }
            DW_FORM_rnglistx => AttrVal::RnglistsIndex(n),
            DW_FORM_GNU_ref_alt => match self.altlink {
                None => AttrVal::None,
                Some(_) => AttrVal::RefAltInfo(n),
            },
            _ => return None,
        })
    }

    /// A string at `offset` in `section`, which must lie inside it.
    fn str_at(&self, section: u8, offset: u64) -> Option<AttrVal> {
        let offset = usize::try_from(offset).ok()?;
        (offset < self.section(section).len()).then_some(AttrVal::Str(StrRef::new(section, offset)))
    }

    /// An offset-sized word (`format`) at `offset` in `section`.
    pub(super) fn read_word(&self, section: u8, offset: u64, format: Format) -> Option<u64> {
        let mut reader = self.reader(section);
        reader.skip(usize::try_from(offset).ok()?).ok()?;
        reader.read_offset(format).ok().map(|word| word as u64)
    }

    /// `resolve_string`: `Ok(None)` when the value is not a string, `Err` when a string
    /// index points outside `.debug_str_offsets` or `.debug_str`.
    pub(super) fn resolve_string(&self, unit: &Unit, val: AttrVal) -> Result<Option<StrRef>, ()> {
        match val {
            AttrVal::Str(s) => Ok(Some(s)),
            AttrVal::StringIndex(index) => {
                let format = unit.encoding.format;
                let width = u64::from(format.word_size());
                let len = self.section(DEBUG_STR_OFFSETS).len() as u64;
                let offset = index
                    .wrapping_mul(width)
                    .wrapping_add(unit.str_offsets_base);
                if offset.wrapping_add(width) > len || offset > len {
                    return Err(());
                }
                let target = self
                    .read_word(DEBUG_STR_OFFSETS, offset, format)
                    .ok_or(())?;
                match self.str_at(DEBUG_STR, target) {
                    Some(AttrVal::Str(s)) => Ok(Some(s)),
                    _ => Err(()),
                }
            }
            _ => Ok(None),
        }
    }

    /// `resolve_addr_index`: entry `index` of the unit's `.debug_addr` table.
    pub(super) fn resolve_addr_index(&self, unit: &Unit, index: u64) -> Option<u64> {
        let size = unit.encoding.address_size;
        let len = self.section(DEBUG_ADDR).len() as u64;
        let offset = index
            .wrapping_mul(u64::from(size))
            .wrapping_add(unit.addr_base);
        if offset.wrapping_add(u64::from(size)) > len || offset > len {
            return None;
        }
        let mut reader = self.reader(DEBUG_ADDR);
        reader.skip(usize::try_from(offset).ok()?).ok()?;
        reader.read_address(size).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::Bytes;
    use crate::dwarf::DwarfSections;

    fn info_with(section: u8, data: &[u8]) -> DwarfInfo {
        let mut sections = DwarfSections::default();
        sections.data[usize::from(section)] = Bytes::from_vec(data.to_vec());
        DwarfInfo::build(0, sections, false, None).unwrap()
    }

    #[test]
    fn forms_are_categorised_like_libbacktrace() {
        let info = info_with(DEBUG_STR, b"abc\0");
        let val = |form, value| info.attr_val(form, &value, DEBUG_INFO);
        assert_eq!(
            val(DW_FORM_implicit_const, AttributeValue::Sdata(-2)),
            Some(AttrVal::Uint(-2i64 as u64))
        );
        assert_eq!(
            val(
                DW_FORM_GNU_addr_index,
                AttributeValue::DebugAddrIndex(gimli::DebugAddrIndex(3))
            ),
            Some(AttrVal::RefSection(3))
        );
        assert_eq!(
            val(
                DW_FORM_addrx1,
                AttributeValue::DebugAddrIndex(gimli::DebugAddrIndex(3))
            ),
            Some(AttrVal::AddressIndex(3))
        );
        assert_eq!(
            val(DW_FORM_flag_present, AttributeValue::Flag(true)),
            Some(AttrVal::Uint(1))
        );
        // In range of .debug_str, past it, and a dwz string without a dwz file.
        assert_eq!(
            val(
                DW_FORM_strp,
                AttributeValue::DebugStrRef(gimli::DebugStrOffset(2))
            ),
            Some(AttrVal::Str(StrRef::new(DEBUG_STR, 2)))
        );
        assert_eq!(
            val(
                DW_FORM_strp,
                AttributeValue::DebugStrRef(gimli::DebugStrOffset(4))
            ),
            None
        );
        assert_eq!(
            val(
                DW_FORM_GNU_strp_alt,
                AttributeValue::DebugStrRefSup(gimli::DebugStrOffset(0))
            ),
            Some(AttrVal::None)
        );
        // Under DW_FORM_indirect the value's own kind decides.
        assert_eq!(
            val(DW_FORM_indirect, AttributeValue::Data2(7)),
            Some(AttrVal::Uint(7))
        );
    }

    #[test]
    fn string_and_address_indexes_are_bounds_checked() {
        let mut sections = DwarfSections::default();
        sections.data[usize::from(DEBUG_STR)] = Bytes::from_vec(b"zero\0one\0".to_vec());
        let offsets: Vec<u8> = [0u32, 5, 99].iter().flat_map(|o| o.to_le_bytes()).collect();
        sections.data[usize::from(DEBUG_STR_OFFSETS)] = Bytes::from_vec(offsets);
        let addrs: Vec<u8> = [0x1000u64, 0x2000]
            .iter()
            .flat_map(|a| a.to_le_bytes())
            .collect();
        sections.data[usize::from(DEBUG_ADDR)] = Bytes::from_vec(addrs);
        let info = DwarfInfo::build(0, sections, false, None).unwrap();
        let unit = Unit::for_tests(gimli::Format::Dwarf32, 8);
        let name = |index| {
            info.resolve_string(&unit, AttrVal::StringIndex(index))
                .map(|s| s.map(|s| info.str_bytes(s).to_vec()))
        };
        assert_eq!(name(1), Ok(Some(b"one".to_vec())));
        assert_eq!(name(2), Err(()));
        assert_eq!(name(3), Err(()));
        assert_eq!(info.resolve_string(&unit, AttrVal::Uint(1)), Ok(None));
        assert_eq!(info.resolve_addr_index(&unit, 1), Some(0x2000));
        assert_eq!(info.resolve_addr_index(&unit, 2), None);
        assert_eq!(info.resolve_addr_index(&unit, u64::MAX), None);
    }
}
