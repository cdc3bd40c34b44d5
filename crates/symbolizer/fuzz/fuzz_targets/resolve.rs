#![no_main]
//! The native symbol resolver with arbitrary bytes as an ELF image: ELF and section headers,
//! symbol tables, debug-file links, compressed sections, DWARF units, line tables and
//! inlined functions — at addresses spread over the image.
use libfuzzer_sys::fuzz_target;
use memform_symbolizer::SymbolResolver;

/// Writes `bytes` to this process's scratch file (in /dev/shm when there is one): images
/// are opened by name and memory-mapped.
fn scratch(bytes: &[u8]) -> std::path::PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!("memform-symbolizer-fuzz-{}.so", std::process::id()));
    std::fs::write(&path, bytes).expect("scratch file");
    path
}

fuzz_target!(|data: &[u8]| {
    let path = scratch(data);
    let Some(name) = path.to_str() else { return };
    let mut resolver = SymbolResolver::new();
    let load = 0x40_0000u64;
    let len = data.len() as u64;
    resolver.add_image(name, load, &[(0, len.max(1))], 1);
    for k in 0..32u64 {
        let _ = resolver.resolve(load + 1 + k * len / 32, 1);
    }
    // Addresses named by the input itself (symbol values, DWARF low_pc are found this way).
    for chunk in data.chunks_exact(8).take(32) {
        let v = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let _ = resolver.resolve(load.wrapping_add(v % len.max(1)).wrapping_add(1), 1);
    }
});
