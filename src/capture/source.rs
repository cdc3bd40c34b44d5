//! The capture file as a stream of record bytes: memory-mapped, LZ4-decompressed when needed.
//!
//! memray writes either its own format directly (`memray\0` magic) or the same bytes wrapped in
//! an LZ4 frame (magic `04 22 4D 18`, the default of `memray run`). Uncompressed captures are
//! read zero-copy from the map; compressed ones are decompressed into a bounded window that is
//! refilled as the decoder consumes it. Uncompressed captures of killed processes end in
//! zero bytes that memray ignores; so do we (see [`readable_len`]).

use std::fs::File;
use std::path::{Path, PathBuf};

use lz4_flex::frame::FrameDecoder;
use memmap2::Mmap;

use crate::capture::StreamEnd;
use crate::error::{CaptureError, Offset, ReadError};

/// The LZ4 frame magic number, little-endian on disk.
pub const LZ4_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];

// The three steps below are small under the fuzzer, whose inputs are a few KiB, so that it
// crosses their boundaries too.

/// How many decompressed bytes are requested from the LZ4 decoder at a time.
#[cfg(not(fuzzing))]
const LZ4_CHUNK: usize = 1 << 20;
#[cfg(fuzzing)]
const LZ4_CHUNK: usize = 1 << 9;

/// How far the window over an uncompressed capture advances at a time.
#[cfg(not(fuzzing))]
const RAW_WINDOW: usize = 4 << 20;
#[cfg(fuzzing)]
const RAW_WINDOW: usize = 1 << 9;

/// Mapped pages behind the read position are handed back to the kernel in steps of this
/// many bytes, so resident memory does not grow with the capture (see [`PageRelease`]).
#[cfg(not(fuzzing))]
const RELEASE_STEP: usize = 4 << 20;
#[cfg(fuzzing)]
const RELEASE_STEP: usize = 4 << 10;

/// No single record may be larger than this; a longer one is reported as malformed instead of
/// growing the window without bound.
pub const MAX_RECORD_BYTES: usize = 256 << 20;

/// An opened, memory-mapped capture file.
pub struct CaptureFile {
    path: PathBuf,
    map: Option<Mmap>,
    compressed: bool,
    readable: usize,
}

impl CaptureFile {
    /// Opens and maps `path`. The file is not read here beyond what the kernel pages in.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let io = |e| ReadError::Io(e).in_file(path);
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        // An empty file cannot be mapped; it is simply a capture with no header.
        let map = if len == 0 {
            None
        } else {
            // SAFETY: the map is read-only; a capture truncated by another process while we
            // read it is outside what any reader can defend against (memray's neither).
            let map = unsafe { Mmap::map(&file) }.map_err(io)?;
            #[cfg(unix)]
            let _ = map.advise(memmap2::Advice::Sequential);
            Some(map)
        };
        let bytes: &[u8] = map.as_deref().unwrap_or(&[]);
        let compressed = bytes.starts_with(&LZ4_MAGIC);
        let readable = if compressed {
            bytes.len()
        } else {
            // Scanning a long zero tail would make all of it resident: give each scanned
            // stretch back at once.
            readable_len_with(bytes, &mut |zeros| {
                if let Some(map) = &map {
                    release_pages(map, zeros);
                }
            })
        };
        if let Some(map) = &map {
            // The rest of the zero tail is not part of the stream either.
            let tail = readable.div_ceil(page_size()) * page_size();
            if tail < map.len() {
                release_pages(map, tail..map.len());
            }
        }
        Ok(CaptureFile {
            path: path.to_path_buf(),
            map,
            compressed,
            readable,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the file on disk.
    pub fn file_len(&self) -> u64 {
        self.bytes().len() as u64
    }

    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// A fresh stream over the record bytes, from the first byte of the header.
    pub fn stream(&self) -> ByteStream<'_> {
        let bytes = self.bytes();
        let kind = if self.compressed {
            StreamKind::Lz4 {
                decoder: Box::new(FrameDecoder::new(bytes)),
                total: bytes.len(),
                buf: Vec::new(),
                start: 0,
                end: 0,
                done: false,
            }
        } else {
            let data = &bytes[..self.readable];
            StreamKind::Raw {
                data,
                pos: 0,
                end: data.len().min(RAW_WINDOW),
            }
        };
        ByteStream {
            kind,
            window_offset: 0,
            release: PageRelease {
                map: self.map.as_ref(),
                released: 0,
            },
        }
    }
}

/// Drops the mapped pages of the capture that the stream has read past from this process's
/// resident set (`madvise(MADV_DONTNEED)`). The stream only moves forward, so they are
/// never needed again; should they be, the kernel reads them back from the file (a
/// read-only file mapping has no private data to lose). Without this, every page of the
/// file stays resident until the end and peak RSS grows with the capture.
struct PageRelease<'a> {
    map: Option<&'a Mmap>,
    /// Bytes from the start of the file already released.
    released: usize,
}

