//! memray's native symbolization, as a library: ELF images loaded at addresses, and
//! instruction pointers recorded with `memray run --native` turned into the
//! `(function, file, line)` frames memray reports for them, innermost inlined function
//! first, with the answers of the libbacktrace memray vendors.
//!
//! - [`resolver`]: the images of each segment generation, memray's segment lookup, the
//!   cache of answers ([`SymbolResolver`]).
//! - [`elf_image`]: an ELF file as libbacktrace's `elf_add` loads it (over `object`'s ELF
//!   structures): which symbol table, debug file and DWARF sections are used.
//! - [`symbols`]: a symbol table as `elf_syminfo` searches it.
//! - [`debug_files`]: separate debug files found by build ID or `.gnu_debuglink`.
//! - [`compression`]: zlib/zstd compressed sections and xz MiniDebugInfo.
//! - [`dwarf`]: DWARF units, functions (inlined ones too) and line tables read with
//!   `gimli`, and libbacktrace's lookup of one pc in them.
//! - [`backtrace_sort`]: libbacktrace's qsort and glibc's bsearch, whose choices among equal
//!   addresses decide which answer memray gives.
//! - [`image_cache`]: loaded images kept across resolvers, when a program asks for it.
//! - [`bytes`]: shared byte ranges of mapped files and decompressed sections.
//! - [`demangle`]: C++ names as libstdc++'s `__cxa_demangle` gives them.

pub mod backtrace_sort;
pub mod bytes;
pub mod compression;
pub mod debug_files;
pub mod demangle;
pub mod dwarf;
pub mod elf_image;
pub mod image_cache;
pub mod resolver;
pub mod symbols;

pub use elf_image::load_segments;
pub use image_cache::keep_loaded_images;
pub use resolver::{NativeFrame, SymbolResolver};
