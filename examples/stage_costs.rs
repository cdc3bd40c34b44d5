//! The cost of each stage of a report on one capture, each on one core, beside the bound
//! it is measured against (docs/performance.md): `stage_costs CAPTURE [RUNS]`.
//!
//! - `read`: the record bytes produced by the capture source alone (LZ4 decompression for
//!   compressed captures, the mapped pages for others): the bound of the decoder's input.
//! - `scan`: every byte of the record stream read as part of a varint and the values
//!   summed, without branches: about the least any decoder of this byte-serial format has to
//!   do with each byte.
//! - `scan-mask`: the same sum, the varints found 64 bytes at a time (the continuation bits of
//!   a block as one mask, its zero bits walked; x86-64 with AVX2 and BMI2, skipped elsewhere).
//! - `decode`: the record decoder into event batches, stacks interned.
//! - `table`: the live table alone, one insert or remove per simple allocation event as the
//!   peak and leaks analyses make (no sites, no peak): the bound of those two analyses.
//! - `peak`, `leaks`, `temporary`: each analysis on the decoded batches (only the time inside
//!   the analysis is counted), per allocation event.
//! - `stats`: the statistics' counting (`memform stats`' second thread) on the decoded
//!   batches, timed as the analyses are.
//! - `heap-size`: the statistics' table of live addresses alone (its peak): the floor of
//!   `stats`.
//!
//! Every stage runs RUNS times (default 3); the median is printed. `STAGES=decode,peak` (a
//! comma list) runs only those stages, e.g. under `perf record`.
use std::path::PathBuf;
use std::time::{Duration, Instant};

use memform::analysis::heap::HeapTracker;
use memform::analysis::live_table::{Live, LiveTable};
use memform::analysis::temporary::TemporaryAllocations;
use memform::capture::{read_header, Allocator, AllocatorKind, CaptureFile, Decoder, EventBatch};
use memform::stats::compute::StatsPass;
use memform::stats::heap_size::HeapSize;

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

/// Walks the record stream window by window, handing each window to `f`.
fn each_window(capture: &CaptureFile, mut f: impl FnMut(&[u8])) -> u64 {
    let mut stream = capture.stream();
    read_header(&mut stream).expect("header");
    let mut bytes = 0u64;
    loop {
        let window = stream.window();
        f(window);
        bytes += window.len() as u64;
        let n = window.len();
        stream.consume(n);
        if !stream.refill().expect("stream") {
            return bytes;
        }
    }
}

/// Decodes the whole capture; returns the time it took and the allocation events.
fn decode_all(capture: &CaptureFile) -> (Duration, u64) {
    let mut stream = capture.stream();
    let header = read_header(&mut stream).expect("header");
    let t = Instant::now();
    let mut decoder = Decoder::new(&header);
    decoder
        .run(&mut stream, &mut |_| {}, &mut |_| true)
        .expect("decodes");
    (t.elapsed(), decoder.allocations)
}

/// Decodes the capture, timing `consume` on every batch (and only that).
fn analysis(capture: &CaptureFile, mut consume: impl FnMut(&EventBatch)) -> Duration {
    let mut stream = capture.stream();
    let header = read_header(&mut stream).expect("header");
    let mut decoder = Decoder::new(&header);
    let mut spent = Duration::ZERO;
    decoder
        .run(
            &mut stream,
            &mut |batch| {
                let t = Instant::now();
                consume(&batch);
                spent += t.elapsed();
            },
            &mut |_| true,
        )
        .expect("decodes");
    spent
}

