//! Could a capture be decoded in chunks? `chunk_sync CAPTURE [STARTS]` measures what a decoder
//! begun at an arbitrary byte of the record stream (header 12 or 13, all allocations) would
//! have to guess, and for how long (issue 21, "the decoder's floor, looked at again").
//!
//! The record stream is read into memory and its true record boundaries found by parsing it
//! from the start. Then, from STARTS byte offsets spread evenly over it (default 2,000):
//!
//! - **boundaries**: a record parser begun at the offset (skipping a byte whenever what it
//!   reads cannot be a record) until it stands on a true boundary; from there it stays in
//!   step, since record lengths depend on nothing but the bytes and the header.
//! - **thread**: records from that boundary to the first CONTEXT_SWITCH, before which a chunk
//!   does not know whose stack its pushes, pops and allocations belong to;
//! - **address cache**: records until all 15 recently used addresses a chunk cannot know have
//!   been replaced (ALLOCATION and OBJECT_RECORD refer to them by slot), and the share of
//!   allocation records before that which use an unknown slot;
//! - **stack**: how many frames below its start a chunk of 1 M records pops (the frames of the
//!   unknown stack its allocations may sit on).
//!
//! Prints the medians, the 99th percentiles and the maxima.
use std::path::PathBuf;

use std::collections::HashMap;

use memform::capture::{read_header, Allocator, AllocatorKind, CaptureFile};

const ALLOCATION: u8 = 128;
const FRAME_PUSH: u8 = 64;
const OBJECT_RECORD: u8 = 32;
const FRAME_POP: u8 = 16;
const CONTEXT_SWITCH: u8 = 12;

/// The length of the varint at `at`, if it ends within 10 bytes and the buffer.
fn varint_len(b: &[u8], at: usize) -> Option<usize> {
    (0..10)
        .find(|&i| b.get(at + i).is_some_and(|&x| x < 0x80))
        .map(|i| i + 1)
}

fn cstr_len(b: &[u8], at: usize) -> Option<usize> {
    b.get(at..)?.iter().position(|&x| x == 0).map(|n| n + 1)
}

/// The length of the record at `at`, or `None` when its bytes cannot be a record.
fn record_len(b: &[u8], at: usize, native: bool) -> Option<usize> {
    let token = *b.get(at)?;
    let mut p = at + 1;
    let varint = |p: &mut usize| -> Option<()> {
        *p += varint_len(b, *p)?;
        Some(())
    };
    if token & ALLOCATION != 0 {
        let flags = token & (ALLOCATION - 1);
        if (flags >> 3) & 0x0f == 0x0f {
            varint(&mut p)?;
        }
        let id = match flags & 7 {
            0 => {
                p += 1;
                *b.get(p - 1)?
            }
            id => id,
        };
        // The simple deallocators (free, munmap, pymalloc free) carry no size and no native
        // trace.
        let frees = Allocator::from_id(id)?.kind() == AllocatorKind::SimpleDeallocator;
        if !frees {
            if native {
                varint(&mut p)?;
            }
            varint(&mut p)?;
        }
    } else if token & FRAME_PUSH != 0 {
        varint(&mut p)?;
        varint(&mut p)?;
    } else if token & OBJECT_RECORD != 0 {
        let flags = token & (OBJECT_RECORD - 1);
        if (flags >> 1) & 0x0f == 0x0f {
            varint(&mut p)?;
        }
        if native && flags & 1 != 0 {
            varint(&mut p)?;
        }
    } else if token & FRAME_POP != 0 {
    } else {
        match token {
            2 => {
                varint(&mut p)?;
                varint(&mut p)?;
            }
            CONTEXT_SWITCH => p += 8,
            14 => {
                varint(&mut p)?;
                p += cstr_len(b, p)?;
                p += cstr_len(b, p)?;
                varint(&mut p)?;
                let n = varint_len(b, p)?;
                let mut len = 0usize;
                for (i, &x) in b[p..p + n].iter().enumerate() {
                    len |= usize::from(x & 0x7f) << (7 * i);
                }
                p += n + len;
            }
            5 => {
                varint(&mut p)?;
                varint(&mut p)?;
            }
            6 => {}
            7 => {
                p += cstr_len(b, p)?;
                let n = varint_len(b, p)?;
                let mut count = 0usize;
                for (i, &x) in b[p..p + n].iter().enumerate() {
                    count |= usize::from(x & 0x7f) << (7 * i);
                }
                p += n + 8;
                for _ in 0..count {
                    if *b.get(p)? != 8 {
                        return None;
                    }
                    p += 9;
                    varint(&mut p)?;
                }
            }
            10 => p += cstr_len(b, p)?,
            _ => return None,
        }
    }
    (p <= b.len()).then_some(p - at)
}

