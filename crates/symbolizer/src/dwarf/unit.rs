//! A compilation unit as libbacktrace keeps it (`struct unit`): the fields set while
//! building the address map ([`super::units`] builds them) and read by the attribute,
//! range, line and function readers.

use std::sync::Arc;

use gimli::{Abbreviations, DebugInfoOffset, Encoding};

use super::StrRef;

/// The fields of `struct unit` set while building the address map.
pub(super) struct Unit {
    /// Where gimli reads the unit's header again.
    pub header: DebugInfoOffset,
    /// `[low_offset, high_offset)`: the unit in libbacktrace's numbering.
    pub low_offset: u64,
    pub high_offset: u64,
    pub encoding: Encoding,
    pub lineoff: u64,
    pub str_offsets_base: u64,
    pub addr_base: u64,
    pub rnglists_base: u64,
    pub filename: Option<StrRef>,
    pub comp_dir: Option<StrRef>,
    pub abbrevs: Arc<Abbreviations>,
}
