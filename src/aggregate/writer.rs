//! The bytes of an aggregated capture, as memray 1.20's `AggregatingRecordWriter` lays them
//! out in `writeTrailer` (header version 13), inside an LZ4 frame as `memray run` compresses
//! its captures.
//!
//! memray writes fixed-size fields as the raw little-endian bytes of its C++ structs
//! (`writeSimpleType`), integers of variable size as LEB128 varints (zig-zag for signed
//! ones), strings NUL-terminated. Every record starts with its `AggregatedRecordType` byte.
//! The order of the sections is memray's: header, memory snapshots, thread names, memory
//! maps, code objects, native frames, Python frames, Python stacks, aggregated allocations,
//! trailer.
//!
//! The LZ4 frame is the one memray's `lz4_stream` writes with liblz4's default preferences:
//! 64 KiB blocks, linked, no checksums (memray reads any valid frame).

use std::io::{self, Write};

use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};

use crate::aggregate::{AggregatedCapture, MemorySnapshot};
// memray's `AggregatedRecordType` and the `RecordType` values it shares with full
// captures: the decoder's.
use crate::capture::decoder::record_type as token;
use crate::capture::header::{FileFormat, Header, MAGIC};
use crate::capture::{AggregatedAllocation, ImageSegments};
use crate::stacks::{CodeObject, Frame};

/// The header version this writer writes (memray 1.20's `CURRENT_HEADER_VERSION`).
pub const HEADER_VERSION: i32 = 13;

/// Writes memray's primitive encodings into `out`.
pub struct RecordSink<W: Write> {
    out: W,
}

impl<W: Write> RecordSink<W> {
    pub fn new(out: W) -> Self {
        RecordSink { out }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    pub fn bytes(&mut self, b: &[u8]) -> io::Result<()> {
        self.out.write_all(b)
    }

    pub fn u8(&mut self, v: u8) -> io::Result<()> {
        self.bytes(&[v])
    }

    pub fn u32(&mut self, v: u32) -> io::Result<()> {
        self.bytes(&v.to_le_bytes())
    }

    pub fn u64(&mut self, v: u64) -> io::Result<()> {
        self.bytes(&v.to_le_bytes())
    }

    /// memray's `writeVarint`: seven bits at a time, low first.
    pub fn varint(&mut self, mut v: u64) -> io::Result<()> {
        let mut buf = [0u8; 10];
        let mut n = 0;
        loop {
            let low = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                buf[n] = low;
                n += 1;
                break;
            }
            buf[n] = low | 0x80;
            n += 1;
        }
        self.bytes(&buf[..n])
    }

    /// memray's `writeSignedVarint`: zig-zag, then a varint.
    pub fn signed_varint(&mut self, v: i64) -> io::Result<()> {
        self.varint(((v as u64) << 1) ^ ((v >> 63) as u64))
    }

    /// A NUL-terminated string. memray's strings come from C strings, so they hold no NUL;
    /// one that does (it cannot come from a capture) is cut there, as C would read it.
    pub fn cstr(&mut self, s: &str) -> io::Result<()> {
        let b = s.as_bytes();
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        self.bytes(&b[..end])?;
        self.u8(0)
    }
}

/// memray's `writeHeaderCommon` for `header`, as version [`HEADER_VERSION`] of an
/// aggregated capture whatever `header` says.
pub fn write_header<W: Write>(s: &mut RecordSink<W>, header: &Header) -> io::Result<()> {
    s.bytes(MAGIC)?;
    s.u32(HEADER_VERSION as u32)?;
    s.u32(header.python_version)?;
    s.u8(u8::from(header.native_traces))?;
    s.u8(match header.file_format {
        FileFormat::AllAllocations => 0,
        FileFormat::AggregatedAllocations => 1,
    })?;
    s.u64(header.stats.n_allocations)?;
    s.u64(header.stats.n_frames)?;
    s.u64(header.stats.start_time_ms as u64)?;
    s.u64(header.stats.end_time_ms as u64)?;
    s.cstr(&header.command_line)?;
    s.u32(header.pid as u32)?;
    s.u64(header.main_tid)?;
    s.u64(header.skipped_frames_on_main_tid)?;
    s.u8(header.python_allocator)?;
    s.u8(u8::from(header.trace_python_allocators))?;
    s.u8(u8::from(header.track_object_lifetimes))?;
    s.cstr(&header.libdest)?;
    for list in [&header.site_packages, &header.sys_path] {
        // An empty string ends a list; memray's lists hold absolute paths, never empty.
        for path in list.iter().filter(|p| !p.is_empty()) {
            s.cstr(path)?;
        }
        s.cstr("")?;
    }
    Ok(())
}

