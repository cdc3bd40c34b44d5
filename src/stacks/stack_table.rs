//! Everything needed to turn a stack id into its frames: the frame registry, the stack tree
//! and the code objects, plus a cache of resolved locations.

use std::sync::Arc;

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

/// The interned stacks of one capture.
#[derive(Debug, Default)]
pub struct StackTable {
    pub frames: FrameRegistry,
    pub tree: FrameTree,
    pub code_objects: CodeObjects,
    /// `PY_VERSION_HEX` of the traced interpreter, which decides the line-table format.
    pub python_version: u32,
    locations: Vec<Option<Location>>,
    push_memo: PushMemo,
}

/// A direct-mapped memo of `(parent stack, frame) -> child stack`: a frame push that was
/// seen before costs one array probe instead of two hash-map lookups.
#[derive(Debug)]
struct PushMemo {
    slots: Vec<MemoSlot>,
}

#[derive(Debug, Clone, Copy)]
struct MemoSlot {
    parent: u64,
    frame: Frame,
    child: u64,
}

const MEMO_SLOTS: usize = 1 << 10;

impl Default for PushMemo {
    fn default() -> Self {
        PushMemo {
            slots: vec![
                MemoSlot {
                    parent: u64::MAX,
                    frame: Frame {
                        code_object_id: 0,
                        instruction_offset: 0,
                        is_entry_frame: false,
                    },
                    child: 0,
                };
                MEMO_SLOTS
            ],
        }
    }
}

impl PushMemo {
    #[inline]
    fn slot(parent: u64, frame: &Frame) -> usize {
        let h = parent
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(frame.code_object_id.wrapping_mul(0xc2b2_ae3d_27d4_eb4f))
            .wrapping_add(
                (frame.instruction_offset as u32 as u64) << 1 | frame.is_entry_frame as u64,
            )
            .wrapping_mul(0x1656_67b1_9e37_79f9);
        (h >> 54) as usize & (MEMO_SLOTS - 1)
    }
}

impl StackTable {
    pub fn new(python_version: u32) -> Self {
        StackTable {
            python_version,
            ..StackTable::default()
        }
    }

    /// The stack reached by pushing `frame` onto stack `parent`, interning both as needed.
    /// `None` when `parent` is not a known stack.
    #[inline]
    pub fn push(&mut self, parent: u64, frame: Frame) -> Option<u64> {
        let i = PushMemo::slot(parent, &frame);
        let slot = self.push_memo.slots[i];
        if slot.parent == parent && slot.frame == frame {
            return Some(slot.child);
        }
        let frame_id = self.frames.register(frame);
        let child = self.tree.child(parent, frame_id)?;
        self.push_memo.slots[i] = MemoSlot {
            parent,
            frame,
            child,
        };
        Some(child)
    }

    /// The location of frame `frame_id` (memray's `frameToLocation`): a frame whose code
    /// object is unknown has empty names; a frame with no line table, a negative
    /// instruction offset, or an offset the table does not cover has line 0.
    pub fn location(&mut self, frame_id: u64) -> Location {
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
        let empty = || Location {
            function: Arc::from(""),
            file: Arc::from(""),
            line: 0,
        };
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

    /// The frames of stack `stack_id`, leaf first, with the `skip` outermost ones removed.
    pub fn stack(&mut self, stack_id: u64, skip: u64) -> Vec<Location> {
        let ids = self.tree.frame_ids(stack_id);
        let keep = ids
            .len()
            .saturating_sub(usize::try_from(skip).unwrap_or(usize::MAX));
        ids[..keep].iter().map(|&id| self.location(id)).collect()
    }
}
