//! The decoder's fast path for the records that make up nearly all of a capture of header 12
//! or 13: ALLOCATION, FRAME_PUSH and FRAME_POP.
//!
//! [`Decoder::fast_all`] runs while the window holds at least [`MARGIN`] more bytes, more
//! than any of these records can take, so it never has to undo a record cut by the end of
//! the window. It keeps the current thread's stack top and the batch's columns at hand
//! instead of looking them up per record, and stops at the first record it does not take —
//! another record type, anything malformed, full columns — leaving that record, unconsumed,
//! to the checked step function, which decodes it (or reports it) exactly as before. Both
//! paths change the decoder's state in the same way: the fast path is an optimisation of
//! [`Decoder::step_all`], checked against it by the tests below.

use super::{record_type, Decoder};
use crate::capture::allocator::{Allocator, AllocatorKind};
use crate::stacks::Frame;

/// The bytes one fast-path record can take at most: an allocation's type byte, allocator
/// byte and three varints of at most 10 bytes each.
const RECORD_BYTES: usize = 32;

/// The fast path stops this many bytes before the end of the window.
pub(super) const MARGIN: usize = RECORD_BYTES;

/// An unsigned LEB128 varint at `*at` in `record`; `None` if it is longer than 10 bytes or
/// runs past the record (the checked path then reports it).
#[inline(always)]
fn varint(record: &[u8; RECORD_BYTES], at: &mut usize) -> Option<u64> {
    let b0 = *record.get(*at)?;
    if b0 < 0x80 {
        *at += 1;
        return Some(u64::from(b0));
    }
    let b1 = *record.get(*at + 1)?;
    if b1 < 0x80 {
        *at += 2;
        return Some(u64::from(b0 & 0x7f) | u64::from(b1) << 7);
    }
    varint_long(record, at)
}

#[inline(never)]
fn varint_long(record: &[u8; RECORD_BYTES], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let b = *record.get(*at + i)?;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            *at += i + 1;
            return Some(value);
        }
    }
    None
}

#[inline(always)]
fn signed_varint(record: &[u8; RECORD_BYTES], at: &mut usize) -> Option<i64> {
    let z = varint(record, at)?;
    Some(((z >> 1) as i64) ^ -((z & 1) as i64))
}