impl PageRelease<'_> {
    /// Releases the whole pages before file offset `upto`, once a [`RELEASE_STEP`] has
    /// accumulated.
    fn release_before(&mut self, upto: usize) {
        let Some(map) = self.map else { return };
        let page = page_size();
        let upto = upto.min(map.len()) / page * page;
        if upto < self.released + RELEASE_STEP {
            return;
        }
        // The stream reads strictly forwards and its windows start at or after the read
        // position, so nothing refers into the pages before it.
        release_pages(map, self.released..upto);
        self.released = upto;
    }
}

/// Drops the pages of `range` of the read-only file mapping `map` from the resident set.
/// Callers make sure nothing refers into `range` any more.
fn release_pages(map: &Mmap, range: std::ops::Range<usize>) {
    #[cfg(unix)]
    // SAFETY: `map` is a read-only mapping of a file, so MADV_DONTNEED loses no data: a page
    // touched again is read back from the file. The caller guarantees no live reference into
    // `range`; should one be used anyway, it reads the same bytes again.
    let _ = unsafe {
        map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, range.start, range.len())
    };
    #[cfg(not(unix))]
    let _ = (map, range);
}

fn page_size() -> usize {
    #[cfg(unix)]
    {
        // SAFETY: sysconf has no preconditions.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if size > 0 {
            return size as usize;
        }
    }
    4096
}

/// memray's `FileSource::findReadableSize`: an uncompressed capture's trailing zero bytes are
/// padding left by a killed process and are not part of the record stream. A file of only
/// zeros keeps its full length.
pub fn readable_len(bytes: &[u8]) -> usize {
    readable_len_with(bytes, &mut |_| {})
}

/// [`readable_len`], scanning from the end in [`RELEASE_STEP`]-aligned stretches and handing
/// each stretch found all zero to `zeros`.
fn readable_len_with(bytes: &[u8], zeros: &mut dyn FnMut(std::ops::Range<usize>)) -> usize {
    let mut end = bytes.len();
    while end > 0 {
        let start = (end - 1) / RELEASE_STEP * RELEASE_STEP;
        if let Some(last) = bytes[start..end].iter().rposition(|&b| b != 0) {
            return start + last + 1;
        }
        zeros(start..end);
        end = start;
    }
    bytes.len()
}

enum StreamKind<'a> {
    Raw {
        data: &'a [u8],
        pos: usize,
        /// The window ends here; it grows in steps so that progress can be reported.
        end: usize,
    },
    Lz4 {
        decoder: Box<FrameDecoder<&'a [u8]>>,
        total: usize,
        buf: Vec<u8>,
        start: usize,
        end: usize,
        done: bool,
    },
}

/// A window of not yet consumed record bytes, refilled on demand.
pub struct ByteStream<'a> {
    kind: StreamKind<'a>,
    /// Offset in the (decompressed) record stream of the window's first byte.
    window_offset: u64,
    release: PageRelease<'a>,
}

impl<'a> ByteStream<'a> {
    /// The bytes available now.
    #[inline]
    pub fn window(&self) -> &[u8] {
        match &self.kind {
            StreamKind::Raw { data, pos, end } => &data[*pos..*end],
            StreamKind::Lz4 {
                buf, start, end, ..
            } => &buf[*start..*end],
        }
    }

    /// Marks the first `n` bytes of the window as used.
    pub fn consume(&mut self, n: usize) {
        match &mut self.kind {
            StreamKind::Raw { pos, end, .. } => *pos = (*pos + n).min(*end),
            StreamKind::Lz4 { start, end, .. } => *start = (*start + n).min(*end),
        }
        self.window_offset += n as u64;
    }

    /// The stream offset of the window's first byte.
    pub fn offset(&self) -> u64 {
        self.window_offset
    }

    /// Whether offsets count decompressed bytes.
    pub fn is_compressed(&self) -> bool {
        matches!(self.kind, StreamKind::Lz4 { .. })
    }

    /// An [`Offset`] `extra` bytes past the window start.
    pub fn offset_at(&self, extra: usize) -> Offset {
        Offset {
            byte: self.window_offset + extra as u64,
            decompressed: self.is_compressed(),
        }
    }

