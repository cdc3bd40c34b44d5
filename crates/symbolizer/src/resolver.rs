//! memray's native symbol resolver (`SymbolResolver` and `MemorySegment` in
//! native_resolver.cpp, memray 1.20): turns an instruction pointer recorded with `--native`
//! into the `(function, file, line)` frames memray reports, innermost inlined function
//! first.
//!
//! Images (a file at a load address) are shared by every segment generation and loaded on
//! the first lookup that lands in them. A lookup is memray's: find the segment (the first
//! one of the generation, sorted by `(start, end, filename)`, whose end is not below the ip
//! — if that one does not contain the ip, nothing does), then resolve `ip - 1` from DWARF
//! (`backtrace_pcinfo`, frames without a name dropped) or else from the symbol tables
//! (`backtrace_syminfo`: one `(symbol or "<unknown>", "<unknown>", 0)` frame).
//!
//! Where memray's libbacktrace falls back on the *reading* process's own executable and
//! libraries (an image file that no longer exists, an image without DWARF), the answer
//! is what that fallback gives unless the recorded address happens to fall inside one of
//! the reader's own mappings: the image's symbols, else `<unknown>`.

use std::sync::{Arc, PoisonError};

use rustc_hash::FxHashMap;

use crate::demangle::demangle;
use crate::dwarf::Lookup;
use crate::elf_image::{
    elf_add_file, elf_kind, open_file, ElfKind, ImageKind, LoadedImage, OpenedFile,
};
use crate::image_cache::{self, SharedImage};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeFrame {
    pub function: String,
    pub file: String,
    pub line: u32,
}

const UNKNOWN: &str = "<unknown>";

struct Image {
    filename: Arc<str>,
    load_address: u64,
    /// Loaded on the first lookup that lands in the image.
    kind: Option<SharedImage>,
}

#[derive(Debug, Clone)]
struct Segment {
    start: u64,
    end: u64,
    filename: Arc<str>,
    image: usize,
}

#[derive(Default)]
struct Generation {
    segments: Vec<Segment>,
    sorted: bool,
    /// Some lookup of this generation is in the cache.
    resolved: bool,
}

/// memray's `SymbolResolver`: segments per generation, images, and the per-(ip,
/// generation) cache of resolved frames.
#[derive(Default)]
pub struct SymbolResolver {
    images: Vec<Image>,
    image_index: FxHashMap<(Arc<str>, u64), usize>,
    generations: FxHashMap<u64, Generation>,
    cache: FxHashMap<(u64, u64), Option<Arc<[NativeFrame]>>>,
}

impl SymbolResolver {
    pub fn new() -> Self {
        SymbolResolver::default()
    }

    /// A SEGMENT_HEADER record: image `filename` loaded at `load_address` with `(vaddr,
    /// memsz)` segments, belonging to segment generation `generation` (1, 2, ... = number
    /// of MEMORY_MAP_START records seen).
    pub fn add_image(
        &mut self,
        filename: &str,
        load_address: u64,
        segments: &[(u64, u64)],
        generation: u64,
    ) {
        let key: (Arc<str>, u64) = (Arc::from(filename), load_address);
        let image = match self.image_index.get(&key) {
            Some(&index) => index,
            None => {
                let index = self.images.len();
                self.images.push(Image {
                    filename: Arc::clone(&key.0),
                    load_address,
                    kind: None,
                });
                self.image_index.insert(key, index);
                index
            }
        };
        let filename = Arc::clone(&self.images[image].filename);
        let list = self.generations.entry(generation).or_default();
        for &(vaddr, memsz) in segments {
            let start = load_address.wrapping_add(vaddr);
            let end = start.wrapping_add(memsz);
            list.segments.push(Segment {
                start,
                end,
                filename: Arc::clone(&filename),
                image,
            });
        }
        list.sorted = false;
        if list.resolved {
            // Lookups made before this image was added saw an incomplete generation; memray
            // resolves only after reading every record, so forget them.
            list.resolved = false;
            self.cache.retain(|&(_, g), _| g != generation);
        }
    }

