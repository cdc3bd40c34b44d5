//! An ELF symbol table as libbacktrace's `elf_initialize_syminfo` keeps it and
//! `elf_syminfo` searches it: the defined `STT_FUNC` and `STT_OBJECT` symbols, relocated,
//! sorted by address with libbacktrace's quicksort, found with glibc's bsearch on
//! `[address, address + size)`.

use std::cmp::Ordering;

use object::elf::{Sym64, SHN_UNDEF, STT_FUNC, STT_OBJECT};
use object::LittleEndian;

use crate::backtrace_sort::{backtrace_qsort, glibc_bsearch};
use crate::bytes::{c_str, Bytes};

/// One `struct elf_symbol`: a function or object symbol, relocated.
#[derive(Debug, Clone, Copy)]
struct ElfSymbol {
    address: u64,
    size: u64,
    name: usize,
}

/// One `struct elf_syminfo_data`: the symbols of one symbol table sorted by address, and
/// the string table their names point into.
pub struct SymbolTable {
    symbols: Vec<ElfSymbol>,
    strtab: Bytes,
}

impl SymbolTable {
    /// `elf_initialize_syminfo` over the bytes of a `.symtab` or `.dynsym` section (read in
    /// the host's byte order, as libbacktrace reads them); None when a kept symbol's name
    /// offset is out of range.
    pub fn new(symtab: &[u8], strtab: Bytes, base: u64) -> Option<SymbolTable> {
        let count = symtab.len() / std::mem::size_of::<Sym64<LittleEndian>>();
        let (entries, _) =
            object::pod::slice_from_bytes::<Sym64<LittleEndian>>(symtab, count).ok()?;
        let mut symbols = Vec::new();
        for entry in entries {
            let kind = entry.st_type();
            if (kind != STT_FUNC && kind != STT_OBJECT)
                || entry.st_shndx.get(LittleEndian) == SHN_UNDEF
            {
                continue;
            }
            let name = entry.st_name.get(LittleEndian) as usize;
            if name >= strtab.len() {
                return None;
            }
            symbols.push(ElfSymbol {
                address: entry.st_value.get(LittleEndian).wrapping_add(base),
                size: entry.st_size.get(LittleEndian),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn symtab(entries: &[(u32, u8, u16, u64, u64)]) -> Vec<u8> {
        let mut symtab = Vec::new();
        for &(name, info, shndx, value, size) in entries {
            symtab.extend_from_slice(&name.to_le_bytes());
            symtab.push(info);
            symtab.push(0);
            symtab.extend_from_slice(&shndx.to_le_bytes());
            symtab.extend_from_slice(&value.to_le_bytes());
            symtab.extend_from_slice(&size.to_le_bytes());
        }
        symtab
    }

    #[test]
    fn symbol_lookup_uses_address_and_size() {
        let strtab = b"\0alpha\0beta\0gamma\0\0".to_vec();
        let symtab = symtab(&[
            (1, STT_FUNC, 1, 0x100, 0x10),
            (7, STT_OBJECT, 1, 0x200, 8),
            (12, 0, 1, 0x300, 8),
            (12, STT_FUNC, SHN_UNDEF, 0x400, 8),
        ]);
        let table = SymbolTable::new(&symtab, Bytes::from_vec(strtab), 0x1000).unwrap();
        // STT_NOTYPE and undefined symbols ("gamma") are not kept.
        assert_eq!(table.len(), 2);
        assert_eq!(table.lookup(0x1105), Some(&b"alpha"[..]));
        assert_eq!(table.lookup(0x1110), None);
        assert_eq!(table.lookup(0x1207), Some(&b"beta"[..]));
        assert_eq!(table.lookup(0x1300), None);
        assert_eq!(table.lookup(0x1400), None);
    }

    #[test]
    fn a_name_past_the_string_table_fails_the_table_and_a_partial_entry_is_ignored() {
        let strtab = Bytes::from_vec(b"\0f\0".to_vec());
        let bad = symtab(&[(1, STT_FUNC, 1, 0, 4), (3, STT_FUNC, 1, 8, 4)]);
        assert!(SymbolTable::new(&bad, strtab.clone(), 0).is_none());
        let mut good = symtab(&[(1, STT_FUNC, 1, 0, 4)]);
        good.extend_from_slice(&[0xff; 10]);
        let table = SymbolTable::new(&good, strtab, 0).unwrap();
        assert_eq!(table.len(), 1);
        assert_eq!(table.lookup(2), Some(&b"f"[..]));
    }
}
