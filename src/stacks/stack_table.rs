//! Everything needed to turn a stack id into its frames: the stack tree, and the frames'
//! locations from either of the two sources memray's captures have used:
//!
//! - header 12 and 13 (memray 1.19+): frames are `(code object, instruction offset)` pairs,
//!   interned by the [`FrameRegistry`]; a location is computed from the code object's line
//!   table (and cached);
//! - header 10 and 11 (memray 1.7 – 1.18): the capture numbers its frames itself and gives
//!   each one's function, file and line in a FRAME_INDEX record ([`IndexedFrames`]). The
//!   stack tree is keyed on those ids as they are: two ids with equal contents stay two
//!   frames, as in memray.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::stacks::code_objects::CodeObjects;
use crate::stacks::frame_tree::{Frame, FrameRegistry, FrameTree};
use crate::stacks::line_table;

/// A resolved frame: function, file and line, as memray's `Location`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    pub function: Arc<str>,
    pub file: Arc<str>,
    pub line: i32,
}

impl Location {
    pub fn new(function: &str, file: &str, line: i32) -> Location {
        Location {
            function: Arc::from(function),
            file: Arc::from(file),
            line,
        }
    }

    /// The location of a frame memray knows nothing about: empty names, line 0.
    pub fn unknown() -> Location {
        Location {
            function: Arc::from(""),
            file: Arc::from(""),
            line: 0,
        }
    }
}

/// Where a capture's frames get their locations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LocationSource {
    /// Code objects and line tables (header 12 and 13).
    #[default]
    CodeObjects,
    /// FRAME_INDEX records naming function, file and line per frame id (header 10, 11).
    FrameIndex,
}

/// Locations by the frame ids a capture assigned itself (memray's `d_frame_map` of
/// header 10 and 11 captures).
#[derive(Debug, Default)]
pub struct IndexedFrames {
    /// Location and whether the frame is an entry frame (evaluated by its own
    /// `_PyEval_EvalFrameDefault` call).
    by_id: FxHashMap<u64, (Location, bool)>,
}

