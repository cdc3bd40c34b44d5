//! ELF images as libbacktrace's `elf_add` (memray's vendored copy, elf.c) loads them for
//! memray's native symbol resolver, over `object`'s ELF structures: which symbol table is
//! kept (`.symtab`, else `.dynsym`), when a separate debug file (build ID, then
//! `.gnu_debuglink`) replaces the image, the dwz file of `.gnu_debugaltlink`, the
//! MiniDebugInfo of `.gnu_debugdata`, and which DWARF sections (plain, `SHF_COMPRESSED` or
//! `.zdebug_*`) are handed to [`DwarfInfo::build`].
//!
//! Like libbacktrace, the ELF structures are read in the host's (little-endian) byte order
//! whatever `EI_DATA` says; only DWARF is read in the file's declared byte order. Files are
//! memory-mapped, only decompressed sections are copied, and nothing read from a file is
//! trusted: an out-of-range offset makes the load fail as libbacktrace's does.

use std::mem::offset_of;
use std::sync::Arc;

use object::elf::{
    FileHeader64, NoteHeader64, ProgramHeader64, SectionHeader64, ELFCLASS64, ELFDATA2LSB,
    ELFDATA2MSB, ELFMAG, ET_DYN, ET_EXEC, EV_CURRENT, NT_GNU_BUILD_ID, PT_LOAD, SHF_COMPRESSED,
    SHN_LORESERVE, SHN_XINDEX, SHT_DYNSYM, SHT_SYMTAB,
};
use object::read::ReadRef;
use object::{LittleEndian as LE, U32, U64};

pub use crate::bytes::{c_str, Bytes};
use crate::compression::{uncompress_chdr, uncompress_xz, uncompress_zdebug};
use crate::debug_files::{open_debugfile_by_buildid, open_debugfile_by_debuglink, parse_debuglink};
pub use crate::debug_files::{open_file, OpenedFile};
use crate::dwarf::{DwarfInfo, DwarfModule, DwarfSections, DEBUG_MAX, SECTION_NAMES};
pub use crate::symbols::SymbolTable;

type FileHeader = FileHeader64<LE>;
type SectionHeader = SectionHeader64<LE>;

/// The ELF identification checks of `elf_add`, which `backtrace_initialize` repeats when
/// an image's file/line information has to be initialised at lookup time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfKind {
    /// Not ELF, or an ELF identification libbacktrace rejects (version, class, data).
    Invalid,
    Executable,
    SharedObject,
    Other,
}

/// The file header, when its identification is one libbacktrace accepts.
fn file_header(file: &[u8]) -> Option<&FileHeader> {
    let header = file.read_at::<FileHeader>(0).ok()?;
    let ident = &header.e_ident;
    let valid = ident.magic == ELFMAG
        && ident.version == EV_CURRENT
        && ident.class == ELFCLASS64
        && (ident.data == ELFDATA2LSB || ident.data == ELFDATA2MSB);
    valid.then_some(header)
}

pub fn elf_kind(file: &[u8]) -> ElfKind {
    match file_header(file).map(|header| header.e_type.get(LE)) {
        None => ElfKind::Invalid,
        Some(ET_EXEC) => ElfKind::Executable,
        Some(ET_DYN) => ElfKind::SharedObject,
        Some(_) => ElfKind::Other,
    }
}

/// The `(p_vaddr, p_memsz)` of the `PT_LOAD` program headers (what memray records as an
/// image's segments); for the dev tools.
pub fn load_segments(file: &[u8]) -> Option<Vec<(u64, u64)>> {
    let header = file_header(file)?;
    let phoff = header.e_phoff.get(LE);
    let phentsize = u64::from(header.e_phentsize.get(LE));
    // Only the fields used are read: a header cut short after p_memsz still counts.
    let field = |at: u64, offset: usize| at.checked_add(offset as u64);
    let mut segments = Vec::new();
    for i in 0..u64::from(header.e_phnum.get(LE)) {
        let at = phoff.checked_add(i.checked_mul(phentsize)?)?;
        let p_type = file.read_at::<U32<LE>>(at).ok()?.get(LE);
        if p_type == PT_LOAD {
            let vaddr = field(at, offset_of!(ProgramHeader64<LE>, p_vaddr))?;
            let memsz = field(at, offset_of!(ProgramHeader64<LE>, p_memsz))?;
            segments.push((
                file.read_at::<U64<LE>>(vaddr).ok()?.get(LE),
                file.read_at::<U64<LE>>(memsz).ok()?.get(LE),
            ));
        }
    }
    Some(segments)
}