    /// memray's SymbolResolver::resolve(ip, generation): None when no segment holds ip or
    /// nothing resolves; otherwise the expanded frames, innermost inlined function first.
    /// Results are cached per (ip, generation).
    pub fn resolve(&mut self, ip: u64, generation: u64) -> Option<Arc<[NativeFrame]>> {
        if let Some(cached) = self.cache.get(&(ip, generation)) {
            return cached.clone();
        }
        let resolved = self.resolve_uncached(ip, generation);
        self.cache.insert((ip, generation), resolved.clone());
        resolved
    }

    fn resolve_uncached(&mut self, ip: u64, generation: u64) -> Option<Arc<[NativeFrame]>> {
        let list = self.generations.get_mut(&generation)?;
        if !list.sorted {
            list.segments.sort_by(|a, b| {
                (a.start, a.end, &*a.filename).cmp(&(b.start, b.end, &*b.filename))
            });
            list.sorted = true;
        }
        list.resolved = true;
        let image = find_segment(&list.segments, ip)?.image;
        let frames = self.resolve_in_image(image, ip.wrapping_sub(1));
        if frames.is_empty() {
            None
        } else {
            Some(Arc::from(frames))
        }
    }

    /// `MemorySegment::resolveIp` on an already corrected address.
    fn resolve_in_image(&mut self, image: usize, pc: u64) -> Vec<NativeFrame> {
        let image = &mut self.images[image];
        let (filename, load_address) = (&image.filename, image.load_address);
        let kind = image.kind.get_or_insert_with(|| {
            image_cache::image(filename, load_address, || {
                load_image(filename, load_address)
            })
        });
        let mut kind = kind.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *kind {
            ImageKind::Unresolvable => Vec::new(),
            ImageKind::Missing => vec![unknown_frame(None)],
            ImageKind::Elf {
                image,
                symbols_usable,
            } => {
                let frames = frames_from_debug_info(image, pc);
                if !frames.is_empty() {
                    return frames;
                }
                if *symbols_usable {
                    vec![unknown_frame(symbol_for(image, pc))]
                } else {
                    Vec::new()
                }
            }
            ImageKind::ElfWithoutDebugInfo { image } => vec![unknown_frame(symbol_for(image, pc))],
        }
    }
}

/// `findModule` + `isAddressInRange`: libstdc++'s `std::lower_bound` for the first segment
/// whose end is not below `ip` (probing exactly as libstdc++ does, since overlapping
/// segments need not be partitioned by that test), which must then contain `ip`.
fn find_segment(segments: &[Segment], ip: u64) -> Option<&Segment> {
    let mut first = 0usize;
    let mut len = segments.len();
    while len > 0 {
        let half = len >> 1;
        let middle = first + half;
        if segments[middle].end < ip {
            first = middle + 1;
            len = len - half - 1;
        } else {
            len = half;
        }
    }
    let segment = segments.get(first)?;
    (segment.start <= ip && ip < segment.end).then_some(segment)
}

/// memray's `getBacktraceState` for an image, and what its state answers.
fn load_image(filename: &str, load_address: u64) -> ImageKind {
    let file = match open_file(filename) {
        OpenedFile::Mapped(file) => file,
        OpenedFile::DoesNotExist => return ImageKind::Missing,
        OpenedFile::Unreadable => return ImageKind::Unresolvable,
    };
    let kind = elf_kind(file.as_slice());
    let result = elf_add_file(filename, file, load_address);
    if !result.image.dwarf.is_empty() {
        return ImageKind::Elf {
            image: result.image,
            symbols_usable: result.ok && result.found_sym,
        };
    }
    // No file/line function was installed: libbacktrace's fileline_initialize re-reads the
    // file as the executable (elf_add with exe=1), which fails for an invalid ELF header,
    // stops early for a shared object (then takes the reader's modules from
    // dl_iterate_phdr), and otherwise re-runs the load that already failed or succeeded.
    match kind {
        ElfKind::Invalid => ImageKind::Unresolvable,
        ElfKind::SharedObject => ImageKind::ElfWithoutDebugInfo {
            image: result.image,
        },
        ElfKind::Executable | ElfKind::Other if result.ok => ImageKind::ElfWithoutDebugInfo {
            image: result.image,
        },
        ElfKind::Executable | ElfKind::Other => ImageKind::Unresolvable,
    }
}