impl IndexedFrames {
    /// Records the location of frame `id`; false (and no change) if `id` already has one,
    /// which memray rejects ("Two entries with the same ID found!").
    pub fn insert(&mut self, id: u64, location: Location, is_entry_frame: bool) -> bool {
        match self.by_id.entry(id) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert((location, is_entry_frame));
                true
            }
        }
    }

    pub fn get(&self, id: u64) -> Option<&Location> {
        self.by_id.get(&id).map(|(location, _)| location)
    }

    /// Whether frame `id` is an entry frame; frames without a record count as entry frames.
    pub fn is_entry_frame(&self, id: u64) -> bool {
        self.by_id.get(&id).is_none_or(|&(_, entry)| entry)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// The interned stacks of one capture.
#[derive(Debug, Default)]
pub struct StackTable {
    /// Which of the two frame sources below this capture uses.
    pub source: LocationSource,
    /// Header 12+: interned frames and the code objects they refer to.
    pub frames: FrameRegistry,
    pub code_objects: CodeObjects,
    /// Header 10 and 11: locations by the capture's frame ids.
    pub indexed_frames: IndexedFrames,
    /// The stack tree; its frame ids are the registry's (header 12+) or the capture's own
    /// (header 10 and 11).
    pub tree: FrameTree,
    /// `PY_VERSION_HEX` of the traced interpreter, which decides the line-table format.
    pub python_version: u32,
    locations: Vec<Option<Location>>,
    push_memo: PushMemo,
}

/// A direct-mapped memo of `(parent stack, frame) -> child stack`: a frame push that was
/// seen before costs one array probe instead of two hash-map lookups. It grows with the
/// stack tree (four slots per stack, from 128 KiB up to 8 MiB), so that programs with many
/// call sites keep hitting it.
#[derive(Debug)]
struct PushMemo {
    slots: Vec<MemoSlot>,
    /// `slots.len() == 1 << bits`.
    bits: u32,
}

#[derive(Debug, Clone, Copy)]
struct MemoSlot {
    parent: u64,
    frame: Frame,
    child: u64,
}

/// The memo's size bounds, as powers of two of slots (32 bytes each).
const MEMO_MIN_BITS: u32 = 12;
const MEMO_MAX_BITS: u32 = 18;

/// A slot that matches no push (no stack is `u64::MAX`).
const EMPTY_MEMO_SLOT: MemoSlot = MemoSlot {
    parent: u64::MAX,
    frame: Frame {
        code_object_id: 0,
        instruction_offset: 0,
        is_entry_frame: false,
    },
    child: 0,
};

impl Default for PushMemo {
    fn default() -> Self {
        PushMemo {
            slots: vec![EMPTY_MEMO_SLOT; 1 << MEMO_MIN_BITS],
            bits: MEMO_MIN_BITS,
        }
    }
}

impl PushMemo {
    /// Grows the memo (emptied: it is only a cache) while it has fewer than four slots per
    /// stack of a tree of `stacks` nodes.
    #[cold]
    fn grow_for(&mut self, stacks: usize) {
        let mut bits = self.bits;
        while bits < MEMO_MAX_BITS && stacks * 4 > 1 << bits {
            bits += 1;
        }
        if bits != self.bits {
            *self = PushMemo {
                slots: vec![EMPTY_MEMO_SLOT; 1 << bits],
                bits,
            };
        }
    }

    #[inline]
    fn slot(&self, parent: u64, frame: &Frame) -> usize {
        let h = parent
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(frame.code_object_id.wrapping_mul(0xc2b2_ae3d_27d4_eb4f))
            .wrapping_add(
                (frame.instruction_offset as u32 as u64) << 1 | frame.is_entry_frame as u64,
            )
            .wrapping_mul(0x1656_67b1_9e37_79f9);
        (h >> (64 - self.bits)) as usize
    }
}

impl StackTable {
    /// The stacks of a capture whose frames are code objects and offsets (header 12+).
    pub fn new(python_version: u32) -> Self {
        StackTable {
            python_version,
            ..StackTable::default()
        }
    }

    /// The stacks of a capture whose frames come with FRAME_INDEX records (header 10, 11).
    pub fn with_indexed_frames() -> Self {
        StackTable {
            source: LocationSource::FrameIndex,
            ..StackTable::default()
        }
    }

    /// The stack reached by pushing the capture's frame `frame_id` onto stack `parent`
    /// (header 10 and 11). `None` when `parent` is not a known stack.
    #[inline]
    pub fn push_indexed(&mut self, parent: u64, frame_id: u64) -> Option<u64> {
        self.tree.child(parent, frame_id)
    }

    /// The stack reached by pushing `frame` onto stack `parent`, interning both as needed.
    /// `None` when `parent` is not a known stack (or the tables are full: [`crate::dense_set::MAX_KEYS`] frames or
    /// stacks).
    #[inline]
    pub fn push(&mut self, parent: u64, frame: Frame) -> Option<u64> {
        let i = self.push_memo.slot(parent, &frame);
        let slot = self.push_memo.slots[i];
        if slot.parent == parent && slot.frame == frame {
            return Some(slot.child);
        }
        let frame_id = self.frames.register(frame)?;
        let child = self.tree.child(parent, frame_id)?;
        if self.tree.len() * 4 > self.push_memo.slots.len() {
            self.push_memo.grow_for(self.tree.len());
        }
        let i = self.push_memo.slot(parent, &frame);
        self.push_memo.slots[i] = MemoSlot {
            parent,
            frame,
            child,
        };
        Some(child)
    }

    /// The location of frame `frame_id`.
    ///
    /// Header 12+ (memray's `frameToLocation`): a frame whose code object is unknown has
    /// empty names; a frame with no line table, a negative instruction offset, or an offset
    /// the table does not cover has line 0. Header 10 and 11: the FRAME_INDEX record's
    /// function, file and line as they are; an id without one has empty names and line 0.
    pub fn location(&mut self, frame_id: u64) -> Location {
        if self.source == LocationSource::FrameIndex {
            return self
                .indexed_frames
                .get(frame_id)
                .cloned()
                .unwrap_or_else(Location::unknown);
        }
        let index = usize::try_from(frame_id).unwrap_or(usize::MAX);
        if let Some(Some(loc)) = self.locations.get(index) {
            return loc.clone();
        }
        let loc = self.resolve(frame_id);
        if index < self.frames.len() {
            if self.locations.len() <= index {
                self.locations.resize(index + 1, None);
            }
            self.locations[index] = Some(loc.clone());
        }
        loc
    }

    fn resolve(&self, frame_id: u64) -> Location {
        let empty = Location::unknown;
        let Some(frame) = self.frames.get(frame_id) else {
            return empty();
        };
        let Some(code) = self.code_objects.get(frame.code_object_id) else {
            return empty();
        };
        let mut line = 0;
        if !code.linetable.is_empty() && frame.instruction_offset >= 0 {
            line = line_table::line_number(
                self.python_version,
                &code.linetable,
                frame.instruction_offset as u64,
                code.firstlineno,
            )
            .unwrap_or(0);
        }
        Location {
            function: Arc::from(code.function_name.as_str()),
            file: Arc::from(code.filename.as_str()),
            line,
        }
    }

    /// Whether frame `frame_id` is an entry frame: one that starts its own evaluation loop
    /// (`_PyEval_EvalFrameDefault` call) rather than sharing its caller's. Unknown frames
    /// count as entry frames.
    pub fn is_entry_frame(&self, frame_id: u64) -> bool {
        match self.source {
            LocationSource::FrameIndex => self.indexed_frames.is_entry_frame(frame_id),
            LocationSource::CodeObjects => self
                .frames
                .get(frame_id)
                .is_none_or(|frame| frame.is_entry_frame),
        }
    }

    /// All frames of stack `stack_id`, leaf first, each with whether it is an entry frame
    /// (memray's `Py_GetStackFrameAndEntryInfo`).
    pub fn stack_with_entry_flags(&mut self, stack_id: u64) -> Vec<(Location, bool)> {
        let ids = self.tree.frame_ids(stack_id);
        ids.iter()
            .map(|&id| (self.location(id), self.is_entry_frame(id)))
            .collect()
    }

    /// The frames of stack `stack_id`, leaf first, with the `skip` outermost ones removed.
    pub fn stack(&mut self, stack_id: u64, skip: u64) -> Vec<Location> {
        let ids = self.tree.frame_ids(stack_id);
        let keep = ids
            .len()
            .saturating_sub(usize::try_from(skip).unwrap_or(usize::MAX));
        ids[..keep].iter().map(|&id| self.location(id)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stacks::CodeObject;

    fn loc(function: &str, file: &str, line: i32) -> Location {
        Location::new(function, file, line)
    }

    #[test]
    fn indexed_frames_keep_their_ids_and_contents() {
        let mut t = StackTable::with_indexed_frames();
        assert!(t.indexed_frames.insert(7, loc("f", "a.py", 3), true));
        // Equal contents under another id: a distinct frame, as in memray.
        assert!(t.indexed_frames.insert(9, loc("f", "a.py", 3), false));
        assert!(!t.indexed_frames.insert(7, loc("g", "b.py", 1), false));
        assert!(t.indexed_frames.is_entry_frame(7));
        assert!(!t.indexed_frames.is_entry_frame(9));
        let a = t.push_indexed(0, 7).unwrap();
        let b = t.push_indexed(0, 9).unwrap();
        assert_ne!(a, b);
        let c = t.push_indexed(a, 9).unwrap();
        assert_eq!(t.push_indexed(a, 9), Some(c));
        assert_eq!(t.push_indexed(99, 1), None);
        assert_eq!(
            t.stack(c, 0),
            vec![loc("f", "a.py", 3), loc("f", "a.py", 3)]
        );
        assert_eq!(t.stack(c, 1), vec![loc("f", "a.py", 3)]);
        let d = t.push_indexed(c, 12345).unwrap();
        assert_eq!(t.stack(d, 0)[0], Location::unknown());
    }

    #[test]
    fn code_object_frames_resolve_through_line_tables() {
        let mut t = StackTable::new(0x030b0000);
        t.code_objects.insert(
            3,
            CodeObject {
                function_name: "f".into(),
                filename: "a.py".into(),
                firstlineno: 10,
                linetable: Vec::new(),
            },
        );
        let frame = Frame {
            code_object_id: 3,
            instruction_offset: 0,
            is_entry_frame: true,
        };
        let s = t.push(0, frame).unwrap();
        // No line table: line 0, as memray's frameToLocation gives.
        assert_eq!(t.stack(s, 0), vec![loc("f", "a.py", 0)]);
        // Indexed frames are not consulted for these captures.
        t.indexed_frames.insert(0, loc("x", "y", 1), true);
        assert_eq!(t.location(0), loc("f", "a.py", 0));
    }
}
