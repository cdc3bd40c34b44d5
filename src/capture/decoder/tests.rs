//! Unit tests of the record decoder: every header version's records, what is rejected.

use super::*;
use crate::capture::events::AllocationEvent;
use crate::capture::header::TrackerStats;

pub(super) fn header(version: i32, file_format: FileFormat) -> Header {
    Header {
        version,
        python_version: if version >= 12 { 0x030b07f0 } else { 0 },
        native_traces: false,
        file_format,
        stats: TrackerStats::default(),
        command_line: String::new(),
        pid: 1,
        main_tid: 1,
        skipped_frames_on_main_tid: 0,
        python_allocator: 1,
        trace_python_allocators: false,
        track_object_lifetimes: false,
        libdest: String::new(),
        site_packages: Vec::new(),
        sys_path: Vec::new(),
    }
}

/// Steps through `bytes` with the step function `run` would choose.
fn decode(d: &mut Decoder, bytes: &[u8]) -> Result<StreamEnd, &'static str> {
    let mut c = Cursor::new(bytes);
    loop {
        if c.is_empty() {
            return Ok(StreamEnd::Truncated {
                offset: bytes.len() as u64,
                mid_record: false,
            });
        }
        let step = match (d.format, d.record_format) {
            (FileFormat::AllAllocations, RecordFormat::CodeObject) => d.step_all(&mut c),
            (FileFormat::AllAllocations, RecordFormat::FrameIndex) => d.step_all_v10(&mut c),
            (FileFormat::AggregatedAllocations, RecordFormat::CodeObject) => {
                d.step_aggregated::<false>(&mut c)
            }
            (FileFormat::AggregatedAllocations, RecordFormat::FrameIndex) => {
                d.step_aggregated::<true>(&mut c)
            }
        };
        match step {
            Ok(Step::Record) => {}
            Ok(Step::End(e)) => return Ok(e),
            Err(StepError::Short(Short::Incomplete)) => return Err("incomplete"),
            Err(StepError::Short(Short::Malformed(what))) => return Err(what),
        }
    }
}

fn events(d: &mut Decoder) -> Vec<AllocationEvent> {
    d.builder.finish().iter().collect()
}

fn zigzag(v: i64) -> u8 {
    let z = ((v << 1) ^ (v >> 63)) as u64;
    assert!(z < 0x80, "one-byte varints only");
    z as u8
}

fn frame_index(out: &mut Vec<u8>, id_delta: i64, function: &str, line_delta: i64) {
    out.push(0x03);
    out.push(zigzag(id_delta));
    out.extend(function.as_bytes());
    out.push(0);
    out.extend(b"a.py\0");
    out.push(zigzag(line_delta));
}

/// A header-10 stream: frames by FRAME_INDEX, pushes by frame id delta, old allocator ids
/// in the high nibble, plain address deltas, and the 0x10 trailer.
fn v10_stream() -> Vec<u8> {
    let mut b = Vec::new();
    frame_index(&mut b, 1, "outer", 10); // frame 1: outer, line 10
    b.extend([0x0c]);
    b.extend(7u64.to_le_bytes()); // CONTEXT_SWITCH to thread 7
    b.extend([0x04, zigzag(0)]); // FRAME_PUSH frame 1
    frame_index(&mut b, 1, "inner", 5); // frame 2: inner, line 15
    b.extend([0x04, zigzag(0)]); // FRAME_PUSH frame 2
    b.extend([0x11, zigzag(40), 16]); // MALLOC (old id 1) at 40, 16 bytes
    b.extend([0xf1, zigzag(0)]); // PYMALLOC_FREE (old id 15) at 40, no size
    b.extend([0x09]); // FRAME_POP 1
                      // frame 3: same contents as frame 1 under another id
    frame_index(&mut b, 1, "outer", -5);
    b.extend([0x04, zigzag(0)]); // FRAME_PUSH frame 3 (onto frame 1)
    b.extend([0xc1, zigzag(-8), 3]); // PYMALLOC_MALLOC (old id 12) at 32, 3 bytes
    b.extend([0x0a]);
    b.extend(b"worker\0"); // THREAD_RECORD
    b.extend([0x0b, 1, 2]); // MEMORY_RECORD
    b.push(0x10); // TRAILER
    b
}

#[test]
fn v10_records_decode_with_indexed_frames_and_old_allocator_ids() {
    let mut d = Decoder::new(&header(10, FileFormat::AllAllocations));
    assert_eq!(decode(&mut d, &v10_stream()), Ok(StreamEnd::Trailer));
    let ev = events(&mut d);
    assert_eq!(ev.len(), 3);
    assert_eq!(
        (ev[0].tid, ev[0].address, ev[0].size, ev[0].allocator),
        (7, 40, 16, Allocator::Malloc)
    );
    assert_eq!(
        (ev[1].address, ev[1].size, ev[1].allocator, ev[1].stack_id),
        (40, 0, Allocator::PymallocFree, 0)
    );
    assert_eq!(
        (ev[2].address, ev[2].size, ev[2].allocator),
        (32, 3, Allocator::PymallocMalloc)
    );
    let names = |d: &mut Decoder, id| {
        d.stacks
            .stack(id, 0)
            .iter()
            .map(|l| format!("{}:{}", l.function, l.line))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&mut d, ev[0].stack_id), ["inner:15", "outer:10"]);
    assert_eq!(names(&mut d, ev[2].stack_id), ["outer:10", "outer:10"]);
    // Frames 1 and 3 look alike but stay distinct frame ids.
    assert_eq!(d.stacks.tree.frame_ids(ev[2].stack_id), [3, 1]);
    assert_eq!(d.thread_names(u64::MAX).get(&7).unwrap(), "worker");
    assert_eq!(d.memory_records, 1);
}