/// How an image answers lookups, decided when it is first loaded.
pub(crate) enum ImageKind {
    /// The file does not exist (or may not be read): libbacktrace initialises from the
    /// reader's executable instead, which knows nothing of this address.
    Missing,
    /// Unreadable, not ELF, or an ELF file libbacktrace fails on: nothing resolves.
    Unresolvable,
    Elf {
        image: LoadedImage,
        /// memray installed `elf_syminfo` (elf_add succeeded and found a symbol table);
        /// otherwise `elf_nosyms`, which reports nothing.
        symbols_usable: bool,
    },
    /// No DWARF was found, so libbacktrace initialises file/line data at lookup time from
    /// the reader process; the image's own symbol tables are still searched first.
    ElfWithoutDebugInfo { image: LoadedImage },
}

/// What `elf_add` accumulates in a `backtrace_state`.
#[derive(Default)]
pub struct LoadedImage {
    /// `state->syminfo_data`, searched in order.
    pub symbol_tables: Vec<SymbolTable>,
    /// `state->fileline_data`, searched in order (a dwz file's before the image's own).
    pub dwarf: Vec<DwarfModule>,
}

/// The result of memray's `elf_add` call for one image.
pub struct ElfAddResult {
    pub image: LoadedImage,
    /// `elf_add` returned 1.
    pub ok: bool,
    /// `*found_sym`: a symbol table was read.
    pub found_sym: bool,
}

/// memray's `elf_add(state, filename, descriptor, NULL, 0, base_address, ..., exe=0,
/// debuginfo=0)` on an opened file.
pub fn elf_add_file(filename: &str, file: Bytes, base: u64) -> ElfAddResult {
    let mut loader = Loader {
        image: LoadedImage::default(),
        found_sym: false,
    };
    let ok = loader.elf_add(filename, &file, base, false, None, None);
    ElfAddResult {
        image: loader.image,
        ok,
        found_sym: loader.found_sym,
    }
}

struct Loader {
    image: LoadedImage,
    found_sym: bool,
}

/// Where one DWARF section is in the file.
#[derive(Clone, Copy, Default)]
struct DebugSectionInfo {
    offset: u64,
    size: u64,
    compressed: bool,
}

impl DebugSectionInfo {
    fn of(shdr: &SectionHeader, compressed: bool) -> DebugSectionInfo {
        DebugSectionInfo {
            offset: shdr.sh_offset.get(LE),
            size: shdr.sh_size.get(LE),
            compressed,
        }
    }
}

/// The sections `elf_add` looks for, as its loop over the section headers records them.
#[derive(Default)]
struct Found {
    symtab_shndx: usize,
    dynsym_shndx: usize,
    sections: [DebugSectionInfo; DEBUG_MAX],
    zsections: [DebugSectionInfo; DEBUG_MAX],
    buildid: Option<Bytes>,
    buildid_seen: bool,
    debuglink: Option<(Vec<u8>, u32)>,
    debuglink_seen: bool,
    debugaltlink: Option<(Vec<u8>, Option<Bytes>)>,
    debugaltlink_seen: bool,
    gnu_debugdata: Option<Bytes>,
}

/// `e_shnum` and `e_shstrndx`, with the extended numbering of section 0 as libbacktrace
/// reads it (including its adjustment of an out-of-range `sh_link`); None when section 0
/// can't be read.
fn section_counts(file: &Bytes, header: &FileHeader) -> Option<(u32, u32)> {
    let shoff = header.e_shoff.get(LE);
    let mut shnum = u32::from(header.e_shnum.get(LE));
    let mut shstrndx = u32::from(header.e_shstrndx.get(LE));
    let xindex = u32::from(SHN_XINDEX);
    if (shnum == 0 || shstrndx == xindex) && shoff != 0 {
        let first = file.as_slice().read_at::<SectionHeader>(shoff).ok()?;
        if shnum == 0 {
            shnum = first.sh_size.get(LE) as u32;
        }
        if shstrndx == xindex {
            shstrndx = first.sh_link.get(LE);
            if shstrndx >= shnum && shstrndx >= u32::from(SHN_LORESERVE) + 0x100 {
                shstrndx -= 0x100;
            }
        }
    }
    Some((shnum, shstrndx))
}

