//! Finding and opening the files libbacktrace reads besides an image: the file itself as
//! `backtrace_open` opens it, and separate debug files by build ID
//! (`/usr/lib/debug/.build-id/xx/yyyy.debug`) or by `.gnu_debuglink` name (beside the
//! file, in its `.debug/` directory, under `/usr/lib/debug/`), with the link's CRC check
//! and its offset quirk.

use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;

use crate::bytes::Bytes;

const SYSTEM_BUILD_ID_DIR: &str = "/usr/lib/debug/.build-id/";

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

fn open_mapped(path: &str) -> Option<Bytes> {
    match open_file(path) {
        OpenedFile::Mapped(bytes) => Some(bytes),
        _ => None,
    }
}

/// The file name and CRC of a `.gnu_debuglink` section, read as libbacktrace reads them:
/// the CRC at the name's length rounded up to 4, which for a name whose length is a
/// multiple of 4 is its NUL padding (a CRC of 0, which is not checked).
pub fn parse_debuglink(section: &[u8]) -> Option<(Vec<u8>, u32)> {
    let name_len = section
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(section.len());
    let crc_offset = (name_len + 3) & !3;
    let crc = section.get(crc_offset..crc_offset.checked_add(4)?)?;
    let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    Some((section[..name_len].to_vec(), crc))
}

/// `elf_open_debugfile_by_buildid`: `/usr/lib/debug/.build-id/xx/yyyy.debug` (the
/// debuginfod fallback needs `DEBUGINFOD_URLS` and a server, and is not reproduced).
pub fn open_debugfile_by_buildid(id: &[u8]) -> Option<Bytes> {
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
pub fn open_debugfile_by_debuglink(filename: &str, link_name: &[u8], crc: u32) -> Option<Bytes> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn debug_files_are_found_beside_the_image_and_checked() {
        let dir = std::env::temp_dir().join(format!("memform-debuglink-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(".debug")).unwrap();
        std::fs::write(dir.join(".debug/lib.dbg"), b"debug data").unwrap();
        let image = dir.join("lib.so");
        let image = image.to_str().unwrap();
        let crc = crc32(b"debug data");
        let found = open_debugfile_by_debuglink(image, b"lib.dbg", crc).unwrap();
        assert_eq!(found.as_slice(), b"debug data");
        assert!(open_debugfile_by_debuglink(image, b"lib.dbg", crc ^ 1).is_none());
        assert!(open_debugfile_by_debuglink(image, b"lib.dbg", 0).is_some());
        assert!(open_debugfile_by_debuglink(image, b"other.dbg", 0).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
