//! Reading memray captures: the file and its framing, the header, and the record decoder.

pub mod allocator;
pub mod cursor;
pub mod decoder;
pub mod events;
pub mod header;
pub mod source;

pub use allocator::{Allocator, AllocatorKind};
pub use decoder::{AggregatedAllocation, Decoder, ImageSegments, StreamEnd};
pub use events::{AllocationEvent, EventBatch, MemorySample};
pub use header::{FileFormat, Header};
pub use source::{check_capture, end_warning, ByteStream, CaptureFile};

use crate::error::{Offset, ReadError};
use cursor::Cursor;
use header::HeaderError;

/// A stream over `capture`'s records and its header: the stream stands on the first record.
/// Errors name the file.
pub fn open_records(
    capture: &CaptureFile,
) -> Result<(ByteStream<'_>, Header), crate::error::CaptureError> {
    let mut stream = capture.stream();
    let header = read_header(&mut stream).map_err(|e| e.in_file(capture.path()))?;
    Ok((stream, header))
}

/// Reads the header at the start of `stream`, refilling the window as needed. On success
/// the stream stands on the first record.
pub fn read_header(stream: &mut ByteStream<'_>) -> Result<Header, ReadError> {
    loop {
        let window = stream.window();
        let mut c = Cursor::new(window);
        match Header::parse(&mut c) {
            Ok(header) => {
                let used = c.position();
                stream.consume(used);
                return Ok(header);
            }
            Err(HeaderError::Truncated { offset, what }) => {
                let at = stream.offset_at(offset);
                if !stream.refill()? {
                    return Err(ReadError::TruncatedHeader { offset: at, what });
                }
            }
            Err(HeaderError::BadMagic) => return Err(ReadError::NotACapture),
            Err(HeaderError::UnsupportedVersion(found)) => {
                return Err(ReadError::UnsupportedVersion {
                    found,
                    supported: header::SUPPORTED_VERSIONS,
                    memray: header::SUPPORTED_MEMRAY,
                })
            }
            Err(HeaderError::Malformed { offset, what }) => {
                return Err(ReadError::Malformed {
                    offset: Offset {
                        byte: offset as u64,
                        decompressed: stream.is_compressed(),
                    },
                    what: what.to_string(),
                })
            }
        }
    }
}