fn memory_snapshot<W: Write>(s: &mut RecordSink<W>, m: &MemorySnapshot) -> io::Result<()> {
    s.u8(token::MEMORY_SNAPSHOT)?;
    s.u64(m.time_ms as u64)?;
    s.u64(m.rss)?;
    s.u64(m.heap)
}

fn thread_name<W: Write>(s: &mut RecordSink<W>, tid: u64, name: &str) -> io::Result<()> {
    s.u8(token::CONTEXT_SWITCH)?;
    s.u64(tid)?;
    s.u8(token::THREAD_RECORD)?;
    s.cstr(name)
}

/// memray's `writeMappingsCommon`: one generation of memory maps.
fn mappings<W: Write>(s: &mut RecordSink<W>, images: &[ImageSegments]) -> io::Result<()> {
    s.u8(token::MEMORY_MAP_START)?;
    for image in images {
        s.u8(token::SEGMENT_HEADER)?;
        s.cstr(&image.filename)?;
        s.varint(image.segments.len() as u64)?;
        s.u64(image.addr)?;
        for &(vaddr, memsz) in &image.segments {
            s.u8(token::SEGMENT)?;
            s.u64(vaddr)?;
            s.varint(memsz)?;
        }
    }
    Ok(())
}

fn code_object<W: Write>(
    s: &mut RecordSink<W>,
    id: u64,
    code: &CodeObject,
    last_firstlineno: &mut i32,
) -> io::Result<()> {
    s.u8(token::CODE_OBJECT)?;
    s.varint(id)?;
    s.cstr(&code.function_name)?;
    s.cstr(&code.filename)?;
    // memray's `writeIntegralDelta` on an `int`: the difference of two ints, as an int64.
    s.signed_varint(i64::from(code.firstlineno) - i64::from(*last_firstlineno))?;
    *last_firstlineno = code.firstlineno;
    s.varint(code.linetable.len() as u64)?;
    s.bytes(&code.linetable)
}

fn python_frame<W: Write>(s: &mut RecordSink<W>, id: u64, frame: &Frame) -> io::Result<()> {
    s.u8(token::PYTHON_FRAME_INDEX)?;
    s.varint(id)?;
    s.varint(frame.code_object_id)?;
    s.signed_varint(i64::from(frame.instruction_offset))?;
    s.u8(u8::from(frame.is_entry_frame))
}

/// An `AggregatedAllocation` as its raw x86-64 struct: the allocator byte is followed by
/// seven bytes of padding (zero here).
fn aggregated_allocation<W: Write>(
    s: &mut RecordSink<W>,
    a: &AggregatedAllocation,
) -> io::Result<()> {
    let mut b = [0u8; 73];
    b[0] = token::AGGREGATED_ALLOCATION;
    b[1..9].copy_from_slice(&a.tid.to_le_bytes());
    b[9] = a.allocator.id();
    let words = [
        a.native_frame_id,
        a.frame_index,
        a.native_segment_generation,
        a.n_allocations_in_high_water_mark,
        a.n_allocations_leaked,
        a.bytes_in_high_water_mark,
        a.bytes_leaked,
    ];
    for (i, w) in words.iter().enumerate() {
        let at = 17 + i * 8;
        b[at..at + 8].copy_from_slice(&w.to_le_bytes());
    }
    s.bytes(&b)
}

