//! ELF images as libbacktrace's `elf_add` (memray's vendored copy, elf.c) loads them for
//! memray's native symbol resolver: the function and object symbols of `.symtab` (else
//! `.dynsym`), the separate debug file found by build ID or `.gnu_debuglink`, the dwz
//! file of `.gnu_debugaltlink`, the MiniDebugInfo of `.gnu_debugdata`, and the DWARF
//! sections (zlib/zstd `SHF_COMPRESSED` or `.zdebug_*`), handed to `dwarf_lookup`.
//!
//! Files are memory-mapped; only decompressed sections are copied. Nothing read from a
//! file is trusted: out-of-range offsets make the load fail the way libbacktrace's does,
//! never panic.

use std::cmp::Ordering;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;

use crate::backtrace_sort::{backtrace_qsort, glibc_bsearch};
pub use crate::bytes::{c_str, Bytes};
use crate::dwarf_lookup::{DwarfInfo, DwarfModule, DwarfSections, DEBUG_MAX, SECTION_NAMES};

/// Opens and maps a file the way `backtrace_open` + `backtrace_get_view` see it.
pub enum OpenedFile {
    Mapped(Bytes),
    /// `open` failed with ENOENT or EACCES (libbacktrace's "does not exist").
    DoesNotExist,
    /// Any other failure to open or map it.
    Unreadable,
}

pub fn open_file(path: &str) -> OpenedFile {
    // Only regular files are opened: a capture may name anything, and opening a FIFO or a
    // device could block or read without end. O_NONBLOCK covers a file swapped in between.
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => return OpenedFile::Unreadable,
        _ => {}
    }
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(error) => {
            return match error.raw_os_error() {
                Some(code) if code == libc::ENOENT || code == libc::EACCES => {
                    OpenedFile::DoesNotExist
                }
                _ => OpenedFile::Unreadable,
            }
        }
    };
    let len = match file.metadata() {
        Ok(meta) if meta.is_file() => meta.len(),
        _ => return OpenedFile::Unreadable,
    };
    if len == 0 {
        return OpenedFile::Mapped(Bytes::empty());
    }
    // SAFETY: the mapping is read-only and private; like libbacktrace, we assume the
    // file is not truncated while we read it.
    match unsafe { memmap2::Mmap::map(&file) } {
        Ok(map) => OpenedFile::Mapped(Bytes::from_owner(Arc::new(map))),
        Err(_) => OpenedFile::Unreadable,
    }
}

fn read_u16(data: &[u8], offset: usize) -> Option<u16> {
    let bytes = data.get(offset..offset.checked_add(2)?)?;
    Some(u16::from_le_bytes([bytes[0], bytes[1]]))
}

