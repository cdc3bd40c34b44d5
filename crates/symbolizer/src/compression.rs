//! Compressed sections as libbacktrace reads them: `SHF_COMPRESSED` sections (an
//! `Elf64_Chdr`, then zlib or zstd data), GNU `.zdebug_*` sections ("ZLIB", a big-endian
//! size, zlib data) and the xz MiniDebugInfo of `.gnu_debugdata`. A section that does not
//! decompress to exactly its declared size is dropped, as libbacktrace drops it.

use std::io::Read;

use object::elf::{CompressionHeader64, ELFCOMPRESS_ZLIB, ELFCOMPRESS_ZSTD};
use object::read::ReadRef;
use object::LittleEndian;

/// `elf_uncompress_chdr`: an `Elf64_Chdr` (read in the host's byte order, as libbacktrace
/// reads it) then zlib or zstd data; None when it can't be decompressed to exactly
/// `ch_size` bytes.
pub fn uncompress_chdr(data: &[u8]) -> Option<Vec<u8>> {
    let header = data.read_at::<CompressionHeader64<LittleEndian>>(0).ok()?;
    let size = usize::try_from(header.ch_size.get(LittleEndian)).ok()?;
    let payload = data.get(std::mem::size_of::<CompressionHeader64<LittleEndian>>()..)?;
    match header.ch_type.get(LittleEndian) {
        ELFCOMPRESS_ZLIB => inflate_exact(flate2::read::ZlibDecoder::new(payload), payload, size),
        ELFCOMPRESS_ZSTD => {
            let decoder = zstd::stream::read::Decoder::new(payload).ok()?;
            inflate_exact(decoder, payload, size)
        }
        _ => None,
    }
}

/// `elf_uncompress_zdebug`: "ZLIB", a big-endian 64-bit size, a zlib stream.
pub fn uncompress_zdebug(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < 12 || &data[..4] != b"ZLIB" {
        return None;
    }
    let size = u64::from_be_bytes(data[4..12].try_into().ok()?);
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
pub fn uncompress_xz(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut input = data;
    lzma_rs::xz_decompress(&mut input, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn chdr_sections_must_have_their_declared_size() {
        let text = b"debug info, compressed".repeat(10);
        let mut section = Vec::new();
        section.extend_from_slice(&ELFCOMPRESS_ZLIB.to_le_bytes());
        section.extend_from_slice(&0u32.to_le_bytes());
        section.extend_from_slice(&(text.len() as u64).to_le_bytes());
        section.extend_from_slice(&1u64.to_le_bytes());
        section.extend_from_slice(&zlib(&text));
        assert_eq!(uncompress_chdr(&section), Some(text.clone()));
        section[8] ^= 1;
        assert_eq!(uncompress_chdr(&section), None);
        // An unknown compression type, a header cut short.
        section[8] ^= 1;
        section[0] = 9;
        assert_eq!(uncompress_chdr(&section), None);
        assert_eq!(uncompress_chdr(&section[..10]), None);
    }

    #[test]
    fn zdebug_sections() {
        let text = b"gnu zdebug".repeat(7);
        let mut section = b"ZLIB".to_vec();
        section.extend_from_slice(&(text.len() as u64).to_be_bytes());
        section.extend_from_slice(&zlib(&text));
        assert_eq!(uncompress_zdebug(&section), Some(text));
        assert_eq!(uncompress_zdebug(b"ZLIB"), None);
        assert_eq!(uncompress_xz(b"not xz"), None);
    }
}