impl Loader {
    /// `elf_add` with `exe == 0`; `fileline_entry` receives the DWARF this call adds (for
    /// the dwz file). Returns whether it succeeded.
    fn elf_add(
        &mut self,
        filename: &str,
        file: &Bytes,
        base: u64,
        debuginfo: bool,
        with_buildid: Option<&[u8]>,
        fileline_entry: Option<&mut Option<Arc<DwarfInfo>>>,
    ) -> bool {
        if !debuginfo {
            self.found_sym = false;
        }
        self.elf_add_inner(
            filename,
            file,
            base,
            debuginfo,
            with_buildid,
            fileline_entry,
        )
        .unwrap_or(false)
    }

    /// The body of `elf_add`: `Some(result)`, or None where libbacktrace fails (`goto
    /// fail`, returning 0).
    fn elf_add_inner(
        &mut self,
        filename: &str,
        file: &Bytes,
        base: u64,
        debuginfo: bool,
        with_buildid: Option<&[u8]>,
        fileline_entry: Option<&mut Option<Arc<DwarfInfo>>>,
    ) -> Option<bool> {
        let data = file.as_slice();
        let header = file_header(data)?;
        let is_bigendian = header.e_ident.data == ELFDATA2MSB;
        let (shnum, shstrndx) = section_counts(file, header)?;
        if shnum == 0 || shstrndx == 0 || shstrndx >= shnum {
            return None;
        }
        // Section `i` (1-based, section 0 skipped) is `shdrs[i - 1]`.
        let shdrs_at = header
            .e_shoff
            .get(LE)
            .checked_add(std::mem::size_of::<SectionHeader>() as u64)?;
        let shdrs: &[SectionHeader] = data.read_slice_at(shdrs_at, (shnum - 1) as usize).ok()?;
        let shstr = &shdrs[(shstrndx - 1) as usize];
        let names = file.view(shstr.sh_offset.get(LE), shstr.sh_size.get(LE))?;
        let found = self.scan_sections(file, shdrs, names.as_slice(), debuginfo, with_buildid)?;

        let symtab_shndx = match found.symtab_shndx {
            0 => found.dynsym_shndx,
            shndx => shndx,
        };
        if symtab_shndx != 0 {
            let symtab = &shdrs[symtab_shndx - 1];
            let strtab_shndx = symtab.sh_link.get(LE) as usize;
            if strtab_shndx >= shnum as usize || strtab_shndx == 0 {
                return None;
            }
            let strtab = &shdrs[strtab_shndx - 1];
            let symtab_view = file.view(symtab.sh_offset.get(LE), symtab.sh_size.get(LE))?;
            let strtab_view = file.view(strtab.sh_offset.get(LE), strtab.sh_size.get(LE))?;
            let table = SymbolTable::new(symtab_view.as_slice(), strtab_view, base)?;
            self.found_sym = true;
            self.image.symbol_tables.push(table);
        }

        // A separate debug file replaces this one.
        if let Some(id) = &found.buildid {
            if let Some(debug_file) = open_debugfile_by_buildid(id.as_slice()) {
                return Some(self.elf_add("", &debug_file, base, true, None, None));
            }
        }
        if let Some((link_name, crc)) = &found.debuglink {
            if let Some(debug_file) = open_debugfile_by_debuglink(filename, link_name, *crc) {
                return Some(self.elf_add("", &debug_file, base, true, None, None));
            }
        }

        let mut altlink: Option<Arc<DwarfInfo>> = None;
        if let Some((alt_name, alt_id)) = &found.debugaltlink {
            if let Some(alt_file) = open_debugfile_by_debuglink(filename, alt_name, 0) {
                // A present (even empty) build ID makes the dwz file's own build ID be read
                // (and its debug file looked up); a non-empty one must match it.
                let id = alt_id.as_ref().map(|id| id.as_slice().to_vec());
                self.elf_add(
                    filename,
                    &alt_file,
                    base,
                    true,
                    id.as_deref(),
                    Some(&mut altlink),
                );
            }
        }

        if let Some(compressed) = &found.gnu_debugdata {
            if let Some(inner) = uncompress_xz(compressed.as_slice()) {
                let inner = Bytes::from_vec(inner);
                return Some(self.elf_add(filename, &inner, base, false, None, None));
            }
        }

        let any =
            (0..DEBUG_MAX).any(|j| found.sections[j].size != 0 || found.zsections[j].size != 0);
        if !any {
            return Some(true);
        }
        let mut dwarf = DwarfSections::default();
        for j in 0..DEBUG_MAX {
            let (info, zlib_gnu) = if found.sections[j].size != 0 {
                (found.sections[j], false)
            } else if found.zsections[j].size != 0 {
                (found.zsections[j], true)
            } else {
                continue;
            };
            let raw = file.view(info.offset, info.size)?;
            dwarf.data[j] = if zlib_gnu {
                uncompress_zdebug(raw.as_slice())
                    .map(Bytes::from_vec)
                    .unwrap_or_else(Bytes::empty)
            } else if info.compressed {
                uncompress_chdr(raw.as_slice())
                    .map(Bytes::from_vec)
                    .unwrap_or_else(Bytes::empty)
            } else {
                raw
            };
        }
        let info = Arc::new(DwarfInfo::build(base, dwarf, is_bigendian, altlink)?);
        if let Some(entry) = fileline_entry {
            *entry = Some(Arc::clone(&info));
        }
        self.image.dwarf.push(DwarfModule::new(info));
        Some(true)
    }