#[test]
fn v11_uses_the_same_records_and_v12_does_not() {
    let mut d = Decoder::new(&header(11, FileFormat::AllAllocations));
    assert_eq!(decode(&mut d, &v10_stream()), Ok(StreamEnd::Trailer));
    assert_eq!(events(&mut d).len(), 3);
    let mut d = Decoder::new(&header(12, FileFormat::AllAllocations));
    assert!(decode(&mut d, &v10_stream()).is_err());
}

#[test]
fn v10_without_a_context_switch_uses_thread_0() {
    let mut b = Vec::new();
    frame_index(&mut b, 1, "f", 1);
    b.extend([0x04, zigzag(0), 0x31, zigzag(32), 8, 0x10]); // CALLOC (old 3)
    let mut d = Decoder::new(&header(10, FileFormat::AllAllocations));
    assert_eq!(decode(&mut d, &b), Ok(StreamEnd::Trailer));
    let ev = events(&mut d);
    assert_eq!((ev[0].tid, ev[0].allocator), (0, Allocator::Calloc));
    assert_ne!(ev[0].stack_id, 0);
}

#[test]
fn v10_rejects_what_memray_rejects() {
    let reject = |bytes: &[u8]| {
        let mut d = Decoder::new(&header(10, FileFormat::AllAllocations));
        decode(&mut d, bytes)
    };
    // A frame id twice.
    let mut b = Vec::new();
    frame_index(&mut b, 1, "f", 1);
    frame_index(&mut b, 0, "g", 1);
    assert!(reject(&b).unwrap_err().contains("distinct frame ids"));
    // Allocator id 0, an OTHER record other than the trailer, record types 8 and 13-15,
    // a pop of more frames than pushed.
    for bad in [
        &[0x01u8, 0, 0][..],
        &[0x20],
        &[0x08],
        &[0x0d],
        &[0x0f],
        &[0x19],
    ] {
        assert!(reject(bad).is_err(), "{bad:?}");
    }
    // The zero byte of a killed process's padding ends the stream.
    assert_eq!(reject(&[0x00]), Ok(StreamEnd::Padding { offset: 0 }));
    // Cut records can be retried.
    assert_eq!(reject(&[0x11, 0x80]), Err("incomplete"));
}

fn aggregated_allocation(b: &mut Vec<u8>, allocator: u8, frame_index: u64, n: u64) {
    b.push(2);
    let mut rec = [0u8; AGGREGATED_ALLOCATION_BYTES];
    rec[0..8].copy_from_slice(&1u64.to_le_bytes());
    rec[8] = allocator;
    rec[24..32].copy_from_slice(&frame_index.to_le_bytes());
    rec[40..48].copy_from_slice(&n.to_le_bytes());
    rec[56..64].copy_from_slice(&(n * 100).to_le_bytes());
    b.extend(rec);
}

#[test]
fn v10_aggregated_records_are_fixed_width_with_locations() {
    let mut b = Vec::new();
    // PYTHON_FRAME_INDEX 9 and 4 (hash-map order), raw fields.
    for (id, name, line) in [(9u64, "leaf", 7i32), (4, "root", 3)] {
        b.push(4);
        b.extend(id.to_le_bytes());
        b.extend(name.as_bytes());
        b.extend(b"\0m.py\0");
        b.extend(line.to_le_bytes());
        b.push(1);
    }
    // PYTHON_TRACE_INDEX: node 1 = (root 0, frame 4), node 2 = (node 1, frame 9).
    for (frame, parent) in [(4u64, 0u32), (9, 1)] {
        b.push(3);
        b.extend(frame.to_le_bytes());
        b.extend(parent.to_le_bytes());
    }
    aggregated_allocation(&mut b, 12, 2, 3); // PYMALLOC_MALLOC in the old numbering
    b.push(15);
    let mut d = Decoder::new(&header(11, FileFormat::AggregatedAllocations));
    assert_eq!(decode(&mut d, &b), Ok(StreamEnd::Trailer));
    assert_eq!(d.aggregated.len(), 1);
    assert_eq!(d.aggregated[0].allocator, Allocator::PymallocMalloc);
    assert_eq!(d.aggregated[0].n_allocations_in_high_water_mark, 3);
    let stack: Vec<_> = d
        .stacks
        .stack(d.aggregated[0].frame_index, 0)
        .iter()
        .map(|l| format!("{};{};{}", l.function, l.file, l.line))
        .collect();
    assert_eq!(stack, ["leaf;m.py;7", "root;m.py;3"]);
    // The same allocator byte in a header-12 capture is another allocator.
    let mut b = Vec::new();
    aggregated_allocation(&mut b, 12, 0, 1);
    b.push(15);
    let mut d = Decoder::new(&header(12, FileFormat::AggregatedAllocations));
    assert_eq!(decode(&mut d, &b), Ok(StreamEnd::Trailer));
    assert_eq!(d.aggregated[0].allocator, Allocator::Valloc);
    // CODE_OBJECT and SURVIVING_OBJECT do not exist before header 12.
    for token in [13u8, 14] {
        let mut d = Decoder::new(&header(10, FileFormat::AggregatedAllocations));
        assert!(decode(&mut d, &[token, 0, 0]).is_err());
    }
}