/// `backtrace_pcinfo` through memray's callback: DWARF frames with a non-empty demangled
/// name.
fn frames_from_debug_info(image: &mut LoadedImage, pc: u64) -> Vec<NativeFrame> {
    for module in &mut image.dwarf {
        if let Lookup::Found(frames) = module.lookup(pc) {
            return frames
                .into_iter()
                .filter_map(|frame| {
                    let name = frame.name?;
                    let function = demangle(&String::from_utf8_lossy(&name));
                    if function.is_empty() {
                        return None;
                    }
                    Some(NativeFrame {
                        function,
                        file: frame.file.as_deref().unwrap_or(UNKNOWN).to_string(),
                        line: frame.line as u32,
                    })
                })
                .collect();
        }
    }
    Vec::new()
}

/// `elf_syminfo`: the first symbol table (in load order) whose search finds `pc`.
fn symbol_for(image: &LoadedImage, pc: u64) -> Option<String> {
    image
        .symbol_tables
        .iter()
        .find_map(|table| table.lookup(pc))
        .map(|name| String::from_utf8_lossy(name).into_owned())
}

/// memray's syminfo callback: `(demangled symbol or "<unknown>", "<unknown>", 0)`.
fn unknown_frame(symbol: Option<String>) -> NativeFrame {
    let function = symbol.map(|s| demangle(&s)).unwrap_or_default();
    NativeFrame {
        function: if function.is_empty() {
            UNKNOWN.to_string()
        } else {
            function
        },
        file: UNKNOWN.to_string(),
        line: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(start: u64, end: u64) -> Segment {
        Segment {
            start,
            end,
            filename: Arc::from("x"),
            image: 0,
        }
    }

    #[test]
    fn segment_lookup_checks_only_the_first_candidate() {
        let start = |segments: &[Segment], ip| find_segment(segments, ip).map(|s| s.start);
        let segments = vec![segment(0x1000, 0x2000), segment(0x2000, 0x3000)];
        assert_eq!(start(&segments, 0x1000), Some(0x1000));
        assert_eq!(start(&segments, 0x1fff), Some(0x1000));
        // An ip equal to a segment's end selects that segment, which does not contain it,
        // even when the next one does.
        assert_eq!(start(&segments, 0x2000), None);
        assert_eq!(start(&segments, 0x2001), Some(0x2000));
        assert_eq!(start(&segments, 0x3000), None);
        assert_eq!(start(&segments, 0x0fff), None);
        // Sorted by start, a segment nested in another breaks the partition: libstdc++'s
        // lower_bound probes the nested one first.
        let segments = vec![segment(0x1000, 0x5000), segment(0x2000, 0x3000)];
        assert_eq!(start(&segments, 0x1000), Some(0x1000));
        assert_eq!(start(&segments, 0x2500), Some(0x1000));
        assert_eq!(start(&segments, 0x4fff), None);
    }

    #[test]
    fn resolver_can_move_between_threads() {
        fn send_and_sync<T: Send + Sync>() {}
        send_and_sync::<SymbolResolver>();
    }

    #[test]
    fn images_added_later_to_a_generation_are_seen() {
        let exe = std::env::current_exe().unwrap();
        let exe = exe.to_str().unwrap();
        let data = std::fs::read(exe).unwrap();
        let segments = crate::elf_image::load_segments(&data).unwrap();
        let (vaddr, memsz) = segments.iter().copied().max_by_key(|&(_, m)| m).unwrap();
        let base = 0x7000_0000_0000;
        let ip = base + vaddr + memsz / 2;
        let mut resolver = SymbolResolver::new();
        resolver.add_image("/nonexistent/elsewhere.so", 0x1000, &[(0, 0x1000)], 1);
        assert_eq!(resolver.resolve(ip, 1), None);
        resolver.add_image(exe, base, &segments, 1);
        let frames = resolver.resolve(ip, 1).unwrap();
        assert!(!frames.is_empty());
        // The same ip in another generation without that image: nothing.
        resolver.add_image("/nonexistent/elsewhere.so", 0x1000, &[(0, 0x1000)], 2);
        assert_eq!(resolver.resolve(ip, 2), None);
        assert_eq!(resolver.resolve(ip, 1), Some(frames));
    }

    #[test]
    fn unknown_frames() {
        let frame = unknown_frame(None);
        assert_eq!(
            (frame.function.as_str(), frame.file.as_str(), frame.line),
            ("<unknown>", "<unknown>", 0)
        );
        assert_eq!(unknown_frame(Some(String::new())).function, "<unknown>");
        assert_eq!(
            unknown_frame(Some("_Znwm".into())).function,
            "operator new(unsigned long)"
        );
        assert_eq!(unknown_frame(Some("malloc".into())).function, "malloc");
    }

    #[test]
    fn missing_and_garbage_images() {
        let dir = std::env::temp_dir().join(format!("memform-native-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let garbage = dir.join("garbage.so");
        std::fs::write(&garbage, b"this is not an ELF file at all, just some text").unwrap();
        let missing = dir.join("missing.so");
        let mut resolver = SymbolResolver::new();
        resolver.add_image(garbage.to_str().unwrap(), 0x10000, &[(0, 0x1000)], 1);
        resolver.add_image(missing.to_str().unwrap(), 0x20000, &[(0, 0x1000)], 1);
        // Outside every segment.
        assert_eq!(resolver.resolve(0x5000, 1), None);
        // Unknown generation.
        assert_eq!(resolver.resolve(0x10010, 2), None);
        // A file that is not ELF resolves to nothing.
        assert_eq!(resolver.resolve(0x10010, 1), None);
        // A file that no longer exists resolves to one unknown frame.
        let frames = resolver.resolve(0x20010, 1).unwrap();
        assert_eq!(&*frames, &[unknown_frame(None)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Random bytes flipped in this test binary's section headers, DWARF and symbol
    /// tables, or the file cut short: loading and lookups must never panic.
    #[test]
    fn corrupted_elf_files_never_panic() {
        use crate::elf_image::{load_segments, Bytes};
        let original = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let text = load_segments(&original)
            .unwrap()
            .into_iter()
            .max_by_key(|&(_, memsz)| memsz)
            .unwrap();
        let regions = corruptible_regions(&original);
        assert!(
            regions.len() >= 3,
            "the test binary has section headers, DWARF and symbols"
        );
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound.max(1) as u64) as usize
        };
        let base = 0x5555_0000_0000;
        for round in 0..24 {
            let mut data = original.clone();
            if round % 6 == 5 {
                data.truncate(random(data.len()));
            } else {
                for _ in 0..32 {
                    let (start, len) = regions[random(regions.len())];
                    let at = start + random(len);
                    if at < data.len() {
                        data[at] = random(256) as u8;
                    }
                }
            }
            let mut image = elf_add_file("corrupt", Bytes::from_vec(data), base).image;
            for _ in 0..200 {
                let pc = base + text.0 + random(text.1 as usize) as u64;
                let _ = frames_from_debug_info(&mut image, pc);
                let _ = symbol_for(&image, pc);
            }
        }
    }

    /// `(offset, len)` of the section header table and of the DWARF and symbol sections.
    fn corruptible_regions(file: &[u8]) -> Vec<(usize, usize)> {
        let u16_at = |at: usize| u16::from_le_bytes([file[at], file[at + 1]]) as usize;
        let u32_at = |at: usize| u32::from_le_bytes(file[at..at + 4].try_into().unwrap()) as usize;
        let u64_at = |at: usize| u64::from_le_bytes(file[at..at + 8].try_into().unwrap()) as usize;
        let (shoff, shnum, shstrndx) = (u64_at(40), u16_at(60), u16_at(62));
        let header = |i: usize| shoff + i * 64;
        let names = u64_at(header(shstrndx) + 24);
        let mut regions = vec![(shoff, shnum * 64)];
        for i in 1..shnum {
            let name_at = names + u32_at(header(i));
            let name =
                &file[name_at..name_at + file[name_at..].iter().position(|&b| b == 0).unwrap()];
            if name.starts_with(b".debug_") || name == b".symtab" || name == b".strtab" {
                regions.push((u64_at(header(i) + 24), u64_at(header(i) + 32)));
            }
        }
        regions
    }
}