    /// `elf_add`'s loop over the section headers; None where it fails.
    fn scan_sections(
        &mut self,
        file: &Bytes,
        shdrs: &[SectionHeader],
        names: &[u8],
        debuginfo: bool,
        with_buildid: Option<&[u8]>,
    ) -> Option<Found> {
        let mut found = Found::default();
        for (index, shdr) in shdrs.iter().enumerate() {
            let i = index + 1;
            let kind = shdr.sh_type.get(LE);
            if kind == SHT_SYMTAB {
                found.symtab_shndx = i;
            } else if kind == SHT_DYNSYM {
                found.dynsym_shndx = i;
            }
            let name_offset = shdr.sh_name.get(LE) as usize;
            if name_offset >= names.len() {
                return None;
            }
            let name = c_str(names, name_offset);
            let view = || file.view(shdr.sh_offset.get(LE), shdr.sh_size.get(LE));
            if let Some(j) = SECTION_NAMES.iter().position(|n| n.as_bytes() == name) {
                let compressed = shdr.sh_flags.get(LE) & u64::from(SHF_COMPRESSED) != 0;
                found.sections[j] = DebugSectionInfo::of(shdr, compressed);
            }
            if let Some(rest) = name.strip_prefix(b".z") {
                if let Some(j) = SECTION_NAMES
                    .iter()
                    .position(|n| &n.as_bytes()[1..] == rest)
                {
                    found.zsections[j] = DebugSectionInfo::of(shdr, false);
                }
            }
            if (!debuginfo || with_buildid.is_some())
                && !found.buildid_seen
                && name == b".note.gnu.build-id"
            {
                let note = view()?;
                found.buildid_seen = true;
                let id = build_id(file, shdr, note.as_slice());
                if let Some(expected) = with_buildid.filter(|id| !id.is_empty()) {
                    match &id {
                        Some(id) if id.as_slice() == expected => {}
                        _ => return None,
                    }
                }
                found.buildid = id;
            }
            if !debuginfo && !found.debuglink_seen && name == b".gnu_debuglink" {
                let link = view()?;
                found.debuglink_seen = true;
                found.debuglink = parse_debuglink(link.as_slice());
            }
            if !found.debugaltlink_seen && name == b".gnu_debugaltlink" {
                let link = view()?;
                found.debugaltlink_seen = true;
                found.debugaltlink = Some(parse_debugaltlink(&link));
            }
            if !debuginfo && found.gnu_debugdata.is_none() && name == b".gnu_debugdata" {
                found.gnu_debugdata = Some(view()?);
            }
        }
        Some(found)
    }
}