    /// How many bytes of the file itself have been read (for progress reporting).
    pub fn input_position(&self) -> u64 {
        match &self.kind {
            StreamKind::Raw { pos, .. } => *pos as u64,
            StreamKind::Lz4 { decoder, total, .. } => (*total - decoder.get_ref().len()) as u64,
        }
    }

    /// Brings more bytes into the window, keeping the unconsumed ones. Returns `false` when the
    /// stream has no more bytes.
    pub fn refill(&mut self) -> Result<bool, ReadError> {
        let read = self.input_position() as usize;
        self.release.release_before(read);
        let window_offset = self.window_offset;
        match &mut self.kind {
            StreamKind::Raw { data, end, .. } => {
                if *end >= data.len() {
                    return Ok(false);
                }
                *end = data.len().min(*end + RAW_WINDOW);
                Ok(true)
            }
            StreamKind::Lz4 {
                decoder,
                total,
                buf,
                start,
                end,
                done,
            } => {
                if *done {
                    return Ok(false);
                }
                let kept = *end - *start;
                if kept >= MAX_RECORD_BYTES {
                    return Err(ReadError::Malformed {
                        offset: Offset {
                            byte: window_offset,
                            decompressed: true,
                        },
                        what: format!("a record of at most {MAX_RECORD_BYTES} bytes"),
                    });
                }
                buf.copy_within(*start..*end, 0);
                *start = 0;
                *end = kept;
                let want = kept + LZ4_CHUNK;
                if buf.len() < want {
                    buf.resize(want, 0);
                }
                let mut filled = 0;
                while filled == 0 {
                    match std::io::Read::read(decoder, &mut buf[*end..]) {
                        Ok(0) => {
                            *done = true;
                            return Ok(false);
                        }
                        Ok(n) => filled = n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            // A frame cut short is a truncated capture: like memray, the bytes
                            // decompressed so far are the stream. Anything else is corruption.
                            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                                *done = true;
                                return Ok(false);
                            }
                            return Err(ReadError::Lz4 {
                                offset: (*total - decoder.get_ref().len()) as u64,
                                message: e.to_string(),
                            });
                        }
                    }
                }
                *end += filled;
                Ok(true)
            }
        }
    }
}

/// The capture is an existing file ([`crate::Error::CaptureNotFound`] otherwise).
pub fn check_capture(capture: &Path) -> Result<(), crate::Error> {
    if capture.is_file() {
        Ok(())
    } else {
        Err(crate::Error::CaptureNotFound(capture.to_path_buf()))
    }
}

/// A capture without a trailer is reported on, like memray does, from the records before
/// the damage; this says so (`None` for a capture that ends properly), given how its record
/// stream ended and how many allocation records came before.
pub fn end_warning(
    capture: &CaptureFile,
    end: StreamEnd,
    total_allocations: u64,
) -> Option<String> {
    let where_ = |offset: u64| {
        if capture.is_compressed() {
            format!("decompressed byte {offset}")
        } else {
            format!("byte {offset}")
        }
    };
    let what = match end {
        StreamEnd::Trailer => return None,
        StreamEnd::Truncated { offset, mid_record } => format!(
            "{}: the record stream ends at {}{} without a trailer (was the process killed?)",
            capture.path().display(),
            where_(offset),
            if mid_record { " inside a record" } else { "" },
        ),
        StreamEnd::Padding { offset } => format!(
            "{}: zero padding at {} ends the record stream (was the process killed?)",
            capture.path().display(),
            where_(offset),
        ),
    };
    Some(format!(
        "{what}; reporting the {total_allocations} allocation records before it"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_len_drops_the_zero_tail_only() {
        assert_eq!(readable_len(b"ab\0c\0\0\0"), 4);
        assert_eq!(readable_len(b"abc"), 3);
        assert_eq!(readable_len(b"\0\0"), 2);
        assert_eq!(readable_len(b""), 0);
        // Across scanning stretches: every all-zero stretch is reported, once.
        let mut bytes = vec![0u8; RELEASE_STEP * 2 + 10];
        bytes[RELEASE_STEP - 1] = 7;
        let mut seen = Vec::new();
        assert_eq!(
            readable_len_with(&bytes, &mut |r| seen.push(r)),
            RELEASE_STEP
        );
        assert_eq!(
            seen,
            [
                RELEASE_STEP * 2..RELEASE_STEP * 2 + 10,
                RELEASE_STEP..RELEASE_STEP * 2
            ]
        );
    }
}