/// The sum of the varints of `w` but its last 64-byte block and what follows it (about 1 in
/// 16,000 bytes of a 1 MiB window), found as the `scan` stage finds them but 64 bytes at a
/// time: the bytes' high bits (continuation bits) become one mask with SIMD, its zero bits
/// are the varints' last bytes, and each varint's value is gathered from its bytes with one
/// `pext`. The floor of a decoder that finds structure in blocks (simdjson, Masked VByte)
/// instead of testing each byte. `None` where the CPU lacks AVX2 or BMI2.
fn mask_scan(w: &[u8]) -> Option<u64> {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("bmi2") && is_x86_feature_detected!("avx2") {
        // SAFETY: the features are present.
        return Some(unsafe { mask_scan_bmi2(w) });
    }
    let _ = w;
    None
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2,avx2,popcnt")]
unsafe fn mask_scan_bmi2(w: &[u8]) -> u64 {
    use std::arch::x86_64::*;
    let mut sum = 0u64;
    // Start of the varint being read, relative to the block's start (may be negative when
    // it began in the previous block).
    let mut start: isize = 0;
    let blocks = w.len() / 64;
    // Keep 8 readable bytes after every varint start within the blocks.
    let safe_blocks = blocks.saturating_sub(1);
    for k in 0..safe_blocks {
        let base = k * 64;
        let p = w.as_ptr().add(base);
        let lo = _mm256_loadu_si256(p.cast());
        let hi = _mm256_loadu_si256(p.add(32).cast());
        let more = (_mm256_movemask_epi8(lo) as u32 as u64)
            | ((_mm256_movemask_epi8(hi) as u32 as u64) << 32);
        let mut ends = !more;
        while ends != 0 {
            let end = ends.trailing_zeros() as isize;
            ends &= ends - 1;
            let from = base as isize + start;
            let len = end - start + 1;
            let value = if len <= 8 {
                let bytes = (w.as_ptr().offset(from) as *const u64).read_unaligned();
                _pext_u64(bytes, 0x7f7f_7f7f_7f7f_7f7f >> (64 - 8 * len as u32))
            } else {
                let mut v = 0u64;
                for i in 0..len.min(10) {
                    v |= u64::from(w[(from + i) as usize] & 0x7f) << (7 * i);
                }
                v
            };
            sum = sum.wrapping_add(value);
            start = end + 1;
        }
        start -= 64;
    }
    sum
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().expect("usage: stage_costs CAPTURE [RUNS]"));
    let runs: usize = args.next().map_or(3, |r| r.parse().expect("RUNS"));
    let capture = CaptureFile::open(&path).expect("open");
    let only = std::env::var("STAGES").ok();
    let wanted = |stage: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|s| s == stage))
    };
    let timed = |stage: &str, f: &mut dyn FnMut() -> Duration| -> Duration {
        if wanted(stage) {
            median((0..runs).map(|_| f()).collect())
        } else {
            Duration::ZERO
        }
    };

    // Always measured: the others are given net of it, and it counts the record bytes.
    let mut record_bytes = 0;
    let read = median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                record_bytes = each_window(&capture, |w| {
                    std::hint::black_box(w);
                });
                t.elapsed()
            })
            .collect(),
    );
    let scan = timed("scan", &mut || {
        let t = Instant::now();
        let (mut sum, mut value, mut shift) = (0u64, 0u64, 0u32);
        each_window(&capture, |w| {
            // Branch-free: a byte below 0x80 ends a varint (mask 0), others go on.
            for &b in w {
                value |= u64::from(b & 0x7f) << (shift & 63);
                let more = 0u64.wrapping_sub(u64::from(b >> 7));
                sum = sum.wrapping_add(value & !more);
                value &= more;
                shift = (shift + 7) & more as u32;
            }
        });
        std::hint::black_box(sum);
        t.elapsed().saturating_sub(read)
    });
    let scan_mask = timed("scan-mask", &mut || {
        let t = Instant::now();
        let mut sum = Some(0u64);
        each_window(&capture, |w| {
            sum = sum.zip(mask_scan(w)).map(|(a, b)| a.wrapping_add(b));
        });
        if sum.is_none() {
            eprintln!("scan-mask: skipped, this CPU lacks AVX2 or BMI2");
            return Duration::ZERO;
        }
        std::hint::black_box(sum);
        t.elapsed().saturating_sub(read)
    });
    let mut events = 0u64;
    let decode = timed("decode", &mut || {
        let (spent, n) = decode_all(&capture);
        events = n;
        spent.saturating_sub(read)
    });
    let peak = timed("peak", &mut || {
        let mut heap = HeapTracker::default();
        let spent = analysis(&capture, |b| heap.consume(b));
        let t = Instant::now();
        std::hint::black_box(heap.reduce_at_peak().finish());
        spent + t.elapsed()
    });
    let table = timed("table", &mut || {
        let mut table = LiveTable::default();
        analysis(&capture, |b| {
            let addresses = b.address.values();
            let sizes = b.size.values();
            let allocators = b.allocator.values();
            for row in 0..b.len() {
                if let Some(&ahead) = addresses.get(row + 48) {
                    table.prefetch(ahead);
                }
                match Allocator::from_id(allocators[row]).map(|a| a.kind()) {
                    Some(AllocatorKind::SimpleAllocator) => {
                        let live = Live {
                            seq: row as u64,
                            size: sizes[row],
                            site: 0,
                            position: 0,
                        };
                        table.insert(addresses[row], live);
                    }
                    Some(AllocatorKind::SimpleDeallocator) => {
                        table.remove(addresses[row]);
                    }
                    _ => {}
                }
            }
        })
    });
    let leaks = timed("leaks", &mut || {
        let mut heap = HeapTracker::default();
        let spent = analysis(&capture, |b| heap.consume(b));
        let t = Instant::now();
        std::hint::black_box(heap.reduce_at_end().finish());
        spent + t.elapsed()
    });
    let stats = timed("stats", &mut || {
        let mut pass = StatsPass::default();
        analysis(&capture, |b| pass.consume(b))
    });
    let heap_size = timed("heap-size", &mut || {
        let mut heap = HeapSize::default();
        analysis(&capture, |b| {
            let addresses = b.address.values();
            let sizes = b.size.values();
            let allocators = b.allocator.values();
            for row in 0..b.len() {
                if let Some(&ahead) = addresses.get(row + 32) {
                    heap.prefetch(ahead);
                }
                let (address, size) = (addresses[row], sizes[row]);
                match Allocator::from_id(allocators[row]).map(|a| a.kind()) {
                    Some(AllocatorKind::SimpleAllocator) => heap.allocate(address, size),
                    Some(AllocatorKind::SimpleDeallocator) => heap.free(address),
                    Some(AllocatorKind::RangedAllocator) => heap.map(address, size),
                    Some(AllocatorKind::RangedDeallocator) => heap.unmap(address, size),
                    None => {}
                }
            }
            std::hint::black_box(heap.peak());
        })
    });
    let temporary = timed("temporary", &mut || {
        let mut temporary = TemporaryAllocations::new(1);
        let spent = analysis(&capture, |b| temporary.consume(b));
        let t = Instant::now();
        std::hint::black_box(temporary.reduce().finish());
        spent + t.elapsed()
    });
    if events == 0 {
        events = decode_all(&capture).1;
    }

    let mb = record_bytes as f64 / 1e6;
    println!(
        "capture {} ({} file bytes, {:.0} MB of records, {} allocation events), median of {runs}",
        path.display(),
        capture.file_len(),
        mb,
        events
    );
    let rate = |d: Duration| mb / 1e3 / d.as_secs_f64();
    let per_event = |d: Duration| d.as_secs_f64() * 1e9 / events.max(1) as f64;
    println!(
        "{:<12} {:>8} {:>10} {:>10}",
        "stage", "seconds", "GB/s", "ns/event"
    );
    for (name, d) in [
        ("read", read),
        ("scan", scan),
        ("scan-mask", scan_mask),
        ("decode", decode),
        ("peak", peak),
        ("table", table),
        ("leaks", leaks),
        ("temporary", temporary),
        ("stats", stats),
        ("heap-size", heap_size),
    ] {
        println!(
            "{:<12} {:>8.3} {:>10.2} {:>10.2}",
            name,
            d.as_secs_f64(),
            rate(d),
            per_event(d)
        );
    }
}
