//! Pc ranges as libbacktrace reads, merges and searches them: a DIE's
//! `DW_AT_low_pc`/`DW_AT_high_pc` pair (a relative `high_pc`, `.debug_addr` indexes) or its
//! `DW_AT_ranges` list (`.debug_ranges` before DWARF 5, `.debug_rnglists` from it, entries
//! read by gimli, base addresses applied here), every range relocated by the image's load
//! address; a range that starts where the previous one of the same owner ends extends it;
//! a sorted range vector is searched for the last range starting at or below the pc.

use gimli::constants::{DW_AT_high_pc, DW_AT_low_pc, DW_AT_ranges};
use gimli::{DebugRanges, DebugRngLists, DwAt, RangeLists, RangeListsOffset, RawRngListEntry};

use super::attrs::AttrVal;
use super::unit::Unit;
use super::{DwarfInfo, DEBUG_RANGES, DEBUG_RNGLISTS};

/// `struct unit_addrs` / `struct function_addrs`: `[low, high)` of unit or function
/// `owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AddrRange {
    pub low: u64,
    pub high: u64,
    pub owner: u32,
}

impl AddrRange {
    /// The entry libbacktrace ends each sorted vector with.
    pub const SENTINEL: AddrRange = AddrRange {
        low: u64::MAX,
        high: u64::MAX,
        owner: u32::MAX,
    };
}

/// `add_unit_addr` / `add_function_range`: merges with the previous range of the same
/// owner when it starts at (or one past) that range's end.
pub(super) fn push_merged(addrs: &mut Vec<AddrRange>, owner: u32, low: u64, high: u64) {
    if let Some(last) = addrs.last_mut() {
        if (low == last.high || low == last.high.wrapping_add(1)) && last.owner == owner {
            if high > last.high {
                last.high = high;
            }
            return;
        }
    }
    addrs.push(AddrRange { low, high, owner });
}

/// The entry libbacktrace's search settles on in a sorted range vector whose last entry
/// is the sentinel: the last one whose `low <= pc`, then walking back over entries with the
/// same `low` to the first (smallest) range that contains `pc`.
pub(super) fn find_range(addrs: &[AddrRange], pc: u64) -> Option<usize> {
    let items = &addrs[..addrs.len().saturating_sub(1)];
    let first_above = items.partition_point(|item| item.low <= pc);
    let mut p = first_above.checked_sub(1)?;
    loop {
        if pc < items[p].high {
            return Some(p);
        }
        if p == 0 || items[p - 1].low < items[p].low {
            return None;
        }
        p -= 1;
    }
}

/// `struct pcrange`: what a DIE says about its addresses.
#[derive(Default, Clone, Copy)]
pub(super) struct PcRange {
    pub lowpc: u64,
    pub have_lowpc: bool,
    lowpc_is_addr_index: bool,
    highpc: u64,
    pub have_highpc: bool,
    highpc_is_relative: bool,
    highpc_is_addr_index: bool,
    ranges: u64,
    pub have_ranges: bool,
    ranges_is_index: bool,
}

impl PcRange {
    /// `update_pcrange`.
    pub fn update(&mut self, name: DwAt, val: AttrVal) {
        match (name, val) {
            (DW_AT_low_pc, AttrVal::Address(v)) => {
                self.lowpc = v;
                self.have_lowpc = true;
            }
            (DW_AT_low_pc, AttrVal::AddressIndex(v)) => {
                self.lowpc = v;
                self.have_lowpc = true;
                self.lowpc_is_addr_index = true;
            }
            (DW_AT_high_pc, AttrVal::Address(v)) => {
                self.highpc = v;
                self.have_highpc = true;
            }
            (DW_AT_high_pc, AttrVal::Uint(v)) => {
                self.highpc = v;
                self.have_highpc = true;
                self.highpc_is_relative = true;
            }
            (DW_AT_high_pc, AttrVal::AddressIndex(v)) => {
                self.highpc = v;
                self.have_highpc = true;
                self.highpc_is_addr_index = true;
            }
            (DW_AT_ranges, AttrVal::Uint(v)) | (DW_AT_ranges, AttrVal::RefSection(v)) => {
                self.ranges = v;
                self.have_ranges = true;
            }
            (DW_AT_ranges, AttrVal::RnglistsIndex(v)) => {
                self.ranges = v;
                self.have_ranges = true;
                self.ranges_is_index = true;
            }
            _ => {}
        }
    }