impl Decoder {
    /// Decodes ALLOCATION, FRAME_PUSH and FRAME_POP records of a header 12+ capture of all
    /// allocations from `window[pos..]`; returns where it stopped (a record boundary).
    #[inline(never)]
    pub(super) fn fast_all(&mut self, window: &[u8], mut pos: usize) -> usize {
        let Some(thread_index) = self.current else {
            return pos;
        };
        let native_traces = self.native_traces;
        let thread = &mut self.threads[thread_index];
        let tid = thread.tid;
        let mut top = thread.frames.last().copied().unwrap_or(0);
        let slots = self.builder.slots();
        let mut len = *slots.len;
        let end = window.len().saturating_sub(MARGIN);
        let capacity = slots.tid.len();
        while pos < end && len < capacity {
            let Some(record) = window.get(pos..pos + RECORD_BYTES) else {
                break;
            };
            let Ok(record) = <&[u8; RECORD_BYTES]>::try_from(record) else {
                break;
            };
            let token = record[0];
            let mut at = 1;
            if token & record_type::ALLOCATION != 0 {
                let flags = token & (record_type::ALLOCATION - 1);
                let cache_index = (flags >> 3) & 0x0f;
                let mut base = None;
                let address = if cache_index == 0x0f {
                    let Some(delta) = signed_varint(record, &mut at) else {
                        break;
                    };
                    let b = self.last_data_pointer.wrapping_add(delta as u64);
                    base = Some(b);
                    b << 3
                } else {
                    self.recent_addresses.get(cache_index)
                };
                let id = match flags & 7 {
                    0 => {
                        at += 1;
                        record[at - 1]
                    }
                    id => id,
                };
                let Some(allocator) = Allocator::from_id(id) else {
                    break;
                };
                let kind = allocator.kind();
                let frees = kind == AllocatorKind::SimpleDeallocator;
                let mut native_delta = 0;
                if native_traces && !frees {
                    let Some(d) = signed_varint(record, &mut at) else {
                        break;
                    };
                    native_delta = d;
                }
                let mut size = 0;
                if !frees {
                    let Some(s) = varint(record, &mut at) else {
                        break;
                    };
                    size = s;
                }
                // The record is complete: commit.
                if let Some(b) = base {
                    self.last_data_pointer = b;
                    self.recent_addresses.remember(address);
                }
                self.last_native_frame_id =
                    self.last_native_frame_id.wrapping_add(native_delta as u64);
                let (stack_id, native) = if allocator.is_deallocator() {
                    (0, 0)
                } else if native_traces {
                    (top, self.last_native_frame_id)
                } else {
                    (top, 0)
                };
                slots.tid[len] = tid;
                slots.address[len] = address;
                slots.size[len] = size;
                slots.allocator[len] = id;
                slots.stack_id[len] = stack_id;
                slots.native_stack_id[len] = native;
                len += 1;
            } else if token & record_type::FRAME_PUSH != 0 {
                let Some(code_object_id) = varint(record, &mut at) else {
                    break;
                };
                let Some(instruction_offset) = signed_varint(record, &mut at) else {
                    break;
                };
                let frame = Frame {
                    code_object_id,
                    instruction_offset: instruction_offset as i32,
                    is_entry_frame: token & 1 != 0,
                };
                // Full tables: the record is left to the checked decoder, which says so.
                let Some(node) = self.stacks.push(top, frame) else {
                    break;
                };
                thread.frames.push(node);
                top = node;
            } else if token & record_type::OBJECT_RECORD == 0 && token & record_type::FRAME_POP != 0
            {
                let count = usize::from(token & (record_type::FRAME_POP - 1)) + 1;
                let Some(keep) = thread.frames.len().checked_sub(count) else {
                    break;
                };
                thread.frames.truncate(keep);
                top = thread.frames.last().copied().unwrap_or(0);
            } else {
                break;
            }
            pos += at;
        }
        self.allocations += (len - *slots.len) as u64;
        *slots.len = len;
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::cursor::Cursor;
    use crate::capture::decoder::{Step, StepError};
    use crate::capture::events::AllocationEvent;
    use crate::capture::header::{FileFormat, Header};

    fn header(native_traces: bool) -> Header {
        Header {
            native_traces,
            trace_python_allocators: true,
            ..crate::capture::decoder::tests::header(13, FileFormat::AllAllocations)
        }
    }

    /// Everything a decoder has decoded, to compare two decoders by.
    fn state(d: &mut Decoder) -> (Vec<AllocationEvent>, Vec<Vec<u64>>, Vec<u64>, u64, u64) {
        let frames = d.threads.iter().map(|t| t.frames.clone()).collect();
        let stacks = (0..d.stacks.tree.len() as u64)
            .flat_map(|i| d.stacks.tree.frame_ids(i))
            .collect();
        let events = d.builder.finish().iter().collect();
        (
            events,
            frames,
            stacks,
            d.last_data_pointer,
            d.last_native_frame_id,
        )
    }

    /// A pseudo-random stream of the records the fast path takes, with context switches
    /// between them, as the tracker writes them.
    fn stream(seed: u64, native: bool, records: usize) -> Vec<u8> {
        let mut x = seed;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let varint = |out: &mut Vec<u8>, mut v: u64| loop {
            if v < 0x80 {
                out.push(v as u8);
                break;
            }
            out.push(v as u8 | 0x80);
            v >>= 7;
        };
        let zigzag = |v: i64| ((v << 1) ^ (v >> 63)) as u64;
        let mut out = vec![record_type::CONTEXT_SWITCH];
        out.extend(100u64.to_le_bytes());
        let mut depth = [0usize; 3];
        let mut thread = 0;
        for _ in 0..records {
            let r = next();
            match r % 16 {
                0 => {
                    thread = (r >> 8) as usize % 3;
                    out.push(record_type::CONTEXT_SWITCH);
                    out.extend((thread as u64 + 100).to_le_bytes());
                }
                1..=3 => {
                    out.push(record_type::FRAME_PUSH | (r >> 8) as u8 & 1);
                    varint(&mut out, (r >> 9) % 300);
                    varint(&mut out, zigzag(((r >> 20) % 70_000) as i64 - 35_000));
                    depth[thread] += 1;
                }
                4 | 5 if depth[thread] > 0 => {
                    let n = 1 + (r >> 8) as usize % depth[thread].min(16);
                    out.push(record_type::FRAME_POP | (n - 1) as u8);
                    depth[thread] -= n;
                }
                _ => {
                    let id = 1 + (r >> 8) as u8 % 15;
                    let cache = (r >> 12) as u8 % 16;
                    let inline_id = (r >> 16) & 3 == 0 || id > 7;
                    let flags = cache << 3 | if inline_id { 0 } else { id };
                    out.push(record_type::ALLOCATION | flags);
                    if cache == 0x0f {
                        varint(&mut out, zigzag(((r >> 20) % (1 << 30)) as i64 - (1 << 29)));
                    }
                    if inline_id {
                        out.push(id);
                    }
                    let frees = matches!(id, 1 | 5);
                    if native && !frees {
                        varint(&mut out, zigzag(((r >> 40) % 2000) as i64 - 1000));
                    }
                    if !frees {
                        varint(&mut out, (r >> 24) % (1 << ((r >> 50) % 40)));
                    }
                }
            }
        }
        out
    }

    /// Decodes `bytes` with the checked step function alone.
    fn checked(d: &mut Decoder, bytes: &[u8]) {
        let mut c = Cursor::new(bytes);
        while !c.is_empty() {
            match d.step_all(&mut c) {
                Ok(Step::Record) => {}
                Ok(Step::End(_)) | Err(StepError::Short(_)) => panic!("a valid stream"),
            }
        }
    }

    /// Decodes `bytes` as `run` does: the fast path, then one checked record, and again.
    fn fast_then_checked(d: &mut Decoder, bytes: &[u8]) {
        let mut c = Cursor::new(bytes);
        while !c.is_empty() {
            let resume = d.fast_all(bytes, c.position());
            c.set_position(resume);
            if d.builder.is_full() {
                panic!("test streams fit one batch");
            }
            if c.is_empty() {
                break;
            }
            match d.step_all(&mut c) {
                Ok(Step::Record) => {}
                Ok(Step::End(_)) | Err(StepError::Short(_)) => panic!("a valid stream"),
            }
        }
    }

    #[test]
    fn the_fast_path_decodes_as_the_checked_step_does() {
        for (seed, native) in [(1, false), (2, true), (0x9e37_79b9, false), (77, true)] {
            let bytes = stream(seed, native, 20_000);
            let mut slow = Decoder::new(&header(native));
            checked(&mut slow, &bytes);
            let mut fast = Decoder::new(&header(native));
            fast_then_checked(&mut fast, &bytes);
            assert_eq!(fast.allocations, slow.allocations);
            assert!(fast.allocations > 10_000);
            assert_eq!(state(&mut fast), state(&mut slow), "seed {seed}");
        }
    }

    #[test]
    fn the_fast_path_leaves_what_it_does_not_take_to_the_checked_step() {
        let mut d = Decoder::new(&header(false));
        // Before any CONTEXT_SWITCH there is no thread: nothing is taken.
        let mut bytes = vec![record_type::FRAME_PUSH, 1, 0];
        bytes.resize(100, 0);
        assert_eq!(d.fast_all(&bytes, 0), 0);
        d.switch_thread(1);
        // A pop of more frames than the thread holds, an unknown allocator id: stop there.
        let mut bytes = vec![record_type::FRAME_PUSH, 1, 0, record_type::FRAME_POP | 1];
        bytes.resize(100, 0);
        assert_eq!(d.fast_all(&bytes, 0), 3);
        let mut bytes = vec![record_type::ALLOCATION | 0x78, 0];
        bytes.resize(100, 0);
        assert_eq!(d.fast_all(&bytes, 0), 0);
        // Nothing within MARGIN bytes of the end.
        let bytes = vec![record_type::FRAME_PUSH, 1, 0];
        assert_eq!(d.fast_all(&bytes, 0), 0);
    }
}