fn percentiles(mut v: Vec<u64>) -> String {
    v.sort_unstable();
    let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
    format!("median {}, p99 {}, max {}", at(0.5), at(0.99), at(1.0))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().expect("usage: chunk_sync CAPTURE [STARTS]"));
    let starts: usize = args.next().map_or(2000, |s| s.parse().expect("STARTS"));
    let capture = CaptureFile::open(&path).expect("open");
    let mut stream = capture.stream();
    let header = read_header(&mut stream).expect("header");
    let native = header.native_traces;
    let mut bytes = Vec::new();
    loop {
        let w = stream.window();
        bytes.extend_from_slice(w);
        let n = w.len();
        stream.consume(n);
        if !stream.refill().expect("stream") {
            break;
        }
    }

    // The true boundaries, one bit per byte.
    let mut boundary = vec![0u64; bytes.len() / 64 + 1];
    let mut pos = 0;
    let mut records = 0u64;
    while pos < bytes.len() && bytes[pos] > 1 {
        boundary[pos / 64] |= 1 << (pos % 64);
        let Some(n) = record_len(&bytes, pos, native) else {
            panic!("not a record at {pos}");
        };
        pos += n;
        records += 1;
    }
    if pos < bytes.len() {
        let rest = &bytes[pos..];
        println!(
            "stopped on token {} at {pos}: {} bytes after it, {} of them zero",
            bytes[pos],
            rest.len(),
            rest.iter().filter(|&&x| x == 0).count()
        );
    }
    let is_boundary = |p: usize| boundary[p / 64] >> (p % 64) & 1 != 0;
    println!(
        "{}: {} bytes of records, {records} records parsed up to {pos}; {starts} starts",
        path.display(),
        bytes.len()
    );

    let (mut to_sync_records, mut to_sync_bytes) = (Vec::new(), Vec::new());
    let (mut to_thread, mut to_cache, mut unknown_slot_share, mut pops_below) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut never_in_step = 0;
    for k in 0..starts {
        let start = (pos as u128 * (2 * k as u128 + 1) / (2 * starts as u128)) as usize;
        // Boundaries.
        let (mut p, mut n) = (start, 0u64);
        while p < pos && !is_boundary(p) {
            p += record_len(&bytes, p, native).unwrap_or(1);
            n += 1;
        }
        if p >= pos {
            never_in_step += 1;
            continue;
        }
        to_sync_records.push(n);
        to_sync_bytes.push((p - start) as u64);
        // State, from the first true boundary on.
        let (mut thread, mut cache) = (None, None);
        let mut replaced = [false; 15];
        let (mut allocations, mut unknown_slot) = (0u64, 0u64);
        // Per thread (the start's own under u64::MAX): depth relative to the start, lowest.
        let mut depths: HashMap<u64, (i64, i64)> = HashMap::new();
        let mut current = u64::MAX;
        let mut head = 0usize;
        for i in 0..1_000_000u64 {
            if p >= pos {
                break;
            }
            let token = bytes[p];
            let len = record_len(&bytes, p, native).expect("in step");
            let cached_slot = if token & ALLOCATION != 0 {
                allocations += 1;
                Some((token & (ALLOCATION - 1)) >> 3 & 0x0f)
            } else if token & FRAME_PUSH != 0 {
                depths.entry(current).or_default().0 += 1;
                None
            } else if token & OBJECT_RECORD != 0 {
                Some((token & (OBJECT_RECORD - 1)) >> 1 & 0x0f)
            } else if token & FRAME_POP != 0 {
                let d = depths.entry(current).or_default();
                d.0 -= i64::from(token & (FRAME_POP - 1)) + 1;
                d.1 = d.1.min(d.0);
                None
            } else {
                if token == CONTEXT_SWITCH && thread.is_none() {
                    thread = Some(i);
                }
                None
            };
            if token == CONTEXT_SWITCH {
                let mut tid = [0u8; 8];
                tid.copy_from_slice(&bytes[p + 1..p + 9]);
                current = u64::from_le_bytes(tid);
            }
            if let Some(slot) = cached_slot {
                if slot == 0x0f {
                    head = if head == 0 { 14 } else { head - 1 };
                    replaced[head] = true;
                    if cache.is_none() && replaced.iter().all(|&r| r) {
                        cache = Some(i);
                    }
                } else if cache.is_none() && !replaced[(head + usize::from(slot)) % 15] {
                    unknown_slot += 1;
                }
            }
            p += len;
        }
        to_thread.push(thread.unwrap_or(u64::MAX));
        to_cache.push(cache.unwrap_or(u64::MAX));
        unknown_slot_share.push(unknown_slot * 1_000_000 / allocations.max(1));
        pops_below.push(depths.values().map(|d| (-d.1) as u64).sum());
    }
    println!("never in step: {never_in_step}");
    println!(
        "records until in step:        {}",
        percentiles(to_sync_records)
    );
    println!(
        "bytes until in step:          {}",
        percentiles(to_sync_bytes)
    );
    println!("records until a CONTEXT_SWITCH: {}", percentiles(to_thread));
    println!(
        "records until the address cache is known: {}",
        percentiles(to_cache)
    );
    println!(
        "allocations in the first 1 M records using an unknown cache slot (ppm): {}",
        percentiles(unknown_slot_share)
    );
    println!(
        "frames of unknown stacks popped within 1 M records (all threads): {}",
        percentiles(pops_below)
    );
}