    /// The DIE has addresses: a range list, or both ends of one range.
    pub fn is_set(&self) -> bool {
        self.have_ranges || (self.have_lowpc && self.have_highpc)
    }
}

impl DwarfInfo {
    /// `add_ranges`: calls `add` with each relocated `[low, high)` of `range`, `base` being
    /// the base address of the unit's range lists; false on error.
    pub(super) fn add_ranges(
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
        self.add_range_list(unit, base, range, add).is_some()
    }

    /// `add_ranges_from_ranges` (DWARF 2-4) and `add_ranges_from_rnglists` (DWARF 5).
    fn add_range_list(
        &self,
        unit: &Unit,
        mut base: u64,
        range: &PcRange,
        add: &mut dyn FnMut(u64, u64),
    ) -> Option<()> {
        let encoding = unit.encoding;
        let rnglists = encoding.version >= 5;
        let section = if rnglists {
            DEBUG_RNGLISTS
        } else {
            DEBUG_RANGES
        };
        let len = self.section(section).len() as u64;
        let offset = if rnglists && range.ranges_is_index {
            let width = u64::from(encoding.format.word_size());
            let at = unit
                .rnglists_base
                .wrapping_add(range.ranges.wrapping_mul(width));
            if at >= len {
                return None;
            }
            let target = self.read_word(DEBUG_RNGLISTS, at, encoding.format)?;
            target.wrapping_add(unit.rnglists_base)
        } else {
            range.ranges
        };
        if offset >= len {
            return None;
        }
        let lists = RangeLists::new(
            DebugRanges::from(self.reader(DEBUG_RANGES)),
            DebugRngLists::from(self.reader(DEBUG_RNGLISTS)),
        );
        let mut entries = lists
            .raw_ranges(RangeListsOffset(usize::try_from(offset).ok()?), encoding)
            .ok()?;
        let image = self.base;
        let index = |i: gimli::DebugAddrIndex| self.resolve_addr_index(unit, i.0 as u64);
        let mut count = 0u64;
        while let Some(entry) = entries.next().ok()? {
            count += 1;
            match entry {
                RawRngListEntry::AddressOrOffsetPair { begin, end }
                | RawRngListEntry::OffsetPair { begin, end } => add(
                    begin.wrapping_add(base).wrapping_add(image),
                    end.wrapping_add(base).wrapping_add(image),
                ),
                RawRngListEntry::BaseAddress { addr } => base = addr,
                RawRngListEntry::BaseAddressx { addr } => base = index(addr)?,
                RawRngListEntry::StartxEndx { begin, end } => {
                    let low = index(begin)?;
                    let high = index(end)?;
                    add(low.wrapping_add(image), high.wrapping_add(image));
                }
                RawRngListEntry::StartxLength { begin, length } => {
                    let low = index(begin)?.wrapping_add(image);
                    add(low, low.wrapping_add(length));
                }
                RawRngListEntry::StartEnd { begin, end } => {
                    add(begin.wrapping_add(image), end.wrapping_add(image))
                }
                RawRngListEntry::StartLength { begin, length } => {
                    let low = begin.wrapping_add(image);
                    add(low, low.wrapping_add(length));
                }
            }
        }
        if !rnglists {
            // gimli also ends a list at the end of the section; libbacktrace fails one that
            // has no (0, 0) pair before it. Every `.debug_ranges` entry is two addresses.
            let pair = 2 * u64::from(encoding.address_size);
            if offset.saturating_add(count.saturating_add(1).saturating_mul(pair)) > len {
                return None;
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dwarf::DEBUG_RANGES;

    fn ranges(list: &[(u64, u64)]) -> Vec<AddrRange> {
        let mut v: Vec<AddrRange> = list
            .iter()
            .map(|&(low, high)| AddrRange {
                low,
                high,
                owner: 0,
            })
            .collect();
        v.push(AddrRange::SENTINEL);
        v
    }

    #[test]
    fn range_search_walks_back_only_over_equal_lows() {
        // Sorted as libbacktrace sorts: by low, larger ranges first.
        let r = ranges(&[(0x10, 0x100), (0x20, 0x80), (0x20, 0x30), (0x90, 0x95)]);
        assert_eq!(find_range(&r, 0x25), Some(2));
        assert_eq!(find_range(&r, 0x40), Some(1));
        assert_eq!(find_range(&r, 0x15), Some(0));
        // 0x85 is inside the first range, but the search stops at the (0x20, ..) group.
        assert_eq!(find_range(&r, 0x85), None);
        // 0x96 is inside the first range too, but (0x90, 0x95) is the entry searched.
        assert_eq!(find_range(&r, 0x96), None);
        assert_eq!(find_range(&r, 0x05), None);
        assert_eq!(find_range(&ranges(&[]), 0x05), None);
    }

    #[test]
    fn adjacent_ranges_of_one_owner_merge() {
        let mut v = Vec::new();
        push_merged(&mut v, 1, 0x10, 0x20);
        push_merged(&mut v, 1, 0x20, 0x30);
        push_merged(&mut v, 1, 0x31, 0x38);
        push_merged(&mut v, 2, 0x38, 0x40);
        push_merged(&mut v, 2, 0x40, 0x3f);
        push_merged(&mut v, 2, 0x50, 0x60);
        let got: Vec<_> = v.iter().map(|r| (r.low, r.high, r.owner)).collect();
        assert_eq!(got, vec![(0x10, 0x38, 1), (0x38, 0x40, 2), (0x50, 0x60, 2)]);
    }

    #[test]
    fn a_debug_ranges_list_must_end_before_its_section() {
        use crate::bytes::Bytes;
        use crate::dwarf::DwarfSections;
        let pairs = |list: &[(u64, u64)]| -> Vec<u8> {
            list.iter()
                .flat_map(|&(a, b)| [a.to_le_bytes(), b.to_le_bytes()])
                .flatten()
                .collect()
        };
        let mut unit = Unit::for_tests(gimli::Format::Dwarf32, 8);
        unit.encoding.version = 4;
        let mut range = PcRange::default();
        range.update(DW_AT_ranges, AttrVal::RefSection(0));
        let read = |data: Vec<u8>| {
            let mut sections = DwarfSections::default();
            sections.data[usize::from(DEBUG_RANGES)] = Bytes::from_vec(data);
            let info = DwarfInfo::build(0x1000, sections, false, None).unwrap();
            let mut got = Vec::new();
            let ok = info.add_ranges(&unit, 0x100, &range, &mut |low, high| got.push((low, high)));
            ok.then_some(got)
        };
        // A base address entry, then a pair relative to it, then the end.
        let list = [(u64::MAX, 0x200), (0x10, 0x20), (0, 0)];
        assert_eq!(read(pairs(&list)), Some(vec![(0x1210, 0x1220)]));
        assert_eq!(read(pairs(&list[..2])), None);
        let mut cut = pairs(&list);
        cut.truncate(cut.len() - 1);
        assert_eq!(read(cut), None);
    }

    #[test]
    fn pc_ranges_take_libbacktrace_categories_only() {
        let mut r = PcRange::default();
        r.update(DW_AT_low_pc, AttrVal::Uint(5));
        assert!(!r.have_lowpc);
        r.update(DW_AT_low_pc, AttrVal::Address(0x100));
        r.update(DW_AT_high_pc, AttrVal::Uint(0x10));
        assert!(r.is_set());
        assert_eq!(
            (r.lowpc, r.highpc, r.highpc_is_relative),
            (0x100, 0x10, true)
        );
    }
}