/// The build ID of a `.note.gnu.build-id` section, with libbacktrace's checks: a GNU
/// `NT_GNU_BUILD_ID` note whose section is no longer than the note claims. The ID is read
/// from the file even where it runs past the section.
fn build_id(file: &Bytes, shdr: &SectionHeader, note: &[u8]) -> Option<Bytes> {
    let header = note.read_at::<NoteHeader64<LE>>(0).ok();
    let field = |get: fn(&NoteHeader64<LE>) -> u32| header.map_or(0, get);
    let namesz = field(|h| h.n_namesz.get(LE));
    let descsz = field(|h| h.n_descsz.get(LE));
    let kind = field(|h| h.n_type.get(LE));
    let size = shdr.sh_size.get(LE);
    if kind == NT_GNU_BUILD_ID
        && namesz == 4
        && note.get(12..16) == Some(b"GNU\0")
        && size <= 12 + 4 + u64::from(descsz)
    {
        file.view(shdr.sh_offset.get(LE).checked_add(16)?, u64::from(descsz))
    } else {
        None
    }
}

/// A `.gnu_debugaltlink` section: the dwz file's name, then (when there is anything after
/// the name's NUL) its build ID.
fn parse_debugaltlink(link: &Bytes) -> (Vec<u8>, Option<Bytes>) {
    let slice = link.as_slice();
    let name_len = slice.iter().position(|&b| b == 0).unwrap_or(slice.len());
    let id = if name_len < slice.len() {
        link.view(name_len as u64 + 1, (slice.len() - name_len - 1) as u64)
    } else {
        None
    };
    (slice[..name_len].to_vec(), id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_are_bounds_checked() {
        let bytes = Bytes::from_vec(vec![1, 2, 3, 4]);
        assert_eq!(
            bytes.view(1, 2).map(|v| v.as_slice().to_vec()),
            Some(vec![2, 3])
        );
        assert!(bytes.view(3, 2).is_none());
        assert!(bytes.view(u64::MAX, 2).is_none());
    }

    #[test]
    fn garbage_is_not_elf() {
        assert_eq!(elf_kind(b"hello"), ElfKind::Invalid);
        assert_eq!(
            elf_kind(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0].repeat(8)),
            ElfKind::Other
        );
        // ELFCLASS32 and an unknown EI_DATA are rejected.
        assert_eq!(
            elf_kind(&[0x7f, b'E', b'L', b'F', 1, 1, 1, 0].repeat(8)),
            ElfKind::Invalid
        );
        assert_eq!(
            elf_kind(&[0x7f, b'E', b'L', b'F', 2, 3, 1, 0].repeat(8)),
            ElfKind::Invalid
        );
        let result = elf_add_file("garbage", Bytes::from_vec(vec![0; 200]), 0);
        assert!(!result.ok);
        assert!(!result.found_sym);
    }

    #[test]
    fn this_test_binary_loads() {
        let data = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(elf_kind(&data), ElfKind::SharedObject);
        assert!(!load_segments(&data).unwrap().is_empty());
        let result = elf_add_file("self", Bytes::from_vec(data), 0x1000);
        assert!(result.ok && result.found_sym);
        assert!(!result.image.symbol_tables[0].is_empty());
        assert_eq!(result.image.dwarf.len(), 1);
    }

    #[test]
    fn build_id_notes() {
        let mut file = Vec::new();
        file.extend_from_slice(&4u32.to_le_bytes());
        file.extend_from_slice(&3u32.to_le_bytes());
        file.extend_from_slice(&NT_GNU_BUILD_ID.to_le_bytes());
        file.extend_from_slice(b"GNU\0\xaa\xbb\xcc");
        let bytes = Bytes::from_vec(file.clone());
        let mut shdr = SectionHeader {
            sh_name: Default::default(),
            sh_type: Default::default(),
            sh_flags: Default::default(),
            sh_addr: Default::default(),
            sh_offset: Default::default(),
            sh_size: object::U64::new(LE, file.len() as u64),
            sh_link: Default::default(),
            sh_info: Default::default(),
            sh_addralign: Default::default(),
            sh_entsize: Default::default(),
        };
        let id = build_id(&bytes, &shdr, &file).unwrap();
        assert_eq!(id.as_slice(), b"\xaa\xbb\xcc");
        // A section longer than the note: no build ID.
        shdr.sh_size = object::U64::new(LE, file.len() as u64 + 1);
        assert!(build_id(&bytes, &shdr, &file).is_none());
        let link = Bytes::from_vec(b"../dwz.debug\0\x01\x02".to_vec());
        let (name, id) = parse_debugaltlink(&link);
        assert_eq!(name, b"../dwz.debug");
        assert_eq!(id.unwrap().as_slice(), b"\x01\x02");
    }
}