/// Writes the records of `capture` (header first, trailer last) into `s`, uncompressed.
pub fn write_records<W: Write>(
    s: &mut RecordSink<W>,
    capture: &AggregatedCapture,
) -> io::Result<()> {
    write_header(s, &capture.header)?;
    for m in &capture.snapshots {
        memory_snapshot(s, m)?;
    }
    for (tid, name) in &capture.thread_names {
        thread_name(s, *tid, name)?;
    }
    for generation in &capture.mappings {
        mappings(s, generation)?;
    }
    let mut last_firstlineno = 0;
    for (id, code) in &capture.stacks.code_objects {
        code_object(s, *id, code, &mut last_firstlineno)?;
    }
    let (mut last_ip, mut last_index) = (0u64, 0u64);
    for &(ip, index) in &capture.native_frames {
        s.u8(token::NATIVE_TRACE_INDEX)?;
        s.signed_varint(ip.wrapping_sub(last_ip) as i64)?;
        s.signed_varint(index.wrapping_sub(last_index) as i64)?;
        (last_ip, last_index) = (ip, index);
    }
    for (id, frame) in capture.stacks.frames.iter().enumerate() {
        python_frame(s, id as u64, frame)?;
    }
    for &(frame_id, parent) in &capture.stacks.nodes {
        s.u8(token::PYTHON_TRACE_INDEX)?;
        s.varint(frame_id)?;
        s.varint(parent)?;
    }
    for a in &capture.records {
        aggregated_allocation(s, a)?;
    }
    s.u8(token::AGGREGATED_TRAILER)
}

/// Writes `capture` into `out` as an LZ4-compressed aggregated capture.
pub fn write_compressed<W: Write>(out: W, capture: &AggregatedCapture) -> io::Result<W> {
    let info = FrameInfo::new()
        .block_size(BlockSize::Max64KB)
        .block_mode(BlockMode::Linked);
    let mut s = RecordSink::new(FrameEncoder::with_frame_info(info, out));
    write_records(&mut s, capture)?;
    s.into_inner().finish().map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::cursor::Cursor;
    use crate::capture::header::TrackerStats;

    fn encoded(f: impl FnOnce(&mut RecordSink<&mut Vec<u8>>) -> io::Result<()>) -> Vec<u8> {
        let mut out = Vec::new();
        f(&mut RecordSink::new(&mut out)).unwrap();
        out
    }

    #[test]
    fn varints_are_memrays() {
        assert_eq!(encoded(|s| s.varint(0)), [0]);
        assert_eq!(encoded(|s| s.varint(127)), [127]);
        assert_eq!(encoded(|s| s.varint(128)), [0x80, 1]);
        assert_eq!(encoded(|s| s.varint(u64::MAX)).len(), 10);
        assert_eq!(encoded(|s| s.signed_varint(-1)), [1]);
        assert_eq!(encoded(|s| s.signed_varint(1)), [2]);
        assert_eq!(encoded(|s| s.signed_varint(-64)), [127]);
        assert_eq!(encoded(|s| s.signed_varint(i64::MIN)).len(), 10);
        let mut c = Cursor::new(&[0xff, 0xff, 0x03]);
        let b = encoded(|s| s.varint(0xffff));
        assert_eq!(b, [0xff, 0xff, 0x03]);
        assert_eq!(c.varint().unwrap(), 0xffff);
        for v in [0i64, 1, -1, 300, -300, i64::MAX, i64::MIN] {
            let b = encoded(|s| s.signed_varint(v));
            assert_eq!(Cursor::new(&b).signed_varint().unwrap(), v);
        }
    }

    #[test]
    fn headers_round_trip_through_the_parser() {
        let header = Header {
            version: 13,
            python_version: 0x030b07f0,
            native_traces: true,
            file_format: FileFormat::AggregatedAllocations,
            stats: TrackerStats {
                n_allocations: 42,
                n_frames: 7,
                start_time_ms: 1_700_000_000_000,
                end_time_ms: 1_700_000_000_123,
            },
            command_line: "python -m memray run x.py".into(),
            pid: 1234,
            main_tid: 0x7f00_0000_1234,
            skipped_frames_on_main_tid: 3,
            python_allocator: 1,
            trace_python_allocators: true,
            track_object_lifetimes: false,
            libdest: "/usr/lib/python3.11".into(),
            site_packages: vec!["/a/site-packages".into(), "/b".into()],
            sys_path: vec![],
        };
        let bytes = encoded(|s| write_header(s, &header));
        let mut c = Cursor::new(&bytes);
        assert_eq!(Header::parse(&mut c).unwrap(), header);
        assert!(c.is_empty());
        // An older header is written as version 13, with the fields it lacked empty.
        let old = Header {
            version: 10,
            python_version: 0,
            libdest: String::new(),
            site_packages: vec![],
            ..header.clone()
        };
        let bytes = encoded(|s| write_header(s, &old));
        let parsed = Header::parse(&mut Cursor::new(&bytes)).unwrap();
        assert_eq!(parsed, Header { version: 13, ..old });
    }
}