fn read_u32(data: &[u8], offset: usize) -> Option<u32> {
    let bytes = data.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn read_u64(data: &[u8], offset: usize) -> Option<u64> {
    let bytes = data.get(offset..offset.checked_add(8)?)?;
    let mut array = [0u8; 8];
    array.copy_from_slice(bytes);
    Some(u64::from_le_bytes(array))
}

const EHDR_SIZE: usize = 64;
const SHDR_SIZE: u64 = 64;
const SYM_SIZE: usize = 24;
const CHDR_SIZE: usize = 24;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const SHT_SYMTAB: u32 = 2;
const SHT_DYNSYM: u32 = 11;
const SHF_COMPRESSED: u64 = 0x800;
const STT_OBJECT: u8 = 1;
const STT_FUNC: u8 = 2;
const SHN_UNDEF: u16 = 0;
const SHN_LORESERVE: u32 = 0xff00;
const SHN_XINDEX: u32 = 0xffff;
const NT_GNU_BUILD_ID: u32 = 3;
const ELFCOMPRESS_ZLIB: u32 = 1;
const ELFCOMPRESS_ZSTD: u32 = 2;
const PT_LOAD: u32 = 1;
const SYSTEM_BUILD_ID_DIR: &str = "/usr/lib/debug/.build-id/";

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

pub fn elf_kind(file: &[u8]) -> ElfKind {
    let Some(ident) = file.get(..EHDR_SIZE) else {
        return ElfKind::Invalid;
    };
    if &ident[..4] != b"\x7fELF"
        || ident[6] != 1
        || ident[4] != 2
        || !(ident[5] == 1 || ident[5] == 2)
    {
        return ElfKind::Invalid;
    }
    match read_u16(ident, 16) {
        Some(ET_EXEC) => ElfKind::Executable,
        Some(ET_DYN) => ElfKind::SharedObject,
        _ => ElfKind::Other,
    }
}

/// The `(p_vaddr, p_memsz)` of the `PT_LOAD` program headers (what memray records as an
/// image's segments); for the dev tools.
pub fn load_segments(file: &[u8]) -> Option<Vec<(u64, u64)>> {
    if elf_kind(file) == ElfKind::Invalid {
        return None;
    }
    let phoff = usize::try_from(read_u64(file, 32)?).ok()?;
    let phentsize = usize::from(read_u16(file, 54)?);
    let phnum = usize::from(read_u16(file, 56)?);
    let mut segments = Vec::new();
    for i in 0..phnum {
        let at = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if read_u32(file, at)? == PT_LOAD {
            segments.push((read_u64(file, at + 16)?, read_u64(file, at + 40)?));
        }
    }
    Some(segments)
}

/// One `struct elf_symbol`: a function or object symbol, relocated.
#[derive(Debug, Clone, Copy)]
struct ElfSymbol {
    address: u64,
    size: u64,
    name: usize,
}

/// One `struct elf_syminfo_data`: the symbols of one symbol table sorted by address with
/// libbacktrace's quicksort, and the string table their names point into.
pub struct SymbolTable {
    symbols: Vec<ElfSymbol>,
    strtab: Bytes,
}

impl SymbolTable {
    /// `elf_initialize_syminfo`; None when a name offset is out of range.
    fn new(symtab: &[u8], strtab: Bytes, base: u64) -> Option<SymbolTable> {
        let mut symbols = Vec::new();
        for entry in symtab.chunks_exact(SYM_SIZE) {
            let info = entry[4] & 0xf;
            let shndx = read_u16(entry, 6)?;
            if (info != STT_FUNC && info != STT_OBJECT) || shndx == SHN_UNDEF {
                continue;
            }
            let name = read_u32(entry, 0)? as usize;
            if name >= strtab.len() {
                return None;
            }
            symbols.push(ElfSymbol {
                address: read_u64(entry, 8)?.wrapping_add(base),
                size: read_u64(entry, 16)?,
                name,
            });
        }
        backtrace_qsort(&mut symbols, &mut |a: &ElfSymbol, b: &ElfSymbol| {
            a.address.cmp(&b.address)
        });
        Some(SymbolTable { symbols, strtab })
    }

    /// The symbol `elf_syminfo`'s bsearch finds for `address` in this table.
    pub fn lookup(&self, address: u64) -> Option<&[u8]> {
        let index = glibc_bsearch(&self.symbols, |symbol| {
            if address < symbol.address {
                Ordering::Less
            } else if address >= symbol.address.wrapping_add(symbol.size) {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        })?;
        Some(c_str(self.strtab.as_slice(), self.symbols[index].name))
    }

    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }
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

struct SectionHeader {
    name: u32,
    kind: u32,
    flags: u64,
    offset: u64,
    size: u64,
    link: u32,
}

impl SectionHeader {
    fn parse(data: &[u8]) -> Option<SectionHeader> {
        Some(SectionHeader {
            name: read_u32(data, 0)?,
            kind: read_u32(data, 4)?,
            flags: read_u64(data, 8)?,
            offset: read_u64(data, 24)?,
            size: read_u64(data, 32)?,
            link: read_u32(data, 40)?,
        })
    }
}

#[derive(Clone, Copy, Default)]
struct DebugSectionInfo {
    offset: u64,
    size: u64,
    compressed: bool,
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
        if elf_kind(data) == ElfKind::Invalid {
            return Some(false);
        }
        let is_bigendian = data[5] == 2;
        let ehdr = &data[..EHDR_SIZE];
        let shoff = read_u64(ehdr, 40)?;
        let mut shnum = u32::from(read_u16(ehdr, 60)?);
        let mut shstrndx = u32::from(read_u16(ehdr, 62)?);
        if (shnum == 0 || shstrndx == SHN_XINDEX) && shoff != 0 {
            let first = file.view(shoff, SHDR_SIZE)?;
            let first = SectionHeader::parse(first.as_slice())?;
            if shnum == 0 {
                shnum = first.size as u32;
            }
            if shstrndx == SHN_XINDEX {
                shstrndx = first.link;
                if shstrndx >= shnum && shstrndx >= SHN_LORESERVE + 0x100 {
                    shstrndx -= 0x100;
                }
            }
        }
        if shnum == 0 || shstrndx == 0 || shstrndx >= shnum {
            return Some(false);
        }
        let Some(shdrs_view) = file.view(
            shoff.checked_add(SHDR_SIZE)?,
            u64::from(shnum - 1) * SHDR_SIZE,
        ) else {
            return Some(false);
        };
        let shdrs: Vec<SectionHeader> = shdrs_view
            .as_slice()
            .chunks_exact(SHDR_SIZE as usize)
            .map(SectionHeader::parse)
            .collect::<Option<_>>()?;
        // Section `i` (1-based, section 0 skipped) is `shdrs[i - 1]`.
        let shstr = &shdrs[(shstrndx - 1) as usize];
        let Some(names) = file.view(shstr.offset, shstr.size) else {
            return Some(false);
        };
        let names = names.as_slice();

        let mut symtab_shndx = 0usize;
        let mut dynsym_shndx = 0usize;
        let mut sections = [DebugSectionInfo::default(); DEBUG_MAX];
        let mut zsections = [DebugSectionInfo::default(); DEBUG_MAX];
        let mut buildid: Option<Bytes> = None;
        let mut buildid_seen = false;
        let mut debuglink: Option<(Vec<u8>, u32)> = None;
        let mut debuglink_seen = false;
        let mut debugaltlink: Option<(Vec<u8>, Option<Bytes>)> = None;
        let mut debugaltlink_seen = false;
        let mut gnu_debugdata: Option<Bytes> = None;

        for (index, shdr) in shdrs.iter().enumerate() {
            let i = index + 1;
            if shdr.kind == SHT_SYMTAB {
                symtab_shndx = i;
            } else if shdr.kind == SHT_DYNSYM {
                dynsym_shndx = i;
            }
            if shdr.name as usize >= names.len() {
                return Some(false);
            }
            let name = c_str(names, shdr.name as usize);
            if let Some(j) = SECTION_NAMES.iter().position(|n| n.as_bytes() == name) {
                sections[j] = DebugSectionInfo {
                    offset: shdr.offset,
                    size: shdr.size,
                    compressed: shdr.flags & SHF_COMPRESSED != 0,
                };
            }
            if name.starts_with(b".z") {
                if let Some(j) = SECTION_NAMES
                    .iter()
                    .position(|n| n.as_bytes()[1..] == name[2..])
                {
                    zsections[j] = DebugSectionInfo {
                        offset: shdr.offset,
                        size: shdr.size,
                        compressed: false,
                    };
                }
            }
            if (!debuginfo || with_buildid.is_some())
                && !buildid_seen
                && name == b".note.gnu.build-id"
            {
                let Some(note) = file.view(shdr.offset, shdr.size) else {
                    return Some(false);
                };
                buildid_seen = true;
                let note = note.as_slice();
                let namesz = read_u32(note, 0).unwrap_or(0);
                let descsz = read_u32(note, 4).unwrap_or(0);
                let kind = read_u32(note, 8).unwrap_or(0);
                let mut found = None;
                if kind == NT_GNU_BUILD_ID
                    && namesz == 4
                    && note.get(12..16) == Some(b"GNU\0")
                    && shdr.size <= 12 + 4 + u64::from(descsz)
                {
                    // The build ID may run past the note section; libbacktrace reads it
                    // from the file regardless.
                    found = file.view(shdr.offset + 16, u64::from(descsz));
                }
                if let Some(expected) = with_buildid.filter(|id| !id.is_empty()) {
                    match &found {
                        Some(id) if id.as_slice() == expected => {}
                        _ => return Some(false),
                    }
                }
                buildid = found;
            }
            if !debuginfo && !debuglink_seen && name == b".gnu_debuglink" {
                let Some(link) = file.view(shdr.offset, shdr.size) else {
                    return Some(false);
                };
                debuglink_seen = true;
                debuglink = parse_debuglink(link.as_slice());
            }
            if !debugaltlink_seen && name == b".gnu_debugaltlink" {
                let Some(link) = file.view(shdr.offset, shdr.size) else {
                    return Some(false);
                };
                debugaltlink_seen = true;
                let slice = link.as_slice();
                let name_len = slice.iter().position(|&b| b == 0).unwrap_or(slice.len());
                let id = if name_len < slice.len() {
                    link.view(name_len as u64 + 1, (slice.len() - name_len - 1) as u64)
                } else {
                    None
                };
                debugaltlink = Some((slice[..name_len].to_vec(), id));
            }
            if !debuginfo && gnu_debugdata.is_none() && name == b".gnu_debugdata" {
                let Some(view) = file.view(shdr.offset, shdr.size) else {
                    return Some(false);
                };
                gnu_debugdata = Some(view);
            }
        }

        if symtab_shndx == 0 {
            symtab_shndx = dynsym_shndx;
        }
        if symtab_shndx != 0 {
            let symtab = &shdrs[symtab_shndx - 1];
            let strtab_shndx = symtab.link as usize;
            if strtab_shndx >= shnum as usize || strtab_shndx == 0 {
                return Some(false);
            }
            let strtab = &shdrs[strtab_shndx - 1];
            let Some(symtab_view) = file.view(symtab.offset, symtab.size) else {
                return Some(false);
            };
            let Some(strtab_view) = file.view(strtab.offset, strtab.size) else {
                return Some(false);
            };
            let Some(table) = SymbolTable::new(symtab_view.as_slice(), strtab_view, base) else {
                return Some(false);
            };
            self.found_sym = true;
            self.image.symbol_tables.push(table);
        }

        // A separate debug file replaces this one.
        if let Some(id) = &buildid {
            if let Some(debug_file) = open_debugfile_by_buildid(id.as_slice()) {
                return Some(self.elf_add("", &debug_file, base, true, None, None));
            }
        }
        if let Some((link_name, crc)) = &debuglink {
            if let Some(debug_file) = open_debugfile_by_debuglink(filename, link_name, *crc) {
                return Some(self.elf_add("", &debug_file, base, true, None, None));
            }
        }

        let mut altlink: Option<Arc<DwarfInfo>> = None;
        if let Some((alt_name, alt_id)) = &debugaltlink {
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

        if let Some(compressed) = &gnu_debugdata {
            if let Some(inner) = uncompress_xz(compressed.as_slice()) {
                let inner = Bytes::from_vec(inner);
                return Some(self.elf_add(filename, &inner, base, false, None, None));
            }
        }

        let mut dwarf = DwarfSections::default();
        let mut any = false;
        for j in 0..DEBUG_MAX {
            if sections[j].size != 0 || zsections[j].size != 0 {
                any = true;
            }
        }
        if !any {
            return Some(true);
        }
        for j in 0..DEBUG_MAX {
            let (info, zlib_gnu) = if sections[j].size != 0 {
                (sections[j], false)
            } else if zsections[j].size != 0 {
                (zsections[j], true)
            } else {
                continue;
            };
            let Some(raw) = file.view(info.offset, info.size) else {
                return Some(false);
            };
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
        let Some(info) = DwarfInfo::build(base, dwarf, is_bigendian, altlink) else {
            return Some(false);
        };
        let info = Arc::new(info);
        if let Some(entry) = fileline_entry {
            *entry = Some(Arc::clone(&info));
        }
        self.image.dwarf.push(DwarfModule::new(info));
        Some(true)
    }
}

/// The file name and CRC of a `.gnu_debuglink` section, read as libbacktrace reads them:
/// the CRC at the name's length rounded up to 4, which for a name whose length is a
/// multiple of 4 is its NUL padding (a CRC of 0, which is not checked).
fn parse_debuglink(section: &[u8]) -> Option<(Vec<u8>, u32)> {
    let name_len = section
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(section.len());
    let crc_offset = (name_len + 3) & !3;
    let crc = read_u32(section, crc_offset)?;
    Some((section[..name_len].to_vec(), crc))
}

fn open_mapped(path: &str) -> Option<Bytes> {
    match open_file(path) {
        OpenedFile::Mapped(bytes) => Some(bytes),
        _ => None,
    }
}

/// `elf_open_debugfile_by_buildid`: `/usr/lib/debug/.build-id/xx/yyyy.debug` (the
/// debuginfod fallback needs `DEBUGINFOD_URLS` and a server, and is not reproduced).
fn open_debugfile_by_buildid(id: &[u8]) -> Option<Bytes> {
    let mut path = String::from(SYSTEM_BUILD_ID_DIR);
    for (i, byte) in id.iter().enumerate() {
        path.push_str(&format!("{byte:02x}"));
        if i == 0 {
            path.push('/');
        }
    }
    path.push_str(".debug");
    open_mapped(&path)
}

/// `elf_find_debugfile_by_debuglink` + the CRC check of `elf_open_debugfile_by_debuglink`
/// (no check when `crc` is 0).
fn open_debugfile_by_debuglink(filename: &str, link_name: &[u8], crc: u32) -> Option<Bytes> {
    let link_name = String::from_utf8_lossy(link_name).into_owned();
    let file = find_debugfile_by_debuglink(filename, &link_name)?;
    if crc != 0 && crc32(file.as_slice()) != crc {
        return None;
    }
    Some(file)
}

fn find_debugfile_by_debuglink(filename: &str, link_name: &str) -> Option<Bytes> {
    // Resolve symlinks of the file itself (not of its directories).
    let mut filename = filename.to_string();
    for _ in 0..40 {
        let Ok(meta) = std::fs::symlink_metadata(&filename) else {
            break;
        };
        if !meta.file_type().is_symlink() {
            break;
        }
        let Ok(target) = std::fs::read_link(&filename) else {
            break;
        };
        let target = target.to_string_lossy().into_owned();
        filename = if target.starts_with('/') {
            target
        } else {
            match filename.rfind('/') {
                Some(slash) => format!("{}{}", &filename[..=slash], target),
                None => target,
            }
        };
    }
    let prefix = match filename.rfind('/') {
        Some(slash) => &filename[..=slash],
        None => "",
    };
    open_mapped(&format!("{prefix}{link_name}"))
        .or_else(|| open_mapped(&format!("{prefix}.debug/{link_name}")))
        .or_else(|| open_mapped(&format!("/usr/lib/debug/{prefix}{link_name}")))
}

/// The CRC-32 of `.gnu_debuglink` (zlib's).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(data);
    crc.sum()
}

/// `elf_uncompress_chdr`: an `Elf64_Chdr` then zlib or zstd data; None when it can't be
/// decompressed to exactly `ch_size` bytes (libbacktrace then drops the section).
fn uncompress_chdr(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < CHDR_SIZE {
        return None;
    }
    let kind = read_u32(data, 0)?;
    let size = usize::try_from(read_u64(data, 8)?).ok()?;
    let payload = &data[CHDR_SIZE..];
    match kind {
        ELFCOMPRESS_ZLIB => inflate_exact(flate2::read::ZlibDecoder::new(payload), payload, size),
        ELFCOMPRESS_ZSTD => {
            let decoder = zstd::stream::read::Decoder::new(payload).ok()?;
            inflate_exact(decoder, payload, size)
        }
        _ => None,
    }
}

/// `elf_uncompress_zdebug`: "ZLIB", a big-endian 64-bit size, a zlib stream.
fn uncompress_zdebug(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < 12 || &data[..4] != b"ZLIB" {
        return None;
    }
    let mut size = 0u64;
    for &b in &data[4..12] {
        size = (size << 8) | u64::from(b);
    }
    let payload = &data[12..];
    let size = usize::try_from(size).ok()?;
    inflate_exact(flate2::read::ZlibDecoder::new(payload), payload, size)
}

/// Reads `decoder` to its end, which must be exactly `size` bytes (the size the section
/// header declares, not trusted for allocation).
fn inflate_exact(decoder: impl Read, compressed: &[u8], size: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(size.min(compressed.len().saturating_mul(8)));
    decoder
        .take((size as u64).saturating_add(1))
        .read_to_end(&mut out)
        .ok()?;
    (out.len() == size).then_some(out)
}

/// `elf_uncompress_lzma` for `.gnu_debugdata`.
fn uncompress_xz(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut input = data;
    lzma_rs::xz_decompress(&mut input, &mut out).ok()?;
    Some(out)
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
    fn debuglink_crc_offset_quirk() {
        // "libx.so.debug" (13 characters): NUL, padding to 16, then the CRC.
        let mut section = b"libx.so.debug\0\0\0".to_vec();
        section.extend_from_slice(&0x1234_5678u32.to_le_bytes());
        assert_eq!(
            parse_debuglink(&section),
            Some((b"libx.so.debug".to_vec(), 0x1234_5678))
        );
        // "lib12.so.debug12" (16 characters): the CRC is read at 16, from the padding.
        let mut section = b"lib12.so.debug12\0\0\0\0".to_vec();
        section.extend_from_slice(&0x1234_5678u32.to_le_bytes());
        assert_eq!(
            parse_debuglink(&section),
            Some((b"lib12.so.debug12".to_vec(), 0))
        );
        assert_eq!(parse_debuglink(b"short\0"), None);
    }

    #[test]
    fn garbage_is_not_elf() {
        assert_eq!(elf_kind(b"hello"), ElfKind::Invalid);
        assert_eq!(
            elf_kind(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0].repeat(8)),
            ElfKind::Other
        );
        let result = elf_add_file("garbage", Bytes::from_vec(vec![0; 200]), 0);
        assert!(!result.ok);
        assert!(!result.found_sym);
    }

    #[test]
    fn symbol_lookup_uses_address_and_size() {
        let mut strtab = b"\0alpha\0beta\0gamma\0".to_vec();
        strtab.push(0);
        let mut symtab = Vec::new();
        for (name, info, value, size) in [
            (1u32, STT_FUNC, 0x100u64, 0x10u64),
            (7, STT_OBJECT, 0x200, 8),
            (12, 0, 0x300, 8),
        ] {
            symtab.extend_from_slice(&name.to_le_bytes());
            symtab.push(info);
            symtab.push(0);
            symtab.extend_from_slice(&1u16.to_le_bytes());
            symtab.extend_from_slice(&value.to_le_bytes());
            symtab.extend_from_slice(&size.to_le_bytes());
        }
        let table = SymbolTable::new(&symtab, Bytes::from_vec(strtab), 0x1000).unwrap();
        // STT_NOTYPE ("gamma") is not kept.
        assert_eq!(table.len(), 2);
        assert_eq!(table.lookup(0x1105), Some(&b"alpha"[..]));
        assert_eq!(table.lookup(0x1110), None);
        assert_eq!(table.lookup(0x1207), Some(&b"beta"[..]));
        assert_eq!(table.lookup(0x1300), None);
    }
}
